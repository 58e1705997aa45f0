//! Log lines on stderr, each with a UTC timestamp, filtered by `-v`/`-q` or else `RUST_LOG`.
//! Progress lines live in one [`bars`] set; a log line clears them, prints, and redraws them,
//! so the two never mix on a terminal.
//!
//! `--log-format` picks the line: `text` for a person; `json`, one object a line with the
//! record's structured fields (`event`, ...), for a log collector; `journald`, the message
//! behind a syslog priority (`<6>`), which systemd reads from a service's stderr and which
//! adds its own timestamps. The last two draw no progress lines.

use clap::{ArgAction, Args, ValueEnum};
use indicatif::{MultiProgress, ProgressDrawTarget};
use serde_json::Value;
use std::io::Write;
use std::sync::OnceLock;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `TIMESTAMP LEVEL message`, for a person.
    #[default]
    Text,
    /// One JSON object a line: ts, level, target, msg and the record's fields.
    Json,
    /// `<PRIORITY>message`, for systemd's capture of stderr.
    Journald,
}

#[derive(Args)]
pub struct LogArgs {
    /// More detail on stderr: -v debug lines, -vv debug from every library, -vvv trace.
    /// Overrides RUST_LOG.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors: no progress or status lines. Overrides RUST_LOG.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// How log lines are written: text (for a person), json (one object a line, for a log
    /// collector) or journald (a syslog priority before each line, for a systemd service).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
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
    match args.log_format {
        LogFormat::Text => builder.format(|buf, record| {
            writeln!(
                buf,
                "{} {:<5} {}",
                buf.timestamp_seconds(),
                record.level(),
                record.args()
            )
        }),
        LogFormat::Json => builder.format(|buf, record| {
            let ts = buf.timestamp_seconds().to_string();
            writeln!(buf, "{}", json_line(&ts, record))
        }),
        LogFormat::Journald => {
            builder.format(|buf, record| write!(buf, "{}", journald_lines(record)))
        }
    };
    let _ = FORMAT.set(args.log_format);
    let logger = builder.build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(AroundBars(logger))).is_ok() {
        log::set_max_level(max);
    }
    // A collector reads lines: a progress line redrawn among them would be garbage to it.
    if args.quiet || args.log_format != LogFormat::Text {
        bars().set_draw_target(ProgressDrawTarget::hidden());
    }
}

/// The format [`init`] installed, for what is written outside the log: see [`report`].
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Writes `text` on stderr as it is (`--log-format text`), or as a record of `level` with
/// field `event` in the JSON or journald format, so that a collector reading those lines
/// meets only lines it can read. For what a run must say whatever the log filter: its
/// summary, the error it ends on.
pub fn report(level: log::Level, event: &str, text: &str) {
    let format = FORMAT.get().copied().unwrap_or_default();
    let fields = [("event", log::kv::Value::from(event))];
    let args = format_args!("{text}");
    let record = log::Record::builder()
        .level(level)
        .target(env!("CARGO_CRATE_NAME"))
        .args(args)
        .key_values(&fields)
        .build();
    let line = match format {
        LogFormat::Text => format!("{text}\n"),
        LogFormat::Json => {
            let ts = jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .unwrap_or_default();
            json_line(&ts.to_string(), &record) + "\n"
        }
        LogFormat::Journald => journald_lines(&record),
    };
    bars().suspend(|| {
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    });
}

/// The names a record's own fields must not take in a JSON line: they are the line's.
const JSON_KEYS: [&str; 4] = ["ts", "level", "target", "msg"];

/// `record` as one JSON object (no newline): `ts` (RFC 3339, UTC), `level` (lower case),
/// `target`, `msg`, then the record's fields in order, numbers and booleans as such. A field
/// named like one of the four is written with a `field_` prefix.
fn json_line(ts: &str, record: &log::Record<'_>) -> String {
    let level = record.level().as_str().to_ascii_lowercase();
    let mut fields = Fields(Vec::new());
    // Our visitor never fails; a source that does leaves the fields it gave.
    let _ = record.key_values().visit(&mut fields);
    // Written by hand, not through a map, so the four come first, in this order.
    let mut line = format!(
        "{{\"ts\":{},\"level\":{},\"target\":{},\"msg\":{}",
        Value::from(ts),
        Value::from(level),
        Value::from(record.target()),
        Value::from(record.args().to_string()),
    );
    for (key, value) in fields.0 {
        let key = if JSON_KEYS.contains(&key.as_str()) {
            format!("field_{key}")
        } else {
            key
        };
        line += &format!(",{}:{value}", Value::from(key));
    }
    line.push('}');
    line
}

/// A record's fields as JSON values.
struct Fields(Vec<(String, Value)>);

impl<'kvs> log::kv::VisitSource<'kvs> for Fields {
    fn visit_pair(
        &mut self,
        key: log::kv::Key<'kvs>,
        value: log::kv::Value<'kvs>,
    ) -> Result<(), log::kv::Error> {
        let value = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(x) = value.to_f64() {
            // Not a number JSON can hold (NaN, infinity): null.
            serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
        } else if let Some(b) = value.to_bool() {
            b.into()
        } else {
            value.to_string().into()
        };
        self.0.push((key.as_str().to_string(), value));
        Ok(())
    }
}

/// `record` for systemd: each line of its message behind the syslog priority of its level
/// (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace), newline-ended.
fn journald_lines(record: &log::Record<'_>) -> String {
    let priority = match record.level() {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    };
    let message = record.args().to_string();
    message
        .split('\n')
        .map(|line| format!("<{priority}>{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_holds_the_record_and_its_fields() {
        let fields: [(&str, log::kv::Value<'_>); 5] = [
            ("event", "device_fault".into()),
            ("device", 3u64.into()),
            ("ratio", 0.5f64.into()),
            ("msg", "a field named like the line's".into()),
            ("ok", true.into()),
        ];
        let line = json_line(
            "2026-01-02T03:04:05Z",
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("sha256d::mine")
                .args(format_args!("device 3 (gpu) dropped: \"gone\""))
                .key_values(&fields)
                .build(),
        );
        let v: Value = serde_json::from_str(&line).expect("one JSON object");
        assert_eq!(
            v,
            serde_json::json!({
                "ts": "2026-01-02T03:04:05Z",
                "level": "warn",
                "target": "sha256d::mine",
                "msg": "device 3 (gpu) dropped: \"gone\"",
                "event": "device_fault",
                "device": 3,
                "ratio": 0.5,
                "field_msg": "a field named like the line's",
                "ok": true,
            })
        );
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with(r#"{"ts":"2026-01-02T03:04:05Z","level":"warn","target":"#),
            "{line}"
        );
    }

    #[test]
    fn journald_lines_carry_the_priority_of_their_level() {
        let line = |level, text: &str| {
            journald_lines(
                &log::Record::builder()
                    .level(level)
                    .args(format_args!("{text}"))
                    .build(),
            )
        };
        assert_eq!(line(log::Level::Error, "e"), "<3>e\n");
        assert_eq!(line(log::Level::Warn, "w"), "<4>w\n");
        assert_eq!(line(log::Level::Info, "i"), "<6>i\n");
        assert_eq!(line(log::Level::Debug, "d"), "<7>d\n");
        assert_eq!(line(log::Level::Trace, "t"), "<7>t\n");
        assert_eq!(line(log::Level::Info, "a\nb"), "<6>a\n<6>b\n");
    }
}
