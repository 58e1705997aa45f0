//! `sha256d bench`: every available engine on the same work. First the engines must return
//! identical results on a search with many hits; then every row (each engine at each rolled
//! version count, and the reference code a user would otherwise write with the `sha2` crate)
//! is timed in interleaved rounds, next to the ceiling its instructions allow on this machine,
//! so the ratios hold on a noisy machine.

mod compare;
mod context;
mod limits;
mod plot;
mod reference;
mod report;
mod saved;
mod stats;
#[cfg(target_os = "linux")]
mod stepped;
mod timing;

#[cfg(target_os = "linux")]
pub use stepped::{child as step_kernel, StepKernelArgs};

use crate::values;
use clap::Args;
use limits::{Adapter, Ceiling, Limit};
use sha256d::hazmat::ceiling;
use sha256d::{
    engine::ENGINE_NAMES, Control, Engine, Error, ErrorKind, Header, Options, Target, Work,
    BIP320_VERSION_MASK,
};
use timing::{Measured, Probe, Timer};

#[derive(Args)]
pub struct BenchArgs {
    /// Seconds of timed runs per row (after warm-up), 0.01 to 3600.
    #[arg(long, default_value_t = 5.0, value_parser = values::bench_seconds)]
    seconds: f64,
    /// CPU threads for the CPU engines and the reference rows, at most four per core.
    #[arg(long, value_parser = values::threads)]
    threads: Option<usize>,
    /// Only these engines (repeatable). Default: every available engine.
    #[arg(long)]
    engine: Vec<String>,
    /// Timed rounds, 1 to 100; each round times every row once. The median is reported.
    #[arg(long, default_value_t = 5, value_parser = values::bench_runs)]
    runs: usize,
    /// Rolled versions per engine row, comma-separated, each 1 to 16: `1,4` times every engine
    /// on one version and on four sharing their message schedule.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 4], value_parser = values::bench_versions)]
    versions: Vec<u32>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON object to FILE, for a later `--compare`.
    #[arg(long, value_name = "FILE")]
    save: Option<String>,
    /// Compare every row with the same row of a saved run (a `--save` or `--json` file).
    #[arg(long, value_name = "FILE")]
    compare: Option<String>,
    /// Also draw every row as an SVG bar chart: median, spread and fraction of its ceiling.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<String>,
    /// Also count each vector and scalar kernel's instructions per nonce by single-stepping it
    /// (Linux; a few seconds a row), beside the op model its ceiling divides by.
    #[arg(long)]
    count_instructions: bool,
}

/// Block 125552's header: a real header, so the work is what a miner hashes.
const HEADER: &str = "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2\
                      fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695";

/// The agreement check's nonces and versions: about one hit per 4096 nonces.
const CHECK_NONCES: (u64, u64) = (0xffff_0000 - (1 << 19), 0xffff_0000 + (1 << 16));
const CHECK_VERSIONS: u64 = 2;

/// One timed row and everything the report says about it.
pub struct Row {
    pub name: String,
    /// A `sha2` reference row rather than an engine.
    pub reference: bool,
    pub threads: usize,
    pub versions: u32,
    pub detail: String,
    pub measured: Measured,
    pub ceiling: Option<Ceiling>,
    pub adapter: Option<Adapter>,
}

