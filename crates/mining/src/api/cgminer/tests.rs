use super::reply::{respond, View};
use super::*;
use crate::api::{HistoryPoint, Setpoint, Snapshot};
use crate::miner::{DeviceStats, Stats};
use crate::pool::{PoolState, PoolStatus};
use serde_json::{json, Value};
use std::sync::Mutex;

/// Records the calls; pool 1 refuses to be switched to.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
}

impl Control for Recorder {
    fn set_setpoint(&self, setpoint: Setpoint) -> Result<(), String> {
        self.calls
            .lock()
            .expect("no panic holds it")
            .push(format!("{setpoint:?}"));
        Ok(())
    }
    fn set_device_enabled(&self, index: usize, enabled: bool) -> Result<(), String> {
        self.calls
            .lock()
            .expect("no panic holds it")
            .push(format!("device {index} {enabled}"));
        Ok(())
    }
    fn switch_pool(&self, index: usize) -> Result<(), String> {
        if index == 1 {
            return Err("pool 1 is being removed".into());
        }
        self.calls
            .lock()
            .expect("no panic holds it")
            .push(format!("pool {index}"));
        Ok(())
    }
}

impl Recorder {
    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("no panic holds it").clone()
    }
}

const WHEN: u64 = 1_700_000_000;

fn snapshot() -> Snapshot {
    let device = |engine: &str, hashes, accepted| DeviceStats {
        engine: engine.into(),
        device: format!("{engine} device"),
        hashes,
        shares_found: accepted + 1,
        accepted,
        rejected: 1,
        hardware_errors: 0,
        accepted_difficulty: accepted as f64 * 0.5,
        ..DeviceStats::default()
    };
    let mut stats = Stats {
        source: "stratum+tcp://pool.example:3333".into(),
        elapsed: Duration::from_secs(100),
        hashes: 3_000_000_000,
        jobs: 7,
        shares_found: 12,
        shares_submitted: 11,
        accepted: 8,
        stale: 1,
        hardware_errors: 2,
        best_share_difficulty: 41.7,
        difficulty: Some(0.5),
        accepted_difficulty: 4.0,
        blocks_found: 0,
        devices: vec![
            device("sha-ni", 2_000_000_000, 5),
            device("portable", 1_000_000_000, 3),
        ],
        ..Stats::default()
    };
    stats.rejected.insert("low difficulty".into(), 2);
    stats.rejected.insert("stale".into(), 1);
    stats.devices[1].disabled = true;
    Snapshot {
        stats,
        pools: vec![
            PoolState {
                url: "stratum+tcp://pool.example:3333".into(),
                user: "w1".into(),
                active: true,
                status: PoolStatus::Alive,
                accepted: 8,
                rejected: 3,
                stale: 1,
                difficulty: Some(0.5),
            },
            PoolState {
                url: "stratum+tcp://backup.example:3333".into(),
                user: "w2".into(),
                active: false,
                status: PoolStatus::Untried,
                accepted: 0,
                rejected: 0,
                stale: 0,
                difficulty: None,
            },
        ],
        ..Snapshot::default()
    }
}

/// The reply to `request` (raw bytes, through the parser), parsed, after checking its NUL.
fn ask_with(
    request: &[u8],
    snap: &Snapshot,
    history: &[HistoryPoint],
    allow_control: bool,
    control: &dyn Control,
) -> Value {
    let parsed = match RequestParser::new().push(request) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(Refusal::InvalidJson),
        Err(e) => Err(e),
    };
    let view = View {
        snapshot: snap,
        history,
        when: WHEN,
    };
    let bytes = respond(parsed, &view, allow_control, control);
    let (last, json) = bytes.split_last().expect("a reply is never empty");
    assert_eq!(*last, 0, "a reply ends in NUL");
    assert!(!json.contains(&0), "one NUL, at the end");
    serde_json::from_slice(json).expect("the reply is JSON")
}

fn ask(request: &str) -> Value {
    ask_with(
        request.as_bytes(),
        &snapshot(),
        &[],
        false,
        &Recorder::default(),
    )
}

fn status(severity: &str, code: i64, msg: &str) -> Value {
    json!([{"STATUS": severity, "When": WHEN, "Code": code, "Msg": msg,
            "Description": concat!("sha256d ", env!("CARGO_PKG_VERSION"))}])
}

