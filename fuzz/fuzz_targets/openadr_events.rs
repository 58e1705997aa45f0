//! What a VTN sends a VEN as a page of `GET /events`: bytes through the VEN state machine after
//! a good token and program, then the timeline asked about instants around the poll. Nothing may
//! panic; a timeline that resolves answers every instant, its next change after the instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::openadr::{SimpleLevels, Step, Ven, VenConfig};
use std::time::{Duration, SystemTime};

fuzz_target!(|data: &[u8]| {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let mut ven = Ven::new(VenConfig {
        client_id: "ven".to_owned(),
        client_secret: "secret".to_owned(),
        program_name: "p".to_owned(),
        ven_name: "fuzz".to_owned(),
        levels: SimpleLevels::default(),
    });
    ven.start_poll(now);
    let token = br#"{"access_token":"t","expires_in":3600}"#;
    let programs = br#"[{"id":"p1","programName":"p"}]"#;
    assert!(matches!(ven.on_response(now, 200, token), Ok(Step::Send(_))));
    assert!(matches!(ven.on_response(now, 200, programs), Ok(Step::Send(_))));
    if let Ok(Step::Done) = ven.on_response(now, 200, data) {
        let timeline = ven.timeline();
        for offset in [0, 1, 3600, 86_400 * 400] {
            let at = now + Duration::from_secs(offset);
            let limit = timeline.limit_at(at);
            if let Some(until) = limit.until {
                assert!(until > at);
            }
            if let Some(f) = limit.fraction {
                assert!((0.0..=1.0).contains(&f));
            }
        }
    }
});
