//! Job planning: which sweeps a chip must make to cover a work's nonces, in the chip's own
//! order, and how long each takes. Pure: no I/O.
//!
//! Every BM13xx core sweeps only the nonces carrying its core id (the top bits of the nonce
//! read big-endian) and counts the rest upward, all cores at once. So a chip never hashes "a
//! range": it hashes every core's counter from a start to a deadline. A work's nonces are
//! covered once every core's counter has passed the highest counter any of them needs:
//!
//! - BM1397: counters start at 0 on every job (the job's starting nonce is 0, as in every
//!   reference), so a sweep runs to the largest counter needed. Nonces below 256 need counter
//!   0 and cost one clock; nonces whose second and third bytes are large cost up to the whole
//!   2^24-clock sweep (84 ms at 200 MHz).
//! - BM1370: register 0x0C starts each core's counter at a multiple of 512 and register 0x10
//!   sets the deadline in crystal ticks, and each batch of 16 versions re-sweeps that window.
//!   A work needing few counters is swept as a few short windows; one needing many, as the
//!   whole slice (2^25 counters, 32 ms per batch at 525 MHz).
//!
//! Nonces a sweep finds outside the work are verified and dropped, so a small range is exact;
//! on a real stick it costs at least one window per distinct counter block it touches (BM1370)
//! or a sweep to its largest counter (BM1397), never less than the frame round trip.

use super::regs::{self, Pll};
use alloc::vec::Vec;
use core::ops::Range;

/// One job's worth of chip work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sweep {
    /// BM1370: the 0x0C offset (counter start / 512).
    pub offset: u32,
    /// BM1370: the 0x10 deadline in ticks; BM1397: 0 (no deadline register).
    pub hcn: u32,
    /// Counter values each core sweeps per batch.
    pub counters: u64,
}

/// The counter a BM1370 core counts for Bitcoin nonce `n`.
pub fn bm1370_counter(n: u32) -> u32 {
    n.swap_bytes() & ((1 << regs::BM1370_COUNTER_BITS) - 1)
}

/// The counter a BM1397 core counts for Bitcoin nonce `n`.
pub fn bm1397_counter(n: u32) -> u32 {
    n.swap_bytes() & ((1 << regs::BM1397_COUNTER_BITS) - 1)
}

/// Ranges longer than this are swept whole: their counters span most of the slice anyway.
const MAX_PLANNED_NONCES: u64 = 1 << 16;

/// The distinct counters a range's nonces need, ascending; `None` when the range is too
/// large to list (then the whole slice is needed).
fn counters(range: &Range<u64>, counter: fn(u32) -> u32) -> Option<Vec<u32>> {
    if range.end.saturating_sub(range.start) > MAX_PLANNED_NONCES {
        return None;
    }
    let mut c: Vec<u32> = range.clone().map(|n| counter(n as u32)).collect();
    c.sort_unstable();
    c.dedup();
    Some(c)
}

/// The BM1370 windows that cover `range` at `pll`. A window costs `window_cost` counters'
/// worth of time on top of its sweep (frames, slack), so neighbouring counters share one
/// where sweeping the gap is cheaper than another window.
pub fn bm1370_windows(range: &Range<u64>, pll: Pll, window_cost: u64) -> Vec<Sweep> {
    if range.is_empty() {
        return Vec::new();
    }
    let full = 1u64 << regs::BM1370_COUNTER_BITS;
    let whole = || Sweep {
        offset: 0,
        hcn: regs::hcn_for(full, pll),
        counters: full,
    };
    let Some(cs) = counters(range, bm1370_counter) else {
        return vec![whole()];
    };
    let unit = u64::from(regs::BM1370_OFFSET_UNIT);
    // (start, last) of each window, start a multiple of the offset unit.
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for c in cs.iter().map(|&c| u64::from(c)) {
        if let Some(last) = spans.last_mut() {
            if c - last.1 <= window_cost {
                last.1 = c;
                continue;
            }
        }
        spans.push((c / unit * unit, c));
    }
    let total: u64 = spans.iter().map(|s| s.1 - s.0 + 1 + window_cost).sum();
    if total >= full {
        return vec![whole()];
    }
    spans
        .into_iter()
        .map(|(start, last)| {
            let hcn = regs::hcn_for(last - start + 1, pll);
            Sweep {
                offset: (start / unit) as u32,
                hcn,
                counters: regs::counters_for(hcn, pll),
            }
        })
        .collect()
}

/// The BM1397 sweep that covers `range`: from counter 0 to the largest counter it needs.
pub fn bm1397_sweep(range: &Range<u64>) -> Option<Sweep> {
    if range.is_empty() {
        return None;
    }
    let top = match counters(range, bm1397_counter) {
        Some(cs) => cs.last().map_or(0, |&c| u64::from(c)),
        None => (1 << regs::BM1397_COUNTER_BITS) - 1,
    };
    Some(Sweep {
        offset: 0,
        hcn: 0,
        counters: top + 1,
    })
}

