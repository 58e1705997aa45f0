//! The lane kernel's instruction mix per nonce, counted by running the kernel itself on values
//! that are either known or unknown.
//!
//! A known value is the same in every lane and for every nonce of a scan: a constant, a padding
//! word, or a word of the job's prehash. An operation on known values costs nothing, since the
//! compiler folds it or hoists it out of the nonce loop; so does one that leaves its other
//! operand unchanged (adding or xoring zero, and so on). Every other operation costs what the
//! instruction set issues for it. The counts are per vector; [`per_nonce`] divides by the lanes
//! and the versions that share a schedule.

use super::lanes::{self, two_input, Lanes};
use super::{OpMix, Prehash};
use alloc::{vec, vec::Vec};
use core::cell::Cell;

/// What an instruction set issues for the kernel's primitives.
#[derive(Clone, Copy, Debug)]
pub(super) struct Isa {
    /// Nonces per vector.
    lanes: u32,
    /// A rotate is one instruction; without, it is two shifts and an or.
    rotate: bool,
    /// Ch, Maj and a three-way XOR are one three-input logic instruction each, and a byte swap
    /// is two rotates and a select; without, the two-input forms and one byte shuffle.
    ternary: bool,
    /// Instructions for an unsigned lane-wise compare into a bit mask.
    compare: f64,
}

/// Scalar code: `ror`, `bswap`, `cmp`.
pub(super) const SCALAR: Isa = Isa {
    lanes: 1,
    rotate: true,
    ternary: false,
    compare: 1.0,
};
/// AVX2: no rotate, no three-input logic, an unsigned compare as max, equal and move-mask.
#[cfg(target_arch = "x86_64")]
pub(super) const AVX2: Isa = Isa {
    lanes: 8,
    rotate: false,
    ternary: false,
    compare: 3.0,
};
/// AVX-512F: `vprold`, `vpternlogd`, `vpcmpud` into a mask register.
#[cfg(target_arch = "x86_64")]
pub(super) const AVX512: Isa = Isa {
    lanes: 16,
    rotate: true,
    ternary: true,
    compare: 1.0,
};

/// A [`Lanes`] whose values are known (`Some`) or unknown, adding each operation's cost to
/// `tally`. It has one lane; the lane count of the instruction set it models only divides.
#[derive(Clone, Copy)]
struct Count<'a> {
    isa: Isa,
    tally: &'a Cell<OpMix>,
}

type Val = Option<u32>;

impl Count<'_> {
    fn charge(self, cost: impl FnOnce(&mut OpMix)) {
        let mut mix = self.tally.get();
        cost(&mut mix);
        self.tally.set(mix);
    }

    /// A two-input operation: folded when both inputs are known or `identity` says one known
    /// input leaves the other as it is.
    fn binary(
        self,
        a: Val,
        b: Val,
        op: fn(u32, u32) -> u32,
        identity: fn(u32) -> bool,
        cost: fn(&mut OpMix),
    ) -> Val {
        match (a, b) {
            (Some(a), Some(b)) => Some(op(a, b)),
            (Some(k), x) | (x, Some(k)) if identity(k) => x,
            _ => {
                self.charge(cost);
                None
            }
        }
    }

    /// A three-input logic instruction: folded when all inputs are known.
    fn ternary(self, [a, b, c]: [Val; 3], op: fn(u32, u32, u32) -> u32) -> Val {
        match (a, b, c) {
            (Some(a), Some(b), Some(c)) => Some(op(a, b, c)),
            _ => {
                self.charge(|m| m.logic += 1.0);
                None
            }
        }
    }
}

