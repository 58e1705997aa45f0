//! The 80-byte block header.

use crate::{hex, sha256, CompactTarget, Error, Hash};
use alloc::{format, string::String};

/// A Bitcoin block header. Fields hold their values; [`Header::to_bytes`] gives the
/// little-endian wire form that is hashed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// Block version; BIP9/BIP320 use its bits as signals and version-rolling space.
    pub version: u32,
    /// Hash of the previous block, internal byte order.
    pub prev_blockhash: [u8; 32],
    /// Merkle root of the transactions, internal byte order.
    pub merkle_root: [u8; 32],
    /// Block time, seconds since the Unix epoch.
    pub time: u32,
    /// The target in compact form.
    pub bits: CompactTarget,
    /// The nonce.
    pub nonce: u32,
}

impl Header {
    /// Serialized size.
    pub const SIZE: usize = 80;

    /// Decodes the 80-byte wire form.
    pub fn from_bytes(b: &[u8; 80]) -> Self {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Header {
            version: u32_at(0),
            prev_blockhash: b[4..36].try_into().expect("32 bytes"),
            merkle_root: b[36..68].try_into().expect("32 bytes"),
            time: u32_at(68),
            bits: CompactTarget::from_consensus(u32_at(72)),
            nonce: u32_at(76),
        }
    }

    /// Decodes from a slice that must be exactly 80 bytes long.
    pub fn from_slice(b: &[u8]) -> Result<Self, Error> {
        let arr: &[u8; 80] = b.try_into().map_err(|_| {
            Error::parse(format!(
                "a block header is 80 bytes (160 hex digits), got {} bytes",
                b.len()
            ))
        })?;
        Ok(Self::from_bytes(arr))
    }

    /// Decodes 160 hex digits of wire form.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode(text).map_err(|e| Error::parse(format!("header: {e}")))?;
        Self::from_slice(&bytes)
    }

    /// The 80-byte wire form.
    pub fn to_bytes(&self) -> [u8; 80] {
        let mut b = [0u8; 80];
        b[0..4].copy_from_slice(&self.version.to_le_bytes());
        b[4..36].copy_from_slice(&self.prev_blockhash);
        b[36..68].copy_from_slice(&self.merkle_root);
        b[68..72].copy_from_slice(&self.time.to_le_bytes());
        b[72..76].copy_from_slice(&self.bits.to_consensus().to_le_bytes());
        b[76..80].copy_from_slice(&self.nonce.to_le_bytes());
        b
    }

    /// The wire form as hex.
    pub fn to_hex(&self) -> String {
        hex::encode(&self.to_bytes())
    }

    /// The block hash: double SHA-256 of the wire form.
    pub fn block_hash(&self) -> Hash {
        Hash(sha256::sha256d_header(&self.to_bytes()))
    }
}
