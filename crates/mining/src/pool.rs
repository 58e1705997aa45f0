//! A pool session with an ordered failover list: the [`Source`] a miner uses.
//!
//! This file is the I/O shell shared by both protocols; the sessions themselves are in
//! `pool/v1.rs` (Stratum V1, whose protocol lives in [`Client`](crate::stratum::Client)) and
//! `pool/v2.rs` (Stratum V2), and how a share goes out on either in `pool/submit.rs`. The
//! choice of which pool to dial and when is the failover policy's (`failover.rs`), and the
//! fate of found work across connections the share queue's (`share_queue.rs`); here they meet
//! the sockets and the clock. Connections are opened on a short-lived helper thread so
//! [`Source::poll`] never blocks longer than its timeout, even while a name lookup or a TLS
//! handshake with a slow pool is under way; everything else happens inside `poll`.

use crate::failover::{reconnect_target, show_wait, Decision, Failover, Timing};
use crate::net::{self, Conn, PoolUrl, TlsSettings};
use crate::pool_session::Session as V1Session;
use crate::sanitize::{for_terminal, for_terminal_max};
use crate::share_queue::ShareQueue;
#[cfg(feature = "sv2")]
use crate::sv2;
use crate::{Event, Share, Source};
use sha256d::{Error, ErrorKind, Target};
use std::fmt;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

pub use crate::share_queue::{MAX_QUEUED_BLOCKS, MAX_QUEUED_SHARES, MAX_RESENDS};
pub use board::{PoolBoard, PoolState, PoolStatus};

/// A notice is cut to this many characters. Its parts from the pool are cut shorter, and
/// this bounds the rest (an OS or TLS error, which can quote a certificate).
const MAX_NOTICE: usize = 1000;

/// While a connection attempt is in flight, reads wake this often to collect its result.
const ATTEMPT_POLL: Duration = Duration::from_millis(20);

/// How long an ending session is read for the answers already on their way, in all.
const LAST_ANSWERS: Duration = Duration::from_millis(50);

/// One pool of the failover list.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Where it is.
    pub url: PoolUrl,
    /// The worker name.
    pub user: String,
    /// The worker password; never shown.
    pub pass: String,
    /// Hosts besides the URL's own that the pool may send the miner to with
    /// `client.reconnect`. A reconnection sends the worker name and password, so by default
    /// only the same host is followed; a request for any other is refused and logged.
    pub allow_reconnect_hosts: Vec<String>,
}

impl PoolConfig {
    /// Pool `url` with worker `user` and password `pass`, followed on `client.reconnect` only
    /// to the same host.
    pub fn new(url: PoolUrl, user: impl Into<String>, pass: impl Into<String>) -> Self {
        PoolConfig {
            url,
            user: user.into(),
            pass: pass.into(),
            allow_reconnect_hosts: Vec::new(),
        }
    }

    /// Also follows `client.reconnect` to these hosts (names or addresses, as the pool
    /// writes them).
    pub fn with_reconnect_hosts<S: Into<String>>(
        mut self,
        hosts: impl IntoIterator<Item = S>,
    ) -> Self {
        self.allow_reconnect_hosts
            .extend(hosts.into_iter().map(Into::into));
        self
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("url", &self.url.to_string())
            .field("user", &self.user)
            .field("pass", &"<hidden>")
            .field("allow_reconnect_hosts", &self.allow_reconnect_hosts)
            .finish()
    }
}

