use super::*;
use crate::Verdict;

fn url(text: &str) -> PoolUrl {
    PoolUrl::parse(text).expect("valid test URL")
}

#[test]
fn options_are_checked_without_connecting() {
    let pool = PoolConfig::new(url("stratum+tcp://127.0.0.1:1"), "w", "secret");
    assert!(!format!("{pool:?}").contains("secret"));
    assert!(PoolSource::new(PoolOptions::new(vec![pool.clone()])).is_ok());
    let cases = [
        (PoolOptions::new(vec![]), "no pool"),
        (
            PoolOptions::new(vec![PoolConfig::new(url("stratum+tcp://h:1"), "", "")]),
            "no worker name",
        ),
        (
            PoolOptions {
                backoff_min: Duration::from_secs(5),
                backoff_max: Duration::from_secs(1),
                ..PoolOptions::new(vec![pool.clone()])
            },
            "backoff",
        ),
        (
            PoolOptions {
                suggest_difficulty: Some(-1.0),
                ..PoolOptions::new(vec![pool.clone()])
            },
            "difficulty",
        ),
        (
            PoolOptions {
                tls: TlsSettings::default().with_ca_file("/nonexistent/ca.pem"),
                ..PoolOptions::new(vec![PoolConfig::new(url("stratum+ssl://h:1"), "w", "x")])
            },
            "CA file",
        ),
    ];
    for (opts, why) in cases {
        let err = PoolSource::new(opts).expect_err(why);
        assert!(err.message().contains(why), "{err}");
    }
}

#[cfg(feature = "sv2")]
#[test]
fn a_v2_pool_needs_its_authority_key_unless_the_check_is_skipped_by_name() {
    let keyless = PoolConfig::new(url("stratum2+tcp://127.0.0.1:34254"), "w", "x");
    let v1 = PoolConfig::new(url("stratum+tcp://127.0.0.1:3333"), "w", "x");
    let mut opts = PoolOptions::new(vec![v1, keyless]);
    let err = PoolSource::new(opts.clone()).expect_err("no key");
    assert!(
        err.message().starts_with(
            "pool stratum2+tcp://127.0.0.1:34254 has no authority key: write it at the end \
             of the URL"
        ),
        "{err}"
    );
    opts.sv2_insecure_skip_authority_check = true;
    assert!(PoolSource::new(opts).is_ok());

    let keyed = url("stratum2+tcp://h:1/9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72");
    assert!(PoolSource::new(PoolOptions::new(vec![PoolConfig::new(keyed, "w", "x")])).is_ok());
    // A key that reached the URL by hand, not through the parser, and is no curve point.
    let mut bad = url("stratum2+tcp://h:1");
    bad.sv2 = Some(crate::net::Sv2Endpoint {
        authority_key: Some([0xff; 32]),
    });
    let err = PoolSource::new(PoolOptions::new(vec![PoolConfig::new(bad, "w", "x")]))
        .expect_err("not a key");
    assert!(
        err.message().contains("not a valid x-only public key"),
        "{err}"
    );
}

