//! `sha256d mine`: shares for a Stratum pool, or blocks for a node through getblocktemplate.

use crate::engine_args::EngineArgs;
use clap::{ArgGroup, Args};
use serde_json::json;
use sha256d::{Engine, Error, ErrorKind};
use sha256d_mining::gbt::{SoloOptions, SoloSource};
use sha256d_mining::net::{PoolUrl, TlsSettings};
use sha256d_mining::pool::{PoolConfig, PoolOptions, PoolSource};
use sha256d_mining::rpc::Auth;
use sha256d_mining::{address, mine, MineOptions, Source, Stats, MAX_LISTED_BLOCKS};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["pool", "node"])))]
#[command(group(ArgGroup::new("rpc_auth").args(["rpc_user", "rpc_cookie"])))]
pub struct MineArgs {
    /// Pool URL, stratum+tcp://HOST:PORT or stratum+ssl://HOST:PORT. Repeat for a failover
    /// list: the first is preferred and mining returns to it when it is back.
    #[arg(long, value_name = "URL", requires = "user")]
    pool: Vec<String>,
    /// Pool worker name (often ADDRESS.WORKER or ACCOUNT.WORKER).
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Pool password (most pools ignore it).
    #[arg(long, value_name = "P", default_value = "x")]
    pass: String,
    /// Do not ask the pool for version rolling (BIP310 `mining.configure`).
    #[arg(long)]
    no_version_rolling: bool,
    /// Ask the pool for this share difficulty (`mining.suggest_difficulty`).
    #[arg(long, value_name = "D")]
    suggest_difficulty: Option<f64>,
    /// Extra CA certificates (PEM) to trust for stratum+ssl:// pools, besides the usual roots.
    #[arg(long, value_name = "FILE")]
    pool_ca: Option<PathBuf>,
    /// Node JSON-RPC URL for solo mining, e.g. http://127.0.0.1:18443.
    #[arg(long, value_name = "URL", requires = "address")]
    node: Option<String>,
    /// Node RPC user.
    #[arg(long, value_name = "U", requires = "rpc_pass")]
    rpc_user: Option<String>,
    /// Node RPC password.
    #[arg(long, value_name = "P", requires = "rpc_user")]
    rpc_pass: Option<String>,
    /// Node RPC cookie file (`<datadir>/<chain>/.cookie`), instead of user and password.
    #[arg(long, value_name = "FILE")]
    rpc_cookie: Option<PathBuf>,
    /// Solo: the address block rewards are paid to.
    #[arg(long, value_name = "ADDR")]
    address: Option<String>,
    /// Engine to hash with; repeat to use several at once. Default: the fastest CPU engine.
    #[arg(long, value_name = "NAME")]
    engine: Vec<String>,
    #[command(flatten)]
    engines: EngineArgs,
    /// Stop after this many accepted shares.
    #[arg(long, value_name = "N")]
    shares: Option<u64>,
    /// Stop after this many accepted blocks.
    #[arg(long, value_name = "N")]
    blocks: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S")]
    time: Option<f64>,
    /// Print a JSON summary object at the end instead of text.
    #[arg(long)]
    json: bool,
}

fn open_engines(args: &MineArgs) -> Result<Vec<Box<dyn Engine>>, Error> {
    if args.engine.is_empty() {
        return Ok(vec![args.engines.open(None)?]);
    }
    args.engine
        .iter()
        .map(|name| args.engines.open(Some(name)))
        .collect()
}

fn open_source(args: &MineArgs) -> Result<Box<dyn Source>, Error> {
    if let Some(node) = &args.node {
        let auth = match (&args.rpc_user, &args.rpc_pass, &args.rpc_cookie) {
            (Some(u), Some(p), None) => Auth::UserPass(u.clone(), p.clone()),
            (None, None, Some(c)) => Auth::Cookie(c.clone()),
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "solo mining needs --rpc-user and --rpc-pass, or --rpc-cookie",
                ))
            }
        };
        let address = args
            .address
            .as_deref()
            .expect("clap requires --address with --node");
        let mut options = SoloOptions::new(node, auth, address::script_for_address(address)?);
        options.version_rolling = !args.no_version_rolling;
        return Ok(Box::new(SoloSource::new(options)?));
    }
    let user = args.user.clone().expect("clap requires --user with --pool");
    let pools = args
        .pool
        .iter()
        .map(|url| Ok(PoolConfig::new(url.parse::<PoolUrl>()?, &user, &args.pass)))
        .collect::<Result<Vec<_>, Error>>()?;
    let mut options = PoolOptions::new(pools);
    options.version_rolling = !args.no_version_rolling;
    options.suggest_difficulty = args.suggest_difficulty;
    if let Some(ca) = &args.pool_ca {
        options.tls = TlsSettings::default().with_ca_file(ca);
    }
    Ok(Box::new(PoolSource::new(options)?))
}

