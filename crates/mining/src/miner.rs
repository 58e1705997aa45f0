//! The share pipeline: a source's jobs become engine work, the engines' (host-verified) results
//! become shares and blocks, and the source's verdicts become counters.
//!
//! One worker thread per engine takes work units from the newest job. A unit is one coinbase
//! (extranonce2) and ntime, the whole nonce range, and as many rolled versions as keep a unit
//! near a second on that engine, so a slow CPU and a fast GPU both switch jobs promptly. When a
//! job arrives every running unit is cancelled; engines stop within milliseconds.

use super::{hash_difficulty, Event, Job, Share, Source, Verdict};
use sha256d::engine::{Control, Engine};
use sha256d::{deposit, Error, ErrorKind, Found, Hash, Header, Work};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// When `mine` stops, and how often it reports.
#[derive(Clone, Debug)]
pub struct MineOptions {
    /// Stop after this many accepted shares.
    pub shares: Option<u64>,
    /// Stop after this many accepted blocks.
    pub blocks: Option<u64>,
    /// Stop after this long.
    pub time: Option<Duration>,
    /// How often the status callback runs.
    pub status_every: Duration,
    /// How long to wait for verdicts on shares still in flight when stopping.
    pub drain: Duration,
    /// Set from outside (a signal handler, another thread) to stop as if a limit was reached.
    pub stop: Option<Arc<AtomicBool>>,
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
        }
    }
}

/// The counters of a mining session.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Where the work came from.
    pub source: String,
    /// The engines that hashed.
    pub engines: Vec<String>,
    /// Time since mining started.
    pub elapsed: Duration,
    /// Hashes done, all engines together.
    pub hashes: u64,
    /// Jobs the source sent.
    pub jobs: u64,
    /// The longest an engine took to drop its work and start on a newly arrived job (the
    /// time to stop its unit, mostly).
    pub job_switch_worst: Duration,
    /// Submissions the peer accepted.
    pub accepted: u64,
    /// Submissions the peer rejected, by the peer's reason.
    pub rejected: BTreeMap<String, u64>,
    /// Shares whose job was void before they could be submitted (dropped here), plus
    /// rejections the peer gave as stale.
    pub stale: u64,
    /// Results an engine reported that the host re-hash disproved.
    pub hardware_errors: u64,
    /// The highest difficulty among the shares found.
    pub best_share_difficulty: f64,
    /// The share difficulty of the newest job.
    pub difficulty: Option<f64>,
    /// The sum of the difficulties the accepted shares were submitted at: the proof of work.
    pub accepted_difficulty: f64,
    /// Shares that also met the network target and were submitted.
    pub blocks_found: u64,
    /// Blocks the peer accepted.
    pub blocks_accepted: u64,
    /// The first [`MAX_LISTED_BLOCKS`] accepted blocks, in order (`blocks_accepted` counts
    /// them all).
    pub blocks: Vec<AcceptedBlock>,
}

/// How many accepted blocks [`Stats::blocks`] lists. Behind a pool on regtest nearly every
/// share is a block: the list must not grow for as long as the miner runs.
pub const MAX_LISTED_BLOCKS: usize = 1000;

/// A block the peer accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptedBlock {
    /// Its hash.
    pub hash: Hash,
    /// Its height, where the source knew it.
    pub height: Option<u64>,
    /// Hashes done in the session when it was accepted (the difference between two blocks is
    /// what the second took).
    pub hashes: u64,
}

impl Stats {
    /// Hashes per second, measured.
    pub fn hashrate(&self) -> f64 {
        rate(self.hashes as f64, self.elapsed)
    }

    /// Hashes per second as the accepted shares prove it: each share of difficulty `d` stands
    /// for `d * 2^32` hashes on average.
    pub fn proven_hashrate(&self) -> f64 {
        rate(self.accepted_difficulty * 4_294_967_296.0, self.elapsed)
    }

    /// How many submissions were rejected, all reasons together.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

fn rate(amount: f64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        amount / secs
    } else {
        0.0
    }
}

/// A result on its way from a worker to the coordinator.
struct Candidate {
    job: Arc<Job>,
    generation: u64,
    extranonce2: Vec<u8>,
    /// The unit's header (its version and nonce are the found ones').
    header: Header,
    found: Found,
}

/// What workers share with the coordinator.
struct Board {
    state: Mutex<BoardState>,
    changed: Condvar,
    stop: AtomicBool,
    done_hashes: AtomicU64,
    hardware_errors: AtomicU64,
}