/// How a [`PoolSource`] connects, fails over and comes back.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The pools in order of preference: the first is used whenever it works.
    pub pools: Vec<PoolConfig>,
    /// Ask for BIP310 version rolling.
    pub version_rolling: bool,
    /// Send `mining.suggest_difficulty` with this difficulty after authorizing.
    pub suggest_difficulty: Option<f64>,
    /// Send `mining.extranonce.subscribe` after authorizing.
    pub extranonce_subscribe: bool,
    /// Certificate trust for `stratum+ssl://` pools.
    pub tls: TlsSettings,
    /// The first wait before retrying a pool that failed; doubles on each further failure.
    pub backoff_min: Duration,
    /// The longest wait between retries of one pool.
    pub backoff_max: Duration,
    /// How long a session must be authorized and working before its pool's backoff starts
    /// again from `backoff_min`.
    pub healthy_after: Duration,
    /// While on a lower pool, how often a preferred pool is tried again.
    pub retry_primary: Duration,
    /// How long a connection may take in all: name lookup, TCP connect and TLS handshake.
    pub connect_timeout: Duration,
    /// How long a pool may take to authorize and send the first job, and, while shares wait
    /// for their verdicts, to answer one.
    pub request_timeout: Duration,
    /// A pool silent for this long is taken as gone (pools send work every minute or so).
    /// Stratum V2 has no keepalive and a V2 pool sends nothing between blocks and template
    /// changes, so V2 sessions are not held to it: TCP keepalive, on every pool connection,
    /// finds a vanished V2 pool within about 90 s.
    pub idle_timeout: Duration,
    /// The channel opened on `stratum2+tcp://` pools: standard by default, since the pool then
    /// keeps the coinbase and the miner only hashes headers (2^48 nonce and version
    /// combinations per second of ntime, more than any engine here gets through); extended
    /// for pools that only offer extended channels.
    #[cfg(feature = "sv2")]
    pub sv2_channel: sv2::ChannelKind,
    /// Accept `stratum2+tcp://` pools whose URL carries no authority key without
    /// authenticating them: the session is encrypted, but anyone on the path can impersonate
    /// the pool and take the hashrate. Off by default; only for a LAN pool without a key.
    #[cfg(feature = "sv2")]
    pub sv2_insecure_skip_authority_check: bool,
    /// The hash rate (hashes per second) announced when opening a V2 channel; the pool sets
    /// the first share target from it.
    #[cfg(feature = "sv2")]
    pub sv2_nominal_hash_rate: f32,
}

impl PoolOptions {
    /// `pools` with version rolling on, no suggested difficulty, no extranonce subscription,
    /// the Mozilla roots for TLS, backoff from 1 s doubling to 30 s and reset after 60 s of
    /// healthy work, the first pool retried every 30 s, 10 s to connect, 30 s to authorize or
    /// answer a share, and 180 s of silence before a reconnect; on V2 pools standard channels,
    /// the authority key required, and 10 MH/s announced.
    pub fn new(pools: Vec<PoolConfig>) -> Self {
        PoolOptions {
            pools,
            version_rolling: true,
            suggest_difficulty: None,
            extranonce_subscribe: false,
            tls: TlsSettings::default(),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
            retry_primary: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(180),
            #[cfg(feature = "sv2")]
            sv2_channel: sv2::ChannelKind::Standard,
            #[cfg(feature = "sv2")]
            sv2_insecure_skip_authority_check: false,
            #[cfg(feature = "sv2")]
            sv2_nominal_hash_rate: 10e6,
        }
    }

    fn timing(&self) -> Timing {
        Timing {
            backoff_min: self.backoff_min,
            backoff_max: self.backoff_max,
            retry_primary: self.retry_primary,
            healthy_after: self.healthy_after,
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
        }
    }
}

struct Attempt {
    index: usize,
    url: PoolUrl,
    rx: mpsc::Receiver<Result<Link, Error>>,
}

/// A connection as the connecting thread hands it over.
enum Link {
    V1(Conn),
    #[cfg(feature = "sv2")]
    V2(sv2::session::Link),
}

/// The live session, on whichever protocol its pool speaks.
enum Live {
    V1(V1Session),
    #[cfg(feature = "sv2")]
    V2(sv2::session::Session),
}

impl Live {
    fn index(&self) -> usize {
        match self {
            Live::V1(s) => s.index,
            #[cfg(feature = "sv2")]
            Live::V2(s) => s.index,
        }
    }

    fn url(&self) -> &PoolUrl {
        match self {
            Live::V1(s) => &s.url,
            #[cfg(feature = "sv2")]
            Live::V2(s) => &s.url,
        }
    }

