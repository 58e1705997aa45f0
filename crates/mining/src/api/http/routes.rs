//! The endpoints: which path and method reach which handler with which token, and the JSON
//! each one reads and writes. Pure: a request and the run's state in, an answer out.

use super::auth::{Auth, Scope};
use super::request::Request;
use super::response::Response;
use crate::api::{Control, Live, Setpoint, Snapshot, HISTORY_SPAN, HISTORY_STEP};
use serde_json::{json, Map, Value};
use std::time::SystemTime;

/// The confidence of the proven-hashrate intervals the API shows.
const CONFIDENCE: f64 = 0.95;

/// What a handler sees.
pub(crate) struct Context<'a> {
    pub(crate) request: &'a Request,
    pub(crate) live: &'a Live,
    pub(crate) control: &'a dyn Control,
    /// The path's `{...}` segments, in order.
    pub(crate) params: Vec<&'a str>,
}

/// One endpoint. A `{name}` segment in `path` matches any one segment.
pub(crate) struct Route {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) scope: Scope,
    pub(crate) handler: fn(&Context<'_>) -> Response,
}

const fn get(path: &'static str, scope: Scope, handler: fn(&Context<'_>) -> Response) -> Route {
    Route {
        method: "GET",
        path,
        scope,
        handler,
    }
}

const fn put(path: &'static str, handler: fn(&Context<'_>) -> Response) -> Route {
    Route {
        method: "PUT",
        path,
        scope: Scope::Control,
        handler,
    }
}

/// Every endpoint; `openapi.json` documents exactly these.
pub(crate) const ROUTES: &[Route] = &[
    get("/v1/status", Scope::Read, status),
    get("/v1/devices", Scope::Read, devices),
    get("/v1/pools", Scope::Read, pools),
    get("/v1/events", Scope::Read, events),
    get("/v1/history", Scope::Read, history),
    get("/v1/openapi.json", Scope::Open, |_| {
        Response::new(200, super::response::JSON, OPENAPI)
    }),
    get("/metrics", Scope::Read, |cx| {
        let text = crate::api::metrics::render(&cx.live.snapshot());
        Response::new(200, crate::api::metrics::CONTENT_TYPE, text)
    }),
    get("/", Scope::Open, dashboard),
    get("/dashboard.js", Scope::Open, dashboard),
    get("/dashboard.css", Scope::Open, dashboard),
    put("/v1/setpoint", set_setpoint),
    put("/v1/devices/{index}", set_device),
    put("/v1/pools/active", switch_pool),
];

/// A dashboard file: the routes above name exactly the paths it has.
fn dashboard(cx: &Context<'_>) -> Response {
    match crate::api::dashboard::asset(cx.request.path()) {
        Some((content_type, bytes)) => Response::new(200, content_type, bytes),
        None => not_found(),
    }
}

/// The OpenAPI document of [`ROUTES`].
pub(crate) const OPENAPI: &str = include_str!("openapi.json");

/// Answers `request`: finds its endpoint, checks its token against `auth`, and reads the run
/// from `live` or steers it through `control`.
pub fn handle(request: &Request, live: &Live, control: &dyn Control, auth: &Auth) -> Response {
    let path = request.path();
    let matching: Vec<(&Route, Vec<&str>)> = ROUTES
        .iter()
        .filter_map(|route| Some((route, params(route.path, path)?)))
        .collect();
    if matching.is_empty() {
        return not_found();
    }
    let Some((route, params)) = matching
        .iter()
        .find(|(route, _)| route.method == request.method)
    else {
        let allow: Vec<&str> = matching.iter().map(|(route, _)| route.method).collect();
        return Response::error(405, "method not allowed").with_header("Allow", allow.join(", "));
    };
    if let Err(denied) = auth.check(route.scope, request) {
        let response = Response::error(denied.status, denied.message);
        return if denied.status == 401 {
            response.with_header("WWW-Authenticate", "Bearer".into())
        } else {
            response
        };
    }
    (route.handler)(&Context {
        request,
        live,
        control,
        params: params.clone(),
    })
}

/// The answer to a path no route takes. It names nothing of the path.
pub(crate) fn not_found() -> Response {
    Response::error(404, "no such endpoint")
}

/// The `{...}` segments of `path` if it matches `pattern`.
pub(crate) fn params<'a>(pattern: &str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    let mut params = Vec::new();
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => params.push(g),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

fn status(cx: &Context<'_>) -> Response {
    let snapshot = cx.live.snapshot();
    Response::json(200, &status_json(&snapshot))
}

