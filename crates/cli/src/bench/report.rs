//! The bench's output: the table, the JSON object, and the figures both derive from each row.

use super::plot::Bar;
use super::reference::BASE;
use super::saved::SavedRow;
use super::stats::{self, WIDE_SPREAD};
use super::Row;
use serde_json::{json, Value};

impl Row {
    pub fn median(&self) -> f64 {
        stats::median(&self.measured.runs_mhs).unwrap_or(f64::NAN)
    }

    pub fn spread(&self) -> Option<f64> {
        stats::spread(&self.measured.runs_mhs)
    }

    /// MH per CPU-second of the whole process while the row ran.
    pub fn mh_per_cpu_second(&self) -> Option<f64> {
        self.measured
            .cpu_seconds()
            .filter(|c| *c > 0.0)
            .map(|c| self.measured.hashes as f64 / 1e6 / c)
    }

    /// MH/s of one hashing thread while it ran: per CPU-second where the OS tells it, so a
    /// busy machine's stolen time does not count against the row; none for devices.
    fn per_thread(&self) -> Option<f64> {
        (self.threads > 0).then(|| {
            self.mh_per_cpu_second()
                .unwrap_or(self.median() / self.threads as f64)
        })
    }

    /// The fraction of its ceiling the row reached.
    pub fn fraction(&self) -> Option<f64> {
        let c = self.ceiling.as_ref()?;
        let rate = if c.per_thread {
            self.per_thread()?
        } else {
            self.median()
        };
        Some(rate / c.mhs).filter(|f| f.is_finite())
    }

    /// CPU cycles per nonce on one thread, at the measured clock.
    fn cycles_per_nonce(&self, clock: &Clock) -> Option<f64> {
        let hz = clock.hz?;
        self.per_thread()
            .map(|r| hz / (r * 1e6))
            .filter(|c| c.is_finite())
    }

    /// This row's rate over the same engine's one-version row, for rows rolling more.
    fn vs_one_version(&self, rows: &[Row]) -> Option<f64> {
        if self.versions == 1 || self.reference {
            return None;
        }
        let one = rows
            .iter()
            .find(|r| r.name == self.name && r.threads == self.threads && r.versions == 1)?;
        Some(self.median() / one.median()).filter(|x| x.is_finite())
    }
}

/// The clock cycles per nonce are counted at: measured, or else the OS's nominal figure.
pub struct Clock {
    hz: Option<f64>,
    source: Option<&'static str>,
}

impl Clock {
    pub fn new(measured: Option<f64>) -> Self {
        match measured {
            Some(hz) => Clock {
                hz: Some(hz),
                source: Some("measured: dependent add chain"),
            },
            None => {
                let hz = nominal_mhz().map(|m| m * 1e6);
                Clock {
                    hz,
                    source: hz.map(|_| "nominal: /proc/cpuinfo"),
                }
            }
        }
    }
}

/// The OS's nominal clock, where the microkernel cannot run.
fn nominal_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

fn base(rows: &[Row]) -> f64 {
    rows.iter()
        .find(|r| r.reference && r.name == BASE)
        .map_or(f64::NAN, Row::median)
}

/// The JSON object, without its `context`.
pub fn json(rows: &[Row], clock: &Clock, agreed: usize) -> Value {
    let base = base(rows);
    let to_json = |r: &Row| -> Value {
        let m = r.median();
        let mut v = json!({
            "name": r.name,
            "mhs": m,
            "threads": r.threads,
            "versions": r.versions,
            "detail": r.detail,
            "runs_mhs": r.measured.runs_mhs,
            "runs_cpu_seconds": r.measured.runs_cpu,
            "spread": r.spread(),
            "vs_sha2_midstate": m / base,
            "vs_one_version": r.vs_one_version(rows),
            "cycles_per_nonce": r.cycles_per_nonce(clock),
            "cpu_seconds": r.measured.cpu_seconds(),
            "mh_per_cpu_second": r.mh_per_cpu_second(),
            "ceiling_mhs": r.ceiling.as_ref().map(|c| c.mhs),
            "ceiling_per_thread": r.ceiling.as_ref().map(|c| c.per_thread),
            "ceiling_basis": r.ceiling.as_ref().map(|c| c.basis.clone()),
            "instructions_counted": r.ceiling.as_ref().and_then(|c| c.instructions_counted),
            "ceiling_fraction": r.fraction(),
        });
        if let Some(a) = &r.adapter {
            v["adapter"] = json!(a.name);
            v["software_adapter"] = json!(a.software);
        }
        v
    };
    let (reference, engines): (Vec<&Row>, Vec<&Row>) = rows.iter().partition(|r| r.reference);
    json!({
        "engines": engines.into_iter().map(to_json).collect::<Vec<_>>(),
        "reference": reference.into_iter().map(to_json).collect::<Vec<_>>(),
        "agreed_results": agreed,
        "clock_mhz": clock.hz.map(|h| h / 1e6),
        "clock_source": clock.source,
    })
}

