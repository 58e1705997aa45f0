//! The share log: an append-only file of JSON lines, one per verdict on a share or block,
//! each carrying the hash of the line before, so that a line changed, removed or moved later
//! shows.
//!
//! - A line ([`Record`]) records when the verdict came, the engine, the job id, the whole
//!   header (and its version and nonce), the hash, the share and network targets, what was
//!   submitted (share, block candidate behind a pool, block to a node), the verdict and the
//!   peer's reason for a rejection. Nothing secret: no credentials, no URLs.
//! - The chain: `seq` counts lines from 0, and `prev` is the SHA-256 of the previous line's
//!   bytes (without the newline); the first line (`seq` 0) has the zero hash as its `prev`.
//! - Rotation: when the next line would take `FILE` past its size limit, `FILE` is renamed
//!   `FILE.N` (one more than the highest N there) and a new `FILE` goes on with the same
//!   chain: its first line's `seq` and `prev` follow `FILE.N`'s last line. `FILE.1 … FILE.N,
//!   FILE` read in order are one chain ([`chain_files`]).
//! - Restarts: opening an existing log checks its last line and goes on from it.
//!
//! The chain makes tampering evident, not impossible: whoever can rewrite the file can
//! rewrite every line after the one they change. Keeping the head (the last line's hash,
//! [`ShareLog::head`]) somewhere else closes that: the chain must still pass through it
//! ([`Verifier::with_anchor`], `verify-log --head`).

mod record;
mod verify;
mod writer;

pub use record::{line_hash, Finder, Kind, Outcome, Record, CHAIN_START, MAX_LINE};
pub use verify::{verify_files, BadLine, Summary, Verifier};
pub use writer::{chain_files, ShareLog, DEFAULT_MAX_BYTES, MIN_MAX_BYTES};

#[cfg(test)]
mod tests;
