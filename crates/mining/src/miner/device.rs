//! One device's share of a run: what it hashed, found and had accepted, so that a device that
//! claims more than its shares prove can be named, not only the total.

use std::time::Duration;

/// The counters of one engine (a device: the CPU engine, the GPU, one ASIC stick) in a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceStats {
    /// The engine's fixed name (`sha-ni`, `gpu`, `asic`, …).
    pub engine: String,
    /// The engine's own description: its backend, threads, adapter or serial device.
    pub device: String,
    /// Hashes it reported as done (never more than the work it was given).
    pub hashes: u64,
    /// Results it found that the host re-hash confirmed.
    pub shares_found: u64,
    /// Its submissions the peer accepted.
    pub accepted: u64,
    /// Its submissions the peer rejected.
    pub rejected: u64,
    /// Its shares that were stale: void before they could be submitted, or rejected as stale.
    pub stale: u64,
    /// Results it reported that the host re-hash disproved.
    pub hardware_errors: u64,
    /// Known-answer jobs it failed to answer: work whose answer was known, missed.
    pub known_answer_misses: u64,
    /// Known-answer jobs it answered: with no miss, proof it was checked.
    pub known_answers_passed: u64,
    /// Σd over its accepted shares.
    pub accepted_difficulty: f64,
    /// Σd² over its accepted shares.
    pub accepted_difficulty_squared: f64,
    /// Why it stopped, if it did (an error, a panic, failed known answers); the run goes on
    /// without it.
    pub failure: Option<String>,
    /// Whether the operator has it switched off ([`super::MineOptions::switches`]): it hashes
    /// nothing meanwhile, and counts as a device of the run all the same.
    pub disabled: bool,
}

impl DeviceStats {
    /// Its hashes per second over `elapsed`, as it reported them.
    pub fn hashrate(&self, elapsed: Duration) -> f64 {
        super::stats::rate(self.hashes as f64, elapsed)
    }

    /// The hash rate its accepted shares prove over `elapsed`.
    pub fn proven_hashrate(&self, elapsed: Duration) -> f64 {
        super::stats::rate(
            self.accepted_difficulty * super::proof::HASHES_PER_DIFFICULTY,
            elapsed,
        )
    }

    /// The interval that holds its true hash rate with probability `confidence`, as
    /// [`super::Stats::proven_hashrate_interval`] gives it for the whole run.
    pub fn proven_hashrate_interval(&self, elapsed: Duration, confidence: f64) -> (f64, f64) {
        super::proof::ShareSums {
            difficulty: self.accepted_difficulty,
            difficulty_squared: self.accepted_difficulty_squared,
        }
        .interval(elapsed.as_secs_f64(), confidence)
    }

    /// Whether it claims more hashes than its accepted shares can bear out at `confidence`:
    /// its measured rate is above the top of its proven interval.
    pub fn claims_more_than_proven(&self, elapsed: Duration, confidence: f64) -> bool {
        self.hashrate(elapsed) > self.proven_hashrate_interval(elapsed, confidence).1
    }

    pub(super) fn accept(&mut self, difficulty: f64) {
        self.accepted += 1;
        self.accepted_difficulty += difficulty;
        self.accepted_difficulty_squared += difficulty * difficulty;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_proves_what_its_own_shares_bear_out() {
        let mut honest = DeviceStats::default();
        let mut boaster = DeviceStats::default();
        // Ten shares of difficulty 1 in 100 s prove about 429 MH/s (10 × 2^32 / 100).
        for _ in 0..10 {
            honest.accept(1.0);
            boaster.accept(1.0);
        }
        let elapsed = Duration::from_secs(100);
        honest.hashes = 10 << 32;
        boaster.hashes = 100 << 32;
        assert_eq!(
            honest.proven_hashrate(elapsed),
            10.0 * 4_294_967_296.0 / 100.0
        );
        let (low, high) = honest.proven_hashrate_interval(elapsed, 0.95);
        // The published 95% interval for a Poisson count of 10: 4.7954 to 18.3904.
        let unit = 4_294_967_296.0 / 100.0;
        assert!((low / unit - 4.7954).abs() < 1e-3, "{}", low / unit);
        assert!((high / unit - 18.3904).abs() < 1e-3, "{}", high / unit);
        assert!(!honest.claims_more_than_proven(elapsed, 0.95));
        // Ten times the hashes for the same shares is beyond the interval.
        assert!(boaster.claims_more_than_proven(elapsed, 0.95));
    }

    #[test]
    fn a_device_without_shares_proves_nothing_and_is_not_called_a_liar() {
        let mut d = DeviceStats {
            hashes: 1 << 40,
            ..DeviceStats::default()
        };
        let elapsed = Duration::from_secs(10);
        assert_eq!(
            d.proven_hashrate_interval(elapsed, 0.95),
            (0.0, f64::INFINITY)
        );
        assert!(!d.claims_more_than_proven(elapsed, 0.95));
        d.accept(2.0);
        d.accept(4.0);
        assert_eq!(d.accepted, 2);
        assert_eq!(d.accepted_difficulty, 6.0);
        assert_eq!(d.accepted_difficulty_squared, 20.0);
    }
}
