//! Solo mining with `getblocktemplate` (BIP22/BIP23): a template from the node becomes a
//! [`Job`] (our own coinbase split around an extranonce, the template's transactions folded
//! into a merkle branch), and a share that meets the block target becomes a block for
//! `submitblock`.

use super::rpc::{self, one_line, Auth, CallError, RpcClient};
use super::{merkle_branch, Event, Job, Share, Source, Verdict};
use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d::hazmat::sha256d;
use sha256d::{CompactTarget, Error, ErrorKind, Hash, Target};
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most transactions a template may list: a 4 MWU block of the smallest transactions
/// (about 60 bytes) holds fewer than 70,000.
pub const MAX_TRANSACTIONS: usize = 100_000;

/// BIP320's general-purpose version bits: what the miner may roll on mainnet.
pub const BIP320_MASK: u32 = 0x1fff_e000;

/// The most a scriptSig may hold (consensus: `bad-cb-length` outside 2..=100).
const MAX_SCRIPT_SIG: usize = 100;

/// BIP141's witness-commitment output script prefix: OP_RETURN, push 36, `aa21a9ed`.
const COMMITMENT_PREFIX: [u8; 6] = [0x6a, 0x24, 0xaa, 0x21, 0xa9, 0xed];

/// How far past the template's time a job may roll ntime: nodes reject blocks more than two
/// hours ahead of their clock, less a margin for clock skew between miner and node.
const NTIME_ROLL: u32 = 7000;

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

/// How a [`Template`]'s coinbase is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoinbaseOptions {
    /// The output script the coinbase value pays.
    pub payout_script: Vec<u8>,
    /// Fixed extranonce bytes (the job's `extranonce1`), so that two miners paying the same
    /// script on the same template do not search the same coinbases.
    pub extranonce1: Vec<u8>,
    /// How many extranonce2 bytes the miner rolls.
    pub extranonce2_size: usize,
    /// Bytes after the extranonce in the scriptSig, e.g. `/sha256d/`.
    pub tag: Vec<u8>,
    /// Whether the job may roll BIP320's version bits.
    pub version_rolling: bool,
}

impl CoinbaseOptions {
    /// The scriptSig length at `height`, or why this coinbase cannot be built.
    fn script_sig_len(&self, height: u64) -> Result<usize, Error> {
        let payout = &self.payout_script;
        if payout.is_empty() || payout.len() > 10_000 {
            return Err(Error::invalid(format!(
                "the payout script must be 1 to 10000 bytes, got {}",
                payout.len()
            )));
        }
        let push = height_push(height).len();
        let len = push + self.extranonce1.len() + self.extranonce2_size + self.tag.len();
        if !(2..=MAX_SCRIPT_SIG).contains(&len) {
            return Err(Error::invalid(format!(
                "the coinbase scriptSig would be {len} bytes (height push {push}, extranonce \
                 {} + {}, tag {}); consensus allows 2 to {MAX_SCRIPT_SIG}",
                self.extranonce1.len(),
                self.extranonce2_size,
                self.tag.len()
            )));
        }
        Ok(len)
    }
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
    /// fail with `bad-txnmrklroot` after all the work of finding it.
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
        let target = match v.get("target") {
            Some(t) => Target::from_be_hex(
                t.as_str()
                    .ok_or_else(|| Error::parse("the block template's `target` is not a string"))?,
            )
            .map_err(|e| Error::parse(format!("the block template's target: {e}")))?,
            None => Target::from_compact(bits)
                .map_err(|e| Error::parse(format!("the block template's bits: {e}")))?,
        };
        let curtime = uint(v, "curtime", u32::MAX.into())? as u32;
        let mintime = match v.get("mintime") {
            Some(_) => uint(v, "mintime", u32::MAX.into())? as u32,
            None => 0,
        };
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

    /// The template as a job: our coinbase (paying `coinbase.payout_script`, with the BIP34
    /// height, the extranonce and the tag in its scriptSig) split around the extranonce, and
    /// the template's transactions as the merkle branch. The job is clean; a caller that
    /// knows the parent did not change may clear that.
    pub fn job(&self, id: &str, coinbase: &CoinbaseOptions) -> Result<Job, Error> {
        let payout = &coinbase.payout_script;
        let height_push = height_push(self.height);
        let script_len = coinbase.script_sig_len(self.height)?;
        let mut coinb1 = Vec::with_capacity(42 + height_push.len());
        coinb1.extend_from_slice(&1u32.to_le_bytes());
        coinb1.push(1); // one input: the null prevout
        coinb1.extend_from_slice(&[0; 32]);
        coinb1.extend_from_slice(&u32::MAX.to_le_bytes());
        push_varint(&mut coinb1, script_len as u64);
        coinb1.extend_from_slice(&height_push);

        let mut coinb2 = coinbase.tag.clone();
        coinb2.extend_from_slice(&u32::MAX.to_le_bytes()); // sequence
        let outputs = 1 + usize::from(self.witness_commitment.is_some());
        push_varint(&mut coinb2, outputs as u64);
        coinb2.extend_from_slice(&self.coinbase_value.to_le_bytes());
        push_varint(&mut coinb2, payout.len() as u64);
        coinb2.extend_from_slice(payout);
        if let Some(commitment) = &self.witness_commitment {
            coinb2.extend_from_slice(&0u64.to_le_bytes());
            push_varint(&mut coinb2, commitment.len() as u64);
            coinb2.extend_from_slice(commitment);
        }
        coinb2.extend_from_slice(&0u32.to_le_bytes()); // lock time

        let txids: Vec<[u8; 32]> = self.transactions.iter().map(|t| t.txid).collect();
        // BIP320 rolling needs a BIP9 version (top bits 001); bits the node already set are
        // its signals and stay as they are.
        let version_mask = if coinbase.version_rolling && self.version & 0xe000_0000 == 0x2000_0000
        {
            BIP320_MASK & !self.version
        } else {
            0
        };
        Ok(Job {
            id: id.to_owned(),
            prev_hash: self.prev_hash,
            coinb1,
            extranonce1: coinbase.extranonce1.clone(),
            extranonce2_size: coinbase.extranonce2_size,
            coinb2,
            merkle_branch: merkle_branch(&txids),
            version: self.version,
            version_mask,
            bits: self.bits,
            ntime: self.curtime,
            ntime_max: self.curtime.saturating_add(NTIME_ROLL).max(self.mintime),
            share_target: self.target,
            block_target: self.target,
            clean: true,
            height: Some(self.height),
        })
    }

