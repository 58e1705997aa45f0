//! `mine`'s power flags: the setpoint sources (fixed limits, a schedule, a price rule, an
//! OpenADR 3 program), the ramp, the fail-safe and where a hard stop is kept.

use crate::power_run::{ApiSetpoint, PowerRun, PriceFrom, Sources};
use crate::{secret, values};
use clap::Args;
use sha256d::{Error, ErrorKind};
use sha256d_mining::openadr::{SimpleLevels, VenClient, VenConfig};
use sha256d_mining::power::{
    Cap, HardStopStore, PriceFeed, PriceRule, RampConfig, Schedule, ScheduleRule,
};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct PowerArgs {
    /// Cap the hashrate: H/s with an SI prefix (10G, 10GH/s), a share of full (50%), or off.
    #[arg(long, value_name = "H", value_parser = values::hashrate_limit)]
    hashrate_limit: Option<Cap>,
    /// Cap the power: watts (500, 500W, 1.2kW), a share of full (50%), or off. Needs the
    /// devices' power: an --energy meter or declared watts.
    #[arg(long, value_name = "W", value_parser = values::power_limit)]
    power_limit: Option<Cap>,
    /// When mining may run, in local time (repeatable): `[DAYS] [HH:MM-HH:MM][=CAP]`, days
    /// mon..sun, ranges (mon-fri), lists (sat,sun), weekdays, weekends or daily. Without
    /// =CAP a rule is a window to mine at full, and outside every such window mining is off;
    /// with =CAP the cap applies inside it. Examples: `00:00-08:00`, `weekends`,
    /// `mon-fri 17:00-21:00=off`.
    #[arg(long, value_name = "SPEC")]
    schedule: Vec<ScheduleRule>,
    /// A file holding the electricity price as one decimal number, re-read every second
    /// (what writes it is up to you); mining stops while it stays above --strike.
    #[arg(
        long,
        value_name = "PATH",
        requires = "strike",
        conflicts_with = "price_url"
    )]
    price_file: Option<PathBuf>,
    /// A URL (http://) whose reply is the price as a price file holds it, fetched every
    /// --price-poll; mining stops while it stays above --strike.
    #[arg(long, value_name = "URL", requires = "strike")]
    price_url: Option<String>,
    /// How often to fetch --price-url.
    #[arg(long, value_name = "S", default_value = "60", value_parser = values::run_time)]
    price_poll: Duration,
    /// The price above which mining stops (--price-file or --price-url).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    strike: Option<f64>,
    /// How long the price must stay above (or back below) the strike before mining stops
    /// (or resumes).
    #[arg(long, value_name = "S", default_value = "300", value_parser = values::hold_time)]
    price_hold: Duration,
    /// A price file not written (or a feed not answering) for this long counts as a lost
    /// signal (--fail-safe).
    #[arg(long, value_name = "S", default_value = "3600", value_parser = values::run_time)]
    price_max_age: Duration,
    /// An OpenADR 3 server (VTN), http://HOST:PORT[/PATH]: the miner polls it as a VEN and
    /// follows its program's events (capacity limits, SIMPLE levels, grid emergencies).
    #[arg(
        long,
        value_name = "URL",
        requires_all = ["openadr_client_id", "openadr_secret_file", "openadr_program"]
    )]
    openadr_url: Option<String>,
    /// The client id the VTN's operator issued this VEN.
    #[arg(long, value_name = "ID", requires = "openadr_url")]
    openadr_client_id: Option<String>,
    /// A file holding the client secret (one line).
    #[arg(long, value_name = "F", requires = "openadr_url")]
    openadr_secret_file: Option<PathBuf>,
    /// The program whose events the miner follows.
    #[arg(long, value_name = "NAME", requires = "openadr_url")]
    openadr_program: Option<String>,
    /// How often to poll the VTN.
    #[arg(long, value_name = "S", default_value = "10", value_parser = values::status_interval)]
    openadr_poll: Duration,
    /// This VEN's name in its reports (it also seeds its randomised starts).
    #[arg(long, value_name = "NAME", default_value = "sha256d")]
    openadr_ven_name: String,
    /// The share of full power for SIMPLE levels 0, 1, 2 and 3.
    #[arg(long, value_name = "F,F,F,F", value_parser = values::simple_levels)]
    openadr_levels: Option<SimpleLevels>,
    /// Ramp economic changes (schedule, price, OpenADR limits) at this many watts per minute;
    /// without it down over 60 s and up over 300 s. Emergencies step at once.
    #[arg(long, value_name = "W", value_parser = values::ramp_rate)]
    ramp_w_per_min: Option<f64>,
    /// The longest random wait before an economic change starts, so a fleet does not step
    /// together.
    #[arg(long, value_name = "S", default_value = "60", value_parser = values::hold_time)]
    ramp_delay_max: Duration,
    /// The least time between ramping one way and the other.
    #[arg(long, value_name = "S", default_value = "300", value_parser = values::hold_time)]
    ramp_hold: Duration,
    /// The cap for a source whose signal is lost once its last timeline has ended (a price
    /// file gone stale, an unreachable VTN).
    #[arg(long, value_name = "CAP", default_value = "full", value_parser = values::cap)]
    fail_safe: Cap,
    /// Where a hard stop (a grid emergency) is kept, so that it survives a restart until it
    /// expires or its source lifts it. Default: $XDG_STATE_HOME/sha256d/hard-stop.json (or
    /// ~/.local/state/...).
    #[arg(long, value_name = "PATH")]
    hard_stop_file: Option<PathBuf>,
}

