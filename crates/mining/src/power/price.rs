//! The price rule: curtail while a price stays above a strike for a hold time, resume once it
//! stays at or below it as long. A pure state machine fed (time, price) samples, and a thin
//! reader for a price file.
//!
//! A price file holds one plain decimal number, e.g. `42.5` or `-3.10`, optionally surrounded
//! by ASCII whitespace (a trailing newline is fine). Refused: an empty file, more than
//! [`MAX_PRICE_FILE_BYTES`], anything not UTF-8, a `+` sign, exponents (`1e3`), digit
//! separators (`1,000`), units or currency signs, a bare `.5` or `5.`, several numbers,
//! numbers too large for an `f64`, `NaN` and `inf`. The file's modification time is the
//! sample's time, so a file nobody updates goes stale.

use super::cap::Cap;
use super::file::read_capped;
use jiff::Timestamp;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// The most bytes a price file may hold.
pub const MAX_PRICE_FILE_BYTES: usize = 4096;

/// Why price text was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsePriceError(&'static str);

impl fmt::Display for ParsePriceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for ParsePriceError {}

/// Parses a price file's contents (see the module docs for what is refused).
pub fn parse_price(bytes: &[u8]) -> Result<f64, ParsePriceError> {
    if bytes.len() > MAX_PRICE_FILE_BYTES {
        return Err(ParsePriceError("larger than 4096 bytes"));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| ParsePriceError("not UTF-8 text"))?;
    let number = text.trim_matches(|c: char| c.is_ascii_whitespace());
    if number.is_empty() {
        return Err(ParsePriceError("empty: expected one decimal number"));
    }
    let digits = number.strip_prefix('-').unwrap_or(number);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "1"));
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return Err(ParsePriceError(
            "expected one plain decimal number like 42.5 or -3.10 (no sign +, exponent, \
             separators or units)",
        ));
    }
    let price: f64 = number
        .parse()
        .map_err(|_| ParsePriceError("not a decimal number"))?;
    // Some 310 digits overflow to infinity, which no strike comparison should see.
    if !price.is_finite() {
        return Err(ParsePriceError("the number is too large"));
    }
    Ok(price)
}

/// A price read from a file, with the file's modification time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceReading {
    /// The price.
    pub price: f64,
    /// When the file was last written: the sample's time.
    pub modified: Timestamp,
}

/// Reads and parses a price file; the error names the file.
pub fn read_price_file(path: &Path) -> Result<PriceReading, String> {
    let fail = |e: &dyn fmt::Display| format!("price file {}: {e}", path.display());
    let bytes = read_capped(path, MAX_PRICE_FILE_BYTES).map_err(|e| fail(&e))?;
    let price = parse_price(&bytes).map_err(|e| fail(&e))?;
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(|e| fail(&e))?;
    let modified = Timestamp::try_from(modified).map_err(|e| fail(&e))?;
    Ok(PriceReading { price, modified })
}

/// The rule's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceRule {
    /// Curtail above this price.
    pub strike: f64,
    /// How long the price must stay on the other side before the rule flips.
    pub hold: Duration,
    /// A sample older than this is signal loss.
    pub stale_after: Duration,
    /// The cap while curtailed (usually [`Cap::Off`]).
    pub curtail: Cap,
}

/// What the rule says now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PriceStatus {
    /// The cap to apply: [`Cap::Full`] or the rule's curtail cap.
    Cap(Cap),
    /// No fresh sample: the signal is lost (the policy applies its fail-safe).
    Lost,
}

/// The price rule's state.
#[derive(Clone, Debug)]
pub struct PriceState {
    rule: PriceRule,
    curtailed: bool,
    /// Since when every sample has been on the other side of the strike.
    crossing_since: Option<Timestamp>,
    last_sample: Option<Timestamp>,
}

impl PriceState {
    /// Not curtailed, no sample yet (so [`PriceState::poll`] says lost until the first).
    pub fn new(rule: PriceRule) -> PriceState {
        PriceState {
            rule,
            curtailed: false,
            crossing_since: None,
            last_sample: None,
        }
    }

    /// Feeds a sample taken at `at`; one older than the latest is ignored.
    pub fn observe(&mut self, at: Timestamp, price: f64) {
        if self.last_sample.is_some_and(|last| at < last) {
            return;
        }
        self.last_sample = Some(at);
        let wants_curtail = price > self.rule.strike;
        if wants_curtail == self.curtailed {
            self.crossing_since = None;
        } else if self.crossing_since.is_none() {
            self.crossing_since = Some(at);
        }
    }

