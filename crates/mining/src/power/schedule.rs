//! `--schedule SPEC`: weekly windows in local time, with DST handled.
//!
//! Grammar (case-insensitive, one rule per `--schedule`):
//!
//! ```text
//! RULE    := [DAYS] [WINDOW] ['=' CAP]      at least one of DAYS and WINDOW
//! DAYS    := ITEM (',' ITEM)*
//! ITEM    := DAY | DAY '-' DAY | 'weekdays' | 'weekends' | 'daily'
//! DAY     := 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun'
//! WINDOW  := HH:MM '-' HH:MM                 end may be 24:00
//! ```
//!
//! A window belongs to the day it starts on; an end at or before the start runs into the next
//! day (`fri 22:00-06:00` ends Saturday 06:00; `10:00-10:00` is 24 hours). No DAYS means every
//! day; no WINDOW means the whole day. A day range may wrap (`fri-mon`).
//!
//! A rule without `=CAP` is a time mining may run at full; when any such rule exists, every
//! instant outside all of them is `off`. A rule with `=CAP` applies that cap inside its window.
//! Where several apply, the lowest cap wins ([`Cap::lower`]).
//!
//! DST: a window starts at the first instant the local clock reads its start time, and ends at
//! the first instant it reads its end time. A start inside a skipped hour (02:30 on a
//! spring-forward day) is the transition itself (03:00 new time); a start or end inside a
//! repeated hour is its first occurrence, so a window happens once a day, never twice.

use super::cap::{Cap, CapError, Capacity, ParseCapError};
use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;
use std::fmt;
use std::str::FromStr;

const ALL_DAYS: u8 = 0b111_1111;
const MINUTES_PER_DAY: u16 = 24 * 60;
/// A weekly pattern repeats, so a week and a day of boundaries holds every kind of change.
const LOOKAHEAD_DAYS: i32 = 8;

/// One `--schedule` rule, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct ScheduleRule {
    /// Bit `n` set: the window starts on weekday `n` (Monday = 0).
    days: u8,
    /// Minutes after local midnight, `0..1440`.
    start: u16,
    /// Minutes after local midnight, `1..=1440`; at or before `start` means the next day.
    end: u16,
    /// `None`: an allowed window at full.
    cap: Option<Cap>,
}

/// A rule that does not parse; names the rule and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseScheduleError {
    spec: String,
    reason: String,
}

impl fmt::Display for ParseScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad --schedule {:?}: {}", self.spec, self.reason)
    }
}

impl std::error::Error for ParseScheduleError {}

impl FromStr for ScheduleRule {
    type Err = ParseScheduleError;

    fn from_str(spec: &str) -> Result<ScheduleRule, ParseScheduleError> {
        let fail = |reason: String| ParseScheduleError {
            spec: spec.chars().take(80).collect(),
            reason,
        };
        let (when, cap) = match spec.split_once('=') {
            Some((when, cap)) => {
                let cap = cap
                    .parse()
                    .map_err(|e: ParseCapError| fail(e.to_string()))?;
                (when, Some(cap))
            }
            None => (spec, None),
        };
        let mut days = None;
        let mut window = None;
        for token in when.split_whitespace() {
            if token.contains(':') {
                if window.is_some() {
                    return Err(fail(
                        "more than one time window; give each its own --schedule".into(),
                    ));
                }
                window = Some(parse_window(token).map_err(fail)?);
            } else {
                if days.is_some() || window.is_some() {
                    return Err(fail(
                        "days come once, before the window (e.g. `mon-fri 22:00-06:00`)".into(),
                    ));
                }
                days = Some(parse_days(token).map_err(fail)?);
            }
        }
        if days.is_none() && window.is_none() {
            return Err(fail("expected days, a window HH:MM-HH:MM, or both".into()));
        }
        let (start, end) = window.unwrap_or((0, MINUTES_PER_DAY));
        Ok(ScheduleRule {
            days: days.unwrap_or(ALL_DAYS),
            start,
            end,
            cap,
        })
    }
}

fn parse_days(token: &str) -> Result<u8, String> {
    let mut days = 0;
    for item in token.split(',') {
        let item = item.to_ascii_lowercase();
        days |= match item.as_str() {
            "weekdays" => 0b001_1111,
            "weekends" => 0b110_0000,
            "daily" => ALL_DAYS,
            _ => match item.split_once('-') {
                Some((from, to)) => {
                    let (from, to) = (day_index(from)?, day_index(to)?);
                    let len = (to + 7 - from) % 7 + 1;
                    (0..len).fold(0, |set, i| set | 1 << ((from + i) % 7))
                }
                None => 1 << day_index(&item)?,
            },
        };
    }
    Ok(days)
}