pub fn run(args: BenchArgs) -> Result<(), Error> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut versions = args.versions.clone();
    versions.sort_unstable();
    versions.dedup();
    // Read the saved run first: a bad file should not cost a whole bench.
    let saved = args.compare.as_deref().map(compare::load).transpose()?;
    let (engines, adapter) = open_engines(&args, threads)?;
    let header = Header::from_hex(HEADER)?;
    let agreement = agree(&engines, header)?;
    if !args.json {
        errln!(
            "{} engines agree on {} results over {} hashes; timing {} rounds of ~{:.2} s per row",
            engines.len(),
            agreement.results,
            agreement.hashes,
            args.runs,
            args.seconds / args.runs as f64
        );
    }

    // Timing: a real mining target, where almost every nonce ends at the early exit.
    let target = Target::DIFFICULTY_1;
    let mut specs = Vec::new();
    let mut timers = Vec::new();
    for e in &engines {
        for &v in &versions {
            specs.push((e.name(), v));
            timers.push(engine_timer(e.as_ref(), header, target, v));
        }
    }
    let bytes = header.to_bytes();
    for (_, f) in reference::ROWS {
        timers.push(Timer::new(move |wanted| {
            Ok(reference::run(f, &bytes, threads, wanted))
        }));
    }
    if args.count_instructions && !args.json {
        errln!("counting each CPU kernel's instructions per nonce by single-stepping it");
    }
    let row_limits: Vec<Option<Limit>> = specs
        .iter()
        .map(|&(name, v)| {
            let limit = Limit::of(name, v)?;
            Some(if args.count_instructions {
                limit.counted(v)
            } else {
                limit
            })
        })
        .collect();
    let mut limits: Vec<Limit> = Vec::new();
    for l in row_limits.iter().flatten() {
        if !limits.contains(l) {
            limits.push(*l);
        }
    }
    let mut probes: Vec<Probe> = limits.iter().map(|l| l.probe()).collect();
    probes.push(Probe::new(ceiling::clock_hz));
    let measured = timing::rounds(&mut timers, &mut probes, args.seconds, args.runs)?;
    drop(timers);
    let clock = probes.pop().and_then(|p| p.best);

    let mut measured = measured.into_iter();
    let mut row_limits = row_limits.into_iter();
    let mut rows = Vec::new();
    for e in &engines {
        for &v in &versions {
            let limit = row_limits.next().expect("one limit per engine row");
            let ceiling = if e.name() == "gpu" {
                adapter
                    .as_ref()
                    .and_then(|a| a.ceiling(limits::gpu_ops_per_nonce(v)))
            } else {
                limit.and_then(|l| {
                    let i = limits.iter().position(|x| *x == l)?;
                    probes[i].best.map(|rate| l.ceiling(rate))
                })
            };
            rows.push(Row {
                name: e.name().to_string(),
                reference: false,
                threads: e.threads(),
                versions: v,
                detail: e.describe(),
                measured: measured.next().expect("one measurement per timer"),
                ceiling,
                adapter: adapter.clone().filter(|_| e.name() == "gpu"),
            });
        }
    }
    for (name, _) in reference::ROWS {
        rows.push(Row {
            name: name.to_string(),
            reference: true,
            threads,
            versions: 1,
            detail: "sha2 crate".to_string(),
            measured: measured.next().expect("one measurement per timer"),
            ceiling: None,
            adapter: None,
        });
    }

    let settings = context::Settings {
        seconds: args.seconds,
        runs: args.runs,
        threads,
        versions,
    };
    let comparison = saved.map(|s| {
        compare::compare(
            args.compare.as_deref().unwrap_or_default(),
            rows.iter().map(report::as_saved).collect(),
            s,
        )
    });
    let clock = report::Clock::new(clock);
    let mut out = report::json(&rows, &clock, agreement.results);
    out["context"] = context::json(&settings, &agreement, adapter.as_ref());
    if let Some(c) = &comparison {
        out["compare"] = c.json();
    }
    if let Some(path) = &args.save {
        write_file(path, &format!("{out}\n"), "--save")?;
    }
    if let Some(path) = &args.plot {
        let title = format!(
            "sha256d bench: {} threads, {} x {:.2} s per row, {}",
            threads,
            args.runs,
            args.seconds / args.runs as f64,
            out["context"]["timestamp"].as_str().unwrap_or_default()
        );
        write_file(path, &plot::svg(&title, &report::bars(&rows)), "--plot")?;
    }
    if args.json {
        outln!("{out}");
    } else {
        for line in report::table(&rows, &clock) {
            outln!("{line}");
        }
        for line in comparison.iter().flat_map(|c| c.lines()) {
            outln!("{line}");
        }
    }
    Ok(())
}

