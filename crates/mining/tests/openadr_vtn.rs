//! The VEN against the real OpenADR 3 server, openleadr-vtn 0.2.8 on PostgreSQL 17: the test
//! plays the utility through the server's API, the miner's VEN client polls and reports.
//! Skips without the server (see `.ci/peers.sh`), fails instead with `SHA256D_REQUIRE_PEERS=1`.

use serde_json::json;
use sha256d_mining::openadr::{Reading, SimpleLevels, VenClient, VenConfig};
use sha256d_testkit::openadr::{Vtn, VEN};
use std::time::{Duration, SystemTime};

/// Now, to the whole second (the VTN keeps what it is sent), as an instant and in RFC 3339.
fn whole_second(offset_s: i64) -> (SystemTime, String) {
    let now = jiff::Timestamp::now().as_second() + offset_s;
    let t = jiff::Timestamp::from_second(now).expect("a current time");
    (SystemTime::try_from(t).expect("in range"), t.to_string())
}

#[test]
fn the_ven_follows_a_capacity_limit_and_an_emergency_and_its_report_arrives() {
    let Some(vtn) = Vtn::start() else {
        return;
    };
    let utility = vtn.utility();
    let program = utility.create(
        "/programs",
        &json!({"objectType": "PROGRAM", "programName": "mining-dr"}),
    );
    let program_id = program["id"].as_str().expect("a program id").to_owned();
    // Started a minute ago, for an hour: the poll below lands inside it on any machine.
    let (start, start_text) = whole_second(-60);
    let event = utility.create(
        "/events",
        &json!({
            "objectType": "EVENT",
            "programID": program_id,
            "eventName": "evening peak",
            "priority": 1,
            "payloadDescriptors": [{"payloadType": "IMPORT_CAPACITY_LIMIT", "units": "KW"}],
            "reportDescriptors": [{"payloadType": "DEMAND", "units": "KW"}],
            "intervalPeriod": {"start": start_text, "duration": "PT1H"},
            "intervals": [{"id": 0, "payloads": [
                {"type": "IMPORT_CAPACITY_LIMIT", "values": [2.5]}
            ]}],
        }),
    );
    let event_id = event["id"].as_str().expect("an event id").to_owned();

    let config = VenConfig {
        client_id: VEN.id.to_owned(),
        client_secret: VEN.secret.to_owned(),
        program_name: "mining-dr".to_owned(),
        ven_name: "miner-1".to_owned(),
        levels: SimpleLevels::default(),
    };
    let mut ven = VenClient::new(&vtn.url(), config).expect("a valid URL");
    let timeline = ven
        .poll()
        .unwrap_or_else(|e| panic!("poll: {e}\n{}", vtn.logs()));
    assert_eq!(timeline.rejected(), &[] as &[String]);
    let limit = timeline.limit_at(SystemTime::now());
    assert_eq!(
        (limit.stop, limit.watts, limit.fraction),
        (false, Some(2500.0), None)
    );
    assert_eq!(limit.events, std::slice::from_ref(&event_id));
    assert_eq!(limit.until, Some(start + Duration::from_secs(3600)));
    assert_eq!(ven.program_id(), Some(program_id.as_str()));

    // The miner reports what it drew.
    let reading = Reading {
        event_id: event_id.clone(),
        resource_name: "rig-1".to_owned(),
        start,
        duration: Duration::from_secs(60),
        average_watts: 2400.0,
    };
    ven.report(&reading)
        .unwrap_or_else(|e| panic!("report: {e}\n{}", vtn.logs()));
    let reports = utility.get(&format!("/reports?programID={program_id}"));
    let reports = reports.as_array().expect("a list of reports");
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report["eventID"], event_id.as_str());
    assert_eq!(report["clientID"], VEN.id);
    assert_eq!(report["clientName"], "miner-1");
    let resource = &report["resources"][0];
    assert_eq!(resource["resourceName"], "rig-1");
    assert_eq!(
        resource["intervals"][0]["payloads"][0],
        json!({"type": "DEMAND", "values": [2.4]})
    );

    // A grid emergency from now on, at a worse priority: the VEN stops anyway.
    let (_, now_text) = whole_second(0);
    let alert = utility.create(
        "/events",
        &json!({
            "objectType": "EVENT",
            "programID": program_id,
            "priority": 5,
            "intervalPeriod": {"start": now_text, "duration": "P9999Y"},
            "intervals": [{"id": 0, "payloads": [
                {"type": "ALERT_GRID_EMERGENCY", "values": ["shed load"]}
            ]}],
        }),
    );
    let timeline = ven
        .poll()
        .unwrap_or_else(|e| panic!("second poll: {e}\n{}", vtn.logs()));
    let limit = timeline.limit_at(SystemTime::now());
    assert!(limit.stop);
    assert_eq!(
        limit.events,
        [alert["id"].as_str().expect("an id").to_owned()]
    );
    // The stop outlasts the capacity limit: the next change is the limit's end, not the
    // alert's.
    assert_eq!(limit.until, Some(start + Duration::from_secs(3600)));
}
