//! Watts the operator declared for a device (a nameplate, a wall-meter reading), times the
//! time: an estimate, labelled as one. Declared for an engine name, it counts every engine of
//! that name running, as sticks join and leave the run.

use super::{Basis, Meter, Reading};
use sha256d::Error;
use std::time::Instant;

/// A constant declared draw for each running device of a name.
pub struct Declared {
    device: String,
    watts: f64,
    /// Devices drawing it now: `all` is the whole machine, one whatever runs.
    count: usize,
    /// Joules up to `since`, at the counts before it.
    before: f64,
    since: Instant,
}

impl Declared {
    /// `watts` for each of `count` devices named `device`, counting from `now`.
    pub fn new(device: &str, watts: f64, count: usize, now: Instant) -> Declared {
        Declared {
            device: device.to_string(),
            watts,
            count: if device == "all" { 1 } else { count },
            before: 0.0,
            since: now,
        }
    }

    fn joules(&self, now: Instant) -> f64 {
        let secs = now.saturating_duration_since(self.since).as_secs_f64();
        self.before + self.watts * self.count as f64 * secs
    }
}

impl Meter for Declared {
    fn read(&mut self, now: Instant) -> Result<Vec<Reading>, Error> {
        let times = if self.count == 1 {
            String::new()
        } else {
            format!(" x{}", self.count)
        };
        Ok(vec![Reading {
            source: format!("declared:{}={}W{times}", self.device, self.watts),
            basis: Basis::Estimated,
            joules: self.joules(now),
        }])
    }

    fn engines_changed(&mut self, engines: &[&str], now: Instant) {
        if self.device == "all" {
            return;
        }
        self.before = self.joules(now);
        self.since = now;
        self.count = engines.iter().filter(|e| **e == self.device).count();
    }
}