/// How far an Icarus stick (counting the whole nonce from 0) must get to cover `range`.
pub fn icarus_end(range: &Range<u64>) -> u64 {
    if range.end.saturating_sub(range.start) > MAX_PLANNED_NONCES {
        return 1 << 32;
    }
    range
        .clone()
        .map(|n| u64::from((n as u32).swap_bytes()) + 1)
        .max()
        .unwrap_or(0)
}

/// Gathers the bits of `v` under `mask` into the low bits (the inverse of depositing): a
/// BM1370 reply's version bits back to the chip's roll counter.
pub fn gather(v: u32, mask: u32) -> u64 {
    let (mut out, mut m, mut i) = (0u64, mask, 0);
    while m != 0 {
        let bit = m & m.wrapping_neg();
        if v & bit != 0 {
            out |= 1 << i;
        }
        i += 1;
        m &= m - 1;
    }
    out
}

/// Where in a BM1370 job's sweep (counting positions as `Sweep` costs them: batch, then
/// counter step, then core, then version slot) the chip found `nonce` with roll counter `r`,
/// for a window starting at counter `start` with `full` counters per batch.
pub fn bm1370_position(nonce: u32, r: u64, start: u32, full: u64) -> u64 {
    let be = u64::from(nonce.swap_bytes());
    let per_step = regs::BM1370_CORES * regs::BM1370_BATCH;
    let counter_mask = (1u64 << regs::BM1370_COUNTER_BITS) - 1;
    let step = be.wrapping_sub(u64::from(start)) & counter_mask;
    let core = be >> regs::BM1370_COUNTER_BITS;
    (r / regs::BM1370_BATCH) * per_step * full
        + step * per_step
        + core * regs::BM1370_BATCH
        + r % regs::BM1370_BATCH
}

/// Where in a BM1397 job's sweep (counter, then core, then midstate `m` of `n`) `nonce` lies.
pub fn bm1397_position(nonce: u32, m: u64, n: u64) -> u64 {
    let be = u64::from(nonce.swap_bytes());
    let counter = be & ((1 << regs::BM1397_COUNTER_BITS) - 1);
    let core = be >> regs::BM1397_COUNTER_BITS;
    counter * regs::BM1397_CORES * n + core * n + m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pll525() -> Pll {
        regs::solve_pll(super::super::Protocol::Bm1370, 525.0).expect("525 MHz solves")
    }

    #[test]
    fn small_ranges_become_one_short_window_per_counter_block() {
        // Nonces 0..256: even ones at counter 0 of each core, odd ones at counter 2^24.
        let w = bm1370_windows(&(0..256), pll525(), 64);
        assert_eq!(
            w,
            vec![
                Sweep {
                    offset: 0,
                    hcn: 1,
                    counters: 42
                },
                Sweep {
                    offset: 1 << 15,
                    hcn: 1,
                    counters: 42
                }
            ]
        );
    }

    #[test]
    fn large_ranges_sweep_the_whole_slice() {
        let w = bm1370_windows(&(0..1 << 20), pll525(), 64);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].offset, w[0].counters), (0, 1 << 25));
        assert!(bm1370_windows(&(5..5), pll525(), 64).is_empty());
    }

    #[test]
    fn bm1397_sweeps_to_the_largest_counter() {
        assert_eq!(bm1397_sweep(&(0..256)).map(|s| s.counters), Some(1));
        // 1000 = 0x3e8: counter 0x03 << 16.
        assert_eq!(
            bm1397_sweep(&(1000..1001)).map(|s| s.counters),
            Some(0x3_0001)
        );
        assert_eq!(
            bm1397_sweep(&(0..1 << 32)).map(|s| s.counters),
            Some(1 << 24)
        );
        assert_eq!(icarus_end(&(0..2)), 0x0100_0001);
    }

    #[test]
    fn reply_positions_follow_the_chips_order() {
        // Nonce 3: core 1, counter 2^24; roll counter 17 is batch 1, slot 1.
        let full = 42;
        let at = bm1370_position(3, 17, 1 << 24, full);
        assert_eq!(at, 2048 * full + 16 + 1);
        assert_eq!(gather(0b1010_0000, 0b1111_0000), 0b1010);
        // BM1397 nonce 0x0300_0001 (bytes 01 00 00 03): core 1, counter 3, midstate 2 of 4.
        assert_eq!(bm1397_position(0x0300_0001, 2, 4), 3 * 256 * 4 + 4 + 2);
    }
}
