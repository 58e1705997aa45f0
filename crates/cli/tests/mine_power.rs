//! `sha256d mine` under its power policy: a limit held from the start, a schedule, a hard stop
//! that survives a restart, and a demand-response program on the real OpenADR 3 server
//! (openleadr-vtn; skipped without it, failing instead under `SHA256D_REQUIRE_PEERS=1`).

mod common;

use common::{mine, summary};
use serde_json::{json, Value};
use sha256d_testkit::openadr::{Vtn, VEN};
use sha256d_testkit::testpool::{Settings, TestPool};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sha256d-power-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// Mines on one portable thread for `seconds` with the power flags `extra`.
fn mine_with(pool: &TestPool, hard_stop: &Path, seconds: &str, extra: &[&str]) -> Value {
    let (url, stop) = (pool.url(), hard_stop.to_string_lossy().into_owned());
    let mut args = vec!["--pool", &url, "--user", "w1", "--engine", "portable"];
    args.extend_from_slice(&["--threads", "1", "--time", seconds]);
    args.extend_from_slice(&["--hard-stop-file", &stop, "--json"]);
    args.extend_from_slice(extra);
    summary(&mine(&args))
}

fn events(s: &Value) -> Vec<(String, String, String)> {
    s["power_events"]
        .as_array()
        .expect("a list of power events")
        .iter()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (text("source"), text("from"), text("to"))
        })
        .collect()
}

fn seconds_to_comply(s: &Value) -> Vec<Option<f64>> {
    s["power_events"]
        .as_array()
        .expect("a list of power events")
        .iter()
        .map(|e| e["seconds_to_comply"].as_f64())
        .collect()
}

