//! Against real third-party peers on 127.0.0.1: a Bitcoin SV regtest node and the npm Stratum
//! V1 pool `stratum-pool-sha256` (install both with `.ci/peers.sh DIR`, then set
//! `SHA256D_BITCOIND` and `SHA256D_STRATUM_POOL`). Each test skips with a message when they are
//! absent, and fails instead under `SHA256D_REQUIRE_PEERS=1` or `CI=true`. Each starts its own
//! peers, so the tests run in parallel and in any order.
//!
//! The shares are built and mined with a raw Stratum client (`sha256d_testkit::sv1`) and the crate's CPU
//! engine, so the pool is the judge of the header, coinbase and merkle construction.

use serde_json::{json, Value};
use sha256d::{CompactTarget, Hash, Header, Target};
use sha256d_testkit::peers::NpmPool;
use sha256d_testkit::regtest::{Regtest, RpcAuth};
use sha256d_testkit::sv1::Client;
use std::time::Duration;

/// Generous: a job or event normally arrives within a second or two.
const WAIT: Duration = Duration::from_secs(20);

/// The pool's share difficulty of a hash, computed as `stratum-pool-sha256` 2.1.3 does
/// (lib/jobManager.js): `Number((diff1 * 10^18) / hash) / 1e18` in BigInt arithmetic, the
/// division rounding down. Exact, so the pool's figures can be compared as strings.
fn pool_share_diff(hash: &Hash) -> f64 {
    // diff1 * 10^18 = (0xffff * 10^18) << 208, in little-endian 64-bit limbs.
    let high = (0xffffu128 * 10u128.pow(18)) << 16;
    let numerator = [0, 0, 0, high as u64, (high >> 64) as u64];
    let divisor: [u64; 5] = std::array::from_fn(|i| match i {
        0..=3 => u64::from_le_bytes(hash.0[8 * i..8 * i + 8].try_into().expect("8 bytes")),
        _ => 0,
    });
    // Shift-and-subtract long division; a quotient above 2^128 would be lost off the top.
    assert!(divisor[3] != 0, "hash {hash} is too small for this oracle");
    let ge = |a: &[u64; 5], b: &[u64; 5]| a.iter().rev().cmp(b.iter().rev()).is_ge();
    let mut remainder = [0u64; 5];
    let mut quotient = 0u128;
    for bit in (0..320).rev() {
        for i in (1..5).rev() {
            remainder[i] = remainder[i] << 1 | remainder[i - 1] >> 63;
        }
        remainder[0] = remainder[0] << 1 | (numerator[bit / 64] >> (bit % 64) & 1);
        quotient <<= 1;
        if ge(&remainder, &divisor) {
            let mut borrow = false;
            for (r, d) in remainder.iter_mut().zip(divisor) {
                let (v, b1) = r.overflowing_sub(d);
                let (v, b2) = v.overflowing_sub(u64::from(borrow));
                *r = v;
                borrow = b1 || b2;
            }
            quotient |= 1;
        }
    }
    // Number(BigInt) and `as f64` both round to nearest, ties to even.
    quotient as f64 / 1e18
}

