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

mod results;
mod stats;
mod units;
mod worker;

pub use results::{MAX_WAITING_BLOCKS, MAX_WAITING_SHARES};
pub use stats::{
    AcceptedBlock, DropReason, Stats, MAX_LISTED_BLOCKS, MAX_REJECT_REASONS, OTHER_REASONS,
};

use crate::{hash_difficulty, Event, Share, Source, Verdict};
use results::{Candidate, Results, Take};
use sha256d::engine::Engine;
use sha256d::{Error, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use worker::{worker, Board};

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
    /// How long to wait for verdicts on shares still in flight when stopping at a limit.
    pub drain: Duration,
    /// Set from outside (a signal handler, another thread) to stop as if a limit was reached,
    /// but sooner: verdicts are awaited for at most [`STOP_GRACE`], also when it is set while
    /// a limit's drain is under way.
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

/// How long one turn of the coordinator waits for the source when there is nothing to do.
const TURN: Duration = Duration::from_millis(20);

/// How many results the coordinator takes from the queue between two polls of the source,
/// so a burst of easy shares cannot delay a new job. While more wait (and the source has room
/// for them) the next poll does not wait.
const CANDIDATES_PER_TURN: usize = 16;

/// Mines `source`'s jobs on `engines` until a limit in `options` is reached, the stop flag is
/// set or every engine has failed, calling `status` every `options.status_every`, with each
/// notice (a source's, an engine failure), and once at the end. Returns the final counters;
/// an engine that fails or panics is listed in [`Stats::engine_failures`] and the others go
/// on. An `Err` means the source gave up (see [`Source::poll`]).
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
    let board = Board::new(engines.len());
    let results = Results::default();
    let pause_after_block = source.pause_after_block();
    // Each worker sends at most one message, so this channel holds at most one per engine.
    let (failed_tx, failed_rx) = mpsc::channel();
    let mut coordinator = Coordinator {
        source,
        board: &board,
        results: &results,
        stats: Stats {
            engines: engines.iter().map(|e| e.name().to_string()).collect(),
            ..Stats::default()
        },
        started: Instant::now(),
        clean_generation: 0,
        last_block_parent: None,
        in_flight: 0,
        stop_seen: None,
    };
    let outcome = std::thread::scope(|scope| {
        // However the coordinator ends (an error, a panic in `status`), the workers must be
        // let go, or the scope never ends.
        let _release = Release(&board, &results);
        for engine in engines {
            let (board, results, failed) = (&board, &results, failed_tx.clone());
            scope.spawn(move || worker(engine.as_ref(), board, results, failed, pause_after_block));
        }
        drop(failed_tx);
        coordinator.run(options, &failed_rx, status)
    });
    outcome?;
    // Every worker has ended: what is still queued was found but never submitted.
    coordinator.finish(&failed_rx, status);
    Ok(coordinator.stats)
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
    /// When the stop flag was first seen set.
    stop_seen: Option<Instant>,
}

