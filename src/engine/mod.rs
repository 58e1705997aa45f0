//! The engine contract, and the registry of engines this build knows.
//!
//! An engine turns a [`Work`] into candidate (version, nonce) pairs; [`Hits`] re-hashes each on
//! the host with portable code before anything reaches the caller, so no engine (CPU kernel,
//! GPU driver, ASIC firmware) is ever taken at its word.

#[cfg(all(feature = "asic", target_os = "linux"))]
pub mod asic;
pub mod cpu;
#[cfg(feature = "gpu")]
pub mod gpu;
mod kind;

use crate::{sha256, Error, ErrorKind, Found, Hash, Work};
use alloc::{boxed::Box, format, string::String, vec::Vec};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

pub use cpu::CpuEngine;
pub use kind::{EngineKind, ENGINE_NAMES};

/// Shared between a running search and whoever watches it: cancellation and progress.
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    hashes: AtomicU64,
}

impl Control {
    /// A fresh, uncancelled control.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the search to stop; engines notice within 50 ms.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Whether [`Control::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// Hashes done so far.
    pub fn hashes(&self) -> u64 {
        self.hashes.load(Ordering::Relaxed)
    }

    /// Engines call this as they finish pieces of work.
    pub fn add_hashes(&self, n: u64) {
        self.hashes.fetch_add(n, Ordering::Relaxed);
    }
}

/// How a finished (or cancelled) streaming search went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Hashes done.
    pub hashes: u64,
    /// Results delivered.
    pub found: u64,
    /// Nonces an engine reported that the host re-hash disproved, and faults the engine saw
    /// itself (garbled frames from a device).
    pub hardware_errors: u64,
    /// Jobs with a known answer that a device failed to return.
    pub known_answer_misses: u64,
    /// Jobs with a known answer that a device returned: with no miss, proof it was checked.
    pub known_answers_passed: u64,
    /// Whether a device's errors mean some results may be missing: faults that re-sweeping
    /// did not clear, or a missed known answer.
    pub incomplete: bool,
    /// Whether the search stopped early because it was cancelled.
    pub cancelled: bool,
}

/// What the host re-hash made of a nonce an engine offered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Offer {
    /// It meets the work's target; it was delivered.
    Found,
    /// It passes the engine's prefilter but not the full target (expected, not delivered).
    Filtered,
    /// It fails the prefilter the engine claims to have applied, or lies outside the work:
    /// a hardware error, counted and not delivered.
    Invalid,
}

/// The gate every result passes: host re-hash, target check, result cap.
pub struct Hits<'a> {
    work: &'a Work,
    sink: &'a mut dyn FnMut(&Found),
    found: u64,
    hardware_errors: u64,
    known_answer_misses: u64,
    known_answers_passed: u64,
    incomplete: bool,
}

impl<'a> Hits<'a> {
    fn new(work: &'a Work, sink: &'a mut dyn FnMut(&Found)) -> Self {
        Hits {
            work,
            sink,
            found: 0,
            hardware_errors: 0,
            known_answer_misses: 0,
            known_answers_passed: 0,
            incomplete: false,
        }
    }

    /// Offers a nonce that the engine says has its top 32 hash bits at most the work target's.
    pub fn offer(&mut self, version: u32, nonce: u32) -> Result<Offer, Error> {
        self.offer_with_limit(version, nonce, self.work.target().top_u32())
    }

    /// Offers a nonce that the engine says has its top 32 hash bits at most `limit` (an ASIC's
    /// ticket, say). Re-hashes it on the host and delivers it if it meets the target.
    pub fn offer_with_limit(
        &mut self,
        version: u32,
        nonce: u32,
        limit: u32,
    ) -> Result<Offer, Error> {
        let in_work =
            self.work.nonces().contains(&u64::from(nonce)) && self.work.has_version(version);
        let hash = Hash(sha256::sha256d_header(
            &self.work.header_bytes(version, nonce),
        ));
        let top = sha256::top_word(&hash.0);
        if !in_work || top > limit {
            self.hardware_errors += 1;
            return Ok(Offer::Invalid);
        }
        if !self.work.target().is_met_by(&hash) {
            return Ok(Offer::Filtered);
        }
        self.found += 1;
        if self.found > self.work.max_results() as u64 {
            return Err(Error::new(
                ErrorKind::TooManyResults,
                format!(
                    "the search found more than {} results; narrow the nonce range, use a \
                     harder target or raise the cap",
                    self.work.max_results()
                ),
            ));
        }
        (self.sink)(&Found {
            version,
            nonce,
            hash,
        });
        Ok(Offer::Found)
    }