    fn user(&self) -> &str {
        match self {
            Live::V1(s) => s.client.user(),
            #[cfg(feature = "sv2")]
            Live::V2(s) => s.client.user(),
        }
    }

    fn is_ready(&self) -> bool {
        match self {
            Live::V1(s) => s.client.is_ready(),
            #[cfg(feature = "sv2")]
            Live::V2(s) => s.client.is_ready(),
        }
    }
}

/// Why a session ended.
enum Ending {
    Failed(String),
    Reconnect { url: PoolUrl, wait: Duration },
}

/// A Stratum V1 job source over an ordered list of pools.
///
/// [`PoolSource::new`] only checks the options; the first [`Source::poll`] starts connecting
/// to the first pool. A pool that refuses the connection, drops it, sends garbage, does not
/// answer in time or refuses the credentials is left for the next one, and retried with a
/// backoff that keeps doubling until a session with it has been healthy for
/// [`PoolOptions::healthy_after`]. While on a lower pool the preferred ones are retried every
/// [`PoolOptions::retry_primary`], and the source moves back as soon as one answers.
/// `client.reconnect` is followed only to the same host or one in
/// [`PoolConfig::allow_reconnect_hosts`].
///
/// Found work is never dropped silently: shares submitted while no pool is usable wait
/// (blocks first, at most [`MAX_QUEUED_SHARES`] shares and [`MAX_QUEUED_BLOCKS`] blocks) and
/// are sent when a connection is back if their job still stands there (the same job and
/// extranonce1); every other one gets a rejected verdict saying why: stale, pushed out of a
/// full queue, or sent 1 + [`MAX_RESENDS`] times on connections that dropped before answering.
///
/// `poll` fails only when every pool has refused the credentials and none ever accepted
/// them; a miner whose pools all go down keeps retrying and reports it as notices.
pub struct PoolSource {
    opts: PoolOptions,
    policy: Failover,
    /// Per pool: where `client.reconnect` sent us, used until that address fails.
    redirects: Vec<Option<PoolUrl>>,
    /// Per pool: the address and subscription id of its last subscribed session, which the
    /// next connection to that address asks to resume.
    resume: Vec<Option<(PoolUrl, String)>>,
    session: Option<Live>,
    attempt: Option<Attempt>,
    queue: ShareQueue,
    /// The session that ended last, as `describe` shows it: a summary printed after a drop
    /// still names the pool the work came from.
    last_session: Option<String>,
    /// The pools as the operator sees them, and the switch the operator asks for.
    board: Arc<PoolBoard>,
}

impl fmt::Debug for PoolSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSource")
            .field("pools", &self.opts.pools)
            .field("state", &self.describe())
            .finish()
    }
}

impl PoolSource {
    /// A source over `opts.pools`; checks the options (at least one pool, a worker name,
    /// sane backoff, positive timeouts, a readable CA file when one is given) without
    /// connecting.
    pub fn new(opts: PoolOptions) -> Result<Self, Error> {
        if opts.pools.is_empty() {
            return Err(Error::invalid("no pool given"));
        }
        if let Some(p) = opts.pools.iter().find(|p| p.user.is_empty()) {
            return Err(Error::invalid(format!("pool {} has no worker name", p.url)));
        }
        if opts.backoff_min.is_zero() || opts.backoff_min > opts.backoff_max {
            return Err(Error::invalid(format!(
                "backoff must be positive with min <= max, got {:?}..{:?}",
                opts.backoff_min, opts.backoff_max
            )));
        }
        if [
            opts.connect_timeout,
            opts.request_timeout,
            opts.idle_timeout,
        ]
        .iter()
        .any(Duration::is_zero)
        {
            return Err(Error::invalid(
                "connect, request and idle timeouts must be positive",
            ));
        }
        if let Some(d) = opts.suggest_difficulty {
            Target::from_difficulty(d)?;
        }
        if opts.pools.iter().any(|p| p.url.tls) {
            opts.tls.client_config()?;
        }
        for pool in opts.pools.iter().filter(|p| p.url.sv2.is_some()) {
            check_sv2_pool(&opts, &pool.url)?;
        }
        // A PoolUrl holds no credentials (the parser refuses a user part), and the password
        // stays in the config.
        let board = PoolBoard::new(
            opts.pools
                .iter()
                .map(|p| (p.url.to_string(), p.user.clone())),
        );
        Ok(PoolSource {
            board: Arc::new(board),
            policy: Failover::new(opts.pools.len(), opts.timing(), Instant::now()),
            redirects: vec![None; opts.pools.len()],
            resume: vec![None; opts.pools.len()],
            opts,
            session: None,
            attempt: None,
            queue: ShareQueue::new(),
            last_session: None,
        })
    }

