//! The client against the reference transcripts and hostile input.

use super::*;

fn client() -> Client {
    Client::new(Config::new("worker.1", "secret"))
}

fn feed(c: &mut Client, line: &str) -> Vec<ClientEvent> {
    c.handle_line(line).expect(line)
}

/// Subscribed with the reference pool's extranonce, rolling refused like that pool.
fn subscribed_client() -> Client {
    let mut c = client();
    c.take_outgoing();
    feed(&mut c, r#"{"id":1,"result":{},"error":null}"#);
    let ev = feed(
        &mut c,
        r#"{"id":2,"result":[[["mining.set_difficulty","deadbeefcafebabe0100000000000000"],["mining.notify","deadbeefcafebabe0100000000000000"]],"08000003",4],"error":null}"#,
    );
    assert_eq!(
        ev,
        vec![ClientEvent::Subscribed {
            extranonce1: vec![8, 0, 0, 3],
            extranonce2_size: 4
        }]
    );
    c
}

const WORKED_NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["6","9ee1813dcfcbab96dcb73b55f988b4f3b7ea0645e360a83efad6b15d1c1f4e5f","01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff200167045ea5026b08","0f2f456c6f506f6f6c2e436c6f75642f0000000001f826062a010000001976a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac00000000",["8b897b8e448ce75c507d5f3ae910f0fee28ca3ea7312ef6dc311f0dc095484be","17081bf31b43ab9c6754acc70c33cc7695810c1d0b26ed1bd30bc3dafd7c9da2"],"20000000","207fffff","6b02a55e",false]}"#;

fn job_of(events: &[ClientEvent]) -> Arc<Job> {
    match events {
        [.., ClientEvent::Job(j)] => j.clone(),
        other => panic!("no job in {other:?}"),
    }
}

fn share(job: &Arc<Job>, extranonce2: &[u8], version: u32, nonce: u32) -> Share {
    let mut header = job.header(extranonce2, job.ntime);
    header.version = version;
    header.nonce = nonce;
    Share {
        job: job.clone(),
        extranonce2: extranonce2.to_vec(),
        header,
        hash: header.block_hash(),
        is_block: false,
        stale: false,
    }
}

#[test]
fn opening_requests_are_configure_subscribe_authorize() {
    let mut c = client();
    assert_eq!(
        c.take_outgoing(),
        vec![
            r#"{"id":1,"method":"mining.configure","params":[["version-rolling"],{"version-rolling.mask":"1fffe000","version-rolling.min-bit-count":2}]}"#.to_string(),
            format!(r#"{{"id":2,"method":"mining.subscribe","params":["sha256d/{}"]}}"#, env!("CARGO_PKG_VERSION")),
            r#"{"id":3,"method":"mining.authorize","params":["worker.1","secret"]}"#.to_string(),
        ]
    );
    assert!(c.take_outgoing().is_empty());
    let mut config = Config::new("w", "x");
    config.version_rolling = false;
    let mut c = Client::new(config);
    let out = c.take_outgoing();
    assert_eq!(out.len(), 2);
    assert!(out[0].contains("mining.subscribe"), "{out:?}");
    assert!(!format!("{:?}", Config::new("w", "hunter2")).contains("hunter2"));
}

/// Reference §1.4: the pool-accepted job, its header and the submit line.
#[test]
fn worked_example_notify_builds_the_accepted_share() {
    let mut c = subscribed_client();
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"mining.set_difficulty","params":[0.0001]}"#
        ),
        vec![ClientEvent::Difficulty(0.0001)]
    );
    let job = job_of(&feed(&mut c, WORKED_NOTIFY));
    assert_eq!(
        hex::encode(&job.prev_hash),
        "3d81e19e96abcbcf553bb7dcf3b488f94506eab73ea860e35db1d6fa5f4e1f1c"
    );
    assert_eq!(job.id, "6");
    assert_eq!(job.extranonce1, vec![8, 0, 0, 3]);
    assert_eq!(job.extranonce2_size, 4);
    assert_eq!(job.version, 0x2000_0000);
    assert_eq!(job.version_mask, 0);
    assert_eq!(job.bits, CompactTarget::from_consensus(0x207f_ffff));
    assert_eq!(job.ntime, 0x6b02_a55e);
    assert_eq!(job.ntime_max, 0x6b02_a55e + 7000);
    assert_eq!(
        job.share_target,
        Target::from_difficulty(0.0001).expect("ok")
    );
    assert_eq!(
        job.block_target,
        Target::from_compact(job.bits).expect("regtest bits")
    );
    assert!(!job.clean);
    assert_eq!(job.height, Some(103));
    let s = share(&job, &[0; 4], 0x2000_0000, 0x0006_df9f);
    assert_eq!(
        s.hash.to_string(),
        "000020828ea1339266a4ae4a254f6332bb28ae866baa013784afe485ff065ba2"
    );
    assert!(job.share_target.is_met_by(&s.hash));
    assert_eq!(
        c.submit(&s).expect("subscribed"),
        r#"{"id":4,"method":"mining.submit","params":["worker.1","6","00000000","6b02a55e","0006df9f"]}"#
    );
    assert_eq!(
        feed(&mut c, r#"{"id":4,"result":true,"error":null}"#),
        vec![ClientEvent::Verdict {
            share: s,
            verdict: Verdict::Accepted
        }]
    );
}

