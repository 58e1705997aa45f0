//! The share pipeline: a source's jobs become engine work, the engines' (host-verified) results
//! become shares and blocks, and the source's verdicts become counters.
//!
//! One worker thread per engine takes work units from the newest job. A unit is one coinbase
//! (extranonce2) and ntime, the whole nonce range, and as many rolled versions as keep a unit
//! near a second on that engine, so a slow CPU and a fast GPU both switch jobs promptly. When a
//! job arrives every running unit is cancelled; engines stop within milliseconds.
//!
//! Everything between the threads is bounded. Results wait in a queue of at most
//! [`MAX_WAITING_SHARES`] shares, the oldest pushed out first, and [`MAX_WAITING_BLOCKS`]
//! blocks, which are never dropped; the coordinator hands the source at most
//! [`MAX_UNANSWERED_SHARES`] submissions without a verdict (blocks up to
//! [`MAX_UNANSWERED_BLOCKS`]), so a pool at a very low difficulty is fed as fast as it answers
//! rather than flooded. Every result is accounted for in [`Stats`]: submitted, or dropped with
//! a [`DropReason`].

mod canary;
mod device;
mod proof;
mod results;
mod stats;
mod switches;
mod units;
mod worker;

pub use device::DeviceStats;
pub use results::{MAX_WAITING_BLOCKS, MAX_WAITING_SHARES};
pub use stats::{AcceptedBlock, DropReason, Stats, MAX_LISTED_BLOCKS};
pub use switches::DeviceSwitches;

use crate::power::Duty;
use crate::share_log::{Finder, ShareLog};
use crate::{hash_difficulty, Event, Job, Share, Source, Verdict};
use results::{Candidate, Results, Take};
use sha256d::engine::Engine;
use sha256d::{Error, ErrorKind, Hash};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use worker::{worker, Board, Pacing};

/// Where engines that join a run come from: see [`MineOptions::joining`].
pub type Joining = Arc<Mutex<mpsc::Receiver<Box<dyn Engine>>>>;

/// When `mine` stops, and how often it reports.
#[derive(Clone, Debug)]
pub struct MineOptions {
    /// Stop after this many accepted shares.
    pub shares: Option<u64>,
    /// Stop after this many accepted blocks (behind a pool, block candidates the pool
    /// accepted). Never more: while the blocks awaiting a verdict would meet the limit, a new
    /// job waits for those verdicts instead of being hashed.
    pub blocks: Option<u64>,
    /// Stop after this long.
    pub time: Option<Duration>,
    /// How often the status callback runs.
    pub status_every: Duration,
    /// How long to wait for verdicts on shares still in flight when stopping at a limit.
    pub drain: Duration,
    /// Set from outside (a signal handler, another thread) to stop as if a limit was reached,
    /// but sooner: verdicts are awaited for at most [`STOP_GRACE`], also when it is set while
    /// a limit's drain is under way.
    pub stop: Option<Arc<AtomicBool>>,
    /// Where each verdict is recorded, a line each. A line that cannot be written ends the
    /// run with an error: the log would no longer account for every verdict.
    pub share_log: Option<Arc<Mutex<ShareLog>>>,
    /// Engines that join the run while it goes (a stick plugged in), opened by whoever sends
    /// them: each starts on the current job within a turn of the coordinator and is counted
    /// as a device of its own. Opening happens on the sender's side, so a slow device start
    /// never holds up the run.
    pub joining: Option<Joining>,
    /// The fraction of the time the engines may hash, set from outside (the power policy)
    /// while the run goes: each worker hashes a slice and rests the rest of a 200 ms cycle,
    /// so a new fraction holds within a cycle. `None` (or 1) is full duty.
    pub duty: Option<Arc<Duty>>,
    /// How often an engine that hashes off the host and checks nothing itself (the GPU, an
    /// engine this crate does not know) is given a small unit whose answer is known instead of
    /// real work: a miss counts in its [`DeviceStats::known_answer_misses`], and three in a row
    /// drop it, as a failed engine. Its hashes are not credited. `None`: never. The CPU
    /// engines get none (host code, held to the portable engine), nor the `asic` engine (its
    /// own, set by `sha256d::Options::asic_known_answer_every`). Default: 10 s.
    pub known_answer_every: Option<Duration>,
    /// The operator's switch for each device, flipped from outside while the run goes: a
    /// device switched off stops hashing within a turn of the coordinator and stays listed,
    /// with [`DeviceStats::disabled`] set, until switched on again. Its time off counts
    /// neither in [`Stats::job_switch_worst`] nor as known-answer misses. `mine` adds a
    /// switch, on, for each device as it starts or joins. `None`: every device hashes.
    pub switches: Option<Arc<DeviceSwitches>>,
}

