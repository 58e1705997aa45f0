//! The Stratum V1 pool client end to end against the in-repo test pool, which validates every
//! share with its own hashing: real searches on real jobs, both error dialects, version
//! rolling, pool-driven changes, failover and return, TLS, and hostile pools.

use sha256d::{Control, Target, Work};
use sha256d_mining::{
    Event, Job, PoolConfig, PoolOptions, PoolSource, PoolUrl, Share, Source, TlsSettings, Verdict,
};
use sha256d_testkit::testpool::{Action, Dialect, Hostile, Settings, TestPool, TlsIdentity};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Long enough for a loaded CI machine; every wait returns as soon as its event comes.
const PATIENCE: Duration = Duration::from_secs(30);

fn options(urls: &[String]) -> PoolOptions {
    let pools = urls
        .iter()
        .map(|u| PoolConfig::new(PoolUrl::parse(u).expect("test URL"), "w1", "pw"))
        .collect();
    let mut o = PoolOptions::new(pools);
    o.backoff_min = Duration::from_millis(50);
    o.backoff_max = Duration::from_millis(400);
    o.retry_primary = Duration::from_millis(300);
    o.connect_timeout = Duration::from_secs(5);
    o.idle_timeout = Duration::from_secs(20);
    o
}

fn source(urls: &[String]) -> PoolSource {
    PoolSource::new(options(urls)).expect("valid options")
}

/// Polls until `pick` finds what it wants, keeping every event seen on the way.
struct Watch<'a> {
    src: &'a mut PoolSource,
    seen: Vec<Event>,
    /// Events polled but not yet looked at (a poll can return several).
    pending: std::collections::VecDeque<Event>,
}

impl<'a> Watch<'a> {
    fn new(src: &'a mut PoolSource) -> Self {
        Watch {
            src,
            seen: Vec::new(),
            pending: Default::default(),
        }
    }

    fn until<T>(&mut self, what: &str, mut pick: impl FnMut(&Event) -> Option<T>) -> T {
        let end = Instant::now() + PATIENCE;
        loop {
            while let Some(ev) = self.pending.pop_front() {
                let hit = pick(&ev);
                self.seen.push(ev);
                if let Some(t) = hit {
                    return t;
                }
            }
            assert!(
                Instant::now() < end,
                "no {what} within {PATIENCE:?}; saw {:#?}",
                self.seen
            );
            let start = Instant::now();
            let events = self
                .src
                .poll(Duration::from_millis(100))
                .unwrap_or_else(|e| panic!("poll failed waiting for {what}: {e}"));
            assert!(
                start.elapsed() < Duration::from_millis(100) + Duration::from_secs(1),
                "poll overran its timeout"
            );
            self.pending.extend(events);
        }
    }

    fn job(&mut self) -> Arc<Job> {
        self.until("job", |e| match e {
            Event::Job(j) => Some(j.clone()),
            _ => None,
        })
    }

    fn job_where(&mut self, what: &str, f: impl Fn(&Job) -> bool) -> Arc<Job> {
        self.until(what, |e| match e {
            Event::Job(j) if f(j) => Some(j.clone()),
            _ => None,
        })
    }

    fn verdict(&mut self) -> (Share, Verdict) {
        self.until("verdict", |e| match e {
            Event::Verdict { share, verdict } => Some((share.clone(), verdict.clone())),
            _ => None,
        })
    }

    fn notice(&mut self, needle: &str) -> String {
        self.until(needle, |e| match e {
            Event::Notice(n) if n.contains(needle) => Some(n.clone()),
            _ => None,
        })
    }

    fn submit(&mut self, share: Share) {
        let events = self.src.submit(share).expect("submit");
        self.pending.extend(events);
    }
}

/// Searches `job` for a share: the first result on the best CPU engine, with nonzero rolled
/// version bits when the job allows rolling.
fn mine(job: &Arc<Job>, extranonce2: &[u8]) -> Share {
    let engine = sha256d::best();
    let header = job.header(extranonce2, job.ntime);
    let mut work = Work::new(header, job.share_target);
    if job.version_mask != 0 {
        work = work
            .with_nonces(0..1 << 12)
            .expect("range")
            .with_version_rolling(job.version_mask, 1 << job.version_mask.count_ones())
            .expect("rolls fit the mask");
    }
    let ctl = Control::new();
    let mut found = None;
    engine
        .search_stream(&work, &ctl, &mut |f| {
            if found.is_none() && (job.version_mask == 0 || f.version & job.version_mask != 0) {
                found = Some(*f);
                ctl.cancel();
            }
        })
        .expect("search");
    let f = found.expect("a share within the searched range");
    let mut header = header;
    header.version = f.version;
    header.nonce = f.nonce;
    assert_eq!(header.block_hash(), f.hash);
    Share {
        job: job.clone(),
        extranonce2: extranonce2.to_vec(),
        header,
        hash: f.hash,
        is_block: job.block_target.is_met_by(&f.hash),
        stale: false,
    }
}