fn status_json(snapshot: &Snapshot) -> Value {
    let stats = &snapshot.stats;
    let (low, high) = stats.proven_hashrate_interval(CONFIDENCE);
    let uptime = snapshot
        .started
        .and_then(|started| SystemTime::now().duration_since(started).ok())
        .unwrap_or(stats.elapsed);
    let dropped: Map<String, Value> = stats
        .dropped
        .iter()
        .map(|(why, n)| (why.as_str().to_owned(), json!(n)))
        .collect();
    let energy = snapshot.energy.as_ref();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": uptime.as_secs_f64(),
        "source": stats.source,
        "hashrate": {
            "measured_hs": stats.hashrate(),
            "proven_hs": stats.proven_hashrate(),
            "proven_low_hs": low,
            "proven_high_hs": finite(high),
            "confidence": CONFIDENCE,
        },
        "hashes_total": stats.hashes,
        "shares": {
            "found": stats.shares_found,
            "submitted": stats.shares_submitted,
            "accepted": stats.accepted,
            "rejected_total": stats.rejected_total(),
            "rejected": stats.rejected,
            "stale": stats.stale,
            "hardware_errors": stats.hardware_errors,
            "unanswered": stats.unanswered,
            "dropped": dropped,
        },
        "best_share_difficulty": stats.best_share_difficulty,
        "difficulty": stats.difficulty,
        "blocks": {
            "found": stats.blocks_found,
            "accepted": stats.blocks_accepted,
            "candidates": stats.block_candidates,
        },
        "power": {
            "watts": energy.and_then(|e| e.watts),
            "joules": energy.and_then(|e| e.joules),
            "source": energy.map(|e| e.source.as_str()),
            "joules_per_verified_th": energy.and_then(|e| e.joules_per_verified_th),
        },
        "setpoint": snapshot.power.as_ref().map(|power| json!({
            "cap": power.cap.to_string(),
            "source": power.source,
            "duty": power.duty,
            "api": power.api_setpoint.and_then(setpoint_json),
        })),
    })
}

/// `None` for the unbounded top of an interval with nothing proven (JSON has no infinity).
fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// A setpoint as `PUT /v1/setpoint` takes it; `None` for a release (nothing asked).
fn setpoint_json(setpoint: Setpoint) -> Option<Value> {
    match setpoint {
        Setpoint::Off => Some(json!({ "off": true })),
        Setpoint::Hashrate(h) => Some(json!({ "hashrate_hs": h })),
        Setpoint::Watts(w) => Some(json!({ "watts": w })),
        Setpoint::Release => None,
    }
}

fn devices(cx: &Context<'_>) -> Response {
    let snapshot = cx.live.snapshot();
    let elapsed = snapshot.stats.elapsed;
    let devices: Vec<Value> = snapshot
        .stats
        .devices
        .iter()
        .enumerate()
        .map(|(index, d)| {
            let (low, high) = d.proven_hashrate_interval(elapsed, CONFIDENCE);
            json!({
                "index": index,
                "engine": d.engine,
                "device": d.device,
                "enabled": !d.disabled,
                "hashes_total": d.hashes,
                "measured_hs": d.hashrate(elapsed),
                "proven_hs": d.proven_hashrate(elapsed),
                "proven_low_hs": low,
                "proven_high_hs": finite(high),
                "claims_more_than_proven": d.claims_more_than_proven(elapsed, CONFIDENCE),
                "shares_found": d.shares_found,
                "accepted": d.accepted,
                "rejected": d.rejected,
                "stale": d.stale,
                "hardware_errors": d.hardware_errors,
                "known_answers_passed": d.known_answers_passed,
                "known_answer_misses": d.known_answer_misses,
                "failure": d.failure,
            })
        })
        .collect();
    Response::json(200, &json!({ "devices": devices }))
}

fn pools(cx: &Context<'_>) -> Response {
    let pools: Vec<Value> = cx
        .live
        .snapshot()
        .pools
        .iter()
        .enumerate()
        .map(|(index, p)| {
            json!({
                "index": index,
                "url": p.url,
                "user": p.user,
                "active": p.active,
                "status": p.status.as_str(),
                "accepted": p.accepted,
                "rejected": p.rejected,
                "stale": p.stale,
                "difficulty": p.difficulty,
            })
        })
        .collect();
    Response::json(200, &json!({ "pools": pools }))
}

fn events(cx: &Context<'_>) -> Response {
    let events: Vec<Value> = cx
        .live
        .snapshot()
        .events
        .iter()
        .map(crate::api::event_json)
        .collect();
    Response::json(200, &json!({ "events": events }))
}

