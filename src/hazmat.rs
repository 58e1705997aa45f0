//! Internals for tools built on this crate: the SHA-256 compression function and constants,
//! the header prehash, the nonce-scan backends, and the hex helpers the workspace's other crates
//! share. Hidden from the docs and outside the stability promise: these change whenever the
//! kernels do. Everything an embedder needs is at the crate root.

pub use crate::sha256::{
    compress256, sha256, sha256d, sha256d_from_midstate, sha256d_header, top_word, Backend, OpMix,
    Prehash, IV, K,
};

/// Microkernels for the limits a benchmark states next to each backend's rate.
#[cfg(feature = "std")]
pub use crate::sha256::ceiling;

/// Hex as the workspace reads and writes it, with errors that say what was wrong.
pub mod hex {
    pub use crate::hex::{decode, decode_array, encode};
}
