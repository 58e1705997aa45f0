//! `sha256d bench`: every available engine on the same work. First the engines must return
//! identical results on a search with many hits; then each is timed (warm-up, several runs,
//! median) next to the reference code a user would otherwise write with the `sha2` crate, so
//! the ratios hold on a noisy machine.

use crate::values;
use clap::Args;
use serde_json::{json, Value};
use sha2::Digest;
use sha256d::{
    engine::ENGINE_NAMES, Control, Engine, Error, ErrorKind, Header, Options, Target, Work,
};
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// Seconds of timed runs per engine (after warm-up), 0.01 to 3600.
    #[arg(long, default_value_t = 5.0, value_parser = values::bench_seconds)]
    seconds: f64,
    /// CPU threads for the CPU engines and the reference rows, at most four per core.
    #[arg(long, value_parser = values::threads)]
    threads: Option<usize>,
    /// Only these engines (repeatable). Default: every available engine.
    #[arg(long)]
    engine: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Timed runs per row; the median is reported.
const RUNS: usize = 5;

/// Block 125552's header: a real header, so the work is what a miner hashes.
const HEADER: &str = "0100000081cd02ab7e569e8bcd9317e2fe99f2de44d49ab2b8851ba4a308000000000000e320b6c2\
                      fffc8d750423db8b1eb942ae710e951ed797f7affc8892b0f1fc122bc7f5d74df2b9441a42a14695";

struct Row {
    name: String,
    threads: usize,
    detail: String,
    runs: Vec<f64>,
    cpu_seconds: Option<f64>,
    hashes: u64,
}

impl Row {
    fn median(&self) -> f64 {
        let mut v = self.runs.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }
}

