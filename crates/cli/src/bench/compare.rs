//! `bench --compare FILE`: this run's rows against a saved run's, matched by name, threads and
//! versions, each as a ratio current / saved next to the noise (spread) both runs saw.

use super::saved::{self, same_row, Saved, SavedRow};
use serde_json::{json, Value};
use sha256d::{Error, ErrorKind};
use std::io::Read;

/// One matched row.
#[derive(Debug, PartialEq)]
pub struct Ratio {
    pub now: SavedRow,
    pub saved: SavedRow,
}

impl Ratio {
    pub fn ratio(&self) -> f64 {
        self.now.mhs / self.saved.mhs
    }

    /// Whether the change is no larger than the two runs' spreads together: not a change one
    /// could tell from noise.
    pub fn within_noise(&self) -> Option<bool> {
        let noise = self.now.spread? + self.saved.spread?;
        Some((self.ratio() - 1.0).abs() <= noise)
    }
}

/// The whole comparison.
#[derive(Debug, PartialEq)]
pub struct Comparison {
    pub file: String,
    pub saved: Saved,
    pub matched: Vec<Ratio>,
    /// Rows of this run the saved one lacks, and the other way round.
    pub only_now: Vec<SavedRow>,
    pub only_saved: Vec<SavedRow>,
}

/// Reads and parses a saved run, at most [`saved::MAX_BYTES`] of it.
pub fn load(path: &str) -> Result<Saved, Error> {
    let fail =
        |why: String| Error::new(ErrorKind::InvalidInput, format!("--compare {path}: {why}"));
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot open: {e}")))?;
    let mut bytes = Vec::new();
    file.take(saved::MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    saved::parse(&bytes).map_err(fail)
}

/// Matches `now` against `saved`.
pub fn compare(file: &str, now: Vec<SavedRow>, saved: Saved) -> Comparison {
    let mut matched = Vec::new();
    let mut only_now = Vec::new();
    for n in now {
        match saved.rows.iter().find(|s| same_row(s, &n)) {
            Some(s) => matched.push(Ratio {
                now: n,
                saved: s.clone(),
            }),
            None => only_now.push(n),
        }
    }
    let only_saved = saved
        .rows
        .iter()
        .filter(|s| !matched.iter().any(|m| same_row(&m.saved, s)))
        .cloned()
        .collect();
    Comparison {
        file: file.to_string(),
        saved,
        matched,
        only_now,
        only_saved,
    }
}

fn key(r: &SavedRow) -> Value {
    json!({"name": r.name, "threads": r.threads, "versions": r.versions})
}

impl Comparison {
    /// The `compare` object of `bench --json`.
    pub fn json(&self) -> Value {
        json!({
            "file": self.file,
            "saved_timestamp": self.saved.timestamp,
            "saved_commit": self.saved.commit,
            "rows": self.matched.iter().map(|m| json!({
                "name": m.now.name,
                "threads": m.now.threads,
                "versions": m.now.versions,
                "mhs": m.now.mhs,
                "saved_mhs": m.saved.mhs,
                "ratio": m.ratio(),
                "spread": m.now.spread,
                "saved_spread": m.saved.spread,
                "within_noise": m.within_noise(),
            })).collect::<Vec<_>>(),
            "only_current": self.only_now.iter().map(key).collect::<Vec<_>>(),
            "only_saved": self.only_saved.iter().map(key).collect::<Vec<_>>(),
        })
    }

    /// The comparison as table lines.
    pub fn lines(&self) -> Vec<String> {
        let when = match (&self.saved.timestamp, &self.saved.commit) {
            (Some(t), Some(c)) => format!(" (saved {t}, commit {c})"),
            (Some(t), None) => format!(" (saved {t})"),
            (None, Some(c)) => format!(" (commit {c})"),
            (None, None) => String::new(),
        };
        let pct = |s: Option<f64>| s.map_or("-".to_string(), |s| format!("{:.1}%", s * 100.0));
        let mut out = vec![
            format!("compared with {}{when}:", self.file),
            format!(
                "{:<14} {:>3} {:>3} {:>10} {:>7} {:>10} {:>7} {:>7}",
                "engine", "thr", "ver", "now MH/s", "spread", "saved", "spread", "ratio"
            ),
        ];
        for m in &self.matched {
            let verdict = match m.within_noise() {
                Some(true) => "  within noise",
                Some(false) => "",
                None => "  (noise unknown)",
            };
            out.push(format!(
                "{:<14} {:>3} {:>3} {:>10.2} {:>7} {:>10.2} {:>7} {:>7.3}{verdict}",
                m.now.name,
                m.now.threads,
                m.now.versions,
                m.now.mhs,
                pct(m.now.spread),
                m.saved.mhs,
                pct(m.saved.spread),
                m.ratio()
            ));
        }
        let names = |rows: &[SavedRow]| {
            rows.iter()
                .map(|r| format!("{} ({} thr, {} ver)", r.name, r.threads, r.versions))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.only_now.is_empty() {
            out.push(format!("not in the saved run: {}", names(&self.only_now)));
        }
        if !self.only_saved.is_empty() {
            out.push(format!(
                "only in the saved run: {}",
                names(&self.only_saved)
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, versions: u64, mhs: f64, spread: Option<f64>) -> SavedRow {
        SavedRow {
            name: name.into(),
            threads: 1,
            versions,
            mhs,
            spread,
        }
    }

    #[test]
    fn rows_match_by_name_threads_and_versions() {
        let saved = Saved {
            rows: vec![
                row("avx2", 1, 10.0, Some(0.02)),
                row("avx2", 4, 12.0, Some(0.01)),
                row("gone", 1, 1.0, None),
            ],
            timestamp: None,
            commit: None,
        };
        let now = vec![
            row("avx2", 4, 13.2, Some(0.01)),
            row("avx2", 1, 10.1, Some(0.02)),
            row("new", 1, 2.0, None),
        ];
        let c = compare("old.json", now, saved);
        let got: Vec<(u64, f64, Option<bool>)> = c
            .matched
            .iter()
            .map(|m| {
                (
                    m.now.versions,
                    (m.ratio() * 1000.0).round() / 1000.0,
                    m.within_noise(),
                )
            })
            .collect();
        // 13.2 / 12 = 1.1, outside 1% + 1%; 10.1 / 10 = 1.01, inside 2% + 2%.
        assert_eq!(got, [(4, 1.1, Some(false)), (1, 1.01, Some(true))]);
        assert_eq!(c.only_now, [row("new", 1, 2.0, None)]);
        assert_eq!(c.only_saved, [row("gone", 1, 1.0, None)]);
        let lines = c.lines();
        assert_eq!(lines[0], "compared with old.json:");
        assert!(lines[3].ends_with("within noise"), "{}", lines[3]);
        assert_eq!(lines[4], "not in the saved run: new (1 thr, 1 ver)");
        assert_eq!(lines[5], "only in the saved run: gone (1 thr, 1 ver)");
    }
}