    /// Counts a hardware error the engine detected itself (a bad frame, a missed known answer).
    pub fn hardware_error(&mut self) {
        self.hardware_errors += 1;
    }

    /// Counts a known-answer job the device did not answer; the results may be incomplete.
    pub fn known_answer_miss(&mut self) {
        self.known_answer_misses += 1;
        self.incomplete = true;
    }

    /// Counts a known-answer job the device answered.
    pub fn known_answer_passed(&mut self) {
        self.known_answers_passed += 1;
    }

    /// Marks the results as possibly incomplete (faults the engine could not clear).
    pub fn incomplete(&mut self) {
        self.incomplete = true;
    }

    /// The work being searched.
    pub fn work(&self) -> &Work {
        self.work
    }
}

/// A nonce-search engine. Implementors provide [`Engine::run`]; callers use
/// [`Engine::search`] or [`Engine::search_stream`].
///
/// ```
/// use sha256d::{Control, Engine, Header, Options, Target, Work};
/// use std::sync::Arc;
///
/// let engine = sha256d::open("portable", &Options::default())?;
/// let work = Work::new(Header::genesis(), Target::from_difficulty(1e-4)?).with_nonces(0..1 << 16)?;
///
/// // Every hit, verified on the host, in ascending order.
/// let all = engine.search(&work)?;
///
/// // The same hits as they arrive, with a hash count another thread can read and a cancel.
/// let ctl = Arc::new(Control::new());
/// let mut streamed = Vec::new();
/// let summary = engine.search_stream(&work, &ctl, &mut |f| streamed.push(*f))?;
/// streamed.sort_unstable();
/// assert_eq!(streamed, all);
/// assert_eq!((summary.hashes, summary.hardware_errors), (1 << 16, 0));
/// # Ok::<(), sha256d::Error>(())
/// ```
pub trait Engine: Send + Sync {
    /// The engine's fixed name (`portable`, `sha-ni`, `avx512`, `avx2`, `arm-sha2`, `gpu`, `asic`).
    fn name(&self) -> &'static str;

    /// A human description: backend, threads, adapter or device.
    fn describe(&self) -> String;

    /// How many CPU threads the engine uses for hashing (0 for devices that hash elsewhere).
    fn threads(&self) -> usize;

    /// How many rolled versions it hashes for the price of one (a BM1370 sweeps 16 a batch,
    /// a BM1397 takes 4 midstates a job): work should roll at least that many where the pool
    /// allows, or the device repeats one version in the slots meant for the others.
    fn versions_per_pass(&self) -> u32 {
        1
    }

    /// The PCI address (`0000:01:00.0`) of the device it hashes on, where it has one and the
    /// platform says: what finds that device's power controls (NVML's limit, say).
    fn pci_bus_id(&self) -> Option<String> {
        None
    }

    /// Offers every candidate of `work` to `hits`, in ascending (version, nonce) order where the
    /// hardware allows, adding to `ctl`'s hash count as it goes and returning soon after
    /// `ctl.cancel()`.
    fn run(&self, work: &Work, ctl: &Control, hits: &mut Hits<'_>) -> Result<(), Error>;

    /// Searches `work`, calling `on_found` with each result as soon as it is verified.
    fn search_stream(
        &self,
        work: &Work,
        ctl: &Control,
        on_found: &mut dyn FnMut(&Found),
    ) -> Result<Summary, Error> {
        let start = ctl.hashes();
        let mut hits = Hits::new(work, on_found);
        self.run(work, ctl, &mut hits)?;
        Ok(Summary {
            hashes: ctl.hashes() - start,
            found: hits.found,
            hardware_errors: hits.hardware_errors,
            known_answer_misses: hits.known_answer_misses,
            known_answers_passed: hits.known_answers_passed,
            incomplete: hits.incomplete,
            cancelled: ctl.is_cancelled(),
        })
    }

    /// Every (version, nonce) in `work` whose hash meets its target, ascending.
    fn search(&self, work: &Work) -> Result<Vec<Found>, Error> {
        let mut out = Vec::new();
        self.search_stream(work, &Control::new(), &mut |f| out.push(*f))?;
        out.sort_unstable();
        Ok(out)
    }
}

/// Settings an engine may need; each engine reads the fields that concern it.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Options {
    /// CPU threads (CPU engines); `None` means one per available core.
    pub threads: Option<usize>,
    /// GPU engine: use the first adapter whose name contains this (case-insensitive); `None`
    /// falls back to `SHA256D_GPU_ADAPTER`, then to the best adapter.
    #[cfg(feature = "gpu")]
    pub gpu_adapter: Option<String>,
    /// GPU engine: allow software rasterisers (llvmpipe, WARP), as `SHA256D_GPU_ALLOW_SOFTWARE=1`
    /// does. Off by default: they hash slower than the CPU engines.
    #[cfg(feature = "gpu")]
    pub gpu_allow_software: bool,
    /// `asic`: the stick's serial device, e.g. `/dev/ttyUSB0`.
    #[cfg(feature = "asic")]
    pub asic_device: Option<String>,
    /// `asic`: the wire protocol, `icarus`, `bm1397` or `bm1370`.
    #[cfg(feature = "asic")]
    pub asic_protocol: Option<String>,
    /// `asic`: the stick's hashes per second (jobs are timed by it); `None`: typical for the
    /// protocol.
    #[cfg(feature = "asic")]
    pub asic_hashrate: Option<f64>,
    /// `asic`: zero bits the chips hard-wire into reported nonces; `None`: 32, as on silicon.
    #[cfg(feature = "asic")]
    pub asic_ticket_bits: Option<u32>,
    /// `asic`: interval between known-answer jobs; `None`: 10 s; zero: never.
    #[cfg(feature = "asic")]
    pub asic_known_answer_every: Option<core::time::Duration>,
    /// `asic`: the BM13xx hash clock in MHz; `None`: the chip's stock clock. Never above the
    /// highest clock the reference firmware offers.
    #[cfg(feature = "asic")]
    pub asic_frequency_mhz: Option<f64>,
}

