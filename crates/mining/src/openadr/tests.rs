//! The VEN driven through whole polls on recorded and hand-written VTN replies.

use super::*;
use serde_json::json;
use std::time::{Duration, SystemTime};

/// One page of `GET /events` as openleadr-vtn 0.2.8 sent it (program and event made with its
/// API, durations in its own `P0Y0M0DT2H0M0S` spelling, the "now" start in 3.0.1's).
const VTN_PAGE: &str = include_str!("fixtures/vtn_events_page.json");
const VTN_PROGRAM: &str = "c53dd981-bbb1-4d00-8fae-12f9d4ce913e";
const OVERLAP: &str = include_str!("fixtures/overlap.json");

fn at(text: &str) -> SystemTime {
    let t: jiff::Timestamp = text.parse().expect("a valid instant");
    SystemTime::try_from(t).expect("in range")
}

fn config(ven_name: &str) -> VenConfig {
    VenConfig {
        client_id: "ven client".to_owned(),
        client_secret: "s3cret&=".to_owned(),
        program_name: "mining-dr".to_owned(),
        ven_name: ven_name.to_owned(),
        levels: SimpleLevels::default(),
    }
}

fn token_reply(expires_in: u64) -> Vec<u8> {
    json!({"access_token": "tok-1", "token_type": "Bearer", "expires_in": expires_in})
        .to_string()
        .into_bytes()
}

fn programs_reply(id: &str) -> Vec<u8> {
    json!([{"id": "other", "programName": "other"}, {"id": id, "programName": "mining-dr"}])
        .to_string()
        .into_bytes()
}

/// A VEN after one poll at `now` whose events page is `page`.
fn polled(ven_name: &str, program_id: &str, page: &str, now: SystemTime) -> Ven {
    let mut ven = Ven::new(config(ven_name));
    let first = ven.start_poll(now);
    assert_eq!(first.path, "/auth/token");
    let step = ven
        .on_response(now, 200, &token_reply(3600))
        .expect("token");
    assert!(matches!(step, Step::Send(r) if r.path == "/programs?skip=0&limit=50"));
    let step = ven
        .on_response(now, 200, &programs_reply(program_id))
        .expect("program");
    let Step::Send(events) = step else {
        panic!("no events request")
    };
    assert_eq!(
        events.path,
        format!("/events?programID={program_id}&skip=0&limit=50")
    );
    assert_eq!(events.bearer.as_deref(), Some("tok-1"));
    assert_eq!(
        ven.on_response(now, 200, page.as_bytes()).expect("events"),
        Step::Done
    );
    ven
}

#[test]
fn overlapping_events_resolve_by_priority_ties_combine_emergencies_stop() {
    let now = at("2026-12-03T10:00:00Z");
    let ven = polled("miner-1", "p1", OVERLAP, now);
    let timeline = ven.timeline();
    assert_eq!(timeline.rejected().len(), 1, "{:?}", timeline.rejected());
    assert!(timeline.rejected()[0].starts_with("event f: IMPORT_CAPACITY_LIMIT in units"));
    let limit = |t: &str| timeline.limit_at(at(t));

    // a and g tie at priority 2: the lower cap holds; g's PRICE is not a limit.
    let l = limit("2026-12-03T10:10:00Z");
    assert_eq!((l.stop, l.watts, l.fraction), (false, Some(8000.0), None));
    assert_eq!(l.events, ["a", "g"]);
    assert_eq!(l.until, Some(at("2026-12-03T10:20:00Z")));
    // b (priority 1) beats a: SIMPLE 3 is "off" by default.
    let l = limit("2026-12-03T10:35:00Z");
    assert_eq!((l.stop, l.watts, l.fraction), (false, None, Some(0.0)));
    assert_eq!(l.events, ["b"]);
    assert_eq!(l.until, Some(at("2026-12-03T10:45:00Z")));
    let l = limit("2026-12-03T10:50:00Z");
    assert_eq!(
        (l.watts, l.until),
        (Some(10_000.0), Some(at("2026-12-03T11:00:00Z")))
    );
    // a's second interval follows its first.
    assert_eq!(limit("2026-12-03T11:00:00Z").watts, Some(5_500.0));
    // d's emergency stops the load though its priority (9) is worse than a's, at once despite
    // its randomizeStart.
    let l = limit("2026-12-03T11:30:00Z");
    assert_eq!((l.stop, l.events.clone()), (true, vec!["d".to_owned()]));
    assert_eq!(l.until, Some(at("2026-12-03T11:40:00Z")));
    assert_eq!(limit("2026-12-03T11:40:00Z").watts, Some(5_500.0));
    // c (no priority, started "now" at the poll, forever) holds once the others end.
    let l = limit("2026-12-03T12:00:00Z");
    assert_eq!(
        (l.stop, l.watts, l.events.clone()),
        (false, Some(1000.0), vec!["c".to_owned()])
    );
    assert_eq!(l.until, None);
    assert_eq!(limit("2030-01-01T00:00:00Z").watts, Some(1000.0));
    // Before the poll, c had not started: nothing holds.
    let l = limit("2026-12-03T09:59:59Z");
    assert!(l.is_unlimited());
    assert_eq!(l.until, Some(now));
    // Event e (another program) never appears.
    assert!(timeline.segments().iter().all(|s| s.event_id != "e"));
}

