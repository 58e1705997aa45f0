//! SHA-NI nonce scan (x86-64 SHA extensions).
//!
//! `sha256rnds2` does two rounds, and the CPU can start one every cycle, but its result is
//! ready only four cycles later; one nonce's chain of rounds would leave the unit idle three
//! cycles in four. So the kernel hashes several nonces side by side ([`STREAM_CHOICES`]), each
//! with its own state and schedule, and the out-of-order core overlaps their chains. Otherwise it follows the
//! portable kernel: rounds 0..4 of the header's second block come from the [`Prehash`], rounds
//! whose message words are padding use K + W folded at compile time, schedule words that only
//! padding and the header tail feed are computed once per scan, and the second hash stops at
//! the `sha256rnds2` that yields its last state word.
//!
//! SHA-NI keeps the eight working variables in two vectors, ABEF = lanes `[f, e, b, a]` and
//! CDGH = `[h, g, d, c]`; message vectors hold W[i..i + 4] in lanes 0..4.

// Stream loops walk several per-stream arrays in step; indexing says that more plainly than
// zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::{
    small_s0, small_s1, Prehash, HASH_BITS, HASH_PAD_KW, HEADER_BITS, HEADER_PAD_KW, IV, K,
    PAD_WORD,
};
use alloc::vec::Vec;
use core::arch::x86_64::{
    __m128i, _mm_add_epi32, _mm_alignr_epi8, _mm_cvtsi128_si32, _mm_set_epi32,
    _mm_sha256msg1_epu32, _mm_sha256msg2_epu32, _mm_sha256rnds2_epu32, _mm_shuffle_epi32,
    _mm_unpackhi_epi64, _mm_unpacklo_epi64,
};

/// Nonces hashed side by side: one of these, whichever [`scan_fastest`] timed fastest. Two
/// streams cover `sha256rnds2`'s latency, but then the SHA unit still idles while `sha256msg2`
/// results come back; more streams keep it busier but spill, since these instructions only
/// reach xmm0..xmm15 and eight streams' states alone fill all sixteen. How much a spill costs
/// is the core's: on Zen 3 eight streams measured about 5% faster than four (ten or twelve some
/// 30% slower), on Zen 4 four measured about 1.4x eight (2 s bench rows, best of three).
const STREAM_CHOICES: [usize; 2] = [4, 8];

super::scan_entry!(ShaNi, "sha,sse2,ssse3,sse4.1", [const N: usize], |isa, pres, first, count, limit, out| {
    let jobs: Vec<Job> = pres.iter().map(|pre| Job::new(isa, pre)).collect();
    super::scan_grouped::<N, Job>(&jobs, first, count, limit, out)
});

/// [`scan_shared`] with the stream count that runs fastest on this CPU.
///
/// # Safety
/// The CPU must support sha, sse2, ssse3 and sse4.1.
pub(super) unsafe fn scan_fastest(
    pres: &[super::Prehash],
    first: u32,
    count: u32,
    limit: u32,
    out: &mut [Vec<u32>],
) {
    // SAFETY: the caller vouches for the CPU.
    unsafe { scan_streams(fastest_streams(), pres, first, count, limit, out) }
}

/// [`scan_shared`] with `STREAM_CHOICES[choice]` streams.
///
/// # Safety
/// The CPU must support sha, sse2, ssse3 and sse4.1.
unsafe fn scan_streams(
    choice: usize,
    pres: &[super::Prehash],
    first: u32,
    count: u32,
    limit: u32,
    out: &mut [Vec<u32>],
) {
    // SAFETY: the caller guarantees the CPU features both instances are compiled for.
    unsafe {
        if choice == 0 {
            scan_shared::<{ STREAM_CHOICES[0] }>(pres, first, count, limit, out)
        } else {
            scan_shared::<{ STREAM_CHOICES[1] }>(pres, first, count, limit, out)
        }
    }
}

