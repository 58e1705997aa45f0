//! The combiner: named sources each give a cap, possibly as a timeline; the lowest cap wins;
//! every change of the winning cap is a [`PowerEvent`] the caller marks when devices comply.

use super::cap::{Cap, CapError, Capacity};
use super::ramp::Urgency;
use jiff::Timestamp;
use std::collections::VecDeque;
use std::fmt;

/// How many events [`Policy::events`] keeps; older ones are only counted.
pub const MAX_EVENTS: usize = 1000;

/// One stretch of a source's timeline: `cap` from `from` until `until` (open-ended if `None`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    /// When it starts applying.
    pub from: Timestamp,
    /// When it stops applying; `None` never.
    pub until: Option<Timestamp>,
    /// The cap while it applies.
    pub cap: Cap,
}

/// A change of the combined cap: which source won, what it moved from and to, when it was
/// asked for and when the devices reached it.
#[derive(Clone, Debug, PartialEq)]
pub struct PowerEvent {
    /// The source whose cap wins after the change.
    pub source: String,
    /// The combined cap before.
    pub from: Cap,
    /// The combined cap after.
    pub to: Cap,
    /// When the policy decided it.
    pub requested_at: Timestamp,
    /// When the devices reached the new duty ([`Policy::complied`]); `None` until then.
    pub complied_at: Option<Timestamp>,
}

impl PowerEvent {
    /// Seconds from request to compliance, once complied.
    pub fn seconds_to_comply(&self) -> Option<f64> {
        let at = self.complied_at?;
        Some(at.duration_since(self.requested_at).as_secs_f64())
    }
}

/// The combined decision at one instant.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The lowest cap of all sources.
    pub cap: Cap,
    /// It as a duty fraction, for the ramp and the workers.
    pub duty: f64,
    /// The source it came from (`None`: no source caps anything, full duty).
    pub source: Option<String>,
    /// Emergency when the winning source is an emergency source.
    pub urgency: Urgency,
}

/// A source name the policy does not know, or a cap it cannot weigh.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum PolicyError {
    /// [`Policy::add_source`] was not called for this name.
    UnknownSource(String),
    /// A source's cap needs a device figure that is unknown.
    Cap {
        /// The source whose cap it is.
        source: String,
        /// What is missing.
        error: CapError,
    },
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::UnknownSource(name) => write!(f, "unknown power source {name:?}"),
            PolicyError::Cap { source, error } => write!(f, "power source {source:?}: {error}"),
        }
    }
}

impl std::error::Error for PolicyError {}

#[derive(Debug)]
struct Source {
    name: String,
    fail_safe: Cap,
    urgency: Urgency,
    timeline: Vec<Segment>,
    lost: bool,
}

impl Source {
    /// The cap this source sets at `at`: the last segment covering it; once lost, the
    /// fail-safe where no segment still covers it.
    fn cap_at(&self, at: Timestamp) -> Option<Cap> {
        let covering = self
            .timeline
            .iter()
            .rev()
            .find(|s| s.from <= at && s.until.is_none_or(|u| at < u))
            .map(|s| s.cap);
        match covering {
            Some(cap) => Some(cap),
            None if self.lost
                && self
                    .timeline
                    .iter()
                    .all(|s| s.until.is_some_and(|u| u <= at)) =>
            {
                Some(self.fail_safe)
            }
            None => None,
        }
    }
}

/// The policy: sources, their timelines, and the event history.
#[derive(Debug, Default)]
pub struct Policy {
    sources: Vec<Source>,
    current: Option<Cap>,
    events: VecDeque<PowerEvent>,
    dropped: u64,
}

impl Policy {
    /// A policy with no sources (full duty).
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Declares a source: `fail_safe` applies once it is lost and its timeline has ended;
    /// `urgency` is how its caps are applied. Sources added first win ties. Re-adding a name
    /// updates its settings and keeps its timeline.
    pub fn add_source(&mut self, name: &str, fail_safe: Cap, urgency: Urgency) {
        match self.sources.iter_mut().find(|s| s.name == name) {
            Some(s) => {
                s.fail_safe = fail_safe;
                s.urgency = urgency;
            }
            None => self.sources.push(Source {
                name: name.to_string(),
                fail_safe,
                urgency,
                timeline: Vec::new(),
                lost: false,
            }),
        }
    }

