//! SHA-256 compression and the nonce-scanning backends.
//!
//! Every backend answers the same question: for a header whose first 64 bytes are folded into a
//! [`Prehash`], which nonces in `first..first + count` give a double SHA-256 whose most
//! significant 32 bits (as a little-endian 256-bit number) are at most `limit`? That test is the
//! last state word of the second hash, so backends can stop after round 60 for almost every
//! nonce. The caller re-hashes each candidate in full against the real target.
//!
//! Runtime dispatch lives in [`Backend::scan`] and nowhere else.

#[cfg(target_arch = "aarch64")]
mod aarch64_sha2;
mod lanes;
mod op_count;
mod portable;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;
#[cfg(target_arch = "x86_64")]
mod x86_shani;

use crate::engine::EngineKind;
use alloc::vec::Vec;

#[cfg(feature = "std")]
pub mod ceiling;
mod consts;
mod mix;

pub(crate) use consts::{HASH_BITS, HEADER_BITS, PAD_WORD};
pub use consts::{IV, K};
pub use mix::OpMix;

/// K + W, four rounds per row, for the rounds from `first` whose words `w` are all padding.
const fn padding_kw<const Q: usize>(first: usize, w: [[u32; 4]; Q]) -> [[u32; 4]; Q] {
    let mut out = w;
    let mut q = 0;
    while q < Q {
        let mut j = 0;
        while j < 4 {
            out[q][j] = K[first + 4 * q + j].wrapping_add(w[q][j]);
            j += 1;
        }
        q += 1;
    }
    out
}

/// Words 4..16 of the header's second block, all padding: W4 = 0x80000000, W5..15 = 0,
/// W15 = 640.
pub(crate) const HEADER_PAD: [[u32; 4]; 3] = [[PAD_WORD, 0, 0, 0], [0; 4], [0, 0, 0, HEADER_BITS]];
/// Words 8..16 of the second hash: W8 = 0x80000000, W9..15 = 0, W15 = 256.
pub(crate) const HASH_PAD: [[u32; 4]; 2] = [[PAD_WORD, 0, 0, 0], [0, 0, 0, HASH_BITS]];
/// K + W for the rounds of [`HEADER_PAD`], four per row, for the SHA-instruction kernels.
pub(crate) const HEADER_PAD_KW: [[u32; 4]; 3] = padding_kw(4, HEADER_PAD);
/// K + W for the rounds of [`HASH_PAD`].
pub(crate) const HASH_PAD_KW: [[u32; 4]; 2] = padding_kw(8, HASH_PAD);

#[inline(always)]
pub(crate) const fn big_s0(x: u32) -> u32 {
    // Nested form of ror2 ^ ror13 ^ ror22: three rotates in place, fewer register copies.
    (((x.rotate_right(9) ^ x).rotate_right(11)) ^ x).rotate_right(2)
}
#[inline(always)]
pub(crate) const fn big_s1(x: u32) -> u32 {
    // Nested form of ror6 ^ ror11 ^ ror25.
    (((x.rotate_right(14) ^ x).rotate_right(5)) ^ x).rotate_right(6)
}
#[inline(always)]
pub(crate) const fn small_s0(x: u32) -> u32 {
    x.rotate_right(7) ^ x.rotate_right(18) ^ (x >> 3)
}
#[inline(always)]
pub(crate) const fn small_s1(x: u32) -> u32 {
    x.rotate_right(17) ^ x.rotate_right(19) ^ (x >> 10)
}
#[inline(always)]
pub(crate) const fn ch(e: u32, f: u32, g: u32) -> u32 {
    g ^ (e & (f ^ g))
}
#[inline(always)]
pub(crate) const fn maj(a: u32, b: u32, c: u32) -> u32 {
    (a & b) | (c & (a | b))
}

