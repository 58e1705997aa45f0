//! The energy of a run: every meter sampled into one total, quarter-hour buckets on the wall
//! clock (the settlement interval grids bill by), and joules per verified terahash.

use super::{Meter, Reading};
use crate::Stats;
use sha256d::Error;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A bucket's length: the 15-minute settlement interval.
pub const BUCKET_SECONDS: u64 = 900;

/// The most buckets kept: 31 days of quarter hours. Older ones are dropped; their energy
/// stays in [`EnergyLog::joules`].
pub const MAX_BUCKETS: usize = 96 * 31;

/// The hashes one share of difficulty 1 stands for on average.
const HASHES_PER_DIFFICULTY: f64 = 4_294_967_296.0;

/// The energy of one quarter hour.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    /// Its start, in seconds since 1970 (UTC), a multiple of [`BUCKET_SECONDS`].
    pub start_unix_s: u64,
    /// The joules sampled in it.
    pub joules: f64,
}

/// One meter and what it last read.
struct Slot {
    meter: Box<dyn Meter>,
    readings: Vec<Reading>,
    joules: f64,
}

/// A run's energy, all meters together.
pub struct EnergyLog {
    slots: Vec<Slot>,
    joules: f64,
    buckets: VecDeque<Bucket>,
    opened: Instant,
    sampled: Instant,
}

impl EnergyLog {
    /// A log of `meters` (freshly opened: their energy counts from now).
    pub fn new(meters: Vec<Box<dyn Meter>>) -> EnergyLog {
        Self::new_at(meters, Instant::now())
    }

    /// [`EnergyLog::new`] made at `now`. Each meter is read once here and counts from this
    /// reading: what it drew between its own opening and the log's is not the log's, so the
    /// average over the log's time is the meter's (a short run shows a declared 12 W as 12 W).
    pub(super) fn new_at(meters: Vec<Box<dyn Meter>>, now: Instant) -> EnergyLog {
        EnergyLog {
            slots: meters
                .into_iter()
                .map(|mut meter| {
                    let joules = meter
                        .read(now)
                        .map_or(0.0, |r| r.iter().map(|r| r.joules).sum());
                    Slot {
                        meter,
                        readings: Vec::new(),
                        joules,
                    }
                })
                .collect(),
            joules: 0.0,
            buckets: VecDeque::new(),
            opened: now,
            sampled: now,
        }
    }

    /// Reads every meter now. A meter that fails keeps its last reading (its energy since is
    /// lost, not guessed) and the first failure is returned; the others are still read.
    pub fn sample(&mut self) -> Result<(), Error> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.sample_at(Instant::now(), wall)
    }

    /// [`EnergyLog::sample`] at `now`, `wall` seconds since 1970 by the wall clock. The
    /// energy since the last sample goes to the quarter hour of `wall`: sampled every second,
    /// a boundary blurs by at most a second's energy.
    pub(super) fn sample_at(&mut self, now: Instant, wall: u64) -> Result<(), Error> {
        let mut failure = None;
        let mut added = 0.0;
        for slot in &mut self.slots {
            match slot.meter.read(now) {
                Ok(readings) => {
                    let joules: f64 = readings.iter().map(|r| r.joules).sum();
                    added += (joules - slot.joules).max(0.0);
                    slot.joules = joules;
                    slot.readings = readings;
                }
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        self.joules += added;
        self.sampled = self.sampled.max(now);
        let start = wall - wall % BUCKET_SECONDS;
        match self.buckets.back_mut() {
            // The same quarter, or a wall clock stepped back: never reorder the buckets.
            Some(last) if last.start_unix_s >= start => last.joules += added,
            _ => {
                if self.buckets.len() == MAX_BUCKETS {
                    self.buckets.pop_front();
                }
                self.buckets.push_back(Bucket {
                    start_unix_s: start,
                    joules: added,
                });
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The engines running from now on changed (one joined or failed): the energy up to now
    /// is sampled at the old counts, and the meters count the new ones from here.
    pub fn engines_changed(&mut self, engines: &[&str]) -> Result<(), Error> {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.engines_changed_at(engines, Instant::now(), wall)
    }

    /// [`EnergyLog::engines_changed`] at `now`, `wall` seconds since 1970.
    pub(super) fn engines_changed_at(
        &mut self,
        engines: &[&str],
        now: Instant,
        wall: u64,
    ) -> Result<(), Error> {
        let sampled = self.sample_at(now, wall);
        for slot in &mut self.slots {
            slot.meter.engines_changed(engines, now);
        }
        sampled
    }

    /// Joules since the log was made, all meters together.
    pub fn joules(&self) -> f64 {
        self.joules
    }

    /// The same in kilowatt-hours.
    pub fn kwh(&self) -> f64 {
        self.joules / 3.6e6
    }

    /// The quarter hours sampled, oldest first (at most [`MAX_BUCKETS`], the newest).
    pub fn buckets(&self) -> impl Iterator<Item = &Bucket> {
        self.buckets.iter()
    }

    /// Every channel's last reading.
    pub fn readings(&self) -> impl Iterator<Item = &Reading> {
        self.slots.iter().flat_map(|s| s.readings.iter())
    }

    /// The sources, each with its basis: `rapl:package-0 (measured), declared:asic=12W
    /// (estimated)`; empty before the first sample.
    pub fn sources(&self) -> String {
        self.readings()
            .map(|r| format!("{} ({})", r.source, r.basis))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The mean draw in watts from the log's making to its last sample; `None` before any
    /// time has passed.
    pub fn average_watts(&self) -> Option<f64> {
        let seconds = self.sampled.duration_since(self.opened).as_secs_f64();
        (seconds > 0.0).then(|| self.joules / seconds)
    }

    /// Joules per terahash of `verified_hashes` (from [`verified_hashes`]); `None` before
    /// any work is verified.
    pub fn joules_per_verified_th(&self, verified_hashes: f64) -> Option<f64> {
        (verified_hashes > 0.0).then(|| self.joules / (verified_hashes / 1e12))
    }
}

/// The hashes a run's accepted shares prove: the sum of their difficulties times 2^32. A
/// block a node accepted is an accepted share at the network difficulty, so it is in the sum
/// already. What the engines claim to have hashed plays no part: a device cannot inflate it.
pub fn verified_hashes(stats: &Stats) -> f64 {
    stats.accepted_difficulty * HASHES_PER_DIFFICULTY
}

/// What drawing `watts` for a day costs at `price_per_kwh` (in the price's currency).
pub fn cost_per_day(watts: f64, price_per_kwh: f64) -> f64 {
    watts * 24.0 / 1000.0 * price_per_kwh
}

/// What `hashrate` (hashes per second, the proven rate for an honest figure) earns in a day
/// at `hashprice`, the expected revenue per PH/s per day.
pub fn revenue_per_day(hashrate: f64, hashprice: f64) -> f64 {
    hashrate / 1e15 * hashprice
}
