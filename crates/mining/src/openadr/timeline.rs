//! Events resolved into a timeline: each interval placed in time, and at any instant the limit
//! that wins. Pure: the VEN state machine feeds it what it fetched and when it first saw it.

use super::event::{Event, Signal};
use super::iso::{Length, Start};
use jiff::{SignedDuration, Timestamp};
use std::time::SystemTime;

/// The longest randomisation window honoured. The spec sets none; a server that asks a load to
/// wait a day before obeying a limit is not one to follow blindly.
const MAX_RANDOMIZE_MILLIS: u64 = 3_600_000;

/// How `SIMPLE` levels become power: the fraction of its usual power the load may draw at each
/// level, 0 (normal) to 3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SimpleLevels([f64; 4]);

impl SimpleLevels {
    /// The fractions for levels 0 to 3, each from 0 to 1.
    pub fn new(fractions: [f64; 4]) -> Result<SimpleLevels, sha256d::Error> {
        match fractions.iter().find(|f| !(0.0..=1.0).contains(*f)) {
            Some(f) => Err(sha256d::Error::invalid(format!(
                "a SIMPLE level's fraction of power must be from 0 to 1, not {f}"
            ))),
            None => Ok(SimpleLevels(fractions)),
        }
    }

    /// The fractions for levels 0 to 3.
    pub fn fractions(&self) -> [f64; 4] {
        self.0
    }
}

impl Default for SimpleLevels {
    /// Normal, three quarters, half, off: the spec names the levels (normal, moderate, high,
    /// special) and leaves what each means to the program.
    fn default() -> Self {
        SimpleLevels([1.0, 0.75, 0.5, 0.0])
    }
}

/// One interval of one event, placed in time.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// The event it belongs to.
    pub event_id: String,
    /// The event's priority: lower numbers win, `None` loses to every number.
    pub priority: Option<u32>,
    /// When it starts, randomisation applied.
    pub start: SystemTime,
    /// When it ends; `None` for never (until the event changes).
    pub end: Option<SystemTime>,
    /// What it asks.
    pub signal: Signal,
}

/// What the grid asks of the load at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    /// Stop drawing power: a grid emergency. Overrides everything else.
    pub stop: bool,
    /// The most the load may draw, in watts.
    pub watts: Option<f64>,
    /// The most the load may draw as a fraction of its usual power (from a `SIMPLE` level).
    pub fraction: Option<f64>,
    /// When the answer may change next: a segment starts or ends. `None` when nothing is
    /// scheduled to change.
    pub until: Option<SystemTime>,
    /// The events that set it, for logs.
    pub events: Vec<String>,
}

impl Limit {
    /// Whether the load may run as it likes.
    pub fn is_unlimited(&self) -> bool {
        !self.stop && self.watts.is_none() && self.fraction.is_none()
    }
}

/// The events of one program, resolved: [`Timeline::limit_at`] says what holds at an instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    segments: Vec<Segment>,
    levels: SimpleLevels,
    rejected: Vec<String>,
}

impl Timeline {
    /// Places every interval of `events` in time. `first_seen` gives the instant the VEN first
    /// saw an event (the start of its "now" intervals); `seed` picks each event's randomised
    /// start offset, the same on every poll, different between VENs.
    pub(crate) fn resolve(
        events: &[Event],
        first_seen: impl Fn(&Event) -> Timestamp,
        seed: u64,
        levels: SimpleLevels,
        rejected: Vec<String>,
    ) -> Timeline {
        let mut timeline = Timeline {
            segments: Vec::new(),
            levels,
            rejected,
        };
        for event in events {
            if let Err(why) = timeline.place(event, first_seen(event), seed) {
                timeline.rejected.push(why);
            }
        }
        timeline
            .segments
            .sort_by(|a, b| (a.start, &a.event_id).cmp(&(b.start, &b.event_id)));
        timeline
    }

