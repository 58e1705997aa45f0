//! Known-answer ("canary") units for engines that hash off the host and keep no check of their
//! own. The host re-hash catches a device that invents nonces, but not one that skips work or
//! drops the nonces it finds: that device looks merely unlucky. So every so often the worker
//! hands it a small range around the genesis block's nonce and expects exactly that nonce back.
//! The CPU engines are host code, held to the portable one by the differential tests, and the
//! `asic` engine sends known-answer jobs of its own (running two on it would only halve their
//! worth), so neither gets these.

use sha256d::engine::{Control, Engine, EngineKind};
use sha256d::{CompactTarget, Error, ErrorKind, Header, Target, Work};
use std::ops::Range;
use std::time::{Duration, Instant};

/// Misses in a row that drop the engine: the `asic` engine's rule, so one unlucky moment
/// (a device reset mid-unit) is forgiven and a device that cannot hash is not.
pub(super) const MAX_MISSES: u32 = 3;

/// The genesis block's nonce, found by the only miner there was.
const GENESIS_NONCE: u32 = 2_083_236_893;
/// The genesis block's `bits`, its real target.
const GENESIS_BITS: u32 = 0x1d00_ffff;
/// Nonces in one known-answer unit: a few dispatches on a GPU, milliseconds of its time, yet
/// more than one batch, so a device that drops a batch is caught wherever the answer lies.
const SPAN: u32 = 1 << 16;

/// Where in the unit's range the known nonce lies, in turn: the middle, the first and the
/// last, so a device that drops the start or the end of a range misses one of them.
const POSITIONS: [u32; 3] = [SPAN / 2, 0, SPAN - 1];

/// How a known-answer unit went.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// The engine returned exactly the known nonce.
    Passed,
    /// It did not (see [`Canary::dropped`]).
    Missed,
    /// Cancelled (the run is stopping): no verdict either way.
    Cancelled,
}

/// Whether `engine` gets known-answer units: the GPU, and any engine this crate does not
/// know; not the CPU engines (host code) nor the `asic` one (it checks its sticks itself).
pub(super) fn is_checked(engine: &dyn Engine) -> bool {
    matches!(
        engine.name().parse::<EngineKind>(),
        Ok(EngineKind::Gpu) | Err(_)
    )
}

/// One worker's known-answer schedule and its misses in a row.
pub(super) struct Canary {
    every: Duration,
    last: Instant,
    round: usize,
    misses: u32,
    /// What the last miss was, for the message that drops the engine.
    last_miss: String,
}

impl Canary {
    /// The schedule for `engine`, or `None` when it gets no known-answer units (`every` is
    /// `None`, or the engine is a CPU engine or the `asic` one). An engine this crate does not
    /// know (an embedder's) is a device nobody vouches for, so it gets them.
    pub(super) fn for_engine(engine: &dyn Engine, every: Option<Duration>) -> Option<Canary> {
        let every = every.filter(|e| !e.is_zero())?;
        is_checked(engine).then(|| Canary {
            every,
            // The first one after an interval, not at once: a unit of real work first.
            last: Instant::now(),
            round: 0,
            misses: 0,
            last_miss: String::new(),
        })
    }

    /// Whether one is due.
    pub(super) fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// When the next one is due.
    pub(super) fn due_at(&self) -> Instant {
        self.last + self.every
    }

    /// Runs one known-answer unit on `engine` under `ctl`; errs when the engine does.
    pub(super) fn run(&mut self, engine: &dyn Engine, ctl: &Control) -> Result<Outcome, Error> {
        let position = POSITIONS[self.round % POSITIONS.len()];
        let work = known_work(position);
        let mut found = Vec::new();
        let summary =
            engine.search_stream(&work, ctl, &mut |f| found.push((f.version, f.nonce)))?;
        if summary.cancelled {
            // Due again at once: the next unit it gets is this one again.
            return Ok(Outcome::Cancelled);
        }
        self.last = Instant::now();
        self.round += 1;
        if found == [(work.version(0), GENESIS_NONCE)] {
            self.misses = 0;
            return Ok(Outcome::Passed);
        }
        self.misses += 1;
        let range = work.nonces();
        self.last_miss = format!(
            "nonces {}..{} gave {} result(s)",
            range.start,
            range.end,
            found.len()
        );
        Ok(Outcome::Missed)
    }

