//! `sha256d search`: every nonce (and rolled version) of one header that meets a target.

use crate::{engine_args, progress, signals, values};
use clap::{ArgGroup, Args};
use serde_json::json;
use sha256d::{CompactTarget, Control, Error, ErrorKind, Found, Summary, Target, Work};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(Args)]
#[command(group(ArgGroup::new("goal").required(true)))]
pub struct SearchArgs {
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
    #[arg(long, group = "goal", allow_negative_numbers = true, value_parser = values::difficulty)]
    difficulty: Option<f64>,
    /// Nonce range A..B, half-open; B may be 4294967296. Default: every nonce.
    #[arg(long, value_name = "A..B")]
    nonces: Option<String>,
    /// Version-rolling mask, 8 hex digits (BIP320 pools use 1fffe000).
    #[arg(long, value_name = "HEX8", requires = "rolls", value_parser = values::mask)]
    version_mask: Option<u32>,
    /// How many versions to roll through the mask.
    #[arg(long, requires = "version_mask", value_parser = values::rolls)]
    rolls: Option<u64>,
    /// Engine name (see `sha256d engines`). Default: the fastest CPU engine.
    #[arg(long)]
    engine: Option<String>,
    #[command(flatten)]
    engines: engine_args::EngineArgs,
    /// Fail instead of returning more than this many results (at most 10000000).
    #[arg(long, default_value_t = sha256d::DEFAULT_MAX_RESULTS, value_parser = values::max_results)]
    max_results: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
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

/// What a search did, printed as its last line (text) or its one object (JSON).
struct Report {
    engine: &'static str,
    describe: String,
    found: Vec<Found>,
    summary: Summary,
    seconds: f64,
    /// Stopped by Ctrl-C (or SIGTERM) before the range was done.
    interrupted: bool,
}

impl Report {
    fn json(&self) -> serde_json::Value {
        let found: Vec<_> = self
            .found
            .iter()
            .map(|f| json!({"version": f.version, "nonce": f.nonce, "hash": f.hash.to_string()}))
            .collect();
        json!({
            "engine": self.engine,
            "found": found,
            "hashes": self.summary.hashes,
            "seconds": self.seconds,
            "interrupted": self.interrupted,
            "hardware_errors": self.summary.hardware_errors,
            "known_answer_misses": self.summary.known_answer_misses,
            "known_answers_passed": self.summary.known_answers_passed,
            "incomplete": self.summary.incomplete,
        })
    }

    fn text(&self) -> String {
        let mut line = format!(
            "{} found in {} hashes, {:.3} s, {:.2} MH/s ({}: {})",
            self.summary.found,
            self.summary.hashes,
            self.seconds,
            self.summary.hashes as f64 / self.seconds.max(1e-9) / 1e6,
            self.engine,
            self.describe
        );
        if self.summary.hardware_errors > 0 || self.summary.known_answer_misses > 0 {
            line.push_str(&format!(
                "; {} hardware errors, {} known-answer misses",
                self.summary.hardware_errors, self.summary.known_answer_misses
            ));
        }
        if self.interrupted {
            line.push_str("; interrupted before the range was done");
        }
        line
    }

    /// Exit status: 0 for a finished search; 130 (as a shell reports SIGINT) for one stopped
    /// early, whose results are only those found so far.
    fn exit_code(&self) -> ExitCode {
        if self.interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        }
    }
}

pub fn run(args: SearchArgs) -> Result<ExitCode, Error> {
    let header = sha256d::Header::from_hex(&args.header)?;
    let mut work = Work::new(header, target_of(&args)?).with_max_results(args.max_results);
    if let Some(n) = &args.nonces {
        work = work.with_nonces(sha256d::parse_nonce_range(n)?)?;
    }
    if let (Some(mask), Some(rolls)) = (args.version_mask, args.rolls) {
        work = work.with_version_rolling(mask, rolls)?;
    }
    let engine = args.engines.open(args.engine.as_deref())?;
    log::debug!(
        "searching {} hashes on {}: {}",
        work.total_hashes(),
        engine.name(),
        engine.describe()
    );

    let ctl = Arc::new(Control::new());
    let on_signal = Arc::clone(&ctl);
    signals::on_interrupt(move || on_signal.cancel())?;
    let started = Instant::now();
    let mut found = Vec::new();
    let summary = progress::while_running(&ctl, work.total_hashes(), !args.json, || {
        engine.search_stream(&work, &ctl, &mut |f| {
            if !args.json {
                outln!(
                    "found version={:08x} nonce={} hash={}",
                    f.version,
                    f.nonce,
                    f.hash
                );
            }
            found.push(*f);
        })
    })?;
    found.sort_unstable();
    let report = Report {
        engine: engine.name(),
        describe: engine.describe(),
        found,
        interrupted: summary.cancelled,
        summary,
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        outln!("{}", report.json());
    } else {
        errln!("{}", report.text());
    }
    if report.summary.incomplete && !report.interrupted {
        return Err(Error::new(
            ErrorKind::Device,
            format!(
                "the results may be incomplete: the device had {} hardware errors and missed {} \
                 known answers that re-sweeping did not clear",
                report.summary.hardware_errors, report.summary.known_answer_misses
            ),
        ));
    }
    Ok(report.exit_code())
}
