//! `sha256d bench` run as a user runs it, on `portable` (always available) with tiny timings:
//! the JSON's context, `--save` then `--compare`, `--plot`, and the errors for bad input. The
//! timings are never judged, only the shape of what comes out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sha256d(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SHA256D_FORBID")
        .output()
        .expect("the binary runs")
}

fn json(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON object")
}

/// The one line a failure prints, after checking that it failed.
fn error(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr).trim().to_string();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// A scratch directory of this test's own, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn text(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

/// The tiniest bench that still times every row in two rounds.
const QUICK: &[&str] = &[
    "bench",
    "--engine",
    "portable",
    "--threads",
    "1",
    "--seconds",
    "0.05",
    "--runs",
    "2",
];

#[test]
fn json_context_save_plot_and_compare_round_trip() {
    let dir = scratch("bench_round_trip");
    let (saved, svg) = (dir.join("run.json"), dir.join("run.svg"));
    let args = [
        QUICK,
        &[
            "--versions",
            "4,1",
            "--json",
            "--save",
            text(&saved),
            "--plot",
            text(&svg),
        ],
    ]
    .concat();
    let out = sha256d(&args);
    let v = json(&out);

    // Rows: portable at each version count, sorted; then the two reference rows.
    let rows = |key: &str| -> Vec<(String, u64, u64, usize)> {
        v[key]
            .as_array()
            .expect("an array")
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().expect("a name").to_string(),
                    r["threads"].as_u64().expect("threads"),
                    r["versions"].as_u64().expect("versions"),
                    r["runs_mhs"].as_array().expect("runs").len(),
                )
            })
            .collect()
    };
    let row = |n: &str, v: u64| (n.to_string(), 1, v, 2);
    assert_eq!(rows("engines"), [row("portable", 1), row("portable", 4)]);
    assert_eq!(
        rows("reference"),
        [row("sha2-naive", 1), row("sha2-midstate", 1)]
    );
    for r in v["engines"].as_array().into_iter().flatten() {
        for key in [
            "mhs",
            "spread",
            "vs_sha2_midstate",
            "cycles_per_nonce",
            "cpu_seconds",
            "mh_per_cpu_second",
        ] {
            assert!(r[key].as_f64().is_some_and(f64::is_finite), "{key}: {r}");
        }
        for key in [
            "detail",
            "runs_cpu_seconds",
            "ceiling_mhs",
            "ceiling_fraction",
        ] {
            assert!(r.get(key).is_some(), "{key}: {r}");
        }
    }
    assert!(v["engines"][1]["vs_one_version"].as_f64().is_some(), "{v}");
    assert!(v["agreed_results"].as_u64().expect("a count") > 0);
    assert_eq!(v["clock_source"], "measured: dependent add chain");
    let mhz = v["clock_mhz"].as_f64().expect("a measured clock");
    assert!((200.0..10_000.0).contains(&mhz), "{mhz} MHz");

    let c = &v["context"];
    let version = String::from_utf8(sha256d(&["--version"]).stdout).expect("UTF-8");
    assert!(
        version.contains(c["commit"].as_str().expect("a commit")),
        "{version}"
    );
    assert_eq!(c["crate_version"], env!("CARGO_PKG_VERSION"));
    for key in ["rustc", "target", "timestamp"] {
        assert!(
            !c[key].as_str().unwrap_or_default().is_empty(),
            "{key}: {c}"
        );
    }
    assert!(
        c["rustc"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rustc "),
        "{c}"
    );
    assert!(
        c["features"].is_array() && c["cpu"]["features"].is_array(),
        "{c}"
    );
    assert!(
        c["cpu"].get("model").is_some() && c["os"]["name"].is_string(),
        "{c}"
    );
    assert!(c.get("gpu").is_some(), "{c}");
    assert_eq!(
        (c["seconds"].as_f64(), c["runs"].as_u64()),
        (Some(0.05), Some(2))
    );
    assert_eq!(c["versions"], serde_json::json!([1, 4]));
    let agreement = &c["agreement"];
    assert_eq!(agreement["engines"], serde_json::json!(["portable"]));
    assert_eq!(agreement["results"], v["agreed_results"]);
    assert_eq!(agreement["versions"], 2);
    assert!(
        agreement["hashes"].as_u64().expect("hashes") > 1 << 19,
        "{agreement}"
    );

    // --save wrote exactly what --json printed.
    let file = std::fs::read(&saved).expect("--save wrote its file");
    assert_eq!(serde_json::from_slice::<Value>(&file).expect("JSON"), v);

    // --plot: well-formed SVG, one group per row.
    let svg = std::fs::read_to_string(&svg).expect("--plot wrote its file");
    let doc = roxmltree::Document::parse(&svg).expect("well-formed XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let groups = doc
        .root_element()
        .children()
        .filter(|n| n.has_tag_name("g"))
        .count();
    assert_eq!(groups, 4);

    // --compare against it: every row of this run matched, with its ratio and both spreads;
    // the saved four-version row is listed as not run now.
    let out = sha256d(
        &[
            QUICK,
            &["--versions", "1", "--json", "--compare", text(&saved)],
        ]
        .concat(),
    );
    let now = json(&out);
    let cmp = &now["compare"];
    assert_eq!(cmp["file"], text(&saved));
    assert_eq!(cmp["saved_timestamp"], c["timestamp"]);
    let matched: Vec<(&str, u64)> = cmp["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let ratio = r["ratio"].as_f64().expect("a ratio");
            let want = r["mhs"].as_f64().expect("now") / r["saved_mhs"].as_f64().expect("saved");
            // serde_json's default float parsing may land one ulp off the printed value.
            assert!((ratio / want - 1.0).abs() < 1e-12, "{r}");
            assert!(r["spread"].is_f64() && r["saved_spread"].is_f64(), "{r}");
            assert!(r["within_noise"].is_boolean(), "{r}");
            (
                r["name"].as_str().expect("a name"),
                r["versions"].as_u64().expect("versions"),
            )
        })
        .collect();
    assert_eq!(
        matched,
        [("portable", 1), ("sha2-naive", 1), ("sha2-midstate", 1)]
    );
    assert_eq!(
        cmp["only_saved"],
        serde_json::json!([{"name": "portable", "threads": 1, "versions": 4}])
    );
    assert_eq!(cmp["only_current"], serde_json::json!([]));
}

