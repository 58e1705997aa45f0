//! The ramp limiter: economic duty changes move at a declared rate after a random start delay
//! (so a fleet does not step together), with a minimum hold between direction flips;
//! emergencies step at once.

use std::time::{Duration, Instant};

/// How a change must be applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// A price, schedule or API change: ramped.
    Economic,
    /// A grid emergency or a hard stop: applied at once.
    Emergency,
}

/// The ramp's limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RampConfig {
    /// The shortest time a full-scale decrease (duty 1 to 0) may take.
    pub down_full_scale: Duration,
    /// The shortest time a full-scale increase (duty 0 to 1) may take.
    pub up_full_scale: Duration,
    /// Each economic move waits a random `0..=max_start_delay` before it starts.
    pub max_start_delay: Duration,
    /// The least time between the end of a move one way and the start of a move the other way.
    pub min_hold: Duration,
}

impl Default for RampConfig {
    /// Down over 60 s, up over 300 s, a 0–60 s start delay, and a 300 s hold (one 5-minute
    /// grid dispatch interval) between flips.
    fn default() -> Self {
        RampConfig {
            down_full_scale: Duration::from_secs(60),
            up_full_scale: Duration::from_secs(300),
            max_start_delay: Duration::from_secs(60),
            min_hold: Duration::from_secs(300),
        }
    }
}

