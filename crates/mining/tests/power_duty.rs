//! The duty gate throttles a real spinning thread: its CPU time tracks the duty fraction.

#![cfg(target_os = "linux")]

use sha256d_mining::power::{busy_slice, Duty, DutyGate};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// This thread's CPU time (user + system), from getrusage(RUSAGE_THREAD).
fn thread_cpu() -> Duration {
    // SAFETY: `usage` is a valid, writable rusage for the call to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD on the calling thread with a valid pointer.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(rc, 0, "getrusage(RUSAGE_THREAD) failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Spins under the gate at `fraction` for `run` of wall time; returns CPU time / wall time and
/// busy (spinning) wall time / wall time.
fn shares(fraction: f64, run: Duration) -> (f64, f64) {
    std::thread::spawn(move || {
        let duty = Duty::new(fraction);
        let stop = AtomicBool::new(false);
        let mut gate = DutyGate::new();
        let (cpu0, wall0) = (thread_cpu(), Instant::now());
        let mut x = 0u64;
        let mut busy = Duration::ZERO;
        while wall0.elapsed() < run {
            let start = Instant::now();
            while start.elapsed() < busy_slice(duty.get()) {
                x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            busy += start.elapsed();
            gate.rest(start.elapsed(), &duty, &stop);
        }
        let wall = wall0.elapsed().as_secs_f64();
        let shares = (
            (thread_cpu() - cpu0).as_secs_f64() / wall,
            busy.as_secs_f64() / wall,
        );
        eprintln!(
            "at {fraction}: CPU share {:.3}, busy share {:.3}",
            shares.0, shares.1
        );
        shares
    })
    .join()
    .expect("the spinning thread does not panic")
}

#[test]
fn cpu_time_tracks_the_duty_fraction() {
    let run = Duration::from_millis(1500);
    // The unthrottled share is what this (possibly busy) machine gives one thread; the
    // throttled shares are measured against it.
    let (full, _) = shares(1.0, run);
    let (half, half_busy) = shares(0.5, run);
    let (quarter, quarter_busy) = shares(0.25, run);
    let msg = format!(
        "CPU full {full:.3}, half {half:.3}, quarter {quarter:.3}; \
         busy half {half_busy:.3}, quarter {quarter_busy:.3}"
    );
    assert!(
        full > 0.3,
        "the machine gave a spinning thread too little CPU to judge: {msg}"
    );
    // The gate's own bookkeeping: time spent spinning is the fraction of wall time.
    assert!((half_busy - 0.5).abs() < 0.08, "{msg}");
    assert!((quarter_busy - 0.25).abs() < 0.08, "{msg}");
    // What the kernel saw, judged against what it gave an unthrottled thread.
    assert!((half - 0.5 * full).abs() < 0.15, "{msg}");
    assert!((quarter - 0.25 * full).abs() < 0.12, "{msg}");
    assert!(quarter < half, "{msg}");
}

#[test]
fn a_stopped_worker_resumes_when_the_duty_rises_and_idles_meanwhile() {
    let duty = Arc::new(Duty::new(0.0));
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (duty, stop) = (duty.clone(), stop.clone());
        std::thread::spawn(move || {
            let cpu0 = thread_cpu();
            DutyGate::new().rest(Duration::from_millis(10), &duty, &stop);
            thread_cpu() - cpu0
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !worker.is_finished(),
        "the worker rests while the duty is 0"
    );
    duty.set(1.0);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !worker.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        worker.is_finished(),
        "the worker resumed within 10 s of the duty rising"
    );
    let cpu = worker.join().expect("the resting thread does not panic");
    // 25 wake-ups over 500 ms cost microseconds each, nothing like spinning.
    assert!(
        cpu < Duration::from_millis(100),
        "resting used {cpu:?} of CPU"
    );

    // A stop ends a rest at duty 0 too.
    duty.set(0.0);
    let worker = {
        let (duty, stop) = (duty.clone(), stop.clone());
        std::thread::spawn(move || DutyGate::new().rest(Duration::from_millis(10), &duty, &stop))
    };
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !worker.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(worker.is_finished(), "the worker stopped within 10 s");
}
