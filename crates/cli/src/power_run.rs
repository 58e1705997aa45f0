//! The power control of a `mine` run: a thread that, every [`TICK`], feeds each setpoint
//! source into the policy, ramps its decision and sets the engines' duty; another that polls
//! the OpenADR VTN (a slow or dead VTN never holds the tick up). What the engines actually do
//! comes back through [`Measured`], from the run's status callback: a change counts as
//! complied with once the duty has held at it for a whole interval and the measured hash rate
//! is not above it. Below it is complying too: on a busy machine the CPU engines get less than
//! their share of the cores, and a cap is about not drawing more.

use jiff::Timestamp;
use serde_json::Value;
use sha256d::Engine;
use sha256d_mining::energy::NvmlPowerLimit;
use sha256d_mining::openadr::{Reading, Timeline, VenClient};
use sha256d_mining::power::{
    Cap, Capacity, Duty, HardStop, HardStopStore, Policy, PowerEvent, PriceFeed, PriceReading,
    PriceRule, PriceState, PriceStatus, Ramp, RampConfig, Schedule, Urgency,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

/// How often the policy is evaluated and the duty set: well inside the 2 s promise.
const TICK: Duration = Duration::from_millis(100);

/// How far above the set duty the measured share of the full hash rate may be and still count
/// as complied with.
const COMPLY_WITHIN: f64 = 0.1;

/// The setpoint sources of a run, as the flags gave them.
pub struct Sources {
    pub hashrate_limit: Option<Cap>,
    pub power_limit: Option<Cap>,
    pub schedule: Option<Schedule>,
    pub price: Option<(PriceFrom, PriceRule)>,
    pub ven: Option<(VenClient, Duration)>,
    pub hard_stop: HardStopStore,
    pub fail_safe: Cap,
    /// What the HTTP API asks for (`None` inside: nothing), when the run serves one.
    pub api: Option<ApiSetpoint>,
}

/// The cap the HTTP API's `PUT /v1/setpoint` asks for, read every tick.
pub type ApiSetpoint = Arc<Mutex<Option<Cap>>>;

/// The combined cap in force and the source that set it, as the last tick decided it.
pub type Decided = Arc<Mutex<Option<(Cap, Option<String>)>>>;

/// Where the price comes from.
pub enum PriceFrom {
    /// A file, re-read every tick.
    File(PathBuf),
    /// A feed, fetched every so often on a thread of its own (a slow server never holds the
    /// tick up).
    Url(Arc<PriceFeed>, Duration),
}

/// What the run measured over its last status interval, for the control loop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    /// Hashes per second over the last interval.
    pub rate: f64,
    /// Watts over the last interval, where a meter says.
    pub watts: Option<f64>,
    /// Whether those watts are only an estimate (a declared draw), the same at any duty: fit
    /// to report, not to learn the devices' full draw from.
    pub watts_estimated: bool,
    /// The duty that was set over all of that interval, if it did not change within it.
    pub steady_duty: Option<f64>,
}

/// Turns the run's status callbacks into [`Measured`] intervals of at least [`MEASURE_EVERY`].
pub struct Sampler {
    duty: Arc<Duty>,
    measured: Arc<Mutex<Measured>>,
    last: Option<(Instant, u64, Option<f64>, f64)>,
}

/// The shortest interval a rate is measured over: a few duty cycles, so a throttled engine's
/// rest does not read as a stop.
const MEASURE_EVERY: Duration = Duration::from_millis(600);

impl Sampler {
    pub fn new(run: &PowerRun) -> Sampler {
        Sampler {
            duty: run.duty(),
            measured: run.measured(),
            last: None,
        }
    }

