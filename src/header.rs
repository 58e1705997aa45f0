//! The 80-byte block header.

use crate::{hex, sha256, CompactTarget, Error, Hash};
use alloc::{format, string::String};
use core::str::FromStr;

/// A Bitcoin block header. Fields hold their values; [`Header::to_bytes`] gives the
/// little-endian wire form that is hashed, and [`FromStr`] reads its 160 hex digits.
///
/// ```
/// use sha256d::Header;
///
/// let genesis: Header = sha256d::GENESIS_HEADER_HEX.parse()?;
/// assert_eq!(genesis.nonce, 2_083_236_893);
/// assert_eq!(genesis.bits.to_consensus(), 0x1d00ffff);
/// assert_eq!(
///     genesis.block_hash().to_string(),
///     "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
/// );
/// assert_eq!(genesis.to_hex(), sha256d::GENESIS_HEADER_HEX);
/// # Ok::<(), sha256d::Error>(())
/// ```
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

    /// The genesis block's header (mainnet, height 0).
    pub fn genesis() -> Self {
        Self::from_hex(GENESIS_HEADER_HEX).expect("GENESIS_HEADER_HEX is a valid header")
    }

    /// The block hash: double SHA-256 of the wire form.
    pub fn block_hash(&self) -> Hash {
        Hash(sha256::sha256d_header(&self.to_bytes()))
    }
}

impl FromStr for Header {
    type Err = Error;

    /// 160 hex digits of wire form, as [`Header::from_hex`].
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_hex(text)
    }
}

/// The mainnet genesis block's header, 160 hex digits of wire form: the first known answer of
/// every engine (nonce 2083236893, hash `000000000019d6…e26f`).
pub const GENESIS_HEADER_HEX: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
