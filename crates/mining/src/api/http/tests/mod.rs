//! The API end to end: every endpoint through [`handle`] with a recording control and a live
//! snapshot, the OpenAPI document against the router; the socket shell in [`socket`].

use super::routes::{params, ROUTES};
use super::*;
use crate::api::{Control, EnergyState, Live, PowerState, Setpoint, Snapshot};
use crate::http::ResponseParser;
use crate::miner::{DeviceStats, DropReason, Stats};
use crate::pool::{PoolState, PoolStatus};
use crate::power::{Cap, PowerEvent};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

const READ: &str = "read-token-aaaaaaaaaaaaaaaa";
const CONTROL: &str = "control-token-bbbbbbbbbbbbbbbb";

/// A control that records what it was asked, refusing what `refuse` says.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<String>>,
    refuse: Option<String>,
}

impl Recorder {
    fn record(&self, call: String) -> Result<(), String> {
        self.calls.lock().expect("not poisoned").push(call);
        self.refuse.clone().map_or(Ok(()), Err)
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("not poisoned").clone()
    }
}

impl Control for Recorder {
    fn set_setpoint(&self, setpoint: Setpoint) -> Result<(), String> {
        self.record(format!("setpoint {setpoint:?}"))
    }
    fn set_device_enabled(&self, index: usize, enabled: bool) -> Result<(), String> {
        self.record(format!("device {index} {enabled}"))
    }
    fn switch_pool(&self, index: usize) -> Result<(), String> {
        self.record(format!("pool {index}"))
    }
}

fn device(engine: &str, hashes: u64, accepted: u64) -> DeviceStats {
    DeviceStats {
        engine: engine.into(),
        device: format!("{engine} on 8 threads"),
        hashes,
        shares_found: accepted + 1,
        accepted,
        rejected: 1,
        stale: 0,
        hardware_errors: 0,
        known_answer_misses: 0,
        known_answers_passed: 3,
        accepted_difficulty: accepted as f64 * 0.001,
        accepted_difficulty_squared: accepted as f64 * 1e-6,
        failure: None,
        disabled: false,
    }
}

fn snapshot() -> Snapshot {
    let mut stats = Stats {
        source: "stratum+tcp://pool.example:3333".into(),
        engines: vec!["sha-ni".into(), "gpu".into()],
        elapsed: Duration::from_secs(600),
        hashes: 600_000_000_000,
        jobs: 12,
        shares_found: 40,
        shares_submitted: 39,
        accepted: 36,
        unanswered: 0,
        stale: 2,
        hardware_errors: 1,
        best_share_difficulty: 0.37,
        difficulty: Some(0.001),
        accepted_difficulty: 0.036,
        accepted_difficulty_squared: 3.6e-5,
        devices: vec![
            device("sha-ni", 100_000_000_000, 6),
            device("gpu", 500_000_000_000, 30),
        ],
        ..Stats::default()
    };
    stats.rejected.insert("low difficulty share".into(), 2);
    stats.rejected.insert("job not found".into(), 1);
    stats.dropped.insert(DropReason::Stale, 1);
    stats.devices[1].failure = Some("the adapter was lost".into());
    let at = |s: i64| jiff::Timestamp::from_second(1_800_000_000 + s).expect("in range");
    stats.devices[1].disabled = true;
    Snapshot {
        started: Some(SystemTime::now() - Duration::from_secs(600)),
        stats,
        pools: vec![
            PoolState {
                url: "stratum+tcp://pool.example:3333".into(),
                user: "bc1qworker.rig1".into(),
                active: true,
                status: PoolStatus::Alive,
                accepted: 36,
                rejected: 3,
                stale: 1,
                difficulty: Some(0.001),
            },
            PoolState {
                url: "stratum+ssl://backup.example:443".into(),
                user: "bc1qworker.rig1".into(),
                active: false,
                status: PoolStatus::Untried,
                accepted: 0,
                rejected: 0,
                stale: 0,
                difficulty: None,
            },
        ],
        power: Some(PowerState {
            cap: Cap::Watts(120.0),
            source: Some("api".into()),
            duty: 0.5,
            api_setpoint: Some(Setpoint::Watts(120.0)),
        }),
        energy: Some(EnergyState {
            watts: Some(118.5),
            joules: Some(71_100.0),
            source: "rapl".into(),
            joules_per_verified_th: Some(4.5e5),
        }),
        events: vec![
            PowerEvent {
                source: "schedule".into(),
                from: Cap::Full,
                to: Cap::Off,
                requested_at: at(0),
                complied_at: Some(at(2)),
            },
            PowerEvent {
                source: "api".into(),
                from: Cap::Off,
                to: Cap::Watts(120.0),
                requested_at: at(60),
                complied_at: None,
            },
        ],
    }
}

