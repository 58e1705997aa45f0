//! The workers: one thread per engine, taking units from the newest job on the [`Board`] and
//! pushing what they find into the [`Results`] queue. A worker whose engine fails or panics
//! reports why and ends; the others go on.

use super::canary::{Canary, Outcome};
use super::results::{Candidate, Results};
use super::units::{cut_unit, unit_size, UNIT_RESULT_CAP, UNIT_TARGET};
use crate::power::{busy_slice, Duty, DutyGate, PERIOD};
use crate::Job;
use sha256d::engine::{Control, Engine};
use sha256d::{Error, ErrorKind};
use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What workers share with the coordinator.
pub(super) struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
    stop: AtomicBool,
    live_workers: AtomicUsize,
}

/// What one worker's engine did, outside the lock.
#[derive(Default)]
struct WorkerCounters {
    /// Hashes of its finished units (running ones are read from their controls).
    done_hashes: AtomicU64,
    hardware_errors: AtomicU64,
    known_answer_misses: AtomicU64,
    known_answers_passed: AtomicU64,
    found: AtomicU64,
}

/// One worker's counters as the coordinator reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct WorkerTally {
    pub(super) hashes: u64,
    pub(super) hardware_errors: u64,
    pub(super) known_answer_misses: u64,
    pub(super) known_answers_passed: u64,
    pub(super) found: u64,
    /// Whether the operator has it disabled.
    pub(super) disabled: bool,
}

struct BoardState {
    job: Option<Arc<Job>>,
    generation: u64,
    received: Instant,
    /// The longest any worker took to move onto a new job.
    switch_worst: Duration,
    next_unit: u64,
    running: Vec<Running>,
    /// By worker (engine) index; grows as engines join.
    counters: Vec<Arc<WorkerCounters>>,
    /// By worker index: whether the operator disabled it (see [`Board::set_disabled`]).
    disabled: Vec<bool>,
}

/// A unit being searched: its control, and how many hashes it holds (an engine is credited
/// with no more than that, whatever it reports).
struct Running {
    ctl: Arc<Control>,
    size: u64,
    worker: usize,
    started: Instant,
    /// A known-answer unit: no new job or duty cuts it short (it is no stale work, and one
    /// cut short is due again at once), only a halt does.
    known_answer: bool,
    /// When the worker's next known-answer unit is due: a unit still running then is cut
    /// short for it, or a slow device would go a whole unit unchecked.
    check_due: Option<Instant>,
}

impl Running {
    fn hashes(&self) -> u64 {
        self.ctl.hashes().min(self.size)
    }
}

