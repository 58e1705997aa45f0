//! The Stratum V1 pool client against hostile pools (the in-repo test pool misbehaving on
//! purpose): no panic, nothing from the pool reaches a terminal raw, reconnections only where
//! the configuration allows, and shares neither lost nor sent where they cannot count.

use sha256d_mining::{Event, PoolSource, Source, Verdict};
use sha256d_testkit::testpool::{Action, Dialect, Hostile, Settings, TestPool};
use std::time::{Duration, Instant};

#[path = "common/stratum.rs"]
mod v1;

use v1::{accepted, is_from, mine, options, source, Watch, PATIENCE};

#[test]
fn hostile_pools_are_left_without_a_panic() {
    for (hostile, says) in [
        (Hostile::HugeLine(100 << 20), "longer than 1048576 bytes"),
        (Hostile::InvalidUtf8, "not UTF-8"),
        (Hostile::DeepNesting, "recursion limit"),
    ] {
        let mut settings = Settings::new("evil");
        settings.hostile = hostile;
        let evil = TestPool::start(settings);
        let good = TestPool::start(Settings::new("good"));
        let mut src = source(&[evil.url(), good.url()]);
        let mut w = Watch::new(&mut src);
        let notice = w.notice("sent bad data");
        assert!(notice.contains(says), "{hostile:?}: {notice}");
        w.job_where("a job from the good pool", is_from("good"));
        if let Hostile::HugeLine(total) = hostile {
            // The client stopped reading after the cap: most of the line was never taken.
            let end = Instant::now() + PATIENCE;
            while evil.hostile_bytes_sent() == 0 {
                assert!(Instant::now() < end, "the hostile writer never finished");
                std::thread::sleep(Duration::from_millis(10));
            }
            let sent = evil.hostile_bytes_sent();
            assert!(sent < total / 4, "{sent} of {total} bytes went through");
        }
    }
}

/// Every notice and every rejection reason the source produced is printable as it stands.
fn assert_printable(events: &[Event]) {
    for ev in events {
        let text = match ev {
            Event::Notice(n) => n,
            Event::Verdict {
                verdict: Verdict::Rejected { reason, .. },
                ..
            } => reason,
            _ => continue,
        };
        assert!(!text.chars().any(char::is_control), "raw control: {text:?}");
    }
}

/// Polls for `how_long`, whatever comes, keeping the events.
fn keep_polling(w: &mut Watch<'_>, how_long: Duration) {
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        let events = w.src.poll(Duration::from_millis(50)).expect("not fatal");
        w.seen.extend(events);
    }
}

fn submits_received(pool: &TestPool) -> usize {
    pool.received()
        .iter()
        .filter(|(_, l)| l.contains("\"mining.submit\""))
        .count()
}