struct BoardState {
    job: Option<Arc<Job>>,
    generation: u64,
    received: Instant,
    /// The longest any worker took to move onto a new job.
    switch_worst: Duration,
    next_unit: u64,
    running: Vec<Arc<Control>>,
}

impl Board {
    fn lock(&self) -> MutexGuard<'_, BoardState> {
        // A worker that panicked mid-update leaves counters, not broken invariants.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn hashes(&self) -> u64 {
        let running: u64 = self.lock().running.iter().map(|c| c.hashes()).sum();
        self.done_hashes.load(Ordering::Relaxed) + running
    }

    fn install(&self, job: Arc<Job>) -> u64 {
        let mut s = self.lock();
        s.job = Some(job);
        s.generation += 1;
        s.received = Instant::now();
        s.next_unit = 0;
        for c in &s.running {
            c.cancel();
        }
        self.changed.notify_all();
        s.generation
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in &self.lock().running {
            c.cancel();
        }
        self.changed.notify_all();
    }
}

/// One unit of work cut from a job.
struct Unit {
    extranonce2: Vec<u8>,
    work: Work,
}

/// Cuts unit `index` of `job`: the lowest `roll_bits` mask bits roll inside the unit, the
/// others and then extranonce2 count up from unit to unit, and ntime follows the clock (plus
/// one second each time the extranonce2 space runs out). `None` once even ntime is exhausted.
fn cut_unit(
    job: &Job,
    index: u64,
    roll_bits: u32,
    since_job: Duration,
    max_results: usize,
) -> Option<Unit> {
    let mask = job.version_mask;
    let roll_bits = roll_bits.min(mask.count_ones());
    let inner = lowest_set_bits(mask, roll_bits);
    let outer = mask & !inner;
    let outer_count = 1u128 << outer.count_ones();
    let en2_bits = 8 * job.extranonce2_size as u32;
    let en2_count = 1u128 << en2_bits.min(64);
    let index = u128::from(index);
    let outer_index = (index % outer_count) as u64;
    let en2_index = index / outer_count;
    let bump = en2_index / en2_count;
    let ntime = u64::from(job.ntime) + since_job.as_secs() + u64::try_from(bump).ok()?;
    if ntime > u64::from(job.ntime_max) {
        return None;
    }
    let en2 = ((en2_index % en2_count) as u64).to_le_bytes()[..job.extranonce2_size.min(8)]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(
            0,
            job.extranonce2_size.saturating_sub(8),
        ))
        .collect::<Vec<u8>>();
    let mut header = job.header(&en2, ntime as u32);
    header.version = (job.version & !outer) | deposit(outer_index, outer);
    let work = Work::new(header, job.share_target)
        .with_version_rolling(inner, 1 << inner.count_ones())
        .expect("a mask's own bit count always fits its roll count")
        .with_max_results(max_results);
    Some(Unit {
        extranonce2: en2,
        work,
    })
}

/// The lowest `n` set bits of `mask`.
fn lowest_set_bits(mask: u32, n: u32) -> u32 {
    let mut rest = mask;
    for _ in 0..n {
        rest &= rest.wrapping_sub(1);
    }
    mask & !rest
}

/// Results one unit may deliver before it is cut short: past this the share difficulty is far
/// below what the engine can usefully submit, and the next unit is as good.
const UNIT_RESULT_CAP: usize = 4096;

/// A unit should take about this long: long enough that setup is noise, short enough that
/// the rolled versions and ntime stay fresh.
const UNIT_TARGET: Duration = Duration::from_secs(1);

