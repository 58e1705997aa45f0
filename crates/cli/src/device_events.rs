//! What happened to each device between two of the run's status reports, as log events: a
//! device joined, failed, missed a known answer, was switched off or on. [`DeviceWatch`] is
//! pure: fed each [`Stats`] the run reports, it returns what changed since the last one.

use sha256d_mining::sanitize::for_terminal;
use sha256d_mining::Stats;

/// One change to one device (its index is its place in [`Stats::devices`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A device the run did not list before: one it started with, or one that joined.
    Joined {
        index: usize,
        engine: String,
        device: String,
    },
    /// It stopped for this reason; the run goes on without it.
    Fault {
        index: usize,
        engine: String,
        failure: String,
    },
    /// It missed `new` more known-answer jobs, `total` in the run.
    KnownAnswerMiss {
        index: usize,
        engine: String,
        new: u64,
        total: u64,
    },
    /// The operator switched it off.
    Disabled { index: usize, engine: String },
    /// The operator switched it on again.
    Enabled { index: usize, engine: String },
}

impl DeviceEvent {
    /// The `event` field of its log record.
    pub fn name(&self) -> &'static str {
        match self {
            DeviceEvent::Joined { .. } => "device_joined",
            DeviceEvent::Fault { .. } => "device_fault",
            DeviceEvent::KnownAnswerMiss { .. } => "known_answer_miss",
            DeviceEvent::Disabled { .. } => "device_disabled",
            DeviceEvent::Enabled { .. } => "device_enabled",
        }
    }

    /// How loud it is: a device lost is an error, a miss a warning, the rest news.
    pub fn level(&self) -> log::Level {
        match self {
            DeviceEvent::Fault { .. } => log::Level::Error,
            DeviceEvent::KnownAnswerMiss { .. } => log::Level::Warn,
            _ => log::Level::Info,
        }
    }

    /// The device's index and engine.
    pub fn device(&self) -> (usize, &str) {
        match self {
            DeviceEvent::Joined { index, engine, .. }
            | DeviceEvent::Fault { index, engine, .. }
            | DeviceEvent::KnownAnswerMiss { index, engine, .. }
            | DeviceEvent::Disabled { index, engine }
            | DeviceEvent::Enabled { index, engine } => (*index, engine),
        }
    }

    /// The line for the operator. Engines' words (a device's description, a driver's error)
    /// are made safe for a terminal.
    pub fn message(&self) -> String {
        let (index, engine) = self.device();
        let who = format!("device {index} ({})", for_terminal(engine));
        match self {
            DeviceEvent::Joined { device, .. } => format!("{who} joined: {}", for_terminal(device)),
            DeviceEvent::Fault { failure, .. } => {
                format!("{who} dropped: {}", for_terminal(failure))
            }
            DeviceEvent::KnownAnswerMiss { new, total, .. } => {
                format!("{who} missed {new} known answer(s), {total} in the run")
            }
            DeviceEvent::Disabled { .. } => format!("{who} disabled"),
            DeviceEvent::Enabled { .. } => format!("{who} enabled"),
        }
    }

    /// Logs it, with `event`, `device` (the index) and `engine` fields.
    pub fn log(&self) {
        let (index, engine) = self.device();
        log::log!(
            self.level(),
            event = self.name(),
            device = index,
            engine = engine;
            "{}",
            self.message()
        );
    }
}

/// What one device looked like in the last report.
#[derive(Clone, Copy, Debug)]
struct Seen {
    failed: bool,
    misses: u64,
    disabled: bool,
}

/// Compares each report with the one before.
#[derive(Debug, Default)]
pub struct DeviceWatch {
    seen: Vec<Seen>,
}

