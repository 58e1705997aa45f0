//! The Stratum V1 client as a sans-IO state machine: lines in, lines and events out.
//!
//! [`Client`] never touches a socket. The session in [`crate::pool`] writes what
//! [`Client::take_outgoing`] and [`Client::submit`] produce and feeds every received line to
//! [`Client::handle_line`]. Replies are matched to requests by id, never by order, because
//! pools answer `mining.authorize` after they have already sent work.
//!
//! Everything a pool sends is untrusted: lengths are bounded, malformed messages are an `Err`
//! of kind [`ErrorKind::Parse`] (the session then drops the connection) or are ignored with a
//! notice, and nothing panics.

use super::{Job, Share, Verdict};
use crate::net::MAX_LINE;
use crate::sanitize::for_terminal;
use serde_json::{json, Map, Value};
use sha256d::{hex, CompactTarget, Error, ErrorKind, Target};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The version bits a miner asks to roll (BIP320's general-purpose bits).
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;

/// The fewest rolled bits worth asking for, as in BIP310's `min-bit-count`.
const VERSION_ROLLING_MIN_BITS: u32 = 2;

/// A coinbase half bigger than this is no honest coinbase (the whole transaction is capped
/// far lower by policy); the bound keeps a hostile pool from handing out huge jobs.
pub const MAX_COINBASE_PART: usize = 100_000;

/// 64 levels cover 2^64 transactions; a longer branch can only be hostile.
pub const MAX_MERKLE_BRANCH: usize = 64;

/// Job ids are short opaque strings (16 hex digits at ckpool); the bound keeps them so.
pub const MAX_JOB_ID: usize = 128;

/// Pools use 4-byte extranonce1 values; anything past this is hostile.
const MAX_EXTRANONCE1: usize = 32;

/// How many of a connection's jobs are remembered, so shares on an older job still go to the
/// pool (which judges them stale) rather than being dropped here.
const JOB_HISTORY: usize = 64;

/// How far ntime may roll past the job's: pools accept up to now + 7200 s, and the margin
/// covers clock differences between miner and pool.
pub const NTIME_ROLL: u32 = 7000;

/// The most submissions waiting for their verdict. Pools answer in milliseconds, so a backlog
/// this long means the pool stopped answering; refusing more keeps memory bounded.
pub const MAX_UNANSWERED_SUBMITS: usize = 1024;

/// The difficulty in force before the first `mining.set_difficulty`, by Stratum convention.
const DEFAULT_DIFFICULTY: f64 = 1.0;

/// A pool may ask for a pause before reconnecting; a longer wait than this is not honoured.
pub const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(300);

/// What the client says about itself and what it asks the pool for.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The worker name sent in `mining.authorize` and every `mining.submit`.
    pub user: String,
    /// The worker password (often `x`); never logged.
    pub password: String,
    /// Sent in `mining.subscribe`.
    pub user_agent: String,
    /// Whether to ask for BIP310 version rolling with [`VERSION_ROLLING_MASK`].
    pub version_rolling: bool,
    /// A difficulty to suggest after authorizing (`mining.suggest_difficulty`).
    pub suggest_difficulty: Option<f64>,
    /// Whether to send `mining.extranonce.subscribe` after authorizing.
    pub extranonce_subscribe: bool,
}

impl Config {
    /// Worker `user` with `password`, user agent `sha256d/<version>`, version rolling on,
    /// no suggested difficulty, no extranonce subscription.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Config {
            user: user.into(),
            password: password.into(),
            user_agent: concat!("sha256d/", env!("CARGO_PKG_VERSION")).to_string(),
            version_rolling: true,
            suggest_difficulty: None,
            extranonce_subscribe: false,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The password stays out of logs and panic messages.
        f.debug_struct("Config")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("user_agent", &self.user_agent)
            .field("version_rolling", &self.version_rolling)
            .field("suggest_difficulty", &self.suggest_difficulty)
            .field("extranonce_subscribe", &self.extranonce_subscribe)
            .finish()
    }
}

/// What a pool's message meant, for the session above the client.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// New work from `mining.notify` (or the current job again, under a new version mask).
    Job(Arc<Job>),
    /// The pool set a new share difficulty; it applies from the next job.
    Difficulty(f64),
    /// The pool's verdict on a submitted share.
    Verdict {
        /// The share as submitted.
        share: Share,
        /// What the pool said.
        verdict: Verdict,
    },
    /// Something for the operator.
    Notice(String),
    /// `mining.subscribe` succeeded.
    Subscribed {
        /// The pool's extranonce1 for this connection.
        extranonce1: Vec<u8>,
        /// How many extranonce2 bytes the miner fills in.
        extranonce2_size: usize,
    },
    /// `mining.authorize` succeeded.
    Authorized,
    /// `mining.authorize` failed; the message names the worker and the pool's reason.
    AuthorizationFailed(String),
    /// The pool asked the miner to reconnect (`client.reconnect`), after `wait`, to `host` and
    /// `port` when given (else the same pool).
    Reconnect {
        /// Where to, if not the same host.
        host: Option<String>,
        /// Which port, if not the same.
        port: Option<u16>,
        /// How long to wait first, capped at [`MAX_RECONNECT_WAIT`].
        wait: Duration,
    },
}

/// What an outstanding request id was for.
#[derive(Clone, Debug)]
enum Request {
    Configure,
    Subscribe,
    Authorize,
    ExtranonceSubscribe,
    SuggestDifficulty,
    Submit(Box<Share>),
}

/// A reply's outcome in either error dialect.
struct Reply<'a> {
    result: &'a Value,
    /// `(code, message)` from `error` in any of its shapes.
    error: Option<(Option<i64>, String)>,
    /// ckpool's `reject-reason`.
    reject_reason: Option<String>,
}

impl Reply<'_> {
    fn ok(&self) -> bool {
        self.error.is_none() && self.result == &Value::Bool(true)
    }

    /// The pool's reason for a failure, in one line.
    fn reason(&self) -> String {
        if let Some((code, msg)) = &self.error {
            return match (code, msg.is_empty()) {
                (Some(c), false) => format!("{msg} ({c})"),
                (Some(c), true) => format!("error {c}"),
                (None, _) => msg.clone(),
            };
        }
        if let Some(r) = &self.reject_reason {
            return r.clone();
        }
        format!("result {}", for_terminal(&self.result.to_string()))
    }
}

