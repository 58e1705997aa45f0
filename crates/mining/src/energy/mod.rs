//! Energy per verified work: pluggable meters (RAPL through powercap, hwmon, NVML, declared
//! watts), and the accounting that turns their readings into kWh, quarter-hour buckets and
//! joules per *verified* terahash.
//!
//! Verified, because the hashes are the ones the accepted shares prove
//! ([`verified_hashes`]), not the ones a device claims: a device that over-reports its
//! hashrate cannot make its efficiency look better. Every [`Reading`] names its source and
//! says whether it is [`Basis::Measured`], [`Basis::SampledPower`] or [`Basis::Estimated`], as
//! fleet tools rank them: a counter beats a power sample beats a nameplate.
//!
//! A meter gives cumulative energy since it was opened; [`EnergyLog`] samples every meter
//! (once a second from a miner's status callback is plenty: the fastest RAPL counter wraps in
//! minutes) and keeps bounded totals.

mod accounting;
mod declared;
mod hwmon;
mod nvml;
mod rapl;
#[doc(hidden)]
pub mod sysfs;

pub use accounting::{
    cost_per_day, revenue_per_day, verified_hashes, Bucket, EnergyLog, BUCKET_SECONDS, MAX_BUCKETS,
};
pub use nvml::{limit_for_duty, NvmlPowerLimit};

use sha256d::{EngineKind, Error, ErrorKind};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Instant;

/// How far a reading can be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Basis {
    /// A hardware energy counter (RAPL, an hwmon `energy` input, NVML's total energy).
    Measured,
    /// Measured power, multiplied by the time between samples: right on average when the load
    /// is steady, blind to spikes between two samples.
    SampledPower,
    /// Watts the operator declared, times the time: a nameplate figure, not a measurement.
    Estimated,
}

impl Basis {
    /// A stable word for labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Measured => "measured",
            Basis::SampledPower => "measured power, sampled",
            Basis::Estimated => "estimated",
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One channel's energy since its meter was opened.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// Where it comes from: `rapl:package-0`, `hwmon:amdgpu/power1`, `nvml:0`,
    /// `declared:asic=12W`.
    pub source: String,
    /// How far it can be trusted.
    pub basis: Basis,
    /// Joules since the meter was opened.
    pub joules: f64,
}

/// A source of cumulative energy readings. `Send`, so that an embedder may sample from a
/// thread of its own; implement it for a meter of your own (a smart PDU, a device's report).
pub trait Meter: Send {
    /// Every channel's energy since the meter was opened, read at `now` (a sampled-power
    /// channel integrates up to `now`). A counter that wraps between two calls is unwrapped;
    /// one that wraps twice cannot be told apart, so call this well within the wrap period.
    fn read(&mut self, now: Instant) -> Result<Vec<Reading>, Error>;

    /// The engines running from `now` on, by name, after one joined the run or failed. A
    /// meter that estimates from them (watts declared per device) counts these from now; one
    /// that measures ignores it, as the default does.
    fn engines_changed(&mut self, _engines: &[&str], _now: Instant) {}
}

/// What `--energy` names: a kind of meter, or watts declared for a device.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MeterSpec {
    /// The CPU packages' RAPL counters through powercap.
    Rapl,
    /// Every hwmon device with an energy or power input.
    Hwmon,
    /// NVIDIA GPUs through NVML, loaded at run time.
    Nvml,
    /// Watts declared for an engine (`asic`, `gpu`, `sha-ni`, ...) or for `all` of the machine.
    Declared {
        /// The engine's name, or `all`.
        device: String,
        /// Its draw in watts.
        watts: f64,
    },
}

/// The most watts a declaration may give: ten megawatts is a mining farm, not a device.
const MAX_DECLARED_WATTS: f64 = 1e7;

impl FromStr for MeterSpec {
    type Err = Error;

    /// `rapl`, `hwmon`, `nvml`, or `declared:DEVICE=W` where W is `12`, `12.5`, `12W` or
    /// `1.2kW`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::new(ErrorKind::InvalidInput, why);
        match text {
            "rapl" => return Ok(MeterSpec::Rapl),
            "hwmon" => return Ok(MeterSpec::Hwmon),
            "nvml" => return Ok(MeterSpec::Nvml),
            _ => {}
        }
        let shown = crate::sanitize::for_terminal(text);
        let Some(declaration) = text.strip_prefix("declared:") else {
            return Err(bad(format!(
                "`{shown}` is not a meter: rapl, hwmon, nvml or declared:DEVICE=W"
            )));
        };
        let Some((device, watts)) = declaration.split_once('=') else {
            return Err(bad(format!(
                "`{shown}` declares no watts: declared:DEVICE=W, e.g. declared:asic=12W"
            )));
        };
        if device != "all" && !EngineKind::ALL.iter().any(|k| k.name() == device) {
            let names: Vec<&str> = EngineKind::ALL.iter().map(|k| k.name()).collect();
            return Err(bad(format!(
                "`{shown}`: the device is an engine name ({}) or all",
                names.join(", ")
            )));
        }
        let watts = parse_watts(watts).ok_or_else(|| {
            bad(format!(
                "`{shown}`: the watts are a number above 0 and at most 10 MW, with W or kW \
                 if you like (12, 12.5, 12W, 1.2kW)"
            ))
        })?;
        Ok(MeterSpec::Declared {
            device: device.to_string(),
            watts,
        })
    }
}

