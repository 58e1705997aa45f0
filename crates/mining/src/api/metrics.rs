//! Prometheus metrics in the text exposition format 0.0.4 (`GET /metrics`).
//!
//! Every name starts with `sha256d_` and is in base units: counters end in `_total`
//! (`sha256d_hashes_total`, `sha256d_joules_total`), times are in seconds, rates in hashes per
//! second. Per-device series carry `device` (its index) and `engine`; per-pool series carry
//! `index` and `pool` (its URL, which holds no credentials). Label values come from outside
//! (a pool's reject reason, its URL) and are escaped as the format asks.

use super::Snapshot;
use crate::pool::{PoolState, PoolStatus};
use crate::DeviceStats;
use std::fmt::Write;

/// The content type of [`render`]'s text, for the HTTP answer.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The snapshot as Prometheus text format 0.0.4: each family with its `# HELP` and `# TYPE`
/// lines, then its samples.
pub fn render(snapshot: &Snapshot) -> String {
    let stats = &snapshot.stats;
    let mut out = Out::default();

    out.family("build_info", Gauge, "The miner's version, as a label.");
    out.sample(&[("version", env!("CARGO_PKG_VERSION"))], 1u64);
    out.family("uptime_seconds", Gauge, "Seconds since mining started.");
    out.sample(&[], stats.elapsed.as_secs_f64());

    let devices: Vec<(String, &DeviceStats)> = stats
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| (i.to_string(), d))
        .collect();
    let per_device = |out: &mut Out, value: &dyn Fn(usize, &DeviceStats) -> Num| {
        for (i, (index, d)) in devices.iter().enumerate() {
            out.sample(&[("device", index), ("engine", &d.engine)], value(i, d));
        }
    };

    out.family("hashes_total", Counter, "Hashes a device reported as done.");
    per_device(&mut out, &|_, d| d.hashes.into());
    out.family(
        "hashrate_hashes_per_second",
        Gauge,
        "Hashes per second over the run: measured (as the devices report) and proven (as the \
         accepted shares bear out).",
    );
    out.sample(&[("kind", "measured")], stats.hashrate());
    out.sample(&[("kind", "proven")], stats.proven_hashrate());

    out.family(
        "shares_found_total",
        Counter,
        "Results the devices found that the host re-hash confirmed, blocks included.",
    );
    out.sample(&[], stats.shares_found);
    out.family(
        "shares_submitted_total",
        Counter,
        "Results submitted to the pool or node.",
    );
    out.sample(&[], stats.shares_submitted);
    out.family(
        "shares_total",
        Counter,
        "Submissions by verdict; rejections by the peer's reason, its numbers blanked.",
    );
    out.sample(&[("result", "accepted")], stats.accepted);
    for (reason, n) in &stats.rejected {
        out.sample(&[("result", "rejected"), ("reason", reason)], *n);
    }
    out.family(
        "shares_stale_total",
        Counter,
        "Shares whose job was void before they could be submitted, and rejections given as \
         stale.",
    );
    out.sample(&[], stats.stale);
    out.family(
        "shares_dropped_total",
        Counter,
        "Results found but not submitted, by why.",
    );
    for (reason, n) in &stats.dropped {
        out.sample(&[("reason", reason.as_str())], *n);
    }
    out.family(
        "best_share_difficulty",
        Gauge,
        "The highest difficulty among the shares found.",
    );
    out.sample(&[], stats.best_share_difficulty);
    if let Some(difficulty) = stats.difficulty {
        out.family(
            "share_difficulty",
            Gauge,
            "The share difficulty of the newest job.",
        );
        out.sample(&[], difficulty);
    }
    out.family(
        "blocks_found_total",
        Counter,
        "Shares that also met the network target and were submitted.",
    );
    out.sample(&[], stats.blocks_found);
    out.family(
        "blocks_accepted_total",
        Counter,
        "Blocks a node accepted (solo mining).",
    );
    out.sample(&[], stats.blocks_accepted);
    out.family(
        "block_candidates_total",
        Counter,
        "Shares that met the network target and that a pool accepted.",
    );
    out.sample(&[], stats.block_candidates);

    out.family(
        "device_enabled",
        Gauge,
        "1 while the operator leaves the device enabled.",
    );
    per_device(&mut out, &|_, d| u64::from(!d.disabled).into());
    out.family(
        "device_up",
        Gauge,
        "1 while the device hashes, 0 once it has stopped on a failure.",
    );
    per_device(&mut out, &|_, d| u64::from(d.failure.is_none()).into());
    out.family(
        "device_shares_total",
        Counter,
        "A device's submissions by verdict.",
    );
    for (index, d) in &devices {
        for (result, n) in [("accepted", d.accepted), ("rejected", d.rejected)] {
            let labels = [("device", index.as_str()), ("engine", &d.engine)];
            out.sample(&[labels[0], labels[1], ("result", result)], n);
        }
    }
    out.family(
        "hardware_errors_total",
        Counter,
        "Results a device reported that the host re-hash disproved.",
    );
    per_device(&mut out, &|_, d| d.hardware_errors.into());
    out.family(
        "known_answer_misses_total",
        Counter,
        "Known-answer jobs a device failed to answer.",
    );
    per_device(&mut out, &|_, d| d.known_answer_misses.into());
    out.family(
        "known_answers_passed_total",
        Counter,
        "Known-answer jobs a device answered.",
    );
    per_device(&mut out, &|_, d| d.known_answers_passed.into());

    if let Some(energy) = &snapshot.energy {
        let source = [("source", energy.source.as_str())];
        if let Some(watts) = energy.watts {
            out.family("power_watts", Gauge, "Watts over the last interval.");
            out.sample(&source, watts);
        }
        if let Some(joules) = energy.joules {
            out.family("joules_total", Counter, "Joules since the run started.");
            out.sample(&source, joules);
        }
    }
    if let Some(power) = &snapshot.power {
        out.family(
            "duty_ratio",
            Gauge,
            "The duty the engines follow now, from 0 (off) to 1 (full).",
        );
        out.sample(&[], power.duty);
        out.family(
            "setpoint_info",
            Gauge,
            "The cap in force and the source that set it (empty: nothing caps the run).",
        );
        let cap = power.cap.to_string();
        let source = power.source.as_deref().unwrap_or("");
        out.sample(&[("cap", &cap), ("source", source)], 1u64);
    }

    let pools: Vec<(String, &PoolState)> = snapshot
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| (i.to_string(), p))
        .collect();
    let per_pool = |out: &mut Out, value: &dyn Fn(&PoolState) -> Option<Num>| {
        for (index, p) in &pools {
            if let Some(value) = value(p) {
                out.sample(&[("index", index), ("pool", &p.url)], value);
            }
        }
    };
    out.family(
        "pool_up",
        Gauge,
        "1 while the pool (or, solo, the node) sends work.",
    );
    per_pool(&mut out, &|p| {
        Some(u64::from(p.status == PoolStatus::Alive).into())
    });
    out.family(
        "pool_active",
        Gauge,
        "1 for the pool the work mined now comes from.",
    );
    per_pool(&mut out, &|p| Some(u64::from(p.active).into()));
    out.family(
        "pool_shares_total",
        Counter,
        "Submissions to a pool by verdict (rejected counts the stale ones too).",
    );
    for (index, p) in &pools {
        for (result, n) in [("accepted", p.accepted), ("rejected", p.rejected)] {
            out.sample(&[("index", index), ("pool", &p.url), ("result", result)], n);
        }
    }
    out.family(
        "pool_shares_stale_total",
        Counter,
        "A pool's rejections given as stale.",
    );
    per_pool(&mut out, &|p| Some(p.stale.into()));
    out.family(
        "pool_difficulty",
        Gauge,
        "The share difficulty of a pool's newest job.",
    );
    per_pool(&mut out, &|p| p.difficulty.map(Num::from));
    out.text
}

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
}
use Kind::{Counter, Gauge};