/// The Stratum V1 protocol state of one connection.
#[derive(Debug)]
pub struct Client {
    config: Config,
    next_id: u64,
    outbox: Vec<String>,
    pending: BTreeMap<u64, Request>,
    mask: u32,
    subscription: Option<(Vec<u8>, usize)>,
    next_extranonce: Option<(Vec<u8>, usize)>,
    authorized: Option<bool>,
    difficulty: f64,
    jobs: VecDeque<Arc<Job>>,
}

impl Client {
    /// A client for a fresh connection; its opening requests (`mining.configure` when version
    /// rolling is on, `mining.subscribe`, `mining.authorize`) wait in
    /// [`Client::take_outgoing`].
    pub fn new(config: Config) -> Self {
        let mut c = Client {
            config,
            next_id: 1,
            outbox: Vec::new(),
            pending: BTreeMap::new(),
            mask: 0,
            subscription: None,
            next_extranonce: None,
            authorized: None,
            difficulty: DEFAULT_DIFFICULTY,
            jobs: VecDeque::new(),
        };
        if c.config.version_rolling {
            let params = json!([
                ["version-rolling"],
                {
                    "version-rolling.mask": format!("{VERSION_ROLLING_MASK:08x}"),
                    "version-rolling.min-bit-count": VERSION_ROLLING_MIN_BITS,
                }
            ]);
            c.request("mining.configure", params, Request::Configure);
        }
        let agent = c.config.user_agent.clone();
        c.request("mining.subscribe", json!([agent]), Request::Subscribe);
        let creds = json!([c.config.user, c.config.password]);
        c.request("mining.authorize", creds, Request::Authorize);
        c
    }

    fn request(&mut self, method: &str, params: Value, kind: Request) -> String {
        let id = self.next_id;
        self.next_id += 1;
        self.pending.insert(id, kind);
        let line = json!({"id": id, "method": method, "params": params}).to_string();
        self.outbox.push(line.clone());
        line
    }

    /// Lines to send, in order, each without its trailing newline.
    pub fn take_outgoing(&mut self) -> Vec<String> {
        std::mem::take(&mut self.outbox)
    }

    /// The worker name.
    pub fn user(&self) -> &str {
        &self.config.user
    }

    /// The version mask negotiated with `mining.configure` or set by the pool (0: no rolling).
    pub fn version_mask(&self) -> u32 {
        self.mask
    }

    /// The latest difficulty the pool set (it applies from the next job).
    pub fn difficulty(&self) -> f64 {
        self.difficulty
    }

    /// `Some(true)` once authorized, `Some(false)` if refused, `None` while waiting.
    pub fn authorized(&self) -> Option<bool> {
        self.authorized
    }

    /// The extranonce1 of the subscription (the one jobs carry from the next notify on).
    pub fn extranonce1(&self) -> Option<&[u8]> {
        self.subscription.as_ref().map(|(en1, _)| en1.as_slice())
    }

    /// The newest job.
    pub fn current_job(&self) -> Option<&Arc<Job>> {
        self.jobs.back()
    }

    /// Whether the connection is authorized and has work, so shares can be submitted.
    pub fn is_ready(&self) -> bool {
        self.authorized == Some(true) && !self.jobs.is_empty()
    }

    /// Whether `job` came from this connection (same id and same contents), so a share on it
    /// can be submitted here; the pool decides whether it is still current.
    pub fn knows(&self, job: &Job) -> bool {
        self.jobs.iter().any(|j| same_work(j, job))
    }

    /// Whether [`MAX_UNANSWERED_SUBMITS`] shares wait for a verdict: the pool stopped
    /// answering, and [`Client::submit`] refuses more until it does.
    pub fn is_backlogged(&self) -> bool {
        let waiting = self
            .pending
            .values()
            .filter(|r| matches!(r, Request::Submit(_)))
            .count();
        waiting >= MAX_UNANSWERED_SUBMITS
    }

    /// Submitted shares still waiting for a verdict, oldest first, forgotten by the client:
    /// for the session to resubmit or report when the connection is lost.
    pub fn take_unanswered(&mut self) -> Vec<Share> {
        let pending = std::mem::take(&mut self.pending);
        let mut shares = Vec::new();
        for (id, req) in pending {
            match req {
                Request::Submit(share) => shares.push(*share),
                other => {
                    self.pending.insert(id, other);
                }
            }
        }
        shares
    }

