//! A `getblocktemplate` result (BIP22/BIP23), read and checked: every field the block needs,
//! the transactions with txids computed from their data, and the header fields cross-checked
//! (bits against target, curtime against mintime), so that work is never spent on a block the
//! node would refuse.

use crate::job::NTIME_ROLL;
use serde_json::Value;
use sha256d::hazmat::hex;
use sha256d::hazmat::sha256d;
use sha256d::{CompactTarget, Error, Hash, Target};

/// The most transactions a template may list: a 4 MWU block of the smallest transactions
/// (about 60 bytes) holds fewer than 70,000.
pub const MAX_TRANSACTIONS: usize = 100_000;

/// BIP141's witness-commitment output script prefix: OP_RETURN, push 36, `aa21a9ed`.
pub(crate) const COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// One transaction of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateTx {
    /// The serialized transaction as the block carries it (with witnesses, if any).
    pub data: Vec<u8>,
    /// Its txid in internal byte order (sha256d of the non-witness serialization).
    pub txid: [u8; 32],
}

/// A block template as `getblocktemplate` returned it, checked and decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The block version.
    pub version: u32,
    /// The parent block's hash, internal byte order.
    pub prev_hash: [u8; 32],
    /// The transactions after the coinbase, in block order.
    pub transactions: Vec<TemplateTx>,
    /// What the coinbase may pay out: subsidy plus fees, in satoshis.
    pub coinbase_value: u64,
    /// The compact target for the header.
    pub bits: CompactTarget,
    /// The block target: the template's `target`, or `bits` expanded.
    pub target: Target,
    /// The node's time for the block.
    pub curtime: u32,
    /// The earliest time the block may carry.
    pub mintime: u32,
    /// The new block's height.
    pub height: u64,
    /// The id to longpoll with, when the node offers longpolling.
    pub longpoll_id: Option<String>,
    /// The witness-commitment output script, when the block must commit to witnesses.
    pub witness_commitment: Option<Vec<u8>>,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, Error> {
    v.get(name)
        .ok_or_else(|| Error::parse(format!("the block template has no `{name}`")))
}

fn uint(v: &Value, name: &str, max: u64) -> Result<u64, Error> {
    field(v, name)?
        .as_u64()
        .filter(|&n| n <= max)
        .ok_or_else(|| {
            Error::parse(format!(
                "the block template's `{name}` is not an integer from 0 to {max}"
            ))
        })
}

fn text<'a>(v: &'a Value, name: &str) -> Result<&'a str, Error> {
    field(v, name)?
        .as_str()
        .ok_or_else(|| Error::parse(format!("the block template's `{name}` is not a string")))
}

fn hex_field(v: &Value, name: &str, what: impl Fn() -> String) -> Result<Vec<u8>, Error> {
    hex::decode(text(v, name)?).map_err(|e| Error::parse(format!("{}: {e}", what())))
}

fn display_hash(text: &str, what: impl Fn() -> String) -> Result<[u8; 32], Error> {
    Hash::from_display_hex(text)
        .map(Hash::to_byte_array)
        .map_err(|e| Error::parse(format!("{}: {e}", what())))
}

