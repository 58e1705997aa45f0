//! NVIDIA GPUs through NVML, loaded at run time so that nothing is needed to build or test:
//! each GPU's total-energy counter (mJ, Volta and later), else its power draw (mW) sampled.
//! No library, no driver or no GPU is not an error, only nothing to measure.

mod ffi;
mod limit;

pub use limit::{limit_for_duty, NvmlPowerLimit};

use super::{Basis, Counter, Integrator, Meter, Reading};
use ffi::{Code, Failure, Session};
use sha256d::{Error, ErrorKind};
use std::time::Instant;

/// The library the NVIDIA driver installs.
#[cfg(not(windows))]
const LIBRARY: &str = "libnvidia-ml.so.1";
#[cfg(windows)]
const LIBRARY: &str = "nvml.dll";

/// NVML's name for a return code, for messages (nvml.h's `nvmlReturn_t`).
fn code_name(code: Code) -> &'static str {
    match code {
        1 => "uninitialized",
        2 => "invalid argument",
        ffi::NOT_SUPPORTED => "not supported",
        4 => "no permission",
        6 => "not found",
        7 => "insufficient size",
        8 => "insufficient power",
        ffi::DRIVER_NOT_LOADED => "driver not loaded",
        10 => "timeout",
        11 => "IRQ issue",
        ffi::LIBRARY_NOT_FOUND => "library not found",
        13 => "function not found",
        14 => "corrupted infoROM",
        15 => "GPU is lost",
        16 => "reset required",
        17 => "operating system call failed",
        18 => "library and driver versions differ",
        _ => "unknown error",
    }
}

/// How one GPU is read.
enum Way {
    Energy(Counter),
    Power(Integrator),
}

/// Every GPU NVML sees.
pub struct Nvml {
    session: Session,
    gpus: Vec<Way>,
}

impl Nvml {
    /// The GPUs of the NVIDIA driver, each read once at `now`; `Ok(Err(why))` when there is
    /// nothing to measure (no library, no driver, no GPU).
    pub fn open(now: Instant) -> Result<Result<Nvml, String>, Error> {
        Self::open_library(LIBRARY, now)
    }

    fn open_library(library: &str, now: Instant) -> Result<Result<Nvml, String>, Error> {
        let session = match Session::open(library) {
            Ok(session) => session,
            Err(Failure::NoLibrary(why)) => {
                return Ok(Err(format!(
                    "no NVIDIA GPU energy: {library} is not here ({why})"
                )))
            }
            Err(Failure::Call(_, code @ (ffi::DRIVER_NOT_LOADED | ffi::LIBRARY_NOT_FOUND))) => {
                return Ok(Err(format!(
                    "no NVIDIA GPU energy: NVML says {}",
                    code_name(code)
                )))
            }
            Err(Failure::NoSymbol(name)) => {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("{library} has no {name}: an NVIDIA driver too old for NVML v2"),
                ))
            }
            Err(Failure::Call(call, code)) => return Err(call_error(call, None, code)),
        };
        if session.gpus() == 0 {
            return Ok(Err("no NVIDIA GPU energy: NVML sees no GPU".to_string()));
        }
        let gpus = (0..session.gpus())
            .map(|i| match session.energy_mj(i) {
                Ok(mj) => Ok(Way::Energy(Counter::new(mj, None))),
                Err(_) => session
                    .power_mw(i)
                    .map(|mw| Way::Power(Integrator::new(now, f64::from(mw) / 1e3)))
                    .map_err(|code| call_error("nvmlDeviceGetPowerUsage", Some(i), code)),
            })
            .collect::<Result<_, _>>()?;
        Ok(Ok(Nvml { session, gpus }))
    }
}

fn call_error(call: &str, gpu: Option<usize>, code: Code) -> Error {
    let on = gpu.map_or(String::new(), |i| format!(" on GPU {i}"));
    Error::new(
        ErrorKind::Device,
        format!("NVML {call}{on} failed: {} ({code})", code_name(code)),
    )
}

impl Meter for Nvml {
    fn read(&mut self, now: Instant) -> Result<Vec<Reading>, Error> {
        let session = &self.session;
        self.gpus
            .iter_mut()
            .enumerate()
            .map(|(i, way)| {
                let (basis, joules) = match way {
                    Way::Energy(counter) => {
                        let mj = session.energy_mj(i).map_err(|code| {
                            call_error("nvmlDeviceGetTotalEnergyConsumption", Some(i), code)
                        })?;
                        (Basis::Measured, counter.advance(mj) as f64 / 1e3)
                    }
                    Way::Power(integrator) => {
                        let mw = session
                            .power_mw(i)
                            .map_err(|code| call_error("nvmlDeviceGetPowerUsage", Some(i), code))?;
                        (
                            Basis::SampledPower,
                            integrator.advance(now, f64::from(mw) / 1e3),
                        )
                    }
                };
                Ok(Reading {
                    source: format!("nvml:{i}"),
                    basis,
                    joules,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_library_is_nothing_to_measure_not_an_error() {
        let opened = Nvml::open_library("libnvidia-ml-absent-for-a-test.so.1", Instant::now())
            .map(|o| o.map(|_| ()));
        let why = match opened {
            Ok(Err(why)) => why,
            Ok(Ok(())) => panic!("a meter from a library that does not exist"),
            Err(e) => panic!("an error, not an absence: {e}"),
        };
        assert!(
            why.starts_with(
                "no NVIDIA GPU energy: libnvidia-ml-absent-for-a-test.so.1 is not here ("
            ),
            "{why}"
        );
    }

    #[test]
    fn failed_calls_name_the_call_the_gpu_and_the_code() {
        assert_eq!(
            call_error("nvmlDeviceGetPowerUsage", Some(1), 4).message(),
            "NVML nvmlDeviceGetPowerUsage on GPU 1 failed: no permission (4)"
        );
        assert_eq!(
            call_error("nvmlInit_v2", None, 999).message(),
            "NVML nvmlInit_v2 failed: unknown error (999)"
        );
    }
}
