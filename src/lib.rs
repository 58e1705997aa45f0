#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;

pub mod engine;
mod error;
mod hash;
#[doc(hidden)]
pub mod hazmat;
mod header;
mod hex;
mod sha256;
#[cfg(test)]
mod splitmix;
mod target;
mod work;

#[cfg(feature = "bitcoin")]
mod bitcoin_compat;
#[cfg(feature = "serde")]
mod serde_impls;

pub use engine::{best, engines, open, Control, Engine, EngineKind, Options, Summary};
pub use error::{Error, ErrorKind};
pub use hash::Hash;
pub use header::{Header, GENESIS_HEADER_HEX};
pub use target::{CompactTarget, Target};
pub use work::{deposit, parse_nonce_range, Found, Work, BIP320_VERSION_MASK, DEFAULT_MAX_RESULTS};
