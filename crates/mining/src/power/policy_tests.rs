use super::*;

const FULL: Capacity = Capacity {
    hashrate: Some(100e9),
    watts: Some(2000.0),
};

fn t(second: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + second).expect("in range")
}

fn policy() -> Policy {
    let mut p = Policy::new();
    p.add_source("hard-stop", Cap::Off, Urgency::Emergency);
    p.add_source("api", Cap::Full, Urgency::Economic);
    p.add_source("openadr", Cap::Fraction(0.5), Urgency::Economic);
    p
}

#[test]
fn the_lowest_cap_wins_and_each_change_is_an_event() {
    let mut p = policy();
    let d = p.evaluate(t(0), &FULL).expect("known figures");
    assert_eq!(
        d,
        Decision {
            cap: Cap::Full,
            duty: 1.0,
            source: None,
            urgency: Urgency::Economic
        }
    );
    assert_eq!(p.events().count(), 0);

    p.set("api", Cap::Hashrate(50e9), t(10), None)
        .expect("declared");
    p.set("openadr", Cap::Watts(500.0), t(10), Some(t(100)))
        .expect("declared");
    let d = p.evaluate(t(10), &FULL).expect("known figures");
    assert_eq!(
        (d.cap, d.duty, d.source.as_deref()),
        (Cap::Watts(500.0), 0.25, Some("openadr"))
    );
    // The OpenADR event ends; the API's cap is next lowest.
    let d = p.evaluate(t(100), &FULL).expect("known figures");
    assert_eq!(
        (d.cap, d.source.as_deref()),
        (Cap::Hashrate(50e9), Some("api"))
    );
    p.complied(t(103));

    p.set("hard-stop", Cap::Off, t(200), None)
        .expect("declared");
    let d = p.evaluate(t(200), &FULL).expect("known figures");
    assert_eq!((d.cap, d.urgency), (Cap::Off, Urgency::Emergency));
    p.complied(t(201));

    let events: Vec<_> = p.events().cloned().collect();
    assert_eq!(
        events,
        vec![
            PowerEvent {
                source: "openadr".into(),
                from: Cap::Full,
                to: Cap::Watts(500.0),
                requested_at: t(10),
                complied_at: Some(t(103)),
            },
            PowerEvent {
                source: "api".into(),
                from: Cap::Watts(500.0),
                to: Cap::Hashrate(50e9),
                requested_at: t(100),
                complied_at: Some(t(103)),
            },
            PowerEvent {
                source: "hard-stop".into(),
                from: Cap::Hashrate(50e9),
                to: Cap::Off,
                requested_at: t(200),
                complied_at: Some(t(201)),
            },
        ]
    );
    assert_eq!(events[1].seconds_to_comply(), Some(3.0));
    assert_eq!(p.next_change_after(t(10)), Some(t(100)));
    assert_eq!(p.next_change_after(t(200)), None);
}

#[test]
fn a_lost_source_keeps_its_timeline_then_fails_safe() {
    let mut p = policy();
    p.set("openadr", Cap::Fraction(0.8), t(0), Some(t(60)))
        .expect("declared");
    p.lose("openadr").expect("declared");
    assert_eq!(
        p.evaluate(t(30), &FULL).expect("known").cap,
        Cap::Fraction(0.8)
    );
    assert_eq!(
        p.evaluate(t(60), &FULL).expect("known").cap,
        Cap::Fraction(0.5)
    );
    // Back: live again, its new timeline replaces the fail-safe.
    p.set("openadr", Cap::Fraction(0.9), t(61), Some(t(120)))
        .expect("declared");
    assert_eq!(
        p.evaluate(t(61), &FULL).expect("known").cap,
        Cap::Fraction(0.9)
    );
    assert_eq!(p.evaluate(t(120), &FULL).expect("known").cap, Cap::Full);
}

#[test]
fn unknown_sources_and_unweighable_caps_are_errors() {
    let mut p = policy();
    assert_eq!(
        p.set("nope", Cap::Off, t(0), None).unwrap_err().to_string(),
        "unknown power source \"nope\""
    );
    p.set("api", Cap::Watts(500.0), t(0), None)
        .expect("declared");
    assert_eq!(
        p.evaluate(t(0), &Capacity::default())
            .unwrap_err()
            .to_string(),
        "power source \"api\": power cap 500W needs the devices' full-duty power, and none is \
         known (no energy meter or power figure)"
    );
    p.clear("api").expect("declared");
    assert_eq!(
        p.evaluate(t(0), &Capacity::default())
            .expect("nothing to weigh")
            .cap,
        Cap::Full
    );
}

#[test]
fn the_history_keeps_the_last_thousand() {
    let mut p = policy();
    for i in 0..1005 {
        let cap = if i % 2 == 0 { Cap::Off } else { Cap::Full };
        p.set("api", cap, t(i), None).expect("declared");
        p.evaluate(t(i), &FULL).expect("known");
    }
    assert_eq!(p.events().count(), MAX_EVENTS);
    assert_eq!(p.dropped_events(), 5);
    assert_eq!(p.events().next().map(|e| e.requested_at), Some(t(5)));
}
