//! The GPU engine against the portable engine, and the WGSL kernels against their generator.
//!
//! Kernel checks need no GPU. The differential tests need an adapter: without one they skip
//! with a message, unless `SHA256D_REQUIRE_GPU=1` or `CI=true`, where a missing adapter fails
//! and the adapter must be a Vulkan one (the path real GPUs take).
#![cfg(feature = "gpu")]

use proptest::prelude::Rng as _;
use proptest::test_runner::{RngAlgorithm, TestRng};
use sha256d::engine::gpu::{GpuConfig, GpuEngine};
use sha256d::{CompactTarget, Engine, ErrorKind, Found, Header, Options, Target, Work};
use std::path::PathBuf;
use std::sync::OnceLock;

/// Writes `kernels/sha256d.wgsl`: the nonce scan of `src/sha256/portable.rs`, unrolled into
/// single-assignment `let`s with every constant folded, because WGSL has no unrolling and a
/// runtime-indexed array costs a memory gather per access on software rasterisers.
mod kernel_source {
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    const PAD_WORD: u32 = 0x8000_0000;
    const HEADER_BITS: u32 = 640;
    const HASH_BITS: u32 = 256;

    /// A value known to the generator: a sum of WGSL terms plus a literal, so constants from
    /// several places fold into one literal.
    #[derive(Clone, Default)]
    struct Val {
        terms: Vec<String>,
        lit: u32,
    }

    fn lit(c: u32) -> Val {
        Val {
            terms: Vec::new(),
            lit: c,
        }
    }

    fn name(n: &str) -> Val {
        Val {
            terms: vec![n.to_string()],
            lit: 0,
        }
    }

    impl Val {
        fn as_lit(&self) -> Option<u32> {
            self.terms.is_empty().then_some(self.lit)
        }

        fn wgsl(&self) -> String {
            let mut parts = self.terms.clone();
            if self.lit != 0 || parts.is_empty() {
                parts.push(format!("0x{:08x}u", self.lit));
            }
            parts.join(" + ")
        }
    }

    fn add(vals: &[&Val]) -> Val {
        let mut out = lit(0);
        for v in vals {
            out.terms.extend(v.terms.iter().cloned());
            out.lit = out.lit.wrapping_add(v.lit);
        }
        out
    }

    /// `f(args)` in WGSL, or its value when every argument is a literal.
    fn call(f: &str, args: &[&Val], eval: fn(&[u32]) -> u32) -> Val {
        let lits: Option<Vec<u32>> = args.iter().map(|a| a.as_lit()).collect();
        match lits {
            Some(l) => lit(eval(&l)),
            None => {
                let args: Vec<String> = args.iter().map(|a| a.wgsl()).collect();
                name(&format!("{f}({})", args.join(", ")))
            }
        }
    }

