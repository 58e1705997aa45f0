//! Every CPU engine against an oracle built from the `sha2` crate and rust-bitcoin, on random
//! headers and on the edges of the nonce space, chunking and SIMD lanes.

mod common;

use common::{cpu_engines, oracle};
use proptest::prelude::*;
use sha256d::{Header, Target, Work};

/// A target whose most significant 32 bits are `top` and the rest all ones: with small `top`
/// about `top / 2^32` of all nonces meet it.
fn target_with_top(top: u32) -> Target {
    let mut le = [0xff; 32];
    le[28..].copy_from_slice(&top.to_le_bytes());
    Target::from_le_bytes(le)
}

fn check(work: &Work) {
    let want = oracle(work);
    for engine in cpu_engines() {
        let got = engine.search(work).expect("search runs");
        assert_eq!(got, want, "{} on {:?}", engine.describe(), work);
    }
}

fn header_from(bytes: &[u8]) -> Header {
    Header::from_slice(bytes).expect("80 bytes")
}

/// Starts and lengths that sit on the edges: 0, 2^32, chunk (16384) and lane (2, 3, 4, 8)
/// boundaries, and lengths that are no multiple of any of them.
fn edge_range() -> impl Strategy<Value = std::ops::Range<u64>> {
    let start = prop_oneof![
        Just(0u64),
        Just((1u64 << 32) - 1),
        (0u64..64).prop_map(|d| (1u64 << 32) - d),
        (0u64..64).prop_map(|d| 16384 * 3 - 32 + d),
        any::<u32>().prop_map(u64::from),
    ];
    let len = prop_oneof![
        Just(0u64),
        Just(1u64),
        0u64..40,
        16380u64..16390,
        (0u64..3000),
    ];
    (start, len).prop_map(|(s, l)| s..(s + l).min(1 << 32))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn engines_match_oracle(
        bytes in prop::collection::vec(any::<u8>(), 80),
        range in edge_range(),
        top in prop_oneof![Just(u32::MAX), Just(0x0fff_ffffu32), 0u32..0x0200_0000],
    ) {
        let work = Work::new(header_from(&bytes), target_with_top(top))
            .with_nonces(range)
            .expect("edge ranges stay in the nonce space");
        check(&work);
    }

    #[test]
    fn engines_match_oracle_with_version_rolling(
        bytes in prop::collection::vec(any::<u8>(), 80),
        start in any::<u32>(),
        len in 0u64..700,
        mask in prop_oneof![Just(0x1fff_e000u32), Just(0x0000_0001u32), any::<u32>()],
        rolls in 1u64..5,
    ) {
        prop_assume!(rolls <= 1u64 << mask.count_ones());
        let start = u64::from(start);
        let work = Work::new(header_from(&bytes), target_with_top(0x0800_0000))
            .with_nonces(start..(start + len).min(1 << 32))
            .expect("inside the nonce space")
            .with_version_rolling(mask, rolls)
            .expect("rolls fit the mask");
        check(&work);
    }
}

#[test]
fn range_ending_at_two_to_the_32() {
    let header = header_from(&[0x5a; 80]);
    let work = Work::new(header, target_with_top(0x1000_0000))
        .with_nonces((1 << 32) - 40_000..1 << 32)
        .expect("ends exactly at 2^32");
    let want = oracle(&work);
    assert!(
        want.iter().any(|f| f.nonce > u32::MAX - 100),
        "edge not exercised"
    );
    check(&work);
}

#[test]
fn every_nonce_meets_the_maximum_target() {
    let header = header_from(&[7; 80]);
    let work = Work::new(header, Target::MAX)
        .with_nonces(100..16_500)
        .expect("in range");
    check(&work);
    let engine = sha256d::open("portable", &sha256d::Options::default()).expect("always here");
    assert_eq!(engine.search(&work).expect("runs").len(), 16_400);
}

/// Rolled versions go through the CPU engines in groups sharing a schedule; odd roll counts
/// leave a partial last group, and a loose target makes every group hit.
#[test]
fn rolled_versions_in_groups_match_portable() {
    let portable = sha256d::open("portable", &sha256d::Options::default()).expect("always here");
    for (rolls, nonces) in [(1u64, 3000u64), (3, 700), (5, 500), (7, 333), (9, 257)] {
        let work = Work::new(header_from(&[0x6b; 80]), target_with_top(0x0400_0000))
            .with_nonces((1 << 32) - nonces..1 << 32)
            .expect("inside the nonce space")
            .with_version_rolling(0x1fff_e000, rolls)
            .expect("rolls fit the mask");
        let want = portable.search(&work).expect("search runs");
        let versions: std::collections::BTreeSet<u32> = want.iter().map(|f| f.version).collect();
        assert_eq!(
            versions.len() as u64,
            rolls,
            "every version hits at this target"
        );
        for engine in cpu_engines() {
            let got = engine.search(&work).expect("search runs");
            assert_eq!(got, want, "{} with {rolls} versions", engine.describe());
        }
    }
}
