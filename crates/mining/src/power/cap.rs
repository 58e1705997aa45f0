//! A power setpoint ([`Cap`]), its flag syntax, and its conversion to a duty fraction.

use std::fmt;
use std::str::FromStr;

/// A setpoint: how much of the devices' full output a source allows.
///
/// Caps from different sources are compared by the duty fraction they convert to
/// ([`Cap::duty`]), so a hashrate cap and a watts cap can be weighed against each other.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cap {
    /// No hashing at all.
    Off,
    /// No limit: full duty.
    Full,
    /// A fraction of full duty, in `[0, 1]`.
    Fraction(f64),
    /// A hashrate in H/s (not negative, finite).
    Hashrate(f64),
    /// A power draw in watts (not negative, finite).
    Watts(f64),
}

/// The devices' output at full duty, as far as it is known.
///
/// Either figure may be unknown (`None`): a hashrate cap then needs `hashrate`, a watts cap
/// needs `watts`, and [`Cap::duty`] reports the missing figure rather than guessing it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Capacity {
    /// Hashes per second at full duty.
    pub hashrate: Option<f64>,
    /// Watts drawn at full duty.
    pub watts: Option<f64>,
}

/// Why a [`Cap`] cannot be turned into a duty fraction.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum CapError {
    /// A watts cap, but no power figure for the devices at full duty (no meter, no nameplate).
    NoPowerFigure(Cap),
    /// A hashrate cap, but no full-duty hashrate known yet.
    NoHashrateFigure(Cap),
}

impl fmt::Display for CapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapError::NoPowerFigure(cap) => write!(
                f,
                "power cap {cap} needs the devices' full-duty power, and none is known \
                 (no energy meter or power figure)"
            ),
            CapError::NoHashrateFigure(cap) => write!(
                f,
                "hashrate cap {cap} needs the devices' full-duty hashrate, and none is known yet"
            ),
        }
    }
}

impl std::error::Error for CapError {}

/// A setpoint string that does not parse; names the input and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseCapError {
    input: String,
    reason: String,
}

