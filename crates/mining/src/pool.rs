//! A Stratum V1 pool session with an ordered failover list: the [`Source`] a miner uses.
//!
//! [`PoolSource`] owns the sockets; the protocol lives in [`Client`]. Connections are opened on
//! a short-lived helper thread so [`Source::poll`] never blocks longer than its timeout, even
//! while a TLS handshake with a slow pool is under way; everything else happens inside `poll`.

use super::net::{self, Conn, LineReader, PoolUrl, ReadLine, TlsSettings};
use super::stratum::{Client, ClientEvent, Config, MAX_UNANSWERED_SUBMITS};
use super::{Event, Share, Source, Verdict};
use sha256d::{Error, ErrorKind, Target};
use std::collections::VecDeque;
use std::fmt;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Shares waiting for a connection beyond this many are reported as lost, oldest first, so a
/// long outage cannot grow the queue without end.
pub const MAX_QUEUED_SHARES: usize = 64;

/// While a connection attempt is in flight, reads wake this often to collect its result.
const ATTEMPT_POLL: Duration = Duration::from_millis(20);

/// A pool that has taken none of our bytes for this long stopped reading; it is left.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// The most bytes kept for a pool that is slow to read them: a thousand submits. More means
/// the pool stopped reading; it is left rather than buffered for without end.
const MAX_UNSENT: usize = 256 * 1024;

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
}

impl PoolConfig {
    /// Pool `url` with worker `user` and password `pass`.
    pub fn new(url: PoolUrl, user: impl Into<String>, pass: impl Into<String>) -> Self {
        PoolConfig {
            url,
            user: user.into(),
            pass: pass.into(),
        }
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("url", &self.url.to_string())
            .field("user", &self.user)
            .field("pass", &"<hidden>")
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
    /// While on a lower pool, how often a preferred pool is tried again.
    pub retry_primary: Duration,
    /// How long a TCP connect (and TLS handshake) may take.
    pub connect_timeout: Duration,
    /// A pool silent for this long is taken as gone (pools send work every minute or so).
    pub idle_timeout: Duration,
}

impl PoolOptions {
    /// `pools` with version rolling on, no suggested difficulty, no extranonce subscription,
    /// the Mozilla roots for TLS, backoff from 1 s doubling to 30 s, the first pool retried
    /// every 30 s, 10 s to connect, and 180 s of silence before a reconnect.
    pub fn new(pools: Vec<PoolConfig>) -> Self {
        PoolOptions {
            pools,
            version_rolling: true,
            suggest_difficulty: None,
            extranonce_subscribe: false,
            tls: TlsSettings::default(),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            retry_primary: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(180),
        }
    }
}

/// Per-pool retry state.
struct PoolState {
    backoff: Duration,
    next_attempt: Instant,
    /// Set when the pool's latest answer to `mining.authorize` was a refusal.
    auth_rejected: Option<String>,
    /// Where `client.reconnect` sent us, used for the next connection only.
    redirect: Option<PoolUrl>,
}

struct Session {
    index: usize,
    url: PoolUrl,
    conn: Conn,
    reader: LineReader,
    client: Client,
    last_heard: Instant,
    /// Lines the socket had no room for yet, in order.
    unsent: Vec<u8>,
    /// Since when bytes have waited to go out; cleared once all are out.
    stalled_since: Option<Instant>,
}

struct Attempt {
    index: usize,
    url: PoolUrl,
    rx: mpsc::Receiver<Result<Conn, Error>>,
}

/// Why a session ended.
enum Ending {
    Failed(String),
    Reconnect { url: PoolUrl, wait: Duration },
}

/// A Stratum V1 job source over an ordered list of pools.
///
/// [`PoolSource::new`] only checks the options; the first [`Source::poll`] starts connecting
/// to the first pool. A pool that refuses the connection, drops it, sends garbage or refuses
/// the credentials is left for the next one, and retried with exponential backoff; while on
/// a lower pool the preferred ones are retried every [`PoolOptions::retry_primary`], and the
/// source moves back as soon as one answers. Shares submitted while no pool is usable wait
/// (at most [`MAX_QUEUED_SHARES`]) and are sent when a connection is back if their job still
/// exists there; every other share gets a stale rejection, so none is lost silently.
///
/// `poll` fails only when every pool has refused the credentials and none ever accepted
/// them; a miner whose pools all go down keeps retrying and reports it as notices.
pub struct PoolSource {
    opts: PoolOptions,
    pools: Vec<PoolState>,
    session: Option<Session>,
    attempt: Option<Attempt>,
    queue: VecDeque<Share>,
    ever_authorized: bool,
    /// A `client.reconnect` wait: no connection is opened before it ends.
    hold_until: Option<Instant>,
    last_probe: Option<Instant>,
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
    /// sane backoff, a readable CA file when one is given) without connecting.
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
        if opts.connect_timeout.is_zero() || opts.idle_timeout.is_zero() {
            return Err(Error::invalid("connect and idle timeouts must be positive"));
        }
        if let Some(d) = opts.suggest_difficulty {
            Target::from_difficulty(d)?;
        }
        if opts.pools.iter().any(|p| p.url.tls) {
            opts.tls.client_config()?;
        }
        let now = Instant::now();
        let pools = opts
            .pools
            .iter()
            .map(|_| PoolState {
                backoff: opts.backoff_min,
                next_attempt: now,
                auth_rejected: None,
                redirect: None,
            })
            .collect();
        Ok(PoolSource {
            opts,
            pools,
            session: None,
            attempt: None,
            queue: VecDeque::new(),
            ever_authorized: false,
            hold_until: None,
            last_probe: None,
        })
    }

