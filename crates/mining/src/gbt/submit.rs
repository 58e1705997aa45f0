//! The block-submission policy without I/O: no found block is given up while it can still
//! win. A block is re-sent (with backoff) until the node answers, or until the node's tip
//! moves: onto the block itself (the node took it though its answer was lost) or onto another
//! block (stale). The I/O shell saves each block to a file before the first try, so that one
//! the node never takes can still be submitted by hand.

use super::watch::MAX_BACKOFF;
use crate::sanitize::for_terminal;
use crate::{Share, Verdict};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many blocks may wait for the node at once. Solo mining finds at most one per parent
/// and a new parent resolves the old ones, so more only happens against a node that is gone;
/// the oldest is then given up (its file stays).
pub(crate) const MAX_PENDING: usize = 16;

/// The first wait before a block is re-sent; it doubles up to [`MAX_BACKOFF`].
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// What the node said to one `submitblock`, sorted by what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Answer {
    /// The call's result: `null` when the node took the block, else its reason.
    Result(Value),
    /// No usable answer: unreachable, no answer before the deadline, not JSON-RPC, or not
    /// ready. The block is sent again.
    Retry(String),
    /// A JSON-RPC error that sending again will not cure (e.g. the block does not decode).
    Refused(String),
}

/// What the I/O shell does next.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Action {
    /// Send this block (hex) now.
    Submit {
        /// Which block, for [`Blocks::on_answer`].
        hash: sha256d::Hash,
        /// The serialized block as hex, shared between tries.
        hex: Arc<String>,
    },
    /// Nothing is due before this instant.
    Wait(Instant),
    /// No block is waiting.
    Idle,
}

/// What came of a block, for the pipeline.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    /// The block's fate is known. `file` is where it was saved: removed by the shell when the
    /// node took the block, kept otherwise.
    Verdict {
        /// The block as the pipeline submitted it.
        share: Share,
        /// What became of it.
        verdict: Verdict,
        /// Where it was saved, if it was.
        file: Option<PathBuf>,
    },
    /// A line for the operator.
    Notice(String),
}

#[derive(Clone, Debug)]
struct Pending {
    share: Share,
    hex: Arc<String>,
    file: Option<PathBuf>,
    tries: u32,
    next_try: Instant,
    backoff: Duration,
}

impl Pending {
    fn saved(&self) -> String {
        match &self.file {
            Some(path) => format!(
                "it is saved in {} for `bitcoin-cli submitblock`",
                path.display()
            ),
            None => "it could not be saved to a file".to_owned(),
        }
    }
}

/// The blocks waiting for the node, and the tip as the watcher last saw it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks {
    pending: Vec<Pending>,
    tip: Option<[u8; 32]>,
}

/// `submitblock` reasons that mean the block lost a race or built on a replaced tip.
pub(crate) fn stale_reason(reason: &str) -> bool {
    matches!(
        reason,
        "inconclusive"
            | "duplicate-inconclusive"
            | "prev-blk-not-found"
            | "bad-prevblk"
            | "stale-prevblk"
    )
}

fn rejected(reason: impl Into<String>, stale: bool) -> Verdict {
    Verdict::Rejected {
        reason: reason.into(),
        stale,
    }
}

impl Blocks {
    /// A new block to send at once; `file` is where the shell saved it.
    pub(crate) fn add(
        &mut self,
        share: Share,
        hex: String,
        file: Option<PathBuf>,
        now: Instant,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        if self.pending.len() == MAX_PENDING {
            let oldest = self.pending.remove(0);
            out.extend(give_up(
                oldest,
                rejected("not submitted: too many blocks waiting for the node", false),
                "too many blocks were waiting for the node",
            ));
        }
        self.pending.push(Pending {
            share,
            hex: Arc::new(hex),
            file,
            tries: 0,
            next_try: now,
            backoff: FIRST_RETRY,
        });
        // The watcher may already know that the tip moved.
        if let Some(tip) = self.tip {
            out.extend(self.on_tip(tip));
        }
        out
    }

    /// The block due first, or how long until one is.
    pub(crate) fn next(&self, now: Instant) -> Action {
        match self.pending.iter().min_by_key(|p| p.next_try) {
            None => Action::Idle,
            Some(p) if p.next_try <= now => Action::Submit {
                hash: p.share.hash,
                hex: p.hex.clone(),
            },
            Some(p) => Action::Wait(p.next_try),
        }
    }