/// A pool that accepts the connection and never answers: shares wait for it, but no more
/// than the queue holds.
#[test]
fn shares_for_a_pool_that_never_authorizes_stay_bounded() {
    // The kernel completes the connection; nobody ever reads or answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ephemeral port");
    let port = listener.local_addr().expect("bound").port();
    let pool = PoolConfig::new(url(&format!("stratum+tcp://127.0.0.1:{port}")), "w", "x");
    let mut src = PoolSource::new(PoolOptions::new(vec![pool])).expect("valid");
    let start = Instant::now();
    while !src.describe().contains(" as w ") {
        assert!(start.elapsed() < Duration::from_secs(10), "never connected");
        src.poll(Duration::from_millis(50)).expect("not fatal");
    }
    let mut events = Vec::new();
    for nonce in 0..=MAX_QUEUED_SHARES as u32 {
        events.extend(src.submit(Share::blank(nonce, false)).expect("not fatal"));
    }
    match &events[..] {
        [Event::Verdict {
            share,
            verdict:
                Verdict::Rejected {
                    reason,
                    stale: false,
                },
        }] => {
            assert_eq!(share.header.nonce, 0, "the oldest goes");
            assert!(
                reason.contains("newer shares were already waiting"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(src.queue.len(), MAX_QUEUED_SHARES);
    drop(listener);
}

/// After a drop, the source still names the pool the work came from (the summary printed
/// at the end of a run shows it), and says the connection is gone.
#[test]
fn a_dropped_session_is_described_as_the_pool_it_was() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ephemeral port");
    let addr = listener.local_addr().expect("bound");
    let pool = PoolConfig::new(url(&format!("stratum+tcp://{addr}")), "w", "x");
    let mut opts = PoolOptions::new(vec![pool]);
    opts.backoff_min = Duration::from_secs(60);
    opts.backoff_max = Duration::from_secs(60);
    let mut src = PoolSource::new(opts).expect("valid");
    let accepting = std::thread::spawn(move || drop(listener.accept().expect("connects")));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut notices = Vec::new();
    while notices.is_empty() {
        assert!(Instant::now() < deadline, "the drop was never noticed");
        for event in src.poll(Duration::from_millis(50)).expect("not fatal") {
            if let Event::Notice(n) = event {
                notices.push(n);
            }
        }
    }
    accepting.join().expect("the listener thread");
    // Closed or lost (a broken pipe), as the subscribe's write and the read race.
    assert!(
        notices[0].starts_with(&format!("pool stratum+tcp://{addr} "))
            && notices[0].ends_with(&format!("trying stratum+tcp://{addr} in 60 s")),
        "{notices:?}"
    );
    assert_eq!(
        src.describe(),
        format!("stratum+tcp://{addr} as w (pool 1 of 1), disconnected")
    );
}

#[test]
fn poll_with_nothing_listening_reports_at_once_and_keeps_its_timeout() {
    let (_held, addr) = crate::net::refusing_address();
    let pool = PoolConfig::new(url(&format!("stratum+tcp://{addr}")), "w", "x");
    let mut opts = PoolOptions::new(vec![pool]);
    opts.backoff_min = Duration::from_secs(60);
    opts.backoff_max = Duration::from_secs(60);
    let mut src = PoolSource::new(opts).expect("valid");
    // A poll with no time starts the connection and returns; the refusal then comes in
    // while nobody waits for it.
    assert_eq!(src.poll(Duration::ZERO), Ok(vec![]));
    assert_eq!(
        src.describe(),
        format!("connecting to stratum+tcp://{addr}")
    );
    std::thread::sleep(Duration::from_secs(1));
    // Back with the notice at once, not after a wait towards the 60 s retry (the timeout
    // is generous: a loaded machine can hold the connecting thread for seconds).
    let start = Instant::now();
    let events = src.poll(Duration::from_secs(30)).expect("not fatal");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    match &events[..] {
        [Event::Notice(n)] => assert!(
            n.starts_with(&format!("pool stratum+tcp://{addr} refused: "))
                && n.ends_with(&format!("trying stratum+tcp://{addr} in 60 s")),
            "{n}"
        ),
        other => panic!("{other:?}"),
    }
    let start = Instant::now();
    assert_eq!(src.poll(Duration::from_millis(200)), Ok(vec![]));
    let took = start.elapsed();
    // Generous above: a loaded 2-core machine can deschedule the thread for a while.
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5));
    assert_eq!(src.describe(), "waiting to reconnect");
}

/// A pool that answers shares and then closes: the answers already sent are read when our
/// next write fails on the closed connection, so no share the pool accepted is sent again
/// (it would be stale on the next connection, counted rejected where the pool counted it).
#[test]
fn verdicts_sent_before_a_close_are_read_when_a_write_fails_first() {
    use sha256d_testkit::testpool::{Action, Settings, TestPool};
    let mut settings = Settings::new("answers-then-closes");
    settings.difficulty = 1e-12;
    let pool = TestPool::start(settings);
    let mut opts = PoolOptions::new(vec![PoolConfig::new(url(&pool.url()), "w", "x")]);
    opts.backoff_min = Duration::from_secs(60);
    opts.backoff_max = Duration::from_secs(60);
    let mut src = PoolSource::new(opts).expect("valid");
    let deadline = Instant::now() + Duration::from_secs(60);
    // The job comes before the authorize reply (as ckpool sends them): both are waited for.
    let (mut job, mut authorized) = (None, false);
    while job.is_none() || !authorized {
        assert!(Instant::now() < deadline, "no job, or not authorized");
        for event in src.poll(Duration::from_millis(50)).expect("not fatal") {
            match event {
                Event::Job(j) => job = Some(j),
                Event::Notice(n) => authorized |= n.starts_with("connected to "),
                _ => {}
            }
        }
    }
    let job = job.expect("waited for");
    // Submits without reading, until a write fails: every answer waits in the socket.
    let mut events = Vec::new();
    let mut nonce = 0;
    while !events.iter().any(|e| matches!(e, Event::Notice(_))) {
        assert!(
            Instant::now() < deadline,
            "the close was never noticed: {events:?}"
        );
        events.extend(src.submit(Share::on(&job, nonce)).expect("not fatal"));
        nonce += 1;
        if nonce == 3 {
            pool.act(Action::Close);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let accepted: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Verdict {
                share,
                verdict: Verdict::Accepted,
            } => Some(share.header.nonce),
            _ => None,
        })
        .collect();
    let by_pool: Vec<u32> = pool
        .accepted()
        .iter()
        .map(|s| u32::from_str_radix(&s.params[4], 16).expect("hex nonce"))
        .collect();
    assert!(by_pool.len() >= 3, "{by_pool:?} {events:?}");
    assert_eq!(accepted, by_pool, "{events:?}");
    // Only the shares written after the close wait for the next connection.
    assert_eq!(
        src.queue.len(),
        (nonce as usize) - by_pool.len(),
        "{events:?}"
    );
}