    fn url_of(&self, index: usize) -> PoolUrl {
        self.pools[index]
            .redirect
            .clone()
            .unwrap_or_else(|| self.opts.pools[index].url.clone())
    }

    fn start_attempt(&mut self, index: usize) {
        let url = self.url_of(index);
        let (tx, rx) = mpsc::channel();
        let tls = self.opts.tls.clone();
        let timeout = self.opts.connect_timeout;
        let target = url.clone();
        // The thread ends on its own within the connect timeout; if the source is gone by
        // then, the send fails and the connection is dropped.
        let spawned = std::thread::Builder::new()
            .name("stratum-connect".into())
            .spawn(move || {
                let _ = tx.send(net::connect(&target, &tls, timeout));
            });
        match spawned {
            Ok(_) => self.attempt = Some(Attempt { index, url, rx }),
            Err(e) => {
                // Out of threads: count it as a failed attempt, retried after backoff.
                let mut out = Vec::new();
                self.pool_failed(
                    index,
                    &url,
                    &format!("cannot start a thread: {e}"),
                    &mut out,
                );
            }
        }
    }

    /// Starts a connection when one is due: the first due pool when disconnected, or a
    /// preferred pool (at most every `retry_primary`) while on a lower one.
    fn maybe_connect(&mut self, now: Instant) {
        if self.attempt.is_some() || self.hold_until.is_some_and(|t| now < t) {
            return;
        }
        self.hold_until = None;
        let limit = self.session.as_ref().map_or(self.pools.len(), |s| s.index);
        let Some(index) = (0..limit).find(|&i| self.pools[i].next_attempt <= now) else {
            return;
        };
        if self.session.is_some() {
            if self
                .last_probe
                .is_some_and(|t| now < t + self.opts.retry_primary)
            {
                return;
            }
            self.last_probe = Some(now);
        }
        self.start_attempt(index);
    }

