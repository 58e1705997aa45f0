//! The lane kernel: one nonce per 32-bit lane, through the portable kernel's steps, written once
//! against [`Lanes`] and run on AVX2, AVX-512, plain scalars and the instruction counter.
//!
//! It keeps the portable kernel's shortcuts: rounds 0..4 of the header's second block come from
//! the [`Prehash`], the padding words are literals (so the compiler folds every term they feed),
//! and the second hash stops at round 60's new `e`. Unlike the portable kernel it expands the
//! whole block-2 schedule before the rounds, because that schedule is what rolled versions
//! share: headers that differ only in their version have the same bytes 64..80, so one
//! expansion (with K added) serves every version's rounds, and only the rounds and the second
//! hash run once per version. (Expanding it between the first version's rounds instead was no
//! faster on AVX-512.) The second hash's schedule is each version's own, so it expands each
//! word just before its round, as the portable kernel does: on AVX-512 (Zen 4) that ran 4-5%
//! faster than expanding the whole of it first.

use super::{Prehash, HASH_BITS, HEADER_BITS, IV, K, PAD_WORD};
use alloc::vec::Vec;

/// The operations the kernel needs on a vector of 32-bit lanes. Ch, Maj and the sigmas' XOR of
/// three default to two-input logic; an instruction set with three-input logic overrides them.
pub(super) trait Lanes: Copy {
    /// Nonces per vector, at most 32.
    const LANES: u32;
    type V: Copy;

    fn splat(self, x: u32) -> Self::V;
    /// Lane `i` holds `i`.
    fn iota(self) -> Self::V;
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    fn xor(self, a: Self::V, b: Self::V) -> Self::V;
    fn and(self, a: Self::V, b: Self::V) -> Self::V;
    fn ror<const R: u32>(self, a: Self::V) -> Self::V;
    fn shr<const N: u32>(self, a: Self::V) -> Self::V;
    /// Each lane's bytes reversed: SHA-256's big-endian words from little-endian ones.
    fn byte_swap(self, a: Self::V) -> Self::V;
    /// Bit `i` set where bit `i` of `valid` is and lane `i` of `a` is at most that of `b`,
    /// unsigned.
    fn at_most(self, valid: u32, a: Self::V, b: Self::V) -> u32;

    #[inline(always)]
    fn xor3(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        two_input::xor3(self, a, b, c)
    }

    #[inline(always)]
    fn ch(self, e: Self::V, f: Self::V, g: Self::V) -> Self::V {
        two_input::ch(self, e, f, g)
    }

    /// Maj(a, b, c), where `bc` holds `b ^ c` on entry and `a ^ b` on return: that is the next
    /// round's `b ^ c`, which makes the two-input form three operations, not four.
    #[inline(always)]
    fn maj(self, a: Self::V, b: Self::V, _c: Self::V, bc: &mut Self::V) -> Self::V {
        two_input::maj(self, a, b, bc)
    }

    /// Pairs up the adds so the four terms form a tree, not a chain.
    #[inline(always)]
    fn add4(self, a: Self::V, b: Self::V, c: Self::V, d: Self::V) -> Self::V {
        self.add(self.add(a, b), self.add(c, d))
    }

    #[inline(always)]
    fn big_s0(self, x: Self::V) -> Self::V {
        self.xor3(self.ror::<2>(x), self.ror::<13>(x), self.ror::<22>(x))
    }

    #[inline(always)]
    fn big_s1(self, x: Self::V) -> Self::V {
        self.xor3(self.ror::<6>(x), self.ror::<11>(x), self.ror::<25>(x))
    }

    #[inline(always)]
    fn small_s0(self, x: Self::V) -> Self::V {
        self.xor3(self.ror::<7>(x), self.ror::<18>(x), self.shr::<3>(x))
    }

    #[inline(always)]
    fn small_s1(self, x: Self::V) -> Self::V {
        self.xor3(self.ror::<17>(x), self.ror::<19>(x), self.shr::<10>(x))
    }
}

