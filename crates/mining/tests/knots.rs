//! Solo mining checked by a real Bitcoin node: Bitcoin Knots on its own regtest (install it
//! with `.ci/peers.sh DIR`, then set `SHA256D_KNOTS_BITCOIND`), which holds our blocks to
//! Bitcoin's consensus rules: segwit's witness commitment and coinbase witness, and BIP34's
//! height in the coinbase. Each test skips with a message when the node is absent, and fails
//! instead under `SHA256D_REQUIRE_PEERS=1` or `CI=true`. Each starts its own node, so the tests
//! run in parallel and in any order.
//!
//! Blocks the crate would never build (a wrong commitment, a wrong height) are made either by
//! changing the template or job before the crate's block assembly runs, or by a scripted node
//! in front of the real one that changes the template on its way to the crate's source, so
//! that the node's reason is seen as the source reports it.

use bitcoin::consensus::encode::deserialize_hex;
use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d_mining::gbt::{CoinbaseOptions, SoloOptions, SoloSource, Template};
use sha256d_mining::rpc::{Auth, RpcClient};
use sha256d_mining::{address, mine, Event, Job, MineOptions, Share, Source, Stats, Verdict};
use sha256d_testkit::fake_node::{result, rpc_error, FakeNode};
use sha256d_testkit::regtest::{Flavour, Regtest};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Generous: the node rebuilds a template within a few seconds of a mempool change.
const WAIT: Duration = Duration::from_secs(60);

#[test]
fn knots_serves_segwit_templates_from_its_wallet() {
    let Some(node) = Regtest::knots() else { return };
    assert_eq!(node.flavour(), Flavour::Knots);
    assert_eq!(node.height(), 101);
    let txids: Vec<String> = {
        let mut t: Vec<String> = (0..3).map(|_| node.send_to_new_address("1")).collect();
        t.sort();
        t
    };
    assert_eq!(node.mempool(), txids);
    let template = node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(3),
        WAIT,
    );
    assert_eq!(template["height"], json!(102), "{template}");
    assert_eq!(template["bits"], json!("207fffff"), "{template}");
    assert_eq!(template["previousblockhash"], json!(node.best_hash()));
    assert!(
        template["default_witness_commitment"]
            .as_str()
            .is_some_and(|c| c.starts_with("6a24aa21a9ed")),
        "{template}"
    );
    // The wallet spends its bech32 coinbases: every payment carries a witness, so its wtxid
    // (`hash`) differs from its txid.
    for tx in template["transactions"].as_array().expect("a list") {
        let data = tx["data"].as_str().expect("hex");
        let decoded: bitcoin::Transaction = deserialize_hex(data).expect("a transaction");
        assert!(!decoded.input[0].witness.is_empty(), "{tx}");
        assert_ne!(tx["txid"], tx["hash"], "{tx}");
        assert_eq!(
            decoded.compute_txid().to_string(),
            tx["txid"].as_str().expect("hex")
        );
    }
}

#[test]
fn knots_at_genesis_serves_height_one() {
    let Some(node) = Regtest::knots_at_genesis() else {
        return;
    };
    assert_eq!(node.height(), 0);
    assert_eq!(node.template()["height"], json!(1));
    let hashes = node.generate(2);
    assert_eq!(hashes.len(), 2);
    assert_eq!(node.best_hash(), hashes[1]);
    assert_eq!(node.height(), 2);
}

/// A fresh, empty directory for found blocks.
fn block_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sha256d-knots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

