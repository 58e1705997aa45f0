use super::*;
use crate::api::{EnergyState, PowerState};
use crate::miner::{DeviceStats, DropReason, Stats};
use crate::pool::PoolState;
use crate::power::Cap;
use proptest::prelude::*;
use std::time::Duration;

fn device(engine: &str, hashes: u64) -> DeviceStats {
    DeviceStats {
        engine: engine.into(),
        device: format!("{engine} test device"),
        hashes,
        ..DeviceStats::default()
    }
}

fn snapshot() -> Snapshot {
    let mut cpu = device("sha-ni", 8_000_000_000);
    cpu.accepted = 3;
    cpu.rejected = 1;
    cpu.known_answers_passed = 2;
    let mut gpu = device("gpu", 2_000_000_000);
    gpu.hardware_errors = 4;
    gpu.known_answer_misses = 1;
    gpu.failure = Some("lost".into());
    let mut stats = Stats {
        elapsed: Duration::from_secs(10),
        hashes: 10_000_000_000,
        shares_found: 6,
        shares_submitted: 5,
        accepted: 3,
        rejected: [("bad \"nonce\"\n\\x".to_string(), 2)].into(),
        dropped: [(DropReason::Stale, 1)].into(),
        stale: 1,
        best_share_difficulty: 12.5,
        difficulty: Some(0.5),
        accepted_difficulty: 2.5,
        devices: vec![cpu, gpu],
        ..Stats::default()
    };
    let pool = |url: &str, active, status, accepted| PoolState {
        url: url.into(),
        user: "w".into(),
        active,
        status,
        accepted,
        rejected: 2,
        stale: 1,
        difficulty: active.then_some(0.5),
    };
    stats.devices[1].disabled = true;
    Snapshot {
        stats,
        pools: vec![
            pool("stratum+tcp://a:3333", true, PoolStatus::Alive, 3),
            pool("stratum+tcp://b:3333", false, PoolStatus::Dead, 0),
        ],
        power: Some(PowerState {
            cap: Cap::Watts(120.0),
            source: Some("api".into()),
            duty: 0.25,
            api_setpoint: None,
        }),
        energy: Some(EnergyState {
            watts: Some(31.5),
            joules: Some(315.0),
            source: "declared 31.5 W".into(),
            joules_per_verified_th: None,
        }),
        ..Snapshot::default()
    }
}

