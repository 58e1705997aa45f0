//! The VEN as a pure state machine: it says which HTTP request to send next and reads each
//! reply, without I/O. A poll gets a token when it has none (or it is near expiry), finds the
//! program by name, pages through its events and resolves them into a [`Timeline`]; a report
//! gets a token the same way and posts. [`super::VenClient`] is the blocking shell around it.

use super::event::{parse_event, Event};
use super::timeline::{fnv1a, SimpleLevels, Timeline};
use crate::sanitize::for_terminal;
use jiff::Timestamp;
use serde_json::{json, Value};
use sha256d::{Error, ErrorKind};
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// Objects per page: the most the spec lets a VTN be asked for.
pub const PAGE: usize = 50;
/// The most events one poll reads (ten pages); a program with more is refused, not truncated,
/// since a dropped event could be the one that says stop.
pub const MAX_EVENTS: usize = 500;
/// The most intervals one poll reads, all events together: two weeks of one-minute intervals.
pub const MAX_POLL_INTERVALS: usize = 20_160;
/// The most programs looked through for ours.
const MAX_PROGRAMS: usize = 500;

/// Who the VEN is and what it listens for.
#[derive(Clone)]
pub struct VenConfig {
    /// The OAuth client id the VTN's operator issued.
    pub client_id: String,
    /// Its secret (never shown by `{:?}`).
    pub client_secret: String,
    /// The program whose events apply (`programName`).
    pub program_name: String,
    /// This VEN's name, as its reports' `clientName`; it also seeds the randomised starts.
    pub ven_name: String,
    /// How `SIMPLE` levels map to power.
    pub levels: SimpleLevels,
}

// By hand, so that the secret never reaches a log.
impl fmt::Debug for VenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VenConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .field("program_name", &self.program_name)
            .field("ven_name", &self.ven_name)
            .field("levels", &self.levels)
            .finish()
    }
}

/// An HTTP request for the shell to send, its path relative to the VTN's base URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// Path and query, starting with `/`.
    pub path: String,
    /// `Authorization: Bearer` token, if any.
    pub bearer: Option<String>,
    /// `Content-Type` and body, for a POST.
    pub body: Option<(&'static str, Vec<u8>)>,
}

// By hand: the body of a token request holds the client secret, and the bearer is a credential.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// What the VEN does after a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this next.
    Send(Request),
    /// The poll or report is complete.
    Done,
}

/// A power reading to report back to the VTN for one event.
#[derive(Clone, Debug, PartialEq)]
pub struct Reading {
    /// The event the report answers.
    pub event_id: String,
    /// The resource measured (a device, or the whole site).
    pub resource_name: String,
    /// When the measured interval began.
    pub start: SystemTime,
    /// How long it lasted.
    pub duration: Duration,
    /// The average power drawn over it, in watts; reported as `DEMAND` in kW.
    pub average_watts: f64,
}

#[derive(Clone, Debug)]
enum Goal {
    Poll,
    Report(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Phase {
    Idle,
    Token(Goal),
    Programs { skip: usize },
    Events { skip: usize },
    Report(Vec<u8>),
}

/// The VEN's state between polls: its token, its program, the events it has seen, the last
/// timeline.
pub struct Ven {
    config: VenConfig,
    seed: u64,
    token: Option<(String, Timestamp)>,
    program_id: Option<String>,
    phase: Phase,
    /// Whether this poll or report already retried after a refused token.
    reauthorised: bool,
    /// The events read so far in this poll, and why others were left out.
    page: Vec<Event>,
    rejected: Vec<String>,
    /// When each (event id, modificationDateTime) was first seen: the start of its "now"s.
    seen: HashMap<(String, String), Timestamp>,
    timeline: Timeline,
}

// By hand, so that the bearer token never reaches a log.
impl fmt::Debug for Ven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ven")
            .field("config", &self.config)
            .field("has_token", &self.token.is_some())
            .field("program_id", &self.program_id)
            .field("timeline", &self.timeline)
            .finish_non_exhaustive()
    }
}

impl Ven {
    /// A VEN with no token and no timeline yet.
    pub fn new(config: VenConfig) -> Ven {
        let seed = fnv1a(&[config.ven_name.as_bytes()]);
        Ven {
            config,
            seed,
            token: None,
            program_id: None,
            phase: Phase::Idle,
            reauthorised: false,
            page: Vec::new(),
            rejected: Vec::new(),
            seen: HashMap::new(),
            timeline: Timeline::default(),
        }
    }

    /// The timeline of the last complete poll (empty before the first).
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The program's id, once a poll has found it.
    pub fn program_id(&self) -> Option<&str> {
        self.program_id.as_deref()
    }

    /// Starts a poll; send the request, then feed the reply to [`Ven::on_response`].
    pub fn start_poll(&mut self, now: SystemTime) -> Request {
        self.reauthorised = false;
        self.page.clear();
        self.rejected.clear();
        self.begin(Goal::Poll, now)
    }

