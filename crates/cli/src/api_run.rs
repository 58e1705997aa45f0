//! The APIs of a `mine` run: the servers, the snapshot the run publishes for them a few times
//! a second, and the control they steer it through (the power policy's `api` source, the
//! devices' switches, the pool board).

use crate::api_args::ApiArgs;
use crate::energy_args::Energy;
use crate::power_run::{ApiSetpoint, PowerRun};
use sha256d::{Error, ErrorKind};
use sha256d_mining::api::{self, Control, Live, PowerState, Setpoint, Snapshot};
use sha256d_mining::miner::DeviceSwitches;
use sha256d_mining::pool::{PoolBoard, PoolState, PoolStatus};
use sha256d_mining::power::Cap;
use sha256d_mining::Stats;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How many power-policy changes `GET /v1/events` shows.
const EVENTS_SHOWN: usize = 100;

/// The shortest interval the API's watts are measured over.
const WATTS_EVERY: Duration = Duration::from_secs(1);

/// How the servers steer the run.
struct RunControl {
    setpoint: ApiSetpoint,
    /// Whether a watts setpoint can be met: a meter or declared watts.
    knows_watts: bool,
    switches: Arc<DeviceSwitches>,
    pools: Arc<PoolBoard>,
}

impl Control for RunControl {
    fn set_setpoint(&self, setpoint: Setpoint) -> Result<(), String> {
        match setpoint {
            Setpoint::Watts(_) if !self.knows_watts => {
                return Err(
                    "a watts setpoint needs the devices' power: run with an --energy \
                            meter or declared watts"
                        .into(),
                )
            }
            Setpoint::Hashrate(h) | Setpoint::Watts(h) if !(h.is_finite() && h >= 0.0) => {
                return Err(format!("{h} is not a setpoint: a finite number, 0 or more"))
            }
            _ => {}
        }
        *self.setpoint.lock().unwrap_or_else(|e| e.into_inner()) = setpoint.cap();
        log::info!(
            "api: setpoint {}",
            setpoint
                .cap()
                .map_or("released".to_string(), |c| c.to_string())
        );
        Ok(())
    }

    fn set_device_enabled(&self, index: usize, enabled: bool) -> Result<(), String> {
        self.switches.set_enabled(index, enabled)?;
        log::info!(
            "api: device {index} {}",
            if enabled { "enabled" } else { "disabled" }
        );
        Ok(())
    }

    fn switch_pool(&self, index: usize) -> Result<(), String> {
        self.pools.switch_to(index)?;
        log::info!("api: switching to pool {index}");
        Ok(())
    }
}

/// The setpoint a cap the API asked for stands for.
fn setpoint_of(cap: Cap) -> Setpoint {
    match cap {
        Cap::Hashrate(h) => Setpoint::Hashrate(h),
        Cap::Watts(w) => Setpoint::Watts(w),
        // The API asks only for these three.
        _ => Setpoint::Off,
    }
}

/// A run's API servers and what they read.
pub struct ApiRun {
    live: Arc<Live>,
    setpoint: ApiSetpoint,
    pools: Arc<PoolBoard>,
    started: SystemTime,
    last_joules: Option<(Instant, f64)>,
    watts: Option<f64>,
    _http: Option<api::http::Server>,
    _cgminer: Option<api::cgminer::Server>,
}

impl ApiRun {
    /// The setpoint the power control reads, to make before the control opens.
    pub fn setpoint(args: &ApiArgs) -> Option<ApiSetpoint> {
        args.any().then(ApiSetpoint::default)
    }

    /// Starts the servers `args` asks for, each on its own threads; `None` when there are
    /// none. Refused, before anything listens, on tokens that do not check or an address an
    /// API may not be exposed on.
    pub fn start(
        args: &ApiArgs,
        setpoint: Option<ApiSetpoint>,
        knows_watts: bool,
        switches: Arc<DeviceSwitches>,
        pools: Arc<PoolBoard>,
    ) -> Result<Option<ApiRun>, Error> {
        let Some(setpoint) = setpoint else {
            return Ok(None);
        };
        let tokens = args.tokens()?;
        let live = Live::new();
        let control: Arc<dyn Control> = Arc::new(RunControl {
            setpoint: Arc::clone(&setpoint),
            knows_watts,
            switches,
            pools: Arc::clone(&pools),
        });
        let http = match args.http() {
            Some(addr) => {
                let config = api::http::Config {
                    read_token: tokens.read,
                    control_token: tokens.control,
                    ..api::http::Config::default()
                };
                let server =
                    api::http::serve(addr, config, Arc::clone(&live), Arc::clone(&control))?;
                log::info!("api: listening on http://{}", server.local_addr());
                Some(server)
            }
            None => None,
        };
        let cgminer = match args.cgminer() {
            Some((addr, allow_control)) => {
                let config = api::cgminer::Config { allow_control };
                let server =
                    api::cgminer::serve(addr, config, Arc::clone(&live), Arc::clone(&control))?;
                log::info!("cgminer api: listening on {}", server.local_addr());
                Some(server)
            }
            None => None,
        };
        if http.is_none() && cgminer.is_none() {
            return Err(Error::new(ErrorKind::InvalidInput, "no API to serve"));
        }
        Ok(Some(ApiRun {
            live,
            setpoint,
            pools,
            started: SystemTime::now(),
            last_joules: None,
            watts: None,
            _http: http,
            _cgminer: cgminer,
        }))
    }

    /// Publishes what the run is doing now for the servers; `solo` is the URL of the node a
    /// solo run mines for (pools come from the pool board otherwise).
    pub fn publish(
        &mut self,
        stats: &Stats,
        energy: &Energy,
        power: Option<&PowerRun>,
        solo: Option<&str>,
    ) {
        let now = Instant::now();
        if let Some(joules) = energy.joules() {
            match self.last_joules {
                Some((at, j0)) if now.duration_since(at) >= WATTS_EVERY => {
                    self.watts = Some((joules - j0) / now.duration_since(at).as_secs_f64());
                    self.last_joules = Some((now, joules));
                }
                Some(_) => {}
                None => self.last_joules = Some((now, joules)),
            }
        }
        let asked = *self.setpoint.lock().unwrap_or_else(|e| e.into_inner());
        let (power_state, events) = match power {
            Some(run) => {
                let decided = run
                    .decided()
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let events = {
                    let policy = run.policy();
                    let policy = policy.lock().unwrap_or_else(|e| e.into_inner());
                    let all: Vec<_> = policy.events().cloned().collect();
                    all[all.len().saturating_sub(EVENTS_SHOWN)..].to_vec()
                };
                let state = decided.map(|(cap, source)| PowerState {
                    cap,
                    source,
                    duty: run.duty().get(),
                    api_setpoint: asked.map(setpoint_of),
                });
                (state, events)
            }
            None => (None, Vec::new()),
        };
        self.live.publish(Snapshot {
            started: Some(self.started),
            stats: stats.clone(),
            pools: match solo {
                Some(node) => vec![node_state(node, stats)],
                None => self.pools.pools(),
            },
            power: power_state,
            energy: energy.api_state(stats, self.watts),
            events,
        });
    }
}

/// A solo run's node, shown as its only pool.
fn node_state(url: &str, stats: &Stats) -> PoolState {
    PoolState {
        url: url.to_string(),
        user: String::new(),
        active: true,
        status: if stats.jobs > 0 {
            PoolStatus::Alive
        } else {
            PoolStatus::Connecting
        },
        accepted: stats.accepted,
        rejected: stats.rejected_total(),
        stale: stats.stale,
        difficulty: stats.difficulty,
    }
}
