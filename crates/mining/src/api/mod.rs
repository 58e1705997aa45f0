//! Watching and steering a running miner from outside: a JSON-over-HTTP API with read and
//! control tokens ([`http`]), Prometheus metrics ([`metrics`]), a dashboard page
//! ([`dashboard`]) and a cgminer-compatible API for existing fleet tools ([`cgminer`]).
//!
//! The embedder (the CLI's `mine`) owns the run; it publishes what the run is doing as a
//! [`Snapshot`] into a [`Live`] a few times a second, and steers it through the [`Control`]
//! it hands the servers. The servers only ever read the snapshot and call the control, so a
//! slow or hostile client never holds up mining.

pub mod cgminer;
pub mod dashboard;
pub mod http;
pub mod metrics;

use crate::miner::Stats;
use crate::pool::PoolState;
use crate::power::{Cap, PowerEvent};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What a run is doing at one instant, as the servers show it. Holds no secret: pool and RPC
/// passwords and the API's tokens never reach it.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// When the run started.
    pub started: Option<SystemTime>,
    /// The miner's counters ([`Stats::devices`] in device order: a device's index there is
    /// the index [`Control::set_device_enabled`] takes).
    pub stats: Stats,
    /// The pools (or, solo, the node) in priority order.
    pub pools: Vec<PoolState>,
    /// The power control's state, when the run has one.
    pub power: Option<PowerState>,
    /// Power and energy, when something measures or declares them.
    pub energy: Option<EnergyState>,
    /// The newest power-policy changes, oldest first.
    pub events: Vec<PowerEvent>,
}

/// The power control as the API shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerState {
    /// The cap in force (the lowest of all sources).
    pub cap: Cap,
    /// The source that set it (`None`: nothing caps the run).
    pub source: Option<String>,
    /// The duty the engines follow now, in `[0, 1]` (ramping towards what the cap asks).
    pub duty: f64,
    /// What the API itself asks for, while it asks for something.
    pub api_setpoint: Option<Setpoint>,
}

/// Power and energy as the API shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct EnergyState {
    /// Watts over the last interval.
    pub watts: Option<f64>,
    /// Joules since the run started.
    pub joules: Option<f64>,
    /// Where the figures come from (`rapl`, `nvml`, `declared 12 W`, ...).
    pub source: String,
    /// Joules per tera-hash the accepted shares prove.
    pub joules_per_verified_th: Option<f64>,
}

/// A setpoint the API asks the power policy for (`PUT /v1/setpoint`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Setpoint {
    /// Stop hashing.
    Off,
    /// At most this many hashes per second.
    Hashrate(f64),
    /// At most this many watts.
    Watts(f64),
    /// Let go: the API no longer caps anything.
    Release,
}

impl Setpoint {
    /// The cap it asks for; `None` for [`Setpoint::Release`].
    pub fn cap(self) -> Option<Cap> {
        match self {
            Setpoint::Off => Some(Cap::Off),
            Setpoint::Hashrate(h) => Some(Cap::Hashrate(h)),
            Setpoint::Watts(w) => Some(Cap::Watts(w)),
            Setpoint::Release => None,
        }
    }
}

/// How the servers steer the run. Each call returns at once; the run applies it within a turn
/// of its control (a fraction of a second). An `Err` is a message for the client: why the
/// request cannot be carried out (no such device, no such pool, no power control).
pub trait Control: Send + Sync {
    /// Asks the power policy, as its `api` source, for `setpoint`.
    fn set_setpoint(&self, setpoint: Setpoint) -> Result<(), String>;
    /// Enables or disables device `index` (its place in [`Snapshot::stats`]' devices).
    fn set_device_enabled(&self, index: usize, enabled: bool) -> Result<(), String>;
    /// Makes pool `index` (its place in [`Snapshot::pools`]) the one to mine on.
    fn switch_pool(&self, index: usize) -> Result<(), String>;
}

/// A power-policy change as JSON, as the API's `/v1/events` and the CLI's summary give it:
/// its source, the caps it moved between, when it was asked for and when the devices
/// complied (RFC 3339), and the seconds between.
pub fn event_json(e: &PowerEvent) -> serde_json::Value {
    serde_json::json!({
        "source": e.source,
        "from": e.from.to_string(),
        "to": e.to.to_string(),
        "requested_at": e.requested_at.to_string(),
        "complied_at": e.complied_at.map(|t| t.to_string()),
        "seconds_to_comply": e.seconds_to_comply(),
    })
}

/// One point of the hashrate history the dashboard charts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HistoryPoint {
    /// Seconds since the run started.
    pub at: f64,
    /// Measured hashes per second since the point before.
    pub measured: f64,
    /// Hashes per second the accepted shares prove, over the whole run so far.
    pub proven: f64,
}

/// How far back [`Live::history`] goes, and how far apart its points are.
pub const HISTORY_SPAN: Duration = Duration::from_secs(3600);
/// See [`HISTORY_SPAN`].
pub const HISTORY_STEP: Duration = Duration::from_secs(10);

/// The snapshot the servers read, and the hashrate history behind the dashboard's chart:
/// shared between the run (which writes) and the servers (which read).
#[derive(Debug, Default)]
pub struct Live {
    inner: Mutex<LiveInner>,
}

#[derive(Debug, Default)]
struct LiveInner {
    snapshot: Snapshot,
    history: VecDeque<HistoryPoint>,
    /// Hashes and elapsed seconds at the newest history point.
    last: Option<(u64, f64)>,
}

impl Live {
    /// An empty one, to share.
    pub fn new() -> Arc<Live> {
        Arc::default()
    }

    /// Publishes `snapshot`; adds a history point when [`HISTORY_STEP`] has passed since the
    /// last one (or for the first snapshot), and forgets points older than [`HISTORY_SPAN`].
    pub fn publish(&self, snapshot: Snapshot) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (hashes, at) = (snapshot.stats.hashes, snapshot.stats.elapsed.as_secs_f64());
        let due = match inner.last {
            None => true,
            Some((_, last_at)) => at - last_at >= HISTORY_STEP.as_secs_f64(),
        };
        if due {
            let measured = match inner.last {
                Some((h0, t0)) if at > t0 => hashes.saturating_sub(h0) as f64 / (at - t0),
                _ => snapshot.stats.hashrate(),
            };
            inner.history.push_back(HistoryPoint {
                at,
                measured,
                proven: snapshot.stats.proven_hashrate(),
            });
            inner.last = Some((hashes, at));
            let horizon = at - HISTORY_SPAN.as_secs_f64();
            while inner.history.front().is_some_and(|p| p.at < horizon) {
                inner.history.pop_front();
            }
        }
        inner.snapshot = snapshot;
    }

    /// The newest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot
            .clone()
    }

    /// The hashrate history, oldest first: at most one point per [`HISTORY_STEP`] over the
    /// last [`HISTORY_SPAN`].
    pub fn history(&self) -> Vec<HistoryPoint> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.history.iter().copied().collect()
    }
}
