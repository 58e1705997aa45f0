//! An NVIDIA GPU's board power limit, set through NVML to follow the power policy's duty: the
//! GPU is throttled by its own firmware as well as by the duty cycle, so its draw falls even
//! inside the slices it hashes. The limit it had is set back when the run ends.

use super::ffi::{self, Failure, Session};
use super::{call_error, code_name, LIBRARY};
use sha256d::{Error, ErrorKind};

/// The limit in mW for `duty` on a board whose limit was `original_mw` and which accepts
/// `range` (min, max): the original scaled by the duty, within the range. Full duty is the
/// original limit exactly; off is the board's lowest (the duty cycle idles it below that).
pub fn limit_for_duty(duty: f64, original_mw: u32, range: (u32, u32)) -> u32 {
    let duty = if duty.is_nan() {
        0.0
    } else {
        duty.clamp(0.0, 1.0)
    };
    let (min, max) = (range.0.min(range.1), range.0.max(range.1));
    let scaled = (f64::from(original_mw) * duty).round() as u32;
    scaled.clamp(min, max)
}

/// A change smaller than this (mW) is not worth a call: a ramp moves the duty every second.
const MIN_STEP_MW: u32 = 1000;

/// The power limit of the GPU a run mines on, following the duty until dropped.
pub struct NvmlPowerLimit {
    session: Session,
    gpu: usize,
    bus_id: String,
    original_mw: u32,
    range: (u32, u32),
    set_mw: u32,
}

impl NvmlPowerLimit {
    /// The limit of the GPU at PCI address `bus_id`, or `Ok(Err(why))` where there is none to
    /// set (no NVIDIA driver, no NVIDIA GPU there, a board whose limit cannot be read).
    pub fn open(bus_id: &str) -> Result<Result<NvmlPowerLimit, String>, Error> {
        Self::open_library(LIBRARY, bus_id)
    }

    fn open_library(library: &str, bus_id: &str) -> Result<Result<NvmlPowerLimit, String>, Error> {
        let none = |why: String| Ok(Err(format!("no GPU power limit for {bus_id}: {why}")));
        let session = match Session::open(library) {
            Ok(session) => session,
            Err(Failure::NoLibrary(why)) => return none(format!("{library} is not here ({why})")),
            Err(Failure::NoSymbol(name)) => return none(format!("{library} has no {name}")),
            Err(Failure::Call(call, code)) => {
                return none(format!("NVML {call} says {}", code_name(code)))
            }
        };
        let gpu = match session.gpu_at(bus_id) {
            Ok(Some(gpu)) => gpu,
            Ok(None) => return none("NVML has no GPU there".into()),
            Err(code) => return none(format!("NVML says {}", code_name(code))),
        };
        let read = session
            .limit_mw(gpu)
            .and_then(|mw| session.limit_range_mw(gpu).map(|range| (mw, range)));
        let (original_mw, range) = match read {
            Ok(limits) => limits,
            Err(code) => {
                return none(format!("its limit cannot be read ({})", code_name(code)));
            }
        };
        Ok(Ok(NvmlPowerLimit {
            session,
            gpu,
            bus_id: bus_id.to_string(),
            original_mw,
            range,
            set_mw: original_mw,
        }))
    }

    /// The GPU's PCI address, as opened.
    pub fn bus_id(&self) -> &str {
        &self.bus_id
    }

    /// The limit the board had when opened, in watts.
    pub fn original_watts(&self) -> f64 {
        f64::from(self.original_mw) / 1e3
    }

    /// Sets the limit for `duty` (see [`limit_for_duty`]); returns the new limit in watts
    /// when it changed. Fails, with why, where NVML refuses (setting a limit needs root).
    pub fn follow(&mut self, duty: f64) -> Result<Option<f64>, Error> {
        let want = limit_for_duty(duty, self.original_mw, self.range);
        let back = want == self.original_mw && self.set_mw != want;
        if want.abs_diff(self.set_mw) < MIN_STEP_MW && !back {
            return Ok(None);
        }
        self.session
            .set_limit_mw(self.gpu, want)
            .map_err(|code| self.refused(code))?;
        self.set_mw = want;
        Ok(Some(f64::from(want) / 1e3))
    }

    fn refused(&self, code: ffi::Code) -> Error {
        if code == ffi::NO_PERMISSION {
            return Error::new(
                ErrorKind::Device,
                format!(
                    "setting the power limit of GPU {} needs root (NVML: no permission)",
                    self.bus_id
                ),
            );
        }
        call_error("nvmlDeviceSetPowerManagementLimit", Some(self.gpu), code)
    }
}

impl Drop for NvmlPowerLimit {
    /// The board gets its own limit back; if that fails there is no one left to tell, and
    /// the driver resets it on its next load.
    fn drop(&mut self) {
        if self.set_mw != self.original_mw {
            let _ = self.session.set_limit_mw(self.gpu, self.original_mw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_scales_with_the_duty_within_the_boards_range() {
        let range = (100_000, 700_000);
        assert_eq!(limit_for_duty(1.0, 700_000, range), 700_000);
        assert_eq!(limit_for_duty(0.5, 700_000, range), 350_000);
        // Below the board's lowest: the lowest, and the duty cycle does the rest.
        assert_eq!(limit_for_duty(0.1, 700_000, range), 100_000);
        assert_eq!(limit_for_duty(0.0, 700_000, range), 100_000);
        // Out of range or not a number: as the nearest duty, never above the original.
        assert_eq!(limit_for_duty(1.5, 600_000, range), 600_000);
        assert_eq!(limit_for_duty(-1.0, 600_000, range), 100_000);
        assert_eq!(limit_for_duty(f64::NAN, 600_000, range), 100_000);
        // A range given high first is still a range.
        assert_eq!(limit_for_duty(0.5, 700_000, (700_000, 100_000)), 350_000);
    }

    #[test]
    fn no_library_is_no_limit_not_an_error() {
        let opened =
            NvmlPowerLimit::open_library("libnvidia-ml-absent-for-a-test.so.1", "0000:01:00.0")
                .map(|o| o.map(|_| ()));
        match opened {
            Ok(Err(why)) => assert!(
                why.starts_with(
                    "no GPU power limit for 0000:01:00.0: libnvidia-ml-absent-for-a-test.so.1 is \
                     not here ("
                ),
                "{why}"
            ),
            Ok(Ok(())) => panic!("a limit from a library that does not exist"),
            Err(e) => panic!("an error, not an absence: {e}"),
        }
    }
}