    /// Starts posting `reading` as a report.
    pub fn start_report(&mut self, now: SystemTime, reading: &Reading) -> Result<Request, Error> {
        self.reauthorised = false;
        let body = report_body(&self.config.ven_name, reading)?;
        Ok(self.begin(Goal::Report(body), now))
    }

    fn begin(&mut self, goal: Goal, now: SystemTime) -> Request {
        let fresh = self
            .token
            .as_ref()
            .is_some_and(|(_, refresh_at)| timestamp(now) < *refresh_at);
        if !fresh {
            self.phase = Phase::Token(goal);
            return self.token_request();
        }
        self.after_token(goal)
    }

    fn after_token(&mut self, goal: Goal) -> Request {
        match goal {
            Goal::Poll => match self.program_id.clone() {
                Some(id) => self.events_request(&id, 0),
                None => self.programs_request(0),
            },
            Goal::Report(body) => {
                let request = self.request(
                    "POST",
                    "/reports".to_owned(),
                    Some(("application/json", body.clone())),
                );
                self.phase = Phase::Report(body);
                request
            }
        }
    }

    fn token_request(&self) -> Request {
        let body = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            form_encode(&self.config.client_id),
            form_encode(&self.config.client_secret)
        );
        Request {
            method: "POST",
            path: "/auth/token".to_owned(),
            bearer: None,
            body: Some(("application/x-www-form-urlencoded", body.into_bytes())),
        }
    }

    fn programs_request(&mut self, skip: usize) -> Request {
        self.phase = Phase::Programs { skip };
        self.request("GET", format!("/programs?skip={skip}&limit={PAGE}"), None)
    }

    fn events_request(&mut self, program_id: &str, skip: usize) -> Request {
        self.phase = Phase::Events { skip };
        let path = format!(
            "/events?programID={}&skip={skip}&limit={PAGE}",
            form_encode(program_id)
        );
        self.request("GET", path, None)
    }

    fn request(
        &self,
        method: &'static str,
        path: String,
        body: Option<(&'static str, Vec<u8>)>,
    ) -> Request {
        Request {
            method,
            path,
            bearer: self.token.as_ref().map(|(t, _)| t.clone()),
            body,
        }
    }

    /// Reads the reply (`status` and body) to the request last returned, at `now`.
    pub fn on_response(
        &mut self,
        now: SystemTime,
        status: u16,
        body: &[u8],
    ) -> Result<Step, Error> {
        let phase = std::mem::replace(&mut self.phase, Phase::Idle);
        if status == 401 || status == 403 {
            return match phase {
                Phase::Token(_) => Err(Error::invalid(format!(
                    "the VTN refused client id {} and its secret ({status}): {}",
                    for_terminal(&self.config.client_id),
                    snippet(body)
                ))),
                // A token revoked, or the VTN restarted with another signing key: one new token,
                // then the same request again.
                Phase::Programs { .. } | Phase::Events { .. } | Phase::Report(_)
                    if status == 401 && !self.reauthorised =>
                {
                    self.reauthorised = true;
                    self.token = None;
                    self.page.clear();
                    self.rejected.clear();
                    let goal = match phase {
                        Phase::Report(body) => Goal::Report(body),
                        _ => Goal::Poll,
                    };
                    self.phase = Phase::Token(goal);
                    Ok(Step::Send(self.token_request()))
                }
                _ => Err(Error::invalid(format!(
                    "the VTN refused this VEN's token ({status}): {}; does client id {} have \
                     the read_targets and write_reports_ven scopes?",
                    snippet(body),
                    for_terminal(&self.config.client_id)
                ))),
            };
        }
        if !(200..300).contains(&status) {
            return Err(Error::new(
                if status >= 500 {
                    ErrorKind::Unavailable
                } else {
                    ErrorKind::InvalidInput
                },
                format!("the VTN answered {status}: {}", snippet(body)),
            ));
        }
        match phase {
            Phase::Idle => Err(Error::invalid("a reply with no request outstanding")),
            Phase::Token(goal) => {
                self.take_token(now, body)?;
                Ok(Step::Send(self.after_token(goal)))
            }
            Phase::Programs { skip } => {
                let page = json_list(body, "programs")?;
                let found = page.iter().find(|p| {
                    p.get("programName").and_then(Value::as_str)
                        == Some(self.config.program_name.as_str())
                });
                if let Some(id) = found.and_then(|p| p.get("id")).and_then(Value::as_str) {
                    let id = id.to_owned();
                    self.program_id = Some(id.clone());
                    return Ok(Step::Send(self.events_request(&id, 0)));
                }
                if page.len() < PAGE || skip + PAGE >= MAX_PROGRAMS {
                    return Err(Error::invalid(format!(
                        "the VTN has no program named {} that client id {} may see",
                        for_terminal(&self.config.program_name),
                        for_terminal(&self.config.client_id)
                    )));
                }
                Ok(Step::Send(self.programs_request(skip + PAGE)))
            }
            Phase::Events { skip } => {
                let page = json_list(body, "events")?;
                let full = page.len() >= PAGE;
                self.take_page(page)?;
                if full {
                    let id = self.program_id.clone().expect("events follow the program");
                    return Ok(Step::Send(self.events_request(&id, skip + PAGE)));
                }
                self.resolve(now);
                Ok(Step::Done)
            }
            Phase::Report(_) => Ok(Step::Done),
        }
    }

    fn take_token(&mut self, now: SystemTime, body: &[u8]) -> Result<(), Error> {
        let reply: Value = serde_json::from_slice(body)
            .map_err(|e| Error::parse(format!("the VTN's token reply is not JSON: {e}")))?;
        let token = reply
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 8192 && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| Error::parse("the VTN's token reply has no usable access_token"))?;
        // Refreshed at 90 % of its life, so a poll never goes out with a token about to lapse;
        // without expires_in, after an hour.
        let life = reply
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(3600)
            .min(365 * 86_400);
        let refresh_at = timestamp(now)
            .checked_add(jiff::SignedDuration::from_secs(
                i64::try_from(life * 9 / 10).expect("capped at a year"),
            ))
            .unwrap_or(Timestamp::MAX);
        self.token = Some((token.to_owned(), refresh_at));
        Ok(())
    }

    /// Reads a page of events into their compact form at once, so a poll holds at most
    /// [`MAX_EVENTS`] events of [`MAX_POLL_INTERVALS`] intervals, never ten pages of raw JSON.
    fn take_page(&mut self, page: Vec<Value>) -> Result<(), Error> {
        let program_id = self.program_id.clone().unwrap_or_default();
        for value in page {
            match parse_event(&value, &program_id) {
                Ok(Some(event)) => self.page.push(event),
                Ok(None) => {}
                Err(why) => self.rejected.push(why),
            }
        }
        let intervals: usize = self.page.iter().map(|e| e.intervals.len()).sum();
        let events = self.page.len() + self.rejected.len();
        if events > MAX_EVENTS || intervals > MAX_POLL_INTERVALS {
            self.page.clear();
            self.rejected.clear();
            return Err(Error::parse(format!(
                "the program has more than {MAX_EVENTS} events or {MAX_POLL_INTERVALS} \
                 intervals; refusing to act on part of them"
            )));
        }
        Ok(())
    }

    fn resolve(&mut self, now: SystemTime) {
        let events = std::mem::take(&mut self.page);
        let now = timestamp(now);
        let mut seen = HashMap::with_capacity(events.len());
        for event in &events {
            let key = (event.id.clone(), event.modified.clone());
            let first = self.seen.get(&key).copied().unwrap_or(now);
            seen.insert(key, first);
        }
        // Only events still listed are remembered, so the map is bounded by MAX_EVENTS.
        self.seen = seen;
        let seen = &self.seen;
        self.timeline = Timeline::resolve(
            &events,
            |e| seen[&(e.id.clone(), e.modified.clone())],
            self.seed,
            self.config.levels,
            std::mem::take(&mut self.rejected),
        );
    }
}