impl fmt::Display for MeterSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeterSpec::Rapl => f.write_str("rapl"),
            MeterSpec::Hwmon => f.write_str("hwmon"),
            MeterSpec::Nvml => f.write_str("nvml"),
            MeterSpec::Declared { device, watts } => write!(f, "declared:{device}={watts}W"),
        }
    }
}

/// `12`, `12.5`, `12W`, `1.2kW` (the unit's case is free) as watts, if in range.
fn parse_watts(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let (number, scale) = if let Some(n) = lower.strip_suffix("kw") {
        (n, 1e3)
    } else if let Some(n) = lower.strip_suffix('w') {
        (n, 1.0)
    } else {
        (lower.as_str(), 1.0)
    };
    // `f64::from_str` takes `inf`, `nan` and exponents; a declaration is plain digits.
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let watts = number.parse::<f64>().ok()? * scale;
    (watts > 0.0 && watts <= MAX_DECLARED_WATTS).then_some(watts)
}

/// Where the kernel's meters live; tests point them at fake trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roots {
    /// The powercap class directory (`/sys/class/powercap`).
    pub powercap: PathBuf,
    /// The hwmon class directory (`/sys/class/hwmon`).
    pub hwmon: PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            powercap: PathBuf::from("/sys/class/powercap"),
            hwmon: PathBuf::from("/sys/class/hwmon"),
        }
    }
}

/// What opening a meter came to.
pub enum Opened {
    /// A meter, read once already (its energy counts from now).
    Meter(Box<dyn Meter>),
    /// Nothing to measure here, and that is no error: NVML on a machine without an NVIDIA
    /// driver. Says why, for a notice.
    Absent(String),
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Meter(_) => f.write_str("Meter(..)"),
            Opened::Absent(why) => f.debug_tuple("Absent").field(why).finish(),
        }
    }
}

/// Opens the meter `spec` names, with the kernel's trees under `roots`. A declaration must
/// name one of `engines` (the names of the engines mining, one per engine) or `all`; it is the
/// draw of each engine of that name (`all`: of the whole rig).
pub fn open(spec: &MeterSpec, roots: &Roots, engines: &[&str]) -> Result<Opened, Error> {
    let now = Instant::now();
    Ok(match spec {
        MeterSpec::Rapl => Opened::Meter(Box::new(rapl::Rapl::open(&roots.powercap)?)),
        MeterSpec::Hwmon => Opened::Meter(Box::new(hwmon::Hwmon::open(&roots.hwmon, now)?)),
        MeterSpec::Nvml => match nvml::Nvml::open(now)? {
            Ok(meter) => Opened::Meter(Box::new(meter)),
            Err(why) => Opened::Absent(why),
        },
        MeterSpec::Declared { device, watts } => {
            if device != "all" && !engines.contains(&device.as_str()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "{spec}: no engine named {device} is mining (engines: {}); declare one \
                         of them, or all",
                        engines.join(", ")
                    ),
                ));
            }
            // Declared for one device: every engine of that name draws it (two sticks, twice).
            let count = engines.iter().filter(|e| **e == device.as_str()).count();
            Opened::Meter(Box::new(declared::Declared::new(
                device, *watts, count, now,
            )))
        }
    })
}

/// A counter that may wrap at `range` (RAPL) or be reset (a driver reload), unwrapped into
/// the total of its units since the first value.
#[derive(Clone, Copy, Debug)]
struct Counter {
    last: u64,
    total: u64,
    range: Option<u64>,
}

impl Counter {
    fn new(first: u64, range: Option<u64>) -> Self {
        Counter {
            last: first,
            total: 0,
            range,
        }
    }

    /// Takes the counter's next value and gives the total since the first.
    fn advance(&mut self, raw: u64) -> u64 {
        let delta = match (raw.checked_sub(self.last), self.range) {
            (Some(up), _) => up,
            // Wrapped once: up to the top of its range, then from 0 to `raw`.
            (None, Some(range)) if self.last <= range => range - self.last + raw,
            // Reset (or a range that does not hold the old value): what it counted since.
            (None, _) => raw,
        };
        self.last = raw;
        self.total = self.total.saturating_add(delta);
        self.total
    }
}

/// Power samples integrated over time, each interval at the mean of its two ends.
#[derive(Clone, Copy, Debug)]
struct Integrator {
    last: (Instant, f64),
    joules: f64,
}

impl Integrator {
    fn new(now: Instant, watts: f64) -> Self {
        Integrator {
            last: (now, watts),
            joules: 0.0,
        }
    }

    /// Takes a power sample at `now` and gives the joules since the first.
    fn advance(&mut self, now: Instant, watts: f64) -> f64 {
        let (then, before) = self.last;
        let seconds = now.saturating_duration_since(then).as_secs_f64();
        self.joules += (before + watts) / 2.0 * seconds;
        self.last = (now.max(then), watts);
        self.joules
    }
}

#[cfg(test)]
mod tests;
