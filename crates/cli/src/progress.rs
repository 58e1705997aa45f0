//! Live progress on a terminal: a search's bar with percent, smoothed hashrate and ETA, and
//! mine's status line. Both are hidden when stderr is not a terminal (or under `-q`).

use crate::logging::bars;
use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use sha256d::Control;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Searches shorter than this never show a progress line, so quick runs print nothing extra.
const QUIET_FOR: Duration = Duration::from_millis(500);
const REFRESH: Duration = Duration::from_millis(200);

/// `v` with an SI prefix: `12.34 MH/s`.
pub fn si(v: f64, unit: &str) -> String {
    let (scale, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(scale, _)| v >= *scale)
        .unwrap_or((1.0, ""));
    format!("{:.2} {prefix}{unit}", v / scale)
}

/// The `{hashrate}` template key: indicatif's smoothed rate of positions, which are hashes.
fn with_hashrate(style: ProgressStyle) -> ProgressStyle {
    style.with_key("hashrate", |s: &ProgressState, w: &mut dyn Write| {
        let _ = write!(w, "{}", si(s.per_sec(), "H/s"));
    })
}

/// Runs `f`, drawing progress from `ctl` on stderr if `show` and the progress lines are shown.
pub fn while_running<T>(ctl: &Control, total: u128, show: bool, f: impl FnOnce() -> T) -> T {
    if !show || bars().is_hidden() {
        return f();
    }
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let start = Instant::now();
            while start.elapsed() < QUIET_FOR {
                if done.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(REFRESH.min(QUIET_FOR));
            }
            let style =
                ProgressStyle::with_template("[{bar:30}] {percent:>3}% {hashrate:>12}  eta {eta}")
                    .expect("the template is valid")
                    .progress_chars("#>.");
            // The rate counts from here: the hashes of the quiet start took their own time.
            let bar = ProgressBar::hidden().with_style(with_hashrate(style));
            bar.set_length(u64::try_from(total).unwrap_or(u64::MAX));
            bar.set_position(ctl.hashes());
            bar.reset_eta();
            let bar = bars().add(bar);
            while !done.load(Ordering::Relaxed) {
                bar.set_position(ctl.hashes());
                std::thread::sleep(REFRESH);
            }
            bar.finish_and_clear();
            bars().remove(&bar);
        });
        let out = f();
        done.store(true, Ordering::Relaxed);
        out
    })
}

/// `mine`'s one-line status on a terminal: the smoothed hashrate, then `message`.
pub struct StatusLine(Option<ProgressBar>);

impl StatusLine {
    /// A status line, drawn only where progress lines are shown.
    pub fn new() -> Self {
        if bars().is_hidden() {
            return StatusLine(None);
        }
        let style =
            ProgressStyle::with_template("{hashrate} | {wide_msg}").expect("the template is valid");
        StatusLine(Some(
            bars().add(
                ProgressBar::no_length()
                    .with_style(with_hashrate(style))
                    .with_message("waiting for work"),
            ),
        ))
    }

    /// Whether it is drawn at all.
    pub fn is_shown(&self) -> bool {
        self.0.is_some()
    }

    /// Redraws with `hashes` done so far and `message` after the rate.
    pub fn set(&self, hashes: u64, message: String) {
        if let Some(bar) = &self.0 {
            bar.set_position(hashes);
            bar.set_message(message);
        }
    }
}

impl Drop for StatusLine {
    fn drop(&mut self) {
        if let Some(bar) = self.0.take() {
            bar.finish_and_clear();
            bars().remove(&bar);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::si;

    #[test]
    fn si_picks_the_largest_prefix_below_the_value() {
        assert_eq!(si(0.0, "H/s"), "0.00 H/s");
        assert_eq!(si(999.0, "H/s"), "999.00 H/s");
        assert_eq!(si(1.5e6, "H/s"), "1.50 MH/s");
        assert_eq!(si(2.5e13, "H/s"), "25.00 TH/s");
    }
}
