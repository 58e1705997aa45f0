//! Mine blocks on a local regtest node through getblocktemplate, printing each block's hash,
//! height and how many hashes it took.
//!
//! ```sh
//! bitcoind -regtest -daemon -rpcuser=u -rpcpassword=p     # Core or Knots; an SV node wants a peer too
//! cargo run --release --example regtest_solo -- http://127.0.0.1:18443 u p ADDRESS [BLOCKS]
//! ```
//!
//! On regtest every other hash meets the target, so each block takes a handful of hashes; the
//! point is the path a block takes: template, coinbase with the BIP34 height, merkle root,
//! header, nonce search, `submitblock`, and the node's new tip.

use sha256d::{Error, ErrorKind};
use sha256d_mining::gbt::{SoloOptions, SoloSource};
use sha256d_mining::rpc::Auth;
use sha256d_mining::{address, mine, MineOptions};

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, user, pass, addr, rest @ ..] = args.as_slice() else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "usage: regtest_solo NODE_URL RPC_USER RPC_PASS ADDRESS [BLOCKS]",
        ));
    };
    let blocks = match rest.first() {
        Some(n) => n.parse().map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("BLOCKS: not a number: {n}"),
            )
        })?,
        None => 5,
    };
    let auth = Auth::UserPass(user.clone(), pass.clone());
    let options = SoloOptions::new(url, auth, address::script_for_address(addr)?);
    let mut source = SoloSource::new(options)?;
    let engines = vec![sha256d::best()];
    let (mut printed, mut hashes_before) = (0, 0);
    // Blocks are printed as the status callback sees them (every second, or on a notice).
    let stats = mine(
        &mut source,
        &engines,
        &MineOptions {
            blocks: Some(blocks),
            ..MineOptions::default()
        },
        &mut |stats, notice| {
            if let Some(text) = notice {
                eprintln!("{text}");
            }
            for block in stats.blocks.iter().skip(printed) {
                println!(
                    "block {} at height {} after {} hashes",
                    block.hash,
                    block.height.map_or("?".into(), |h| h.to_string()),
                    block.hashes - hashes_before
                );
                hashes_before = block.hashes;
            }
            printed = stats.blocks.len();
        },
    )?;
    println!(
        "{} blocks accepted, {} hashes in {:.2} s ({:.2} MH/s on {})",
        stats.blocks_accepted,
        stats.hashes,
        stats.elapsed.as_secs_f64(),
        stats.hashrate() / 1e6,
        stats.engines.join(", ")
    );
    Ok(())
}
