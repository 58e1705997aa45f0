//! AVX-512 nonce scan: sixteen nonces, one per 32-bit lane, through the portable kernel's steps.
//!
//! The structure is the AVX2 kernel's with twice the lanes: the same rotating state slots, the
//! same rounds from 4 on with the [`Prehash`] supplying rounds 0..4, padding words as literals
//! (so the compiler folds every term they feed), and the second hash stopping at round 60's new
//! `e`. What AVX-512F adds is a rotate (`vprold`, one instruction where AVX2 needs three) and
//! three-input logic (`vpternlogd`), which computes Ch, Maj and each sigma's three-way XOR in one
//! instruction.
//!
//! The kernel is written against [`Lanes`], so the same code also runs on a plain-array model
//! whose three-input logic is evaluated from the truth-table byte: the tests check the schedule,
//! the rotate amounts, the truth tables and the tail masks against the portable kernel on any
//! CPU, leaving only the one-line intrinsic wrappers to the AVX-512 test.

use super::{ch, maj, Prehash, HASH_BITS, HEADER_BITS, IV, K, PAD_WORD};
use alloc::vec::Vec;
use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_mask_cmple_epu32_mask, _mm512_ror_epi32, _mm512_set1_epi32,
    _mm512_setr_epi32, _mm512_srli_epi32, _mm512_ternarylogic_epi32,
};

/// Nonces per vector.
const LANES: u32 = 16;

/// The operands whose bits enumerate a `vpternlogd` truth table: bit `4a + 2b + c` of the
/// table is `f(a, b, c)`, and bit `i` of `TA`, `TB`, `TC` is bit 2, 1, 0 of `i`. So a bitwise
/// `f` evaluated on them is its own table, and the tables below come from the scalar functions
/// rather than from hand-written bytes.
const TA: u32 = 0xf0;
/// See [`TA`].
const TB: u32 = 0xcc;
/// See [`TA`].
const TC: u32 = 0xaa;

const fn truth_table(f_of_ta_tb_tc: u32) -> i32 {
    (f_of_ta_tb_tc & 0xff) as i32
}

/// `ch(e, f, g)` with `e, f, g` as the operands in that order.
const CH: i32 = truth_table(ch(TA, TB, TC));
/// `maj(a, b, c)`.
const MAJ: i32 = truth_table(maj(TA, TB, TC));
/// `x ^ y ^ z`.
const XOR3: i32 = truth_table(TA ^ TB ^ TC);

pub(super) unsafe fn scan(pre: &Prehash, first: u32, count: u32, limit: u32, out: &mut Vec<u32>) {
    // SAFETY: the caller guarantees that the CPU supports avx512f.
    let isa = unsafe { Avx512::new() };
    // SAFETY: `isa` exists, so the CPU has avx512f, which `scan_lanes` enables.
    unsafe { scan_lanes(isa, pre, first, count, limit, out) }
}

#[target_feature(enable = "avx512f")]
unsafe fn scan_lanes(
    isa: Avx512,
    pre: &Prehash,
    first: u32,
    count: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    scan_with(isa, pre, first, count, limit, out);
}

/// The scan loop for any [`Lanes`]: whole vectors, the last one masked to the range's end.
#[inline(always)]
fn scan_with<L: Lanes>(
    isa: L,
    pre: &Prehash,
    first: u32,
    count: u32,
    limit: u32,
    out: &mut Vec<u32>,
) {
    let lane = isa.set(core::array::from_fn(|i| i as u32));
    let limit_v = isa.splat(limit);
    let mut done = 0;
    while done < count {
        // Lanes past the range's end hash nonces that may wrap past 2^32; the mask drops them.
        let base = first + done;
        let left = count - done;
        let valid = if left >= LANES {
            u16::MAX
        } else {
            (1 << left) - 1
        };
        let h7 = last_words(isa, pre, isa.add(isa.splat(base), lane));
        let mut bits = isa.at_most(valid, isa.byte_swap(h7), limit_v);
        while bits != 0 {
            out.push(base + bits.trailing_zeros());
            bits &= bits - 1;
        }
        done += LANES.min(left);
    }
}

