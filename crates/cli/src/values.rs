//! Every numeric command-line value goes through one of these parsers: each accepts only
//! finite numbers inside a stated range, so no flag can reach a panic (`Duration` overflow, a
//! division by zero), an endless run or an allocation the machine cannot hold. They are clap
//! value parsers; an `Err` becomes a one-line `error: ...` and exit status 1.

use sha256d_mining::share_log::MIN_MAX_BYTES;
use std::time::Duration;

/// The longest run any time flag allows: ten years, far past any real run and far inside what
/// `Duration` and `Instant` arithmetic hold.
pub const MAX_SECONDS: f64 = 10.0 * 365.0 * 86_400.0;

/// `bench --seconds`: at most an hour of timed runs per row.
pub const MAX_BENCH_SECONDS: f64 = 3_600.0;

/// The shortest `bench --seconds`: below it a timed run is shorter than the clock's noise.
pub const MIN_BENCH_SECONDS: f64 = 0.01;

/// `--status-interval`: at most a day between status lines.
pub const MAX_STATUS_INTERVAL: f64 = 86_400.0;

/// Hashrates a stick (or the emulator) may be given, in hashes per second: below 1 kH/s a job
/// on a few nonces already takes longer than a person waits; above 1 PH/s is no single device.
pub const HASHRATE_RANGE: (f64, f64) = (1e3, 1e15);

/// The most threads any flag allows, whatever the core count.
pub const MAX_THREADS: usize = 1024;

/// `--max-results`: each result is about 40 bytes in memory and more in JSON; ten million
/// stays in the hundreds of megabytes.
pub const MAX_RESULTS: usize = 10_000_000;

/// Chips on one emulated chain; the BM13xx address byte leaves room for 256.
pub const MAX_CHIPS: usize = 256;

/// A finite number, or a message naming what was wanted. Rust's float parser accepts `inf` and
/// `NaN`; no flag here means either.
fn finite(text: &str, what: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{what} must be a number, got {text:?}"))?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(format!("{what} must be a finite number, got {text:?}"))
    }
}

/// A whole number in `lo..=hi`. Leading `+` and surrounding space are allowed; signs, points
/// and exponents are not, so `1e3` and `-1` get a message instead of a surprise.
fn whole(text: &str, what: &str, lo: u64, hi: u64) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} must be a whole number, got {text:?}"));
    }
    let v: u64 = digits
        .parse()
        .map_err(|_| format!("{what} must be at most {hi}, got {text:?}"))?;
    if v < lo {
        return Err(format!("{what} must be at least {lo}, got {v}"));
    }
    if v > hi {
        return Err(format!("{what} must be at most {hi}, got {v}"));
    }
    Ok(v)
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).expect("every bound here fits a 32-bit usize")
}

/// The shortest time any flag takes: a millisecond, so no positive value rounds to zero.
pub const MIN_SECONDS: f64 = 0.001;

/// Seconds in `[MIN_SECONDS, max]`, as a `Duration`.
fn positive_seconds(text: &str, what: &str, max: f64) -> Result<Duration, String> {
    let s = finite(text, what)?;
    // The text as typed: `1e300` reads better than its 301 digits. `finite` accepted it, so
    // it is plain ASCII.
    let t = text.trim();
    if s <= 0.0 {
        return Err(format!(
            "{what} must be a positive number of seconds, got {t}"
        ));
    }
    if s < MIN_SECONDS {
        return Err(format!("{what} must be at least {MIN_SECONDS} s, got {t}"));
    }
    if s > max {
        return Err(format!("{what} must be at most {max} s, got {t}"));
    }
    Ok(Duration::from_secs_f64(s))
}

/// `mine --time`: seconds, positive, at most [`MAX_SECONDS`].
pub fn run_time(text: &str) -> Result<Duration, String> {
    positive_seconds(text, "the time limit", MAX_SECONDS)
}

/// `bench --seconds`: seconds of timed runs per row, [`MIN_BENCH_SECONDS`] to
/// [`MAX_BENCH_SECONDS`].
pub fn bench_seconds(text: &str) -> Result<f64, String> {
    let s = positive_seconds(text, "--seconds", MAX_BENCH_SECONDS)?.as_secs_f64();
    if s < MIN_BENCH_SECONDS {
        return Err(format!(
            "--seconds must be at least {MIN_BENCH_SECONDS}, got {}",
            text.trim()
        ));
    }
    Ok(s)
}

/// `bench --runs`: timed rounds, 1 to this; each round times every row once.
pub const MAX_BENCH_RUNS: usize = 100;