/// Reference §1.1: ckpool's transcript, authorize answered after the work, the version
/// bits as 6th param and the ckpool rejection dialect.
#[test]
fn ckpool_transcript_with_version_rolling() {
    let mut c = client();
    c.take_outgoing();
    assert_eq!(
        feed(
            &mut c,
            r#"{"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"id":1,"error":null}"#
        ),
        vec![ClientEvent::Notice(
            "version rolling on, mask 1fffe000".into()
        )]
    );
    feed(
        &mut c,
        r#"{"result":[[["mining.notify","6b02a699"]],"99a6026b",8],"id":2,"error":null}"#,
    );
    feed(
        &mut c,
        r#"{"params":[1],"id":null,"method":"mining.set_difficulty"}"#,
    );
    let notify = r#"{"params":["6b02a69800000001","9ee1813dcfcbab96dcb73b55f988b4f3b7ea0645e360a83efad6b15d1c1f4e5f","01000000","00000000",[],"20000000","207fffff","6b02a698",true],"id":null,"method":"mining.notify"}"#;
    let job = job_of(&feed(&mut c, notify));
    assert!(!c.is_ready());
    assert_eq!(
        feed(&mut c, r#"{"result":true,"error":null,"id":3}"#),
        vec![ClientEvent::Authorized]
    );
    assert!(c.is_ready());
    assert_eq!(job.version_mask, 0x1fff_e000);
    assert_eq!(job.share_target, Target::DIFFICULTY_1);
    assert!(job.clean);
    let s = share(&job, &[0; 8], 0x2000_2000, 0x1a99);
    assert_eq!(
        c.submit(&s).expect("subscribed"),
        r#"{"id":4,"method":"mining.submit","params":["worker.1","6b02a69800000001","0000000000000000","6b02a698","00001a99","00002000"]}"#
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"reject-reason":"Above target","result":false,"error":null,"id":4}"#
        ),
        vec![ClientEvent::Verdict {
            share: s,
            verdict: Verdict::Rejected {
                reason: "Above target".into(),
                stale: false
            }
        }]
    );
}

