//! `sha256d`: search, hash and benchmark Bitcoin proof-of-work from the command line.
//!
//! The subcommands and their flags are an interface other tools script against: keep them
//! stable.

mod bench;
#[cfg(target_os = "linux")]
mod emulate;
mod engine_args;
mod mine;
mod progress;

use clap::{ArgGroup, Args, Parser, Subcommand};
use serde_json::json;
use sha256d::{CompactTarget, Control, Error, ErrorKind, Header, Target, Work};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(
    name = "sha256d",
    version,
    about = "Bitcoin proof-of-work nonce search"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the block hash (explorer byte order) of a header given as 160 hex digits.
    Hash {
        /// The 80-byte header, hex.
        header: String,
    },
    /// Find every nonce (and rolled version) whose hash meets a target.
    Search(SearchArgs),
    /// List every engine, whether it can run here, and why not.
    Engines {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check that every available engine agrees, then time each against reference code.
    Bench(bench::BenchArgs),
    /// Mine for real: shares for a Stratum pool, or blocks for a node (getblocktemplate).
    Mine(Box<mine::MineArgs>),
    /// Emulate a USB ASIC stick on a pseudo-terminal (prints `pty: PATH` first).
    #[cfg(target_os = "linux")]
    Emulate(emulate::EmulateArgs),
}

#[derive(Args)]
#[command(group(ArgGroup::new("goal").required(true)))]
struct SearchArgs {
    /// The 80-byte header, hex (its nonce is ignored).
    #[arg(long)]
    header: String,
    /// Target as 64 hex digits, most significant first (as explorers show hashes).
    #[arg(long, group = "goal")]
    target: Option<String>,
    /// Target in compact form (nBits), 8 hex digits, e.g. 1d00ffff.
    #[arg(long, group = "goal")]
    bits: Option<String>,
    /// Target as a pool difficulty (1 = 0x00000000ffff0000...).
    #[arg(long, group = "goal", allow_negative_numbers = true)]
    difficulty: Option<f64>,
    /// Nonce range A..B, half-open; B may be 4294967296. Default: every nonce.
    #[arg(long, value_name = "A..B")]
    nonces: Option<String>,
    /// Version-rolling mask, 8 hex digits (BIP320 pools use 1fffe000).
    #[arg(long, value_name = "HEX8", requires = "rolls")]
    version_mask: Option<String>,
    /// How many versions to roll through the mask.
    #[arg(long, requires = "version_mask")]
    rolls: Option<u64>,
    /// Engine name (see `sha256d engines`). Default: the fastest CPU engine.
    #[arg(long)]
    engine: Option<String>,
    #[command(flatten)]
    engines: engine_args::EngineArgs,
    /// Fail instead of returning more than this many results.
    #[arg(long, default_value_t = sha256d::DEFAULT_MAX_RESULTS)]
    max_results: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Hash { header } => hash(&header),
        Command::Search(args) => search(args),
        Command::Engines { json } => engines(json),
        Command::Bench(args) => bench::run(args),
        Command::Mine(args) => mine::run(*args),
        #[cfg(target_os = "linux")]
        Command::Emulate(args) => emulate::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hash(header: &str) -> Result<(), Error> {
    println!("{}", Header::from_hex(header)?.block_hash());
    Ok(())
}

fn target_of(args: &SearchArgs) -> Result<Target, Error> {
    if let Some(t) = &args.target {
        Target::from_be_hex(t)
    } else if let Some(b) = &args.bits {
        Target::from_compact(CompactTarget::from_hex(b)?)
    } else if let Some(d) = args.difficulty {
        Target::from_difficulty(d)
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            "give one of --target, --bits or --difficulty",
        ))
    }
}

fn search(args: SearchArgs) -> Result<(), Error> {
    let header = Header::from_hex(&args.header)?;
    let mut work = Work::new(header, target_of(&args)?).with_max_results(args.max_results);
    if let Some(n) = &args.nonces {
        work = work.with_nonces(sha256d::parse_nonce_range(n)?)?;
    }
    if let (Some(mask), Some(rolls)) = (&args.version_mask, args.rolls) {
        let mask = u32::from_be_bytes(sha256d::hex::decode_array(
            mask.trim_start_matches("0x"),
            "--version-mask",
        )?);
        work = work.with_version_rolling(mask, rolls)?;
    }
    let engine = args.engines.open(args.engine.as_deref())?;

    let ctl = Control::new();
    let started = Instant::now();
    let mut found = Vec::new();
    let summary = progress::while_running(&ctl, work.total_hashes(), !args.json, || {
        engine.search_stream(&work, &ctl, &mut |f| {
            if !args.json {
                println!(
                    "found version={:08x} nonce={} hash={}",
                    f.version, f.nonce, f.hash
                );
            }
            found.push(*f);
        })
    })?;
    let seconds = started.elapsed().as_secs_f64();
    found.sort_unstable();
    if args.json {
        let found: Vec<_> = found
            .iter()
            .map(|f| json!({"version": f.version, "nonce": f.nonce, "hash": f.hash.to_string()}))
            .collect();
        println!(
            "{}",
            json!({
                "engine": engine.name(),
                "found": found,
                "hashes": summary.hashes,
                "seconds": seconds,
                "hardware_errors": summary.hardware_errors,
                "known_answer_misses": summary.known_answer_misses,
                "incomplete": summary.incomplete,
            })
        );
    } else {
        eprintln!(
            "{} found in {} hashes, {:.3} s, {:.2} MH/s, {} hardware errors, {} known-answer \
             misses ({}: {})",
            summary.found,
            summary.hashes,
            seconds,
            summary.hashes as f64 / seconds.max(1e-9) / 1e6,
            summary.hardware_errors,
            summary.known_answer_misses,
            engine.name(),
            engine.describe()
        );
    }
    if summary.incomplete {
        return Err(Error::new(
            ErrorKind::Device,
            format!(
                "the results may be incomplete: the device had {} hardware errors and missed {} \
                 known answers that re-sweeping did not clear",
                summary.hardware_errors, summary.known_answer_misses
            ),
        ));
    }
    Ok(())
}

fn engines(as_json: bool) -> Result<(), Error> {
    let list = sha256d::engines();
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|s| match &s.availability {
                Ok(d) => json!({"name": s.name, "available": true, "detail": d}),
                Err(why) => json!({"name": s.name, "available": false, "detail": why}),
            })
            .collect();
        println!("{}", json!({ "engines": rows }));
    } else {
        for s in &list {
            match &s.availability {
                Ok(d) => println!("{:<10} available      {d}", s.name),
                Err(why) => println!("{:<10} not available  {why}", s.name),
            }
        }
    }
    Ok(())
}
