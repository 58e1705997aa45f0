//! The Stratum V1 half of the pool source: the same failover list, share queue and events
//! as V2, over a line-based session (`pool_session.rs`) driven by the [`Client`] state
//! machine. What only V1 has: a subscription the next connection to the same address asks
//! to resume, `client.reconnect` (followed only to the hosts the pool's config allows), a
//! pool that must send something every [`PoolOptions::idle_timeout`](super::PoolOptions),
//! and the share-answer timeout.

use super::submit::Wire;
use super::{lost_connection, notice, Ending, Live, PoolSource, ATTEMPT_POLL, LAST_ANSWERS};
use crate::failover::show_wait;
use crate::net::{Conn, PoolUrl, ReadLine};
use crate::pool_session::Session;
use crate::sanitize::for_terminal;
use crate::stratum::{Client, ClientEvent, Config, MAX_UNANSWERED_SUBMITS};
use crate::{Event, Share};
use sha256d::{Error, ErrorKind};
use std::time::Instant;

impl Wire for Session {
    type Message = String;
    const MAX_UNANSWERED: usize = MAX_UNANSWERED_SUBMITS;
    const TIMES_ANSWERS: bool = true;

    fn take_outgoing(&mut self) -> Vec<String> {
        self.client.take_outgoing()
    }

    fn send_message(&mut self, line: &String) -> Result<(), Error> {
        self.send(line)
    }

    fn takes_shares(&self) -> bool {
        self.client.is_ready()
    }

    /// A queued share whose job the new connection does not have. With a new extranonce1
    /// the pool would rebuild a different coinbase, so even a job id it still knows cannot
    /// take the share.
    fn stale_reason(&self, share: &Share) -> Option<String> {
        if self.client.knows(&share.job) {
            return None;
        }
        let moved = self
            .client
            .extranonce1()
            .is_some_and(|e| e != share.job.extranonce1.as_slice());
        Some(if moved {
            "stale: the pool gave the new connection another extranonce1, so the share's \
             coinbase is not one the pool can rebuild"
                .into()
        } else {
            "stale: its job did not survive the reconnection to the pool".into()
        })
    }

    fn is_backlogged(&self) -> bool {
        self.client.is_backlogged()
    }

    fn encode_submit(&mut self, share: &Share) -> Result<String, Error> {
        self.client.submit(share)
    }
}

impl PoolSource {
    /// Starts the session on a fresh connection, asking to resume the pool's last
    /// subscription if the connection goes where that one did.
    pub(super) fn start_v1(&mut self, index: usize, url: PoolUrl, conn: Conn, now: Instant) {
        let pool = &self.opts.pools[index];
        let mut config = Config::new(pool.user.clone(), pool.pass.clone());
        config.version_rolling = self.opts.version_rolling;
        config.suggest_difficulty = self.opts.suggest_difficulty;
        config.extranonce_subscribe = self.opts.extranonce_subscribe;
        config.resume = self.resume[index]
            .as_ref()
            .filter(|(at, _)| *at == url)
            .map(|(_, id)| id.clone());
        let client = Client::new(config);
        self.session = Some(Live::V1(Session::new(index, url, conn, client, now)));
    }

    /// Closes the session; its unanswered shares go back to the queue (or are reported lost
    /// once they have used up their resends).
    pub(super) fn close_v1(&mut self, mut session: Session, out: &mut Vec<Event>) {
        self.read_last_answers(&mut session, out);
        session.conn.shutdown();
        // A session that never subscribed (a refused resume among them) leaves nothing to
        // resume: the next connection starts afresh.
        self.resume[session.index] = session
            .client
            .session_id()
            .map(|id| (session.url.clone(), id.to_string()));
        out.extend(self.queue.requeue(session.client.take_unanswered()));
    }

    /// Reads the verdicts the pool sent before the session ended. A pool that answers a share
    /// and then closes has counted it; a write of ours that failed first (the pool's reset)
    /// must not leave that share unanswered, to be sent again where it is stale.
    fn read_last_answers(&mut self, session: &mut Session, out: &mut Vec<Event>) {
        let end = Instant::now() + LAST_ANSWERS;
        loop {
            if !session.reader.has_line() {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() || session.conn.set_read_timeout(Some(left)).is_err() {
                    return;
                }
            }
            match session.reader.read_line(&mut session.conn) {
                Ok(ReadLine::Line(line)) => {
                    let Ok(events) = session.client.handle_line(&line) else {
                        return;
                    };
                    for event in events {
                        if let ClientEvent::Verdict { share, verdict } = event {
                            self.answered(session.index, share, verdict, out);
                        }
                    }
                }
                Ok(ReadLine::Partial) => {}
                _ => return,
            }
        }
    }

    /// Handles the client's events for the session; returns why it must end, if it must.
    fn on_client_events(
        &mut self,
        session: &mut Session,
        events: Vec<ClientEvent>,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        let now = Instant::now();
        for ev in events {
            match ev {
                ClientEvent::Job(job) => {
                    self.policy.work(now);
                    self.board
                        .job(session.index, job.share_target.difficulty_float());
                    out.push(Event::Job(job));
                }
                ClientEvent::Difficulty(d) => out.push(Event::Difficulty(d)),
                ClientEvent::Verdict { share, verdict } => {
                    self.policy.share_answered(now);
                    self.answered(session.index, share, verdict, out);
                }
                ClientEvent::Notice(n) => out.push(notice(format!("{}: {n}", session.url))),
                ClientEvent::Authorized => {
                    self.policy.authorized(now);
                    out.push(notice(format!(
                        "connected to {} as {}",
                        session.url,
                        for_terminal(session.client.user())
                    )));
                }
                ClientEvent::AuthorizationFailed(msg) => {
                    self.policy
                        .auth_rejected(&format!("{}: {msg}", session.url), now);
                    return Some(Ending::Failed(msg));
                }
                ClientEvent::Reconnect { host, port, wait } => {
                    let end =
                        self.reconnect_ending(session.index, &session.url, host, port, wait, out);
                    if end.is_some() {
                        return end;
                    }
                }
                ClientEvent::Subscribed { .. } => {}
            }
        }
        None
    }

    /// Sends what is queued, then what the socket had no room for before; returns why the
    /// session must end, if it must.
    fn flush(&mut self, session: &mut Session, out: &mut Vec<Event>) -> Option<Ending> {
        if let Some(end) = self.flush_queued(session, out) {
            return Some(end);
        }
        session.pump().err().map(|e| lost_connection(&e))
    }

    /// Runs the session until `wake`, the first events, or its end.
    pub(super) fn service_v1(
        &mut self,
        session: &mut Session,
        wake: Instant,
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
        let mut wake = wake.min(idle_end);
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