    /// The serialized block for a share of a job this template made: the share's header,
    /// the coinbase (in witness form with the 32-byte zero reserved value when the template
    /// commits to witnesses), then the template's transactions.
    ///
    /// Fails when the share's job was not made from this template (another parent or other
    /// transactions): such a block could only be rejected.
    pub fn block(&self, share: &Share) -> Result<Vec<u8>, Error> {
        let job = &share.job;
        let txids: Vec<[u8; 32]> = self.transactions.iter().map(|t| t.txid).collect();
        if job.prev_hash != self.prev_hash
            || job.merkle_branch != merkle_branch(&txids)
            || share.extranonce2.len() != job.extranonce2_size
        {
            return Err(Error::invalid(format!(
                "share of job {} does not belong to the template at height {}",
                job.id, self.height
            )));
        }
        let coinbase = job.coinbase(&share.extranonce2);
        let size = 80
            + 9
            + coinbase.len()
            + 36
            + self
                .transactions
                .iter()
                .map(|t| t.data.len())
                .sum::<usize>();
        let mut block = Vec::with_capacity(size);
        block.extend_from_slice(&share.header.to_bytes());
        push_varint(&mut block, 1 + self.transactions.len() as u64);
        match (&self.witness_commitment, coinbase.len()) {
            // Version, marker and flag, the body, one witness item of 32 zero bytes, lock time.
            (Some(_), len) if len >= 8 => {
                block.extend_from_slice(&coinbase[..4]);
                block.extend_from_slice(&[0x00, 0x01]);
                block.extend_from_slice(&coinbase[4..len - 4]);
                block.extend_from_slice(&[0x01, 0x20]);
                block.extend_from_slice(&[0; 32]);
                block.extend_from_slice(&coinbase[len - 4..]);
            }
            _ => block.extend_from_slice(&coinbase),
        }
        for tx in &self.transactions {
            block.extend_from_slice(&tx.data);
        }
        Ok(block)
    }