#[test]
fn a_snapshot_renders_every_family() {
    let version = env!("CARGO_PKG_VERSION");
    let expected = format!(
        r#"# HELP sha256d_build_info The miner's version, as a label.
# TYPE sha256d_build_info gauge
sha256d_build_info{{version="{version}"}} 1
# HELP sha256d_uptime_seconds Seconds since mining started.
# TYPE sha256d_uptime_seconds gauge
sha256d_uptime_seconds 10
# HELP sha256d_hashes_total Hashes a device reported as done.
# TYPE sha256d_hashes_total counter
sha256d_hashes_total{{device="0",engine="sha-ni"}} 8000000000
sha256d_hashes_total{{device="1",engine="gpu"}} 2000000000
# HELP sha256d_hashrate_hashes_per_second Hashes per second over the run: measured (as the devices report) and proven (as the accepted shares bear out).
# TYPE sha256d_hashrate_hashes_per_second gauge
sha256d_hashrate_hashes_per_second{{kind="measured"}} 1000000000
sha256d_hashrate_hashes_per_second{{kind="proven"}} 1073741824
# HELP sha256d_shares_found_total Results the devices found that the host re-hash confirmed, blocks included.
# TYPE sha256d_shares_found_total counter
sha256d_shares_found_total 6
# HELP sha256d_shares_submitted_total Results submitted to the pool or node.
# TYPE sha256d_shares_submitted_total counter
sha256d_shares_submitted_total 5
# HELP sha256d_shares_total Submissions by verdict; rejections by the peer's reason, its numbers blanked.
# TYPE sha256d_shares_total counter
sha256d_shares_total{{result="accepted"}} 3
sha256d_shares_total{{result="rejected",reason="bad \"nonce\"\n\\x"}} 2
# HELP sha256d_shares_stale_total Shares whose job was void before they could be submitted, and rejections given as stale.
# TYPE sha256d_shares_stale_total counter
sha256d_shares_stale_total 1
# HELP sha256d_shares_dropped_total Results found but not submitted, by why.
# TYPE sha256d_shares_dropped_total counter
sha256d_shares_dropped_total{{reason="stale"}} 1
# HELP sha256d_best_share_difficulty The highest difficulty among the shares found.
# TYPE sha256d_best_share_difficulty gauge
sha256d_best_share_difficulty 12.5
# HELP sha256d_share_difficulty The share difficulty of the newest job.
# TYPE sha256d_share_difficulty gauge
sha256d_share_difficulty 0.5
# HELP sha256d_blocks_found_total Shares that also met the network target and were submitted.
# TYPE sha256d_blocks_found_total counter
sha256d_blocks_found_total 0
# HELP sha256d_blocks_accepted_total Blocks a node accepted (solo mining).
# TYPE sha256d_blocks_accepted_total counter
sha256d_blocks_accepted_total 0
# HELP sha256d_block_candidates_total Shares that met the network target and that a pool accepted.
# TYPE sha256d_block_candidates_total counter
sha256d_block_candidates_total 0
# HELP sha256d_device_enabled 1 while the operator leaves the device enabled.
# TYPE sha256d_device_enabled gauge
sha256d_device_enabled{{device="0",engine="sha-ni"}} 1
sha256d_device_enabled{{device="1",engine="gpu"}} 0
# HELP sha256d_device_up 1 while the device hashes, 0 once it has stopped on a failure.
# TYPE sha256d_device_up gauge
sha256d_device_up{{device="0",engine="sha-ni"}} 1
sha256d_device_up{{device="1",engine="gpu"}} 0
# HELP sha256d_device_shares_total A device's submissions by verdict.
# TYPE sha256d_device_shares_total counter
sha256d_device_shares_total{{device="0",engine="sha-ni",result="accepted"}} 3
sha256d_device_shares_total{{device="0",engine="sha-ni",result="rejected"}} 1
sha256d_device_shares_total{{device="1",engine="gpu",result="accepted"}} 0
sha256d_device_shares_total{{device="1",engine="gpu",result="rejected"}} 0
# HELP sha256d_hardware_errors_total Results a device reported that the host re-hash disproved.
# TYPE sha256d_hardware_errors_total counter
sha256d_hardware_errors_total{{device="0",engine="sha-ni"}} 0
sha256d_hardware_errors_total{{device="1",engine="gpu"}} 4
# HELP sha256d_known_answer_misses_total Known-answer jobs a device failed to answer.
# TYPE sha256d_known_answer_misses_total counter
sha256d_known_answer_misses_total{{device="0",engine="sha-ni"}} 0
sha256d_known_answer_misses_total{{device="1",engine="gpu"}} 1
# HELP sha256d_known_answers_passed_total Known-answer jobs a device answered.
# TYPE sha256d_known_answers_passed_total counter
sha256d_known_answers_passed_total{{device="0",engine="sha-ni"}} 2
sha256d_known_answers_passed_total{{device="1",engine="gpu"}} 0
# HELP sha256d_power_watts Watts over the last interval.
# TYPE sha256d_power_watts gauge
sha256d_power_watts{{source="declared 31.5 W"}} 31.5
# HELP sha256d_joules_total Joules since the run started.
# TYPE sha256d_joules_total counter
sha256d_joules_total{{source="declared 31.5 W"}} 315
# HELP sha256d_duty_ratio The duty the engines follow now, from 0 (off) to 1 (full).
# TYPE sha256d_duty_ratio gauge
sha256d_duty_ratio 0.25
# HELP sha256d_setpoint_info The cap in force and the source that set it (empty: nothing caps the run).
# TYPE sha256d_setpoint_info gauge
sha256d_setpoint_info{{cap="120W",source="api"}} 1
# HELP sha256d_pool_up 1 while the pool (or, solo, the node) sends work.
# TYPE sha256d_pool_up gauge
sha256d_pool_up{{index="0",pool="stratum+tcp://a:3333"}} 1
sha256d_pool_up{{index="1",pool="stratum+tcp://b:3333"}} 0
# HELP sha256d_pool_active 1 for the pool the work mined now comes from.
# TYPE sha256d_pool_active gauge
sha256d_pool_active{{index="0",pool="stratum+tcp://a:3333"}} 1
sha256d_pool_active{{index="1",pool="stratum+tcp://b:3333"}} 0
# HELP sha256d_pool_shares_total Submissions to a pool by verdict (rejected counts the stale ones too).
# TYPE sha256d_pool_shares_total counter
sha256d_pool_shares_total{{index="0",pool="stratum+tcp://a:3333",result="accepted"}} 3
sha256d_pool_shares_total{{index="0",pool="stratum+tcp://a:3333",result="rejected"}} 2
sha256d_pool_shares_total{{index="1",pool="stratum+tcp://b:3333",result="accepted"}} 0
sha256d_pool_shares_total{{index="1",pool="stratum+tcp://b:3333",result="rejected"}} 2
# HELP sha256d_pool_shares_stale_total A pool's rejections given as stale.
# TYPE sha256d_pool_shares_stale_total counter
sha256d_pool_shares_stale_total{{index="0",pool="stratum+tcp://a:3333"}} 1
sha256d_pool_shares_stale_total{{index="1",pool="stratum+tcp://b:3333"}} 1
# HELP sha256d_pool_difficulty The share difficulty of a pool's newest job.
# TYPE sha256d_pool_difficulty gauge
sha256d_pool_difficulty{{index="0",pool="stratum+tcp://a:3333"}} 0.5
"#
    );
    assert_eq!(render(&snapshot()), expected);
}