impl RampConfig {
    /// The defaults with both directions at a declared rate in W/min for devices drawing
    /// `full_watts` at full duty; `None` unless both are positive and finite.
    pub fn watts_per_minute(w_per_min: f64, full_watts: f64) -> Option<RampConfig> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !ok(w_per_min) || !ok(full_watts) {
            return None;
        }
        let full_scale = Duration::try_from_secs_f64(60.0 * full_watts / w_per_min).ok()?;
        Some(RampConfig {
            down_full_scale: full_scale,
            up_full_scale: full_scale,
            ..RampConfig::default()
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Down,
    Up,
}

/// A move waiting for, or under way after, its start time.
#[derive(Clone, Copy, Debug)]
struct Move {
    direction: Direction,
    starts_at: Instant,
}

/// The ramp's state: feed it the target duty on every tick and apply what it returns.
#[derive(Clone, Debug)]
pub struct Ramp {
    config: RampConfig,
    current: f64,
    rng: u64,
    last_step: Option<Instant>,
    pending: Option<Move>,
    /// The direction and time of the latest movement, for the hold between flips.
    last_moved: Option<(Direction, Instant)>,
}

impl Ramp {
    /// A ramp starting at duty `current`; `seed` drives the start delays (give each device or
    /// host its own, e.g. from its name and the time, so tests can fix it).
    pub fn new(config: RampConfig, current: f64, seed: u64) -> Ramp {
        Ramp {
            config,
            current: current.clamp(0.0, 1.0),
            rng: seed,
            last_step: None,
            pending: None,
            last_moved: None,
        }
    }

    /// The duty now, as last returned by [`Ramp::step`].
    pub fn current(&self) -> f64 {
        self.current
    }

    /// Advances to `now` toward `target` (clamped to `[0, 1]`) and returns the duty to apply.
    pub fn step(&mut self, now: Instant, target: f64, urgency: Urgency) -> f64 {
        let target = target.clamp(0.0, 1.0);
        let since = self.last_step.unwrap_or(now);
        self.last_step = Some(now);
        if target == self.current {
            self.pending = None;
            return self.current;
        }
        let direction = if target < self.current {
            Direction::Down
        } else {
            Direction::Up
        };
        if urgency == Urgency::Emergency {
            self.current = target;
            self.pending = None;
            self.last_moved = Some((direction, now));
            return self.current;
        }
        let pending = match self.pending {
            Some(m) if m.direction == direction => m,
            _ => {
                let mut starts_at = now + self.start_delay();
                if let Some((last, at)) = self.last_moved {
                    if last != direction {
                        starts_at = starts_at.max(at + self.config.min_hold);
                    }
                }
                let m = Move {
                    direction,
                    starts_at,
                };
                self.pending = Some(m);
                m
            }
        };
        if now <= pending.starts_at {
            return self.current;
        }
        let elapsed = now.duration_since(since.max(pending.starts_at));
        let full_scale = match direction {
            Direction::Down => self.config.down_full_scale,
            Direction::Up => self.config.up_full_scale,
        };
        let delta = if full_scale.is_zero() {
            1.0
        } else {
            elapsed.as_secs_f64() / full_scale.as_secs_f64()
        };
        self.current = match direction {
            Direction::Down => (self.current - delta).max(target),
            Direction::Up => (self.current + delta).min(target),
        };
        self.last_moved = Some((direction, now));
        if self.current == target {
            self.pending = None;
        }
        self.current
    }

    /// A uniform delay in `0..=max_start_delay`, whole milliseconds, from SplitMix64.
    fn start_delay(&mut self) -> Duration {
        let max_ms = self.config.max_start_delay.as_millis() as u64;
        Duration::from_millis(splitmix64(&mut self.rng) % (max_ms + 1))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): small, seedable, and enough to spread a fleet.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    /// No start delay, so the arithmetic reads plainly.
    fn undelayed() -> RampConfig {
        RampConfig {
            max_start_delay: Duration::ZERO,
            ..RampConfig::default()
        }
    }

    #[test]
    fn splitmix64_matches_its_reference_output() {
        // The first outputs for seed 0 of the reference implementation (Vigna's splitmix64.c).
        let mut state = 0;
        assert_eq!(splitmix64(&mut state), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(&mut state), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn economic_moves_ramp_down_over_60_s_and_up_over_300_s() {
        let t0 = Instant::now();
        let mut ramp = Ramp::new(undelayed(), 1.0, 0);
        assert_eq!(ramp.step(t0, 0.0, Urgency::Economic), 1.0);
        assert_eq!(ramp.step(t0 + 15 * S, 0.0, Urgency::Economic), 0.75);
        assert_eq!(ramp.step(t0 + 30 * S, 0.0, Urgency::Economic), 0.5);
        assert_eq!(ramp.step(t0 + 90 * S, 0.0, Urgency::Economic), 0.0);
        // Up again, after the 300 s hold since the last downward movement at t0 + 90 s.
        assert_eq!(ramp.step(t0 + 100 * S, 1.0, Urgency::Economic), 0.0);
        assert_eq!(ramp.step(t0 + 390 * S, 1.0, Urgency::Economic), 0.0);
        assert_eq!(ramp.step(t0 + 465 * S, 1.0, Urgency::Economic), 0.25);
        assert_eq!(ramp.step(t0 + 690 * S, 1.0, Urgency::Economic), 1.0);
    }

    #[test]
    fn the_start_delay_comes_from_the_seed() {
        let t0 = Instant::now();
        let mut ramp = Ramp::new(RampConfig::default(), 1.0, 0);
        // 0xE220A8397B1DCDAF % 60001 = 43462 ms.
        assert_eq!(0xE220_A839_7B1D_CDAF_u64 % 60_001, 43_462);
        assert_eq!(ramp.step(t0, 0.5, Urgency::Economic), 1.0);
        assert_eq!(
            ramp.step(t0 + Duration::from_millis(43_462), 0.5, Urgency::Economic),
            1.0
        );
        assert_eq!(
            ramp.step(
                t0 + Duration::from_millis(43_462) + 6 * S,
                0.5,
                Urgency::Economic
            ),
            0.9
        );
    }

    #[test]
    fn emergencies_step_at_once_and_a_target_met_cancels_a_move() {
        let t0 = Instant::now();
        let mut ramp = Ramp::new(undelayed(), 0.8, 0);
        assert_eq!(ramp.step(t0, 0.0, Urgency::Emergency), 0.0);
        assert_eq!(ramp.current(), 0.0);
        // Released: the climb waits out the hold after the emergency's drop.
        assert_eq!(ramp.step(t0 + S, 1.0, Urgency::Economic), 0.0);
        assert_eq!(ramp.step(t0 + 330 * S, 1.0, Urgency::Economic), 0.1);
        assert_eq!(ramp.step(t0 + 331 * S, 0.1, Urgency::Economic), 0.1);
        assert!(ramp.pending.is_none());
    }

    #[test]
    fn a_declared_watt_rate_sets_the_full_scale_time() {
        let config = RampConfig::watts_per_minute(500.0, 2000.0).expect("positive figures");
        assert_eq!(config.down_full_scale, Duration::from_secs(240));
        assert_eq!(config.up_full_scale, Duration::from_secs(240));
        assert_eq!(RampConfig::watts_per_minute(0.0, 2000.0), None);
        assert_eq!(RampConfig::watts_per_minute(500.0, f64::NAN), None);
    }
}