impl DeviceWatch {
    /// What changed since the last report, device by device, in index order.
    pub fn update(&mut self, stats: &Stats) -> Vec<DeviceEvent> {
        let mut events = Vec::new();
        for (index, d) in stats.devices.iter().enumerate() {
            let engine = || d.engine.clone();
            let before = match self.seen.get(index) {
                Some(seen) => *seen,
                None => {
                    events.push(DeviceEvent::Joined {
                        index,
                        engine: engine(),
                        device: d.device.clone(),
                    });
                    Seen {
                        failed: false,
                        misses: 0,
                        disabled: false,
                    }
                }
            };
            if d.known_answer_misses > before.misses {
                events.push(DeviceEvent::KnownAnswerMiss {
                    index,
                    engine: engine(),
                    new: d.known_answer_misses - before.misses,
                    total: d.known_answer_misses,
                });
            }
            if let Some(failure) = d.failure.as_ref().filter(|_| !before.failed) {
                events.push(DeviceEvent::Fault {
                    index,
                    engine: engine(),
                    failure: failure.clone(),
                });
            }
            match (before.disabled, d.disabled) {
                (false, true) => events.push(DeviceEvent::Disabled {
                    index,
                    engine: engine(),
                }),
                (true, false) => events.push(DeviceEvent::Enabled {
                    index,
                    engine: engine(),
                }),
                _ => {}
            }
            let now = Seen {
                failed: d.failure.is_some(),
                misses: d.known_answer_misses,
                disabled: d.disabled,
            };
            match self.seen.get_mut(index) {
                Some(seen) => *seen = now,
                None => self.seen.push(now),
            }
        }
        events
    }

    /// [`DeviceWatch::update`], each event logged.
    pub fn log(&mut self, stats: &Stats) {
        for event in self.update(stats) {
            event.log();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d_mining::DeviceStats;

    fn device(engine: &str) -> DeviceStats {
        DeviceStats {
            engine: engine.into(),
            device: format!("the {engine} device"),
            ..DeviceStats::default()
        }
    }

    #[test]
    fn each_change_is_reported_once() {
        let mut watch = DeviceWatch::default();
        let mut stats = Stats {
            devices: vec![device("sha-ni")],
            ..Stats::default()
        };
        assert_eq!(
            watch.update(&stats),
            [DeviceEvent::Joined {
                index: 0,
                engine: "sha-ni".into(),
                device: "the sha-ni device".into()
            }]
        );
        assert_eq!(watch.update(&stats), []);

        stats.devices.push(device("gpu"));
        stats.devices[1].known_answer_misses = 2;
        stats.devices[0].disabled = true;
        assert_eq!(
            watch.update(&stats),
            [
                DeviceEvent::Disabled {
                    index: 0,
                    engine: "sha-ni".into()
                },
                DeviceEvent::Joined {
                    index: 1,
                    engine: "gpu".into(),
                    device: "the gpu device".into()
                },
                DeviceEvent::KnownAnswerMiss {
                    index: 1,
                    engine: "gpu".into(),
                    new: 2,
                    total: 2
                },
            ]
        );

        stats.devices[0].disabled = false;
        stats.devices[1].known_answer_misses = 3;
        stats.devices[1].failure = Some("missed 3 known-answer jobs in a row".into());
        assert_eq!(
            watch.update(&stats),
            [
                DeviceEvent::Enabled {
                    index: 0,
                    engine: "sha-ni".into()
                },
                DeviceEvent::KnownAnswerMiss {
                    index: 1,
                    engine: "gpu".into(),
                    new: 1,
                    total: 3
                },
                DeviceEvent::Fault {
                    index: 1,
                    engine: "gpu".into(),
                    failure: "missed 3 known-answer jobs in a row".into()
                },
            ]
        );
        // A failure stays, and is not news again.
        assert_eq!(watch.update(&stats), []);
    }

    #[test]
    fn events_have_their_names_levels_and_safe_messages() {
        let fault = DeviceEvent::Fault {
            index: 2,
            engine: "asic".into(),
            failure: "the stick said \u{1b}[2Jgoodbye".into(),
        };
        assert_eq!(fault.name(), "device_fault");
        assert_eq!(fault.level(), log::Level::Error);
        assert!(!fault.message().contains('\u{1b}'), "{}", fault.message());
        assert!(fault.message().starts_with("device 2 (asic) dropped: "));
        let miss = DeviceEvent::KnownAnswerMiss {
            index: 0,
            engine: "gpu".into(),
            new: 1,
            total: 1,
        };
        assert_eq!(
            (miss.name(), miss.level()),
            ("known_answer_miss", log::Level::Warn)
        );
        assert_eq!(
            miss.message(),
            "device 0 (gpu) missed 1 known answer(s), 1 in the run"
        );
        let on = DeviceEvent::Enabled {
            index: 0,
            engine: "gpu".into(),
        };
        assert_eq!(
            (on.name(), on.level()),
            ("device_enabled", log::Level::Info)
        );
    }
}
