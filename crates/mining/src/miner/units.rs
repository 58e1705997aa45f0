//! Cutting jobs into work units: one coinbase (extranonce2) and ntime, the whole nonce range,
//! and as many rolled versions as keep a unit near a second on its engine.

use crate::Job;
use sha256d::{deposit, Work};
use std::time::Duration;

/// One unit of work cut from a job.
pub(super) struct Unit {
    pub(super) extranonce2: Vec<u8>,
    pub(super) work: Work,
}

/// Cuts unit `index` of `job`: the lowest `roll_bits` mask bits roll inside the unit, the
/// others and then extranonce2 count up from unit to unit, and ntime follows the clock (plus
/// one second each time the extranonce2 space runs out). `None` once even ntime is exhausted.
pub(super) fn cut_unit(
    job: &Job,
    index: u64,
    roll_bits: u32,
    since_job: Duration,
    max_results: usize,
) -> Option<Unit> {
    let mask = job.version_mask;
    let roll_bits = roll_bits.min(mask.count_ones());
    let inner = lowest_set_bits(mask, roll_bits);
    let outer = mask & !inner;
    let outer_count = 1u128 << outer.count_ones();
    let en2_bits = 8 * job.extranonce2_size as u32;
    let en2_count = 1u128 << en2_bits.min(64);
    let index = u128::from(index);
    let outer_index = (index % outer_count) as u64;
    let en2_index = index / outer_count;
    let bump = en2_index / en2_count;
    let ntime = u64::from(job.ntime) + since_job.as_secs() + u64::try_from(bump).ok()?;
    if ntime > u64::from(job.ntime_max) {
        return None;
    }
    let en2 = ((en2_index % en2_count) as u64).to_le_bytes()[..job.extranonce2_size.min(8)]
        .iter()
        .copied()
        .chain(std::iter::repeat_n(
            0,
            job.extranonce2_size.saturating_sub(8),
        ))
        .collect::<Vec<u8>>();
    let mut header = job.header(&en2, ntime as u32);
    header.version = (job.version & !outer) | deposit(outer_index, outer);
    let work = Work::new(header, job.share_target)
        .with_version_rolling(inner, 1 << inner.count_ones())
        .expect("a mask's own bit count always fits its roll count")
        .with_max_results(max_results);
    Some(Unit {
        extranonce2: en2,
        work,
    })
}

/// How many hashes unit `cut_unit(job, _, roll_bits, ..)` holds: the whole nonce range for
/// each rolled version.
pub(super) fn unit_size(job: &Job, roll_bits: u32) -> u64 {
    let hashes = 1u128 << (32 + roll_bits.min(job.version_mask.count_ones()));
    u64::try_from(hashes).unwrap_or(u64::MAX)
}

/// The lowest `n` set bits of `mask`.
fn lowest_set_bits(mask: u32, n: u32) -> u32 {
    let mut rest = mask;
    for _ in 0..n {
        rest &= rest.wrapping_sub(1);
    }
    mask & !rest
}

/// Results one unit may deliver before it is cut short: past this the share difficulty is far
/// below what the engine can usefully submit, and the next unit is as good.
pub(super) const UNIT_RESULT_CAP: usize = 4096;

/// A unit should take about this long: long enough that setup is noise, short enough that
/// the rolled versions and ntime stay fresh.
pub(super) const UNIT_TARGET: Duration = Duration::from_secs(1);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn units_cover_versions_and_extranonces_without_overlap() {
        let j = Job {
            version_mask: 0x0000_6000 | 0x0001_0000,
            extranonce2_size: 1,
            ntime: 1_700_000_000,
            ntime_max: 1_700_007_000,
            ..Job::blank()
        };
        let mut seen = HashSet::new();
        // 3 mask bits, 1 rolled inside each unit: 4 outer versions x 256 extranonces per ntime.
        for index in 0..(4 * 256 * 2) {
            let unit = cut_unit(&j, index, 1, Duration::ZERO, 10).expect("within ntime");
            assert_eq!(unit.work.rolls(), 2);
            assert_eq!(unit.work.version_mask(), 0x2000);
            for k in 0..2 {
                let key = (
                    unit.extranonce2.clone(),
                    unit.work.header().time,
                    unit.work.version(k),
                );
                assert!(seen.insert(key), "unit {index} repeats work");
            }
            assert_eq!(unit.work.header().time, j.ntime + (index / 1024) as u32);
        }
        assert!(cut_unit(&j, 0, 0, Duration::from_secs(7001), 10).is_none());
        let whole = cut_unit(&j, 0, 32, Duration::ZERO, 10).expect("within ntime");
        assert_eq!(whole.work.rolls(), 8);
        for roll_bits in [0, 1, 3, 32] {
            let unit = cut_unit(&j, 5, roll_bits, Duration::ZERO, 10).expect("within ntime");
            let nonces = unit.work.nonces();
            assert_eq!(
                unit_size(&j, roll_bits),
                (nonces.end - nonces.start) * unit.work.rolls(),
                "{roll_bits} bits"
            );
        }
    }
}