    /// The pools' states as the source keeps them up to date, in the configured order, and
    /// where the operator asks to switch pools ([`PoolBoard::switch_to`]).
    pub fn board(&self) -> Arc<PoolBoard> {
        Arc::clone(&self.board)
    }

    /// Takes the operator's switch, if one was asked for since the last poll.
    fn take_switch(&mut self, out: &mut Vec<Event>) {
        let Some(index) = self.board.take_switch() else {
            return;
        };
        self.policy.prefer(index, Instant::now());
        let url = &self.opts.pools[index].url;
        let text = match &self.session {
            Some(s) if s.index() == index => format!("pool {url} is preferred now; staying on it"),
            Some(s) => format!(
                "pool {url} is preferred now; leaving {} once it connects",
                s.url()
            ),
            None => format!("pool {url} is preferred now"),
        };
        out.push(notice(text));
    }

    fn url_of(&self, index: usize) -> PoolUrl {
        self.redirects[index]
            .clone()
            .unwrap_or_else(|| self.opts.pools[index].url.clone())
    }

    fn start_attempt(&mut self, index: usize, out: &mut Vec<Event>) {
        let url = self.url_of(index);
        let (tx, rx) = mpsc::channel();
        let tls = self.opts.tls.clone();
        let timeout = self.opts.connect_timeout;
        let target = url.clone();
        #[cfg(feature = "sv2")]
        let auth = self.sv2_auth(&url);
        // The thread ends on its own within the connect timeout (or when a stuck name lookup
        // returns); if the source has moved on by then, the send fails and the connection is
        // dropped.
        let spawned = std::thread::Builder::new()
            .name("stratum-connect".into())
            .spawn(move || {
                let link = match target.sv2 {
                    None => net::connect(&target, &tls, timeout).map(Link::V1),
                    #[cfg(feature = "sv2")]
                    Some(_) => sv2::session::Link::connect(&target, auth, timeout).map(Link::V2),
                    #[cfg(not(feature = "sv2"))]
                    Some(_) => Err(Error::new(
                        ErrorKind::Unavailable,
                        "this build has no Stratum V2 support",
                    )),
                };
                let _ = tx.send(link);
            });
        match spawned {
            Ok(_) => {
                self.board.set_status(index, PoolStatus::Connecting);
                self.attempt = Some(Attempt { index, url, rx });
            }
            Err(e) => {
                // Out of threads: a failed attempt, retried after backoff.
                let now = Instant::now();
                self.policy.connect_failed(index, now);
                self.board.set_status(index, PoolStatus::Dead);
                self.redirects[index] = None;
                let next = self.next_step(now);
                out.push(notice(format!(
                    "pool {url} cannot start a thread: {e}, {next}"
                )));
            }
        }
    }