/// The index in [`STREAM_CHOICES`] of the stream count that scans fastest here, timed once per
/// process (a few milliseconds: each choice several times, interleaved, keeping its quickest so
/// that a busy machine's preemptions do not decide).
#[cfg(feature = "std")]
fn fastest_streams() -> usize {
    static PICK: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *PICK.get_or_init(|| {
        let pre = [super::Prehash::new(&[0; 80])];
        let mut best = [std::time::Duration::MAX; STREAM_CHOICES.len()];
        for _ in 0..5 {
            for (choice, quickest) in best.iter_mut().enumerate() {
                let mut out = [Vec::with_capacity(4)];
                let start = std::time::Instant::now();
                // SAFETY: only called from `scan_fastest`, whose caller vouches for the CPU.
                // A limit of zero keeps candidates (and allocation) out of the timing.
                unsafe { scan_streams(choice, &pre, 0, 8192, 0, &mut out) };
                *quickest = (*quickest).min(start.elapsed());
            }
        }
        usize::from(best[1] < best[0])
    })
}

/// Without a clock, four streams: the smaller loss where it is not the faster (5% on Zen 3,
/// against some 30% the other way on Zen 4).
#[cfg(not(feature = "std"))]
fn fastest_streams() -> usize {
    0
}

/// The nonce-independent vectors of one scan.
struct Job {
    isa: ShaNi,
    /// Block-2 state entering round 4, less the nonce word added to `a` and `e`.
    abef4: __m128i,
    cdgh4: __m128i,
    /// W16..20 less the nonce's share: W18 = σ1(W16) + W2 + σ0(W3), W19 = σ1(W17) + σ0(W4) + W3.
    words16: __m128i,
    /// What `sha256msg2` turns into W20..24: W4 + σ0(W5) .. W7 + σ0(W8) plus W13..17.
    pre5: __m128i,
    /// W12 + σ0(W13) .. W15 + σ0(W16), which W28..32 need: only W16 is not padding.
    pre7: __m128i,
    /// The midstate, added to the block-2 state to give the first hash.
    mid_abef: __m128i,
    mid_cdgh: __m128i,
}

impl Job {
    #[inline(always)]
    fn new(isa: ShaNi, pre: &Prehash) -> Self {
        let [a3, b3, c3, _, e3, f3, g3, _] = pre.state3;
        let m = pre.midstate;
        Job {
            isa,
            abef4: isa.set([e3, pre.e4_base, a3, pre.a4_base]),
            cdgh4: isa.set([g3, f3, c3, b3]),
            words16: isa.set([
                pre.w16,
                pre.w17,
                small_s1(pre.w16).wrapping_add(pre.tail[2]),
                small_s1(pre.w17).wrapping_add(small_s0(PAD_WORD)),
            ]),
            pre5: isa.set([PAD_WORD, 0, HEADER_BITS, pre.w16]),
            pre7: isa.set([
                0,
                0,
                small_s0(HEADER_BITS),
                HEADER_BITS.wrapping_add(small_s0(pre.w16)),
            ]),
            mid_abef: isa.set([m[5], m[4], m[1], m[0]]),
            mid_cdgh: isa.set([m[7], m[6], m[3], m[2]]),
        }
    }
}

/// Two streams' worth of working state.
#[derive(Clone, Copy)]
struct State<const N: usize> {
    abef: [__m128i; N],
    cdgh: [__m128i; N],
}

impl<const N: usize> State<N> {
    /// Four rounds on every stream; `kw[s]` holds K + W for stream `s`.
    #[inline(always)]
    fn rounds(&mut self, isa: ShaNi, kw: [__m128i; N]) {
        for s in 0..N {
            self.cdgh[s] = isa.rnds2(self.cdgh[s], self.abef[s], kw[s]);
        }
        for s in 0..N {
            let hi = isa.high_pair(kw[s]);
            self.abef[s] = isa.rnds2(self.abef[s], self.cdgh[s], hi);
        }
    }

    /// Four rounds whose K + W is the same for every stream.
    #[inline(always)]
    fn padding_rounds(&mut self, isa: ShaNi, kw: [u32; 4]) {
        let lo = isa.set([kw[0], kw[1], 0, 0]);
        let hi = isa.set([kw[2], kw[3], 0, 0]);
        for s in 0..N {
            self.cdgh[s] = isa.rnds2(self.cdgh[s], self.abef[s], lo);
        }
        for s in 0..N {
            self.abef[s] = isa.rnds2(self.abef[s], self.cdgh[s], hi);
        }
    }

