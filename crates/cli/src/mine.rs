//! `sha256d mine`: shares for a Stratum pool, or blocks for a node through getblocktemplate.

use crate::api_args::ApiArgs;
use crate::api_run::ApiRun;
use crate::energy_args::EnergyArgs;
use crate::engine_args::EngineArgs;
use crate::node_args::NodeAuthArgs;
use crate::power_args::PowerArgs;
use crate::power_run::{self, PowerRun};
use crate::progress::{si, StatusLine};
use crate::summary::{status_tail, summary_json, summary_text};
use crate::{hotplug, secret, signals, values};
use clap::{ArgGroup, Args, ValueEnum};
use serde_json::json;
use sha256d::hazmat::hex;
use sha256d::{Error, ErrorKind};
use sha256d_mining::gbt::{SoloOptions, SoloSource};
use sha256d_mining::miner::DeviceSwitches;
use sha256d_mining::pool::{PoolBoard, PoolConfig, PoolOptions, PoolSource};
use sha256d_mining::share_log::{self, ShareLog};
use sha256d_mining::sv2::ChannelKind;
use sha256d_mining::{address, mine, sanitize, MineOptions, Source};
use sha256d_mining::{PoolUrl, TlsSettings};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    #[command(flatten)]
    api: ApiArgs,
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

/// The run's source, and the board its pools show on (empty for a solo run).
fn open_source(
    args: &MineArgs,
    stop: &Arc<AtomicBool>,
) -> Result<(Box<dyn Source>, Arc<PoolBoard>), Error> {
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
        return Ok((Box::new(SoloSource::new(options)?), Arc::default()));
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
    let source = PoolSource::new(options)?;
    let board = source.board();
    Ok((Box::new(source), board))
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
    // A stick may be declared before one is plugged in; the meters then count what runs.
    let mut may_run = names.clone();
    if joining.is_some() {
        may_run.push("asic");
    }
    let mut energy = args.energy.open(&may_run)?;
    energy.engines_changed(&names);
    let mut running: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let declared_watts = args.energy.declared_watts(&names);
    let api_setpoint = ApiRun::setpoint(&args.api);
    let mut power = args.power.open(declared_watts, api_setpoint.clone())?;
    let share_log = open_share_log(&args)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (mut source, pools) = open_source(&args, &stop)?;
    let switches = Arc::new(DeviceSwitches::default());
    let knows_watts = declared_watts.is_some() || energy.joules().is_some();
    let mut api = ApiRun::start(
        &args.api,
        api_setpoint,
        knows_watts,
        Arc::clone(&switches),
        pools,
    )?;
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
        known_answer_every: args.engines.known_answer_every(),
        switches: Some(switches),
        ..MineOptions::default()
    };
    if let Some(power) = &mut power {
        power.start(declared_watts, power_run::gpu_limits(&engines));
    }
    let live = StatusLine::new();
    let mut last_notice = None;
    let mut periodic = Periodic::new(args.status_interval);
    let mut devices = crate::device_events::DeviceWatch::default();
    let stats = mine(source.as_mut(), &engines, &options, &mut |stats, notice| {
        devices.log(stats);
        let now_running = stats
            .devices
            .iter()
            .filter(|d| d.failure.is_none())
            .map(|d| d.engine.clone());
        if !now_running.clone().eq(running.iter().cloned()) {
            running = now_running.collect();
            energy.engines_changed(&running.iter().map(String::as_str).collect::<Vec<_>>());
        }
        energy.sample();
        if let Some(sampler) = &mut sampler {
            sampler.sample(stats.hashes, energy.joules(), energy.estimated());
        }
        if let Some(api) = &mut api {
            api.publish(stats, &energy, power.as_ref(), args.node.as_deref());
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
        crate::logging::report(log::Level::Info, "summary", &text);
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