    fn big_s0(x: &Val) -> Val {
        call("big_s0", &[x], |v| {
            v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22)
        })
    }
    fn big_s1(x: &Val) -> Val {
        call("big_s1", &[x], |v| {
            v[0].rotate_right(6) ^ v[0].rotate_right(11) ^ v[0].rotate_right(25)
        })
    }
    fn small_s0(x: &Val) -> Val {
        call("small_s0", &[x], |v| {
            v[0].rotate_right(7) ^ v[0].rotate_right(18) ^ (v[0] >> 3)
        })
    }
    fn small_s1(x: &Val) -> Val {
        call("small_s1", &[x], |v| {
            v[0].rotate_right(17) ^ v[0].rotate_right(19) ^ (v[0] >> 10)
        })
    }
    fn ch(e: &Val, f: &Val, g: &Val) -> Val {
        call("ch", &[e, f, g], |v| v[2] ^ (v[0] & (v[1] ^ v[2])))
    }
    fn maj(a: &Val, b: &Val, c: &Val) -> Val {
        call("maj", &[a, b, c], |v| {
            (v[0] & v[1]) | (v[2] & (v[0] | v[1]))
        })
    }

    /// The body of `last_word`, as `let` statements.
    #[derive(Default)]
    struct Body {
        lets: Vec<(String, String)>,
    }

    impl Body {
        /// Names a compound value so later uses read a register, not a recomputation.
        fn bind(&mut self, n: &str, v: Val) -> Val {
            let plain = |t: &str| {
                t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._".contains(c))
            };
            if v.as_lit().is_some() || (v.lit == 0 && v.terms.len() == 1 && plain(&v.terms[0])) {
                return v;
            }
            self.lets.push((n.to_string(), v.wgsl()));
            name(n)
        }

        /// The message schedule from word `from` on: `w[i] = σ1(w[i-2]) + w[i-7] + σ0(w[i-15])
        /// + w[i-16]`.
        fn schedule(&mut self, w: &mut Vec<Val>, prefix: &str, from: usize, to: usize) {
            for i in from..to {
                let v = add(&[
                    &small_s1(&w[i - 2]),
                    &w[i - 7],
                    &small_s0(&w[i - 15]),
                    &w[i - 16],
                ]);
                let v = self.bind(&format!("{prefix}{i}"), v);
                w.push(v);
            }
        }

        /// Rounds `from..to`. `a[n + 3]` / `e[n + 3]` hold the a / e register after `n`
        /// rounds; b, c, d (f, g, h) are the a (e) of the previous three rounds, so each round
        /// adds just two values, `names.0` (new a) and `names.1` (new e), via `names.2` (T1).
        fn rounds(
            &mut self,
            a: &mut Vec<Val>,
            e: &mut Vec<Val>,
            w: &[Val],
            from: usize,
            to: usize,
            names: (&str, &str, &str),
        ) {
            for i in from..to {
                let n = i + 3;
                let kw = add(&[&lit(K[i]), &w[i]]);
                let t1 = add(&[
                    &e[n - 3],
                    &big_s1(&e[n]),
                    &ch(&e[n], &e[n - 1], &e[n - 2]),
                    &kw,
                ]);
                let t1 = self.bind(&format!("{}{i}", names.2), t1);
                let new_e = add(&[&a[n - 3], &t1]);
                let new_a = add(&[&t1, &big_s0(&a[n]), &maj(&a[n], &a[n - 1], &a[n - 2])]);
                let new_e = self.bind(&format!("{}{}", names.1, i + 1), new_e);
                let new_a = self.bind(&format!("{}{}", names.0, i + 1), new_a);
                e.push(new_e);
                a.push(new_a);
            }
        }

        /// Drops every `let` the result does not depend on (the a registers of the last
        /// rounds, say), walking back from `result`.
        fn prune(&mut self, result: &str) {
            let idents = |s: &str| -> Vec<String> {
                s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            let mut needed: std::collections::HashSet<String> =
                idents(result).into_iter().collect();
            let mut keep = vec![false; self.lets.len()];
            for (k, (n, expr)) in self.lets.iter().enumerate().rev() {
                if needed.contains(n) {
                    keep[k] = true;
                    needed.extend(idents(expr));
                }
            }
            let mut k = keep.into_iter();
            self.lets.retain(|_| k.next().unwrap_or(false));
        }
    }

    fn last_word_body() -> String {
        let mut body = Body::default();
        let w3 = body.bind("w3", name("swap_bytes(nonce)"));
        // Header block 2: the nonce is word 3; the padding words are literals.
        let mut w = vec![
            name("p.tail0"),
            name("p.tail1"),
            name("p.tail2"),
            w3.clone(),
        ];
        w.push(lit(PAD_WORD));
        w.extend((5..15).map(|_| lit(0)));
        w.push(lit(HEADER_BITS));
        w.push(name("p.w16"));
        w.push(name("p.w17"));
        body.schedule(&mut w, "w", 18, 64);

        // The host ran rounds 0..3 and all of round 3 but its message word.
        let a4 = body.bind("a4", add(&[&name("p.a4_base"), &w3]));
        let e4 = body.bind("e4", add(&[&name("p.e4_base"), &w3]));
        // Round 4 reads back to the registers after round 1; what came before is never read.
        let mut a = vec![lit(0); 4];
        a.extend([name("p.a1"), name("p.a2"), name("p.a3"), a4]);
        let mut e = vec![lit(0); 4];
        e.extend([name("p.e1"), name("p.e2"), name("p.e3"), e4]);
        body.rounds(&mut a, &mut e, &w, 4, 64, ("a", "e", "t"));

        // The first hash (midstate + block-2 state) is the second hash's message.
        let final_a = |r: usize| &a[64 + 3 - r];
        let final_e = |r: usize| &e[64 + 3 - r];
        let mut v = Vec::new();
        for i in 0..4 {
            let word = add(&[&name(&format!("p.mid{i}")), final_a(i)]);
            v.push(body.bind(&format!("v{i}"), word));
        }
        for i in 4..8 {
            let word = add(&[&name(&format!("p.mid{i}")), final_e(i - 4)]);
            v.push(body.bind(&format!("v{i}"), word));
        }
        v.push(lit(PAD_WORD));
        v.extend((9..15).map(|_| lit(0)));
        v.push(lit(HASH_BITS));
        body.schedule(&mut v, "v", 16, 61);

        let mut x: Vec<Val> = [IV[3], IV[2], IV[1], IV[0]].into_iter().map(lit).collect();
        let mut y: Vec<Val> = [IV[7], IV[6], IV[5], IV[4]].into_iter().map(lit).collect();
        // Round 60 only for its new e: three more rounds would carry it into h unchanged.
        body.rounds(&mut x, &mut y, &v, 0, 61, ("x", "y", "u"));
        let h7 = add(&[&lit(IV[7]), &y[61 + 3]]).wgsl();
        body.prune(&h7);

        let mut out = String::new();
        for (n, expr) in &body.lets {
            out.push_str(&format!("    let {n} = {expr};\n"));
        }
        out.push_str(&format!("    return {h7};\n"));
        out
    }

    const HEAD: &str = "\
// sha256d nonce scan: the WGSL twin of src/sha256/portable.rs.
//
// GENERATED by `kernel_source` in tests/gpu.rs; edit the generator, then rewrite this file with
//     SHA256D_BLESS=1 cargo test --features gpu --test gpu kernel_matches_generator
//
// Per nonce: rounds 4..64 of the header's second block (the host folds rounds 0..3 into
// `Params`) and rounds 0..61 of the second hash, whose last state word alone decides whether
// the nonce is a candidate; the host re-hashes every candidate in full. In `last_word`,
// w<i>/v<i> are message words of the first/second hash, a<n>/e<n> and x<n>/y<n> the a/e
// registers after n rounds, t<i>/u<i> round i's T1.

// Invocations per workgroup and nonces per invocation, set when the pipeline is built.
override WG: u32 = 64u;
override NPI: u32 = 32u;

// Everything about the header that does not depend on the nonce (`Prehash`), and the range.
struct Params {
    mid0: u32, mid1: u32, mid2: u32, mid3: u32, mid4: u32, mid5: u32, mid6: u32, mid7: u32,
    a1: u32, a2: u32, a3: u32, e1: u32, e2: u32, e3: u32, a4_base: u32, e4_base: u32,
    tail0: u32, tail1: u32, tail2: u32, w16: u32, w17: u32,
    first: u32, count: u32, limit: u32,
}

// Candidates: `count` may exceed the array's length; the host then scans the range again.
struct Hits {
    count: atomic<u32>,
    nonces: array<u32>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> hits: Hits;

// WGSL has no rotate; drivers turn this pattern into one (funnel shift, alignbit).
fn rotr(x: u32, n: u32) -> u32 {
    return (x >> n) | (x << (32u - n));
}
fn big_s0(x: u32) -> u32 {
    return rotr(x, 2u) ^ rotr(x, 13u) ^ rotr(x, 22u);
}
fn big_s1(x: u32) -> u32 {
    return rotr(x, 6u) ^ rotr(x, 11u) ^ rotr(x, 25u);
}
fn small_s0(x: u32) -> u32 {
    return rotr(x, 7u) ^ rotr(x, 18u) ^ (x >> 3u);
}
fn small_s1(x: u32) -> u32 {
    return rotr(x, 17u) ^ rotr(x, 19u) ^ (x >> 10u);
}
fn ch(e: u32, f: u32, g: u32) -> u32 {
    return g ^ (e & (f ^ g));
}
fn maj(a: u32, b: u32, c: u32) -> u32 {
    return (a & b) | (c & (a | b));
}
// The header stores the nonce little-endian; SHA-256 reads words big-endian.
fn swap_bytes(x: u32) -> u32 {
    return (x << 24u) | ((x & 0xff00u) << 8u) | ((x >> 8u) & 0xff00u) | (x >> 24u);
}

// The last state word of the double hash for one nonce.
fn last_word(nonce: u32) -> u32 {
";

    const TAIL: &str = "}

@compute @workgroup_size(WG)
fn scan(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    // Rows of groups.x workgroups: one dimension stops at 65535 workgroups.
    let invocation = id.y * groups.x * WG + id.x;
    let base = invocation * NPI;
    for (var j = 0u; j < NPI; j++) {
        let offset = base + j;
        if offset >= p.count {
            return;
        }
        let nonce = p.first + offset;
        if swap_bytes(last_word(nonce)) <= p.limit {
            let slot = atomicAdd(&hits.count, 1u);
            if slot < arrayLength(&hits.nonces) {
                hits.nonces[slot] = nonce;
            }
        }
    }
}
";

    pub fn sha256d_wgsl() -> String {
        format!("{HEAD}{}{TAIL}", last_word_body())
    }
}

fn kernels_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kernels")
}

#[test]
fn kernels_parse_and_validate() {
    let mut seen = 0;
    let entries = std::fs::read_dir(kernels_dir()).expect("kernels/ is part of the crate");
    for entry in entries {
        let path = entry.expect("listing kernels/").path();
        if path.extension().and_then(|e| e.to_str()) != Some("wgsl") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("kernel file reads");
        let module = naga::front::wgsl::parse_str(&text)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&text)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&text)));
        seen += 1;
    }
    assert!(seen > 0, "no .wgsl files in kernels/");
}

