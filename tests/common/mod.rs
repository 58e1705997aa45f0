//! Shared by the integration tests: the real headers in `tests/data`, every CPU engine this
//! machine has, and an oracle built from other people's code (the `sha2` crate hashes,
//! rust-bitcoin compares against the target).

#![allow(dead_code)] // each test binary uses its own subset

use sha2::{Digest, Sha256};
use sha256d::{engine::ENGINE_NAMES, Engine, Found, Hash, Header, Options, Work};

pub struct RealHeader {
    pub name: String,
    pub network: String,
    pub height: u32,
    pub hash: String,
    pub header: Header,
}

pub fn real_headers() -> Vec<RealHeader> {
    include_str!("../data/headers.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "malformed line in tests/data/headers.txt: {l}");
            RealHeader {
                name: f[0].to_string(),
                network: f[1].to_string(),
                height: f[2].parse().expect("height is a number"),
                hash: f[3].to_string(),
                header: Header::from_hex(f[4]).expect("valid header hex"),
            }
        })
        .collect()
}

pub fn genesis() -> Header {
    real_headers()
        .into_iter()
        .find(|h| h.name == "genesis")
        .expect("genesis is in tests/data/headers.txt")
        .header
}

/// Every CPU engine available here, single- and multi-threaded.
pub fn cpu_engines() -> Vec<Box<dyn Engine>> {
    let mut out = Vec::new();
    for name in ENGINE_NAMES {
        if !sha256d::hazmat::Backend::ALL
            .iter()
            .any(|b| b.name() == *name)
        {
            continue;
        }
        // Three threads on two cores: chunks finish out of order, which the engine must hide.
        let threads: &[usize] = if cfg!(feature = "rayon") {
            &[1, 3]
        } else {
            &[1]
        };
        for &threads in threads {
            let mut o = Options::default();
            o.threads = Some(threads);
            match sha256d::open(name, &o) {
                Ok(e) => out.push(e),
                // Unavailable here (no AVX-512, no SHA-NI): no thread count can open it either.
                Err(e) if threads == 1 => {
                    eprintln!("engine {name} not tested here: {e}");
                    break;
                }
                Err(e) => panic!("{name} opened single- but not multi-threaded: {e}"),
            }
        }
    }
    out
}

/// What a search must return, computed without any of this crate's hashing or comparisons.
pub fn oracle(work: &Work) -> Vec<Found> {
    let target = bitcoin::Target::from_le_bytes(work.target().to_le_bytes());
    let mut out = Vec::new();
    for k in 0..work.rolls() {
        let version = work.version(k);
        for nonce in work.nonces() {
            let bytes = work.header_bytes(version, nonce as u32);
            let digest: [u8; 32] = Sha256::digest(Sha256::digest(bytes)).into();
            let block_hash = <bitcoin::BlockHash as bitcoin::hashes::Hash>::from_byte_array(digest);
            if target.is_met_by(block_hash) {
                out.push(Found::new(version, nonce as u32, Hash(digest)));
            }
        }
    }
    out
}

/// Whether timing contracts are held to their exact figures: only with `SHA256D_QUIET_MACHINE=1`,
/// on a machine doing nothing else. Elsewhere (CI, a loaded laptop, qemu) the always-on tests
/// use bounds that scheduling noise cannot break.
pub fn quiet_machine() -> bool {
    std::env::var("SHA256D_QUIET_MACHINE").is_ok_and(|v| v == "1")
}
