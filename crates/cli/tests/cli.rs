//! The `sha256d` command line, run as a user runs it: its output formats are a contract.

use std::process::{Command, Output};

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

fn sha256d(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn json(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&stdout(o)).expect("one JSON object")
}

#[test]
fn hash_prints_the_explorer_hash() {
    let o = sha256d(&["hash", GENESIS]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f\n"
    );
}

#[test]
fn search_json_finds_the_genesis_nonce_on_every_cpu_engine() {
    for engine in ["portable", "sha-ni", "avx512", "avx2", "arm-sha2"] {
        if sha256d::open(engine, &sha256d::Options::default()).is_err() {
            continue;
        }
        let v = json(&sha256d(&[
            "search",
            "--header",
            GENESIS,
            "--bits",
            "1d00ffff",
            "--nonces",
            "2083200000..2083300000",
            "--engine",
            engine,
            "--json",
        ]));
        assert_eq!(v["engine"], engine);
        assert_eq!(v["hashes"], 100_000);
        assert!(v["seconds"].as_f64().expect("seconds is a number") > 0.0);
        let found = v["found"].as_array().expect("found is an array");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["nonce"], 2_083_236_893u64);
        assert_eq!(found[0]["version"], 1);
        assert_eq!(
            found[0]["hash"],
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }
}

#[test]
fn search_accepts_target_difficulty_and_rolling() {
    let by_target = json(&sha256d(&[
        "search",
        "--header",
        GENESIS,
        "--target",
        "00000000ffff0000000000000000000000000000000000000000000000000000",
        "--nonces",
        "2083236893..2083236894",
        "--json",
    ]));
    assert_eq!(by_target["found"].as_array().map(Vec::len), Some(1));
    let by_difficulty = json(&sha256d(&[
        "search",
        "--header",
        GENESIS,
        "--difficulty",
        "0.0000001",
        "--nonces",
        "0..40000",
        "--version-mask",
        "1fffe000",
        "--rolls",
        "2",
        "--threads",
        "1",
        "--json",
    ]));
    let found = by_difficulty["found"].as_array().expect("array");
    assert!(!found.is_empty());
    assert!(found.iter().any(|f| f["version"] == 0x2001));
    assert_eq!(by_difficulty["hashes"], 80_000);
}

#[test]
fn text_search_prints_found_lines() {
    let o = sha256d(&[
        "search",
        "--header",
        GENESIS,
        "--bits",
        "1d00ffff",
        "--nonces",
        "2083236800..2083236900",
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("nonce=2083236893"), "{}", stdout(&o));
}

#[test]
fn bad_input_is_one_line_and_a_failure() {
    let cases: &[(&[&str], &str)] = &[
        (&["hash", "abc"], "odd number"),
        (&["hash", "00"], "80 bytes"),
        (
            &["search", "--header", GENESIS, "--bits", "1d80ffff"],
            "negative",
        ),
        (
            &["search", "--header", GENESIS, "--bits", "ff123456"],
            "overflows",
        ),
        (
            &[
                "search", "--header", GENESIS, "--bits", "1d00ffff", "--nonces", "5..3",
            ],
            "reversed",
        ),
        (
            &[
                "search", "--header", GENESIS, "--bits", "1d00ffff", "--nonces", "x",
            ],
            "A..B",
        ),
        (
            &[
                "search", "--header", GENESIS, "--bits", "1d00ffff", "--engine", "warp",
            ],
            "unknown engine",
        ),
        (
            &["search", "--header", GENESIS, "--difficulty", "-1"],
            "positive",
        ),
        (
            &["search", "--header", GENESIS, "--target", "12"],
            "64 hex digits",
        ),
    ];
    for (args, needle) in cases {
        let o = sha256d(args);
        assert!(!o.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"));
    }
}

#[test]
fn engines_lists_every_engine_with_a_reason() {
    let v = json(&sha256d(&["engines", "--json"]));
    let list = v["engines"].as_array().expect("array");
    let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
    for name in [
        "portable", "sha-ni", "avx512", "avx2", "arm-sha2", "gpu", "asic",
    ] {
        assert!(names.contains(&name), "{name} missing");
    }
    for e in list {
        assert!(e["available"].is_boolean());
        assert!(!e["detail"].as_str().unwrap_or("").is_empty(), "{e}");
    }
    assert!(list
        .iter()
        .any(|e| e["name"] == "portable" && e["available"] == true));
}

#[test]
fn bench_json_has_engines_and_reference_rows() {
    let v = json(&sha256d(&[
        "bench",
        "--seconds",
        "0.5",
        "--threads",
        "1",
        "--engine",
        "portable",
        "--json",
    ]));
    let engines = v["engines"].as_array().expect("array");
    assert_eq!(engines.len(), 1);
    assert_eq!(engines[0]["name"], "portable");
    assert_eq!(engines[0]["threads"], 1);
    assert!(engines[0]["mhs"].as_f64().expect("number") > 0.0);
    let reference: Vec<&str> = v["reference"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    assert_eq!(reference, ["sha2-naive", "sha2-midstate"]);
    assert!(v["agreed_results"].as_u64().expect("count") > 0);
}

#[test]
fn forbidding_backends_walks_the_dispatch_down_to_portable() {
    let run = |forbid: &str, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .args(args)
            .env("SHA256D_FORBID", forbid)
            .output()
            .expect("the binary runs")
    };
    let all = "sha-ni,avx512,avx2,arm-sha2";
    let v = json(&run(all, &["engines", "--json"]));
    for e in v["engines"].as_array().expect("array") {
        if all.split(',').any(|name| e["name"] == name) {
            assert_eq!(e["available"], false, "{e}");
        }
    }
    let search = [
        "search",
        "--header",
        GENESIS,
        "--bits",
        "1d00ffff",
        "--nonces",
        "2083236800..2083236900",
        "--json",
    ];
    let v = json(&run(all, &search));
    assert_eq!(v["engine"], "portable");
    assert_eq!(v["found"].as_array().map(Vec::len), Some(1));
    // Each step down the x86 order: avx512, then sha-ni, then avx2.
    for (forbid, next) in [("avx512", "sha-ni"), ("avx512,sha-ni", "avx2")] {
        if sha256d::open(next, &sha256d::Options::default()).is_ok() {
            let v = json(&run(forbid, &search));
            assert_eq!(v["engine"], next, "with {forbid} forbidden");
            assert_eq!(v["found"].as_array().map(Vec::len), Some(1));
        }
    }
}