impl Default for MineOptions {
    fn default() -> Self {
        MineOptions {
            shares: None,
            blocks: None,
            time: None,
            status_every: Duration::from_secs(1),
            drain: Duration::from_secs(5),
            stop: None,
            share_log: None,
            joining: None,
            duty: None,
            known_answer_every: Some(Duration::from_secs(10)),
            switches: None,
        }
    }
}

/// After [`MineOptions::stop`] is set, how long `mine` still waits for verdicts: short, so
/// that a person pressing Ctrl-C has the summary within a second.
pub const STOP_GRACE: Duration = Duration::from_millis(500);

/// Shares the coordinator submits without a verdict before it holds the rest back. Below the
/// Stratum client's own limit, so a fast pool is never taken for one that stopped answering.
pub const MAX_UNANSWERED_SHARES: u64 = 256;

/// Submissions without a verdict past which even blocks are held back (they wait in the
/// queue; none is dropped).
pub const MAX_UNANSWERED_BLOCKS: u64 = 768;

const _: () = assert!(
    MAX_UNANSWERED_SHARES < MAX_UNANSWERED_BLOCKS
        && MAX_UNANSWERED_BLOCKS < crate::stratum::MAX_UNANSWERED_SUBMITS as u64
);

/// How often a throttled run's units are checked against their slice: a small part of
/// [`crate::power::PERIOD`].
const PACE_EVERY: Duration = Duration::from_millis(5);
/// How often, in a run with no duty, units are checked against their devices' known answers
/// (seconds apart): a few times a second is prompt enough.
const CHECK_EVERY: Duration = Duration::from_millis(50);

/// How long one turn of the coordinator waits for the source when there is nothing to do.
const TURN: Duration = Duration::from_millis(20);

/// How many results the coordinator takes from the queue between two polls of the source,
/// so a burst of easy shares cannot delay a new job. While more wait (and the source has room
/// for them) the next poll does not wait.
const CANDIDATES_PER_TURN: usize = 16;

/// Mines `source`'s jobs on `engines` until a limit in `options` is reached, the stop flag is
/// set or every engine has failed (unless more may join: [`MineOptions::joining`]), calling
/// `status` every `options.status_every`, with each notice (a source's, an engine failure, an
/// engine that joined), and once at the end. Returns the final counters;
/// an engine that fails or panics is listed in [`Stats::engine_failures`] and the others go
/// on. An `Err` means the source gave up (see [`Source::poll`]).
pub fn mine(
    source: &mut dyn Source,
    engines: &[Box<dyn Engine>],
    options: &MineOptions,
    status: &mut dyn FnMut(&Stats, Option<&str>),
) -> Result<Stats, Error> {
    if engines.is_empty() && options.joining.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no engine to mine with",
        ));
    }
    let board = Board::new(engines.len());
    let results = Results::default();
    let pause_after_block = source.pause_after_block();
    let final_blocks = source.block_verdicts_are_final();
    // Each worker sends at most one message, so this channel holds at most one per engine.
    let (failed_tx, failed_rx) = mpsc::channel();
    let mut coordinator = Coordinator {
        source,
        board: &board,
        results: &results,
        stats: Stats {
            engines: engines.iter().map(|e| e.name().to_string()).collect(),
            devices: engines
                .iter()
                .map(|e| DeviceStats {
                    engine: e.name().to_string(),
                    device: e.describe(),
                    ..DeviceStats::default()
                })
                .collect(),
            ..Stats::default()
        },
        started: Instant::now(),
        clean_generation: 0,
        last_block_parent: None,
        in_flight: 0,
        blocks_in_flight: 0,
        block_limit: options.blocks,
        final_blocks,
        held_job: None,
        stop_seen: None,
        engine_names: engines.iter().map(|e| e.name().to_string()).collect(),
        failed_engines: Vec::new(),
        finders: VecDeque::new(),
        share_log: options.share_log.clone(),
        switches: options.switches.clone(),
        switches_seen: None,
    };
    // Before any worker starts, so a device the switches already hold off never hashes.
    coordinator.apply_switches();
    let outcome = std::thread::scope(|scope| {
        // However the coordinator ends (an error, a panic in `status`), the workers must be
        // let go, or the scope never ends.
        let _release = Release(&board, &results);
        let (board, results) = (&board, &results);
        let duty = options.duty.as_deref();
        // Only engines that get known answers have units to cut for them (any may join
        // later): a CPU run without a duty, and with no engine to join, needs no pacer.
        let checked = options.known_answer_every.is_some()
            && (options.joining.is_some()
                || engines.iter().any(|e| canary::is_checked(e.as_ref())));
        if duty.is_some() || checked {
            let every = if duty.is_some() {
                PACE_EVERY
            } else {
                CHECK_EVERY
            };
            scope.spawn(move || {
                while !board.halted() {
                    board.pace(duty.map(Duty::get));
                    std::thread::sleep(every);
                }
            });
        }
        let spawn = |index: usize, engine: Held| {
            let failed = failed_tx.clone();
            scope.spawn(move || {
                worker(
                    (index, engine.get(engines)),
                    board,
                    results,
                    failed,
                    Pacing {
                        pause_after_block,
                        duty,
                        known_answer_every: options.known_answer_every,
                    },
                )
            });
        };
        for index in 0..engines.len() {
            spawn(index, Held::Lent(index));
        }
        let mut join = |index: usize, engine: Box<dyn Engine>| spawn(index, Held::Joined(engine));
        coordinator.run(options, &failed_rx, &mut join, status)
    });
    drop(failed_tx);
    outcome?;
    // Every worker has ended: what is still queued was found but never submitted.
    coordinator.finish(&failed_rx, status);
    Ok(coordinator.stats)
}