    /// The rule's cap at `now`, flipping once the price has held on the other side for the
    /// hold time; lost when the latest sample is older than the stale limit.
    pub fn poll(&mut self, now: Timestamp) -> PriceStatus {
        let Some(last) = self.last_sample else {
            return PriceStatus::Lost;
        };
        if elapsed(last, now) > self.rule.stale_after {
            return PriceStatus::Lost;
        }
        if let Some(since) = self.crossing_since {
            if elapsed(since, now) >= self.rule.hold {
                self.curtailed = !self.curtailed;
                self.crossing_since = None;
            }
        }
        PriceStatus::Cap(if self.curtailed {
            self.rule.curtail
        } else {
            Cap::Full
        })
    }
}

/// Time from `from` to `to`, zero if `to` is earlier (a clock step back).
fn elapsed(from: Timestamp, to: Timestamp) -> Duration {
    let d = to.duration_since(from);
    if d.is_negative() {
        Duration::ZERO
    } else {
        d.unsigned_abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("in range")
    }

    #[test]
    fn parses_plain_decimals_only() {
        assert_eq!(parse_price(b"42.5"), Ok(42.5));
        assert_eq!(parse_price(b"  -3.10\n"), Ok(-3.1));
        assert_eq!(parse_price(b"\t100\r\n"), Ok(100.0));
        let refused = "expected one plain decimal number like 42.5 or -3.10 (no sign +, \
                       exponent, separators or units)";
        for bad in [
            "+5", "1e3", "1,000", "$40", "40 USD", ".5", "5.", "1 2", "NaN", "inf", "--1", "1.2.3",
        ] {
            assert_eq!(
                parse_price(bad.as_bytes()),
                Err(ParsePriceError(refused)),
                "{bad}"
            );
        }
        let huge = "9".repeat(400);
        assert_eq!(
            parse_price(huge.as_bytes()),
            Err(ParsePriceError("the number is too large"))
        );
        assert_eq!(
            parse_price(b" \n"),
            Err(ParsePriceError("empty: expected one decimal number"))
        );
        assert_eq!(
            parse_price(b"\xff1"),
            Err(ParsePriceError("not UTF-8 text"))
        );
        assert_eq!(
            parse_price(&[b' '; 4097]),
            Err(ParsePriceError("larger than 4096 bytes"))
        );
    }

    #[test]
    fn curtails_after_the_hold_and_resumes_after_it() {
        let rule = PriceRule {
            strike: 50.0,
            hold: Duration::from_secs(300),
            stale_after: Duration::from_secs(900),
            curtail: Cap::Off,
        };
        let mut s = PriceState::new(rule);
        assert_eq!(s.poll(t(0)), PriceStatus::Lost);
        s.observe(t(0), 60.0);
        assert_eq!(s.poll(t(0)), PriceStatus::Cap(Cap::Full));
        // A dip at 120 s restarts the hold.
        s.observe(t(120), 50.0);
        s.observe(t(180), 70.0);
        assert_eq!(s.poll(t(479)), PriceStatus::Cap(Cap::Full));
        assert_eq!(s.poll(t(480)), PriceStatus::Cap(Cap::Off));
        // At the strike counts as resume-side.
        s.observe(t(600), 50.0);
        assert_eq!(s.poll(t(899)), PriceStatus::Cap(Cap::Off));
        assert_eq!(s.poll(t(900)), PriceStatus::Cap(Cap::Full));
        // An older sample is ignored; no sample for more than 900 s is loss.
        s.observe(t(500), 99.0);
        assert_eq!(s.poll(t(1500)), PriceStatus::Cap(Cap::Full));
        assert_eq!(s.poll(t(1501)), PriceStatus::Lost);
    }

    #[test]
    fn reads_a_file_and_names_it_in_errors() {
        let dir = std::env::temp_dir().join(format!("sha256d-price-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let path = dir.join("price");
        std::fs::write(&path, "31.25\n").expect("temp dir is writable");
        let reading = read_price_file(&path).expect("a valid price file");
        assert_eq!(reading.price, 31.25);
        let age = Timestamp::now().duration_since(reading.modified);
        assert!(
            age.as_secs().abs() < 3600,
            "mtime {} is near now",
            reading.modified
        );
        std::fs::write(&path, "31.25 EUR").expect("temp dir is writable");
        assert_eq!(
            read_price_file(&path).unwrap_err(),
            format!(
                "price file {}: expected one plain decimal number like 42.5 or -3.10 (no sign \
                 +, exponent, separators or units)",
                path.display()
            )
        );
        std::fs::write(&path, vec![b'1'; 5000]).expect("temp dir is writable");
        assert_eq!(
            read_price_file(&path).unwrap_err(),
            format!("price file {}: larger than 4096 bytes", path.display())
        );
        std::fs::remove_dir_all(&dir).expect("the test's own temp dir");
    }
}
