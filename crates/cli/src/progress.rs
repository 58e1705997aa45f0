//! A live progress line on a terminal: percent done and hashrate, refreshed while a search runs.

use sha256d::Control;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Searches shorter than this never show a progress line, so quick runs print nothing extra.
const QUIET_FOR: Duration = Duration::from_millis(500);
const REFRESH: Duration = Duration::from_millis(200);

/// Runs `f`, drawing progress from `ctl` on stderr if `show` and stderr is a terminal.
pub fn while_running<T>(ctl: &Control, total: u128, show: bool, f: impl FnOnce() -> T) -> T {
    if !show || !std::io::stderr().is_terminal() {
        return f();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            let mut drawn = false;
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(REFRESH);
                let elapsed = start.elapsed();
                if elapsed < QUIET_FOR || done.load(Ordering::Relaxed) {
                    continue;
                }
                let hashes = ctl.hashes();
                let rate = hashes as f64 / elapsed.as_secs_f64();
                let frac = hashes as f64 / (total.max(1) as f64);
                let eta = (total as f64 - hashes as f64).max(0.0) / rate.max(1.0);
                let bar: String = (0..30)
                    .map(|i| if (i as f64) < frac * 30.0 { '#' } else { '.' })
                    .collect();
                eprint!(
                    "\r[{bar}] {:5.1}% {:9.2} MH/s  eta {:.0} s   ",
                    frac * 100.0,
                    rate / 1e6,
                    eta
                );
                drawn = true;
            }
            if drawn {
                eprint!("\r{:70}\r", "");
                let _ = std::io::stderr().flush();
            }
        });
        let out = f();
        done.store(true, Ordering::Relaxed);
        out
    })
}