    /// Called with the run's hashes and joules so far (and whether any meter only estimates
    /// them), as often as the status callback runs.
    pub fn sample(&mut self, hashes: u64, joules: Option<f64>, estimated: bool) {
        let (now, duty) = (Instant::now(), self.duty.get());
        let Some((at, h0, j0, d0)) = self.last else {
            self.last = Some((now, hashes, joules, duty));
            return;
        };
        if (duty - d0).abs() > 1e-9 {
            // The duty changed within the interval: start a new one at the new duty.
            self.last = Some((now, hashes, joules, duty));
            return;
        }
        let dt = now.duration_since(at);
        if dt < MEASURE_EVERY {
            return;
        }
        let secs = dt.as_secs_f64();
        let watts = match (j0, joules) {
            (Some(a), Some(b)) => Some((b - a) / secs),
            _ => None,
        };
        *self.measured.lock().unwrap_or_else(|e| e.into_inner()) = Measured {
            rate: hashes.saturating_sub(h0) as f64 / secs,
            watts,
            watts_estimated: estimated,
            steady_duty: Some(duty),
        };
        self.last = Some((now, hashes, joules, duty));
    }
}

/// The OpenADR side: the last timeline the VTN gave, and whether the VTN is answering.
#[derive(Default)]
struct VenState {
    timeline: Option<Timeline>,
    lost: bool,
}

/// A run's power control, before and while it runs.
pub struct PowerRun {
    sources: Option<Sources>,
    ramp: RampConfig,
    duty: Arc<Duty>,
    measured: Arc<Mutex<Measured>>,
    policy: Arc<Mutex<Policy>>,
    decided: Decided,
    done: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl PowerRun {
    pub fn new(sources: Sources, ramp: RampConfig) -> PowerRun {
        PowerRun {
            sources: Some(sources),
            ramp,
            duty: Arc::new(Duty::new(1.0)),
            measured: Arc::default(),
            policy: Arc::default(),
            decided: Arc::default(),
            done: Arc::default(),
            threads: Vec::new(),
        }
    }

    /// The duty the engines follow.
    pub fn duty(&self) -> Arc<Duty> {
        Arc::clone(&self.duty)
    }

    /// Where the run's status callback leaves what it measured.
    pub fn measured(&self) -> Arc<Mutex<Measured>> {
        Arc::clone(&self.measured)
    }

    /// The cap in force and its source, once the control has decided one.
    pub fn decided(&self) -> Decided {
        Arc::clone(&self.decided)
    }

    /// The power policy, for the changes it recorded.
    pub fn policy(&self) -> Arc<Mutex<Policy>> {
        Arc::clone(&self.policy)
    }

    /// Starts the control (and the VTN poller), its first decision in force on return;
    /// `full_watts` is the devices' declared power at full duty, if any. Each GPU limit in
    /// `gpu_limits` follows the duty too, and is set back when the control stops.
    pub fn start(&mut self, full_watts: Option<f64>, mut gpu_limits: Vec<NvmlPowerLimit>) {
        let Some(mut sources) = self.sources.take() else {
            return;
        };
        let ven_state = Arc::new(Mutex::new(VenState::default()));
        if let Some((ven, every)) = sources.ven.take() {
            let (state, done, measured) = (
                Arc::clone(&ven_state),
                Arc::clone(&self.done),
                Arc::clone(&self.measured),
            );
            self.threads.push(std::thread::spawn(move || {
                poll_vtn(ven, every, &state, &done, &measured)
            }));
        }
        let mut control = Control {
            sources,
            price_state: None,
            price_fetched: Arc::default(),
            ven: ven_state,
            full: Capacity {
                hashrate: None,
                watts: full_watts,
            },
            ramp: None,
            ramp_config: self.ramp,
            decided: Arc::clone(&self.decided),
            target: 1.0,
            complied_pending: false,
            last_cap: None,
        };
        if let Some((PriceFrom::Url(feed, every), _)) = &control.sources.price {
            let (feed, every) = (Arc::clone(feed), *every);
            let (fetched, done) = (Arc::clone(&control.price_fetched), Arc::clone(&self.done));
            self.threads.push(std::thread::spawn(move || {
                poll_price(&feed, every, &fetched, &done)
            }));
        }
        control.price_state = control
            .sources
            .price
            .as_ref()
            .map(|(_, r)| PriceState::new(*r));
        let (duty, measured, policy, done) = (
            Arc::clone(&self.duty),
            Arc::clone(&self.measured),
            Arc::clone(&self.policy),
            Arc::clone(&self.done),
        );
        {
            // The first decision is in force before the engines start: a run begun inside a
            // curtailment or a hard stop never hashes past it.
            let mut policy = policy.lock().unwrap_or_else(|e| e.into_inner());
            control.declare(&mut policy);
            let set = control.tick(&mut policy, &Measured::default());
            duty.set(set);
            follow(&mut gpu_limits, set);
        }
        self.threads.push(std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let m = *measured.lock().unwrap_or_else(|e| e.into_inner());
                let mut policy = policy.lock().unwrap_or_else(|e| e.into_inner());
                let set = control.tick(&mut policy, &m);
                duty.set(set);
                drop(policy);
                follow(&mut gpu_limits, set);
                std::thread::sleep(TICK);
            }
            // Dropped here: each GPU gets its own limit back.
            drop(gpu_limits);
        }));
    }

    /// Stops the control; returns the power events for the summary.
    pub fn finish(mut self) -> (Vec<PowerEvent>, u64) {
        self.done.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            // A panicked control thread has nothing more to give.
            let _ = t.join();
        }
        let policy = self.policy.lock().unwrap_or_else(|e| e.into_inner());
        (policy.events().cloned().collect(), policy.dropped_events())
    }
}

