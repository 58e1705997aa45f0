//! Reading back what `bench --save` (or `--json`) wrote, for `--compare`. The file comes from
//! outside, perhaps another machine or an older release, so it is held to a size limit before
//! parsing, every field used is checked, and the errors say which one was wrong.
//!
//! Only `std`, `serde_json` and [`super::stats`] are used here, so the fuzz target builds this
//! file as it is.

use super::stats;
use serde_json::{Map, Value};

/// The largest file read: a real one is a few kilobytes.
pub const MAX_BYTES: usize = 1 << 20;

/// The most rows a file may hold; a real one has a dozen.
pub const MAX_ROWS: usize = 256;

/// Runs per row read for the spread; a real file has at most `bench --runs`' bound.
const MAX_RUNS: usize = 1000;

/// The longest row name or context string kept.
const MAX_TEXT: usize = 64;

/// One saved row: what it is, and what it measured.
#[derive(Clone, Debug, PartialEq)]
pub struct SavedRow {
    pub name: String,
    pub threads: u64,
    pub versions: u64,
    pub mhs: f64,
    /// (max - min) / median over its runs, when the file had them.
    pub spread: Option<f64>,
}

/// A saved bench run.
#[derive(Debug, PartialEq)]
pub struct Saved {
    /// Engine rows, then reference rows, in file order.
    pub rows: Vec<SavedRow>,
    /// When it ran (`context.timestamp`), if the file says.
    pub timestamp: Option<String>,
    /// The commit it was built from (`context.commit`), if the file says.
    pub commit: Option<String>,
}

/// Parses a saved run. Files from before rolled-version rows lack `versions`: their rows
/// count as one version.
pub fn parse(bytes: &[u8]) -> Result<Saved, String> {
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "larger than {} KiB; a bench file is a few KiB",
            MAX_BYTES >> 10
        ));
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    let top = v
        .as_object()
        .ok_or("not a JSON object, so not a `sha256d bench --json` file")?;
    let mut rows = Vec::new();
    for key in ["engines", "reference"] {
        let list = match top.get(key) {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(format!("\"{key}\" is not an array")),
            None if key == "engines" => {
                return Err("no \"engines\" array, so not a `sha256d bench --json` file".into())
            }
            None => continue,
        };
        for (i, r) in list.iter().enumerate() {
            if rows.len() == MAX_ROWS {
                return Err(format!("more than {MAX_ROWS} rows"));
            }
            let row = r
                .as_object()
                .ok_or_else(|| format!("{key}[{i}] is not an object"))
                .and_then(row)
                .map_err(|e| format!("{key}[{i}]: {e}"))?;
            if rows.iter().any(|o: &SavedRow| same_row(o, &row)) {
                return Err(format!(
                    "{key}[{i}]: row {} ({} threads, {} versions) appears twice",
                    row.name, row.threads, row.versions
                ));
            }
            rows.push(row);
        }
    }
    let context = top.get("context").and_then(Value::as_object);
    let text = |k: &str| {
        context
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
            .and_then(clean)
    };
    Ok(Saved {
        rows,
        timestamp: text("timestamp"),
        commit: text("commit"),
    })
}

/// Whether two rows measure the same thing: rows are matched by name, threads and versions.
pub fn same_row(a: &SavedRow, b: &SavedRow) -> bool {
    (a.name.as_str(), a.threads, a.versions) == (b.name.as_str(), b.threads, b.versions)
}

fn row(r: &Map<String, Value>) -> Result<SavedRow, String> {
    let name = match r.get("name") {
        Some(Value::String(s)) if is_name(s) => s.clone(),
        Some(Value::String(_)) => {
            return Err(format!(
                "\"name\" must be 1 to {MAX_TEXT} letters, digits, '-', '_', '.' or '+'"
            ))
        }
        _ => return Err("no \"name\" string".into()),
    };
    let whole = |k: &str, lo: u64, hi: u64, absent: Option<u64>| match r.get(k) {
        None | Some(Value::Null) => absent.ok_or(format!("no \"{k}\"")),
        Some(v) => v
            .as_u64()
            .filter(|n| (lo..=hi).contains(n))
            .ok_or(format!("\"{k}\" must be a whole number {lo} to {hi}")),
    };
    let threads = whole("threads", 0, 1 << 20, None)?;
    let versions = whole("versions", 1, 1 << 32, Some(1))?;
    let mhs = r
        .get("mhs")
        .and_then(Value::as_f64)
        .filter(|m| m.is_finite() && *m >= 0.0)
        .ok_or("\"mhs\" must be a finite number, at least 0")?;
    let spread = match r.get("runs_mhs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(runs)) if runs.len() <= MAX_RUNS => {
            let runs: Option<Vec<f64>> = runs
                .iter()
                .map(|x| x.as_f64().filter(|x| x.is_finite() && *x >= 0.0))
                .collect();
            stats::spread(&runs.ok_or("\"runs_mhs\" holds something other than rates")?)
        }
        Some(_) => {
            return Err(format!(
                "\"runs_mhs\" must be an array of at most {MAX_RUNS}"
            ))
        }
    };
    Ok(SavedRow {
        name,
        threads,
        versions,
        mhs,
        spread,
    })
}