/// The engine a worker hashes on: one the caller lends for the run (by its index), or one
/// that joined it, which the worker owns and which ends with it.
enum Held {
    Lent(usize),
    Joined(Box<dyn Engine>),
}

impl Held {
    fn get<'a>(&'a self, lent: &'a [Box<dyn Engine>]) -> &'a dyn Engine {
        match self {
            Held::Lent(index) => lent[*index].as_ref(),
            Held::Joined(engine) => engine.as_ref(),
        }
    }
}

/// Halts the board and closes the queue when dropped.
struct Release<'a>(&'a Board, &'a Results);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.halt();
        self.1.close();
    }
}

struct Coordinator<'a> {
    source: &'a mut dyn Source,
    board: &'a Board,
    results: &'a Results,
    stats: Stats,
    started: Instant,
    clean_generation: u64,
    /// Solo: the parent of the last block submitted; a second block on it cannot win.
    last_block_parent: Option<[u8; 32]>,
    in_flight: u64,
    /// Blocks among `in_flight`.
    blocks_in_flight: u64,
    block_limit: Option<u64>,
    /// Whether the source's verdicts on blocks are a node's (see
    /// [`Source::block_verdicts_are_final`]).
    final_blocks: bool,
    /// The newest job that arrived while the blocks in flight could meet `block_limit`, with
    /// whether any job held meanwhile voided older work. Hashing it could only find blocks
    /// past the limit, so it waits for their verdicts: installed if one is rejected, dropped
    /// when the limit is met.
    held_job: Option<(Arc<Job>, bool)>,
    /// When the stop flag was first seen set.
    stop_seen: Option<Instant>,
    /// Every engine's name, by index, and the indices of those that failed.
    engine_names: Vec<String>,
    failed_engines: Vec<usize>,
    /// The hash and engine index of each submission awaiting its verdict (at most
    /// [`MAX_UNANSWERED_BLOCKS`]: the source is given no more), oldest first.
    finders: VecDeque<(Hash, usize)>,
    share_log: Option<Arc<Mutex<ShareLog>>>,
    switches: Option<Arc<DeviceSwitches>>,
    /// [`DeviceSwitches::changes`] when the board last took the switches' flags.
    switches_seen: Option<u64>,
}