pub fn run(args: MineArgs) -> Result<(), Error> {
    let time = match args.time {
        Some(t) if !(t.is_finite() && t > 0.0) => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--time wants a positive number of seconds, got {t}"),
            ))
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let engines = open_engines(&args)?;
    let mut source = open_source(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let on_signal = Arc::clone(&stop);
    // The first Ctrl-C stops like a limit: what was found is still submitted and the summary
    // printed. A second one, for a peer that never answers, quits at once.
    ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
    })
    .map_err(|e| Error::new(ErrorKind::Io, format!("cannot catch Ctrl-C: {e}")))?;
    let options = MineOptions {
        shares: args.shares,
        blocks: args.blocks,
        time,
        stop: Some(stop),
        ..MineOptions::default()
    };
    let live = std::io::stderr().is_terminal();
    let mut last_notice = None;
    let mut line_drawn = false;
    let mut last = (0u64, std::time::Instant::now());
    let stats = mine(source.as_mut(), &engines, &options, &mut |stats, notice| {
        let mut err = std::io::stderr().lock();
        if line_drawn {
            let _ = write!(err, "\r{:100}\r", "");
            line_drawn = false;
        }
        if let Some(text) = notice {
            let _ = writeln!(err, "{text}");
            last_notice = Some(text.to_string());
        }
        if live {
            // The live rate: hashes since the last line, not the whole run's average.
            let now = std::time::Instant::now();
            let rate = (stats.hashes - last.0) as f64 / (now - last.1).as_secs_f64().max(1e-3);
            if notice.is_none() {
                last = (stats.hashes, now);
            }
            let _ = write!(err, "{}", status_line(stats, rate));
            let _ = err.flush();
            line_drawn = true;
        }
    });
    if line_drawn {
        eprint!("\r{:100}\r", "");
    }
    let stats = stats?;
    if stats.jobs == 0 {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "no work arrived in {:.0} s ({}){}",
                stats.elapsed.as_secs_f64(),
                stats.source,
                last_notice.map_or(String::new(), |n| format!(" (last: {n})"))
            ),
        ));
    }
    if args.json {
        println!("{}", summary_json(&stats));
    } else {
        eprintln!("{}", summary_text(&stats));
    }
    // The summary is out; the exit status still says the run ended on broken engines.
    if stats.every_engine_failed() {
        return Err(Error::new(
            ErrorKind::Device,
            format!("every engine failed: {}", stats.engine_failures.join("; ")),
        ));
    }
    Ok(())
}

fn status_line(s: &Stats, rate: f64) -> String {
    format!(
        "{} | {} | A {} R {} S {} | diff {} | best {} | blocks {}",
        si(rate, "H/s"),
        s.engines.join("+"),
        s.accepted,
        s.rejected_total(),
        s.stale,
        s.difficulty.map_or("-".into(), difficulty),
        difficulty(s.best_share_difficulty),
        s.blocks_accepted,
    )
}

/// Pool difficulties run from 1e-10 (regtest) to 1e14 (mainnet): plain decimals in between,
/// exponents at the ends.
fn difficulty(d: f64) -> String {
    if d == 0.0 || (1e-3..1e9).contains(&d) {
        format!("{d:.4}")
    } else {
        format!("{d:.3e}")
    }
}

fn si(v: f64, unit: &str) -> String {
    let (scale, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
        .into_iter()
        .find(|(scale, _)| v >= *scale)
        .unwrap_or((1.0, ""));
    format!("{:.2} {prefix}{unit}", v / scale)
}

fn summary_json(s: &Stats) -> serde_json::Value {
    json!({
        "source": s.source,
        "engines": s.engines,
        "elapsed_s": s.elapsed.as_secs_f64(),
        "hashes": s.hashes,
        "hashrate": s.hashrate(),
        "proven_hashrate": s.proven_hashrate(),
        "jobs": s.jobs,
        "job_switch_ms_max": s.job_switch_worst.as_secs_f64() * 1e3,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "rejected_total": s.rejected_total(),
        "stale": s.stale,
        "hardware_errors": s.hardware_errors,
        "shares_found": s.shares_found,
        "shares_submitted": s.shares_submitted,
        "dropped": s.dropped.iter().map(|(why, n)| (why.as_str(), n)).collect::<BTreeMap<_, _>>(),
        "dropped_total": s.dropped_total(),
        "unanswered": s.unanswered,
        "engine_failures": s.engine_failures,
        "best_share_difficulty": s.best_share_difficulty,
        "difficulty": s.difficulty,
        "blocks_found": s.blocks_found,
        "blocks_accepted": s.blocks_accepted,
        "blocks": s.blocks.iter().map(|b| json!({
            "hash": b.hash.to_string(),
            "height": b.height,
            "hashes": b.hashes,
        })).collect::<Vec<_>>(),
    })
}

fn summary_text(s: &Stats) -> String {
    let mut out = format!(
        "{} in {:.1} s on {}: {} hashes, {} measured, {} proven by accepted shares\n\
         accepted {}, rejected {}, stale {}, hardware errors {}, best share difficulty {}",
        s.source,
        s.elapsed.as_secs_f64(),
        s.engines.join(", "),
        s.hashes,
        si(s.hashrate(), "H/s"),
        si(s.proven_hashrate(), "H/s"),
        s.accepted,
        s.rejected_total(),
        s.stale,
        s.hardware_errors,
        difficulty(s.best_share_difficulty),
    );
    for (reason, n) in &s.rejected {
        out += &format!("\n  rejected {n} x {reason}");
    }
    out += &format!(
        "\nfound {}, submitted {}, unanswered {}, not submitted {}",
        s.shares_found,
        s.shares_submitted,
        s.unanswered,
        s.dropped_total()
    );
    for (why, n) in &s.dropped {
        out += &format!("\n  not submitted {n} x {why}");
    }
    for failure in &s.engine_failures {
        out += &format!("\n{failure}");
    }
    // On regtest behind a pool nearly every share is a block; list the first few.
    const LISTED: usize = 10;
    for b in s.blocks.iter().take(LISTED) {
        out += &format!("\nblock {}", b.hash);
        if let Some(h) = b.height {
            out += &format!(" at height {h}");
        }
    }
    let more = s.blocks_accepted.saturating_sub(LISTED as u64);
    if more > 0 {
        out +=
            &format!("\n... and {more} more blocks (--json lists the first {MAX_LISTED_BLOCKS})");
    }
    out
}