    /// Four rounds of block 2 from schedule row `q` (W[4q..4q + 4] per stream): the first
    /// version (`fill`) adds K and keeps the two pairs `sha256rnds2` reads in `kw`, so that the
    /// versions after it only load them, leaving the vector pipes, which the SHA unit shares,
    /// to `sha256rnds2`.
    #[inline(always)]
    fn block2_rounds(
        &mut self,
        isa: ShaNi,
        q: usize,
        row: &[__m128i; N],
        kw: &mut [[__m128i; N]; 2],
        fill: bool,
    ) {
        if fill {
            let k = isa.set([K[4 * q], K[4 * q + 1], K[4 * q + 2], K[4 * q + 3]]);
            for s in 0..N {
                let v = isa.add(row[s], k);
                kw[0][s] = v;
                kw[1][s] = isa.high_pair(v);
            }
        }
        for s in 0..N {
            self.cdgh[s] = isa.rnds2(self.cdgh[s], self.abef[s], kw[0][s]);
        }
        for s in 0..N {
            self.abef[s] = isa.rnds2(self.abef[s], self.cdgh[s], kw[1][s]);
        }
    }

    /// Four rounds with message words `w` (W[i..i + 4] per stream) from round `i`.
    #[inline(always)]
    fn rounds_with(&mut self, isa: ShaNi, i: usize, w: &[__m128i; N]) {
        let k = isa.set([K[i], K[i + 1], K[i + 2], K[i + 3]]);
        let mut kw = *w;
        for v in &mut kw {
            *v = isa.add(*v, k);
        }
        self.rounds(isa, kw);
    }
}

/// The next four schedule words of every stream from the four before them.
#[inline(always)]
fn expand<const N: usize>(
    isa: ShaNi,
    w0: &[__m128i; N],
    w1: &[__m128i; N],
    w2: &[__m128i; N],
    w3: &[__m128i; N],
) -> [__m128i; N] {
    let mut out = *w0;
    for s in 0..N {
        let part = isa.add(isa.msg1(w0[s], w1[s]), isa.alignr4(w3[s], w2[s]));
        out[s] = isa.msg2(part, w3[s]);
    }
    out
}

/// Block 2's schedule for `N` nonces: row `q` holds W[4q..4q + 4] of each stream (rows 4..16),
/// `kw[q - 4]` its K + W as `sha256rnds2`'s two operands, `w3` the nonce words. Only the
/// header's tail and the nonces feed it.
struct Schedule<const N: usize> {
    w3: [u32; N],
    x: [[__m128i; N]; 16],
    kw: [[[__m128i; N]; 2]; 12],
}

impl super::Streams for Job {
    type Schedule<const N: usize> = Schedule<N>;

    #[inline(always)]
    fn start<const N: usize>(&self, nonces: [u32; N]) -> Schedule<N> {
        Schedule {
            w3: nonces.map(u32::swap_bytes),
            x: [[self.words16; N]; 16],
            kw: [[[self.words16; N]; 2]; 12],
        }
    }