fn worker(
    engine: &dyn Engine,
    board: &Board,
    found: mpsc::Sender<Candidate>,
    failed: mpsc::Sender<Error>,
    pause_after_block: bool,
) {
    let mut roll_bits = 0u32;
    let mut paused_generation = None;
    let mut last_generation = 0;
    loop {
        let (job, generation, index, since_job, ctl) = {
            let mut s = board.lock();
            loop {
                if board.stop.load(Ordering::Relaxed) {
                    return;
                }
                match &s.job {
                    Some(_) if paused_generation != Some(s.generation) => break,
                    _ => {
                        s = board
                            .changed
                            .wait_timeout(s, Duration::from_millis(200))
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                }
            }
            if last_generation != s.generation {
                last_generation = s.generation;
                s.switch_worst = s.switch_worst.max(s.received.elapsed());
            }
            let job = Arc::clone(s.job.as_ref().expect("checked just above"));
            let index = s.next_unit;
            s.next_unit += 1;
            let ctl = Arc::new(Control::new());
            s.running.push(Arc::clone(&ctl));
            (job, s.generation, index, s.received.elapsed(), ctl)
        };
        let started = Instant::now();
        let outcome = match cut_unit(&job, index, roll_bits, since_job, UNIT_RESULT_CAP) {
            Some(unit) => {
                let mut block_found = false;
                let result = engine.search_stream(&unit.work, &ctl, &mut |f| {
                    if block_found {
                        return;
                    }
                    if pause_after_block && job.block_target.is_met_by(&f.hash) {
                        block_found = true;
                        ctl.cancel();
                    }
                    // The coordinator outlives every worker; a closed channel means it is
                    // stopping, and there is nobody left to tell.
                    let _ = found.send(Candidate {
                        job: Arc::clone(&job),
                        generation,
                        extranonce2: unit.extranonce2.clone(),
                        header: *unit.work.header(),
                        found: *f,
                    });
                });
                if block_found {
                    paused_generation = Some(generation);
                }
                Some(result)
            }
            // Even ntime is used up: nothing to do until the next job.
            None => {
                paused_generation = Some(generation);
                None
            }
        };
        {
            let mut s = board.lock();
            s.running.retain(|c| !Arc::ptr_eq(c, &ctl));
        }
        board.done_hashes.fetch_add(ctl.hashes(), Ordering::Relaxed);
        match outcome {
            Some(Ok(summary)) => {
                board
                    .hardware_errors
                    .fetch_add(summary.hardware_errors, Ordering::Relaxed);
                let took = started.elapsed();
                if !summary.cancelled && took < UNIT_TARGET / 2 {
                    roll_bits += 1;
                } else if took > UNIT_TARGET * 4 && roll_bits > 0 {
                    roll_bits -= 1;
                }
            }
            Some(Err(e)) if e.kind() == ErrorKind::TooManyResults => {}
            Some(Err(e)) => {
                let _ = failed.send(Error::new(
                    e.kind(),
                    format!("engine {} failed: {e}", engine.name()),
                ));
                return;
            }
            None => {}
        }
    }
}

/// Mines `source`'s jobs on `engines` until a limit in `options` is reached, calling `status`
/// every `options.status_every`, with each notice the source gives, and once at the end. Returns the final
/// counters; an `Err` means the source gave up (see [`Source::poll`]) or every engine failed.
pub fn mine(
    source: &mut dyn Source,
    engines: &[Box<dyn Engine>],
    options: &MineOptions,
    status: &mut dyn FnMut(&Stats, Option<&str>),
) -> Result<Stats, Error> {
    if engines.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "no engine to mine with",
        ));
    }
    let board = Board {
        state: Mutex::new(BoardState {
            job: None,
            generation: 0,
            received: Instant::now(),
            switch_worst: Duration::ZERO,
            next_unit: 0,
            running: Vec::new(),
        }),
        changed: Condvar::new(),
        stop: AtomicBool::new(false),
        done_hashes: AtomicU64::new(0),
        hardware_errors: AtomicU64::new(0),
    };
    let pause_after_block = source.pause_after_block();
    let (found_tx, found_rx) = mpsc::channel();
    let (failed_tx, failed_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        for engine in engines {
            let (board, found, failed) = (&board, found_tx.clone(), failed_tx.clone());
            scope.spawn(move || worker(engine.as_ref(), board, found, failed, pause_after_block));
        }
        drop((found_tx, failed_tx));
        let mut coordinator = Coordinator {
            source,
            board: &board,
            stats: Stats {
                source: String::new(),
                engines: engines.iter().map(|e| e.name().to_string()).collect(),
                ..Stats::default()
            },
            started: Instant::now(),
            clean_generation: 0,
            last_block_parent: None,
            in_flight: 0,
            live_engines: engines.len(),
        };
        let result = coordinator.run(options, &found_rx, &failed_rx, status);
        board.halt();
        result
    })
}

/// How many results the coordinator submits between two polls of the source.
const CANDIDATES_PER_TURN: usize = 16;

struct Coordinator<'a> {
    source: &'a mut dyn Source,
    board: &'a Board,
    stats: Stats,
    started: Instant,
    clean_generation: u64,
    /// Solo: the parent of the last block submitted; a second block on it cannot win.
    last_block_parent: Option<[u8; 32]>,
    in_flight: u64,
    live_engines: usize,
}