fn summary_section() -> Value {
    json!([{
        "Elapsed": 100, "MHS av": 30.0, "MHS 5s": 30.0, "MHS 1m": 30.0, "MHS 5m": 30.0,
        "MHS 15m": 30.0, "Found Blocks": 0, "Getworks": 7, "Accepted": 8, "Rejected": 3,
        "Hardware Errors": 2, "Utility": 4.8, "Discarded": 0, "Stale": 1, "Total MH": 3000.0,
        "Difficulty Accepted": 4.0, "Best Share": 41, "Device Hardware%": 14.2857,
        "Pool Rejected%": 27.2727, "Pool Stale%": 9.0909, "GHS 5s": 0.03, "GHS av": 0.03
    }])
}

#[test]
fn summary_in_cgminer_fields() {
    assert_eq!(
        ask(r#"{"command":"summary"}"#),
        json!({"STATUS": status("S", 11, "Summary"), "SUMMARY": summary_section(), "id": 1})
    );
}

#[test]
fn numbers_are_printed_as_cgminer_prints_them() {
    let view = View {
        snapshot: &snapshot(),
        history: &[],
        when: WHEN,
    };
    let request = Request {
        command: "summary".into(),
        parameter: None,
    };
    let bytes = respond(Ok(request), &view, false, &Recorder::default());
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(
        text.starts_with(
            r#"{"STATUS":[{"STATUS":"S","When":1700000000,"Code":11,"Msg":"Summary","#
        ),
        "{text}"
    );
    for field in [
        r#""MHS av":30.00,"#,
        r#""Total MH":3000.0000,"#,
        r#""Difficulty Accepted":4.00000000,"#,
        r#""Pool Rejected%":27.2727,"#,
    ] {
        assert!(text.contains(field), "{field} in {text}");
    }
    assert!(text.ends_with(",\"id\":1}\0"), "{text}");
}

#[test]
fn recent_rates_come_from_the_history() {
    let history = [
        HistoryPoint {
            at: 0.0,
            measured: 0.0,
            proven: 0.0,
        },
        HistoryPoint {
            at: 40.0,
            measured: 10e6,
            proven: 0.0,
        },
        HistoryPoint {
            at: 50.0,
            measured: 20e6,
            proven: 0.0,
        },
    ];
    let reply = ask_with(
        br#"{"command":"summary"}"#,
        &snapshot(),
        &history,
        false,
        &Recorder::default(),
    );
    let s = &reply["SUMMARY"][0];
    // The newest step alone for 5 s; both steps (the first point is the start) for longer.
    assert_eq!(s["MHS 5s"], json!(20.0));
    assert_eq!(s["MHS 1m"], json!(15.0));
    assert_eq!(s["MHS 15m"], json!(15.0));
    assert_eq!(s["MHS av"], json!(30.0));
}

#[test]
fn devs_pools_stats_version_config() {
    let dev = |i: u64, name: &str, enabled: &str, mhs: f64, accepted: u64, utility: f64| {
        json!({
            "ASC": i, "Name": name, "ID": i, "Enabled": enabled, "Status": "Alive",
            "MHS av": mhs, "MHS 5s": mhs, "MHS 1m": mhs, "MHS 5m": mhs, "MHS 15m": mhs,
            "Accepted": accepted, "Rejected": 1, "Hardware Errors": 0,
            "Utility": utility, "Total MH": mhs * 100.0,
            "Difficulty Accepted": accepted as f64 * 0.5, "Device Hardware%": 0.0,
            "Device Elapsed": 100
        })
    };
    assert_eq!(
        ask(r#"{"command":"devs"}"#),
        json!({"STATUS": status("S", 9, "2 ASC(s)"), "DEVS": [
            dev(0, "sha-ni", "Y", 20.0, 5, 3.0),
            dev(1, "portable", "N", 10.0, 3, 1.8),
        ], "id": 1})
    );
    assert_eq!(
        ask(r#"{"command":"pools"}"#),
        json!({"STATUS": status("S", 7, "2 Pool(s)"), "POOLS": [
            {"POOL": 0, "URL": "stratum+tcp://pool.example:3333", "Status": "Alive",
             "Priority": 0, "Quota": 1, "Long Poll": "N", "Accepted": 8, "Rejected": 3,
             "Stale": 1, "User": "w1", "Proxy Type": "", "Proxy": "", "Work Difficulty": 0.5,
             "Has Stratum": true, "Stratum Active": true,
             "Stratum URL": "stratum+tcp://pool.example:3333", "Stratum Difficulty": 0.5,
             "Has GBT": false, "Pool Rejected%": 27.2727, "Pool Stale%": 9.0909},
            {"POOL": 1, "URL": "stratum+tcp://backup.example:3333", "Status": "Dead",
             "Priority": 1, "Quota": 1, "Long Poll": "N", "Accepted": 0, "Rejected": 0,
             "Stale": 0, "User": "w2", "Proxy Type": "", "Proxy": "", "Work Difficulty": 0.0,
             "Has Stratum": true, "Stratum Active": false, "Stratum URL": "",
             "Stratum Difficulty": 0.0, "Has GBT": false, "Pool Rejected%": 0.0,
             "Pool Stale%": 0.0},
        ], "id": 1})
    );
    assert_eq!(
        ask(r#"{"command":"stats"}"#),
        json!({"STATUS": status("S", 70, "CGMiner stats"), "STATS": [
            {"STATS": 0, "ID": "sha-ni0", "Elapsed": 100},
            {"STATS": 1, "ID": "portable1", "Elapsed": 100},
            {"STATS": 2, "ID": "POOL0", "Elapsed": 100, "Work Diff": 0.5},
            {"STATS": 3, "ID": "POOL1", "Elapsed": 100, "Work Diff": 0.0},
        ], "id": 1})
    );
    assert_eq!(
        ask(r#"{"command":"version"}"#),
        json!({"STATUS": status("S", 22, "CGMiner versions"), "VERSION": [
            {"CGMiner": concat!("sha256d ", env!("CARGO_PKG_VERSION")), "API": "3.7"}
        ], "id": 1})
    );
    assert_eq!(
        ask(r#"{"command":"config"}"#),
        json!({"STATUS": status("S", 33, "CGMiner config"), "CONFIG": [{
            "ASC Count": 2, "PGA Count": 0, "Pool Count": 2, "Strategy": "Failover",
            "Log Interval": 5, "Device Code": "sha-ni portable", "OS": std::env::consts::OS,
            "Hotplug": "None"
        }], "id": 1})
    );
}

#[test]
fn an_empty_run_says_so() {
    let empty = Snapshot::default();
    let ask_empty = |cmd: &str| {
        ask_with(
            format!(r#"{{"command":"{cmd}"}}"#).as_bytes(),
            &empty,
            &[],
            true,
            &Recorder::default(),
        )
    };
    assert_eq!(
        ask_empty("devs"),
        json!({"STATUS": status("E", 10, "No ASCs"), "id": 1})
    );
    assert_eq!(
        ask_empty("pools"),
        json!({"STATUS": status("E", 8, "No pools"), "id": 1})
    );
    assert_eq!(ask_empty("summary")["SUMMARY"][0]["MHS av"], json!(0.0));
}

#[test]
fn joined_commands_reply_under_their_names() {
    let single = |cmd: &str| ask(&format!(r#"{{"command":"{cmd}"}}"#));
    assert_eq!(
        ask(r#"{"command":"summary+pools+summary","parameter":"0"}"#),
        json!({"summary": [single("summary")], "pools": [single("pools")], "id": 1})
    );
    // A control command in a join is refused, even where control is allowed.
    let recorder = Recorder::default();
    let reply = ask_with(
        br#"{"command":"devs+switchpool","parameter":"0"}"#,
        &snapshot(),
        &[],
        true,
        &recorder,
    );
    assert_eq!(
        reply,
        json!({"devs": [single("devs")],
               "switchpool": [{"STATUS": status("E", 45, "Access denied to 'switchpool' command"),
                               "id": 1}],
               "id": 1})
    );
    assert!(recorder.calls().is_empty());
}

#[test]
fn unknown_and_malformed_requests() {
    let invalid = json!({"STATUS": [{"STATUS": "E", "When": WHEN, "Code": 14,
                                     "Msg": "Invalid command"}], "id": 1});
    assert_eq!(ask(r#"{"command":"quit"}"#), invalid);
    assert_eq!(ask(r#"{"command":"+"}"#), invalid);
    assert_eq!(
        ask(r#"{"command":"summary+quit"}"#)["quit"],
        json!([invalid])
    );
    assert_eq!(
        ask("summary|0"),
        json!({"STATUS": status("E", 23, "Invalid JSON"), "id": 1})
    );
    assert_eq!(
        ask(r#"{"parameter":"0"}"#),
        json!({"STATUS": status("E", 24, "Missing JSON 'command'"), "id": 1})
    );
    assert_eq!(ask(r#"{"command":["summary"]}"#), invalid);
}

#[test]
fn control_commands_are_denied_without_allow_control() {
    let recorder = Recorder::default();
    for cmd in [
        "switchpool",
        "ascenable",
        "ascdisable",
        "pgaenable",
        "pgadisable",
    ] {
        let reply = ask_with(
            format!(r#"{{"command":"{cmd}","parameter":"0"}}"#).as_bytes(),
            &snapshot(),
            &[],
            false,
            &recorder,
        );
        assert_eq!(
            reply,
            json!({"STATUS": status("E", 45, &format!("Access denied to '{cmd}' command")),
                   "id": 1})
        );
    }
    assert!(recorder.calls().is_empty());
}

#[test]
fn control_commands_steer_with_allow_control() {
    let recorder = Recorder::default();
    let run = |request: &str| {
        ask_with(request.as_bytes(), &snapshot(), &[], true, &recorder)["STATUS"].clone()
    };
    assert_eq!(
        run(r#"{"command":"switchpool","parameter":0}"#),
        status(
            "S",
            27,
            "Switching to pool 0:'stratum+tcp://pool.example:3333'"
        )
    );
    assert_eq!(
        run(r#"{"command":"switchpool","parameter":"1"}"#),
        status("E", 26, "pool 1 is being removed")
    );
    assert_eq!(
        run(r#"{"command":"switchpool","parameter":"2"}"#),
        status("E", 26, "Invalid pool id 2 - range is 0 - 1")
    );
    assert_eq!(
        run(r#"{"command":"switchpool","parameter":"-1"}"#),
        status("E", 26, "Invalid pool id -1 - range is 0 - 1")
    );
    assert_eq!(
        run(r#"{"command":"switchpool"}"#),
        status("E", 25, "Missing pool id parameter")
    );
    // Device 1 is disabled, device 0 enabled.
    assert_eq!(
        run(r#"{"command":"ascenable","parameter":"1"}"#),
        status("I", 110, "ASC 1 sent enable message")
    );
    assert_eq!(
        run(r#"{"command":"pgadisable","parameter":"0"}"#),
        status("I", 64, "PGA 0 set disable flag")
    );
    assert_eq!(
        run(r#"{"command":"ascenable","parameter":"0"}"#),
        status("I", 108, "ASC 0 already enabled")
    );
    assert_eq!(
        run(r#"{"command":"ascdisable","parameter":"1"}"#),
        status("I", 109, "ASC 1 already disabled")
    );
    assert_eq!(
        run(r#"{"command":"ascdisable","parameter":"x"}"#),
        status("E", 107, "Invalid ASC id -1 - range is 0 - 1")
    );
    assert_eq!(
        run(r#"{"command":"pgaenable"}"#),
        status("E", 15, "Missing device id parameter")
    );
    assert_eq!(
        recorder.calls(),
        ["pool 0", "device 1 true", "device 0 false"]
    );
}

#[test]
fn no_password_or_token_field_exists_to_leak() {
    let text = ask(r#"{"command":"summary+devs+pools+stats+config+version"}"#).to_string();
    assert!(!text.to_lowercase().contains("pass"), "{text}");
}

fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connecting to the API");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("setting a timeout");
    stream.write_all(request).expect("sending the request");
    // No half-close: the client waits for the reply, as pyasic does.
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("the server closes after one reply");
    reply
}

#[test]
fn serves_one_nul_terminated_reply_per_connection() {
    let live = Live::new();
    live.publish(snapshot());
    let server = serve(
        "127.0.0.1:0".parse().expect("an address"),
        Config::default(),
        Arc::clone(&live),
        Arc::new(Recorder::default()),
    )
    .expect("serving on loopback");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    // In two pieces, with a trailing newline after the object.
    let mut stream = TcpStream::connect(addr).expect("connecting");
    stream.write_all(br#"{"command":"#).expect("first piece");
    stream.flush().expect("flush");
    stream.write_all(b"\"pools\"}\n").expect("second piece");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("a reply, then EOF");
    assert_eq!(reply.last(), Some(&0));
    let value: Value =
        serde_json::from_slice(&reply[..reply.len() - 1]).expect("the reply is JSON");
    assert_eq!(
        value["POOLS"][0]["URL"],
        json!("stratum+tcp://pool.example:3333")
    );

    let reply = exchange(addr, br#"{"command":"summary+devs"}"#);
    let value: Value = serde_json::from_slice(&reply[..reply.len() - 1]).expect("JSON");
    assert_eq!(value["summary"][0]["SUMMARY"], summary_section());

    // A request that never ends is refused once over the limit.
    let reply = exchange(addr, &[b'{'; MAX_REQUEST_BYTES + 10]);
    let value: Value = serde_json::from_slice(&reply[..reply.len() - 1]).expect("JSON");
    assert_eq!(value["STATUS"][0]["Code"], json!(23));

    drop(server);
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
        "dropping the server closes its port"
    );
}

#[test]
fn refuses_a_non_loopback_address() {
    let err = serve(
        "0.0.0.0:0".parse().expect("an address"),
        Config::default(),
        Live::new(),
        Arc::new(Recorder::default()),
    )
    .expect_err("no authentication, so no wildcard address");
    assert!(err.to_string().contains("no authentication"), "{err}");
}
