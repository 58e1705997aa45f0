//! `sha256d mine` as a user runs it, against the real peers on 127.0.0.1: blocks through
//! getblocktemplate on the regtest node, shares through the npm Stratum pool. Like
//! `tests/peers.rs`, each test skips with a message when the peers are absent and fails instead
//! under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.
#![cfg(feature = "cli")]

mod common;

use common::peers::{NpmPool, Regtest, RpcAuth};
use serde_json::Value;
use std::process::{Command, Output};
use std::time::Duration;

fn mine(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .arg("mine")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn summary(o: &Output) -> Value {
    assert!(
        o.status.success(),
        "mine failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON summary object")
}

fn solo_args<'a>(url: &'a str, user: &'a str, pass: &'a str) -> Vec<&'a str> {
    vec!["--node", url, "--rpc-user", user, "--rpc-pass", pass]
}

#[test]
fn solo_blocks_become_the_nodes_tip() {
    let Some(node) = Regtest::start() else { return };
    let address = node.new_address();
    let (url, user, pass) = (node.rpc_url(), node.rpc_user(), node.rpc_password());
    let mut args = solo_args(&url, &user, &pass);
    args.extend([
        "--address",
        &address,
        "--blocks",
        "3",
        "--time",
        "120",
        "--json",
    ]);
    let s = summary(&mine(&args));
    assert_eq!(s["blocks_accepted"], 3, "{s}");
    assert_eq!(s["rejected_total"], 0, "{s}");
    assert_eq!(node.height(), 104);
    let blocks = s["blocks"].as_array().expect("a list of blocks");
    let heights: Vec<u64> = blocks.iter().filter_map(|b| b["height"].as_u64()).collect();
    assert_eq!(heights, [102, 103, 104], "{s}");
    assert_eq!(blocks[2]["hash"], node.best_hash().as_str(), "{s}");
    // Each block pays the address given, and is the node's own record of that height.
    for b in blocks {
        let hash = b["hash"].as_str().expect("a hash");
        let block = node.cli_json(&["getblock", hash, "2"]);
        let coinbase = &block["tx"][0];
        let paid_to = coinbase["vout"][0]["scriptPubKey"]["addresses"][0]
            .as_str()
            .or_else(|| coinbase["vout"][0]["scriptPubKey"]["address"].as_str());
        assert_eq!(paid_to, Some(address.as_str()), "{block}");
        assert_eq!(block["height"], b["height"]);
    }
}

#[test]
fn solo_blocks_carry_the_mempool() {
    let Some(node) = Regtest::start() else { return };
    let txids: Vec<String> = (0..3).map(|_| node.send_to_new_address("1")).collect();
    // The node rebuilds its template only every few seconds after the mempool changes: wait
    // until it offers the payments, so the miner's first template carries them.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let template = node
            .rpc("getblocktemplate", serde_json::json!([]))
            .expect("the node serves templates");
        if template["transactions"].as_array().map(Vec::len) == Some(3) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{template}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let address = node.new_address();
    let (url, user, pass) = (node.rpc_url(), node.rpc_user(), node.rpc_password());
    let mut args = solo_args(&url, &user, &pass);
    args.extend([
        "--address",
        &address,
        "--blocks",
        "1",
        "--time",
        "120",
        "--json",
    ]);
    let s = summary(&mine(&args));
    assert_eq!(s["blocks_accepted"], 1, "{s}");
    let tip = node.best_hash();
    assert_eq!(s["blocks"][0]["hash"], tip.as_str(), "{s}");
    let block = node.cli_json(&["getblock", &tip, "1"]);
    let in_block: Vec<&str> = block["tx"]
        .as_array()
        .expect("a list of txids")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        in_block.len(),
        4,
        "coinbase and the three payments: {block}"
    );
    for txid in &txids {
        assert!(in_block.contains(&txid.as_str()), "{txid} missing: {block}");
    }
    assert_eq!(node.cli_json(&["getrawmempool"]), serde_json::json!([]));
}

#[test]
fn solo_with_the_cookie_file() {
    let Some(node) = Regtest::start_with(RpcAuth::Cookie) else {
        return;
    };
    let address = node.new_address();
    let cookie = node.cookie_path();
    let cookie = cookie.to_str().expect("a UTF-8 temp path");
    let url = node.rpc_url();
    let s = summary(&mine(&[
        "--node",
        &url,
        "--rpc-cookie",
        cookie,
        "--address",
        &address,
        "--blocks",
        "1",
        "--time",
        "120",
        "--json",
    ]));
    assert_eq!(s["blocks_accepted"], 1, "{s}");
    assert_eq!(node.height(), 102);
}

#[test]
fn solo_with_wrong_credentials_is_a_clear_error() {
    let Some(node) = Regtest::start() else { return };
    let address = node.new_address();
    let url = node.rpc_url();
    let o = mine(&[
        "--node",
        &url,
        "--rpc-user",
        "u",
        "--rpc-pass",
        "wrong",
        "--address",
        &address,
        "--blocks",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("credentials"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the password is never printed: {err}"
    );
    assert_eq!(node.height(), 101);
}

#[test]
fn pool_shares_are_accepted_with_a_merkle_branch() {
    let Some(node) = Regtest::start() else { return };
    let Some(pool) = NpmPool::start(&node, 0.0001) else {
        return;
    };
    // Transactions first, and wait until the pool's jobs carry them, so every share below is
    // built on a non-empty merkle branch.
    for _ in 0..3 {
        node.send_to_new_address("1");
    }
    let mut watcher = common::sv1::Client::subscribe(&pool.url(), "watcher");
    watcher.authorize("watcher", "x");
    let job = watcher.next_job_where(|j| !j.branch.is_empty(), Duration::from_secs(60));
    assert_eq!(job.branch.len(), 2, "{job:?}");

    let url = pool.url();
    let s = summary(&mine(&[
        "--pool",
        &url,
        "--user",
        "miner.cli",
        "--shares",
        "5",
        "--time",
        "120",
        "--json",
    ]));
    assert!(s["accepted"].as_u64() >= Some(5), "{s}");
    assert_eq!(s["rejected_total"], 0, "{s}");
    assert_eq!(s["difficulty"], 0.0001, "{s}");
    assert!(s["hashrate"].as_f64() > Some(0.0), "{s}");
    // The pool rebuilt each header itself; its share difficulty proves the hash, since on
    // regtest its block-candidate path skips its own difficulty check.
    let events: Vec<Value> = pool
        .events()
        .into_iter()
        .filter(|e| e["event"] == "share" && e["worker"] == "miner.cli")
        .collect();
    assert!(events.len() >= 5, "{events:?}");
    for e in &events {
        assert_eq!(e["isValidShare"], true, "{e}");
        let diff: f64 = e["shareDiff"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .or_else(|| e["shareDiff"].as_f64())
            .expect("the pool reports a share difficulty");
        assert!(diff >= 0.0001, "{e}");
    }
}
