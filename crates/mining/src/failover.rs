//! Which pool to dial, and when: the failover, backoff and reconnect policy of a pool source as
//! a pure state machine. The session code reports what happened, with the time it happened,
//! and asks [`Failover::next`] what to do; nothing here reads a clock or touches a socket, so
//! tests drive it with a fake clock.
//!
//! The rules:
//! - Pools are preferred in list order, until the operator prefers another
//!   ([`Failover::prefer`]): it moves to the front, the others keep their order. While
//!   disconnected, the first pool whose retry is due is dialled; while on a lower pool, the preferred ones are probed at most every
//!   [`Timing::retry_primary`], and a probe that connects replaces the session.
//! - Every failure of a pool (refused, dropped, bad data, no answer in time, credentials
//!   refused, a reconnect request before the session was healthy) delays its next dial by its
//!   backoff, which then doubles up to [`Timing::backoff_max`]. The backoff goes back to
//!   [`Timing::backoff_min`] only once a session has been healthy: authorized and working for
//!   [`Timing::healthy_after`]. Authorizing is not enough, so a pool that authorizes and then
//!   misbehaves is dialled less and less often, not once a second for ever.
//! - Each dial must connect within [`Timing::connect_timeout`]; each session must be authorized
//!   with work within [`Timing::request_timeout`], and while shares wait for a verdict the pool
//!   must answer one at least that often.
//! - `client.reconnect` is followed only to the configured host or one the user allowed
//!   ([`reconnect_target`]), so the credentials never go anywhere else.
//! - When every pool has refused the credentials and none ever accepted them, the source gives
//!   up.

use crate::net::PoolUrl;
use crate::sanitize::for_terminal;
use std::time::{Duration, Instant};

/// The times the policy works with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The delay after a pool's first failure; doubles on each further one.
    pub backoff_min: Duration,
    /// The longest delay between dials of one pool.
    pub backoff_max: Duration,
    /// While on a lower pool, how often a preferred one is probed.
    pub retry_primary: Duration,
    /// How long a session must be authorized and working before its pool counts as healthy
    /// again and its backoff is reset.
    pub healthy_after: Duration,
    /// How long a dial (name lookup, TCP connect, TLS handshake) may take in all.
    pub connect_timeout: Duration,
    /// How long a pool may take to authorize and send work, and to answer some share while
    /// shares wait for a verdict.
    pub request_timeout: Duration,
}

/// What the session code should do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Open a connection to pool `index` (an index into the configured list), then report
    /// [`Failover::connected`] or [`Failover::connect_failed`].
    Dial(usize),
    /// The dial in progress took too long: abandon it (it is already counted as failed).
    Abandon(String),
    /// End the current session for this reason, then report [`Failover::dropped`].
    Drop(String),
    /// Nothing to do before this time (`None`: until something happens).
    Wait(Option<Instant>),
    /// Every pool refused the credentials and none ever accepted them.
    GiveUp(String),
}

#[derive(Clone, Debug)]
struct PoolState {
    /// The delay the next failure adds.
    backoff: Duration,
    next_dial: Instant,
    /// The pool's latest refusal of the credentials, if its latest answer was one.
    auth_rejected: Option<String>,
}

#[derive(Clone, Debug)]
struct Live {
    index: usize,
    connected_at: Instant,
    authorized_at: Option<Instant>,
    has_work: bool,
    healthy: bool,
    unanswered: usize,
    /// Since when shares have waited without any verdict coming back.
    waiting_since: Option<Instant>,
}

impl Live {
    fn ready(&self) -> bool {
        self.authorized_at.is_some() && self.has_work
    }
}

/// The failover, backoff and reconnect policy over an ordered list of pools.
#[derive(Clone, Debug)]
pub struct Failover {
    timing: Timing,
    pools: Vec<PoolState>,
    /// The pools' indices, most preferred first.
    order: Vec<usize>,
    live: Option<Live>,
    dialing: Option<(usize, Instant)>,
    /// A `client.reconnect` wait: nothing is dialled before it ends.
    hold_until: Option<Instant>,
    last_probe: Option<Instant>,
    ever_authorized: bool,
}

