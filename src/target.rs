//! Targets: the 256-bit number a hash must not exceed, its compact `nBits` form, and pool
//! difficulty.

use crate::{hex, Error, Hash};
use alloc::{format, string::String};
use core::{cmp::Ordering, fmt, str::FromStr};

/// The compact (`nBits`) encoding of a target, as stored in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CompactTarget(u32);

impl CompactTarget {
    /// Wraps a raw `nBits` value (any value; [`Target::from_compact`] validates it).
    pub const fn from_consensus(bits: u32) -> Self {
        CompactTarget(bits)
    }

    /// The raw `nBits` value.
    pub const fn to_consensus(self) -> u32 {
        self.0
    }

    /// Parses 8 hex digits as shown by `getblock` (e.g. `1d00ffff`), optional `0x`.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let t = t.strip_prefix("0x").unwrap_or(t);
        let b: [u8; 4] = hex::decode_array(t, "nBits")?;
        Ok(CompactTarget(u32::from_be_bytes(b)))
    }
}

impl fmt::Display for CompactTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// A 256-bit unsigned target. A hash meets it when the hash, read as a little-endian number,
/// is less than or equal to it.
///
/// ```
/// use sha256d::{CompactTarget, Header, Target};
///
/// // From a header's nBits, a pool difficulty, or 64 hex digits as explorers show them.
/// let bits = Target::from_compact(CompactTarget::from_consensus(0x1d00ffff))?;
/// assert_eq!(bits, Target::DIFFICULTY_1);
/// assert_eq!(Target::from_difficulty(1.0)?, Target::DIFFICULTY_1);
/// let hex: Target = "00000000ffff0000000000000000000000000000000000000000000000000000".parse()?;
/// assert_eq!(hex, bits);
///
/// // Inclusive: a hash meets a target when, read as a little-endian number, it is not above it.
/// assert!(bits.is_met_by(&Header::genesis().block_hash()));
/// # Ok::<(), sha256d::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Target {
    /// Little-endian 64-bit limbs: `limbs[0]` is least significant.
    limbs: [u64; 4],
}

impl Ord for Target {
    fn cmp(&self, other: &Self) -> Ordering {
        self.limbs.iter().rev().cmp(other.limbs.iter().rev())
    }
}

impl PartialOrd for Target {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Target {
    /// No hash but zero meets it.
    pub const ZERO: Target = Target { limbs: [0; 4] };
    /// Every hash meets it.
    pub const MAX: Target = Target {
        limbs: [u64::MAX; 4],
    };
    /// The target of difficulty 1 as pools count it: `0x00000000ffff0000…0000`
    /// (also mainnet's proof-of-work limit, `1d00ffff`).
    pub const DIFFICULTY_1: Target = Target {
        limbs: [0, 0, 0, 0x0000_0000_ffff_0000],
    };

    /// From 32 bytes, least significant first (the order hashes are compared in).
    pub fn from_le_bytes(b: [u8; 32]) -> Self {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(b.chunks_exact(8)) {
            *limb = u64::from_le_bytes(chunk.try_into().expect("8-byte chunk"));
        }
        Target { limbs }
    }

    /// 32 bytes, least significant first.
    pub fn to_le_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (limb, chunk) in self.limbs.iter().zip(b.chunks_exact_mut(8)) {
            chunk.copy_from_slice(&limb.to_le_bytes());
        }
        b
    }

    /// From 32 bytes, most significant first.
    pub fn from_be_bytes(mut b: [u8; 32]) -> Self {
        b.reverse();
        Self::from_le_bytes(b)
    }

