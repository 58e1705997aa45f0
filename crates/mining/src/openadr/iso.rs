//! The two time formats OpenADR 3 sends: RFC 3339 instants (with the spec's "now" sentinels) and
//! ISO 8601 durations (with its "P9999Y" for forever), parsed with caps on what a hostile server
//! can make them mean.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// The most characters a duration or an instant may have: the longest sensible ones are about 40.
const MAX_TEXT: usize = 64;

/// The longest finite duration accepted, in milliseconds: a thousand years. Anything longer is
/// refused rather than trusted, except the spec's own forever (years of 9999 or more).
const MAX_MILLIS: f64 = 1000.0 * 366.0 * 86_400_000.0;

/// When an interval starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Start {
    /// At this instant.
    At(Timestamp),
    /// When the VEN first sees it: 3.0.1 and later write "0001-01-01" (with or without a time),
    /// 3.0.0 wrote "0000-00-00".
    Now,
}

/// How long an interval lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Length {
    /// Until the event is changed or removed: "P9999Y", and a zero or missing duration, which the
    /// spec leaves to the payload type and which, for a limit or an alert, can only mean "holds".
    Forever,
    /// Calendar months (years count twelve) and then milliseconds.
    Span {
        /// Whole months, applied on the UTC calendar.
        months: u32,
        /// Milliseconds after the months.
        millis: u64,
    },
}

impl Length {
    /// The end of an interval of this length that starts at `start`; `None` when it never ends
    /// (or ends past the calendar's year 9999, which is the same to a miner).
    pub(crate) fn end(self, start: Timestamp) -> Option<Timestamp> {
        let Length::Span { months, millis } = self else {
            return None;
        };
        let after_months = if months == 0 {
            start
        } else {
            let civil: DateTime = TimeZone::UTC.to_datetime(start);
            let moved = civil
                .checked_add(Span::new().months(i64::from(months)))
                .ok()?;
            TimeZone::UTC.to_timestamp(moved).ok()?
        };
        let millis = i64::try_from(millis).ok()?;
        after_months
            .checked_add(Span::new().milliseconds(millis))
            .ok()
    }

    /// Zero: no time at all (a randomisation window of none).
    pub(crate) fn is_zero(self) -> bool {
        self == Length::Span {
            months: 0,
            millis: 0,
        }
    }
}

/// Parses an RFC 3339 instant or one of the spec's "now" sentinels.
pub(crate) fn parse_start(text: &str) -> Result<Start, String> {
    if text.len() > MAX_TEXT {
        return Err(format!("a start of {} characters", text.len()));
    }
    if text == "0000-00-00" || text.starts_with("0001-01-01") {
        return Ok(Start::Now);
    }
    // jiff also reads Temporal's bracketed time-zone annotations; RFC 3339 has none.
    if text.contains('[') {
        return Err(format!("start {text:?} is not RFC 3339"));
    }
    text.parse::<Timestamp>()
        .map(Start::At)
        .map_err(|e| format!("start {text:?} is not RFC 3339: {e}"))
}