/// `bench --runs`: 1 to [`MAX_BENCH_RUNS`].
pub fn bench_runs(text: &str) -> Result<usize, String> {
    whole(text, "--runs", 1, MAX_BENCH_RUNS as u64).map(to_usize)
}

/// `bench --versions` (one of its comma-separated items): rolled versions per row, 1 to 16.
pub fn bench_versions(text: &str) -> Result<u32, String> {
    whole(text, "--versions", 1, 16).map(|v| u32::try_from(v).expect("at most 16"))
}

/// `mine --status-interval`: seconds between status lines, 0 for none.
pub fn status_interval(text: &str) -> Result<Duration, String> {
    if finite(text, "the status interval")? == 0.0 {
        return Ok(Duration::ZERO);
    }
    positive_seconds(text, "the status interval", MAX_STATUS_INTERVAL)
}

/// `--known-answer-every`: at most a day between known-answer jobs.
pub const MAX_KNOWN_ANSWER_EVERY: f64 = 86_400.0;

/// `--known-answer-every`: seconds between known-answer jobs, 0 for none, at most
/// [`MAX_KNOWN_ANSWER_EVERY`].
pub fn known_answer_every(text: &str) -> Result<Duration, String> {
    if finite(text, "--known-answer-every")? == 0.0 {
        return Ok(Duration::ZERO);
    }
    positive_seconds(text, "--known-answer-every", MAX_KNOWN_ANSWER_EVERY)
}

/// A hashrate in hashes per second, within [`HASHRATE_RANGE`]. A suffix k, M, G, T or P scales
/// it (`400k`, `1.2T`).
pub fn hashrate(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, c)) if "kMGTP".contains(c) => {
            let scale = match c {
                'k' => 1e3,
                'M' => 1e6,
                'G' => 1e9,
                'T' => 1e12,
                _ => 1e15,
            };
            (&t[..i], scale)
        }
        _ => (t, 1.0),
    };
    let h = finite(number, "the hashrate").map_err(|_| {
        format!(
            "the hashrate must be a number of hashes per second (400000, 400k, 1.2T), got {text:?}"
        )
    })? * scale;
    let (lo, hi) = HASHRATE_RANGE;
    if !(lo..=hi).contains(&h) {
        return Err(format!(
            "the hashrate must be between {lo:e} and {hi:e} hashes per second, got {h:e}"
        ));
    }
    Ok(h)
}

/// A pool or target difficulty: positive and finite (the target conversion is exact for every
/// such value; a tiny one is simply an easy target).
pub fn difficulty(text: &str) -> Result<f64, String> {
    let d = finite(text, "the difficulty")?;
    if d <= 0.0 {
        return Err(format!(
            "the difficulty must be positive, got {}",
            text.trim()
        ));
    }
    Ok(d)
}

/// The thread cap here: four per core (room for oversubscription tests), at most
/// [`MAX_THREADS`].
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.saturating_mul(4).min(MAX_THREADS)
}

/// `--threads`: 1 to [`max_threads`].
pub fn threads(text: &str) -> Result<usize, String> {
    let max = max_threads();
    whole(text, "--threads", 1, max as u64)
        .map(to_usize)
        .map_err(|e| format!("{e} (four per core on this machine, at most {MAX_THREADS})"))
}

/// A count limit (`--shares`, `--blocks`): at least 1.
pub fn count(text: &str) -> Result<u64, String> {
    whole(text, "the count", 1, u64::MAX)
}

/// `--share-log-max-bytes`: from one line's worth ([`MIN_MAX_BYTES`]) to 1 TiB.
pub fn share_log_bytes(text: &str) -> Result<u64, String> {
    whole(text, "--share-log-max-bytes", MIN_MAX_BYTES, 1 << 40)
}

/// `--rolls`: 1 to 2^32, the versions a full 32-bit mask gives.
pub fn rolls(text: &str) -> Result<u64, String> {
    whole(text, "--rolls", 1, 1 << 32)
}

/// `--max-results`: 0 to [`MAX_RESULTS`].
pub fn max_results(text: &str) -> Result<usize, String> {
    whole(text, "--max-results", 0, MAX_RESULTS as u64).map(to_usize)
}

/// `--ticket-bits`: the zero bits a chip hard-wires, 0 to 32.
pub fn ticket_bits(text: &str) -> Result<u32, String> {
    whole(text, "--ticket-bits", 0, 32).map(|v| u32::try_from(v).expect("at most 32"))
}