impl ParseCapError {
    fn new(input: &str, reason: impl Into<String>) -> Self {
        // Setpoints come from flags and files; a hostile one must not make the message huge.
        let input: String = input.chars().take(64).collect();
        ParseCapError {
            input,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ParseCapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad setpoint {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for ParseCapError {}

/// What a plain number (no unit) means: flags differ (`--power-limit 500` is watts).
#[derive(Clone, Copy, PartialEq)]
enum Plain {
    Hashrate,
    Watts,
}

impl Cap {
    /// The duty fraction in `[0, 1]` this cap allows, given the devices' full-duty figures.
    ///
    /// Power is taken to scale linearly with duty (idle draw is not modelled), so a watts cap
    /// is `watts / full watts`; a cap above full output is full duty.
    pub fn duty(&self, full: &Capacity) -> Result<f64, CapError> {
        let ratio =
            |limit: f64, of: Option<f64>| of.map(|of| if of > 0.0 { limit / of } else { 1.0 });
        let duty = match *self {
            Cap::Off => 0.0,
            Cap::Full => 1.0,
            Cap::Fraction(f) => f,
            Cap::Hashrate(h) => ratio(h, full.hashrate).ok_or(CapError::NoHashrateFigure(*self))?,
            Cap::Watts(w) => ratio(w, full.watts).ok_or(CapError::NoPowerFigure(*self))?,
        };
        Ok(duty.clamp(0.0, 1.0))
    }

    /// The lower of two caps: compared by value when both are in the same unit (no device
    /// figures needed), `off` and `full` against anything, by duty otherwise; `a` wins a tie.
    pub fn lower(a: Cap, b: Cap, full: &Capacity) -> Result<Cap, CapError> {
        let b_lower = match (a, b) {
            (Cap::Off, _) | (_, Cap::Full) => false,
            (_, Cap::Off) | (Cap::Full, _) => true,
            (Cap::Hashrate(x), Cap::Hashrate(y)) | (Cap::Watts(x), Cap::Watts(y)) => y < x,
            _ => b.duty(full)? < a.duty(full)?,
        };
        Ok(if b_lower { b } else { a })
    }

    /// Parses `--hashrate-limit`: a hashrate, `10GH/s`, `10G` or plain H/s `10000000000`, with
    /// an SI prefix `k`/`K`, `M`, `G`, `T`, `P`, `E`; also `off`, `full` and `N%`.
    pub fn parse_hashrate_limit(s: &str) -> Result<Cap, ParseCapError> {
        match parse(s, Plain::Hashrate)? {
            Cap::Watts(_) => Err(ParseCapError::new(
                s,
                "this is a hashrate limit; watts go in --power-limit",
            )),
            cap => Ok(cap),
        }
    }

    /// Parses `--power-limit`: watts, `500W`, `1.2kW`, `2MW` or plain watts `500`; also `off`,
    /// `full` and `N%`.
    pub fn parse_power_limit(s: &str) -> Result<Cap, ParseCapError> {
        match parse(s, Plain::Watts)? {
            Cap::Hashrate(_) => Err(ParseCapError::new(
                s,
                "this is a power limit; hashrates go in --hashrate-limit",
            )),
            cap => Ok(cap),
        }
    }
}

impl FromStr for Cap {
    type Err = ParseCapError;

    /// Any setpoint: `off`, `full`, `N%`, a hashrate (`10GH/s`, `10G`, plain H/s) or watts
    /// (`500W`, `1.2kW`); a schedule's `=CAP` and the control API use this form.
    fn from_str(s: &str) -> Result<Cap, ParseCapError> {
        parse(s, Plain::Hashrate)
    }
}

fn parse(input: &str, plain: Plain) -> Result<Cap, ParseCapError> {
    let s = input.trim();
    if s.eq_ignore_ascii_case("off") {
        return Ok(Cap::Off);
    }
    if s.eq_ignore_ascii_case("full") {
        return Ok(Cap::Full);
    }
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(digits_end);
    let value = parse_number(number).map_err(|reason| ParseCapError::new(input, reason))?;
    let unit = unit.trim_start();
    if unit == "%" {
        if value > 100.0 {
            return Err(ParseCapError::new(input, "a percentage must be 0% to 100%"));
        }
        return Ok(Cap::Fraction(value / 100.0));
    }
    let (scale, rest) = split_prefix(unit).map_err(|reason| ParseCapError::new(input, reason))?;
    let value = value * scale;
    let cap = match rest {
        "W" | "w" => Cap::Watts(value),
        "H/s" | "h/s" | "H/S" | "H" | "h" => Cap::Hashrate(value),
        "" if plain == Plain::Watts => Cap::Watts(value),
        "" => Cap::Hashrate(value),
        _ => {
            return Err(ParseCapError::new(
                input,
                "unknown unit; write off, full, N%, a hashrate like 10GH/s, or watts like 500W or 1.2kW",
            ))
        }
    };
    if !value.is_finite() {
        return Err(ParseCapError::new(input, "the number is too large"));
    }
    Ok(cap)
}

/// A plain decimal: digits with at most one `.`; no sign, exponent or separators.
fn parse_number(s: &str) -> Result<f64, &'static str> {
    if s.is_empty() {
        return Err("expected a number (or off, full)");
    }
    if s.matches('.').count() > 1 || !s.bytes().any(|b| b.is_ascii_digit()) {
        return Err("not a decimal number");
    }
    s.parse::<f64>().map_err(|_| "not a decimal number")
}

/// Splits an SI prefix off a unit: `GH/s` -> (1e9, `H/s`).
fn split_prefix(unit: &str) -> Result<(f64, &str), &'static str> {
    let Some(first) = unit.chars().next() else {
        return Ok((1.0, unit));
    };
    let scale = match first {
        'k' | 'K' => 1e3,
        'M' => 1e6,
        'G' | 'g' => 1e9,
        'T' | 't' => 1e12,
        'P' | 'p' => 1e15,
        'E' | 'e' => 1e18,
        // `m` could be milli or mega; make the writer say which.
        'm' => return Err("`m` is ambiguous: write M for mega"),
        _ => return Ok((1.0, unit)),
    };
    Ok((scale, &unit[first.len_utf8()..]))
}

impl fmt::Display for Cap {
    /// A form [`Cap::from_str`] reads back: `off`, `full`, `50%`, `10GH/s`, `1.2kW`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Cap::Off => f.write_str("off"),
            Cap::Full => f.write_str("full"),
            Cap::Fraction(x) => write!(f, "{}%", trimmed(x * 100.0)),
            Cap::Hashrate(h) => write_si(f, h, "H/s"),
            Cap::Watts(w) => write_si(f, w, "W"),
        }
    }
}

fn write_si(f: &mut fmt::Formatter<'_>, value: f64, unit: &str) -> fmt::Result {
    const PREFIXES: [(f64, &str); 6] = [
        (1e18, "E"),
        (1e15, "P"),
        (1e12, "T"),
        (1e9, "G"),
        (1e6, "M"),
        (1e3, "k"),
    ];
    let (scale, prefix) = PREFIXES
        .iter()
        .copied()
        .find(|&(scale, _)| value >= scale)
        .unwrap_or((1.0, ""));
    write!(f, "{}{prefix}{unit}", trimmed(value / scale))
}