impl Failover {
    /// A policy over `pools` pools (at least one), every pool due at `now`.
    pub fn new(pools: usize, timing: Timing, now: Instant) -> Self {
        let state = PoolState {
            backoff: timing.backoff_min,
            next_dial: now,
            auth_rejected: None,
        };
        Failover {
            timing,
            pools: vec![state; pools.max(1)],
            order: (0..pools.max(1)).collect(),
            live: None,
            dialing: None,
            hold_until: None,
            last_probe: None,
            ever_authorized: false,
        }
    }

    /// The pool of the current session.
    pub fn current(&self) -> Option<usize> {
        self.live.as_ref().map(|l| l.index)
    }

    /// Makes pool `index` the most preferred, the others keeping their order, and due to be
    /// dialled at `now` whatever its backoff (the operator asks for it): while on another
    /// pool it is probed at once, and a probe that connects replaces the session, as a
    /// preferred pool that is back does. An index that is no pool changes nothing.
    pub fn prefer(&mut self, index: usize, now: Instant) {
        let Some(rank) = self.order.iter().position(|&i| i == index) else {
            return;
        };
        self.order.remove(rank);
        self.order.insert(0, index);
        self.pools[index].next_dial = now;
        self.last_probe = None;
    }

    /// Where pool `index` stands in the order of preference (0: first).
    fn rank(&self, index: usize) -> usize {
        self.order
            .iter()
            .position(|&i| i == index)
            .expect("every pool is in the order")
    }

    /// The pool being dialled.
    #[cfg(test)]
    pub fn dialing(&self) -> Option<usize> {
        self.dialing.map(|(i, _)| i)
    }

    /// What to do at `now`.
    pub fn next(&mut self, now: Instant) -> Decision {
        self.refresh(now);
        if let Some(reason) = self.fatal() {
            return Decision::GiveUp(reason);
        }
        let t = self.timing;
        let mut wake: Option<Instant> = None;
        let mut soonest = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        if let Some(live) = &self.live {
            if !live.ready() {
                let end = live.connected_at + t.request_timeout;
                if now >= end {
                    return Decision::Drop(format!(
                        "did not authorize and send work within {}",
                        show_wait(t.request_timeout)
                    ));
                }
                soonest(end);
            }
            if let Some(since) = live.waiting_since {
                let end = since + t.request_timeout;
                if now >= end {
                    return Decision::Drop(format!(
                        "answered none of {} shares within {}",
                        live.unanswered,
                        show_wait(t.request_timeout)
                    ));
                }
                soonest(end);
            }
        }
        if let Some((index, started)) = self.dialing {
            let end = started + t.connect_timeout;
            if now >= end {
                self.connect_failed(index, now);
                return Decision::Abandon(format!(
                    "did not connect within {}",
                    show_wait(t.connect_timeout)
                ));
            }
            soonest(end);
            return Decision::Wait(wake);
        }
        if let Some(hold) = self.hold_until.filter(|&h| now < h) {
            soonest(hold);
            return Decision::Wait(wake);
        }
        self.hold_until = None;
        // The pools preferred to the current one (all of them while disconnected).
        let limit = self.current().map_or(self.pools.len(), |c| self.rank(c));
        let preferred = &self.order[..limit];
        let probe_due = match (&self.live, self.last_probe) {
            (Some(_), Some(at)) => at + t.retry_primary,
            _ => now,
        };
        let due = preferred.iter().map(|&i| self.pools[i].next_dial).min();
        match due {
            Some(at) if at.max(probe_due) <= now => {
                let index = *preferred
                    .iter()
                    .find(|&&i| self.pools[i].next_dial <= now)
                    .expect("some pool below the limit is due");
                if self.live.is_some() {
                    self.last_probe = Some(now);
                }
                self.dialing = Some((index, now));
                Decision::Dial(index)
            }
            Some(at) => {
                soonest(at.max(probe_due));
                Decision::Wait(wake)
            }
            None => Decision::Wait(wake),
        }
    }