/// [`Lanes`]' default Ch, Maj and XOR of three, for impls that choose between them and their
/// own.
pub(super) mod two_input {
    use super::Lanes;

    #[inline(always)]
    pub(in super::super) fn xor3<L: Lanes>(isa: L, a: L::V, b: L::V, c: L::V) -> L::V {
        isa.xor(isa.xor(a, b), c)
    }

    #[inline(always)]
    pub(in super::super) fn ch<L: Lanes>(isa: L, e: L::V, f: L::V, g: L::V) -> L::V {
        isa.xor(g, isa.and(e, isa.xor(f, g)))
    }

    /// See [`Lanes::maj`]; `c` enters only through `bc`.
    #[inline(always)]
    pub(in super::super) fn maj<L: Lanes>(isa: L, a: L::V, b: L::V, bc: &mut L::V) -> L::V {
        let ab = isa.xor(a, b);
        let m = isa.xor(b, isa.and(ab, *bc));
        *bc = ab;
        m
    }
}

/// Expands `$body!(i)` for each listed index, keeping indices literal so that every array
/// access and padding word below resolves at compile time.
macro_rules! each {
    ($body:ident; $($i:literal)*) => { $( $body!($i); )* };
}

/// Scans `first..first + count` (at most 2^32) for every version in `pres` at once: `out[k]`
/// gets `pres[k]`'s candidates, ascending. The headers must differ only in their version (same
/// `tail`); whole vectors first, the last one masked to the range's end.
#[inline(always)]
pub(super) fn scan_with<L: Lanes>(
    isa: L,
    pres: &[Prehash],
    first: u32,
    count: u32,
    limit: u32,
    out: &mut [Vec<u32>],
) {
    let Some(tail) = pres.first() else { return };
    let lane = isa.iota();
    let limit_v = isa.splat(limit);
    let all = u32::MAX >> (32 - L::LANES);
    let mut done = 0;
    while done < count {
        // Lanes past the range's end hash nonces that may wrap past 2^32; `valid` drops them.
        let base = first + done;
        let left = count - done;
        let valid = if left >= L::LANES {
            all
        } else {
            (1 << left) - 1
        };
        let kw = schedule(isa, tail, isa.add(isa.splat(base), lane));
        for (pre, out) in pres.iter().zip(out.iter_mut()) {
            let h7 = last_word(isa, pre, &kw);
            let mut bits = isa.at_most(valid, isa.byte_swap(h7), limit_v);
            while bits != 0 {
                out.push(base + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
        done += L::LANES.min(left);
    }
}

/// One round on a state array whose roles rotate, as in the portable kernel: at round `i`,
/// role `r` (0 = a .. 7 = h) lives in slot `(r - i) mod 8`.
#[inline(always)]
pub(super) fn round<L: Lanes>(isa: L, s: &mut [L::V; 8], bc: &mut L::V, i: usize, kw: L::V) {
    let slot = |role: usize| (role + 64 - i) % 8;
    let (a, b, c) = (s[slot(0)], s[slot(1)], s[slot(2)]);
    let (e, f, g) = (s[slot(4)], s[slot(5)], s[slot(6)]);
    let t1 = isa.add4(s[slot(7)], isa.big_s1(e), isa.ch(e, f, g), kw);
    s[slot(3)] = isa.add(s[slot(3)], t1);
    s[slot(7)] = isa.add(t1, isa.add(isa.big_s0(a), isa.maj(a, b, c, bc)));
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

/// Block 2's message schedule for a vector of nonces, with K added: entry `i` is K[i] + W[i],
/// except entry 3, which is W3 itself (the byte-swapped nonce), as round 3 comes from the
/// prehash and needs the bare word. Only the header's tail and the nonce feed it, so every
/// version of the header shares it.
#[inline(always)]
pub(super) fn schedule<L: Lanes>(isa: L, pre: &Prehash, nonces: L::V) -> [L::V; 64] {
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
    let mut kw = w;
    macro_rules! plus_k {
        ($i:literal) => {
            kw[$i] = isa.add(isa.splat(K[$i]), w[$i])
        };
    }
    each!(plus_k; 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
        61 62 63);
    kw
}

/// The second hash's last state word for one version's prehash and a vector of nonces whose
/// [`schedule`] is `kw`.
#[inline(always)]
pub(super) fn last_word<L: Lanes>(isa: L, pre: &Prehash, kw: &[L::V; 64]) -> L::V {
    // State entering round 4, laid out for `round(.., 4, ..)`: role r in slot (r - 4) mod 8.
    let w3 = kw[3];
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
    let mut bc = isa.xor(a3, b3);
    macro_rules! block2 {
        ($i:literal) => {
            round(isa, &mut s, &mut bc, $i, kw[$i])
        };
    }
    each!(block2; 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
        32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60
        61 62 63);

    // After 64 rounds the roles are back in their home slots; the first hash is midstate + s,
    // and it is the first half of the second hash's message.
    let zero = isa.splat(0);
    let mut v = [zero; 64];
    for i in 0..8 {
        v[i] = isa.add(isa.splat(pre.midstate[i]), s[i]);
    }
    v[8] = isa.splat(PAD_WORD);
    v[15] = isa.splat(HASH_BITS);
    let mut t = IV.map(|x| isa.splat(x));
    let mut bc = isa.splat(IV[1] ^ IV[2]);
    macro_rules! hash2 {
        ($i:literal) => {
            if $i >= 16 {
                expand(isa, &mut v, $i);
            }
            round(isa, &mut t, &mut bc, $i, isa.add(isa.splat(K[$i]), v[$i]))
        };
    }
    each!(hash2; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29
        30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
        59);
    expand(isa, &mut v, 60);
    // Round 60 only for its new e, which three more rounds would carry into h unchanged.
    let slot = |role: usize| (role + 64 - 60) % 8;
    let (e, f, g) = (t[slot(4)], t[slot(5)], t[slot(6)]);
    let kw60 = isa.add(isa.splat(K[60]), v[60]);
    let t1 = isa.add4(t[slot(7)], isa.big_s1(e), isa.ch(e, f, g), kw60);
    isa.add(isa.splat(IV[7]), isa.add(t[slot(3)], t1))
}

/// One nonce per `u32`: the lane kernel as plain scalar code, which is how the portable
/// backend shares a schedule between versions.
#[derive(Clone, Copy)]
pub(super) struct Scalar;

impl Lanes for Scalar {
    const LANES: u32 = 1;
    type V = u32;

    #[inline(always)]
    fn splat(self, x: u32) -> u32 {
        x
    }

    #[inline(always)]
    fn iota(self) -> u32 {
        0
    }

    #[inline(always)]
    fn add(self, a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }

    #[inline(always)]
    fn xor(self, a: u32, b: u32) -> u32 {
        a ^ b
    }

    #[inline(always)]
    fn and(self, a: u32, b: u32) -> u32 {
        a & b
    }

    #[inline(always)]
    fn ror<const R: u32>(self, a: u32) -> u32 {
        a.rotate_right(R)
    }

    #[inline(always)]
    fn shr<const N: u32>(self, a: u32) -> u32 {
        a >> N
    }

    #[inline(always)]
    fn byte_swap(self, a: u32) -> u32 {
        a.swap_bytes()
    }

    #[inline(always)]
    fn at_most(self, valid: u32, a: u32, b: u32) -> u32 {
        valid & u32::from(a <= b)
    }

    #[inline(always)]
    fn big_s0(self, x: u32) -> u32 {
        super::big_s0(x)
    }

    #[inline(always)]
    fn big_s1(self, x: u32) -> u32 {
        super::big_s1(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalar_lanes_match_portable() {
        super::super::testing::shared_matches_portable(|pres, first, count, limit, out| {
            scan_with(Scalar, pres, first, count, limit, out)
        });
    }
}