    /// The second hash's last state word, for `N` nonces at once.
    #[inline(always)]
    fn last_words<const N: usize>(&self, schedule: &mut Schedule<N>, fill: bool) -> [u32; N] {
        let (isa, job) = (self.isa, self);
        let Schedule { w3, x, kw } = schedule;
        let mut st = State {
            abef: [job.abef4; N],
            cdgh: [job.cdgh4; N],
        };
        for s in 0..N {
            st.abef[s] = isa.add(job.abef4, isa.set([0, w3[s], 0, w3[s]]));
        }
        // Block-2 schedule: the padding words 4..16 are folded into the job's vectors, and W9..13
        // being zero drops the add in front of the first three `sha256msg2`. W16..20 take the
        // nonce word in two scalar terms, which is cheaper than `sha256msg1` and `sha256msg2` on
        // the unit that `sha256rnds2` saturates.
        if fill {
            for s in 0..N {
                x[4][s] = isa.add(job.words16, isa.set([0, 0, small_s0(w3[s]), w3[s]]));
            }
        }
        for kw in HEADER_PAD_KW {
            st.padding_rounds(isa, kw);
        }
        st.block2_rounds(isa, 4, &x[4], &mut kw[0], fill);
        if fill {
            for s in 0..N {
                x[5][s] = isa.msg2(job.pre5, x[4][s]);
            }
        }
        st.block2_rounds(isa, 5, &x[5], &mut kw[1], fill);
        if fill {
            for s in 0..N {
                x[6][s] = isa.msg2(isa.alignr4(x[5][s], x[4][s]), x[5][s]);
            }
        }
        st.block2_rounds(isa, 6, &x[6], &mut kw[2], fill);
        if fill {
            for s in 0..N {
                let part = isa.add(job.pre7, isa.alignr4(x[6][s], x[5][s]));
                x[7][s] = isa.msg2(part, x[6][s]);
            }
        }
        st.block2_rounds(isa, 7, &x[7], &mut kw[3], fill);
        macro_rules! block2 {
            ($($q:literal)*) => {$(
                if fill {
                    x[$q] = expand(isa, &x[$q - 4], &x[$q - 3], &x[$q - 2], &x[$q - 1]);
                }
                st.block2_rounds(isa, $q, &x[$q], &mut kw[$q - 4], fill);
            )*};
        }
        block2!(8 9 10 11 12 13 14 15);

        // The first hash, in message order, is the second hash's W0..8.
        let mut y = [[job.words16; N]; 16];
        for s in 0..N {
            let abef = isa.add(st.abef[s], job.mid_abef);
            let cdgh = isa.add(st.cdgh[s], job.mid_cdgh);
            y[0][s] = isa.reverse(isa.unpack_hi(cdgh, abef));
            y[1][s] = isa.reverse(isa.unpack_lo(cdgh, abef));
        }
        let mut st = State {
            abef: [isa.set([IV[5], IV[4], IV[1], IV[0]]); N],
            cdgh: [isa.set([IV[7], IV[6], IV[3], IV[2]]); N],
        };
        st.rounds_with(isa, 0, &y[0]);
        st.rounds_with(isa, 4, &y[1]);
        for kw in HASH_PAD_KW {
            st.padding_rounds(isa, kw);
        }

        // Second-hash schedule: W8 = 0x80000000, W9..15 = 0, W15 = 256, folded as in block 2.
        let y2 = isa.set([PAD_WORD, 0, 0, 0]);
        let y3 = isa.set([0, 0, 0, HASH_BITS]);
        for s in 0..N {
            y[4][s] = isa.msg2(isa.msg1(y[0][s], y[1][s]), y3);
        }
        st.rounds_with(isa, 16, &y[4]);
        for s in 0..N {
            let part = isa.add(isa.msg1(y[1][s], y2), isa.alignr4(y[4][s], y3));
            y[5][s] = isa.msg2(part, y[4][s]);
        }
        st.rounds_with(isa, 20, &y[5]);
        for s in 0..N {
            // W8 + σ0(W9) .. W11 + σ0(W12) is just W8.
            let part = isa.add(y2, isa.alignr4(y[5][s], y[4][s]));
            y[6][s] = isa.msg2(part, y[5][s]);
        }
        st.rounds_with(isa, 24, &y[6]);
        for s in 0..N {
            let part = isa.add(isa.msg1(y3, y[4][s]), isa.alignr4(y[6][s], y[5][s]));
            y[7][s] = isa.msg2(part, y[6][s]);
        }
        st.rounds_with(isa, 28, &y[7]);
        macro_rules! hash2 {
            ($($q:literal)*) => {$(
                y[$q] = expand(isa, &y[$q - 4], &y[$q - 3], &y[$q - 2], &y[$q - 1]);
                st.rounds_with(isa, 4 * $q, &y[$q]);
            )*};
        }
        hash2!(8 9 10 11 12 13 14);
        y[15] = expand(isa, &y[11], &y[12], &y[13], &y[14]);

        // Rounds 60 and 61 leave round 60's e in lane f; rounds 62 and 63 would only carry it
        // into h, the last state word.
        let k = isa.set([K[60], K[61], 0, 0]);
        let mut h7 = [0; N];
        for s in 0..N {
            let abef = isa.rnds2(st.cdgh[s], st.abef[s], isa.add(y[15][s], k));
            h7[s] = IV[7].wrapping_add(isa.low_word(abef));
        }
        h7
    }
}