/// The control loop's state.
struct Control {
    sources: Sources,
    price_state: Option<PriceState>,
    /// The feed's newest reading, not yet observed.
    price_fetched: Arc<Mutex<Option<PriceReading>>>,
    ven: Arc<Mutex<VenState>>,
    full: Capacity,
    ramp: Option<Ramp>,
    ramp_config: RampConfig,
    decided: Decided,
    /// The duty the policy asks for now.
    target: f64,
    /// Whether a change is still to be marked complied with.
    complied_pending: bool,
    last_cap: Option<Cap>,
}

const LIMIT: &str = "limit";
const HARD_STOP: &str = "hard-stop";
const SCHEDULE: &str = "schedule";
const PRICE: &str = "price";
const OPENADR: &str = "openadr";
const API: &str = "api";

impl Control {
    /// Declares the sources in the order they win ties: stops first.
    fn declare(&self, policy: &mut Policy) {
        policy.add_source(HARD_STOP, Cap::Full, Urgency::Emergency);
        policy.add_source(LIMIT, Cap::Full, Urgency::Emergency);
        let fail_safe = self.sources.fail_safe;
        policy.add_source(OPENADR, fail_safe, Urgency::Economic);
        policy.add_source(PRICE, fail_safe, Urgency::Economic);
        policy.add_source(SCHEDULE, Cap::Full, Urgency::Economic);
        // An operator's setpoint, not the grid's: ramped like the schedule, and nothing to fall
        // back to when the API goes quiet (it is only ever asked, never polled).
        policy.add_source(API, Cap::Full, Urgency::Economic);
    }

    /// One turn: returns the duty to set.
    fn tick(&mut self, policy: &mut Policy, m: &Measured) -> f64 {
        let now = Timestamp::now();
        self.learn(m);
        self.feed(policy, now);
        let decision = match policy.evaluate(now, &self.full) {
            Ok(d) => d,
            Err(e) => {
                // A cap that needs a figure not measured yet: full duty until it is (a
                // hashrate is measured within the first second).
                log::debug!("power: {e}");
                return self.ramp.as_ref().map_or(1.0, Ramp::current);
            }
        };
        if self.last_cap != Some(decision.cap) {
            log::info!(
                event = "power_change";
                "power: {} asks {} (duty {:.0}%)",
                decision.source.as_deref().unwrap_or("nothing"),
                decision.cap,
                decision.duty * 100.0
            );
            self.last_cap = Some(decision.cap);
            self.complied_pending = true;
        }
        *self.decided.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((decision.cap, decision.source.clone()));
        self.target = decision.duty;
        // The first decision holds at once: a run started inside a curtailment is curtailed.
        let ramp = self
            .ramp
            .get_or_insert_with(|| Ramp::new(self.ramp_config, decision.duty, seed()));
        let set = ramp.step(Instant::now(), decision.duty, decision.urgency);
        if self.complied_pending && complies(m, set, decision.duty, self.full.hashrate) {
            self.complied_pending = false;
            policy.complied(now);
            log::info!(event = "power_complied"; "power: {} reached", decision.cap);
        }
        set
    }