    /// Collects the attempt's result if it is in within `wait`.
    fn check_attempt(&mut self, wait: Duration, out: &mut Vec<Event>) {
        let Some(attempt) = &self.attempt else {
            return;
        };
        let result = match attempt.rx.recv_timeout(wait) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => return,
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::new(
                ErrorKind::Io,
                "the connecting thread ended without an answer",
            )),
        };
        let Some(Attempt { index, url, .. }) = self.attempt.take() else {
            return;
        };
        let now = Instant::now();
        match result {
            Ok(link) => {
                self.policy.connected(index, now);
                if let Some(old) = self.session.take() {
                    out.push(notice(format!("pool {url} is back; leaving {}", old.url())));
                    self.close(old, out);
                }
                match link {
                    Link::V1(conn) => self.start_v1(index, url, conn, now),
                    #[cfg(feature = "sv2")]
                    Link::V2(link) => self.start_sv2(index, url, link, out),
                }
            }
            Err(e) => {
                self.policy.connect_failed(index, now);
                self.board.set_status(index, PoolStatus::Dead);
                self.redirects[index] = None;
                let next = self.next_step(now);
                out.push(notice(format!("pool {url} refused: {e}, {next}")));
            }
        }
    }

    /// What happens next, for a notice after a failure.
    fn next_step(&self, now: Instant) -> String {
        if let Some(s) = &self.session {
            return format!("staying on {}", s.url());
        }
        let (index, at) = self.policy.next_dial(now);
        format!(
            "trying {} in {}",
            self.url_of(index),
            show_wait(at.saturating_duration_since(now))
        )
    }

    /// Closes a session; its unanswered shares go back to the queue (or are reported lost
    /// once they have used up their resends).
    fn close(&mut self, session: Live, out: &mut Vec<Event>) {
        self.board.left(session.index());
        match session {
            Live::V1(session) => self.close_v1(session, out),
            #[cfg(feature = "sv2")]
            Live::V2(session) => self.close_sv2(session, out),
        }
    }

    /// Pool `pool`'s verdict on a share it was sent.
    fn answered(
        &mut self,
        pool: usize,
        share: Share,
        verdict: crate::Verdict,
        out: &mut Vec<Event>,
    ) {
        self.board.verdict(pool, &verdict);
        self.queue.answered(&share);
        out.push(Event::Verdict { share, verdict });
    }

    /// The end of the session at `current` (pool `index`) that a pool's request to reconnect
    /// to `host:port` leads to, or `None` with a notice when the target is refused.
    fn reconnect_ending(
        &self,
        index: usize,
        current: &PoolUrl,
        host: Option<String>,
        port: Option<u16>,
        wait: Duration,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        let pool = &self.opts.pools[index];
        match reconnect_target(
            &pool.url,
            current,
            &pool.allow_reconnect_hosts,
            host.as_deref(),
            port,
        ) {
            Ok(url) => Some(Ending::Reconnect { url, wait }),
            Err(why) => {
                out.push(notice(format!(
                    "pool {current} asked to reconnect elsewhere; refused, staying: {why}"
                )));
                None
            }
        }
    }

    /// `URL as USER (pool I of N)`.
    fn session_line(&self, session: &Live) -> String {
        format!(
            "{} as {} (pool {} of {})",
            session.url(),
            for_terminal(session.user()),
            session.index() + 1,
            self.opts.pools.len()
        )
    }

    fn end_session(&mut self, session: Live, ending: Ending, out: &mut Vec<Event>) {
        let index = session.index();
        let url = session.url().clone();
        self.last_session = Some(self.session_line(&session));
        self.close(session, out);
        let now = Instant::now();
        match ending {
            Ending::Failed(reason) => {
                self.policy.dropped(now);
                self.board.set_status(index, PoolStatus::Dead);
                // A redirect is used until it fails; then the configured address again.
                self.redirects[index] = None;
                let next = self.next_step(now);
                out.push(notice(format!("pool {url} {reason}, {next}")));
            }
            Ending::Reconnect { url: to, wait } => {
                // Not dead: it asked to be dialled again.
                self.board.set_status(index, PoolStatus::Connecting);
                let at = self.policy.reconnect_requested(wait, now).unwrap_or(now);
                out.push(notice(format!(
                    "pool {url} asked to reconnect to {to} in {}; reconnecting in {}",
                    show_wait(wait),
                    show_wait(at.saturating_duration_since(now))
                )));
                self.redirects[index] = (to != self.opts.pools[index].url).then_some(to);
            }
        }
    }

    /// Runs the session until `wake`, the first events, or its end.
    fn service(&mut self, mut session: Live, wake: Instant, out: &mut Vec<Event>) {
        let ending = match &mut session {
            Live::V1(s) => self.service_v1(s, wake, out),
            #[cfg(feature = "sv2")]
            Live::V2(s) => self.service_sv2(s, wake, out),
        };
        match ending {
            None => self.session = Some(session),
            Some(ending) => self.end_session(session, ending, out),
        }
    }
}