    /// When `maybe_connect` next has something to do, given the index of the pool in use.
    fn next_wake(&self, current: Option<usize>) -> Option<Instant> {
        if let Some(t) = self.hold_until {
            return Some(t);
        }
        let limit = current.unwrap_or(self.pools.len());
        let due = self.pools[..limit].iter().map(|p| p.next_attempt).min()?;
        match (current, self.last_probe) {
            (Some(_), Some(t)) => Some(due.max(t + self.opts.retry_primary)),
            _ => Some(due),
        }
    }

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
        match result {
            Ok(conn) => {
                if let Some(old) = self.session.take() {
                    out.push(Event::Notice(format!(
                        "pool {url} is back; leaving {}",
                        old.url
                    )));
                    let old_index = old.index;
                    self.close(old);
                    // Leaving is not the old pool's fault: it may be used again at once.
                    self.pools[old_index].next_attempt = Instant::now();
                }
                let pool = &self.opts.pools[index];
                let mut config = Config::new(pool.user.clone(), pool.pass.clone());
                config.version_rolling = self.opts.version_rolling;
                config.suggest_difficulty = self.opts.suggest_difficulty;
                config.extranonce_subscribe = self.opts.extranonce_subscribe;
                self.session = Some(Session {
                    index,
                    url,
                    conn,
                    reader: LineReader::new(),
                    client: Client::new(config),
                    last_heard: Instant::now(),
                    unsent: Vec::new(),
                    stalled_since: None,
                });
            }
            Err(e) => {
                let reason = format!("refused: {e}");
                self.pool_failed(index, &url, &reason, out);
            }
        }
    }

    /// Records a failure of pool `index` (reached at `url`), schedules its retry and says
    /// what happens next.
    fn pool_failed(&mut self, index: usize, url: &PoolUrl, reason: &str, out: &mut Vec<Event>) {
        let now = Instant::now();
        let state = &mut self.pools[index];
        state.next_attempt = now + state.backoff;
        state.backoff = (state.backoff * 2).min(self.opts.backoff_max);
        // A redirect is tried once; after a failure the configured address is used again.
        state.redirect = None;
        let next = match &self.session {
            Some(s) => format!("staying on {}", s.url),
            None => {
                let (i, at) = (0..self.pools.len())
                    .map(|i| (i, self.pools[i].next_attempt))
                    .min_by_key(|&(i, at)| (at.max(now), i))
                    .expect("PoolSource::new checked there is a pool");
                format!(
                    "trying {} in {}",
                    self.url_of(i),
                    show_wait(at.saturating_duration_since(now))
                )
            }
        };
        out.push(Event::Notice(format!("pool {url} {reason}, {next}")));
    }

    /// Closes a session; its unanswered shares go back to the front of the queue.
    fn close(&mut self, session: Session) {
        session.conn.shutdown();
        let mut unanswered = session.client_unanswered();
        while let Some(share) = unanswered.pop() {
            self.queue.push_front(share);
        }
    }

    fn end_session(&mut self, session: Session, ending: Ending, out: &mut Vec<Event>) {
        let index = session.index;
        let url = session.url.clone();
        self.close(session);
        match ending {
            Ending::Failed(reason) => self.pool_failed(index, &url, &reason, out),
            Ending::Reconnect { url: to, wait } => {
                out.push(Event::Notice(format!(
                    "pool {url} asked to reconnect to {to} in {}",
                    show_wait(wait)
                )));
                let now = Instant::now();
                let state = &mut self.pools[index];
                state.next_attempt = now + wait;
                state.redirect = (to != self.opts.pools[index].url).then_some(to);
                self.hold_until = Some(now + wait);
            }
        }
        while self.queue.len() > MAX_QUEUED_SHARES {
            if let Some(share) = self.queue.pop_front() {
                out.push(lost(share));
            }
        }
    }

    fn fatal(&self) -> Option<Error> {
        if self.ever_authorized || self.pools.iter().any(|p| p.auth_rejected.is_none()) {
            return None;
        }
        let reasons: Vec<&str> = self
            .pools
            .iter()
            .filter_map(|p| p.auth_rejected.as_deref())
            .collect();
        Some(Error::invalid(format!(
            "every pool rejected the credentials: {}",
            reasons.join("; ")
        )))
    }

    /// Handles the client's events for the session; returns why it must end, if it must.
    fn on_client_events(
        &mut self,
        session: &mut Session,
        events: Vec<ClientEvent>,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        for ev in events {
            match ev {
                ClientEvent::Job(job) => out.push(Event::Job(job)),
                ClientEvent::Difficulty(d) => out.push(Event::Difficulty(d)),
                ClientEvent::Verdict { share, verdict } => {
                    out.push(Event::Verdict { share, verdict })
                }
                ClientEvent::Notice(n) => out.push(Event::Notice(format!("{}: {n}", session.url))),
                ClientEvent::Authorized => {
                    let state = &mut self.pools[session.index];
                    state.backoff = self.opts.backoff_min;
                    state.auth_rejected = None;
                    self.ever_authorized = true;
                    out.push(Event::Notice(format!(
                        "connected to {} as {}",
                        session.url,
                        session.client.user()
                    )));
                }
                ClientEvent::AuthorizationFailed(msg) => {
                    self.pools[session.index].auth_rejected =
                        Some(format!("{}: {msg}", session.url));
                    return Some(Ending::Failed(msg));
                }
                ClientEvent::Reconnect { host, port, wait } => {
                    let url = PoolUrl {
                        tls: session.url.tls,
                        host: host.unwrap_or_else(|| session.url.host.clone()),
                        port: port.unwrap_or(session.url.port),
                    };
                    return Some(Ending::Reconnect { url, wait });
                }
                ClientEvent::Subscribed { .. } => {}
            }
        }
        None
    }

    /// Sends what the client has queued and the shares waiting for a connection; returns why
    /// the session must end, if it must.
    fn flush(&mut self, session: &mut Session, out: &mut Vec<Event>) -> Option<Ending> {
        for line in session.client.take_outgoing() {
            if let Err(e) = session.send(&line) {
                return Some(lost_connection(&e));
            }
        }
        if session.client.is_ready() {
            while let Some(share) = self.queue.pop_front() {
                if let Some(end) = self.submit_on(session, share, out) {
                    return Some(end);
                }
            }
        }
        session.pump().err().map(|e| lost_connection(&e))
    }

    /// Submits `share` on a ready session; returns why the session must end, if it must.
    fn submit_on(
        &mut self,
        session: &mut Session,
        share: Share,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        if !session.client.knows(&share.job) {
            out.push(stale_after_reconnect(share));
            return None;
        }
        if session.client.is_backlogged() {
            // The share goes to the next connection with the unanswered ones.
            self.queue.push_front(share);
            return Some(Ending::Failed(format!(
                "answered none of the last {MAX_UNANSWERED_SUBMITS} shares"
            )));
        }
        match session.client.submit(&share) {
            Ok(line) => session.send(&line).err().map(|e| lost_connection(&e)),
            Err(e) => {
                out.push(Event::Verdict {
                    share,
                    verdict: Verdict::Rejected {
                        reason: format!("not submitted: {e}"),
                        stale: false,
                    },
                });
                None
            }
        }
    }

    /// Queues a share for the next usable connection, reporting the oldest as lost past
    /// [`MAX_QUEUED_SHARES`].
    fn enqueue(&mut self, share: Share, out: &mut Vec<Event>) {
        self.queue.push_back(share);
        while self.queue.len() > MAX_QUEUED_SHARES {
            if let Some(old) = self.queue.pop_front() {
                out.push(lost(old));
            }
        }
    }

    /// Runs the session until `deadline`, the first events, or its end.
    fn service(&mut self, mut session: Session, deadline: Instant, out: &mut Vec<Event>) {
        let ending = self.service_inner(&mut session, deadline, out);
        match ending {
            None => self.session = Some(session),
            Some(ending) => self.end_session(session, ending, out),
        }
    }

    fn service_inner(
        &mut self,
        session: &mut Session,
        deadline: Instant,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        if let Some(end) = self.flush(session, out) {
            return Some(end);
        }
        let now = Instant::now();
        let idle_end = session.last_heard + self.opts.idle_timeout;
        if now >= idle_end {
            return Some(Ending::Failed(format!(
                "sent nothing for {}",
                show_wait(self.opts.idle_timeout)
            )));
        }
        let mut wake = deadline.min(idle_end);
        if let Some(t) = self.next_wake(Some(session.index)) {
            wake = wake.min(t.max(now));
        }
        if self.attempt.is_some() {
            wake = wake.min(now + ATTEMPT_POLL);
        }
        loop {
            if !session.reader.has_line() {
                // Set before every read: each read may take the whole of what is left.
                let left = wake.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                if let Err(e) = session.conn.set_read_timeout(Some(left)) {
                    return Some(lost_connection(&e));
                }
            }
            match session.reader.read_line(&mut session.conn) {
                Ok(ReadLine::Line(line)) => {
                    session.last_heard = Instant::now();
                    let events = match session.client.handle_line(&line) {
                        Ok(events) => events,
                        Err(e) => return Some(Ending::Failed(format!("sent bad data: {e}"))),
                    };
                    if let Some(end) = self.on_client_events(session, events, out) {
                        return Some(end);
                    }
                    if !session.reader.has_line() {
                        break;
                    }
                }
                Ok(ReadLine::TimedOut) => break,
                Ok(ReadLine::Partial) => {}
                Ok(ReadLine::Closed) => {
                    return Some(Ending::Failed("closed the connection".into()))
                }
                Err(e) if e.kind() == ErrorKind::Parse => {
                    return Some(Ending::Failed(format!("sent bad data: {e}")))
                }
                Err(e) => return Some(lost_connection(&e)),
            }
        }
        // Replies (pong, extranonce subscribe) and queued shares go out without waiting for
        // the next poll.
        self.flush(session, out)
    }
}

