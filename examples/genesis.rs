//! Re-find the nonce of Bitcoin's genesis block with the fastest engine on this machine, and
//! print the hashrate.
//!
//! `cargo run --release --example genesis` searches a window of 2^24 nonces that ends just past
//! the real one, so it finishes in seconds; pass `--full` to search from nonce 0 as Satoshi's
//! miner did.

use sha256d::{Control, Header, Target, Work};
use std::time::Instant;

fn main() -> Result<(), sha256d::Error> {
    let header = Header::genesis();
    let target = Target::from_compact(header.bits)?;
    let end = u64::from(header.nonce) + 1_000;
    let start = if std::env::args().any(|a| a == "--full") {
        0
    } else {
        end - (1 << 24)
    };
    let work = Work::new(header, target).with_nonces(start..end)?;
    let engine = sha256d::best();
    println!(
        "searching nonces {start}..{end} for target {target} with {} ({})",
        engine.name(),
        engine.describe()
    );
    let t = Instant::now();
    let summary = engine.search_stream(&work, &Control::new(), &mut |found| {
        println!(
            "found nonce {} after {:.2} s: block hash {}",
            found.nonce,
            t.elapsed().as_secs_f64(),
            found.hash
        );
    })?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{} hashes in {secs:.2} s: {:.2} MH/s",
        summary.hashes,
        summary.hashes as f64 / secs / 1e6
    );
    Ok(())
}
