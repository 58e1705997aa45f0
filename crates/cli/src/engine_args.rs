//! The engine flags `search` and `mine` share.

use crate::hotplug::Watch;
use crate::values;
use clap::Args;
use sha256d::{Engine, Error, Options};
use std::time::Duration;

/// `--known-answer-every` unless given: the `asic` engine's default too.
const DEFAULT_KNOWN_ANSWER_EVERY: Duration = Duration::from_secs(10);

/// The engines opened at the start, and where to watch for sticks that join later.
pub type Opened = (Vec<Box<dyn Engine>>, Vec<Watch>);

#[derive(Args, Clone)]
pub struct EngineArgs {
    /// CPU threads, at most four per core. Default: one per core.
    #[arg(long, value_parser = values::threads)]
    threads: Option<usize>,
    /// `asic` engine: the stick's serial device (`sha256d engines` lists candidates). `mine`
    /// takes one per `--engine asic`, in order.
    #[arg(long, value_name = "PATH")]
    device: Vec<String>,
    /// `asic` engine: the wire protocol, icarus, bm1397 or bm1370. `mine`: one for every
    /// stick, or one per `--engine asic`, in order.
    #[arg(long, value_name = "P")]
    protocol: Vec<String>,
    /// `asic` engine: the stick's hashes per second, which times its jobs (never set it above
    /// the real rate). Default: typical for the protocol.
    #[arg(long, value_name = "H", value_parser = values::hashrate)]
    hashrate: Option<f64>,
    /// `asic` engine: zero bits the chips hard-wire into reported nonces (32 on silicon; the
    /// emulator's `--ticket-bits`).
    #[arg(long, value_name = "Z", value_parser = values::ticket_bits)]
    ticket_bits: Option<u32>,
    /// Seconds between known-answer jobs, 0 for none: the `asic` engine's own and, in `mine`,
    /// the ones the GPU engine gets instead of a unit of work. A device that misses three in a
    /// row is dropped. Default: 10.
    #[arg(long, value_name = "S", value_parser = values::known_answer_every)]
    known_answer_every: Option<Duration>,
}

impl EngineArgs {
    /// `--known-answer-every`: `None` for none.
    pub fn known_answer_every(&self) -> Option<Duration> {
        match self.known_answer_every {
            Some(d) if d.is_zero() => None,
            Some(d) => Some(d),
            None => Some(DEFAULT_KNOWN_ANSWER_EVERY),
        }
    }

    /// Opens engine `name`, or without one the fastest CPU engine (on `--threads` threads);
    /// an `asic` engine on the first `--device`.
    pub fn open(&self, name: Option<&str>) -> Result<Box<dyn Engine>, Error> {
        if self.device.len() > 1 || self.protocol.len() > 1 {
            return Err(Error::new(
                sha256d::ErrorKind::InvalidInput,
                "one engine searches: give --device and --protocol once",
            ));
        }
        self.open_stick(name, 0)
    }

    /// Opens `names` in order, the `k`-th `asic` among them on the `k`-th `--device` (and
    /// `--protocol`, unless one is given for all); with no names, the fastest CPU engine. A
    /// `--device` pattern, or `asic` without any `--device`, opens nothing now: it is returned
    /// as a place to watch for sticks during the run ([`crate::hotplug`]).
    pub fn open_all(&self, names: &[String]) -> Result<Opened, Error> {
        if names.is_empty() {
            return Ok((vec![self.open(None)?], Vec::new()));
        }
        let sticks = names.iter().filter(|n| *n == "asic").count();
        if self.device.len() > sticks.max(1) {
            return Err(Error::new(
                sha256d::ErrorKind::InvalidInput,
                format!(
                    "{} --device given for {sticks} --engine asic: give one device per stick",
                    self.device.len()
                ),
            ));
        }
        if self.protocol.len() > 1 && self.protocol.len() != sticks {
            return Err(Error::new(
                sha256d::ErrorKind::InvalidInput,
                format!(
                    "{} --protocol given for {sticks} --engine asic: give one for every stick, \
                     or one per stick",
                    self.protocol.len()
                ),
            ));
        }
        let mut watches = Vec::new();
        if sticks > 0 && self.device.is_empty() {
            watches.push(Watch::Discovery);
        }
        let mut engines = Vec::new();
        let mut stick = 0;
        for name in names {
            if name == "asic" {
                stick += 1;
                match self.device.get(stick - 1).map(|d| Watch::pattern(d)) {
                    Some(Ok(Some(watch))) => watches.push(watch),
                    Some(Err(e)) => return Err(e),
                    Some(Ok(None)) => engines.push(self.open_stick(Some(name), stick - 1)?),
                    // Discovery stands for every stick without a device of its own.
                    None => {}
                }
            } else {
                engines.push(self.open_stick(Some(name), 0)?);
            }
        }
        if !watches.is_empty() && self.protocol.len() > 1 {
            return Err(Error::new(
                sha256d::ErrorKind::InvalidInput,
                "sticks found during the run all speak one --protocol: give it once",
            ));
        }
        Ok((engines, watches))
    }

    /// Opens an `asic` engine on `path`, a stick found during the run, with the one
    /// `--protocol` given.
    pub fn open_device(&self, path: &str) -> Result<Box<dyn Engine>, Error> {
        let mut one = self.clone();
        one.device = vec![path.to_string()];
        one.open_stick(Some("asic"), 0)
    }

    /// Opens engine `name`; an `asic` engine as stick `stick` (its device and protocol).
    fn open_stick(&self, name: Option<&str>, stick: usize) -> Result<Box<dyn Engine>, Error> {
        let device = self.device.get(stick).cloned();
        let protocol = self
            .protocol
            .get(stick)
            .or_else(|| (self.protocol.len() == 1).then(|| &self.protocol[0]))
            .cloned();
        let mut options = Options::default();
        options.threads = self.threads;
        #[cfg(feature = "asic")]
        {
            options.asic_device = device.clone();
            options.asic_protocol = protocol.clone();
            options.asic_hashrate = self.hashrate;
            options.asic_ticket_bits = self.ticket_bits;
            // Zero is the library's "never".
            options.asic_known_answer_every = Some(self.known_answer_every().unwrap_or_default());
        }
        #[cfg(not(feature = "asic"))]
        if !self.device.is_empty()
            || !self.protocol.is_empty()
            || self.hashrate.is_some()
            || self.ticket_bits.is_some()
        {
            return Err(Error::new(
                sha256d::ErrorKind::Unavailable,
                "the asic flags need a build with the `asic` feature",
            ));
        }
        match (name, self.threads) {
            // The library says what is missing; the flags that supply it are the CLI's to name.
            (Some("asic"), _) if device.is_none() || protocol.is_none() => {
                sha256d::open("asic", &options).map_err(|e| {
                    Error::new(
                        e.kind(),
                        format!("{} (--device PATH --protocol P)", e.message()),
                    )
                })
            }
            (Some(name), _) => sha256d::open(name, &options),
            (None, Some(_)) => sha256d::open(sha256d::hazmat::Backend::detect().name(), &options),
            (None, None) => Ok(sha256d::best()),
        }
    }
}
