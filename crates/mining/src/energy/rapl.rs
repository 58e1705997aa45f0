//! RAPL energy counters through powercap: `intel-rapl:N/energy_uj` (µJ), wrapping at
//! `max_energy_range_uj`. AMD Zen shows the same zones under the `intel-rapl` name.
//!
//! The top-level zones count (the packages), and of their sub-zones only `dram`: RAPL's DRAM
//! domain is beside the package, while the others (`core`, `uncore`) are inside it.
//! `intel-rapl-mmio:N` is a second view of a package and does not count. Where a `psys`
//! zone (the whole platform, packages and memory included) exists, it alone counts.

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

/// Whether a powercap entry is a RAPL zone (`intel-rapl:N` or `amd-rapl:N`, `Some(true)`) or
/// a sub-zone of one (`intel-rapl:N:M`, `Some(false)`).
fn zone_level(name: &str) -> Option<bool> {
    let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    let rest = ["intel-rapl:", "amd-rapl:"]
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))?;
    match rest.split_once(':') {
        None => number(rest).then_some(true),
        Some((zone, sub)) => (number(zone) && number(sub)).then_some(false),
    }
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
            if let Some((name, top)) = name.to_str().and_then(|n| Some((n, zone_level(n)?))) {
                if dirs.len() == MAX_ZONES {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("{}: more than {MAX_ZONES} RAPL zones", root.display()),
                    ));
                }
                dirs.push((entry.path(), name.to_string(), top));
            }
        }
        // Listing order is the filesystem's; labels in a summary should not move between runs.
        dirs.sort();
        let named: Vec<(PathBuf, String)> = dirs
            .into_iter()
            .filter_map(|(dir, entry, top)| {
                let label = sysfs::read_name(&dir.join("name")).unwrap_or_else(|| entry.clone());
                if top {
                    return Some((dir, label));
                }
                // Each package has its own `dram`: keep them apart by the package's number.
                let package = entry.split(':').nth(1).unwrap_or_default();
                (label == "dram").then(|| (dir, format!("dram-{package}")))
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
    fn zones_and_sub_zones_are_told_from_the_rest() {
        for (name, level) in [
            ("intel-rapl:0", Some(true)),
            ("intel-rapl:12", Some(true)),
            ("amd-rapl:1", Some(true)),
            ("intel-rapl:0:0", Some(false)),
            ("intel-rapl:1:12", Some(false)),
            ("intel-rapl:0:", None),
            ("intel-rapl:0:0:0", None),
            ("intel-rapl:", None),
            ("intel-rapl-mmio:0", None),
            ("intel-rapl", None),
            ("dtpm", None),
        ] {
            assert_eq!(zone_level(name), level, "{name}");
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