/// The operations the kernel needs on sixteen 32-bit lanes.
trait Lanes: Copy {
    type V: Copy;
    fn splat(self, x: u32) -> Self::V;
    /// A vector with `w[i]` in lane `i`.
    fn set(self, w: [u32; 16]) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn ror<const R: i32>(self, a: Self::V) -> Self::V;
    fn shr<const N: u32>(self, a: Self::V) -> Self::V;
    /// Bitwise `f(a, b, c)` for the function whose [`truth_table`] is `T`.
    fn logic<const T: i32>(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Bit `i` set where bit `i` of `valid` is and lane `i` of `a` is at most that of `b`,
    /// unsigned.
    fn at_most(self, valid: u16, a: Self::V, b: Self::V) -> u16;

    /// Pairs up the adds so the four terms form a tree, not a chain.
    #[inline(always)]
    fn add4(self, a: Self::V, b: Self::V, c: Self::V, d: Self::V) -> Self::V {
        self.add(self.add(a, b), self.add(c, d))
    }

    #[inline(always)]
    fn big_s0(self, x: Self::V) -> Self::V {
        self.logic::<XOR3>(self.ror::<2>(x), self.ror::<13>(x), self.ror::<22>(x))
    }

    #[inline(always)]
    fn big_s1(self, x: Self::V) -> Self::V {
        self.logic::<XOR3>(self.ror::<6>(x), self.ror::<11>(x), self.ror::<25>(x))
    }

    #[inline(always)]
    fn small_s0(self, x: Self::V) -> Self::V {
        self.logic::<XOR3>(self.ror::<7>(x), self.ror::<18>(x), self.shr::<3>(x))
    }

    #[inline(always)]
    fn small_s1(self, x: Self::V) -> Self::V {
        self.logic::<XOR3>(self.ror::<17>(x), self.ror::<19>(x), self.shr::<10>(x))
    }

    /// Each lane's bytes reversed (SHA-256's big-endian words from little-endian ones), with
    /// rotates alone: AVX-512F has no byte shuffle, and this runs twice per vector, not per
    /// round.
    #[inline(always)]
    fn byte_swap(self, x: Self::V) -> Self::V {
        // Ch is a bitwise select: bytes 0 and 2 from the left rotate, 1 and 3 from the right.
        self.logic::<CH>(self.splat(0x00ff_00ff), self.ror::<24>(x), self.ror::<8>(x))
    }
}

type V = __m512i;

/// Expands `$body!(i)` for each listed index, keeping indices literal so that every array
/// access and padding word below resolves at compile time.
macro_rules! each {
    ($body:ident; $($i:literal)*) => { $( $body!($i); )* };
}

/// One round on a state array whose roles rotate, as in the portable kernel: at round `i`,
/// role `r` (0 = a .. 7 = h) lives in slot `(r - i) mod 8`.
#[inline(always)]
fn round<L: Lanes>(isa: L, s: &mut [L::V; 8], i: usize, kw: L::V) {
    let slot = |role: usize| (role + 64 - i) % 8;
    let (a, b, c) = (s[slot(0)], s[slot(1)], s[slot(2)]);
    let (e, f, g) = (s[slot(4)], s[slot(5)], s[slot(6)]);
    let t1 = isa.add4(s[slot(7)], isa.big_s1(e), isa.logic::<CH>(e, f, g), kw);
    s[slot(3)] = isa.add(s[slot(3)], t1);
    s[slot(7)] = isa.add(t1, isa.add(isa.big_s0(a), isa.logic::<MAJ>(a, b, c)));
}

#[inline(always)]
fn expand<L: Lanes>(isa: L, w: &mut [L::V; 64], i: usize) {
    w[i] = isa.add4(
        isa.small_s1(w[i - 2]),
        w[i - 7],
        isa.small_s0(w[i - 15]),
        w[i - 16],
    );
}

/// The second hash's last state word for the sixteen nonces in `nonces`.
#[inline(always)]
fn last_words<L: Lanes>(isa: L, pre: &Prehash, nonces: L::V) -> L::V {
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
    let t1 = isa.add4(t[slot(7)], isa.big_s1(e), isa.logic::<CH>(e, f, g), kw);
    isa.add(isa.splat(IV[7]), isa.add(t[slot(3)], t1))
}

/// Proof that the CPU supports AVX-512F: only [`Avx512::new`] makes one, and its caller vouches
/// for the CPU, so the intrinsic wrappers below are safe to call.
#[derive(Clone, Copy)]
struct Avx512(());

impl Avx512 {
    /// # Safety
    /// The CPU must support avx512f.
    #[inline(always)]
    unsafe fn new() -> Self {
        Avx512(())
    }
}

impl Lanes for Avx512 {
    type V = V;