/// Mines `blocks` blocks on `node` with the crate's getblocktemplate source, paying `address`.
fn solo(node: &Regtest, address: &str, blocks: u64, dir: &Path) -> Stats {
    let auth = Auth::UserPass(node.rpc_user(), node.rpc_password());
    let script = address::script_for_address(address).expect("the node's address decodes");
    let mut options = SoloOptions::new(node.rpc_url(), auth, script);
    options.block_dir = dir.to_path_buf();
    // Each block moves the tip; the next template then comes at the next poll.
    options.poll_interval = Duration::from_millis(100);
    let mut source = SoloSource::new(options).expect("valid options");
    let stats = mine(
        &mut source,
        &[sha256d::best()],
        &MineOptions {
            blocks: Some(blocks),
            // A bound, not a measure: the blocks end the run, and a debug build on a busy
            // machine takes seconds a block.
            time: Some(Duration::from_secs(600)),
            ..MineOptions::default()
        },
        &mut |_, _| {},
    )
    .expect("mining runs");
    assert_eq!(stats.blocks_accepted, blocks, "{stats:?}");
    stats
}

/// The node's own record of block `hash` (`getblock` verbosity 2).
fn block_json(node: &Regtest, hash: &str) -> Value {
    node.cli_json(&["getblock", hash, "2"])
}

