//! Conversions to and from rust-bitcoin 0.32 (feature `bitcoin`).

use crate::{CompactTarget, Hash, Header, Target};
use bitcoin::hashes::Hash as _;

impl From<bitcoin::block::Header> for Header {
    fn from(h: bitcoin::block::Header) -> Self {
        Header {
            version: h.version.to_consensus() as u32,
            prev_blockhash: h.prev_blockhash.to_byte_array(),
            merkle_root: h.merkle_root.to_byte_array(),
            time: h.time,
            bits: h.bits.into(),
            nonce: h.nonce,
        }
    }
}

impl From<Header> for bitcoin::block::Header {
    fn from(h: Header) -> Self {
        bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(h.version as i32),
            prev_blockhash: bitcoin::BlockHash::from_byte_array(h.prev_blockhash),
            merkle_root: bitcoin::TxMerkleNode::from_byte_array(h.merkle_root),
            time: h.time,
            bits: h.bits.into(),
            nonce: h.nonce,
        }
    }
}

impl From<bitcoin::CompactTarget> for CompactTarget {
    fn from(c: bitcoin::CompactTarget) -> Self {
        CompactTarget::from_consensus(c.to_consensus())
    }
}

impl From<CompactTarget> for bitcoin::CompactTarget {
    fn from(c: CompactTarget) -> Self {
        bitcoin::CompactTarget::from_consensus(c.to_consensus())
    }
}

impl From<bitcoin::Target> for Target {
    fn from(t: bitcoin::Target) -> Self {
        Target::from_le_bytes(t.to_le_bytes())
    }
}

impl From<Target> for bitcoin::Target {
    fn from(t: Target) -> Self {
        bitcoin::Target::from_le_bytes(t.to_le_bytes())
    }
}

impl From<bitcoin::BlockHash> for Hash {
    fn from(h: bitcoin::BlockHash) -> Self {
        Hash(h.to_byte_array())
    }
}

impl From<Hash> for bitcoin::BlockHash {
    fn from(h: Hash) -> Self {
        bitcoin::BlockHash::from_byte_array(h.0)
    }
}
