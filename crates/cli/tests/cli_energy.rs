//! `sha256d mine --energy` against the in-repo test pool: the summary's joules, their source
//! and the joules per verified terahash, which divides by the work the accepted shares prove.

mod common;

use common::{mine, mine_with_env, summary};
use sha256d_testkit::testpool::{Settings, TestPool};

/// The hashes one share of difficulty 1 stands for.
const TWO_32: f64 = 4_294_967_296.0;

/// `a` and `b` agree to the last few bits a JSON round trip may move.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn number(s: &serde_json::Value, key: &str) -> f64 {
    s[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is a number: {s}"))
}

#[test]
fn declared_watts_give_joules_per_verified_terahash() {
    let pool = TestPool::start(Settings::new("energy"));
    let url = pool.url();
    let s = summary(&mine(&[
        "--pool",
        &url,
        "--user",
        "w1",
        "--shares",
        "3",
        "--time",
        "60",
        "--energy",
        "declared:all=12W",
        "--energy-price",
        "0.1",
        "--hashprice",
        "50",
        "--json",
    ]));
    let accepted = s["accepted"].as_u64().expect("a count");
    assert!(accepted >= 3, "{s}");
    assert_eq!(s["energy_source"], "declared:all=12W (estimated)", "{s}");
    let (energy, elapsed) = (number(&s, "energy_j"), number(&s, "elapsed_s"));
    // The meter opens just before mining starts and is read once more after it ends.
    assert!(
        (12.0 * elapsed..12.0 * (elapsed + 5.0)).contains(&energy),
        "{energy} J in {elapsed} s: {s}"
    );
    let watts = number(&s, "energy_average_w");
    assert!((watts - 12.0).abs() < 1e-3, "{s}");
    assert!(same(number(&s, "energy_kwh"), energy / 3.6e6), "{s}");

    // Every share of the test pool is at difficulty 1e-5.
    let verified = number(&s, "verified_hashes");
    assert!(same(verified, accepted as f64 * 1e-5 * TWO_32), "{s}");
    assert!(
        same(
            number(&s, "joules_per_verified_th"),
            energy / (verified / 1e12)
        ),
        "{s}"
    );
    assert!(
        same(
            number(&s, "energy_cost_per_day"),
            watts * 24.0 / 1000.0 * 0.1
        ),
        "{s}"
    );
    assert!(
        same(
            number(&s, "revenue_per_day"),
            number(&s, "proven_hashrate") / 1e15 * 50.0
        ),
        "{s}"
    );
    let buckets = s["energy_buckets"].as_array().expect("a list");
    assert!((1..=2).contains(&buckets.len()), "{s}");
    let in_buckets: f64 = buckets.iter().map(|b| number(b, "energy_j")).sum();
    assert!((in_buckets - energy).abs() < 1e-6, "{s}");
    let start = buckets[0]["start"].as_str().expect("a time");
    assert!(
        start.ends_with(":00:00Z")
            || start.ends_with(":15:00Z")
            || start.ends_with(":30:00Z")
            || start.ends_with(":45:00Z"),
        "{start}"
    );
}

#[test]
fn the_text_summary_has_the_energy_line() {
    let pool = TestPool::start(Settings::new("energy-text"));
    let url = pool.url();
    let o = mine(&[
        "--pool",
        &url,
        "--user",
        "w1",
        "--shares",
        "1",
        "--time",
        "60",
        "--energy",
        "declared:all=1.2kW",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("energy "))
        .unwrap_or_else(|| panic!("no energy line: {err}"));
    assert!(
        line.contains(" kWh (")
            && line.contains(" W average) from declared:all=1200W (estimated); "),
        "{line}"
    );
    assert!(line.ends_with(" per verified TH"), "{line}");
}

#[test]
fn a_fake_powercap_tree_is_read_through_the_environment() {
    let dir = sha256d_testkit::peers::temp_dir("cli-energy-rapl");
    let zone = dir.join("intel-rapl:0");
    std::fs::create_dir_all(&zone).expect("a fake zone");
    std::fs::write(zone.join("name"), "package-0\n").expect("written");
    std::fs::write(zone.join("energy_uj"), "123456\n").expect("written");
    std::fs::write(zone.join("max_energy_range_uj"), "262143328850\n").expect("written");
    let root = dir.to_str().expect("a UTF-8 temp path");
    let pool = TestPool::start(Settings::new("energy-rapl"));
    let url = pool.url();
    let args = [
        "--pool", &url, "--user", "w1", "--shares", "1", "--time", "60", "--energy", "rapl",
        "--json",
    ];
    let s = summary(&mine_with_env(&args, &[("SHA256D_POWERCAP_ROOT", root)]));
    // A counter that does not move: no energy, measured.
    assert_eq!(s["energy_j"], 0.0, "{s}");
    assert_eq!(s["joules_per_verified_th"], 0.0, "{s}");
    assert_eq!(s["energy_source"], "rapl:package-0 (measured)", "{s}");

    // A counter that cannot be read is named before any mining.
    std::fs::remove_file(zone.join("energy_uj")).expect("removed");
    let o = mine_with_env(&args, &[("SHA256D_POWERCAP_ROOT", root)]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!(
            "error: cannot read {}: ",
            zone.join("energy_uj").display()
        )) && err.contains("declared:DEVICE=W"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_meter_the_keys_are_null_and_nvml_absent_is_a_notice() {
    let pool = TestPool::start(Settings::new("energy-none"));
    let url = pool.url();
    let base = [
        "--pool", &url, "--user", "w1", "--shares", "1", "--time", "60", "--json",
    ];
    let s = summary(&mine(&base));
    for key in ["energy_j", "energy_source", "joules_per_verified_th"] {
        assert!(s[key].is_null(), "{key}: {s}");
    }
    let o = mine(&[&base[..], &["--energy", "nvml"]].concat());
    let s = summary(&o);
    if s["energy_j"].is_null() {
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("--energy nvml: no NVIDIA GPU energy"), "{err}");
    } else {
        // A machine with an NVIDIA driver: its GPUs are the source.
        assert!(
            s["energy_source"]
                .as_str()
                .is_some_and(|src| src.starts_with("nvml:0 (")),
            "{s}"
        );
    }
}

#[test]
fn bad_and_doubled_meters_are_one_clear_line() {
    for (energy, why) in [
        (
            &["--energy", "ipmi"][..],
            "error: invalid value 'ipmi' for '--energy <METER>': `ipmi` is not a meter: rapl, \
             hwmon, nvml or declared:DEVICE=W (see --help)",
        ),
        (
            &["--energy", "declared:gpu=150W", "--engine", "portable"][..],
            "error: declared:gpu=150W: no engine named gpu is mining (engines: portable); \
             declare one of them, or all",
        ),
        (
            &["--energy", "declared:all=5W", "--energy", "declared:all=6W"][..],
            "error: --energy declared:all is given twice: its energy would count twice",
        ),
    ] {
        let o = mine(
            &[
                &["--pool", "stratum+tcp://127.0.0.1:1", "--user", "w"],
                energy,
            ]
            .concat(),
        );
        assert_eq!(o.status.code(), Some(1), "{energy:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().next(), Some(why), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}
