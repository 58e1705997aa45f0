//! `sha256d mine --pool stratum2+tcp://…` as a user runs it, against the real Stratum V2 stack
//! on 127.0.0.1: SRI's `pool_sv2` (`SHA256D_POOL_SV2`) fed by our Template Provider on Bitcoin
//! Knots (`SHA256D_KNOTS_BITCOIND`). Each test skips with a message when a peer is absent and
//! fails instead under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

mod common;
// The stack the mining crate's tests start, shared rather than copied.
#[path = "../../mining/tests/sv2_stack/mod.rs"]
mod sv2_stack;

use common::{mine, summary};
use sv2_stack::Stack;

/// `mine --pool` on the stack's pool with `extra`, until two shares are accepted.
fn mine_on(stack: &Stack, extra: &[&str]) -> serde_json::Value {
    let url = stack.pool.url();
    let user = stack.user_identity("cli");
    let mut args = vec![
        "--pool",
        &url,
        "--user",
        &user,
        // A debug build on a busy machine: announce little so shares come often.
        "--sv2-hashrate",
        "1e4",
        "--shares",
        "2",
        "--time",
        "120",
        "--json",
    ];
    args.extend(extra);
    let o = mine(&args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stderr),
        stack.pool.logs()
    );
    summary(&o)
}

#[test]
fn mine_on_pool_sv2_reports_like_a_v1_pool_on_both_channel_kinds() {
    let Some(stack) = Stack::start() else { return };
    for channel in ["standard", "extended"] {
        let start_height = stack.node.height();
        let s = mine_on(&stack, &["--sv2-channel", channel]);
        assert!(s["accepted"].as_u64() >= Some(2), "{channel}: {s}");
        assert_eq!(s["rejected_total"], s["stale"], "{channel}: {s}");
        assert!(
            s["source"]
                .as_str()
                .is_some_and(|src| src.starts_with(&stack.pool.url())),
            "{channel}: {s}"
        );
        // Every regtest share is a block candidate (only a node's answer accepts a block);
        // the node's tip moved.
        assert!(s["block_candidates"].as_u64() >= Some(1), "{channel}: {s}");
        assert_eq!(s["blocks_accepted"], 0, "{channel}: {s}");
        assert!(stack.node.height() > start_height, "{channel}: {s}");
    }
}

#[test]
fn a_v2_url_without_a_key_is_refused_unless_the_check_is_skipped_by_name() {
    let Some(stack) = Stack::start() else { return };
    let url = format!("stratum2+tcp://{}", stack.pool.address());
    let user = stack.user_identity("cli");
    let o = mine(&[
        "--pool", &url, "--user", &user, "--shares", "1", "--time", "30",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("error: pool {url} has no authority key")),
        "{err}"
    );

    let o = mine(&[
        "--pool",
        &url,
        "--user",
        &user,
        "--sv2-insecure-skip-authority-check",
        "--sv2-hashrate",
        "1e4",
        "--shares",
        "1",
        "--time",
        "120",
        "--json",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("NOT authenticated"), "{err}");
    assert!(err.contains("WARNING: pool"), "{err}");
    assert!(summary(&o)["accepted"].as_u64() >= Some(1));
}
