//! The template watcher's policy without I/O: from what the node last said and the time, which
//! call to make next, or how long to wait. [`Watch::next`] is the whole decision; the I/O
//! shell in the source makes the call and reports back through the `on_*` methods.
//!
//! With longpolling the node holds each `getblocktemplate` until the work changes; without it,
//! `getbestblockhash` is polled and the full template fetched when the tip moved or the
//! refresh is due. Either way calls are paced: a node that answers a longpoll at once (with
//! or without a new id) is asked again only after the poll interval, never in a tight loop.

use super::Template;
use std::time::{Duration, Instant};

/// Without longpoll, how often the full template is fetched (for new mempool transactions)
/// even when the tip has not moved.
pub(crate) const REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// The longest wait between retries while the node is unreachable or not ready.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A call the watcher wants made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Call {
    /// `getblocktemplate`, as a longpoll when there is an id.
    Template {
        /// The id of the template the longpoll waits to be replaced.
        longpoll_id: Option<String>,
    },
    /// `getbestblockhash`.
    BestBlock,
}

/// What the watcher does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Make this call now.
    Call(Call),
    /// Nothing to do before this instant (a kick may come sooner).
    Wait(Instant),
}

/// How a call failed, as far as the policy cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The node is starting, syncing or has no peers (JSON-RPC -9, -10, -28).
    NotReady,
    /// The call ran into its deadline.
    Timeout,
    /// Anything else: unreachable, refused credentials, an error answer, a bad template.
    Other,
}

/// What a failure means for the operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Report {
    /// Solo mining cannot start: before the first template, only a node that is not ready
    /// yet is waited for. The caller passes on the error as it came.
    Fatal,
    /// A line for the operator (each distinct failure once).
    Notice(String),
    /// Nothing to say: a longpoll that ran into its deadline only means nothing changed.
    Quiet,
}

/// The watcher's state.
#[derive(Clone, Debug)]
pub(crate) struct Watch {
    longpoll: bool,
    poll_interval: Duration,
    /// The parent of the newest template; `None` until the first one, and after a failure or
    /// a tip change, which both call for a full template.
    tip: Option<[u8; 32]>,
    /// Whether any template ever arrived (failures before that are fatal).
    started: bool,
    longpoll_id: Option<String>,
    /// Whether the call in flight is a longpoll.
    longpolling: bool,
    last_template: Option<Instant>,
    last_longpoll: Option<Instant>,
    last_poll: Option<Instant>,
    retry_at: Option<Instant>,
    backoff: Duration,
    /// The failure last reported, so that a node that stays away is reported once.
    failure: Option<String>,
    kicked: bool,
}

impl Watch {
    /// A watcher that longpolls when allowed and the node offers it, and otherwise polls every
    /// `poll_interval` (which also paces longpolls).
    pub(crate) fn new(longpoll: bool, poll_interval: Duration) -> Self {
        Watch {
            longpoll,
            poll_interval,
            tip: None,
            started: false,
            longpoll_id: None,
            longpolling: false,
            last_template: None,
            last_longpoll: None,
            last_poll: None,
            retry_at: None,
            backoff: Duration::ZERO,
            failure: None,
            kicked: false,
        }
    }

    /// The next call to make at `now`, or how long to wait.
    pub(crate) fn next(&mut self, now: Instant) -> Action {
        if let Some(at) = self.retry_at {
            if now < at {
                return Action::Wait(at);
            }
            self.retry_at = None;
        }
        self.longpolling = false;
        let refresh_due = self.last_template.map(|t| t + REFRESH_INTERVAL);
        if self.tip.is_none() || self.kicked || refresh_due.is_none() {
            self.kicked = false;
            return Action::Call(Call::Template { longpoll_id: None });
        }
        if let Some(id) = &self.longpoll_id {
            let due = self.last_longpoll.map_or(now, |t| t + self.poll_interval);
            if now < due {
                return Action::Wait(due);
            }
            self.last_longpoll = Some(now);
            self.longpolling = true;
            return Action::Call(Call::Template {
                longpoll_id: Some(id.clone()),
            });
        }
        let refresh_due = refresh_due.expect("checked above");
        if now >= refresh_due {
            return Action::Call(Call::Template { longpoll_id: None });
        }
        let poll_due = self.last_poll.map_or(now, |t| t + self.poll_interval);
        if now >= poll_due {
            self.last_poll = Some(now);
            return Action::Call(Call::BestBlock);
        }
        Action::Wait(poll_due.min(refresh_due))
    }