    /// Takes the full-duty figures from what was measured.
    fn learn(&mut self, m: &Measured) {
        match m.steady_duty {
            Some(d) if d >= 0.999 && m.rate > 0.0 => self.full.hashrate = Some(m.rate),
            Some(d) if d > 0.05 && m.rate > 0.0 && self.full.hashrate.is_none() => {
                self.full.hashrate = Some(m.rate / d)
            }
            _ => {}
        }
        if let (Some(d), Some(w), false) = (m.steady_duty, m.watts, m.watts_estimated) {
            if d > 0.05 && w > 0.0 {
                self.full.watts = Some(w / d);
            }
        }
    }

    fn feed(&mut self, policy: &mut Policy, now: Timestamp) {
        let set = |policy: &mut Policy, name: &str, cap: Cap, until: Option<Timestamp>| {
            if let Err(e) = policy.set(name, cap, now, until) {
                log::warn!("power: {e}");
            }
        };
        let limits = [self.sources.hashrate_limit, self.sources.power_limit];
        if let Some(cap) = limits
            .into_iter()
            .flatten()
            .reduce(|a, b| Cap::lower(a, b, &self.full).unwrap_or(Cap::Off))
        {
            set(policy, LIMIT, cap, None);
        }
        if let Some(schedule) = &self.sources.schedule {
            match schedule.cap_at(now, &self.full) {
                Ok(cap) => {
                    let until = schedule.next_change_after(now, &self.full).ok().flatten();
                    set(policy, SCHEDULE, cap, until)
                }
                Err(e) => log::debug!("power: schedule: {e}"),
            }
        }
        if let (Some((from, _)), Some(state)) = (&self.sources.price, &mut self.price_state) {
            let reading = match from {
                PriceFrom::File(path) => sha256d_mining::power::read_price_file(path).map(Some),
                PriceFrom::Url(..) => Ok(self
                    .price_fetched
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .take()),
            };
            match reading {
                Ok(Some(reading)) => state.observe(reading.modified, reading.price),
                Ok(None) => {}
                Err(e) => log::debug!("power: price: {e}"),
            }
            match state.poll(now) {
                PriceStatus::Cap(cap) => set(policy, PRICE, cap, None),
                PriceStatus::Lost => drop(policy.lose(PRICE)),
            }
        }
        self.feed_openadr(policy, now);
        self.feed_hard_stop(policy, now);
        if let Some(api) = &self.sources.api {
            let asked = *api.lock().unwrap_or_else(|e| e.into_inner());
            match asked {
                Some(cap) => set(policy, API, cap, None),
                None => drop(policy.clear(API)),
            }
        }
    }

    fn feed_openadr(&mut self, policy: &mut Policy, now: Timestamp) {
        let (limit, lost) = {
            let state = self.ven.lock().unwrap_or_else(|e| e.into_inner());
            let Some(timeline) = &state.timeline else {
                return;
            };
            (timeline.limit_at(SystemTime::now()), state.lost)
        };
        let until = limit.until.and_then(|t| Timestamp::try_from(t).ok());
        if limit.stop {
            let engaged = self.sources.hard_stop.active(now).ok().flatten().is_some();
            if !engaged {
                let stop = HardStop {
                    source: OPENADR.into(),
                    since: now,
                    until,
                    reason: format!("grid emergency: event {}", limit.events.join(", ")),
                };
                log::warn!("power: hard stop: {}", stop.reason);
                if let Err(e) = engage(&mut self.sources.hard_stop, stop) {
                    log::error!("power: the hard stop could not be kept: {e}");
                }
            }
        } else if self.openadr_stop_engaged(now) {
            // The VTN no longer asks for the stop it set: it is lifted.
            if let Err(e) = self.sources.hard_stop.release() {
                log::error!("power: {e}");
            }
            log::info!("power: the grid emergency is over: hard stop released");
        }
        let cap = match (limit.watts, limit.fraction) {
            (Some(w), Some(f)) => {
                Cap::lower(Cap::Watts(w), Cap::Fraction(f), &self.full).unwrap_or(Cap::Watts(w))
            }
            (Some(w), None) => Cap::Watts(w),
            (None, Some(f)) => Cap::Fraction(f),
            (None, None) => Cap::Full,
        };
        let _ = policy.set(OPENADR, cap, now, until);
        if lost {
            let _ = policy.lose(OPENADR);
        }
    }