#[test]
fn bad_compare_files_are_refused_before_any_timing() {
    let dir = scratch("bench_bad_compare");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("a scratch file");
        p
    };
    let big = write("big.json", &vec![b' '; (1 << 20) + 1]);
    let cases = [
        (dir.join("missing.json"), "cannot open"),
        (dir.clone(), "cannot read"),
        (big, "larger than 1024 KiB"),
        (
            write("text.json", b"engine MH/s\nportable 3.0\n"),
            "not JSON",
        ),
        (write("list.json", b"[]"), "not a JSON object"),
        (
            write("other.json", br#"{"found": []}"#),
            "no \"engines\" array",
        ),
        (
            write(
                "row.json",
                br#"{"engines": [{"name": "portable", "threads": 1}]}"#,
            ),
            "engines[0]: \"mhs\" must be a finite number",
        ),
        (
            write(
                "name.json",
                b"{\"engines\": [{\"name\": \"\\u001b[2J\", \"threads\": 1, \"mhs\": 1}]}",
            ),
            "engines[0]: \"name\" must be",
        ),
    ];
    for (path, want) in cases {
        let err = error(&sha256d(&[QUICK, &["--compare", text(&path)]].concat()));
        let prefix = format!("error: --compare {}: ", text(&path));
        assert!(err.starts_with(&prefix), "{err}");
        assert!(err.contains(want), "{err:?} lacks {want:?}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }
}

#[test]
fn runs_and_versions_are_bounded() {
    for (flag, value, want) in [
        ("--runs", "0", "--runs must be at least 1, got 0"),
        ("--runs", "101", "--runs must be at most 100, got 101"),
        ("--runs", "2.5", "--runs must be a whole number"),
        ("--versions", "0", "--versions must be at least 1, got 0"),
        (
            "--versions",
            "1,17",
            "--versions must be at most 16, got 17",
        ),
        (
            "--versions",
            "1,x",
            "--versions must be a whole number, got \"x\"",
        ),
        ("--versions", "", "--versions must be a whole number"),
    ] {
        let err = error(&sha256d(&["bench", "--engine", "portable", flag, value]));
        assert!(err.contains(want), "{flag} {value}: {err:?} lacks {want:?}");
    }
}

#[test]
fn the_help_names_every_bench_flag() {
    let out = sha256d(&["bench", "--help"]);
    let help = String::from_utf8(out.stdout).expect("UTF-8");
    for flag in [
        "--seconds",
        "--threads",
        "--engine",
        "--runs",
        "--versions",
        "--json",
        "--save",
        "--compare",
        "--plot",
        "--count-instructions",
    ] {
        assert!(help.contains(flag), "{flag} missing from {help}");
    }
}

/// `--count-instructions` single-steps the compiled kernel: the count is exact, so sharing a
/// schedule between two versions must retire fewer instructions per version than one version
/// alone, and no fewer than the ALU work the op model says the kernel cannot avoid.
#[cfg(target_os = "linux")]
#[test]
fn counted_instructions_are_the_compiled_kernels() {
    let args = [
        QUICK,
        &["--versions", "1,2", "--json", "--count-instructions"],
    ]
    .concat();
    let out = sha256d(&args);
    let v = json(&out);
    let rows = v["engines"].as_array().expect("engine rows");
    let counted: Vec<Option<f64>> = rows
        .iter()
        .map(|r| r["instructions_counted"].as_f64())
        .collect();
    let [Some(one), Some(two)] = counted[..] else {
        let err = String::from_utf8_lossy(&out.stderr);
        // A kernel (or container) that refuses ptrace leaves the op model's figure alone.
        assert!(
            err.contains("instructions not counted"),
            "{counted:?}: {err}"
        );
        eprintln!("skipping: this machine refuses to let bench trace its child: {err}");
        return;
    };
    assert!(two < one, "2 versions {two}, 1 version {one}");
    for (r, n) in rows.iter().zip([one, two]) {
        let basis = r["ceiling_basis"].as_str().expect("a ceiling basis");
        let modelled: f64 = basis
            .split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .expect("the model's count first");
        assert!(
            (modelled..3.0 * modelled).contains(&n),
            "{n} against {basis}"
        );
        assert!(basis.contains(&format!("retires {n:.0}")), "{basis}");
    }
}
