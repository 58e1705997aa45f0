//! The pipeline end to end, on scripted sources and engines built to misbehave.

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

    fn block_verdicts_are_final(&self) -> bool {
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
    assert_eq!(stats.block_candidates, 0, "a node's answer settles a block");
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
    // A pool's acceptance makes each a candidate, never an accepted block.
    assert_eq!(stats.blocks_accepted, 0);
    assert_eq!(stats.blocks, []);
    assert!(stats.accepted >= limit, "{}", stats.accepted);
    assert_eq!(stats.block_candidates, stats.accepted);
    assert_eq!(stats.candidates.len(), MAX_LISTED_BLOCKS);
    assert_eq!(stats.candidates[0].hash, source.submitted[0].1.hash);
}

#[test]
fn behind_a_pool_the_block_limit_counts_candidates() {
    let mut every = job("r", 1, 0, 1e-7, true);
    every.block_target = every.share_target;
    let mut source = Script {
        queue: VecDeque::from([Event::Job(Arc::new(every))]),
        submitted: Vec::new(),
        emitted_jobs: 0,
        after_verdict: Box::new(|_, _| Vec::new()),
        solo: false,
    };
    let options = MineOptions {
        blocks: Some(3),
        // A bound for a pipeline that ignores the limit: met, the counts below fail.
        time: Some(Duration::from_secs(60)),
        ..MineOptions::default()
    };
    let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
    assert!(stats.elapsed < Duration::from_secs(60), "{stats:?}");
    assert_eq!(stats.blocks_accepted, 0);
    assert!(stats.block_candidates >= 3, "{}", stats.block_candidates);
    assert_eq!(
        stats.candidates.iter().map(|b| b.hash).collect::<Vec<_>>(),
        source
            .submitted
            .iter()
            .map(|(_, s)| s.hash)
            .collect::<Vec<_>>(),
        "every submission was a block, and the script accepts each at once"
    );
}

/// A solo source whose node learns of each block before it answers for it, as a real one
/// does: the next template (on top of the block) comes from the next poll, the verdict
/// `delay` later. The first `reject` blocks are rejected: the next template is then a fresh
/// one on the same parent.
struct Node {
    template: Job,
    queue: VecDeque<Event>,
    verdicts: VecDeque<(Instant, Share, Verdict)>,
    delay: Duration,
    reject: usize,
    submitted: Vec<Share>,
}

impl Node {
    fn new(delay: Duration, reject: usize) -> Self {
        let mut template = job("t0", 1, 0, 1.0, true);
        // Regtest: half of all hashes are blocks.
        template.block_target =
            Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)).expect("valid bits");
        template.share_target = template.block_target;
        Node {
            queue: VecDeque::from([Event::Job(Arc::new(template.clone()))]),
            template,
            verdicts: VecDeque::new(),
            delay,
            reject,
            submitted: Vec::new(),
        }
    }
}

impl Source for Node {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let mut events: Vec<Event> = self.queue.drain(..).collect();
        while self.verdicts.front().is_some_and(|v| v.0 <= Instant::now()) {
            let (_, share, verdict) = self.verdicts.pop_front().expect("the front was just seen");
            events.push(Event::Verdict { share, verdict });
        }
        if events.is_empty() {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
        }
        Ok(events)
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        self.submitted.push(share.clone());
        let mut next = self.template.clone();
        next.id = format!("t{}", self.submitted.len());
        let verdict = if self.submitted.len() <= self.reject {
            Verdict::Rejected {
                reason: "bad-txns".into(),
                stale: false,
            }
        } else {
            next.prev_hash = share.hash.0;
            Verdict::Accepted
        };
        self.template = next.clone();
        self.queue.push_back(Event::Job(Arc::new(next)));
        self.verdicts
            .push_back((Instant::now() + self.delay, share, verdict));
        Ok(Vec::new())
    }

    fn pause_after_block(&self) -> bool {
        true
    }

    fn block_verdicts_are_final(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        "node".into()
    }
}

#[test]
fn the_block_limit_is_never_passed_while_verdicts_lag_the_next_template() {
    for limit in [1, 2] {
        let mut node = Node::new(Duration::from_millis(100), 0);
        let options = MineOptions {
            blocks: Some(limit),
            ..MineOptions::default()
        };
        let stats = mine(&mut node, &portable(), &options, &mut |_, _| {}).expect("mines");
        assert_eq!(stats.blocks_accepted, limit);
        assert_eq!(node.submitted.len() as u64, limit, "{:?}", stats.blocks);
        assert_eq!(
            stats.jobs,
            limit + 1,
            "the template on the last block arrived too"
        );
    }
}

