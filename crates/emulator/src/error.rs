//! The emulator's own protocol names and error type, so it depends on no driver it tests.

use std::fmt;

/// A stick's wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Icarus / Block Erupter: 64-byte work, 4-byte nonce replies.
    Icarus,
    /// Bitmain BM1397 (GekkoScience Compac F): midstate jobs, 9-byte replies.
    Bm1397,
    /// Bitmain BM1370 (Bitaxe Gamma, Compac A2): full-header jobs, on-chip version rolling.
    Bm1370,
}

impl std::str::FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "icarus" => Ok(Protocol::Icarus),
            "bm1397" => Ok(Protocol::Bm1397),
            "bm1368" | "bm1370" => Ok(Protocol::Bm1370),
            _ => Err(Error::new(format!(
                "unknown protocol {s:?}; use icarus, bm1397 or bm1370"
            ))),
        }
    }
}

/// What went wrong, in a sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
}

impl Error {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }

    /// The sentence.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(e.to_string())
    }
}