impl Board {
    pub(super) fn new(workers: usize) -> Self {
        Board {
            state: Mutex::new(BoardState {
                job: None,
                generation: 0,
                received: Instant::now(),
                switch_worst: Duration::ZERO,
                next_unit: 0,
                running: Vec::new(),
                counters: (0..workers).map(|_| Arc::default()).collect(),
                disabled: vec![false; workers],
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            live_workers: AtomicUsize::new(workers),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BoardState> {
        // A worker that panicked mid-update leaves counters, not broken invariants.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hashes done so far, finished units and running ones.
    pub(super) fn hashes(&self) -> u64 {
        self.tallies().iter().map(|t| t.hashes).sum()
    }

    /// Each worker's counters, by index; hashes of finished units and running ones.
    pub(super) fn tallies(&self) -> Vec<WorkerTally> {
        let s = self.lock();
        // Under the lock, so a unit that just finished is counted once: in its worker's
        // finished hashes or among the running units, never both.
        let mut tallies: Vec<WorkerTally> = s
            .counters
            .iter()
            .map(|c| WorkerTally {
                hashes: c.done_hashes.load(Ordering::Relaxed),
                hardware_errors: c.hardware_errors.load(Ordering::Relaxed),
                known_answer_misses: c.known_answer_misses.load(Ordering::Relaxed),
                known_answers_passed: c.known_answers_passed.load(Ordering::Relaxed),
                found: c.found.load(Ordering::Relaxed),
                disabled: false,
            })
            .collect();
        for (tally, &disabled) in tallies.iter_mut().zip(&s.disabled) {
            tally.disabled = disabled;
        }
        for r in &s.running {
            tallies[r.worker].hashes += r.hashes();
        }
        tallies
    }

    pub(super) fn switch_worst(&self) -> Duration {
        self.lock().switch_worst
    }

    /// Makes room for one more worker (an engine that joined the run); returns its index.
    pub(super) fn add_worker(&self) -> usize {
        let mut s = self.lock();
        s.counters.push(Arc::default());
        s.disabled.push(false);
        self.live_workers.fetch_add(1, Ordering::Relaxed);
        s.counters.len() - 1
    }

    fn counters(&self, worker: usize) -> Arc<WorkerCounters> {
        Arc::clone(&self.lock().counters[worker])
    }

    /// Throttling to `duty` (`None`: none): cuts short every unit that has run longer than
    /// its slice, so each worker rests (in [`work`]) before its next. A unit is a whole nonce
    /// range, which a CPU takes a minute over: without this a lower duty would wait for the
    /// unit to end. Cuts short, too, every unit whose worker's known answer is due.
    pub(super) fn pace(&self, duty: Option<f64>) {
        let slice = duty.filter(|d| *d < 1.0).map(busy_slice);
        let now = Instant::now();
        for r in self.lock().running.iter().filter(|r| !r.known_answer) {
            let sliced = slice.is_some_and(|s| r.started.elapsed() >= s);
            if sliced || r.check_due.is_some_and(|at| now >= at) {
                r.ctl.cancel();
            }
        }
    }

    /// Disables the workers whose flag in `enabled` (by index) is `false` and enables the
    /// others. A worker just disabled has its unit cancelled, known-answer units too (a
    /// cancelled one is no miss), as a new job's would be; it takes no unit until enabled.
    pub(super) fn set_disabled(&self, enabled: &[bool]) {
        let mut s = self.lock();
        let s = &mut *s;
        for (worker, disabled) in s.disabled.iter_mut().enumerate() {
            // A device the flags do not cover yet is on, as a switch added for it would be.
            let off = !enabled.get(worker).copied().unwrap_or(true);
            if off && !*disabled {
                for r in s.running.iter().filter(|r| r.worker == worker) {
                    r.ctl.cancel();
                }
            }
            *disabled = off;
        }
        self.changed.notify_all();
    }

    /// Whether `worker` is disabled.
    fn is_disabled(&self, worker: usize) -> bool {
        self.lock().disabled[worker]
    }

    /// Whether the board has been halted.
    pub(super) fn halted(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Workers that have not ended yet.
    pub(super) fn live_workers(&self) -> usize {
        self.live_workers.load(Ordering::Relaxed)
    }

    /// Makes `job` the one every worker moves to; returns its generation.
    pub(super) fn install(&self, job: Arc<Job>) -> u64 {
        let mut s = self.lock();
        s.job = Some(job);
        s.generation += 1;
        s.received = Instant::now();
        s.next_unit = 0;
        for r in s.running.iter().filter(|r| !r.known_answer) {
            r.ctl.cancel();
        }
        self.changed.notify_all();
        s.generation
    }

    /// Stops every worker: running units are cancelled, no new one starts.
    pub(super) fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for r in &self.lock().running {
            r.ctl.cancel();
        }
        self.changed.notify_all();
    }

    /// The next unit for a worker that last saw `last_generation`, waiting while there is
    /// no job, the worker is paused on this one or it is disabled; `None` once the board is
    /// halted. The unit
    /// is registered (so a new job or a halt cancels it) under the same lock that hands it
    /// out; the returned guard credits its hashes and unregisters it when dropped, also when
    /// the engine panics.
    fn next(
        &self,
        worker: usize,
        paused_generation: Option<u64>,
        last_generation: &mut u64,
        roll_bits: u32,
        last_rest: Option<(Instant, Instant)>,
        check_due: Option<Instant>,
    ) -> Option<Next<'_>> {
        let mut s = self.lock();
        // When the worker began waiting here disabled, if it did.
        let mut off_since = None;
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            if s.disabled[worker] {
                off_since.get_or_insert_with(Instant::now);
            }
            match &s.job {
                Some(_) if paused_generation != Some(s.generation) && !s.disabled[worker] => break,
                _ => {
                    s = self
                        .changed
                        .wait_timeout(s, Duration::from_millis(200))
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
            }
        }
        if *last_generation != s.generation {
            *last_generation = s.generation;
            // Time the duty gate held the worker after the job came is the power policy's,
            // and time it was disabled the operator's, not a slow switch.
            let now = Instant::now();
            let after_job = |(from, to): (Instant, Instant)| {
                to.min(now).saturating_duration_since(from.max(s.received))
            };
            let held = last_rest.map_or(Duration::ZERO, after_job)
                + off_since.map_or(Duration::ZERO, |from| after_job((from, now)));
            let took = now
                .saturating_duration_since(s.received)
                .saturating_sub(held);
            s.switch_worst = s.switch_worst.max(took);
        }
        let job = Arc::clone(s.job.as_ref().expect("checked just above"));
        let index = s.next_unit;
        s.next_unit += 1;
        let ctl = Arc::new(Control::new());
        s.running.push(Running {
            ctl: Arc::clone(&ctl),
            size: unit_size(&job, roll_bits),
            worker,
            started: Instant::now(),
            known_answer: false,
            check_due,
        });
        Some(Next {
            generation: s.generation,
            since_job: s.received.elapsed(),
            index,
            job,
            guard: UnitGuard { board: self, ctl },
        })
    }

    /// Registers a known-answer unit of `worker`'s, so a halt cancels it; the guard credits
    /// it with no hashes (its size is 0): they are no work for the source.
    fn known_answer_unit(&self, worker: usize) -> UnitGuard<'_> {
        let ctl = Arc::new(Control::new());
        let mut s = self.lock();
        if self.stop.load(Ordering::Relaxed) || s.disabled[worker] {
            ctl.cancel();
        }
        s.running.push(Running {
            ctl: Arc::clone(&ctl),
            size: 0,
            worker,
            started: Instant::now(),
            known_answer: true,
            check_due: None,
        });
        UnitGuard { board: self, ctl }
    }
}

/// A unit handed to a worker.
struct Next<'a> {
    job: Arc<Job>,
    generation: u64,
    index: u64,
    since_job: Duration,
    guard: UnitGuard<'a>,
}

struct UnitGuard<'a> {
    board: &'a Board,
    ctl: Arc<Control>,
}

impl Drop for UnitGuard<'_> {
    fn drop(&mut self) {
        let mut s = self.board.lock();
        if let Some(i) = s
            .running
            .iter()
            .position(|r| Arc::ptr_eq(&r.ctl, &self.ctl))
        {
            let done = s.running.swap_remove(i);
            // Under the lock, so `tallies` never sees a unit counted twice or not at all.
            s.counters[done.worker]
                .done_hashes
                .fetch_add(done.hashes(), Ordering::Relaxed);
        }
    }
}

