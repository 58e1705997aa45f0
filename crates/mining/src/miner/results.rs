//! The bounded queue between the workers and the coordinator.
//!
//! At a low pool difficulty engines find results far faster than any pool takes them, so the
//! queue has a bound and an overflow rule: past [`MAX_WAITING_SHARES`] the oldest waiting
//! share is dropped (and counted), since a newer share proves the same work; blocks are never
//! dropped: past [`MAX_WAITING_BLOCKS`] the worker that found one waits for room, which slows
//! that engine to the pace the source takes blocks. Once the coordinator has stopped taking
//! results ([`Results::close`]) nothing waits, and what is left is reported as unsubmitted.

use crate::Job;
use sha256d::{Found, Header};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Shares waiting for the coordinator beyond this many push the oldest out.
pub const MAX_WAITING_SHARES: usize = 1024;

/// Blocks waiting for the coordinator beyond this many make their finder wait.
pub const MAX_WAITING_BLOCKS: usize = 256;

/// A result on its way from a worker to the coordinator.
pub(super) struct Candidate {
    pub(super) job: Arc<Job>,
    pub(super) generation: u64,
    pub(super) extranonce2: Vec<u8>,
    /// The unit's header (its version and nonce are the found ones').
    pub(super) header: Header,
    pub(super) found: Found,
    /// Whether the hash also meets the job's block target.
    pub(super) is_block: bool,
    /// The index of the engine that found it.
    pub(super) engine: usize,
}

/// What the coordinator may take: it holds shares back while the source has many
/// submissions unanswered, and blocks only once it has even more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Take {
    Any,
    BlocksOnly,
}

#[derive(Default)]
struct Waiting {
    shares: VecDeque<Candidate>,
    blocks: VecDeque<Candidate>,
    closed: bool,
    found: u64,
    overflowed: u64,
}

/// The queue; see the module documentation for its rules.
#[derive(Default)]
pub(super) struct Results {
    waiting: Mutex<Waiting>,
    room: Condvar,
}

impl Results {
    fn lock(&self) -> MutexGuard<'_, Waiting> {
        // A worker that panicked while pushing leaves a queue that is still whole.
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a result: a share pushes out the oldest share when full; a block waits for
    /// room unless the queue is closed.
    pub(super) fn push(&self, c: Candidate) {
        let mut w = self.lock();
        w.found += 1;
        if c.is_block {
            while w.blocks.len() >= MAX_WAITING_BLOCKS && !w.closed {
                w = self.room.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            w.blocks.push_back(c);
        } else {
            if w.shares.len() >= MAX_WAITING_SHARES {
                w.shares.pop_front();
                w.overflowed += 1;
            }
            w.shares.push_back(c);
        }
    }

    /// The next result to submit: blocks first, oldest first.
    pub(super) fn pop(&self, take: Take) -> Option<Candidate> {
        let mut w = self.lock();
        if let Some(block) = w.blocks.pop_front() {
            self.room.notify_all();
            return Some(block);
        }
        match take {
            Take::Any => w.shares.pop_front(),
            Take::BlocksOnly => None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        !self.has(Take::Any)
    }

    /// Whether [`Results::pop`] would return something.
    pub(super) fn has(&self, take: Take) -> bool {
        let w = self.lock();
        !w.blocks.is_empty() || (take == Take::Any && !w.shares.is_empty())
    }

    /// The coordinator takes no more: from now on nobody waits for room.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.room.notify_all();
    }

    /// Whatever is still waiting, blocks first.
    pub(super) fn take_rest(&self) -> Vec<Candidate> {
        let mut w = self.lock();
        let mut rest: Vec<Candidate> = w.blocks.drain(..).collect();
        rest.extend(w.shares.drain(..));
        rest
    }

    /// Results pushed so far, dropped ones included.
    pub(super) fn found(&self) -> u64 {
        self.lock().found
    }

    /// Shares pushed out by newer ones.
    pub(super) fn overflowed(&self) -> u64 {
        self.lock().overflowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn candidate(nonce: u32, is_block: bool) -> Candidate {
        let job = Arc::new(Job::blank());
        let header = job.header(&[0; 4], 0);
        Candidate {
            job,
            generation: 1,
            extranonce2: vec![0; 4],
            found: Found::new(header.version, nonce, header.block_hash()),
            header,
            is_block,
            engine: 0,
        }
    }

    fn nonces(v: &[Candidate]) -> Vec<u32> {
        v.iter().map(|c| c.found.nonce).collect()
    }

    /// A flood of shares keeps the newest `MAX_WAITING_SHARES`, counts the rest, and keeps
    /// every block, which also goes first.
    #[test]
    fn a_flood_keeps_the_newest_shares_and_every_block() {
        let results = Results::default();
        let flood = 100 * MAX_WAITING_SHARES as u32;
        for nonce in 0..flood {
            results.push(candidate(nonce, nonce % 1000 == 7));
        }
        let blocks = (0..flood).filter(|n| n % 1000 == 7).count() as u32;
        assert_eq!(results.found(), u64::from(flood));
        assert_eq!(
            results.overflowed(),
            u64::from(flood - blocks) - MAX_WAITING_SHARES as u64
        );
        assert_eq!(
            results.pop(Take::BlocksOnly).map(|c| c.found.nonce),
            Some(7)
        );
        let rest = results.take_rest();
        let expected_blocks: Vec<u32> = (1..blocks).map(|k| k * 1000 + 7).collect();
        assert_eq!(nonces(&rest[..expected_blocks.len()]), expected_blocks);
        let shares = &rest[expected_blocks.len()..];
        assert_eq!(shares.len(), MAX_WAITING_SHARES);
        assert_eq!(shares.last().map(|c| c.found.nonce), Some(flood - 1));
        assert!(shares.iter().all(|c| !c.is_block));
        assert!(results.is_empty());
    }

    /// A block that finds the block queue full waits until the coordinator takes one, or
    /// until the queue closes; it is never pushed out.
    #[test]
    fn a_block_waits_for_room_and_never_overflows() {
        let results = Results::default();
        for nonce in 0..MAX_WAITING_BLOCKS as u32 {
            results.push(candidate(nonce, true));
        }
        std::thread::scope(|scope| {
            let pusher = scope.spawn(|| results.push(candidate(u32::MAX, true)));
            std::thread::sleep(Duration::from_millis(200));
            assert!(
                !pusher.is_finished(),
                "a full block queue makes the finder wait"
            );
            assert_eq!(results.pop(Take::Any).map(|c| c.found.nonce), Some(0));
            pusher.join().expect("the pusher does not panic");
        });
        let rest = results.take_rest();
        assert_eq!(rest.len(), MAX_WAITING_BLOCKS);
        assert_eq!(rest.last().map(|c| c.found.nonce), Some(u32::MAX));
        assert_eq!(results.overflowed(), 0);

        // Closed: nobody waits, and nothing is lost either.
        for nonce in 0..MAX_WAITING_BLOCKS as u32 {
            results.push(candidate(nonce, true));
        }
        results.close();
        results.push(candidate(u32::MAX, true));
        assert_eq!(results.take_rest().len(), MAX_WAITING_BLOCKS + 1);
        assert_eq!(results.found(), 2 * MAX_WAITING_BLOCKS as u64 + 2);
    }
}
