//! The way a share leaves the source, the same on every protocol: a share whose job the
//! session does not have is stale, a session whose pool stopped answering is left with the
//! share queued for the next one, and a share the client cannot encode is rejected. What
//! differs between V1 and V2 (the messages, the stale reason, the answer timeout) is the
//! session's [`Wire`].

use super::{lost_connection, Ending, PoolSource};
use crate::{Event, Share, Verdict};
use sha256d::Error;
use std::time::Instant;

/// What the share path needs of a live session.
pub(super) trait Wire {
    /// A protocol message as the client queues it.
    type Message;

    /// The most shares the client lets go unanswered before its pool counts as gone.
    const MAX_UNANSWERED: usize;

    /// Whether a sent share arms the failover's answer timeout. A pool that acknowledges
    /// shares in batches may rightly leave a few unanswered for minutes; its session does
    /// not.
    const TIMES_ANSWERS: bool;

    /// The messages the client has queued (replies, subscriptions), in order.
    fn take_outgoing(&mut self) -> Vec<Self::Message>;

    /// Sends `message` on the connection.
    fn send_message(&mut self, message: &Self::Message) -> Result<(), Error>;

    /// Whether the session takes shares (authorized, or its channel open).
    fn takes_shares(&self) -> bool;

    /// Why `share` is stale here, if its job is not one this session can take.
    fn stale_reason(&self, share: &Share) -> Option<String>;

    /// Whether [`Wire::MAX_UNANSWERED`] shares wait for their verdicts.
    fn is_backlogged(&self) -> bool;

    /// The submission of `share`, counted as unanswered until its verdict.
    fn encode_submit(&mut self, share: &Share) -> Result<Self::Message, Error>;
}

impl PoolSource {
    /// Sends what the client has queued and, once the session takes shares, the shares
    /// waiting for a connection; returns why the session must end, if it must.
    pub(super) fn flush_queued<W: Wire>(
        &mut self,
        session: &mut W,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        for message in session.take_outgoing() {
            if let Err(e) = session.send_message(&message) {
                return Some(lost_connection(&e));
            }
        }
        if session.takes_shares() {
            while let Some((share, sends)) = self.queue.pop() {
                if let Some(end) = self.submit_on(session, share, sends, out) {
                    return Some(end);
                }
            }
        }
        None
    }

    /// Submits `share`, sent `sends` times before, on a session that takes shares; returns
    /// why the session must end, if it must.
    pub(super) fn submit_on<W: Wire>(
        &mut self,
        session: &mut W,
        share: Share,
        sends: u32,
        out: &mut Vec<Event>,
    ) -> Option<Ending> {
        if let Some(reason) = session.stale_reason(&share) {
            out.push(Event::Verdict {
                share,
                verdict: Verdict::Rejected {
                    reason,
                    stale: true,
                },
            });
            return None;
        }
        if session.is_backlogged() {
            // The share goes to the next connection with the unanswered ones.
            self.queue.unpop(share, sends);
            return Some(Ending::Failed(format!(
                "answered none of the last {} shares",
                W::MAX_UNANSWERED
            )));
        }
        match session.encode_submit(&share) {
            Ok(message) => {
                self.queue.sent(&share, sends);
                if W::TIMES_ANSWERS {
                    self.policy.share_sent(Instant::now());
                }
                session
                    .send_message(&message)
                    .err()
                    .map(|e| lost_connection(&e))
            }
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
}