#[test]
fn a_recorded_vtn_page_resolves_with_a_stable_randomised_start() {
    let now = at("2026-12-03T06:22:44Z");
    let ven = polled("miner-1", VTN_PROGRAM, VTN_PAGE, now);
    let timeline = ven.timeline();
    assert_eq!(timeline.rejected(), &[] as &[String]);
    let segments = timeline.segments();
    assert_eq!(segments.len(), 2);
    let event = "b4a87bd7-ff0e-44da-b5d4-d92b9a8beca8";
    // Interval 0: 06:00 for two hours, moved by one offset below randomizeStart (PT5M).
    let cap = segments
        .iter()
        .find(|s| s.signal.watts_cap.is_some())
        .expect("the capacity interval");
    assert_eq!(cap.event_id, event);
    assert_eq!(cap.priority, Some(1));
    assert_eq!(cap.signal.watts_cap, Some(1500.0));
    let offset = cap
        .start
        .duration_since(at("2026-12-03T06:00:00Z"))
        .expect("not earlier than the start");
    assert!(offset < Duration::from_secs(300), "{offset:?}");
    assert_eq!(cap.end, Some(cap.start + Duration::from_secs(7200)));
    // Interval 1: its own "now" start (the poll) and forever, SIMPLE 2 at half power, the same
    // offset (the window is the event's).
    let simple = segments
        .iter()
        .find(|s| s.signal.simple_level == Some(2))
        .expect("the SIMPLE interval");
    assert_eq!(simple.start, now + offset);
    assert_eq!(simple.end, None);
    let l = timeline.limit_at(now + offset);
    assert_eq!((l.watts, l.fraction), (Some(1500.0), Some(0.5)));
    assert_eq!(l.until, cap.end);
    // The same VEN places it the same on every poll; offsets come from the VEN's name.
    let again = polled("miner-1", VTN_PROGRAM, VTN_PAGE, now);
    assert_eq!(again.timeline().segments(), segments);
}

#[test]
fn now_starts_keep_the_first_sight_until_the_event_changes() {
    let page = |modified: &str| {
        json!([{
            "id": "n", "programID": "p1", "modificationDateTime": modified,
            "intervalPeriod": {"start": "0000-00-00", "duration": "PT30M"},
            "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]
        }])
        .to_string()
    };
    let first = at("2026-12-03T10:00:00Z");
    let mut ven = polled("v", "p1", &page("m1"), first);
    let poll = |ven: &mut Ven, now: SystemTime, body: &str| {
        // The token (an hour) is still fresh and the program known: straight to the events.
        let request = ven.start_poll(now);
        assert_eq!(request.path, "/events?programID=p1&skip=0&limit=50");
        assert_eq!(
            ven.on_response(now, 200, body.as_bytes()).expect("events"),
            Step::Done
        );
    };
    poll(&mut ven, at("2026-12-03T10:10:00Z"), &page("m1"));
    let s = &ven.timeline().segments()[0];
    assert_eq!((s.start, s.end), (first, Some(at("2026-12-03T10:30:00Z"))));
    assert_eq!(
        ven.timeline().limit_at(at("2026-12-03T10:20:00Z")).fraction,
        Some(0.75)
    );
    // Edited: a new "now".
    poll(&mut ven, at("2026-12-03T10:20:00Z"), &page("m2"));
    assert_eq!(
        ven.timeline().segments()[0].start,
        at("2026-12-03T10:20:00Z")
    );
}

