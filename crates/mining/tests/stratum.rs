//! The Stratum V1 pool client end to end against the in-repo test pool, which validates every
//! share with its own hashing: real searches on real jobs, both error dialects, version
//! rolling, pool-driven changes, failover and return, TLS, and hostile pools.

use sha256d::Target;
use sha256d_mining::pool::PoolStatus;
use sha256d_mining::{Event, Job, PoolSource, Share, Source, TlsSettings, Verdict};
use sha256d_testkit::testpool::{Action, Dialect, Settings, TestPool, TlsIdentity};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "common/stratum.rs"]
mod v1;

use v1::{accepted, is_from, mine, options, source, Watch, PATIENCE};

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

/// The operator switches to the second pool: the source moves there at its next poll (the
/// first session closed once the second connects), the work comes from it, the board shows
/// it active and counts its verdicts, and a switch to a pool there is not is refused.
#[test]
fn a_switch_to_the_second_pool_moves_the_work_and_the_board_follows() {
    let a = TestPool::start(Settings::new("a"));
    let b = TestPool::start(Settings::new("b"));
    let mut src = source(&[a.url(), b.url()]);
    let board = src.board();
    let untried: Vec<_> = board.pools().iter().map(|p| p.status).collect();
    assert_eq!(untried, [PoolStatus::Untried; 2]);
    let mut w = Watch::new(&mut src);
    let job = w.job_where("a job from a", is_from("a"));
    let share = mine(&job, &[0; 4]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    let pools = board.pools();
    assert!(pools[0].active && !pools[1].active, "{pools:?}");
    assert_eq!(pools[0].status, PoolStatus::Alive);
    let difficulty = job.share_target.difficulty_float();
    assert_eq!(
        (pools[0].accepted, pools[0].difficulty),
        (1, Some(difficulty))
    );
    assert_eq!(pools[1].status, PoolStatus::Untried);

    assert_eq!(
        board.switch_to(2),
        Err("no pool 2: the pools are 0 to 1".into())
    );
    board.switch_to(1).expect("pool 1 is there");
    w.notice(&format!(
        "pool {} is preferred now; leaving {} once it connects",
        b.url(),
        a.url()
    ));
    w.notice(&format!("pool {} is back; leaving {}", b.url(), a.url()));
    let job = w.job_where("a job from b", is_from("b"));
    let share = mine(&job, &[0, 0, 0, 1]);
    w.submit(share.clone());
    accepted(&share, &w.verdict());
    w.submit(miss(&job));
    let (_, verdict) = w.verdict();
    assert!(matches!(verdict, Verdict::Rejected { .. }), "{verdict:?}");
    assert_eq!(b.accepted().len(), 1);
    assert_eq!(a.accepted().len(), 1);

    let pools = board.pools();
    assert!(!pools[0].active && pools[1].active, "{pools:?}");
    assert_eq!(pools[1].status, PoolStatus::Alive);
    let counts: Vec<_> = pools.iter().map(|p| (p.accepted, p.rejected)).collect();
    assert_eq!(counts, [(1, 0), (1, 1)]);
    // The board shows the worker name, never the password ("pw").
    assert!(pools.iter().all(|p| p.user == "w1"), "{pools:?}");
    assert!(!format!("{pools:?}").contains("pw"), "{pools:?}");
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