    /// Whether `other` asks for the same block as `self`, so that a miner need not switch:
    /// same parent, transactions, value and header fields, and a time still well inside the
    /// range the job may roll.
    fn same_work(&self, other: &Template) -> bool {
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
fn txid_of(data: &[u8]) -> Result<([u8; 32], bool), Error> {
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
        return Ok((sha256d(data), false));
    }
    let mut stripped = Vec::with_capacity(body_end - 2 + 4);
    stripped.extend_from_slice(&data[..4]);
    stripped.extend_from_slice(&data[body_start..body_end]);
    stripped.extend_from_slice(&data[data.len() - 4..]);
    Ok((sha256d(&stripped), true))
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
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

    fn varint(&mut self) -> Result<u64, Error> {
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

/// Appends Bitcoin's variable-length integer (CompactSize) encoding of `n`.
pub fn push_varint(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfc => out.push(n as u8),
        0xfd..=0xffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0xfe);
            out.extend_from_slice(&(n as u32).to_le_bytes());
        }
        _ => {
            out.push(0xff);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// BIP34's height push, as Core's `CScript() << height` writes it: OP_0 for 0, OP_1..OP_16
/// for 1..16, otherwise a minimal little-endian script number (with a zero byte when the top
/// bit would read as a sign).
fn height_push(height: u64) -> Vec<u8> {
    match height {
        0 => vec![0x00],
        1..=16 => vec![0x50 + height as u8],
        _ => {
            let mut number: Vec<u8> = height
                .to_le_bytes()
                .into_iter()
                .rev()
                .skip_while(|&b| b == 0)
                .collect();
            number.reverse();
            if number.last().is_some_and(|&b| b & 0x80 != 0) {
                number.push(0);
            }
            let mut push = vec![number.len() as u8];
            push.extend_from_slice(&number);
            push
        }
    }
}

/// The read timeout of a longpoll: nodes hold the reply until the tip or the mempool
/// changes, so running into it only means nothing happened; it is re-issued at once.
const LONGPOLL_TIMEOUT: Duration = Duration::from_secs(120);

/// Without longpoll, how often the full template is fetched (for new mempool transactions)
/// even when the tip has not moved.
const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The longest wait between retries while the node is unreachable or not ready.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How many emitted jobs (and their templates) are kept to build blocks from: shares of
/// older jobs are rejected as stale without being submitted.
const KEPT_JOBS: usize = 16;

/// `submitblock` reasons that mean the block lost a race or built on a replaced tip.
fn stale_reason(reason: &str) -> bool {
    matches!(
        reason,
        "inconclusive"
            | "duplicate-inconclusive"
            | "prev-blk-not-found"
            | "bad-prevblk"
            | "stale-prevblk"
    )
}

/// What a [`SoloSource`] needs to know.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SoloOptions {
    /// The node's RPC URL, e.g. `http://127.0.0.1:18443`.
    pub url: String,
    /// The RPC credentials.
    pub auth: Auth,
    /// The output script the coinbase pays (see [`super::address::script_for_address`]).
    pub payout_script: Vec<u8>,
    /// Without longpoll, how often to ask the node for its best block (default 1 s).
    pub poll_interval: Duration,
    /// Whether to longpoll when the node offers it (default true).
    pub longpoll: bool,
    /// Whether jobs may roll BIP320's version bits (default true).
    pub version_rolling: bool,
    /// Bytes in the coinbase scriptSig after the extranonce (default `/sha256d/`).
    pub coinbase_tag: Vec<u8>,
}

impl SoloOptions {
    /// Options with the defaults for everything but the node and the payout.
    pub fn new(url: impl Into<String>, auth: Auth, payout_script: Vec<u8>) -> Self {
        SoloOptions {
            url: url.into(),
            auth,
            payout_script,
            poll_interval: Duration::from_secs(1),
            longpoll: true,
            version_rolling: true,
            coinbase_tag: b"/sha256d/".to_vec(),
        }
    }
}

/// What the watcher thread tells the source.
enum Update {
    Template(Box<Template>),
    Notice(String),
}

fn gbt_params(longpoll_id: Option<&str>) -> Value {
    match longpoll_id {
        Some(id) => json!([{"rules": ["segwit"], "longpollid": id}]),
        None => json!([{"rules": ["segwit"]}]),
    }
}

fn fetch_template(client: &RpcClient, longpoll_id: Option<&str>) -> Result<Template, CallError> {
    let timeout = if longpoll_id.is_some() {
        LONGPOLL_TIMEOUT
    } else {
        rpc::DEFAULT_TIMEOUT
    };
    let value = client.call_detailed("getblocktemplate", gbt_params(longpoll_id), timeout)?;
    Template::from_json(&value).map_err(|e| {
        CallError::Transport(Error::new(
            e.kind(),
            format!(
                "{} sent a bad block template: {}",
                client.url(),
                e.message()
            ),
        ))
    })
}

/// Watches the node for new templates on its own thread (a longpoll blocks for minutes),
/// retrying with backoff while the node is away.
struct Watcher {
    client: RpcClient,
    longpoll: bool,
    poll_interval: Duration,
    tip: Option<[u8; 32]>,
    longpoll_id: Option<String>,
    last_fetch: Instant,
    updates: Sender<Update>,
    stop: Receiver<()>,
    /// The last failure reported, so that a node that stays away is reported once.
    failure: Option<String>,
    backoff: Duration,
}

impl Watcher {
    fn run(mut self) {
        loop {
            let delay = match self.step() {
                Ok(template) => {
                    if self.failure.take().is_some() {
                        self.send(Update::Notice(format!(
                            "the node at {} answers again",
                            self.client.url()
                        )));
                    }
                    self.backoff = Duration::ZERO;
                    if let Some(template) = template {
                        self.tip = Some(template.prev_hash);
                        self.longpoll_id = template.longpoll_id.clone().filter(|_| self.longpoll);
                        self.last_fetch = Instant::now();
                        self.send(Update::Template(Box::new(template)));
                    }
                    Duration::ZERO
                }
                // A longpoll that ran into its timeout: nothing changed.
                Err(CallError::Timeout(_)) if self.longpoll_id.is_some() => Duration::ZERO,
                Err(e) => {
                    let message = Error::from(e).message().to_owned();
                    self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
                    if self.failure.as_deref() != Some(message.as_str()) {
                        self.send(Update::Notice(format!("{message}; retrying")));
                        self.failure = Some(message);
                    }
                    // Start over with a full template, which also says which id to longpoll.
                    self.longpoll_id = None;
                    self.tip = None;
                    self.backoff
                }
            };
            if self.stopped(delay) {
                return;
            }
        }
    }

    /// One round: a longpoll, or a poll of the best block (and the template when it moved
    /// or the refresh is due). Returns the new template, if any.
    fn step(&mut self) -> Result<Option<Template>, CallError> {
        if let Some(id) = self.longpoll_id.clone() {
            let template = fetch_template(&self.client, Some(&id))?;
            // A node that answers a longpoll at once with the same id would have us spin;
            // pace it like a poll.
            if template.longpoll_id.as_deref() == Some(id.as_str())
                && self.stopped(self.poll_interval)
            {
                return Ok(None);
            }
            return Ok(Some(template));
        }
        if self.tip.is_some() && self.failure.is_none() && self.stopped(self.poll_interval) {
            return Ok(None);
        }
        if self.tip.is_some() && self.last_fetch.elapsed() < REFRESH_INTERVAL {
            let best =
                self.client
                    .call_detailed("getbestblockhash", json!([]), rpc::DEFAULT_TIMEOUT)?;
            let best = best
                .as_str()
                .and_then(|t| Hash::from_display_hex(t).ok())
                .ok_or_else(|| {
                    CallError::Transport(Error::parse(format!(
                        "{} answered getbestblockhash with {}",
                        self.client.url(),
                        one_line(&best.to_string())
                    )))
                })?;
            if Some(best.0) == self.tip {
                return Ok(None);
            }
        }
        fetch_template(&self.client, None).map(Some)
    }

    fn send(&self, update: Update) {
        // The source is gone; `stopped` ends the loop.
        let _ = self.updates.send(update);
    }

    /// Waits `delay` for the source to go away; true when it has.
    fn stopped(&self, delay: Duration) -> bool {
        match self.stop.recv_timeout(delay) {
            Err(RecvTimeoutError::Timeout) => false,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
        }
    }
}

/// Solo mining against a node's `getblocktemplate`: a [`Source`] whose jobs are templates
/// and whose shares are blocks.
///
/// A background thread watches the node (longpoll where the template offers it, polling
/// `getbestblockhash` otherwise) and hands over each template that changes the work. It
/// stops when the source is dropped, after its current call returns.
pub struct SoloSource {
    client: RpcClient,
    coinbase: CoinbaseOptions,
    updates: Receiver<Update>,
    /// Dropping it tells the watcher to stop.
    _stop: Sender<()>,
    current: Option<Arc<Template>>,
    jobs: VecDeque<(Arc<Job>, Arc<Template>)>,
    next_job: u64,
    pending: Vec<Event>,
}

impl SoloSource {
    /// Connects to the node and fetches the first template.
    ///
    /// Fails when the URL or payout script is bad, the node cannot be reached, rejects the
    /// credentials, or refuses `getblocktemplate` for good (e.g. an unknown method). A node
    /// that is not ready yet (no peers, still syncing, warming up) is reported as a notice
    /// and waited for; so is any failure after this first call.
    pub fn new(opts: SoloOptions) -> Result<Self, Error> {
        if opts.poll_interval.is_zero() {
            return Err(Error::invalid("the poll interval must be above zero"));
        }
        let client = RpcClient::new(&opts.url, opts.auth.clone())?;
        let coinbase = CoinbaseOptions {
            payout_script: opts.payout_script.clone(),
            extranonce1: extranonce1(),
            extranonce2_size: 8,
            tag: opts.coinbase_tag.clone(),
            version_rolling: opts.version_rolling,
        };
        // The largest height a template may have, so that a bad payout script or tag fails
        // here, at start, not at the first template.
        coinbase.script_sig_len(i32::MAX as u64)?;
        let mut pending = Vec::new();
        let first = match fetch_template(&client, None) {
            Ok(template) => {
                pending.push(Event::Notice(format!(
                    "solo mining at {}: height {}, {} transactions, {} sat",
                    client.url(),
                    template.height,
                    template.transactions.len(),
                    template.coinbase_value
                )));
                Some(template)
            }
            Err(CallError::Rpc { code, error }) if rpc::is_not_ready(code) => {
                pending.push(Event::Notice(format!(
                    "{}; waiting for the node",
                    error.message()
                )));
                None
            }
            Err(e) => return Err(e.into()),
        };
        let (updates_tx, updates) = mpsc::channel();
        let (stop, stop_rx) = mpsc::channel();
        let watcher = Watcher {
            client: client.clone(),
            longpoll: opts.longpoll,
            poll_interval: opts.poll_interval,
            tip: first.as_ref().map(|t| t.prev_hash),
            longpoll_id: first
                .as_ref()
                .and_then(|t| t.longpoll_id.clone())
                .filter(|_| opts.longpoll),
            last_fetch: Instant::now(),
            updates: updates_tx,
            stop: stop_rx,
            failure: None,
            backoff: Duration::ZERO,
        };
        std::thread::Builder::new()
            .name("gbt-watch".into())
            .spawn(move || watcher.run())
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start a thread: {e}")))?;
        let mut source = SoloSource {
            client,
            coinbase,
            updates,
            _stop: stop,
            current: None,
            jobs: VecDeque::new(),
            next_job: 0,
            pending,
        };
        if let Some(template) = first {
            let mut events = std::mem::take(&mut source.pending);
            source.offer(template, &mut events);
            source.pending = events;
        }
        Ok(source)
    }

    /// Takes a template as the current work unless it asks for the same block.
    fn offer(&mut self, template: Template, events: &mut Vec<Event>) {
        if let Some(current) = &self.current {
            if current.same_work(&template) {
                return;
            }
        }
        let clean = self
            .current
            .as_ref()
            .is_none_or(|c| c.prev_hash != template.prev_hash);
        self.next_job += 1;
        let id = format!("{}.{}", template.height, self.next_job);
        let mut job = match template.job(&id, &self.coinbase) {
            Ok(job) => job,
            Err(e) => {
                events.push(Event::Notice(format!(
                    "cannot mine the template at height {}: {}",
                    template.height,
                    e.message()
                )));
                return;
            }
        };
        // A refresh on the same parent adds transactions; blocks of older jobs stay valid.
        job.clean = clean;
        let job = Arc::new(job);
        let template = Arc::new(template);
        if self.jobs.len() == KEPT_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back((job.clone(), template.clone()));
        self.current = Some(template);
        events.push(Event::Job(job));
    }

    fn apply(&mut self, update: Update, events: &mut Vec<Event>) {
        match update {
            Update::Template(template) => self.offer(*template, events),
            Update::Notice(text) => events.push(Event::Notice(text)),
        }
    }

    fn verdict(&mut self, share: &Share) -> Verdict {
        let rejected = |reason: String, stale: bool| Verdict::Rejected { reason, stale };
        let Some(template) = self
            .jobs
            .iter()
            .find(|(job, _)| **job == *share.job)
            .map(|(_, t)| t.clone())
        else {
            return rejected(
                format!("stale: job {} is no longer kept", share.job.id),
                true,
            );
        };
        if !share.is_block {
            return rejected("the hash does not meet the block target".into(), false);
        }
        let tip = self.current.as_ref().map(|t| t.prev_hash);
        if share.stale && tip != Some(share.job.prev_hash) {
            return rejected("stale: the chain tip moved".into(), true);
        }
        let block = match template.block(share) {
            Ok(block) => block,
            Err(e) => return rejected(e.message().to_owned(), false),
        };
        let params = json!([hex::encode(&block)]);
        // A block is worth a second try over a connection that dropped.
        let mut answer =
            self.client
                .call_detailed("submitblock", params.clone(), rpc::DEFAULT_TIMEOUT);
        let retried = matches!(answer, Err(CallError::Transport(_) | CallError::Timeout(_)));
        if retried {
            answer = self
                .client
                .call_detailed("submitblock", params, rpc::DEFAULT_TIMEOUT);
        }
        match answer {
            Ok(Value::Null) => Verdict::Accepted,
            // The first try reached the node after all, and it took the block: "duplicate" is
            // Core's answer for a block it has and found valid.
            Ok(Value::String(reason)) if retried && reason == "duplicate" => Verdict::Accepted,
            Ok(Value::String(reason)) => rejected(one_line(&reason), stale_reason(&reason)),
            Ok(other) => rejected(
                format!("submitblock answered {}", one_line(&other.to_string())),
                false,
            ),
            Err(e) => rejected(
                format!(
                    "block {} not submitted: {}",
                    share.hash,
                    Error::from(e).message()
                ),
                false,
            ),
        }
    }
}

/// Four bytes that differ between runs and processes, so that two miners paying the same
/// script on the same template search different coinbases.
fn extranonce1() -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = nanos.to_le_bytes().to_vec();
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    sha256d(&seed)[..4].to_vec()
}

impl Source for SoloSource {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let mut events = std::mem::take(&mut self.pending);
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(update) = self.updates.try_recv() {
                self.apply(update, &mut events);
            }
            if !events.is_empty() {
                return Ok(events);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.updates.recv_timeout(left) {
                Ok(update) => self.apply(update, &mut events),
                Err(RecvTimeoutError::Timeout) => return Ok(events),
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("the watcher of the node at {} stopped", self.client.url()),
                    ))
                }
            }
        }
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        let verdict = self.verdict(&share);
        let accepted = verdict == Verdict::Accepted;
        let mut events = vec![Event::Verdict { share, verdict }];
        if accepted {
            // Mining on the old parent is wasted now; don't wait for the watcher.
            match fetch_template(&self.client, None) {
                Ok(template) => self.offer(template, &mut events),
                Err(e) => events.push(Event::Notice(format!(
                    "{}; waiting for the next template",
                    Error::from(e).message()
                ))),
            }
        }
        Ok(events)
    }

    fn pause_after_block(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("solo at {}", self.client.url())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::consensus::encode::{deserialize, serialize, serialize_hex, VarInt};
    use bitcoin::hashes::Hash as _;
    use std::io::{Read, Write};
    use std::sync::Mutex;

    const PREV: &str = "1c1f4e5f5db1d6fa3ea860e35006eab7f988b4f3dcb73b5596abcbcf9ee1813d";
    const PAYOUT: &str = "76a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac";

    /// A transaction spending outpoint `i`, with a witness (P2WPKH-shaped) or a scriptSig.
    fn tx(i: u8, witness: bool) -> bitcoin::Transaction {
        bitcoin::Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![bitcoin::TxIn {
                previous_output: bitcoin::OutPoint {
                    txid: bitcoin::Txid::from_byte_array([i; 32]),
                    vout: u32::from(i),
                },
                script_sig: if witness {
                    bitcoin::ScriptBuf::new()
                } else {
                    bitcoin::ScriptBuf::from_bytes(vec![0x51; usize::from(i) + 1])
                },
                sequence: bitcoin::Sequence::MAX,
                witness: if witness {
                    bitcoin::Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]])
                } else {
                    bitcoin::Witness::new()
                },
            }],
            output: vec![bitcoin::TxOut {
                value: bitcoin::Amount::from_sat(1000 * u64::from(i) + 1),
                script_pubkey: bitcoin::ScriptBuf::from_bytes([&[0, 20][..], &[i; 20]].concat()),
            }],
        }
    }

    /// A template as Core would send it for `txs`, with rust-bitcoin's witness commitment
    /// when `segwit`.
    fn template_json(height: u64, txs: &[bitcoin::Transaction], segwit: bool) -> Value {
        let mut v = json!({
            "capabilities": ["proposal"],
            "version": 0x2000_0000,
            "rules": ["csv", "!segwit", "taproot"],
            "previousblockhash": PREV,
            "transactions": txs.iter().map(|t| json!({
                "data": serialize_hex(t),
                "txid": t.compute_txid().to_string(),
                "hash": t.compute_wtxid().to_string(),
                "depends": [],
                "fee": 1000,
                "sigops": 1,
                "weight": t.weight().to_wu(),
            })).collect::<Vec<_>>(),
            "coinbasevalue": 312_500_000u64 + 1000 * txs.len() as u64,
            "longpollid": format!("{PREV}{height}"),
            "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
            "mintime": 1_700_000_000,
            "mutable": ["time", "transactions", "prevblock"],
            "noncerange": "00000000ffffffff",
            "curtime": 1_700_000_600,
            "bits": "207fffff",
            "height": height,
        });
        if segwit {
            let wtxids = std::iter::once(bitcoin::Wtxid::all_zeros())
                .chain(txs.iter().map(|t| t.compute_wtxid()));
            let root = bitcoin::merkle_tree::calculate_root(wtxids).expect("non-empty");
            let root = bitcoin::WitnessMerkleNode::from_raw_hash(root.to_raw_hash());
            let commitment = bitcoin::Block::compute_witness_commitment(&root, &[0; 32]);
            let script = [&COMMITMENT_PREFIX[..], &commitment.to_byte_array()].concat();
            v["default_witness_commitment"] = json!(hex::encode(&script));
        }
        v
    }

    fn coinbase_options() -> CoinbaseOptions {
        CoinbaseOptions {
            payout_script: hex::decode(PAYOUT).expect("valid"),
            extranonce1: vec![0xde, 0xad, 0xbe, 0xef],
            extranonce2_size: 8,
            tag: b"/sha256d/".to_vec(),
            version_rolling: true,
        }
    }

    fn share(job: Job, extranonce2: Vec<u8>, nonce: u32) -> Share {
        let mut header = job.header(&extranonce2, job.ntime + 1);
        header.nonce = nonce;
        header.version |= 0x0000_e000 & job.version_mask;
        Share {
            job: Arc::new(job),
            extranonce2,
            header,
            hash: header.block_hash(),
            is_block: true,
            stale: false,
        }
    }

    #[test]
    fn height_push_matches_core_and_rust_bitcoin() {
        for (height, push) in [
            (0, "00"),
            (1, "51"),
            (5, "55"),
            (16, "60"),
            (17, "0111"),
            (103, "0167"),
            (127, "017f"),
            (128, "028000"),
            (255, "02ff00"),
            (256, "020001"),
            (500, "02f401"),
            (32767, "02ff7f"),
            (32768, "03008000"),
            (65535, "03ffff00"),
            (65536, "03000001"),
            (840_000, "0340d10c"),
            (i32::MAX as u64, "04ffffff7f"),
        ] {
            assert_eq!(hex::encode(&height_push(height)), push, "{height}");
            let theirs = bitcoin::script::Builder::new()
                .push_int(height as i64)
                .into_script();
            assert_eq!(height_push(height), theirs.to_bytes(), "{height}");
        }
    }

    #[test]
    fn varint_edges_match_rust_bitcoin() {
        for n in [
            0,
            1,
            0xfc,
            0xfd,
            0xfe,
            0xff,
            0xffff,
            0x1_0000,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
        ] {
            let mut ours = Vec::new();
            push_varint(&mut ours, n);
            assert_eq!(ours, serialize(&VarInt(n)), "{n:#x}");
            let mut r = Reader { data: &ours, at: 0 };
            assert_eq!(r.varint(), Ok(n));
            assert_eq!(r.at, ours.len());
        }
    }

    /// The oracle: rust-bitcoin decodes each block we build and finds it consistent.
    #[test]
    fn blocks_validate_with_rust_bitcoin() {
        let heights = [
            0, 1, 5, 16, 17, 103, 127, 128, 255, 256, 500, 65535, 65536, 840_000,
        ];
        for (n, &height) in [0usize, 1, 2, 3, 5].iter().cycle().zip(heights.iter()) {
            for segwit in [false, true] {
                // With a commitment, odd transactions carry witnesses; without, none do.
                let txs: Vec<_> = (0..*n)
                    .map(|i| tx(i as u8 + 1, segwit && i % 2 == 0))
                    .collect();
                let json = template_json(height, &txs, segwit);
                let template = Template::from_json(&json).expect("valid template");
                assert_eq!(template.witness_commitment.is_some(), segwit);
                let job = template.job("j", &coinbase_options()).expect("valid job");
                let en2 = vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, height as u8];
                let share = share(job, en2, 0x1234_5678);
                let bytes = template.block(&share).expect("its own share");
                let block: bitcoin::Block = deserialize(&bytes).expect("a well-formed block");
                let what = format!("{n} transactions, height {height}, segwit {segwit}");

                assert_eq!(serialize(&block.header), share.header.to_bytes(), "{what}");
                assert_eq!(
                    block.header.merkle_root.to_byte_array(),
                    share.job.merkle_root(&share.extranonce2),
                    "{what}"
                );
                assert!(block.check_merkle_root(), "{what}");
                assert_eq!(block.txdata.len(), n + 1, "{what}");
                for (ours, theirs) in template.transactions.iter().zip(&block.txdata[1..]) {
                    assert_eq!(ours.txid, theirs.compute_txid().to_byte_array(), "{what}");
                }

                let coinbase = &block.txdata[0];
                assert!(coinbase.is_coinbase(), "{what}");
                let script_sig = coinbase.input[0].script_sig.as_bytes();
                let core_push = bitcoin::script::Builder::new()
                    .push_int(height as i64)
                    .into_script();
                assert!(script_sig.starts_with(core_push.as_bytes()), "{what}");
                assert!((2..=100).contains(&script_sig.len()), "{what}");
                if height == 0 || height > 16 {
                    assert_eq!(block.bip34_block_height(), Ok(height), "{what}");
                } else {
                    // rust-bitcoin 0.32 reads only data pushes here; Core writes OP_1..OP_16
                    // (and checks the scriptSig's prefix against `CScript() << height`).
                    assert_eq!(script_sig[0], 0x50 + height as u8, "{what}");
                }
                assert_eq!(
                    coinbase.output[0].value.to_sat(),
                    template.coinbase_value,
                    "{what}"
                );
                assert_eq!(
                    coinbase.output[0].script_pubkey.to_hex_string(),
                    PAYOUT,
                    "{what}"
                );
                // The txid the job hashes is the non-witness coinbase in the block.
                assert_eq!(
                    coinbase.compute_txid().to_byte_array(),
                    sha256d(&share.job.coinbase(&share.extranonce2)),
                    "{what}"
                );
                if segwit {
                    assert!(block.check_witness_commitment(), "{what}");
                    let witness: Vec<&[u8]> = coinbase.input[0].witness.iter().collect();
                    assert_eq!(witness, vec![&[0u8; 32][..]], "{what}");
                    assert_eq!(coinbase.output.len(), 2, "{what}");
                    assert_eq!(coinbase.output[1].value.to_sat(), 0, "{what}");
                } else {
                    assert!(coinbase.input[0].witness.is_empty(), "{what}");
                    assert_eq!(coinbase.output.len(), 1, "{what}");
                }
            }
        }
    }

    #[test]
    fn job_fields() {
        let txs = [tx(1, false), tx(2, true)];
        let mut json = template_json(103, &txs, true);
        let template = Template::from_json(&json).expect("valid");
        let mut reversed_prev = hex::decode(PREV).expect("valid");
        reversed_prev.reverse();
        assert_eq!(template.prev_hash.to_vec(), reversed_prev);
        let job = template.job("7", &coinbase_options()).expect("valid");
        assert_eq!(job.id, "7");
        assert_eq!(job.prev_hash, template.prev_hash);
        assert_eq!(job.version, 0x2000_0000);
        assert_eq!(job.version_mask, BIP320_MASK);
        assert_eq!(job.bits, CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!((job.ntime, job.ntime_max), (1_700_000_600, 1_700_007_600));
        assert_eq!(job.share_target, job.block_target);
        assert_eq!(
            job.block_target,
            Target::from_be_hex("7fffff0000000000000000000000000000000000000000000000000000000000")
                .expect("valid")
        );
        assert!(job.clean);
        assert_eq!(job.height, Some(103));
        assert_eq!(job.extranonce1, [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(job.extranonce2_size, 8);
        assert_eq!(job.merkle_branch.len(), 2);
        // The height push ends coinb1; the tag starts coinb2.
        assert!(job.coinb1.ends_with(&[0x01, 0x67]));
        assert!(job.coinb2.starts_with(b"/sha256d/"));

        // A node signal in the BIP320 range stays out of the mask; no mask without BIP9.
        json["version"] = json!(0x2000_4000);
        let signalling = Template::from_json(&json).expect("valid");
        let job = signalling.job("s", &coinbase_options()).expect("valid");
        assert_eq!(job.version_mask, BIP320_MASK & !0x4000);
        json["version"] = json!(4);
        let old = Template::from_json(&json).expect("valid");
        assert_eq!(
            old.job("o", &coinbase_options())
                .expect("valid")
                .version_mask,
            0
        );
        let mut no_rolling = coinbase_options();
        no_rolling.version_rolling = false;
        assert_eq!(
            template.job("n", &no_rolling).expect("valid").version_mask,
            0
        );

        // mintime past curtime + the roll: the job may still reach it.
        json["mintime"] = json!(1_800_000_000u32);
        let late = Template::from_json(&json).expect("valid");
        assert_eq!(
            late.job("m", &coinbase_options()).expect("valid").ntime_max,
            1_800_000_000
        );

        // Without `target`, bits decide.
        json.as_object_mut().expect("object").remove("target");
        let from_bits = Template::from_json(&json).expect("valid");
        assert_eq!(
            from_bits.target,
            Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)).expect("valid")
        );
    }

    #[test]
    fn script_sig_limits() {
        let template = Template::from_json(&template_json(0, &[], false)).expect("valid");
        let mut opts = coinbase_options();
        opts.tag = vec![b'x'; 100 - 1 - 4 - 8];
        assert!(template.job("a", &opts).is_ok());
        opts.tag.push(b'x');
        let err = template.job("b", &opts).expect_err("101 bytes");
        assert!(err.message().contains("101 bytes"), "{err}");
        // Height 0 is one byte; with nothing else the scriptSig is too short.
        let bare = CoinbaseOptions {
            extranonce1: vec![],
            extranonce2_size: 0,
            tag: vec![],
            ..coinbase_options()
        };
        assert!(template.job("c", &bare).is_err());
        let no_payout = CoinbaseOptions {
            payout_script: vec![],
            ..coinbase_options()
        };
        assert!(template.job("d", &no_payout).is_err());
    }

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
    fn block_refuses_a_share_of_another_template() {
        let a = Template::from_json(&template_json(103, &[tx(1, false)], false)).expect("valid");
        let b = Template::from_json(&template_json(103, &[tx(2, false)], false)).expect("valid");
        let s = share(
            a.job("a", &coinbase_options()).expect("valid"),
            vec![0; 8],
            0,
        );
        assert!(a.block(&s).is_ok());
        assert!(b.block(&s).is_err());
        let short = Share {
            extranonce2: vec![0; 4],
            ..s
        };
        assert!(a.block(&short).is_err());
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

    /// A scripted node on loopback: answers each JSON-RPC call from `reply`.
    struct MockNode {
        url: String,
        calls: Arc<Mutex<Vec<(String, Value)>>>,
    }

    impl MockNode {
        fn start(reply: impl Fn(&str, &Value) -> (u16, String) + Send + 'static) -> MockNode {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let url = format!("http://{}", listener.local_addr().expect("addr"));
            let calls = Arc::new(Mutex::new(Vec::new()));
            let log = calls.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(mut s) = stream else { return };
                    let Some(request) = read_request(&mut s) else {
                        continue;
                    };
                    let method = request["method"].as_str().unwrap_or("").to_owned();
                    let (status, body) = reply(&method, &request["params"]);
                    log.lock()
                        .expect("not poisoned")
                        .push((method, request["params"].clone()));
                    let _ = s.write_all(
                        format!(
                            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    );
                }
            });
            MockNode { url, calls }
        }

        fn count(&self, method: &str) -> usize {
            let calls = self.calls.lock().expect("not poisoned");
            calls.iter().filter(|(m, _)| m == method).count()
        }
    }

    fn read_request(s: &mut std::net::TcpStream) -> Option<Value> {
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).ok().filter(|&n| n > 0)?;
            req.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&req).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))?
                    .parse()
                    .ok()?;
                if body.len() >= len {
                    return serde_json::from_str(body).ok();
                }
            }
        }
    }

    fn result(v: Value) -> (u16, String) {
        (
            200,
            json!({"result": v, "error": null, "id": 1}).to_string(),
        )
    }

    fn rpc_error(code: i64, message: &str) -> (u16, String) {
        let error = json!({"code": code, "message": message});
        (
            500,
            json!({"result": null, "error": error, "id": 1}).to_string(),
        )
    }

    fn options(url: &str) -> SoloOptions {
        let mut opts = SoloOptions::new(
            url,
            Auth::UserPass("u".into(), "p".into()),
            hex::decode(PAYOUT).expect("valid"),
        );
        opts.poll_interval = Duration::from_millis(20);
        opts
    }

    fn no_longpoll(mut v: Value) -> Value {
        v.as_object_mut().expect("object").remove("longpollid");
        v
    }

    #[test]
    fn start_up_failures() {
        let node = MockNode::start(|_, _| (401, String::new()));
        let err = SoloSource::new(options(&node.url))
            .err()
            .expect("bad credentials");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(
            err.message().contains("rejected the RPC credentials"),
            "{err}"
        );

        let node = MockNode::start(|_, _| rpc_error(-32601, "Method not found"));
        let err = SoloSource::new(options(&node.url)).err().expect("no gbt");
        assert!(err.message().contains("Method not found"), "{err}");

        let node = MockNode::start(|_, _| result(json!({"version": 1})));
        let err = SoloSource::new(options(&node.url))
            .err()
            .expect("bad template");
        assert!(err.message().contains("bad block template"), "{err}");

        let mut opts = options("http://127.0.0.1:1");
        opts.coinbase_tag = vec![0; 90];
        let err = SoloSource::new(opts).err().expect("tag too long");
        assert!(err.message().contains("scriptSig"), "{err}");
    }

    /// A node that is still syncing: a notice at start, the job once it is ready.
    #[test]
    fn waits_for_a_node_that_is_not_ready() {
        let ready = Arc::new(Mutex::new(false));
        let flag = ready.clone();
        let node = MockNode::start(move |method, _| match method {
            "getblocktemplate" if *flag.lock().expect("not poisoned") => {
                result(no_longpoll(template_json(103, &[], false)))
            }
            _ => rpc_error(-10, "Bitcoin is downloading blocks..."),
        });
        let mut source = SoloSource::new(options(&node.url)).expect("starts");
        let events = source.poll(Duration::from_millis(10)).expect("polls");
        assert!(
            matches!(&events[..], [Event::Notice(n)] if n.contains("downloading blocks")),
            "{events:?}"
        );
        *ready.lock().expect("not poisoned") = true;
        let deadline = Instant::now() + Duration::from_secs(10);
        let job = loop {
            let events = source.poll(Duration::from_millis(100)).expect("polls");
            if let Some(job) = events.iter().find_map(|e| match e {
                Event::Job(job) => Some(job.clone()),
                _ => None,
            }) {
                break job;
            }
            assert!(Instant::now() < deadline, "no job");
        };
        assert_eq!(job.height, Some(103));
        assert!(job.clean);
    }

    fn mine(job: &Arc<Job>) -> Share {
        let en2 = vec![0; job.extranonce2_size];
        let mut header = job.header(&en2, job.ntime);
        while !job.block_target.is_met_by(&header.block_hash()) {
            header.nonce += 1;
        }
        Share {
            job: job.clone(),
            extranonce2: en2,
            header,
            hash: header.block_hash(),
            is_block: true,
            stale: false,
        }
    }

    fn only_job(events: &[Event]) -> Arc<Job> {
        match events {
            [.., Event::Job(job)] => job.clone(),
            other => panic!("expected a job last: {other:?}"),
        }
    }

    /// The whole solo loop against a scripted node: job, block, accepted, the next job; a
    /// stale block is not submitted; the node's reasons come back as verdicts.
    /// A submission whose answer was lost, retried: the node already has the block.
    #[test]
    fn a_retried_block_the_node_already_has_is_accepted() {
        let template = no_longpoll(template_json(103, &[tx(1, false)], false));
        let submits = Arc::new(Mutex::new(0u32));
        let node_submits = submits.clone();
        let node = MockNode::start(move |method, _| match method {
            "getblocktemplate" => result(template.clone()),
            "getbestblockhash" => result(template["previousblockhash"].clone()),
            "submitblock" => {
                let mut n = node_submits.lock().expect("not poisoned");
                *n += 1;
                if *n == 1 {
                    (200, "garbled".into())
                } else {
                    result(json!("duplicate"))
                }
            }
            _ => rpc_error(-32601, "Method not found"),
        });
        let mut source = SoloSource::new(options(&node.url)).expect("starts");
        let job = only_job(&source.poll(Duration::from_millis(10)).expect("polls"));
        let events = source.submit(mine(&job)).expect("submits");
        assert!(
            matches!(
                &events[0],
                Event::Verdict {
                    verdict: Verdict::Accepted,
                    ..
                }
            ),
            "{events:?}"
        );
        assert_eq!(node.count("submitblock"), 2);
    }

    #[test]
    fn mines_submits_and_moves_on() {
        let txs = vec![tx(1, false), tx(2, false), tx(3, false)];
        let state = Arc::new(Mutex::new((
            no_longpoll(template_json(103, &txs, false)),
            0u32,
        )));
        let node_state = state.clone();
        let node = MockNode::start(move |method, params| {
            let mut state = node_state.lock().expect("not poisoned");
            match method {
                "getblocktemplate" => result(state.0.clone()),
                "getbestblockhash" => result(state.0["previousblockhash"].clone()),
                "submitblock" => {
                    let block_hex = params[0].as_str().unwrap_or("");
                    let bytes = hex::decode(block_hex).unwrap_or_default();
                    let Ok(block) = deserialize::<bitcoin::Block>(&bytes) else {
                        return rpc_error(-22, "Block decode failed");
                    };
                    if !block.check_merkle_root() {
                        return result(json!("bad-txnmrklroot"));
                    }
                    state.1 += 1;
                    if state.1 > 1 {
                        return result(json!("inconclusive"));
                    }
                    // The block is the new tip; the next template builds on it.
                    let tip = block.block_hash().to_string();
                    state.0 = no_longpoll(template_json(104, &[], false));
                    state.0["previousblockhash"] = json!(tip);
                    result(Value::Null)
                }
                _ => rpc_error(-32601, "Method not found"),
            }
        });
        let mut source = SoloSource::new(options(&node.url)).expect("starts");
        assert!(source.pause_after_block());
        assert!(source.describe().contains(&node.url));
        let events = source.poll(Duration::from_millis(10)).expect("polls");
        assert!(matches!(&events[0], Event::Notice(n) if n.contains("height 103")));
        let job = only_job(&events);
        assert_eq!(job.merkle_branch.len(), 2);
        // Nothing new while the tip stands.
        assert_eq!(source.poll(Duration::from_millis(100)), Ok(vec![]));

        let block = mine(&job);
        let events = source.submit(block.clone()).expect("submits");
        assert!(
            matches!(
                &events[0],
                Event::Verdict {
                    verdict: Verdict::Accepted,
                    ..
                }
            ),
            "{events:?}"
        );
        let next = only_job(&events);
        assert_eq!(next.height, Some(104));
        assert_eq!(next.prev_hash, block.hash.0);
        assert!(next.clean);
        // The watcher sees the same template: no second job for it.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(source.poll(Duration::from_millis(50)), Ok(vec![]));

        // A block of the old job found after the switch: not sent.
        let submits = node.count("submitblock");
        let stale = Share {
            stale: true,
            ..mine(&job)
        };
        let events = source.submit(stale).expect("submits");
        assert!(
            matches!(
                &events[..],
                [Event::Verdict {
                    verdict: Verdict::Rejected { stale: true, .. },
                    ..
                }]
            ),
            "{events:?}"
        );
        assert_eq!(node.count("submitblock"), submits);

        // The node's own reason.
        let events = source.submit(mine(&next)).expect("submits");
        match &events[..] {
            [Event::Verdict {
                verdict: Verdict::Rejected { reason, stale },
                ..
            }] => {
                assert_eq!(reason, "inconclusive");
                assert!(*stale);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(node.count("submitblock"), submits + 1);
    }
}