impl Coordinator<'_> {
    fn run(
        &mut self,
        options: &MineOptions,
        failed: &mpsc::Receiver<Error>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) -> Result<(), Error> {
        let mut last_status = Instant::now();
        loop {
            let wait = if self.can_submit() {
                Duration::ZERO
            } else {
                TURN
            };
            let events = self.source.poll(wait)?;
            self.handle(events, status);
            self.submit_waiting(status)?;
            self.engine_failures(failed, status);
            if self.limit_reached(options) || self.stats.every_engine_failed() {
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
            let events = self.source.poll(TURN.min(left))?;
            self.handle(events, status);
        }
        Ok(())
    }

    /// Accounts for what the run left behind, once every worker has ended.
    fn finish(
        &mut self,
        failed: &mpsc::Receiver<Error>,
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
                sha256d::hex::encode(&found_header(c).to_bytes())
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
            || options
                .blocks
                .is_some_and(|n| self.stats.blocks_accepted >= n)
            || options.time.is_some_and(|t| self.started.elapsed() >= t)
            || self.stopped(options).is_some()
    }

    fn engine_failures(
        &mut self,
        failed: &mpsc::Receiver<Error>,
        status: &mut dyn FnMut(&Stats, Option<&str>),
    ) {
        while let Ok(e) = failed.try_recv() {
            self.stats.engine_failures.push(e.to_string());
            let left = self.stats.engines.len() - self.stats.engine_failures.len();
            let text = if left == 0 {
                format!("{e}; no engine is left, stopping")
            } else {
                format!("{e}; mining goes on with {left} engine(s)")
            };
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
            self.handle(events, status);
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Stats {
        self.stats.elapsed = self.started.elapsed();
        self.stats.hashes = self.board.hashes();
        self.stats.hardware_errors = self.board.hardware_errors();
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
            self.stats.drop_result(DropReason::Stale, 1);
            return Ok(Vec::new());
        }
        if c.is_block && self.source.pause_after_block() {
            if self.last_block_parent == Some(c.job.prev_hash) {
                self.stats.stale += 1;
                self.stats.drop_result(DropReason::SecondBlock, 1);
                return Ok(Vec::new());
            }
            self.last_block_parent = Some(c.job.prev_hash);
        }
        if c.is_block {
            self.stats.blocks_found += 1;
        }
        self.in_flight += 1;
        self.stats.shares_submitted += 1;
        self.source.submit(Share {
            job: c.job,
            extranonce2: c.extranonce2,
            header,
            hash: c.found.hash,
            is_block: c.is_block,
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
                            self.stats.reject(reason);
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

/// The header of a found result: the unit built it already; only the found version and
/// nonce differ.
fn found_header(c: &Candidate) -> sha256d::Header {
    let mut header = c.header;
    header.version = c.found.version;
    header.nonce = c.found.nonce;
    header
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;
    use sha256d::{CompactTarget, Target};
    use std::collections::{HashSet, VecDeque};
    use std::sync::atomic::AtomicU64;

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

    /// A source that answers as a pool over a slow link does: verdicts come from `poll`, at
    /// most `answers` every 20 ms (0: never), and it records how many submissions it ever
    /// held unanswered.
    struct Slow {
        queue: VecDeque<Event>,
        pending: VecDeque<Share>,
        answers: usize,
        last_answers: Instant,
        most_unanswered: usize,
        submitted: u64,
    }

    impl Slow {
        fn new(job: Job, answers: usize) -> Self {
            Slow {
                queue: VecDeque::from([Event::Job(Arc::new(job))]),
                pending: VecDeque::new(),
                answers,
                last_answers: Instant::now(),
                most_unanswered: 0,
                submitted: 0,
            }
        }
    }

    impl Source for Slow {
        fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
            let mut events: Vec<Event> = self.queue.drain(..).collect();
            if self.last_answers.elapsed() >= Duration::from_millis(20) {
                self.last_answers = Instant::now();
                let n = self.answers.min(self.pending.len());
                events.extend(self.pending.drain(..n).map(|share| Event::Verdict {
                    share,
                    verdict: Verdict::Accepted,
                }));
            }
            if events.is_empty() {
                std::thread::sleep(timeout);
            }
            Ok(events)
        }

        fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
            self.submitted += 1;
            self.pending.push_back(share);
            self.most_unanswered = self.most_unanswered.max(self.pending.len());
            Ok(Vec::new())
        }

        fn describe(&self) -> String {
            "slow".into()
        }
    }

    /// Every hash meets the share target: the flood a pool at difficulty 1e-10 causes.
    fn flood_job() -> Job {
        Job {
            share_target: Target::MAX,
            block_target: Target::from_compact(CompactTarget::from_consensus(0x1d00_ffff))
                .expect("valid bits"),
            ntime: 1_700_000_000,
            ntime_max: 1_700_007_000,
            ..Job::blank()
        }
    }

    /// The identities every run keeps: each result found is submitted or dropped with a
    /// reason, and each submission is accepted, rejected or still unanswered.
    fn assert_accounted(stats: &Stats) {
        assert_eq!(
            stats.shares_found,
            stats.shares_submitted + stats.dropped_total(),
            "{stats:?}"
        );
        assert_eq!(
            stats.shares_submitted,
            stats.accepted + stats.rejected_total() + stats.unanswered,
            "{stats:?}"
        );
    }

    /// Results far faster than the source answers: the source never holds more than the
    /// pipeline's bound unanswered (the old pipeline handed it everything, and queued the
    /// rest without bound), shares keep flowing, and the surplus is counted as dropped.
    #[test]
    fn a_flood_of_results_is_bounded_and_accounted_for() {
        let mut source = Slow::new(flood_job(), 50);
        let options = MineOptions {
            time: Some(Duration::from_secs(2)),
            ..MineOptions::default()
        };
        let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert!(
            source.most_unanswered <= MAX_UNANSWERED_SHARES as usize,
            "{} unanswered",
            source.most_unanswered
        );
        assert!(stats.accepted >= 100, "{stats:?}");
        assert!(stats.dropped[&DropReason::Overflow] > 0, "{stats:?}");
        assert_eq!(stats.shares_submitted, source.submitted);
        assert_accounted(&stats);
    }

    /// An engine that offers every nonce in order and stops the moment it is cancelled, so
    /// a test measures the pipeline's stop, not a slow kernel's.
    struct Flood;

    impl Engine for Flood {
        fn name(&self) -> &'static str {
            "flood"
        }

        fn describe(&self) -> String {
            "an engine that offers every nonce".into()
        }

        fn threads(&self) -> usize {
            1
        }

        fn run(
            &self,
            work: &sha256d::Work,
            ctl: &sha256d::Control,
            hits: &mut sha256d::engine::Hits<'_>,
        ) -> Result<(), Error> {
            for nonce in work.nonces() {
                if ctl.is_cancelled() {
                    break;
                }
                let nonce = u32::try_from(nonce).expect("nonces are 32-bit");
                hits.offer(work.version(0), nonce)?;
                ctl.add_hashes(1);
            }
            Ok(())
        }
    }

    /// A source that never answers, and a stop flag set during the flood: the run ends
    /// within the grace, not after the limit's drain (the old pipeline waited out all 30 s).
    #[test]
    fn the_stop_flag_ends_a_flood_within_the_grace() {
        let mut source = Slow::new(flood_job(), 0);
        let engines: Vec<Box<dyn Engine>> = vec![Box::new(Flood)];
        let stop = Arc::new(AtomicBool::new(false));
        let options = MineOptions {
            drain: Duration::from_secs(30),
            stop: Some(Arc::clone(&stop)),
            ..MineOptions::default()
        };
        let mut stopped_at = None;
        let stats = mine(&mut source, &engines, &options, &mut |s, _| {
            if s.shares_submitted > 0 && stopped_at.is_none() {
                stop.store(true, Ordering::Relaxed);
                stopped_at = Some(Instant::now());
            }
        })
        .expect("mines");
        let took = stopped_at.expect("the status ran").elapsed();
        // Generous: the grace is half a second, on a loaded machine it can take longer.
        assert!(took < Duration::from_secs(3), "{took:?}");
        assert_eq!(stats.unanswered, MAX_UNANSWERED_SHARES, "{stats:?}");
        assert_eq!(stats.accepted, 0);
        assert_accounted(&stats);
    }

    /// An engine that delivers `before_panic` real results on its first unit, then panics
    /// (or fails, with `fail`) on the next.
    struct Faulty {
        units: AtomicU64,
        before_panic: u32,
        fail: bool,
    }

    impl Faulty {
        fn boxed(before_panic: u32, fail: bool) -> Box<dyn Engine> {
            Box::new(Faulty {
                units: AtomicU64::new(0),
                before_panic,
                fail,
            })
        }
    }

    impl Engine for Faulty {
        fn name(&self) -> &'static str {
            "faulty"
        }

        fn describe(&self) -> String {
            "an engine that breaks on its second unit".into()
        }

        fn threads(&self) -> usize {
            1
        }

        fn run(
            &self,
            work: &sha256d::Work,
            ctl: &sha256d::Control,
            hits: &mut sha256d::engine::Hits<'_>,
        ) -> Result<(), Error> {
            if self.units.fetch_add(1, Ordering::Relaxed) == 0 {
                for nonce in 0..self.before_panic {
                    hits.offer(work.version(0), nonce)?;
                }
                ctl.add_hashes(u64::from(self.before_panic));
                return Ok(());
            }
            if self.fail {
                return Err(Error::new(ErrorKind::Device, "the device went away"));
            }
            panic!("injected fault");
        }
    }

    /// A worker panic is caught and reported, that engine is dropped, and the run goes on
    /// on the others to its limit (the old pipeline's scope re-raised the panic: no summary).
    #[test]
    fn a_panicking_engine_is_reported_and_the_others_go_on() {
        let mut source = Script {
            queue: VecDeque::from([Event::Job(Arc::new(job("a", 1, 0, 1e-7, true)))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(|_, _| Vec::new()),
            solo: false,
        };
        let mut engines = portable();
        engines.insert(0, Faulty::boxed(0, false));
        let options = MineOptions {
            shares: Some(20),
            ..MineOptions::default()
        };
        let mut notices = Vec::new();
        let stats = mine(&mut source, &engines, &options, &mut |_, n| {
            notices.extend(n.map(str::to_string))
        })
        .expect("mines on");
        assert_eq!(
            stats.engine_failures,
            ["engine faulty panicked: injected fault"]
        );
        assert!(
            notices
                .iter()
                .any(|n| n
                    == "engine faulty panicked: injected fault; mining goes on with 1 engine(s)"),
            "{notices:?}"
        );
        assert!(!stats.every_engine_failed());
        assert!(stats.accepted >= 20, "{stats:?}");
        assert_accounted(&stats);
    }

    /// When the last engine breaks the run ends as at a limit: what it found is submitted
    /// and the counters come back (the old pipeline returned only the error).
    #[test]
    fn when_every_engine_breaks_the_run_ends_with_its_counters() {
        for fail in [false, true] {
            let mut source = Slow::new(flood_job(), usize::MAX);
            let engines = vec![Faulty::boxed(300, fail)];
            let stats = mine(
                &mut source,
                &engines,
                &MineOptions::default(),
                &mut |_, _| {},
            )
            .expect("ends with counters");
            assert!(stats.every_engine_failed());
            let why = if fail {
                "engine faulty failed: the device went away"
            } else {
                "engine faulty panicked: injected fault"
            };
            assert_eq!(stats.engine_failures, [why]);
            assert_eq!(stats.shares_found, 300);
            assert_eq!(stats.accepted, 300, "{stats:?}");
            assert_eq!(stats.hashes, 300);
            assert_accounted(&stats);
        }
    }

    /// An engine is credited with the hashes it reports, and never with more than the units
    /// it was given hold.
    #[test]
    fn hashes_are_credited_as_reported_and_never_beyond_the_unit() {
        struct Claims {
            units: AtomicU64,
            claim: u64,
        }
        impl Engine for Claims {
            fn name(&self) -> &'static str {
                "claims"
            }
            fn describe(&self) -> String {
                "an engine that reports hashes and does none".into()
            }
            fn threads(&self) -> usize {
                1
            }
            fn run(
                &self,
                _: &sha256d::Work,
                ctl: &sha256d::Control,
                _: &mut sha256d::engine::Hits<'_>,
            ) -> Result<(), Error> {
                self.units.fetch_add(1, Ordering::Relaxed);
                ctl.add_hashes(self.claim);
                std::thread::sleep(Duration::from_millis(5));
                Ok(())
            }
        }
        for (claim, credited) in [(1000, 1000), (u64::MAX / 2, 1 << 32)] {
            let engine = Arc::new(Claims {
                units: AtomicU64::new(0),
                claim,
            });
            let mut source = Slow::new(flood_job(), usize::MAX);
            let engines: Vec<Box<dyn Engine>> = vec![Box::new(Shared(Arc::clone(&engine)))];
            let options = MineOptions {
                time: Some(Duration::from_millis(300)),
                ..MineOptions::default()
            };
            let stats = mine(&mut source, &engines, &options, &mut |_, _| {}).expect("mines");
            let units = engine.units.load(Ordering::Relaxed);
            assert!(units > 0);
            assert_eq!(stats.hashes, units * credited, "claiming {claim} a unit");
        }
    }

    /// Lends an engine to `mine` while the test keeps a handle on it.
    struct Shared<E>(Arc<E>);

    impl<E: Engine> Engine for Shared<E> {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn describe(&self) -> String {
            self.0.describe()
        }
        fn threads(&self) -> usize {
            self.0.threads()
        }
        fn run(
            &self,
            work: &sha256d::Work,
            ctl: &sha256d::Control,
            hits: &mut sha256d::engine::Hits<'_>,
        ) -> Result<(), Error> {
            self.0.run(work, ctl, hits)
        }
    }
}