/// A share on `job` whose hash misses the share target.
fn miss(job: &Arc<Job>) -> Share {
    let mut header = job.header(&vec![0; job.extranonce2_size], job.ntime);
    let nonce = (0u32..)
        .find(|&n| {
            header.nonce = n;
            !job.share_target.is_met_by(&header.block_hash())
        })
        .expect("most hashes miss");
    header.nonce = nonce;
    Share {
        job: job.clone(),
        extranonce2: vec![0; job.extranonce2_size],
        header,
        hash: header.block_hash(),
        is_block: false,
        stale: false,
    }
}

fn accepted(share: &Share, verdict: &(Share, Verdict)) {
    assert_eq!(verdict, &(share.clone(), Verdict::Accepted));
}

/// The method names a connection sent, in order.
fn methods(pool: &TestPool, conn: usize) -> Vec<String> {
    pool.received()
        .into_iter()
        .filter(|(c, _)| *c == conn)
        .map(|(_, l)| {
            let v: serde_json::Value = serde_json::from_str(&l).expect("client sends JSON");
            v["method"].as_str().unwrap_or("").to_string()
        })
        .collect()
}

fn disabled_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("ephemeral port")
        .port()
}

#[test]
fn shares_found_on_a_real_job_are_accepted() {
    let pool = TestPool::start(Settings::new("a"));
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    // The pool sent the work before answering mining.authorize.
    let connected = w.notice("connected to");
    assert_eq!(connected, format!("connected to {} as w1", pool.url()));
    assert_eq!(job.extranonce1, vec![0xa0, 0, 0, 1]);
    assert_eq!(job.extranonce2_size, 4);
    assert_eq!(job.merkle_branch.len(), 2);
    assert_eq!(
        job.version_mask, 0,
        "the pool answered mining.configure with {{}}"
    );
    assert_eq!(
        job.share_target,
        Target::from_difficulty(1e-5).expect("valid")
    );
    assert_eq!(job.height, Some(101));
    assert!(job.clean);
    for en2 in [[0, 0, 0, 0], [0, 0, 0, 1]] {
        let share = mine(&job, &en2);
        w.submit(share.clone());
        accepted(&share, &w.verdict());
    }
    assert_eq!(pool.accepted().len(), 2);
    assert_eq!(pool.rejected(), vec![]);
    let submitted = &pool.accepted()[0].params;
    assert_eq!(submitted.len(), 5, "no version bits without rolling");
    assert_eq!(
        methods(&pool, 1),
        [
            "mining.configure",
            "mining.subscribe",
            "mining.authorize",
            "mining.submit",
            "mining.submit"
        ]
    );
    assert_eq!(
        w.src.describe(),
        format!("{} as w1 (pool 1 of 1)", pool.url())
    );
}

#[test]
fn version_rolling_sends_the_rolled_bits_and_follows_set_version_mask() {
    let mut settings = Settings::new("r");
    settings.rolling_mask = Some(0x1fff_e000);
    settings.dialect = Dialect::Ckpool;
    settings.extranonce2_size = 8;
    let pool = TestPool::start(settings);
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    assert_eq!(job.version_mask, 0x1fff_e000);
    let share = mine(&job, &[7; 8]);
    assert_ne!(share.version_bits(), 0);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    let seen = pool.accepted();
    assert_eq!(seen[0].params[5], format!("{:08x}", share.version_bits()));
    assert_eq!(seen[0].version, share.header.version);
    assert_eq!(seen[0].hash, share.hash.to_string());

    pool.act(Action::SetVersionMask(0x00ff_e000));
    let again = w.job_where("job under the new mask", |j| j.version_mask == 0x00ff_e000);
    assert!(again.clean);
    assert_eq!(again.id, job.id);
    let share = mine(&again, &[8; 8]);
    assert_eq!(share.version_bits() & !0x00ff_e000, 0);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
}