    /// The `mining.submit` line for `share` (without newline; the caller sends it). The verdict
    /// comes back as [`ClientEvent::Verdict`] when the reply arrives. The 6th parameter (the
    /// rolled version bits) is sent when version rolling was negotiated. Fails with
    /// [`ErrorKind::Unavailable`] while [`Client::is_backlogged`].
    pub fn submit(&mut self, share: &Share) -> Result<String, Error> {
        if self.is_backlogged() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot submit: the pool has not answered the last \
                     {MAX_UNANSWERED_SUBMITS} shares"
                ),
            ));
        }
        if self.subscription.is_none() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "cannot submit: the pool has not answered mining.subscribe yet",
            ));
        }
        if share.extranonce2.len() != share.job.extranonce2_size {
            return Err(Error::invalid(format!(
                "share has {} extranonce2 bytes, job {} wants {}",
                share.extranonce2.len(),
                for_terminal(&share.job.id),
                share.job.extranonce2_size
            )));
        }
        let mut params = vec![
            Value::from(self.config.user.clone()),
            Value::from(share.job.id.clone()),
            Value::from(hex::encode(&share.extranonce2)),
            Value::from(format!("{:08x}", share.header.time)),
            Value::from(format!("{:08x}", share.header.nonce)),
        ];
        if self.mask != 0 {
            params.push(Value::from(format!("{:08x}", share.version_bits())));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.pending
            .insert(id, Request::Submit(Box::new(share.clone())));
        Ok(json!({"id": id, "method": "mining.submit", "params": params}).to_string())
    }

    /// Consumes one received line (without its newline). Malformed input is an `Err` of kind
    /// [`ErrorKind::Parse`] (or [`ErrorKind::Unavailable`] when the pool refuses the
    /// subscription): the connection is then out of step and should be dropped.
    pub fn handle_line(&mut self, line: &str) -> Result<Vec<ClientEvent>, Error> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(Vec::new());
        }
        if line.len() > MAX_LINE {
            return Err(Error::parse(format!(
                "the pool sent a line longer than {MAX_LINE} bytes"
            )));
        }
        // serde_json stops at 128 levels of nesting, so deep input is an error, not a crash.
        let msg: Value = serde_json::from_str(line)
            .map_err(|e| Error::parse(format!("the pool sent invalid JSON: {e}")))?;
        let Value::Object(obj) = msg else {
            return Err(Error::parse("the pool sent JSON that is not an object"));
        };
        match obj.get("method") {
            Some(Value::String(method)) => {
                let empty = Value::Array(Vec::new());
                let params = obj.get("params").unwrap_or(&empty);
                self.handle_method(method, params, obj.get("id"))
            }
            Some(_) => Err(Error::parse("the pool sent a method that is not a string")),
            None => self.handle_reply(&obj),
        }
    }

    fn handle_reply(&mut self, obj: &Map<String, Value>) -> Result<Vec<ClientEvent>, Error> {
        let id = match obj.get("id") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        };
        let Some(req) = id.and_then(|id| self.pending.remove(&id)) else {
            let shown = obj
                .get("id")
                .map_or("none".into(), |v| for_terminal(&v.to_string()));
            return Ok(vec![ClientEvent::Notice(format!(
                "ignored a reply to unknown request id {shown}"
            ))]);
        };
        let null = Value::Null;
        let reply = Reply {
            result: obj.get("result").unwrap_or(&null),
            error: error_of(obj.get("error")),
            reject_reason: obj
                .get("reject-reason")
                .and_then(Value::as_str)
                .map(for_terminal),
        };
        match req {
            Request::Configure => Ok(self.configured(&reply)),
            Request::Subscribe => self.subscribed(&reply),
            Request::Authorize => Ok(self.authorize_reply(&reply)),
            Request::ExtranonceSubscribe => Ok(if reply.ok() {
                Vec::new()
            } else {
                vec![ClientEvent::Notice(format!(
                    "pool does not support mining.extranonce.subscribe: {}",
                    reply.reason()
                ))]
            }),
            Request::SuggestDifficulty => Ok(match &reply.error {
                None => Vec::new(),
                Some(_) => vec![ClientEvent::Notice(format!(
                    "pool refused mining.suggest_difficulty: {}",
                    reply.reason()
                ))],
            }),
            Request::Submit(share) => {
                let verdict = if reply.ok() {
                    Verdict::Accepted
                } else {
                    let code = reply.error.as_ref().and_then(|(c, _)| *c);
                    let reason = reply.reason();
                    let stale = code == Some(21) || is_stale_reason(&reason);
                    Verdict::Rejected { reason, stale }
                };
                Ok(vec![ClientEvent::Verdict {
                    share: *share,
                    verdict,
                }])
            }
        }
    }

    fn configured(&mut self, reply: &Reply<'_>) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        let granted = match reply.result {
            Value::Object(r) if reply.error.is_none() => {
                if r.get("version-rolling") == Some(&Value::Bool(true)) {
                    match r.get("version-rolling.mask").and_then(Value::as_str) {
                        Some(m) => match parse_u32_hex(m) {
                            Ok(mask) => Some(mask & VERSION_ROLLING_MASK),
                            Err(_) => {
                                events.push(ClientEvent::Notice(format!(
                                    "pool sent an unreadable version-rolling mask {:?}; not rolling",
                                    for_terminal(m)
                                )));
                                None
                            }
                        },
                        None => None,
                    }
                } else {
                    None
                }
            }
            _ => None,
        };
        match granted {
            Some(mask) if mask != 0 => {
                events.push(ClientEvent::Notice(format!(
                    "version rolling on, mask {mask:08x}"
                )));
                events.extend(self.set_mask(mask));
            }
            _ => events.push(ClientEvent::Notice(
                "pool does not offer version rolling".into(),
            )),
        }
        events
    }

    fn subscribed(&mut self, reply: &Reply<'_>) -> Result<Vec<ClientEvent>, Error> {
        if reply.error.is_some() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("pool refused mining.subscribe: {}", reply.reason()),
            ));
        }
        // ckpool: [[["mining.notify", id]], en1, size]; node pools list set_difficulty too.
        // Only the extranonce fields matter, so the subscription list is not inspected.
        let r = reply
            .result
            .as_array()
            .filter(|r| r.len() >= 3)
            .ok_or_else(|| {
                Error::parse(format!(
                    "unexpected mining.subscribe result {}",
                    for_terminal(&reply.result.to_string())
                ))
            })?;
        let (en1, size) = parse_extranonce(&r[1], &r[2])?;
        self.subscription = Some((en1.clone(), size));
        Ok(vec![ClientEvent::Subscribed {
            extranonce1: en1,
            extranonce2_size: size,
        }])
    }

    fn authorize_reply(&mut self, reply: &Reply<'_>) -> Vec<ClientEvent> {
        if !reply.ok() {
            self.authorized = Some(false);
            return vec![ClientEvent::AuthorizationFailed(format!(
                "pool rejected the credentials for worker {}: {}",
                self.config.user,
                reply.reason()
            ))];
        }
        self.authorized = Some(true);
        if self.config.extranonce_subscribe {
            self.request(
                "mining.extranonce.subscribe",
                json!([]),
                Request::ExtranonceSubscribe,
            );
        }
        if let Some(d) = self.config.suggest_difficulty {
            self.request(
                "mining.suggest_difficulty",
                json!([d]),
                Request::SuggestDifficulty,
            );
        }
        vec![ClientEvent::Authorized]
    }

    fn handle_method(
        &mut self,
        method: &str,
        params: &Value,
        id: Option<&Value>,
    ) -> Result<Vec<ClientEvent>, Error> {
        let Some(params) = params.as_array() else {
            return Err(Error::parse(format!(
                "the pool sent {} with params that are not an array",
                for_terminal(method)
            )));
        };
        match method {
            "mining.notify" => self.notify(params),
            "mining.set_difficulty" => {
                let d = params.first().and_then(Value::as_f64);
                match d {
                    Some(d) if Target::from_difficulty(d).is_ok() => {
                        self.difficulty = d;
                        Ok(vec![ClientEvent::Difficulty(d)])
                    }
                    _ => Ok(vec![ClientEvent::Notice(format!(
                        "ignored mining.set_difficulty with an invalid difficulty {}",
                        for_terminal(&Value::Array(params.clone()).to_string())
                    ))]),
                }
            }
            "mining.set_version_mask" => {
                if !self.config.version_rolling {
                    return Ok(vec![ClientEvent::Notice(
                        "ignored mining.set_version_mask: version rolling is off".into(),
                    )]);
                }
                let mask = params
                    .first()
                    .and_then(Value::as_str)
                    .ok_or_else(|| Error::parse("mining.set_version_mask without a mask"))
                    .and_then(parse_u32_hex)?;
                // As with mining.configure: never roll bits the miner did not offer, which
                // would leave BIP320's range and change what the version means.
                let mask = mask & VERSION_ROLLING_MASK;
                let mut events = vec![ClientEvent::Notice(format!(
                    "pool set the version mask to {mask:08x}"
                ))];
                events.extend(self.set_mask(mask));
                Ok(events)
            }
            "mining.set_extranonce" => {
                let (en1, size) = match params.as_slice() {
                    [en1, size, ..] => parse_extranonce(en1, size)?,
                    _ => {
                        return Err(Error::parse(
                            "mining.set_extranonce needs extranonce1 and extranonce2_size",
                        ))
                    }
                };
                self.next_extranonce = Some((en1, size));
                Ok(Vec::new())
            }
            "client.reconnect" => {
                let host = params
                    .first()
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                    .map(str::to_string);
                let port = match params.get(1) {
                    Some(Value::Number(n)) => n.as_u64(),
                    Some(Value::String(s)) if !s.is_empty() => s.parse().ok(),
                    _ => Some(0),
                };
                let port = match port.map(u16::try_from) {
                    Some(Ok(0)) => None,
                    Some(Ok(p)) => Some(p),
                    _ => return Err(Error::parse("client.reconnect with an invalid port")),
                };
                let wait = params
                    .get(2)
                    .and_then(Value::as_f64)
                    .filter(|w| w.is_finite() && *w > 0.0)
                    .map_or(Duration::ZERO, |w| {
                        Duration::from_secs_f64(w.min(MAX_RECONNECT_WAIT.as_secs_f64()))
                    });
                if host.as_ref().is_some_and(|h| h.len() > 255) {
                    return Err(Error::parse("client.reconnect with an over-long host"));
                }
                Ok(vec![ClientEvent::Reconnect { host, port, wait }])
            }
            "client.show_message" => {
                let text = params.first().and_then(Value::as_str).unwrap_or("");
                Ok(vec![ClientEvent::Notice(format!(
                    "message from the pool: {}",
                    for_terminal(text)
                ))])
            }
            "mining.ping" | "client.get_version" => {
                if let Some(id) = id.filter(|id| !id.is_null()) {
                    let result = if method == "mining.ping" {
                        Value::from("pong")
                    } else {
                        Value::from(self.config.user_agent.clone())
                    };
                    let reply = json!({"id": id, "result": result, "error": null});
                    self.outbox.push(reply.to_string());
                }
                Ok(Vec::new())
            }
            _ => Ok(vec![ClientEvent::Notice(format!(
                "ignored unknown pool method {}",
                for_terminal(method)
            ))]),
        }
    }

    /// Applies a version mask at once: shares under the old mask would be rejected, so the
    /// current job comes back as a clean job with the new mask.
    fn set_mask(&mut self, mask: u32) -> Vec<ClientEvent> {
        if mask == self.mask {
            return Vec::new();
        }
        self.mask = mask;
        let Some(current) = self.jobs.back() else {
            return Vec::new();
        };
        let job = Arc::new(Job {
            version_mask: mask,
            clean: true,
            ..Job::clone(current)
        });
        self.remember(job.clone());
        vec![ClientEvent::Job(job)]
    }

    fn remember(&mut self, job: Arc<Job>) {
        if self.jobs.len() == JOB_HISTORY {
            self.jobs.pop_front();
        }
        self.jobs.push_back(job);
    }

    fn notify(&mut self, p: &[Value]) -> Result<Vec<ClientEvent>, Error> {
        if p.len() < 9 {
            return Err(Error::parse(format!(
                "mining.notify has {} params, needs 9",
                p.len()
            )));
        }
        let id = match &p[0] {
            Value::String(s) if !s.is_empty() && s.len() <= MAX_JOB_ID => s.clone(),
            _ => {
                return Err(Error::parse(format!(
                    "mining.notify job id must be a string of 1 to {MAX_JOB_ID} characters"
                )))
            }
        };
        let prev_hash = prevhash_from_notify(str_param(&p[1], "prevhash")?)?;
        let coinb1 = bounded_hex(&p[2], "coinb1")?;
        let coinb2 = bounded_hex(&p[3], "coinb2")?;
        let branch = match &p[4] {
            Value::Array(b) if b.len() <= MAX_MERKLE_BRANCH => b
                .iter()
                .map(|h| hex::decode_array::<32>(str_param(h, "merkle branch")?, "merkle branch"))
                .collect::<Result<Vec<_>, _>>()?,
            Value::Array(_) => {
                return Err(Error::parse(format!(
                    "mining.notify merkle branch longer than {MAX_MERKLE_BRANCH}"
                )))
            }
            _ => return Err(Error::parse("mining.notify merkle branch is not an array")),
        };
        let version = parse_u32_hex(str_param(&p[5], "version")?)?;
        let bits = CompactTarget::from_consensus(parse_u32_hex(str_param(&p[6], "nbits")?)?);
        let ntime = parse_u32_hex(str_param(&p[7], "ntime")?)?;
        let Value::Bool(clean) = p[8] else {
            return Err(Error::parse("mining.notify clean_jobs is not a boolean"));
        };
        let block_target = Target::from_compact(bits)
            .map_err(|e| Error::parse(format!("mining.notify nbits: {e}")))?;
        let share_target = Target::from_difficulty(self.difficulty)
            .expect("set_difficulty only stores difficulties that have a target");
        if self.subscription.is_none() {
            return Ok(vec![ClientEvent::Notice(
                "ignored mining.notify that came before the subscription was answered".into(),
            )]);
        }
        if let Some(next) = self.next_extranonce.take() {
            self.subscription = Some(next);
        }
        let (extranonce1, extranonce2_size) = self
            .subscription
            .clone()
            .expect("checked just above that the client is subscribed");
        // cgminer treats a new previous block as clean whatever the flag says: work on the
        // old tip is worthless.
        let new_tip = self.jobs.back().is_some_and(|j| j.prev_hash != prev_hash);
        let height = coinbase_height(&coinb1);
        let job = Arc::new(Job {
            id,
            prev_hash,
            coinb1,
            extranonce1,
            extranonce2_size,
            coinb2,
            merkle_branch: branch,
            version,
            version_mask: self.mask,
            bits,
            ntime,
            ntime_max: ntime.saturating_add(NTIME_ROLL),
            share_target,
            block_target,
            clean: clean || new_tip,
            height,
        });
        self.remember(job.clone());
        Ok(vec![ClientEvent::Job(job)])
    }
}