/// JavaScript's `String(x)` for a positive number below 1e21: plain decimals from 1e-6 up,
/// exponent form (`4.6e-10`) below; both the shortest digits that round-trip, as Rust prints.
fn js_number(x: f64) -> String {
    if x >= 1e-6 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

#[test]
fn pool_share_diff_matches_the_worked_example() {
    // Expected values printed by Node.js running the pool's formula on these hashes (display
    // order): a share it accepted, and a hash that misses even the regtest block target.
    let accepted =
        Hash::from_display_hex("000020828ea1339266a4ae4a254f6332bb28ae866baa013784afe485ff065ba2")
            .expect("valid hash hex");
    assert_eq!(format!("{:.8}", pool_share_diff(&accepted)), "0.00012015");
    let high = Hash::from_display_hex(&format!("c3{}", "5a".repeat(31))).expect("valid hash hex");
    assert_eq!(js_number(pool_share_diff(&high)), "3.05107949e-10");
    assert_eq!(js_number(0.0001), "0.0001");
}

#[test]
fn regtest_node_serves_templates() {
    let Some(node) = Regtest::start() else { return };
    assert_eq!(node.height(), 101);

    // Over HTTP with the URL and credentials a miner is given.
    let template = node
        .rpc("getblocktemplate", json!([]))
        .unwrap_or_else(|e| panic!("getblocktemplate: {e}"));
    assert_eq!(template["height"], json!(102), "{template}");
    assert_eq!(template["bits"], json!("207fffff"), "{template}");
    assert_eq!(template["previousblockhash"], json!(node.best_hash()));
    // 50 coins: regtest halves every 150 blocks.
    assert_eq!(template["coinbasevalue"], json!(5_000_000_000u64));
    let bits = CompactTarget::from_consensus(0x207f_ffff);
    let target = Target::from_compact(bits).expect("regtest bits are valid");
    assert_eq!(template["target"], json!(target.to_be_hex()));

    // The node's tip, decoded and hashed by the crate, is the block the node says it is.
    let tip = node.best_hash();
    let raw = node.cli(&["getblockheader", &tip, "false"]);
    let header = Header::from_hex(&raw).expect("an 80-byte header");
    assert_eq!(header.block_hash().to_string(), tip);
    assert_eq!(header.bits, bits);
    assert!(target.is_met_by(&header.block_hash()));
}

#[test]
fn regtest_node_with_cookie_auth() {
    let Some(node) = Regtest::start_with(RpcAuth::Cookie) else {
        return;
    };
    let cookie = std::fs::read_to_string(node.cookie_path()).expect("the node wrote its cookie");
    assert_eq!(
        cookie.trim(),
        format!("__cookie__:{}", node.rpc_password()),
        "{}",
        node.cookie_path().display()
    );
    assert_eq!(node.rpc_user(), "__cookie__");
    assert_eq!(node.rpc("getblockcount", json!([])), Ok(json!(101)));
    assert_eq!(node.cli(&["getblockcount"]), "101");
}

/// Connects, subscribes and authorizes; the client and the first job.
fn connect(pool: &NpmPool) -> (Client, sha256d_testkit::sv1::Job) {
    let mut client = Client::subscribe(&pool.url(), "sha256d-tests");
    assert_eq!(client.extranonce2_size, 4, "stratum-pool-sha256 uses 4");
    client.authorize("tester", "x");
    let job = client.next_job(WAIT);
    (client, job)
}

/// The pool's share event for `worker` (each submit below uses its own worker name).
fn share_event(pool: &NpmPool, worker: &str) -> Value {
    pool.wait_for_event(|e| e["event"] == "share" && e["worker"] == worker, WAIT)
}

/// Mines a share of `job` and submits it as `worker`; checks that the pool accepts it and
/// reckons the same hash.
///
/// On regtest nearly every share is also a block candidate, and on that path the pool skips its
/// share-difficulty check, so `result: true` alone would pass half of all wrong headers. Its
/// event's shareDiff, computed from the header it rebuilt, pins the hash down.
fn mine_and_submit(
    pool: &NpmPool,
    client: &mut Client,
    job: &sha256d_testkit::sv1::Job,
    en2: [u8; 4],
    worker: &str,
) {
    let found = job.find_share(&client.extranonce1, &en2);
    let reply = client.submit(worker, &job.id, &en2, job.ntime, found.nonce);
    assert_eq!(reply["result"], json!(true), "{reply}");
    assert_eq!(reply["error"], Value::Null, "{reply}");
    let event = share_event(pool, worker);
    assert_eq!(event["isValidShare"], json!(true), "{event}");
    assert_eq!(event["job"], json!(job.id), "{event}");
    assert_eq!(event["height"], json!(102), "{event}");
    assert_eq!(event["difficulty"], json!(0.0001), "{event}");
    let expected = format!("{:.8}", pool_share_diff(&found.hash));
    assert_eq!(event["shareDiff"], json!(expected), "{event}");
}

#[test]
fn npm_pool_accepts_a_share_mined_here() {
    let Some(node) = Regtest::start() else { return };
    let Some(pool) = NpmPool::start(&node, 0.0001) else {
        return;
    };
    let (mut client, job) = connect(&pool);
    assert_eq!(client.difficulty, Some(0.0001));
    assert!(job.branch.is_empty(), "an empty mempool: {job:?}");

    mine_and_submit(&pool, &mut client, &job, [0; 4], "tester.empty");

    // Transactions in the mempool reach the pool's next template refresh, and its jobs then
    // carry a merkle branch: coinbase + 3 transactions = 4 leaves, 2 branch entries.
    let txids: Vec<[u8; 32]> = (0..3)
        .map(|_| {
            let txid = node.send_to_new_address("1");
            Hash::from_display_hex(&txid)
                .expect("a txid is a hash")
                .to_byte_array()
        })
        .collect();
    let job = client.next_job_where(|j| !j.branch.is_empty(), WAIT);
    assert_eq!(job.branch.len(), 2, "{job:?}");
    assert!(
        txids.contains(&job.branch[0]),
        "the first branch entry is the first transaction's txid: {job:?}"
    );
    mine_and_submit(&pool, &mut client, &job, [0, 0, 0, 1], "tester.branch");
}

#[test]
fn npm_pool_rejects_bad_shares_with_its_reasons() {
    let Some(node) = Regtest::start() else { return };
    let Some(pool) = NpmPool::start(&node, 0.0001) else {
        return;
    };
    let (mut client, job) = connect(&pool);
    let en1 = client.extranonce1.clone();
    let en2 = [0u8; 4];
    let rejected = |reply: &Value, code: u32, message: &str| {
        assert_eq!(
            reply,
            &json!({"id": reply["id"], "result": null, "error": [code, message]})
        );
    };

    // (a) Above target. The hash must miss the block target too: a block candidate skips the
    // share-difficulty check (see above).
    let block_target = Target::from_compact(CompactTarget::from_consensus(job.bits))
        .expect("the job's bits are valid");
    let (nonce, hash) = job.find_miss(&en1, &en2, &block_target);
    let low = format!(
        "low difficulty share of {}",
        js_number(pool_share_diff(&hash))
    );
    let reply = client.submit("tester.low", &job.id, &en2, job.ntime, nonce);
    rejected(&reply, 23, &low);
    let event = share_event(&pool, "tester.low");
    assert_eq!(event["isValidShare"], json!(false), "{event}");
    assert_eq!(event["error"], json!(low), "{event}");

    // (b) Duplicate: the pool registers a submission before judging it.
    let reply = client.submit("tester.dup", &job.id, &en2, job.ntime, nonce);
    rejected(&reply, 22, "duplicate share");

    // (c) A job id the pool never issued.
    let reply = client.submit("tester.unknown", "ffffffff", &en2, job.ntime, nonce);
    rejected(&reply, 21, "job not found");

    // (d) Extranonce2 of the wrong size.
    let reply = client.submit("tester.en2", &job.id, &[0; 3], job.ntime, nonce);
    rejected(&reply, 20, "incorrect size of extranonce2");

    // (e) Stale: after a new block the pool forgets every earlier job, and says so with a clean
    // notify on the new tip.
    let old = job;
    node.generate(1);
    let tip = Hash::from_display_hex(&node.best_hash())
        .expect("a block hash")
        .to_byte_array();
    let new = client.next_job_where(|j| j.prev_blockhash == tip, WAIT);
    assert!(new.clean, "a new block's job drops the old ones: {new:?}");
    let found = old.find_share(&en1, &en2);
    let reply = client.submit("tester.stale", &old.id, &en2, old.ntime, found.nonce);
    rejected(&reply, 21, "job not found");
    for worker in ["tester.dup", "tester.unknown", "tester.en2", "tester.stale"] {
        assert_eq!(share_event(&pool, worker)["isValidShare"], json!(false));
    }
}
