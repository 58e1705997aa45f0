//! `mine` on an emulated BM1370 stick under a duty fraction set while it runs. The witness is
//! the emulator's own clock of the time its chip had a job under way (what a real stick's power
//! follows), which the miner cannot talk round: it follows the fraction, is nothing when off,
//! and each change takes hold within the 5 s the power policy promises for sticks.

#![cfg(target_os = "linux")]

mod common;

use common::duty::{job, settle_time, OneJob};
use sha256d_emulator::{self as emulator, Config, Protocol};
use sha256d_mining::power::Duty;
use sha256d_mining::{mine, MineOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The emulated stick's rate; the engine is told half, as in the other device tests, so a
/// busy machine slowing the emulator does not make a stick slower than configured.
const RATE: f64 = 400_000.0;

/// What one phase measured on the emulator.
#[derive(Debug)]
struct Phase {
    duty: f64,
    /// The fraction of the phase's last 3 s the chip was hashing.
    busy: f64,
    /// Positions per second it hashed meanwhile (falls, too, when the machine is starved).
    rate: f64,
    /// From the duty being set to the end of the first 1 s window whose busy fraction is
    /// within 0.15 of the duty.
    settled: Duration,
}

#[test]
fn a_sticks_own_hashing_follows_the_duty_and_a_change_holds_within_5_s() {
    let mut config = Config::new(Protocol::Bm1370);
    config.hashrate = RATE;
    config.ticket_bits = 8;
    let emu = emulator::spawn(config).expect("a pty for the emulator");
    let mut options = sha256d::Options::default();
    options.asic_device = Some(emu.path().to_string());
    options.asic_protocol = Some("bm1370".into());
    options.asic_hashrate = Some(RATE / 2.0);
    options.asic_ticket_bits = Some(8);
    // Known answers are other tests' concern: a starved machine must not fail this one.
    options.asic_known_answer_every = Some(Duration::ZERO);
    let engines = vec![sha256d::open("asic", &options).expect("the emulated stick opens")];
    let duty = Arc::new(Duty::new(1.0));
    let stop = Arc::new(AtomicBool::new(false));
    let mine_options = MineOptions {
        time: Some(Duration::from_secs(180)),
        stop: Some(Arc::clone(&stop)),
        duty: Some(Arc::clone(&duty)),
        ..MineOptions::default()
    };
    // Each phase: its duty and how long it lasts; the first is the unthrottled reference.
    let plan = [(1.0, 4.0), (0.25, 6.0), (0.0, 6.0), (1.0, 6.0)];
    let phases = Arc::new(Mutex::new(Vec::new()));
    let driver = {
        let (duty, stop, phases) = (Arc::clone(&duty), Arc::clone(&stop), Arc::clone(&phases));
        let stats = Arc::clone(emu.stats());
        std::thread::spawn(move || {
            let read = || {
                let busy = stats.busy_ns.load(Ordering::Relaxed);
                (Instant::now(), busy, stats.hashes.load(Ordering::Relaxed))
            };
            // The bring-up ramps the clock up step by step before the first job.
            let begun = Instant::now();
            while stats.jobs.load(Ordering::Relaxed) == 0 {
                assert!(begun.elapsed() < Duration::from_secs(60), "no job");
                std::thread::sleep(Duration::from_millis(50));
            }
            let mut samples = vec![read()];
            for (fraction, seconds) in plan {
                duty.set(fraction);
                let t0 = Instant::now();
                let end = t0 + Duration::from_secs_f64(seconds);
                while Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(100));
                    samples.push(read());
                }
                let tail = end - Duration::from_secs(3);
                let from = samples.iter().find(|s| s.0 >= tail).expect("samples");
                let to = samples.last().expect("samples");
                let secs = to.0.duration_since(from.0).as_secs_f64();
                let busy_ns: Vec<(Instant, u64)> = samples.iter().map(|s| (s.0, s.1)).collect();
                // Busy nanoseconds per second, against a whole second's worth.
                let settled = settle_time(
                    &busy_ns,
                    t0,
                    Duration::from_secs(1),
                    (fraction * 1e9, 1e9, 0.15),
                );
                phases.lock().expect("phases").push(Phase {
                    duty: fraction,
                    busy: (to.1 - from.1) as f64 / 1e9 / secs,
                    rate: (to.2 - from.2) as f64 / secs,
                    settled,
                });
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let stats = mine(
        &mut OneJob(Some(job())),
        &engines,
        &mine_options,
        &mut |_, _| {},
    )
    .expect("mines");
    driver.join().expect("the driver does not panic");
    let phases = phases.lock().expect("phases");
    eprintln!("{phases:#?}\nminer: {stats:?}");
    let msg = format!("{phases:?}");
    let (full, quarter, off, back) = (&phases[0], &phases[1], &phases[2], &phases[3]);
    assert!(full.busy > 0.85 && full.rate > 0.0, "{msg}");
    // Each unit pays a job, a park and a fence on the wire: at a quarter the chip hashes a
    // little less than a quarter of the time, never much more.
    assert!(quarter.busy < 0.35 && quarter.busy > 0.1, "{msg}");
    assert!(quarter.rate < full.rate, "{msg}");
    assert_eq!((off.busy, off.rate), (0.0, 0.0), "{msg}");
    assert!(back.busy > 0.85, "{msg}");
    for p in [quarter, off, back] {
        assert!(p.settled <= Duration::from_secs(5), "to {}: {msg}", p.duty);
    }
}