#[test]
fn tokens_are_form_encoded_refreshed_before_expiry_and_renewed_once_when_refused() {
    let now = at("2026-12-03T10:00:00Z");
    let mut ven = polled("v", "p1", "[]", now);
    let mut fresh = Ven::new(config("v"));
    let token = fresh.start_poll(now);
    assert_eq!(
        token.body,
        Some((
            "application/x-www-form-urlencoded",
            b"grant_type=client_credentials&client_id=ven%20client&client_secret=s3cret%26%3D"
                .to_vec()
        ))
    );
    assert_eq!(token.bearer, None);
    // At 90 % of the hour the token is renewed first.
    assert_eq!(
        ven.start_poll(now + Duration::from_secs(3239)).path,
        "/events?programID=p1&skip=0&limit=50"
    );
    assert_eq!(
        ven.start_poll(now + Duration::from_secs(3240)).path,
        "/auth/token"
    );
    // A refused token: one new token, then the same goal; refused again, an error.
    let mut ven = polled("v", "p1", "[]", now);
    ven.start_poll(now);
    let step = ven.on_response(now, 401, b"{}").expect("a retry");
    assert!(matches!(step, Step::Send(r) if r.path == "/auth/token"));
    let step = ven
        .on_response(now, 200, &token_reply(3600))
        .expect("token");
    assert!(matches!(step, Step::Send(r) if r.path.starts_with("/events?")));
    let err = ven
        .on_response(now, 401, b"nope")
        .expect_err("refused twice");
    assert!(
        err.message().contains("refused this VEN's token (401)"),
        "{err}"
    );
    // Wrong credentials are a configuration error.
    let mut ven = Ven::new(config("v"));
    ven.start_poll(now);
    let err = ven
        .on_response(now, 401, br#"{"error":"invalid_client"}"#)
        .expect_err("refused");
    assert_eq!(err.kind(), sha256d::ErrorKind::InvalidInput);
    assert!(
        err.message().contains("refused client id ven client"),
        "{err}"
    );
    assert!(!format!("{:?}", config("v")).contains("s3cret"));
}

#[test]
fn events_are_paged_and_a_program_with_too_many_is_refused() {
    let now = at("2026-12-03T10:00:00Z");
    let event = |i: usize| {
        json!({"id": format!("e{i}"), "programID": "p1", "modificationDateTime": "m",
               "intervalPeriod": {"start": "2026-12-03T10:00:00Z", "duration": "PT1H"},
               "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT",
                                                      "values": [i]}]}]})
    };
    let page = |from: usize, n: usize| {
        serde_json::Value::Array((from..from + n).map(event).collect()).to_string()
    };
    let mut ven = polled("v", "p1", "[]", now);
    ven.start_poll(now);
    let step = ven
        .on_response(now, 200, page(0, PAGE).as_bytes())
        .expect("page 1");
    assert!(matches!(step, Step::Send(r) if r.path == "/events?programID=p1&skip=50&limit=50"));
    assert_eq!(
        ven.on_response(now, 200, page(50, 3).as_bytes())
            .expect("page 2"),
        Step::Done
    );
    assert_eq!(ven.timeline().segments().len(), 53);
    // Of 53 tied caps the smallest, 0 kW (event e0), holds.
    assert_eq!(ven.timeline().limit_at(now).watts, Some(0.0));
    // Eleven full pages are more than MAX_EVENTS.
    ven.start_poll(now);
    let mut result = Ok(Step::Done);
    for p in 0..=MAX_EVENTS / PAGE {
        result = ven.on_response(now, 200, page(p * PAGE, PAGE).as_bytes());
        if result.is_err() {
            break;
        }
    }
    let err = result.expect_err("too many events");
    assert!(
        err.message()
            .contains("more than 500 events or 20160 intervals"),
        "{err}"
    );
    // The last good timeline stays.
    assert_eq!(ven.timeline().segments().len(), 53);
    // A page longer than asked for is refused too.
    ven.start_poll(now);
    assert!(ven
        .on_response(now, 200, page(0, PAGE + 1).as_bytes())
        .is_err());
}

