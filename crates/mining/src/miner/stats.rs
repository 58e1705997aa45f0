//! The counters of a mining session, kept so that every result an engine found is accounted
//! for: `shares_found == shares_submitted + dropped_total()`, and every submission ends
//! accepted, rejected or unanswered.

use super::DeviceStats;
use sha256d::Hash;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// The counters of a mining session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Where the work came from.
    pub source: String,
    /// The engines still hashing: one that fails leaves this list for
    /// [`Stats::engine_failures`].
    pub engines: Vec<String>,
    /// Time since mining started.
    pub elapsed: Duration,
    /// Hashes done, all engines together: only what the engines reported as done, and never
    /// more than the work they were given.
    pub hashes: u64,
    /// Jobs the source sent.
    pub jobs: u64,
    /// The longest an engine took to drop its work and start on a newly arrived job (the
    /// time to stop its unit, mostly). Time a duty cycle or a stop held it is not counted.
    pub job_switch_worst: Duration,
    /// Results the engines found (host-verified, meeting the share target), blocks included.
    pub shares_found: u64,
    /// Results handed to the source for submission, blocks included.
    pub shares_submitted: u64,
    /// Results found but not submitted, by why.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Submissions still without a verdict when the run ended.
    pub unanswered: u64,
    /// Submissions the peer accepted.
    pub accepted: u64,
    /// Submissions the peer rejected, by the peer's reason with its numbers blanked
    /// ([`crate::reject::reject_key`]): at most [`crate::reject::MAX_REJECT_REASONS`] keys,
    /// the rest counted under [`crate::reject::OTHER_REASON`].
    pub rejected: BTreeMap<String, u64>,
    /// Shares whose job was void before they could be submitted (dropped here), plus
    /// rejections the peer gave as stale.
    pub stale: u64,
    /// Results an engine reported that the host re-hash disproved.
    pub hardware_errors: u64,
    /// Why each engine that stopped early stopped (an error or a panic); the run goes on
    /// with the others.
    pub engine_failures: Vec<String>,
    /// Each engine's own counters, in the order the engines were given (a failed one stays,
    /// with its [`DeviceStats::failure`]).
    pub devices: Vec<DeviceStats>,
    /// The highest difficulty among the shares found.
    pub best_share_difficulty: f64,
    /// The share difficulty of the newest job.
    pub difficulty: Option<f64>,
    /// The sum of the difficulties the accepted shares were submitted at: the proof of work.
    pub accepted_difficulty: f64,
    /// The sum of their squares, for how sure the proof is
    /// ([`Stats::proven_hashrate_interval`]).
    pub accepted_difficulty_squared: f64,
    /// Shares that also met the network target and were submitted.
    pub blocks_found: u64,
    /// Blocks a node accepted (solo): in the chain, as far as the node knew when it answered.
    pub blocks_accepted: u64,
    /// The first [`MAX_LISTED_BLOCKS`] accepted blocks, in order (`blocks_accepted` counts
    /// them all).
    pub blocks: Vec<AcceptedBlock>,
    /// Shares that met the network target and that a pool accepted: blocks the pool may
    /// submit, not blocks known to be in the chain (only a node's answer says that).
    pub block_candidates: u64,
    /// The first [`MAX_LISTED_BLOCKS`] block candidates, in order (`block_candidates` counts
    /// them all).
    pub candidates: Vec<AcceptedBlock>,
}

/// How many blocks [`Stats::blocks`] and block candidates [`Stats::candidates`] list. Behind a
/// pool on regtest nearly every share is a block candidate: the lists must not grow for as
/// long as the miner runs.
pub const MAX_LISTED_BLOCKS: usize = 1000;

/// Why a found result was not submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Its job was replaced by a clean job first.
    Stale,
    /// Solo: a block was already submitted on the same parent, so this one cannot win.
    SecondBlock,
    /// Results came faster than the source took them, and this share was the oldest waiting
    /// (blocks are never dropped for room).
    Overflow,
    /// The run ended before it could be submitted.
    RunEnded,
}

impl DropReason {
    /// A stable name, for JSON keys.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Stale => "stale",
            DropReason::SecondBlock => "second_block",
            DropReason::Overflow => "overflow",
            DropReason::RunEnded => "run_ended",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DropReason::Stale => "its job was void",
            DropReason::SecondBlock => "a block on the same parent was already submitted",
            DropReason::Overflow => "found faster than the source took them",
            DropReason::RunEnded => "the run ended first",
        })
    }
}

/// A block a node accepted, or a block candidate a pool accepted as a share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptedBlock {
    /// Its hash.
    pub hash: Hash,
    /// Its height, where the source knew it.
    pub height: Option<u64>,
    /// Hashes done in the session when it was accepted (the difference between two blocks is
    /// what the second took).
    pub hashes: u64,
}

impl Stats {
    /// Hashes per second, measured.
    pub fn hashrate(&self) -> f64 {
        rate(self.hashes as f64, self.elapsed)
    }

    /// Hashes per second as the accepted shares prove it: each share of difficulty `d` stands
    /// for `d * 2^32` hashes on average.
    pub fn proven_hashrate(&self) -> f64 {
        rate(
            self.accepted_difficulty * super::proof::HASHES_PER_DIFFICULTY,
            self.elapsed,
        )
    }

    /// The hash rate the accepted shares prove, as the interval that holds the true rate with
    /// probability `confidence` (0.95 for 95%): `(low, high)` hashes per second, exact for a
    /// Poisson count of shares. Without an accepted share nothing is proven: `(0, ∞)`. A
    /// measured rate above `high` is more than the shares bear out: an engine that claims
    /// hashes it did not do, or shares lost on the way.
    pub fn proven_hashrate_interval(&self, confidence: f64) -> (f64, f64) {
        super::proof::ShareSums {
            difficulty: self.accepted_difficulty,
            difficulty_squared: self.accepted_difficulty_squared,
        }
        .interval(self.elapsed.as_secs_f64(), confidence)
    }

    /// How many submissions were rejected, all reasons together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    /// How many found results were not submitted, all reasons together.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }

    /// Whether every engine stopped early, which is what ended the run.
    pub fn every_engine_failed(&self) -> bool {
        self.engines.is_empty() && !self.engine_failures.is_empty()
    }

    pub(super) fn drop_result(&mut self, why: DropReason, n: u64) {
        if n > 0 {
            *self.dropped.entry(why).or_default() += n;
        }
    }

    pub(super) fn reject(&mut self, reason: &str) {
        crate::reject::count_rejection(&mut self.rejected, reason);
    }
}

pub(super) fn rate(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_reasons_stay_bounded() {
        use crate::reject::{MAX_REJECT_REASONS, OTHER_REASON};
        let mut stats = Stats::default();
        // A pool that numbers its reasons: one key, however many.
        for i in 0..1000 {
            stats.reject(&format!("low difficulty share of {i}.5 (23)"));
        }
        assert_eq!(stats.rejected.len(), 1, "{:?}", stats.rejected);
        // A pool that words each one differently: bounded, the total kept.
        for word in (0..1000u32).map(|i| {
            format!(
                "reason-{}",
                char::from_u32(0x4e00 + i).expect("a CJK letter")
            )
        }) {
            stats.reject(&word);
        }
        assert_eq!(stats.rejected.len(), MAX_REJECT_REASONS);
        assert!(stats.rejected[OTHER_REASON] > 0);
        assert_eq!(stats.rejected_total(), 2000);
    }
}
