//! ARMv8 SHA2 nonce scan (`SHA256H`, `SHA256H2`, `SHA256SU0`, `SHA256SU1`).
//!
//! An `SHA256H`/`SHA256H2` pair does four rounds, but each waits for the previous pair, so the
//! kernel hashes [`STREAMS`] nonces side by side for the core to overlap. It keeps the portable
//! kernel's shortcuts that cost nothing to express here: rounds 0..4 of the header's second
//! block come from the [`Prehash`], rounds whose message words are all padding use K + W folded
//! at compile time, and the second hash's last four rounds run only the `SHA256H2` that yields
//! its last state word. The state is two vectors, `[a, b, c, d]` and `[e, f, g, h]`, and message
//! vectors hold W[i..i + 4] in lanes 0..4.

// Stream loops walk several per-stream arrays in step; indexing says that more plainly than
// zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::{Prehash, HASH_PAD, HASH_PAD_KW, HEADER_PAD, HEADER_PAD_KW, IV, K};
use alloc::vec::Vec;
use core::arch::aarch64::{
    uint32x4_t, vaddq_u32, vgetq_lane_u32, vld1q_u32, vsetq_lane_u32, vsha256h2q_u32,
    vsha256hq_u32, vsha256su0q_u32, vsha256su1q_u32,
};

/// Nonces hashed side by side.
pub(super) const STREAMS: usize = 2;

super::scan_entry!(ArmSha2, "neon,sha2", [const N: usize], |isa, pres, first, count, limit, out| {
    let jobs: Vec<Job> = pres.iter().map(|pre| Job::new(isa, pre)).collect();
    super::scan_grouped::<N, Job>(&jobs, first, count, limit, out)
});

/// The nonce-independent vectors of one scan.
struct Job {
    isa: ArmSha2,
    /// Block-2 state entering round 4, less the nonce word added to `a` and `e`.
    abcd4: uint32x4_t,
    efgh4: uint32x4_t,
    /// Block-2 words 0..4 with the nonce word zero.
    words0: uint32x4_t,
    mid_abcd: uint32x4_t,
    mid_efgh: uint32x4_t,
}

impl Job {
    #[inline(always)]
    fn new(isa: ArmSha2, pre: &Prehash) -> Self {
        let [a3, b3, c3, _, e3, f3, g3, _] = pre.state3;
        let m = pre.midstate;
        Job {
            isa,
            abcd4: isa.set([pre.a4_base, a3, b3, c3]),
            efgh4: isa.set([pre.e4_base, e3, f3, g3]),
            words0: isa.set([pre.tail[0], pre.tail[1], pre.tail[2], 0]),
            mid_abcd: isa.set([m[0], m[1], m[2], m[3]]),
            mid_efgh: isa.set([m[4], m[5], m[6], m[7]]),
        }
    }
}

/// `N` streams' working state.
struct State<const N: usize> {
    abcd: [uint32x4_t; N],
    efgh: [uint32x4_t; N],
}

impl<const N: usize> State<N> {
    /// Four rounds on every stream; `kw[s]` holds K + W for stream `s`.
    #[inline(always)]
    fn rounds(&mut self, isa: ArmSha2, kw: [uint32x4_t; N]) {
        for s in 0..N {
            let abcd = self.abcd[s];
            self.abcd[s] = isa.hash_abcd(abcd, self.efgh[s], kw[s]);
            self.efgh[s] = isa.hash_efgh(self.efgh[s], abcd, kw[s]);
        }
    }

    /// Four rounds with message words `w` (W[i..i + 4] per stream) from round `i`.
    #[inline(always)]
    fn rounds_with(&mut self, isa: ArmSha2, i: usize, w: &[uint32x4_t; N]) {
        let k = isa.set([K[i], K[i + 1], K[i + 2], K[i + 3]]);
        let mut kw = *w;
        for v in &mut kw {
            *v = isa.add(*v, k);
        }
        self.rounds(isa, kw);
    }
}