    /// The dial of pool `index` failed (or was abandoned) at `now`.
    pub fn connect_failed(&mut self, index: usize, now: Instant) {
        if self.dialing.is_some_and(|(i, _)| i == index) {
            self.dialing = None;
        }
        self.failed(index, now, Duration::ZERO);
    }

    /// The dial of pool `index` connected at `now`; it becomes the current session. Returns
    /// the pool of the session it replaces, which the caller closes (that pool is not to
    /// blame and may be dialled again at once).
    pub fn connected(&mut self, index: usize, now: Instant) -> Option<usize> {
        self.refresh(now);
        self.dialing = None;
        let old = self.live.take().map(|l| l.index);
        if let Some(old) = old {
            self.pools[old].next_dial = now;
        }
        self.live = Some(Live {
            index,
            connected_at: now,
            authorized_at: None,
            has_work: false,
            healthy: false,
            unanswered: 0,
            waiting_since: None,
        });
        old
    }

    /// The current session's pool accepted the credentials.
    pub fn authorized(&mut self, now: Instant) {
        self.refresh(now);
        if let Some(live) = &mut self.live {
            live.authorized_at.get_or_insert(now);
            self.pools[live.index].auth_rejected = None;
            self.ever_authorized = true;
        }
    }

    /// The current session's pool refused the credentials with `reason` (the caller then
    /// ends the session and reports [`Failover::dropped`]).
    pub fn auth_rejected(&mut self, reason: &str, now: Instant) {
        self.refresh(now);
        if let Some(live) = &self.live {
            self.pools[live.index].auth_rejected = Some(reason.to_string());
        }
    }

    /// The current session received a job.
    pub fn work(&mut self, now: Instant) {
        self.refresh(now);
        if let Some(live) = &mut self.live {
            live.has_work = true;
        }
    }

    /// A share went out on the current session.
    pub fn share_sent(&mut self, now: Instant) {
        self.refresh(now);
        if let Some(live) = &mut self.live {
            live.unanswered += 1;
            live.waiting_since.get_or_insert(now);
        }
    }

    /// The current session's pool answered a share.
    pub fn share_answered(&mut self, now: Instant) {
        self.refresh(now);
        if let Some(live) = &mut self.live {
            live.unanswered = live.unanswered.saturating_sub(1);
            live.waiting_since = (live.unanswered > 0).then_some(now);
        }
    }

    /// The current session ended at `now` (closed, failed, or dropped on a [`Decision::Drop`]).
    /// Returns when its pool may be dialled again.
    pub fn dropped(&mut self, now: Instant) -> Option<Instant> {
        self.refresh(now);
        let live = self.live.take()?;
        self.failed(live.index, now, Duration::ZERO);
        Some(self.pools[live.index].next_dial)
    }

    /// The current session's pool asked, at `now`, to be reconnected to after `wait`; the
    /// session ends. A healthy session's pool is dialled after `wait`; one that was not
    /// healthy yet also pays its backoff, so a pool that asks again and again is dialled less
    /// and less often. Returns when the next dial may happen.
    pub fn reconnect_requested(&mut self, wait: Duration, now: Instant) -> Option<Instant> {
        self.refresh(now);
        let live = self.live.take()?;
        if live.healthy {
            self.pools[live.index].next_dial = now + wait;
        } else {
            self.failed(live.index, now, wait);
        }
        let at = self.pools[live.index].next_dial;
        self.hold_until = Some(at);
        Some(at)
    }

