//! `sha256d mine --cgminer-api`: pyasic, the Python library fleet tools use for miners that
//! speak cgminer's API, reads a real run's hashrate, shares and pool. The run goes on while it
//! reads, so its counts are checked against what the test pool itself counted before and
//! after.

// Shared by the API tests, each using part of it.
#[allow(dead_code)]
#[path = "common/api.rs"]
mod api;

use api::ApiMiner;
use serde_json::Value;
use sha256d_testkit::peers::peer_path;
use sha256d_testkit::testpool::{Settings, TestPool};
use sha256d_testkit::PYASIC_CLIENT;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn pyasic_reads_the_hashrate_shares_and_pool_of_a_run() {
    let Some(python) = peer_path("SHA256D_PYTHON", "a python with pyasic") else {
        return;
    };
    let pool = TestPool::start(Settings::new("cgminer-cli"));
    let url = pool.url();
    let miner = ApiMiner::start(
        &[
            "--pool",
            &url,
            "--user",
            "w1",
            "--threads",
            "1",
            "--cgminer-api",
            "127.0.0.1:0",
            "--time",
            "300",
        ],
        &[],
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while pool.accepted().len() < 3 {
        assert!(Instant::now() < deadline, "no shares: {}", miner.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let port = miner
        .cgminer
        .as_deref()
        .and_then(|at| at.rsplit(':').next())
        .expect("the cgminer API's port")
        .to_string();
    let before = pool.accepted().len() as u64;
    let out = Command::new(&python)
        .args(["-c", PYASIC_CLIENT, &port])
        .output()
        .expect("running python");
    let after = pool.accepted().len() as u64;
    assert!(
        out.status.success(),
        "the pyasic client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).expect("the client prints JSON");
    // In the test's output, for a person comparing pyasic's view with the run's.
    println!("pyasic's view: {got:#}");
    let within = |v: &Value| v.as_u64().is_some_and(|n| (before..=after).contains(&n));

    // Shares: pyasic's counts lie between the pool's own before and after.
    assert!(
        within(&got["summary"]["Accepted"]),
        "{before}..={after}: {got}"
    );
    assert_eq!(got["summary"]["Rejected"], 0, "{got}");
    assert!(got["hashrate_hs"].as_f64() > Some(0.0), "{got}");
    assert_eq!(got["devs"].as_array().map(Vec::len), Some(1), "{got}");
    // The pool, as the run's pool board shows it.
    let pools = &got["miner_pools"];
    assert_eq!(pools.as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(pools[0]["url"], url.as_str(), "{got}");
    assert_eq!(pools[0]["user"], "w1", "{got}");
    assert_eq!(pools[0]["alive"], true, "{got}");
    assert_eq!(pools[0]["active"], true, "{got}");
    assert!(within(&pools[0]["accepted"]), "{before}..={after}: {got}");
    assert_eq!(
        got["fw_ver"],
        concat!("sha256d ", env!("CARGO_PKG_VERSION"))
    );

    let (status, _, stderr) = miner.stop();
    assert!(status.success(), "{status}: {stderr}");
}