impl Template {
    /// Reads a `getblocktemplate` result.
    ///
    /// Each transaction's txid is computed from its `data`; a `txid` the node gives must
    /// match it (and so must `hash` when there is no `txid` and the transaction has no
    /// witness, as older nodes send the txid there). A mismatch is an error: the block would
    /// fail with `bad-txnmrklroot` after all the work of finding it. So is a `target` that
    /// `bits` do not encode, a `bits` that is not a valid target, and a `curtime` before
    /// `mintime`: a block built on either could only be refused.
    pub fn from_json(v: &Value) -> Result<Template, Error> {
        if !v.is_object() {
            return Err(Error::parse("the block template is not a JSON object"));
        }
        let version = uint(v, "version", u32::MAX.into())? as u32;
        let prev_hash = display_hash(text(v, "previousblockhash")?, || {
            "the block template's previousblockhash".into()
        })?;
        let list = field(v, "transactions")?
            .as_array()
            .ok_or_else(|| Error::parse("the block template's `transactions` is not an array"))?;
        if list.len() > MAX_TRANSACTIONS {
            return Err(Error::parse(format!(
                "the block template lists {} transactions, more than the {MAX_TRANSACTIONS} a \
                 block can hold",
                list.len()
            )));
        }
        let transactions = list
            .iter()
            .enumerate()
            .map(|(i, tx)| template_tx(i, tx))
            .collect::<Result<Vec<_>, Error>>()?;
        // 21 million coins; more is not a Bitcoin-like chain's template.
        let coinbase_value = uint(v, "coinbasevalue", 21_000_000 * 100_000_000)?;
        let bits = CompactTarget::from_hex(text(v, "bits")?)
            .map_err(|e| Error::parse(format!("the block template's bits: {e}")))?;
        let from_bits = Target::from_compact(bits)
            .map_err(|e| Error::parse(format!("the block template's bits: {}", e.message())))?;
        let target = match v.get("target") {
            Some(t) => Target::from_be_hex(
                t.as_str()
                    .ok_or_else(|| Error::parse("the block template's `target` is not a string"))?,
            )
            .map_err(|e| Error::parse(format!("the block template's target: {e}")))?,
            None => from_bits,
        };
        // The header carries bits and the node checks the hash against them: a block found
        // on another target would be refused (or never found), so the two must agree.
        if target != from_bits {
            return Err(Error::parse(format!(
                "the block template's bits {bits} encode the target {from_bits}, not its \
                 target {target}"
            )));
        }
        let curtime = uint(v, "curtime", u32::MAX.into())? as u32;
        let mintime = match v.get("mintime") {
            Some(_) => uint(v, "mintime", u32::MAX.into())? as u32,
            None => 0,
        };
        // The header's time starts at curtime; before mintime the node refuses the block
        // (`time-too-old`).
        if curtime < mintime {
            return Err(Error::parse(format!(
                "the block template's curtime {curtime} is before its mintime {mintime}"
            )));
        }
        // Heights past 2^31 cannot be pushed as a 4-byte script number.
        let height = uint(v, "height", i32::MAX as u64)?;
        let longpoll_id = match v.get("longpollid") {
            None | Some(Value::Null) => None,
            Some(_) => {
                let id = text(v, "longpollid")?;
                // Core's id is a block hash plus a counter; a long one is not an id.
                if id.len() > 1000 {
                    return Err(Error::parse("the block template's longpollid is too long"));
                }
                Some(id.to_owned())
            }
        };
        let witness_commitment = match v.get("default_witness_commitment") {
            None | Some(Value::Null) => None,
            Some(_) => {
                let script = hex_field(v, "default_witness_commitment", || {
                    "the block template's default_witness_commitment".into()
                })?;
                if script.len() < 38 || script.len() > 80 || script[..6] != COMMITMENT_PREFIX {
                    return Err(Error::parse(
                        "the block template's default_witness_commitment is not a BIP141 \
                         commitment script",
                    ));
                }
                Some(script)
            }
        };
        Ok(Template {
            version,
            prev_hash,
            transactions,
            coinbase_value,
            bits,
            target,
            curtime,
            mintime,
            height,
            longpoll_id,
            witness_commitment,
        })
    }

    /// Whether `other` asks for the same block as `self`, so that a miner need not switch:
    /// same parent, transactions, value and header fields, and a time still well inside the
    /// range the job may roll.
    pub(crate) fn same_work(&self, other: &Template) -> bool {
        self.prev_hash == other.prev_hash
            && self.version == other.version
            && self.bits == other.bits
            && self.coinbase_value == other.coinbase_value
            && self.witness_commitment == other.witness_commitment
            && self.transactions.len() == other.transactions.len()
            && self
                .transactions
                .iter()
                .zip(&other.transactions)
                .all(|(a, b)| a.txid == b.txid)
            && other.curtime < self.curtime.saturating_add(NTIME_ROLL / 4)
    }
}

fn template_tx(i: usize, tx: &Value) -> Result<TemplateTx, Error> {
    let what = || format!("transaction {i} of the block template");
    let data = hex_field(tx, "data", what)?;
    let (txid, has_witness) =
        txid_of(&data).map_err(|e| Error::parse(format!("{}: {}", what(), e.message())))?;
    let given = match (tx.get("txid"), tx.get("hash")) {
        (Some(t), _) => Some(("txid", t)),
        (None, Some(h)) if !has_witness => Some(("hash", h)),
        _ => None,
    };
    if let Some((name, value)) = given {
        let text = value
            .as_str()
            .ok_or_else(|| Error::parse(format!("{}: `{name}` is not a string", what())))?;
        if display_hash(text, || format!("{}'s {name}", what()))? != txid {
            return Err(Error::parse(format!(
                "{}: the node says its txid is {text}, but its data hashes to {}",
                what(),
                Hash(txid)
            )));
        }
    }
    Ok(TemplateTx { data, txid })
}

