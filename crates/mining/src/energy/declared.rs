//! Watts the operator declared for a device (a nameplate, a wall-meter reading), times the
//! time: an estimate, labelled as one.

use super::{Basis, Meter, Reading};
use sha256d::Error;
use std::time::Instant;

/// A constant declared draw.
pub struct Declared {
    label: String,
    watts: f64,
    opened: Instant,
}

impl Declared {
    /// `watts` for each of `count` devices named `device`, counting from `now`.
    pub fn new(device: &str, watts: f64, count: usize, now: Instant) -> Declared {
        let times = if count > 1 {
            format!(" x{count}")
        } else {
            String::new()
        };
        Declared {
            label: format!("declared:{device}={watts}W{times}"),
            watts: watts * count as f64,
            opened: now,
        }
    }
}

impl Meter for Declared {
    fn read(&mut self, now: Instant) -> Result<Vec<Reading>, Error> {
        Ok(vec![Reading {
            source: self.label.clone(),
            basis: Basis::Estimated,
            joules: self.watts * now.saturating_duration_since(self.opened).as_secs_f64(),
        }])
    }
}
