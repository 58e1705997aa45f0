//! What a client sends the HTTP API: bytes through the request parser, whole and in two
//! pieces, then the request through the router with real tokens; and the bytes as the body of
//! each control endpoint. Nothing may panic; the split must not change the parse; every answer
//! is JSON with a status the API gives, and never holds a token.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::api::http::{handle, Auth, Request, RequestParser, Secret, JSON};
use sha256d_mining::api::{Control, Live, Setpoint, Snapshot};
use sha256d_mining::pool::{PoolState, PoolStatus};
use sha256d_mining::{DeviceStats, Stats};
use std::sync::{Arc, OnceLock};

const READ: &str = "fuzz-read-token-0123456789";
const CONTROL: &str = "fuzz-control-token-0123456789";

/// Takes every request; the router's checks are what is fuzzed.
struct Accept;

impl Control for Accept {
    fn set_setpoint(&self, _: Setpoint) -> Result<(), String> {
        Ok(())
    }
    fn set_device_enabled(&self, _: usize, _: bool) -> Result<(), String> {
        Ok(())
    }
    fn switch_pool(&self, _: usize) -> Result<(), String> {
        Ok(())
    }
}

fn live() -> &'static Arc<Live> {
    static LIVE: OnceLock<Arc<Live>> = OnceLock::new();
    LIVE.get_or_init(|| {
        let live = Live::new();
        live.publish(Snapshot {
            stats: Stats {
                // One device on, one off, so both answers of a device switch are reached.
                devices: vec![
                    DeviceStats::default(),
                    DeviceStats {
                        disabled: true,
                        ..DeviceStats::default()
                    },
                ],
                ..Stats::default()
            },
            pools: vec![PoolState {
                url: "stratum+tcp://pool.example:3333".into(),
                user: "worker".into(),
                active: true,
                status: PoolStatus::Alive,
                accepted: 0,
                rejected: 0,
                stale: 0,
                difficulty: None,
            }],
            ..Snapshot::default()
        });
        live
    })
}

fn auth() -> Auth {
    Auth {
        read: Some(Secret::new(READ).expect("a valid token")),
        control: Some(Secret::new(CONTROL).expect("a valid token")),
    }
}

fn parse(parts: &[&[u8]]) -> Result<Option<Request>, u16> {
    let mut parser = RequestParser::new();
    for part in parts {
        if let Some(request) = parser.push(part).map_err(|e| e.status())? {
            return Ok(Some(request));
        }
    }
    Ok(None)
}

fn check(request: &Request, auth: &Auth, allowed: &[u16]) {
    let response = handle(request, live(), &Accept, auth);
    assert!(
        allowed.contains(&response.status),
        "{} {}: {}",
        request.method,
        request.target,
        response.status
    );
    if response.content_type == JSON {
        assert!(serde_json::from_slice::<serde_json::Value>(&response.body).is_ok());
    }
    let bytes = response.to_bytes();
    for token in [READ, CONTROL] {
        assert!(!bytes.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(bytes.len());
    let whole = parse(&[bytes]);
    assert_eq!(parse(&[&bytes[..at], &bytes[at..]]), whole);
    let auth = auth();
    if let Ok(Some(request)) = &whole {
        assert!(request.body.len() <= sha256d_mining::api::http::MAX_BODY_BYTES);
        check(request, &auth, &[200, 400, 401, 403, 404, 405, 409]);
        check(request, &Auth::default(), &[200, 400, 403, 404, 405, 409]);
    }
    // The bytes as the body of each control endpoint, with the control token.
    for path in ["/v1/setpoint", "/v1/devices/1", "/v1/pools/active"] {
        let request = Request {
            method: "PUT".into(),
            target: path.into(),
            headers: vec![("Authorization".into(), format!("Bearer {CONTROL}"))],
            body: bytes.to_vec(),
        };
        check(&request, &auth, &[200, 400, 404]);
    }
});