    /// The pool dialled next while disconnected, and when: the earliest due (ties to the
    /// preferred), no earlier than a reconnect wait.
    pub fn next_dial(&self, now: Instant) -> (usize, Instant) {
        let (index, at) = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| (i, p.next_dial.max(now)))
            .min_by_key(|&(i, at)| (at, self.rank(i)))
            .expect("there is always at least one pool");
        (index, self.hold_until.map_or(at, |h| at.max(h)))
    }

    /// Counts a failure of pool `index` at `now`: it is dialled again after the larger of its
    /// backoff and `wait`, and its backoff doubles.
    fn failed(&mut self, index: usize, now: Instant, wait: Duration) {
        let t = self.timing;
        let state = &mut self.pools[index];
        state.next_dial = now + state.backoff.max(wait);
        state.backoff = (state.backoff * 2).min(t.backoff_max);
    }

    /// Marks the current session healthy once it has worked long enough.
    fn refresh(&mut self, now: Instant) {
        let Some(live) = &mut self.live else {
            return;
        };
        let Some(since) = live.authorized_at else {
            return;
        };
        if !live.healthy && live.has_work && now >= since + self.timing.healthy_after {
            live.healthy = true;
            self.pools[live.index].backoff = self.timing.backoff_min;
        }
    }

    fn fatal(&self) -> Option<String> {
        if self.ever_authorized || self.pools.iter().any(|p| p.auth_rejected.is_none()) {
            return None;
        }
        let reasons: Vec<&str> = self
            .pools
            .iter()
            .filter_map(|p| p.auth_rejected.as_deref())
            .collect();
        Some(format!(
            "every pool rejected the credentials: {}",
            reasons.join("; ")
        ))
    }
}

/// Where a `client.reconnect` from the session at `current` (configured as `configured`) may
/// take the miner: `host` and `port` default to the current ones; the host must be the
/// configured one or one of `allowed` (compared without case or a trailing dot), since the
/// next connection sends the worker name and password. The scheme stays the configured one,
/// so a pool cannot turn TLS off. `Err` says why not, with the peer's host made safe to print.
///
/// A Stratum V2 pool with an authority key in its URL may send the miner to any host: the new
/// server must prove the same key in its handshake (SV2's own rule for `Reconnect`), so only
/// the pool's own servers can take the work. The target keeps that key.
pub fn reconnect_target(
    configured: &PoolUrl,
    current: &PoolUrl,
    allowed: &[String],
    host: Option<&str>,
    port: Option<u16>,
) -> Result<PoolUrl, String> {
    let host = host.unwrap_or(&current.host);
    let port = port.unwrap_or(current.port);
    let Ok(mut target) = PoolUrl::new(configured.tls, host, port) else {
        return Err(format!("\"{}\" is not a host name", for_terminal(host)));
    };
    target.sv2 = configured.sv2;
    if configured.sv2.is_some_and(|e| e.authority_key.is_some()) {
        return Ok(target);
    }
    let same = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    if same(&target.host, &configured.host) || allowed.iter().any(|a| same(&target.host, a)) {
        Ok(target)
    } else {
        Err(format!(
            "{} is neither the configured host nor an allowed reconnect host",
            target.host
        ))
    }
}

