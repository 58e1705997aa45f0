//! The operator's on/off switch for each device of a run, flipped from outside (the API) while
//! the run goes; the run reads it every turn of its coordinator.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Which devices of a run may hash. A device's index is its place in
/// [`Stats::devices`](super::Stats::devices): the engines `mine` was given first, then those
/// that joined, in the order they joined.
///
/// It holds a switch only for the devices that exist: `mine` adds one (on) for each device as
/// it starts or joins, so an index beyond them is refused rather than remembered, and the
/// memory it holds is one flag per device. Handed to one run at a time; a second run given
/// the same switches keeps the first's flags for the indices the two share.
#[derive(Debug, Default)]
pub struct DeviceSwitches {
    /// `true`: enabled. One per device the run has so far.
    enabled: Mutex<Vec<bool>>,
    /// Bumped by every change, so the run sees at a glance whether there is any.
    changes: AtomicU64,
}

impl DeviceSwitches {
    /// Switches for no device yet: a run adds its devices, each enabled.
    pub fn new() -> Self {
        DeviceSwitches::default()
    }

    /// Enables or disables device `index`. A disabled device's unit is cancelled within a
    /// turn of the run's coordinator (tens of milliseconds) and it hashes nothing until it is
    /// enabled again; it stays listed, with its counters. `Err` names the devices there are
    /// when `index` is not one of them.
    pub fn set_enabled(&self, index: usize, enabled: bool) -> Result<(), String> {
        let mut flags = self.lock();
        let count = flags.len();
        let Some(flag) = flags.get_mut(index) else {
            return Err(match count {
                0 => format!("no device {index}: the run has no device yet"),
                n => format!("no device {index}: the devices are 0 to {}", n - 1),
            });
        };
        if *flag != enabled {
            *flag = enabled;
            self.changes.fetch_add(1, Ordering::Release);
        }
        Ok(())
    }

    /// Whether device `index` may hash; `false` for an index that is no device.
    pub fn is_enabled(&self, index: usize) -> bool {
        self.lock().get(index).copied().unwrap_or(false)
    }

    /// How many devices it has switches for.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether it has a switch for no device.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes sure there is a switch for each of `devices` devices; new ones are on.
    pub(super) fn cover(&self, devices: usize) {
        let mut flags = self.lock();
        if flags.len() < devices {
            flags.resize(devices, true);
        }
    }

    /// How many changes there have been: a run compares it with the last it saw.
    pub(super) fn changes(&self) -> u64 {
        self.changes.load(Ordering::Acquire)
    }

    /// Every device's flag, by index.
    pub(super) fn flags(&self) -> Vec<bool> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<bool>> {
        // Only whole flags are ever written: a panic elsewhere leaves nothing half done.
        self.enabled.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_devices_there_are_can_be_switched() {
        let s = DeviceSwitches::new();
        assert_eq!(
            s.set_enabled(0, false),
            Err("no device 0: the run has no device yet".into())
        );
        s.cover(2);
        assert!(s.is_enabled(0) && s.is_enabled(1) && !s.is_enabled(2));
        assert_eq!(
            s.set_enabled(2, false),
            Err("no device 2: the devices are 0 to 1".into())
        );
        assert_eq!(s.len(), 2);
        let before = s.changes();
        s.set_enabled(1, false).expect("device 1 exists");
        assert!(!s.is_enabled(1));
        assert_eq!(s.changes(), before + 1);
        // Setting what is already set is no change.
        s.set_enabled(1, false).expect("device 1 exists");
        assert_eq!(s.changes(), before + 1);
        // A device joining later gets a switch, on; covering less shrinks nothing.
        s.cover(3);
        s.cover(1);
        assert_eq!(s.flags(), [true, false, true]);
    }
}
