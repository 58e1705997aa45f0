//! Consensus types: nBits with Bitcoin Core's rules, targets, difficulty, headers and hex,
//! checked against rust-bitcoin where it has the same function.

use proptest::prelude::*;
use sha256d::{CompactTarget, ErrorKind, Hash, Header, Target};

fn bits(raw: u32) -> CompactTarget {
    CompactTarget::from_consensus(raw)
}

#[test]
fn compact_rejects_negative_overflowing_and_zero() {
    for raw in [0x1d80_ffffu32, 0x0480_0001, 0x2300_0001 | 0x0080_0000] {
        let e = Target::from_compact(bits(raw)).expect_err("negative");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("negative"), "{e}");
    }
    for raw in [
        0x2301_0000u32,
        0x2200_0100,
        0x2200_ffff,
        0x2101_0000,
        0xff12_3456,
    ] {
        let e = Target::from_compact(bits(raw)).expect_err("overflow");
        assert!(e.to_string().contains("overflows"), "{raw:08x}: {e}");
    }
    for raw in [0u32, 0x1d00_0000, 0x0100_00ff, 0x0200_00ff] {
        let e = Target::from_compact(bits(raw)).expect_err("zero");
        assert!(e.to_string().contains("zero"), "{raw:08x}: {e}");
    }
    // The largest encodings that still fit.
    assert!(Target::from_compact(bits(0x2200_00ff)).is_ok());
    assert!(Target::from_compact(bits(0x2100_ffff)).is_ok());
}

#[test]
fn compact_known_values() {
    assert_eq!(
        Target::from_compact(bits(0x1d00_ffff)).expect("valid"),
        Target::DIFFICULTY_1
    );
    assert_eq!(
        Target::from_compact(bits(0x1703_4219))
            .expect("valid")
            .to_be_hex(),
        "0000000000000000000342190000000000000000000000000000000000000000"
    );
    assert_eq!(
        Target::from_compact(bits(0x207f_ffff))
            .expect("valid")
            .to_be_hex(),
        "7fffff0000000000000000000000000000000000000000000000000000000000"
    );
    // Exponents below 3 shift the mantissa right.
    assert_eq!(
        Target::from_compact(bits(0x0112_3456))
            .expect("valid")
            .to_be_hex(),
        format!("{:064x}", 0x12)
    );
    assert_eq!(Target::DIFFICULTY_1.to_compact_lossy(), bits(0x1d00_ffff));
}

proptest! {
    #[test]
    fn compact_round_trips_like_rust_bitcoin(raw in any::<u32>()) {
        let ours = Target::from_compact(bits(raw));
        let theirs = bitcoin::Target::from_compact(bitcoin::CompactTarget::from_consensus(raw));
        if let Ok(t) = ours {
            // rust-bitcoin decodes without validating; where Core accepts, both must agree.
            prop_assert_eq!(t.to_le_bytes(), theirs.to_le_bytes());
            let back = t.to_compact_lossy();
            prop_assert_eq!(back.to_consensus(), theirs.to_compact_lossy().to_consensus());
            prop_assert_eq!(Target::from_compact(back).expect("re-encoding is valid"), t);
        }
    }

    #[test]
    fn to_compact_lossy_matches_rust_bitcoin(le in prop::array::uniform32(any::<u8>()), shift in 0u32..256) {
        let mut t = Target::from_le_bytes(le);
        // Shift right by a random number of bits so small targets are common too.
        for _ in 0..shift / 8 {
            let mut b = t.to_le_bytes();
            b.rotate_left(1);
            b[31] = 0;
            t = Target::from_le_bytes(b);
        }
        let theirs = bitcoin::Target::from_le_bytes(t.to_le_bytes()).to_compact_lossy();
        prop_assert_eq!(t.to_compact_lossy().to_consensus(), theirs.to_consensus());
    }

    #[test]
    fn is_met_by_matches_rust_bitcoin(t in prop::array::uniform32(any::<u8>()), h in prop::array::uniform32(any::<u8>()), equal in any::<bool>()) {
        let h = if equal { t } else { h };
        let ours = Target::from_le_bytes(t).is_met_by(&Hash(h));
        let block_hash = <bitcoin::BlockHash as bitcoin::hashes::Hash>::from_byte_array(h);
        prop_assert_eq!(ours, bitcoin::Target::from_le_bytes(t).is_met_by(block_hash));
    }

    #[test]
    fn difficulty_round_trips(d in 1e-6f64..1e15) {
        let t = Target::from_difficulty(d).expect("positive");
        let back = t.difficulty_float();
        prop_assert!((back - d).abs() / d < 1e-9, "{} -> {}", d, back);
    }
}

#[test]
fn difficulty_is_exact_for_fractional_values() {
    let cases = [
        (
            1.0,
            "00000000ffff0000000000000000000000000000000000000000000000000000",
        ),
        (
            3.0,
            "0000000055550000000000000000000000000000000000000000000000000000",
        ),
        (
            1000.0,
            "00000000004188f5c28f5c28f5c28f5c28f5c28f5c28f5c28f5c28f5c28f5c28",
        ),
        (
            0.5,
            "00000001fffe0000000000000000000000000000000000000000000000000000",
        ),
        (
            1.0 / 1024.0,
            "000003fffc000000000000000000000000000000000000000000000000000000",
        ),
        (
            1e-9,
            "3b9a8e6535fffef481b5fe088151b0791619e09d7e3f36fccfbaa4c14955fdb7",
        ),
        (
            123456.789,
            "00000000000087e4b45ede50c6ef489a7e78e4308b2b8f81cdf0e652f3bcfe45",
        ),
        (
            2f64.powi(-200),
            "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ),
    ];
    for (d, hex) in cases {
        assert_eq!(
            Target::from_difficulty(d).expect("positive").to_be_hex(),
            hex,
            "difficulty {d}"
        );
    }
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(
            Target::from_difficulty(bad).expect_err("invalid").kind(),
            ErrorKind::InvalidInput
        );
    }
}

#[test]
fn header_hex_errors_name_the_problem() {
    let genesis = sha256d::GENESIS_HEADER_HEX;
    let h = Header::from_hex(genesis).expect("valid");
    assert_eq!(h.to_hex(), genesis);
    assert_eq!(Header::from_bytes(&h.to_bytes()), h);
    let odd = Header::from_hex(&genesis[1..]).expect_err("odd");
    assert!(odd.to_string().contains("odd number"), "{odd}");
    let short = Header::from_hex(&genesis[2..]).expect_err("short");
    assert!(short.to_string().contains("80 bytes"), "{short}");
    let bad = Header::from_hex(&genesis.replace('3', "g")).expect_err("bad digit");
    assert!(bad.to_string().contains("invalid hex digit"), "{bad}");
    assert_eq!(bad.kind(), ErrorKind::Parse);
}

#[test]
fn hash_displays_reversed() {
    let h =
        Hash::from_display_hex("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
            .expect("valid");
    assert_eq!(h.0[0], 0x6f);
    assert_eq!(h.0[31], 0x00);
    assert_eq!(h.leading_zero_bits(), 43);
}

#[test]
fn target_hex_round_trip() {
    let t = Target::from_be_hex("00000000ffff0000000000000000000000000000000000000000000000000000")
        .expect("valid");
    assert_eq!(t, Target::DIFFICULTY_1);
    assert_eq!(t.top_u32(), 0);
    assert_eq!(Target::MAX.top_u32(), u32::MAX);
    assert!(Target::from_be_hex("00").is_err());
}