    /// 32 bytes, most significant first.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let mut b = self.to_le_bytes();
        b.reverse();
        b
    }

    /// Parses 64 hex digits, most significant first: the form explorers and `--target` show.
    pub fn from_be_hex(text: &str) -> Result<Self, Error> {
        let t = text.trim();
        let t = t.strip_prefix("0x").unwrap_or(t);
        Ok(Self::from_be_bytes(hex::decode_array(t, "target")?))
    }

    /// 64 hex digits, most significant first.
    pub fn to_be_hex(self) -> String {
        hex::encode(&self.to_be_bytes())
    }

    /// Whether `hash` meets this target (inclusive).
    pub fn is_met_by(&self, hash: &Hash) -> bool {
        Target::from_le_bytes(hash.0) <= *self
    }

    /// Decodes `nBits` with Bitcoin Core's rules; negative, overflowing and zero targets are
    /// errors (Core's `CheckProofOfWork` rejects all three).
    pub fn from_compact(bits: CompactTarget) -> Result<Self, Error> {
        let raw = bits.to_consensus();
        let size = raw >> 24;
        let mut word = raw & 0x007f_ffff;
        let negative = word != 0 && raw & 0x0080_0000 != 0;
        let overflow =
            word != 0 && (size > 34 || (word > 0xff && size > 33) || (word > 0xffff && size > 32));
        if negative {
            return Err(Error::invalid(format!(
                "nBits {bits} encodes a negative target (sign bit 0x00800000 set)"
            )));
        }
        if overflow {
            return Err(Error::invalid(format!(
                "nBits {bits} overflows 256 bits (exponent {size})"
            )));
        }
        let target = if size <= 3 {
            word >>= 8 * (3 - size);
            Target::from_u64(u64::from(word))
        } else {
            Target::from_u64(u64::from(word)).shl(8 * (size - 3))
        };
        if target == Target::ZERO {
            return Err(Error::invalid(format!(
                "nBits {bits} encodes a zero target"
            )));
        }
        Ok(target)
    }

    /// The compact encoding, rounding down to its 23-bit mantissa as Core's `GetCompact` does.
    pub fn to_compact_lossy(self) -> CompactTarget {
        let mut size = self.bits().div_ceil(8);
        let mut compact = if size <= 3 {
            (self.limbs[0] << (8 * (3 - size))) as u32
        } else {
            self.shr(8 * (size - 3)).limbs[0] as u32
        };
        if compact & 0x0080_0000 != 0 {
            compact >>= 8;
            size += 1;
        }
        CompactTarget(compact | size << 24)
    }

    /// The target of a pool difficulty: `DIFFICULTY_1 / difficulty`, rounded down, exact for
    /// every finite `f64` (fractional difficulties included); capped at [`Target::MAX`].
    pub fn from_difficulty(difficulty: f64) -> Result<Self, Error> {
        if !(difficulty.is_finite() && difficulty > 0.0) {
            return Err(Error::invalid(format!(
                "difficulty must be a positive finite number, got {difficulty}"
            )));
        }
        // difficulty = mantissa * 2^exp exactly, with an integer mantissa below 2^53.
        let bits = difficulty.to_bits();
        let raw_exp = ((bits >> 52) & 0x7ff) as i32;
        let (mantissa, exp) = if raw_exp == 0 {
            (bits & ((1 << 52) - 1), -1074)
        } else {
            ((bits & ((1 << 52) - 1)) | 1 << 52, raw_exp - 1075)
        };
        // floor(D1 / (m * 2^e)): for e >= 0 divide then shift right (floor of floor is exact);
        // for e < 0 shift D1 left first, in a wider number.
        let mut wide = [0u64; 8];
        wide[..4].copy_from_slice(&Target::DIFFICULTY_1.limbs);
        if exp < 0 {
            let shift = exp.unsigned_abs();
            if shift > 256 {
                return Ok(Target::MAX);
            }
            wide = shl_wide(wide, shift);
        }
        let mut q = div_wide(wide, mantissa);
        if exp > 0 {
            q = shr_wide(q, exp as u32);
        }
        if q[4..].iter().any(|&l| l != 0) {
            return Ok(Target::MAX);
        }
        Ok(Target {
            limbs: [q[0], q[1], q[2], q[3]],
        })
    }

    /// The pool difficulty of this target: `DIFFICULTY_1 / self`, as a float.
    pub fn difficulty_float(&self) -> f64 {
        if *self == Target::ZERO {
            return f64::INFINITY;
        }
        Target::DIFFICULTY_1.to_f64() / self.to_f64()
    }

    /// The most significant 32 bits (little-endian bytes 28..32), which the nonce-scanning
    /// kernels compare the last hash word against.
    pub fn top_u32(&self) -> u32 {
        (self.limbs[3] >> 32) as u32
    }

    fn from_u64(v: u64) -> Self {
        Target {
            limbs: [v, 0, 0, 0],
        }
    }

    fn to_f64(self) -> f64 {
        self.limbs
            .iter()
            .rev()
            .fold(0.0, |acc, &l| acc * 18_446_744_073_709_551_616.0 + l as f64)
    }

    fn bits(&self) -> u32 {
        for i in (0..4).rev() {
            if self.limbs[i] != 0 {
                return 64 * i as u32 + 64 - self.limbs[i].leading_zeros();
            }
        }
        0
    }

    fn shl(self, n: u32) -> Self {
        self.through_wide(|w| shl_wide(w, n))
    }

    fn shr(self, n: u32) -> Self {
        self.through_wide(|w| shr_wide(w, n))
    }

    /// Applies `f` to this value widened to 512 bits and keeps the low 256.
    fn through_wide(self, f: impl FnOnce(Wide) -> Wide) -> Self {
        let mut w = [0u64; 8];
        w[..4].copy_from_slice(&self.limbs);
        let w = f(w);
        Target {
            limbs: [w[0], w[1], w[2], w[3]],
        }
    }
}

type Wide = [u64; 8];

fn shl_wide(v: Wide, n: u32) -> Wide {
    let (limbs, bits) = ((n / 64) as usize, n % 64);
    let mut out = [0u64; 8];
    for i in (limbs..8).rev() {
        let src = i - limbs;
        out[i] = v[src] << bits;
        if bits != 0 && src > 0 {
            out[i] |= v[src - 1] >> (64 - bits);
        }
    }
    out
}

fn shr_wide(v: Wide, n: u32) -> Wide {
    let (limbs, bits) = ((n / 64) as usize, n % 64);
    let mut out = [0u64; 8];
    for (i, o) in out
        .iter_mut()
        .enumerate()
        .take(8usize.saturating_sub(limbs))
    {
        let src = i + limbs;
        *o = v[src] >> bits;
        if bits != 0 && src + 1 < 8 {
            *o |= v[src + 1] << (64 - bits);
        }
    }
    out
}

fn div_wide(v: Wide, d: u64) -> Wide {
    let mut out = [0u64; 8];
    let mut rem: u128 = 0;
    for i in (0..8).rev() {
        let cur = rem << 64 | u128::from(v[i]);
        out[i] = (cur / u128::from(d)) as u64;
        rem = cur % u128::from(d);
    }
    out
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_be_hex())
    }
}

impl FromStr for Target {
    type Err = Error;

    /// 64 hex digits, most significant first, as [`Target::from_be_hex`] (and as `Display`
    /// writes it).
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_be_hex(text)
    }
}

impl FromStr for CompactTarget {
    type Err = Error;

    /// 8 hex digits, as [`CompactTarget::from_hex`].
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_hex(text)
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({self})")
    }
}