impl Lanes for Count<'_> {
    const LANES: u32 = 1;
    type V = Val;

    fn splat(self, x: u32) -> Val {
        Some(x)
    }

    fn iota(self) -> Val {
        // Lanes differ, so for folding it is as good as unknown.
        None
    }

    fn add(self, a: Val, b: Val) -> Val {
        self.binary(a, b, u32::wrapping_add, |k| k == 0, |m| m.add += 1.0)
    }

    fn xor(self, a: Val, b: Val) -> Val {
        self.binary(a, b, |a, b| a ^ b, |k| k == 0, |m| m.logic += 1.0)
    }

    fn and(self, a: Val, b: Val) -> Val {
        match (a, b) {
            (Some(0), _) | (_, Some(0)) => Some(0),
            _ => self.binary(a, b, |a, b| a & b, |k| k == u32::MAX, |m| m.logic += 1.0),
        }
    }

    fn ror<const R: u32>(self, a: Val) -> Val {
        if a.is_none() {
            let isa = self.isa;
            self.charge(|m| {
                if isa.rotate {
                    m.rotate += 1.0;
                } else {
                    m.shift += 2.0;
                    m.logic += 1.0;
                }
            });
        }
        a.map(|x| x.rotate_right(R))
    }

    fn shr<const N: u32>(self, a: Val) -> Val {
        if a.is_none() {
            self.charge(|m| m.shift += 1.0);
        }
        a.map(|x| x >> N)
    }

    fn byte_swap(self, a: Val) -> Val {
        if self.isa.ternary {
            return self.ch(self.splat(0x00ff_00ff), self.ror::<24>(a), self.ror::<8>(a));
        }
        if a.is_none() {
            self.charge(|m| m.other += 1.0);
        }
        a.map(u32::swap_bytes)
    }

    fn at_most(self, _valid: u32, _a: Val, _b: Val) -> u32 {
        let compare = self.isa.compare;
        self.charge(|m| m.other += compare);
        // No candidates: the kernel's output is not what is being counted.
        0
    }

    fn xor3(self, a: Val, b: Val, c: Val) -> Val {
        if self.isa.ternary {
            self.ternary([a, b, c], |a, b, c| a ^ b ^ c)
        } else {
            two_input::xor3(self, a, b, c)
        }
    }

    fn ch(self, e: Val, f: Val, g: Val) -> Val {
        if self.isa.ternary {
            self.ternary([e, f, g], super::ch)
        } else {
            two_input::ch(self, e, f, g)
        }
    }

    fn maj(self, a: Val, b: Val, c: Val, bc: &mut Val) -> Val {
        if self.isa.ternary {
            self.ternary([a, b, c], super::maj)
        } else {
            two_input::maj(self, a, b, bc)
        }
    }
}

/// A prehash whose job words are all neither zero nor all ones, so that no folding rule
/// mistakes a word only known at run time for a constant the compiler could drop.
fn job(versions: usize) -> Vec<Prehash> {
    let mut header = [0u8; 80];
    for (i, b) in header.iter_mut().enumerate() {
        *b = (i * 37 + 11) as u8;
    }
    (0..versions)
        .map(|v| {
            header[0] = v as u8;
            Prehash::new(&header)
        })
        .collect()
}

/// The instructions of one pass of the kernel over one vector of nonces for `versions`
/// versions sharing its schedule.
fn per_vector(isa: Isa, versions: usize) -> OpMix {
    let tally = Cell::new(OpMix::default());
    let pres = job(versions);
    let mut out = vec![Vec::new(); versions];
    lanes::scan_with(Count { isa, tally: &tally }, &pres, 0, 1, 0, &mut out);
    tally.get()
}