fn live() -> Arc<Live> {
    let live = Live::new();
    let mut early = snapshot();
    early.stats.elapsed = Duration::from_secs(300);
    early.stats.hashes /= 2;
    live.publish(early);
    live.publish(snapshot());
    live
}

fn both_tokens() -> Auth {
    Auth {
        read: Some(Secret::new(READ).expect("valid")),
        control: Some(Secret::new(CONTROL).expect("valid")),
    }
}

fn request(method: &str, target: &str, token: Option<&str>, body: &str) -> Request {
    let mut headers = vec![("Host".to_owned(), "127.0.0.1:8080".to_owned())];
    if let Some(token) = token {
        headers.push(("Authorization".into(), format!("Bearer {token}")));
    }
    Request {
        method: method.into(),
        target: target.into(),
        headers,
        body: body.as_bytes().to_vec(),
    }
}

fn body(response: &Response) -> Value {
    serde_json::from_slice(&response.body).expect("the answer is JSON")
}

/// One request for each route, with a body that is accepted.
fn every_route() -> Vec<(&'static str, String, &'static str)> {
    ROUTES
        .iter()
        .map(|route| {
            let body = match route.path {
                "/v1/setpoint" => r#"{"hashrate_hs": 1e9}"#,
                "/v1/devices/{index}" => r#"{"enabled": false}"#,
                "/v1/pools/active" => r#"{"index": 1}"#,
                _ => "",
            };
            (route.method, route.path.replace("{index}", "1"), body)
        })
        .collect()
}

#[test]
fn status_has_every_total() {
    let live = live();
    let r = handle(
        &request("GET", "/v1/status", Some(READ), ""),
        &live,
        &Recorder::default(),
        &both_tokens(),
    );
    assert_eq!((r.status, r.content_type), (200, JSON));
    let v = body(&r);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    let uptime = v["uptime_seconds"].as_f64().expect("a number");
    assert!(uptime >= 600.0, "{uptime}");
    assert_eq!(v["hashrate"]["measured_hs"], 1e9);
    let proven = v["hashrate"]["proven_hs"].as_f64().expect("a number");
    assert!(
        (proven - 0.036 * 4_294_967_296.0 / 600.0).abs() < 1e-3,
        "{proven}"
    );
    let (low, high) = (
        v["hashrate"]["proven_low_hs"].as_f64().expect("a number"),
        v["hashrate"]["proven_high_hs"]
            .as_f64()
            .expect("bounded: shares were accepted"),
    );
    assert!(low < proven && proven < high, "{low} {proven} {high}");
    assert_eq!(v["hashrate"]["confidence"], 0.95);
    assert_eq!(v["hashes_total"], 600_000_000_000u64);
    assert_eq!(
        v["shares"],
        json!({"found": 40, "submitted": 39, "accepted": 36, "rejected_total": 3,
               "rejected": {"low difficulty share": 2, "job not found": 1}, "stale": 2,
               "hardware_errors": 1, "unanswered": 0, "dropped": {"stale": 1}})
    );
    assert_eq!(v["best_share_difficulty"], 0.37);
    assert_eq!(v["difficulty"], 0.001);
    assert_eq!(
        v["blocks"],
        json!({"found": 0, "accepted": 0, "candidates": 0})
    );
    assert_eq!(
        v["power"],
        json!({"watts": 118.5, "joules": 71100.0, "source": "rapl",
               "joules_per_verified_th": 4.5e5})
    );
    assert_eq!(
        v["setpoint"],
        json!({"cap": "120W", "source": "api", "duty": 0.5, "api": {"watts": 120.0}})
    );
    // A run with nothing proven, no power control and no meter: nulls, not infinities.
    let bare = Live::new();
    bare.publish(Snapshot::default());
    let v = body(&handle(
        &request("GET", "/v1/status", None, ""),
        &bare,
        &Recorder::default(),
        &Auth::default(),
    ));
    assert_eq!(v["hashrate"]["proven_high_hs"], Value::Null);
    assert_eq!(v["setpoint"], Value::Null);
    assert_eq!(
        v["power"],
        json!({"watts": null, "joules": null, "source": null, "joules_per_verified_th": null})
    );
}

