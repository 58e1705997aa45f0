//! The operator's device switches: a device switched off stops hashing, stays listed, and
//! neither its time off nor its silence counts against it.

use super::*;
use std::sync::atomic::AtomicUsize;

/// A slow device the test can watch: it hashes until cancelled, answers known-answer units as
/// the portable engine does (its name is none this crate knows, so it gets them), and counts
/// the units it runs.
struct Watched {
    portable: Box<dyn Engine>,
    running: AtomicUsize,
    units: AtomicU64,
    known_answers: AtomicU64,
}

impl Watched {
    fn new() -> Arc<Self> {
        Arc::new(Watched {
            portable: portable().remove(0),
            running: AtomicUsize::new(0),
            units: AtomicU64::new(0),
            known_answers: AtomicU64::new(0),
        })
    }

    /// Whether it runs no unit now: the hashes credited to it are all it will get until it
    /// begins another.
    fn idle(&self) -> bool {
        self.running.load(Ordering::Relaxed) == 0
    }

    /// Units of either kind it has begun.
    fn begun(&self) -> u64 {
        self.units.load(Ordering::Relaxed) + self.known_answers.load(Ordering::Relaxed)
    }
}

impl Engine for Watched {
    fn name(&self) -> &'static str {
        "watched"
    }
    fn describe(&self) -> String {
        "an engine whose units never end by themselves".into()
    }
    fn threads(&self) -> usize {
        0
    }
    fn run(
        &self,
        work: &sha256d::Work,
        ctl: &sha256d::Control,
        hits: &mut sha256d::engine::Hits<'_>,
    ) -> Result<(), Error> {
        self.running.fetch_add(1, Ordering::Relaxed);
        let outcome = if *work.header() == sha256d::Header::genesis() {
            self.known_answers.fetch_add(1, Ordering::Relaxed);
            self.portable.run(work, ctl, hits)
        } else {
            self.units.fetch_add(1, Ordering::Relaxed);
            hash_until_cancelled(ctl);
            Ok(())
        };
        self.running.fetch_sub(1, Ordering::Relaxed);
        outcome
    }
}

/// A pool whose jobs the test sends while the run goes.
struct Feed(mpsc::Receiver<Job>);

impl Source for Feed {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let events: Vec<Event> = self.0.try_iter().map(|j| Event::Job(Arc::new(j))).collect();
        if events.is_empty() {
            std::thread::sleep(timeout);
        }
        Ok(events)
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        Ok(vec![Event::Verdict {
            share,
            verdict: Verdict::Accepted,
        }])
    }

    fn describe(&self) -> String {
        "feed".into()
    }
}

fn watched_options(stop: &Arc<AtomicBool>, switches: &Arc<DeviceSwitches>) -> MineOptions {
    MineOptions {
        // A safety net only: each test stops the run once it has seen what it waits for.
        time: Some(Duration::from_secs(60)),
        status_every: Duration::from_millis(10),
        stop: Some(Arc::clone(stop)),
        switches: Some(Arc::clone(switches)),
        known_answer_every: None,
        ..MineOptions::default()
    }
}

/// Hashes the other device does while the test waits: with a thousand a millisecond, a
/// tenth of a second or more.
const WAIT: u64 = 100_000;

/// Of two devices, the one switched off stops hashing (begins no unit, gains no hash) while
/// the other goes on, is listed as disabled meanwhile, and hashes again once switched on. A
/// job that comes while it is off does not count its time off as a slow job switch.
#[test]
fn a_disabled_device_stops_hashing_until_enabled_and_the_other_goes_on() {
    let (a, b) = (Watched::new(), Watched::new());
    let engines: Vec<Box<dyn Engine>> = vec![
        Box::new(Shared(Arc::clone(&a))),
        Box::new(Shared(Arc::clone(&b))),
    ];
    let (jobs, feed) = mpsc::channel();
    jobs.send(job("a", 1, 0, 1.0, true))
        .expect("the feed is there");
    let mut source = Feed(feed);
    let stop = Arc::new(AtomicBool::new(false));
    let switches = Arc::new(DeviceSwitches::new());
    assert!(switches.set_enabled(1, false).is_err(), "no run, no device");
    let options = watched_options(&stop, &switches);
    // b's hashes and units begun when it stood still, and a's hashes then.
    let mut frozen = (0, 0, 0);
    let mut still = None;
    // When the second job was sent, and how long b was off after it.
    let mut job_sent = None;
    let mut off_after_job = None;
    let mut step = 0;
    let stats = mine(&mut source, &engines, &options, &mut |s, _| {
        let (da, db) = (&s.devices[0], &s.devices[1]);
        match step {
            0 if da.hashes > 0 && db.hashes > 0 => {
                assert!(!db.disabled);
                switches.set_enabled(1, false).expect("device 1 is there");
                step = 1;
            }
            1 if db.disabled && b.idle() => {
                frozen = (db.hashes, b.begun(), da.hashes);
                step = 2;
            }
            2 if da.hashes >= frozen.2 + WAIT => {
                jobs.send(job("b", 2, 0, 1.0, true)).expect("the run polls");
                job_sent = Some(Instant::now());
                step = 3;
            }
            3 if da.hashes >= frozen.2 + 3 * WAIT => {
                still = Some((db.hashes, b.begun(), db.disabled));
                off_after_job = job_sent.map(|t: Instant| t.elapsed());
                switches.set_enabled(1, true).expect("device 1 is there");
                step = 4;
            }
            4 if db.hashes > frozen.0 && !db.disabled => {
                stop.store(true, Ordering::Relaxed);
                step = 5;
            }
            _ => {}
        }
    })
    .expect("mines on");
    assert_eq!(step, 5, "{stats:?}");
    assert_eq!(
        still,
        Some((frozen.0, frozen.1, true)),
        "b hashed while off"
    );
    assert!(stats.devices[1].hashes > frozen.0, "b hashes again");
    assert!(stats.devices[0].hashes >= frozen.2 + 3 * WAIT);
    assert!(!stats.devices[1].disabled);
    assert!(stats.engine_failures.is_empty(), "{stats:?}");
    assert_eq!(stats.jobs, 2);
    // b was off from before the second job until it was switched on: that much would be its
    // switch time if time off counted.
    let off = off_after_job.expect("step 3 was reached");
    assert!(
        stats.job_switch_worst < off,
        "{:?} counts the time off ({off:?})",
        stats.job_switch_worst
    );
    assert_accounted(&stats);
}

