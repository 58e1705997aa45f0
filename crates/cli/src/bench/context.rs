//! What a published comparison needs to know about the run besides its rates: the build, the
//! machine, the time, and what the agreement check covered.

use super::limits::Adapter;
use serde_json::{json, Value};

/// The agreement check every engine passed before timing.
pub struct Agreement {
    pub engines: Vec<String>,
    pub hashes: u128,
    pub results: usize,
    pub versions: u64,
    pub nonces: (u64, u64),
}

/// How the run was set up.
pub struct Settings {
    pub seconds: f64,
    pub runs: usize,
    pub threads: usize,
    pub versions: Vec<u32>,
}

/// The `context` object of `bench --json`.
pub fn json(settings: &Settings, agreement: &Agreement, gpu: Option<&Adapter>) -> Value {
    json!({
        "crate_version": env!("CARGO_PKG_VERSION"),
        "commit": env!("SHA256D_GIT_COMMIT"),
        "features": features(),
        "rustc": env!("SHA256D_RUSTC"),
        "target": env!("SHA256D_TARGET"),
        "profile": if cfg!(debug_assertions) { "debug" } else { "release" },
        "cpu": {
            "model": cpu_model(),
            "logical_cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
            "features": cpu_features(),
        },
        "os": {
            "name": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "kernel": kernel(),
        },
        "gpu": gpu.map(|a| json!({
            "adapter": a.name,
            "driver": a.driver,
            "driver_info": a.driver_info,
            "backend": a.backend,
            "device_type": a.device_type,
            "software": a.software,
        })),
        "timestamp": timestamp(),
        "seconds": settings.seconds,
        "runs": settings.runs,
        "threads": settings.threads,
        "versions": settings.versions,
        "agreement": {
            "engines": agreement.engines,
            "hashes": u64::try_from(agreement.hashes).ok(),
            "results": agreement.results,
            "versions": agreement.versions,
            "nonces": [agreement.nonces.0, agreement.nonces.1],
        },
    })
}

/// The cargo features this binary was built with, as its `--version` line lists them.
fn features() -> Vec<&'static str> {
    env!("SHA256D_FEATURES")
        .split(' ')
        .filter(|f| !f.is_empty() && *f != "none")
        .collect()
}

/// Now, UTC, RFC 3339 to the second.
fn timestamp() -> String {
    format!("{:.0}", jiff::Timestamp::now())
}

/// The CPU's marketing name, where the OS tells it.
fn cpu_model() -> Option<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("model name") || l.starts_with("Model"))?
        .split_once(':')
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The instruction-set extensions the engines care about that this CPU reports.
fn cpu_features() -> Vec<&'static str> {
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! detected {
            ($($f:tt),*) => {
                [$(($f, std::arch::is_x86_feature_detected!($f))),*]
            };
        }
        detected!(
            "sse2",
            "ssse3",
            "sse4.1",
            "sha",
            "avx",
            "avx2",
            "bmi2",
            "avx512f",
            "avx512bw",
            "avx512vl",
            "avx512vbmi2"
        )
        .into_iter()
        .filter_map(|(f, on)| on.then_some(f))
        .collect()
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! detected {
            ($($f:tt),*) => {
                [$(($f, std::arch::is_aarch64_feature_detected!($f))),*]
            };
        }
        detected!("neon", "sha2", "sha3")
            .into_iter()
            .filter_map(|(f, on)| on.then_some(f))
            .collect()
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Vec::new()
    }
}

/// The kernel: `uname -srvm` (name, release, version, machine; not the host name).
fn kernel() -> Option<String> {
    let out = std::process::Command::new("uname")
        .arg("-srvm")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_timestamp_is_rfc3339_utc_to_the_second() {
        let t = super::timestamp();
        assert_eq!(t.len(), "2026-12-01T23:00:00Z".len(), "{t}");
        assert!(t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
        assert!(t.parse::<jiff::Timestamp>().is_ok(), "{t}");
    }
}