/// Compresses one 64-byte block into `state` (FIPS 180-4), portable code.
///
/// This is the "hazmat" primitive the rest of the crate checks against; it is not the hot path.
pub fn compress256(state: &mut [u32; 8], block: &[u8; 64]) {
    let mut w = [0u32; 64];
    for (i, chunk) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    for i in 16..64 {
        w[i] = small_s1(w[i - 2])
            .wrapping_add(w[i - 7])
            .wrapping_add(small_s0(w[i - 15]))
            .wrapping_add(w[i - 16]);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = *state;
    for i in 0..64 {
        let t1 = h
            .wrapping_add(big_s1(e))
            .wrapping_add(ch(e, f, g))
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let t2 = big_s0(a).wrapping_add(maj(a, b, c));
        h = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (s, v) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
        *s = s.wrapping_add(v);
    }
}

/// Double SHA-256 of an 80-byte block header, in internal byte order.
pub fn sha256d_header(header: &[u8; 80]) -> [u8; 32] {
    let mut midstate = IV;
    compress256(
        &mut midstate,
        header[..64].try_into().expect("64 of 80 bytes"),
    );
    sha256d_from_midstate(&midstate, header[64..].try_into().expect("16 of 80 bytes"))
}

/// Double SHA-256 of a header known by its midstate (bytes 0..64 compressed) and its last 16
/// bytes, as mining devices are handed it.
pub fn sha256d_from_midstate(midstate: &[u32; 8], tail: &[u8; 16]) -> [u8; 32] {
    let mut state = *midstate;
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(tail);
    block[16] = 0x80;
    block[62..].copy_from_slice(&(HEADER_BITS as u16).to_be_bytes());
    compress256(&mut state, &block);
    second_hash(&state)
}

/// SHA-256 of the 32-byte first hash given as its state words.
fn second_hash(first: &[u32; 8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    for (chunk, word) in block.chunks_exact_mut(4).zip(first) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    block[32] = 0x80;
    block[62..].copy_from_slice(&(HASH_BITS as u16).to_be_bytes());
    let mut state = IV;
    compress256(&mut state, &block);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// SHA-256 of any message (transactions, coinbases, merkle nodes), portable code.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut state = IV;
    let mut blocks = data.chunks_exact(64);
    for block in &mut blocks {
        compress256(
            &mut state,
            block.try_into().expect("chunks_exact gives 64 bytes"),
        );
    }
    let rest = blocks.remainder();
    let mut last = [0u8; 128];
    last[..rest.len()].copy_from_slice(rest);
    last[rest.len()] = 0x80;
    let len = if rest.len() < 56 { 64 } else { 128 };
    last[len - 8..len].copy_from_slice(&((data.len() as u64) * 8).to_be_bytes());
    for block in last[..len].chunks_exact(64) {
        compress256(
            &mut state,
            block.try_into().expect("chunks_exact gives 64 bytes"),
        );
    }
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// Double SHA-256 of any message, in internal byte order (txids, merkle nodes).
pub fn sha256d(data: &[u8]) -> [u8; 32] {
    sha256(&sha256(data))
}

/// Everything about a header that does not depend on its nonce, computed once per
/// (header, version) and shared by every backend and thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prehash {
    /// State after compressing header bytes 0..64.
    pub midstate: [u32; 8],
    /// Block-2 words 0..3: the last merkle-root word, time and bits, big-endian loaded.
    pub tail: [u32; 3],
    /// Block-2 working state after rounds 0..3, `[a, b, c, d, e, f, g, h]`.
    pub state3: [u32; 8],
    /// Round 3 before its message word: after it, `a = a4_base + w3` and `e = e4_base + w3`,
    /// where `w3` is the byte-swapped nonce; the other six words are `state3` shifted by one.
    pub a4_base: u32,
    /// See [`Prehash::a4_base`].
    pub e4_base: u32,
    /// Block-2 schedule words 16 and 17, which do not depend on the nonce.
    pub w16: u32,
    /// See [`Prehash::w16`].
    pub w17: u32,
}

impl Prehash {
    /// Precomputes for an 80-byte header (its nonce bytes are ignored).
    pub fn new(header: &[u8; 80]) -> Self {
        let mut midstate = IV;
        compress256(
            &mut midstate,
            header[..64].try_into().expect("64 of 80 bytes"),
        );
        let word =
            |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let tail = [word(64), word(68), word(72)];
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = midstate;
        for (i, w) in tail.iter().enumerate() {
            let t1 = h
                .wrapping_add(big_s1(e))
                .wrapping_add(ch(e, f, g))
                .wrapping_add(K[i])
                .wrapping_add(*w);
            let t2 = big_s0(a).wrapping_add(maj(a, b, c));
            (a, b, c, d, e, f, g, h) = (t1.wrapping_add(t2), a, b, c, d.wrapping_add(t1), e, f, g);
        }
        let t1 = h
            .wrapping_add(big_s1(e))
            .wrapping_add(ch(e, f, g))
            .wrapping_add(K[3]);
        let t2 = big_s0(a).wrapping_add(maj(a, b, c));
        Prehash {
            midstate,
            tail,
            state3: [a, b, c, d, e, f, g, h],
            a4_base: t1.wrapping_add(t2),
            e4_base: d.wrapping_add(t1),
            w16: small_s0(tail[1]).wrapping_add(tail[0]),
            w17: small_s1(HEADER_BITS)
                .wrapping_add(small_s0(tail[2]))
                .wrapping_add(tail[1]),
        }
    }
}

/// A SHA-instruction kernel bound to one job (one version of a header), hashing `N` nonces side
/// by side. Block 2's schedule depends only on the header's tail and the nonces, so every
/// version shares it: the first version's pass (`fill`) computes it between its rounds, where
/// it fills gaps in their dependency chains, and the other versions read it back.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
trait Streams {
    type Schedule<const N: usize>;
    /// A schedule for `nonces` with only the rows that need no expanding.
    fn start<const N: usize>(&self, nonces: [u32; N]) -> Self::Schedule<N>;
    /// The second hash's last state word for each nonce; with `fill`, expanding the schedule.
    fn last_words<const N: usize>(&self, schedule: &mut Self::Schedule<N>, fill: bool) -> [u32; N];
}

/// Defines a backend file's `scan_shared`: compiled for `$features`, all that the file's proof
/// type `$isa` asks for, it binds one to `$token` and runs `$body` on the named arguments.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! scan_entry {
    (
        $isa:ident, $features:literal, [$($generics:tt)*],
        |$token:ident, $pres:ident, $first:ident, $count:ident, $limit:ident, $out:ident| $body:block
    ) => {
        /// [`Backend::scan_shared`](super::Backend::scan_shared) for one group of versions.
        ///
        /// # Safety
        #[doc = concat!("The CPU must support ", $features, ".")]
        #[target_feature(enable = $features)]
        pub(super) unsafe fn scan_shared<$($generics)*>(
            $pres: &[super::Prehash],
            $first: u32,
            $count: u32,
            $limit: u32,
            $out: &mut [alloc::vec::Vec<u32>],
        ) {
            // SAFETY: the caller guarantees the features this function is compiled for, which
            // are all that `new` asks for.
            let $token = unsafe { $isa::new() };
            $body
        }
    };
}
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
use scan_entry;

/// Drives a kernel that hashes `N` nonces per call over `first..first + count` (at most 2^32)
/// for every job (version) in `jobs`, each nonce group's schedule computed once: whole groups
/// first, then the tail through the kernel's one-nonce form. Candidates, whose last state word
/// byte-swapped is at most `limit`, go to `out[k]` for `jobs[k]`, in ascending order.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn scan_grouped<const N: usize, J: Streams>(
    jobs: &[J],
    first: u32,
    count: u32,
    limit: u32,
    out: &mut [Vec<u32>],
) {
    let Some((lead, rest)) = jobs.split_first() else {
        return;
    };
    let mut done = 0;
    while count - done >= N as u32 {
        // `done + N <= count`, so no nonce here reaches `first + count <= 2^32`.
        let base = first + done;
        let nonces: [u32; N] = core::array::from_fn(|s| base + s as u32);
        hash_versions(lead, rest, nonces, limit, out);
        done += N as u32;
    }
    for nonce in (done..count).map(|i| first + i) {
        hash_versions(lead, rest, [nonce], limit, out);
    }
}

