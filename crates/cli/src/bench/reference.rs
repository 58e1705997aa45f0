//! The reference rows: the loops a user of the `sha2` crate would write instead of this crate,
//! timed in the same run so the engines' figures have something to be a ratio to.

use sha2::Digest;
use std::ops::Range;

/// A reference loop: hashes every nonce of the range, returns a value the optimiser must keep.
pub type Loop = fn(&[u8; 80], Range<u32>) -> u32;

/// The reference rows by name, slowest first.
pub const ROWS: [(&str, Loop); 2] = [("sha2-naive", naive), ("sha2-midstate", midstate)];

/// The row every ratio is taken against.
pub const BASE: &str = "sha2-midstate";

/// The straightforward loop: hash the whole header twice per nonce.
fn naive(header: &[u8; 80], nonces: Range<u32>) -> u32 {
    let mut h = *header;
    let mut best = u32::MAX;
    for n in nonces {
        h[76..].copy_from_slice(&n.to_le_bytes());
        let d = sha2::Sha256::digest(sha2::Sha256::digest(h));
        best = best.min(u32::from_le_bytes([d[28], d[29], d[30], d[31]]));
    }
    best
}

/// The better loop a user of `sha2` would write: midstate, then `compress256` on pre-padded
/// blocks, two compressions per nonce.
fn midstate(header: &[u8; 80], nonces: Range<u32>) -> u32 {
    let mut mid = sha256d::hazmat::IV;
    let first: [u8; 64] = header[..64].try_into().expect("80-byte header");
    sha2::block_api::compress256(&mut mid, &[first]);
    let mut block2 = [0u8; 64];
    block2[..16].copy_from_slice(&header[64..]);
    block2[16] = 0x80;
    block2[62..].copy_from_slice(&640u16.to_be_bytes());
    let mut block3 = [0u8; 64];
    block3[32] = 0x80;
    block3[62..].copy_from_slice(&256u16.to_be_bytes());
    let mut best = u32::MAX;
    for n in nonces {
        block2[12..16].copy_from_slice(&n.to_le_bytes());
        let mut s = mid;
        sha2::block_api::compress256(&mut s, &[block2]);
        for (chunk, w) in block3[..32].chunks_exact_mut(4).zip(s) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        let mut s2 = sha256d::hazmat::IV;
        sha2::block_api::compress256(&mut s2, &[block3]);
        best = best.min(s2[7].swap_bytes());
    }
    best
}

/// Runs `f` on `threads` threads over about `wanted` nonces in all; returns the nonces hashed.
pub fn run(f: Loop, header: &[u8; 80], threads: usize, wanted: u64) -> u64 {
    let per_thread = (wanted / threads as u64).clamp(1 << 12, 1 << 30) as u32;
    std::thread::scope(|s| {
        for i in 0..threads as u32 {
            let start = i.wrapping_mul(per_thread);
            s.spawn(move || {
                std::hint::black_box(f(header, start..start.saturating_add(per_thread)))
            });
        }
    });
    u64::from(per_thread) * threads as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both loops find the genesis block's nonce as the best of a range around it.
    #[test]
    fn both_loops_hash_the_genesis_header_right() {
        let genesis = sha256d::Header::from_hex(sha256d::GENESIS_HEADER_HEX)
            .expect("the genesis header parses")
            .to_bytes();
        let nonce = u32::from_le_bytes([genesis[76], genesis[77], genesis[78], genesis[79]]);
        for (name, f) in ROWS {
            // The genesis hash ends in 0x00000000 (its top word, little-endian): no other
            // nonce nearby comes close.
            assert_eq!(f(&genesis, nonce - 8..nonce + 8), 0, "{name}");
            assert_ne!(f(&genesis, nonce + 1..nonce + 64), 0, "{name}");
        }
    }
}