/// Counts a worker as ended when dropped, however it ends.
struct Alive<'a>(&'a Board);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.live_workers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How a worker paces its engine.
#[derive(Clone, Copy)]
pub(super) struct Pacing<'a> {
    /// Whether to stop on a job once a block is found on it (solo mining).
    pub(super) pause_after_block: bool,
    /// The fraction of the time it may hash; `None`: always.
    pub(super) duty: Option<&'a Duty>,
    /// See [`super::MineOptions::known_answer_every`].
    pub(super) known_answer_every: Option<Duration>,
}

/// One engine's thread: mines until the board halts. An engine error or panic ends only this
/// worker; it is reported on `failed` (at most one message per worker) before the worker
/// counts as ended.
pub(super) fn worker(
    (index, engine): (usize, &dyn Engine),
    board: &Board,
    results: &Results,
    failed: mpsc::Sender<(usize, Error)>,
    pacing: Pacing<'_>,
) {
    let _alive = Alive(board);
    // The engine is never called again after a panic, and the board and queue recover
    // their locks, so nothing observes a half-done update. (Catching needs panics to unwind,
    // which every profile of the workspace keeps.)
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        work((index, engine), board, results, pacing)
    }));
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => Error::new(e.kind(), format!("engine {} failed: {e}", engine.name())),
        Err(payload) => Error::new(
            ErrorKind::Device,
            format!(
                "engine {} panicked: {}",
                engine.name(),
                panic_text(payload.as_ref())
            ),
        ),
    };
    // The coordinator outlives every worker; if it is gone there is nobody to tell.
    let _ = failed.send((index, error));
}

fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

