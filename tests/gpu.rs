//! The GPU engine against the portable engine, and the WGSL kernels against their generator.
//!
//! Kernel checks need no GPU. The differential tests need an adapter: without one they skip
//! with a message, unless `SHA256D_REQUIRE_GPU=1` or `CI=true`, where a missing adapter fails
//! and the adapter must be a Vulkan one (the path real GPUs take).
#![cfg(feature = "gpu")]

mod common;

use common::quiet_machine;
use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use sha256d::engine::gpu::{self, GpuConfig, GpuEngine};
use sha256d::{CompactTarget, Engine, ErrorKind, Found, Header, Options, Target, Work};
use std::path::PathBuf;
use std::sync::OnceLock;

fn kernels_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

#[test]
fn kernels_parse_and_validate() {
    for versions in 1..=gpu::MAX_VERSIONS {
        let text = gpu::kernel_wgsl(versions).expect("1..=MAX_VERSIONS");
        let module = naga::front::wgsl::parse_str(text)
            .unwrap_or_else(|e| panic!("{versions} versions: {}", e.emit_to_string(text)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{versions} versions: {}", e.emit_to_string(text)));
    }
}

#[test]
fn the_checked_in_kernel_matches_its_generator() {
    let path = kernels_dir().join("sha256d.wgsl");
    if std::env::var_os("SHA256D_BLESS").is_some() {
        std::fs::write(&path, gpu::KERNEL_WGSL).expect("kernels/ is writable");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == gpu::KERNEL_WGSL,
        "{} differs from its generator; rerun with SHA256D_BLESS=1 to rewrite it",
        path.display()
    );
    assert_eq!(gpu::kernel_wgsl(1), Some(gpu::KERNEL_WGSL));
    assert_eq!(gpu::kernel_wgsl(0), None);
    assert_eq!(gpu::kernel_wgsl(gpu::MAX_VERSIONS + 1), None);
}

/// Whether a missing or non-Vulkan adapter is a failure rather than a skip.
fn gpu_required() -> bool {
    std::env::var("SHA256D_REQUIRE_GPU").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// An engine with `config`, or `None` (after saying why) when this machine has no adapter.
fn open_gpu(config: GpuConfig) -> Option<GpuEngine> {
    let mut options = Options::default();
    // Software rasterisers are how CI runs these tests.
    options.gpu_allow_software = true;
    match GpuEngine::new(&options, config) {
        Ok(engine) => {
            if gpu_required() {
                assert_eq!(
                    engine.adapter_info().backend,
                    wgpu::Backend::Vulkan,
                    "a GPU is required and must be a Vulkan one: {}",
                    engine.describe()
                );
            }
            Some(engine)
        }
        Err(e) if e.kind() == ErrorKind::Unavailable && !gpu_required() => {
            eprintln!("skipping: no GPU adapter ({e}); set SHA256D_REQUIRE_GPU=1 to fail instead");
            None
        }
        Err(e) => panic!("opening the GPU engine: {e}"),
    }
}

/// The engine with the default configuration, opened once for every test that uses it.
fn default_gpu() -> Option<&'static GpuEngine> {
    static ENGINE: OnceLock<Option<GpuEngine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| open_gpu(GpuConfig::default()))
        .as_ref()
}

fn config(npi: u32, wg: u32) -> GpuConfig {
    let mut c = GpuConfig::default();
    c.nonces_per_invocation = npi;
    c.workgroup_size = wg;
    c
}

fn portable(work: &Work) -> Vec<Found> {
    sha256d::open("portable", &Options::default())
        .expect("the portable engine runs anywhere")
        .search(work)
        .expect("portable search")
}

/// Runs `work` on `gpu` and on the portable engine and insists on the same results.
fn same_as_portable(gpu: &GpuEngine, work: &Work) -> Vec<Found> {
    let expected = portable(work);
    let got = gpu.search(work).expect("gpu search");
    assert_eq!(got, expected, "gpu vs portable on {work:?}");
    got
}

/// Deterministic test headers from proptest's generator, seeded per test.
struct Rng(TestRng);

impl Rng {
    fn new(seed: u8) -> Self {
        Rng(TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn header(&mut self) -> Header {
        let mut b = [0u8; 80];
        for chunk in b.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        Header::from_bytes(&b)
    }
}

/// A target whose top 32 bits are `top` and the rest all ones: about `top / 2^32` of all
/// nonces meet it.
fn target_with_top(top: u32) -> Target {
    let mut b = [0xffu8; 32];
    b[28..].copy_from_slice(&top.to_le_bytes());
    Target::from_le_bytes(b)
}

fn work(header: Header, target: Target, nonces: std::ops::Range<u64>) -> Work {
    Work::new(header, target)
        .with_nonces(nonces)
        .expect("test ranges are valid")
}

const GENESIS_NONCE: u64 = 2_083_236_893;

#[test]
fn genesis_window() {
    let Some(gpu) = default_gpu() else { return };
    let header = Header::genesis();
    let target =
        Target::from_compact(CompactTarget::from_consensus(0x1d00ffff)).expect("genesis bits");
    let w = work(
        header,
        target,
        GENESIS_NONCE - (1 << 17)..GENESIS_NONCE + (1 << 17),
    );
    let found = same_as_portable(gpu, &w);
    assert_eq!(
        found.iter().map(|f| u64::from(f.nonce)).collect::<Vec<_>>(),
        [GENESIS_NONCE]
    );
    assert_eq!(
        found[0].hash.to_string(),
        "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
    );
}

#[test]
fn random_headers_easy_targets() {
    let Some(gpu) = default_gpu() else { return };
    let mut rng = Rng::new(1);
    for top in [0x00ff_ffff, 0x0fff_ffff, 0x0000_ffff] {
        let start = rng.next() % ((1 << 32) - (1 << 16));
        let w = work(rng.header(), target_with_top(top), start..start + (1 << 16));
        same_as_portable(gpu, &w);
    }
    let w = work(
        rng.header(),
        Target::from_difficulty(1.0 / 16_777_216.0).expect("easy difficulty"),
        0..1 << 16,
    );
    assert!(!same_as_portable(gpu, &w).is_empty());
}

#[test]
fn kernel_configurations() {
    let mut rng = Rng::new(2);
    for (npi, wg) in [(1, 64), (7, 32), (64, 8), (32, 256)] {
        let Some(gpu) = open_gpu(config(npi, wg)) else {
            return;
        };
        // Odd bounds, so the last invocation's nonces run past the range.
        let start = rng.next() % (1 << 31);
        let w = work(
            rng.header(),
            target_with_top(0x00ff_ffff),
            start..start + 40_007,
        );
        assert!(!same_as_portable(&gpu, &w).is_empty(), "npi {npi} wg {wg}");
    }
}

/// Every count of rolled versions up to one past a full group, with ranges whose tails end
/// mid-invocation, on the shared-schedule kernels and on the one-version kernel alone.
#[test]
fn version_rolling() {
    let mut rng = Rng::new(3);
    for versions_per_dispatch in [gpu::MAX_VERSIONS, 1] {
        let mut c = GpuConfig::default();
        c.versions_per_dispatch = Some(versions_per_dispatch);
        let Some(gpu) = open_gpu(c) else { return };
        for rolls in 1..=5 {
            let start = rng.next() % (1 << 31);
            let len = 12_000 + rng.next() % 64;
            let w = work(
                rng.header(),
                target_with_top(0x00ff_ffff),
                start..start + len,
            )
            .with_version_rolling(0x1fff_e000, rolls)
            .expect("5 rolls fit");
            let found = same_as_portable(&gpu, &w);
            let versions: std::collections::BTreeSet<u32> =
                found.iter().map(|f| f.version).collect();
            assert_eq!(
                versions.len() as u64,
                rolls,
                "hits in every version ({versions_per_dispatch} per dispatch): {versions:x?}"
            );
        }
    }
}

/// A rolled search's hashes count every version.
#[test]
fn rolled_progress_counts_versions() {
    let Some(gpu) = default_gpu() else { return };
    let w = work(Rng::new(8).header(), target_with_top(0), 0..40_000)
        .with_version_rolling(0x1fff_e000, 7)
        .expect("7 rolls fit");
    let summary = gpu
        .search_stream(&w, &sha256d::Control::new(), &mut |_| {})
        .expect("rolled search");
    assert_eq!(summary.hashes, 7 * 40_000);
    assert!(!summary.cancelled);
}

#[test]
fn configuration_is_checked() {
    let mut options = Options::default();
    options.gpu_allow_software = true;
    for bad in [0, gpu::MAX_VERSIONS + 1] {
        let mut c = GpuConfig::default();
        c.versions_per_dispatch = Some(bad);
        let e = GpuEngine::new(&options, c).expect_err("out of range");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    }
    let mut c = GpuConfig::default();
    c.dispatch_time = Some(std::time::Duration::ZERO);
    let e = GpuEngine::new(&options, c).expect_err("zero dispatch time");
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[test]
fn zero_hits() {
    let Some(gpu) = default_gpu() else { return };
    let mut rng = Rng::new(4);
    let hard = Target::from_compact(CompactTarget::from_consensus(0x1903a30c)).expect("bits");
    assert_eq!(
        same_as_portable(gpu, &work(rng.header(), hard, 0..1 << 16)),
        []
    );
    assert_eq!(
        same_as_portable(gpu, &work(rng.header(), Target::MAX, 77..77)),
        []
    );
}

#[test]
fn more_hits_than_the_buffer_holds() {
    let mut rng = Rng::new(5);
    // The buffer may grow: one overflowing dispatch, then a re-scan with room for all.
    let mut grow = GpuConfig::default();
    grow.hit_capacity = 4;
    let Some(gpu) = open_gpu(grow) else { return };
    let w = work(rng.header(), Target::MAX, 1_000..101_000);
    assert_eq!(same_as_portable(&gpu, &w).len(), 100_000);

    // The buffer may not grow past 64: overflowing ranges are split until each fits.
    let mut split = GpuConfig::default();
    split.hit_capacity = 4;
    split.max_hit_capacity = 64;
    let Some(gpu) = open_gpu(split.clone()) else {
        return;
    };
    let w = work(rng.header(), target_with_top(0x3fff_ffff), 0..6_000);
    let found = same_as_portable(&gpu, &w);
    assert!(found.len() > 1_000, "{} hits", found.len());

    // Versions sharing a dispatch overflow it together; the re-scans keep each hit's version.
    split.versions_per_dispatch = Some(gpu::MAX_VERSIONS);
    let Some(gpu) = open_gpu(split) else { return };
    let w = work(rng.header(), Target::MAX, 500..3_501)
        .with_version_rolling(0x1fff_e000, 3)
        .expect("3 rolls fit");
    assert_eq!(same_as_portable(&gpu, &w).len(), 9_003);
}

#[test]
fn range_ending_at_2_pow_32() {
    let Some(gpu) = default_gpu() else { return };
    let mut rng = Rng::new(6);
    let w = work(
        rng.header(),
        target_with_top(0x00ff_ffff),
        (1 << 32) - 70_001..1 << 32,
    );
    same_as_portable(gpu, &w);
    let all = work(rng.header(), Target::MAX, (1 << 32) - 3..1 << 32);
    let nonces: Vec<u32> = same_as_portable(gpu, &all)
        .iter()
        .map(|f| f.nonce)
        .collect();
    assert_eq!(nonces, [u32::MAX - 2, u32::MAX - 1, u32::MAX]);
}

/// Cancelling stops a search within a bound, on one version and on versions sharing
/// schedules (whose dispatches are sized to the same time).
#[test]
fn cancel_and_progress() {
    let mut shared = GpuConfig::default();
    shared.versions_per_dispatch = Some(gpu::MAX_VERSIONS);
    let Some(shared) = open_gpu(shared) else {
        return;
    };
    let Some(single) = default_gpu() else { return };
    for (rolls, gpu) in [(1, single), (4, &shared)] {
        let ctl = sha256d::Control::new();
        let cancelled_at = std::sync::Mutex::new(None);
        let w = Work::new(Rng::new(7).header(), target_with_top(0))
            .with_version_rolling(0x1fff_e000, rolls)
            .expect("4 rolls fit");
        std::thread::scope(|s| {
            s.spawn(|| {
                while ctl.hashes() < 1 << 18 {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                *cancelled_at.lock().expect("no panics while held") =
                    Some(std::time::Instant::now());
                ctl.cancel();
            });
            let summary = gpu
                .search_stream(&w, &ctl, &mut |_| {})
                .expect("cancelled search");
            let latency = cancelled_at
                .lock()
                .expect("no panics while held")
                .expect("the search ran until cancelled")
                .elapsed();
            eprintln!(
                "{rolls} versions: cancelled after {} hashes; returned {latency:?} later",
                summary.hashes
            );
            assert!(summary.cancelled);
            assert!(summary.hashes >= 1 << 18 && summary.hashes < rolls << 32);
            // Two dispatches are in flight, each aimed at the adapter's dispatch time (15 ms on
            // a software rasteriser, 75 on a discrete GPU), so a quiet machine stops within a
            // few of them; a software rasteriser sharing two loaded cores can take seconds per
            // dispatch.
            let each = gpu.dispatch_time();
            assert!(each <= std::time::Duration::from_millis(100), "{each:?}");
            let bound = if quiet_machine() {
                each * 4 + std::time::Duration::from_millis(50)
            } else {
                std::time::Duration::from_secs(5)
            };
            assert!(latency < bound, "took {latency:?} to stop");
        });
    }
}

#[test]
fn two_dimensional_dispatch() {
    // One nonce per workgroup and long dispatches: once the rate is known, a dispatch needs
    // more workgroups than one dimension allows.
    let mut c = config(1, 1);
    c.dispatch_time = Some(std::time::Duration::from_secs(2));
    let Some(gpu) = open_gpu(c) else { return };
    let w = work(
        Rng::new(9).header(),
        target_with_top(0x00ff_ffff),
        0..300_000,
    );
    same_as_portable(&gpu, &w);
}

#[test]
fn registry_opens_gpu() {
    let mut options = Options::default();
    options.gpu_allow_software = true;
    match sha256d::open("gpu", &options) {
        Ok(engine) => {
            assert_eq!(engine.name(), "gpu");
            assert_eq!(engine.threads(), 0);
            assert!(!engine.describe().is_empty());
        }
        Err(e) if e.kind() == ErrorKind::Unavailable && !gpu_required() => {
            eprintln!("skipping: {e}")
        }
        Err(e) => panic!("open(\"gpu\"): {e}"),
    }
}