pub fn run(args: BenchArgs) -> Result<(), Error> {
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut options = Options::default();
    options.threads = Some(threads);
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    for name in ENGINE_NAMES {
        if !args.engine.is_empty() && !args.engine.iter().any(|e| e == name) {
            continue;
        }
        match sha256d::open(name, &options) {
            Ok(e) => engines.push(e),
            Err(e) if args.engine.is_empty() => {
                if !args.json {
                    errln!("skipping {name}: {e}");
                }
            }
            Err(e) => return Err(e),
        }
    }
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
    let header = Header::from_hex(HEADER)?;

    // Agreement first: about one hit per 4096 nonces over two rolled versions.
    let check = Work::new(
        header,
        Target::from_be_hex(&format!("{:0<64}", "000fffff"))?,
    )
    .with_nonces(0xffff_0000 - (1 << 19)..0xffff_0000 + (1 << 16))?
    .with_version_rolling(0x1fffe000, 2)?;
    let expected = sha256d::open("portable", &Options::default())?.search(&check)?;
    for e in &engines {
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
    if !args.json {
        errln!(
            "{} engines agree on {} results over {} hashes; timing {} runs of ~{:.1} s each",
            engines.len(),
            expected.len(),
            check.total_hashes(),
            RUNS,
            args.seconds / RUNS as f64
        );
    }

    // Timing: a real mining target, where almost every nonce ends at the early exit.
    let target = Target::DIFFICULTY_1;
    let mut rows = Vec::new();
    for e in &engines {
        rows.push(time_engine(e.as_ref(), header, target, args.seconds)?);
    }
    let reference = vec![
        time_reference("sha2-naive", threads, header, args.seconds, naive)?,
        time_reference("sha2-midstate", threads, header, args.seconds, midstate)?,
    ];
    report(&rows, &reference, expected.len(), args.json);
    Ok(())
}

/// Process CPU time (user + system) in seconds, where the OS tells it.
fn cpu_seconds() -> Option<f64> {
    cpu_time::ProcessTime::try_now()
        .ok()
        .map(|t| t.as_duration().as_secs_f64())
}

/// What timing one row measured.
struct Timing {
    runs: Vec<f64>,
    hashes: u64,
    cpu_seconds: Option<f64>,
}

/// Times `hash`, which hashes about as many nonces as it is asked for and returns how many it
/// did. Warm-up runs find the rate, so each timed run lasts about `seconds / RUNS`, and let
/// clocks and caches settle.
fn measure(seconds: f64, mut hash: impl FnMut(u64) -> Result<u64, Error>) -> Result<Timing, Error> {
    let mut rate = 1e6;
    let mut run_once = |budget: f64| -> Result<(f64, u64), Error> {
        let t = Instant::now();
        let n = hash((rate * budget) as u64)?;
        rate = n as f64 / t.elapsed().as_secs_f64();
        Ok((rate, n))
    };
    for budget in [0.05, 0.2, 0.3] {
        run_once(budget)?;
    }
    let cpu0 = cpu_seconds();
    let mut runs = Vec::new();
    let mut hashes = 0;
    for _ in 0..RUNS {
        let (r, n) = run_once(seconds / RUNS as f64)?;
        runs.push(r / 1e6);
        hashes += n;
    }
    Ok(Timing {
        runs,
        hashes,
        cpu_seconds: cpu0.zip(cpu_seconds()).map(|(a, b)| b - a),
    })
}

fn time_engine(e: &dyn Engine, header: Header, target: Target, seconds: f64) -> Result<Row, Error> {
    let mut start_nonce: u64 = 0;
    let timing = measure(seconds, |wanted| {
        let n = wanted.clamp(1 << 14, 1 << 32);
        if start_nonce + n > 1 << 32 {
            start_nonce = 0;
        }
        let work = Work::new(header, target).with_nonces(start_nonce..start_nonce + n)?;
        start_nonce += n;
        e.search_stream(&work, &Control::new(), &mut |_| {})?;
        Ok(n)
    })?;
    Ok(Row {
        name: e.name().to_string(),
        threads: e.threads(),
        detail: e.describe(),
        runs: timing.runs,
        cpu_seconds: timing.cpu_seconds,
        hashes: timing.hashes,
    })
}

/// The straightforward loop: hash the whole header twice per nonce.
fn naive(header: &[u8; 80], nonces: std::ops::Range<u32>) -> u32 {
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
fn midstate(header: &[u8; 80], nonces: std::ops::Range<u32>) -> u32 {
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

fn time_reference(
    name: &str,
    threads: usize,
    header: Header,
    seconds: f64,
    f: fn(&[u8; 80], std::ops::Range<u32>) -> u32,
) -> Result<Row, Error> {
    let bytes = header.to_bytes();
    let timing = measure(seconds, |wanted| {
        let per_thread = (wanted / threads as u64).clamp(1 << 12, 1 << 30) as u32;
        std::thread::scope(|s| {
            for i in 0..threads as u32 {
                let start = i.wrapping_mul(per_thread);
                s.spawn(move || {
                    std::hint::black_box(f(&bytes, start..start.saturating_add(per_thread)))
                });
            }
        });
        Ok(u64::from(per_thread) * threads as u64)
    })?;
    Ok(Row {
        name: name.to_string(),
        threads,
        detail: "sha2 crate".to_string(),
        runs: timing.runs,
        cpu_seconds: timing.cpu_seconds,
        hashes: timing.hashes,
    })
}

/// The nominal clock, for cycles per nonce; only as good as the OS's figure.
fn clock_mhz() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    info.lines()
        .find(|l| l.starts_with("cpu MHz"))?
        .split(':')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

/// CPU cycles per nonce across the row's threads; none for engines that hash off the CPU.
fn cycles_per_nonce(mhz: Option<f64>, r: &Row) -> Option<f64> {
    mhz.filter(|_| r.threads > 0)
        .map(|c| c * r.threads as f64 / r.median())
}

fn report(rows: &[Row], reference: &[Row], agreed: usize, as_json: bool) {
    let base = reference
        .iter()
        .find(|r| r.name == "sha2-midstate")
        .map(Row::median)
        .unwrap_or(f64::NAN);
    let mhz = clock_mhz();
    let to_json = |r: &Row| -> Value {
        let m = r.median();
        json!({
            "name": r.name,
            "mhs": m,
            "threads": r.threads,
            "detail": r.detail,
            "runs_mhs": r.runs,
            "vs_sha2_midstate": m / base,
            "cycles_per_nonce": cycles_per_nonce(mhz, r),
            "cpu_seconds": r.cpu_seconds,
            "mh_per_cpu_second": r.cpu_seconds.map(|c| r.hashes as f64 / 1e6 / c),
        })
    };
    if as_json {
        let out = json!({
            "engines": rows.iter().map(to_json).collect::<Vec<_>>(),
            "reference": reference.iter().map(to_json).collect::<Vec<_>>(),
            "agreed_results": agreed,
            "clock_mhz": mhz,
        });
        outln!("{out}");
        return;
    }
    outln!(
        "{:<14} {:>7} {:>10} {:>10} {:>10} {:>9} {:>11} {:>10}",
        "engine",
        "threads",
        "MH/s",
        "min",
        "max",
        "x midst.",
        "cyc/nonce",
        "MH/cpu-s"
    );
    for r in rows.iter().chain(reference) {
        let min = r.runs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = r.runs.iter().copied().fold(0.0, f64::max);
        let m = r.median();
        let cyc = cycles_per_nonce(mhz, r).map_or("-".to_string(), |c| format!("{c:.0}"));
        let per_cpu = r
            .cpu_seconds
            .filter(|c| *c > 0.0)
            .map_or("-".to_string(), |c| {
                format!("{:.2}", r.hashes as f64 / 1e6 / c)
            });
        outln!(
            "{:<14} {:>7} {:>10.2} {:>10.2} {:>10.2} {:>9.2} {:>11} {:>10}",
            r.name,
            r.threads,
            m,
            min,
            max,
            m / base,
            cyc,
            per_cpu
        );
    }
    if let Some(c) = mhz {
        outln!("(cycles per nonce at the OS's nominal {c:.0} MHz, per thread)");
    }
}