/// `nonces` under `lead`'s version, which expands the schedule, then under each of `rest`'s,
/// which reuse it; candidates to `out[k]` in job order.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[inline(always)]
fn hash_versions<const N: usize, J: Streams>(
    lead: &J,
    rest: &[J],
    nonces: [u32; N],
    limit: u32,
    out: &mut [Vec<u32>],
) {
    let mut schedule = lead.start(nonces);
    let offer = |h7s: [u32; N], out: &mut Vec<u32>| {
        for (nonce, h7) in nonces.into_iter().zip(h7s) {
            if h7.swap_bytes() <= limit {
                out.push(nonce);
            }
        }
    };
    let Some((lead_out, rest_out)) = out.split_first_mut() else {
        return;
    };
    // Separate calls, so that `fill` is a constant in each inlined copy; no closure around
    // them, which might not inherit the caller's target features.
    offer(lead.last_words(&mut schedule, true), lead_out);
    for (job, out) in rest.iter().zip(rest_out) {
        offer(job.last_words(&mut schedule, false), out);
    }
}

/// The most significant 32 bits of a hash read as a little-endian 256-bit number: what the
/// backends compare with their `limit`.
pub fn top_word(hash: &[u8; 32]) -> u32 {
    u32::from_le_bytes([hash[28], hash[29], hash[30], hash[31]])
}