/// Instructions per hash (one nonce under one version) when `versions` versions go through in
/// groups of `group`, each group sharing its nonces' schedules.
pub(super) fn per_nonce(isa: Isa, versions: usize, group: usize) -> OpMix {
    let versions = versions.max(1);
    let group = group.max(1);
    let whole = (versions / group) as f64;
    let full = per_vector(isa, group);
    let rest = match versions % group {
        0 => OpMix::default(),
        n => per_vector(isa, n),
    };
    let hashes = f64::from(isa.lanes) * versions as f64;
    let per = |full: f64, rest: f64| (whole * full + rest) / hashes;
    OpMix {
        add: per(full.add, rest.add),
        rotate: per(full.rotate, rest.rotate),
        shift: per(full.shift, rest.shift),
        logic: per(full.logic, rest.logic),
        other: per(full.other, rest.other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One round on unknown values, counted by hand from the round's formula:
    /// t1 = h + Σ1(e) + Ch(e, f, g) + kw (three adds), d += t1, h = t1 + (Σ0(a) + Maj) (two).
    fn one_round(isa: Isa) -> OpMix {
        let tally = Cell::new(OpMix::default());
        let mut state = [None; 8];
        let mut bc = None;
        lanes::round(Count { isa, tally: &tally }, &mut state, &mut bc, 0, None);
        tally.get()
    }

    fn mix(add: f64, rotate: f64, shift: f64, logic: f64, other: f64) -> OpMix {
        OpMix {
            add,
            rotate,
            shift,
            logic,
            other,
        }
    }

    #[test]
    fn one_round_costs_the_hand_count() {
        // Σ0 and Σ1: three rotates and two xors each; Ch: xor, and, xor; Maj with the carried
        // b ^ c: xor, and, xor.
        assert_eq!(one_round(SCALAR), mix(6.0, 6.0, 0.0, 10.0, 0.0));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn one_round_costs_the_hand_count_on_x86() {
        // Each of the six rotates is two shifts and an or.
        assert_eq!(one_round(AVX2), mix(6.0, 0.0, 12.0, 16.0, 0.0));
        // Each sigma's three-way XOR, Ch and Maj are one `vpternlogd`.
        assert_eq!(one_round(AVX512), mix(6.0, 6.0, 0.0, 4.0, 0.0));
    }

    #[test]
    fn known_operands_fold() {
        let tally = Cell::new(OpMix::default());
        let c = Count {
            isa: SCALAR,
            tally: &tally,
        };
        assert_eq!(c.add(Some(2), Some(3)), Some(5));
        assert_eq!(c.add(None, Some(0)), None);
        assert_eq!(c.and(None, Some(0)), Some(0));
        assert_eq!(c.xor(Some(0), None), None);
        assert_eq!(c.big_s0(Some(1)), Some(super::super::big_s0(1)));
        assert_eq!(tally.get(), OpMix::default());
        assert_eq!(c.add(None, Some(1)), None);
        assert_eq!(tally.get(), mix(1.0, 0.0, 0.0, 0.0, 0.0));
    }

    /// What one vector's versions share: the nonces (one add) and block 2's schedule.
    fn shared_part(isa: Isa) -> f64 {
        let tally = Cell::new(OpMix::default());
        let count = Count { isa, tally: &tally };
        let nonces = count.add(Some(0), None);
        lanes::schedule(count, &job(1)[0], nonces);
        tally.get().total()
    }

    #[test]
    fn sharing_lowers_the_count_per_version() {
        for isa in [
            SCALAR,
            #[cfg(target_arch = "x86_64")]
            AVX2,
            #[cfg(target_arch = "x86_64")]
            AVX512,
        ] {
            // Per vector, every version but the first saves exactly the shared part.
            let shared = shared_part(isa);
            let one = per_vector(isa, 1).total();
            for versions in [2, 4, 8] {
                let want = shared + versions as f64 * (one - shared);
                assert_eq!(per_vector(isa, versions).total(), want, "{isa:?}");
            }
            // The schedule is a good part of the work: sharing it four ways saves over 5%.
            let (one, four) = (per_nonce(isa, 1, 1).total(), per_nonce(isa, 4, 4).total());
            assert!(four < one * 0.95, "{isa:?}: {one} -> {four}");
            // Five versions in groups of four: one full group and one alone.
            let five = per_nonce(isa, 5, 4).total();
            assert!((five - (4.0 * four + one) / 5.0).abs() < 1e-9, "{isa:?}");
        }
    }
}