fn work(
    (engine_index, engine): (usize, &dyn Engine),
    board: &Board,
    results: &Results,
    pacing: Pacing<'_>,
) -> Result<(), Error> {
    let Pacing {
        pause_after_block,
        duty,
        known_answer_every,
    } = pacing;
    let mut canary = Canary::for_engine(engine, known_answer_every);
    let mut gate = DutyGate::new();
    // From the versions the engine hashes at once: fewer would repeat one version in its
    // slots, and on a slow device the units that would teach it more never end.
    let min_roll_bits = engine.versions_per_pass().max(1).ilog2();
    let mut roll_bits = min_roll_bits;
    let mut paused_generation = None;
    let mut last_generation = 0;
    let mut last_rest = None;
    let counters = board.counters(engine_index);
    loop {
        // Off: no unit is even begun (an engine hashes a batch before it sees a cancel).
        if let Some(duty) = duty.filter(|d| d.get() == 0.0) {
            last_rest = Some(timed_rest(&mut gate, Duration::ZERO, duty, &board.stop));
        }
        // Only once there is work: a canary is due on a device that mines, not one waiting
        // (nor one disabled: its silence is the operator's, no miss).
        let mining = last_generation != 0 && !board.is_disabled(engine_index);
        if let Some(canary) = canary.as_mut().filter(|c| mining && c.due()) {
            // Only a halt cancels one, and a cancelled one stays due: without this the worker
            // would retry it for ever instead of ending.
            if board.halted() {
                break;
            }
            let guard = board.known_answer_unit(engine_index);
            match canary.run(engine, &guard.ctl)? {
                Outcome::Missed => {
                    counters.known_answer_misses.fetch_add(1, Ordering::Relaxed);
                    if let Some(e) = canary.dropped() {
                        return Err(e);
                    }
                }
                Outcome::Passed => {
                    counters
                        .known_answers_passed
                        .fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Cancelled => {}
            }
            continue;
        }
        let Some(next) = board.next(
            engine_index,
            paused_generation,
            &mut last_generation,
            roll_bits,
            last_rest,
            canary.as_ref().map(Canary::due_at),
        ) else {
            break;
        };
        let Next {
            job,
            generation,
            index,
            since_job,
            guard,
        } = next;
        // Even ntime is used up: nothing to do until the next job.
        let Some(unit) = cut_unit(&job, index, roll_bits, since_job, UNIT_RESULT_CAP) else {
            paused_generation = Some(generation);
            continue;
        };
        let ctl = &guard.ctl;
        let started = Instant::now();
        let mut block_found = false;
        let result = engine.search_stream(&unit.work, ctl, &mut |f| {
            if block_found {
                return;
            }
            let is_block = job.block_target.is_met_by(&f.hash);
            if pause_after_block && is_block {
                block_found = true;
                ctl.cancel();
            }
            counters.found.fetch_add(1, Ordering::Relaxed);
            results.push(Candidate {
                job: Arc::clone(&job),
                generation,
                extranonce2: unit.extranonce2.clone(),
                header: *unit.work.header(),
                found: *f,
                is_block,
                engine: engine_index,
            });
        });
        drop(guard);
        // Throttled: rest for the slice's share, or while the duty is 0 (off).
        if let Some(duty) = duty.filter(|d| d.get() < 1.0) {
            // A unit begun at full duty ran unthrottled until the pacer cut it: only the
            // last cycle's worth of it is owed rest.
            let busy = started.elapsed().min(PERIOD);
            last_rest = Some(timed_rest(&mut gate, busy, duty, &board.stop));
        }
        if block_found {
            paused_generation = Some(generation);
        }
        match result {
            Ok(summary) => {
                counters
                    .hardware_errors
                    .fetch_add(summary.hardware_errors, Ordering::Relaxed);
                counters
                    .known_answer_misses
                    .fetch_add(summary.known_answer_misses, Ordering::Relaxed);
                counters
                    .known_answers_passed
                    .fetch_add(summary.known_answers_passed, Ordering::Relaxed);
                let took = started.elapsed();
                // No mask has more than 32 bits to roll.
                if !summary.cancelled && took < UNIT_TARGET / 2 && roll_bits < 32 {
                    roll_bits += 1;
                } else if took > UNIT_TARGET * 4 && roll_bits > min_roll_bits {
                    roll_bits -= 1;
                }
            }
            // The unit delivered its cap; the next one is as good.
            Err(e) if e.kind() == ErrorKind::TooManyResults => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// [`DutyGate::rest`], returning when the rest began and ended.
fn timed_rest(
    gate: &mut DutyGate,
    busy: Duration,
    duty: &Duty,
    stop: &AtomicBool,
) -> (Instant, Instant) {
    let from = Instant::now();
    gate.rest(busy, duty, stop);
    (from, Instant::now())
}
