//! The CPU engine: one [`Backend`] kernel, the nonce range split into chunks spread over
//! threads. Rolled versions go through in groups of the backend's
//! [`shared_versions`](Backend::shared_versions), which share each nonce's block-2 schedule.
//! Chunks are small enough (a few milliseconds on the slowest backend) that a cancel is seen
//! promptly and progress moves smoothly; results are handed over batch by batch, each version's
//! in ascending order.

use super::{Control, Engine, Hits};
use crate::sha256::{Backend, Prehash};
use crate::{Error, ErrorKind, Work};
use alloc::{format, string::String, vec, vec::Vec};

/// Hashes per chunk: about 8 ms for the portable kernel, under 1 ms for SHA-NI. A chunk of a
/// group of versions covers proportionally fewer nonces.
pub const CHUNK: u32 = 1 << 14;

/// Chunks per thread in one batch: enough that threads rarely wait for each other.
const CHUNKS_PER_THREAD: usize = 8;

/// A CPU engine on one backend.
pub struct CpuEngine {
    backend: Backend,
    threads: usize,
    #[cfg(feature = "rayon")]
    pool: Option<rayon::ThreadPool>,
}

impl core::fmt::Debug for CpuEngine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CpuEngine")
            .field("backend", &self.backend)
            .field("threads", &self.threads)
            .finish()
    }
}

impl CpuEngine {
    /// An engine on `backend` with `threads` threads (`None`: one per available core). Fails
    /// if this CPU cannot run the backend, or if threads are asked for in a build without
    /// `rayon`.
    pub fn new(backend: Backend, threads: Option<usize>) -> Result<Self, Error> {
        backend
            .check()
            .map_err(|why| Error::new(ErrorKind::Unavailable, why))?;
        if threads == Some(0) {
            return Err(Error::invalid("threads must be at least 1"));
        }
        #[cfg(feature = "rayon")]
        {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let pool = if threads > 1 {
                Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(threads)
                        .thread_name(|i| format!("sha256d-{i}"))
                        .build()
                        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("threads: {e}")))?,
                )
            } else {
                None
            };
            Ok(CpuEngine {
                backend,
                threads,
                pool,
            })
        }
        #[cfg(not(feature = "rayon"))]
        {
            match threads {
                None | Some(1) => Ok(CpuEngine {
                    backend,
                    threads: 1,
                }),
                Some(n) => Err(Error::invalid(format!(
                    "{n} threads need the `rayon` feature; this build runs on 1"
                ))),
            }
        }
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Each version's candidates among `count` nonces from `first`, `out[k]` for `pres[k]`.
    fn scan_chunk(
        &self,
        pres: &[Prehash],
        first: u32,
        count: u32,
        limit: u32,
        ctl: &Control,
    ) -> Vec<Vec<u32>> {
        let mut out = vec![Vec::new(); pres.len()];
        if !ctl.is_cancelled() {
            self.backend
                .scan_shared(pres, first, count, limit, &mut out);
            ctl.add_hashes(u64::from(count) * pres.len() as u64);
        }
        out
    }

    /// Scans `chunks` (first nonce, count) and returns each one's candidates, in order.
    fn scan_batch(
        &self,
        pres: &[Prehash],
        chunks: &[(u32, u32)],
        limit: u32,
        ctl: &Control,
    ) -> Vec<Vec<Vec<u32>>> {
        #[cfg(feature = "rayon")]
        if let Some(pool) = &self.pool {
            use rayon::prelude::*;
            return pool.install(|| {
                chunks
                    .par_iter()
                    .map(|&(first, count)| self.scan_chunk(pres, first, count, limit, ctl))
                    .collect()
            });
        }
        chunks
            .iter()
            .map(|&(first, count)| self.scan_chunk(pres, first, count, limit, ctl))
            .collect()
    }
}

impl Engine for CpuEngine {
    fn name(&self) -> &'static str {
        self.backend.name()
    }

    fn describe(&self) -> String {
        let what = match self.backend {
            Backend::Portable => "scalar kernel",
            #[cfg(target_arch = "x86_64")]
            Backend::ShaNi => "x86-64 SHA extensions",
            #[cfg(target_arch = "x86_64")]
            Backend::Avx2 => "x86-64 AVX2, 8 nonces per instruction",
            #[cfg(target_arch = "x86_64")]
            Backend::Avx512 => "x86-64 AVX-512F, 16 nonces per instruction",
            #[cfg(target_arch = "aarch64")]
            Backend::ArmSha2 => "ARMv8 SHA2 instructions",
        };
        let s = if self.threads == 1 { "" } else { "s" };
        format!("{what}, {} thread{s}", self.threads)
    }

    fn threads(&self) -> usize {
        self.threads
    }

    fn run(&self, work: &Work, ctl: &Control, hits: &mut Hits<'_>) -> Result<(), Error> {
        let limit = work.target().top_u32();
        let range = work.nonces();
        // Fewer versions than the backend shares make one smaller group.
        let rolls = usize::try_from(work.rolls()).unwrap_or(usize::MAX);
        let group = self.backend.shared_versions().min(rolls).max(1);
        // A chunk hashes about CHUNK headers whatever the group size, so cancels and progress
        // come as promptly with rolled versions as without.
        let chunk = CHUNK / group as u32;
        let batch_nonces = u64::from(chunk) * (self.threads * CHUNKS_PER_THREAD) as u64;
        let mut k = 0;
        while k < work.rolls() {
            let versions: Vec<u32> = (k..work.rolls().min(k + group as u64))
                .map(|j| work.version(j))
                .collect();
            let pres: Vec<Prehash> = versions
                .iter()
                .map(|&v| Prehash::new(&work.header_bytes(v, 0)))
                .collect();
            let mut next = range.start;
            while next < range.end {
                if ctl.is_cancelled() {
                    return Ok(());
                }
                let batch_end = range.end.min(next + batch_nonces);
                let chunks: Vec<(u32, u32)> = (next..batch_end)
                    .step_by(chunk as usize)
                    .map(|first| {
                        let count = (batch_end - first).min(u64::from(chunk));
                        // Ranges end at or below 2^32, so `first` fits and so does `count`.
                        (first as u32, count as u32)
                    })
                    .collect();
                let found = self.scan_batch(&pres, &chunks, limit, ctl);
                for (v, &version) in versions.iter().enumerate() {
                    for nonce in found.iter().flat_map(|per_version| &per_version[v]) {
                        hits.offer(version, *nonce)?;
                    }
                }
                next = batch_end;
            }
            k += versions.len() as u64;
        }
        Ok(())
    }
}
