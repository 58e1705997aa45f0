//! Sticks that come and go during `mine`: a `--device` pattern (a `*` in its last part, such as
//! `/dev/serial/by-id/*`), or `--engine asic` without a device (every stick discovery finds),
//! is watched for the whole run. A path that appears is opened as an `asic` engine on a thread
//! of its own (a stick takes seconds to start) and handed to the run; one that disappears is
//! forgotten, so the same stick plugged back in joins again. A stick pulled out fails its
//! engine on the next read, which the run reports and goes on without.

use crate::engine_args::EngineArgs;
use sha256d::{Engine, Error, ErrorKind};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How often the watched paths are listed: a stick plugged in joins within a few seconds.
const SCAN_EVERY: Duration = Duration::from_secs(1);

/// Where new sticks are looked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Watch {
    /// Paths matching `DIR/PREFIX*SUFFIX`.
    Pattern {
        dir: String,
        prefix: String,
        suffix: String,
    },
    /// Serial devices whose USB ids match a known stick.
    Discovery,
}

impl Watch {
    /// A `--device` value with a `*` in its last part, as a pattern; `None` for a plain path.
    pub fn pattern(device: &str) -> Result<Option<Watch>, Error> {
        let (dir, name) = match device.rsplit_once('/') {
            Some((dir, name)) => (if dir.is_empty() { "/" } else { dir }, name),
            None => (".", device),
        };
        if dir.contains('*') {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--device {device:?}: a `*` may stand only in the last part of the path"),
            ));
        }
        let Some((prefix, suffix)) = name.split_once('*') else {
            return Ok(None);
        };
        if suffix.contains('*') {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("--device {device:?}: one `*` at most"),
            ));
        }
        Ok(Some(Watch::Pattern {
            dir: dir.to_string(),
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        }))
    }

    /// The paths there now, sorted.
    fn list(&self) -> BTreeSet<String> {
        match self {
            Watch::Pattern {
                dir,
                prefix,
                suffix,
            } => std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().into_string().ok()?;
                    let matches = name.len() >= prefix.len() + suffix.len()
                        && name.starts_with(prefix.as_str())
                        && name.ends_with(suffix.as_str());
                    matches.then(|| Path::new(dir).join(name).to_string_lossy().into_owned())
                })
                .collect(),
            Watch::Discovery => discovered(),
        }
    }
}

#[cfg(all(feature = "asic", target_os = "linux"))]
fn discovered() -> BTreeSet<String> {
    sha256d::engine::asic::discover()
        .into_iter()
        .map(|c| c.path)
        .collect()
}

#[cfg(not(all(feature = "asic", target_os = "linux")))]
fn discovered() -> BTreeSet<String> {
    BTreeSet::new()
}

/// Watches `watches` until `done` is set, sending each stick that appears, opened by `engines`,
/// to the run. Returns the run's end of the channel.
pub fn watch(
    engines: Arc<EngineArgs>,
    watches: Vec<Watch>,
    done: Arc<AtomicBool>,
) -> mpsc::Receiver<Box<dyn Engine>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut known = BTreeSet::new();
        while !done.load(Ordering::Relaxed) {
            let now: BTreeSet<String> = watches.iter().flat_map(Watch::list).collect();
            // Gone paths are forgotten: a stick plugged back in is a new one.
            known.retain(|p| now.contains(p));
            for path in now.difference(&known.clone()) {
                known.insert(path.clone());
                let (engines, tx, path) = (Arc::clone(&engines), tx.clone(), path.clone());
                std::thread::spawn(move || match engines.open_device(&path) {
                    // The run has ended when nobody receives: the stick is closed with it.
                    Ok(engine) => drop(tx.send(engine)),
                    Err(e) => log::warn!("stick {path} did not start: {e}"),
                });
            }
            std::thread::sleep(SCAN_EVERY);
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_in_the_last_part_is_a_pattern_and_elsewhere_an_error() {
        assert_eq!(
            Watch::pattern("/dev/serial/by-id/usb-*-port0").expect("valid"),
            Some(Watch::Pattern {
                dir: "/dev/serial/by-id".into(),
                prefix: "usb-".into(),
                suffix: "-port0".into(),
            })
        );
        assert_eq!(Watch::pattern("/dev/ttyUSB0").expect("valid"), None);
        assert_eq!(
            Watch::pattern("stick*").expect("valid"),
            Some(Watch::Pattern {
                dir: ".".into(),
                prefix: "stick".into(),
                suffix: String::new(),
            })
        );
        for bad in ["/dev/*/ttyUSB0", "/dev/tty*USB*"] {
            let e = Watch::pattern(bad).expect_err(bad);
            assert!(e.to_string().contains("--device"), "{e}");
        }
    }

    #[test]
    fn a_pattern_lists_what_matches_now() {
        let dir = std::env::temp_dir().join(format!("sha256d-hotplug-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        for name in ["stick-a", "stick-b.port", "other"] {
            std::fs::write(dir.join(name), b"").expect("a file");
        }
        let pattern = format!("{}/stick-*", dir.display());
        let watch = Watch::pattern(&pattern).expect("valid").expect("a pattern");
        let listed: Vec<String> = watch.list().into_iter().collect();
        let want: Vec<String> = ["stick-a", "stick-b.port"]
            .iter()
            .map(|n| dir.join(n).to_string_lossy().into_owned())
            .collect();
        assert_eq!(listed, want);
        std::fs::remove_dir_all(&dir).expect("cleaned up");
    }
}
