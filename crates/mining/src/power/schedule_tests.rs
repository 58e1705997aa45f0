use super::*;

const NONE: Capacity = Capacity {
    hashrate: None,
    watts: None,
};

fn schedule(zone: &str, specs: &[&str]) -> Schedule {
    let rules = specs
        .iter()
        .map(|s| s.parse().expect("a valid rule in the test"))
        .collect();
    Schedule::new(
        rules,
        TimeZone::get(zone).expect("the bundled tzdb has this zone"),
    )
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a valid RFC 3339 instant in the test")
}

fn cap(s: &Schedule, at: &str) -> Cap {
    s.cap_at(ts(at), &NONE).expect("caps in one unit")
}

fn next(s: &Schedule, at: &str) -> Option<Timestamp> {
    s.next_change_after(ts(at), &NONE)
        .expect("caps in one unit")
}

#[test]
fn parses_days_windows_and_caps() {
    let rule = |s: &str| s.parse::<ScheduleRule>().expect("valid");
    assert_eq!(
        rule("mon-fri 22:00-06:00=50%"),
        ScheduleRule {
            days: 0b001_1111,
            start: 22 * 60,
            end: 6 * 60,
            cap: Some(Cap::Fraction(0.5))
        }
    );
    assert_eq!(
        rule("weekends"),
        ScheduleRule {
            days: 0b110_0000,
            start: 0,
            end: 1440,
            cap: None
        }
    );
    assert_eq!(rule("sat,SUN").days, 0b110_0000);
    assert_eq!(rule("fri-mon").days, 0b111_0001);
    assert_eq!(rule("weekdays 00:00-08:00").days, 0b001_1111);
    assert_eq!(
        rule("00:00-24:00=off"),
        ScheduleRule {
            days: ALL_DAYS,
            start: 0,
            end: 1440,
            cap: Some(Cap::Off)
        }
    );
    assert_eq!(rule("18:00-00:00").end, 1440);
}

#[test]
fn refuses_bad_rules_with_a_reason() {
    let err = |s: &str| s.parse::<ScheduleRule>().unwrap_err().to_string();
    assert_eq!(
        err("mon-fry"),
        "bad --schedule \"mon-fry\": unknown day \"fry\"; days are mon tue wed thu fri sat sun, \
         weekdays, weekends, daily"
    );
    assert_eq!(
        err("25:00-01:00"),
        "bad --schedule \"25:00-01:00\": time \"25:00\" must be HH:MM, 00:00 to 24:00"
    );
    assert_eq!(
        err("10:00"),
        "bad --schedule \"10:00\": window \"10:00\" must be HH:MM-HH:MM"
    );
    assert_eq!(
        err("=50%"),
        "bad --schedule \"=50%\": expected days, a window HH:MM-HH:MM, or both"
    );
    assert_eq!(
        err("10:00-11:00 12:00-13:00"),
        "bad --schedule \"10:00-11:00 12:00-13:00\": more than one time window; give each its own --schedule"
    );
    assert_eq!(
        err("10:00-11:00 mon"),
        "bad --schedule \"10:00-11:00 mon\": days come once, before the window (e.g. `mon-fri 22:00-06:00`)"
    );
    assert_eq!(
        err("mon=lots"),
        "bad --schedule \"mon=lots\": bad setpoint \"lots\": expected a number (or off, full)"
    );
}

#[test]
fn allowed_windows_weekends_and_a_cap_combine_lowest() {
    // Berlin in June is CEST, UTC+2; 2026-06-10 is a Wednesday.
    let s = schedule(
        "Europe/Berlin",
        &["00:00-08:00", "weekends", "07:00-09:00=50%"],
    );
    assert_eq!(cap(&s, "2026-06-10T04:00:00Z"), Cap::Full);
    assert_eq!(cap(&s, "2026-06-10T05:30:00Z"), Cap::Fraction(0.5));
    assert_eq!(cap(&s, "2026-06-10T06:30:00Z"), Cap::Off);
    assert_eq!(cap(&s, "2026-06-13T06:30:00Z"), Cap::Fraction(0.5));
    assert_eq!(cap(&s, "2026-06-13T10:00:00Z"), Cap::Full);
    assert_eq!(
        next(&s, "2026-06-10T04:00:00Z"),
        Some(ts("2026-06-10T05:00:00Z"))
    );
    assert_eq!(
        next(&s, "2026-06-10T05:00:00Z"),
        Some(ts("2026-06-10T06:00:00Z"))
    );
    // 09:00, where the 50% window ends, changes nothing: it is off either side.
    assert_eq!(
        next(&s, "2026-06-10T06:00:00Z"),
        Some(ts("2026-06-10T22:00:00Z"))
    );
}

