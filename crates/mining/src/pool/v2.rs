//! The Stratum V2 half of the pool source: the same failover list, share queue and events
//! as V1, over an SV2 session. The differences from V1: the pool's authority key is checked
//! in the handshake (on the connecting thread), a refused channel counts as refused
//! credentials, and the share-answer timeout is not armed, since an SV2 pool acknowledges
//! shares in batches (SRI's pool every `share_batch_size` shares) and may rightly leave a few
//! unanswered for minutes.

use super::submit::Wire;
use super::{notice, Ending, Live, PoolOptions, PoolSource, PoolStatus, LAST_ANSWERS};
use crate::net::{PoolUrl, Sv2Endpoint};
use crate::sanitize::for_terminal;
use crate::sv2::client::{Client, ClientEvent, Config};
use crate::sv2::session::{Link, Received, Session};
use crate::sv2::transport::Frame;
use crate::sv2::{AuthorityPublicKey, ServerAuth};
use crate::{Event, Share};
use sha256d::Error;
use std::time::{Duration, Instant};

/// Checks a `stratum2+tcp://` pool of the options: it needs an authority key unless the check
/// is skipped explicitly.
pub(super) fn check_sv2_pool(opts: &PoolOptions, url: &PoolUrl) -> Result<(), Error> {
    if let Some(key) = url.sv2.and_then(|e| e.authority_key) {
        if AuthorityPublicKey::from_bytes(key).is_none() {
            return Err(Error::invalid(format!(
                "pool {url}: the authority key is not a valid x-only public key"
            )));
        }
    }
    match url.sv2 {
        Some(Sv2Endpoint {
            authority_key: None,
        }) if !opts.sv2_insecure_skip_authority_check => Err(Error::invalid(format!(
            "pool {url} has no authority key: write it at the end of the URL \
             (stratum2+tcp://host:port/KEY, from the pool's operator) so the pool is \
             authenticated, or skip the check explicitly (insecure: anyone on the path can \
             then pose as the pool and take the hashrate)"
        ))),
        _ => Ok(()),
    }
}

impl PoolSource {
    pub(super) fn sv2_auth(&self, url: &PoolUrl) -> ServerAuth {
        match url.sv2.and_then(|e| e.authority_key) {
            Some(key) => ServerAuth::Pinned(
                AuthorityPublicKey::from_bytes(key)
                    .expect("PoolSource::new checked every pool's authority key"),
            ),
            // Only reached when the options skip the check explicitly (checked in `new`).
            None => ServerAuth::InsecureNoAuthorityCheck,
        }
    }

    /// Starts the session on a handshaken link.
    pub(super) fn start_sv2(
        &mut self,
        index: usize,
        url: PoolUrl,
        link: Link,
        out: &mut Vec<Event>,
    ) {
        let pool = &self.opts.pools[index];
        let mut config = Config::new(pool.user.clone(), self.opts.sv2_channel);
        config.version_rolling = self.opts.version_rolling;
        config.nominal_hash_rate = self.opts.sv2_nominal_hash_rate;
        config.endpoint_host = url.host.clone();
        config.endpoint_port = url.port;
        if url.sv2.is_some_and(|e| e.authority_key.is_none()) {
            out.push(notice(format!(
                "WARNING: pool {url} is not authenticated (no authority key; the check is \
                 skipped): anyone on the path can pose as it and take the hashrate"
            )));
        }
        match Session::new(index, url.clone(), link, Client::new(config)) {
            Ok(session) => self.session = Some(Live::V2(session)),
            Err(e) => {
                let now = Instant::now();
                self.policy.dropped(now);
                self.board.set_status(index, PoolStatus::Dead);
                let next = self.next_step(now);
                out.push(notice(format!("pool {url}: {e}, {next}")));
            }
        }
    }