#[test]
fn devices_pools_events_and_history() {
    let live = live();
    let get = |path: &str| {
        let r = handle(
            &request("GET", path, Some(CONTROL), ""),
            &live,
            &Recorder::default(),
            &both_tokens(),
        );
        assert_eq!(r.status, 200, "{path}");
        body(&r)
    };
    let devices = get("/v1/devices");
    let gpu = &devices["devices"][1];
    assert_eq!(gpu["index"], 1);
    assert_eq!(gpu["engine"], "gpu");
    assert_eq!(gpu["enabled"], false);
    assert_eq!(gpu["hashes_total"], 500_000_000_000u64);
    assert_eq!(gpu["measured_hs"], 500_000_000_000.0 / 600.0);
    assert_eq!(gpu["failure"], "the adapter was lost");
    assert_eq!(gpu["known_answers_passed"], 3);
    assert!(gpu["claims_more_than_proven"].is_boolean());
    assert_eq!(devices["devices"][0]["enabled"], true);
    assert_eq!(devices["devices"][0]["failure"], Value::Null);

    let pools = get("/v1/pools");
    assert_eq!(
        pools["pools"][0],
        json!({"index": 0, "url": "stratum+tcp://pool.example:3333", "user": "bc1qworker.rig1",
               "active": true, "status": "alive", "accepted": 36, "rejected": 3, "stale": 1,
               "difficulty": 0.001})
    );
    assert_eq!(pools["pools"][1]["difficulty"], Value::Null);

    let events = get("/v1/events");
    assert_eq!(
        events["events"],
        json!([
            {"source": "schedule", "from": "full", "to": "off",
             "requested_at": "2027-01-15T08:00:00Z", "complied_at": "2027-01-15T08:00:02Z",
             "seconds_to_comply": 2.0},
            {"source": "api", "from": "off", "to": "120W",
             "requested_at": "2027-01-15T08:01:00Z", "complied_at": null,
             "seconds_to_comply": null},
        ])
    );

    let history = get("/v1/history");
    assert_eq!(history["step_seconds"], 10);
    assert_eq!(history["span_seconds"], 3600);
    let points = history["points"].as_array().expect("a list");
    assert_eq!(points.len(), 2);
    assert_eq!(points[1]["at"], 600.0);
    assert_eq!(points[1]["measured_hs"], 300_000_000_000.0 / 300.0);
    assert!(points[1]["proven_hs"].as_f64().expect("a number") > 0.0);
}