/// A duration for the operator: milliseconds below a second, else whole seconds.
pub fn show_wait(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{} s", d.as_secs_f64().round())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing() -> Timing {
        Timing {
            backoff_min: S,
            backoff_max: 30 * S,
            retry_primary: 30 * S,
            healthy_after: 60 * S,
            connect_timeout: 10 * S,
            request_timeout: 30 * S,
        }
    }

    /// A fake clock: seconds since an arbitrary start.
    struct Clock(Instant);

    impl Clock {
        fn at(&self, secs: u64) -> Instant {
            self.0 + Duration::from_secs(secs)
        }
    }

    fn dial(f: &mut Failover, now: Instant) -> usize {
        match f.next(now) {
            Decision::Dial(i) => i,
            other => panic!("expected a dial, got {other:?}"),
        }
    }

    /// A session on `index` at `now` that authorizes and gets work at once.
    fn working_session(f: &mut Failover, index: usize, now: Instant) {
        assert_eq!(dial(f, now), index);
        f.connected(index, now);
        f.authorized(now);
        f.work(now);
    }

    /// Reference case: a pool that authorized and then dropped was redialled about once a
    /// second for ever, because authorizing reset the backoff.
    #[test]
    fn backoff_grows_until_a_session_has_been_healthy() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(1, timing(), clock.at(0));
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            working_session(&mut f, 0, clock.at(now));
            // Up, authorized and working for 5 s, then dropped: not healthy yet.
            now += 5;
            let next = f.dropped(clock.at(now)).expect("a session was live");
            let wait = next.duration_since(clock.at(now)).as_secs();
            assert_eq!(f.next(clock.at(now)), Decision::Wait(Some(next)));
            waits.push(wait);
            now += wait;
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);

        // Healthy for 60 s: the backoff starts again from the minimum.
        working_session(&mut f, 0, clock.at(now));
        now += 61;
        let next = f.dropped(clock.at(now)).expect("a session was live");
        assert_eq!(next, clock.at(now + 1));
        now += 1;
        working_session(&mut f, 0, clock.at(now));
        now += 1;
        assert_eq!(f.dropped(clock.at(now)), Some(clock.at(now + 2)));
    }

    #[test]
    fn a_session_without_work_is_not_healthy_however_long_it_lasts() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(1, timing(), clock.at(0));
        assert_eq!(dial(&mut f, clock.at(0)), 0);
        f.connected(0, clock.at(0));
        f.authorized(clock.at(1));
        // Authorized, no job: dropped for want of work once the request deadline passes.
        assert_eq!(
            f.next(clock.at(30)),
            Decision::Drop("did not authorize and send work within 30 s".into())
        );
    }

    #[test]
    fn deadlines_bound_the_dial_the_handshake_and_the_answers() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(2, timing(), clock.at(0));
        assert_eq!(dial(&mut f, clock.at(0)), 0);
        assert_eq!(f.next(clock.at(3)), Decision::Wait(Some(clock.at(10))));
        assert_eq!(
            f.next(clock.at(10)),
            Decision::Abandon("did not connect within 10 s".into())
        );
        assert_eq!(f.dialing(), None);
        // The first pool waits out its backoff; the second is tried meanwhile.
        assert_eq!(dial(&mut f, clock.at(10)), 1);
        f.connected(1, clock.at(10));
        // The preferred pool is probed as soon as its backoff is over.
        assert_eq!(dial(&mut f, clock.at(12)), 0);
        f.connect_failed(0, clock.at(13));
        assert_eq!(f.next(clock.at(14)), Decision::Wait(Some(clock.at(40))));
        assert_eq!(
            f.next(clock.at(40)),
            Decision::Drop("did not authorize and send work within 30 s".into())
        );
        f.dropped(clock.at(40));

        // A pool that stops answering shares is left `request_timeout` after its last answer.
        assert_eq!(dial(&mut f, clock.at(42)), 0);
        f.connected(0, clock.at(42));
        f.authorized(clock.at(42));
        f.work(clock.at(42));
        f.share_sent(clock.at(50));
        f.share_sent(clock.at(55));
        f.share_answered(clock.at(60));
        assert_eq!(f.next(clock.at(89)), Decision::Wait(Some(clock.at(90))));
        assert_eq!(
            f.next(clock.at(90)),
            Decision::Drop("answered none of 1 shares within 30 s".into())
        );
        f.share_answered(clock.at(90));
        assert_eq!(f.next(clock.at(200)), Decision::Wait(None));
    }

    #[test]
    fn a_lower_pool_is_left_for_a_preferred_one_that_connects() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(3, timing(), clock.at(0));
        assert_eq!(dial(&mut f, clock.at(0)), 0);
        f.connect_failed(0, clock.at(0));
        assert_eq!(dial(&mut f, clock.at(0)), 1);
        f.connect_failed(1, clock.at(0));
        working_session(&mut f, 2, clock.at(0));
        assert_eq!(f.current(), Some(2));
        assert_eq!(
            dial(&mut f, clock.at(1)),
            0,
            "the first probe goes out when due"
        );
        f.connect_failed(0, clock.at(1));
        // Pool 1 is due at 1 s too, but probes wait for retry_primary.
        assert_eq!(f.next(clock.at(2)), Decision::Wait(Some(clock.at(31))));
        assert_eq!(dial(&mut f, clock.at(31)), 0);
        assert_eq!(f.connected(0, clock.at(31)), Some(2));
        assert_eq!(f.current(), Some(0));
        // Leaving pool 2 was not its fault: it is due at once should the others fail.
        f.dropped(clock.at(32));
        assert_eq!(dial(&mut f, clock.at(32)), 1);
        f.connect_failed(1, clock.at(32));
        assert_eq!(dial(&mut f, clock.at(32)), 2);
    }

    /// The operator prefers a lower pool: it is probed at once (no wait for retry_primary,
    /// nor for its backoff), replaces the session when it connects, and from then on is the
    /// one failover returns to; the others keep their order behind it.
    #[test]
    fn a_pool_the_operator_prefers_is_moved_to_at_once_and_kept_first() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(3, timing(), clock.at(0));
        working_session(&mut f, 0, clock.at(0));
        // Pool 2 failed once: its backoff would hold it off for a second.
        f.failed(2, clock.at(0), Duration::ZERO);
        assert_eq!(
            f.next(clock.at(0)),
            Decision::Wait(None),
            "on the first pool"
        );

        f.prefer(2, clock.at(0));
        assert_eq!(dial(&mut f, clock.at(0)), 2, "probed at once");
        assert_eq!(f.connected(2, clock.at(0)), Some(0), "replacing pool 0");
        f.authorized(clock.at(0));
        f.work(clock.at(0));
        assert_eq!(
            f.next(clock.at(100)),
            Decision::Wait(None),
            "2 is first now"
        );

        // Pool 2 drops: failover goes down the new order, 0 then 1, and comes back to 2.
        f.dropped(clock.at(100));
        assert_eq!(dial(&mut f, clock.at(100)), 0);
        f.connect_failed(0, clock.at(100));
        assert_eq!(dial(&mut f, clock.at(100)), 1);
        f.connected(1, clock.at(100));
        f.authorized(clock.at(100));
        f.work(clock.at(100));
        // 2 and 0 are due again at the same time: 2 is probed, as the preferred one.
        assert_eq!(f.next(clock.at(100)), Decision::Wait(Some(clock.at(101))));
        assert_eq!(dial(&mut f, clock.at(101)), 2);
        assert_eq!(f.connected(2, clock.at(101)), Some(1));

        // Preferring a pool there is not changes nothing.
        f.prefer(7, clock.at(103));
        assert_eq!(f.order, [2, 0, 1]);
    }

    #[test]
    fn credentials_refused_everywhere_give_up_unless_once_accepted() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(2, timing(), clock.at(0));
        for (i, now) in [(0, 0), (1, 0)] {
            assert_eq!(dial(&mut f, clock.at(now)), i);
            f.connected(i, clock.at(now));
            f.auth_rejected(&format!("pool {i}: no"), clock.at(now));
            f.dropped(clock.at(now));
        }
        assert_eq!(
            f.next(clock.at(5)),
            Decision::GiveUp("every pool rejected the credentials: pool 0: no; pool 1: no".into())
        );

        let mut f = Failover::new(1, timing(), clock.at(0));
        working_session(&mut f, 0, clock.at(0));
        f.dropped(clock.at(1));
        assert_eq!(dial(&mut f, clock.at(2)), 0);
        f.connected(0, clock.at(2));
        f.auth_rejected("pool 0: no", clock.at(2));
        f.dropped(clock.at(2));
        assert!(matches!(f.next(clock.at(3)), Decision::Wait(_)));
    }

    #[test]
    fn reconnect_requests_wait_and_count_as_failures_until_healthy() {
        let clock = Clock(Instant::now());
        let mut f = Failover::new(2, timing(), clock.at(0));
        working_session(&mut f, 0, clock.at(0));
        // Healthy, then a maintenance request: honoured as asked, backoff untouched.
        assert_eq!(
            f.reconnect_requested(5 * S, clock.at(100)),
            Some(clock.at(105))
        );
        assert_eq!(f.next(clock.at(101)), Decision::Wait(Some(clock.at(105))));
        // A hold is for every pool: the second is not dialled meanwhile either.
        assert_eq!(f.next_dial(clock.at(101)), (1, clock.at(105)));
        working_session(&mut f, 0, clock.at(105));
        // Asked again and again on sessions that never became healthy: the waits grow.
        let mut now = 105;
        let mut waits = Vec::new();
        for _ in 0..4 {
            now += 1;
            let at = f
                .reconnect_requested(Duration::ZERO, clock.at(now))
                .expect("a session was live");
            let wait = at.duration_since(clock.at(now)).as_secs();
            waits.push(wait);
            now += wait;
            working_session(&mut f, 0, clock.at(now));
        }
        assert_eq!(waits, [1, 2, 4, 8]);
    }

    fn url(text: &str) -> PoolUrl {
        PoolUrl::parse(text).expect("test URL")
    }

    #[test]
    fn reconnect_goes_only_to_the_same_or_an_allowed_host() {
        let configured = url("stratum+ssl://Pool.Example.com:3333");
        let allowed = ["backup.example.com".to_string()];
        let target = |host: Option<&str>, port| {
            reconnect_target(&configured, &configured, &allowed, host, port)
        };
        assert_eq!(target(None, None), Ok(configured.clone()));
        assert_eq!(
            target(Some("pool.example.com."), Some(4444)),
            Ok(url("stratum+ssl://pool.example.com.:4444"))
        );
        assert_eq!(
            target(Some("BACKUP.example.com"), None),
            Ok(url("stratum+ssl://BACKUP.example.com:3333")),
            "the scheme stays TLS"
        );
        assert_eq!(
            target(Some("evil.example.net"), None),
            Err(
                "evil.example.net is neither the configured host nor an allowed reconnect host"
                    .into()
            )
        );
        assert_eq!(
            target(Some("\x1b[2Jconnected to x"), None),
            Err(r#""\x1b[2Jconnected to x" is not a host name"#.into())
        );
        // After an allowed redirect, no host or port means the current one.
        let current = url("stratum+ssl://backup.example.com:5555");
        assert_eq!(
            reconnect_target(&configured, &current, &allowed, None, None),
            Ok(current.clone())
        );
        assert!(reconnect_target(&configured, &current, &[], None, None).is_err());
    }

    // Parsing a V2 URL's authority key needs the V2 crates.
    #[cfg(feature = "sv2")]
    #[test]
    fn a_keyed_v2_pool_may_redirect_anywhere_and_the_key_goes_along() {
        let key = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
        let configured = url(&format!("stratum2+tcp://pool.example.com:3336/{key}"));
        assert_eq!(
            reconnect_target(
                &configured,
                &configured,
                &[],
                Some("other.example.net"),
                None
            ),
            Ok(url(&format!("stratum2+tcp://other.example.net:3336/{key}")))
        );
        // Without a key (the check skipped explicitly) nothing vouches for the new server.
        let unkeyed = url("stratum2+tcp://pool.example.com:3336");
        assert_eq!(
            reconnect_target(&unkeyed, &unkeyed, &[], None, Some(4000)),
            Ok(url("stratum2+tcp://pool.example.com:4000"))
        );
        assert_eq!(
            reconnect_target(&unkeyed, &unkeyed, &[], Some("other.example.net"), None),
            Err(
                "other.example.net is neither the configured host nor an allowed reconnect host"
                    .into()
            )
        );
    }
}