fn is_name(s: &str) -> bool {
    (1..=MAX_TEXT).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b))
}

/// Context text as it may be printed: short, printable ASCII, or not at all.
fn clean(s: &str) -> Option<String> {
    let ok =
        (1..=MAX_TEXT).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    ok.then(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved_row(name: &str, threads: u64, versions: u64, mhs: f64) -> SavedRow {
        SavedRow {
            name: name.into(),
            threads,
            versions,
            mhs,
            spread: None,
        }
    }

    #[test]
    fn reads_rows_context_and_old_files_without_versions() {
        let file = br#"{"engines": [
                {"name": "sha-ni", "threads": 2, "versions": 4, "mhs": 30.5,
                 "runs_mhs": [30.0, 30.5, 33.05]},
                {"name": "gpu", "threads": 0, "mhs": 900.0}],
            "reference": [{"name": "sha2-midstate", "threads": 2, "mhs": 10.0, "runs_mhs": null}],
            "context": {"timestamp": "2026-12-01T23:00:00Z", "commit": "abc\u001b[2J"}}"#;
        let s = parse(file).expect("a valid file");
        let mut want0 = saved_row("sha-ni", 2, 4, 30.5);
        want0.spread = Some((33.05 - 30.0) / 30.5);
        assert_eq!(
            s,
            Saved {
                rows: vec![
                    want0,
                    saved_row("gpu", 0, 1, 900.0),
                    saved_row("sha2-midstate", 2, 1, 10.0)
                ],
                timestamp: Some("2026-12-01T23:00:00Z".into()),
                // A control character in context text drops it rather than print it.
                commit: None,
            }
        );
    }

    #[test]
    fn bad_files_get_errors_that_name_the_problem() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "not JSON"),
            (b"[1, 2]", "not a JSON object"),
            (b"{}", "no \"engines\" array"),
            (br#"{"engines": 3}"#, "\"engines\" is not an array"),
            (br#"{"engines": [7]}"#, "engines[0] is not an object"),
            (
                br#"{"engines": [{"threads": 1, "mhs": 1}]}"#,
                "engines[0]: no \"name\"",
            ),
            (
                br#"{"engines": [{"name": "a b", "threads": 1, "mhs": 1}]}"#,
                "engines[0]: \"name\" must be",
            ),
            (
                br#"{"engines": [{"name": "x", "mhs": 1}]}"#,
                "no \"threads\"",
            ),
            (
                br#"{"engines": [{"name": "x", "threads": -1, "mhs": 1}]}"#,
                "\"threads\" must be a whole number 0 to 1048576",
            ),
            (
                br#"{"engines": [{"name": "x", "threads": 1, "versions": 0, "mhs": 1}]}"#,
                "\"versions\" must be",
            ),
            (
                br#"{"engines": [{"name": "x", "threads": 1, "mhs": "fast"}]}"#,
                "\"mhs\" must be",
            ),
            (
                br#"{"engines": [{"name": "x", "threads": 1, "mhs": 1, "runs_mhs": ["a"]}]}"#,
                "\"runs_mhs\" holds",
            ),
            (
                br#"{"engines": [{"name": "x", "threads": 1, "mhs": 1},
                                 {"name": "x", "threads": 1, "versions": 1, "mhs": 2}]}"#,
                "engines[1]: row x (1 threads, 1 versions) appears twice",
            ),
            (
                br#"{"engines": [], "reference": {}}"#,
                "\"reference\" is not an array",
            ),
        ];
        for (bytes, want) in cases {
            let e = parse(bytes).expect_err(&String::from_utf8_lossy(bytes));
            assert!(e.contains(want), "{e:?} lacks {want:?}");
        }
    }

    #[test]
    fn size_depth_and_row_count_are_bounded() {
        let big = vec![b' '; MAX_BYTES + 1];
        assert!(parse(&big)
            .expect_err("too big")
            .contains("larger than 1024 KiB"));
        // serde_json's recursion limit turns deep nesting into an error, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes())
            .expect_err("too deep")
            .contains("not JSON"));
        let row = r#"{"name": "x", "threads": 1, "mhs": 1}"#;
        let many: Vec<String> = (0..=MAX_ROWS)
            .map(|i| row.replace("\"threads\": 1", &format!("\"threads\": {i}")))
            .collect();
        let file = format!("{{\"engines\": [{}]}}", many.join(","));
        assert_eq!(
            parse(file.as_bytes()),
            Err(format!("more than {MAX_ROWS} rows"))
        );
    }
}
