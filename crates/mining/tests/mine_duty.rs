//! `mine` under a duty fraction set while it runs: the hashes it counts and, as a witness the
//! miner cannot talk round, the CPU time the kernel charged the process follow the fraction,
//! and a change takes hold within the 2 s the power policy promises for CPU engines. One test
//! in this file, so the process's CPU time is this run's alone.

#![cfg(target_os = "linux")]

mod common;

use common::duty::{job, settle_time, OneJob};
use sha256d_mining::power::Duty;
use sha256d_mining::{mine, MineOptions, Stats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The process's CPU time (user + system) from /proc, in clock ticks of 10 ms: coarse, but
/// each phase below lasts seconds.
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name and state.
    Duration::from_millis(10 * (ticks(11) + ticks(12)))
}

/// What one phase of the run measured.
#[derive(Debug)]
struct Phase {
    duty: f64,
    /// Hashes per second counted by the miner.
    rate: f64,
    /// CPU seconds per wall second charged to the process.
    cpu: f64,
    /// From the duty being set to the end of the first 600 ms window whose hash rate is
    /// near the new duty.
    settled: Duration,
}

#[test]
fn hashing_and_cpu_time_follow_the_duty_and_a_change_holds_within_2_s() {
    let engine =
        sha256d::open("portable", &sha256d::Options::default()).expect("portable always runs");
    let threads = engine.threads() as f64;
    let engines = vec![engine];
    let duty = Arc::new(Duty::new(1.0));
    let stop = Arc::new(AtomicBool::new(false));
    let options = MineOptions {
        time: Some(Duration::from_secs(120)),
        status_every: Duration::from_millis(10),
        stop: Some(Arc::clone(&stop)),
        duty: Some(Arc::clone(&duty)),
        ..MineOptions::default()
    };
    // Each phase: its duty and how long it lasts; the first is the unthrottled reference.
    let plan = [(1.0, 3.0), (0.25, 4.0), (0.0, 3.0), (1.0, 3.0)];
    let samples: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let phases = Arc::new(Mutex::new(Vec::new()));
    let driver = {
        let (duty, stop, samples, phases) = (
            Arc::clone(&duty),
            Arc::clone(&stop),
            Arc::clone(&samples),
            Arc::clone(&phases),
        );
        std::thread::spawn(move || {
            // Let the engine warm up before the reference phase.
            std::thread::sleep(Duration::from_millis(500));
            let mut full_rate = None;
            for (fraction, seconds) in plan {
                duty.set(fraction);
                let (t0, cpu0) = (Instant::now(), process_cpu());
                let h0 = samples.lock().expect("samples").last().map_or(0, |s| s.1);
                std::thread::sleep(Duration::from_secs_f64(seconds));
                let (wall, cpu) = (t0.elapsed().as_secs_f64(), process_cpu() - cpu0);
                let samples = samples.lock().expect("samples").clone();
                let h1 = samples.last().map_or(0, |s| s.1);
                let rate = (h1 - h0) as f64 / wall;
                let full: f64 = *full_rate.get_or_insert(rate);
                // Three duty cycles, within 12% of the full rate.
                let settled = settle_time(
                    &samples,
                    t0,
                    Duration::from_millis(600),
                    (fraction * full, full, 0.12),
                );
                phases.lock().expect("phases").push(Phase {
                    duty: fraction,
                    rate,
                    cpu: cpu.as_secs_f64() / wall,
                    settled,
                });
            }
            stop.store(true, Ordering::Relaxed);
        })
    };
    let stats: Stats = mine(&mut OneJob(Some(job())), &engines, &options, &mut |s, _| {
        samples
            .lock()
            .expect("samples")
            .push((Instant::now(), s.hashes));
    })
    .expect("mines");
    driver.join().expect("the driver does not panic");
    let phases = phases.lock().expect("phases");
    eprintln!("{threads} threads; {phases:#?}");
    let msg = format!("{phases:?}");
    let (full, quarter, off, back) = (&phases[0], &phases[1], &phases[2], &phases[3]);
    assert!(full.rate > 0.0 && full.cpu > 0.2, "{msg}");
    // The miner's own count, throttled against unthrottled.
    assert!((quarter.rate / full.rate - 0.25).abs() < 0.12, "{msg}");
    assert!(off.rate / full.rate < 0.02, "{msg}");
    assert!(back.rate / full.rate > 0.6, "{msg}");
    // The kernel's count: CPU time goes down with the duty and is all but gone when off.
    assert!(quarter.cpu < 0.6 * full.cpu, "{msg}");
    assert!(quarter.cpu > 0.05 * full.cpu, "{msg}");
    assert!(off.cpu < 0.1 * full.cpu, "{msg}");
    // Each change held within 2 s.
    for p in [quarter, off, back] {
        assert!(p.settled <= Duration::from_secs(2), "to {}: {msg}", p.duty);
    }
    assert!(stats.hashes > 0, "{stats:?}");
}
