//! A checked template becomes work and a found share becomes a block: our coinbase (BIP34
//! height, extranonce, tag, the payout and the witness commitment) split around the
//! extranonce into a [`Job`], and the serialized block for `submitblock`. No I/O.

use super::template::Template;
use crate::job::NTIME_ROLL;
use crate::{merkle_branch, Job, Share};
use sha256d::hazmat::sha256d;
use sha256d::{Error, BIP320_VERSION_MASK};

/// The most a scriptSig may hold (consensus: `bad-cb-length` outside 2..=100).
const MAX_SCRIPT_SIG: usize = 100;

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
    pub(crate) fn script_sig_len(&self, height: u64) -> Result<usize, Error> {
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

impl Template {
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
            BIP320_VERSION_MASK & !self.version
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
            fixed_merkle_root: None,
            version: self.version,
            version_mask,
            bits: self.bits,
            ntime: self.curtime,
            ntime_max: self.curtime.saturating_add(NTIME_ROLL),
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
    /// transactions), or its header is not the job's (other bits, parent or merkle root, a
    /// time before `mintime`, version bits outside the mask) or misses the template's
    /// target: such a block could only be rejected.
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
        let header = &share.header;
        let mismatch = if header.bits != self.bits {
            Some(format!("bits {} instead of {}", header.bits, self.bits))
        } else if header.prev_blockhash != self.prev_hash {
            Some("another parent".to_owned())
        } else if header.merkle_root != job.merkle_root(&share.extranonce2) {
            Some("another merkle root".to_owned())
        } else if header.time < self.mintime {
            Some(format!(
                "time {} before mintime {}",
                header.time, self.mintime
            ))
        } else if header.version & !job.version_mask != job.version {
            Some(format!(
                "version {:08x} outside the job's mask",
                header.version
            ))
        } else if !self.target.is_met_by(&header.block_hash()) {
            Some(format!("a hash above the target {}", self.target))
        } else {
            None
        };
        if let Some(what) = mismatch {
            return Err(Error::invalid(format!(
                "the header of block {} has {what}; the template at height {} would refuse it",
                share.hash, self.height
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
pub(crate) fn height_push(height: u64) -> Vec<u8> {
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

/// Four bytes that differ between runs, processes and `salt`s (a job counter), so that two
/// miners paying the same script on the same template search different coinbases, and so do
/// two jobs of one miner.
pub(crate) fn extranonce1(salt: u64) -> Vec<u8> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut seed = nanos.to_le_bytes().to_vec();
    seed.extend_from_slice(&std::process::id().to_le_bytes());
    seed.extend_from_slice(&salt.to_le_bytes());
    sha256d(&seed)[..4].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gbt::fixtures::{coinbase_options, template_json, tx, PAYOUT, PREV};
    use crate::gbt::template::Reader;
    use bitcoin::consensus::encode::{deserialize, serialize, VarInt};
    use bitcoin::hashes::Hash as _;
    use serde_json::json;
    use sha256d::hazmat::hex;
    use sha256d::{CompactTarget, Target};
    use std::sync::Arc;

    fn share(job: Job, extranonce2: Vec<u8>, nonce: u32) -> Share {
        let mut header = job.header(&extranonce2, job.ntime + 1);
        header.nonce = nonce;
        header.version |= 0x0000_e000 & job.version_mask;
        // Regtest's target: about every other nonce makes a block.
        while !job.block_target.is_met_by(&header.block_hash()) {
            header.nonce += 1;
        }
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
        assert_eq!(job.version_mask, BIP320_VERSION_MASK);
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
        assert_eq!(job.version_mask, BIP320_VERSION_MASK & !0x4000);
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
            ..s.clone()
        };
        assert!(a.block(&short).is_err());
    }

    /// A header that is not the job's is never sent: the node could only refuse it.
    #[test]
    fn block_refuses_a_header_the_template_would_refuse() {
        let t = Template::from_json(&template_json(103, &[tx(1, false)], false)).expect("valid");
        let good = share(
            t.job("a", &coinbase_options()).expect("valid"),
            vec![0; 8],
            0,
        );
        assert!(t.block(&good).is_ok());
        let with = |change: &dyn Fn(&mut sha256d::Header)| {
            let mut s = good.clone();
            change(&mut s.header);
            s.hash = s.header.block_hash();
            t.block(&s).expect_err("a header the template would refuse")
        };
        let err = with(&|h| h.bits = CompactTarget::from_consensus(0xffff_ffff));
        assert!(
            err.message().contains("bits ffffffff instead of 207fffff"),
            "{err}"
        );
        let err = with(&|h| h.merkle_root[0] ^= 1);
        assert!(err.message().contains("another merkle root"), "{err}");
        let err = with(&|h| h.prev_blockhash[0] ^= 1);
        assert!(err.message().contains("another parent"), "{err}");
        let err = with(&|h| h.time = 1_600_000_000);
        assert!(err.message().contains("before mintime"), "{err}");
        let err = with(&|h| h.version = 0x4000_0000);
        assert!(err.message().contains("outside the job's mask"), "{err}");
        // The next nonce that misses the target.
        let err = with(&|h| {
            while t.target.is_met_by(&h.block_hash()) {
                h.nonce += 1;
            }
        });
        assert!(err.message().contains("above the target"), "{err}");
    }
}