#[test]
fn a_rejected_block_lets_the_held_template_be_mined() {
    let mut node = Node::new(Duration::from_millis(50), 1);
    let options = MineOptions {
        blocks: Some(1),
        // A bound for a broken pipeline, which would idle: met, the accepted count fails. Wide,
        // since a debug build on a busy machine takes most of half a minute to find the blocks.
        time: Some(Duration::from_secs(300)),
        ..MineOptions::default()
    };
    // The template that arrived while the rejected block was in flight is held, then mined:
    // its block is on the same parent as the rejected one.
    let stats = mine(&mut node, &portable(), &options, &mut |_, _| {}).expect("mines");
    assert_eq!(stats.blocks_accepted, 1);
    assert_eq!(stats.rejected_total(), 1, "{:?}", stats.rejected);
    assert_eq!(node.submitted.len(), 2);
    assert_eq!(
        node.submitted[0].header.prev_blockhash,
        node.submitted[1].header.prev_blockhash
    );
    assert_eq!(node.submitted[1].job.id, "t1");
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
    let mut source = Slow::new(flood_job(), 10);
    let options = MineOptions {
        time: Some(Duration::from_secs(2)),
        ..MineOptions::default()
    };
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(Flood)];
    let stats = mine(&mut source, &engines, &options, &mut |_, _| {}).expect("mines");
    assert!(
        source.most_unanswered <= MAX_UNANSWERED_SHARES as usize,
        "{} unanswered",
        source.most_unanswered
    );
    // About 500 a second for 2 s; a loaded machine may manage fewer polls.
    assert!(stats.accepted >= 100, "{stats:?}");
    assert!(
        stats
            .dropped
            .get(&DropReason::Overflow)
            .is_some_and(|&n| n > 0),
        "{stats:?}"
    );
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
    assert_eq!(
        stats.engines,
        ["portable"],
        "the failed engine is no longer listed"
    );
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

#[test]
fn every_verdict_is_a_line_of_the_share_log_naming_its_engine() {
    use crate::share_log::{verify_files, Kind, Record, Verifier, DEFAULT_MAX_BYTES};
    let dir = sha256d_testkit::peers::temp_dir("miner-share-log");
    let path = dir.join("shares.log");
    let (log, _) = ShareLog::open(&path, DEFAULT_MAX_BYTES).expect("opens");
    let log = Arc::new(Mutex::new(log));
    // Behind a pool on regtest: every share is a block candidate.
    let mut every = job("r", 1, 0, 1e-7, true);
    every.block_target = every.share_target;
    let mut source = Script {
        queue: VecDeque::from([Event::Job(Arc::new(every))]),
        submitted: Vec::new(),
        emitted_jobs: 0,
        after_verdict: Box::new(|_, _| Vec::new()),
        solo: false,
    };
    let engines: Vec<Box<dyn Engine>> = portable().into_iter().chain(portable()).collect();
    let options = MineOptions {
        shares: Some(20),
        share_log: Some(Arc::clone(&log)),
        ..MineOptions::default()
    };
    let stats = mine(&mut source, &engines, &options, &mut |_, _| {}).expect("mines");
    let head = log.lock().expect("not poisoned").head();
    let summary = verify_files(Verifier::new(), std::slice::from_ref(&path)).expect("verifies");
    assert_eq!(summary.lines, stats.accepted);
    assert_eq!(summary.block_candidates, stats.block_candidates);
    assert_eq!(summary.head, Some(head));
    let records: Vec<Record> = std::fs::read_to_string(&path)
        .expect("reads")
        .lines()
        .map(|l| Record::parse(l.as_bytes()).expect("parses"))
        .collect();
    assert_eq!(
        records.iter().map(|r| r.hash).collect::<Vec<_>>(),
        source
            .submitted
            .iter()
            .map(|(_, s)| s.hash)
            .collect::<Vec<_>>()
    );
    for r in &records {
        assert_eq!(r.kind, Kind::BlockCandidate);
        let engine = r.engine.as_ref().expect("the finder is known");
        assert_eq!(engine.name, "portable");
        assert!(engine.index < 2, "{engine:?}");
    }
    std::fs::remove_dir_all(&dir).expect("removes the log");
}
