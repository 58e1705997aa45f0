//! Hostile values for every numeric flag of `search`, `bench`, `mine` and `emulate`, given to
//! the real binary: each run must end (bounded by a deadline), with status 0 or 1, never a
//! panic (101) or an abort (134), and a failure must be one `error: ...` line.

use proptest::prelude::*;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const GENESIS: &str = sha256d::GENESIS_HEADER_HEX;

/// What a careless or hostile user types where a number belongs.
const HOSTILE: &[&str] = &[
    "1e300",
    "-1",
    "nan",
    "inf",
    "-inf",
    "0",
    "-0",
    "1e-300",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "",
    "0x10",
    "\u{1b}[2J",
];

/// Far longer than any of these runs takes on a loaded machine; a run past it has hung.
const DEADLINE: Duration = Duration::from_secs(90);

/// How one run ended.
struct Ended {
    code: Option<i32>,
    stderr: String,
    /// `emulate` printed `pty: PATH`: it accepted the values and was serving, so it was
    /// stopped here.
    served: bool,
}

/// Runs `sha256d ARGS` to its end, or until `emulate` starts serving, or fails the test at
/// [`DEADLINE`].
fn run(args: &[&str]) -> Ended {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(args)
        // The one-line checks assume the default log filter.
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let served = Arc::new(AtomicBool::new(false));
    let stdout = child.stdout.take().expect("stdout is piped");
    let flag = Arc::clone(&served);
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("pty: ") {
                flag.store(true, Ordering::Relaxed);
            }
        }
    });
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let err_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break Some(status);
        }
        if served.load(Ordering::Relaxed) {
            break None;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?} still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stderr = err_reader.join().expect("the reader ends with the child");
    out_reader.join().expect("the reader ends with the child");
    Ended {
        code: status.and_then(|s| s.code()),
        stderr,
        served: served.load(Ordering::Relaxed),
    }
}

/// Status 0 or 1 (or serving, for `emulate`); a failure's last stderr line is its only
/// `error: ` line, and anything before it is a timestamped log line.
fn assert_clean(args: &[&str], ended: &Ended) {
    let err = &ended.stderr;
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    if ended.served {
        return;
    }
    match ended.code {
        Some(0) => {}
        Some(1) => {
            let lines: Vec<&str> = err.lines().collect();
            let last = lines.last().copied().unwrap_or("");
            assert!(last.starts_with("error: "), "{args:?}: {err}");
            for line in &lines[..lines.len() - 1] {
                assert!(
                    !line.starts_with("error: ") && line.starts_with("20"),
                    "{args:?}: a stray line {line:?} in {err}"
                );
            }
            assert!(!last.contains('\u{1b}'), "{args:?}: {last:?}");
        }
        other => panic!("{args:?} exited with {other:?}: {err}"),
    }
}

/// Runs `base` with `flag` set to each hostile value; `base` must not hold `flag`.
fn each_hostile(base: &[&str], flags: &[&str]) {
    for flag in flags {
        for value in HOSTILE {
            let args = [base, &[flag, value]].concat();
            assert_clean(&args, &run(&args));
        }
    }
}

const SEARCH: &[&str] = &[
    "search", "--header", GENESIS, "--nonces", "0..2000", "--json",
];

#[test]
fn search_survives_hostile_numbers() {
    let goal = [SEARCH, &["--bits", "1d00ffff"]].concat();
    each_hostile(
        &goal,
        &["--threads", "--max-results", "--hashrate", "--ticket-bits"],
    );
    each_hostile(SEARCH, &["--difficulty", "--bits", "--target"]);
    // One version bit: any accepted roll count is 1 or 2.
    let rolling = [&goal[..], &["--version-mask", "00002000"]].concat();
    each_hostile(&rolling, &["--rolls"]);
    let rolls = [&goal[..], &["--rolls", "2"]].concat();
    each_hostile(&rolls, &["--version-mask"]);
    let open = [
        "search", "--header", GENESIS, "--bits", "1d00ffff", "--json",
    ];
    for nonces in [
        "0..1e300",
        "-1..5",
        "0..18446744073709551616",
        "0..4294967297",
        "5..3",
        "nan..inf",
        "0..0",
        "..",
    ] {
        let args = [&open[..], &["--nonces", nonces]].concat();
        assert_clean(&args, &run(&args));
    }
}

#[test]
fn bench_survives_hostile_numbers() {
    let base = ["bench", "--engine", "portable", "--json"];
    each_hostile(&base, &["--seconds", "--threads"]);
}

#[test]
fn mine_survives_hostile_numbers() {
    // A pool that accepts the connection and never says a word: a run with accepted values
    // ends at its --time with "no work arrived".
    let silent = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("stratum+tcp://{}", silent.local_addr().expect("bound"));
    let base = ["mine", "--pool", &url, "--user", "w"];
    each_hostile(&base, &["--time"]);
    let timed = [&base[..], &["--time", "1"]].concat();
    each_hostile(
        &timed,
        &[
            "--shares",
            "--blocks",
            "--threads",
            "--suggest-difficulty",
            "--status-interval",
            "--hashrate",
            "--ticket-bits",
        ],
    );
}

#[cfg(target_os = "linux")]
#[test]
fn emulate_survives_hostile_numbers() {
    let base = ["emulate", "--protocol", "bm1397"];
    each_hostile(&base, &["--chips", "--hashrate", "--ticket-bits", "--seed"]);
    for fault in [
        "drop=1e300",
        "drop=nan",
        "slow=1e300",
        "slow=-1",
        "unplug=-1",
        "hang=1e300",
    ] {
        let args = [&base[..], &["--fault", fault]].concat();
        assert_clean(&args, &run(&args));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Numbers of every shape in the search flags: whatever is accepted finishes, whatever
    /// is not is one line.
    #[test]
    fn search_takes_any_number(
        v in prop_oneof![
            any::<f64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:e}")),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<u64>().prop_map(|v| v.to_string()),
        ],
        flag in prop::sample::select(vec!["--threads", "--max-results", "--difficulty"]),
    ) {
        let goal: &[&str] = if flag == "--difficulty" { &[] } else { &["--bits", "1d00ffff"] };
        let args = [SEARCH, goal, &[flag, &v]].concat();
        assert_clean(&args, &run(&args));
    }
}

#[test]
fn a_reader_that_goes_away_is_an_error_not_a_panic() {
    // Every nonce meets this target: 2000 lines, far more than a pipe holds, so the binary is
    // still writing when the reader has gone.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(["search", "--header", GENESIS, "--nonces", "0..2000"])
        .args(["--difficulty", "1e-300"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("it exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        err,
        "error: cannot write to stdout: Broken pipe (os error 32)\n"
    );
}