#[test]
fn control_endpoints_call_the_control() {
    let live = live();
    let control = Recorder::default();
    let put = |path: &str, body: &str| {
        let r = handle(
            &request("PUT", path, Some(CONTROL), body),
            &live,
            &control,
            &both_tokens(),
        );
        (r.status, self::body(&r))
    };
    for (body, want, call) in [
        (r#"{"off": true}"#, json!({"off": true}), "setpoint Off"),
        (
            r#"{"hashrate_hs": 5e9}"#,
            json!({"hashrate_hs": 5e9}),
            "setpoint Hashrate(5000000000.0)",
        ),
        (
            r#" {"watts": 80} "#,
            json!({"watts": 80.0}),
            "setpoint Watts(80.0)",
        ),
        (r#"{"release": true}"#, Value::Null, "setpoint Release"),
    ] {
        assert_eq!(
            put("/v1/setpoint", body),
            (200, json!({ "setpoint": want })),
            "{body}"
        );
        assert_eq!(control.calls().last().map(String::as_str), Some(call));
    }
    assert_eq!(
        put("/v1/devices/1", r#"{"enabled": true}"#),
        (200, json!({"index": 1, "enabled": true}))
    );
    assert_eq!(
        put("/v1/pools/active", r#"{"index": 1}"#),
        (200, json!({"index": 1}))
    );
    assert_eq!(control.calls()[4..], ["device 1 true", "pool 1"]);
    // Out of range: 404, and the control is not asked.
    let (status, v) = put("/v1/devices/2", r#"{"enabled": true}"#);
    assert_eq!(
        (status, v["error"].as_str()),
        (404, Some("no device 2: there are 2"))
    );
    assert_eq!(put("/v1/pools/active", r#"{"index": 7}"#).0, 404);
    for path in [
        "/v1/devices/x",
        "/v1/devices/+1",
        "/v1/devices/99999999999999999999999",
    ] {
        assert_eq!(put(path, r#"{"enabled": true}"#).0, 404, "{path}");
    }
    assert_eq!(control.calls().len(), 6);
    // The run's refusal reaches the client as 409 with its message.
    let refusing = Recorder {
        refuse: Some("no power control in this run".into()),
        ..Recorder::default()
    };
    let r = handle(
        &request("PUT", "/v1/setpoint", Some(CONTROL), r#"{"off": true}"#),
        &live,
        &refusing,
        &both_tokens(),
    );
    assert_eq!(r.status, 409);
    assert_eq!(body(&r), json!({"error": "no power control in this run"}));
}

#[test]
fn bodies_that_do_not_parse_name_the_field() {
    let live = live();
    let control = Recorder::default();
    let error = |path: &str, body: &str| {
        let r = handle(
            &request("PUT", path, Some(CONTROL), body),
            &live,
            &control,
            &both_tokens(),
        );
        assert_eq!(r.status, 400, "{path} {body}");
        self::body(&r)["error"]
            .as_str()
            .expect("a message")
            .to_owned()
    };
    let one_of = "exactly one of the fields \"off\", \"hashrate_hs\", \"watts\", \"release\"";
    for (body, names) in [
        ("", one_of),
        ("not json", one_of),
        ("[1]", one_of),
        ("{}", one_of),
        (r#"{"off": true, "watts": 5}"#, one_of),
        (r#"{"kilowatts": 5}"#, one_of),
        (r#"{"off": false}"#, "\"off\" must be true"),
        (r#"{"release": 1}"#, "\"release\" must be true"),
        (r#"{"watts": -1}"#, "\"watts\" must be a number of watts"),
        (r#"{"watts": "5"}"#, "\"watts\" must be a number of watts"),
        (
            r#"{"hashrate_hs": null}"#,
            "\"hashrate_hs\" must be a number",
        ),
        (r#"{"hashrate_hs": 1e400}"#, one_of),
    ] {
        let message = error("/v1/setpoint", body);
        assert!(message.contains(names), "{body}: {message}");
    }
    for body in [
        "",
        r#"{"enabled": 1}"#,
        r#"{"enabled": true, "x": 1}"#,
        r#"{"on": true}"#,
    ] {
        assert!(
            error("/v1/devices/0", body).contains("\"enabled\""),
            "{body}"
        );
    }
    for body in [
        r#"{"index": -1}"#,
        r#"{"index": 0.5}"#,
        r#"{"index": "0"}"#,
        "{}",
    ] {
        assert!(
            error("/v1/pools/active", body).contains("\"index\""),
            "{body}"
        );
    }
    assert!(control.calls().is_empty(), "{:?}", control.calls());
}

#[test]
fn the_token_matrix_for_every_endpoint() {
    let live = live();
    let control = Recorder::default();
    for (method, path, body) in every_route() {
        let route = ROUTES
            .iter()
            .find(|r| r.method == method && params(r.path, &path).is_some())
            .expect("routed");
        let expected: [u16; 4] = match route.scope {
            Scope::Open => [200, 200, 200, 200],
            Scope::Read => [401, 401, 200, 200],
            Scope::Control => [401, 401, 403, 200],
        };
        for (token, want) in [
            None,
            Some("wrong-token-cccccccccccc"),
            Some(READ),
            Some(CONTROL),
        ]
        .into_iter()
        .zip(expected)
        {
            let r = handle(
                &request(method, &path, token, body),
                &live,
                &control,
                &both_tokens(),
            );
            assert_eq!(r.status, want, "{method} {path} with {token:?}");
            let challenge = r
                .headers
                .iter()
                .any(|h| *h == ("WWW-Authenticate", "Bearer".into()));
            assert_eq!(challenge, want == 401, "{method} {path} with {token:?}");
        }
        // No read token: reads open. No control token: control disabled, whatever is sent.
        let open = Auth::default();
        let r = handle(&request(method, &path, None, body), &live, &control, &open);
        let want = if route.scope == Scope::Control {
            403
        } else {
            200
        };
        assert_eq!(r.status, want, "{method} {path} without tokens");
        if want == 403 {
            assert_eq!(body_error(&r), "control is disabled: no control token");
        }
    }
}

fn body_error(r: &Response) -> String {
    body(r)["error"].as_str().expect("a message").to_owned()
}

#[test]
fn unknown_paths_and_methods() {
    let live = live();
    let call = |method: &str, target: &str| {
        handle(
            &request(method, target, Some(CONTROL), ""),
            &live,
            &Recorder::default(),
            &both_tokens(),
        )
    };
    for target in [
        "/v2/status",
        "/v1/status/",
        "/v1/devices/",
        "/v1",
        "/metricsx",
    ] {
        let r = call("GET", target);
        assert_eq!(
            (r.status, body_error(&r).as_str()),
            (404, "no such endpoint"),
            "{target}"
        );
    }
    let r = call("POST", "/v1/status");
    assert_eq!(r.status, 405);
    assert_eq!(r.headers, [("Allow", "GET".to_owned())]);
    assert_eq!(call("GET", "/v1/setpoint").status, 405);
    let r = call("DELETE", "/v1/devices/0");
    assert_eq!(r.headers, [("Allow", "PUT".to_owned())]);
    // Methods are case-sensitive; a query is not part of the path.
    assert_eq!(call("get", "/v1/status").status, 405);
    assert_eq!(call("GET", "/v1/status?pretty=1").status, 200);
}

/// Every answer of every endpoint, with every token and with bodies good and bad, plus
/// framing errors from the parser: the tokens appear in none of them, head or body.
#[test]
fn no_answer_holds_a_token() {
    let live = live();
    let control = Recorder::default();
    let mut answers = Vec::new();
    for (method, path, body) in every_route() {
        for token in [None, Some(READ), Some(CONTROL), Some("Bearer")] {
            for body in [body, "{\"watts\": \"x\"}", "garbage"] {
                for auth in [both_tokens(), Auth::default()] {
                    let r = handle(&request(method, &path, token, body), &live, &control, &auth);
                    answers.push(r.to_bytes());
                }
            }
        }
    }
    // What the parser refuses, with the tokens in the request.
    for bad in [
        format!("GET /v1/status HTTP/1.1\r\nAuthorization: Bearer {READ}\r\n\r\n"),
        format!("GET /{CONTROL} HTTP/9\r\n\r\n"),
        format!("GET / HTTP/1.1\r\nHost: a\r\nAuthorization Bearer {CONTROL}\r\n\r\n"),
    ] {
        let e = RequestParser::new()
            .push(bad.as_bytes())
            .expect_err("refused");
        answers.push(Response::error(e.status(), e.message()).to_bytes());
    }
    for bytes in &answers {
        let text = String::from_utf8_lossy(bytes);
        for token in [READ, CONTROL] {
            assert!(!text.contains(token), "{text}");
        }
    }
}

/// The JSON schema `schema` names, following `$ref`s.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/").expect("a local reference");
            let (kind, name) = name.split_once('/').expect("kind/name");
            resolve(doc, &doc["components"][kind][name])
        }
        None => schema,
    }
}

#[test]
fn the_openapi_document_is_what_the_server_does() {
    let doc: Value = serde_json::from_str(routes::OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for scheme in ["readToken", "controlToken"] {
        assert_eq!(
            doc["components"]["securitySchemes"][scheme]["scheme"],
            "bearer"
        );
    }
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("a path item") {
            documented.push((method.to_ascii_uppercase(), path.clone(), op));
        }
    }
    // Every route is documented, with the tokens it takes.
    for route in ROUTES {
        let (_, _, op) = documented
            .iter()
            .find(|(m, p, _)| m == route.method && p == route.path)
            .unwrap_or_else(|| panic!("{} {} is not in openapi.json", route.method, route.path));
        let schemes: Vec<&str> = op["security"]
            .as_array()
            .expect("every operation states its security")
            .iter()
            .flat_map(|s| s.as_object().expect("a requirement").keys())
            .map(String::as_str)
            .collect();
        let want: &[&str] = match route.scope {
            Scope::Open => &[],
            Scope::Read => &["readToken", "controlToken"],
            Scope::Control => &["controlToken"],
        };
        assert_eq!(schemes, want, "{} {}", route.method, route.path);
    }
    // Every documented operation is served: with the control token and the example body it
    // answers 200 with the documented fields.
    let live = live();
    let control = Recorder::default();
    let mut unrouted = Vec::new();
    for (method, path, op) in &documented {
        let body = op["requestBody"]["content"][JSON]["example"].to_string();
        let body = if op["requestBody"].is_null() {
            String::new()
        } else {
            body
        };
        let target = path.replace("{index}", "0");
        let r = handle(
            &request(method, &target, Some(CONTROL), &body),
            &live,
            &control,
            &both_tokens(),
        );
        if r.status == 404 && r.body == super::routes::not_found().body {
            unrouted.push(format!("{method} {path}"));
            continue;
        }
        assert_eq!(
            r.status,
            200,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let ok = &op["responses"]["200"]["content"];
        let content = ok.as_object().expect("a 200 content");
        assert!(
            content.contains_key(r.content_type),
            "{method} {path}: {}",
            r.content_type
        );
        for code in op["responses"].as_object().expect("responses").keys() {
            assert!(code.parse::<u16>().is_ok(), "{method} {path}: {code}");
        }
        let schema = resolve(&doc, &content[r.content_type]["schema"]);
        if let Some(properties) = schema["properties"].as_object() {
            let got = self::body(&r);
            let mut got: Vec<&String> = got.as_object().expect("an object").keys().collect();
            let mut want: Vec<&String> = properties.keys().collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "{method} {path}");
        }
    }
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[test]
fn metrics_and_the_dashboard_files_are_served() {
    let live = live();
    let get = |target: &str, token| {
        handle(
            &request("GET", target, token, ""),
            &live,
            &Recorder::default(),
            &both_tokens(),
        )
    };
    let r = get("/metrics", Some(READ));
    assert_eq!(
        (r.status, r.content_type),
        (200, "text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(
        r.body,
        crate::api::metrics::render(&live.snapshot()).into_bytes()
    );
    for path in ["/", "/dashboard.js", "/dashboard.css"] {
        let (content_type, bytes) = crate::api::dashboard::asset(path).expect("an asset");
        let r = get(path, None);
        assert_eq!((r.status, r.content_type), (200, content_type), "{path}");
        assert_eq!(r.body, bytes, "{path}");
    }
    assert_eq!(get("/index.html", None).status, 404);
}

mod socket;
