//! `sha256d mine` as a user runs it, against the real peers on 127.0.0.1: blocks through
//! getblocktemplate on the regtest nodes (Bitcoin Knots, which checks segwit and BIP34 as
//! Bitcoin does, and Bitcoin SV as a chain without segwit), shares through the npm Stratum pool. Like
//! `crates/mining/tests/peers.rs`, each test skips with a message when the peers are absent and fails instead
//! under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

mod common;

use common::{mine, mine_with_env, summary};

use serde_json::Value;
use sha256d_testkit::peers::NpmPool;
use sha256d_testkit::regtest::{Flavour, Regtest, RpcAuth};
use std::time::Duration;

/// `mine --node` on `node` with its password, paying `address`, plus `extra`.
fn solo(node: &Regtest, address: &str, extra: &[&str]) -> Value {
    let (url, user, pass) = (node.rpc_url(), node.rpc_user(), node.rpc_password());
    let mut args = vec![
        "--node",
        &url,
        "--rpc-user",
        &user,
        "--rpc-pass",
        &pass,
        "--address",
        address,
        "--time",
        "120",
        "--json",
    ];
    args.extend(extra);
    summary(&mine(&args))
}
/// Three blocks, each paying `address` and becoming the tip.
fn solo_blocks_become_the_tip(node: &Regtest) {
    let address = node.new_address();
    let s = solo(node, &address, &["--blocks", "3"]);
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
fn solo_blocks_become_the_knots_tip() {
    let Some(node) = Regtest::knots() else { return };
    solo_blocks_become_the_tip(&node);
}

#[test]
fn solo_blocks_become_the_sv_tip() {
    let Some(node) = Regtest::start() else { return };
    solo_blocks_become_the_tip(&node);
}

/// Three payments in the mempool, then one block that carries them all.
fn solo_blocks_carry_the_mempool(node: &Regtest) {
    let txids: Vec<String> = (0..3).map(|_| node.send_to_new_address("1")).collect();
    // The node rebuilds its template only every few seconds after the mempool changes: wait
    // until it offers the payments, so the miner's first template carries them.
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(3),
        Duration::from_secs(60),
    );
    let s = solo(node, &node.new_address(), &["--blocks", "1"]);
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

/// On Knots the payments spend segwit outputs: the block is only taken with the witness
/// commitment right.
#[test]
fn solo_blocks_carry_the_knots_mempool() {
    let Some(node) = Regtest::knots() else { return };
    solo_blocks_carry_the_mempool(&node);
    let block = node.cli_json(&["getblock", &node.best_hash(), "2"]);
    for tx in block["tx"].as_array().expect("transactions").iter().skip(1) {
        assert_ne!(tx["txid"], tx["hash"], "a payment with a witness: {tx}");
    }
}

#[test]
fn solo_blocks_carry_the_sv_mempool() {
    let Some(node) = Regtest::start() else { return };
    solo_blocks_carry_the_mempool(&node);
}

#[test]
fn solo_with_the_cookie_file() {
    let Some(node) = Regtest::launch(Flavour::Knots, RpcAuth::Cookie, 101) else {
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
fn solo_reads_the_rpc_password_from_a_file_or_the_environment() {
    // The cookie's random password, long enough that finding it in stderr means it leaked.
    let Some(node) = Regtest::launch(Flavour::Knots, RpcAuth::Cookie, 101) else {
        return;
    };
    let address = node.new_address();
    let (url, user, pass) = (node.rpc_url(), node.rpc_user(), node.rpc_password());
    let file = std::env::temp_dir().join(format!("sha256d-rpc-pass-{}", std::process::id()));
    std::fs::write(&file, format!("{pass}\n")).expect("write the password file");
    let file = file.to_str().expect("UTF-8 path").to_string();
    let base = [
        "--node",
        &url,
        "--rpc-user",
        &user,
        "--address",
        &address,
        "--blocks",
        "1",
        "--time",
        "120",
        "--json",
    ];
    let by_file = mine_with_env(&[&base[..], &["--rpc-pass-file", &file]].concat(), &[]);
    assert_eq!(summary(&by_file)["blocks_accepted"], 1);
    let by_env = mine_with_env(&base, &[("SHA256D_RPC_PASS", &pass)]);
    assert_eq!(summary(&by_env)["blocks_accepted"], 1);
    for o in [by_file, by_env] {
        assert!(!String::from_utf8_lossy(&o.stderr).contains(&pass));
    }
    assert_eq!(node.height(), 103);
}

#[test]
fn solo_with_wrong_credentials_is_a_clear_error() {
    let Some(node) = Regtest::knots() else { return };
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
    let mut watcher = sha256d_testkit::sv1::Client::subscribe(&pool.url(), "watcher");
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
    // On regtest every share meets the network target; the pool's acceptance makes each a
    // block candidate, never an accepted block.
    assert_eq!(s["blocks_accepted"], 0, "{s}");
    assert_eq!(s["blocks"], serde_json::json!([]), "{s}");
    assert_eq!(s["block_candidates"], s["accepted"], "{s}");
    assert_eq!(s["blocks_found"], s["shares_submitted"], "{s}");
    assert!(s["hashrate"].as_f64() > Some(0.0), "{s}");
    // The pool rebuilt each header itself; its share difficulty proves the hash, since on
    // regtest its block-candidate path skips its own difficulty check.
    let accepted = s["accepted"].as_u64().expect("accepted is a count") as usize;
    let events = pool.wait_for_events(
        |e| e["event"] == "share" && e["worker"] == "miner.cli",
        accepted,
        Duration::from_secs(60),
    );
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

/// The crate's own pool client against the real pool: a share above target and a stale share
/// come back as rejections carrying the pool's reasons, the stale one classified as stale.
#[test]
fn pool_client_reports_the_pools_rejections() {
    use sha256d::{CompactTarget, Target, Work};
    use sha256d_mining::{Event, PoolConfig, PoolOptions, PoolSource, PoolUrl, Share, Source};
    use sha256d_mining::{Job, Verdict};
    use std::sync::Arc;

    let Some(node) = Regtest::start() else { return };
    let Some(pool) = NpmPool::start(&node, 0.0001) else {
        return;
    };
    let url = PoolUrl::parse(&pool.url()).expect("the pool's URL");
    let mut source = PoolSource::new(PoolOptions::new(vec![PoolConfig::new(url, "client", "x")]))
        .expect("valid options");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let next = |source: &mut PoolSource, want: &dyn Fn(&Event) -> bool| loop {
        assert!(std::time::Instant::now() < deadline, "timed out");
        let events = source.poll(Duration::from_millis(100)).expect("poll");
        if let Some(e) = events.into_iter().find(|e| want(e)) {
            return e;
        }
    };
    let Event::Job(job) = next(&mut source, &|e| matches!(e, Event::Job(_))) else {
        unreachable!("filtered for jobs")
    };
    // A header whose hash misses both the share target and the regtest block target (the
    // pool skips its difficulty check on block candidates).
    let block_target =
        Target::from_compact(CompactTarget::from_consensus(0x207f_ffff)).expect("regtest bits");
    let en2 = vec![0u8; job.extranonce2_size];
    // The first nonce whose hash meets `target` and passes `wanted`.
    let share_of = |job: &Arc<Job>, target: Target, wanted: &dyn Fn(&sha256d::Hash) -> bool| {
        let mut header = job.header(&en2, job.ntime);
        let ctl = sha256d::Control::new();
        let mut hit = None;
        sha256d::best()
            .search_stream(&Work::new(header, target), &ctl, &mut |f| {
                if hit.is_none() && wanted(&f.hash) {
                    hit = Some(*f);
                    ctl.cancel();
                }
            })
            .expect("search");
        let found = hit.expect("such a nonce exists among 2^32");
        header.nonce = found.nonce;
        Share {
            job: Arc::clone(job),
            extranonce2: en2.clone(),
            header,
            hash: found.hash,
            is_block: block_target.is_met_by(&found.hash),
            stale: false,
        }
    };
    let high = share_of(&job, Target::MAX, &|h| !block_target.is_met_by(h));
    source.submit(high).expect("submit");
    let Event::Verdict { verdict, .. } = next(&mut source, &|e| matches!(e, Event::Verdict { .. }))
    else {
        unreachable!("filtered for verdicts")
    };
    match verdict {
        Verdict::Rejected { reason, stale } => {
            assert!(reason.contains("low difficulty share"), "{reason}");
            assert!(reason.contains("23"), "{reason}");
            assert!(!stale, "{reason}");
        }
        other => panic!("above target accepted: {other:?}"),
    }

    // A new block voids the job; a good share for it is then stale at the pool.
    node.generate(1);
    next(&mut source, &|e| matches!(e, Event::Job(j) if j.clean));
    let old = share_of(&job, job.share_target, &|_| true);
    source.submit(old).expect("submit");
    let Event::Verdict { verdict, .. } = next(&mut source, &|e| matches!(e, Event::Verdict { .. }))
    else {
        unreachable!("filtered for verdicts")
    };
    match verdict {
        Verdict::Rejected { reason, stale } => {
            assert!(reason.contains("job not found"), "{reason}");
            assert!(stale, "{reason}");
        }
        other => panic!("stale share accepted: {other:?}"),
    }
}

/// `sha256d verify-log ARGS...`, waited for.
fn verify_log(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .arg("verify-log")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn log_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .expect("the log reads")
        .lines()
        .map(str::to_string)
        .collect()
}

/// `mine --share-log` through the real pool, twice on one log (the chain goes on), then
/// `verify-log` on it: intact, through a head kept from the first run; each edit a tamperer
/// would make is named by its line; a log rotated into several files verifies as one chain.
#[test]
fn a_share_log_mined_through_the_pool_verifies_and_shows_tampering() {
    let Some(node) = Regtest::start() else { return };
    let Some(pool) = NpmPool::start(&node, 0.0001) else {
        return;
    };
    let dir = sha256d_testkit::peers::temp_dir("cli-share-log");
    let log = dir.join("shares.log");
    let log_arg = log.to_str().expect("a UTF-8 temp path");
    let url = pool.url();
    let run = |log: &str, extra: &[&str]| {
        let base = [
            "--pool",
            &url,
            "--user",
            "miner.log",
            "--time",
            "120",
            "--json",
            "--share-log",
            log,
        ];
        summary(&mine(&[&base[..], extra].concat()))
    };
    let runs = [
        run(log_arg, &["--shares", "3"]),
        run(log_arg, &["--shares", "3"]),
    ];
    for s in &runs {
        let verdicts = s["accepted"].as_u64().zip(s["rejected_total"].as_u64());
        assert_eq!(
            s["share_log"]["lines_written"].as_u64(),
            verdicts.map(|(a, r)| a + r),
            "{s}"
        );
    }
    let lines = log_lines(&log);
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON lines"))
        .collect();
    let count = |key: &str, value: &str| records.iter().filter(|r| r[key] == value).count();
    let first_run = runs[0]["share_log"]["lines_written"]
        .as_u64()
        .expect("a count");
    let n = lines.len();
    let head = runs[1]["share_log"]["head"].as_str().expect("a head");
    let kept = runs[0]["share_log"]["head"].as_str().expect("a head");
    let o = verify_log(&[log_arg, "--head", kept]);
    assert_eq!(String::from_utf8_lossy(&o.stderr), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{log_arg}: intact, {n} lines in 1 file (seq 0 to {}): {} accepted, {} rejected, \
             {} stale, 0 blocks accepted, {} block candidates, through --head at seq {}; \
             head {head}\n",
            n - 1,
            count("verdict", "accepted"),
            count("verdict", "rejected"),
            count("verdict", "stale"),
            count("kind", "block_candidate"),
            first_run - 1,
        )
    );
    assert_eq!(o.status.code(), Some(0));
    // On regtest every share is a block candidate, and the engine is named.
    assert_eq!(count("kind", "block_candidate"), n, "{records:?}");
    assert!(
        records.iter().all(|r| r["engine"].is_string()),
        "{records:?}"
    );

    let tampered = dir.join("tampered.log");
    let tampered_arg = tampered.to_str().expect("a UTF-8 temp path");
    let check = |edited: Vec<String>| {
        std::fs::write(&tampered, edited.join("\n") + "\n").expect("writes");
        let o = verify_log(&[tampered_arg]);
        assert_eq!(o.status.code(), Some(1));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    // A digit of the third line's merkle root.
    let mut changed = lines.clone();
    let at = changed[2].find("\"header\":\"").expect("a header") + 10 + 80;
    let digit = if &changed[2][at..=at] == "0" {
        "1"
    } else {
        "0"
    };
    changed[2].replace_range(at..=at, digit);
    let err = check(changed);
    assert!(
        err.starts_with(&format!(
            "error: {tampered_arg} line 3: its header hashes to "
        )),
        "{err}"
    );
    let mut removed = lines.clone();
    removed.remove(2);
    assert_eq!(
        check(removed),
        format!(
            "error: {tampered_arg} line 3: seq 3 follows seq 1: a line was removed, added or \
             moved here\n"
        )
    );
    let mut moved = lines.clone();
    moved.swap(2, 3);
    assert_eq!(
        check(moved),
        format!(
            "error: {tampered_arg} line 3: seq 3 follows seq 1: a line was removed, added or \
             moved here\n"
        )
    );

    // Rotated at the smallest size: several files, one chain. A line is some 700 bytes, so
    // 30 shares fill at least two files whatever the run's last shares add.
    let rotated = dir.join("rotated.log");
    let rotated_arg = rotated.to_str().expect("a UTF-8 temp path");
    let s = run(
        rotated_arg,
        &["--shares", "30", "--share-log-max-bytes", "8193"],
    );
    let written = s["share_log"]["lines_written"].as_u64().expect("a count");
    let files = 1
        + (1..)
            .take_while(|i| dir.join(format!("rotated.log.{i}")).exists())
            .count();
    assert!(files >= 2, "{s}");
    let o = verify_log(&[rotated_arg]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with(&format!(
            "{rotated_arg}: intact, {written} lines in {files} files (seq 0 to {}): ",
            written - 1
        )),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "; head {}\n",
            s["share_log"]["head"].as_str().expect("a head")
        )),
        "{out}"
    );
    // The newest file alone goes on from a line in a file not read.
    let o = verify_log(&[rotated_arg, "--only"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(", going on from a line not read (prev "),
        "{o:?}"
    );
    std::fs::remove_dir_all(&dir).expect("removes the logs");
}
