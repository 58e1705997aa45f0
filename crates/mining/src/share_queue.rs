//! Found work on its way to a pool that may come and go: what waits for a connection, what
//! is sent again after a drop, and what is given up, always with a verdict, never silently.
//!
//! The rules:
//! - Blocks go out before shares, each kind oldest first.
//! - At most [`MAX_QUEUED_SHARES`] shares wait; past that the oldest share (never a block) is
//!   reported lost. Blocks are never dropped to make room; only a miner on a test network,
//!   where nearly every hash is a block, can reach [`MAX_QUEUED_BLOCKS`], past which the
//!   oldest block is reported lost so memory stays bounded even there.
//! - A share sent on a connection that drops before its verdict goes back to the front of the
//!   queue, at most [`MAX_RESENDS`] times: a pool that drops the connection on every share
//!   must not be sent the same one for ever. After that it is reported lost.
//! - Whether a queued share's job still stands on the new connection is the caller's test
//!   (the same job id and the same extranonce1); one whose job is gone is reported stale.

use crate::{Event, Share, Verdict};
use sha256d::Hash;
use std::collections::{HashMap, VecDeque};

/// Shares (not blocks) that wait for a connection at most.
pub const MAX_QUEUED_SHARES: usize = 64;

/// Blocks that wait for a connection at most; reachable only where nearly every share is a
/// block (regtest).
pub const MAX_QUEUED_BLOCKS: usize = 1024;

/// How many times a share is sent again after the connection dropped before its verdict.
pub const MAX_RESENDS: u32 = 2;

#[derive(Debug)]
struct Entry {
    share: Share,
    /// How many times it was sent already.
    sends: u32,
}

/// Shares waiting for a connection, and the send counts of those waiting for a verdict.
#[derive(Debug, Default)]
pub struct ShareQueue {
    blocks: VecDeque<Entry>,
    shares: VecDeque<Entry>,
    /// Sends so far of each share that waits for its verdict, by hash.
    in_flight: HashMap<Hash, u32>,
}

impl ShareQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many shares and blocks wait for a connection.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.blocks.len() + self.shares.len()
    }

    /// Whether nothing waits for a connection.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many sent shares wait for their verdict.
    #[cfg(test)]
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Queues `share` (never sent yet); returns the verdict of the one that had to go to make
    /// room, if one had to.
    pub fn push(&mut self, share: Share) -> Option<Event> {
        self.push_back(Entry { share, sends: 0 })
    }

    fn push_back(&mut self, entry: Entry) -> Option<Event> {
        if entry.share.is_block {
            self.blocks.push_back(entry);
        } else {
            self.shares.push_back(entry);
        }
        self.trim().pop()
    }

    /// Reports the oldest of each kind lost while there are more than its cap.
    fn trim(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        for (queue, cap, what) in [
            (&mut self.blocks, MAX_QUEUED_BLOCKS, "blocks"),
            (&mut self.shares, MAX_QUEUED_SHARES, "shares"),
        ] {
            while queue.len() > cap {
                if let Some(old) = queue.pop_front() {
                    out.push(lost(
                        old.share,
                        format!(
                            "not submitted: {cap} newer {what} were already waiting for a pool"
                        ),
                    ));
                }
            }
        }
        out
    }

    /// The next share to send (blocks first) and how many times it was sent before.
    pub fn pop(&mut self) -> Option<(Share, u32)> {
        let e = self
            .blocks
            .pop_front()
            .or_else(|| self.shares.pop_front())?;
        Some((e.share, e.sends))
    }

    /// Puts back a share [`ShareQueue::pop`] gave, at the front, unsent.
    pub fn unpop(&mut self, share: Share, sends: u32) {
        let queue = if share.is_block {
            &mut self.blocks
        } else {
            &mut self.shares
        };
        queue.push_front(Entry { share, sends });
    }

    /// Records that `share`, sent `sends` times before, went out again.
    pub fn sent(&mut self, share: &Share, sends: u32) {
        self.in_flight.insert(share.hash, sends + 1);
    }

    /// Records that `share`'s verdict came back.
    pub fn answered(&mut self, share: &Share) {
        self.in_flight.remove(&share.hash);
    }

    /// Takes back the shares a dropped connection never answered (oldest first): each goes
    /// to the front of the queue, ahead of newer work, unless it was already sent
    /// 1 + [`MAX_RESENDS`] times; the verdicts of those given up, and of any pushed out to
    /// make room, are returned.
    pub fn requeue(&mut self, unanswered: Vec<Share>) -> Vec<Event> {
        let mut out = Vec::new();
        for share in unanswered.into_iter().rev() {
            let sends = self.in_flight.remove(&share.hash).unwrap_or(1);
            if sends > MAX_RESENDS {
                out.push(lost(
                    share,
                    format!(
                        "lost: the connection dropped before its verdict each of the {sends} \
                         times it was sent"
                    ),
                ));
                continue;
            }
            self.unpop(share, sends);
        }
        out.extend(self.trim());
        out
    }
}