#[test]
fn reports_carry_average_power_in_kw() {
    let now = at("2026-12-03T10:00:00Z");
    let mut ven = polled("miner-1", "p1", "[]", now);
    let reading = Reading {
        event_id: "e1".to_owned(),
        resource_name: "rig".to_owned(),
        start: at("2026-12-03T09:59:00Z"),
        duration: Duration::from_secs(60),
        average_watts: 1234.0,
    };
    let request = ven.start_report(now, &reading).expect("a report");
    assert_eq!(
        (request.method, request.path.as_str()),
        ("POST", "/reports")
    );
    let (content_type, body) = request.body.expect("a body");
    assert_eq!(content_type, "application/json");
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["eventID"], "e1");
    assert_eq!(body["clientName"], "miner-1");
    let resource = &body["resources"][0];
    assert_eq!(resource["intervalPeriod"]["start"], "2026-12-03T09:59:00Z");
    assert_eq!(resource["intervalPeriod"]["duration"], "PT60S");
    assert_eq!(
        resource["intervals"][0]["payloads"][0],
        json!({"type": "DEMAND", "values": [1.234]})
    );
    assert_eq!(
        ven.on_response(now, 201, b"{}").expect("created"),
        Step::Done
    );
    let bad = Reading {
        average_watts: f64::NAN,
        ..reading
    };
    assert!(ven.start_report(now, &bad).is_err());
}

#[test]
fn simple_levels_are_fractions() {
    assert_eq!(
        SimpleLevels::new([1.0, 0.9, 0.6, 0.2]).map(|l| l.fractions()),
        Ok([1.0, 0.9, 0.6, 0.2])
    );
    assert_eq!(SimpleLevels::default().fractions(), [1.0, 0.75, 0.5, 0.0]);
    for bad in [1.5, -0.1, f64::NAN] {
        assert!(SimpleLevels::new([1.0, bad, 0.5, 0.0]).is_err(), "{bad}");
    }
}

#[test]
fn vtn_urls() {
    assert!(VenClient::new("http://127.0.0.1:8080/openadr3/3.1", config("v")).is_ok());
    for bad in [
        "https://vtn.example/openadr",
        "ftp://x",
        "http://user:pw@host/",
        "http://host:0/",
        "http://host/a b",
    ] {
        assert!(VenClient::new(bad, config("v")).is_err(), "{bad} accepted");
    }
}

#[test]
fn hostile_events_are_left_out_with_a_reason_and_too_many_intervals_refused() {
    let now = at("2026-12-03T10:00:00Z");
    let interval = json!({"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]});
    let event = |id: &str, extra: serde_json::Value, intervals: usize| {
        let mut e = json!({"id": id, "programID": "p1", "modificationDateTime": "m",
                           "intervals": vec![interval.clone(); intervals]});
        for (k, v) in extra.as_object().expect("an object") {
            e[k] = v.clone();
        }
        e
    };
    let page = json!([
        event("neg", json!({"priority": -1}), 1),
        event("long", json!({}), 2049),
        event("dur", json!({"intervalPeriod": {"duration": "PT1H1H"}}), 1),
        event(
            "rand",
            json!({"intervalPeriod": {"randomizeStart": "PT2H"}}),
            1
        ),
        event(
            "level",
            json!({"intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [4]}]}]}),
            0
        ),
        event("ok", json!({}), 1),
    ])
    .to_string();
    let ven = polled("v", "p1", &page, now);
    let rejected: Vec<&str> = ven
        .timeline()
        .rejected()
        .iter()
        .map(|r| r.split(':').next().expect("a prefix"))
        .collect();
    assert_eq!(
        rejected,
        [
            "event neg",
            "event long",
            "event dur",
            "event level",
            "event rand"
        ]
    );
    assert_eq!(ven.timeline().limit_at(now).fraction, Some(0.75));
    // Ten events of 2048 intervals are within MAX_POLL_INTERVALS; eleven are not.
    let many = |n: usize| {
        serde_json::Value::Array(
            (0..n)
                .map(|i| event(&format!("e{i}"), json!({}), 2048))
                .collect(),
        )
        .to_string()
    };
    let mut ven = polled("v", "p1", &many(9), now);
    ven.start_poll(now);
    let err = ven
        .on_response(now, 200, many(11).as_bytes())
        .expect_err("too many");
    assert!(err.message().contains("20160 intervals"), "{err}");
    // The last good timeline stays: one segment an event, since its intervals have no length,
    // the first lasts forever and the rest never start.
    assert_eq!(ven.timeline().segments().len(), 9);
}

#[test]
fn randomised_starts_hash_with_fnv1a() {
    // The published FNV-1a 64-bit test vectors: "" and "a", and the same split in parts.
    assert_eq!(timeline::fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
    assert_eq!(timeline::fnv1a(&[b"a"]), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(timeline::fnv1a(&[b"fo", b"obar"]), 0x8594_4171_f739_67e8);
}