    fn openadr_stop_engaged(&mut self, now: Timestamp) -> bool {
        matches!(self.sources.hard_stop.active(now), Ok(Some(s)) if s.source == OPENADR)
    }

    fn feed_hard_stop(&mut self, policy: &mut Policy, now: Timestamp) {
        let _ = match self.sources.hard_stop.active(now) {
            Ok(Some(stop)) => policy.set(HARD_STOP, Cap::Off, now, stop.until),
            Ok(None) => policy.clear(HARD_STOP),
            Err(e) => {
                log::error!("power: {e}");
                policy.set(HARD_STOP, Cap::Off, now, None)
            }
        };
    }
}

/// Engages `stop`, making the folder it is kept in first.
fn engage(store: &mut HardStopStore, stop: HardStop) -> Result<(), String> {
    if let Some(dir) = store.path().parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    store.engage(stop).map_err(|e| e.to_string())
}

/// Whether the engines, set to `set` on the way to `target`, are measured there.
fn complies(m: &Measured, set: f64, target: f64, full_rate: Option<f64>) -> bool {
    if (set - target).abs() > 1e-9 || m.steady_duty.is_none_or(|d| (d - set).abs() > 1e-9) {
        return false;
    }
    match full_rate {
        Some(full) if full > 0.0 => m.rate / full <= target + COMPLY_WITHIN,
        // Without a full-duty figure only a stop can be judged: no hashing at all.
        _ => target > 0.0 || m.rate == 0.0,
    }
}

/// A per-process seed for the ramp's random start delays: fleets on one schedule must not
/// step together.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    nanos ^ u64::from(std::process::id()).rotate_left(32)
}