#[test]
fn cap_only_rules_leave_the_rest_at_full() {
    let s = schedule("Europe/Berlin", &["mon-fri 17:00-21:00=1.2kW"]);
    assert_eq!(cap(&s, "2026-06-08T16:00:00Z"), Cap::Watts(1200.0));
    assert_eq!(cap(&s, "2026-06-08T19:00:00Z"), Cap::Full);
    assert_eq!(cap(&s, "2026-06-13T16:00:00Z"), Cap::Full);
    // Friday 21:00 to Monday 17:00 CEST.
    assert_eq!(
        next(&s, "2026-06-12T19:00:00Z"),
        Some(ts("2026-06-15T15:00:00Z"))
    );
    assert_eq!(
        next(&schedule("UTC", &["daily"]), "2026-06-12T19:00:00Z"),
        None
    );
}

#[test]
fn a_window_over_the_new_york_spring_gap() {
    // 2026-03-08: 02:00 EST (07:00Z) jumps to 03:00 EDT.
    let s = schedule("America/New_York", &["01:30-03:30"]);
    assert_eq!(cap(&s, "2026-03-08T06:29:59Z"), Cap::Off);
    assert_eq!(cap(&s, "2026-03-08T06:30:00Z"), Cap::Full);
    assert_eq!(cap(&s, "2026-03-08T07:29:59Z"), Cap::Full);
    assert_eq!(cap(&s, "2026-03-08T07:30:00Z"), Cap::Off);
    assert_eq!(
        next(&s, "2026-03-08T00:00:00Z"),
        Some(ts("2026-03-08T06:30:00Z"))
    );
    assert_eq!(
        next(&s, "2026-03-08T06:30:00Z"),
        Some(ts("2026-03-08T07:30:00Z"))
    );
    // The next day, in EDT: 01:30 is 05:30Z.
    assert_eq!(
        next(&s, "2026-03-08T07:30:00Z"),
        Some(ts("2026-03-09T05:30:00Z"))
    );
}

#[test]
fn a_window_starting_in_the_skipped_hour_starts_at_the_transition() {
    let s = schedule("America/New_York", &["02:30-04:00"]);
    assert_eq!(
        next(&s, "2026-03-08T05:00:00Z"),
        Some(ts("2026-03-08T07:00:00Z"))
    );
    assert_eq!(
        next(&s, "2026-03-08T07:00:00Z"),
        Some(ts("2026-03-08T08:00:00Z"))
    );
    assert_eq!(cap(&s, "2026-03-08T06:59:59Z"), Cap::Off);
    assert_eq!(cap(&s, "2026-03-08T07:00:00Z"), Cap::Full);
}

#[test]
fn a_window_in_the_repeated_hour_happens_once() {
    // 2026-11-01: 02:00 EDT (06:00Z) falls back to 01:00 EST; 01:00-02:00 is read twice.
    let s = schedule("America/New_York", &["01:30-02:00"]);
    assert_eq!(
        next(&s, "2026-11-01T05:00:00Z"),
        Some(ts("2026-11-01T05:30:00Z"))
    );
    // From the first 01:30 (EDT) to 02:00 EST: through the second 01:30 without a flip.
    assert_eq!(
        next(&s, "2026-11-01T05:30:00Z"),
        Some(ts("2026-11-01T07:00:00Z"))
    );
    assert_eq!(cap(&s, "2026-11-01T06:30:00Z"), Cap::Full);
    assert_eq!(cap(&s, "2026-11-01T07:00:00Z"), Cap::Off);
}

#[test]
fn overnight_windows_across_both_berlin_changes() {
    let s = schedule("Europe/Berlin", &["sat 22:00-06:00"]);
    // 2026-03-29 02:00 CET jumps to 03:00 CEST: Saturday 22:00 CET to Sunday 06:00 CEST, 7 h.
    assert_eq!(
        next(&s, "2026-03-28T12:00:00Z"),
        Some(ts("2026-03-28T21:00:00Z"))
    );
    assert_eq!(
        next(&s, "2026-03-28T21:00:00Z"),
        Some(ts("2026-03-29T04:00:00Z"))
    );
    // 2026-10-25 03:00 CEST falls back to 02:00 CET: 22:00 CEST to 06:00 CET, 9 h.
    assert_eq!(
        next(&s, "2026-10-24T12:00:00Z"),
        Some(ts("2026-10-24T20:00:00Z"))
    );
    assert_eq!(
        next(&s, "2026-10-24T20:00:00Z"),
        Some(ts("2026-10-25T05:00:00Z"))
    );
    assert_eq!(cap(&s, "2026-10-25T04:59:59Z"), Cap::Full);
    // A week later, in CET.
    assert_eq!(
        next(&s, "2026-10-25T05:00:00Z"),
        Some(ts("2026-10-31T21:00:00Z"))
    );
}