fn history(cx: &Context<'_>) -> Response {
    let points: Vec<Value> = cx
        .live
        .history()
        .iter()
        .map(|p| json!({ "at": p.at, "measured_hs": p.measured, "proven_hs": p.proven }))
        .collect();
    Response::json(
        200,
        &json!({
            "step_seconds": HISTORY_STEP.as_secs(),
            "span_seconds": HISTORY_SPAN.as_secs(),
            "points": points,
        }),
    )
}

/// The one field of a JSON-object body, which must be one of `fields`; the error names them.
fn one_field(body: &[u8], fields: &[&str]) -> Result<(String, Value), Response> {
    let names: Vec<String> = fields.iter().map(|f| format!("\"{f}\"")).collect();
    let wanted = match names.as_slice() {
        [one] => format!("the body must be a JSON object with the field {one}"),
        _ => format!(
            "the body must be a JSON object with exactly one of the fields {}",
            names.join(", ")
        ),
    };
    let object = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Err(Response::error(400, &wanted)),
        Err(e) => {
            return Err(Response::error(
                400,
                &format!(
                    "{wanted}; it is not JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            ))
        }
    };
    let mut entries = object.into_iter();
    match (entries.next(), entries.next()) {
        (Some((name, value)), None) if fields.contains(&name.as_str()) => Ok((name, value)),
        _ => Err(Response::error(400, &wanted)),
    }
}

/// The setpoint a `PUT /v1/setpoint` body asks for; the error names the field at fault.
fn parse_setpoint(body: &[u8]) -> Result<Setpoint, Response> {
    let (field, value) = one_field(body, &["off", "hashrate_hs", "watts", "release"])?;
    let amount = |unit: &str| {
        value
            .as_f64()
            .filter(|x| x.is_finite() && *x >= 0.0)
            .ok_or_else(|| {
                Response::error(
                    400,
                    &format!("\"{field}\" must be a number of {unit}, 0 or more"),
                )
            })
    };
    match field.as_str() {
        "hashrate_hs" => amount("hashes per second").map(Setpoint::Hashrate),
        "watts" => amount("watts").map(Setpoint::Watts),
        _ if value != Value::Bool(true) => {
            Err(Response::error(400, &format!("\"{field}\" must be true")))
        }
        "off" => Ok(Setpoint::Off),
        _ => Ok(Setpoint::Release),
    }
}

/// A refusal from the run (no power control, a cap it cannot follow).
fn refused(message: String) -> Response {
    Response::error(409, &message)
}

fn set_setpoint(cx: &Context<'_>) -> Response {
    let setpoint = match parse_setpoint(&cx.request.body) {
        Ok(setpoint) => setpoint,
        Err(response) => return response,
    };
    match cx.control.set_setpoint(setpoint) {
        Ok(()) => Response::json(200, &json!({ "setpoint": setpoint_json(setpoint) })),
        Err(message) => refused(message),
    }
}

/// `index` if there is such a device or pool: `count` of them.
fn in_range(index: usize, count: usize, what: &str) -> Result<usize, Response> {
    if index < count {
        Ok(index)
    } else {
        Err(Response::error(
            404,
            &format!("no {what} {index}: there are {count}"),
        ))
    }
}

fn set_device(cx: &Context<'_>) -> Response {
    let count = cx.live.snapshot().stats.devices.len();
    // The route matched one segment; digits only, so `+1` or `-0` are no index.
    let index = match cx
        .params
        .first()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|p| p.parse().ok())
    {
        Some(index) => index,
        None => return not_found(),
    };
    let index = match in_range(index, count, "device") {
        Ok(index) => index,
        Err(response) => return response,
    };
    let enabled = match one_field(&cx.request.body, &["enabled"]) {
        Ok((_, Value::Bool(enabled))) => enabled,
        Ok(_) => return Response::error(400, "\"enabled\" must be true or false"),
        Err(response) => return response,
    };
    match cx.control.set_device_enabled(index, enabled) {
        Ok(()) => Response::json(200, &json!({ "index": index, "enabled": enabled })),
        Err(message) => refused(message),
    }
}

fn switch_pool(cx: &Context<'_>) -> Response {
    let count = cx.live.snapshot().pools.len();
    let index = match one_field(&cx.request.body, &["index"])
        .and_then(|(_, value)| {
            value
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .ok_or_else(|| Response::error(400, "\"index\" must be a whole number, 0 or more"))
        })
        .and_then(|index| in_range(index, count, "pool"))
    {
        Ok(index) => index,
        Err(response) => return response,
    };
    match cx.control.switch_pool(index) {
        Ok(()) => Response::json(200, &json!({ "index": index })),
        Err(message) => refused(message),
    }
}
