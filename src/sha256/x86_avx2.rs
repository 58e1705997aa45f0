//! AVX2 nonce scan: eight nonces, one per 32-bit lane, through the portable kernel's steps.
//!
//! The code reads like `portable.rs` with `u32` replaced by a vector of eight: the same
//! rotating state slots, the same rounds from 4 on with the [`Prehash`] supplying rounds 0..4,
//! padding words as literals (so the compiler folds every term they feed, as it does for the
//! scalar code), and the second hash stopping at round 60's new `e`. AVX2 has no rotate, so each
//! one is two shifts and an or; that, not the lane count, is why this trails SHA-NI.

use super::{Prehash, HASH_BITS, HEADER_BITS, IV, K, PAD_WORD};
use alloc::vec::Vec;
use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpeq_epi32,
    _mm256_max_epu32, _mm256_movemask_ps, _mm256_or_si256, _mm256_set1_epi32, _mm256_set_epi32,
    _mm256_set_epi8, _mm256_shuffle_epi8, _mm256_slli_epi32, _mm256_srli_epi32, _mm256_xor_si256,
};

/// Nonces per vector.
const LANES: u32 = 8;

pub(super) unsafe fn scan(pre: &Prehash, first: u32, count: u32, limit: u32, out: &mut Vec<u32>) {
    // SAFETY: the caller guarantees that the CPU supports avx2.
    let isa = unsafe { Avx2::new() };
    // SAFETY: `isa` exists, so the CPU has avx2, which `scan_lanes` enables.
    unsafe { scan_lanes(isa, pre, first, count, limit, out) }
}

#[target_feature(enable = "avx2")]
unsafe fn scan_lanes(
    isa: Avx2,
    pre: &Prehash,
    first: u32,
    count: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    let lane = isa.set([0, 1, 2, 3, 4, 5, 6, 7]);
    let limit_v = isa.splat(limit);
    let mut done = 0;
    while done < count {
        // Lanes past the range's end hash nonces that may wrap past 2^32; `valid` drops them.
        let base = first + done;
        let left = count - done;
        let valid = if left >= LANES { 0xff } else { (1 << left) - 1 };
        let h7 = last_words(isa, pre, isa.add(isa.splat(base), lane));
        let top = isa.byte_swap(h7);
        let hits = isa.lanes_equal(isa.max_u32(top, limit_v), limit_v) & valid;
        let mut bits = hits;
        while bits != 0 {
            out.push(base + bits.trailing_zeros());
            bits &= bits - 1;
        }
        done += LANES.min(left);
    }
}

type V = __m256i;

/// Expands `$body!(i)` for each listed index, keeping indices literal so that every array
/// access and padding word below resolves at compile time.
macro_rules! each {
    ($body:ident; $($i:literal)*) => { $( $body!($i); )* };
}

/// One round on a state array whose roles rotate, as in the portable kernel: at round `i`,
/// role `r` (0 = a .. 7 = h) lives in slot `(r - i) mod 8`.
#[inline(always)]
fn round(isa: Avx2, s: &mut [V; 8], i: usize, kw: V) {
    let slot = |role: usize| (role + 64 - i) % 8;
    let (a, b, c) = (s[slot(0)], s[slot(1)], s[slot(2)]);
    let (e, f, g) = (s[slot(4)], s[slot(5)], s[slot(6)]);
    let t1 = isa.add4(s[slot(7)], isa.big_s1(e), isa.ch(e, f, g), kw);
    s[slot(3)] = isa.add(s[slot(3)], t1);
    s[slot(7)] = isa.add(t1, isa.add(isa.big_s0(a), isa.maj(a, b, c)));
}

#[inline(always)]
fn expand(isa: Avx2, w: &mut [V; 64], i: usize) {
    w[i] = isa.add4(
        isa.small_s1(w[i - 2]),
        w[i - 7],
        isa.small_s0(w[i - 15]),
        w[i - 16],
    );
}

/// The second hash's last state word for the eight nonces in `nonces`.
#[inline(always)]
fn last_words(isa: Avx2, pre: &Prehash, nonces: V) -> V {
    let w3 = isa.byte_swap(nonces);
    let zero = isa.splat(0);
    let mut w = [zero; 64];
    for (wi, t) in w.iter_mut().zip(pre.tail) {
        *wi = isa.splat(t);
    }
    w[3] = w3;
    w[4] = isa.splat(PAD_WORD);
    w[15] = isa.splat(HEADER_BITS);
    w[16] = isa.splat(pre.w16);
    w[17] = isa.splat(pre.w17);
    macro_rules! sched {
        ($i:literal) => {
            expand(isa, &mut w, $i)
        };
    }
    each!(sched; 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43
        44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63);

    // State entering round 4, laid out for `round(.., 4, ..)`: role r in slot (r - 4) mod 8.
    let [a3, b3, c3, _, e3, f3, g3, _] = pre.state3.map(|x| isa.splat(x));
    let mut s = [
        isa.add(isa.splat(pre.e4_base), w3),
        e3,
        f3,
        g3,
        isa.add(isa.splat(pre.a4_base), w3),
        a3,
        b3,
        c3,
    ];
    macro_rules! block2 {
        ($i:literal) => {
            round(isa, &mut s, $i, isa.add(isa.splat(K[$i]), w[$i]))
        };
    }
    each!(block2; 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
        61 62 63);

    // The first hash is midstate + s, and the first half of the second hash's message.
    let mut v = [zero; 64];
    for i in 0..8 {
        v[i] = isa.add(isa.splat(pre.midstate[i]), s[i]);
    }
    v[8] = isa.splat(PAD_WORD);
    v[15] = isa.splat(HASH_BITS);
    macro_rules! sched2 {
        ($i:literal) => {
            expand(isa, &mut v, $i)
        };
    }
    each!(sched2; 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41
        42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60);

    let mut t = IV.map(|x| isa.splat(x));
    macro_rules! hash2 {
        ($i:literal) => {
            round(isa, &mut t, $i, isa.add(isa.splat(K[$i]), v[$i]))
        };
    }
    each!(hash2; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29
        30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
        59);
    // Round 60 only for its new e, which three more rounds would carry into h unchanged.
    let slot = |role: usize| (role + 64 - 60) % 8;
    let (e, f, g) = (t[slot(4)], t[slot(5)], t[slot(6)]);
    let kw = isa.add(isa.splat(K[60]), v[60]);
    let t1 = isa.add4(t[slot(7)], isa.big_s1(e), isa.ch(e, f, g), kw);
    isa.add(isa.splat(IV[7]), isa.add(t[slot(3)], t1))
}