/// Fetches the price every `every` until `done`, leaving each reading for the control loop.
fn poll_price(
    feed: &PriceFeed,
    every: Duration,
    fetched: &Mutex<Option<PriceReading>>,
    done: &AtomicBool,
) {
    let mut last: Option<Instant> = None;
    while !done.load(Ordering::Relaxed) {
        if last.is_some_and(|t| t.elapsed() < every) {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        last = Some(Instant::now());
        match feed.fetch() {
            Ok(reading) => *fetched.lock().unwrap_or_else(|e| e.into_inner()) = Some(reading),
            // Not answering long enough is a lost signal: the price rule's own staleness.
            Err(e) => log::warn!("power: {e}"),
        }
    }
}

/// Polls the VTN every `every` until `done`, keeping its timeline in `state`, and reports the
/// power drawn during each active event.
fn poll_vtn(
    mut ven: VenClient,
    every: Duration,
    state: &Mutex<VenState>,
    done: &AtomicBool,
    measured: &Mutex<Measured>,
) {
    let mut last = Instant::now();
    let mut first = true;
    while !done.load(Ordering::Relaxed) {
        if !first && last.elapsed() < every {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let started = SystemTime::now();
        let (since, interval) = (last, last.elapsed());
        last = Instant::now();
        first = false;
        match ven.poll() {
            Ok(timeline) => {
                let limit = timeline.limit_at(SystemTime::now());
                let timeline = timeline.clone();
                *state.lock().unwrap_or_else(|e| e.into_inner()) = VenState {
                    timeline: Some(timeline),
                    lost: false,
                };
                let watts = measured.lock().unwrap_or_else(|e| e.into_inner()).watts;
                if let (Some(event), Some(watts)) = (limit.events.first(), watts) {
                    let reading = Reading {
                        event_id: event.clone(),
                        resource_name: "sha256d".into(),
                        start: started - interval.min(since.elapsed()),
                        duration: interval,
                        average_watts: watts,
                    };
                    if let Err(e) = ven.report(&reading) {
                        log::warn!("openadr: report: {e}");
                    }
                }
            }
            Err(e) => {
                log::warn!("openadr: {e}; following the last timeline");
                state.lock().unwrap_or_else(|e| e.into_inner()).lost = true;
            }
        }
    }
}

/// The summary's `power_events`.
pub fn events_json(events: &[PowerEvent]) -> Value {
    events.iter().map(sha256d_mining::api::event_json).collect()
}

/// The text summary's power lines: each change, and how long the devices took to follow it.
pub fn events_text(events: &[PowerEvent], dropped: u64) -> String {
    let mut out = String::new();
    if dropped > 0 {
        out += &format!("\npower: {dropped} earlier changes not listed");
    }
    for e in events {
        let took = e
            .seconds_to_comply()
            .map_or("not reached".to_string(), |s| {
                format!("reached in {s:.1} s")
            });
        out += &format!(
            "\npower {}: {} -> {} ({}), {took}",
            e.requested_at, e.from, e.to, e.source
        );
    }
    out
}

/// Moves each GPU's power limit to `duty`; one NVML refuses (not root, say) is let go, with a
/// warning, and that GPU follows the duty cycle alone.
fn follow(limits: &mut Vec<NvmlPowerLimit>, duty: f64) {
    limits.retain_mut(|limit| match limit.follow(duty) {
        Ok(Some(watts)) => {
            log::info!("power: {}: limit {watts:.0} W", limit.bus_id());
            true
        }
        Ok(None) => true,
        Err(e) => {
            log::warn!("power: {e}; the GPU follows the duty cycle alone");
            false
        }
    });
}

/// The NVML power limit of each GPU the run mines on, for the power control to move with the
/// duty; where there is none to set (no NVIDIA driver, another vendor), a note and none.
pub fn gpu_limits(engines: &[Box<dyn Engine>]) -> Vec<NvmlPowerLimit> {
    engines
        .iter()
        .filter_map(|e| e.pci_bus_id())
        .filter_map(|bus_id| match NvmlPowerLimit::open(&bus_id) {
            Ok(Ok(limit)) => {
                log::info!(
                    "power: GPU {bus_id}: its {:.0} W limit follows the duty",
                    limit.original_watts()
                );
                Some(limit)
            }
            Ok(Err(why)) => {
                log::info!("power: {why}; the GPU follows the duty cycle alone");
                None
            }
            Err(e) => {
                log::warn!("power: {e}; the GPU follows the duty cycle alone");
                None
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(rate: f64, steady_duty: Option<f64>) -> Measured {
        Measured {
            rate,
            watts: None,
            watts_estimated: false,
            steady_duty,
        }
    }

    /// A cap is met once the duty has held at it and the rate is not above it: a busy machine
    /// that gives the engines less than their share still complies; an engine that ignores the
    /// duty does not.
    #[test]
    fn a_cap_is_met_at_or_under_it() {
        let full = Some(100.0);
        for (rate, met) in [(50.0, true), (59.0, true), (20.0, true), (61.0, false)] {
            assert_eq!(
                complies(&measured(rate, Some(0.5)), 0.5, 0.5, full),
                met,
                "{rate}"
            );
        }
        // Still ramping, or the duty changed within the interval.
        assert!(!complies(&measured(50.0, Some(0.5)), 0.6, 0.5, full));
        assert!(!complies(&measured(50.0, None), 0.5, 0.5, full));
        // Off means (almost) no hashing; without a full-duty figure only a stop is judged.
        assert!(!complies(&measured(20.0, Some(0.0)), 0.0, 0.0, full));
        assert!(complies(&measured(0.0, Some(0.0)), 0.0, 0.0, None));
        assert!(!complies(&measured(1.0, Some(0.0)), 0.0, 0.0, None));
    }
}