    /// The node answered (or failed to) the `submitblock` of `hash`. A block already decided
    /// meanwhile (by a tip change) is ignored.
    pub(crate) fn on_answer(
        &mut self,
        hash: sha256d::Hash,
        answer: Answer,
        now: Instant,
    ) -> Vec<Outcome> {
        let Some(i) = self.pending.iter().position(|p| p.share.hash == hash) else {
            return Vec::new();
        };
        let p = &mut self.pending[i];
        p.tries += 1;
        let verdict = match answer {
            Answer::Result(Value::Null) => Verdict::Accepted,
            // An earlier try reached the node after all, and it took the block: "duplicate"
            // is Core's answer for a block it has and found valid.
            Answer::Result(Value::String(reason)) if p.tries > 1 && reason == "duplicate" => {
                Verdict::Accepted
            }
            Answer::Result(Value::String(reason)) => {
                rejected(for_terminal(&reason), stale_reason(&reason))
            }
            Answer::Result(other) => rejected(
                format!("submitblock answered {}", for_terminal(&other.to_string())),
                false,
            ),
            Answer::Refused(message) => rejected(message, false),
            Answer::Retry(message) => {
                let notice = (p.tries == 1).then(|| {
                    Outcome::Notice(format!(
                        "block {} is not taken yet: {message}; sending it again until the \
                         node answers or its tip moves ({})",
                        p.share.hash,
                        p.saved()
                    ))
                });
                p.next_try = now + p.backoff;
                p.backoff = (p.backoff * 2).min(MAX_BACKOFF);
                return notice.into_iter().collect();
            }
        };
        let p = self.pending.remove(i);
        vec![Outcome::Verdict {
            share: p.share,
            verdict,
            file: p.file,
        }]
    }

    /// The node's tip is now `tip`: a block that is the tip was taken; one whose parent is
    /// no longer the tip is stale.
    pub(crate) fn on_tip(&mut self, tip: [u8; 32]) -> Vec<Outcome> {
        self.tip = Some(tip);
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.pending[i];
            if p.share.hash.0 == tip {
                let p = self.pending.remove(i);
                out.push(Outcome::Verdict {
                    share: p.share,
                    verdict: Verdict::Accepted,
                    file: p.file,
                });
            } else if p.share.job.prev_hash != tip {
                let p = self.pending.remove(i);
                out.extend(give_up(
                    p,
                    rejected("stale: the tip moved before the node took the block", true),
                    "the node's tip moved to another block",
                ));
            } else {
                i += 1;
            }
        }
        out
    }

    /// Mining stops: every waiting block is given up (their files stay).
    pub(crate) fn abandon(&mut self) -> Vec<Outcome> {
        self.pending
            .drain(..)
            .flat_map(|p| {
                give_up(
                    p,
                    rejected("not submitted: mining stopped first", false),
                    "mining stopped before the node answered",
                )
            })
            .collect()
    }
}

