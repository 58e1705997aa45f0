//! Engines that break (panic, fail) or report hashes they did not do.

use super::*;

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
    let mut source = Script::new(job("a", 1, 0, 1e-7, true));
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
    // Each device keeps its own counters, the failed one with why it stopped.
    let names: Vec<_> = stats.devices.iter().map(|d| d.engine.as_str()).collect();
    assert_eq!(names, ["faulty", "portable"]);
    let failures: Vec<_> = stats.devices.iter().map(|d| d.failure.as_deref()).collect();
    assert_eq!(
        failures,
        [Some("engine faulty panicked: injected fault"), None]
    );
    assert_eq!(stats.devices[0].accepted, 0);
    assert_eq!(stats.devices[1].accepted, stats.accepted);
    assert_eq!(stats.devices[1].hashes, stats.hashes);
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

/// An engine sent while the run goes (a stick plugged in) joins it as a device of its own, and
/// a run may start with none, waiting for the first.
#[test]
fn engines_join_a_running_run_as_devices_of_their_own() {
    for initially in [0, 1] {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let options = MineOptions {
            // A safety net only: the run stops once the joined engine has a share accepted.
            time: Some(Duration::from_secs(120)),
            status_every: Duration::from_millis(20),
            joining: Some(Arc::new(Mutex::new(rx))),
            stop: Some(Arc::clone(&stop)),
            ..MineOptions::default()
        };
        let engines: Vec<Box<dyn Engine>> = portable().into_iter().take(initially).collect();
        // Joins once the run is under way: after its first share, or at once without engines.
        let mut sent = false;
        let mut source = Script::new(job("a", 1, 0, 1e-7, true));
        let mut notices = Vec::new();
        let stats = mine(&mut source, &engines, &options, &mut |s, n| {
            notices.extend(n.map(str::to_string));
            if !sent && (initially == 0 || s.accepted > 0) {
                sent = true;
                tx.send(portable().remove(0)).expect("the run listens");
            }
            if s.devices.len() > initially && s.devices[initially].accepted > 0 {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .expect("mines");
        assert_eq!(stats.devices.len(), initially + 1, "{stats:?}");
        assert_eq!(stats.engines, vec!["portable"; initially + 1]);
        let joined = stats.devices.last().expect("the joined device");
        assert!(joined.hashes > 0 && joined.accepted > 0, "{joined:?}");
        assert!(
            notices
                .iter()
                .any(|n| n.starts_with("engine portable joined: ")),
            "{notices:?}"
        );
        assert_accounted(&stats);
    }
}

/// A device that hashes 16 versions a pass, and so slowly that no unit ends by itself: it
/// records how many versions each unit rolls.
struct Batched {
    rolls: Mutex<Vec<u64>>,
}

impl Engine for Batched {
    fn name(&self) -> &'static str {
        "batched"
    }

    fn describe(&self) -> String {
        "a device hashing 16 versions a pass".into()
    }

    fn threads(&self) -> usize {
        0
    }

    fn versions_per_pass(&self) -> u32 {
        16
    }

    fn run(
        &self,
        work: &sha256d::Work,
        ctl: &sha256d::Control,
        _: &mut sha256d::engine::Hits<'_>,
    ) -> Result<(), Error> {
        self.rolls.lock().expect("lock").push(work.rolls());
        hash_until_cancelled(ctl);
        Ok(())
    }
}

/// Its units roll at least the versions it hashes at once from the first: one version would
/// fill 15 of its 16 slots with repeats, and units that never end teach the worker nothing.
#[test]
fn a_device_gets_the_versions_it_hashes_at_once_from_its_first_unit() {
    let batched = Arc::new(Batched {
        rolls: Mutex::new(Vec::new()),
    });
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(Shared(Arc::clone(&batched)))];
    let mut source = Script::new(job("a", 1, 0x1fff_e000, 1.0, true));
    let options = MineOptions {
        time: Some(Duration::from_millis(500)),
        ..MineOptions::default()
    };
    mine(&mut source, &engines, &options, &mut |_, _| {}).expect("mines");
    let rolls = batched.rolls.lock().expect("lock").clone();
    assert!(
        !rolls.is_empty() && rolls.iter().all(|&r| r == 16),
        "{rolls:?}"
    );
}