/// Reads a transaction's structure: its txid (sha256d of the serialization without witness
/// data) and whether it has witnesses. The whole of `data` must be one transaction.
pub(crate) fn txid_of(data: &[u8]) -> Result<([u8; 32], bool), Error> {
    Ok(match without_witness(data)? {
        Some(stripped) => (sha256d(&stripped), true),
        None => (sha256d(data), false),
    })
}

/// The transaction in `data` without its witness data, or `None` when it has none (then
/// `data` is already that serialization). The whole of `data` must be one transaction.
pub(crate) fn without_witness(data: &[u8]) -> Result<Option<Vec<u8>>, Error> {
    let mut r = Reader { data, at: 0 };
    r.take(4)?;
    let segwit = data.get(4..6) == Some(&[0x00, 0x01][..]);
    let body_start = if segwit { 6 } else { 4 };
    r.at = body_start;
    let inputs = r.varint()?;
    for _ in 0..inputs {
        r.take(36)?;
        let n = r.varint()?;
        r.take(n)?;
        r.take(4)?;
    }
    let outputs = r.varint()?;
    for _ in 0..outputs {
        r.take(8)?;
        let n = r.varint()?;
        r.take(n)?;
    }
    let body_end = r.at;
    if segwit {
        for _ in 0..inputs {
            for _ in 0..r.varint()? {
                let n = r.varint()?;
                r.take(n)?;
            }
        }
    }
    r.take(4)?;
    if r.at != data.len() {
        return Err(Error::parse(format!(
            "{} bytes follow the transaction",
            data.len() - r.at
        )));
    }
    if !segwit {
        return Ok(None);
    }
    let mut stripped = Vec::with_capacity(body_end - 2 + 4);
    stripped.extend_from_slice(&data[..4]);
    stripped.extend_from_slice(&data[body_start..body_end]);
    stripped.extend_from_slice(&data[data.len() - 4..]);
    Ok(Some(stripped))
}