#[test]
fn an_idle_snapshot_leaves_out_what_nothing_measures() {
    let text = render(&Snapshot::default());
    for absent in [
        "sha256d_power_watts",
        "sha256d_joules_total",
        "sha256d_duty_ratio",
    ] {
        assert!(!text.contains(absent), "{absent} in:\n{text}");
    }
    // A family with no series still says what it is, so dashboards find it.
    assert!(
        text.contains("# TYPE sha256d_hashes_total counter\n"),
        "{text}"
    );
    assert!(
        text.contains("sha256d_shares_total{result=\"accepted\"} 0\n"),
        "{text}"
    );
}

#[test]
fn floats_are_spelled_as_the_format_reads_them() {
    assert_eq!(float(f64::INFINITY), "+Inf");
    assert_eq!(float(f64::NEG_INFINITY), "-Inf");
    assert_eq!(float(f64::NAN), "NaN");
    assert_eq!(float(1e21), "1000000000000000000000");
    assert_eq!(float(0.1), "0.1");
    assert_eq!(float(-2.0), "-2");
}

#[test]
fn help_text_escapes_backslash_and_line_feed_only() {
    assert_eq!(escape_help("a\\b\n\"c\""), "a\\\\b\\n\"c\"");
}

/// The reading side of [`escape_label`], as the format's parsers do it: `None` where the text
/// could not have come from a quoted label value.
fn unescape_label(escaped: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = escaped.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                '\\' => out.push('\\'),
                '"' => out.push('"'),
                'n' => out.push('\n'),
                _ => return None,
            },
            '"' | '\n' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

#[test]
fn label_escaping_covers_the_three_characters() {
    assert_eq!(escape_label(r#"a"b\c"#), r#"a\"b\\c"#);
    assert_eq!(escape_label("x\ny"), "x\\ny");
    assert_eq!(escape_label("ünï ☃"), "ünï ☃");
}

proptest! {
    #[test]
    fn any_label_text_escapes_reversibly_onto_one_line(text in any::<String>()) {
        let escaped = escape_label(&text);
        prop_assert!(!escaped.contains('\n'));
        prop_assert_eq!(unescape_label(&escaped), Some(text.clone()));
        // In a whole sample line, the value is read back between the quotes.
        let mut snapshot = Snapshot::default();
        snapshot.stats.rejected.insert(text.clone(), 7);
        let rendered = render(&snapshot);
        let line = rendered
            .lines()
            .find(|l| l.starts_with("sha256d_shares_total{result=\"rejected\""))
            .expect("the rejection's line");
        let inner = line
            .strip_prefix("sha256d_shares_total{result=\"rejected\",reason=\"")
            .and_then(|rest| rest.strip_suffix("\"} 7"))
            .expect("the line's shape");
        prop_assert_eq!(unescape_label(inner), Some(text));
    }
}