    fn place(&mut self, event: &Event, seen: Timestamp, seed: u64) -> Result<(), String> {
        let resolve = |start: Start| match start {
            Start::At(t) => t,
            Start::Now => seen,
        };
        let event_offset = offset(event.randomize, seed, &event.id, None)?;
        let mut placed = Vec::new();
        // Where the next interval without a start of its own begins; `None` after one that
        // never ends.
        let mut cursor = Some(resolve(event.start.unwrap_or(Start::Now)));
        for (i, interval) in event.intervals.iter().enumerate() {
            let Some(start) = interval.start.map(resolve).or(cursor) else {
                break;
            };
            let length = match interval.length.or(event.length) {
                None => Length::Forever,
                Some(l) if l.is_zero() => Length::Forever,
                Some(l) => l,
            };
            let end = length.end(start);
            cursor = end;
            if interval.signal.is_empty() {
                continue;
            }
            // A grid emergency is obeyed at once: randomisation spreads loads coming back,
            // not a stop.
            let shift = if interval.signal.emergency {
                SignedDuration::ZERO
            } else if interval.randomize.is_some() {
                offset(interval.randomize, seed, &event.id, Some(i))?
            } else {
                event_offset
            };
            let shifted = |t: Timestamp| {
                let t = t.checked_add(shift).unwrap_or(t);
                SystemTime::try_from(t).map_err(|_| {
                    format!(
                        "event {}: an instant this system cannot hold: {t}",
                        crate::sanitize::for_terminal(&event.id)
                    )
                })
            };
            placed.push(Segment {
                event_id: event.id.clone(),
                priority: event.priority,
                start: shifted(start)?,
                end: end.map(shifted).transpose()?,
                signal: interval.signal,
            });
        }
        self.segments.extend(placed);
        Ok(())
    }

    /// Every placed interval, by start.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// Why events were left out (malformed, or in units the VEN does not take), one line each.
    pub fn rejected(&self) -> &[String] {
        &self.rejected
    }

    /// What holds at `now`. A grid emergency in any active interval stops the load whatever
    /// its priority. Otherwise the active intervals of the best priority decide; intervals
    /// tied at that priority combine, the strictest of each limit holding (the spec leaves
    /// ties open, and the strictest is the one that never overdraws).
    pub fn limit_at(&self, now: SystemTime) -> Limit {
        let active: Vec<&Segment> = self
            .segments
            .iter()
            .filter(|s| s.start <= now && s.end.is_none_or(|end| now < end))
            .collect();
        let until = self.next_change(now);
        let emergencies: Vec<String> = active
            .iter()
            .filter(|s| s.signal.emergency)
            .map(|s| s.event_id.clone())
            .collect();
        if !emergencies.is_empty() {
            return Limit {
                stop: true,
                watts: None,
                fraction: None,
                until,
                events: dedup(emergencies),
            };
        }
        let rank = |s: &Segment| (s.priority.is_none(), s.priority);
        let best = active.iter().map(|s| rank(s)).min();
        let winners: Vec<&&Segment> = active.iter().filter(|s| Some(rank(s)) == best).collect();
        let min = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut watts = None;
        let mut fraction = None;
        for s in &winners {
            watts = min(watts, s.signal.watts_cap);
            let level = s.signal.simple_level.map(|l| self.levels.0[usize::from(l)]);
            fraction = min(fraction, level);
        }
        Limit {
            stop: false,
            watts,
            fraction,
            until,
            events: dedup(winners.iter().map(|s| s.event_id.clone()).collect()),
        }
    }

    /// The first instant after `now` at which an interval starts or ends.
    pub fn next_change(&self, now: SystemTime) -> Option<SystemTime> {
        self.segments
            .iter()
            .flat_map(|s| [Some(s.start), s.end])
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

fn dedup(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}

/// The randomised start offset within `window`, from a hash of the seed, the event and (for an
/// interval's own window) the interval: stable across polls, so a start does not jump about.
fn offset(
    window: Option<Length>,
    seed: u64,
    event: &str,
    interval: Option<usize>,
) -> Result<SignedDuration, String> {
    let millis = match window {
        None => return Ok(SignedDuration::ZERO),
        Some(Length::Span { months: 0, millis }) if millis <= MAX_RANDOMIZE_MILLIS => millis,
        Some(_) => {
            return Err(format!(
                "event {}: a randomizeStart longer than {} s",
                crate::sanitize::for_terminal(event),
                MAX_RANDOMIZE_MILLIS / 1000
            ))
        }
    };
    if millis == 0 {
        return Ok(SignedDuration::ZERO);
    }
    let position = interval.map_or(u64::MAX, |i| i as u64);
    let hash = fnv1a(&[
        &seed.to_le_bytes(),
        event.as_bytes(),
        &position.to_le_bytes(),
    ]);
    let millis = i64::try_from(hash % millis).expect("below an hour of milliseconds");
    Ok(SignedDuration::from_millis(millis))
}

/// FNV-1a over `parts` in turn: any fixed mix of the inputs would do; this one needs no
/// dependency.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    parts
        .iter()
        .flat_map(|part| part.iter())
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}
