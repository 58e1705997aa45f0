//! What to search, and what a search finds.

use crate::{Error, Hash, Header, Target};
use alloc::format;
use core::ops::Range;

/// The version bits BIP320 leaves to miners (`0x1fffe000`): the mask pools grant for rolling.
pub const BIP320_VERSION_MASK: u32 = 0x1fff_e000;

/// The default cap on how many results one search may return.
pub const DEFAULT_MAX_RESULTS: usize = 1_000_000;

/// A nonce search: a header, a half-open nonce range (`end` may be 2^32), optional version
/// rolling and a target.
///
/// With rolling, version `k` (for `k` in `0..rolls`) is `(header.version & !mask) |
/// deposit(k, mask)`: the bits of `k` placed into the mask's set bits from the lowest up.
///
/// ```
/// use sha256d::{Header, Target, Work, BIP320_VERSION_MASK};
///
/// let work = Work::new(Header::genesis(), Target::from_difficulty(1e-6)?)
///     .with_nonces(0..1 << 12)?
///     .with_version_rolling(BIP320_VERSION_MASK, 4)?;
/// assert_eq!(work.total_hashes(), 4 << 12);
/// assert_eq!(work.version(1), 0x0000_2001); // bit 13 is the mask's lowest
/// let found = sha256d::best().search(&work)?;
/// assert!(found.iter().all(|f| work.target().is_met_by(&f.hash)));
/// assert!(found.windows(2).all(|w| (w[0].version, w[0].nonce) < (w[1].version, w[1].nonce)));
/// # Ok::<(), sha256d::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Work {
    header: Header,
    nonces: Range<u64>,
    version_mask: u32,
    rolls: u64,
    target: Target,
    max_results: usize,
}

/// One hit: a version and nonce whose header hash meets the work's target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Found {
    /// The (possibly rolled) header version.
    pub version: u32,
    /// The nonce.
    pub nonce: u32,
    /// The block hash with that version and nonce, re-hashed on the host.
    pub hash: Hash,
}

impl Found {
    /// A hit of `version` and `nonce` whose block hash is `hash`.
    pub fn new(version: u32, nonce: u32, hash: Hash) -> Self {
        Found {
            version,
            nonce,
            hash,
        }
    }
}

/// Places the low bits of `k` into the set bits of `mask`, lowest first (x86's `pdep`).
pub fn deposit(mut k: u64, mask: u32) -> u32 {
    let mut out = 0u32;
    let mut m = mask;
    while m != 0 && k != 0 {
        let bit = m & m.wrapping_neg();
        if k & 1 != 0 {
            out |= bit;
        }
        k >>= 1;
        m &= m - 1;
    }
    out
}

/// Parses a nonce range written `A..B` (half-open), each bound decimal or `0x` hex. The range
/// is only parsed here; [`Work::with_nonces`] checks it.
pub fn parse_nonce_range(text: &str) -> Result<Range<u64>, Error> {
    let bad = || {
        Error::parse(format!(
            "nonce range wants A..B (e.g. 0..4294967296), got {text:?}"
        ))
    };
    let (a, b) = text.split_once("..").ok_or_else(bad)?;
    let num = |s: &str| {
        let s = s.trim();
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16),
            None => s.parse(),
        }
        .map_err(|_| bad())
    };
    Ok(num(a)?..num(b)?)
}

impl Work {
    /// Every nonce (`0..2^32`) of `header`'s version against `target`.
    pub fn new(header: Header, target: Target) -> Self {
        Work {
            header,
            nonces: 0..1 << 32,
            version_mask: 0,
            rolls: 1,
            target,
            max_results: DEFAULT_MAX_RESULTS,
        }
    }

    /// Restricts the search to `nonces` (half-open; `end` at most 2^32, `start <= end`).
    pub fn with_nonces(mut self, nonces: Range<u64>) -> Result<Self, Error> {
        if nonces.start > nonces.end {
            return Err(Error::invalid(format!(
                "nonce range {}..{} is reversed",
                nonces.start, nonces.end
            )));
        }
        if nonces.end > 1 << 32 {
            return Err(Error::invalid(format!(
                "nonce range end {} is past 2^32 = 4294967296",
                nonces.end
            )));
        }
        self.nonces = nonces;
        Ok(self)
    }

    /// Rolls `rolls` versions through the set bits of `mask` (BIP320 pools use `1fffe000`).
    pub fn with_version_rolling(mut self, mask: u32, rolls: u64) -> Result<Self, Error> {
        let space = 1u64 << mask.count_ones();
        if rolls == 0 {
            return Err(Error::invalid("version rolling needs at least 1 roll"));
        }
        if rolls > space {
            return Err(Error::invalid(format!(
                "{rolls} rolls do not fit mask {mask:08x}: its {} bits give {space} versions",
                mask.count_ones()
            )));
        }
        self.version_mask = mask;
        self.rolls = rolls;
        Ok(self)
    }

    /// Caps how many results a search may return before it fails instead (default 1,000,000).
    pub fn with_max_results(mut self, max: usize) -> Self {
        self.max_results = max;
        self
    }

    /// The header (its nonce, and its version's masked bits, are ignored).
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The nonce range.
    pub fn nonces(&self) -> Range<u64> {
        self.nonces.clone()
    }

    /// The version-rolling mask (0 without rolling).
    pub fn version_mask(&self) -> u32 {
        self.version_mask
    }

    /// How many versions are searched.
    pub fn rolls(&self) -> u64 {
        self.rolls
    }

    /// The result cap.
    pub fn max_results(&self) -> usize {
        self.max_results
    }

    /// Version number `k` of the rolled sequence.
    pub fn version(&self, k: u64) -> u32 {
        (self.header.version & !self.version_mask) | deposit(k, self.version_mask)
    }

    /// Whether `version` is one of the versions this work rolls through.
    pub fn has_version(&self, version: u32) -> bool {
        if version & !self.version_mask != self.header.version & !self.version_mask {
            return false;
        }
        // Gather the masked bits back into k (the inverse of `deposit`).
        let mut k = 0u64;
        let mut m = self.version_mask;
        let mut i = 0;
        while m != 0 {
            let bit = m & m.wrapping_neg();
            if version & bit != 0 {
                k |= 1 << i;
            }
            i += 1;
            m &= m - 1;
        }
        k < self.rolls
    }

    /// The header bytes for one version and nonce.
    pub fn header_bytes(&self, version: u32, nonce: u32) -> [u8; 80] {
        let mut b = self.header.to_bytes();
        b[0..4].copy_from_slice(&version.to_le_bytes());
        b[76..80].copy_from_slice(&nonce.to_le_bytes());
        b
    }

    /// How many hashes the whole search takes.
    pub fn total_hashes(&self) -> u128 {
        u128::from(self.rolls) * u128::from(self.nonces.end - self.nonces.start)
    }
}