#[test]
fn solo_mines_bip34_heights_one_to_sixteen_and_beyond() {
    let Some(node) = Regtest::knots_at_genesis() else {
        return;
    };
    let address = node.new_address();
    let dir = block_dir("heights");
    let stats = solo(&node, &address, 18, &dir);
    let heights: Vec<Option<u64>> = stats.blocks.iter().map(|b| b.height).collect();
    assert_eq!(heights, (1..=18).map(Some).collect::<Vec<_>>());
    assert_eq!(node.height(), 18);
    assert_eq!(node.best_hash(), stats.blocks[17].hash.to_string());
    for (block, height) in stats.blocks.iter().zip(1u64..) {
        let record = block_json(&node, &block.hash.to_string());
        assert_eq!(record["height"], json!(height), "{record}");
        // OP_1..OP_16 for 1..16, then a one-byte push: Core's `CScript() << height`.
        let push = match height {
            1..=16 => format!("{:02x}", 0x50 + height),
            _ => format!("01{height:02x}"),
        };
        let script_sig = record["tx"][0]["vin"][0]["coinbase"]
            .as_str()
            .expect("a coinbase");
        assert!(
            script_sig.starts_with(&push),
            "height {height}: {script_sig}"
        );
        let paid = &record["tx"][0]["vout"][0]["scriptPubKey"]["address"];
        assert_eq!(paid, &json!(address), "{record}");
    }
    // Every block was taken, so no file was left for submitting by hand.
    assert_eq!(std::fs::read_dir(&dir).expect("the block dir").count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn solo_blocks_carry_segwit_mempool_transactions() {
    let Some(node) = Regtest::knots() else { return };
    let mut txids: Vec<String> = (0..3).map(|_| node.send_to_new_address("1")).collect();
    txids.sort();
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(3),
        WAIT,
    );
    let dir = block_dir("mempool");
    let stats = solo(&node, &node.new_address(), 1, &dir);
    let tip = node.best_hash();
    assert_eq!(stats.blocks[0].hash.to_string(), tip);
    assert_eq!(stats.blocks[0].height, Some(102));
    let record = block_json(&node, &tip);
    let mut in_block: Vec<String> = record["tx"]
        .as_array()
        .expect("a list")
        .iter()
        .skip(1)
        .map(|tx| tx["txid"].as_str().expect("a txid").to_string())
        .collect();
    in_block.sort();
    assert_eq!(in_block, txids, "{record}");
    assert_eq!(node.mempool(), Vec::<String>::new());
    // The coinbase's last output is the witness commitment, and it took the block: the node
    // checked it against the payments' witnesses.
    let outputs = record["tx"][0]["vout"].as_array().expect("outputs");
    let commitment = outputs[outputs.len() - 1]["scriptPubKey"]["hex"]
        .as_str()
        .expect("hex");
    assert!(commitment.starts_with("6a24aa21a9ed"), "{record}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A block on the node's current template, built by the crate's block assembly (what
/// [`SoloSource`] submits), after `tamper_template` before the job is made from it and
/// `tamper_job` before the header is; the block's bytes.
fn assemble(
    node: &Regtest,
    tamper_template: impl FnOnce(&mut Template),
    tamper_job: impl FnOnce(&mut Job),
) -> Vec<u8> {
    let mut template = Template::from_json(&node.template()).expect("the node's template");
    let options = CoinbaseOptions {
        payout_script: address::script_for_address(&node.new_address()).expect("an address"),
        extranonce1: vec![0xa5; 4],
        extranonce2_size: 4,
        tag: b"/sha256d-test/".to_vec(),
        version_rolling: false,
    };
    tamper_template(&mut template);
    let mut job = template.job("knots", &options).expect("a job");
    tamper_job(&mut job);
    let share = block_share(Arc::new(job));
    template
        .block(&share)
        .expect("a block for its own template")
}

/// A share of `job` that meets its block target.
fn block_share(job: Arc<Job>) -> Share {
    let extranonce2 = vec![0; job.extranonce2_size];
    let mut header = job.header(&extranonce2, job.ntime);
    // Regtest's target: about every other nonce makes a block.
    while !job.block_target.is_met_by(&header.block_hash()) {
        header.nonce += 1;
    }
    Share {
        job,
        extranonce2,
        hash: header.block_hash(),
        header,
        is_block: true,
        stale: false,
    }
}

/// `submitblock` through the crate's RPC client: `null` when the node took the block, else its
/// reason.
fn submit(node: &Regtest, block: &[u8]) -> Value {
    let auth = Auth::UserPass(node.rpc_user(), node.rpc_password());
    RpcClient::new(&node.rpc_url(), auth)
        .expect("a loopback URL")
        .call("submitblock", json!([hex::encode(block)]))
        .expect("the node answers")
}

#[test]
fn the_submitted_block_carries_the_coinbase_witness_and_commitment() {
    let Some(node) = Regtest::knots() else { return };
    for _ in 0..2 {
        node.send_to_new_address("0.5");
    }
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(2),
        WAIT,
    );
    let bytes = assemble(&node, |_| {}, |_| {});
    let block: bitcoin::Block = bitcoin::consensus::deserialize(&bytes).expect("a block");
    assert_eq!(block.txdata.len(), 3);
    // The coinbase witness is ours, not filled in by the node: one item, 32 zero bytes.
    let witness: Vec<Vec<u8>> = block.txdata[0].input[0].witness.to_vec();
    assert_eq!(witness, vec![vec![0u8; 32]]);
    assert!(block.check_merkle_root());
    assert!(block.check_witness_commitment());
    assert_eq!(block.bip34_block_height(), Ok(102));

    assert_eq!(submit(&node, &bytes), Value::Null);
    let hash = block.block_hash().to_string();
    assert_eq!(node.best_hash(), hash);
    // The node keeps the block byte for byte as it was sent.
    assert_eq!(node.cli(&["getblock", &hash, "0"]), hex::encode(&bytes));
}

#[test]
fn a_tampered_witness_commitment_is_rejected_by_the_node() {
    let Some(node) = Regtest::knots() else { return };
    node.send_to_new_address("0.5");
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(1),
        WAIT,
    );
    let tip = node.best_hash();
    let tampered = |template: &mut Template| {
        let commitment = template
            .witness_commitment
            .as_mut()
            .expect("a segwit template");
        *commitment.last_mut().expect("38 bytes") ^= 1;
    };
    let bytes = assemble(&node, tampered, |_| {});
    assert_eq!(submit(&node, &bytes), json!("bad-witness-merkle-match"));
    assert_eq!(node.best_hash(), tip);
}

#[test]
fn a_small_height_pushed_as_a_number_is_rejected_by_the_node() {
    let Some(node) = Regtest::knots_at_genesis() else {
        return;
    };
    let bytes = assemble(
        &node,
        |_| {},
        |job| {
            // version, one input, the null prevout, then the scriptSig's length and its first
            // byte: OP_1 for height 1. BIP34 wants exactly that; `01 01` pushes the same number.
            assert_eq!(job.coinb1[42], 0x51, "{:02x?}", job.coinb1);
            job.coinb1[41] += 1;
            job.coinb1.splice(42..43, [0x01, 0x01]);
        },
    );
    assert_eq!(submit(&node, &bytes), json!("bad-cb-height"));
    assert_eq!(node.height(), 0);
    // The same template, as the crate builds it, is taken.
    assert_eq!(submit(&node, &assemble(&node, |_| {}, |_| {})), Value::Null);
    assert_eq!(node.height(), 1);
}

/// A scripted node in front of `node` that passes every call on and changes each template on
/// its way back with `tamper`, so that the crate's own source builds its block on it.
fn tampering(node: &Regtest, tamper: impl Fn(&mut Value) + Send + Sync + 'static) -> FakeNode {
    let auth = Auth::UserPass(node.rpc_user(), node.rpc_password());
    let client = RpcClient::new(&node.rpc_url(), auth).expect("a loopback URL");
    FakeNode::start(move |method, params| {
        // Longer than the source holds a longpoll open.
        match client.call_within(method, params.clone(), Duration::from_secs(150)) {
            Ok(mut value) => {
                if method == "getblocktemplate" {
                    tamper(&mut value);
                }
                result(value)
            }
            Err(e) => rpc_error(-1, e.message()),
        }
    })
}

/// The verdict the crate's getblocktemplate source reports for a block on the first job it
/// makes from the node at `url`.
fn verdict_on_first_job(node: &Regtest, url: &str, dir: &Path) -> Verdict {
    let auth = Auth::UserPass(node.rpc_user(), node.rpc_password());
    let script = address::script_for_address(&node.new_address()).expect("an address");
    let mut options = SoloOptions::new(url, auth, script);
    options.block_dir = dir.to_path_buf();
    let mut source = SoloSource::new(options).expect("valid options");
    let deadline = Instant::now() + WAIT;
    let mut events = Vec::new();
    let job = loop {
        if let Some(job) = events.iter().find_map(|e| match e {
            Event::Job(job) => Some(Arc::clone(job)),
            _ => None,
        }) {
            break job;
        }
        assert!(Instant::now() < deadline, "no job within {WAIT:?}");
        events = source.poll(Duration::from_millis(100)).expect("poll");
    };
    let mut events = source.submit(block_share(job)).expect("submit");
    loop {
        if let Some(verdict) = events.into_iter().find_map(|e| match e {
            Event::Verdict { verdict, .. } => Some(verdict),
            _ => None,
        }) {
            return verdict;
        }
        assert!(Instant::now() < deadline, "no verdict within {WAIT:?}");
        events = source.poll(Duration::from_millis(100)).expect("poll");
    }
}

#[test]
fn the_source_reports_the_nodes_reason_for_a_bad_witness_commitment() {
    let Some(node) = Regtest::knots() else { return };
    node.send_to_new_address("0.5");
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(1),
        WAIT,
    );
    let tip = node.best_hash();
    let proxy = tampering(&node, |template| {
        let commitment = template["default_witness_commitment"]
            .as_str()
            .expect("a segwit template");
        let last = if commitment.ends_with('0') { "1" } else { "0" };
        template["default_witness_commitment"] =
            json!(format!("{}{last}", &commitment[..commitment.len() - 1]));
    });
    let dir = block_dir("source-commitment");
    assert_eq!(
        verdict_on_first_job(&node, &proxy.url, &dir),
        Verdict::Rejected {
            reason: "bad-witness-merkle-match".into(),
            stale: false
        }
    );
    assert_eq!(node.best_hash(), tip);
    assert_eq!(proxy.count("submitblock"), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_source_reports_the_nodes_reason_for_a_wrong_height() {
    let Some(node) = Regtest::knots_at_genesis() else {
        return;
    };
    // The template says height 2 on the genesis block: the coinbase then starts with OP_2
    // where the node wants OP_1.
    let proxy = tampering(&node, |template| template["height"] = json!(2));
    let dir = block_dir("source-height");
    assert_eq!(
        verdict_on_first_job(&node, &proxy.url, &dir),
        Verdict::Rejected {
            reason: "bad-cb-height".into(),
            stale: false
        }
    );
    assert_eq!(node.height(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