/// A run whose only device is switched off goes on (it did not fail), and ends at its limit.
#[test]
fn a_run_whose_only_device_is_disabled_goes_on() {
    let a = Watched::new();
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(Shared(Arc::clone(&a)))];
    let mut source = Script::new(job("a", 1, 0, 1.0, true));
    let stop = Arc::new(AtomicBool::new(false));
    let switches = Arc::new(DeviceSwitches::new());
    let options = watched_options(&stop, &switches);
    let mut notices = Vec::new();
    let mut turns_off = 0;
    let mut frozen = None;
    let stats = mine(&mut source, &engines, &options, &mut |s, n| {
        notices.extend(n.map(str::to_string));
        let d = &s.devices[0];
        if d.hashes > 0 && !d.disabled {
            switches.set_enabled(0, false).expect("device 0 is there");
        }
        if d.disabled && a.idle() {
            let hashes = *frozen.get_or_insert(d.hashes);
            assert_eq!(d.hashes, hashes, "hashed while off");
            turns_off += 1;
        }
        if turns_off >= 20 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .expect("mines on");
    assert!(turns_off >= 20, "{stats:?}");
    assert!(stats.devices[0].disabled);
    assert!(stats.engine_failures.is_empty(), "{stats:?}");
    assert_eq!(stats.engines, ["watched"]);
    assert!(
        !notices.iter().any(|n| n.contains("no engine is left")),
        "{notices:?}"
    );
    assert!(switches.set_enabled(1, false).is_err(), "only one device");
}

/// A checked device switched off gets no known-answer unit meanwhile, however long it is off,
/// and misses none: its silence is the operator's doing. Switched on, it is checked again.
#[test]
fn a_disabled_device_gets_no_known_answers_and_misses_none() {
    let a = Watched::new();
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(Shared(Arc::clone(&a)))];
    let mut source = Script::new(job("a", 1, 0, 1.0, true));
    let stop = Arc::new(AtomicBool::new(false));
    let switches = Arc::new(DeviceSwitches::new());
    let options = MineOptions {
        known_answer_every: Some(Duration::from_millis(20)),
        ..watched_options(&stop, &switches)
    };
    let mut step = 0;
    let mut frozen = (0, 0);
    let mut turns_off = 0;
    let mut still = None;
    let stats = mine(&mut source, &engines, &options, &mut |s, _| {
        let d = &s.devices[0];
        match step {
            0 if d.known_answers_passed > 0 => {
                switches.set_enabled(0, false).expect("device 0 is there");
                step = 1;
            }
            1 if d.disabled && a.idle() => {
                frozen = (d.known_answers_passed, a.begun());
                step = 2;
            }
            // Twenty turns of 10 ms or more: ten known answers' time or more.
            2 => {
                turns_off += 1;
                if turns_off >= 20 {
                    still = Some((d.known_answers_passed, a.begun()));
                    switches.set_enabled(0, true).expect("device 0 is there");
                    step = 3;
                }
            }
            3 if d.known_answers_passed > frozen.0 => {
                stop.store(true, Ordering::Relaxed);
                step = 4;
            }
            _ => {}
        }
    })
    .expect("mines on");
    assert_eq!(step, 4, "{stats:?}");
    assert_eq!(still, Some(frozen), "a unit began while off");
    assert_eq!(stats.devices[0].known_answer_misses, 0, "{stats:?}");
    assert!(stats.devices[0].failure.is_none(), "{stats:?}");
}
