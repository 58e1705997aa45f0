//! A double SHA-256 result.

use crate::{hex, Error};
use core::fmt;

/// 32 bytes of double SHA-256 in internal byte order (as hashed, as compared to targets as a
/// little-endian number). `Display` shows it reversed, as block explorers do.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The bytes in internal order.
    pub fn to_byte_array(self) -> [u8; 32] {
        self.0
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

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}
