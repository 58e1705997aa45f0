//! `mine --energy`: the meters a run is measured by, sampled with every status update, and
//! the summary's energy line and keys. The joules are set against the work the accepted
//! shares prove, never against what the engines claim.

use crate::progress::si;
use crate::values;
use clap::Args;
use serde_json::{json, Value};
use sha256d::{Error, ErrorKind};
use sha256d_mining::api::EnergyState;
use sha256d_mining::energy::{self, EnergyLog, MeterSpec, Opened, Roots};
use sha256d_mining::Stats;
use std::collections::BTreeSet;

/// Where the powercap and hwmon trees are looked for instead of /sys/class/…, for tests.
const POWERCAP_ROOT_VAR: &str = "SHA256D_POWERCAP_ROOT";
const HWMON_ROOT_VAR: &str = "SHA256D_HWMON_ROOT";

#[derive(Args)]
pub struct EnergyArgs {
    /// Measure the energy the run takes, and the joules per verified terahash (per TH the
    /// accepted shares prove). rapl: the CPU packages' counters (/sys/class/powercap,
    /// root-only on Linux 5.10 and later); hwmon: energy or power sensors (/sys/class/hwmon);
    /// nvml: NVIDIA GPUs (no driver is a notice, not an error); declared:DEVICE=W: watts you
    /// declare for an engine (asic, gpu, sha-ni, ...) or all, an estimate (12, 12.5W,
    /// 1.2kW). Repeat to add meters. SHA256D_POWERCAP_ROOT and SHA256D_HWMON_ROOT read the
    /// kernel's trees from elsewhere (for tests).
    #[arg(long, value_name = "METER", value_parser = values::meter)]
    energy: Vec<MeterSpec>,
    /// Electricity price per kWh (any currency), for the energy's cost per day.
    #[arg(long, value_name = "PRICE", requires = "energy", value_parser = values::price)]
    energy_price: Option<f64>,
    /// Hashprice: the expected revenue per PH/s per day (the same currency), for what the
    /// hashrate the accepted shares prove earns in a day.
    #[arg(long, value_name = "PRICE", value_parser = values::price)]
    hashprice: Option<f64>,
}

/// The run's meters and prices.
pub struct Energy {
    log: Option<EnergyLog>,
    last_failure: Option<String>,
    energy_price: Option<f64>,
    hashprice: Option<f64>,
}

fn roots() -> Roots {
    let default = Roots::default();
    Roots {
        powercap: std::env::var_os(POWERCAP_ROOT_VAR).map_or(default.powercap, Into::into),
        hwmon: std::env::var_os(HWMON_ROOT_VAR).map_or(default.hwmon, Into::into),
    }
}

impl EnergyArgs {
    /// The watts declared for the devices at full duty, if any: each `declared:DEVICE=W` for
    /// every engine of that name among `engines`, `all` once.
    pub fn declared_watts(&self, engines: &[&str]) -> Option<f64> {
        self.energy
            .iter()
            .filter_map(|m| match m {
                MeterSpec::Declared { device, watts } if device == "all" => Some(*watts),
                MeterSpec::Declared { device, watts } => {
                    let count = engines.iter().filter(|e| **e == device.as_str()).count();
                    Some(*watts * count as f64)
                }
                _ => None,
            })
            .reduce(|a, b| a + b)
    }

    /// Opens every `--energy` meter for a run on the engines named `engines`. A meter with
    /// nothing to measure (NVML without a driver) is a notice; one given twice is refused,
    /// as its energy would count twice.
    pub fn open(&self, engines: &[&str]) -> Result<Energy, Error> {
        let roots = roots();
        let mut seen = BTreeSet::new();
        let mut meters = Vec::new();
        for spec in &self.energy {
            let key = match spec {
                MeterSpec::Declared { device, .. } => format!("declared:{device}"),
                other => other.to_string(),
            };
            if !seen.insert(key.clone()) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("--energy {key} is given twice: its energy would count twice"),
                ));
            }
            match energy::open(spec, &roots, engines)? {
                Opened::Meter(meter) => meters.push(meter),
                Opened::Absent(why) => log::info!("--energy {spec}: {why}"),
            }
        }
        Ok(Energy {
            log: (!meters.is_empty()).then(|| EnergyLog::new(meters)),
            last_failure: None,
            energy_price: self.energy_price,
            hashprice: self.hashprice,
        })
    }
}

impl Energy {
    /// The joules measured so far, without a meter `None`.
    pub fn joules(&self) -> Option<f64> {
        self.log.as_ref().map(EnergyLog::joules)
    }

