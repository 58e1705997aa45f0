//! `sha256d mine`: shares for a Stratum pool, or blocks for a node through getblocktemplate.

use crate::energy_args::EnergyArgs;
use crate::engine_args::EngineArgs;
use crate::node_args::NodeAuthArgs;
use crate::power_args::PowerArgs;
use crate::power_run::{self, PowerRun};
use crate::progress::{si, StatusLine};
use crate::{hotplug, secret, signals, values};
use clap::{ArgGroup, Args, ValueEnum};
use serde_json::json;
use sha256d::hazmat::hex;
use sha256d::{Error, ErrorKind};
use sha256d_mining::gbt::{SoloOptions, SoloSource};
use sha256d_mining::pool::{PoolConfig, PoolOptions, PoolSource};
use sha256d_mining::share_log::{self, ShareLog};
use sha256d_mining::sv2::ChannelKind;
use sha256d_mining::{
    address, mine, sanitize, AcceptedBlock, DeviceStats, MineOptions, Source, Stats,
    MAX_LISTED_BLOCKS,
};
use sha256d_mining::{PoolUrl, TlsSettings};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How sure the proven hash rate's interval is.
const CONFIDENCE: f64 = 0.95;

/// Where `--pass` can come from instead of the command line.
const POOL_PASS_VAR: &str = "SHA256D_POOL_PASS";

/// `--sv2-channel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Sv2Channel {
    Standard,
    Extended,
}

#[derive(Args)]
#[command(group(ArgGroup::new("source").required(true).args(["pool", "node"])))]
pub struct MineArgs {
    /// Pool URL, stratum+tcp://HOST:PORT or stratum+ssl://HOST:PORT, or a Stratum V2 pool as
    /// stratum2+tcp://HOST:PORT/AUTHORITY_KEY (the pool's base58 authority key, which
    /// authenticates it). Repeat for a failover list, V1 and V2 pools mixed: the first is
    /// preferred and mining returns to it when it is back.
    #[arg(long, value_name = "URL", requires = "user")]
    pool: Vec<String>,
    /// Pool worker name (often ADDRESS.WORKER or ACCOUNT.WORKER).
    #[arg(long, value_name = "U")]
    user: Option<String>,
    /// Pool password (most pools ignore it; default x). Other local users can read it in
    /// `ps`: prefer --pass-file or SHA256D_POOL_PASS for a real one.
    #[arg(long, value_name = "P")]
    pass: Option<String>,
    /// Read the pool password from this file (one line), or else from SHA256D_POOL_PASS.
    #[arg(long, value_name = "FILE", conflicts_with = "pass")]
    pass_file: Option<PathBuf>,
    /// Do not ask the pool for version rolling (BIP310 `mining.configure`).
    #[arg(long)]
    no_version_rolling: bool,
    /// Ask the pool for this share difficulty (`mining.suggest_difficulty`).
    #[arg(long, value_name = "D", value_parser = values::difficulty)]
    suggest_difficulty: Option<f64>,
    /// Extra CA certificates (PEM) to trust for stratum+ssl:// pools, besides the usual roots.
    #[arg(long, value_name = "FILE")]
    pool_ca: Option<PathBuf>,
    /// A host a pool's `client.reconnect` may send the miner to, besides the pool's own
    /// (repeatable). Any other host is refused: following one would hand it the credentials.
    #[arg(long, value_name = "HOST")]
    pool_allow_reconnect: Vec<String>,
    /// The channel to open on Stratum V2 pools. Standard (the default): header-only work, the
    /// pool keeps the coinbase and sends the merkle root, which is all an engine needs.
    /// Extended: the coinbase and an extranonce to roll, for pools without standard channels.
    #[arg(long, value_name = "KIND", default_value = "standard")]
    sv2_channel: Sv2Channel,
    /// Mine on stratum2+tcp:// pools whose URL has no authority key, WITHOUT authenticating
    /// them: anyone on the path can then pose as the pool and take the hashrate. Only for a
    /// pool on a trusted LAN that has no key.
    #[arg(long)]
    sv2_insecure_skip_authority_check: bool,
    /// The hash rate to announce to Stratum V2 pools when opening a channel, in hashes per
    /// second (default 10M; a suffix k, M, G, T or P scales it); the pool sets the first share
    /// target from it.
    #[arg(long, value_name = "H", value_parser = values::hashrate)]
    sv2_hashrate: Option<f64>,
    /// Node JSON-RPC URL for solo mining, e.g. http://127.0.0.1:18443.
    #[arg(long, value_name = "URL", requires = "address")]
    node: Option<String>,
    #[command(flatten)]
    node_auth: NodeAuthArgs,
    /// Solo: the address block rewards are paid to.
    #[arg(long, value_name = "ADDR")]
    address: Option<String>,
    /// Engine to hash with; repeat to use several at once. Default: the fastest CPU engine.
    #[arg(long, value_name = "NAME")]
    engine: Vec<String>,
    #[command(flatten)]
    engines: EngineArgs,
    #[command(flatten)]
    energy: EnergyArgs,
    #[command(flatten)]
    power: PowerArgs,
    /// Stop after this many accepted shares.
    #[arg(long, value_name = "N", value_parser = values::count)]
    shares: Option<u64>,
    /// Stop after this many accepted blocks (a new template waits while the blocks in flight
    /// could make this many).
    #[arg(long, value_name = "N", value_parser = values::count)]
    blocks: Option<u64>,
    /// Stop after this many seconds (at most ten years).
    #[arg(long, value_name = "S", value_parser = values::run_time)]
    time: Option<Duration>,
    /// When stderr is not a terminal (a log file, systemd), log a status line this often, in
    /// seconds; 0 for none.
    #[arg(long, value_name = "S", default_value = "60", value_parser = values::status_interval)]
    status_interval: Duration,
    /// Append a line for every verdict to FILE: JSON, each line carrying the hash of the one
    /// before (`sha256d verify-log FILE` checks it). An existing log's chain goes on.
    #[arg(long, value_name = "FILE")]
    share_log: Option<PathBuf>,
    /// Rotate the share log to FILE.N (N counting up) before it grows past this size; the
    /// chain goes on in the new FILE.
    #[arg(
        long,
        value_name = "BYTES",
        default_value_t = share_log::DEFAULT_MAX_BYTES,
        value_parser = values::share_log_bytes
    )]
    share_log_max_bytes: u64,
    /// Print a JSON summary object at the end instead of text.
    #[arg(long)]
    json: bool,
    /// Read flags from this TOML file: each key a flag's long name, each value what the flag
    /// takes (an array repeats it, true sets a switch), e.g. `pool = ["stratum+tcp://h:3333"]`,
    /// `threads = 2`. A flag on the command line replaces its key. Passwords are not keys: use
    /// pass-file / rpc-pass-file or the environment.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Opens `--share-log`, telling the operator how its chain goes on.
