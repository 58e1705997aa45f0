//! Solo mining against a fake node on 127.0.0.1 that the tests script: one that trickles its
//! replies a byte a second, one that never answers `submitblock`, one that answers every
//! longpoll at once, one whose templates carry bits that disagree with their target; and the
//! ordinary paths (start-up failures, a node still syncing, blocks accepted and moving on).
//!
//! Timing bounds are generous (seconds) so the tests hold on a loaded machine; each still fails
//! on the behaviour it guards against, which took minutes or never ended.

use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d::ErrorKind;
use sha256d_mining::gbt::{SoloOptions, SoloSource};
use sha256d_mining::rpc::{Auth, RpcClient};
use sha256d_mining::{Event, Job, Share, Source, Verdict};
use sha256d_testkit::fake_node::{result, rpc_error, FakeNode, Reply};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREV: &str = "1c1f4e5f5db1d6fa3ea860e35006eab7f988b4f3dcb73b5596abcbcf9ee1813d";
const OTHER: &str = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206";
/// P2PKH, from the reference's worked pool job.
const PAYOUT: &str = "76a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac";

/// A regtest template on `prev` with no transactions, as a BSV or Core node sends it.
fn template(prev: &str, height: u64) -> Value {
    json!({
        "version": 0x2000_0000,
        "previousblockhash": prev,
        "transactions": [],
        "coinbasevalue": 312_500_000u64,
        "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "curtime": 1_700_000_600,
        "bits": "207fffff",
        "height": height,
    })
}

/// A fresh, empty directory for found blocks.
fn block_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sha256d-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn options(url: &str, dir: &Path) -> SoloOptions {
    let mut opts = SoloOptions::new(
        url,
        Auth::UserPass("u".into(), "p".into()),
        hex::decode(PAYOUT).expect("test vector is hex"),
    );
    opts.poll_interval = Duration::from_millis(50);
    opts.block_dir = dir.to_path_buf();
    opts
}

/// A source and the events it gave that no test step has looked at yet.
struct Feed {
    source: SoloSource,
    backlog: std::collections::VecDeque<Event>,
}

impl Feed {
    fn new(opts: SoloOptions) -> Feed {
        Feed {
            source: SoloSource::new(opts).expect("starts"),
            backlog: Default::default(),
        }
    }

    /// Waits for the first event, given already or still to come, that `found` picks
    /// something out of; fails after `bound`. The events it passes over stay for later steps,
    /// since two threads report and their order is not fixed.
    fn until<T>(&mut self, bound: Duration, mut found: impl FnMut(&Event) -> Option<T>) -> T {
        let deadline = Instant::now() + bound;
        let mut seen = 0;
        loop {
            while seen < self.backlog.len() {
                if let Some(t) = found(&self.backlog[seen]) {
                    self.backlog.remove(seen);
                    return t;
                }
                seen += 1;
            }
            assert!(Instant::now() < deadline, "nothing came within {bound:?}");
            let events = self.source.poll(Duration::from_millis(50)).expect("polls");
            self.backlog.extend(events);
        }
    }
}

fn a_job(event: &Event) -> Option<Arc<Job>> {
    match event {
        Event::Job(job) => Some(job.clone()),
        _ => None,
    }
}

fn a_verdict(event: &Event) -> Option<Verdict> {
    match event {
        Event::Verdict { verdict, .. } => Some(verdict.clone()),
        _ => None,
    }
}

/// A block on `job`: on regtest about every other nonce is one.
fn mine(job: &Arc<Job>) -> Share {
    let en2 = vec![0; job.extranonce2_size];
    let mut header = job.header(&en2, job.ntime);
    while !job.block_target.is_met_by(&header.block_hash()) {
        header.nonce += 1;
    }
    Share {
        job: job.clone(),
        extranonce2: en2,
        header,
        hash: header.block_hash(),
        is_block: true,
        stale: false,
    }
}

fn block_file(dir: &Path, share: &Share) -> PathBuf {
    dir.join(format!("sha256d-block-{}.hex", share.hash))
}

/// Sets `stop` in 300 ms, on another thread that returns when it did.
fn set_soon(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Instant> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        Instant::now()
    })
}

