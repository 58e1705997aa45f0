//! The Template Provider end to end with the real Stratum V2 stack on 127.0.0.1: Bitcoin
//! Knots (`SHA256D_KNOTS_BITCOIND`), SRI's `pool_sv2` (`SHA256D_POOL_SV2`) fed by our Template
//! Provider, and `translator_sv2` (`SHA256D_TRANSLATOR_SV2`) in front, where our Stratum V1
//! client mines. Install them with `.ci/peers.sh DIR`. Each test skips with a message when a
//! peer is absent and fails instead under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

#![cfg(feature = "sv2")]

mod sv2_stack;

use sv2_stack::{Stack, PATIENCE};

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
