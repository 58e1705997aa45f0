//! AVX2 nonce scan: eight nonces, one per 32-bit lane, through the [lane kernel](super::lanes).
//!
//! AVX2 has no rotate, so each one is two shifts and an or, and no three-input logic, so Ch,
//! Maj and the sigmas' XOR of three take the kernel's two-input forms; that, not the lane
//! count, is why this trails SHA-NI where both exist.

use super::lanes::{self, Lanes};
use core::arch::x86_64::{
    __m256i, _mm256_add_epi32, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpeq_epi32,
    _mm256_max_epu32, _mm256_movemask_ps, _mm256_or_si256, _mm256_set1_epi32, _mm256_set_epi32,
    _mm256_set_epi8, _mm256_shuffle_epi8, _mm256_sllv_epi32, _mm256_srlv_epi32, _mm256_xor_si256,
};

super::scan_entry!(Avx2, "avx2", [], |isa, pres, first, count, limit, out| {
    lanes::scan_with(isa, pres, first, count, limit, out)
});

type V = __m256i;

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
}

impl Lanes for Avx2 {
    const LANES: u32 = 8;
    type V = V;

    #[inline(always)]
    fn splat(self, x: u32) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_set1_epi32(x as i32) }
    }

    #[inline(always)]
    fn iota(self) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0) }
    }

    #[inline(always)]
    fn add(self, a: V, b: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_add_epi32(a, b) }
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

    /// Two shifts and an or. The shifts take their count as a vector, because stable Rust
    /// cannot write `32 - R` as an immediate; the count is a constant splat, which the compiler
    /// turns back into the immediate forms.
    #[inline(always)]
    fn ror<const R: u32>(self, a: V) -> V {
        let (right, left) = (self.splat(R), self.splat(32 - R));
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_or_si256(_mm256_srlv_epi32(a, right), _mm256_sllv_epi32(a, left)) }
    }

    #[inline(always)]
    fn shr<const N: u32>(self, a: V) -> V {
        // SAFETY: `self` proves AVX2.
        unsafe { _mm256_srlv_epi32(a, self.splat(N)) }
    }

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

    /// `max(a, b) == b`: AVX2 has no unsigned compare.
    #[inline(always)]
    fn at_most(self, valid: u32, a: V, b: V) -> u32 {
        // SAFETY: `self` proves AVX2.
        let lanes = unsafe {
            let le = _mm256_cmpeq_epi32(_mm256_max_epu32(a, b), b);
            _mm256_movemask_ps(_mm256_castsi256_ps(le)) as u32
        };
        lanes & valid
    }
}

#[cfg(test)]
mod tests {
    // Without the `std` feature the crate is `no_std`, but its tests still run with std.
    extern crate std;
    use std::eprintln;

    #[test]
    fn matches_portable() {
        if !super::super::cpuid_avx2::get() {
            eprintln!("skipping: this CPU lacks AVX2");
            return;
        }
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            // SAFETY: the CPU has avx2, checked just above.
            unsafe { super::scan_shared(pres, first, count, limit, out) }
        });
    }
}
