//! `sha256d mine` on several devices at once: emulated sticks (each its own process on a real
//! pseudo-terminal, as a real stick is) beside the CPU, on one job stream from the in-repo test
//! pool, with per-device counters in the summary; a stick pulled out mid-run is dropped and
//! the others go on.
#![cfg(target_os = "linux")]

mod common;
#[path = "common/emulator.rs"]
mod emulator;

use common::{mine, summary};
use emulator::Emulator;
use serde_json::Value;
use sha256d_testkit::testpool::{Settings, TestPool};
use std::process::Command;
use std::time::Duration;

/// A pool at difficulty 1e-6, a share per 4.3k hashes: even a stick a busy machine slows
/// to a tenth of its rate finds several in a run. It offers version rolling, as pools for
/// BM1370 sticks do: without it a stick hashes one version in all 16 of a batch's slots.
fn easy(tag: &str) -> Settings {
    let mut settings = Settings::new(tag);
    settings.difficulty = 1e-6;
    settings.rolling_mask = Some(0x1fff_e000);
    settings
}

/// Slow enough for a shared CI core.
fn stick(extra: &[&str]) -> Emulator {
    let mut args = vec![
        "--protocol",
        "bm1370",
        "--ticket-bits",
        "8",
        "--hashrate",
        "400000",
    ];
    args.extend_from_slice(extra);
    Emulator::start(&args)
}

/// Mines for `seconds` on the two sticks and one CPU thread. A BM1370 stick takes about 8 s
/// to open (its clock ramps up in 6.25 MHz steps 100 ms apart), so runs are longer than that.
fn mine_on(pool: &TestPool, a: &Emulator, b: &Emulator, seconds: &str) -> Value {
    summary(&mine(&[
        "--pool",
        &pool.url(),
        "--user",
        "w1",
        "--engine",
        "asic",
        "--device",
        &a.path,
        "--engine",
        "asic",
        "--device",
        &b.path,
        "--engine",
        "portable",
        "--threads",
        "1",
        "--protocol",
        "bm1370",
        "--ticket-bits",
        "8",
        // Half the emulated rate: a busy machine slowing the emulator must not look like a
        // stick slower than configured.
        "--hashrate",
        "200000",
        // Nameplate watts for each stick and the CPU thread: an estimate, as it says.
        "--energy",
        "declared:asic=12W",
        "--energy",
        "declared:portable=15W",
        "--time",
        seconds,
        "--json",
    ]))
}

/// The pool validated every share the summary counts as accepted, by its own hashing (and at
/// most the ones still unanswered besides).
fn assert_pool_saw(pool: &TestPool, s: &Value) {
    let validated = pool.accepted().len() as u64;
    let accepted = s["accepted"].as_u64().expect("a count");
    let unanswered = s["unanswered"].as_u64().expect("a count");
    assert!(
        (accepted..=accepted + unanswered).contains(&validated),
        "the pool validated {validated}: {s}"
    );
}

fn field(devices: &[Value], key: &str) -> Vec<Value> {
    devices.iter().map(|d| d[key].clone()).collect()
}

fn total(devices: &[Value], key: &str) -> u64 {
    devices.iter().filter_map(|d| d[key].as_u64()).sum()
}

#[test]
fn two_sticks_and_the_cpu_each_keep_their_own_counters() {
    let pool = TestPool::start(easy("devices"));
    let (a, b) = (stick(&[]), stick(&[]));
    let s = mine_on(&pool, &a, &b, "16");
    eprintln!("summary: {s:#}");
    let devices = s["devices"].as_array().expect("a list of devices");
    // Two sticks at 12 W each and a thread at 15 W for the run, per terahash the pool accepted.
    let energy = s["energy_j"].as_f64().expect("joules");
    let elapsed = s["elapsed_s"].as_f64().expect("seconds");
    assert!((energy / elapsed - 39.0).abs() < 2.0, "{s}");
    let verified_th = s["verified_hashes"].as_f64().expect("hashes") / 1e12;
    let per_th = s["joules_per_verified_th"].as_f64().expect("J per TH");
    assert!(
        (per_th - energy / verified_th).abs() <= 1e-9 * per_th,
        "{s}"
    );
    assert_eq!(
        field(devices, "engine"),
        ["asic", "asic", "portable"],
        "{s}"
    );
    // Each stick is named by its own device.
    for (d, emu) in devices.iter().zip([&a, &b]) {
        let described = d["device"].as_str().expect("a description");
        assert!(
            described.contains(&emu.path),
            "{described} names {}",
            emu.path
        );
    }
    assert_eq!(
        field(devices, "failure"),
        [Value::Null, Value::Null, Value::Null]
    );
    // Every device found and had shares accepted, and the devices split the totals.
    for d in devices {
        assert!(d["accepted"].as_u64() > Some(0), "{d}");
        assert!(d["proven_hashrate"].as_f64() > Some(0.0), "{d}");
        assert_eq!(d["hardware_errors"], 0, "{d}");
        assert_eq!(d["known_answer_misses"], 0, "{d}");
    }
    // A stick's first search begins with a known answer; the CPU engine gets none.
    let passed = field(devices, "known_answers_passed");
    assert!(
        passed[0].as_u64() >= Some(1) && passed[1].as_u64() >= Some(1),
        "{s}"
    );
    assert_eq!(passed[2], 0, "{s}");
    assert_eq!(
        Some(total(devices, "accepted")),
        s["accepted"].as_u64(),
        "{s}"
    );
    assert_eq!(Some(total(devices, "hashes")), s["hashes"].as_u64(), "{s}");
    assert_eq!(
        Some(total(devices, "shares_found")),
        s["shares_found"].as_u64(),
        "{s}"
    );
    assert_pool_saw(&pool, &s);
}