/// The engines to time, and the GPU's adapter if a GPU engine is among them.
type Opened = (Vec<Box<dyn Engine>>, Option<Adapter>);

/// Every engine asked for (or every available one).
fn open_engines(args: &BenchArgs, threads: usize) -> Result<Opened, Error> {
    if let Some(unknown) = args
        .engine
        .iter()
        .find(|e| !ENGINE_NAMES.contains(&e.as_str()))
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("unknown engine {unknown:?}"),
        ));
    }
    let mut options = Options::default();
    options.threads = Some(threads);
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    let mut adapter = None;
    for name in ENGINE_NAMES {
        if !args.engine.is_empty() && !args.engine.iter().any(|e| e == name) {
            continue;
        }
        match open(name, &options) {
            Ok((e, a)) => {
                engines.push(e);
                adapter = adapter.or(a);
            }
            Err(e) if args.engine.is_empty() => {
                if !args.json {
                    errln!("skipping {name}: {e}");
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok((engines, adapter))
}

/// Opens engine `name`; the GPU engine as itself first, to read its adapter.
fn open(name: &str, options: &Options) -> Result<(Box<dyn Engine>, Option<Adapter>), Error> {
    #[cfg(feature = "gpu")]
    if name == "gpu" {
        use sha256d::engine::gpu::{GpuConfig, GpuEngine};
        let gpu = GpuEngine::new(options, GpuConfig::default())?;
        let adapter = Adapter::of(&gpu);
        return Ok((Box::new(gpu), Some(adapter)));
    }
    Ok((sha256d::open(name, options)?, None))
}

/// Checks that every engine finds exactly what portable finds on a search with many hits over
/// rolled versions.
fn agree(engines: &[Box<dyn Engine>], header: Header) -> Result<context::Agreement, Error> {
    let check = Work::new(
        header,
        Target::from_be_hex(&format!("{:0<64}", "000fffff"))?,
    )
    .with_nonces(CHECK_NONCES.0..CHECK_NONCES.1)?
    .with_version_rolling(BIP320_VERSION_MASK, CHECK_VERSIONS)?;
    let expected = sha256d::open("portable", &Options::default())?.search(&check)?;
    for e in engines {
        let got = e.search(&check)?;
        if got != expected {
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "engine {} disagrees with portable: {} results vs {}",
                    e.name(),
                    got.len(),
                    expected.len()
                ),
            ));
        }
    }
    Ok(context::Agreement {
        engines: engines.iter().map(|e| e.name().to_string()).collect(),
        hashes: check.total_hashes(),
        results: expected.len(),
        versions: CHECK_VERSIONS,
        nonces: CHECK_NONCES,
    })
}

/// Times engine `e` on `versions` rolled versions (the BIP320 mask) per nonce.
fn engine_timer<'a>(e: &'a dyn Engine, header: Header, target: Target, versions: u32) -> Timer<'a> {
    let mut start_nonce: u64 = 0;
    let v = u64::from(versions);
    Timer::new(move |wanted| {
        let n = (wanted / v).clamp(1 << 12, 1 << 32);
        if start_nonce + n > 1 << 32 {
            start_nonce = 0;
        }
        let mut work = Work::new(header, target).with_nonces(start_nonce..start_nonce + n)?;
        if v > 1 {
            work = work.with_version_rolling(BIP320_VERSION_MASK, v)?;
        }
        start_nonce += n;
        Ok(e.search_stream(&work, &Control::new(), &mut |_| {})?.hashes)
    })
}

fn write_file(path: &str, text: &str, flag: &str) -> Result<(), Error> {
    std::fs::write(path, text)
        .map_err(|e| Error::new(ErrorKind::Io, format!("{flag} {path}: cannot write: {e}")))
}