/// A nonce-scanning implementation. One variant per instruction set; constructors return
/// `None` when this CPU (or a test switch) rules the backend out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backend {
    /// Scalar code that runs anywhere.
    Portable,
    /// x86-64 SHA extensions.
    #[cfg(target_arch = "x86_64")]
    ShaNi,
    /// x86-64 AVX2, eight nonces per instruction.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// x86-64 AVX-512F, sixteen nonces per instruction.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// ARMv8 SHA2 instructions.
    #[cfg(target_arch = "aarch64")]
    ArmSha2,
}

#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpuid_shani, "sha", "sse2", "ssse3", "sse4.1");
#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpuid_avx2, "avx2");
#[cfg(target_arch = "x86_64")]
cpufeatures::new!(cpuid_avx512, "avx512f");
#[cfg(target_arch = "aarch64")]
cpufeatures::new!(cpuid_sha2, "sha2");

impl Backend {
    /// Every backend compiled into this build, fastest first.
    ///
    /// AVX-512 leads SHA-NI: on an Intel Xeon with both, one thread of `avx512` ran 2.8 times
    /// the nonces of `sha-ni` per CPU-second, the SHA unit's one `sha256rnds2` per two rounds
    /// being slower than sixteen lanes of three-input logic and rotates.
    pub const ALL: &'static [Backend] = &[
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512,
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi,
        #[cfg(target_arch = "aarch64")]
        Backend::ArmSha2,
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2,
        Backend::Portable,
    ];

    /// The engine this backend runs under.
    pub const fn kind(self) -> EngineKind {
        match self {
            Backend::Portable => EngineKind::Portable,
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => EngineKind::ShaNi,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => EngineKind::Avx2,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => EngineKind::Avx512,
            #[cfg(target_arch = "aarch64")]
            Backend::ArmSha2 => EngineKind::ArmSha2,
        }
    }

    /// The engine name this backend runs under.
    pub const fn name(self) -> &'static str {
        self.kind().name()
    }

    /// Whether this CPU can run the backend; `Err` says why not.
    pub fn check(self) -> Result<(), &'static str> {
        if forbidden(self.name()) {
            return Err("forbidden by SHA256D_FORBID");
        }
        self.cpu_has()
    }

    /// Whether this CPU has the backend's instructions; `Err` says what it lacks.
    fn cpu_has(self) -> Result<(), &'static str> {
        let (has, lacks) = match self {
            Backend::Portable => (true, ""),
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => (
                cpuid_shani::get(),
                "CPU lacks the SHA extensions (sha, sse4.1)",
            ),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => (cpuid_avx2::get(), "CPU lacks AVX2"),
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => (cpuid_avx512::get(), "CPU lacks AVX-512F"),
            #[cfg(target_arch = "aarch64")]
            Backend::ArmSha2 => (cpuid_sha2::get(), "CPU lacks the ARMv8 SHA2 instructions"),
        };
        if has {
            Ok(())
        } else {
            Err(lacks)
        }
    }

    /// The backend, if this CPU can run it.
    pub fn available(self) -> Option<Self> {
        self.check().ok().map(|()| self)
    }

    /// The fastest backend this CPU can run.
    pub fn detect() -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|b| b.check().is_ok())
            .unwrap_or(Backend::Portable)
    }

    /// Appends to `out`, in ascending order, every nonce in `first..first + count` whose
    /// double SHA-256 has its most significant 32 bits at most `limit`.
    ///
    /// # Panics
    /// If `first + count` exceeds 2^32, or the backend is not available on this CPU.
    pub fn scan(self, pre: &Prehash, first: u32, count: u32, limit: u32, out: &mut Vec<u32>) {
        self.scan_shared(
            core::slice::from_ref(pre),
            first,
            count,
            limit,
            core::slice::from_mut(out),
        );
    }

    /// How many versions one pass over a nonce hashes, sharing its schedule (1: no sharing).
    ///
    /// Measured on an Intel Xeon with AVX-512 and SHA-NI (one thread, hashes per CPU-second,
    /// groups of 2/4/8/16 against one version): AVX-512 gained 6/16/19/20%, AVX2 12/18/20/24%,
    /// the portable backend -7/2/8/12% (one version runs its own kernel, which interleaves the
    /// schedule with the rounds), and SHA-NI (groups of 2/4/8) 5/7-30/20-29%, the
    /// `sha256msg` work leaving the SHA unit to `sha256rnds2`. Eight takes most of the gain
    /// while a chunk of the CPU engine still spans 2048 nonces. ARM shares its schedule the
    /// same way, but hashes one version at a time until that is measured on ARM hardware.
    #[doc(hidden)]
    pub const fn shared_versions(self) -> usize {
        match self {
            Backend::Portable => 8,
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => 8,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => 8,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => 8,
            #[cfg(target_arch = "aarch64")]
            Backend::ArmSha2 => 1,
        }
    }

    /// [`Backend::scan`] for headers that differ only in their version (more exactly: whose
    /// bytes 64..76 agree, so their prehashes have the same `tail`): `out[k]` gets `pres[k]`'s
    /// candidates, ascending. Takes any number of prehashes and hashes them in groups of
    /// [`Backend::shared_versions`], each group sharing every nonce's block-2 schedule.
    ///
    /// # Panics
    /// If `out.len() != pres.len()`, the tails differ, `first + count` exceeds 2^32, or the
    /// backend is not available on this CPU.
    #[doc(hidden)]
    pub fn scan_shared(
        self,
        pres: &[Prehash],
        first: u32,
        count: u32,
        limit: u32,
        out: &mut [Vec<u32>],
    ) {
        assert_eq!(out.len(), pres.len(), "one output per prehash");
        assert!(
            pres.windows(2).all(|p| p[0].tail == p[1].tail),
            "prehashes of headers that differ in more than their version"
        );
        assert!(
            u64::from(first) + u64::from(count) <= 1 << 32,
            "nonce range past 2^32"
        );
        if let Err(lacks) = self.cpu_has() {
            panic!("{} backend: {lacks}", self.name());
        }
        let group = self.shared_versions();
        for (pres, out) in pres.chunks(group).zip(out.chunks_mut(group)) {
            match self {
                // One version: the independent reference kernel, which also runs faster alone.
                Backend::Portable => match (pres, out) {
                    ([pre], [out]) => portable::scan(pre, first, count, limit, out),
                    (pres, out) => lanes::scan_with(lanes::Scalar, pres, first, count, limit, out),
                },
                #[cfg(target_arch = "x86_64")]
                Backend::ShaNi => {
                    // SAFETY: the CPU supports sha, sse2, ssse3 and sse4.1, checked above.
                    unsafe { x86_shani::scan_fastest(pres, first, count, limit, out) }
                }
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU supports avx2, checked above.
                Backend::Avx2 => unsafe { x86_avx2::scan_shared(pres, first, count, limit, out) },
                #[cfg(target_arch = "x86_64")]
                // SAFETY: the CPU supports avx512f, checked above.
                Backend::Avx512 => unsafe {
                    x86_avx512::scan_shared(pres, first, count, limit, out)
                },
                #[cfg(target_arch = "aarch64")]
                Backend::ArmSha2 => {
                    // SAFETY: the CPU supports the sha2 (and thus neon) instructions, checked
                    // above.
                    unsafe {
                        aarch64_sha2::scan_shared::<{ aarch64_sha2::STREAMS }>(
                            pres, first, count, limit, out,
                        )
                    }
                }
            }
        }
    }

    /// Instructions per hash (one nonce under one version) when `versions` rolled versions go
    /// through in groups of [`Backend::shared_versions`], as the instruction set issues them
    /// after constant folding: the mix the bench's ceiling for this backend is measured on.
    /// `None` for the SHA-instruction backends, whose ceiling is their SHA unit's rate.
    #[doc(hidden)]
    pub fn op_mix(self, versions: usize) -> Option<OpMix> {
        let isa = match self {
            Backend::Portable => op_count::SCALAR,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => op_count::AVX2,
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => op_count::AVX512,
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => return None,
            #[cfg(target_arch = "aarch64")]
            Backend::ArmSha2 => return None,
        };
        Some(op_count::per_nonce(isa, versions, self.shared_versions()))
    }
}

