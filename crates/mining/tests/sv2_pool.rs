//! The Template Provider end to end with the real Stratum V2 stack on 127.0.0.1: Bitcoin
//! Knots (`SHA256D_KNOTS_BITCOIND`), SRI's `pool_sv2` (`SHA256D_POOL_SV2`) fed by our Template
//! Provider, and `translator_sv2` (`SHA256D_TRANSLATOR_SV2`) in front, where our Stratum V1
//! client mines. Install them with `.ci/peers.sh DIR`. Each test skips with a message when a
//! peer is absent and fails instead under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

#![cfg(feature = "sv2")]

mod sv2_stack;

use serde_json::json;
use sha256d_mining::{mine, MineOptions, PoolConfig, PoolOptions, PoolSource, PoolUrl};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use sv2_stack::{Stack, PATIENCE};

/// How much faster the CPU engine hashes in a release build (`.ci/run` tests in release) than
/// in a debug one, roughly: the hashrate the translator is told scales with it, so that shares
/// come as often (and vardiff sees as few) either way.
fn build_speed() -> f64 {
    if cfg!(debug_assertions) {
        1.0
    } else {
        200.0
    }
}

#[test]
fn pool_sv2_takes_templates_from_our_template_provider() {
    let Some(stack) = Stack::start() else { return };
    stack
        .tp_log
        .wait_for("connected (Noise handshake done)", PATIENCE);
    stack
        .tp_log
        .wait_for("the pool adds coinbase outputs of up to", PATIENCE);
    stack.pool.wait_for_log(
        "NewTemplate(template_id: 0, future_template: true",
        PATIENCE,
    );
    stack
        .pool
        .wait_for_log("SetNewPrevHash { template_id: 0,", PATIENCE);

    // A block from elsewhere: the longpoll returns and the pool gets a new future pair for the
    // tip, at the next height.
    let tip = stack.node.generate(1);
    assert_eq!(tip.len(), 1);
    stack.pool.wait_for_log(
        "NewTemplate(template_id: 1, future_template: true",
        PATIENCE,
    );
    stack
        .pool
        .wait_for_log("SetNewPrevHash { template_id: 1,", PATIENCE);
    let log = stack.pool.log();
    assert!(
        !log.contains(" ERROR "),
        "pool_sv2 logged an error:\n{}",
        stack.pool.logs()
    );
}

/// Our Stratum V1 client, with BIP310 version rolling and the extranonce subscription, through
/// translator_sv2: its shares are accepted, and since every share on regtest also meets the
/// network target, the pool sends our Template Provider a solution, which Knots takes as its
/// new tip, paying the pool's solo payout address. The first block carries the two segwit
/// transactions that were in the mempool, so Knots checked the witness commitment. A second solution on the same template (a
/// share found before the new job arrived) is refused by the node as `inconclusive`, which
/// the Template Provider logs.
#[test]
fn our_v1_client_mines_blocks_through_translator_pool_and_template_provider() {
    let Some(stack) =
        Stack::start_with_mempool(2).and_then(|s| s.with_translator(1e5 * build_speed()))
    else {
        return;
    };
    let start_height = stack.node.height();
    let mempool = stack.node.mempool();
    assert_eq!(mempool.len(), 2);
    let url = PoolUrl::parse(&stack.translator_url()).expect("translator URL");
    let mut options = PoolOptions::new(vec![PoolConfig::new(url, "w1", "x")]);
    options.extranonce_subscribe = true;
    let mut source = PoolSource::new(options).expect("valid options");
    let mut notices = Vec::new();
    let stats = mine(
        &mut source,
        &[sha256d::best()],
        &MineOptions {
            shares: Some(3),
            time: Some(PATIENCE),
            ..MineOptions::default()
        },
        &mut |_, notice| notices.extend(notice.map(str::to_owned)),
    )
    .expect("mining through the translator");
    // A share in flight when a block of ours moves the tip is rejected as stale ("Job not
    // found"): that is the only rejection there may be.
    assert!(
        stats.accepted >= 3 && stats.rejected.values().sum::<u64>() == stats.stale,
        "{stats:?}\nnotices: {notices:#?}\n{}",
        stack.pool.logs()
    );

    // BIP310: the translator granted version rolling with its mask.
    assert!(
        notices
            .iter()
            .any(|n| n.ends_with(": version rolling on, mask 1fffe000")),
        "{notices:#?}"
    );
    let accepted = stack.tp_log.wait_for("accepted by the node", PATIENCE);
    let height = stack.node.height();
    assert!(
        height > start_height,
        "{accepted}: the tip stayed at {height}"
    );
    let block = stack
        .node
        .rpc("getblock", json!([stack.node.best_hash(), 2]))
        .expect("getblock");
    let coinbase = &block["tx"][0];
    let paid: Vec<&str> = coinbase["vout"]
        .as_array()
        .expect("outputs")
        .iter()
        .filter_map(|o| o["scriptPubKey"]["address"].as_str())
        .collect();
    assert_eq!(paid, [stack.payout.as_str()], "{block:#}");
    // The witness commitment and the coinbase's 32-byte reserved value, as BIP141 wants them.
    assert_eq!(
        coinbase["vin"][0]["txinwitness"],
        json!(["00".repeat(32)]),
        "{block:#}"
    );
}

/// translator_sv2's vardiff against our V1 client: told the miner does 1 GH/s (200 in a
/// release build), it starts at a difficulty no share of ours meets in a minute. At its first
/// adjustment, with no shares seen, it divides the hashrate by 1.5, 2 or 3, by how long it has
/// waited since the last update (up to 30 s, up to 60, longer): which of them depends on where
/// its once-a-minute tick falls, so the test takes any of them. The client mines on at the new
/// difficulty. Takes about a minute.
#[test]
fn translator_vardiff_lowers_the_difficulty_of_a_slow_miner() {
    let Some(stack) = Stack::start().and_then(|s| s.with_translator(1e9 * build_speed())) else {
        return;
    };
    let url = PoolUrl::parse(&stack.translator_url()).expect("translator URL");
    let mut options = PoolOptions::new(vec![PoolConfig::new(url, "w1", "x")]);
    options.extranonce_subscribe = true;
    let mut source = PoolSource::new(options).expect("valid options");
    let stop = Arc::new(AtomicBool::new(false));
    let mut seen: Vec<f64> = Vec::new();
    let stats = mine(
        &mut source,
        &[sha256d::best()],
        &MineOptions {
            time: Some(Duration::from_secs(240)),
            status_every: Duration::from_millis(200),
            stop: Some(Arc::clone(&stop)),
            ..MineOptions::default()
        },
        &mut |stats, _| {
            if let Some(d) = stats.difficulty {
                if seen.last() != Some(&d) {
                    seen.push(d);
                }
            }
            if seen.len() >= 2 {
                stop.store(true, Ordering::Relaxed);
            }
        },
    )
    .expect("mining through the translator");
    assert!(seen.len() >= 2, "no new difficulty: {seen:?} {stats:?}");
    // A third of the hashrate is a third of the difficulty, and so on; above difficulty 1 the
    // translator was seen to send powers of two (64, then 16 or 32), below it the exact value
    // (0.466, 0.155). Rounding to a power of two turns 1.5 to 3 into 1.4 to 4.
    let ratio = seen[0] / seen[1];
    assert!((1.4..=4.0).contains(&ratio), "{seen:?}");
}