/// Up to three decimals, without trailing zeros: `1.2`, `10`, `0.125`.
fn trimmed(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_flag_forms() {
        assert_eq!("off".parse(), Ok(Cap::Off));
        assert_eq!("OFF".parse(), Ok(Cap::Off));
        assert_eq!("full".parse(), Ok(Cap::Full));
        assert_eq!("50%".parse(), Ok(Cap::Fraction(0.5)));
        assert_eq!("0%".parse(), Ok(Cap::Fraction(0.0)));
        assert_eq!("10GH/s".parse(), Ok(Cap::Hashrate(10e9)));
        assert_eq!("10G".parse(), Ok(Cap::Hashrate(10e9)));
        assert_eq!("2.5 TH/s".parse(), Ok(Cap::Hashrate(2.5e12)));
        assert_eq!("1500000".parse(), Ok(Cap::Hashrate(1.5e6)));
        assert_eq!("500W".parse(), Ok(Cap::Watts(500.0)));
        assert_eq!("1.2kW".parse(), Ok(Cap::Watts(1200.0)));
        assert_eq!(Cap::parse_power_limit("500"), Ok(Cap::Watts(500.0)));
        assert_eq!(Cap::parse_power_limit("2MW"), Ok(Cap::Watts(2e6)));
        assert_eq!(Cap::parse_hashrate_limit("100kH/s"), Ok(Cap::Hashrate(1e5)));
        assert_eq!(Cap::parse_hashrate_limit("25%"), Ok(Cap::Fraction(0.25)));
    }

    #[test]
    fn refuses_with_a_reason() {
        let err = |s: &str| s.parse::<Cap>().unwrap_err().to_string();
        assert_eq!(
            err(""),
            "bad setpoint \"\": expected a number (or off, full)"
        );
        assert_eq!(
            err("-5W"),
            "bad setpoint \"-5W\": expected a number (or off, full)"
        );
        assert_eq!(
            err("1.2.3W"),
            "bad setpoint \"1.2.3W\": not a decimal number"
        );
        assert_eq!(
            err("150%"),
            "bad setpoint \"150%\": a percentage must be 0% to 100%"
        );
        assert_eq!(
            err("5mW"),
            "bad setpoint \"5mW\": `m` is ambiguous: write M for mega"
        );
        assert_eq!(
            err("5 bananas"),
            "bad setpoint \"5 bananas\": unknown unit; write off, full, N%, a hashrate like \
             10GH/s, or watts like 500W or 1.2kW"
        );
        assert_eq!(
            Cap::parse_hashrate_limit("500W").unwrap_err().to_string(),
            "bad setpoint \"500W\": this is a hashrate limit; watts go in --power-limit"
        );
        assert_eq!(
            Cap::parse_power_limit("5GH/s").unwrap_err().to_string(),
            "bad setpoint \"5GH/s\": this is a power limit; hashrates go in --hashrate-limit"
        );
        assert_eq!(err("1e3W"), "bad setpoint \"1e3W\": unknown unit; write off, full, N%, a hashrate like 10GH/s, or watts like 500W or 1.2kW");
    }

    #[test]
    fn converts_to_duty() {
        let both = Capacity {
            hashrate: Some(100e9),
            watts: Some(2000.0),
        };
        assert_eq!(Cap::Off.duty(&both), Ok(0.0));
        assert_eq!(Cap::Full.duty(&both), Ok(1.0));
        assert_eq!(Cap::Fraction(0.25).duty(&both), Ok(0.25));
        assert_eq!(Cap::Hashrate(25e9).duty(&both), Ok(0.25));
        assert_eq!(Cap::Hashrate(400e9).duty(&both), Ok(1.0));
        assert_eq!(Cap::Watts(500.0).duty(&both), Ok(0.25));
        let none = Capacity::default();
        assert_eq!(Cap::Fraction(0.5).duty(&none), Ok(0.5));
        assert_eq!(
            Cap::Watts(500.0).duty(&none),
            Err(CapError::NoPowerFigure(Cap::Watts(500.0)))
        );
        assert_eq!(
            Cap::Watts(500.0).duty(&none).unwrap_err().to_string(),
            "power cap 500W needs the devices' full-duty power, and none is known \
             (no energy meter or power figure)"
        );
        assert_eq!(
            Cap::Hashrate(1e9).duty(&none),
            Err(CapError::NoHashrateFigure(Cap::Hashrate(1e9)))
        );
    }

    #[test]
    fn the_lower_cap_wins() {
        let none = Capacity::default();
        let lower = |a, b| Cap::lower(a, b, &none);
        assert_eq!(lower(Cap::Full, Cap::Off), Ok(Cap::Off));
        assert_eq!(
            lower(Cap::Watts(500.0), Cap::Watts(400.0)),
            Ok(Cap::Watts(400.0))
        );
        assert_eq!(
            lower(Cap::Fraction(0.5), Cap::Fraction(0.5)),
            Ok(Cap::Fraction(0.5))
        );
        assert_eq!(lower(Cap::Full, Cap::Watts(1.0)), Ok(Cap::Watts(1.0)));
        assert_eq!(lower(Cap::Watts(1.0), Cap::Off), Ok(Cap::Off));
        assert_eq!(
            lower(Cap::Hashrate(5.0), Cap::Watts(1.0)),
            Err(CapError::NoPowerFigure(Cap::Watts(1.0)))
        );
        let known = Capacity {
            hashrate: Some(10e9),
            watts: Some(1000.0),
        };
        assert_eq!(
            Cap::lower(Cap::Watts(400.0), Cap::Hashrate(3e9), &known),
            Ok(Cap::Hashrate(3e9))
        );
    }

    #[test]
    fn displays_what_it_parses() {
        for s in [
            "off", "full", "50%", "12.5%", "10GH/s", "1.2kW", "500W", "999H/s", "3EH/s",
        ] {
            let cap: Cap = s.parse().expect("a valid setpoint");
            assert_eq!(cap.to_string(), s);
        }
    }
}
