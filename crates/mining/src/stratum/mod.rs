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

mod wire;

pub use wire::prevhash_from_notify;

use crate::net::MAX_LINE;
use crate::sanitize::for_terminal;
use crate::{Job, Share, Verdict};
use serde_json::{json, Map, Value};
use sha256d::hazmat::hex;
use sha256d::{CompactTarget, Error, ErrorKind, Target};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
pub(crate) use wire::coinbase_height;
use wire::{
    bounded_hex, error_of, is_stale_reason, notify_subscription_id, parse_extranonce,
    parse_u32_hex, same_work, str_param, Reply,
};

/// The version bits a miner asks to roll (BIP320's general-purpose bits).
pub const VERSION_ROLLING_MASK: u32 = sha256d::BIP320_VERSION_MASK;

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

pub use crate::job::NTIME_ROLL;

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
    /// The subscription id an earlier connection to the same pool was given, sent as
    /// `mining.subscribe`'s second parameter to ask for that connection's extranonce1 back
    /// (ckpool and cgminer's session resume), so shares found on its jobs stay valid.
    pub resume: Option<String>,
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
            resume: None,
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
            .field("resume", &self.resume)
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

/// The Stratum V1 protocol state of one connection.
#[derive(Debug)]
pub struct Client {
    config: Config,
    next_id: u64,
    outbox: Vec<String>,
    pending: BTreeMap<u64, Request>,
    mask: u32,
    subscription: Option<(Vec<u8>, usize)>,
    /// The pool's id for this subscription, for a later connection to resume.
    session_id: Option<String>,
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
            session_id: None,
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
        let params = match &c.config.resume {
            Some(id) => json!([agent, id]),
            None => json!([agent]),
        };
        c.request("mining.subscribe", params, Request::Subscribe);
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

    /// The pool's id for this connection's subscription (its `mining.notify` entry), once
    /// subscribed: what [`Config::resume`] takes on the next connection to the same pool.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
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
                        Some(m) => match parse_u32_hex(m, "version-rolling.mask") {
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
        self.session_id = notify_subscription_id(&r[0]);
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
                    .and_then(|m| parse_u32_hex(m, "mining.set_version_mask"))?;
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
        let version = parse_u32_hex(str_param(&p[5], "version")?, "mining.notify version")?;
        let bits = CompactTarget::from_consensus(parse_u32_hex(
            str_param(&p[6], "nbits")?,
            "mining.notify nbits",
        )?);
        let ntime = parse_u32_hex(str_param(&p[7], "ntime")?, "mining.notify ntime")?;
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
            fixed_merkle_root: None,
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

#[cfg(test)]
mod tests;
