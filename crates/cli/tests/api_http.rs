//! `sha256d mine --api`: the HTTP API of a real run against the in-repo test pool, read with
//! the read token and steered with the control token — the setpoint, a device, the pool —
//! and refused without them. No token ever comes back in a reply or a log line.

// Shared by the API tests, each using part of it.
#[allow(dead_code)]
#[path = "common/api.rs"]
mod api;

use api::{refused, ApiMiner, Reply};
use serde_json::Value;
use sha256d_testkit::testpool::{Settings, TestPool};
use std::time::{Duration, Instant};

const READ: &str = "read-token-0123456789abcdef";
const CONTROL: &str = "control-token-fedcba9876543210";

/// Generous: a loaded CI machine is slow, and every wait below ends as soon as it is met.
const WAIT: Duration = Duration::from_secs(60);

/// `sha256d mine` on `pools` (`--pool URL` each) with the API and both tokens, then `extra`.
fn start(tag: &str, pools: &[String], extra: &[&str]) -> ApiMiner {
    let (read, control) = api::token_files(tag, READ, CONTROL);
    let mut args: Vec<&str> = pools.iter().flat_map(|url| ["--pool", url]).collect();
    args.extend([
        "--user",
        "w1",
        "--threads",
        "1",
        "--time",
        "300",
        "--api",
        "127.0.0.1:0",
        "--api-read-token-file",
        read.to_str().expect("a UTF-8 path"),
        "--api-control-token-file",
        control.to_str().expect("a UTF-8 path"),
    ]);
    args.extend(extra);
    ApiMiner::start(&args, &[])
}