    /// Closes the session once the verdicts already on their way are read (as for V1, a
    /// pool may answer and then close); its unanswered shares go back to the queue.
    pub(super) fn close_sv2(&mut self, mut session: Session, out: &mut Vec<Event>) {
        let end = Instant::now() + LAST_ANSWERS;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Received::Frame(frame) = session.receive(left) else {
                break;
            };
            let Ok(events) = session.client.handle_frame(&frame) else {
                break;
            };
            for event in events {
                if let ClientEvent::Verdict { share, verdict } = event {
                    self.answered(session.index, share, verdict, out);
                }
            }
        }
        session.shutdown();
        out.extend(self.queue.requeue(session.client.take_unanswered()));
    }

    fn on_sv2_events(
        &mut self,
        session: &mut Session,
        events: Vec<ClientEvent>,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        let now = Instant::now();
        for ev in events {
            match ev {
                ClientEvent::ChannelOpened { .. } => {
                    self.policy.authorized(now);
                    out.push(notice(format!(
                        "connected to {} as {}",
                        session.url,
                        for_terminal(session.client.user())
                    )));
                }
                ClientEvent::Job(job) => {
                    self.policy.work(now);
                    self.board
                        .job(session.index, job.share_target.difficulty_float());
                    out.push(Event::Job(job));
                }
                ClientEvent::Difficulty(d) => out.push(Event::Difficulty(d)),
                ClientEvent::Verdict { share, verdict } => {
                    self.answered(session.index, share, verdict, out)
                }
                ClientEvent::Refused(why) => {
                    self.policy
                        .auth_rejected(&format!("{}: {why}", session.url), now);
                    return Some(Ending::Failed(why));
                }
                ClientEvent::Reconnect { host, port } => {
                    let end = self.reconnect_ending(
                        session.index,
                        &session.url,
                        host,
                        port,
                        Duration::ZERO,
                        out,
                    );
                    if end.is_some() {
                        return end;
                    }
                }
                ClientEvent::Notice(n) => out.push(notice(format!("{}: {n}", session.url))),
            }
        }
        None
    }

    /// Runs the session until `wake`, the first events, or its end.
    pub(super) fn service_sv2(
        &mut self,
        session: &mut Session,
        wake: Instant,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        if let Some(end) = self.flush_queued(session, out) {
            return Some(end);
        }
        let mut wake = wake;
        if self.attempt.is_some() {
            wake = wake.min(Instant::now() + super::ATTEMPT_POLL);
        }
        loop {
            let left = wake.saturating_duration_since(Instant::now());
            match session.receive(left) {
                Received::Frame(frame) => {
                    let events = match session.client.handle_frame(&frame) {
                        Ok(events) => events,
                        Err(e) => return Some(Ending::Failed(format!("sent bad data: {e}"))),
                    };
                    let had_events = !events.is_empty();
                    if let Some(end) = self.on_sv2_events(session, events, out) {
                        return Some(end);
                    }
                    if let Some(end) = self.flush_queued(session, out) {
                        return Some(end);
                    }
                    if had_events || left.is_zero() {
                        break;
                    }
                }
                Received::TimedOut => break,
                Received::Failed(why) => return Some(Ending::Failed(why)),
            }
        }
        None
    }
}

impl Wire for Session {
    type Message = Frame;
    const MAX_UNANSWERED: usize = crate::sv2::client::MAX_UNANSWERED_SUBMITS;
    const TIMES_ANSWERS: bool = false;

    fn take_outgoing(&mut self) -> Vec<Frame> {
        self.client.take_outgoing()
    }

    fn send_message(&mut self, frame: &Frame) -> Result<(), Error> {
        self.send(frame)
    }

    fn takes_shares(&self) -> bool {
        self.client.is_ready()
    }

    fn stale_reason(&self, share: &Share) -> Option<String> {
        (!self.client.knows(&share.job)).then(|| self.client.stale_reason(&share.job).into())
    }

    fn is_backlogged(&self) -> bool {
        self.client.is_backlogged()
    }

    fn encode_submit(&mut self, share: &Share) -> Result<Frame, Error> {
        self.client.submit(share)
    }
}
