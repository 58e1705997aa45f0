//! The one list of engine names. Tools script against these names, so they never change; the
//! registry, the CPU backends and the CLI all take them from here.

use crate::Error;
use alloc::format;
use core::{fmt, str::FromStr};

/// Every kind of engine this crate knows, whether or not this build or machine can run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum EngineKind {
    /// x86-64 SHA extensions.
    ShaNi,
    /// ARMv8 SHA2 instructions.
    ArmSha2,
    /// x86-64 AVX-512F, sixteen nonces per instruction.
    Avx512,
    /// x86-64 AVX2, eight nonces per instruction.
    Avx2,
    /// Scalar code that runs anywhere.
    Portable,
    /// WGSL compute shaders through wgpu (feature `gpu`).
    Gpu,
    /// USB mining sticks through the C driver (feature `asic`).
    Asic,
}

impl EngineKind {
    /// Every kind, in the order `engines` lists them: CPU engines fastest first, then devices.
    pub const ALL: &'static [EngineKind] = &[
        EngineKind::ShaNi,
        EngineKind::ArmSha2,
        EngineKind::Avx512,
        EngineKind::Avx2,
        EngineKind::Portable,
        EngineKind::Gpu,
        EngineKind::Asic,
    ];

    /// The fixed name (`sha-ni`, `arm-sha2`, `avx512`, `avx2`, `portable`, `gpu`, `asic`).
    pub const fn name(self) -> &'static str {
        match self {
            EngineKind::ShaNi => "sha-ni",
            EngineKind::ArmSha2 => "arm-sha2",
            EngineKind::Avx512 => "avx512",
            EngineKind::Avx2 => "avx2",
            EngineKind::Portable => "portable",
            EngineKind::Gpu => "gpu",
            EngineKind::Asic => "asic",
        }
    }
}

const fn names<const N: usize>() -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = EngineKind::ALL[i].name();
        i += 1;
    }
    out
}

const NAMES: [&str; EngineKind::ALL.len()] = names();

/// Every engine name, in the order `engines` lists them ([`EngineKind::ALL`]'s names).
pub const ENGINE_NAMES: &[&str] = &NAMES;

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EngineKind {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        EngineKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "unknown engine {name:?}; known engines: {}",
                    ENGINE_NAMES.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for &k in EngineKind::ALL {
            assert_eq!(k.name().parse::<EngineKind>(), Ok(k));
        }
        let mut names = ENGINE_NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EngineKind::ALL.len());
        assert_eq!(
            ENGINE_NAMES,
            ["sha-ni", "arm-sha2", "avx512", "avx2", "portable", "gpu", "asic"]
        );
    }
}