#[test]
fn a_hashrate_limit_holds_from_the_start() {
    let pool = TestPool::start(Settings::new("limit"));
    let dir = temp_dir("limit");
    let s = mine_with(
        &pool,
        &dir.join("stop.json"),
        "4",
        &["--hashrate-limit", "50%"],
    );
    assert_eq!(
        events(&s),
        [("limit".into(), "full".into(), "50%".into())],
        "{s}"
    );
    let took = seconds_to_comply(&s)[0].expect("reached");
    assert!(took <= 2.0, "{s}");
    assert!(s["hashes"].as_u64() > Some(0), "{s}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

#[test]
fn a_schedule_that_forbids_the_whole_day_keeps_the_engines_idle() {
    let pool = TestPool::start(Settings::new("schedule"));
    let dir = temp_dir("schedule");
    let s = mine_with(
        &pool,
        &dir.join("stop.json"),
        "3",
        &["--schedule", "daily=off"],
    );
    assert_eq!(
        events(&s),
        [("schedule".into(), "full".into(), "off".into())],
        "{s}"
    );
    assert_eq!(s["hashes"], 0, "{s}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

#[test]
fn a_hard_stop_survives_a_restart_until_it_expires() {
    let pool = TestPool::start(Settings::new("stop"));
    let dir = temp_dir("stop");
    let path = dir.join("hard-stop.json");
    let stop = |until: jiff::Timestamp| {
        json!({"reason": "grid emergency", "since": "2026-01-01T00:00:00Z",
               "source": "openadr", "until": until.to_string()})
        .to_string()
    };
    // Left by an earlier run, an hour still to go: this run does not hash at all.
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    std::fs::write(&path, stop(later)).expect("a hard stop");
    let s = mine_with(&pool, &path, "3", &[]);
    assert_eq!(
        events(&s),
        [("hard-stop".into(), "full".into(), "off".into())],
        "{s}"
    );
    assert_eq!(s["hashes"], 0, "{s}");
    assert!(path.exists(), "the stop is still kept");
    // Expired by now: released at the start, and the run mines.
    let earlier = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    std::fs::write(&path, stop(earlier)).expect("a hard stop");
    let s = mine_with(&pool, &path, "2", &["--hashrate-limit", "full"]);
    assert!(s["hashes"].as_u64() > Some(0), "{s}");
    assert!(!path.exists(), "the expired stop is released");
    // A corrupt file is a refusal to start, not a run past a stop.
    std::fs::write(&path, "{not json").expect("a corrupt file");
    let o = mine(&[
        "--pool",
        &pool.url(),
        "--user",
        "w1",
        "--hard-stop-file",
        &path.to_string_lossy(),
        "--time",
        "2",
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refusing to start"), "{err}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

/// A child's CPU time (user + system) from /proc, in clock ticks of 10 ms.
fn cpu_of(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    let ticks = |i: usize| fields.get(i)?.parse::<u64>().ok();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name and state.
    Some(Duration::from_millis(10 * (ticks(11)? + ticks(12)?)))
}

/// The child's CPU share (CPU seconds per wall second) between `from` and `to` seconds into
/// the run, from the samples nearest those times.
fn share(samples: &[(f64, f64)], from: f64, to: f64) -> f64 {
    let near = |t: f64| {
        *samples
            .iter()
            .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
            .expect("samples")
    };
    let (a, b) = (near(from), near(to));
    if b.0 > a.0 {
        (b.1 - a.1) / (b.0 - a.0)
    } else {
        0.0
    }
}

/// A run on one portable thread with 60 W declared and a price rule (strike 10), the ramp
/// flags `ramp` added, for `seconds`; the price file is rewritten to each `(at, price)` of
/// `changes` as its time comes. Returns the child's CPU time sampled every 100 ms (seconds
/// into the run, CPU seconds) and its summary.
#[cfg(target_os = "linux")]
fn priced_run(name: &str, ramp: &[&str], seconds: u64, changes: &[(f64, &str)]) -> PricedRun {
    let pool = TestPool::start(Settings::new(name));
    let dir = temp_dir(name);
    let price = dir.join("price");
    std::fs::write(&price, "5").expect("a price");
    let run = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(["mine", "--pool", &pool.url(), "--user", "w1"])
        .args(["--engine", "portable", "--threads", "1"])
        .args(["--energy", "declared:portable=60W"])
        .args(ramp)
        .args(["--price-file", &price.to_string_lossy(), "--strike", "10"])
        .args(["--price-hold", "0", "--ramp-delay-max", "0"])
        .args(["--hard-stop-file", &dir.join("stop.json").to_string_lossy()])
        .args(["--time", &seconds.to_string(), "--json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    let mut samples = Vec::new();
    let mut pending = changes.iter().peekable();
    while started.elapsed() < Duration::from_secs(seconds - 1) {
        let Some(cpu) = cpu_of(run.id()) else { break };
        let t = started.elapsed().as_secs_f64();
        samples.push((t, cpu.as_secs_f64()));
        if let Some((_, to)) = pending.next_if(|(at, _)| t >= *at) {
            std::fs::write(&price, to).expect("a price");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = run.wait_with_output().expect("the run ends");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
    PricedRun {
        samples,
        summary: summary(&out),
    }
}

#[cfg(target_os = "linux")]
struct PricedRun {
    samples: Vec<(f64, f64)>,
    summary: Value,
}

#[cfg(target_os = "linux")]
#[test]
fn an_economic_curtailment_ramps_at_the_declared_rate() {
    // Ramped at 600 W/min, a full-scale move of the 60 W takes 6 s; above the strike from 5 s.
    let flip = 5.0;
    let run = priced_run(
        "ramp",
        &["--ramp-w-per-min", "600", "--ramp-hold", "0"],
        17,
        &[(flip, "20")],
    );
    let (samples, s) = (&run.samples, &run.summary);
    // The kernel's account, in thirds: before, during the 6 s ramp, after it.
    let (full, ramp, off) = (
        share(samples, 1.0, flip),
        share(samples, flip + 1.0, flip + 5.0),
        share(samples, flip + 8.0, 16.0),
    );
    eprintln!(
        "CPU share before {full:.3}, during the ramp {ramp:.3} ({:.0}%), after {off:.3}",
        100.0 * ramp / full
    );
    eprintln!("power events: {:#}", s["power_events"]);
    // At least 5 ticks a second, so the shares are good to a few per cent.
    assert!(
        full > 0.05,
        "the machine gave the run too little CPU to judge: {full}"
    );
    // A ramp from full to off averages half over its middle; a step would leave nothing, no
    // curtailment all of it.
    assert!(ramp > 0.15 * full && ramp < 0.85 * full, "{full} {ramp}");
    // Off leaves the run's own upkeep (the pool, the status, the power control): a per cent
    // or two of a core, whatever the engines' share was.
    assert!(off < 0.1 * full + 0.02, "{full} {off}");
    assert_eq!(
        events(s),
        [("price".into(), "full".into(), "off".into())],
        "{s}"
    );
    let took = seconds_to_comply(s)[0].expect("reached");
    assert!((5.0..=9.0).contains(&took), "a 6 s ramp took {took} s: {s}");
}

/// A flip of direction waits out the hold since the last movement: curtailed at 2 s (a step:
/// 6 MW/min), released at 4 s, the climb back waits until 2 s + the 5 s hold.
#[cfg(target_os = "linux")]
#[test]
fn a_flip_of_direction_waits_out_the_hold() {
    let ramp = ["--ramp-w-per-min", "6000000", "--ramp-hold", "5"];
    let run = priced_run("hold", &ramp, 14, &[(2.0, "20"), (4.0, "5")]);
    let (samples, s) = (&run.samples, &run.summary);
    let (full, held, back) = (
        share(samples, 0.5, 2.0),
        share(samples, 4.5, 6.5),
        share(samples, 8.5, 12.5),
    );
    eprintln!("CPU share before {full:.3}, held {held:.3}, back {back:.3}");
    eprintln!("power events: {:#}", s["power_events"]);
    assert!(
        full > 0.05,
        "the machine gave the run too little CPU to judge: {full}"
    );
    // Released at 4 s, still off until the hold ends at 7 s; then all of it again.
    assert!(held < 0.1 * full + 0.02, "{full} {held}");
    assert!(back > 0.6 * full, "{full} {back}");
    assert_eq!(
        events(s),
        [
            ("price".into(), "full".into(), "off".into()),
            ("price".into(), "off".into(), "full".into())
        ],
        "{s}"
    );
    let took = seconds_to_comply(s);
    assert!(took[0].expect("reached") < 2.0, "a step: {s}");
    // Asked at 4 s, reached once the hold ends at 7 s.
    let back_took = took[1].expect("reached");
    assert!((2.5..=5.0).contains(&back_took), "{back_took} s: {s}");
}

/// Serves `price` to every GET on loopback, for as long as the test runs; returns the URL.
fn price_server(price: &'static str) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{price}",
                price.len()
            );
            // A miner that hung up is the miner's business.
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://127.0.0.1:{port}/price")
}

#[test]
fn a_price_from_a_url_above_the_strike_curtails() {
    let pool = TestPool::start(Settings::new("price-url"));
    let dir = temp_dir("price-url");
    let url = price_server("20.5\n");
    // A fast declared ramp: the curtailment is all but a step.
    let s = mine_with(
        &pool,
        &dir.join("stop.json"),
        "5",
        &[
            "--price-url",
            &url,
            "--price-poll",
            "1",
            "--strike",
            "10",
            "--price-hold",
            "0",
            "--energy",
            "declared:portable=60W",
            "--ramp-w-per-min",
            "60000",
            "--ramp-delay-max",
            "0",
        ],
    );
    assert_eq!(
        events(&s),
        [("price".into(), "full".into(), "off".into())],
        "{s}"
    );
    let took = seconds_to_comply(&s)[0].expect("reached");
    assert!(took <= 2.0, "{s}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}

/// An event of `payload` (type, values) from `start` for `duration` (ISO 8601).
fn event(program: &str, priority: u32, payload: Value, start: i64, duration: &str) -> Value {
    let start = jiff::Timestamp::from_second(start).expect("a current time");
    json!({
        "objectType": "EVENT",
        "programID": program,
        "priority": priority,
        "payloadDescriptors": [{"payloadType": payload["type"], "units": "KW"}],
        "reportDescriptors": [{"payloadType": "DEMAND", "units": "KW"}],
        "intervalPeriod": {"start": start.to_string(), "duration": duration},
        "intervals": [{"id": 0, "payloads": [payload]}],
    })
}

#[test]
fn a_demand_response_program_drives_the_miner_through_the_real_vtn() {
    let Some(vtn) = Vtn::start() else {
        return;
    };
    let utility = vtn.utility();
    let program = utility.create(
        "/programs",
        &json!({"objectType": "PROGRAM", "programName": "miners"}),
    );
    let program_id = program["id"].as_str().expect("a program id").to_owned();
    let pool = TestPool::start(Settings::new("dr"));
    let dir = temp_dir("dr");
    let secret = dir.join("secret");
    std::fs::write(&secret, VEN.secret).expect("a secret file");
    // 100 W declared at full duty, ramped at 6000 W/min: a full-scale move takes 1 s.
    let run = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(["mine", "--pool", &pool.url(), "--user", "w1"])
        .args(["--engine", "portable", "--threads", "1"])
        .args(["--energy", "declared:portable=100W"])
        .args(["--openadr-url", &vtn.url(), "--openadr-client-id", VEN.id])
        .args(["--openadr-secret-file", &secret.to_string_lossy()])
        .args(["--openadr-program", "miners", "--openadr-poll", "1"])
        .args(["--ramp-w-per-min", "6000", "--ramp-delay-max", "0"])
        .args(["--ramp-hold", "0"])
        .args(["--hard-stop-file", &dir.join("stop.json").to_string_lossy()])
        .args(["--time", "24", "--json"])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    let at = |s: u64| {
        let left = Duration::from_secs(s).saturating_sub(started.elapsed());
        std::thread::sleep(left);
        jiff::Timestamp::now()
    };
    let limit_payload = json!({"type": "IMPORT_CAPACITY_LIMIT", "values": [0.05]});
    let alert_payload = json!({"type": "ALERT_GRID_EMERGENCY", "values": ["shed load"]});
    // The utility caps the site at 50 W (half the declared power) for an hour ...
    let limited_at = at(4);
    let limit_start = limited_at.as_second();
    let limit = utility.create(
        "/events",
        &event(&program_id, 1, limit_payload.clone(), limit_start, "PT1H"),
    );
    // ... calls a grid emergency ...
    let emergency_at = at(10);
    let alert_start = emergency_at.as_second();
    let alert = utility.create(
        "/events",
        &event(&program_id, 5, alert_payload.clone(), alert_start, "PT1H"),
    );
    // ... and cuts both short: they have ended.
    let lifted_at = at(15);
    for (e, payload, start, priority) in [
        (&limit, limit_payload, limit_start, 1),
        (&alert, alert_payload, alert_start, 5),
    ] {
        let id = e["id"].as_str().expect("an id");
        let ended = event(&program_id, priority, payload, start - 3600, "PT1S");
        utility.update(&format!("/events/{id}"), &ended);
    }
    let out = run.wait_with_output().expect("the run ends");
    let s = summary(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("power events: {:#}", s["power_events"]);
    assert_eq!(
        events(&s),
        [
            ("openadr".into(), "full".into(), "50W".into()),
            ("hard-stop".into(), "50W".into(), "off".into()),
            ("openadr".into(), "off".into(), "full".into()),
        ],
        "{s}\n{stderr}"
    );
    // Each change reached within the poll interval and 2 s of the utility's request (and a
    // few seconds' slack for a busy machine's scheduling of three processes).
    let list = s["power_events"].as_array().expect("events");
    for (e, asked) in list.iter().zip([limited_at, emergency_at, lifted_at]) {
        let requested: jiff::Timestamp = e["requested_at"]
            .as_str()
            .and_then(|t| t.parse().ok())
            .expect("a time");
        let took = e["seconds_to_comply"].as_f64().expect("reached");
        let reached = requested.as_millisecond() as f64 / 1e3 + took;
        let from_ask = reached - asked.as_millisecond() as f64 / 1e3;
        assert!(from_ask <= 1.0 + 2.0 + 3.0, "{e}: {from_ask} s\n{stderr}");
    }
    // The miner reported what it drew during the events.
    let reports = utility.get(&format!("/reports?programID={program_id}"));
    let reports = reports.as_array().expect("a list of reports");
    assert!(!reports.is_empty(), "{stderr}");
    assert!(
        reports.iter().all(|r| r["clientName"] == "sha256d"),
        "{reports:?}"
    );
    assert!(s["hashes"].as_u64() > Some(0), "{s}");
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}