/// Polls `what` on the API until `until` holds for its JSON, and returns it.
fn wait_for(miner: &ApiMiner, path: &str, what: &str, until: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let reply = miner.call("GET", path, Some(READ), None);
        assert_eq!(reply.status, 200, "{reply:?}");
        let v = reply.json();
        if until(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen in {WAIT:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_no_token(reply: &Reply) {
    for token in [READ, CONTROL] {
        assert!(
            !reply.head.contains(token) && !reply.body.contains(token),
            "a token came back: {reply:?}"
        );
    }
}

/// Hashes done so far: from status, or of device `index`.
fn hashes(miner: &ApiMiner, device: Option<usize>) -> u64 {
    let v = match device {
        None => miner.call("GET", "/v1/status", Some(READ), None).json(),
        Some(i) => miner.call("GET", "/v1/devices", Some(READ), None).json()["devices"][i].clone(),
    };
    v["hashes_total"].as_u64().expect("a hash count")
}

/// Whether the hash count stays put over half a second, asked until it does.
fn wait_still(miner: &ApiMiner, device: Option<usize>, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let before = hashes(miner, device);
        std::thread::sleep(Duration::from_millis(500));
        if hashes(miner, device) == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still hashing after {WAIT:?}"
        );
    }
}

fn wait_moving(miner: &ApiMiner, device: Option<usize>, what: &str) {
    let before = hashes(miner, device);
    let deadline = Instant::now() + WAIT;
    while hashes(miner, device) == before {
        assert!(Instant::now() < deadline, "{what}: no hashes in {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn reads_need_a_token_control_needs_the_control_token_and_the_setpoint_holds() {
    let pool = TestPool::start(Settings::new("api"));
    let miner = start(
        "setpoint",
        &[pool.url()],
        &[
            // A declared draw, for the power figures and a watts setpoint; and a ramp fast
            // enough that a setpoint holds within the test's patience.
            "--energy",
            "declared:all=10",
            "--ramp-w-per-min",
            "6000000",
            "--ramp-delay-max",
            "0",
            "--ramp-hold",
            "0",
            "--json",
        ],
    );
    let status = wait_for(&miner, "/v1/status", "a first accepted share", |v| {
        v["shares"]["accepted"].as_u64() > Some(0)
    });
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"), "{status}");
    assert!(
        status["hashrate"]["measured_hs"].as_f64() > Some(0.0),
        "{status}"
    );

    let reads = [
        "/v1/status",
        "/v1/devices",
        "/v1/pools",
        "/v1/events",
        "/v1/history",
        "/metrics",
    ];
    for path in reads {
        for (token, want) in [
            (None, 401),
            (Some("wrong-token-0123456789"), 401),
            (Some(READ), 200),
            (Some(CONTROL), 200),
        ] {
            let reply = miner.call("GET", path, token, None);
            assert_eq!(reply.status, want, "GET {path} with {token:?}: {reply:?}");
            assert_no_token(&reply);
            if want == 401 {
                assert!(reply.head.contains("WWW-Authenticate: Bearer"), "{reply:?}");
            }
        }
    }
    let pools = miner.call("GET", "/v1/pools", Some(READ), None).json();
    assert_eq!(pools["pools"][0]["url"], pool.url(), "{pools}");
    assert_eq!(pools["pools"][0]["active"], true, "{pools}");

    // The control endpoint: no token, the read token, a body that does not parse.
    let off = r#"{"off": true}"#;
    assert_eq!(
        miner.call("PUT", "/v1/setpoint", None, Some(off)).status,
        401
    );
    assert_eq!(
        miner
            .call("PUT", "/v1/setpoint", Some(READ), Some(off))
            .status,
        403
    );
    let bad = miner.call(
        "PUT",
        "/v1/setpoint",
        Some(CONTROL),
        Some(r#"{"hashrate_hs": "fast"}"#),
    );
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(
        bad.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("hashrate_hs")),
        "{bad:?}"
    );
    assert_no_token(&bad);

    // Off: the API's source wins, the devices stop, and the event is complied with.
    let reply = miner.call("PUT", "/v1/setpoint", Some(CONTROL), Some(off));
    assert_eq!(reply.status, 200, "{reply:?}");
    let status = wait_for(&miner, "/v1/status", "the API's setpoint in force", |v| {
        v["setpoint"]["source"] == "api" && v["setpoint"]["cap"] == "off"
    });
    assert_eq!(
        status["setpoint"]["api"],
        serde_json::json!({"off": true}),
        "{status}"
    );
    wait_still(&miner, None, "setpoint off");
    let events = wait_for(&miner, "/v1/events", "the stop complied with", |v| {
        v["events"].as_array().is_some_and(|e| {
            e.iter()
                .any(|e| e["source"] == "api" && e["to"] == "off" && e["complied_at"].is_string())
        })
    });
    assert!(events["events"][0]["requested_at"].is_string(), "{events}");

    // A watts setpoint, which the declared draw makes possible.
    let watts = miner.call(
        "PUT",
        "/v1/setpoint",
        Some(CONTROL),
        Some(r#"{"watts": 5}"#),
    );
    assert_eq!(watts.status, 200, "{watts:?}");
    wait_for(&miner, "/v1/status", "the watts setpoint", |v| {
        v["setpoint"]["cap"] == "5W" && v["setpoint"]["api"] == serde_json::json!({"watts": 5.0})
    });
    // Half the declared 10 W: half duty, held there (a declared draw does not change with the
    // duty, so the control must not learn a hungrier device from it).
    wait_for(&miner, "/v1/status", "half duty for half the power", |v| {
        v["setpoint"]["duty"]
            .as_f64()
            .is_some_and(|d| (d - 0.5).abs() < 0.01)
    });
    std::thread::sleep(Duration::from_secs(2));
    let held = miner.call("GET", "/v1/status", Some(READ), None).json();
    let duty = held["setpoint"]["duty"].as_f64();
    assert!(duty.is_some_and(|d| (d - 0.5).abs() < 0.01), "{held}");

    // Released: nothing caps the run, and it hashes again.
    let reply = miner.call(
        "PUT",
        "/v1/setpoint",
        Some(CONTROL),
        Some(r#"{"release": true}"#),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    wait_for(&miner, "/v1/status", "the release", |v| {
        v["setpoint"]["api"].is_null() && v["setpoint"]["cap"] == "full"
    });
    wait_moving(&miner, None, "released");

    // A device off and on again.
    let disable = miner.call(
        "PUT",
        "/v1/devices/0",
        Some(CONTROL),
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(disable.status, 200, "{disable:?}");
    wait_for(&miner, "/v1/devices", "device 0 disabled", |v| {
        v["devices"][0]["enabled"] == false
    });
    wait_still(&miner, Some(0), "device 0 disabled");
    let missing = miner.call(
        "PUT",
        "/v1/devices/7",
        Some(CONTROL),
        Some(r#"{"enabled": false}"#),
    );
    assert_eq!(missing.status, 404, "{missing:?}");
    let enable = miner.call(
        "PUT",
        "/v1/devices/0",
        Some(CONTROL),
        Some(r#"{"enabled": true}"#),
    );
    assert_eq!(enable.status, 200, "{enable:?}");
    wait_moving(&miner, Some(0), "device 0 enabled again");

    let (exit, stdout, stderr) = miner.stop();
    assert!(exit.success(), "{exit}: {stderr}");
    let summary: Value = serde_json::from_str(&stdout).expect("one JSON summary object");
    assert!(summary["accepted"].as_u64() > Some(0), "{summary}");
    for token in [READ, CONTROL] {
        assert!(
            !stdout.contains(token) && !stderr.contains(token),
            "a token was logged"
        );
    }
}

#[test]
fn the_pool_can_be_switched_and_the_switch_shows() {
    let (first, second) = (
        TestPool::start(Settings::new("api-a")),
        TestPool::start(Settings::new("api-b")),
    );
    let miner = start("pools", &[first.url(), second.url()], &[]);
    wait_for(&miner, "/v1/pools", "work from the first pool", |v| {
        v["pools"][0]["active"] == true && v["pools"][0]["accepted"].as_u64() > Some(0)
    });
    let beyond = miner.call(
        "PUT",
        "/v1/pools/active",
        Some(CONTROL),
        Some(r#"{"index": 2}"#),
    );
    assert_eq!(beyond.status, 404, "{beyond:?}");
    let switch = miner.call(
        "PUT",
        "/v1/pools/active",
        Some(CONTROL),
        Some(r#"{"index": 1}"#),
    );
    assert_eq!(switch.status, 200, "{switch:?}");
    let pools = wait_for(&miner, "/v1/pools", "shares on the second pool", |v| {
        v["pools"][1]["active"] == true && v["pools"][1]["accepted"].as_u64() > Some(0)
    });
    assert_eq!(pools["pools"][0]["active"], false, "{pools}");
    assert!(!second.accepted().is_empty());
}

#[test]
fn an_api_off_loopback_needs_both_tokens() {
    let (read, _) = api::token_files("exposed", READ, CONTROL);
    let stderr = refused(
        &[
            "--pool",
            "stratum+tcp://127.0.0.1:1",
            "--user",
            "w1",
            "--api",
            "0.0.0.0:0",
            "--api-read-token-file",
            read.to_str().expect("a UTF-8 path"),
        ],
        &[],
    );
    assert!(
        stderr.contains("0.0.0.0") && stderr.contains("token"),
        "{stderr}"
    );
    assert!(!stderr.contains("listening"), "{stderr}");
}

#[test]
fn a_weak_token_is_refused_and_not_shown() {
    let stderr = refused(
        &[
            "--pool",
            "stratum+tcp://127.0.0.1:1",
            "--user",
            "w1",
            "--api",
            "127.0.0.1:0",
        ],
        &[("SHA256D_API_CONTROL_TOKEN", "hunter2")],
    );
    assert!(
        stderr.contains("at least 16") && stderr.contains("SHA256D_API_CONTROL_TOKEN"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"), "{stderr}");
}