/// Whether two jobs build the same headers: a share on one is a share on the other.
fn same_work(a: &Job, b: &Job) -> bool {
    a.id == b.id
        && a.prev_hash == b.prev_hash
        && a.coinb1 == b.coinb1
        && a.coinb2 == b.coinb2
        && a.extranonce1 == b.extranonce1
        && a.extranonce2_size == b.extranonce2_size
        && a.merkle_branch == b.merkle_branch
        && a.version == b.version
        && a.version_mask == b.version_mask
        && a.bits == b.bits
        && a.ntime == b.ntime
}

/// Whether a pool's rejection reason means the job was already gone.
fn is_stale_reason(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("stale") || r.contains("invalid jobid") || r.contains("job not found")
}

/// `error` in any dialect: `[code, "msg", data]`, `{"code":..,"message":..}`, a string.
fn error_of(e: Option<&Value>) -> Option<(Option<i64>, String)> {
    match e? {
        Value::Null => None,
        Value::Array(a) => Some((
            a.first().and_then(Value::as_i64),
            match a.get(1) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(m)) => for_terminal(m),
                Some(m) => for_terminal(&m.to_string()),
            },
        )),
        Value::Object(o) => Some((
            o.get("code").and_then(Value::as_i64),
            o.get("message")
                .and_then(Value::as_str)
                .map(for_terminal)
                .unwrap_or_default(),
        )),
        Value::String(s) => Some((None, for_terminal(s))),
        other => Some((None, for_terminal(&other.to_string()))),
    }
}

