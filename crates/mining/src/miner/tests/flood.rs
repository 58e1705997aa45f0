//! Back-pressure: a flood of results against a source that answers slowly or never.

use super::*;

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
