//! Mine shares on a testnet4 pool given on the command line, printing each verdict as it comes
//! and the hashrate the accepted shares prove.
//!
//! ```sh
//! cargo run --release --example testnet_pool -- stratum+tcp://POOL:PORT WORKER [PASSWORD] [SECONDS]
//! ```
//!
//! A share of difficulty d takes d × 2^32 hashes on average, so at a CPU's tens of MH/s expect
//! a difficulty-1 share every minute or two; a pool that starts you higher needs patience.

use sha256d::{Error, ErrorKind};
use sha256d_mining::pool::{PoolConfig, PoolOptions, PoolSource};
use sha256d_mining::PoolUrl;
use sha256d_mining::{mine, MineOptions};
use std::time::Duration;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, user, rest @ ..] = args.as_slice() else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "usage: testnet_pool POOL_URL WORKER [PASSWORD] [SECONDS]",
        ));
    };
    let pass = rest.first().cloned().unwrap_or_else(|| "x".into());
    let seconds = match rest.get(1) {
        Some(s) => s.parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("SECONDS: not a number: {s}"),
            )
        })?,
        None => 600.0,
    };
    let pools = vec![PoolConfig::new(url.parse::<PoolUrl>()?, user, pass)];
    let mut source = PoolSource::new(PoolOptions::new(pools))?;
    let engines = vec![sha256d::best()];
    let mut last = (0, 0);
    let stats = mine(
        &mut source,
        &engines,
        &MineOptions {
            time: Some(Duration::from_secs_f64(seconds)),
            ..MineOptions::default()
        },
        &mut |stats, notice| {
            if let Some(text) = notice {
                println!("{text}");
            }
            if (stats.accepted, stats.rejected_total()) != last {
                last = (stats.accepted, stats.rejected_total());
                println!(
                    "accepted {} rejected {} at difficulty {} ({:.2} MH/s measured)",
                    stats.accepted,
                    stats.rejected_total(),
                    stats.difficulty.unwrap_or(0.0),
                    stats.hashrate() / 1e6
                );
            }
        },
    )?;
    println!(
        "{:.0} s: {:.2} MH/s measured, {:.2} MH/s proven by {} accepted shares, best share {:.4}",
        stats.elapsed.as_secs_f64(),
        stats.hashrate() / 1e6,
        stats.proven_hashrate() / 1e6,
        stats.accepted,
        stats.best_share_difficulty
    );
    Ok(())
}