fn day_index(name: &str) -> Result<u8, String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    NAMES
        .iter()
        .position(|&n| n == name)
        .map(|i| i as u8)
        .ok_or_else(|| format!("unknown day {name:?}; days are mon tue wed thu fri sat sun, weekdays, weekends, daily"))
}

fn parse_window(token: &str) -> Result<(u16, u16), String> {
    let (start, end) = token
        .split_once('-')
        .ok_or_else(|| format!("window {token:?} must be HH:MM-HH:MM"))?;
    let start = parse_hhmm(start)?;
    let end = parse_hhmm(end)?;
    if start == MINUTES_PER_DAY {
        return Err("a window cannot start at 24:00; start at 00:00".into());
    }
    Ok((start, if end == 0 { MINUTES_PER_DAY } else { end }))
}

fn parse_hhmm(s: &str) -> Result<u16, String> {
    let bad = || format!("time {s:?} must be HH:MM, 00:00 to 24:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    if m >= 60 || h * 60 + m > MINUTES_PER_DAY {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The rules of every `--schedule`, read in one time zone.
#[derive(Clone, Debug)]
pub struct Schedule {
    rules: Vec<ScheduleRule>,
    tz: TimeZone,
}

/// One occurrence of a rule: `[start, end)`.
struct Instance<'a> {
    start: Timestamp,
    end: Timestamp,
    rule: &'a ScheduleRule,
}

impl Schedule {
    /// A schedule of `rules` in `tz` (the CLI passes the system zone, tests a named one).
    pub fn new(rules: Vec<ScheduleRule>, tz: TimeZone) -> Schedule {
        Schedule { rules, tz }
    }

    /// The cap the schedule sets at `at`. Errors only where overlapping windows have caps in
    /// different units that `full` cannot weigh against each other.
    pub fn cap_at(&self, at: Timestamp, full: &Capacity) -> Result<Cap, CapError> {
        let date = self.tz.to_datetime(at).date();
        let mut allowed = !self.rules.iter().any(|r| r.cap.is_none());
        let mut cap = Cap::Full;
        for instance in self.instances(date, -1, 0) {
            if instance.start <= at && at < instance.end {
                match instance.rule.cap {
                    None => allowed = true,
                    Some(c) => cap = Cap::lower(cap, c, full)?,
                }
            }
        }
        if allowed {
            Ok(cap)
        } else {
            Ok(Cap::Off)
        }
    }

    /// The first instant after `at` where [`Schedule::cap_at`] differs from its value at `at`;
    /// `None` when it never changes.
    pub fn next_change_after(
        &self,
        at: Timestamp,
        full: &Capacity,
    ) -> Result<Option<Timestamp>, CapError> {
        let date = self.tz.to_datetime(at).date();
        let mut boundaries: Vec<Timestamp> = self
            .instances(date, -1, LOOKAHEAD_DAYS)
            .flat_map(|i| [i.start, i.end])
            .filter(|&b| b > at)
            .collect();
        boundaries.sort();
        boundaries.dedup();
        let now = self.cap_at(at, full)?;
        for b in boundaries {
            if self.cap_at(b, full)? != now {
                return Ok(Some(b));
            }
        }
        Ok(None)
    }

    /// Every rule's occurrences starting on local dates `date + from ..= date + to`.
    fn instances(&self, date: Date, from: i32, to: i32) -> impl Iterator<Item = Instance<'_>> {
        (from..=to)
            .filter_map(move |offset| date.checked_add(jiff::Span::new().days(offset)).ok())
            .flat_map(move |day| {
                let weekday = day.weekday().to_monday_zero_offset();
                self.rules
                    .iter()
                    .filter(move |r| r.days & (1 << weekday) != 0)
                    .filter_map(move |rule| {
                        let end_day = if rule.end <= rule.start {
                            day.tomorrow().ok()?
                        } else {
                            day
                        };
                        Some(Instance {
                            start: self.first_reading(day, rule.start)?,
                            end: self.first_reading(end_day, rule.end)?,
                            rule,
                        })
                    })
            })
    }

    /// The first instant the local clock reads `minutes` after midnight on `date`.
    fn first_reading(&self, date: Date, minutes: u16) -> Option<Timestamp> {
        let (date, minutes) = if minutes == MINUTES_PER_DAY {
            (date.tomorrow().ok()?, 0)
        } else {
            (date, minutes)
        };
        let time = Time::new((minutes / 60) as i8, (minutes % 60) as i8, 0, 0).ok()?;
        let dt = DateTime::from_parts(date, time);
        match self.tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(dt).ok(),
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(dt).ok(),
            // The clock skips this reading: it first reads later at the transition, which
            // comes after this reading taken at the new offset.
            AmbiguousOffset::Gap { after, .. } => {
                let earlier = after.to_timestamp(dt).ok()?;
                self.tz.following(earlier).next().map(|t| t.timestamp())
            }
        }
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