/// The next four schedule words of every stream from the sixteen before them.
#[inline(always)]
fn expand<const N: usize>(isa: ArmSha2, w: &mut [[uint32x4_t; N]; 16], q: usize) {
    for s in 0..N {
        let part = isa.schedule0(w[q - 4][s], w[q - 3][s]);
        w[q][s] = isa.schedule1(part, w[q - 2][s], w[q - 1][s]);
    }
}

/// Block 2's schedule for `N` nonces: row `q` holds W[4q..4q + 4] of each stream, `w3` the
/// nonce words. Only the header's tail and the nonces feed it.
struct Schedule<const N: usize> {
    w3: [u32; N],
    x: [[uint32x4_t; N]; 16],
}

impl super::Streams for Job {
    type Schedule<const N: usize> = Schedule<N>;

    #[inline(always)]
    fn start<const N: usize>(&self, nonces: [u32; N]) -> Schedule<N> {
        let isa = self.isa;
        let w3 = nonces.map(u32::swap_bytes);
        let mut x = [[self.words0; N]; 16];
        for s in 0..N {
            x[0][s] = isa.set_last(self.words0, w3[s]);
        }
        for q in 1..4 {
            x[q] = [isa.set(HEADER_PAD[q - 1]); N];
        }
        Schedule { w3, x }
    }

    /// The second hash's last state word, for `N` nonces at once.
    #[inline(always)]
    fn last_words<const N: usize>(&self, schedule: &mut Schedule<N>, fill: bool) -> [u32; N] {
        let (isa, job) = (self.isa, self);
        let Schedule { w3, x } = schedule;
        let mut st = State {
            abcd: [job.abcd4; N],
            efgh: [job.efgh4; N],
        };
        for s in 0..N {
            let w3 = isa.set_first(w3[s]);
            st.abcd[s] = isa.add(job.abcd4, w3);
            st.efgh[s] = isa.add(job.efgh4, w3);
        }
        for kw in HEADER_PAD_KW {
            st.rounds(isa, [isa.set(kw); N]);
        }
        macro_rules! block2 {
            ($($q:literal)*) => {$(
                if fill {
                    expand(isa, x, $q);
                }
                st.rounds_with(isa, 4 * $q, &x[$q]);
            )*};
        }
        block2!(4 5 6 7 8 9 10 11 12 13 14 15);

        // The first hash is the second hash's W0..8, already in message order.
        let mut y = [[job.words0; N]; 16];
        for s in 0..N {
            y[0][s] = isa.add(st.abcd[s], job.mid_abcd);
            y[1][s] = isa.add(st.efgh[s], job.mid_efgh);
        }
        for q in 2..4 {
            y[q] = [isa.set(HASH_PAD[q - 2]); N];
        }
        let mut st = State {
            abcd: [isa.set([IV[0], IV[1], IV[2], IV[3]]); N],
            efgh: [isa.set([IV[4], IV[5], IV[6], IV[7]]); N],
        };
        st.rounds_with(isa, 0, &y[0]);
        st.rounds_with(isa, 4, &y[1]);
        for kw in HASH_PAD_KW {
            st.rounds(isa, [isa.set(kw); N]);
        }
        macro_rules! hash2 {
            ($($q:literal)*) => {$(
                expand(isa, &mut y, $q);
                st.rounds_with(isa, 4 * $q, &y[$q]);
            )*};
        }
        hash2!(4 5 6 7 8 9 10 11 12 13 14);
        expand(isa, &mut y, 15);

        // Of rounds 60..64 only `SHA256H2`'s h is needed: round 60's e, carried along unchanged.
        let k = isa.set([K[60], K[61], K[62], K[63]]);
        let mut h7 = [0; N];
        for s in 0..N {
            let efgh = isa.hash_efgh(st.efgh[s], st.abcd[s], isa.add(y[15][s], k));
            h7[s] = IV[7].wrapping_add(isa.last_lane(efgh));
        }
        h7
    }
}

/// Proof that the CPU supports the SHA2 instructions (and so NEON): only [`ArmSha2::new`]
/// makes one, and its caller vouches for the CPU, so the intrinsic wrappers below are safe.
#[derive(Clone, Copy)]
struct ArmSha2(());