#[test]
fn a_stick_pulled_out_is_dropped_and_reported_and_the_run_goes_on() {
    let pool = TestPool::start(easy("unplug"));
    let (mut a, b) = (stick(&["--fault", "unplug=6"]), stick(&[]));
    let s = mine_on(&pool, &a, &b, "16");
    assert!(a.exited(), "the emulator pulled its stick and ended");
    let devices = s["devices"].as_array().expect("a list of devices");
    let failure = devices[0]["failure"].as_str().unwrap_or_default();
    assert_eq!(
        failure, "engine asic failed: reading from the device: the device hung up (unplugged?)",
        "{s}"
    );
    assert_eq!(s["engines"], serde_json::json!(["asic", "portable"]), "{s}");
    assert_eq!(field(&devices[1..], "failure"), [Value::Null, Value::Null]);
    // The others mined on; what the pulled stick found before it went (a known answer or
    // two and a share or so: the stick is pulled after 6 replies) is in the totals below.
    assert!(devices[1]["accepted"].as_u64() > Some(0), "{s}");
    assert!(devices[2]["accepted"].as_u64() > Some(0), "{s}");
    assert_eq!(
        Some(total(devices, "accepted")),
        s["accepted"].as_u64(),
        "{s}"
    );
    assert_pool_saw(&pool, &s);
}

#[test]
fn a_stick_plugged_in_during_the_run_joins_it() {
    let pool = TestPool::start(easy("hotplug"));
    let dir = std::env::temp_dir().join(format!("sha256d-hotplug-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let pattern = format!("{}/stick-*", dir.display());
    let run = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(["mine", "--pool", &pool.url(), "--user", "w1"])
        .args(["--engine", "portable", "--threads", "1"])
        .args([
            "--engine",
            "asic",
            "--device",
            &pattern,
            "--protocol",
            "bm1370",
        ])
        .args([
            "--ticket-bits",
            "8",
            "--hashrate",
            "200000",
            // Declared before any stick is there: counted from when one joins.
            "--energy",
            "declared:asic=12W",
            "--energy",
            "declared:portable=15W",
            "--time",
            "20",
            "--json",
        ])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Plugged in once the run is under way: the link appears as a udev by-id link does.
    std::thread::sleep(Duration::from_secs(1));
    let emu = stick(&[]);
    let link = dir.join("stick-a");
    std::os::unix::fs::symlink(&emu.path, &link).expect("a link");
    let out = run.wait_with_output().expect("the run ends");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
    let s = summary(&out);
    let devices = s["devices"].as_array().expect("a list of devices");
    assert_eq!(field(devices, "engine"), ["portable", "asic"], "{s}");
    let described = devices[1]["device"].as_str().unwrap_or_default();
    assert!(described.contains(&*link.to_string_lossy()), "{s}");
    assert!(devices[1]["accepted"].as_u64() > Some(0), "{s}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("engine asic joined: "), "{stderr}");
    // The thread's 15 W all along, the stick's 12 W from when it joined (after its 1 s in
    // the drawer and the bring-up), and for a second at least.
    let elapsed = s["elapsed_s"].as_f64().expect("seconds");
    let stick_j = s["energy_j"].as_f64().expect("joules") - 15.0 * elapsed;
    assert!(stick_j > 12.0 && stick_j < 12.0 * (elapsed - 1.0), "{s}");
    assert_eq!(
        Some(total(devices, "accepted")),
        s["accepted"].as_u64(),
        "{s}"
    );
    assert_pool_saw(&pool, &s);
}