fn str_param<'a>(v: &'a Value, what: &str) -> Result<&'a str, Error> {
    v.as_str()
        .ok_or_else(|| Error::parse(format!("mining.notify {what} is not a string")))
}

fn bounded_hex(v: &Value, what: &str) -> Result<Vec<u8>, Error> {
    let text = str_param(v, what)?;
    if text.len() > 2 * MAX_COINBASE_PART {
        return Err(Error::parse(format!(
            "mining.notify {what} is longer than {MAX_COINBASE_PART} bytes"
        )));
    }
    hex::decode(text).map_err(|e| Error::parse(format!("mining.notify {what}: {e}")))
}

/// A u32 as Stratum writes version, nbits, ntime and masks: 8 hex digits, big-endian.
fn parse_u32_hex(text: &str) -> Result<u32, Error> {
    let b = hex::decode_array::<4>(text, "32-bit field")?;
    Ok(u32::from_be_bytes(b))
}

/// The notify prevhash is the header's 32 bytes with each 4-byte word byte-reversed (the
/// getwork layout); undoing that gives the header order.
pub fn prevhash_from_notify(text: &str) -> Result<[u8; 32], Error> {
    let mut b = hex::decode_array::<32>(text, "prevhash")?;
    for word in b.chunks_exact_mut(4) {
        word.reverse();
    }
    Ok(b)
}

fn parse_extranonce(en1: &Value, size: &Value) -> Result<(Vec<u8>, usize), Error> {
    let en1 = en1
        .as_str()
        .filter(|s| s.len() <= 2 * MAX_EXTRANONCE1)
        .ok_or_else(|| {
            Error::parse(format!(
                "extranonce1 must be hex of at most {MAX_EXTRANONCE1} bytes"
            ))
        })?;
    let en1 = hex::decode(en1).map_err(|e| Error::parse(format!("extranonce1: {e}")))?;
    match size.as_u64() {
        Some(s @ 2..=8) => Ok((en1, s as usize)),
        _ => Err(Error::parse(format!(
            "extranonce2_size {} is not in 2..=8",
            for_terminal(&size.to_string())
        ))),
    }
}

