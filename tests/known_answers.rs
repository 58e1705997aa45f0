//! Known answers from real blocks: every engine must re-find each block's own nonce.

mod common;

use common::{cpu_engines, genesis, oracle, real_headers};
use sha256d::{CompactTarget, Found, Target, Work};

#[test]
fn real_headers_hash_to_their_explorer_hashes() {
    let headers = real_headers();
    assert!(headers.len() >= 7, "tests/data/headers.txt lost rows");
    for h in &headers {
        assert_eq!(h.header.block_hash().to_string(), h.hash, "{}", h.name);
        let ours = h.header.block_hash();
        let theirs =
            bitcoin::consensus::deserialize::<bitcoin::block::Header>(&h.header.to_bytes())
                .expect("rust-bitcoin parses a real header")
                .block_hash();
        assert_eq!(ours.to_string(), theirs.to_string(), "{}", h.name);
        let target = Target::from_compact(h.header.bits).expect("real nBits are valid");
        assert!(
            target.is_met_by(&ours),
            "{} does not meet its own nBits",
            h.name
        );
    }
}

#[test]
fn a_recent_block_has_version_bits_set() {
    let recent = real_headers()
        .into_iter()
        .find(|h| h.height == 840000)
        .expect("block 840000 is in the data");
    assert_eq!(recent.header.version, 0x2a5f_e000);
    assert_eq!(
        recent.header.bits,
        CompactTarget::from_consensus(0x1703_4219)
    );
}

#[test]
fn every_engine_refinds_every_real_nonce() {
    let engines = cpu_engines();
    for h in real_headers() {
        let nonce = u64::from(h.header.nonce);
        // A window of about 40,000 nonces around the real one, clamped to the nonce space.
        let window = nonce.saturating_sub(20_011)..(nonce + 20_011).min(1 << 32);
        let target = Target::from_compact(h.header.bits).expect("valid nBits");
        let work = Work::new(h.header, target)
            .with_nonces(window)
            .expect("window inside the nonce space");
        // Regtest's target is met by half of all hashes, so compare whole sets, and check the
        // real nonce is among them.
        let want = oracle(&work);
        let real = Found::new(h.header.version, h.header.nonce, h.header.block_hash());
        assert!(
            want.contains(&real),
            "{}: oracle misses the real nonce",
            h.name
        );
        if h.network == "main" {
            assert_eq!(want, vec![real], "{}", h.name);
        }
        for engine in &engines {
            let found = engine.search(&work).expect("search runs");
            assert_eq!(found, want, "{} on {}", engine.describe(), h.name);
        }
    }
}

#[test]
fn genesis_nonce_is_found_with_bits_1d00ffff() {
    let g = genesis();
    let target = Target::from_compact(CompactTarget::from_hex("1d00ffff").expect("8 hex digits"))
        .expect("valid");
    let work = Work::new(g, target)
        .with_nonces(2_083_236_893 - 300_000..2_083_236_893 + 300_000)
        .expect("in range");
    for engine in cpu_engines() {
        let found = engine.search(&work).expect("search runs");
        assert_eq!(found.len(), 1, "{}", engine.describe());
        assert_eq!(found[0].nonce, 2_083_236_893);
        assert_eq!(
            found[0].hash.to_string(),
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
    }
}