/// Proof that the CPU supports sha, sse2, ssse3 and sse4.1: only [`ShaNi::new`] makes one, and
/// its caller vouches for the CPU, so the intrinsic wrappers below are safe to call.
#[derive(Clone, Copy)]
struct ShaNi(());

impl ShaNi {
    /// # Safety
    /// The CPU must support sha, sse2, ssse3 and sse4.1.
    #[inline(always)]
    unsafe fn new() -> Self {
        ShaNi(())
    }

    /// A vector with `w[i]` in lane `i`.
    #[inline(always)]
    fn set(self, w: [u32; 4]) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_set_epi32(w[3] as i32, w[2] as i32, w[1] as i32, w[0] as i32) }
    }

    #[inline(always)]
    fn add(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_add_epi32(a, b) }
    }

    /// Lanes 2 and 3 moved to 0 and 1, where `sha256rnds2` reads its two K + W.
    #[inline(always)]
    fn high_pair(self, a: __m128i) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_shuffle_epi32::<0x0e>(a) }
    }

    /// Lanes in reverse order.
    #[inline(always)]
    fn reverse(self, a: __m128i) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_shuffle_epi32::<0x1b>(a) }
    }

    /// `[a2, a3, b2, b3]`.
    #[inline(always)]
    fn unpack_hi(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_unpackhi_epi64(a, b) }
    }

    /// `[a0, a1, b0, b1]`.
    #[inline(always)]
    fn unpack_lo(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_unpacklo_epi64(a, b) }
    }

    #[inline(always)]
    fn low_word(self, a: __m128i) -> u32 {
        // SAFETY: `self` proves SSE2.
        unsafe { _mm_cvtsi128_si32(a) as u32 }
    }

    /// `[b1, b2, b3, a0]`: the words seven back from a schedule vector's.
    #[inline(always)]
    fn alignr4(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves SSSE3.
        unsafe { _mm_alignr_epi8::<4>(a, b) }
    }

    /// Two rounds: CDGH and ABEF in, the new ABEF out (the old ABEF is the new CDGH).
    #[inline(always)]
    fn rnds2(self, cdgh: __m128i, abef: __m128i, kw: __m128i) -> __m128i {
        // SAFETY: `self` proves the SHA extensions.
        unsafe { _mm_sha256rnds2_epu32(cdgh, abef, kw) }
    }

    #[inline(always)]
    fn msg1(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves the SHA extensions.
        unsafe { _mm_sha256msg1_epu32(a, b) }
    }

    #[inline(always)]
    fn msg2(self, a: __m128i, b: __m128i) -> __m128i {
        // SAFETY: `self` proves the SHA extensions.
        unsafe { _mm_sha256msg2_epu32(a, b) }
    }
}

#[cfg(test)]
mod tests {
    // Without the `std` feature the crate is `no_std`, but its tests still run with std.
    extern crate std;
    use std::eprintln;

    use super::*;

    #[test]
    fn matches_portable() {
        if !super::super::cpuid_shani::get() {
            eprintln!("skipping: this CPU lacks the SHA extensions or SSE4.1");
            return;
        }
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has sha, sse2, ssse3 and sse4.1, checked just above.
            unsafe { scan_fastest(pres, first, count, limit, out) }
        });
    }

    /// The stream count is a tuning knob; every setting must stay correct, whichever this CPU
    /// picks.
    #[test]
    fn other_stream_counts_match_portable() {
        if !super::super::cpuid_shani::get() {
            eprintln!("skipping: this CPU lacks the SHA extensions or SSE4.1");
            return;
        }
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has sha, sse2, ssse3 and sse4.1, checked just above.
            unsafe { scan_shared::<2>(pres, first, count, limit, out) }
        });
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has sha, sse2, ssse3 and sse4.1, checked just above.
            unsafe { scan_shared::<3>(pres, first, count, limit, out) }
        });
        for choice in 0..STREAM_CHOICES.len() {
            super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
                // SAFETY: the CPU has sha, sse2, ssse3 and sse4.1, checked just above.
                unsafe { scan_streams(choice, pres, first, count, limit, out) }
            });
        }
    }
}