/// The BIP34 height at the start of the coinbase scriptSig, where coinb1 reaches that far.
fn coinbase_height(coinb1: &[u8]) -> Option<u64> {
    // version (4), one input (1), null prevout (36), then the scriptSig length and script.
    if coinb1.get(4) != Some(&1) {
        return None;
    }
    let script = coinb1.get(42..)?;
    let first = *script.first()?;
    match first {
        0x51..=0x60 => Some(u64::from(first - 0x50)),
        1..=8 => {
            let bytes = script.get(1..1 + usize::from(first))?;
            let mut le = [0u8; 8];
            le[..bytes.len()].copy_from_slice(bytes);
            Some(u64::from_le_bytes(le))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Client {
        Client::new(Config::new("worker.1", "secret"))
    }

    fn feed(c: &mut Client, line: &str) -> Vec<ClientEvent> {
        c.handle_line(line).expect(line)
    }

    /// Subscribed with the reference pool's extranonce, rolling refused like that pool.
    fn subscribed_client() -> Client {
        let mut c = client();
        c.take_outgoing();
        feed(&mut c, r#"{"id":1,"result":{},"error":null}"#);
        let ev = feed(
            &mut c,
            r#"{"id":2,"result":[[["mining.set_difficulty","deadbeefcafebabe0100000000000000"],["mining.notify","deadbeefcafebabe0100000000000000"]],"08000003",4],"error":null}"#,
        );
        assert_eq!(
            ev,
            vec![ClientEvent::Subscribed {
                extranonce1: vec![8, 0, 0, 3],
                extranonce2_size: 4
            }]
        );
        c
    }

    const WORKED_NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["6","9ee1813dcfcbab96dcb73b55f988b4f3b7ea0645e360a83efad6b15d1c1f4e5f","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff200167045ea5026b08","0f2f456c6f506f6f6c2e436c6f75642f0000000001f826062a010000001976a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac00000000",["8b897b8e448ce75c507d5f3ae910f0fee28ca3ea7312ef6dc311f0dc095484be","17081bf31b43ab9c6754acc70c33cc7695810c1d0b26ed1bd30bc3dafd7c9da2"],"20000000","207fffff","6b02a55e",false]}"#;

    fn job_of(events: &[ClientEvent]) -> Arc<Job> {
        match events {
            [.., ClientEvent::Job(j)] => j.clone(),
            other => panic!("no job in {other:?}"),
        }
    }

    fn share(job: &Arc<Job>, extranonce2: &[u8], version: u32, nonce: u32) -> Share {
        let mut header = job.header(extranonce2, job.ntime);
        header.version = version;
        header.nonce = nonce;
        Share {
            job: job.clone(),
            extranonce2: extranonce2.to_vec(),
            header,
            hash: header.block_hash(),
            is_block: false,
            stale: false,
        }
    }

    #[test]
    fn opening_requests_are_configure_subscribe_authorize() {
        let mut c = client();
        assert_eq!(
            c.take_outgoing(),
            vec![
                r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"#.to_string(),
                format!(r#"{{"id":2,"method":"mining.subscribe","params":["sha256d/{}"]}}"#, env!("CARGO_PKG_VERSION")),
                r#"{"id":3,"method":"mining.authorize","params":["worker.1","secret"]}"#.to_string(),
            ]
        );
        assert!(c.take_outgoing().is_empty());
        let mut config = Config::new("w", "x");
        config.version_rolling = false;
        let mut c = Client::new(config);
        let out = c.take_outgoing();
        assert_eq!(out.len(), 2);
        assert!(out[0].contains("mining.subscribe"), "{out:?}");
        assert!(!format!("{:?}", Config::new("w", "hunter2")).contains("hunter2"));
    }

    /// Reference §1.4: the pool-accepted job, its header and the submit line.
    #[test]
    fn worked_example_notify_builds_the_accepted_share() {
        let mut c = subscribed_client();
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"mining.set_difficulty","params":[0.0001]}"#
            ),
            vec![ClientEvent::Difficulty(0.0001)]
        );
        let job = job_of(&feed(&mut c, WORKED_NOTIFY));
        assert_eq!(
            hex::encode(&job.prev_hash),
            "3d81e19e96abcbcf553bb7dcf3b488f94506eab73ea860e35db1d6fa5f4e1f1c"
        );
        assert_eq!(job.id, "6");
        assert_eq!(job.extranonce1, vec![8, 0, 0, 3]);
        assert_eq!(job.extranonce2_size, 4);
        assert_eq!(job.version, 0x2000_0000);
        assert_eq!(job.version_mask, 0);
        assert_eq!(job.bits, CompactTarget::from_consensus(0x207f_ffff));
        assert_eq!(job.ntime, 0x6b02_a55e);
        assert_eq!(job.ntime_max, 0x6b02_a55e + 7000);
        assert_eq!(
            job.share_target,
            Target::from_difficulty(0.0001).expect("ok")
        );
        assert_eq!(
            job.block_target,
            Target::from_compact(job.bits).expect("regtest bits")
        );
        assert!(!job.clean);
        assert_eq!(job.height, Some(103));
        let s = share(&job, &[0; 4], 0x2000_0000, 0x0006_df9f);
        assert_eq!(
            s.hash.to_string(),
            "000020828ea1339266a4ae4a254f6332bb28ae866baa013784afe485ff065ba2"
        );
        assert!(job.share_target.is_met_by(&s.hash));
        assert_eq!(
            c.submit(&s).expect("subscribed"),
            r#"{"id":4,"method":"mining.submit","params":["worker.1","6","00000000","6b02a55e","0006df9f"]}"#
        );
        assert_eq!(
            feed(&mut c, r#"{"id":4,"result":true,"error":null}"#),
            vec![ClientEvent::Verdict {
                share: s,
                verdict: Verdict::Accepted
            }]
        );
    }

    /// Reference §1.1: ckpool's transcript, authorize answered after the work, the version
    /// bits as 6th param and the ckpool rejection dialect.
    #[test]
    fn ckpool_transcript_with_version_rolling() {
        let mut c = client();
        c.take_outgoing();
        assert_eq!(
            feed(
                &mut c,
                r#"{"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"id":1,"error":null}"#
            ),
            vec![ClientEvent::Notice(
                "version rolling on, mask 1fffe000".into()
            )]
        );
        feed(
            &mut c,
            r#"{"result":[[["mining.notify","6b02a699"]],"99a6026b",8],"id":2,"error":null}"#,
        );
        feed(
            &mut c,
            r#"{"params":[1],"id":null,"method":"mining.set_difficulty"}"#,
        );
        let notify = r#"{"params":["6b02a69800000001","9ee1813dcfcbab96dcb73b55f988b4f3b7ea0645e360a83efad6b15d1c1f4e5f","01000000","00000000",[],"20000000","207fffff","6b02a698",true],"id":null,"method":"mining.notify"}"#;
        let job = job_of(&feed(&mut c, notify));
        assert!(!c.is_ready());
        assert_eq!(
            feed(&mut c, r#"{"result":true,"error":null,"id":3}"#),
            vec![ClientEvent::Authorized]
        );
        assert!(c.is_ready());
        assert_eq!(job.version_mask, 0x1fff_e000);
        assert_eq!(job.share_target, Target::DIFFICULTY_1);
        assert!(job.clean);
        let s = share(&job, &[0; 8], 0x2000_2000, 0x1a99);
        assert_eq!(
            c.submit(&s).expect("subscribed"),
            r#"{"id":4,"method":"mining.submit","params":["worker.1","6b02a69800000001","0000000000000000","6b02a698","00001a99","00002000"]}"#
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"reject-reason":"Above target","result":false,"error":null,"id":4}"#
            ),
            vec![ClientEvent::Verdict {
                share: s,
                verdict: Verdict::Rejected {
                    reason: "Above target".into(),
                    stale: false
                }
            }]
        );
    }

    #[test]
    fn both_error_dialects_are_classified() {
        let mut c = subscribed_client();
        let job = job_of(&feed(&mut c, WORKED_NOTIFY));
        let cases = [
            (
                r#""error":[21,"Job not found",null],"result":null"#,
                "Job not found (21)",
                true,
            ),
            (
                r#""error":[22,"Duplicate share",null],"result":null"#,
                "Duplicate share (22)",
                false,
            ),
            (
                r#""error":[23,"Low difficulty share",null],"result":null"#,
                "Low difficulty share (23)",
                false,
            ),
            (
                r#""error":[20,"Other/Unknown",null],"result":false"#,
                "Other/Unknown (20)",
                false,
            ),
            (r#""error":[21,null,null]"#, "error 21", true),
            (
                r#""result":false,"error":null,"reject-reason":"Stale""#,
                "Stale",
                true,
            ),
            (
                r#""result":false,"error":null,"reject-reason":"Invalid JobID""#,
                "Invalid JobID",
                true,
            ),
            (
                r#""result":false,"error":null,"reject-reason":"Duplicate""#,
                "Duplicate",
                false,
            ),
            (r#""result":false,"error":null"#, "result false", false),
            (
                r#""result":null,"error":"Invalid json: params not an array""#,
                "Invalid json: params not an array",
                false,
            ),
            (
                r#""result":null,"error":{"code":-32601,"message":"job not found\nat all"}"#,
                "job not found at all (-32601)",
                true,
            ),
            (r#""result":true,"error":"odd""#, "odd", false),
        ];
        for (i, (body, reason, stale)) in cases.into_iter().enumerate() {
            let s = share(&job, &[0; 4], 0x2000_0000, i as u32);
            let line = c.submit(&s).expect("subscribed");
            let id: Value = serde_json::from_str::<Value>(&line).expect("json")["id"].clone();
            let events = feed(&mut c, &format!(r#"{{"id":{id},{body}}}"#));
            assert_eq!(
                events,
                vec![ClientEvent::Verdict {
                    share: s,
                    verdict: Verdict::Rejected {
                        reason: reason.into(),
                        stale
                    }
                }],
                "{body}"
            );
        }
        // A late duplicate reply for an answered id is only a notice.
        assert_eq!(
            feed(&mut c, r#"{"id":5,"result":true,"error":null}"#),
            vec![ClientEvent::Notice(
                "ignored a reply to unknown request id 5".into()
            )]
        );
    }

    #[test]
    fn difficulty_applies_from_the_next_notify_and_bad_ones_are_ignored() {
        let mut c = subscribed_client();
        feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#,
        );
        let first = job_of(&feed(&mut c, WORKED_NOTIFY));
        assert_eq!(
            first.share_target,
            Target::from_difficulty(0.5).expect("ok")
        );
        assert_eq!(
            first.share_target,
            Target::from_be_hex("00000001fffe0000000000000000000000000000000000000000000000000000")
                .expect("hex")
        );
        feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_difficulty","params":[1.5e-6]}"#,
        );
        for bad in ["0", "-1", "\"abc\"", "null", "1e400"] {
            let line =
                format!(r#"{{"id":null,"method":"mining.set_difficulty","params":[{bad}]}}"#);
            match c.handle_line(&line) {
                Ok(ev) => assert!(
                    matches!(&ev[..], [ClientEvent::Notice(n)] if n.contains("invalid difficulty")),
                    "{bad}: {ev:?}"
                ),
                Err(e) => assert_eq!(e.kind(), ErrorKind::Parse, "{bad}"),
            }
        }
        assert_eq!(c.difficulty(), 1.5e-6);
        let second = job_of(&feed(&mut c, WORKED_NOTIFY));
        assert_eq!(
            second.share_target,
            Target::from_difficulty(1.5e-6).expect("ok")
        );
    }

    #[test]
    fn prevhash_words_are_byte_reversed_and_a_new_tip_is_clean() {
        assert_eq!(
            prevhash_from_notify(
                "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
            )
            .map(|b| hex::encode(&b)),
            Ok("3322110077665544bbaa9988ffeeddcc3322110077665544bbaa9988ffeeddcc".to_string())
        );
        let mut c = subscribed_client();
        assert!(!job_of(&feed(&mut c, WORKED_NOTIFY)).clean);
        assert!(!job_of(&feed(&mut c, WORKED_NOTIFY)).clean);
        let other_tip = WORKED_NOTIFY.replace("9ee1813d", "9ee1813e");
        let job = job_of(&feed(&mut c, &other_tip));
        assert!(job.clean, "a new previous block voids the old work");
    }

    #[test]
    fn authorization_failures_name_the_worker() {
        for reply in [
            r#"{"id":3,"result":false,"error":null}"#,
            r#"{"id":3,"result":null,"error":[24,"Unauthorized worker",null]}"#,
        ] {
            let mut c = subscribed_client();
            let ev = feed(&mut c, reply);
            match &ev[..] {
                [ClientEvent::AuthorizationFailed(m)] => {
                    assert!(
                        m.starts_with("pool rejected the credentials for worker worker.1: "),
                        "{m}"
                    );
                    assert!(!m.contains("secret"));
                }
                other => panic!("{other:?}"),
            }
            assert_eq!(c.authorized(), Some(false));
        }
    }

    #[test]
    fn after_authorize_extranonce_subscribe_and_suggest_difficulty_are_sent() {
        let mut config = Config::new("w", "x");
        config.version_rolling = false;
        config.extranonce_subscribe = true;
        config.suggest_difficulty = Some(0.25);
        let mut c = Client::new(config);
        c.take_outgoing();
        feed(&mut c, r#"{"id":1,"result":[[],"00",2],"error":null}"#);
        assert_eq!(
            feed(&mut c, r#"{"id":2,"result":true,"error":null}"#),
            vec![ClientEvent::Authorized]
        );
        assert_eq!(
            c.take_outgoing(),
            vec![
                r#"{"id":3,"method":"mining.extranonce.subscribe","params":[]}"#,
                r#"{"id":4,"method":"mining.suggest_difficulty","params":[0.25]}"#
            ]
        );
        assert!(matches!(
            &feed(&mut c, r#"{"id":3,"result":null,"error":[20,"Not supported.",null]}"#)[..],
            [ClientEvent::Notice(n)] if n.contains("extranonce.subscribe")
        ));
        assert_eq!(
            feed(&mut c, r#"{"id":4,"result":true,"error":null}"#),
            vec![]
        );
    }

    #[test]
    fn set_version_mask_reissues_the_job_and_set_extranonce_waits_for_the_next() {
        let mut c = client();
        c.take_outgoing();
        feed(
            &mut c,
            r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"ffffffff"},"error":null}"#,
        );
        assert_eq!(c.version_mask(), 0x1fff_e000, "never more than was asked");
        feed(
            &mut c,
            r#"{"id":2,"result":[[],"aabbccdd",4],"error":null}"#,
        );
        let job = job_of(&feed(&mut c, WORKED_NOTIFY));
        let ev = feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_version_mask","params":["00ffe000"]}"#,
        );
        let again = job_of(&ev);
        assert_eq!(
            *again,
            Job {
                version_mask: 0x00ff_e000,
                clean: true,
                ..Job::clone(&job)
            }
        );
        assert!(c.knows(&job) && c.knows(&again));
        assert!(feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_extranonce","params":["01020304",6]}"#
        )
        .is_empty());
        assert_eq!(c.current_job().map(|j| j.extranonce2_size), Some(4));
        let next = job_of(&feed(&mut c, WORKED_NOTIFY));
        assert_eq!(next.extranonce1, vec![1, 2, 3, 4]);
        assert_eq!(next.extranonce2_size, 6);
        assert_eq!(next.version_mask, 0x00ff_e000);
        let wider = job_of(&feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_version_mask","params":["ffffffff"]}"#,
        ));
        assert_eq!(
            wider.version_mask, VERSION_ROLLING_MASK,
            "never more than was asked"
        );
    }

    #[test]
    fn ping_reconnect_messages_and_unknown_methods() {
        let mut c = subscribed_client();
        assert!(feed(&mut c, r#"{"id":7,"method":"mining.ping","params":[]}"#).is_empty());
        assert_eq!(
            c.take_outgoing(),
            vec![r#"{"error":null,"id":7,"result":"pong"}"#]
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"client.reconnect","params":["pool2.example",3334,5]}"#
            ),
            vec![ClientEvent::Reconnect {
                host: Some("pool2.example".into()),
                port: Some(3334),
                wait: Duration::from_secs(5)
            }]
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"client.reconnect","params":[]}"#
            ),
            vec![ClientEvent::Reconnect {
                host: None,
                port: None,
                wait: Duration::ZERO
            }]
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"client.reconnect","params":["h","4000",1e9]}"#
            ),
            vec![ClientEvent::Reconnect {
                host: Some("h".into()),
                port: Some(4000),
                wait: MAX_RECONNECT_WAIT
            }]
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"client.show_message","params":["maintenance\nat 5"]}"#
            ),
            vec![ClientEvent::Notice(
                "message from the pool: maintenance at 5".into()
            )]
        );
        assert_eq!(
            feed(
                &mut c,
                r#"{"id":null,"method":"mining.frobnicate","params":[]}"#
            ),
            vec![ClientEvent::Notice(
                "ignored unknown pool method mining.frobnicate".into()
            )]
        );
    }

    #[test]
    fn hostile_lines_are_errors_not_panics() {
        let deep = "[".repeat(100_000);
        let deep_in_notify = format!(
            r#"{{"id":null,"method":"mining.notify","params":{}{}}}"#,
            "[".repeat(5000),
            "]".repeat(5000)
        );
        let long_branch = format!(
            r#"{{"id":null,"method":"mining.notify","params":["1","{}","00","00",[{}],"20000000","1d00ffff","00000000",true]}}"#,
            "00".repeat(32),
            vec![format!("\"{}\"", "00".repeat(32)); 65].join(",")
        );
        let long_coinbase = format!(
            r#"{{"id":null,"method":"mining.notify","params":["1","{}","{}","00",[],"20000000","1d00ffff","00000000",true]}}"#,
            "00".repeat(32),
            "00".repeat(MAX_COINBASE_PART + 1)
        );
        let long_id = WORKED_NOTIFY.replace(r#"["6","#, &format!(r#"["{}","#, "j".repeat(129)));
        let bad = [
            deep.as_str(),
            &deep_in_notify,
            &long_branch,
            &long_coinbase,
            &long_id,
            "not json",
            "[1,2,3]",
            r#"{"method":5}"#,
            r#"{"id":null,"method":"mining.notify","params":{}}"#,
            r#"{"id":null,"method":"mining.notify","params":["1"]}"#,
            &WORKED_NOTIFY.replace("\"20000000\"", "536870912"),
            &WORKED_NOTIFY.replace("\"207fffff\"", "\"20ffffff\""),
            &WORKED_NOTIFY.replace("9ee1813d", "9ee1813"),
            &WORKED_NOTIFY.replace("false]", "\"false\"]"),
            r#"{"id":null,"method":"mining.set_extranonce","params":["0102",9]}"#,
            r#"{"id":null,"method":"mining.set_extranonce","params":["0102",1]}"#,
            r#"{"id":null,"method":"mining.set_extranonce","params":["zz",4]}"#,
            r#"{"id":null,"method":"mining.set_version_mask","params":["1fffe00"]}"#,
            r#"{"id":null,"method":"client.reconnect","params":["h",70000]}"#,
        ];
        for line in bad {
            let mut c = subscribed_client();
            let err = c.handle_line(line).expect_err(&line[..line.len().min(80)]);
            assert_eq!(err.kind(), ErrorKind::Parse, "{err}");
        }
        for size in ["1", "9", "\"4\""] {
            let mut c = client();
            let line = format!(r#"{{"id":2,"result":[[],"00",{size}],"error":null}}"#);
            assert_eq!(
                c.handle_line(&line).map_err(|e| e.kind()),
                Err(ErrorKind::Parse),
                "{size}"
            );
        }
        let mut c = client();
        let err = c
            .handle_line(r#"{"id":2,"result":null,"error":[25,"Not subscribed",null]}"#)
            .expect_err("refused subscription");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        // Work before the subscription is answered cannot be built; it is skipped.
        let mut c = client();
        assert!(matches!(
            &feed(&mut c, WORKED_NOTIFY)[..],
            [ClientEvent::Notice(_)]
        ));
    }

    #[test]
    fn shares_must_match_their_job_and_the_subscription() {
        let mut c = client();
        let job = Arc::new(Job {
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            ..Job::blank()
        });
        let s = share(&job, &[0; 4], 0x2000_0000, 0);
        assert_eq!(
            c.submit(&s).map_err(|e| e.kind()),
            Err(ErrorKind::Unavailable)
        );
        let mut c = subscribed_client();
        let bad = Share {
            extranonce2: vec![0; 3],
            ..s
        };
        assert_eq!(
            c.submit(&bad).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidInput)
        );
    }

    #[test]
    fn a_pool_that_never_answers_cannot_grow_the_pending_map() {
        let mut c = subscribed_client();
        let job = job_of(&feed(&mut c, WORKED_NOTIFY));
        for nonce in 0..MAX_UNANSWERED_SUBMITS as u32 {
            c.submit(&share(&job, &[0; 4], 0x2000_0000, nonce))
                .expect("below the bound");
        }
        assert!(c.is_backlogged());
        let err = c
            .submit(&share(&job, &[0; 4], 0x2000_0000, u32::MAX))
            .expect_err("over the bound");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(c.pending.len(), MAX_UNANSWERED_SUBMITS + 1, "+ authorize");
        // One verdict makes room again.
        feed(&mut c, r#"{"id":4,"result":true,"error":null}"#);
        assert!(!c.is_backlogged());
    }

    #[test]
    fn unanswered_shares_come_back_once() {
        let mut c = subscribed_client();
        let job = job_of(&feed(&mut c, WORKED_NOTIFY));
        let a = share(&job, &[0; 4], 0x2000_0000, 1);
        let b = share(&job, &[0; 4], 0x2000_0000, 2);
        c.submit(&a).expect("ok");
        c.submit(&b).expect("ok");
        assert_eq!(c.take_unanswered(), vec![a, b]);
        assert!(c.take_unanswered().is_empty());
        // The authorize request is still outstanding and still answered.
        assert_eq!(
            feed(&mut c, r#"{"id":3,"result":true,"error":null}"#),
            vec![ClientEvent::Authorized]
        );
    }
}