/// Parses an ISO 8601 duration: `P[nY][nM][nW][nD][T[nH][nM][nS]]`, each number with an
/// optional fraction (point or comma), as the VTN writes them (`P0Y0M0DT1H0M0S`). Fractional
/// years or months have no fixed length and are refused, as are durations past
/// [`MAX_MILLIS`]; years of 9999 or more are the spec's forever.
pub(crate) fn parse_duration(text: &str) -> Result<Length, String> {
    let bad = |why: &str| format!("duration {text:?}: {why}");
    if text.len() > MAX_TEXT {
        return Err(format!("a duration of {} characters", text.len()));
    }
    let body = text
        .strip_prefix('P')
        .ok_or_else(|| bad("does not start with P"))?;
    let (date, time) = match body.split_once('T') {
        Some((_, "")) => return Err(bad("nothing after T")),
        Some((date, time)) => (date, time),
        None => (body, ""),
    };
    if date.is_empty() && time.is_empty() {
        return Err(bad("no components"));
    }
    let mut years = 0.0;
    let mut months = 0.0;
    let mut millis = 0.0;
    for (part, units) in [(date, "YMWD"), (time, "HMS")] {
        let mut rest = part;
        let mut allowed = units;
        while !rest.is_empty() {
            let digits = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
                .ok_or_else(|| bad("a number without a unit"))?;
            let unit = rest[digits..].chars().next().expect("found above");
            let position = allowed
                .find(unit)
                .ok_or_else(|| bad("a unit out of order, repeated or unknown"))?;
            allowed = &allowed[position + 1..];
            let number = &rest[..digits];
            if number.is_empty() || number.len() > 12 {
                return Err(bad("a missing or overlong number"));
            }
            let value: f64 = number
                .replace(',', ".")
                .parse()
                .map_err(|_| bad("a malformed number"))?;
            rest = &rest[digits + unit.len_utf8()..];
            match (units == "HMS", unit) {
                (false, 'Y') => years = value,
                (false, 'M') => months = value,
                (false, 'W') => millis += value * 7.0 * 86_400_000.0,
                (false, 'D') => millis += value * 86_400_000.0,
                (true, 'H') => millis += value * 3_600_000.0,
                (true, 'M') => millis += value * 60_000.0,
                (true, 'S') => millis += value * 1000.0,
                _ => unreachable!("units are checked against the allowed list"),
            }
        }
    }
    if years >= 9999.0 {
        return Ok(Length::Forever);
    }
    if years.fract() != 0.0 || months.fract() != 0.0 {
        return Err(bad("fractional years or months have no fixed length"));
    }
    let months = years * 12.0 + months;
    if months * 31.0 * 86_400_000.0 + millis > MAX_MILLIS {
        return Err(bad("longer than a thousand years and not P9999Y"));
    }
    Ok(Length::Span {
        months: months as u32,
        millis: millis.round() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(months: u32, millis: u64) -> Length {
        Length::Span { months, millis }
    }

    #[test]
    fn durations_as_the_vtn_and_the_spec_write_them() {
        assert_eq!(parse_duration("PT1H"), Ok(span(0, 3_600_000)));
        assert_eq!(parse_duration("P0Y0M0DT1H0M0S"), Ok(span(0, 3_600_000)));
        assert_eq!(parse_duration("PT0.5M"), Ok(span(0, 30_000)));
        assert_eq!(parse_duration("PT1,5S"), Ok(span(0, 1_500)));
        assert_eq!(parse_duration("P1W2D"), Ok(span(0, 9 * 86_400_000)));
        assert_eq!(parse_duration("P1Y2M"), Ok(span(14, 0)));
        assert_eq!(parse_duration("PT0S"), Ok(span(0, 0)));
        assert_eq!(parse_duration("P9999Y"), Ok(Length::Forever));
        assert_eq!(parse_duration("P9999Y0M0DT0H0M0S"), Ok(Length::Forever));
        for bad in [
            "",
            "P",
            "PT",
            "1H",
            "PT1",
            "P1H",
            "PT1D",
            "PT1H1H",
            "PT1M1H",
            "P-1D",
            "P1.5Y",
            "P0.5M",
            "P1001Y",
            "PT1e9S",
            "P1DT",
            "PT..S",
            "PT1234567890123S",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} parsed");
        }
        assert!(parse_duration(&format!("PT{}S", "1".repeat(70))).is_err());
    }

    #[test]
    fn ends_follow_the_utc_calendar() {
        let start: Timestamp = "2026-01-31T12:00:00Z".parse().expect("valid");
        // A month after 31 January is the last day of February (jiff's constraining rule).
        assert_eq!(
            span(1, 1000).end(start),
            Some("2026-02-28T12:00:01Z".parse().expect("valid"))
        );
        assert_eq!(Length::Forever.end(start), None);
        let late: Timestamp = "9999-12-30T00:00:00Z".parse().expect("valid");
        assert_eq!(span(0, 3 * 86_400_000).end(late), None);
    }

    #[test]
    fn starts_and_the_now_sentinels() {
        assert_eq!(parse_start("0001-01-01"), Ok(Start::Now));
        assert_eq!(parse_start("0001-01-01T00:00:00Z"), Ok(Start::Now));
        assert_eq!(parse_start("0000-00-00"), Ok(Start::Now));
        assert_eq!(
            parse_start("2026-12-03T08:00:00+01:00"),
            Ok(Start::At("2026-12-03T07:00:00Z".parse().expect("valid")))
        );
        for bad in [
            "2026-12-03",
            "2026-12-03T08:00:00",
            "2026-12-03T08:00:00Z[Europe/Paris]",
            "yesterday",
        ] {
            assert!(parse_start(bad).is_err(), "{bad:?} parsed");
        }
    }
}