/// Test switch: `SHA256D_FORBID=sha-ni,avx2` hides those backends, so one machine can walk
/// every dispatch path. Without `std` there is no environment and nothing is forbidden.
fn forbidden(name: &str) -> bool {
    #[cfg(feature = "std")]
    {
        std::env::var("SHA256D_FORBID")
            .map(|v| v.split(',').any(|f| f.trim() == name))
            .unwrap_or(false)
    }
    #[cfg(not(feature = "std"))]
    {
        let _ = name;
        false
    }
}

/// The check every backend file runs against the portable kernel.
#[cfg(test)]
mod testing {
    use super::{portable, Prehash};
    use crate::splitmix::SplitMix64 as Rng;
    use alloc::{vec, vec::Vec};

    /// Asserts that a scan of several versions of one header at once finds, for each version,
    /// exactly what the portable kernel finds for that version alone: 1 to 9 versions (so every
    /// group size meets a partial last group), random headers, limits loose enough that many
    /// or all nonces hit, every count up to a few times any lane width, whole 16384-hash
    /// chunks, and ranges touching nonce 0 and nonce 2^32 - 1.
    pub(crate) fn shared_matches_portable(
        scan: impl Fn(&[Prehash], u32, u32, u32, &mut [Vec<u32>]),
    ) {
        shared_matches_portable_for(&[1, 2, 3, 4, 5, 7, 9], scan);
    }