impl Coordinator<'_> {
    fn run(
        &mut self,
        options: &MineOptions,
        failed: &mpsc::Receiver<(usize, Error)>,
        join: &mut dyn FnMut(usize, Box<dyn Engine>),
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) -> Result<(), Error> {
        let mut last_status = Instant::now();
        loop {
            self.join_engines(options, join, status);
            self.apply_switches();
            let wait = if self.can_submit() {
                Duration::ZERO
            } else {
                TURN
            };
            let events = self.source.poll(wait)?;
            self.handle(events, status)?;
            self.submit_waiting(status)?;
            self.engine_failures(failed, status);
            // With engines to join, a run whose engines all failed waits for the next one.
            let waiting = options.joining.is_some();
            if self.limit_reached(options) || (self.stats.every_engine_failed() && !waiting) {
                break;
            }
            if last_status.elapsed() >= options.status_every {
                last_status = Instant::now();
                status(&self.snapshot(), None);
            }
        }
        // Stop hashing, but submit what was found and wait a little for the verdicts: nothing
        // found is lost.
        self.board.halt();
        let drain_end = Instant::now() + options.drain;
        loop {
            self.submit_waiting(status)?;
            let workers_done = self.board.live_workers() == 0;
            if workers_done && self.results.is_empty() && self.in_flight == 0 {
                break;
            }
            let stop_end = self.stopped(options).map(|t| t + STOP_GRACE);
            let end = stop_end.map_or(drain_end, |t| t.min(drain_end));
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let wait = if self.can_submit() {
                Duration::ZERO
            } else {
                TURN.min(left)
            };
            let events = self.source.poll(wait)?;
            self.handle(events, status)?;
        }
        Ok(())
    }

    /// Accounts for what the run left behind, once every worker has ended.
    fn finish(
        &mut self,
        failed: &mpsc::Receiver<(usize, Error)>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) {
        self.engine_failures(failed, status);
        let rest = self.results.take_rest();
        self.stats
            .drop_result(DropReason::RunEnded, rest.len() as u64);
        for c in rest.iter().filter(|c| c.is_block) {
            let text = format!(
                "a block was found but the run ended before it was submitted: hash {}, \
                 header {}",
                c.found.hash,
                sha256d::hazmat::hex::encode(&found_header(c).to_bytes())
            );
            status(&self.snapshot(), Some(&text));
        }
        self.stats.unanswered = self.in_flight;
        let last = self.snapshot();
        status(&last, None);
    }

    /// When the stop flag was first seen set, if it is.
    fn stopped(&mut self, options: &MineOptions) -> Option<Instant> {
        if self.stop_seen.is_none()
            && options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            self.stop_seen = Some(Instant::now());
        }
        self.stop_seen
    }

    fn limit_reached(&mut self, options: &MineOptions) -> bool {
        options.shares.is_some_and(|n| self.stats.accepted >= n)
            || self.block_limit_met()
            || options.time.is_some_and(|t| self.started.elapsed() >= t)
            || self.stopped(options).is_some()
    }

    fn engine_failures(
        &mut self,
        failed: &mpsc::Receiver<(usize, Error)>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) {
        while let Ok((index, e)) = failed.try_recv() {
            self.stats.engine_failures.push(e.to_string());
            self.stats.devices[index].failure = Some(e.to_string());
            // `engines` lists the engines still hashing: a failed one leaves it.
            self.failed_engines.push(index);
            self.stats.engines = self
                .engine_names
                .iter()
                .enumerate()
                .filter(|(i, _)| !self.failed_engines.contains(i))
                .map(|(_, name)| name.clone())
                .collect();
            let left = self.stats.engines.len();
            let text = if left == 0 {
                format!("{e}; no engine is left, stopping")
            } else {
                format!("{e}; mining goes on with {left} engine(s)")
            };
            status(&self.snapshot(), Some(&text));
        }
    }

    /// Hands the board the switches' flags when they changed (or devices joined: `None`
    /// seen), each device covered by a switch first.
    fn apply_switches(&mut self) {
        let Some(switches) = &self.switches else {
            return;
        };
        if self.switches_seen.is_none() {
            switches.cover(self.stats.devices.len());
        }
        // Read before the flags: a change in between is taken now and once more next turn.
        let changes = switches.changes();
        if self.switches_seen != Some(changes) {
            self.switches_seen = Some(changes);
            self.board.set_disabled(&switches.flags());
        }
    }

    /// Starts a worker for each engine that has joined the run since the last turn.
    fn join_engines(
        &mut self,
        options: &MineOptions,
        join: &mut dyn FnMut(usize, Box<dyn Engine>),
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) {
        let Some(joining) = &options.joining else {
            return;
        };
        let arrived: Vec<Box<dyn Engine>> = {
            // A sender that panicked leaves a channel, not broken state.
            let rx = joining.lock().unwrap_or_else(|e| e.into_inner());
            rx.try_iter().collect()
        };
        for engine in arrived {
            let index = self.board.add_worker();
            let (name, device) = (engine.name().to_string(), engine.describe());
            self.engine_names.push(name.clone());
            self.stats.engines.push(name.clone());
            self.stats.devices.push(DeviceStats {
                engine: name.clone(),
                device: device.clone(),
                ..DeviceStats::default()
            });
            // Its switch (on, unless a run before this one left it off) before it hashes.
            self.switches_seen = None;
            self.apply_switches();
            join(index, engine);
            let text = format!("engine {name} joined: {device}");
            status(&self.snapshot(), Some(&text));
        }
    }

    /// Whether a waiting result could be submitted now.
    fn can_submit(&self) -> bool {
        self.take().is_some_and(|take| self.results.has(take))
    }

    /// What the source has room for.
    fn take(&self) -> Option<Take> {
        if self.in_flight < MAX_UNANSWERED_SHARES {
            Some(Take::Any)
        } else if self.in_flight < MAX_UNANSWERED_BLOCKS {
            Some(Take::BlocksOnly)
        } else {
            None
        }
    }

    /// Submits waiting results while the source has room for them.
    fn submit_waiting(
        &mut self,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) -> Result<(), Error> {
        for _ in 0..CANDIDATES_PER_TURN {
            let Some(c) = self.take().and_then(|take| self.results.pop(take)) else {
                return Ok(());
            };
            let events = self.candidate(c)?;
            self.handle(events, status)?;
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Stats {
        self.stats.elapsed = self.started.elapsed();
        let tallies = self.board.tallies();
        self.stats.hashes = tallies.iter().map(|t| t.hashes).sum();
        self.stats.hardware_errors = tallies.iter().map(|t| t.hardware_errors).sum();
        for (device, tally) in self.stats.devices.iter_mut().zip(&tallies) {
            device.hashes = tally.hashes;
            device.hardware_errors = tally.hardware_errors;
            device.known_answer_misses = tally.known_answer_misses;
            device.known_answers_passed = tally.known_answers_passed;
            device.shares_found = tally.found;
            device.disabled = tally.disabled;
        }
        self.stats.job_switch_worst = self.board.switch_worst();
        self.stats.source = self.source.describe();
        self.stats.shares_found = self.results.found();
        let overflowed = self.results.overflowed();
        if overflowed > 0 {
            self.stats.dropped.insert(DropReason::Overflow, overflowed);
        }
        self.stats.clone()
    }

    fn candidate(&mut self, c: Candidate) -> Result<Vec<Event>, Error> {
        let header = found_header(&c);
        let stale = c.generation < self.clean_generation;
        let difficulty = hash_difficulty(&c.found.hash);
        if difficulty > self.stats.best_share_difficulty {
            self.stats.best_share_difficulty = difficulty;
        }
        if stale && !c.is_block {
            self.stats.stale += 1;
            self.stats.devices[c.engine].stale += 1;
            self.stats.drop_result(DropReason::Stale, 1);
            return Ok(Vec::new());
        }
        if c.is_block && self.source.pause_after_block() {
            if self.last_block_parent == Some(c.job.prev_hash) {
                self.stats.stale += 1;
                self.stats.devices[c.engine].stale += 1;
                self.stats.drop_result(DropReason::SecondBlock, 1);
                return Ok(Vec::new());
            }
            self.last_block_parent = Some(c.job.prev_hash);
        }
        if c.is_block {
            self.stats.blocks_found += 1;
            self.blocks_in_flight += 1;
        }
        self.in_flight += 1;
        self.stats.shares_submitted += 1;
        if self.finders.len() >= MAX_UNANSWERED_BLOCKS as usize {
            self.finders.pop_front();
        }
        self.finders.push_back((c.found.hash, c.engine));
        self.source.submit(Share {
            job: c.job,
            extranonce2: c.extranonce2,
            header,
            hash: c.found.hash,
            is_block: c.is_block,
            stale,
        })
    }

    fn handle(
        &mut self,
        events: Vec<Event>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) -> Result<(), Error> {
        for event in events {
            match event {
                Event::Job(job) => {
                    self.stats.jobs += 1;
                    if self.blocks_may_meet_the_limit() {
                        let clean = job.clean || self.held_job.as_ref().is_some_and(|h| h.1);
                        self.held_job = Some((job, clean));
                    } else {
                        self.install(job, false);
                    }
                }
                // It applies from the next job, which carries it as its share target.
                Event::Difficulty(_) => {}
                Event::Verdict { share, verdict } => {
                    let finder = self.take_finder(&share);
                    self.record(&share, &verdict, finder)?;
                    // A verdict on a share this run did not submit (a source's replay) is
                    // counted in the total only.
                    let mut device = finder.and_then(|i| self.stats.devices.get_mut(i));
                    self.in_flight = self.in_flight.saturating_sub(1);
                    if share.is_block {
                        self.blocks_in_flight = self.blocks_in_flight.saturating_sub(1);
                    }
                    match verdict {
                        Verdict::Accepted => {
                            self.stats.accepted += 1;
                            let difficulty = share.job.share_target.difficulty_float();
                            if let Some(d) = device.as_mut() {
                                d.accept(difficulty);
                            }
                            self.stats.accepted_difficulty += difficulty;
                            self.stats.accepted_difficulty_squared += difficulty * difficulty;
                            if share.is_block {
                                let block = AcceptedBlock {
                                    hash: share.hash,
                                    height: share.job.height,
                                    hashes: self.board.hashes(),
                                };
                                let (count, list) = if self.final_blocks {
                                    (&mut self.stats.blocks_accepted, &mut self.stats.blocks)
                                } else {
                                    (&mut self.stats.block_candidates, &mut self.stats.candidates)
                                };
                                *count += 1;
                                if list.len() < MAX_LISTED_BLOCKS {
                                    list.push(block);
                                }
                            }
                        }
                        Verdict::Rejected { reason, stale } => {
                            // A rejected block does not take its parent: another may win on it.
                            if share.is_block && self.last_block_parent == Some(share.job.prev_hash)
                            {
                                self.last_block_parent = None;
                            }
                            if let Some(d) = device.as_mut() {
                                d.rejected += 1;
                                d.stale += u64::from(stale);
                            }
                            if stale {
                                self.stats.stale += 1;
                            }
                            self.stats.reject(&reason);
                        }
                    }
                }
                Event::Notice(text) => {
                    let snap = self.snapshot();
                    status(&snap, Some(&text));
                }
            }
        }
        // A block in flight was rejected: the held job is work again.
        if !self.blocks_may_meet_the_limit() && !self.block_limit_met() {
            if let Some((job, clean)) = self.held_job.take() {
                self.install(job, clean);
            }
        }
        Ok(())
    }

    /// The index of the engine that found `share`, which is no longer awaiting its verdict.
    fn take_finder(&mut self, share: &Share) -> Option<usize> {
        self.finders
            .iter()
            .position(|(hash, _)| *hash == share.hash)
            .and_then(|i| self.finders.remove(i))
            .map(|(_, index)| index)
    }

    /// Writes the share log's line for a verdict, naming the engine that found the share.
    fn record(
        &mut self,
        share: &Share,
        verdict: &Verdict,
        finder: Option<usize>,
    ) -> Result<(), Error> {
        let Some(log) = &self.share_log else {
            return Ok(());
        };
        let engine = finder.map(|i| Finder {
            name: self.engine_names[i].clone(),
            index: i as u64,
        });
        // A panic elsewhere while the log was held leaves whole lines only.
        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.record(share, verdict, engine, self.final_blocks)
    }

    /// Whether the blocks awaiting a verdict would meet the block limit if accepted.
    fn blocks_may_meet_the_limit(&self) -> bool {
        self.blocks_in_flight > 0
            && self
                .block_limit
                .is_some_and(|n| self.blocks_taken() + self.blocks_in_flight >= n)
    }

    fn block_limit_met(&self) -> bool {
        self.block_limit.is_some_and(|n| self.blocks_taken() >= n)
    }

    /// What the block limit counts: accepted blocks, or behind a pool block candidates (the
    /// most a pool's answer can say).
    fn blocks_taken(&self) -> u64 {
        self.stats.blocks_accepted + self.stats.block_candidates
    }

    /// Makes `job` the board's work; `void_older` when a job held before it was clean.
    fn install(&mut self, job: Arc<Job>, void_older: bool) {
        let clean = job.clean || void_older;
        let difficulty = job.share_target.difficulty_float();
        let generation = self.board.install(job);
        if clean {
            self.clean_generation = generation;
        }
        self.stats.difficulty = Some(difficulty);
    }
}

/// The header of a found result: the unit built it already; only the found version and
/// nonce differ.
fn found_header(c: &Candidate) -> sha256d::Header {
    let mut header = c.header;
    header.version = c.found.version;
    header.nonce = c.found.nonce;
    header
}

#[cfg(test)]
mod tests;