/// A node sending its reply a byte a second: the call ends at its deadline, not when the
/// reply is done (over three minutes away) and not at a per-read timeout it keeps resetting.
#[test]
fn a_trickling_node_cannot_hold_a_call_past_its_deadline() {
    let node = FakeNode::start(|_, _| {
        Reply::Trickle(
            200,
            json!({"result": 7, "error": null, "id": 1}).to_string(),
        )
    });
    let client = RpcClient::new(&node.url, Auth::UserPass("u".into(), "p".into()))
        .expect("valid")
        .with_deadline(Duration::from_secs(2));
    let start = Instant::now();
    let err = client
        .call("getblockcount", json!([]))
        .expect_err("past the deadline");
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.message(),
        format!(
            "the node at {} did not answer getblockcount within 2 s",
            node.url
        )
    );
}

/// A stop flag ends a call in progress within a fraction of a second, whatever its deadline.
#[test]
fn a_stop_flag_ends_a_call_at_once() {
    let node = FakeNode::start(|_, _| Reply::Silent);
    let stop = Arc::new(AtomicBool::new(false));
    let client = RpcClient::new(&node.url, Auth::UserPass("u".into(), "p".into()))
        .expect("valid")
        .with_deadline(Duration::from_secs(600))
        .with_stop(Arc::clone(&stop));
    let setter = set_soon(stop);
    let err = client
        .call("getblockcount", json!([]))
        .expect_err("stopped");
    let set_at = setter.join().expect("setter thread");
    assert!(set_at.elapsed() < Duration::from_secs(3), "stopped late");
    assert_eq!(
        err.message(),
        format!("getblockcount to the node at {} was stopped", node.url)
    );
    // And a new call on a stopped client fails at once.
    assert!(client.call("getblockcount", json!([])).is_err());
}

/// A host that never completes the handshake (a listener whose queue is full drops new
/// connections): a stop still ends the call within about a second, not at the connect timeout.
#[test]
fn a_stop_flag_ends_a_connect_that_hangs() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    let addr = listener.local_addr().expect("bound");
    // Never accepted: once the queue is full, the kernel drops the next handshakes.
    let mut held = Vec::new();
    let hangs = loop {
        let probe = TcpStream::connect_timeout(&addr, Duration::from_millis(200));
        match probe {
            Ok(stream) => held.push(stream),
            Err(_) => break true,
        }
        if held.len() > 10_000 {
            break false;
        }
    };
    if !hangs {
        // This kernel never fills the queue; nothing to show here.
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let client = RpcClient::new(
        &format!("http://{addr}"),
        Auth::UserPass("u".into(), "p".into()),
    )
    .expect("valid")
    .with_stop(Arc::clone(&stop));
    let setter = set_soon(stop);
    let err = client
        .call("getblockcount", json!([]))
        .expect_err("stopped");
    let set_at = setter.join().expect("setter thread");
    assert!(set_at.elapsed() < Duration::from_secs(4), "stopped late");
    assert!(err.message().contains("was stopped"), "{err}");
    drop((listener, held));
}

