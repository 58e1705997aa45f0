//! The pools as an operator sees them while a run goes: each one's state and counters, and the
//! operator's request to mine on a given one. The pool source writes it; the API reads it and
//! asks for switches through it.

use std::sync::Mutex;

/// How a pool stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    /// Not dialled yet.
    Untried,
    /// Being dialled, or subscribed and waiting for work.
    Connecting,
    /// Sending work.
    Alive,
    /// Its last connection failed or dropped; to be retried.
    Dead,
}

impl PoolStatus {
    /// A stable name, for JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            PoolStatus::Untried => "untried",
            PoolStatus::Connecting => "connecting",
            PoolStatus::Alive => "alive",
            PoolStatus::Dead => "dead",
        }
    }
}

/// One pool (or, solo, the node), with no password in it.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolState {
    /// Its URL as configured, with no credentials.
    pub url: String,
    /// The worker name.
    pub user: String,
    /// Whether the work mined now comes from it.
    pub active: bool,
    /// How it stands.
    pub status: PoolStatus,
    /// Submissions it accepted.
    pub accepted: u64,
    /// Submissions it rejected (stale ones included).
    pub rejected: u64,
    /// Its rejections given as stale.
    pub stale: u64,
    /// The share difficulty of its newest job.
    pub difficulty: Option<f64>,
}

/// The pools' states, shared between the pool source and whoever watches it.
#[derive(Debug, Default)]
pub struct PoolBoard {
    inner: Mutex<BoardInner>,
}

#[derive(Debug, Default)]
struct BoardInner {
    pools: Vec<PoolState>,
    switch_to: Option<usize>,
}
