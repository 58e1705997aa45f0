//! AVX-512 nonce scan: sixteen nonces, one per 32-bit lane, through the
//! [lane kernel](super::lanes).
//!
//! What AVX-512F adds over AVX2 is twice the lanes, a rotate (`vprold`, one instruction where
//! AVX2 needs three) and three-input logic (`vpternlogd`), which computes Ch, Maj and each
//! sigma's three-way XOR in one instruction.
//!
//! The same kernel also runs on a plain-array model whose three-input logic is evaluated from
//! the truth-table byte: the tests check the truth tables and the sixteen-lane tail masks
//! against the portable kernel on any CPU, leaving only the one-line intrinsic wrappers to the
//! AVX-512 test.

use super::lanes::{self, Lanes};
use super::{ch, maj};
use core::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_and_si512, _mm512_mask_cmple_epu32_mask, _mm512_rorv_epi32,
    _mm512_set1_epi32, _mm512_setr_epi32, _mm512_srli_epi32, _mm512_ternarylogic_epi32,
    _mm512_xor_si512,
};

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

/// The [`Lanes`] methods that three-input logic does in one instruction, for an impl with an
/// inherent `logic::<TABLE>(a, b, c)`: the intrinsic wrapper and the test model share them.
macro_rules! ternary_logic {
    () => {
        #[inline(always)]
        fn xor3(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            self.logic::<XOR3>(a, b, c)
        }

        #[inline(always)]
        fn ch(self, e: Self::V, f: Self::V, g: Self::V) -> Self::V {
            self.logic::<CH>(e, f, g)
        }

        /// One instruction, so the carried `b ^ c` goes unused (and the compiler drops it).
        #[inline(always)]
        fn maj(self, a: Self::V, b: Self::V, c: Self::V, _bc: &mut Self::V) -> Self::V {
            self.logic::<MAJ>(a, b, c)
        }

        /// With rotates alone: AVX-512F has no byte shuffle, and this runs twice per vector,
        /// not per round. Ch is a bitwise select: bytes 0 and 2 from the left rotate, 1 and 3
        /// from the right.
        #[inline(always)]
        fn byte_swap(self, x: Self::V) -> Self::V {
            self.ch(self.splat(0x00ff_00ff), self.ror::<24>(x), self.ror::<8>(x))
        }
    };
}

super::scan_entry!(
    Avx512,
    "avx512f",
    [],
    |isa, pres, first, count, limit, out| { lanes::scan_with(isa, pres, first, count, limit, out) }
);

type V = __m512i;

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

    /// Bitwise `f(a, b, c)` for the function whose [`truth_table`] is `T`.
    #[inline(always)]
    fn logic<const T: i32>(self, a: V, b: V, c: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_ternarylogic_epi32::<T>(a, b, c) }
    }
}

impl Lanes for Avx512 {
    const LANES: u32 = 16;
    type V = V;

    #[inline(always)]
    fn splat(self, x: u32) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_set1_epi32(x as i32) }
    }

    #[inline(always)]
    fn iota(self) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15) }
    }

    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_add_epi32(a, b) }
    }

    #[inline(always)]
    fn xor(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_xor_si512(a, b) }
    }

    #[inline(always)]
    fn and(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_and_si512(a, b) }
    }

    /// `vprold`: the count goes in as a constant splat, which the compiler turns into the
    /// immediate form (stable Rust cannot pass `R` on as the intrinsic's `i32` immediate).
    #[inline(always)]
    fn ror<const R: u32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_rorv_epi32(a, self.splat(R)) }
    }

    #[inline(always)]
    fn shr<const N: u32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX-512F.
        unsafe { _mm512_srli_epi32::<N>(a) }
    }

    #[inline(always)]
    fn at_most(self, valid: u32, a: V, b: V) -> u32 {
        // Sixteen lanes, so `valid` has sixteen bits.
        // SAFETY: `self` proves AVX-512F.
        u32::from(unsafe { _mm512_mask_cmple_epu32_mask(valid as u16, a, b) })
    }

    ternary_logic!();
}

#[cfg(test)]
mod tests {
    // Without the `std` feature the crate is `no_std`, but its tests still run with std.
    extern crate std;
    use std::eprintln;

    use super::*;
    use crate::sha256::{testing, Backend};

    /// The kernel's lane logic on sixteen plain lanes, with three-input logic evaluated from
    /// the truth table bit by bit as the instruction defines it: runs on any CPU.
    #[derive(Clone, Copy)]
    struct Model;

    type M = [u32; 16];

    impl Model {
        fn logic<const T: i32>(self, a: M, b: M, c: M) -> M {
            // The OR of the minterms whose table bit is set: minterm `4a + 2b + c` is where
            // each operand's bits equal that index's bits.
            let pick = |x: u32, set: usize| if set != 0 { x } else { !x };
            core::array::from_fn(|i| {
                (0..8).filter(|m| T >> m & 1 != 0).fold(0, |out, m| {
                    out | pick(a[i], m & 4) & pick(b[i], m & 2) & pick(c[i], m & 1)
                })
            })
        }
    }

    impl Lanes for Model {
        const LANES: u32 = 16;
        type V = M;

        fn splat(self, x: u32) -> M {
            [x; 16]
        }

        fn iota(self) -> M {
            core::array::from_fn(|i| i as u32)
        }

        fn add(self, a: M, b: M) -> M {
            core::array::from_fn(|i| a[i].wrapping_add(b[i]))
        }

        fn xor(self, a: M, b: M) -> M {
            core::array::from_fn(|i| a[i] ^ b[i])
        }

        fn and(self, a: M, b: M) -> M {
            core::array::from_fn(|i| a[i] & b[i])
        }

        fn ror<const R: u32>(self, a: M) -> M {
            a.map(|x| x.rotate_right(R))
        }

        fn shr<const N: u32>(self, a: M) -> M {
            a.map(|x| x >> N)
        }

        fn at_most(self, valid: u32, a: M, b: M) -> u32 {
            (0..16).fold(0, |out, i| out | u32::from(a[i] <= b[i]) << i) & valid
        }

        ternary_logic!();
    }

    #[test]
    fn truth_tables_are_the_documented_bytes() {
        // The tables Intel's manual and every SHA-256 AVX-512 kernel use: from the scalar
        // functions, they must come out the same.
        assert_eq!([CH, MAJ, XOR3], [0xca, 0xe8, 0x96]);
    }

    #[test]
    fn model_of_the_lane_logic_matches_portable() {
        // The model evaluates every bit of every truth table: slow, so fewer version counts.
        testing::shared_matches_portable_for(&[1, 3], |pres, first, count, limit, out| {
            lanes::scan_with(Model, pres, first, count, limit, out)
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
        testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has avx512f, checked just above.
            unsafe { scan_shared(pres, first, count, limit, out) }
        });
    }
}