#[test]
fn both_error_dialects_are_classified() {
    let mut c = subscribed_client();
    let job = job_of(&feed(&mut c, WORKED_NOTIFY));
    let cases = [
        (
            r#""error":[21,"Job not found",null],"result":null"#,
            "Job not found (21)",
            true,
        ),
        (
            r#""error":[22,"Duplicate share",null],"result":null"#,
            "Duplicate share (22)",
            false,
        ),
        (
            r#""error":[23,"Low difficulty share",null],"result":null"#,
            "Low difficulty share (23)",
            false,
        ),
        (
            r#""error":[20,"Other/Unknown",null],"result":false"#,
            "Other/Unknown (20)",
            false,
        ),
        (r#""error":[21,null,null]"#, "error 21", true),
        (
            r#""result":false,"error":null,"reject-reason":"Stale""#,
            "Stale",
            true,
        ),
        (
            r#""result":false,"error":null,"reject-reason":"Invalid JobID""#,
            "Invalid JobID",
            true,
        ),
        (
            r#""result":false,"error":null,"reject-reason":"Duplicate""#,
            "Duplicate",
            false,
        ),
        (r#""result":false,"error":null"#, "result false", false),
        (
            r#""result":null,"error":"Invalid json: params not an array""#,
            "Invalid json: params not an array",
            false,
        ),
        (
            r#""result":null,"error":{"code":-32601,"message":"job not found\nat all"}"#,
            "job not found at all (-32601)",
            true,
        ),
        (r#""result":true,"error":"odd""#, "odd", false),
    ];
    for (i, (body, reason, stale)) in cases.into_iter().enumerate() {
        let s = share(&job, &[0; 4], 0x2000_0000, i as u32);
        let line = c.submit(&s).expect("subscribed");
        let id: Value = serde_json::from_str::<Value>(&line).expect("json")["id"].clone();
        let events = feed(&mut c, &format!(r#"{{"id":{id},{body}}}"#));
        assert_eq!(
            events,
            vec![ClientEvent::Verdict {
                share: s,
                verdict: Verdict::Rejected {
                    reason: reason.into(),
                    stale
                }
            }],
            "{body}"
        );
    }
    // A late duplicate reply for an answered id is only a notice.
    assert_eq!(
        feed(&mut c, r#"{"id":5,"result":true,"error":null}"#),
        vec![ClientEvent::Notice(
            "ignored a reply to unknown request id 5".into()
        )]
    );
}

#[test]
fn difficulty_applies_from_the_next_notify_and_bad_ones_are_ignored() {
    let mut c = subscribed_client();
    feed(
        &mut c,
        r#"{"id":null,"method":"mining.set_difficulty","params":[0.5]}"#,
    );
    let first = job_of(&feed(&mut c, WORKED_NOTIFY));
    assert_eq!(
        first.share_target,
        Target::from_difficulty(0.5).expect("ok")
    );
    assert_eq!(
        first.share_target,
        Target::from_be_hex("00000001fffe0000000000000000000000000000000000000000000000000000")
            .expect("hex")
    );
    feed(
        &mut c,
        r#"{"id":null,"method":"mining.set_difficulty","params":[1.5e-6]}"#,
    );
    for bad in ["0", "-1", "\"abc\"", "null", "1e400"] {
        let line = format!(r#"{{"id":null,"method":"mining.set_difficulty","params":[{bad}]}}"#);
        match c.handle_line(&line) {
            Ok(ev) => assert!(
                matches!(&ev[..], [ClientEvent::Notice(n)] if n.contains("invalid difficulty")),
                "{bad}: {ev:?}"
            ),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Parse, "{bad}"),
        }
    }
    assert_eq!(c.difficulty(), 1.5e-6);
    let second = job_of(&feed(&mut c, WORKED_NOTIFY));
    assert_eq!(
        second.share_target,
        Target::from_difficulty(1.5e-6).expect("ok")
    );
}

#[test]
fn prevhash_words_are_byte_reversed_and_a_new_tip_is_clean() {
    assert_eq!(
        prevhash_from_notify("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
            .map(|b| hex::encode(&b)),
        Ok("3322110077665544bbaa9988ffeeddcc3322110077665544bbaa9988ffeeddcc".to_string())
    );
    let mut c = subscribed_client();
    assert!(!job_of(&feed(&mut c, WORKED_NOTIFY)).clean);
    assert!(!job_of(&feed(&mut c, WORKED_NOTIFY)).clean);
    let other_tip = WORKED_NOTIFY.replace("9ee1813d", "9ee1813e");
    let job = job_of(&feed(&mut c, &other_tip));
    assert!(job.clean, "a new previous block voids the old work");
}

#[test]
fn authorization_failures_name_the_worker() {
    for reply in [
        r#"{"id":3,"result":false,"error":null}"#,
        r#"{"id":3,"result":null,"error":[24,"Unauthorized worker",null]}"#,
    ] {
        let mut c = subscribed_client();
        let ev = feed(&mut c, reply);
        match &ev[..] {
            [ClientEvent::AuthorizationFailed(m)] => {
                assert!(
                    m.starts_with("pool rejected the credentials for worker worker.1: "),
                    "{m}"
                );
                assert!(!m.contains("secret"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.authorized(), Some(false));
    }
}

#[test]
fn after_authorize_extranonce_subscribe_and_suggest_difficulty_are_sent() {
    let mut config = Config::new("w", "x");
    config.version_rolling = false;
    config.extranonce_subscribe = true;
    config.suggest_difficulty = Some(0.25);
    let mut c = Client::new(config);
    c.take_outgoing();
    feed(&mut c, r#"{"id":1,"result":[[],"00",2],"error":null}"#);
    assert_eq!(
        feed(&mut c, r#"{"id":2,"result":true,"error":null}"#),
        vec![ClientEvent::Authorized]
    );
    assert_eq!(
        c.take_outgoing(),
        vec![
            r#"{"id":3,"method":"mining.extranonce.subscribe","params":[]}"#,
            r#"{"id":4,"method":"mining.suggest_difficulty","params":[0.25]}"#
        ]
    );
    assert!(matches!(
        &feed(&mut c, r#"{"id":3,"result":null,"error":[20,"Not supported.",null]}"#)[..],
        [ClientEvent::Notice(n)] if n.contains("extranonce.subscribe")
    ));
    assert_eq!(
        feed(&mut c, r#"{"id":4,"result":true,"error":null}"#),
        vec![]
    );
}

#[test]
fn set_version_mask_reissues_the_job_and_set_extranonce_waits_for_the_next() {
    let mut c = client();
    c.take_outgoing();
    feed(
        &mut c,
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"ffffffff"},"error":null}"#,
    );
    assert_eq!(c.version_mask(), 0x1fff_e000, "never more than was asked");
    feed(
        &mut c,
        r#"{"id":2,"result":[[],"aabbccdd",4],"error":null}"#,
    );
    let job = job_of(&feed(&mut c, WORKED_NOTIFY));
    let ev = feed(
        &mut c,
        r#"{"id":null,"method":"mining.set_version_mask","params":["00ffe000"]}"#,
    );
    let again = job_of(&ev);
    assert_eq!(
        *again,
        Job {
            version_mask: 0x00ff_e000,
            clean: true,
            ..Job::clone(&job)
        }
    );
    assert!(c.knows(&job) && c.knows(&again));
    assert!(feed(
        &mut c,
        r#"{"id":null,"method":"mining.set_extranonce","params":["01020304",6]}"#
    )
    .is_empty());
    assert_eq!(c.current_job().map(|j| j.extranonce2_size), Some(4));
    let next = job_of(&feed(&mut c, WORKED_NOTIFY));
    assert_eq!(next.extranonce1, vec![1, 2, 3, 4]);
    assert_eq!(next.extranonce2_size, 6);
    assert_eq!(next.version_mask, 0x00ff_e000);
    let wider = job_of(&feed(
        &mut c,
        r#"{"id":null,"method":"mining.set_version_mask","params":["ffffffff"]}"#,
    ));
    assert_eq!(
        wider.version_mask, VERSION_ROLLING_MASK,
        "never more than was asked"
    );
}

#[test]
fn ping_reconnect_messages_and_unknown_methods() {
    let mut c = subscribed_client();
    assert!(feed(&mut c, r#"{"id":7,"method":"mining.ping","params":[]}"#).is_empty());
    assert_eq!(
        c.take_outgoing(),
        vec![r#"{"error":null,"id":7,"result":"pong"}"#]
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"client.reconnect","params":["pool2.example",3334,5]}"#
        ),
        vec![ClientEvent::Reconnect {
            host: Some("pool2.example".into()),
            port: Some(3334),
            wait: Duration::from_secs(5)
        }]
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"client.reconnect","params":[]}"#
        ),
        vec![ClientEvent::Reconnect {
            host: None,
            port: None,
            wait: Duration::ZERO
        }]
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"client.reconnect","params":["h","4000",1e9]}"#
        ),
        vec![ClientEvent::Reconnect {
            host: Some("h".into()),
            port: Some(4000),
            wait: MAX_RECONNECT_WAIT
        }]
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"client.show_message","params":["maintenance\nat 5"]}"#
        ),
        vec![ClientEvent::Notice(
            "message from the pool: maintenance at 5".into()
        )]
    );
    assert_eq!(
        feed(
            &mut c,
            r#"{"id":null,"method":"mining.frobnicate","params":[]}"#
        ),
        vec![ClientEvent::Notice(
            "ignored unknown pool method mining.frobnicate".into()
        )]
    );
}

#[test]
fn hostile_lines_are_errors_not_panics() {
    let deep = "[".repeat(100_000);
    let deep_in_notify = format!(
        r#"{{"id":null,"method":"mining.notify","params":{}{}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let long_branch = format!(
        r#"{{"id":null,"method":"mining.notify","params":["1","{}","00","00",[{}],"20000000","1d00ffff","00000000",true]}}"#,
        "00".repeat(32),
        vec![format!("\"{}\"", "00".repeat(32)); 65].join(",")
    );
    let long_coinbase = format!(
        r#"{{"id":null,"method":"mining.notify","params":["1","{}","{}","00",[],"20000000","1d00ffff","00000000",true]}}"#,
        "00".repeat(32),
        "00".repeat(MAX_COINBASE_PART + 1)
    );
    let long_id = WORKED_NOTIFY.replace(r#"["6","#, &format!(r#"["{}","#, "j".repeat(129)));
    let bad = [
        deep.as_str(),
        &deep_in_notify,
        &long_branch,
        &long_coinbase,
        &long_id,
        "not json",
        "[1,2,3]",
        r#"{"method":5}"#,
        r#"{"id":null,"method":"mining.notify","params":{}}"#,
        r#"{"id":null,"method":"mining.notify","params":["1"]}"#,
        &WORKED_NOTIFY.replace("\"20000000\"", "536870912"),
        &WORKED_NOTIFY.replace("\"207fffff\"", "\"20ffffff\""),
        &WORKED_NOTIFY.replace("9ee1813d", "9ee1813"),
        &WORKED_NOTIFY.replace("false]", "\"false\"]"),
        r#"{"id":null,"method":"mining.set_extranonce","params":["0102",9]}"#,
        r#"{"id":null,"method":"mining.set_extranonce","params":["0102",1]}"#,
        r#"{"id":null,"method":"mining.set_extranonce","params":["zz",4]}"#,
        r#"{"id":null,"method":"mining.set_version_mask","params":["1fffe00"]}"#,
        r#"{"id":null,"method":"client.reconnect","params":["h",70000]}"#,
    ];
    for line in bad {
        let mut c = subscribed_client();
        let err = c.handle_line(line).expect_err(&line[..line.len().min(80)]);
        assert_eq!(err.kind(), ErrorKind::Parse, "{err}");
    }
    for size in ["1", "9", "\"4\""] {
        let mut c = client();
        let line = format!(r#"{{"id":2,"result":[[],"00",{size}],"error":null}}"#);
        assert_eq!(
            c.handle_line(&line).map_err(|e| e.kind()),
            Err(ErrorKind::Parse),
            "{size}"
        );
    }
    let mut c = client();
    let err = c
        .handle_line(r#"{"id":2,"result":null,"error":[25,"Not subscribed",null]}"#)
        .expect_err("refused subscription");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    // Work before the subscription is answered cannot be built; it is skipped.
    let mut c = client();
    assert!(matches!(
        &feed(&mut c, WORKED_NOTIFY)[..],
        [ClientEvent::Notice(_)]
    ));
}

#[test]
fn shares_must_match_their_job_and_the_subscription() {
    let mut c = client();
    let job = Arc::new(Job {
        bits: CompactTarget::from_consensus(0x1d00_ffff),
        ..Job::blank()
    });
    let s = share(&job, &[0; 4], 0x2000_0000, 0);
    assert_eq!(
        c.submit(&s).map_err(|e| e.kind()),
        Err(ErrorKind::Unavailable)
    );
    let mut c = subscribed_client();
    let bad = Share {
        extranonce2: vec![0; 3],
        ..s
    };
    assert_eq!(
        c.submit(&bad).map_err(|e| e.kind()),
        Err(ErrorKind::InvalidInput)
    );
}

#[test]
fn a_pool_that_never_answers_cannot_grow_the_pending_map() {
    let mut c = subscribed_client();
    let job = job_of(&feed(&mut c, WORKED_NOTIFY));
    for nonce in 0..MAX_UNANSWERED_SUBMITS as u32 {
        c.submit(&share(&job, &[0; 4], 0x2000_0000, nonce))
            .expect("below the bound");
    }
    assert!(c.is_backlogged());
    let err = c
        .submit(&share(&job, &[0; 4], 0x2000_0000, u32::MAX))
        .expect_err("over the bound");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(c.pending.len(), MAX_UNANSWERED_SUBMITS + 1, "+ authorize");
    // One verdict makes room again.
    feed(&mut c, r#"{"id":4,"result":true,"error":null}"#);
    assert!(!c.is_backlogged());
}

#[test]
fn unanswered_shares_come_back_once() {
    let mut c = subscribed_client();
    let job = job_of(&feed(&mut c, WORKED_NOTIFY));
    let a = share(&job, &[0; 4], 0x2000_0000, 1);
    let b = share(&job, &[0; 4], 0x2000_0000, 2);
    c.submit(&a).expect("ok");
    c.submit(&b).expect("ok");
    assert_eq!(c.take_unanswered(), vec![a, b]);
    assert!(c.take_unanswered().is_empty());
    // The authorize request is still outstanding and still answered.
    assert_eq!(
        feed(&mut c, r#"{"id":3,"result":true,"error":null}"#),
        vec![ClientEvent::Authorized]
    );
}

#[test]
fn the_subscription_id_is_kept_and_a_later_connection_asks_to_resume_it() {
    let c = subscribed_client();
    assert_eq!(c.session_id(), Some("deadbeefcafebabe0100000000000000"));
    for (subscriptions, id) in [
        (r#"[["mining.notify","6b02a699"]]"#, Some("6b02a699")),
        (
            r#"["mining.notify","ae6812eb4cd7735a302a8a9dd95cf71f"]"#,
            Some("ae6812eb4cd7735a302a8a9dd95cf71f"),
        ),
        (r#"[["mining.set_difficulty","1"]]"#, None),
        (r#"[]"#, None),
        (r#"[["mining.notify","\u001b[2J"]]"#, None),
    ] {
        let mut c = client();
        c.take_outgoing();
        feed(
            &mut c,
            &format!(r#"{{"id":2,"result":[{subscriptions},"00000001",4],"error":null}}"#),
        );
        assert_eq!(c.session_id(), id, "{subscriptions}");
    }
    let long = format!(r#"[["mining.notify","{}"]]"#, "a".repeat(65));
    let mut c = client();
    feed(
        &mut c,
        &format!(r#"{{"id":2,"result":[{long},"00",4],"error":null}}"#),
    );
    assert_eq!(c.session_id(), None);

    let mut config = Config::new("w", "x");
    config.version_rolling = false;
    config.resume = Some("6b02a699".into());
    let mut c = Client::new(config);
    assert_eq!(
        c.take_outgoing()[0],
        format!(
            r#"{{"id":1,"method":"mining.subscribe","params":["sha256d/{}","6b02a699"]}}"#,
            env!("CARGO_PKG_VERSION")
        )
    );
}
