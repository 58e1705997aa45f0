//! The meters against fake powercap and hwmon trees, and the accounting's arithmetic.

use super::*;
use crate::Stats;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The counter range of a real Intel package (`max_energy_range_uj`).
const RANGE_UJ: u64 = 262_143_328_850;

fn write(dir: &Path, file: &str, text: &str) {
    fs::create_dir_all(dir).expect("a fake sysfs dir");
    fs::write(dir.join(file), text).expect("a fake sysfs file");
}

fn zone(root: &Path, entry: &str, name: &str, energy_uj: u64) {
    let dir = root.join(entry);
    write(&dir, "name", &format!("{name}\n"));
    write(&dir, "energy_uj", &format!("{energy_uj}\n"));
    write(&dir, "max_energy_range_uj", &format!("{RANGE_UJ}\n"));
}

fn read(meter: &mut dyn Meter, now: Instant) -> Vec<(String, Basis, f64)> {
    meter
        .read(now)
        .expect("readable")
        .into_iter()
        .map(|r| (r.source, r.basis, r.joules))
        .collect()
}

fn open_meter(spec: &str, roots: &Roots) -> Box<dyn Meter> {
    let spec: MeterSpec = spec.parse().expect("a meter spec");
    match open(&spec, roots, &["asic", "sha-ni"]) {
        Ok(Opened::Meter(meter)) => meter,
        other => panic!("{spec}: {other:?}"),
    }
}

fn roots(dir: &Path) -> Roots {
    Roots {
        powercap: dir.join("powercap"),
        hwmon: dir.join("hwmon"),
    }
}

fn message(result: Result<Opened, Error>) -> String {
    result.expect_err("an error").message().to_string()
}