fn open_share_log(args: &MineArgs) -> Result<Option<Arc<Mutex<ShareLog>>>, Error> {
    let Some(path) = &args.share_log else {
        return Ok(None);
    };
    let (log, notes) = ShareLog::open(path, args.share_log_max_bytes)?;
    for note in notes {
        log::info!("{note}");
    }
    Ok(Some(Arc::new(Mutex::new(log))))
}

fn open_source(args: &MineArgs, stop: &Arc<AtomicBool>) -> Result<Box<dyn Source>, Error> {
    if let Some(node) = &args.node {
        let auth = args.node_auth.auth("solo mining")?;
        let address = args
            .address
            .as_deref()
            .expect("clap requires --address with --node");
        let mut options = SoloOptions::new(node, auth, address::script_for_address(address)?);
        options.version_rolling = !args.no_version_rolling;
        // Ctrl-C ends a call to the node at once, and a block waiting for it is saved, not waited for.
        options.stop = Some(Arc::clone(stop));
        return Ok(Box::new(SoloSource::new(options)?));
    }
    let user = args.user.clone().expect("clap requires --user with --pool");
    let pass = secret::resolve(
        args.pass.as_deref(),
        args.pass_file.as_deref(),
        POOL_PASS_VAR,
    )?
    .unwrap_or_else(|| "x".to_string());
    let pools = args
        .pool
        .iter()
        .map(|url| {
            Ok(PoolConfig::new(url.parse::<PoolUrl>()?, &user, &pass)
                .with_reconnect_hosts(args.pool_allow_reconnect.iter().cloned()))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut options = PoolOptions::new(pools);
    options.version_rolling = !args.no_version_rolling;
    options.suggest_difficulty = args.suggest_difficulty;
    options.sv2_channel = match args.sv2_channel {
        Sv2Channel::Standard => ChannelKind::Standard,
        Sv2Channel::Extended => ChannelKind::Extended,
    };
    if let Some(h) = args.sv2_hashrate {
        // The channel carries an f32; every rate the parser takes fits one.
        options.sv2_nominal_hash_rate = h as f32;
    }
    if args.sv2_insecure_skip_authority_check {
        log::warn!(
            "--sv2-insecure-skip-authority-check: Stratum V2 pools without an authority key are \
             NOT authenticated; anyone on the path can pose as the pool and take the hashrate"
        );
        options.sv2_insecure_skip_authority_check = true;
    }
    if let Some(ca) = &args.pool_ca {
        options.tls = TlsSettings::default().with_ca_file(ca);
    }
    Ok(Box::new(PoolSource::new(options)?))
}

pub fn run(args: MineArgs) -> Result<(), Error> {
    let (engines, watches) = args.engines.open_all(&args.engine)?;
    let run_ended = Arc::new(AtomicBool::new(false));
    let joining = (!watches.is_empty()).then(|| {
        let engines = Arc::new(args.engines.clone());
        let rx = hotplug::watch(engines, watches, Arc::clone(&run_ended));
        Arc::new(Mutex::new(rx))
    });
    for e in &engines {
        log::debug!("engine {}: {}", e.name(), e.describe());
    }
    let names: Vec<&str> = engines.iter().map(|e| e.name()).collect();
    let mut energy = args.energy.open(&names)?;
    let declared_watts = args.energy.declared_watts();
    let mut power = args.power.open(declared_watts)?;
    let share_log = open_share_log(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let mut source = open_source(&args, &stop)?;
    let on_signal = Arc::clone(&stop);
    signals::on_interrupt(move || on_signal.store(true, Ordering::Relaxed))?;
    let mut sampler = power.as_ref().map(power_run::Sampler::new);
    let options = MineOptions {
        duty: power.as_ref().map(PowerRun::duty),
        // The power control judges compliance from these: a few times a second.
        status_every: if power.is_some() {
            Duration::from_millis(100)
        } else {
            MineOptions::default().status_every
        },
        shares: args.shares,
        blocks: args.blocks,
        time: args.time,
        stop: Some(stop),
        share_log: share_log.clone(),
        joining,
        ..MineOptions::default()
    };
    if let Some(power) = &mut power {
        power.start(declared_watts);
    }
    let live = StatusLine::new();
    let mut last_notice = None;
    let mut periodic = Periodic::new(args.status_interval);
    let stats = mine(source.as_mut(), &engines, &options, &mut |stats, notice| {
        energy.sample();
        if let Some(sampler) = &mut sampler {
            sampler.sample(stats.hashes, energy.joules());
        }
        if let Some(text) = notice {
            // Notices carry peers' words (pool messages, node errors): never raw to a terminal.
            let text = sanitize::for_terminal(text);
            log::info!("{text}");
            last_notice = Some(text);
        }
        if live.is_shown() {
            live.set(stats.hashes, status_tail(stats));
        } else if let Some(rate) = periodic.due(stats.hashes) {
            log::info!("{} | {}", si(rate, "H/s"), status_tail(stats));
        }
    });
    drop(live);
    run_ended.store(true, Ordering::Relaxed);
    let power_events = power.map(PowerRun::finish);
    // The energy up to the end, for the same window as the shares.
    energy.sample();
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
    let share_log = share_log.map(|log| {
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        (log.path().to_path_buf(), log.written(), log.head())
    });
    if args.json {
        let mut summary = summary_json(&stats);
        energy.add_json(&mut summary, &stats);
        summary["power_events"] = power_events
            .as_ref()
            .map_or(json!([]), |(events, _)| power_run::events_json(events));
        if let Some((path, lines, head)) = &share_log {
            summary["share_log"] = json!({
                "path": path.display().to_string(),
                "lines_written": lines,
                "head": hex::encode(head),
            });
        }
        outln!("{summary}");
    } else {
        let mut text = summary_text(&stats);
        text += &energy.text(&stats);
        if let Some((events, dropped)) = &power_events {
            text += &power_run::events_text(events, *dropped);
        }
        if let Some((path, lines, head)) = &share_log {
            text += &format!(
                "\nshare log {}: {lines} lines written, head {} (kept elsewhere, `sha256d \
                 verify-log --head` shows the chain still passes through it)",
                path.display(),
                hex::encode(head)
            );
        }
        errln!("{text}");
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

/// Status lines off a terminal: due every `every`, each with the rate since the last one.
struct Periodic {
    every: Duration,
    last: (u64, Instant),
}

impl Periodic {
    fn new(every: Duration) -> Self {
        Periodic {
            every,
            last: (0, Instant::now()),
        }
    }

    /// The hashrate since the last line, if a line is due now with `hashes` done.
    fn due(&mut self, hashes: u64) -> Option<f64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last.1);
        if self.every.is_zero() || elapsed < self.every {
            return None;
        }
        let rate = hashes.saturating_sub(self.last.0) as f64 / elapsed.as_secs_f64();
        self.last = (hashes, now);
        Some(rate)
    }
}

/// The status after the hashrate: engines, share counts, difficulty, best share, blocks
/// (behind a pool, block candidates).
fn status_tail(s: &Stats) -> String {
    let mut tail = format!(
        "{} | A {} R {} S {} | diff {} | best {} | blocks {}",
        s.engines.join("+"),
        s.accepted,
        s.rejected_total(),
        s.stale,
        s.difficulty.map_or("-".into(), difficulty),
        difficulty(s.best_share_difficulty),
        s.blocks_accepted,
    );
    if s.block_candidates > 0 {
        tail += &format!(" | candidates {}", s.block_candidates);
    }
    tail
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

fn summary_json(s: &Stats) -> serde_json::Value {
    // No upper bound before the first accepted share: null, as JSON has no infinity.
    let (low, high) = s.proven_hashrate_interval(CONFIDENCE);
    json!({
        "source": s.source,
        "engines": s.engines,
        "elapsed_s": s.elapsed.as_secs_f64(),
        "hashes": s.hashes,
        "hashrate": s.hashrate(),
        "proven_hashrate": s.proven_hashrate(),
        "proven_hashrate_interval": [low, high.is_finite().then_some(high)],
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
        "blocks": blocks_json(&s.blocks),
        "block_candidates": s.block_candidates,
        "candidates": blocks_json(&s.candidates),
        "devices": s.devices.iter().map(|d| device_json(d, s.elapsed)).collect::<Vec<_>>(),
    })
}

fn device_json(d: &DeviceStats, elapsed: Duration) -> serde_json::Value {
    let (low, high) = d.proven_hashrate_interval(elapsed, CONFIDENCE);
    json!({
        "engine": d.engine,
        "device": d.device,
        "hashes": d.hashes,
        "hashrate": d.hashrate(elapsed),
        "proven_hashrate": d.proven_hashrate(elapsed),
        "proven_hashrate_interval": [low, high.is_finite().then_some(high)],
        "shares_found": d.shares_found,
        "accepted": d.accepted,
        "rejected": d.rejected,
        "stale": d.stale,
        "hardware_errors": d.hardware_errors,
        "known_answer_misses": d.known_answer_misses,
        "failure": d.failure,
    })
}

/// A line per device, when there are several (with one, the totals are its figures), and a
/// warning for each that claims more than its accepted shares prove.
fn devices_text(s: &Stats) -> String {
    let mut out = String::new();
    if s.devices.len() > 1 {
        for d in &s.devices {
            let (low, high) = d.proven_hashrate_interval(s.elapsed, CONFIDENCE);
            let interval = if high.is_finite() {
                format!(" (95%: {} to {})", si(low, "H/s"), si(high, "H/s"))
            } else {
                String::new()
            };
            out += &format!(
                "\n  {} ({}): {} measured, {} proven{}, accepted {}, rejected {}, stale {}, \
                 hardware errors {}, known-answer misses {}",
                d.engine,
                d.device,
                si(d.hashrate(s.elapsed), "H/s"),
                si(d.proven_hashrate(s.elapsed), "H/s"),
                interval,
                d.accepted,
                d.rejected,
                d.stale,
                d.hardware_errors,
                d.known_answer_misses,
            );
            // Why is among the engine failures below.
            if d.failure.is_some() {
                out += ", stopped";
            }
        }
    }
    for d in s
        .devices
        .iter()
        .filter(|d| d.claims_more_than_proven(s.elapsed, CONFIDENCE))
    {
        out += &format!(
            "\nwarning: {} ({}) claims {} but its accepted shares prove at most {} (95%)",
            d.engine,
            d.device,
            si(d.hashrate(s.elapsed), "H/s"),
            si(d.proven_hashrate_interval(s.elapsed, CONFIDENCE).1, "H/s"),
        );
    }
    out
}

fn blocks_json(blocks: &[AcceptedBlock]) -> Vec<serde_json::Value> {
    blocks
        .iter()
        .map(|b| {
            json!({
                "hash": b.hash.to_string(),
                "height": b.height,
                "hashes": b.hashes,
            })
        })
        .collect()
}

fn summary_text(s: &Stats) -> String {
    let (low, high) = s.proven_hashrate_interval(CONFIDENCE);
    let interval = if high.is_finite() {
        format!(" (95%: {} to {})", si(low, "H/s"), si(high, "H/s"))
    } else {
        String::new()
    };
    let mut out = format!(
        "{} in {:.1} s on {}: {} hashes, {} measured, {} proven by accepted shares{}\n\
         accepted {}, rejected {}, stale {}, hardware errors {}, best share difficulty {}",
        s.source,
        s.elapsed.as_secs_f64(),
        s.engines.join(", "),
        s.hashes,
        si(s.hashrate(), "H/s"),
        si(s.proven_hashrate(), "H/s"),
        interval,
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
    out += &devices_text(s);
    for failure in &s.engine_failures {
        out += &format!("\n{failure}");
    }
    if s.hashrate() > high {
        out += &format!(
            "\nwarning: the engines claim {} but the accepted shares prove at most {} (95%): \
             an engine counts hashes it does not do, or shares are lost on the way",
            si(s.hashrate(), "H/s"),
            si(high, "H/s")
        );
    }
    out += &list_blocks("block", "blocks", &s.blocks, s.blocks_accepted);
    if s.block_candidates > 0 {
        out += &format!(
            "\n{} block candidates: shares that meet the network target, accepted by the pool, \
             which may submit them (only the chain tells whether one got in)",
            s.block_candidates
        );
    }
    out += &list_blocks(
        "block candidate",
        "candidates",
        &s.candidates,
        s.block_candidates,
    );
    out
}

/// The first few of `blocks` (`total` in all) as lines: on regtest behind a pool nearly every
/// share is a block candidate.
fn list_blocks(what: &str, plural: &str, blocks: &[AcceptedBlock], total: u64) -> String {
    const LISTED: usize = 10;
    let mut out = String::new();
    for b in blocks.iter().take(LISTED) {
        out += &format!("\n{what} {}", b.hash);
        if let Some(h) = b.height {
            out += &format!(" at height {h}");
        }
    }
    let more = total.saturating_sub(LISTED as u64);
    if more > 0 {
        out +=
            &format!("\n... and {more} more {plural} (--json lists the first {MAX_LISTED_BLOCKS})");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 s, 100 accepted shares of difficulty 1e-4: about 4.3 MH/s proven.
    fn stats(hashes: u64) -> Stats {
        Stats {
            source: "pool".into(),
            engines: vec!["asic".into()],
            elapsed: Duration::from_secs(10),
            hashes,
            accepted: 100,
            accepted_difficulty: 100.0 * 1e-4,
            accepted_difficulty_squared: 100.0 * 1e-8,
            ..Stats::default()
        }
    }

    #[test]
    fn the_summary_gives_the_proven_interval_and_warns_when_claims_exceed_it() {
        let honest = summary_text(&stats(43_000_000));
        assert!(
            honest.contains("4.29 MH/s proven by accepted shares (95%: 3.49 MH/s to 5.22 MH/s)"),
            "{honest}"
        );
        assert!(!honest.contains("warning"), "{honest}");
        let inflated = summary_text(&stats(430_000_000));
        assert!(
            inflated.contains(
                "warning: the engines claim 43.00 MH/s but the accepted shares prove at most \
                 5.22 MH/s (95%)"
            ),
            "{inflated}"
        );
        let json = summary_json(&stats(43_000_000));
        let interval = json["proven_hashrate_interval"]
            .as_array()
            .expect("a pair")
            .iter()
            .map(|v| v.as_f64().expect("a number"))
            .collect::<Vec<_>>();
        assert!((interval[0] - 3.49e6).abs() < 0.02e6, "{interval:?}");
        assert!((interval[1] - 5.22e6).abs() < 0.02e6, "{interval:?}");
        let nothing = summary_json(&Stats {
            elapsed: Duration::from_secs(1),
            ..Stats::default()
        });
        assert_eq!(nothing["proven_hashrate_interval"], json!([0.0, null]));
    }
}