fn timestamp(t: SystemTime) -> Timestamp {
    Timestamp::try_from(t).unwrap_or(Timestamp::MAX)
}

fn json_list(body: &[u8], what: &str) -> Result<Vec<Value>, Error> {
    match serde_json::from_slice(body) {
        Ok(Value::Array(list)) if list.len() <= PAGE => Ok(list),
        Ok(Value::Array(list)) => Err(Error::parse(format!(
            "the VTN sent {} {what} for a page of {PAGE}",
            list.len()
        ))),
        Ok(_) => Err(Error::parse(format!(
            "the VTN's {what} reply is not a list"
        ))),
        Err(e) => Err(Error::parse(format!(
            "the VTN's {what} reply is not JSON: {e}"
        ))),
    }
}

/// The start of a reply body, for an error message.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    for_terminal(text.trim())
}

/// `application/x-www-form-urlencoded` and query-string escaping of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn report_body(ven_name: &str, reading: &Reading) -> Result<Vec<u8>, Error> {
    if !reading.average_watts.is_finite() || reading.average_watts < 0.0 {
        return Err(Error::invalid(format!(
            "a power reading of {} W",
            reading.average_watts
        )));
    }
    let start = Timestamp::try_from(reading.start)
        .map_err(|e| Error::invalid(format!("a reading's start is out of range: {e}")))?;
    Ok(json!({
        "objectType": "REPORT",
        "eventID": reading.event_id,
        "clientName": ven_name,
        "reportName": "power",
        "payloadDescriptors": [
            {"payloadType": "DEMAND", "readingType": "AVERAGE", "units": "KW"}
        ],
        "resources": [{
            "resourceName": reading.resource_name,
            "intervalPeriod": {
                "start": start.to_string(),
                "duration": format!("PT{}S", reading.duration.as_secs_f64()),
            },
            "intervals": [{
                "id": 0,
                "payloads": [{"type": "DEMAND", "values": [reading.average_watts / 1000.0]}],
            }],
        }],
    })
    .to_string()
    .into_bytes())
}