fn lost_connection(e: &Error) -> Ending {
    Ending::Failed(format!("lost the connection: {e}"))
}

impl Session {
    /// Sends `line`, or keeps it for [`Session::pump`] when the socket has no room.
    fn send(&mut self, line: &str) -> Result<(), Error> {
        if self.unsent.len() + line.len() + 1 > MAX_UNSENT {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the pool left {} bytes we sent unread", self.unsent.len()),
            ));
        }
        self.unsent.extend_from_slice(line.as_bytes());
        self.unsent.push(b'\n');
        self.pump()
    }

    /// Writes what the socket takes without waiting; fails once the pool has taken nothing
    /// for [`WRITE_STALL`].
    fn pump(&mut self) -> Result<(), Error> {
        while !self.unsent.is_empty() {
            match self.conn.write(&self.unsent) {
                // A TLS connection whose own buffer is full.
                Ok(0) => break,
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if net::is_full(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        match self.conn.flush() {
            Err(e) if !net::is_full(&e) => return Err(e.into()),
            _ => {}
        }
        if self.unsent.is_empty() && !self.conn.has_unsent() {
            self.stalled_since = None;
            return Ok(());
        }
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= WRITE_STALL {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "the pool left what we sent unread for {}",
                    show_wait(WRITE_STALL)
                ),
            ));
        }
        Ok(())
    }

    fn client_unanswered(mut self) -> Vec<Share> {
        self.client.take_unanswered()
    }
}

