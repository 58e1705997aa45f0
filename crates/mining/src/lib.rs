//! Mining for real: job sources (Stratum V1 pools, getblocktemplate solo) and the share pipeline
//! that turns their jobs into engine work and the engines' results into shares and blocks.
//!
//! Every protocol is a sans-IO state machine (bytes or lines in, messages and events out) with a
//! thin blocking I/O layer beside it, so the protocol logic is tested and fuzzed without sockets.
//! Both sources speak to the pipeline through one [`Job`] shape (Stratum's: coinbase halves
//! around the extranonce, a merkle branch, header fields) and the [`Source`] trait.
//!
//! [`power`] holds the power policy's decisions (setpoints, schedules, price rules, the
//! persisted hard stop, the combiner, ramps and the workers' duty gate), pure and time-injected.

#![warn(missing_docs)]
// Unsafe is allowed in one file only: the NVML loader (`energy/nvml/ffi.rs`).
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod address;
pub mod api;
pub mod energy;
mod failover;
pub mod gbt;
// The HTTP parser and the terminal sanitiser are public only for this workspace's fuzz targets
// and CLI: outside the stability promise (so is `net`'s connection and line reader).
#[doc(hidden)]
pub mod http;
pub mod job;
pub mod miner;
pub mod net;
pub mod openadr;
pub mod pool;
mod pool_session;
pub mod power;
pub mod reject;
pub mod rpc;
#[doc(hidden)]
pub mod sanitize;
pub mod share_log;
mod share_queue;
pub mod stratum;
#[cfg(feature = "sv2")]
pub mod sv2;
mod web;

pub use job::{merkle_branch, merkle_root, Job};
pub use miner::{
    mine, AcceptedBlock, DeviceStats, DropReason, MineOptions, Stats, MAX_LISTED_BLOCKS,
};
pub use net::{PoolUrl, TlsSettings};
pub use pool::{PoolConfig, PoolOptions, PoolSource};
pub use share_log::ShareLog;

use sha256d::{Hash, Header};
use std::time::Duration;

/// A result the pipeline hands a source: a share for a pool, a block candidate for a node.
#[derive(Clone, Debug, PartialEq)]
pub struct Share {
    /// The job it was found on.
    pub job: std::sync::Arc<Job>,
    /// The extranonce2 bytes the coinbase was built with.
    pub extranonce2: Vec<u8>,
    /// The full header, with the rolled version, ntime and nonce.
    pub header: Header,
    /// Its hash, re-hashed on the host.
    pub hash: Hash,
    /// Whether the hash also meets the network target (a block).
    pub is_block: bool,
    /// Whether the job was replaced by a clean job before the share could be submitted. Only
    /// blocks are submitted in that state; a source submits one only if it still builds on the
    /// tip it knows.
    pub stale: bool,
}

impl Share {
    /// A share of nonce `nonce` on [`Job::blank`], for unit tests.
    #[cfg(test)]
    pub(crate) fn blank(nonce: u32, is_block: bool) -> Share {
        let job = std::sync::Arc::new(Job::blank());
        let mut header = job.header(&[0; 4], 0);
        header.nonce = nonce;
        Share {
            hash: header.block_hash(),
            job,
            extranonce2: vec![0; 4],
            header,
            is_block,
            stale: false,
        }
    }

    /// A share of nonce `nonce` on `job`, with a zero extranonce2 and the job's ntime, for
    /// unit tests.
    #[cfg(test)]
    pub(crate) fn on(job: &std::sync::Arc<Job>, nonce: u32) -> Share {
        let extranonce2 = vec![0; job.extranonce2_size];
        let mut header = job.header(&extranonce2, job.ntime);
        header.nonce = nonce;
        Share {
            hash: header.block_hash(),
            job: job.clone(),
            extranonce2,
            header,
            is_block: false,
            stale: false,
        }
    }

    /// The version bits a pool wants in `mining.submit`: only the bits rolled inside the mask.
    pub fn version_bits(&self) -> u32 {
        self.header.version & self.job.version_mask
    }

    /// The share difficulty of the hash: `DIFFICULTY_1 / hash`.
    pub fn difficulty(&self) -> f64 {
        hash_difficulty(&self.hash)
    }
}

/// The pool difficulty a hash proves: `DIFFICULTY_1 / hash` as a float.
pub fn hash_difficulty(hash: &Hash) -> f64 {
    sha256d::Target::from_le_bytes(hash.0).difficulty_float()
}

/// What a pool or node said about a submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted as a share (pool) or as the new tip (node).
    Accepted,
    /// Rejected, with the peer's reason as it gave it; `stale` when the reason says the job was
    /// already gone (Stratum code 21, ckpool's "Stale" or "Invalid JobID", a node's
    /// "inconclusive" or "prev-blk-not-found").
    Rejected {
        /// The peer's reason, normalised to one line.
        reason: String,
        /// Whether the reason means the share was stale.
        stale: bool,
    },
}

/// Something a source reports to the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// New work. With `job.clean` every older job is void; otherwise older jobs stay valid and
    /// the pipeline still moves engines to the newest one.
    Job(std::sync::Arc<Job>),
    /// The verdict on a submission.
    Verdict {
        /// The share as submitted.
        share: Share,
        /// What the peer said.
        verdict: Verdict,
    },
    /// The pool set a new share difficulty (`mining.set_difficulty`); it applies from the next job,
    /// whose share target carries it.
    Difficulty(f64),
    /// A line for the operator: connected, reconnecting, failing over, a pool's message.
    Notice(String),
}

/// A job source: a pool session (with its failover list) or a node. Sources own their I/O,
/// reconnect on their own, and report what happened as [`Event`]s; the pipeline never blocks
/// on them for longer than the timeout it passes.
pub trait Source: Send {
    /// Does the source's I/O for at most `timeout`, returning what happened. An `Err` is fatal
    /// (bad configuration, wrong credentials on every pool); transient failures are retried
    /// inside the source and reported as [`Event::Notice`].
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, sha256d::Error>;

    /// Submits a share or block; the verdict comes back later from [`Source::poll`] (or at once,
    /// in the returned events, for sources that know it at once). Both sources return at
    /// once: a pool source queues the share, a node source saves the block to a file and sends
    /// it from its own thread. An `Err` is fatal, so a source reports a share it cannot send as
    /// a rejected verdict instead.
    fn submit(&mut self, share: Share) -> Result<Vec<Event>, sha256d::Error>;

    /// Whether engines should pause after finding a block until the next job: true for solo
    /// mining, where a second block on the same parent can never be accepted.
    fn pause_after_block(&self) -> bool {
        false
    }

    /// Whether [`Verdict::Accepted`] on a block means the block is in the chain: true for
    /// a node, whose `submitblock` answer settles it. A pool (the default) accepts the share;
    /// a share that meets the network target is then only a block *candidate*, which the pool
    /// may or may not get into the chain.
    fn block_verdicts_are_final(&self) -> bool {
        false
    }

    /// Where the source is connected, for the status line.
    fn describe(&self) -> String;
}