#[test]
fn kernel_matches_generator() {
    let path = kernels_dir().join("sha256d.wgsl");
    let generated = kernel_source::sha256d_wgsl();
    if std::env::var_os("SHA256D_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("kernels/ is writable");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == generated,
        "{} differs from its generator; rerun with SHA256D_BLESS=1 to rewrite it",
        path.display()
    );
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

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";
const GENESIS_NONCE: u64 = 2_083_236_893;

#[test]
fn genesis_window() {
    let Some(gpu) = default_gpu() else { return };
    let header = Header::from_hex(GENESIS).expect("genesis hex");
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

#[test]
fn version_rolling() {
    let Some(gpu) = default_gpu() else { return };
    let mut rng = Rng::new(3);
    let w = work(rng.header(), target_with_top(0x00ff_ffff), 5_000..25_000)
        .with_version_rolling(0x1fff_e000, 5)
        .expect("5 rolls fit");
    let found = same_as_portable(gpu, &w);
    let versions: std::collections::BTreeSet<u32> = found.iter().map(|f| f.version).collect();
    assert!(
        versions.len() > 1,
        "hits in several versions: {versions:x?}"
    );
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
    let Some(gpu) = open_gpu(split) else { return };
    let w = work(rng.header(), target_with_top(0x3fff_ffff), 0..6_000);
    let found = same_as_portable(&gpu, &w);
    assert!(found.len() > 1_000, "{} hits", found.len());
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

#[test]
fn cancel_and_progress() {
    let Some(gpu) = default_gpu() else { return };
    let ctl = sha256d::Control::new();
    let cancelled_at = std::sync::Mutex::new(None);
    let w = Work::new(Rng::new(7).header(), target_with_top(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            while ctl.hashes() < 1 << 18 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            *cancelled_at.lock().expect("no panics while held") = Some(std::time::Instant::now());
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
            "cancelled after {} hashes; returned {latency:?} later",
            summary.hashes
        );
        assert!(summary.cancelled);
        assert!(summary.hashes >= 1 << 18 && summary.hashes < 1 << 32);
        // Dispatches aim at 15 ms and two are in flight; the slack is for loaded machines.
        assert!(latency.as_millis() < 1_000, "took {latency:?} to stop");
    });
}

#[test]
fn two_dimensional_dispatch() {
    // One nonce per workgroup and long dispatches: once the rate is known, a dispatch needs
    // more workgroups than one dimension allows.
    let mut c = config(1, 1);
    c.dispatch_time = std::time::Duration::from_secs(2);
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

/// User + system CPU time of this process so far, from /proc (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ: 100 on every Linux ABI.
    Some(ticks as f64 / 100.0)
}

/// The hash rate on this adapter, wall-clock and per CPU-second of this process (the number
/// that matters for a software rasteriser on a shared machine):
/// `cargo test --release --features gpu --test gpu throughput -- --ignored --nocapture`.
/// `SHA256D_BENCH_NONCES`, `SHA256D_BENCH_NPI` and `SHA256D_BENCH_WG` change the run.
#[test]
#[ignore = "a measurement, not a check"]
fn throughput() {
    let var = |key: &str, default: u64| {
        std::env::var(key)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let defaults = GpuConfig::default();
    let npi = var("SHA256D_BENCH_NPI", defaults.nonces_per_invocation.into());
    let wg = var("SHA256D_BENCH_WG", defaults.workgroup_size.into());
    let nonces = var("SHA256D_BENCH_NONCES", 1 << 22);
    let Some(gpu) = open_gpu(config(npi as u32, wg as u32)) else {
        return;
    };
    let mut rng = Rng::new(8);
    // Warm up: the first dispatches build the driver's code and find the dispatch size.
    gpu.search(&work(rng.header(), target_with_top(0), 0..1 << 18))
        .expect("warm-up search");
    let w = work(rng.header(), target_with_top(0), 0..nonces);
    let (cpu0, t) = (cpu_seconds(), std::time::Instant::now());
    gpu.search(&w).expect("timed search");
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let mh = nonces as f64 / 1e6;
    eprintln!(
        "{}: {nonces} nonces in {wall:.2} s = {:.2} MH/s; CPU {} s = {} MH per CPU-second",
        gpu.describe(),
        mh / wall,
        cpu.map_or("?".into(), |c| format!("{c:.2}")),
        cpu.map_or("?".into(), |c| format!("{:.2}", mh / c)),
    );
}
