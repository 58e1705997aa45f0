//! One job shape for every source: the coinbase split around the extranonce, a merkle branch
//! and the header fields, from which each work unit builds its header.

use sha256d::hazmat::sha256d;
use sha256d::{CompactTarget, Header, Target};

/// How far past a job's time ntime may roll: pools and nodes refuse headers more than two
/// hours (7200 s) ahead of their clock, and the margin covers clock differences.
pub const NTIME_ROLL: u32 = 7000;

/// A job: what a Stratum `mining.notify` carries, plus the targets and limits that go with it.
/// A getblocktemplate template is turned into the same shape (its coinbase split around an
/// extranonce, its transactions folded into a merkle branch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The peer's job id (Stratum), or a template id (solo).
    pub id: String,
    /// The previous block hash in internal (header) byte order.
    pub prev_hash: [u8; 32],
    /// Coinbase bytes before the extranonce (non-witness serialization).
    pub coinb1: Vec<u8>,
    /// The pool's per-connection extranonce (empty for solo).
    pub extranonce1: Vec<u8>,
    /// How many extranonce2 bytes the miner fills in.
    pub extranonce2_size: usize,
    /// Coinbase bytes after the extranonce.
    pub coinb2: Vec<u8>,
    /// Merkle branch for the coinbase (leaf 0), internal byte order, bottom up.
    pub merkle_branch: Vec<[u8; 32]>,
    /// The merkle root itself, when the peer fixes it (a Stratum V2 standard job: header-only
    /// work, the coinbase kept by the pool). The coinbase fields are then empty and
    /// `extranonce2_size` is 0.
    pub fixed_merkle_root: Option<[u8; 32]>,
    /// The block version before rolling.
    pub version: u32,
    /// Version bits the miner may roll (BIP310/BIP320); 0 for none.
    pub version_mask: u32,
    /// The network's compact target.
    pub bits: CompactTarget,
    /// The job's time; work starts here and rolls forward with the clock.
    pub ntime: u32,
    /// The latest ntime the peer accepts.
    pub ntime_max: u32,
    /// What a result must meet to be submitted (the pool's share target; the block target solo).
    pub share_target: Target,
    /// What a result must meet to be a block.
    pub block_target: Target,
    /// Whether every older job is void.
    pub clean: bool,
    /// The block height, where the source knows it.
    pub height: Option<u64>,
}

impl Job {
    /// The coinbase transaction (non-witness form) with `extranonce2` filled in.
    pub fn coinbase(&self, extranonce2: &[u8]) -> Vec<u8> {
        let mut tx = Vec::with_capacity(
            self.coinb1.len() + self.extranonce1.len() + extranonce2.len() + self.coinb2.len(),
        );
        tx.extend_from_slice(&self.coinb1);
        tx.extend_from_slice(&self.extranonce1);
        tx.extend_from_slice(extranonce2);
        tx.extend_from_slice(&self.coinb2);
        tx
    }

    /// The merkle root (internal order) with `extranonce2` in the coinbase, or the fixed one.
    pub fn merkle_root(&self, extranonce2: &[u8]) -> [u8; 32] {
        match self.fixed_merkle_root {
            Some(root) => root,
            None => fold_branch(sha256d(&self.coinbase(extranonce2)), &self.merkle_branch),
        }
    }

    /// The header for `extranonce2` at `ntime` (nonce 0, version unrolled).
    pub fn header(&self, extranonce2: &[u8], ntime: u32) -> Header {
        Header {
            version: self.version,
            prev_blockhash: self.prev_hash,
            merkle_root: self.merkle_root(extranonce2),
            time: ntime,
            bits: self.bits,
            nonce: 0,
        }
    }
}

#[cfg(test)]
impl Job {
    /// A minimal job for unit tests: empty coinbase halves, a 4-byte extranonce2, regtest
    /// bits and targets every hash meets; tests override what they exercise.
    pub(crate) fn blank() -> Job {
        Job {
            id: "1".into(),
            prev_hash: [0; 32],
            coinb1: Vec::new(),
            extranonce1: Vec::new(),
            extranonce2_size: 4,
            coinb2: Vec::new(),
            merkle_branch: Vec::new(),
            fixed_merkle_root: None,
            version: 0x2000_0000,
            version_mask: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            ntime: 0,
            ntime_max: 0,
            share_target: Target::MAX,
            block_target: Target::MAX,
            clean: true,
            height: None,
        }
    }
}

/// Folds a leaf hash up a merkle branch: `root = sha256d(root ‖ branch[i])` for each level.
pub fn fold_branch(leaf: [u8; 32], branch: &[[u8; 32]]) -> [u8; 32] {
    branch.iter().fold(leaf, |acc, node| {
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&acc);
        pair[32..].copy_from_slice(node);
        sha256d(&pair)
    })
}

fn hash_pair(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut pair = [0u8; 64];
    pair[..32].copy_from_slice(a);
    pair[32..].copy_from_slice(b);
    sha256d(&pair)
}

