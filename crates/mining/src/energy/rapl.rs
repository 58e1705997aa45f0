//! RAPL energy counters through powercap: `intel-rapl:N/energy_uj` (µJ), wrapping at
//! `max_energy_range_uj`. AMD Zen shows the same zones under the `intel-rapl` name.
//!
//! Only the top-level zones count: a sub-zone (`intel-rapl:0:0`, the cores) is inside its
//! package, and `intel-rapl-mmio:N` is a second view of the same package. Where a `psys`
//! zone (the whole platform, packages included) exists, it alone counts.

use super::{sysfs, Basis, Counter, Meter, Reading};
use sha256d::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// More zones than any machine has (one per socket, plus psys); a bigger list is not powercap.
const MAX_ZONES: usize = 64;

/// One zone's counter.
struct Zone {
    file: PathBuf,
    label: String,
    counter: Counter,
}

/// The package (or platform) RAPL counters.
pub struct Rapl {
    zones: Vec<Zone>,
}

/// Whether a powercap entry is a top-level RAPL zone: `intel-rapl:N` or `amd-rapl:N`.
fn is_top_zone(name: &str) -> bool {
    ["intel-rapl:", "amd-rapl:"].iter().any(|prefix| {
        name.strip_prefix(prefix)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// What to tell someone whose `energy_uj` cannot be read.
fn unreadable_hint(kind: std::io::ErrorKind) -> &'static str {
    if kind == std::io::ErrorKind::PermissionDenied {
        "; since Linux 5.10 (CVE-2020-8694) RAPL energy is readable only by root: run as root, \
         make energy_uj readable (a udev rule), or declare the power instead \
         (declared:DEVICE=W)"
    } else {
        "; declare the power instead (declared:DEVICE=W)"
    }
}

fn read_energy(file: &Path) -> Result<u64, Error> {
    match sysfs::read_small(file) {
        Ok(bytes) => sysfs::parse_number(&bytes).ok_or_else(|| {
            Error::new(
                ErrorKind::Parse,
                format!("{}: not a decimal counter", file.display()),
            )
        }),
        Err(e) => {
            let err = sysfs::read_error(file, &e);
            Err(Error::new(
                err.kind(),
                format!("{}{}", err.message(), unreadable_hint(e.kind())),
            ))
        }
    }
}

impl Rapl {
    /// The top-level zones under `root` (`/sys/class/powercap`), each read once.
    pub fn open(root: &Path) -> Result<Rapl, Error> {
        let entries = std::fs::read_dir(root).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no RAPL here: cannot read {}: {e} (a VM or a CPU without RAPL); declare \
                     the power instead (declared:DEVICE=W)",
                    root.display()
                ),
            )
        })?;
        let mut dirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| sysfs::read_error(root, &e))?;
            let name = entry.file_name();
            if name.to_str().is_some_and(is_top_zone) {
                if dirs.len() == MAX_ZONES {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("{}: more than {MAX_ZONES} RAPL zones", root.display()),
                    ));
                }
                dirs.push(entry.path());
            }
        }
        // Listing order is the filesystem's; labels in a summary should not move between runs.
        dirs.sort();
        let named: Vec<(PathBuf, String)> = dirs
            .into_iter()
            .map(|dir| {
                let label = sysfs::read_name(&dir.join("name")).unwrap_or_else(|| {
                    dir.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                });
                (dir, label)
            })
            .collect();
        let platform = named.iter().any(|(_, label)| label == "psys");
        let mut zones = Vec::new();
        for (dir, label) in named {
            if platform && label != "psys" {
                continue;
            }
            let file = dir.join("energy_uj");
            let first = read_energy(&file)?;
            // Without a range a backwards step reads as a reset, which undercounts at worst.
            let range = sysfs::read_number(&dir.join("max_energy_range_uj")).ok();
            zones.push(Zone {
                file,
                label: format!("rapl:{label}"),
                counter: Counter::new(first, range),
            });
        }
        if zones.is_empty() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no RAPL zones (intel-rapl:N) under {} (a VM or a CPU without RAPL); \
                     declare the power instead (declared:DEVICE=W)",
                    root.display()
                ),
            ));
        }
        Ok(Rapl { zones })
    }
}

impl Meter for Rapl {
    fn read(&mut self, _now: Instant) -> Result<Vec<Reading>, Error> {
        self.zones
            .iter_mut()
            .map(|zone| {
                let raw = read_energy(&zone.file)?;
                Ok(Reading {
                    source: zone.label.clone(),
                    basis: Basis::Measured,
                    joules: zone.counter.advance(raw) as f64 / 1e6,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_top_level_rapl_zones_count() {
        for (name, top) in [
            ("intel-rapl:0", true),
            ("intel-rapl:12", true),
            ("amd-rapl:1", true),
            ("intel-rapl:0:0", false),
            ("intel-rapl:", false),
            ("intel-rapl-mmio:0", false),
            ("intel-rapl", false),
            ("dtpm", false),
        ] {
            assert_eq!(is_top_zone(name), top, "{name}");
        }
    }

    #[test]
    fn permission_denied_explains_the_root_only_counter() {
        let hint = unreadable_hint(std::io::ErrorKind::PermissionDenied);
        assert!(hint.contains("readable only by root"), "{hint}");
        assert!(hint.contains("declared:DEVICE=W"), "{hint}");
        assert_eq!(
            unreadable_hint(std::io::ErrorKind::NotFound),
            "; declare the power instead (declared:DEVICE=W)"
        );
    }
}