    fn source(&mut self, name: &str) -> Result<&mut Source, PolicyError> {
        self.sources
            .iter_mut()
            .find(|s| s.name == name)
            .ok_or_else(|| PolicyError::UnknownSource(name.to_string()))
    }

    /// Sets a source to one cap from `from` until `until` (or for good); the source is live.
    pub fn set(
        &mut self,
        name: &str,
        cap: Cap,
        from: Timestamp,
        until: Option<Timestamp>,
    ) -> Result<(), PolicyError> {
        self.set_timeline(name, vec![Segment { from, until, cap }])
    }

    /// Replaces a source's timeline (later segments win where they overlap); the source is live.
    pub fn set_timeline(&mut self, name: &str, timeline: Vec<Segment>) -> Result<(), PolicyError> {
        let source = self.source(name)?;
        source.timeline = timeline;
        source.lost = false;
        Ok(())
    }

    /// Removes a source's caps (e.g. the API's limit lifted, a hard stop released).
    pub fn clear(&mut self, name: &str) -> Result<(), PolicyError> {
        self.set_timeline(name, Vec::new())
    }

    /// Marks a source's signal lost: its timeline still applies until it ends, then its
    /// fail-safe does. A later [`Policy::set`] or [`Policy::set_timeline`] makes it live again.
    pub fn lose(&mut self, name: &str) -> Result<(), PolicyError> {
        self.source(name)?.lost = true;
        Ok(())
    }

    /// The combined cap at `now`, logging a [`PowerEvent`] when it differs from the last one.
    pub fn evaluate(&mut self, now: Timestamp, full: &Capacity) -> Result<Decision, PolicyError> {
        let mut best: Option<(&Source, Cap, f64)> = None;
        for source in &self.sources {
            let Some(cap) = source.cap_at(now) else {
                continue;
            };
            let duty = cap.duty(full).map_err(|error| PolicyError::Cap {
                source: source.name.clone(),
                error,
            })?;
            if best.is_none_or(|(_, _, d)| duty < d) {
                best = Some((source, cap, duty));
            }
        }
        let decision = match best {
            Some((source, cap, duty)) => Decision {
                cap,
                duty,
                source: Some(source.name.clone()),
                urgency: source.urgency,
            },
            None => Decision {
                cap: Cap::Full,
                duty: 1.0,
                source: None,
                urgency: Urgency::Economic,
            },
        };
        let from = self.current.unwrap_or(Cap::Full);
        if from != decision.cap {
            self.push(PowerEvent {
                source: decision
                    .source
                    .clone()
                    .unwrap_or_else(|| "none".to_string()),
                from,
                to: decision.cap,
                requested_at: now,
                complied_at: None,
            });
        }
        self.current = Some(decision.cap);
        Ok(decision)
    }

    fn push(&mut self, event: PowerEvent) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(event);
    }

    /// Records that the devices reached the latest decision at `at`: every event still waiting
    /// is marked (a change overtaken by a newer one complies when the newer one does).
    pub fn complied(&mut self, at: Timestamp) {
        for event in self.events.iter_mut().rev() {
            if event.complied_at.is_some() {
                break;
            }
            event.complied_at = Some(at);
        }
    }

    /// The latest [`MAX_EVENTS`] events, oldest first.
    pub fn events(&self) -> impl Iterator<Item = &PowerEvent> {
        self.events.iter()
    }

    /// How many older events were dropped from [`Policy::events`].
    pub fn dropped_events(&self) -> u64 {
        self.dropped
    }

    /// The earliest segment start or end after `now`: when to evaluate again at the latest.
    pub fn next_change_after(&self, now: Timestamp) -> Option<Timestamp> {
        self.sources
            .iter()
            .flat_map(|s| {
                s.timeline
                    .iter()
                    .flat_map(|seg| [Some(seg.from), seg.until])
            })
            .flatten()
            .filter(|&t| t > now)
            .min()
    }
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
