//! `Backend::scan_shared`, which hashes several versions of one header sharing each nonce's
//! block-2 schedule, against the portable kernel run on each version alone.

use proptest::prelude::*;
use sha256d::hazmat::{Backend, Prehash};

/// `versions` prehashes of `header` with different version words.
fn rolled(header: &[u8], versions: &[u32]) -> Vec<Prehash> {
    let mut bytes: [u8; 80] = header.try_into().expect("80 bytes");
    versions
        .iter()
        .map(|v| {
            bytes[..4].copy_from_slice(&v.to_le_bytes());
            Prehash::new(&bytes)
        })
        .collect()
}

fn check(pres: &[Prehash], first: u32, count: u32, limit: u32) {
    let want: Vec<Vec<u32>> = pres
        .iter()
        .map(|pre| {
            let mut out = Vec::new();
            Backend::Portable.scan(pre, first, count, limit, &mut out);
            out
        })
        .collect();
    for backend in Backend::ALL.iter().filter(|b| b.check().is_ok()) {
        let mut got = vec![Vec::new(); pres.len()];
        backend.scan_shared(pres, first, count, limit, &mut got);
        assert_eq!(
            got,
            want,
            "{} over {} versions from {first}, {count} nonces",
            backend.name(),
            pres.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn scan_shared_matches_portable_per_version(
        header in prop::collection::vec(any::<u8>(), 80),
        versions in prop::collection::vec(any::<u32>(), 1..10),
        first in prop_oneof![Just(0u32), Just(u32::MAX - 40), any::<u32>()],
        count in 0u32..90,
        limit in prop_oneof![Just(u32::MAX), Just(u32::MAX >> 4), any::<u32>()],
    ) {
        // The range ends at 2^32 at the latest.
        let count = u64::from(count).min((1 << 32) - u64::from(first)) as u32;
        check(&rolled(&header, &versions), first, count, limit);
    }
}

#[test]
fn the_last_nonce_under_every_group_size() {
    let versions: Vec<u32> = (0..9).map(|k| 0x2000_0000 | k << 13).collect();
    let pres = rolled(&[0x42; 80], &versions);
    for n in 1..=pres.len() {
        check(&pres[..n], u32::MAX, 1, u32::MAX);
        check(&pres[..n], u32::MAX - 32, 33, u32::MAX >> 1);
        check(&pres[..n], 0, 33, u32::MAX >> 1);
    }
}
