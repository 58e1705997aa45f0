//! `GET /metrics`' text read back by a real parser (Python's `prometheus_client`, from
//! `SHA256D_PYTHON`; skipped without it unless peers are required): every family typed, and
//! the numbers and labels it reads equal the snapshot's, hostile label text included.

use sha256d_mining::api::{metrics, EnergyState, PowerState, Snapshot};
use sha256d_mining::pool::{PoolState, PoolStatus};
use sha256d_mining::power::Cap;
use sha256d_mining::{DeviceStats, DropReason, Stats};
use sha256d_testkit::prometheus::{self, Family};
use std::collections::BTreeMap;
use std::time::Duration;

/// Reject reasons a hostile pool could send (after the reason key blanked its numbers).
const HOSTILE: [&str; 5] = [
    "low difficulty share of #",
    "quote \" and backslash \\ and \\\" both",
    "line one\nline two\n",
    "ünïcødé ☃ 𝄞 \u{2028} done",
    "} 1\nsha256d_fake_total 99\n# TYPE x counter",
];

fn rich() -> Snapshot {
    let devices: Vec<DeviceStats> = [("sha-ni", 1), ("avx2", 2), ("gpu", 3), ("asic", 4)]
        .iter()
        .map(|&(engine, k)| DeviceStats {
            engine: engine.into(),
            device: format!("{engine} #{k}"),
            hashes: 1_000_003 * k,
            shares_found: 5 * k,
            accepted: 4 * k,
            rejected: k,
            stale: k / 2,
            hardware_errors: k * 7,
            known_answer_misses: k - 1,
            known_answers_passed: 10 + k,
            accepted_difficulty: 0.25 * k as f64,
            failure: (k == 3).then(|| "engine \"gpu\" lost its device".into()),
            ..DeviceStats::default()
        })
        .collect();
    let mut stats = Stats {
        source: "stratum+tcp://pool".into(),
        elapsed: Duration::from_millis(12_345),
        hashes: devices.iter().map(|d| d.hashes).sum(),
        shares_found: 50,
        shares_submitted: 47,
        accepted: 40,
        rejected: HOSTILE
            .iter()
            .zip(1..)
            .map(|(r, n)| (r.to_string(), n))
            .collect(),
        dropped: [(DropReason::Stale, 2), (DropReason::Overflow, 1)].into(),
        stale: 3,
        hardware_errors: 70,
        best_share_difficulty: 1234.5678,
        difficulty: Some(0.001),
        accepted_difficulty: 2.5,
        blocks_found: 1,
        block_candidates: 1,
        devices,
        ..Stats::default()
    };
    stats.devices[2].disabled = true;
    Snapshot {
        stats,
        pools: vec![
            PoolState {
                url: "stratum+tcp://pool.example:3333".into(),
                user: "w1".into(),
                active: true,
                status: PoolStatus::Alive,
                accepted: 40,
                rejected: 15,
                stale: 1,
                difficulty: Some(0.001),
            },
            PoolState {
                url: "stratum+ssl://bäckup\"pool\\:443".into(),
                user: "w1".into(),
                active: false,
                status: PoolStatus::Dead,
                accepted: 0,
                rejected: 0,
                stale: 0,
                difficulty: None,
            },
        ],
        power: Some(PowerState {
            cap: Cap::Fraction(0.5),
            source: Some("schedule".into()),
            duty: 0.5,
            api_setpoint: None,
        }),
        energy: Some(EnergyState {
            watts: Some(42.25),
            joules: Some(521.5),
            source: "rapl".into(),
            joules_per_verified_th: None,
        }),
        ..Snapshot::default()
    }
}

fn family<'a>(families: &'a [Family], name: &str) -> &'a Family {
    families
        .iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("no family {name} in {families:#?}"))
}

