//! The pipeline end to end, on scripted sources and engines built to misbehave: the sources
//! and checks every topic shares are here, the tests in one module per topic.

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

impl Script {
    /// A pool's script: hands out `job`, and nothing more after the verdicts.
    fn new(job: Job) -> Self {
        Script {
            queue: VecDeque::from([Event::Job(Arc::new(job))]),
            submitted: Vec::new(),
            emitted_jobs: 0,
            after_verdict: Box::new(|_, _| Vec::new()),
            solo: false,
        }
    }
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

/// A regtest template: half of all hashes are blocks, and every share is one.
fn regtest_job(id: &str) -> Job {
    let mut template = job(id, 1, 0, 1.0, true);
    template.block_target =
        Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)).expect("valid bits");
    template.share_target = template.block_target;
    template
}

/// A regtest job behind a pool: every share is also a block.
fn every_share_a_block() -> Job {
    let mut every = job("r", 1, 0, 1e-7, true);
    every.block_target = every.share_target;
    every
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

    fn versions_per_pass(&self) -> u32 {
        self.0.versions_per_pass()
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

/// The identities every run keeps: each result found is submitted or dropped with a
/// reason, and each submission is accepted, rejected or still unanswered.
/// What a device too slow to finish a unit does with it: hashes (a thousand a millisecond)
/// until cancelled.
fn hash_until_cancelled(ctl: &sha256d::Control) {
    while !ctl.is_cancelled() {
        ctl.add_hashes(1000);
        std::thread::sleep(Duration::from_millis(1));
    }
}

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
    // The devices split the totals between them, each result to the engine that found it.
    let devices = &stats.devices;
    let sum = |f: fn(&DeviceStats) -> u64| devices.iter().map(f).sum::<u64>();
    assert_eq!(sum(|d| d.hashes), stats.hashes, "{stats:?}");
    assert_eq!(sum(|d| d.shares_found), stats.shares_found, "{stats:?}");
    assert_eq!(sum(|d| d.accepted), stats.accepted, "{stats:?}");
    assert_eq!(sum(|d| d.rejected), stats.rejected_total(), "{stats:?}");
    assert_eq!(sum(|d| d.stale), stats.stale, "{stats:?}");
    assert_eq!(
        sum(|d| d.hardware_errors),
        stats.hardware_errors,
        "{stats:?}"
    );
    let difficulty: f64 = devices.iter().map(|d| d.accepted_difficulty).sum();
    assert!(
        (difficulty - stats.accepted_difficulty).abs() <= 1e-9 * stats.accepted_difficulty,
        "{stats:?}"
    );
}

mod blocks;
mod engines;
mod flood;
mod known_answers;
mod shares;
mod switches;