#[test]
fn rapl_counts_packages_once_and_unwraps_the_counter() {
    let dir = sha256d_testkit::peers::temp_dir("energy-rapl");
    let roots = roots(&dir);
    let root = &roots.powercap;
    zone(root, "intel-rapl:0", "package-0", 1_000);
    zone(root, "intel-rapl:1", "package-1", 5_000_000);
    // Inside package 0, and a second view of it: neither may add to the total.
    zone(root, "intel-rapl:0:0", "core", 7_000);
    // Beside package 0: counted.
    zone(root, "intel-rapl:0:1", "dram", 1_000_000);
    zone(root, "intel-rapl-mmio:0", "package-0", 9_000);
    let mut meter = open_meter("rapl", &roots);
    let t = Instant::now();
    write(&root.join("intel-rapl:0"), "energy_uj", "2001000\n");
    write(&root.join("intel-rapl:1"), "energy_uj", "6000000\n");
    write(&root.join("intel-rapl:0:0"), "energy_uj", "99000000\n");
    write(&root.join("intel-rapl:0:1"), "energy_uj", "1500000\n");
    assert_eq!(
        read(meter.as_mut(), t),
        vec![
            ("rapl:package-0".into(), Basis::Measured, 2.0),
            ("rapl:dram-0".into(), Basis::Measured, 0.5),
            ("rapl:package-1".into(), Basis::Measured, 1.0),
        ]
    );
    // Package 0 wraps: up to the top of its range, then from 0 to 500.
    write(&root.join("intel-rapl:0"), "energy_uj", "500\n");
    let after = read(meter.as_mut(), t);
    assert_eq!(
        after[0].2,
        (2_000_000 + RANGE_UJ - 2_001_000 + 500) as f64 / 1e6
    );
    assert_eq!(after[0].2, 262_143.328_35);
    assert_eq!(after[1].2, 0.5);
    assert_eq!(after[2].2, 1.0);
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn rapl_with_a_platform_zone_counts_it_alone() {
    let dir = sha256d_testkit::peers::temp_dir("energy-psys");
    let roots = roots(&dir);
    zone(&roots.powercap, "intel-rapl:0", "package-0", 0);
    zone(&roots.powercap, "intel-rapl:0:0", "dram", 0);
    zone(&roots.powercap, "intel-rapl:1", "psys", 0);
    let mut meter = open_meter("rapl", &roots);
    write(
        &roots.powercap.join("intel-rapl:1"),
        "energy_uj",
        "3000000\n",
    );
    assert_eq!(
        read(meter.as_mut(), Instant::now()),
        vec![("rapl:psys".into(), Basis::Measured, 3.0)]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn rapl_unreadable_or_missing_is_a_clear_error() {
    let dir = sha256d_testkit::peers::temp_dir("energy-rapl-bad");
    let roots = roots(&dir);
    assert_eq!(
        message(open(&MeterSpec::Rapl, &roots, &[])),
        format!(
            "no RAPL here: cannot read {}: No such file or directory (os error 2) (a VM or a \
             CPU without RAPL); declare the power instead (declared:DEVICE=W)",
            roots.powercap.display()
        )
    );
    // A tree with only a core sub-zone and another driver's zone has no package to read.
    zone(&roots.powercap, "intel-rapl:0:0", "core", 0);
    fs::create_dir_all(roots.powercap.join("dtpm")).expect("a dir");
    assert_eq!(
        message(open(&MeterSpec::Rapl, &roots, &[])),
        format!(
            "no RAPL zones (intel-rapl:N) under {} (a VM or a CPU without RAPL); declare the \
             power instead (declared:DEVICE=W)",
            roots.powercap.display()
        )
    );
    // Read fails even for root when the file is a directory (a root-only file would not).
    let package = roots.powercap.join("intel-rapl:0");
    fs::create_dir_all(package.join("energy_uj")).expect("a dir in the file's place");
    write(&package, "name", "package-0\n");
    assert_eq!(
        message(open(&MeterSpec::Rapl, &roots, &[])),
        format!(
            "cannot read {}: Is a directory (os error 21); declare the power instead \
             (declared:DEVICE=W)",
            package.join("energy_uj").display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn hwmon_prefers_energy_counters_and_integrates_power() {
    let dir = sha256d_testkit::peers::temp_dir("energy-hwmon");
    let roots = roots(&dir);
    let root = &roots.hwmon;
    // Two cards of one driver, each with a smoothed and an instant power file.
    for entry in ["hwmon0", "hwmon4"] {
        write(&root.join(entry), "name", "amdgpu\n");
        write(&root.join(entry), "power1_average", "150000000\n");
        write(&root.join(entry), "power1_input", "999000000\n");
        write(&root.join(entry), "power1_cap", "250000000\n");
    }
    // A meter with energy counters: its power input measures the same draw.
    let meter_dir = root.join("hwmon2");
    write(&meter_dir, "name", "power_meter\n");
    write(&meter_dir, "energy1_input", "10000000\n");
    write(&meter_dir, "power1_input", "5000000\n");
    // No power or energy at all.
    write(&root.join("hwmon1"), "name", "nvme\n");
    write(&root.join("hwmon1"), "temp1_input", "41850\n");

    let t0 = Instant::now();
    let mut meter = match hwmon::Hwmon::open(root, t0) {
        Ok(m) => m,
        Err(e) => panic!("{e}"),
    };
    write(&root.join("hwmon0"), "power1_average", "170000000\n");
    write(&meter_dir, "energy1_input", "15000000\n");
    let t1 = t0 + Duration::from_secs(10);
    assert_eq!(
        read(&mut meter, t1),
        vec![
            // (150 W + 170 W) / 2 for 10 s.
            (
                "hwmon:amdgpu@hwmon0/power1".into(),
                Basis::SampledPower,
                1600.0
            ),
            ("hwmon:power_meter/energy1".into(), Basis::Measured, 5.0),
            (
                "hwmon:amdgpu@hwmon4/power1".into(),
                Basis::SampledPower,
                1500.0
            ),
        ]
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn hwmon_without_sensors_is_a_clear_error() {
    let dir = sha256d_testkit::peers::temp_dir("energy-hwmon-bad");
    let roots = roots(&dir);
    let missing = message(open(&MeterSpec::Hwmon, &roots, &[]));
    assert_eq!(
        missing,
        format!(
            "no hwmon sensors here: cannot read {}: No such file or directory (os error 2); \
             declare the power instead (declared:DEVICE=W)",
            roots.hwmon.display()
        )
    );
    write(&roots.hwmon.join("hwmon0"), "temp1_input", "40000\n");
    assert_eq!(
        message(open(&MeterSpec::Hwmon, &roots, &[])),
        format!(
            "no hwmon energy or power inputs under {}; declare the power instead \
             (declared:DEVICE=W)",
            roots.hwmon.display()
        )
    );
    write(&roots.hwmon.join("hwmon0"), "power1_input", "lots\n");
    assert_eq!(
        message(open(&MeterSpec::Hwmon, &roots, &[])),
        format!(
            "{}: not a decimal counter",
            roots.hwmon.join("hwmon0/power1_input").display()
        )
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn nvml_absent_is_a_notice_not_an_error() {
    // This machine may or may not have the NVIDIA driver; either way `open` must not fail
    // for want of one. (The missing-library path itself is tested in `nvml`.)
    match open(&MeterSpec::Nvml, &Roots::default(), &[]) {
        Ok(Opened::Absent(why)) => assert!(why.starts_with("no NVIDIA GPU energy: "), "{why}"),
        Ok(Opened::Meter(_)) => {}
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn meter_specs_parse_with_their_units_and_say_what_is_wrong() {
    let declared = |device: &str, watts: f64| MeterSpec::Declared {
        device: device.into(),
        watts,
    };
    for (text, spec) in [
        ("rapl", MeterSpec::Rapl),
        ("hwmon", MeterSpec::Hwmon),
        ("nvml", MeterSpec::Nvml),
        ("declared:asic=12", declared("asic", 12.0)),
        ("declared:gpu=12.5", declared("gpu", 12.5)),
        ("declared:sha-ni=12W", declared("sha-ni", 12.0)),
        ("declared:all=1.2kW", declared("all", 1200.0)),
        ("declared:all=3KW", declared("all", 3000.0)),
        ("declared:asic=0.5w", declared("asic", 0.5)),
    ] {
        assert_eq!(text.parse::<MeterSpec>(), Ok(spec), "{text}");
    }
    assert_eq!(declared("all", 1200.0).to_string(), "declared:all=1200W");
    let err = |text: &str| text.parse::<MeterSpec>().expect_err(text).to_string();
    assert!(err("ipmi").contains("`ipmi` is not a meter: rapl, hwmon, nvml or declared:DEVICE=W"));
    assert!(err("declared:asic").contains("`declared:asic` declares no watts"));
    assert!(err("declared:toaster=5W")
        .contains("`declared:toaster=5W`: the device is an engine name (sha-ni, "));
    for watts in [
        "0", "-5", "nan", "inf", "1e3", "W", "", "12 W", "10001kW", "1.2.3",
    ] {
        let text = format!("declared:asic={watts}");
        assert!(
            err(&text).contains("the watts are a number above 0 and at most 10 MW"),
            "{text}"
        );
    }
    assert!(err("declared:\u{1b}[2J=1").contains("`declared:\\x1b[2J=1`"));
}

#[test]
fn a_declaration_must_name_an_engine_that_is_mining() {
    let spec: MeterSpec = "declared:gpu=150W".parse().expect("a spec");
    assert_eq!(
        message(open(&spec, &Roots::default(), &["sha-ni", "asic"])),
        "declared:gpu=150W: no engine named gpu is mining (engines: sha-ni, asic); declare one \
         of them, or all"
    );
}

#[test]
fn counters_unwrap_once_and_restart_after_a_reset() {
    let mut wrapping = Counter::new(90, Some(100));
    assert_eq!(wrapping.advance(95), 5);
    assert_eq!(wrapping.advance(3), 5 + 5 + 3);
    let mut resetting = Counter::new(1_000, None);
    assert_eq!(resetting.advance(1_500), 500);
    assert_eq!(resetting.advance(20), 520);
}

/// A log of 12 W declared for the ASIC, made at `t0`.
fn twelve_watts(t0: Instant) -> EnergyLog {
    EnergyLog::new_at(
        vec![Box::new(declared::Declared::new("asic", 12.0, 1, t0))],
        t0,
    )
}

#[test]
fn energy_falls_in_wall_clock_quarter_hours() {
    let t0 = Instant::now();
    let mut log = twelve_watts(t0);
    let at = |s: u64| t0 + Duration::from_secs(s);
    log.sample_at(at(10), 899).expect("declared");
    log.sample_at(at(20), 900).expect("declared");
    log.sample_at(at(30), 1_799).expect("declared");
    // The wall clock steps back an hour: into the newest bucket, never a reordered list.
    log.sample_at(at(40), 100).expect("declared");
    let buckets: Vec<Bucket> = log.buckets().copied().collect();
    assert_eq!(
        buckets,
        vec![
            Bucket {
                start_unix_s: 0,
                joules: 120.0
            },
            Bucket {
                start_unix_s: 900,
                joules: 360.0
            },
        ]
    );
    assert_eq!(log.joules(), 480.0);
    assert_eq!(log.kwh(), 480.0 / 3.6e6);
    assert_eq!(log.average_watts(), Some(12.0));
    assert_eq!(log.sources(), "declared:asic=12W (estimated)");
}

#[test]
fn buckets_are_bounded_and_the_total_keeps_what_they_drop() {
    let t0 = Instant::now();
    let mut log = twelve_watts(t0);
    let extra = 5;
    for i in 1..=(MAX_BUCKETS + extra) as u64 {
        log.sample_at(t0 + Duration::from_secs(i), i * BUCKET_SECONDS)
            .expect("declared");
    }
    let buckets: Vec<&Bucket> = log.buckets().collect();
    assert_eq!(buckets.len(), MAX_BUCKETS);
    assert_eq!(buckets[0].start_unix_s, (extra as u64 + 1) * BUCKET_SECONDS);
    assert_eq!(log.joules(), 12.0 * (MAX_BUCKETS + extra) as f64);
}

#[test]
fn a_failing_meter_keeps_its_last_reading_and_the_others_go_on() {
    let dir = sha256d_testkit::peers::temp_dir("energy-fail");
    let roots = roots(&dir);
    zone(&roots.powercap, "intel-rapl:0", "package-0", 0);
    let t0 = Instant::now();
    let rapl = open_meter("rapl", &roots);
    let declared = Box::new(declared::Declared::new("asic", 12.0, 1, t0));
    let mut log = EnergyLog::new_at(vec![rapl, declared], t0);
    write(
        &roots.powercap.join("intel-rapl:0"),
        "energy_uj",
        "7000000\n",
    );
    log.sample_at(t0 + Duration::from_secs(1), 0)
        .expect("both read");
    assert_eq!(log.joules(), 7.0 + 12.0);
    let file = roots.powercap.join("intel-rapl:0/energy_uj");
    fs::remove_file(&file).expect("removed");
    let err = log
        .sample_at(t0 + Duration::from_secs(2), 1)
        .expect_err("RAPL is gone");
    assert!(
        err.message()
            .starts_with(&format!("cannot read {}: ", file.display())),
        "{err}"
    );
    assert_eq!(log.joules(), 7.0 + 24.0);
    assert_eq!(
        log.sources(),
        "rapl:package-0 (measured), declared:asic=12W (estimated)"
    );
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn joules_per_verified_terahash_uses_the_accepted_difficulty() {
    let t0 = Instant::now();
    let mut log = twelve_watts(t0);
    log.sample_at(t0 + Duration::from_secs(300), 0)
        .expect("declared");
    assert_eq!(log.joules(), 3600.0);
    let stats = Stats {
        accepted: 10,
        accepted_difficulty: 1000.0,
        // Claimed hashes play no part.
        hashes: u64::MAX,
        ..Stats::default()
    };
    assert_eq!(verified_hashes(&stats), 4_294_967_296_000.0);
    // 3600 J over 4.294967296 TH.
    assert_eq!(
        log.joules_per_verified_th(verified_hashes(&stats)),
        Some(838.190_317_153_930_7)
    );
    assert_eq!(log.joules_per_verified_th(0.0), None);
    assert_eq!(cost_per_day(12.0, 0.1), 0.0288);
    assert_eq!(revenue_per_day(100e12, 50.0), 5.0);
}

/// Declared per device, the draw follows the devices running: two sticks for 10 s, a third
/// joins for 10 s, then one fails and one is left for 10 s. Declared for `all`, it is the
/// machine's whatever runs.
#[test]
fn declared_watts_follow_the_devices_as_they_join_and_fail() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut log = EnergyLog::new_at(
        vec![
            Box::new(declared::Declared::new("asic", 10.0, 2, t0)),
            Box::new(declared::Declared::new("all", 1.0, 1, t0)),
        ],
        t0,
    );
    log.engines_changed_at(&["asic", "asic", "asic", "portable"], at(10), 900)
        .expect("declared meters read");
    log.engines_changed_at(&["asic", "portable"], at(20), 910)
        .expect("declared meters read");
    log.sample_at(at(30), 920).expect("declared meters read");
    assert_eq!(log.joules(), 10.0 * (2.0 + 3.0 + 1.0) * 10.0 + 30.0);
    assert_eq!(
        log.sources(),
        "declared:asic=10W (estimated), declared:all=1W (estimated)"
    );
    // Every stick gone: nothing more is drawn.
    log.engines_changed_at(&["portable"], at(30), 920)
        .expect("declared meters read");
    log.sample_at(at(40), 930).expect("declared meters read");
    assert_eq!(log.joules(), 630.0 + 10.0);
}

/// A meter opened before its log counts from the log's making: the log's average over its
/// own time is the meter's draw, however short the run.
#[test]
fn a_log_counts_from_its_own_making_not_its_meters() {
    let t0 = Instant::now();
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    let meter = Box::new(declared::Declared::new("asic", 12.0, 1, t0));
    let mut log = EnergyLog::new_at(vec![meter], at(1000));
    log.sample_at(at(1075), 900).expect("declared meters read");
    assert!((log.joules() - 0.9).abs() < 1e-9, "{}", log.joules());
    let watts = log.average_watts().expect("time passed");
    assert!((watts - 12.0).abs() < 1e-9, "{watts}");
}