mod board;
mod submit;
mod v1;
#[cfg(feature = "sv2")]
mod v2;
#[cfg(feature = "sv2")]
use v2::check_sv2_pool;

#[cfg(not(feature = "sv2"))]
fn check_sv2_pool(_: &PoolOptions, url: &PoolUrl) -> Result<(), Error> {
    Err(Error::new(
        ErrorKind::Unavailable,
        format!("pool {url}: this build has no Stratum V2 support (the `sv2` feature)"),
    ))
}

fn lost_connection(e: &Error) -> Ending {
    Ending::Failed(format!("lost the connection: {e}"))
}

/// A notice for the operator. Everything the source says passes through the sanitiser once
/// more as a whole, so no error text from below (a TLS failure naming what the certificate
/// presented, say) reaches a terminal raw either.
fn notice(text: String) -> Event {
    Event::Notice(for_terminal_max(&text, MAX_NOTICE))
}

impl Source for PoolSource {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        self.take_switch(&mut out);
        loop {
            // A result that came in between two waits is reported now, before any wait.
            self.check_attempt(Duration::ZERO, &mut out);
            if !out.is_empty() {
                return Ok(out);
            }
            let now = Instant::now();
            match self.policy.next(now) {
                Decision::GiveUp(reason) => return Err(Error::invalid(reason)),
                Decision::Dial(index) => self.start_attempt(index, &mut out),
                Decision::Abandon(reason) => {
                    if let Some(a) = self.attempt.take() {
                        self.board.set_status(a.index, PoolStatus::Dead);
                        self.redirects[a.index] = None;
                        let next = self.next_step(now);
                        out.push(notice(format!("pool {} {reason}, {next}", a.url)));
                    }
                }
                Decision::Drop(reason) => match self.session.take() {
                    Some(session) => self.end_session(session, Ending::Failed(reason), &mut out),
                    // Never out of step, but if it were, the policy must not ask again.
                    None => {
                        self.policy.dropped(now);
                    }
                },
                Decision::Wait(until) => {
                    let wake = until.map_or(deadline, |t| t.min(deadline));
                    if let Some(session) = self.session.take() {
                        self.service(session, wake, &mut out);
                    } else if self.attempt.is_some() {
                        self.check_attempt(wake.saturating_duration_since(now), &mut out);
                    } else {
                        std::thread::sleep(wake.saturating_duration_since(now));
                    }
                }
            }
            if !out.is_empty() || Instant::now() >= deadline {
                return Ok(out);
            }
        }
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        let mut out = Vec::new();
        match self.session.take() {
            Some(mut session) if session.is_ready() => {
                let ending = match &mut session {
                    Live::V1(s) => self.submit_on(s, share, 0, &mut out),
                    #[cfg(feature = "sv2")]
                    Live::V2(s) => self.submit_on(s, share, 0, &mut out),
                };
                match ending {
                    Some(ending) => self.end_session(session, ending, &mut out),
                    None => self.session = Some(session),
                }
            }
            session => {
                self.session = session;
                out.extend(self.queue.push(share));
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        match (&self.session, &self.attempt, &self.last_session) {
            (Some(s), _, _) => self.session_line(s),
            (None, Some(a), _) => format!("connecting to {}", a.url),
            (None, None, Some(last)) => format!("{last}, disconnected"),
            (None, None, None) => "waiting to reconnect".into(),
        }
    }
}

#[cfg(test)]
mod tests;
