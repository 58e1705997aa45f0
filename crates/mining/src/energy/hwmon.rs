//! hwmon sensors: `hwmonN/energyM_input` (µJ, cumulative: preferred), else
//! `powerM_average` or `powerM_input` (µW), integrated over the time between samples.
//!
//! A device with energy inputs is read through them alone: its power inputs measure the
//! same draw, and adding both would count it twice.

use super::{sysfs, Basis, Counter, Integrator, Meter, Reading};
use sha256d::{Error, ErrorKind};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// More devices, and more files in one device, than real hardware shows; past them the tree
/// is not hwmon, and listing it on would only cost memory.
const MAX_DEVICES: usize = 256;
const MAX_FILES: usize = 1024;

/// How a channel turns its file into energy.
enum Way {
    /// `energyM_input`, µJ.
    Energy(Counter),
    /// `powerM_*`, µW.
    Power(Integrator),
}

struct Channel {
    file: PathBuf,
    label: String,
    way: Way,
}

/// Every hwmon device's energy (else power) inputs.
pub struct Hwmon {
    channels: Vec<Channel>,
}

/// The channel a file in an hwmon device is: `(is_energy, index, preference)`, where among
/// one index's power files the lower preference wins (`average` smooths over the samples).
fn sensor(file: &str) -> Option<(bool, u32, u8)> {
    let (kind, rest) = if let Some(rest) = file.strip_prefix("energy") {
        (true, rest)
    } else {
        (false, file.strip_prefix("power")?)
    };
    let (index, suffix) = rest.split_once('_')?;
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let preference = match (kind, suffix) {
        (true, "input") => 0,
        (false, "average") => 0,
        (false, "input") => 1,
        _ => return None,
    };
    Some((kind, index.parse().ok()?, preference))
}

fn list(dir: &Path, max: usize) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| sysfs::read_error(dir, &e))? {
        let entry = entry.map_err(|e| sysfs::read_error(dir, &e))?;
        if out.len() == max {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{}: more than {max} entries", dir.display()),
            ));
        }
        if let Some(name) = entry.file_name().to_str() {
            out.push((name.to_string(), entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// One device's channels: its energy inputs if it has any, else one power file per index.
fn channels(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>, Error> {
    let mut energy = BTreeMap::new();
    let mut power = BTreeMap::new();
    for (name, path) in list(dir, MAX_FILES)? {
        match sensor(&name) {
            Some((true, index, _)) => {
                energy.insert(index, (format!("energy{index}"), path));
            }
            Some((false, index, preference)) => {
                let slot = power
                    .entry(index)
                    .or_insert((u8::MAX, String::new(), path.clone()));
                if preference < slot.0 {
                    *slot = (preference, format!("power{index}"), path);
                }
            }
            None => {}
        }
    }
    Ok(if energy.is_empty() {
        power
            .into_values()
            .map(|(_, label, path)| (label, path, false))
            .collect()
    } else {
        energy
            .into_values()
            .map(|(label, path)| (label, path, true))
            .collect()
    })
}

impl Hwmon {
    /// Every device under `root` (`/sys/class/hwmon`) with an energy or power input, each
    /// channel read once at `now`.
    pub fn open(root: &Path, now: Instant) -> Result<Hwmon, Error> {
        let devices = list(root, MAX_DEVICES).map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no hwmon sensors here: {}; declare the power instead (declared:DEVICE=W)",
                    e.message()
                ),
            )
        })?;
        let named: Vec<(String, String, PathBuf)> = devices
            .into_iter()
            .map(|(entry, dir)| {
                let name = sysfs::read_name(&dir.join("name")).unwrap_or_else(|| entry.clone());
                (name, entry, dir)
            })
            .collect();
        let mut channels_out = Vec::new();
        for (name, entry, dir) in &named {
            // Two devices of one driver (two amdgpu cards) keep apart by their hwmon entry.
            let device = if named.iter().filter(|(n, ..)| n == name).count() > 1 {
                format!("{name}@{entry}")
            } else {
                name.clone()
            };
            for (sensor, file, is_energy) in channels(dir)? {
                let raw = sysfs::read_number(&file)?;
                channels_out.push(Channel {
                    label: format!("hwmon:{device}/{sensor}"),
                    way: if is_energy {
                        Way::Energy(Counter::new(raw, None))
                    } else {
                        Way::Power(Integrator::new(now, raw as f64 / 1e6))
                    },
                    file,
                });
            }
        }
        if channels_out.is_empty() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "no hwmon energy or power inputs under {}; declare the power instead \
                     (declared:DEVICE=W)",
                    root.display()
                ),
            ));
        }
        Ok(Hwmon {
            channels: channels_out,
        })
    }
}

impl Meter for Hwmon {
    fn read(&mut self, now: Instant) -> Result<Vec<Reading>, Error> {
        self.channels
            .iter_mut()
            .map(|channel| {
                let raw = sysfs::read_number(&channel.file)?;
                let (basis, joules) = match &mut channel.way {
                    Way::Energy(counter) => (Basis::Measured, counter.advance(raw) as f64 / 1e6),
                    Way::Power(integrator) => (
                        Basis::SampledPower,
                        integrator.advance(now, raw as f64 / 1e6),
                    ),
                };
                Ok(Reading {
                    source: channel.label.clone(),
                    basis,
                    joules,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensor_files_are_told_from_the_rest() {
        for (file, sensor_of) in [
            ("energy1_input", Some((true, 1, 0))),
            ("energy12_input", Some((true, 12, 0))),
            ("power1_average", Some((false, 1, 0))),
            ("power2_input", Some((false, 2, 1))),
            ("power1_cap", None),
            ("power1_average_interval", None),
            ("energy_input", None),
            ("temp1_input", None),
            ("power1x_input", None),
            ("name", None),
        ] {
            assert_eq!(sensor(file), sensor_of, "{file}");
        }
    }
}
