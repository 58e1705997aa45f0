//! The cgminer API read by a real client: pyasic, the Python library fleet tools use for
//! miners that speak cgminer's API. A short real mining session on the test pool publishes its
//! snapshots into a `Live`; pyasic then reads the hashrate, the shares and the pools from the
//! cgminer API serving it, through its RPC class and through its cgminer miner backend.
//!
//! Needs `SHA256D_PYTHON`: a python with pyasic (skipped without it unless peers are required).

use serde_json::Value;
use sha256d_mining::api::{cgminer, Control, Live, Setpoint, Snapshot};
use sha256d_mining::pool::{PoolState, PoolStatus};
use sha256d_mining::{mine, MineOptions, PoolConfig, PoolOptions, PoolSource, PoolUrl, Stats};
use sha256d_testkit::peers::peer_path;
use sha256d_testkit::testpool::{Settings, TestPool};
use sha256d_testkit::PYASIC_CLIENT;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A run's control that no test here calls: the API is read-only.
struct NoControl;

impl Control for NoControl {
    fn set_setpoint(&self, _: Setpoint) -> Result<(), String> {
        Err("read-only".into())
    }
    fn set_device_enabled(&self, _: usize, _: bool) -> Result<(), String> {
        Err("read-only".into())
    }
    fn switch_pool(&self, _: usize) -> Result<(), String> {
        Err("read-only".into())
    }
}

fn snapshot(started: SystemTime, url: &str, stats: &Stats) -> Snapshot {
    Snapshot {
        started: Some(started),
        stats: stats.clone(),
        pools: vec![PoolState {
            url: url.to_string(),
            user: "w1".into(),
            active: true,
            status: PoolStatus::Alive,
            accepted: stats.accepted,
            rejected: stats.rejected_total(),
            stale: 0,
            difficulty: stats.difficulty,
        }],
        ..Snapshot::default()
    }
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance
}

#[test]
fn pyasic_reads_hashrate_shares_and_pools() {
    let Some(python) = peer_path("SHA256D_PYTHON", "a python with pyasic") else {
        return;
    };
    let pool = TestPool::start(Settings::new("cgminer-api"));
    let url = pool.url();
    let mut source = PoolSource::new(PoolOptions::new(vec![PoolConfig::new(
        PoolUrl::parse(&url).expect("the test pool's URL"),
        "w1",
        "pw",
    )]))
    .expect("valid pool options");
    let engines = vec![sha256d::best()];
    let options = MineOptions {
        shares: Some(5),
        // Only a bound for a broken run: five shares at the test pool's difficulty take
        // a fraction of a second.
        time: Some(Duration::from_secs(120)),
        status_every: Duration::from_millis(50),
        ..MineOptions::default()
    };

    let live = Live::new();
    let server = cgminer::serve(
        "127.0.0.1:0".parse().expect("an address"),
        cgminer::Config::default(),
        Arc::clone(&live),
        Arc::new(NoControl),
    )
    .expect("serving the cgminer API on loopback");
    let started = SystemTime::now();
    let stats = mine(&mut source, &engines, &options, &mut |stats, _| {
        live.publish(snapshot(started, &url, stats));
    })
    .expect("the mining session runs");
    live.publish(snapshot(started, &url, &stats));
    assert!(stats.accepted >= 5, "{stats:?}");
    assert_eq!(stats.accepted as usize, pool.accepted().len());

    let port = server.local_addr().port().to_string();
    let out = Command::new(&python)
        .args(["-c", PYASIC_CLIENT, &port])
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "the pyasic client failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });

    let summary = &got["summary"];
    assert_eq!(summary["Accepted"], stats.accepted, "{got}");
    assert_eq!(summary["Rejected"], 0, "{got}");
    assert_eq!(summary["Hardware Errors"], stats.hardware_errors, "{got}");
    assert_eq!(summary["Elapsed"], stats.elapsed.as_secs(), "{got}");
    let rate = stats.hashrate();
    assert!(rate > 0.0);
    let mhs_av = summary["MHS av"].as_f64().expect("MHS av is a number");
    // Printed with two decimals of MH/s.
    assert!(
        close(mhs_av, rate / 1e6, 0.006),
        "{mhs_av} MH/s vs {rate} H/s"
    );
    let ghs_av = summary["GHS av"].as_f64().expect("GHS av is a number");
    assert!(
        close(ghs_av, rate / 1e9, 1e-6),
        "{ghs_av} GH/s vs {rate} H/s"
    );
    // The newest rate: the newest history step, or the average before there is one.
    let mhs_5s = summary["MHS 5s"].as_f64().expect("MHS 5s is a number");
    let ghs_5s = summary["GHS 5s"].as_f64().expect("GHS 5s is a number");
    assert!(ghs_5s > 0.0, "{got}");
    assert!(
        close(mhs_5s, ghs_5s * 1e3, 0.006),
        "{mhs_5s} MH/s vs {ghs_5s} GH/s"
    );
    // pyasic's cgminer backend reads "GHS 5s".
    let hs = got["hashrate_hs"].as_f64().expect("pyasic read a hashrate");
    assert!(close(hs, ghs_5s * 1e9, 1e-3), "{hs} H/s vs {ghs_5s} GH/s");

    assert_eq!(got["devs"].as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(
        got["devs"][0]["Accepted"], stats.devices[0].accepted,
        "{got}"
    );
    assert_eq!(got["devs"][0]["Enabled"], "Y");

    let pools = &got["pools"];
    assert_eq!(pools.as_array().map(Vec::len), Some(1), "{got}");
    assert_eq!(pools[0]["URL"], url.as_str());
    assert_eq!(pools[0]["Status"], "Alive");
    assert_eq!(pools[0]["Accepted"], stats.accepted);
    assert_eq!(pools[0]["User"], "w1");
    assert_eq!(pools[0]["Stratum Active"], true);

    let miner_pools = &got["miner_pools"];
    assert_eq!(miner_pools.as_array().map(Vec::len), Some(1), "{got}");
    // pyasic rewrites the URL as scheme://host:port, which ours already is.
    assert_eq!(miner_pools[0]["url"], url.as_str(), "{got}");
    assert_eq!(miner_pools[0]["accepted"], stats.accepted);
    assert_eq!(miner_pools[0]["rejected"], 0);
    assert_eq!(miner_pools[0]["alive"], true);
    assert_eq!(miner_pools[0]["active"], true);
    assert_eq!(miner_pools[0]["index"], 0);

    // One request, joined with `+`: the same answers as one at a time.
    let joined = &got["joined"];
    assert_eq!(joined["summary"]["SUMMARY"][0], *summary, "{got}");
    assert_eq!(joined["pools"]["POOLS"], *pools, "{got}");
    assert_eq!(joined["devs"]["DEVS"], got["devs"], "{got}");

    assert_eq!(
        got["fw_ver"],
        concat!("sha256d ", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(got["uptime"], stats.elapsed.as_secs());
}