/// A sample's value: counts print as integers, however large.
#[derive(Clone, Copy)]
enum Num {
    Int(u64),
    Float(f64),
}

impl From<u64> for Num {
    fn from(n: u64) -> Self {
        Num::Int(n)
    }
}

impl From<f64> for Num {
    fn from(x: f64) -> Self {
        Num::Float(x)
    }
}

#[derive(Default)]
struct Out {
    text: String,
    /// The current family's full name, which its samples take.
    name: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.name = format!("sha256d_{name}");
        let kind = match kind {
            Counter => "counter",
            Gauge => "gauge",
        };
        // Writing to a String cannot fail.
        let _ = writeln!(self.text, "# HELP {} {}", self.name, escape_help(help));
        let _ = writeln!(self.text, "# TYPE {} {kind}", self.name);
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: impl Into<Num>) {
        self.text.push_str(&self.name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{name}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = match value.into() {
            Num::Int(n) => writeln!(self.text, " {n}"),
            Num::Float(x) => writeln!(self.text, " {}", float(x)),
        };
    }
}

/// A float as the format spells it: Go's `ParseFloat` forms, `+Inf`, `-Inf`, `NaN`.
fn float(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        x.to_string()
    }
}

/// A label value escaped as text format 0.0.4 asks: backslash, double quote and line feed.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text escaped: backslash and line feed (a quote is fine there).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