    #[inline(always)]
    fn splat(self, x: u32) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_set1_epi32(x as i32) }
    }

    #[inline(always)]
    fn set(self, w: [u32; 16]) -> V {
        let w = w.map(|x| x as i32);
        // SAFETY: `self` proves AVX-512F.
        unsafe {
            _mm512_setr_epi32(
                w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11], w[12],
                w[13], w[14], w[15],
            )
        }
    }

    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_add_epi32(a, b) }
    }

    #[inline(always)]
    fn ror<const R: i32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_ror_epi32::<R>(a) }
    }

    #[inline(always)]
    fn shr<const N: u32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_srli_epi32::<N>(a) }
    }

    #[inline(always)]
    fn logic<const T: i32>(self, a: V, b: V, c: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_ternarylogic_epi32::<T>(a, b, c) }
    }

    #[inline(always)]
    fn at_most(self, valid: u16, a: V, b: V) -> u16 {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_mask_cmple_epu32_mask(valid, a, b) }
    }
}

#[cfg(test)]
mod tests {
    // Without the `std` feature the crate is `no_std`, but its tests still run with std.
    extern crate std;
    use std::eprintln;

    use super::*;
    use crate::sha256::{testing, Backend};

    /// The kernel's lane logic on plain arrays, with three-input logic evaluated from the truth
    /// table bit by bit as the instruction defines it: runs on any CPU.
    #[derive(Clone, Copy)]
    struct Model;

    impl Lanes for Model {
        type V = [u32; 16];

        fn splat(self, x: u32) -> [u32; 16] {
            [x; 16]
        }

        fn set(self, w: [u32; 16]) -> [u32; 16] {
            w
        }

        fn add(self, a: [u32; 16], b: [u32; 16]) -> [u32; 16] {
            core::array::from_fn(|i| a[i].wrapping_add(b[i]))
        }

        fn ror<const R: i32>(self, a: [u32; 16]) -> [u32; 16] {
            a.map(|x| x.rotate_right(R as u32))
        }

        fn shr<const N: u32>(self, a: [u32; 16]) -> [u32; 16] {
            a.map(|x| x >> N)
        }

        fn logic<const T: i32>(self, a: [u32; 16], b: [u32; 16], c: [u32; 16]) -> [u32; 16] {
            // The OR of the minterms whose table bit is set: minterm `4a + 2b + c` is where
            // each operand's bits equal that index's bits.
            let pick = |x: u32, set: usize| if set != 0 { x } else { !x };
            core::array::from_fn(|i| {
                (0..8).filter(|m| T >> m & 1 != 0).fold(0, |out, m| {
                    out | pick(a[i], m & 4) & pick(b[i], m & 2) & pick(c[i], m & 1)
                })
            })
        }

        fn at_most(self, valid: u16, a: [u32; 16], b: [u32; 16]) -> u16 {
            (0..16).fold(0, |out, i| out | u16::from(a[i] <= b[i]) << i) & valid
        }
    }

    #[test]
    fn truth_tables_are_the_documented_bytes() {
        // The tables Intel's manual and every SHA-256 AVX-512 kernel use: from the scalar
        // functions, they must come out the same.
        assert_eq!([CH, MAJ, XOR3], [0xca, 0xe8, 0x96]);
    }

    #[test]
    fn model_of_the_lane_logic_matches_portable() {
        testing::matches_portable(|pre, first, count, limit, out| {
            scan_with(Model, pre, first, count, limit, out)
        });
    }

    #[test]
    fn detect_prefers_avx512_where_it_runs() {
        if Backend::Avx512.check().is_ok() {
            assert_eq!(Backend::detect(), Backend::Avx512);
        }
    }

    #[test]
    fn matches_portable() {
        if !super::super::cpuid_avx512::get() {
            eprintln!("skipping: this CPU lacks AVX-512F");
            return;
        }
        testing::matches_portable(|pre, first, count, limit, out| {
            // SAFETY: the CPU has avx512f, checked just above.
            unsafe { scan(pre, first, count, limit, out) }
        });
    }
}
