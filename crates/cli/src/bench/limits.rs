//! Each row's ceiling: the rate its engine could reach on this machine if nothing but its own
//! instructions limited it, measured in the same run by the core's microkernels
//! (`sha256d::hazmat::ceiling`) or, for the GPU, modelled from its op count.

use super::timing::Probe;
use sha256d::hazmat::{ceiling, Backend, OpMix};

/// What limits a row, and the probe that measures it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    /// The SHA unit: its instruction rate over [`ceiling::SHA_INSTRUCTIONS_PER_NONCE`].
    Sha(Backend),
    /// The vector or scalar ALUs: the rate of the kernel's own instruction mix, over the
    /// mix's instructions per nonce; with the compiled kernel's instructions per nonce where
    /// they were counted.
    Mix(Backend, OpMix, Option<f64>),
}

impl Limit {
    /// The limit of engine `name` at `versions`, if it has one this build can measure.
    pub fn of(name: &str, versions: u32) -> Option<Limit> {
        let backend = Backend::ALL.iter().copied().find(|b| b.name() == name)?;
        if matches!(name, "sha-ni" | "arm-sha2") {
            return Some(Limit::Sha(backend));
        }
        backend
            .op_mix(versions as usize)
            .map(|mix| Limit::Mix(backend, mix, None))
    }

    /// The same limit with the compiled kernel's instruction count, where it can be counted
    /// here (a few seconds a row); as it was, with a warning saying why, where not.
    pub fn counted(self, versions: u32) -> Limit {
        let Limit::Mix(backend, mix, _) = self else {
            return self;
        };
        #[cfg(target_os = "linux")]
        let counted = super::stepped::instructions_per_nonce(backend.name(), versions);
        #[cfg(not(target_os = "linux"))]
        let counted: Result<f64, String> = {
            let _ = versions;
            Err("counting needs Linux's ptrace".to_string())
        };
        match counted {
            Ok(n) => Limit::Mix(backend, mix, Some(n)),
            Err(why) => {
                log::warn!("{}: instructions not counted: {why}", backend.name());
                self
            }
        }
    }

    /// The compiled kernel's instructions per nonce, where counted.
    pub fn counted_instructions(&self) -> Option<f64> {
        match self {
            Limit::Mix(.., counted) => *counted,
            Limit::Sha(_) => None,
        }
    }

    /// Instructions per nonce.
    fn per_nonce(&self) -> f64 {
        match self {
            Limit::Sha(_) => ceiling::SHA_INSTRUCTIONS_PER_NONCE,
            Limit::Mix(_, mix, _) => mix.total(),
        }
    }

    /// The microkernel run once per round: instructions per second on one thread.
    pub fn probe(self) -> Probe<'static> {
        Probe::new(move |budget| match self {
            Limit::Sha(b) => ceiling::sha_rate(b, budget),
            Limit::Mix(b, mix, _) => ceiling::mix_rate(b, &mix, budget),
        })
    }

    /// The ceiling, given what the probe measured.
    pub fn ceiling(&self, per_second: f64) -> Ceiling {
        let what = match self {
            Limit::Sha(Backend::ShaNi) => "sha256rnds2",
            Limit::Sha(_) => "SHA256H/H2",
            Limit::Mix(..) => "instructions of its mix",
        };
        let compiled = self.counted_instructions().map_or(String::new(), |n| {
            format!(
                " (the compiled kernel retires {n:.0}, {:.2}x the model: moves, loads, stores, branches)",
                n / self.per_nonce()
            )
        });
        Ceiling {
            mhs: per_second / self.per_nonce() / 1e6,
            per_thread: true,
            basis: format!(
                "{:.0} {what} per nonce at {:.2} G/s per thread{compiled}",
                self.per_nonce(),
                per_second / 1e9
            ),
            instructions_counted: self.counted_instructions(),
        }
    }
}

/// A row's ceiling.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// MH/s at the ceiling: per thread for CPU rows, for the whole device otherwise.
    pub mhs: f64,
    pub per_thread: bool,
    /// How it was reached, for a person: instructions per nonce and the rate they ran at.
    pub basis: String,
    /// The compiled kernel's instructions per nonce, single-stepped (`--count-instructions`).
    pub instructions_counted: Option<f64>,
}