/// Whether one engine can run here.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The engine's name.
    pub name: &'static str,
    /// `Ok(description)` if it can run, `Err(reason)` if not.
    pub availability: Result<String, String>,
}

/// Every engine this crate knows, with whether it can run here and why not.
pub fn engines() -> Vec<Status> {
    EngineKind::ALL
        .iter()
        .map(|&kind| Status {
            name: kind.name(),
            availability: open_kind(kind, &Options::default())
                .map(|e| e.describe())
                .map_err(|e| String::from(e.message())),
        })
        .collect()
}

/// Opens the engine called `name` (one of [`ENGINE_NAMES`]).
pub fn open(name: &str, options: &Options) -> Result<Box<dyn Engine>, Error> {
    open_kind(name.parse()?, options)
}

/// Opens an engine of `kind`.
pub fn open_kind(kind: EngineKind, options: &Options) -> Result<Box<dyn Engine>, Error> {
    match kind {
        EngineKind::Gpu => open_gpu(options),
        EngineKind::Asic => open_asic(options),
        cpu => match sha256::Backend::ALL.iter().find(|b| b.kind() == cpu) {
            Some(backend) => Ok(Box::new(CpuEngine::new(*backend, options.threads)?)),
            None => Err(Error::new(
                ErrorKind::Unavailable,
                if cpu == EngineKind::ArmSha2 {
                    "not an aarch64 build"
                } else {
                    "not an x86-64 build"
                },
            )),
        },
    }
}

#[cfg(feature = "gpu")]
fn open_gpu(options: &Options) -> Result<Box<dyn Engine>, Error> {
    Ok(Box::new(gpu::GpuEngine::new(
        options,
        gpu::GpuConfig::default(),
    )?))
}

#[cfg(not(feature = "gpu"))]
fn open_gpu(_: &Options) -> Result<Box<dyn Engine>, Error> {
    Err(Error::new(
        ErrorKind::Unavailable,
        "built without the `gpu` feature",
    ))
}

#[cfg(all(feature = "asic", target_os = "linux"))]
fn open_asic(options: &Options) -> Result<Box<dyn Engine>, Error> {
    Ok(Box::new(asic::open(options)?))
}

#[cfg(all(feature = "asic", not(target_os = "linux")))]
fn open_asic(_: &Options) -> Result<Box<dyn Engine>, Error> {
    Err(Error::new(
        ErrorKind::Unavailable,
        "the `asic` engine needs Linux (termios rates, sysfs discovery)",
    ))
}

#[cfg(not(feature = "asic"))]
fn open_asic(_: &Options) -> Result<Box<dyn Engine>, Error> {
    Err(Error::new(
        ErrorKind::Unavailable,
        "built without the `asic` feature",
    ))
}

/// The fastest CPU engine this machine can run, on every core.
pub fn best() -> Box<dyn Engine> {
    Box::new(
        CpuEngine::new(sha256::Backend::detect(), None)
            .expect("Backend::detect returns an available backend"),
    )
}