/// A row as `--compare` matches it.
pub fn as_saved(r: &Row) -> SavedRow {
    SavedRow {
        name: r.name.clone(),
        threads: r.threads as u64,
        versions: u64::from(r.versions),
        mhs: r.median(),
        spread: r.spread(),
    }
}

/// Every row as a bar of the `--plot` chart.
pub fn bars(rows: &[Row]) -> Vec<Bar> {
    rows.iter()
        .map(|r| {
            let runs = &r.measured.runs_mhs;
            Bar {
                label: format!("{} ({} thr, {} ver)", r.name, r.threads, r.versions),
                median: r.median(),
                min: runs.iter().copied().fold(f64::INFINITY, f64::min),
                max: runs.iter().copied().fold(0.0, f64::max),
                fraction: r.fraction(),
            }
        })
        .collect()
}

/// The table, with its notes and warnings, as lines.
pub fn table(rows: &[Row], clock: &Clock) -> Vec<String> {
    let base = base(rows);
    let dash = || "-".to_string();
    let mut out = vec![format!(
        "{:<14} {:>3} {:>3} {:>10} {:>7} {:>8} {:>9} {:>9} {:>8}",
        "engine", "thr", "ver", "MH/s", "spread", "x midst", "cyc/nonce", "MH/cpu-s", "ceiling"
    )];
    for r in rows {
        let m = r.median();
        out.push(format!(
            "{:<14} {:>3} {:>3} {:>10.2} {:>7} {:>8.2} {:>9} {:>9} {:>8}",
            r.name,
            r.threads,
            r.versions,
            m,
            r.spread()
                .map_or_else(dash, |s| format!("{:.1}%", s * 100.0)),
            m / base,
            r.cycles_per_nonce(clock)
                .map_or_else(dash, |c| format!("{c:.0}")),
            r.mh_per_cpu_second()
                .map_or_else(dash, |c| format!("{c:.2}")),
            r.fraction()
                .map_or_else(dash, |f| format!("{:.0}%", f * 100.0)),
        ));
    }
    match (clock.hz, clock.source) {
        (Some(hz), Some(source)) => out.push(format!(
            "cycles per nonce per thread at {:.2} GHz ({source}), per CPU-second",
            hz / 1e9
        )),
        _ => out.push("cycles per nonce: no clock measured on this machine".to_string()),
    }
    for r in rows {
        if let (Some(c), Some(f)) = (&r.ceiling, r.fraction()) {
            out.push(format!(
                "ceiling {} ({} ver): {:.2} MH/s{} from {}; reached {:.0}%",
                r.name,
                r.versions,
                c.mhs,
                if c.per_thread { " per thread" } else { "" },
                c.basis,
                f * 100.0
            ));
        }
    }
    let gains: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            r.vs_one_version(rows)
                .map(|g| format!("{} {:.2}x at {} versions", r.name, g, r.versions))
        })
        .collect();
    if !gains.is_empty() {
        out.push(format!("rolled versions over one: {}", gains.join(", ")));
    }
    for r in rows {
        if let Some(a) = r.adapter.as_ref().filter(|a| a.software) {
            out.push(format!(
                "note: {} runs on {}, a software adapter: it hashes on the CPU",
                r.name, a.name
            ));
        }
    }
    let wide: Vec<String> = rows
        .iter()
        .filter(|r| r.spread().is_some_and(|s| s > WIDE_SPREAD))
        .map(|r| format!("{} ({} ver)", r.name, r.versions))
        .collect();
    if !wide.is_empty() {
        out.push(format!(
            "warning: runs spread over {:.0}% on {}: the machine is busy or its clock moved; \
             compare ratios within this run, or use more --seconds",
            WIDE_SPREAD * 100.0,
            wide.join(", ")
        ));
    }
    out
}
