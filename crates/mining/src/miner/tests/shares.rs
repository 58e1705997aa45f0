//! Shares: valid, distinct, limited, voided by a clean job, and logged.

use super::*;

#[test]
fn shares_are_valid_distinct_and_the_share_limit_stops() {
    let mut source = Script::new(job("a", 1, 0x1fff_e000, 1e-7, true));
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
        after_verdict: Box::new(|_, n| {
            if n == 3 {
                vec![Event::Job(Arc::new(job("b", 2, 0, 1e-7, true)))]
            } else {
                Vec::new()
            }
        }),
        ..Script::new(job("a", 1, 0, 1e-7, true))
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
fn every_verdict_is_a_line_of_the_share_log_naming_its_engine() {
    use crate::share_log::{verify_files, Kind, Record, Verifier, DEFAULT_MAX_BYTES};
    let dir = sha256d_testkit::peers::temp_dir("miner-share-log");
    let path = dir.join("shares.log");
    let (log, _) = ShareLog::open(&path, DEFAULT_MAX_BYTES).expect("opens");
    let log = Arc::new(Mutex::new(log));
    // Behind a pool on regtest: every share is a block candidate.
    let mut source = Script::new(every_share_a_block());
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

/// Jobs handed out as their time comes.
struct Timed {
    start: Instant,
    jobs: VecDeque<(Duration, Job)>,
}

impl Source for Timed {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        std::thread::sleep(timeout.min(Duration::from_millis(10)));
        let mut due = Vec::new();
        while self
            .jobs
            .front()
            .is_some_and(|(at, _)| self.start.elapsed() >= *at)
        {
            let (_, job) = self.jobs.pop_front().expect("checked just above");
            due.push(Event::Job(Arc::new(job)));
        }
        Ok(due)
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        Ok(vec![Event::Verdict {
            share,
            verdict: Verdict::Accepted,
        }])
    }

    fn describe(&self) -> String {
        "timed".into()
    }
}

/// Jobs that come while the duty is 0 are taken up once it rises: the time stopped is the
/// power policy's, not a slow job switch.
#[test]
fn time_held_off_by_the_duty_is_no_slow_job_switch() {
    let mut source = Timed {
        start: Instant::now(),
        jobs: VecDeque::from([
            (Duration::ZERO, job("a", 1, 0, 1.0, true)),
            (Duration::from_millis(300), job("b", 2, 0, 1.0, true)),
        ]),
    };
    let duty = Arc::new(crate::power::Duty::new(0.0));
    let options = MineOptions {
        time: Some(Duration::from_millis(2500)),
        duty: Some(Arc::clone(&duty)),
        ..MineOptions::default()
    };
    let raise = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        duty.set(1.0);
    });
    let stats = mine(&mut source, &portable(), &options, &mut |_, _| {}).expect("mines");
    raise.join().expect("the duty thread");
    assert_eq!(stats.jobs, 2);
    assert!(stats.hashes > 0, "{stats:?}");
    // Held off 1.2 s and more; moving onto the job once allowed is what counts.
    assert!(
        stats.job_switch_worst < Duration::from_millis(700),
        "{:?}",
        stats.job_switch_worst
    );
}
