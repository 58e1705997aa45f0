//! Placeholder until the SIMD kernel lands: scans with the portable kernel.
use super::Prehash;
use alloc::vec::Vec;

pub(super) unsafe fn scan(pre: &Prehash, first: u32, count: u32, limit: u32, out: &mut Vec<u32>) {
    super::portable::scan(pre, first, count, limit, out)
}