/// `emulate --chips`: 1 to [`MAX_CHIPS`].
pub fn chips(text: &str) -> Result<usize, String> {
    whole(text, "--chips", 1, MAX_CHIPS as u64).map(to_usize)
}

/// `emulate --seed`: any 64-bit number.
pub fn seed(text: &str) -> Result<u64, String> {
    whole(text, "--seed", 0, u64::MAX)
}

/// A 32-bit mask as 8 hex digits, `0x` allowed (`--version-mask`).
pub fn mask(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").unwrap_or(t);
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "--version-mask must be 8 hex digits (e.g. 1fffe000), got {text:?}"
        ));
    }
    u32::from_str_radix(hex, 16).map_err(|_| format!("--version-mask: bad hex {text:?}"))
}

/// The highest price `--energy-price` and `--hashprice` take: far above any real one in any
/// currency, and far from where a cost per day loses precision.
pub const MAX_PRICE: f64 = 1e9;

/// `--energy-price` (per kWh) and `--hashprice` (per PH/s per day): 0 to [`MAX_PRICE`].
pub fn price(text: &str) -> Result<f64, String> {
    let p = finite(text, "the price")?;
    if !(0.0..=MAX_PRICE).contains(&p) {
        return Err(format!(
            "the price must be from 0 to {MAX_PRICE:e}, got {}",
            text.trim()
        ));
    }
    Ok(p)
}

/// `--energy`: rapl, hwmon, nvml or declared:DEVICE=W.
pub fn meter(text: &str) -> Result<sha256d_mining::energy::MeterSpec, String> {
    text.parse()
        .map_err(|e: sha256d::Error| e.message().to_string())
}

/// `--hashrate-limit`: H/s (SI prefixes, `H/s` optional), a share of full (`50%`), or `off`.
pub fn hashrate_limit(text: &str) -> Result<sha256d_mining::power::Cap, String> {
    sha256d_mining::power::Cap::parse_hashrate_limit(text).map_err(|e| e.to_string())
}

/// `--power-limit`: watts (SI prefixes, `W` optional), a share of full (`50%`), or `off`.
pub fn power_limit(text: &str) -> Result<sha256d_mining::power::Cap, String> {
    sha256d_mining::power::Cap::parse_power_limit(text).map_err(|e| e.to_string())
}

/// `--fail-safe`: any cap (`off`, `full`, `50%`, `10GH/s`, `500W`).
pub fn cap(text: &str) -> Result<sha256d_mining::power::Cap, String> {
    text.parse()
        .map_err(|e: sha256d_mining::power::ParseCapError| e.to_string())
}

/// Holds and delays of the power policy (`--price-hold`, `--ramp-delay-max`, `--ramp-hold`):
/// seconds from 0 to a day.
pub fn hold_time(text: &str) -> Result<Duration, String> {
    if finite(text, "the time")? == 0.0 {
        return Ok(Duration::ZERO);
    }
    positive_seconds(text, "the time", 86_400.0)
}

/// `--ramp-w-per-min`: watts per minute, above 0 and at most 1e9.
pub fn ramp_rate(text: &str) -> Result<f64, String> {
    let r = finite(text, "the ramp rate")?;
    if !(r > 0.0 && r <= 1e9) {
        return Err(format!(
            "the ramp rate must be above 0 W/min and at most 1e9, got {}",
            text.trim()
        ));
    }
    Ok(r)
}

