//! The pools as an operator sees them while a run goes: each one's state and counters, and the
//! operator's request to mine on a given one. The pool source writes it; the API reads it and
//! asks for switches through it.

use crate::Verdict;
use std::sync::{Mutex, MutexGuard};

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

impl PoolBoard {
    /// A board over `pools` (URL and worker name each, in the configured order), none tried.
    pub(crate) fn new(pools: impl IntoIterator<Item = (String, String)>) -> Self {
        let pools = pools
            .into_iter()
            .map(|(url, user)| PoolState {
                url,
                user,
                active: false,
                status: PoolStatus::Untried,
                accepted: 0,
                rejected: 0,
                stale: 0,
                difficulty: None,
            })
            .collect();
        PoolBoard {
            inner: Mutex::new(BoardInner {
                pools,
                switch_to: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoardInner> {
        // Every update is a whole field: a panic elsewhere leaves nothing half written.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every pool as it stands now, in the configured order (a pool's index here is the one
    /// [`PoolBoard::switch_to`] takes; a switch changes no index).
    pub fn pools(&self) -> Vec<PoolState> {
        self.lock().pools.clone()
    }

    /// Asks the source to mine on pool `index`: it becomes the preferred pool, the first the
    /// failover tries, and the source moves to it at its next poll the way it returns to a
    /// preferred pool that is back (the current session is closed once the new one connects;
    /// its unanswered shares wait for the next connection). Should that pool fail, failover
    /// goes on down the new order. `Err` when there is no pool `index`.
    pub fn switch_to(&self, index: usize) -> Result<(), String> {
        let mut s = self.lock();
        let count = s.pools.len();
        if index >= count {
            return Err(format!(
                "no pool {index}: the pools are 0 to {}",
                count.saturating_sub(1)
            ));
        }
        s.switch_to = Some(index);
        Ok(())
    }

    /// The switch asked for since the last call, if any.
    pub(crate) fn take_switch(&self) -> Option<usize> {
        self.lock().switch_to.take()
    }

    /// Sets how pool `index` stands.
    pub(crate) fn set_status(&self, index: usize, status: PoolStatus) {
        if let Some(p) = self.lock().pools.get_mut(index) {
            p.status = status;
        }
    }

    /// Pool `index` sent a job at `difficulty`: it is alive, and the work comes from it.
    pub(crate) fn job(&self, index: usize, difficulty: f64) {
        let mut s = self.lock();
        for (i, p) in s.pools.iter_mut().enumerate() {
            p.active = i == index;
            if i == index {
                p.status = PoolStatus::Alive;
                p.difficulty = Some(difficulty);
            }
        }
    }

    /// Pool `index`'s session ended: no work comes from it any more.
    pub(crate) fn left(&self, index: usize) {
        if let Some(p) = self.lock().pools.get_mut(index) {
            p.active = false;
        }
    }

    /// Pool `index` answered a share with `verdict`.
    pub(crate) fn verdict(&self, index: usize, verdict: &Verdict) {
        if let Some(p) = self.lock().pools.get_mut(index) {
            match verdict {
                Verdict::Accepted => p.accepted += 1,
                Verdict::Rejected { stale, .. } => {
                    p.rejected += 1;
                    p.stale += u64::from(*stale);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> PoolBoard {
        PoolBoard::new([
            ("stratum+tcp://a:1".to_string(), "w1".to_string()),
            ("stratum+tcp://b:2".to_string(), "w1".to_string()),
        ])
    }

    #[test]
    fn a_switch_names_a_pool_there_is_and_is_taken_once() {
        let b = board();
        assert_eq!(
            b.switch_to(2),
            Err("no pool 2: the pools are 0 to 1".into())
        );
        assert_eq!(b.take_switch(), None);
        b.switch_to(1).expect("pool 1 is there");
        assert_eq!(b.take_switch(), Some(1));
        assert_eq!(b.take_switch(), None);
    }

    #[test]
    fn jobs_and_verdicts_land_on_their_pool() {
        let b = board();
        assert!(b.pools().iter().all(|p| p.status == PoolStatus::Untried));
        b.set_status(0, PoolStatus::Connecting);
        b.job(0, 2.0);
        b.verdict(0, &Verdict::Accepted);
        b.job(1, 8.0);
        b.verdict(
            1,
            &Verdict::Rejected {
                reason: "stale".into(),
                stale: true,
            },
        );
        b.left(1);
        b.set_status(1, PoolStatus::Dead);
        let pools = b.pools();
        let seen: Vec<_> = pools
            .iter()
            .map(|p| {
                (
                    p.active,
                    p.status,
                    p.accepted,
                    p.rejected,
                    p.stale,
                    p.difficulty,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (false, PoolStatus::Alive, 1, 0, 0, Some(2.0)),
                (false, PoolStatus::Dead, 0, 1, 1, Some(8.0)),
            ]
        );
    }
}
