//! Known-answer units: a device that skips work is caught and dropped, honest ones never miss.

use super::*;

/// An engine that claims to hash and finds nothing: a device that skips its work.
struct Skips;

impl Engine for Skips {
    fn name(&self) -> &'static str {
        "skips"
    }
    fn describe(&self) -> String {
        "an engine that skips every nonce".into()
    }
    fn threads(&self) -> usize {
        0
    }
    fn run(
        &self,
        _: &sha256d::Work,
        ctl: &sha256d::Control,
        _: &mut sha256d::engine::Hits<'_>,
    ) -> Result<(), Error> {
        ctl.add_hashes(1000);
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    }
}

/// The portable engine under a name this crate does not know, so it gets known-answer units;
/// it counts them, and the hashes of everything else.
struct Honest {
    inner: Box<dyn Engine>,
    known_answers: AtomicU64,
    real_hashes: AtomicU64,
}

impl Engine for Honest {
    fn name(&self) -> &'static str {
        "honest"
    }
    fn describe(&self) -> String {
        "the portable engine, unvouched for".into()
    }
    fn threads(&self) -> usize {
        self.inner.threads()
    }
    fn run(
        &self,
        work: &sha256d::Work,
        ctl: &sha256d::Control,
        hits: &mut sha256d::engine::Hits<'_>,
    ) -> Result<(), Error> {
        let before = ctl.hashes();
        if *work.header() == sha256d::Header::genesis() {
            self.known_answers.fetch_add(1, Ordering::Relaxed);
            return self.inner.run(work, ctl, hits);
        }
        // A few thousand nonces of each unit, so units end (and known answers come between
        // them) within milliseconds even unoptimised, instead of a whole range's minutes.
        let start = work.nonces().start;
        let short = work
            .clone()
            .with_nonces(start..start + (1 << 12))
            .expect("inside the unit's range");
        let outcome = self.inner.run(&short, ctl, hits);
        self.real_hashes
            .fetch_add(ctl.hashes() - before, Ordering::Relaxed);
        outcome
    }
}

/// The skipping engine misses three known-answer units, each counted on its device, and is
/// dropped with why; the honest one passes every one, is credited with none of their hashes,
/// and mines on beside the portable engine (which gets none).
#[test]
fn a_device_that_skips_work_is_dropped_and_honest_ones_never_miss() {
    let honest = Arc::new(Honest {
        inner: portable().remove(0),
        known_answers: AtomicU64::new(0),
        real_hashes: AtomicU64::new(0),
    });
    let mut engines: Vec<Box<dyn Engine>> =
        vec![Box::new(Skips), Box::new(Shared(Arc::clone(&honest)))];
    engines.extend(portable());
    let stop = Arc::new(AtomicBool::new(false));
    let options = MineOptions {
        // A safety net only: the run stops once the skipper is dropped and the honest engine
        // has passed as many known answers.
        time: Some(Duration::from_secs(120)),
        status_every: Duration::from_millis(20),
        stop: Some(Arc::clone(&stop)),
        known_answer_every: Some(Duration::from_millis(30)),
        ..MineOptions::default()
    };
    let mut source = Script::new(job("a", 1, 0, 1e-7, true));
    let mut notices = Vec::new();
    let stats = mine(&mut source, &engines, &options, &mut |s, n| {
        notices.extend(n.map(str::to_string));
        if s.devices[0].failure.is_some() && honest.known_answers.load(Ordering::Relaxed) >= 3 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .expect("mines on");
    let why = "engine skips failed: missed 3 known-answer jobs in a row: it did not return the \
               genesis block's nonce 2083236893 (the last time, nonces \
               2083171358..2083236894 gave 0 result(s)), so it skips work or drops what it finds";
    assert_eq!(stats.engine_failures, [why]);
    assert!(
        notices
            .iter()
            .any(|n| *n == format!("{why}; mining goes on with 2 engine(s)")),
        "{notices:?}"
    );
    let misses: Vec<_> = stats
        .devices
        .iter()
        .map(|d| d.known_answer_misses)
        .collect();
    assert_eq!(misses, [3, 0, 0]);
    let passed: Vec<_> = stats
        .devices
        .iter()
        .map(|d| d.known_answers_passed)
        .collect();
    assert_eq!(passed[0], 0);
    // Every one it began passed, but the one the stop may have cut short.
    let began = honest.known_answers.load(Ordering::Relaxed);
    assert!(
        passed[1] >= 2 && passed[1] + 1 >= began,
        "{passed:?} of {began}"
    );
    assert_eq!(passed[2], 0, "the CPU engine gets none");
    let failures: Vec<_> = stats.devices.iter().map(|d| d.failure.as_deref()).collect();
    assert_eq!(failures, [Some(why), None, None]);
    assert!(honest.known_answers.load(Ordering::Relaxed) >= 3);
    assert_eq!(
        stats.devices[1].hashes,
        honest.real_hashes.load(Ordering::Relaxed),
        "known-answer hashes are no work for the pool"
    );
    assert_eq!(stats.engines, ["honest", "portable"]);
    assert!(stats.accepted > 0, "{stats:?}");
    assert_accounted(&stats);
}

/// A device so slow that a unit would outlast the run: it hashes until cancelled, and answers
/// known-answer units as the portable engine does.
struct Endless(Box<dyn Engine>);

impl Engine for Endless {
    fn name(&self) -> &'static str {
        "endless"
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
        if *work.header() == sha256d::Header::genesis() {
            return self.0.run(work, ctl, hits);
        }
        hash_until_cancelled(ctl);
        Ok(())
    }
}

/// A unit still running when the device's known answer is due is cut short for it: a slow
/// device (a GPU on a software rasteriser, a whole nonce range in minutes) is checked on time,
/// not once a unit.
#[test]
fn a_known_answer_due_cuts_the_unit_under_way() {
    let engines: Vec<Box<dyn Engine>> = vec![Box::new(Endless(portable().remove(0)))];
    let stop = Arc::new(AtomicBool::new(false));
    let options = MineOptions {
        time: Some(Duration::from_secs(30)),
        status_every: Duration::from_millis(20),
        stop: Some(Arc::clone(&stop)),
        known_answer_every: Some(Duration::from_millis(100)),
        ..MineOptions::default()
    };
    let mut source = Script::new(job("a", 1, 0, 1.0, true));
    let started = Instant::now();
    let stats = mine(&mut source, &engines, &options, &mut |s, _| {
        if s.devices[0].known_answers_passed >= 3 {
            stop.store(true, Ordering::Relaxed);
        }
    })
    .expect("mines on");
    assert!(stats.devices[0].known_answers_passed >= 3, "{stats:?}");
    assert_eq!(stats.devices[0].known_answer_misses, 0, "{stats:?}");
    assert!(stats.hashes > 0, "{stats:?}");
    // Three due at 100 ms apart, each after a cut unit; far from the 30 s backstop.
    assert!(started.elapsed() < Duration::from_secs(15), "{stats:?}");
}
