//! The `sha256d` command line, run as a user runs it: its output formats are a contract.

use std::process::{Command, Output};

const GENESIS: &str = sha256d::GENESIS_HEADER_HEX;

fn sha256d(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(args)
        // The stderr checks below assume the default log filter.
        .env_remove("RUST_LOG")
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
        // Usage errors, which clap alone would print over several lines with status 2.
        (
            &["search", "--header", GENESIS],
            "required arguments were not provided",
        ),
        (
            &[
                "search", "--header", GENESIS, "--bits", "1d00ffff", "--nonce", "1..2",
            ],
            "similar argument exists: '--nonces'",
        ),
        (&["bench", "--threads", "0"], "--threads must be at least 1"),
        (
            &["bench", "--seconds", "1e300"],
            "at most 3600 s, got 1e300",
        ),
        (
            &[
                "mine",
                "--pool",
                "stratum+tcp://127.0.0.1:1",
                "--user",
                "w",
                "--time",
                "1e300",
            ],
            "at most 315360000 s",
        ),
        (&["mine", "--user", "w"], "--pool <URL>|--node <URL>"),
        (
            &[
                "search",
                "--header",
                GENESIS,
                "--bits",
                "1d00ffff",
                "--engine",
                "asic",
                "--hashrate",
                "1e-10",
            ],
            "between 1e3 and 1e15",
        ),
        (
            &[
                "search",
                "--header",
                GENESIS,
                "--bits",
                "1d00ffff",
                "--version-mask",
                "1fffe0",
                "--rolls",
                "2",
            ],
            "--version-mask must be 8 hex digits",
        ),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
        (&["man", "frobnicate"], "no subcommand \"frobnicate\""),
    ];
    for (args, needle) in cases {
        let o = sha256d(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
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
        "--versions",
        "1",
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

#[test]
fn version_names_the_commit_and_the_features() {
    let o = sha256d(&["--version"]);
    assert!(o.status.success());
    let line = stdout(&o);
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or("unknown".to_string(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    let features: Vec<&str> = [
        ("asic", cfg!(feature = "asic")),
        ("gpu", cfg!(feature = "gpu")),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    let features = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(" ")
    };
    assert_eq!(
        line,
        format!(
            "sha256d {} (commit {commit}, features: {features})\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert_eq!(stdout(&sha256d(&["-V"])), line);
}

#[test]
fn completions_and_man_pages_come_from_the_real_flags() {
    let bash = sha256d(&["completions", "bash"]);
    assert!(bash.status.success());
    let script = stdout(&bash);
    assert!(script.contains("_sha256d()"), "{script}");
    for flag in [
        "--nonces",
        "--pass-file",
        "--status-interval",
        "--rpc-pass-file",
    ] {
        assert!(script.contains(flag), "{flag} missing");
    }
    assert!(stdout(&sha256d(&["completions", "zsh"])).starts_with("#compdef sha256d"));

    let man = stdout(&sha256d(&["man"]));
    assert!(man.contains(".TH sha256d 1"), "{man}");
    assert!(man.contains("completions"), "the subcommands are listed");
    let search = stdout(&sha256d(&["man", "search"]));
    assert!(search.contains(".TH sha256d-search 1"), "{search}");
    assert!(search.contains("\\-\\-nonces"), "{search}");
}

#[test]
fn verbose_logs_with_timestamps_and_quiet_keeps_the_summary() {
    let search = [
        "search",
        "--header",
        GENESIS,
        "--bits",
        "1d00ffff",
        "--nonces",
        "2083236800..2083236900",
    ];
    let o = sha256d(&[&["-v"], &search[..]].concat());
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let debug = err
        .lines()
        .find(|l| l.contains("DEBUG searching 100 hashes on "))
        .unwrap_or_else(|| panic!("no debug line in {err}"));
    // 2026-12-01T20:26:06Z DEBUG ...
    let stamp = debug.split(' ').next().unwrap_or("");
    assert_eq!(stamp.len(), 20, "{debug}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
        "{debug}"
    );

    // RUST_LOG alone selects the same lines; the flags win over it.
    let with_env = |env: &str, extra: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .args(extra)
            .args(search)
            .env("RUST_LOG", env)
            .output()
            .expect("the binary runs");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    assert!(with_env("sha256d=debug", &[]).contains("DEBUG searching"));
    assert!(!with_env("sha256d=debug", &["-q"]).contains("DEBUG"));

    let o = sha256d(&[&["-q"], &search[..]].concat());
    assert!(stdout(&o).contains("nonce=2083236893"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "only the summary: {err}");
    assert!(err.starts_with("1 found in 100 hashes"), "{err}");
}

#[test]
fn ctrl_c_stops_a_search_with_its_partial_summary() {
    use std::io::{BufRead, BufReader, Read};
    // About one hit per 430,000 hashes, so hits arrive soon and the full range would take
    // minutes; --max-results leaves room for every one.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args([
            "search",
            "--header",
            GENESIS,
            "--difficulty",
            "0.0001",
            "--threads",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    // The handler is in place before the search starts, so after a hit SIGINT is caught.
    out.read_line(&mut first).expect("a found line");
    assert!(first.starts_with("found version="), "{first}");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("stdout");
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("stderr");
    let status = child.wait().expect("it exits");
    assert_eq!(status.code(), Some(130), "{err}");
    let summary = err.lines().last().unwrap_or("");
    assert!(
        summary.ends_with("; interrupted before the range was done"),
        "{err}"
    );
    let found = 1 + rest.lines().filter(|l| l.starts_with("found ")).count();
    assert!(
        summary.starts_with(&format!("{found} found in ")),
        "{summary}"
    );
}

#[test]
fn search_json_says_whether_it_was_interrupted() {
    let v = json(&sha256d(&[
        "search",
        "--header",
        GENESIS,
        "--bits",
        "1d00ffff",
        "--nonces",
        "2083236893..2083236894",
        "--json",
    ]));
    assert_eq!(v["interrupted"], false);
}

/// `verify-log` on what is not a share log: exit 1 and one line naming the file and line.
#[test]
fn verify_log_names_the_first_bad_line_of_any_file() {
    let dir = std::env::temp_dir().join(format!("sha256d-cli-verify-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let path = dir.join("junk.log");
    let arg = path.to_str().expect("a UTF-8 temp path");
    let run = |bytes: &[u8]| {
        std::fs::write(&path, bytes).expect("writes");
        let o = sha256d(&["verify-log", arg]);
        (
            o.status.code(),
            stdout(&o),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(
        run(b""),
        (
            Some(0),
            format!(
                "{arg}: intact, 0 lines in 1 file: 0 accepted, 0 rejected, 0 stale, 0 blocks \
                 accepted, 0 block candidates\n"
            ),
            String::new()
        )
    );
    assert_eq!(
        run(b"{}\n"),
        (
            Some(1),
            String::new(),
            format!(
                "error: {arg} line 1: its keys are not the share log's: seq, prev, time_ms, \
                 engine, engine_index, job, kind, header, version, nonce, hash, target, \
                 block_target, verdict, reply\n"
            )
        )
    );
    // A line far past the limit is not read whole.
    let long = vec![b'x'; 100_000];
    assert_eq!(
        run(&long),
        (
            Some(1),
            String::new(),
            format!("error: {arg} line 1: longer than 8192 bytes\n")
        )
    );
    assert_eq!(
        run(b"\xff\n"),
        (
            Some(1),
            String::new(),
            format!("error: {arg} line 1: not UTF-8\n")
        )
    );
    std::fs::remove_file(&path).expect("removes");
    let o = sha256d(&["verify-log", arg]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("error: {arg}: cannot open: ")),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).expect("removes");
}