/// `--openadr-levels`: four fractions from 0 to 1, comma-separated, for SIMPLE levels 0-3.
pub fn simple_levels(text: &str) -> Result<sha256d_mining::openadr::SimpleLevels, String> {
    let parts: Vec<&str> = text.split(',').collect();
    let [a, b, c, d] = parts[..] else {
        return Err(format!(
            "--openadr-levels takes four fractions (levels 0 to 3), got {}",
            text.trim()
        ));
    };
    let f = |t: &str| finite(t, "a level's fraction");
    sha256d_mining::openadr::SimpleLevels::new([f(a)?, f(b)?, f(c)?, f(d)?])
        .map_err(|e| e.message().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a hostile or careless user types, beside the generated strings below.
    const HOSTILE: &[&str] = &[
        "",
        " ",
        "0",
        "-0",
        "-1",
        "1e300",
        "-1e300",
        "1e-300",
        "1e-10",
        "nan",
        "NaN",
        "inf",
        "-inf",
        "infinity",
        "1e309",
        "18446744073709551615",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "0x10",
        "1.5",
        "+5",
        "++5",
        "5k",
        "1P",
        "\u{1b}[2J",
        "٣",
        "4294967296",
        "4294967297",
    ];

    #[allow(clippy::type_complexity)]
    fn every_parser() -> Vec<(&'static str, Box<dyn Fn(&str) -> Result<(), String>>)> {
        fn ok<T>(r: Result<T, String>) -> Result<(), String> {
            r.map(drop)
        }
        vec![
            ("run_time", Box::new(|t| ok(run_time(t)))),
            ("bench_seconds", Box::new(|t| ok(bench_seconds(t)))),
            ("status_interval", Box::new(|t| ok(status_interval(t)))),
            (
                "known_answer_every",
                Box::new(|t| ok(known_answer_every(t))),
            ),
            ("hashrate", Box::new(|t| ok(hashrate(t)))),
            ("difficulty", Box::new(|t| ok(difficulty(t)))),
            ("threads", Box::new(|t| ok(threads(t)))),
            ("count", Box::new(|t| ok(count(t)))),
            ("rolls", Box::new(|t| ok(rolls(t)))),
            ("max_results", Box::new(|t| ok(max_results(t)))),
            ("ticket_bits", Box::new(|t| ok(ticket_bits(t)))),
            ("chips", Box::new(|t| ok(chips(t)))),
            ("seed", Box::new(|t| ok(seed(t)))),
            ("mask", Box::new(|t| ok(mask(t)))),
            ("share_log_bytes", Box::new(|t| ok(share_log_bytes(t)))),
            ("price", Box::new(|t| ok(price(t)))),
            ("meter", Box::new(|t| ok(meter(t)))),
        ]
    }

    /// An error is one line a terminal shows as it is: no newline, no escape sequence.
    fn assert_one_clean_line(name: &str, text: &str, message: &str) {
        assert!(!message.is_empty(), "{name}({text:?}): empty message");
        assert!(
            !message.contains('\n') && !message.contains('\u{1b}'),
            "{name}({text:?}): {message:?}"
        );
    }

    #[test]
    fn hostile_strings_get_a_clean_one_line_answer() {
        for (name, parse) in every_parser() {
            for text in HOSTILE {
                if let Err(e) = parse(text) {
                    assert_one_clean_line(name, text, &e);
                }
            }
        }
    }

    #[test]
    fn times_are_bounded_and_exact_inside_the_bounds() {
        assert_eq!(run_time("60"), Ok(Duration::from_secs(60)));
        assert_eq!(run_time("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(run_time("315360000"), Ok(Duration::from_secs(315_360_000)));
        for bad in [
            "0",
            "-1",
            "1e300",
            "1e-65",
            "0.0009",
            "nan",
            "inf",
            "315360001",
            "x",
        ] {
            assert!(run_time(bad).is_err(), "{bad}");
        }
        assert_eq!(
            run_time("1e300"),
            Err("the time limit must be at most 315360000 s, got 1e300".to_string())
        );
        assert_eq!(bench_seconds("5"), Ok(5.0));
        assert_eq!(bench_seconds("3600"), Ok(3600.0));
        for bad in ["0", "0.001", "3601", "1e300", "-5", "NaN"] {
            assert!(bench_seconds(bad).is_err(), "{bad}");
        }
        assert_eq!(status_interval("0"), Ok(Duration::ZERO));
        assert_eq!(status_interval("-0"), Ok(Duration::ZERO));
        assert_eq!(status_interval("60"), Ok(Duration::from_secs(60)));
        assert!(status_interval("86401").is_err());
        assert!(status_interval("-1").is_err());
    }

    #[test]
    fn known_answer_intervals_are_off_or_up_to_a_day() {
        assert_eq!(known_answer_every("0"), Ok(Duration::ZERO));
        assert_eq!(known_answer_every("10"), Ok(Duration::from_secs(10)));
        assert_eq!(known_answer_every("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(
            known_answer_every("86401"),
            Err("--known-answer-every must be at most 86400 s, got 86401".to_string())
        );
        assert_eq!(
            known_answer_every("-1"),
            Err("--known-answer-every must be a positive number of seconds, got -1".to_string())
        );
        assert_eq!(
            known_answer_every("ten"),
            Err("--known-answer-every must be a number, got \"ten\"".to_string())
        );
    }

    #[test]
    fn hashrates_take_si_suffixes_inside_the_range() {
        assert_eq!(hashrate("400000"), Ok(400_000.0));
        assert_eq!(hashrate("400k"), Ok(400_000.0));
        assert_eq!(hashrate("1.5G"), Ok(1.5e9));
        assert_eq!(hashrate("1P"), Ok(1e15));
        assert_eq!(hashrate("1e3"), Ok(1e3));
        for bad in [
            "1e-10", "1e-6", "999", "2P", "1e300", "0", "-1", "nan", "k", "5x",
        ] {
            assert!(hashrate(bad).is_err(), "{bad}");
        }
        assert_eq!(
            hashrate("1e-10"),
            Err("the hashrate must be between 1e3 and 1e15 hashes per second, got 1e-10".into())
        );
    }

    #[test]
    fn counts_are_whole_numbers_in_range() {
        assert_eq!(threads("1"), Ok(1));
        assert_eq!(threads(&max_threads().to_string()), Ok(max_threads()));
        assert!(threads(&(max_threads() + 1).to_string()).is_err());
        assert!(threads("0")
            .unwrap_err()
            .starts_with("--threads must be at least 1, got 0"));
        assert_eq!(count("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            count("18446744073709551616"),
            Err(
                "the count must be at most 18446744073709551615, got \"18446744073709551616\""
                    .into()
            )
        );
        assert_eq!(
            count("0"),
            Err("the count must be at least 1, got 0".into())
        );
        assert_eq!(count("+7"), Ok(7));
        assert_eq!(
            count("1e3"),
            Err("the count must be a whole number, got \"1e3\"".into())
        );
        assert_eq!(rolls("4294967296"), Ok(1 << 32));
        assert!(rolls("4294967297").is_err());
        assert_eq!(max_results("0"), Ok(0));
        assert!(max_results("10000001").is_err());
        assert_eq!(ticket_bits("32"), Ok(32));
        assert!(ticket_bits("33").is_err());
        assert_eq!(chips("256"), Ok(256));
        assert!(chips("0").is_err());
        assert_eq!(seed("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn prices_are_from_zero_to_the_cap() {
        assert_eq!(price("0.12"), Ok(0.12));
        assert_eq!(price("0"), Ok(0.0));
        assert_eq!(
            price("-1"),
            Err("the price must be from 0 to 1e9, got -1".into())
        );
        assert!(price("1e10").is_err());
        assert!(price("nan").is_err());
    }

    #[test]
    fn difficulties_and_masks() {
        assert_eq!(difficulty("1e-10"), Ok(1e-10));
        assert_eq!(difficulty("1e300"), Ok(1e300));
        assert_eq!(
            difficulty("-1"),
            Err("the difficulty must be positive, got -1".into())
        );
        assert!(difficulty("inf").is_err());
        assert!(difficulty("0").is_err());
        assert_eq!(mask("1fffe000"), Ok(0x1fff_e000));
        assert_eq!(mask("0xFFFFFFFF"), Ok(u32::MAX));
        for bad in ["1fffe00", "1fffe0000", "1fffe00g", "", "+fffe000"] {
            assert!(mask(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Any string, and any number written out, gets a value inside the parser's bounds or a
        /// clean one-line message: never a panic.
        #[test]
        fn no_string_panics_a_parser(text in any::<String>()) {
            for (name, parse) in every_parser() {
                if let Err(e) = parse(&text) {
                    assert_one_clean_line(name, &text, &e);
                }
            }
        }

        #[test]
        fn no_number_panics_a_parser(v in proptest::num::f64::ANY, n in any::<u64>(), i in any::<i64>()) {
            for text in [v.to_string(), format!("{v:e}"), n.to_string(), i.to_string()] {
                for (name, parse) in every_parser() {
                    if let Err(e) = parse(&text) {
                        assert_one_clean_line(name, &text, &e);
                    }
                }
                if let Ok(d) = run_time(&text) {
                    prop_assert!(d >= Duration::from_millis(1) && d.as_secs_f64() <= MAX_SECONDS);
                }
                if let Ok(s) = bench_seconds(&text) {
                    prop_assert!((MIN_BENCH_SECONDS..=MAX_BENCH_SECONDS).contains(&s));
                }
                if let Ok(h) = hashrate(&text) {
                    prop_assert!((HASHRATE_RANGE.0..=HASHRATE_RANGE.1).contains(&h));
                }
                if let Ok(d) = difficulty(&text) {
                    prop_assert!(d.is_finite() && d > 0.0);
                }
                if let Ok(t) = threads(&text) {
                    prop_assert!((1..=max_threads()).contains(&t));
                }
            }
        }
    }
}