/// A family's samples as label sets (each label as `name=value`) to values.
fn values(families: &[Family], name: &str) -> BTreeMap<Vec<String>, f64> {
    family(families, name)
        .samples
        .iter()
        .map(|s| {
            let labels = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (labels, s.value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn per_device(
    snapshot: &Snapshot,
    value: impl Fn(&DeviceStats) -> u64,
) -> BTreeMap<Vec<String>, f64> {
    snapshot
        .stats
        .devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let index = i.to_string();
            (
                labels(&[("device", &index), ("engine", &d.engine)]),
                value(d) as f64,
            )
        })
        .collect()
}

#[test]
fn a_real_parser_reads_back_the_snapshot() {
    let snapshot = rich();
    let text = metrics::render(&snapshot);
    let Some(families) = prometheus::parse(&text) else {
        return;
    };

    // Every family typed (a sample whose name no `# TYPE` covers would be read as `untyped`),
    // and no sample lost, split or invented by hostile text.
    let kinds: BTreeMap<&str, &str> = families
        .iter()
        .map(|f| (f.name.as_str(), f.kind.as_str()))
        .collect();
    assert!(
        kinds.values().all(|k| *k == "counter" || *k == "gauge"),
        "{kinds:#?}"
    );
    let sample_lines = text.lines().filter(|l| !l.starts_with('#')).count();
    let samples: usize = families.iter().map(|f| f.samples.len()).sum();
    assert_eq!(samples, sample_lines, "{families:#?}");
    for f in &families {
        assert!(f.name.starts_with("sha256d_"), "{}", f.name);
        assert!(!f.help.is_empty(), "{} has no help", f.name);
        for s in &f.samples {
            let counter_named = s.name.ends_with("_total");
            assert_eq!(
                counter_named,
                f.kind == "counter",
                "{} in {}",
                s.name,
                f.name
            );
        }
    }
    assert_eq!(kinds["sha256d_hashes"], "counter");
    assert_eq!(kinds["sha256d_joules"], "counter");
    assert_eq!(kinds["sha256d_hashrate_hashes_per_second"], "gauge");
    assert_eq!(kinds["sha256d_uptime_seconds"], "gauge");

    let stats = &snapshot.stats;
    assert_eq!(
        values(&families, "sha256d_build_info"),
        [(labels(&[("version", env!("CARGO_PKG_VERSION"))]), 1.0)].into()
    );
    assert_eq!(
        values(&families, "sha256d_uptime_seconds"),
        [(vec![], 12.345)].into()
    );
    assert_eq!(
        values(&families, "sha256d_hashes"),
        per_device(&snapshot, |d| d.hashes)
    );
    assert_eq!(
        values(&families, "sha256d_hardware_errors"),
        per_device(&snapshot, |d| d.hardware_errors)
    );
    assert_eq!(
        values(&families, "sha256d_known_answer_misses"),
        per_device(&snapshot, |d| d.known_answer_misses)
    );
    assert_eq!(
        values(&families, "sha256d_device_up"),
        per_device(&snapshot, |d| u64::from(d.failure.is_none()))
    );
    assert_eq!(
        values(&families, "sha256d_hashrate_hashes_per_second"),
        [
            (labels(&[("kind", "measured")]), stats.hashrate()),
            (labels(&[("kind", "proven")]), stats.proven_hashrate()),
        ]
        .into()
    );
    let mut shares: BTreeMap<Vec<String>, f64> = stats
        .rejected
        .iter()
        .map(|(reason, n)| {
            (
                labels(&[("reason", reason), ("result", "rejected")]),
                *n as f64,
            )
        })
        .collect();
    shares.insert(labels(&[("result", "accepted")]), stats.accepted as f64);
    assert_eq!(values(&families, "sha256d_shares"), shares);
    assert_eq!(
        values(&families, "sha256d_shares_dropped"),
        [
            (labels(&[("reason", "stale")]), 2.0),
            (labels(&[("reason", "overflow")]), 1.0),
        ]
        .into()
    );
    assert_eq!(
        values(&families, "sha256d_joules"),
        [(labels(&[("source", "rapl")]), 521.5)].into()
    );
    assert_eq!(
        values(&families, "sha256d_power_watts"),
        [(labels(&[("source", "rapl")]), 42.25)].into()
    );
    assert_eq!(
        values(&families, "sha256d_duty_ratio"),
        [(vec![], 0.5)].into()
    );
    assert_eq!(
        values(&families, "sha256d_setpoint_info"),
        [(labels(&[("cap", "50%"), ("source", "schedule")]), 1.0)].into()
    );
    let pool_labels =
        |i: usize| labels(&[("index", &i.to_string()), ("pool", &snapshot.pools[i].url)]);
    assert_eq!(
        values(&families, "sha256d_pool_up"),
        [(pool_labels(0), 1.0), (pool_labels(1), 0.0)].into()
    );
    let with_result = |i: usize, result: &str| {
        let mut l = pool_labels(i);
        l.push(format!("result={result}"));
        l
    };
    assert_eq!(
        values(&families, "sha256d_pool_shares"),
        [
            (with_result(0, "accepted"), 40.0),
            (with_result(0, "rejected"), 15.0),
            (with_result(1, "accepted"), 0.0),
            (with_result(1, "rejected"), 0.0),
        ]
        .into()
    );
}