/// The GPU adapter a row ran on, for the context and for flagging software rasterisers.
#[derive(Clone, Debug, PartialEq)]
pub struct Adapter {
    pub name: String,
    pub driver: String,
    pub driver_info: String,
    pub backend: String,
    pub device_type: String,
    /// llvmpipe, lavapipe, SwiftShader, WARP: hashing on the CPU under a GPU API.
    pub software: bool,
}

impl Adapter {
    #[cfg(feature = "gpu")]
    pub fn of(engine: &sha256d::engine::gpu::GpuEngine) -> Self {
        let info = engine.adapter_info();
        let lower = info.name.to_lowercase();
        let device_type = format!("{:?}", info.device_type);
        let software = device_type == "Cpu"
            || [
                "llvmpipe",
                "lavapipe",
                "swiftshader",
                "warp",
                "basic render",
            ]
            .iter()
            .any(|s| lower.contains(s));
        Adapter {
            name: info.name.clone(),
            driver: info.driver.clone(),
            driver_info: info.driver_info.clone(),
            backend: format!("{:?}", info.backend),
            device_type,
            software,
        }
    }

    /// The adapter's ceiling: its integer throughput over the kernel's ops per nonce, where
    /// both are known.
    pub fn ceiling(&self, ops_per_nonce: Option<f64>) -> Option<Ceiling> {
        let (ops, per_second) = ops_per_nonce.zip(int_ops_per_second(&self.name))?;
        Some(Ceiling {
            mhs: per_second / ops / 1e6,
            per_thread: false,
            basis: format!(
                "{ops:.0} ops per nonce at {:.1} T int ops/s",
                per_second / 1e12
            ),
            instructions_counted: None,
        })
    }
}

/// 32-bit integer instructions per second of adapters whose figure is public: SMs x 64 INT32
/// lanes x boost clock.
fn int_ops_per_second(adapter: &str) -> Option<f64> {
    let lower = adapter.to_lowercase();
    // H100 SXM and H200: 132 SMs at 1.98 GHz. H100 PCIe: 114 SMs at 1.755 GHz.
    if lower.contains("h200") || (lower.contains("h100") && !lower.contains("pcie")) {
        Some(132.0 * 64.0 * 1.98e9)
    } else if lower.contains("h100") {
        Some(114.0 * 64.0 * 1.755e9)
    } else {
        None
    }
}

/// The GPU kernel's ops per nonce and version when `versions` rolled versions share a dispatch
/// (the kernel shares at most four; more run as several dispatches).
pub fn gpu_ops_per_nonce(versions: u32) -> Option<f64> {
    #[cfg(feature = "gpu")]
    {
        sha256d::engine::gpu::ops_per_nonce(versions.min(sha256d::engine::gpu::MAX_VERSIONS))
    }
    #[cfg(not(feature = "gpu"))]
    {
        let _ = versions;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adapter(name: &str) -> Adapter {
        Adapter {
            name: name.into(),
            driver: String::new(),
            driver_info: String::new(),
            backend: "Vulkan".into(),
            device_type: "DiscreteGpu".into(),
            software: false,
        }
    }

    #[test]
    fn gpu_ceilings_only_where_the_adapter_and_op_count_are_known() {
        let h200 = adapter("NVIDIA H200");
        let c = h200.ceiling(Some(2445.0)).expect("a known adapter");
        // 132 x 64 x 1.98 GHz over 2445 ops: about 6.8 GH/s.
        assert_eq!((c.mhs.round(), c.per_thread), (6841.0, false));
        assert_eq!(c.basis, "2445 ops per nonce at 16.7 T int ops/s");
        assert_eq!(h200.ceiling(None), None);
        assert_eq!(
            adapter("llvmpipe (LLVM 15.0.6, 256 bits)").ceiling(Some(2445.0)),
            None
        );
    }

    #[test]
    fn a_sha_limit_divides_by_sixty_one() {
        for &b in Backend::ALL {
            let Some(limit) = Limit::of(b.name(), 1) else {
                continue;
            };
            if let Limit::Sha(_) = limit {
                let c = limit.ceiling(1.22e9);
                assert_eq!((c.mhs, c.per_thread), (20.0, true));
            }
        }
        assert_eq!(Limit::of("gpu", 1), None);
        assert_eq!(Limit::of("sha2-midstate", 1), None);
    }
}