    /// Whether any meter only estimates (a declared draw, the same at any duty).
    pub fn estimated(&self) -> bool {
        self.log
            .as_ref()
            .is_some_and(|log| log.readings().any(|r| r.basis == energy::Basis::Estimated))
    }

    /// Power and energy as the API shows them, `watts` being the draw over the last interval
    /// the caller measured; `None` without a meter.
    pub fn api_state(&self, stats: &Stats, watts: Option<f64>) -> Option<EnergyState> {
        let log = self.log.as_ref()?;
        Some(EnergyState {
            watts,
            joules: Some(log.joules()),
            source: log.sources(),
            joules_per_verified_th: log.joules_per_verified_th(energy::verified_hashes(stats)),
        })
    }

    /// Reads every meter; a failure is logged once for as long as it lasts.
    pub fn sample(&mut self) {
        let Some(log) = &mut self.log else {
            return;
        };
        let sampled = log.sample();
        self.report(sampled);
    }

    /// The engines running changed (one joined or failed): declared watts count them from now.
    pub fn engines_changed(&mut self, engines: &[&str]) {
        let Some(log) = &mut self.log else {
            return;
        };
        let sampled = log.engines_changed(engines);
        self.report(sampled);
    }

    fn report(&mut self, sampled: Result<(), Error>) {
        match sampled {
            Ok(()) => self.last_failure = None,
            Err(e) => {
                let text = e.message().to_string();
                if self.last_failure.as_ref() != Some(&text) {
                    log::warn!("energy: {text}");
                    self.last_failure = Some(text);
                }
            }
        }
    }

    /// The summary's energy keys, added to `summary`: `energy_j`, `energy_source` and
    /// `joules_per_verified_th` always (null without a meter, and the last before an accepted
    /// share), `verified_hashes` (what the J per TH divides by), the rest with a meter or a
    /// price.
    pub fn add_json(&self, summary: &mut Value, stats: &Stats) {
        let verified = energy::verified_hashes(stats);
        summary["energy_j"] = json!(self.log.as_ref().map(EnergyLog::joules));
        summary["energy_source"] = json!(self.log.as_ref().map(EnergyLog::sources));
        summary["joules_per_verified_th"] = json!(self
            .log
            .as_ref()
            .and_then(|l| l.joules_per_verified_th(verified)));
        summary["verified_hashes"] = json!(verified);
        if let Some(log) = &self.log {
            summary["energy_kwh"] = json!(log.kwh());
            summary["energy_average_w"] = json!(log.average_watts());
            summary["energy_buckets"] = log
                .buckets()
                .map(|b| {
                    json!({
                        "start": start_time(b.start_unix_s),
                        "energy_j": b.joules,
                    })
                })
                .collect();
            if let (Some(price), Some(watts)) = (self.energy_price, log.average_watts()) {
                summary["energy_cost_per_day"] = json!(energy::cost_per_day(watts, price));
            }
        }
        if let Some(hashprice) = self.hashprice {
            summary["revenue_per_day"] =
                json!(energy::revenue_per_day(stats.proven_hashrate(), hashprice));
        }
    }

    /// The summary's energy lines, each after a line break; empty without a meter or price.
    pub fn text(&self, stats: &Stats) -> String {
        let mut out = String::new();
        if let Some(log) = &self.log {
            let watts = log.average_watts();
            out += &format!(
                "\nenergy {:.6} kWh ({:.1} J{}) from {}; ",
                log.kwh(),
                log.joules(),
                watts.map_or(String::new(), |w| format!(", {w:.1} W average")),
                log.sources(),
            );
            out += &match log.joules_per_verified_th(energy::verified_hashes(stats)) {
                Some(j) => format!("{} per verified TH", si(j, "J")),
                None => "no work verified yet (no accepted share), so no J per TH".to_string(),
            };
            if let (Some(price), Some(w)) = (self.energy_price, watts) {
                out += &format!(
                    "\ncost {:.4} per day at {price} per kWh",
                    energy::cost_per_day(w, price)
                );
            }
        }
        if let Some(hashprice) = self.hashprice {
            out += &format!(
                "\nrevenue {:.6} per day at a hashprice of {hashprice} per PH/s per day, for the \
                 {} the accepted shares prove",
                energy::revenue_per_day(stats.proven_hashrate(), hashprice),
                si(stats.proven_hashrate(), "H/s"),
            );
        }
        out
    }
}

/// A bucket's start as RFC 3339 UTC (`2026-12-03T06:15:00Z`).
fn start_time(unix_s: u64) -> String {
    i64::try_from(unix_s)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(|| unix_s.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_starts_are_utc_timestamps() {
        assert_eq!(start_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(start_time(1_796_278_500), "2026-12-03T06:15:00Z");
    }
}