fn give_up(p: Pending, verdict: Verdict, why: &str) -> Vec<Outcome> {
    vec![
        Outcome::Notice(format!(
            "block {} was not taken: {why}; {}",
            p.share.hash,
            p.saved()
        )),
        Outcome::Verdict {
            share: p.share,
            verdict,
            file: p.file,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;
    use serde_json::json;

    fn block(prev: u8, hash: u8) -> Share {
        Share {
            job: Arc::new(Job {
                prev_hash: [prev; 32],
                ..Job::blank()
            }),
            extranonce2: vec![0; 4],
            header: sha256d::Header {
                version: 0x2000_0000,
                prev_blockhash: [prev; 32],
                merkle_root: [0; 32],
                time: 0,
                bits: sha256d::CompactTarget::from_consensus(0x207f_ffff),
                nonce: 0,
            },
            hash: sha256d::Hash([hash; 32]),
            is_block: true,
            stale: false,
        }
    }

    fn verdicts(out: &[Outcome]) -> Vec<(u8, Verdict)> {
        out.iter()
            .filter_map(|o| match o {
                Outcome::Verdict { share, verdict, .. } => Some((share.hash.0[0], verdict.clone())),
                Outcome::Notice(_) => None,
            })
            .collect()
    }

    fn submit(b: &Blocks, now: Instant) -> sha256d::Hash {
        match b.next(now) {
            Action::Submit { hash, .. } => hash,
            other => panic!("expected a submission, got {other:?}"),
        }
    }

    #[test]
    fn accepted_at_once() {
        let now = Instant::now();
        let mut b = Blocks::default();
        assert_eq!(b.next(now), Action::Idle);
        b.add(block(1, 9), "00".into(), None, now);
        let hash = submit(&b, now);
        let out = b.on_answer(hash, Answer::Result(Value::Null), now);
        assert_eq!(verdicts(&out), [(9, Verdict::Accepted)]);
        assert_eq!(b.next(now), Action::Idle);
    }

    /// A node that never answers: the block is re-sent with a growing wait, reported once,
    /// until the tip moves; onto the block (taken) or elsewhere (stale).
    #[test]
    fn retried_until_the_tip_decides() {
        let t0 = Instant::now();
        let mut b = Blocks::default();
        let file = PathBuf::from("sha256d-block-x.hex");
        b.add(block(1, 9), "00".into(), Some(file.clone()), t0);
        b.add(block(1, 8), "00".into(), None, t0);
        let mut now = t0;
        let mut notices = 0;
        let mut gaps = Vec::new();
        for _ in 0..7 {
            let hash = submit(&b, now);
            let out = b.on_answer(hash, Answer::Retry("no answer".into()), now);
            assert_eq!(verdicts(&out), []);
            notices += out.len();
            // Both blocks are tried once per round; the wait is that of the one due first.
            if let Action::Wait(at) = b.next(now) {
                gaps.push((at - now).as_secs());
                now = at;
            }
        }
        assert_eq!(notices, 2, "each block's first failure is reported");
        assert_eq!(gaps, [1, 2, 4]);
        let out = b.on_tip([1; 32]);
        assert_eq!(verdicts(&out), [], "the parent is still the tip");
        let out = b.on_tip([9; 32]);
        assert_eq!(
            verdicts(&out),
            [
                (9, Verdict::Accepted),
                (
                    8,
                    rejected("stale: the tip moved before the node took the block", true)
                )
            ]
        );
        assert!(matches!(&out[0], Outcome::Verdict { file: Some(f), .. } if *f == file));
        assert_eq!(b.next(now), Action::Idle);
    }

    #[test]
    fn backoff_doubles_to_its_cap() {
        let t0 = Instant::now();
        let mut b = Blocks::default();
        b.add(block(1, 9), "00".into(), None, t0);
        let mut now = t0;
        let mut gaps = Vec::new();
        for _ in 0..8 {
            let hash = submit(&b, now);
            b.on_answer(hash, Answer::Retry("gone".into()), now);
            let Action::Wait(at) = b.next(now) else {
                panic!("waits")
            };
            gaps.push((at - now).as_secs());
            now = at;
        }
        assert_eq!(gaps, [1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn answers_after_a_retry() {
        let now = Instant::now();
        let cases = [
            (json!("duplicate"), true, Verdict::Accepted),
            (json!("duplicate"), false, rejected("duplicate", false)),
            (json!("inconclusive"), false, rejected("inconclusive", true)),
            (json!("high-hash"), true, rejected("high-hash", false)),
            (json!(5), false, rejected("submitblock answered 5", false)),
        ];
        for (answer, retried, want) in cases {
            let mut b = Blocks::default();
            b.add(block(1, 9), "00".into(), None, now);
            if retried {
                b.on_answer(sha256d::Hash([9; 32]), Answer::Retry("lost".into()), now);
            }
            let out = b.on_answer(
                sha256d::Hash([9; 32]),
                Answer::Result(answer.clone()),
                now + Duration::from_secs(5),
            );
            assert_eq!(verdicts(&out), [(9, want)], "{answer} retried {retried}");
        }
        let mut b = Blocks::default();
        b.add(block(1, 9), "00".into(), None, now);
        let out = b.on_answer(
            sha256d::Hash([9; 32]),
            Answer::Refused("decode failed".into()),
            now,
        );
        assert_eq!(verdicts(&out), [(9, rejected("decode failed", false))]);
        // An answer for a block already decided is ignored.
        assert_eq!(
            b.on_answer(sha256d::Hash([9; 32]), Answer::Result(Value::Null), now),
            []
        );
    }

    #[test]
    fn a_known_newer_tip_makes_a_new_block_stale_at_once() {
        let now = Instant::now();
        let mut b = Blocks::default();
        b.on_tip([2; 32]);
        let out = b.add(block(1, 9), "00".into(), None, now);
        assert_eq!(
            verdicts(&out),
            [(
                9,
                rejected("stale: the tip moved before the node took the block", true)
            )]
        );
    }

    #[test]
    fn stopping_and_overflow_give_blocks_up_with_their_files() {
        let now = Instant::now();
        let mut b = Blocks::default();
        for i in 0..=MAX_PENDING as u8 {
            let file = PathBuf::from(format!("block-{i}.hex"));
            let out = b.add(block(1, i), "00".into(), Some(file), now);
            if usize::from(i) == MAX_PENDING {
                assert_eq!(
                    verdicts(&out),
                    [(
                        0,
                        rejected("not submitted: too many blocks waiting for the node", false)
                    )]
                );
                assert!(
                    matches!(&out[0], Outcome::Notice(n) if n.contains("block-0.hex")),
                    "{out:?}"
                );
            } else {
                assert_eq!(out, []);
            }
        }
        let out = b.abandon();
        assert_eq!(verdicts(&out).len(), MAX_PENDING);
        assert_eq!(b.next(now), Action::Idle);
    }
}