/// Start-up against a trickling node: the source starts at once (so mining's own time limit
/// applies), and the first template fails at its deadline with a clear error.
#[test]
fn start_up_against_a_trickling_node_ends_at_its_deadline() {
    let node = FakeNode::start(|_, _| {
        Reply::Trickle(200, json!({"result": template(PREV, 102)}).to_string())
    });
    let dir = block_dir("trickle-start");
    let mut opts = options(&node.url, &dir);
    opts.rpc_deadline = Duration::from_secs(2);
    let start = Instant::now();
    let mut source = SoloSource::new(opts).expect("starts without waiting for the node");
    assert!(start.elapsed() < Duration::from_secs(2), "new waited");
    let err = loop {
        match source.poll(Duration::from_millis(50)) {
            Ok(events) => assert_eq!(events, []),
            Err(e) => break e,
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no error yet");
    };
    assert_eq!(
        err.message(),
        format!(
            "the node at {} did not answer getblocktemplate within 2 s",
            node.url
        )
    );
}

/// A node silent on `submitblock`: `submit` returns at once with a fresh job, the block is
/// saved to a file (that rust-bitcoin reads back as the block) and sent again and again, and
/// once the node's tip moves elsewhere it is reported stale; the file stays.
#[test]
fn a_block_the_node_never_answers_is_saved_retried_then_stale() {
    let tip = Arc::new(Mutex::new(PREV.to_owned()));
    let node_tip = Arc::clone(&tip);
    let node = FakeNode::start(move |method, _| {
        let tip = node_tip.lock().expect("not poisoned").clone();
        match method {
            "getblocktemplate" => result(template(&tip, 102)),
            "getbestblockhash" => result(json!(tip)),
            "submitblock" => Reply::Silent,
            _ => rpc_error(-32601, "Method not found"),
        }
    });
    let dir = block_dir("silent-submit");
    let mut opts = options(&node.url, &dir);
    opts.submit_deadline = Duration::from_secs(3);
    let mut source = Feed::new(opts);
    let job = source.until(Duration::from_secs(10), a_job);

    let block = mine(&job);
    let start = Instant::now();
    let events = source.source.submit(block.clone()).expect("submits");
    // Far less than one try, which the old source waited out twice.
    assert!(start.elapsed() < Duration::from_secs(2), "submit waited");
    // Mining goes on: a new job on the same parent, with other coinbases.
    let next = events.iter().find_map(a_job).expect("a fresh job at once");
    assert_eq!(next.prev_hash, job.prev_hash);
    assert_ne!(next.extranonce1, job.extranonce1);
    assert!(!next.clean);

    let file = block_file(&dir, &block);
    assert!(
        events.contains(&Event::Notice(format!(
            "block {} found; saved in {} until the node takes it",
            block.hash,
            file.display()
        ))),
        "{events:?}"
    );
    let text = std::fs::read_to_string(&file).expect("the block is saved");
    let bytes = hex::decode(text.trim_end()).expect("the file is hex");
    let saved: bitcoin::Block = bitcoin::consensus::deserialize(&bytes).expect("a block");
    assert_eq!(
        bitcoin::consensus::serialize(&saved.header),
        block.header.to_bytes()
    );
    assert!(saved.check_merkle_root());

    let notice = source.until(Duration::from_secs(15), |e| match e {
        Event::Notice(n) if n.contains("not taken yet") => Some(n.clone()),
        _ => None,
    });
    assert!(notice.contains(&file.display().to_string()), "{notice}");
    let deadline = Instant::now() + Duration::from_secs(40);
    while node.count("submitblock") < 3 {
        assert!(Instant::now() < deadline, "the block is not sent again");
        std::thread::sleep(Duration::from_millis(50));
    }

    *tip.lock().expect("not poisoned") = OTHER.to_owned();
    let verdict = source.until(Duration::from_secs(15), a_verdict);
    assert_eq!(
        verdict,
        Verdict::Rejected {
            reason: "stale: the tip moved before the node took the block".into(),
            stale: true
        }
    );
    assert!(file.exists(), "the file of a block not taken stays");
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The node took the block but its answer never came: its tip becoming the block says so.
#[test]
fn a_block_whose_answer_was_lost_is_accepted_when_it_becomes_the_tip() {
    let tip = Arc::new(Mutex::new(PREV.to_owned()));
    let node_tip = Arc::clone(&tip);
    let node = FakeNode::start(move |method, _| {
        let tip = node_tip.lock().expect("not poisoned").clone();
        match method {
            "getblocktemplate" => result(template(&tip, 102)),
            "getbestblockhash" => result(json!(tip)),
            "submitblock" => Reply::Silent,
            _ => rpc_error(-32601, "Method not found"),
        }
    });
    let dir = block_dir("lost-answer");
    let mut opts = options(&node.url, &dir);
    opts.submit_deadline = Duration::from_secs(30);
    let mut source = Feed::new(opts);
    let job = source.until(Duration::from_secs(10), a_job);
    let block = mine(&job);
    source.source.submit(block.clone()).expect("submits");
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.count("submitblock") == 0 {
        assert!(Instant::now() < deadline, "the block is not sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    *tip.lock().expect("not poisoned") = block.hash.to_string();
    let verdict = source.until(Duration::from_secs(15), a_verdict);
    assert_eq!(verdict, Verdict::Accepted);
    assert!(
        !block_file(&dir, &block).exists(),
        "a taken block's file goes"
    );
    // The new template builds on the block.
    let next = source.until(Duration::from_secs(10), a_job);
    assert_eq!(next.prev_hash, block.hash.0);
    assert!(next.clean);
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// The stop flag gives a block still waiting for the node up at once, with its file kept, so
/// mining can end without waiting out a deadline.
#[test]
fn a_stop_gives_a_waiting_block_up_at_once() {
    let node = FakeNode::start(|method, _| match method {
        "getblocktemplate" => result(template(PREV, 102)),
        "getbestblockhash" => result(json!(PREV)),
        _ => Reply::Silent,
    });
    let dir = block_dir("stop-submit");
    let stop = Arc::new(AtomicBool::new(false));
    let mut opts = options(&node.url, &dir);
    opts.submit_deadline = Duration::from_secs(600);
    opts.stop = Some(Arc::clone(&stop));
    let mut source = Feed::new(opts);
    let job = source.until(Duration::from_secs(10), a_job);
    let block = mine(&job);
    source.source.submit(block.clone()).expect("submits");
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.count("submitblock") == 0 {
        assert!(Instant::now() < deadline, "the block is not sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    let start = Instant::now();
    let verdict = source.until(Duration::from_secs(5), a_verdict);
    assert!(start.elapsed() < Duration::from_secs(3), "late");
    assert_eq!(
        verdict,
        Verdict::Rejected {
            reason: "not submitted: mining stopped first".into(),
            stale: false
        }
    );
    assert!(block_file(&dir, &block).exists());
    // Stopped is not broken: polling goes on without an error.
    assert_eq!(source.source.poll(Duration::from_millis(200)), Ok(vec![]));
    std::fs::remove_dir_all(&dir).expect("clean up");
}

/// A node that answers every longpoll at once, with a new id each time, is asked about once
/// per poll interval rather than in a loop.
#[test]
fn an_instant_longpoll_does_not_spin() {
    let counter = Arc::new(Mutex::new(0u64));
    let node = FakeNode::start(move |method, _| {
        let mut n = counter.lock().expect("not poisoned");
        *n += 1;
        let mut t = template(PREV, 102);
        t["longpollid"] = json!(format!("{PREV}{n}"));
        match method {
            "getblocktemplate" => result(t),
            _ => rpc_error(-32601, "Method not found"),
        }
    });
    let dir = block_dir("instant-longpoll");
    let mut opts = options(&node.url, &dir);
    opts.poll_interval = Duration::from_millis(250);
    let mut source = Feed::new(opts);
    source.until(Duration::from_secs(10), a_job);
    let from = Instant::now();
    while from.elapsed() < Duration::from_secs(3) {
        source
            .source
            .poll(Duration::from_millis(50))
            .expect("polls");
    }
    // 3 s at one call per 250 ms is 12 (fewer on a loaded machine); spinning was thousands.
    let calls = node.count_since("getblocktemplate", Some(from));
    assert!((2..=16).contains(&calls), "{calls} longpolls in 3 s");
}

/// Bits that are not a valid target, or encode another target than the template's: the
/// first template is a clear start-up error; a later one a notice, and no job comes of it.
#[test]
fn a_template_whose_bits_disagree_with_its_target_is_refused() {
    for (bits, why) in [
        ("ffffffff", "bits: nBits ffffffff encodes a negative target"),
        ("1d00ffff", "bits 1d00ffff encode the target 00000000ffff"),
    ] {
        let node = FakeNode::start(move |_, _| {
            let mut t = template(PREV, 102);
            t["bits"] = json!(bits);
            result(t)
        });
        let dir = block_dir(&format!("bad-bits-{bits}"));
        let mut source = Feed::new(options(&node.url, &dir));
        let start = Instant::now();
        let err = loop {
            match source.source.poll(Duration::from_millis(50)) {
                Ok(events) => assert_eq!(events, []),
                Err(e) => break e,
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no error");
        };
        assert!(err.message().contains("sent a bad block template"), "{err}");
        assert!(err.message().contains(why), "{err}");
    }

    let bad = Arc::new(AtomicBool::new(false));
    let node_bad = Arc::clone(&bad);
    let node = FakeNode::start(move |method, _| {
        let bad = node_bad.load(Ordering::Relaxed);
        let mut t = template(if bad { OTHER } else { PREV }, 102);
        if bad {
            t["bits"] = json!("ffffffff");
        }
        match method {
            "getblocktemplate" => result(t),
            "getbestblockhash" => result(t["previousblockhash"].clone()),
            _ => rpc_error(-32601, "Method not found"),
        }
    });
    let dir = block_dir("bad-bits-later");
    let mut source = Feed::new(options(&node.url, &dir));
    source.until(Duration::from_secs(10), a_job);
    bad.store(true, Ordering::Relaxed);
    source.until(Duration::from_secs(10), |e| match e {
        Event::Notice(n) if n.contains("bad block template") => Some(()),
        Event::Job(job) => panic!("a job from a bad template: {job:?}"),
        _ => None,
    });
    let until = Instant::now() + Duration::from_secs(1);
    while Instant::now() < until {
        let events = source
            .source
            .poll(Duration::from_millis(50))
            .expect("polls");
        assert!(events.iter().all(|e| a_job(e).is_none()), "{events:?}");
    }
}

#[test]
fn start_up_failures() {
    let dir = block_dir("start-up");
    let first_error = |reply: fn() -> Reply| {
        let node = FakeNode::start(move |_, _| reply());
        let mut source = Feed::new(options(&node.url, &dir));
        let start = Instant::now();
        loop {
            match source.source.poll(Duration::from_millis(50)) {
                Ok(events) => assert_eq!(events, []),
                Err(e) => return e,
            }
            assert!(start.elapsed() < Duration::from_secs(10), "no error");
        }
    };
    let err = first_error(|| Reply::Now(401, String::new()));
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(
        err.message().contains("rejected the RPC credentials"),
        "{err}"
    );
    let err = first_error(|| rpc_error(-32601, "Method not found"));
    assert!(err.message().contains("Method not found"), "{err}");
    let err = first_error(|| result(json!({"version": 1})));
    assert!(err.message().contains("bad block template"), "{err}");

    let mut opts = options("http://127.0.0.1:1", &dir);
    opts.coinbase_tag = vec![0; 90];
    let err = SoloSource::new(opts).err().expect("tag too long");
    assert!(err.message().contains("scriptSig"), "{err}");
    let opts = options("http://127.0.0.1:1", &dir.join("absent"));
    let err = SoloSource::new(opts).err().expect("no such directory");
    assert!(err.message().contains("not a directory"), "{err}");
    let mut opts = options("http://127.0.0.1:1", &dir);
    opts.submit_deadline = Duration::ZERO;
    let err = SoloSource::new(opts).err().expect("zero deadline");
    assert!(err.message().contains("above zero"), "{err}");
}

/// A node that is still syncing: a notice at start, the job once it is ready.
#[test]
fn waits_for_a_node_that_is_not_ready() {
    let ready = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ready);
    let node = FakeNode::start(move |method, _| match method {
        "getblocktemplate" if flag.load(Ordering::Relaxed) => result(template(PREV, 103)),
        _ => rpc_error(-10, "Bitcoin is downloading blocks..."),
    });
    let dir = block_dir("not-ready");
    let mut source = Feed::new(options(&node.url, &dir));
    let notice = source.until(Duration::from_secs(10), |e| match e {
        Event::Notice(n) => Some(n.clone()),
        _ => None,
    });
    assert!(notice.contains("downloading blocks"), "{notice}");
    assert!(notice.ends_with("waiting for the node"), "{notice}");
    ready.store(true, Ordering::Relaxed);
    let job = source.until(Duration::from_secs(15), a_job);
    assert_eq!(job.height, Some(103));
    assert!(job.clean);
}

/// A submission whose answer was lost, sent again: the node already has the block.
#[test]
fn a_retried_block_the_node_already_has_is_accepted() {
    let submits = Arc::new(Mutex::new(0u32));
    let node_submits = Arc::clone(&submits);
    let node = FakeNode::start(move |method, _| match method {
        "getblocktemplate" => result(template(PREV, 103)),
        "getbestblockhash" => result(json!(PREV)),
        "submitblock" => {
            let mut n = node_submits.lock().expect("not poisoned");
            *n += 1;
            if *n == 1 {
                Reply::Now(200, "garbled".into())
            } else {
                result(json!("duplicate"))
            }
        }
        _ => rpc_error(-32601, "Method not found"),
    });
    let dir = block_dir("retried");
    let mut source = Feed::new(options(&node.url, &dir));
    let job = source.until(Duration::from_secs(10), a_job);
    source.source.submit(mine(&job)).expect("submits");
    let verdict = source.until(Duration::from_secs(15), a_verdict);
    assert_eq!(verdict, Verdict::Accepted);
    assert_eq!(node.count("submitblock"), 2);
}

/// The whole solo loop against a scripted node: job, block, accepted, the next job; a stale
/// block is not submitted; the node's reasons come back as verdicts.
#[test]
fn mines_submits_and_moves_on() {
    let state = Arc::new(Mutex::new((template(PREV, 103), 0u32)));
    let node_state = Arc::clone(&state);
    let node = FakeNode::start(move |method, params| {
        let mut state = node_state.lock().expect("not poisoned");
        match method {
            "getblocktemplate" => result(state.0.clone()),
            "getbestblockhash" => result(state.0["previousblockhash"].clone()),
            "submitblock" => {
                let bytes = hex::decode(params[0].as_str().unwrap_or("")).unwrap_or_default();
                let Ok(block) = bitcoin::consensus::deserialize::<bitcoin::Block>(&bytes) else {
                    return rpc_error(-22, "Block decode failed");
                };
                if !block.check_merkle_root() {
                    return result(json!("bad-txnmrklroot"));
                }
                state.1 += 1;
                if state.1 > 1 {
                    return result(json!("inconclusive"));
                }
                // The block is the new tip; the next template builds on it.
                state.0 = template(&block.block_hash().to_string(), 104);
                result(Value::Null)
            }
            _ => rpc_error(-32601, "Method not found"),
        }
    });
    let dir = block_dir("moves-on");
    let mut source = Feed::new(options(&node.url, &dir));
    assert!(source.source.pause_after_block());
    assert!(source.source.describe().contains(&node.url));
    let notice = source.until(Duration::from_secs(10), |e| match e {
        Event::Notice(n) => Some(n.clone()),
        _ => None,
    });
    assert_eq!(
        notice,
        format!(
            "solo mining at {}: height 103, 0 transactions, 312500000 sat",
            node.url
        )
    );
    let job = source.until(Duration::from_secs(10), a_job);
    // Nothing new while the tip stands.
    assert_eq!(source.source.poll(Duration::from_millis(300)), Ok(vec![]));

    let block = mine(&job);
    source.source.submit(block.clone()).expect("submits");
    let verdict = source.until(Duration::from_secs(10), a_verdict);
    assert_eq!(verdict, Verdict::Accepted);
    let next = source.until(Duration::from_secs(10), |e| {
        a_job(e).filter(|j| j.height == Some(104))
    });
    assert_eq!(next.prev_hash, block.hash.0);
    assert!(next.clean);
    assert_eq!(std::fs::read_dir(&dir).expect("listed").count(), 0);

    // A block of the old job found after the switch: not sent.
    let submits = node.count("submitblock");
    let stale = Share {
        stale: true,
        ..mine(&job)
    };
    let events = source.source.submit(stale).expect("submits");
    assert_eq!(
        events.iter().filter_map(a_verdict).collect::<Vec<_>>(),
        [Verdict::Rejected {
            reason: "stale: the chain tip moved".into(),
            stale: true
        }]
    );
    assert_eq!(node.count("submitblock"), submits);

    // The node's own reason.
    source.source.submit(mine(&next)).expect("submits");
    let verdict = source.until(Duration::from_secs(10), a_verdict);
    assert_eq!(
        verdict,
        Verdict::Rejected {
            reason: "inconclusive".into(),
            stale: true
        }
    );
    assert_eq!(node.count("submitblock"), submits + 1);
    std::fs::remove_dir_all(&dir).expect("clean up");
}
