//! Log lines on stderr, each with a UTC timestamp, filtered by `-v`/`-q` or else `RUST_LOG`.
//! Progress lines live in one [`bars`] set; a log line clears them, prints, and redraws them,
//! so the two never mix on a terminal.

use clap::{ArgAction, Args};
use indicatif::{MultiProgress, ProgressDrawTarget};
use std::io::Write;
use std::sync::OnceLock;

#[derive(Args)]
pub struct LogArgs {
    /// More detail on stderr: -v debug lines, -vv debug from every library, -vvv trace.
    /// Overrides RUST_LOG.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors: no progress or status lines. Overrides RUST_LOG.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
}

/// By default this program's crates log at info and libraries (wgpu among them) not at all.
const DEFAULT_FILTER: &str = "sha256d=info";

impl LogArgs {
    /// The filter directives (`RUST_LOG` syntax) the flags ask for; `None` leaves it to
    /// `RUST_LOG` or the default.
    fn filter(&self) -> Option<&'static str> {
        match (self.quiet, self.verbose) {
            (true, _) => Some("sha256d=warn"),
            (false, 0) => None,
            (false, 1) => Some("warn,sha256d=debug"),
            (false, 2) => Some("debug"),
            (false, _) => Some("trace"),
        }
    }
}

/// The progress lines currently drawn; hidden when stderr is not a terminal or under `-q`.
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}

/// A logger that moves the progress lines out of the way of each record.
struct AroundBars(env_logger::Logger);

impl log::Log for AroundBars {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.0.matches(record) {
            bars().suspend(|| self.0.log(record));
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Installs the logger; call once, before anything logs.
pub fn init(args: &LogArgs) {
    let mut builder = env_logger::Builder::new();
    match (args.filter(), std::env::var("RUST_LOG")) {
        (Some(f), _) => builder.parse_filters(f),
        (None, Ok(env)) => builder.parse_filters(&env),
        (None, Err(_)) => builder.parse_filters(DEFAULT_FILTER),
    };
    builder.format(|buf, record| {
        writeln!(
            buf,
            "{} {:<5} {}",
            buf.timestamp_seconds(),
            record.level(),
            record.args()
        )
    });
    let logger = builder.build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(AroundBars(logger))).is_ok() {
        log::set_max_level(max);
    }
    if args.quiet {
        bars().set_draw_target(ProgressDrawTarget::hidden());
    }
}