/// Proof that the CPU supports AVX2: only [`Avx2::new`] makes one, and its caller vouches for
/// the CPU, so the intrinsic wrappers below are safe to call.
#[derive(Clone, Copy)]
struct Avx2(());

impl Avx2 {
    /// # Safety
    /// The CPU must support avx2.
    #[inline(always)]
    unsafe fn new() -> Self {
        Avx2(())
    }

    #[inline(always)]
    fn splat(self, x: u32) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_set1_epi32(x as i32) }
    }

    /// A vector with `w[i]` in lane `i`.
    #[inline(always)]
    fn set(self, w: [u32; 8]) -> V {
        let w = w.map(|x| x as i32);
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_set_epi32(w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0]) }
    }

    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_add_epi32(a, b) }
    }

    /// Pairs up the adds so the four terms form a tree, not a chain.
    #[inline(always)]
    fn add4(self, a: V, b: V, c: V, d: V) -> V {
        self.add(self.add(a, b), self.add(c, d))
    }

    #[inline(always)]
    fn xor(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_xor_si256(a, b) }
    }

    #[inline(always)]
    fn and(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_and_si256(a, b) }
    }

    #[inline(always)]
    fn or(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_or_si256(a, b) }
    }

    #[inline(always)]
    fn shr<const N: i32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_srli_epi32::<N>(a) }
    }

    /// Rotate right by `R`; `L` must be `32 - R` (stable Rust cannot compute it here).
    #[inline(always)]
    fn ror<const R: i32, const L: i32>(self, a: V) -> V {
        const { assert!(R + L == 32) };
        // SAFETY: `self` proves AVX2.
        self.or(self.shr::<R>(a), unsafe { _mm256_slli_epi32::<L>(a) })
    }

    #[inline(always)]
    fn big_s0(self, x: V) -> V {
        let r = self.xor(self.ror::<2, 30>(x), self.ror::<13, 19>(x));
        self.xor(r, self.ror::<22, 10>(x))
    }

    #[inline(always)]
    fn big_s1(self, x: V) -> V {
        let r = self.xor(self.ror::<6, 26>(x), self.ror::<11, 21>(x));
        self.xor(r, self.ror::<25, 7>(x))
    }

    #[inline(always)]
    fn small_s0(self, x: V) -> V {
        let r = self.xor(self.ror::<7, 25>(x), self.ror::<18, 14>(x));
        self.xor(r, self.shr::<3>(x))
    }

    #[inline(always)]
    fn small_s1(self, x: V) -> V {
        let r = self.xor(self.ror::<17, 15>(x), self.ror::<19, 13>(x));
        self.xor(r, self.shr::<10>(x))
    }

    #[inline(always)]
    fn ch(self, e: V, f: V, g: V) -> V {
        self.xor(g, self.and(e, self.xor(f, g)))
    }

    #[inline(always)]
    fn maj(self, a: V, b: V, c: V) -> V {
        self.or(self.and(a, b), self.and(c, self.or(a, b)))
    }

    /// Each lane's bytes reversed: SHA-256's big-endian words from little-endian ones.
    #[inline(always)]
    fn byte_swap(self, a: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe {
            let order = _mm256_set_epi8(
                12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11,
                4, 5, 6, 7, 0, 1, 2, 3,
            );
            _mm256_shuffle_epi8(a, order)
        }
    }

    /// Unsigned lane-wise maximum.
    #[inline(always)]
    fn max_u32(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_max_epu32(a, b) }
    }

    /// Bit `i` set where lane `i` of `a` equals lane `i` of `b`.
    #[inline(always)]
    fn lanes_equal(self, a: V, b: V) -> u32 {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(a, b))) as u32 }
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
        if !super::super::cpuid_avx2::get() {
            eprintln!("skipping: this CPU lacks AVX2");
            return;
        }
        super::super::testing::matches_portable(|pre, first, count, limit, out| {
            // SAFETY: the CPU has avx2, checked just above.
            unsafe { scan(pre, first, count, limit, out) }
        });
    }
}