pub(crate) struct Reader<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: u64) -> Result<&[u8], Error> {
        let left = self.data.len() - self.at;
        if n > left as u64 {
            return Err(Error::parse("the transaction data is truncated"));
        }
        let start = self.at;
        self.at += n as usize;
        Ok(&self.data[start..self.at])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Error> {
        let first = self.take(1)?[0];
        let width = match first {
            0xfd => 2,
            0xfe => 4,
            0xff => 8,
            n => return Ok(n.into()),
        };
        let bytes = self.take(width)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbt::fixtures::{template_json, tx, PREV};
    use bitcoin::consensus::encode::{serialize, serialize_hex};
    use bitcoin::hashes::Hash as _;
    use serde_json::json;

    #[test]
    fn txids_are_computed_and_checked() {
        let segwit = tx(3, true);
        let legacy = tx(4, false);
        for t in [&segwit, &legacy] {
            let (txid, has_witness) = txid_of(&serialize(t)).expect("valid");
            assert_eq!(txid, t.compute_txid().to_byte_array());
            assert_eq!(has_witness, t.input.iter().any(|i| !i.witness.is_empty()));
        }
        let txs = [segwit.clone(), legacy.clone()];
        let good = template_json(500, &txs, true);

        // Without `txid`: computed; `hash` (the wtxid) is not mistaken for the txid.
        let mut v = good.clone();
        for t in v["transactions"].as_array_mut().expect("array") {
            t.as_object_mut().expect("object").remove("txid");
        }
        let template = Template::from_json(&v).expect("valid");
        assert_eq!(
            template.transactions[0].txid,
            segwit.compute_txid().to_byte_array()
        );
        // Without either.
        for t in v["transactions"].as_array_mut().expect("array") {
            t.as_object_mut().expect("object").remove("hash");
        }
        assert_eq!(Template::from_json(&v), Ok(template));

        // A txid that does not match the data; a legacy `hash` that does not either.
        let mut v = good.clone();
        v["transactions"][1]["txid"] = json!(segwit.compute_txid().to_string());
        let err = Template::from_json(&v).expect_err("mismatch");
        assert!(err.message().contains("transaction 1"), "{err}");
        let mut v = good.clone();
        v["transactions"][1]
            .as_object_mut()
            .expect("object")
            .remove("txid");
        v["transactions"][1]["hash"] = json!(PREV);
        assert!(Template::from_json(&v).is_err());

        // Data that is not exactly one transaction.
        let data = serialize_hex(&legacy);
        for bad in [
            format!("{data}00"),
            data[..data.len() - 2].to_owned(),
            "".to_owned(),
            "zz".to_owned(),
        ] {
            let mut v = good.clone();
            v["transactions"][1]["data"] = json!(bad);
            assert!(Template::from_json(&v).is_err(), "{bad}");
        }
    }

    /// A template whose header fields disagree is refused before any work: a bits that is not
    /// a target (a block was once sent with ffffffff), bits that encode another target than
    /// `target`, a curtime before mintime.
    #[test]
    fn header_fields_are_cross_checked() {
        let good = template_json(103, &[tx(1, false)], true);
        let with = |field: &str, value: Value| {
            let mut v = good.clone();
            v[field] = value;
            Template::from_json(&v)
                .expect_err(field)
                .message()
                .to_owned()
        };
        assert_eq!(
            with("bits", json!("ffffffff")),
            "the block template's bits: nBits ffffffff encodes a negative target (sign bit \
             0x00800000 set)"
        );
        assert_eq!(
            with("bits", json!("1d00ffff")),
            "the block template's bits 1d00ffff encode the target \
             00000000ffff0000000000000000000000000000000000000000000000000000, not its target \
             7fffff0000000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            with(
                "target",
                json!("7ffffe0000000000000000000000000000000000000000000000000000000000")
            ),
            "the block template's bits 207fffff encode the target \
             7fffff0000000000000000000000000000000000000000000000000000000000, not its target \
             7ffffe0000000000000000000000000000000000000000000000000000000000"
        );
        assert_eq!(
            with("mintime", json!(1_700_000_601)),
            "the block template's curtime 1700000600 is before its mintime 1700000601"
        );
        // Equal times, and no target at all, are fine.
        let mut v = good.clone();
        v["mintime"] = v["curtime"].clone();
        v.as_object_mut().expect("object").remove("target");
        assert!(Template::from_json(&v).is_ok());
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let good = template_json(103, &[tx(1, false)], true);
        for (field, value, why) in [
            ("version", json!(-1), "version"),
            ("version", json!(1u64 << 32), "version"),
            ("previousblockhash", json!("00"), "previousblockhash"),
            ("transactions", json!({}), "transactions"),
            ("coinbasevalue", json!(-5), "coinbasevalue"),
            ("bits", json!("7fffff"), "bits"),
            ("bits", json!(545259519), "bits"),
            ("target", json!("ff"), "target"),
            ("curtime", json!("now"), "curtime"),
            ("height", json!(1u64 << 31), "height"),
            ("longpollid", json!(5), "longpollid"),
            (
                "default_witness_commitment",
                json!("6a"),
                "default_witness_commitment",
            ),
            (
                "default_witness_commitment",
                json!("xyz"),
                "default_witness_commitment",
            ),
        ] {
            let mut v = good.clone();
            v[field] = value;
            let err = Template::from_json(&v).expect_err(field);
            assert!(err.message().contains(why), "{field}: {err}");
        }
        for field in [
            "version",
            "previousblockhash",
            "transactions",
            "coinbasevalue",
            "bits",
            "curtime",
            "height",
        ] {
            let mut v = good.clone();
            v.as_object_mut().expect("object").remove(field);
            let err = Template::from_json(&v).expect_err(field);
            assert!(err.message().contains(field), "{field}: {err}");
        }
        assert!(Template::from_json(&json!([])).is_err());
    }

    #[test]
    fn same_work_ignores_only_the_clock() {
        let json = template_json(103, &[tx(1, false)], true);
        let a = Template::from_json(&json).expect("valid");
        let mut later = json.clone();
        later["curtime"] = json!(1_700_000_660);
        assert!(a.same_work(&Template::from_json(&later).expect("valid")));
        later["curtime"] = json!(1_700_000_600 + NTIME_ROLL);
        assert!(!a.same_work(&Template::from_json(&later).expect("valid")));
        let more = template_json(103, &[tx(1, false), tx(2, false)], true);
        assert!(!a.same_work(&Template::from_json(&more).expect("valid")));
    }
}