impl Coordinator<'_> {
    fn run(
        &mut self,
        options: &MineOptions,
        found: &mpsc::Receiver<Candidate>,
        failed: &mpsc::Receiver<Error>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) -> Result<Stats, Error> {
        let mut last_status = Instant::now();
        loop {
            let events = self.source.poll(Duration::from_millis(20))?;
            self.handle(events, status);
            // A few results per turn, so a burst of easy shares cannot delay a new job.
            for c in found.try_iter().take(CANDIDATES_PER_TURN) {
                let events = self.candidate(c)?;
                self.handle(events, status);
            }
            while let Ok(e) = failed.try_recv() {
                self.live_engines -= 1;
                status(&self.snapshot(), Some(&e.to_string()));
                if self.live_engines == 0 {
                    return Err(e);
                }
            }
            if self.limit_reached(options) {
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
        let deadline = Instant::now() + options.drain;
        while Instant::now() < deadline {
            while let Ok(c) = found.try_recv() {
                let events = self.candidate(c)?;
                self.handle(events, status);
            }
            if self.in_flight == 0 {
                break;
            }
            let events = self.source.poll(Duration::from_millis(20))?;
            self.handle(events, status);
        }
        let last = self.snapshot();
        status(&last, None);
        Ok(last)
    }

    fn limit_reached(&self, options: &MineOptions) -> bool {
        options.shares.is_some_and(|n| self.stats.accepted >= n)
            || options
                .blocks
                .is_some_and(|n| self.stats.blocks_accepted >= n)
            || options.time.is_some_and(|t| self.started.elapsed() >= t)
            || options
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn snapshot(&mut self) -> Stats {
        self.stats.elapsed = self.started.elapsed();
        self.stats.hashes = self.board.hashes();
        self.stats.hardware_errors = self.board.hardware_errors.load(Ordering::Relaxed);
        self.stats.job_switch_worst = self.board.lock().switch_worst;
        self.stats.source = self.source.describe();
        self.stats.clone()
    }

    fn candidate(&mut self, c: Candidate) -> Result<Vec<Event>, Error> {
        // The unit built this header already; only the found version and nonce differ.
        let mut header = c.header;
        header.version = c.found.version;
        header.nonce = c.found.nonce;
        let is_block = c.job.block_target.is_met_by(&c.found.hash);
        let stale = c.generation < self.clean_generation;
        let difficulty = hash_difficulty(&c.found.hash);
        if difficulty > self.stats.best_share_difficulty {
            self.stats.best_share_difficulty = difficulty;
        }
        if stale && !is_block {
            self.stats.stale += 1;
            return Ok(Vec::new());
        }
        if is_block && self.source.pause_after_block() {
            if self.last_block_parent == Some(c.job.prev_hash) {
                self.stats.stale += 1;
                return Ok(Vec::new());
            }
            self.last_block_parent = Some(c.job.prev_hash);
        }
        if is_block {
            self.stats.blocks_found += 1;
        }
        self.in_flight += 1;
        self.source.submit(Share {
            job: c.job,
            extranonce2: c.extranonce2,
            header,
            hash: c.found.hash,
            is_block,
            stale,
        })
    }

    fn handle(&mut self, events: Vec<Event>, status: &mut dyn FnMut(&Stats, Option<&str>)) {
        for event in events {
            match event {
                Event::Job(job) => {
                    self.stats.jobs += 1;
                    let clean = job.clean;
                    let difficulty = job.share_target.difficulty_float();
                    let generation = self.board.install(job);
                    if clean {
                        self.clean_generation = generation;
                    }
                    self.stats.difficulty = Some(difficulty);
                }
                // It applies from the next job, which carries it as its share target.
                Event::Difficulty(_) => {}
                Event::Verdict { share, verdict } => {
                    self.in_flight = self.in_flight.saturating_sub(1);
                    match verdict {
                        Verdict::Accepted => {
                            self.stats.accepted += 1;
                            self.stats.accepted_difficulty +=
                                share.job.share_target.difficulty_float();
                            if share.is_block {
                                self.stats.blocks_accepted += 1;
                                if self.stats.blocks.len() < MAX_LISTED_BLOCKS {
                                    self.stats.blocks.push(AcceptedBlock {
                                        hash: share.hash,
                                        height: share.job.height,
                                        hashes: self.board.hashes(),
                                    });
                                }
                            }
                        }
                        Verdict::Rejected { reason, stale } => {
                            if stale {
                                self.stats.stale += 1;
                            }
                            *self.stats.rejected.entry(reason).or_default() += 1;
                        }
                    }
                }
                Event::Notice(text) => {
                    let snap = self.snapshot();
                    status(&snap, Some(&text));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d::{CompactTarget, Target};
    use std::collections::{HashSet, VecDeque};

    fn job(id: &str, prev: u8, mask: u32, difficulty: f64, clean: bool) -> Job {
        Job {
            id: id.into(),
            prev_hash: [prev; 32],
            coinb1: vec![1, 0, 0, 0, 1, prev],
            extranonce1: vec![0xe1, 0xe2],
            coinb2: vec![0xff, 0xff, 0xff, 0xff, 0],
            merkle_branch: vec![[7; 32], [9; 32]],
            version_mask: mask,
            ntime: 1_700_000_000,
            ntime_max: 1_700_007_000,
            share_target: Target::from_difficulty(difficulty).expect("positive difficulty"),
            block_target: Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff))
                .expect("valid bits"),
            clean,
            ..Job::blank()
        }
    }

    /// What a scripted source queues after the n-th submission.
    type AfterVerdict = Box<dyn FnMut(&Share, usize) -> Vec<Event> + Send>;

    /// A scripted source: hands out queued events, accepts every share, and can queue more
    /// events after each verdict.
    struct Script {
        queue: VecDeque<Event>,
        submitted: Vec<(usize, Share)>,
        emitted_jobs: usize,
        after_verdict: AfterVerdict,
        solo: bool,
    }

    impl Source for Script {
        fn poll(&mut self, _timeout: Duration) -> Result<Vec<Event>, Error> {
            let events: Vec<Event> = self.queue.drain(..).collect();
            self.emitted_jobs += events.iter().filter(|e| matches!(e, Event::Job(_))).count();
            Ok(events)
        }

        fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
            self.submitted.push((self.emitted_jobs, share.clone()));
            let more = (self.after_verdict)(&share, self.submitted.len());
            self.queue.extend(more);
            Ok(vec![Event::Verdict {
                share,
                verdict: Verdict::Accepted,
            }])
        }

        fn pause_after_block(&self) -> bool {
            self.solo
        }

        fn describe(&self) -> String {
            "script".into()
        }
    }

    fn portable() -> Vec<Box<dyn Engine>> {
        vec![sha256d::open("portable", &sha256d::Options::default()).expect("portable always runs")]
    }

    /// An independent check of a share: rust-bitcoin hashes the header and compares it with
    /// the share target; the merkle root is rebuilt from the coinbase.
    fn check(share: &Share) {
        use bitcoin::hashes::Hash as _;
        let h: bitcoin::block::Header =
            bitcoin::consensus::deserialize(&share.header.to_bytes()).expect("80 bytes");
        assert_eq!(h.block_hash().to_byte_array(), share.hash.0);
        let target = bitcoin::Target::from_le_bytes(share.job.share_target.to_le_bytes());
        assert!(target.is_met_by(h.block_hash()), "share misses its target");
        assert_eq!(
            share.header.merkle_root,
            share.job.merkle_root(&share.extranonce2)
        );
        assert_eq!(share.extranonce2.len(), share.job.extranonce2_size);
        let j = &share.job;
        assert_eq!(share.header.version & !j.version_mask, j.version);
        assert!(share.header.time >= j.ntime && share.header.time <= j.ntime_max);
        assert_eq!(share.header.prev_blockhash, j.prev_hash);
    }

    #[test]
    fn shares_are_valid_distinct_and_the_share_limit_stops() {
        let mut source = Script {
            queue: VecDeque::from([Event::Job(Arc::new(job("a", 1, 0x1fff_e000, 1e-7, true)))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(|_, _| Vec::new()),
            solo: false,
        };
        let options = MineOptions {
            shares: Some(40),
            ..MineOptions::default()
        };
        let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert!(stats.accepted >= 40, "{stats:?}");
        assert_eq!(stats.accepted, source.submitted.len() as u64);
        assert!(stats.hashes > 0 && stats.hashrate() > 0.0);
        assert!((stats.proven_hashrate() - stats.hashrate()).abs() < stats.hashrate() * 10.0);
        let mut seen = HashSet::new();
        for (_, share) in &source.submitted {
            check(share);
            assert!(
                seen.insert((
                    share.extranonce2.clone(),
                    share.header.version,
                    share.header.nonce
                )),
                "the same share was submitted twice"
            );
        }
    }

    #[test]
    fn a_clean_job_voids_older_work_at_once() {
        let mut source = Script {
            queue: VecDeque::from([Event::Job(Arc::new(job("a", 1, 0, 1e-7, true)))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(|_, n| {
                if n == 3 {
                    vec![Event::Job(Arc::new(job("b", 2, 0, 1e-7, true)))]
                } else {
                    Vec::new()
                }
            }),
            solo: false,
        };
        let options = MineOptions {
            shares: Some(30),
            ..MineOptions::default()
        };
        let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
        for (jobs_seen, share) in &source.submitted {
            check(share);
            if *jobs_seen == 2 {
                assert_eq!(share.job.id, "b", "a share of the voided job was submitted");
            }
        }
        assert!(source.submitted.iter().any(|(_, s)| s.job.id == "b"));
        assert!(
            stats.job_switch_worst < Duration::from_secs(1),
            "{:?}",
            stats.job_switch_worst
        );
        assert_eq!(stats.accepted, source.submitted.len() as u64);
    }

    #[test]
    fn solo_mining_submits_one_block_per_parent() {
        let mut solo = job("t1", 1, 0, 1.0, true);
        // Regtest: half of all hashes are blocks.
        solo.block_target =
            Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)).expect("valid bits");
        solo.share_target = solo.block_target;
        let next = solo.clone();
        let mut source = Script {
            queue: VecDeque::from([Event::Job(Arc::new(solo))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(move |share, n| {
                let mut j = next.clone();
                j.id = format!("t{}", n + 1);
                j.prev_hash = share.hash.0;
                vec![Event::Job(Arc::new(j))]
            }),
            solo: true,
        };
        let options = MineOptions {
            blocks: Some(3),
            ..MineOptions::default()
        };
        let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert_eq!(stats.blocks_accepted, 3);
        assert_eq!(source.submitted.len(), 3, "one block per parent");
        for (i, (_, share)) in source.submitted.iter().enumerate() {
            assert!(share.is_block);
            check(share);
            if i > 0 {
                assert_eq!(
                    share.header.prev_blockhash,
                    source.submitted[i - 1].1.hash.0
                );
            }
        }
        assert_eq!(
            stats.blocks.iter().map(|b| b.hash).collect::<Vec<_>>(),
            source
                .submitted
                .iter()
                .map(|(_, s)| s.hash)
                .collect::<Vec<_>>()
        );
        assert!(stats.blocks.windows(2).all(|w| w[0].hashes <= w[1].hashes));
    }

    #[test]
    fn the_block_list_stays_bounded() {
        // A regtest job behind a pool: every share is also a block.
        let mut every = job("r", 1, 0, 1e-7, true);
        every.block_target = every.share_target;
        let mut source = Script {
            queue: VecDeque::from([Event::Job(Arc::new(every))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(|_, _| Vec::new()),
            solo: false,
        };
        let limit = MAX_LISTED_BLOCKS as u64 + 10;
        let options = MineOptions {
            shares: Some(limit),
            ..MineOptions::default()
        };
        let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert!(stats.blocks_accepted >= limit, "{}", stats.blocks_accepted);
        assert_eq!(stats.blocks.len(), MAX_LISTED_BLOCKS);
        assert_eq!(stats.blocks[0].hash, source.submitted[0].1.hash);
    }

    #[test]
    fn units_cover_versions_and_extranonces_without_overlap() {
        let mut j = job("u", 1, 0x0000_6000 | 0x0001_0000, 1.0, true);
        j.extranonce2_size = 1;
        let mut seen = HashSet::new();
        // 3 mask bits, 1 rolled inside each unit: 4 outer versions x 256 extranonces per ntime.
        for index in 0..(4 * 256 * 2) {
            let unit = cut_unit(&j, index, 1, Duration::ZERO, 10).expect("within ntime");
            assert_eq!(unit.work.rolls(), 2);
            assert_eq!(unit.work.version_mask(), 0x2000);
            for k in 0..2 {
                let key = (
                    unit.extranonce2.clone(),
                    unit.work.header().time,
                    unit.work.version(k),
                );
                assert!(seen.insert(key), "unit {index} repeats work");
            }
            assert_eq!(unit.work.header().time, j.ntime + (index / 1024) as u32);
        }
        assert!(cut_unit(&j, 0, 0, Duration::from_secs(7001), 10).is_none());
        let whole = cut_unit(&j, 0, 32, Duration::ZERO, 10).expect("within ntime");
        assert_eq!(whole.work.rolls(), 8);
    }
}