fn lost(share: Share, reason: String) -> Event {
    Event::Verdict {
        share,
        verdict: Verdict::Rejected {
            reason,
            stale: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost_reason(event: &Event) -> (u32, &str) {
        match event {
            Event::Verdict {
                share,
                verdict:
                    Verdict::Rejected {
                        reason,
                        stale: false,
                    },
            } => (share.header.nonce, reason),
            other => panic!("not a lost share: {other:?}"),
        }
    }

    fn drain(q: &mut ShareQueue) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| q.pop())
            .map(|(s, _)| (s.header.nonce, s.is_block))
            .collect()
    }

    /// Reference case: blocks had no priority in the 64-entry queue and could be pushed out.
    #[test]
    fn blocks_go_first_and_only_shares_make_room() {
        let mut q = ShareQueue::new();
        assert_eq!(
            q.push(Share::blank(1, true)).as_ref().map(lost_reason),
            None
        );
        for nonce in 100..100 + MAX_QUEUED_SHARES as u32 {
            assert!(q.push(Share::blank(nonce, false)).is_none());
        }
        assert!(
            q.push(Share::blank(2, true)).is_none(),
            "a block takes no share's room"
        );
        let lost = q
            .push(Share::blank(999, false))
            .expect("the queue is full of shares");
        assert_eq!(
            lost_reason(&lost),
            (
                100,
                "not submitted: 64 newer shares were already waiting for a pool"
            )
        );
        assert_eq!(q.len(), MAX_QUEUED_SHARES + 2);
        let order = drain(&mut q);
        assert_eq!(&order[..3], [(1, true), (2, true), (101, false)]);
        assert_eq!(order.last(), Some(&(999, false)));
        assert!(q.is_empty());
    }

    #[test]
    fn blocks_are_bounded_only_where_every_share_is_one() {
        let mut q = ShareQueue::new();
        for nonce in 0..MAX_QUEUED_BLOCKS as u32 {
            assert!(q.push(Share::blank(nonce, true)).is_none());
        }
        let lost = q
            .push(Share::blank(u32::MAX, true))
            .expect("over the block cap");
        assert_eq!(
            lost_reason(&lost),
            (
                0,
                "not submitted: 1024 newer blocks were already waiting for a pool"
            )
        );
    }

    /// Reference case: a pool that dropped the connection after each submit got the same
    /// share again on every reconnect (24 times in 25 s).
    #[test]
    fn a_share_the_connection_dies_on_is_sent_three_times_then_lost() {
        let mut q = ShareQueue::new();
        let s = Share::blank(7, false);
        let mut sends_seen = Vec::new();
        let mut events = Vec::new();
        q.push(s.clone());
        for _ in 0..10 {
            let Some((popped, sends)) = q.pop() else {
                break;
            };
            sends_seen.push(sends);
            q.sent(&popped, sends);
            assert_eq!(q.in_flight(), 1);
            // The connection drops before the verdict.
            events.extend(q.requeue(vec![popped]));
        }
        assert_eq!(sends_seen, [0, 1, 2]);
        assert_eq!(
            events.iter().map(lost_reason).collect::<Vec<_>>(),
            [(
                7,
                "lost: the connection dropped before its verdict each of the 3 times it was sent"
            )]
        );
        assert_eq!((q.len(), q.in_flight()), (0, 0));
    }

    #[test]
    fn unanswered_shares_go_back_ahead_of_newer_ones_and_answers_clear_them() {
        let mut q = ShareQueue::new();
        let (a, b, c) = (
            Share::blank(1, false),
            Share::blank(2, false),
            Share::blank(3, false),
        );
        q.sent(&a, 0);
        q.sent(&b, 0);
        q.answered(&b);
        assert_eq!(q.in_flight(), 1);
        q.push(c);
        assert!(q.requeue(vec![a]).is_empty());
        assert_eq!(q.in_flight(), 0);
        assert_eq!(drain(&mut q), [(1, false), (3, false)]);
    }
}
