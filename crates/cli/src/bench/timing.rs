//! Timing in interleaved rounds: every row is warmed up, then each round times every row once
//! and runs every probe (the ceiling microkernels) once, so a clock or load that drifts during
//! the bench moves all rows alike instead of penalising whichever ran last.

use sha256d::Error;
use std::time::{Duration, Instant};

/// A row to time: `hash(n)` hashes about `n` nonces and returns how many it did.
pub struct Timer<'a> {
    hash: Box<dyn FnMut(u64) -> Result<u64, Error> + 'a>,
    /// Hashes per second, from the last run: sizes the next one.
    rate: f64,
}

impl<'a> Timer<'a> {
    pub fn new(hash: impl FnMut(u64) -> Result<u64, Error> + 'a) -> Self {
        Timer {
            hash: Box::new(hash),
            rate: 1e6,
        }
    }

    /// One run of about `seconds`: (hashes, wall seconds, process CPU seconds if known).
    fn run(&mut self, seconds: f64) -> Result<(u64, f64, Option<f64>), Error> {
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let n = (self.hash)((self.rate * seconds) as u64)?;
        let wall = t.elapsed().as_secs_f64().max(1e-9);
        let cpu = cpu0.zip(cpu_seconds()).map(|(a, b)| b - a);
        self.rate = n as f64 / wall;
        Ok((n, wall, cpu))
    }
}

/// A measurement run once per round (a ceiling microkernel); the best result is kept, as the
/// one least disturbed.
pub struct Probe<'a> {
    measure: Box<dyn FnMut(Duration) -> Option<f64> + 'a>,
    pub best: Option<f64>,
}

impl<'a> Probe<'a> {
    pub fn new(measure: impl FnMut(Duration) -> Option<f64> + 'a) -> Self {
        Probe {
            measure: Box::new(measure),
            best: None,
        }
    }
}

/// What one row's timed runs measured.
pub struct Measured {
    /// MH/s of each run, in round order.
    pub runs_mhs: Vec<f64>,
    /// Process CPU seconds of each run, where the OS tells it.
    pub runs_cpu: Vec<Option<f64>>,
    /// Hashes over all timed runs.
    pub hashes: u64,
}

impl Measured {
    /// CPU seconds over all runs; `None` if any run's is unknown.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.runs_cpu.iter().copied().sum()
    }
}

/// Process CPU time (user + system) in seconds, where the OS tells it.
fn cpu_seconds() -> Option<f64> {
    cpu_time::ProcessTime::try_now()
        .ok()
        .map(|t| t.as_duration().as_secs_f64())
}

/// Warms every timer up (finding its rate, letting clocks and caches settle), then times
/// `runs` rounds of about `seconds / runs` per row, each round also running every probe.
pub fn rounds(
    timers: &mut [Timer<'_>],
    probes: &mut [Probe<'_>],
    seconds: f64,
    runs: usize,
) -> Result<Vec<Measured>, Error> {
    let per_run = seconds / runs as f64;
    for t in timers.iter_mut() {
        for warm in [0.02, per_run.clamp(0.02, 0.3)] {
            t.run(warm)?;
        }
    }
    // A probe gets a fifth of a row's run: enough trials for a best one.
    let probe_budget = Duration::from_secs_f64((per_run / 5.0).clamp(0.01, 0.1));
    let mut out: Vec<Measured> = timers
        .iter()
        .map(|_| Measured {
            runs_mhs: Vec::with_capacity(runs),
            runs_cpu: Vec::with_capacity(runs),
            hashes: 0,
        })
        .collect();
    for _ in 0..runs {
        for p in probes.iter_mut() {
            if let Some(v) = (p.measure)(probe_budget) {
                p.best = Some(p.best.map_or(v, |b| b.max(v)));
            }
        }
        for (t, m) in timers.iter_mut().zip(&mut out) {
            let (n, wall, cpu) = t.run(per_run)?;
            m.runs_mhs.push(n as f64 / wall / 1e6);
            m.runs_cpu.push(cpu);
            m.hashes = m.hashes.saturating_add(n);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn each_round_times_every_row_once_and_runs_every_probe() {
        let log = RefCell::new(Vec::new());
        let mut timers = vec![
            Timer::new(|_| {
                log.borrow_mut().push('a');
                Ok(1000)
            }),
            Timer::new(|_| {
                log.borrow_mut().push('b');
                Ok(1000)
            }),
        ];
        let mut probes = vec![Probe::new(|_| {
            log.borrow_mut().push('p');
            Some(log.borrow().len() as f64)
        })];
        let measured = rounds(&mut timers, &mut probes, 0.03, 3).expect("no row fails");
        // Two warm-ups per row, then rounds of probe, a, b.
        assert_eq!(log.borrow().iter().collect::<String>(), "aabbpabpabpab");
        assert_eq!(measured.len(), 2);
        assert!(measured
            .iter()
            .all(|m| m.runs_mhs.len() == 3 && m.runs_cpu.len() == 3));
        // The best of the probe's results (the log's length when it last ran).
        assert_eq!(probes[0].best, Some(11.0));
    }

    #[test]
    fn a_failing_row_stops_the_bench() {
        let mut timers = vec![Timer::new(|_| {
            Err(Error::new(sha256d::ErrorKind::Device, "gone"))
        })];
        let e = rounds(&mut timers, &mut [], 0.01, 1)
            .err()
            .expect("the error");
        assert_eq!(e.message(), "gone");
    }
}
