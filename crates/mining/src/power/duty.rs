//! The duty-cycle gate: engines throttle by hashing for a slice and resting for the rest of it,
//! so a worker's rolling duty matches a shared fraction.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The period a worker should keep a hash-and-rest cycle within: short enough that a change
/// of fraction is met well inside the 2 s the policy promises.
pub const PERIOD: Duration = Duration::from_millis(200);

/// The longest single sleep, so a worker resting (or stopped at duty 0) sees a new fraction or
/// a stop within this.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

/// A duty fraction in `[0, 1]` shared by the policy (writer) and the workers (readers).
#[derive(Debug)]
pub struct Duty(AtomicU64);

impl Duty {
    /// A shared duty starting at `fraction` (clamped to `[0, 1]`; NaN reads as 0).
    pub fn new(fraction: f64) -> Duty {
        Duty(AtomicU64::new(clamp(fraction).to_bits()))
    }

    /// Sets the fraction (clamped to `[0, 1]`; NaN reads as 0).
    pub fn set(&self, fraction: f64) {
        self.0.store(clamp(fraction).to_bits(), Ordering::Relaxed);
    }

    /// The fraction now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

fn clamp(fraction: f64) -> f64 {
    if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    }
}

/// How long to rest after hashing for `busy` so that busy / (busy + rest) is `fraction`;
/// `None` at fraction 0 (rest until the fraction rises).
pub fn rest_for(busy: Duration, fraction: f64) -> Option<Duration> {
    let fraction = clamp(fraction);
    if fraction == 0.0 {
        return None;
    }
    Some(busy.mul_f64((1.0 - fraction) / fraction))
}

/// The longest a worker should hash before calling [`DutyGate::rest`], so that one hash-and-
/// rest cycle lasts about [`PERIOD`] (the whole period at full duty).
pub fn busy_slice(fraction: f64) -> Duration {
    PERIOD.mul_f64(clamp(fraction))
}

/// One worker's gate: carries the rest it owes (or overslept) from one cycle to the next, so
/// sleep overshoot does not drag the duty below the fraction.
#[derive(Debug, Default)]
pub struct DutyGate {
    /// Rest owed in nanoseconds: positive owed, negative overslept.
    owed_ns: i128,
}

impl DutyGate {
    /// A gate with nothing owed.
    pub fn new() -> DutyGate {
        DutyGate::default()
    }

    /// How long to rest now after hashing for `busy` at `fraction`, counting what earlier
    /// cycles owed or overslept (bounded by a period, so a long stall is not repaid later).
    /// `None` at fraction 0.
    pub fn owed(&mut self, busy: Duration, fraction: f64) -> Option<Duration> {
        let rest = rest_for(busy, fraction)?;
        let bound = PERIOD.as_nanos() as i128;
        self.owed_ns = (self.owed_ns + rest.as_nanos() as i128)
            .clamp(-bound, bound.max(rest.as_nanos() as i128));
        Some(Duration::from_nanos(self.owed_ns.max(0) as u64))
    }

    /// Records that the worker actually rested `rested` after [`DutyGate::owed`].
    pub fn rested(&mut self, rested: Duration) {
        self.owed_ns -= rested.as_nanos() as i128;
    }

    /// After hashing for `busy`: sleeps what the fraction in `duty` asks, in short slices that
    /// re-read `duty` and `stop`, and waits while the duty is 0. Returns early when `stop` is set.
    pub fn rest(&mut self, busy: Duration, duty: &Duty, stop: &AtomicBool) {
        let start = Instant::now();
        let fraction = duty.get();
        let mut owed = self.owed(busy, fraction);
        while !stop.load(Ordering::Relaxed) {
            let slept = start.elapsed();
            let left = match owed {
                Some(owed) if slept >= owed => break,
                Some(owed) => (owed - slept).min(SLEEP_SLICE),
                None => SLEEP_SLICE,
            };
            std::thread::sleep(left);
            if owed.is_none() && duty.get() > 0.0 {
                // Off until now: resume without repaying the time spent stopped.
                self.owed_ns = 0;
                return;
            }
            let now = duty.get();
            if now > fraction {
                // Raised mid-rest: owe no more than the new fraction asks.
                owed = owed.map(|o| o.min(rest_for(busy, now).unwrap_or(o)));
            }
        }
        self.rested(start.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rest_makes_the_duty_the_fraction() {
        assert_eq!(rest_for(50 * MS, 0.25), Some(150 * MS));
        assert_eq!(rest_for(100 * MS, 0.5), Some(100 * MS));
        assert_eq!(rest_for(100 * MS, 1.0), Some(Duration::ZERO));
        assert_eq!(rest_for(100 * MS, 0.0), None);
        assert_eq!(busy_slice(0.25), 50 * MS);
        assert_eq!(busy_slice(1.0), PERIOD);
    }

    #[test]
    fn the_gate_repays_oversleep_within_a_period() {
        let mut gate = DutyGate::new();
        assert_eq!(gate.owed(50 * MS, 0.5), Some(50 * MS));
        gate.rested(70 * MS);
        // 20 ms overslept: the next rest is 20 ms shorter.
        assert_eq!(gate.owed(50 * MS, 0.5), Some(30 * MS));
        gate.rested(30 * MS);
        // A 1 s oversleep is forgotten beyond one period.
        gate.rested(1000 * MS);
        assert_eq!(gate.owed(100 * MS, 0.5), Some(Duration::ZERO));
        assert_eq!(gate.owed_ns, -200_000_000);
    }

    #[test]
    fn the_shared_duty_clamps() {
        let duty = Duty::new(1.5);
        assert_eq!(duty.get(), 1.0);
        duty.set(0.25);
        assert_eq!(duty.get(), 0.25);
        duty.set(f64::NAN);
        assert_eq!(duty.get(), 0.0);
        duty.set(-1.0);
        assert_eq!(duty.get(), 0.0);
    }
}