fn show_wait(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64().round())
    }
}

fn stale_after_reconnect(share: Share) -> Event {
    Event::Verdict {
        share,
        verdict: Verdict::Rejected {
            reason: "stale: its job did not survive the reconnection to the pool".into(),
            stale: true,
        },
    }
}

fn lost(share: Share) -> Event {
    Event::Verdict {
        share,
        verdict: Verdict::Rejected {
            reason: format!(
                "not submitted: {MAX_QUEUED_SHARES} newer shares were already waiting for a pool"
            ),
            stale: true,
        },
    }
}

impl Source for PoolSource {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        loop {
            if let Some(e) = self.fatal() {
                return Err(e);
            }
            self.check_attempt(Duration::ZERO, &mut out);
            if let Some(e) = self.fatal() {
                return Err(e);
            }
            let now = Instant::now();
            self.maybe_connect(now);
            if let Some(session) = self.session.take() {
                self.service(session, deadline, &mut out);
            } else {
                let wake = self.next_wake(None).map_or(deadline, |t| t.min(deadline));
                let wait = wake.saturating_duration_since(now);
                if self.attempt.is_some() {
                    self.check_attempt(wait, &mut out);
                } else if !wait.is_zero() {
                    std::thread::sleep(wait);
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
            Some(mut session) if session.client.is_ready() => {
                match self.submit_on(&mut session, share, &mut out) {
                    Some(ending) => self.end_session(session, ending, &mut out),
                    None => self.session = Some(session),
                }
            }
            session => {
                self.session = session;
                self.enqueue(share, &mut out);
            }
        }
        Ok(out)
    }