    /// [`shared_matches_portable`] for the listed version counts only, for slow models.
    pub(crate) fn shared_matches_portable_for(
        versions: &[usize],
        scan: impl Fn(&[Prehash], u32, u32, u32, &mut [Vec<u32>]),
    ) {
        let mut rng = Rng(0x5a25_6d00_0000_0001);
        for &n in versions {
            // One version is the common case and gets more headers; more versions multiply
            // the work of every check.
            let headers = if n == 1 { 4 } else { 1 };
            for round in 0..headers {
                let mut header = [0u8; 80];
                for b in header.iter_mut() {
                    *b = rng.next() as u8;
                }
                let pres: Vec<Prehash> = (0..n)
                    .map(|_| {
                        header[..4].copy_from_slice(&(rng.next() as u32).to_le_bytes());
                        Prehash::new(&header)
                    })
                    .collect();
                let check = |first: u32, count: u32, limit: u32| {
                    let mut want = vec![Vec::new(); n];
                    for (pre, want) in pres.iter().zip(&mut want) {
                        portable::scan(pre, first, count, limit, want);
                    }
                    let mut got = vec![Vec::new(); n];
                    scan(&pres, first, count, limit, &mut got);
                    assert_eq!(
                        got, want,
                        "{n} versions, first {first} count {count} limit {limit:#x}"
                    );
                    want.iter().map(Vec::len).sum::<usize>()
                };
                for limit in [u32::MAX, u32::MAX >> 1, u32::MAX >> 3, u32::MAX >> 7] {
                    for count in 0..=33 {
                        let first = rng.next() as u32 >> 1;
                        check(first, count, limit);
                    }
                    check(0, 17, limit);
                    check(u32::MAX - 20, 21, limit);
                    check(u32::MAX, 1, limit);
                }
                if round == 0 {
                    // A whole engine chunk's worth of hashes, split among the versions.
                    let big = 16384 / n.next_power_of_two() as u32;
                    let first = rng.next() as u32 >> 1;
                    assert!(check(first, big, u32::MAX >> 5) > 0, "no hits to compare");
                    assert_eq!(check(first, big - 1, u32::MAX), (big as usize - 1) * n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use sha2::Digest;

    #[test]
    fn sha256_matches_sha2_at_every_padding_edge() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in 0..data.len() {
            let want = sha2::Sha256::digest(&data[..n]);
            assert_eq!(
                super::sha256(&data[..n]).as_slice(),
                want.as_slice(),
                "length {n}"
            );
            let twice = sha2::Sha256::digest(want);
            assert_eq!(super::sha256d(&data[..n]).as_slice(), twice.as_slice());
        }
    }

    /// Every backend this CPU runs, through the public entry point: its own grouping of the
    /// versions, and SHA-NI's and ARM's loop over single versions.
    #[test]
    fn every_backend_scan_shared_matches_portable() {
        for backend in super::Backend::ALL.iter().filter(|b| b.check().is_ok()) {
            super::testing::shared_matches_portable(|pres, first, count, limit, out| {
                backend.scan_shared(pres, first, count, limit, out)
            });
        }
    }

    fn versions(n: u32) -> Vec<super::Prehash> {
        let mut header = [0x3c; 80];
        (0..n)
            .map(|v| {
                header[..4].copy_from_slice(&v.to_le_bytes());
                super::Prehash::new(&header)
            })
            .collect()
    }

    #[test]
    #[should_panic(expected = "one output per prehash")]
    fn scan_shared_wants_one_output_per_version() {
        let mut out = [Vec::new()];
        super::Backend::Portable.scan_shared(&versions(2), 0, 10, u32::MAX, &mut out);
    }

    #[test]
    #[should_panic(expected = "differ in more than their version")]
    fn scan_shared_refuses_different_tails() {
        let mut pres = versions(2);
        let mut header = [0x3c; 80];
        header[70] = 1;
        pres[1] = super::Prehash::new(&header);
        let mut out = [Vec::new(), Vec::new()];
        super::Backend::Portable.scan_shared(&pres, 0, 10, u32::MAX, &mut out);
    }
}
