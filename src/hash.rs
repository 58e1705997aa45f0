//! A double SHA-256 result.

use crate::{hex, Error, Target};
use core::{fmt, str::FromStr};

/// 32 bytes of double SHA-256 in internal byte order (as hashed, as compared to targets as a
/// little-endian number). `Display` shows it reversed, as block explorers do, and [`FromStr`]
/// reads that form back.
///
/// ```
/// use sha256d::Hash;
///
/// let genesis: Hash = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f".parse()?;
/// assert_eq!(genesis.leading_zero_bits(), 43);
/// assert!(genesis.difficulty() > 2536.0);
/// # Ok::<(), sha256d::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// Wraps bytes in internal order.
    pub const fn from_byte_array(bytes: [u8; 32]) -> Self {
        Hash(bytes)
    }

    /// The bytes in internal order.
    pub fn to_byte_array(self) -> [u8; 32] {
        self.0
    }

    /// The share difficulty this hash proves, `DIFFICULTY_1 / hash` as pools count it: a share
    /// meets a pool's difficulty `d` when this is at least `d`. Infinite for the zero hash.
    pub fn difficulty(&self) -> f64 {
        Target::from_le_bytes(self.0).difficulty_float()
    }

    /// Parses the displayed (reversed, explorer-style) hex form.
    pub fn from_display_hex(text: &str) -> Result<Self, Error> {
        let mut bytes: [u8; 32] = hex::decode_array(text, "hash")?;
        bytes.reverse();
        Ok(Hash(bytes))
    }

    /// How many leading zero bits the displayed hash has (the "share difficulty" in bits).
    pub fn leading_zero_bits(&self) -> u32 {
        let mut n = 0;
        for b in self.0.iter().rev() {
            if *b == 0 {
                n += 8;
            } else {
                return n + b.leading_zeros();
            }
        }
        n
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rev = self.0;
        rev.reverse();
        f.write_str(&hex::encode(&rev))
    }
}

impl FromStr for Hash {
    type Err = Error;

    /// The displayed (explorer-style) hex form, as [`Hash::from_display_hex`].
    fn from_str(text: &str) -> Result<Self, Error> {
        Self::from_display_hex(text)
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}