    /// Asks for a full template at once (a block was just submitted: the tip may have moved).
    pub(crate) fn kick(&mut self) {
        self.kicked = true;
    }

    /// A template arrived. Returns a notice when it ends a reported failure.
    pub(crate) fn on_template(&mut self, template: &Template, now: Instant) -> Option<String> {
        self.tip = Some(template.prev_hash);
        self.started = true;
        self.longpoll_id = template.longpoll_id.clone().filter(|_| self.longpoll);
        self.last_template = Some(now);
        self.answered()
    }

    /// `getbestblockhash` answered `best`. Returns a notice when it ends a reported failure.
    pub(crate) fn on_best(&mut self, best: [u8; 32]) -> Option<String> {
        if self.tip != Some(best) {
            self.tip = None;
        }
        self.answered()
    }

    fn answered(&mut self) -> Option<String> {
        self.backoff = Duration::ZERO;
        self.retry_at = None;
        self.failure
            .take()
            .map(|_| "the node answers again".to_owned())
    }

    /// A call failed with `message`.
    pub(crate) fn on_failure(&mut self, failure: Failure, message: String, now: Instant) -> Report {
        if !self.started && failure != Failure::NotReady {
            return Report::Fatal;
        }
        if failure == Failure::Timeout && self.longpolling {
            return Report::Quiet;
        }
        self.backoff = (self.backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
        self.retry_at = Some(now + self.backoff);
        // Start over with a full template, which also says which id to longpoll.
        self.longpoll_id = None;
        self.tip = None;
        if self.failure.as_deref() == Some(message.as_str()) {
            return Report::Quiet;
        }
        self.failure = Some(message.clone());
        Report::Notice(if self.started {
            format!("{message}; retrying")
        } else {
            format!("{message}; waiting for the node")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(prev: u8, longpoll_id: Option<&str>) -> Template {
        Template {
            version: 0x2000_0000,
            prev_hash: [prev; 32],
            transactions: Vec::new(),
            coinbase_value: 1,
            bits: sha256d::CompactTarget::from_consensus(0x207f_ffff),
            target: sha256d::Target::MAX,
            curtime: 1,
            mintime: 0,
            height: 1,
            longpoll_id: longpoll_id.map(str::to_owned),
            witness_commitment: None,
        }
    }

    const FULL: Action = Action::Call(Call::Template { longpoll_id: None });

    fn longpoll(id: &str) -> Action {
        Action::Call(Call::Template {
            longpoll_id: Some(id.into()),
        })
    }

    #[test]
    fn polls_the_best_block_and_refetches_when_it_moves() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut w = Watch::new(true, second);
        assert_eq!(w.next(t0), FULL);
        assert_eq!(w.on_template(&template(1, None), t0), None);
        assert_eq!(w.next(t0), Action::Call(Call::BestBlock));
        assert_eq!(w.on_best([1; 32]), None);
        assert_eq!(w.next(t0), Action::Wait(t0 + second));
        assert_eq!(w.next(t0 + second), Action::Call(Call::BestBlock));
        // The tip moved: a full template at once.
        w.on_best([2; 32]);
        assert_eq!(w.next(t0 + second), FULL);
        w.on_template(&template(2, None), t0 + second);
        // The refresh comes due even while the tip stands.
        let later = t0 + second + REFRESH_INTERVAL;
        assert_eq!(w.next(later), FULL);
    }

    /// A node that answers every longpoll at once, with a new id each time, is asked once per
    /// poll interval, not in a loop.
    #[test]
    fn an_instant_longpoll_is_paced() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(500);
        let mut w = Watch::new(true, interval);
        assert_eq!(w.next(t0), FULL);
        w.on_template(&template(1, Some("a")), t0);
        assert_eq!(w.next(t0), longpoll("a"));
        w.on_template(&template(1, Some("b")), t0);
        assert_eq!(w.next(t0), Action::Wait(t0 + interval));
        assert_eq!(
            w.next(t0 + interval / 2),
            Action::Wait(t0 + interval),
            "still inside the interval"
        );
        assert_eq!(w.next(t0 + interval), longpoll("b"));
        // Calls in a simulated 10 s of instant answers: one per interval.
        let mut calls = 0;
        let mut now = t0 + interval;
        w.on_template(&template(1, Some("c")), now);
        while now < t0 + Duration::from_secs(10) {
            match w.next(now) {
                Action::Call(_) => {
                    calls += 1;
                    w.on_template(&template(1, Some(&format!("{calls}"))), now);
                }
                Action::Wait(at) => now = at,
            }
        }
        // At 1.0, 1.5, ... 9.5 s.
        assert_eq!(calls, 18);
    }

    #[test]
    fn longpoll_off_or_not_offered_polls() {
        let t0 = Instant::now();
        let mut w = Watch::new(false, Duration::from_secs(1));
        w.next(t0);
        w.on_template(&template(1, Some("a")), t0);
        assert_eq!(w.next(t0), Action::Call(Call::BestBlock));
    }

    #[test]
    fn a_longpoll_deadline_is_quiet_and_reissued() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(1);
        let mut w = Watch::new(true, interval);
        w.next(t0);
        w.on_template(&template(1, Some("a")), t0);
        assert_eq!(w.next(t0), longpoll("a"));
        let later = t0 + Duration::from_secs(120);
        assert_eq!(
            w.on_failure(Failure::Timeout, "no answer".into(), later),
            Report::Quiet
        );
        assert_eq!(w.next(later), longpoll("a"));
    }

    #[test]
    fn failures_back_off_report_once_and_recover() {
        let t0 = Instant::now();
        let mut w = Watch::new(true, Duration::from_secs(1));
        w.next(t0);
        w.on_template(&template(1, Some("a")), t0);
        w.next(t0);
        let report = w.on_failure(Failure::Other, "refused".into(), t0);
        assert_eq!(report, Report::Notice("refused; retrying".into()));
        let second = Duration::from_secs(1);
        assert_eq!(w.next(t0), Action::Wait(t0 + second));
        // Retried with a full template; the same failure again is not repeated, and the wait
        // doubles up to its cap.
        let mut now = t0 + second;
        let mut waits = Vec::new();
        for _ in 0..8 {
            assert_eq!(w.next(now), FULL);
            assert_eq!(
                w.on_failure(Failure::Other, "refused".into(), now),
                Report::Quiet
            );
            let Action::Wait(at) = w.next(now) else {
                panic!("backs off")
            };
            waits.push((at - now).as_secs());
            now = at;
        }
        assert_eq!(waits, [2, 4, 8, 16, 30, 30, 30, 30]);
        assert_eq!(
            w.on_template(&template(2, None), now),
            Some("the node answers again".into())
        );
        assert_eq!(w.next(now), Action::Call(Call::BestBlock));
    }

    #[test]
    fn before_the_first_template_only_not_ready_is_waited_for() {
        let t0 = Instant::now();
        let mut w = Watch::new(true, Duration::from_secs(1));
        assert_eq!(w.next(t0), FULL);
        assert_eq!(
            w.on_failure(Failure::NotReady, "syncing".into(), t0),
            Report::Notice("syncing; waiting for the node".into())
        );
        assert_eq!(w.next(t0), Action::Wait(t0 + Duration::from_secs(1)));
        for failure in [Failure::Timeout, Failure::Other] {
            assert_eq!(
                w.clone().on_failure(failure, "gone".into(), t0),
                Report::Fatal
            );
        }
    }

    #[test]
    fn a_kick_fetches_at_once() {
        let t0 = Instant::now();
        let mut w = Watch::new(true, Duration::from_secs(1));
        w.next(t0);
        w.on_template(&template(1, Some("a")), t0);
        w.next(t0);
        w.on_template(&template(1, Some("b")), t0);
        w.kick();
        assert_eq!(w.next(t0), FULL);
        assert_eq!(w.next(t0), Action::Wait(t0 + Duration::from_secs(1)));
    }
}