/// The most bytes a client-secret file may hold.
const MAX_SECRET_BYTES: u64 = 4096;

impl PowerArgs {
    /// Whether any setpoint source is given: without one the run is never throttled, and a
    /// hard stop left from an earlier run is still honoured.
    fn any_source(&self) -> bool {
        self.hashrate_limit.is_some()
            || self.power_limit.is_some()
            || !self.schedule.is_empty()
            || self.price_file.is_some()
            || self.price_url.is_some()
            || self.openadr_url.is_some()
    }

    /// The run's power control, or `None` when nothing can ever cap it (no source given,
    /// no hard stop kept, no HTTP API to ask for a setpoint through `api`).
    pub fn open(
        &self,
        full_watts: Option<f64>,
        api: Option<ApiSetpoint>,
    ) -> Result<Option<PowerRun>, Error> {
        let mut store = HardStopStore::open(&self.hard_stop_path()?)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let engaged = store
            .active(jiff::Timestamp::now())
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?
            .map(|s| format!("{} since {}: {}", s.source, s.since, s.reason));
        if let Some(stop) = &engaged {
            log::warn!(
                "power: a hard stop is engaged ({stop}); mining waits until it expires or its \
                 source lifts it (delete {} only to release it by hand)",
                store.path().display()
            );
        }
        if !self.any_source() && engaged.is_none() && api.is_none() {
            return Ok(None);
        }
        let schedule = (!self.schedule.is_empty()).then(|| {
            let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
            Schedule::new(self.schedule.clone(), zone)
        });
        let from = match (&self.price_file, &self.price_url) {
            (Some(path), _) => Some(PriceFrom::File(path.clone())),
            (None, Some(url)) => Some(PriceFrom::Url(
                std::sync::Arc::new(PriceFeed::new(url)?),
                self.price_poll,
            )),
            (None, None) => None,
        };
        let price = match (from, self.strike) {
            (Some(from), Some(strike)) => Some((
                from,
                PriceRule {
                    strike,
                    hold: self.price_hold,
                    stale_after: self.price_max_age,
                    curtail: Cap::Off,
                },
            )),
            (None, Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "--strike needs a price: --price-file PATH or --price-url URL",
                ))
            }
            _ => None,
        };
        let ven = self.open_ven()?;
        let ramp = match (self.ramp_w_per_min, full_watts) {
            (Some(rate), Some(watts)) => RampConfig::watts_per_minute(rate, watts),
            (Some(_), None) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "--ramp-w-per-min needs the devices' power: add an --energy meter or \
                     declared:DEVICE=W",
                ))
            }
            (None, _) => Some(RampConfig::default()),
        }
        .map(|c| RampConfig {
            max_start_delay: self.ramp_delay_max,
            min_hold: self.ramp_hold,
            ..c
        })
        .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "--ramp-w-per-min must be above 0"))?;
        Ok(Some(PowerRun::new(
            Sources {
                hashrate_limit: self.hashrate_limit,
                power_limit: self.power_limit,
                schedule,
                price,
                ven: ven.map(|v| (v, self.openadr_poll)),
                hard_stop: store,
                fail_safe: self.fail_safe,
                api,
            },
            ramp,
        )))
    }

    fn open_ven(&self) -> Result<Option<VenClient>, Error> {
        let (Some(url), Some(id), Some(secret_file), Some(program)) = (
            &self.openadr_url,
            &self.openadr_client_id,
            &self.openadr_secret_file,
            &self.openadr_program,
        ) else {
            return Ok(None);
        };
        let secret = secret::read_capped(secret_file, MAX_SECRET_BYTES, "a client secret")?;
        let secret = secret.trim_end_matches(['\r', '\n']);
        if secret.is_empty() || secret.contains('\n') {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} should hold the client secret on one line",
                    secret_file.display()
                ),
            ));
        }
        let config = VenConfig {
            client_id: id.clone(),
            client_secret: secret.to_string(),
            program_name: program.clone(),
            ven_name: self.openadr_ven_name.clone(),
            levels: self.openadr_levels.unwrap_or_default(),
        };
        VenClient::new(url, config).map(Some)
    }

    fn hard_stop_path(&self) -> Result<PathBuf, Error> {
        if let Some(path) = &self.hard_stop_file {
            return Ok(path.clone());
        }
        let state = std::env::var_os("XDG_STATE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidInput,
                    "no place to keep a hard stop: set XDG_STATE_HOME or HOME, or give \
                     --hard-stop-file",
                )
            })?;
        Ok(state.join("sha256d").join("hard-stop.json"))
    }
}
