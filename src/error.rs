//! The crate's one error type.

use alloc::string::String;
use core::fmt;

/// What kind of failure an [`Error`] is; match on this, read the message for the details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Text or bytes that do not parse (hex, header length, JSON).
    Parse,
    /// A value that parses but is out of range (an overflowing nBits, an empty rolling mask).
    InvalidInput,
    /// The search would return more results than the caller's cap allows.
    TooManyResults,
    /// The engine cannot run here (missing CPU feature, no GPU adapter, no device).
    Unavailable,
    /// The engine's hardware or driver failed while working.
    Device,
    /// An I/O error.
    Io,
}

/// An error with a message a person can act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// An error of `kind` explained by `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The explanation, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A [`ErrorKind::Parse`] error.
    pub fn parse(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Parse, message)
    }

    /// An [`ErrorKind::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "std")]
impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::new(ErrorKind::Io, alloc::format!("{e}"))
    }
}
