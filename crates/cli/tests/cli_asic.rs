//! `sha256d search --engine asic` against `sha256d emulate`, both run as a user runs them: two
//! processes talking over a real pseudo-terminal, held to the portable engine's answers.
#![cfg(target_os = "linux")]

#[path = "common/emulator.rs"]
mod emulator;

use emulator::Emulator;
use std::process::{Command, Output};

const GENESIS: &str = sha256d::GENESIS_HEADER_HEX;
/// 10 zero bits: a few hits in a few thousand hashes, and 2 bits over the emulated ticket.
const TARGET: &str = "003fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const TICKET_BITS: &str = "8";
/// Slow enough for a shared CI core, fast enough that each search takes about a second.
const HASHRATE: &str = "400000";
/// Half the emulated rate: a busy test machine slowing the emulator must not look like a stick
/// slower than configured.
const ENGINE_HASHRATE: &str = "200000";

/// The emulator at this file's ticket and rate, with `extra` flags.
fn emulate(protocol: &str, extra: &[&str]) -> Emulator {
    let mut args = vec!["--protocol", protocol, "--ticket-bits", TICKET_BITS];
    args.extend_from_slice(&["--hashrate", HASHRATE]);
    args.extend_from_slice(extra);
    Emulator::start(&args)
}

fn sha256d(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn found(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON object");
    assert_eq!(
        (&v["hardware_errors"], &v["known_answer_misses"]),
        (&serde_json::json!(0), &serde_json::json!(0)),
        "{v}"
    );
    v["found"].clone()
}

fn asic_search(emu: &Emulator, protocol: &str, work: &[&str]) -> Output {
    sha256d(
        &[
            &["search", "--header", GENESIS, "--target", TARGET],
            work,
            &[
                "--engine",
                "asic",
                "--device",
                &emu.path,
                "--protocol",
                protocol,
            ],
            &[
                "--ticket-bits",
                TICKET_BITS,
                "--hashrate",
                ENGINE_HASHRATE,
                "--json",
            ],
        ]
        .concat(),
    )
}

/// Searches `work` on an emulated `protocol` stick and on the portable engine.
fn asic_matches_portable(protocol: &str, work: &[&str]) {
    let emu = emulate(protocol, &[]);
    let asic = asic_search(&emu, protocol, work);
    let portable = sha256d(
        &[
            &["search", "--header", GENESIS, "--target", TARGET],
            work,
            &["--engine", "portable", "--json"],
        ]
        .concat(),
    );
    let (asic, portable) = (found(&asic), found(&portable));
    assert!(
        portable.as_array().is_some_and(|a| !a.is_empty()),
        "the work should have hits: {portable}"
    );
    assert_eq!(asic, portable, "{protocol}");
}

// One test, so the two emulators never compete for the CPU their hashrate is timed by.
#[test]
fn asic_search_on_an_emulated_stick_equals_portable() {
    // Nonces 0..64 lie at counters 0 and 2^24 of 32 cores: two one-tick windows, one batch
    // of 16 versions each.
    asic_matches_portable(
        "bm1370",
        &[
            "--nonces",
            "0..64",
            "--version-mask",
            "1fffe000",
            "--rolls",
            "16",
        ],
    );
    asic_matches_portable(
        "bm1397",
        &[
            "--nonces",
            "0..64",
            "--version-mask",
            "1fffe000",
            "--rolls",
            "4",
        ],
    );
}

#[test]
fn a_stick_that_hashes_wrongly_makes_search_fail_in_one_line() {
    let emu = emulate("bm1397", &["--fault", "wrong-nonce=1"]);
    let o = asic_search(&emu, "bm1397", &["--nonces", "0..64"]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("error: ") && err.contains("known-answer"),
        "{err}"
    );
}

#[test]
fn hashrates_no_stick_has_are_one_line_errors_not_panics_or_hangs() {
    let emu = emulate("bm1370", &[]);
    for rate in ["1e-10", "1e-6", "0", "1e300"] {
        let o = sha256d(&[
            "search",
            "--header",
            GENESIS,
            "--target",
            TARGET,
            "--nonces",
            "0..4",
            "--engine",
            "asic",
            "--device",
            &emu.path,
            "--protocol",
            "bm1370",
            "--hashrate",
            rate,
        ]);
        assert_eq!(o.status.code(), Some(1), "{rate}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{rate}: {err}");
        assert!(err.contains("hashrate"), "{rate}: {err}");
    }
}

#[test]
fn asic_without_a_device_names_the_flag() {
    let o = sha256d(&[
        "search", "--engine", "asic", "--header", GENESIS, "--target", TARGET, "--json",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("--device"), "{err}");
}