/// The merkle root of `txids` (internal order), duplicating the last node of odd levels as
/// Bitcoin does. The root of no transactions is all zeros.
pub fn merkle_root(txids: &[[u8; 32]]) -> [u8; 32] {
    let mut level = txids.to_vec();
    if level.is_empty() {
        return [0; 32];
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| hash_pair(&p[0], p.get(1).unwrap_or(&p[0])))
            .collect();
    }
    level[0]
}

/// The branch that proves leaf 0 (the coinbase, not yet known) given the other transactions'
/// txids in block order: what Stratum's `merkle_branch` carries.
pub fn merkle_branch(rest: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut branch = Vec::new();
    // The level without its unknown first node.
    let mut level = rest.to_vec();
    while !level.is_empty() {
        branch.push(level[0]);
        // Pairs (2k+1, 2k+2) of the full level are (2k-1+1, ...) here: skip the node paired
        // with the unknown one, hash the rest pairwise, duplicating an odd last node.
        level = level[1..]
            .chunks(2)
            .map(|p| hash_pair(&p[0], p.get(1).unwrap_or(&p[0])))
            .collect();
    }
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d::hazmat::hex;

    fn h(text: &str) -> [u8; 32] {
        hex::decode_array(text, "hash").expect("test vector is valid hex")
    }

    #[test]
    fn a_fixed_merkle_root_goes_into_the_header_as_given() {
        let job = Job {
            coinb1: vec![1, 2, 3],
            fixed_merkle_root: Some([0xab; 32]),
            extranonce2_size: 0,
            ..Job::blank()
        };
        assert_eq!(job.merkle_root(&[]), [0xab; 32]);
        assert_eq!(job.header(&[], 5).merkle_root, [0xab; 32]);
        let rolled = Job {
            fixed_merkle_root: None,
            ..job
        };
        assert_eq!(
            rolled.merkle_root(&[]),
            sha256d::hazmat::sha256d(&[1, 2, 3])
        );
    }

    /// The reference's worked job, which a real pool accepted: coinbase, root and header hash.
    #[test]
    fn worked_pool_job_builds_the_accepted_header() {
        let job = Job {
            id: "6".into(),
            prev_hash: h("3d81e19e96abcbcf553bb7dcf3b488f94506eab73ea860e35db1d6fa5f4e1f1c"),
            coinb1: hex::decode("01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff200167045ea5026b08").expect("valid"),
            extranonce1: hex::decode("08000003").expect("valid"),
            extranonce2_size: 4,
            coinb2: hex::decode("0f2f456c6f506f6f6c2e436c6f75642f0000000001f826062a010000001976a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac00000000").expect("valid"),
            merkle_branch: vec![
                h("8b897b8e448ce75c507d5f3ae910f0fee28ca3ea7312ef6dc311f0dc095484be"),
                h("17081bf31b43ab9c6754acc70c33cc7695810c1d0b26ed1bd30bc3dafd7c9da2"),
            ],
            fixed_merkle_root: None,
            version: 0x2000_0000,
            version_mask: 0,
            bits: CompactTarget::from_consensus(0x207f_ffff),
            ntime: 0x6b02_a55e,
            ntime_max: 0x6b02_a55e + 7000,
            share_target: Target::from_difficulty(0.0001).expect("valid difficulty"),
            block_target: Target::MAX,
            clean: false,
            height: Some(103),
        };
        let en2 = [0u8; 4];
        assert_eq!(job.coinbase(&en2).len(), 117);
        assert_eq!(
            sha256d(&job.coinbase(&en2)),
            h("8062d1b0784f4c0885d93fb088bec0710cf4c34339fc85e3474cedb9dd4a0cbd")
        );
        assert_eq!(
            job.merkle_root(&en2),
            h("fcfddcf4abf749562818190b0d74b50e4f09f8352677b96ffe73f82ca667957f")
        );
        let mut header = job.header(&en2, 0x6b02_a55e);
        header.nonce = 0x0006_df9f;
        assert_eq!(
            header.block_hash().to_string(),
            "000020828ea1339266a4ae4a254f6332bb28ae866baa013784afe485ff065ba2"
        );
        assert!(job.share_target.is_met_by(&header.block_hash()));
    }

    /// The branch and the root agree for every block size up to 20 transactions, and both
    /// agree with rust-bitcoin's merkle root.
    #[test]
    fn branch_and_root_agree_with_rust_bitcoin() {
        use bitcoin::hashes::Hash as _;
        for n in 1..=20u8 {
            let txids: Vec<[u8; 32]> = (0..n).map(|i| sha256d(&[i, n])).collect();
            let ours = merkle_root(&txids);
            let theirs = bitcoin::merkle_tree::calculate_root(
                txids.iter().map(|t| bitcoin::Txid::from_byte_array(*t)),
            )
            .expect("non-empty")
            .to_byte_array();
            assert_eq!(ours, theirs, "{n} transactions");
            assert_eq!(fold_branch(txids[0], &merkle_branch(&txids[1..])), ours);
        }
        assert_eq!(merkle_branch(&[]), Vec::<[u8; 32]>::new());
    }
}