    fn describe(&self) -> String {
        match (&self.session, &self.attempt) {
            (Some(s), _) => format!(
                "{} as {} (pool {} of {})",
                s.url,
                s.client.user(),
                s.index + 1,
                self.pools.len()
            ),
            (None, Some(a)) => format!("connecting to {}", a.url),
            (None, None) => "waiting to reconnect".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;
    use std::sync::Arc;

    fn url(text: &str) -> PoolUrl {
        PoolUrl::parse(text).expect("valid test URL")
    }

    #[test]
    fn options_are_checked_without_connecting() {
        let pool = PoolConfig::new(url("stratum+tcp://127.0.0.1:1"), "w", "secret");
        assert!(!format!("{pool:?}").contains("secret"));
        assert!(PoolSource::new(PoolOptions::new(vec![pool.clone()])).is_ok());
        let cases = [
            (PoolOptions::new(vec![]), "no pool"),
            (
                PoolOptions::new(vec![PoolConfig::new(url("stratum+tcp://h:1"), "", "")]),
                "no worker name",
            ),
            (
                PoolOptions {
                    backoff_min: Duration::from_secs(5),
                    backoff_max: Duration::from_secs(1),
                    ..PoolOptions::new(vec![pool.clone()])
                },
                "backoff",
            ),
            (
                PoolOptions {
                    suggest_difficulty: Some(-1.0),
                    ..PoolOptions::new(vec![pool.clone()])
                },
                "difficulty",
            ),
            (
                PoolOptions {
                    tls: TlsSettings::default().with_ca_file("/nonexistent/ca.pem"),
                    ..PoolOptions::new(vec![PoolConfig::new(url("stratum+ssl://h:1"), "w", "x")])
                },
                "CA file",
            ),
        ];
        for (opts, why) in cases {
            let err = PoolSource::new(opts).expect_err(why);
            assert!(err.message().contains(why), "{err}");
        }
    }

    fn share(nonce: u32) -> Share {
        let job = Arc::new(Job::blank());
        let mut header = job.header(&[0; 4], 0);
        header.nonce = nonce;
        Share {
            hash: header.block_hash(),
            job,
            extranonce2: vec![0; 4],
            header,
            is_block: false,
            stale: false,
        }
    }

    /// A pool that accepts the connection and never answers: shares wait for it, but no more
    /// than the queue holds.
    #[test]
    fn shares_for_a_pool_that_never_authorizes_stay_bounded() {
        // The kernel completes the connection; nobody ever reads or answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ephemeral port");
        let port = listener.local_addr().expect("bound").port();
        let pool = PoolConfig::new(url(&format!("stratum+tcp://127.0.0.1:{port}")), "w", "x");
        let mut src = PoolSource::new(PoolOptions::new(vec![pool])).expect("valid");
        let start = Instant::now();
        while !src.describe().contains(" as w ") {
            assert!(start.elapsed() < Duration::from_secs(10), "never connected");
            src.poll(Duration::from_millis(50)).expect("not fatal");
        }
        let mut events = Vec::new();
        for nonce in 0..=MAX_QUEUED_SHARES as u32 {
            events.extend(src.submit(share(nonce)).expect("not fatal"));
        }
        match &events[..] {
            [Event::Verdict {
                share,
                verdict:
                    Verdict::Rejected {
                        reason,
                        stale: true,
                    },
            }] => {
                assert_eq!(share.header.nonce, 0, "the oldest goes");
                assert!(
                    reason.contains("newer shares were already waiting"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(src.queue.len(), MAX_QUEUED_SHARES);
        drop(listener);
    }

    #[test]
    fn poll_with_nothing_listening_keeps_its_timeout_and_reports() {
        let (_held, addr) = crate::net::refusing_address();
        let pool = PoolConfig::new(url(&format!("stratum+tcp://{addr}")), "w", "x");
        let mut opts = PoolOptions::new(vec![pool]);
        opts.backoff_min = Duration::from_secs(60);
        opts.backoff_max = Duration::from_secs(60);
        let mut src = PoolSource::new(opts).expect("valid");
        let start = Instant::now();
        let events = src.poll(Duration::from_secs(5)).expect("not fatal");
        assert!(start.elapsed() < Duration::from_secs(5));
        match &events[..] {
            [Event::Notice(n)] => assert!(
                n.starts_with(&format!("pool stratum+tcp://{addr} refused: "))
                    && n.ends_with(&format!("trying stratum+tcp://{addr} in 60 s")),
                "{n}"
            ),
            other => panic!("{other:?}"),
        }
        let start = Instant::now();
        assert_eq!(src.poll(Duration::from_millis(200)), Ok(vec![]));
        let took = start.elapsed();
        // Generous above: a loaded 2-core machine can deschedule the thread for a while.
        assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5));
        assert_eq!(src.describe(), "waiting to reconnect");
    }
}