// The SHA2 intrinsics are `inline(always)` with `target_feature(enable = "sha2")`, which these
// wrappers cannot repeat on stable Rust; they reach the intrinsics' code only once inlined into
// `scan`, which enables the feature, so the lint's concern does not apply.
#[allow(unknown_lints, inline_always_mismatching_target_features)]
impl ArmSha2 {
    /// # Safety
    /// The CPU must support the sha2 instructions.
    #[inline(always)]
    unsafe fn new() -> Self {
        ArmSha2(())
    }

    /// A vector with `w[i]` in lane `i`.
    #[inline(always)]
    fn set(self, w: [u32; 4]) -> uint32x4_t {
        // SAFETY: `self` proves NEON, and `w` is four readable `u32`s.
        unsafe { vld1q_u32(w.as_ptr()) }
    }

    /// `[w, 0, 0, 0]`.
    #[inline(always)]
    fn set_first(self, w: u32) -> uint32x4_t {
        self.set([w, 0, 0, 0])
    }

    /// `a` with lane 3 replaced by `w`.
    #[inline(always)]
    fn set_last(self, a: uint32x4_t, w: u32) -> uint32x4_t {
        // SAFETY: `self` proves NEON.
        unsafe { vsetq_lane_u32::<3>(w, a) }
    }

    #[inline(always)]
    fn last_lane(self, a: uint32x4_t) -> u32 {
        // SAFETY: `self` proves NEON.
        unsafe { vgetq_lane_u32::<3>(a) }
    }

    #[inline(always)]
    fn add(self, a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
        // SAFETY: `self` proves NEON.
        unsafe { vaddq_u32(a, b) }
    }

    /// Four rounds' new `[a, b, c, d]`.
    #[inline(always)]
    fn hash_abcd(self, abcd: uint32x4_t, efgh: uint32x4_t, kw: uint32x4_t) -> uint32x4_t {
        // SAFETY: `self` proves the SHA2 instructions.
        unsafe { vsha256hq_u32(abcd, efgh, kw) }
    }

    /// Four rounds' new `[e, f, g, h]`, from the `[a, b, c, d]` before them.
    #[inline(always)]
    fn hash_efgh(self, efgh: uint32x4_t, abcd: uint32x4_t, kw: uint32x4_t) -> uint32x4_t {
        // SAFETY: `self` proves the SHA2 instructions.
        unsafe { vsha256h2q_u32(efgh, abcd, kw) }
    }

    /// W[i] + σ0(W[i + 1]) for the four words from W[i].
    #[inline(always)]
    fn schedule0(self, w0: uint32x4_t, w1: uint32x4_t) -> uint32x4_t {
        // SAFETY: `self` proves the SHA2 instructions.
        unsafe { vsha256su0q_u32(w0, w1) }
    }

    /// Completes four schedule words from `schedule0`'s part and the eight words before them.
    #[inline(always)]
    fn schedule1(self, part: uint32x4_t, w2: uint32x4_t, w3: uint32x4_t) -> uint32x4_t {
        // SAFETY: `self` proves the SHA2 instructions.
        unsafe { vsha256su1q_u32(part, w2, w3) }
    }
}

#[cfg(test)]
mod tests {
    // Without the `std` feature the crate is `no_std`, but its tests still run with std.
    extern crate std;
    use std::eprintln;

    use super::super::Backend;
    use super::*;

    #[test]
    fn matches_portable() {
        if !super::super::cpuid_sha2::get() {
            eprintln!("skipping: this CPU lacks the ARMv8 SHA2 instructions");
            return;
        }
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has the SHA2 instructions, checked just above.
            unsafe { scan_shared::<STREAMS>(pres, first, count, limit, out) }
        });
    }

    #[test]
    fn detected_where_the_cpu_has_it() {
        if !super::super::cpuid_sha2::get() {
            eprintln!("skipping: this CPU lacks the ARMv8 SHA2 instructions");
            return;
        }
        // Only `SHA256D_FORBID` may hide it, and then `check` says so.
        if Backend::ArmSha2.check().is_ok() {
            assert_eq!(Backend::detect(), Backend::ArmSha2);
        }
    }
}