    /// Why the engine must be dropped, once it has missed [`MAX_MISSES`] in a row.
    pub(super) fn dropped(&self) -> Option<Error> {
        (self.misses >= MAX_MISSES).then(|| {
            Error::new(
                ErrorKind::Device,
                format!(
                    "missed {MAX_MISSES} known-answer jobs in a row: it did not return the \
                     genesis block's nonce {GENESIS_NONCE} (the last time, {}), so it skips \
                     work or drops what it finds",
                    self.last_miss
                ),
            )
        })
    }
}

/// The genesis header at its real target, over [`SPAN`] nonces with the known one at
/// `position`.
fn known_work(position: u32) -> Work {
    let start = u64::from(GENESIS_NONCE - position);
    let nonces: Range<u64> = start..start + u64::from(SPAN);
    let target = Target::from_compact(CompactTarget::from_consensus(GENESIS_BITS))
        .expect("the genesis bits are a valid target");
    Work::new(Header::genesis(), target)
        .with_nonces(nonces)
        .expect("a range inside the 32-bit nonces")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portable() -> Box<dyn Engine> {
        sha256d::open("portable", &sha256d::Options::default()).expect("portable always runs")
    }

    /// Each position's unit holds exactly the genesis nonce, found by the reference engine.
    #[test]
    fn every_position_holds_exactly_the_genesis_nonce() {
        let engine = portable();
        for position in POSITIONS {
            let work = known_work(position);
            let found: Vec<_> = engine
                .search(&work)
                .expect("portable searches")
                .iter()
                .map(|f| (f.version, f.nonce))
                .collect();
            assert_eq!(found, [(1, GENESIS_NONCE)], "position {position}");
        }
    }

    /// CPU engines and the `asic` engine get none; the GPU and engines nobody vouches for do.
    #[test]
    fn only_unchecked_devices_get_known_answer_units() {
        let every = Some(Duration::from_secs(10));
        assert!(Canary::for_engine(portable().as_ref(), every).is_none());
        assert!(Canary::for_engine(portable().as_ref(), None).is_none());
        let names = |name: &'static str| Named(name);
        assert!(Canary::for_engine(&names("gpu"), every).is_some());
        assert!(Canary::for_engine(&names("asic"), every).is_none());
        assert!(Canary::for_engine(&names("sha-ni"), every).is_none());
        assert!(Canary::for_engine(&names("someone's"), every).is_some());
        assert!(Canary::for_engine(&names("gpu"), Some(Duration::ZERO)).is_none());
    }

    /// An engine of a given name that finds nothing.
    struct Named(&'static str);

    impl Engine for Named {
        fn name(&self) -> &'static str {
            self.0
        }
        fn describe(&self) -> String {
            "a name only".into()
        }
        fn threads(&self) -> usize {
            0
        }
        fn run(
            &self,
            _: &Work,
            _: &Control,
            _: &mut sha256d::engine::Hits<'_>,
        ) -> Result<(), Error> {
            Ok(())
        }
    }

    /// A skipping engine misses twice and is failed on the third; one pass in between resets
    /// the count.
    #[test]
    fn three_misses_in_a_row_fail_and_a_pass_resets_them() {
        let skipper = Named("gpu");
        let honest = portable();
        let mut canary =
            Canary::for_engine(&skipper, Some(Duration::from_secs(1))).expect("a gpu gets them");
        let ctl = Control::new();
        let mut run = |engine: &dyn Engine| {
            let outcome = canary.run(engine, &ctl).expect("no engine error");
            (outcome, canary.dropped().map(|e| e.to_string()))
        };
        assert_eq!(run(&skipper), (Outcome::Missed, None));
        assert_eq!(run(&skipper), (Outcome::Missed, None));
        assert_eq!(run(honest.as_ref()), (Outcome::Passed, None));
        assert_eq!(run(&skipper), (Outcome::Missed, None));
        assert_eq!(run(&skipper), (Outcome::Missed, None));
        // The sixth unit has the known nonce last: 2^16 - 1 nonces below it.
        let third = "missed 3 known-answer jobs in a row: it did not return the genesis block's \
                     nonce 2083236893 (the last time, nonces 2083171358..2083236894 gave 0 \
                     result(s)), so it skips work or drops what it finds";
        assert_eq!(run(&skipper), (Outcome::Missed, Some(third.to_string())));
        let cancelled = Control::new();
        cancelled.cancel();
        assert_eq!(
            canary.run(honest.as_ref(), &cancelled).ok(),
            Some(Outcome::Cancelled)
        );
    }
}