/// Reference case: `client.reconnect` was followed to any host, with the worker name and
/// password, and its host string was printed raw.
#[test]
fn hostile_pool_reconnect_to_another_host_is_refused_and_the_credentials_stay() {
    let a = TestPool::start(Settings::new("a"));
    let b = TestPool::start(Settings::new("b"));
    let mut src = source(&[a.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    // `localhost` reaches b's port, but it is not the host the pool was configured with.
    a.act(Action::Reconnect {
        host: Some("localhost".into()),
        port: Some(b.port()),
        wait: 0,
    });
    assert_eq!(
        w.notice("refused"),
        format!(
            "pool {} asked to reconnect elsewhere; refused, staying: localhost is neither the \
             configured host nor an allowed reconnect host",
            a.url()
        )
    );
    a.act(Action::Reconnect {
        host: Some("\x1b[2J\rconnected to stratum+tcp://evil:1 as w1".into()),
        port: None,
        wait: 0,
    });
    assert_eq!(
        w.notice("not a host name"),
        format!(
            "pool {} asked to reconnect elsewhere; refused, staying: \"\\x1b[2J connected to \
             stratum+tcp://evil:1 as w1\" is not a host name",
            a.url()
        )
    );
    // Still on the first connection to a, which takes the share.
    let share = mine(&job, &[0, 0, 0, 1]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(a.accepted()[0].conn, 1);
    assert_eq!(a.connections(), 1);
    assert_eq!(b.connections(), 0, "the credentials went to another host");
    assert_printable(&w.seen);

    // A host the user allowed is followed.
    let mut opts = options(&[a.url()]);
    opts.pools[0] = opts.pools[0].clone().with_reconnect_hosts(["localhost"]);
    let mut src = PoolSource::new(opts).expect("valid options");
    let mut w = Watch::new(&mut src);
    w.job_where("a job from a", is_from("a"));
    a.act(Action::Reconnect {
        host: Some("localhost".into()),
        port: Some(b.port()),
        wait: 0,
    });
    w.notice(&format!(
        "asked to reconnect to stratum+tcp://localhost:{}",
        b.port()
    ));
    w.job_where("a job from b", is_from("b"));
    assert_eq!(b.connections(), 1);
}

/// A pool's messages and reject reasons cannot clear the screen, recolour it, or overwrite
/// the line with a forged one.
#[test]
fn hostile_pool_control_characters_are_shown_escaped() {
    let mut settings = Settings::new("c");
    settings.dialect = Dialect::Ckpool;
    settings.reject_reason = Some("\x1b[2J\x1b[31mno {n}\r\nconnected to evil".into());
    let pool = TestPool::start(settings);
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    pool.act(Action::ShowMessage(
        "\x1b]0;pwned\x07\rconnected to stratum+tcp://evil:1 as w1\u{202e}".into(),
    ));
    assert_eq!(
        w.notice("message from the pool"),
        format!(
            "{}: message from the pool: \\x1b]0;pwned\\x07 connected to stratum+tcp://evil:1 \
             as w1\\u{{202e}}",
            pool.url()
        )
    );
    let share = mine(&job, &[0, 0, 0, 1]);
    w.submit(share.clone());
    assert_eq!(
        w.verdict(),
        (
            share,
            Verdict::Rejected {
                reason: "\\x1b[2J\\x1b[31mno 0  connected to evil".into(),
                stale: false
            }
        )
    );
    assert_printable(&w.seen);
}

/// Reference case: a pool that dropped the connection after each submit got the same share
/// again on every reconnect, 24 times in 25 s.
#[test]
fn hostile_pool_that_drops_on_every_share_gets_it_three_times_then_it_is_lost() {
    let mut settings = Settings::new("s");
    settings.hostile = Hostile::DropOnSubmit;
    let pool = TestPool::start(settings);
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    let share = mine(&job, &[0, 0, 0, 1]);
    w.submit(share.clone());
    assert_eq!(
        w.verdict(),
        (
            share,
            Verdict::Rejected {
                reason: format!(
                    "lost: the connection dropped before its verdict each of the {} times it \
                     was sent",
                    1 + sha256d_mining::pool::MAX_RESENDS
                ),
                stale: false
            }
        )
    );
    // Connections go on, with growing waits, but the share is not sent again.
    keep_polling(&mut w, Duration::from_secs(1));
    assert_eq!(submits_received(&pool), 3);
}

/// Reference case: backoff reset on every authorize, so a pool that authorized and then
/// dropped was redialled about once a second for ever.
#[test]
fn hostile_pool_that_drops_after_authorizing_is_redialled_ever_less_often() {
    let mut settings = Settings::new("d");
    settings.hostile = Hostile::DropAfterAuthorize;
    let pool = TestPool::start(settings);
    let mut opts = options(&[pool.url()]);
    opts.backoff_min = Duration::from_millis(100);
    opts.backoff_max = Duration::from_secs(10);
    let mut src = PoolSource::new(opts).expect("valid options");
    let mut w = Watch::new(&mut src);
    let waits: Vec<String> = (0..4)
        .map(|_| {
            let n = w.notice(", trying ");
            n.rsplit(" in ").next().expect("a wait").to_string()
        })
        .collect();
    assert_eq!(waits, ["100 ms", "200 ms", "400 ms", "800 ms"]);
    assert!(w.seen.iter().any(|e| matches!(e, Event::Job(_))));
}

/// Reference case: with a new extranonce1 after a reconnect the queued shares were dropped
/// as stale with a reason that did not say why.
#[test]
fn hostile_pool_new_extranonce1_after_reconnect_makes_queued_shares_stale_and_says_so() {
    let pool = TestPool::start(Settings::new("e"));
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    let share = mine(&job, &[0, 0, 0, 1]);
    pool.set(|s| s.extranonce1 = vec![0xb0, 0, 0, 2]);
    pool.act(Action::Reconnect {
        host: None,
        port: None,
        wait: 1,
    });
    w.notice("asked to reconnect");
    w.submit(share.clone());
    let next = w.job_where("a job under the new extranonce1", |j| {
        j.extranonce1 == [0xb0, 0, 0, 2]
    });
    assert_eq!(next.id, job.id, "the same job id, another coinbase");
    assert_eq!(
        w.verdict(),
        (
            share,
            Verdict::Rejected {
                reason: "stale: the pool gave the new connection another extranonce1, so the \
                         share's coinbase is not one the pool can rebuild"
                    .into(),
                stale: true
            }
        )
    );
    let fresh = mine(&next, &[0, 0, 0, 1]);
    w.submit(fresh.clone());
    accepted(&fresh, &w.verdict());
}

/// A pool that takes the connection and keeps it busy with pings but never answers
/// subscribe or authorize is left at the request deadline, not kept for ever.
#[test]
fn hostile_pool_that_never_answers_is_left_at_the_request_deadline() {
    let mut settings = Settings::new("m");
    settings.hostile = Hostile::Mute;
    let mute = TestPool::start(settings);
    let good = TestPool::start(Settings::new("good"));
    let mut opts = options(&[mute.url(), good.url()]);
    opts.request_timeout = Duration::from_secs(3);
    let mut src = PoolSource::new(opts).expect("valid options");
    let mut w = Watch::new(&mut src);
    assert_eq!(
        w.notice("did not authorize"),
        format!(
            "pool {} did not authorize and send work within 3 s, trying {} in 0 ms",
            mute.url(),
            good.url()
        )
    );
    w.job_where("a job from the good pool", is_from("good"));
}

/// A pool that gives every connection its own extranonce1 gives the old one back when the
/// miner resumes its subscription, so a share found before a reconnect is still a share.
#[test]
fn reconnect_resumes_the_subscription_so_queued_shares_survive() {
    let mut settings = Settings::new("r");
    settings.fresh_extranonce1 = true;
    let pool = TestPool::start(settings);
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    assert_eq!(
        job.extranonce1,
        [0xa0, 0, 0, 2],
        "connection 1's own extranonce1"
    );
    let share = mine(&job, &[0, 0, 0, 1]);
    pool.act(Action::Reconnect {
        host: None,
        port: None,
        wait: 1,
    });
    w.notice("asked to reconnect");
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(pool.accepted()[0].conn, 2);
    let subscribe = |conn: usize| {
        pool.received()
            .into_iter()
            .find(|(c, l)| *c == conn && l.contains("mining.subscribe"))
            .map(|(_, l)| serde_json::from_str::<serde_json::Value>(&l).expect("JSON"))
            .expect("a subscribe")["params"]
            .clone()
    };
    assert_eq!(subscribe(1).as_array().map(Vec::len), Some(1));
    assert_eq!(subscribe(2)[1], "a0000002");
}