#[test]
fn set_extranonce_and_fractional_difficulty_apply_from_the_next_job() {
    let pool = TestPool::start(Settings::new("x"));
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let first = w.job();
    pool.act(Action::SetExtranonce(vec![1, 2, 3], 6));
    pool.act(Action::SetDifficulty(2.5e-6));
    assert_eq!(
        w.until("difficulty", |e| match e {
            Event::Difficulty(d) => Some(*d),
            _ => None,
        }),
        2.5e-6
    );
    pool.act(Action::Notify { clean: false });
    let job = w.job();
    assert_ne!(job.id, first.id);
    assert!(!job.clean);
    assert_eq!(job.extranonce1, vec![1, 2, 3]);
    assert_eq!(job.extranonce2_size, 6);
    assert_eq!(
        job.share_target,
        Target::from_difficulty(2.5e-6).expect("valid")
    );
    let share = mine(&job, &[1, 2, 3, 4, 5, 6]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
}

/// Above-target, stale and duplicate shares, in the numeric and the ckpool dialect.
#[test]
fn rejections_are_classified_in_both_dialects() {
    for (dialect, low, stale, dup) in [
        (
            Dialect::Numeric,
            "Low difficulty share (23)",
            "Job not found (21)",
            "Duplicate share (22)",
        ),
        (Dialect::Ckpool, "Above target", "Stale", "Duplicate"),
    ] {
        let mut settings = Settings::new("d");
        settings.dialect = dialect;
        let pool = TestPool::start(settings);
        let mut src = source(&[pool.url()]);
        let mut w = Watch::new(&mut src);
        let job = w.job();

        let bad = miss(&job);
        w.submit(bad.clone());
        let expect = |reason: &str, stale: bool| Verdict::Rejected {
            reason: reason.into(),
            stale,
        };
        assert_eq!(w.verdict(), (bad, expect(low, false)), "{dialect:?}");

        let good = mine(&job, &[0, 0, 0, 9]);
        w.submit(good.clone());
        accepted(&good, &w.verdict());
        w.submit(good.clone());
        assert_eq!(w.verdict(), (good, expect(dup, false)), "{dialect:?}");

        let old = mine(&job, &[0, 0, 0, 10]);
        pool.act(Action::Notify { clean: true });
        let next = w.job_where("the clean job", |j| j.id != job.id);
        assert!(next.clean);
        w.submit(old.clone());
        assert_eq!(w.verdict(), (old, expect(stale, true)), "{dialect:?}");
        let fresh = mine(&next, &[0, 0, 0, 10]);
        w.submit(fresh.clone());
        accepted(&fresh, &w.verdict());
        assert_eq!(pool.accepted().len(), 2);
        assert_eq!(pool.rejected().len(), 3);
    }
}

#[test]
fn client_reconnect_to_the_same_pool_keeps_queued_shares_whose_job_survives() {
    let pool = TestPool::start(Settings::new("q"));
    let mut src = source(&[pool.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    let share = mine(&job, &[0, 0, 0, 1]);
    pool.act(Action::Reconnect {
        host: None,
        port: None,
        wait: 1,
    });
    w.notice(&format!("asked to reconnect to {} in 1 s", pool.url()));
    // Disconnected: the share waits, and goes out once the new connection has the same job.
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(pool.connections(), 2);
    assert_eq!(pool.accepted()[0].conn, 2);
}

#[test]
fn client_reconnect_to_another_pool_reports_queued_shares_stale() {
    let a = TestPool::start(Settings::new("a"));
    let b = TestPool::start(Settings::new("b"));
    let mut src = source(&[a.url()]);
    let mut w = Watch::new(&mut src);
    let job = w.job();
    let share = mine(&job, &[0, 0, 0, 1]);
    a.act(Action::Reconnect {
        host: Some("127.0.0.1".into()),
        port: Some(b.port()),
        wait: 1,
    });
    w.notice("asked to reconnect");
    w.submit(share.clone());
    let on_b = w.job_where("a job from b", is_from("b"));
    let (s, v) = w.verdict();
    assert_eq!(s, share);
    assert_eq!(
        v,
        Verdict::Rejected {
            reason: "stale: its job did not survive the reconnection to the pool".into(),
            stale: true
        }
    );
    assert_eq!(b.connections(), 1);
    let share = mine(&on_b, &[0, 0, 0, 2]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(b.accepted().len(), 1);
    assert_eq!(a.accepted().len(), 0);
}

fn is_from(tag: &str) -> impl Fn(&Job) -> bool + '_ {
    move |j: &Job| {
        let marker = format!("/testpool {tag}/");
        j.coinb2.starts_with(marker.as_bytes())
    }
}

#[test]
fn failover_when_the_first_pool_refuses_and_return_when_it_is_back() {
    let port = disabled_port();
    let b = TestPool::start(Settings::new("b"));
    let first = format!("stratum+tcp://127.0.0.1:{port}");
    let mut src = source(&[first.clone(), b.url()]);
    let mut w = Watch::new(&mut src);
    let refused = w.notice("refused");
    assert!(
        refused.starts_with(&format!("pool {first} refused: ")),
        "{refused}"
    );
    assert!(
        refused.ends_with(&format!("trying {} in 0 ms", b.url())),
        "{refused}"
    );
    let job = w.job_where("a job from b", is_from("b"));
    let share = mine(&job, &[0; 4]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());

    let a = TestPool::start_on(port, Settings::new("a"));
    w.notice(&format!("pool {first} is back; leaving {}", b.url()));
    let job = w.job_where("a job from a", is_from("a"));
    let share = mine(&job, &[0; 4]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(a.accepted().len(), 1);
}

#[test]
fn failover_when_the_pool_dies_or_sends_garbage() {
    let a = TestPool::start(Settings::new("a"));
    let b = TestPool::start(Settings::new("b"));
    let (a_url, a_port) = (a.url(), a.port());
    let mut src = source(&[a_url.clone(), b.url()]);
    let mut w = Watch::new(&mut src);
    w.job_where("a job from a", is_from("a"));
    a.stop();
    let lost = w.notice("closed the connection");
    assert_eq!(
        lost,
        format!(
            "pool {a_url} closed the connection, trying {} in 0 ms",
            b.url()
        )
    );
    w.job_where("a job from b", is_from("b"));

    let a = TestPool::start_on(a_port, Settings::new("a"));
    w.job_where("a job from a again", is_from("a"));
    a.act(Action::Raw(b"this is not json\n".to_vec()));
    let bad = w.notice("sent bad data");
    assert!(bad.contains("invalid JSON"), "{bad}");
    w.job_where("a job from b again", is_from("b"));
    w.job_where("back on a", is_from("a"));
}

#[test]
fn credentials_refused_by_every_pool_is_an_error() {
    let mut settings = Settings::new("a");
    settings.reject_auth = true;
    let a = TestPool::start(settings.clone());
    settings.dialect = Dialect::Ckpool;
    let b = TestPool::start(settings);
    let mut src = source(&[a.url(), b.url()]);
    let end = Instant::now() + PATIENCE;
    let err = loop {
        match src.poll(Duration::from_millis(100)) {
            Ok(events) => assert!(
                !events.iter().any(|e| matches!(e, Event::Job(_))),
                "{events:?}"
            ),
            Err(e) => break e,
        }
        assert!(Instant::now() < end, "no error");
    };
    assert_eq!(err.kind(), sha256d::ErrorKind::InvalidInput);
    assert_eq!(
        err.message(),
        format!(
            "every pool rejected the credentials: {}: pool rejected the credentials for worker w1: Unauthorized worker (24); {}: pool rejected the credentials for worker w1: result false",
            a.url(),
            b.url()
        )
    );
    assert!(!err.message().contains("pw"));
}

#[test]
fn credentials_refused_by_one_pool_fail_over() {
    let mut settings = Settings::new("a");
    settings.reject_auth = true;
    let a = TestPool::start(settings);
    let b = TestPool::start(Settings::new("b"));
    let mut src = source(&[a.url(), b.url()]);
    let mut w = Watch::new(&mut src);
    let refused = w.notice("rejected the credentials");
    assert!(
        refused.starts_with(&format!(
            "pool {} pool rejected the credentials for worker w1",
            a.url()
        )),
        "{refused}"
    );
    w.job_where("a job from b", is_from("b"));
}

#[test]
fn tls_pool_with_a_private_ca() {
    let tls = TlsIdentity::generate();
    let mut settings = Settings::new("t");
    settings.tls = Some(tls.clone());
    let pool = TestPool::start(settings);
    assert!(pool.url().starts_with("stratum+ssl://127.0.0.1:"));

    // Without the CA the certificate is unknown: the connection is refused, no work arrives.
    let mut untrusting = source(&[pool.url()]);
    let mut w = Watch::new(&mut untrusting);
    let refused = w.notice("refused");
    assert!(refused.contains("TLS handshake"), "{refused}");
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");

    let mut opts = options(&[pool.url()]);
    opts.tls = TlsSettings::default().with_ca_file(&tls.ca_file);
    let mut src = PoolSource::new(opts).expect("valid options");
    let mut w = Watch::new(&mut src);
    let job = w.job();
    let share = mine(&job, &[0; 4]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    assert_eq!(pool.accepted().len(), 1);
}

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
