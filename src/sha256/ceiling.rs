//! Microkernels that measure what one core can issue, so a benchmark can state each backend's
//! limit next to its rate: the SHA units' instruction rate, the rate of a backend's own
//! instruction mix ([`OpMix`]) run as independent chains, and the clock itself.
//!
//! Each measurement is the best of many short trials within a time budget: a trial that the
//! scheduler interrupted reads slow, and the fastest trial is the one nothing disturbed. The
//! figures are per thread, for the core the calling thread runs on.

use super::{Backend, OpMix};
use std::time::{Duration, Instant};

/// SHA instructions per nonce on the SHA-instruction backends: after the prehash, block 2 runs
/// rounds 4..64 (30 `sha256rnds2`, or 15 `SHA256H`/`SHA256H2` pairs) and the second hash stops
/// at the instruction that yields its last state word (31 more on either).
pub const SHA_INSTRUCTIONS_PER_NONCE: f64 = 61.0;

/// One trial aims at this long: well above the clock's resolution, well below a time slice.
const TRIAL: Duration = Duration::from_millis(2);

/// The fewest trials a measurement takes, whatever its budget.
const MIN_TRIALS: usize = 3;

/// Best rate of `trial(iterations) -> operations` over trials of about [`TRIAL`] each, until
/// `budget` is spent. `None` when no trial took a measurable time.
fn best_rate(budget: Duration, mut trial: impl FnMut(u64) -> u64) -> Option<f64> {
    let start = Instant::now();
    let mut iterations = 1u64;
    let mut best: Option<f64> = None;
    let mut trials = 0;
    while trials < MIN_TRIALS || start.elapsed() < budget {
        let t = Instant::now();
        let ops = trial(iterations);
        let took = t.elapsed();
        if took < TRIAL / 2 && iterations < 1 << 40 {
            // Still calibrating: not a trial yet.
            iterations *= 2;
            if start.elapsed() < budget.max(TRIAL * 64) {
                continue;
            }
        }
        let secs = took.as_secs_f64();
        if secs > 0.0 {
            let rate = ops as f64 / secs;
            best = Some(best.map_or(rate, |b: f64| b.max(rate)));
        }
        trials += 1;
    }
    best.filter(|r| r.is_finite() && *r > 0.0)
}

/// The measured clock in Hz: a chain of dependent register adds, one cycle each on every
/// x86-64 and ARMv8 core, timed against the wall clock. Register, not immediate, operands:
/// recent Intel cores fold small immediate adds at rename, several a cycle. Unlike the OS's nominal figure it
/// follows turbo, power limits and a hypervisor's real clock. `None` on other architectures.
pub fn clock_hz(budget: Duration) -> Option<f64> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        best_rate(budget, add_chain)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = budget;
        None
    }
}

/// Adds per iteration of [`add_chain`].
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const CHAIN_ADDS: u64 = 64;

/// Runs `iterations` (at least one) times 64 dependent adds; returns the adds done.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
fn add_chain(iterations: u64) -> u64 {
    let iterations = iterations.max(1);
    let mut x = 0u64;
    let mut n = iterations;
    // SAFETY: registers only: the two operands and the flags, no memory, no stack; the loop
    // counter starts at one or more, so it ends.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::asm!(
            "2:",
            ".rept 64",
            "add {x}, {one}",
            ".endr",
            "dec {n}",
            "jnz 2b",
            x = inout(reg) x,
            n = inout(reg) n,
            one = in(reg) 1u64,
            options(nomem, nostack),
        );
    }
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    unsafe {
        core::arch::asm!(
            "2:",
            ".rept 64",
            "add {x}, {x}, {one}",
            ".endr",
            "subs {n}, {n}, #1",
            "b.ne 2b",
            x = inout(reg) x,
            n = inout(reg) n,
            one = in(reg) 1u64,
            options(nomem, nostack),
        );
    }
    core::hint::black_box((x, n));
    iterations * CHAIN_ADDS
}

/// SHA instructions per second on one thread: `sha256rnds2` for [`Backend::ShaNi`], `SHA256H`
/// and `SHA256H2` for [`Backend::ArmSha2`], each in enough independent chains to cover its
/// latency. Divided by [`SHA_INSTRUCTIONS_PER_NONCE`] it is the backend's ceiling in nonces per
/// second. `None` for other backends and where this CPU lacks the instructions.
pub fn sha_rate(backend: Backend, budget: Duration) -> Option<f64> {
    backend.check().ok()?;
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::ShaNi => {
            // SAFETY: `check` passed, so the CPU has the SHA extensions and SSE2.
            best_rate(budget, |n| unsafe { x86::rnds2_chains(n) })
        }
        #[cfg(target_arch = "aarch64")]
        Backend::ArmSha2 => {
            // SAFETY: `check` passed, so the CPU has the SHA2 instructions (and NEON).
            best_rate(budget, |n| unsafe { arm::sha256h_chains(n) })
        }
        _ => None,
    }
}

/// Instruction classes in the order a [`Schedule`] names them.
const CLASSES: usize = 5;

/// Slots in one pass of a [`Schedule`]: each class gets its share of them to within 1/64.
const SLOTS: usize = 64;

/// The order in which one pass of a mix kernel runs its blocks: class `c` (add, rotate, shift,
/// logic, other) in proportion to the mix, each class's blocks spread evenly through the pass so
/// that the out-of-order core sees the classes side by side.
#[derive(Debug, PartialEq)]
struct Schedule(Vec<u8>);

impl Schedule {
    /// `None` for a mix with no instructions, or one that is not finite.
    fn new(mix: &OpMix) -> Option<Self> {
        let weights = [mix.add, mix.rotate, mix.shift, mix.logic, mix.other];
        let total = mix.total();
        if !total.is_finite() || total <= 0.0 || weights.iter().any(|w| *w < 0.0) {
            return None;
        }
        // Largest remainder: the counts sum to SLOTS exactly.
        let exact = weights.map(|w| w / total * SLOTS as f64);
        let mut counts = exact.map(|e| e.floor() as usize);
        let mut order: Vec<usize> = (0..CLASSES).collect();
        order.sort_by(|&a, &b| {
            (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor()))
        });
        let short = SLOTS - counts.iter().sum::<usize>();
        for &c in order.iter().take(short) {
            counts[c] += 1;
        }
        let mut slots: Vec<(f64, u8)> = Vec::with_capacity(SLOTS);
        for (class, &count) in counts.iter().enumerate() {
            for k in 0..count {
                slots.push(((k as f64 + 0.5) / count as f64, class as u8));
            }
        }
        slots.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Some(Schedule(slots.into_iter().map(|(_, c)| c).collect()))
    }
}

/// Instructions per second on one thread for `mix` run as `backend` issues it: independent
/// chains of the backend's add, rotate, shift, logic and other instructions (for AVX-512
/// `vpaddd`, `vprold`, `vpsrld`, `vpternlogd`, `vpshufd`; AVX2 has no rotate, so its rotates run
/// as shifts; scalar `add`, `ror`, `shr`, `xor`, `bswap`) in the mix's proportions. Divided by
/// [`OpMix::total`] it is the backend's ceiling in nonces per second. `None` for the
/// SHA-instruction backends (see [`sha_rate`]), an empty mix, or a backend this CPU lacks.
pub fn mix_rate(backend: Backend, mix: &OpMix, budget: Duration) -> Option<f64> {
    backend.check().ok()?;
    let schedule = Schedule::new(mix)?;
    let s = &schedule.0;
    match backend {
        #[cfg(target_arch = "x86_64")]
        Backend::Portable => best_rate(budget, |n| x86::scalar_mix(s, n)),
        #[cfg(target_arch = "aarch64")]
        Backend::Portable => best_rate(budget, |n| arm::scalar_mix(s, n)),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 => {
            // SAFETY: `check` passed, so the CPU has AVX2.
            best_rate(budget, |n| unsafe { x86::avx2_mix(s, n) })
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512 => {
            // SAFETY: `check` passed, so the CPU has AVX-512F.
            best_rate(budget, |n| unsafe { x86::avx512_mix(s, n) })
        }
        _ => None,
    }
}

/// One instruction per chain for twelve chains `{c0}`..`{c11}`: `MNEMONIC {cN}, {cN}REST`.
#[cfg(target_arch = "x86_64")]
macro_rules! twelve {
    ($mn:literal, $rest:literal) => {
        concat!(
            $mn,
            " {c0}, {c0}",
            $rest,
            "\n",
            $mn,
            " {c1}, {c1}",
            $rest,
            "\n",
            $mn,
            " {c2}, {c2}",
            $rest,
            "\n",
            $mn,
            " {c3}, {c3}",
            $rest,
            "\n",
            $mn,
            " {c4}, {c4}",
            $rest,
            "\n",
            $mn,
            " {c5}, {c5}",
            $rest,
            "\n",
            $mn,
            " {c6}, {c6}",
            $rest,
            "\n",
            $mn,
            " {c7}, {c7}",
            $rest,
            "\n",
            $mn,
            " {c8}, {c8}",
            $rest,
            "\n",
            $mn,
            " {c9}, {c9}",
            $rest,
            "\n",
            $mn,
            " {c10}, {c10}",
            $rest,
            "\n",
            $mn,
            " {c11}, {c11}",
            $rest,
        )
    };
}

/// One instruction per chain for eight 32-bit chains: `HEAD{cN:w}TAIL` on ARM, where `HEAD`
/// ends in the mnemonic and a space and `TAIL` may name the chain again as `{cN}` cannot;
/// `HEAD{cN:e}TAIL` on x86.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! eight {
    ($head:literal, $m:literal, $tail:literal) => {
        concat!(
            $head, "{c0", $m, "}", $tail, "\n", $head, "{c1", $m, "}", $tail, "\n", $head, "{c2",
            $m, "}", $tail, "\n", $head, "{c3", $m, "}", $tail, "\n", $head, "{c4", $m, "}", $tail,
            "\n", $head, "{c5", $m, "}", $tail, "\n", $head, "{c6", $m, "}", $tail, "\n", $head,
            "{c7", $m, "}", $tail,
        )
    };
    ($head:literal, $m:literal, self $tail:literal) => {
        concat!(
            $head, "{c0", $m, "}, {c0", $m, "}", $tail, "\n", $head, "{c1", $m, "}, {c1", $m, "}",
            $tail, "\n", $head, "{c2", $m, "}, {c2", $m, "}", $tail, "\n", $head, "{c3", $m,
            "}, {c3", $m, "}", $tail, "\n", $head, "{c4", $m, "}, {c4", $m, "}", $tail, "\n",
            $head, "{c5", $m, "}, {c5", $m, "}", $tail, "\n", $head, "{c6", $m, "}, {c6", $m, "}",
            $tail, "\n", $head, "{c7", $m, "}, {c7", $m, "}", $tail,
        )
    };
}

/// Instructions in one block of a vector mix kernel: twelve chains, one deep.
#[cfg(target_arch = "x86_64")]
const VECTOR_BLOCK: u64 = 12;

/// Instructions in one block of a scalar mix kernel: eight chains, four deep.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
const SCALAR_BLOCK: u64 = 32;

/// A register-only asm block over the chain values in array `$c` (twelve or eight), with the
/// read-only operand `k` when the text names it: [`VECTOR_BLOCK`] or [`SCALAR_BLOCK`]
/// instructions. The dispatch between blocks (a load, a jump, a loop count) runs on the scalar
/// ports, so scalar blocks repeat their chains four deep to keep it a small part of the work;
/// longer runs of one class would fill the scheduler with it and starve the other ports,
/// which is why vector blocks stay one deep (on a Xeon, four deep lost a fifth of the rate).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! chains_asm {
    (@12 $text:expr, $class:ident, $c:ident $(, $k:expr)?) => {
        core::arch::asm!(
            $text,
            c0 = inout($class) $c[0], c1 = inout($class) $c[1], c2 = inout($class) $c[2],
            c3 = inout($class) $c[3], c4 = inout($class) $c[4], c5 = inout($class) $c[5],
            c6 = inout($class) $c[6], c7 = inout($class) $c[7], c8 = inout($class) $c[8],
            c9 = inout($class) $c[9], c10 = inout($class) $c[10], c11 = inout($class) $c[11],
            $(k = in($class) $k,)?
            options(nomem, nostack),
        )
    };
    (@8 $text:expr, $class:ident, $c:ident $(, $k:expr)?) => {
        core::arch::asm!(
            ".rept 4",
            $text,
            ".endr",
            c0 = inout($class) $c[0], c1 = inout($class) $c[1], c2 = inout($class) $c[2],
            c3 = inout($class) $c[3], c4 = inout($class) $c[4], c5 = inout($class) $c[5],
            c6 = inout($class) $c[6], c7 = inout($class) $c[7],
            $(k = in($class) $k,)?
            options(nomem, nostack),
        )
    };
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use core::arch::x86_64::{__m256i, __m512i};
    use core::hint::black_box;

    /// `sha256rnds2` per iteration of [`rnds2_chains`]: twelve chains, four deep.
    const RNDS2_PER_ITERATION: u64 = 48;

    /// Runs `iterations` (at least one) passes of twelve independent `sha256rnds2` chains;
    /// returns the instructions issued.
    ///
    /// # Safety
    /// The CPU must support the SHA extensions.
    #[target_feature(enable = "sha,sse2")]
    pub(super) unsafe fn rnds2_chains(iterations: u64) -> u64 {
        let iterations = iterations.max(1);
        let mut n = iterations;
        // SAFETY: the caller vouches for the SHA extensions; the block touches only the xmm
        // registers it names as clobbered and its counter, which starts at one or more.
        unsafe {
            core::arch::asm!(
                "2:",
                ".rept 4",
                "sha256rnds2 xmm1, xmm13, xmm0",
                "sha256rnds2 xmm2, xmm13, xmm0",
                "sha256rnds2 xmm3, xmm13, xmm0",
                "sha256rnds2 xmm4, xmm13, xmm0",
                "sha256rnds2 xmm5, xmm13, xmm0",
                "sha256rnds2 xmm6, xmm13, xmm0",
                "sha256rnds2 xmm7, xmm13, xmm0",
                "sha256rnds2 xmm8, xmm13, xmm0",
                "sha256rnds2 xmm9, xmm13, xmm0",
                "sha256rnds2 xmm10, xmm13, xmm0",
                "sha256rnds2 xmm11, xmm13, xmm0",
                "sha256rnds2 xmm12, xmm13, xmm0",
                ".endr",
                "dec {n}",
                "jnz 2b",
                n = inout(reg) n,
                out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _,
                out("xmm5") _, out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _,
                out("xmm10") _, out("xmm11") _, out("xmm12") _, out("xmm13") _,
                options(nomem, nostack),
            );
        }
        black_box(n);
        iterations * RNDS2_PER_ITERATION
    }

    /// Runs `iterations` (at least one) passes of `schedule` on eight chains of 32-bit scalar
    /// instructions; returns the instructions issued.
    pub(super) fn scalar_mix(schedule: &[u8], iterations: u64) -> u64 {
        let mut c = [0x6a09_e667u32; 8];
        let k = 0x428a_2f98u32;
        for _ in 0..iterations.max(1) {
            for &class in schedule {
                // SAFETY: plain integer instructions on the named registers and the flags.
                unsafe {
                    match class {
                        0 => chains_asm!(@8 eight!("add ", ":e", ", {k:e}"), reg, c, k),
                        1 => chains_asm!(@8 eight!("ror ", ":e", ", 7"), reg, c),
                        2 => chains_asm!(@8 eight!("shr ", ":e", ", 3"), reg, c),
                        3 => chains_asm!(@8 eight!("xor ", ":e", ", {k:e}"), reg, c, k),
                        _ => chains_asm!(@8 eight!("bswap ", ":e", ""), reg, c),
                    }
                }
            }
        }
        black_box(c);
        iterations.max(1) * schedule.len() as u64 * super::SCALAR_BLOCK
    }

    /// Runs `iterations` (at least one) passes of `schedule` on twelve chains of AVX2
    /// instructions; returns the instructions issued.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2_mix(schedule: &[u8], iterations: u64) -> u64 {
        // SAFETY: AVX2 is enabled on this function.
        let mut c = [unsafe { core::mem::zeroed::<__m256i>() }; 12];
        // SAFETY: as above.
        let k = unsafe { core::mem::zeroed::<__m256i>() };
        for _ in 0..iterations.max(1) {
            for &class in schedule {
                // SAFETY: the caller vouches for AVX2; registers only.
                unsafe {
                    match class {
                        0 => chains_asm!(@12 twelve!("vpaddd", ", {k}"), ymm_reg, c, k),
                        1 | 2 => chains_asm!(@12 twelve!("vpsrld", ", 3"), ymm_reg, c),
                        3 => chains_asm!(@12 twelve!("vpxor", ", {k}"), ymm_reg, c, k),
                        _ => chains_asm!(@12 twelve!("vpshufb", ", {k}"), ymm_reg, c, k),
                    }
                }
            }
        }
        black_box(c);
        iterations.max(1) * schedule.len() as u64 * super::VECTOR_BLOCK
    }

    /// Runs `iterations` (at least one) passes of `schedule` on twelve chains of AVX-512
    /// instructions; returns the instructions issued.
    ///
    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn avx512_mix(schedule: &[u8], iterations: u64) -> u64 {
        // SAFETY: AVX-512F is enabled on this function.
        let mut c = [unsafe { core::mem::zeroed::<__m512i>() }; 12];
        // SAFETY: as above.
        let k = unsafe { core::mem::zeroed::<__m512i>() };
        for _ in 0..iterations.max(1) {
            for &class in schedule {
                // SAFETY: the caller vouches for AVX-512F; registers only.
                unsafe {
                    match class {
                        0 => chains_asm!(@12 twelve!("vpaddd", ", {k}"), zmm_reg, c, k),
                        1 => chains_asm!(@12 twelve!("vprold", ", 7"), zmm_reg, c),
                        2 => chains_asm!(@12 twelve!("vpsrld", ", 3"), zmm_reg, c),
                        3 => chains_asm!(@12 twelve!("vpternlogd", ", {k}, 0x96"), zmm_reg, c, k),
                        _ => chains_asm!(@12 twelve!("vpshufd", ", 0x1b"), zmm_reg, c),
                    }
                }
            }
        }
        black_box(c);
        iterations.max(1) * schedule.len() as u64 * super::VECTOR_BLOCK
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use core::hint::black_box;

    /// `SHA256H` and `SHA256H2` per iteration of [`sha256h_chains`].
    const PER_ITERATION: u64 = 48;

    /// Runs `iterations` (at least one) passes of twelve independent chains, half `SHA256H` and
    /// half `SHA256H2`; returns the instructions issued.
    ///
    /// # Safety
    /// The CPU must support the SHA2 instructions.
    #[target_feature(enable = "sha2")]
    pub(super) unsafe fn sha256h_chains(iterations: u64) -> u64 {
        let iterations = iterations.max(1);
        let mut n = iterations;
        // SAFETY: the caller vouches for SHA2; the block touches only the vector registers it
        // names as clobbered and its counter, which starts at one or more.
        unsafe {
            core::arch::asm!(
                "2:",
                ".rept 4",
                "sha256h q1, q13, v14.4s",
                "sha256h2 q2, q13, v14.4s",
                "sha256h q3, q13, v14.4s",
                "sha256h2 q4, q13, v14.4s",
                "sha256h q5, q13, v14.4s",
                "sha256h2 q6, q13, v14.4s",
                "sha256h q7, q13, v14.4s",
                "sha256h2 q8, q13, v14.4s",
                "sha256h q9, q13, v14.4s",
                "sha256h2 q10, q13, v14.4s",
                "sha256h q11, q13, v14.4s",
                "sha256h2 q12, q13, v14.4s",
                ".endr",
                "subs {n}, {n}, #1",
                "b.ne 2b",
                n = inout(reg) n,
                out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _,
                out("v7") _, out("v8") _, out("v9") _, out("v10") _, out("v11") _,
                out("v12") _, out("v13") _, out("v14") _,
                options(nomem, nostack),
            );
        }
        black_box(n);
        iterations * PER_ITERATION
    }

    /// Runs `iterations` (at least one) passes of `schedule` on eight chains of 32-bit scalar
    /// instructions; returns the instructions issued.
    pub(super) fn scalar_mix(schedule: &[u8], iterations: u64) -> u64 {
        let mut c = [0x6a09_e667u32; 8];
        let k = 0x428a_2f98u32;
        for _ in 0..iterations.max(1) {
            for &class in schedule {
                // SAFETY: plain integer instructions on the named registers.
                unsafe {
                    match class {
                        0 => chains_asm!(@8 eight!("add ", ":w", self ", {k:w}"), reg, c, k),
                        1 => chains_asm!(@8 eight!("ror ", ":w", self ", #7"), reg, c),
                        2 => chains_asm!(@8 eight!("lsr ", ":w", self ", #3"), reg, c),
                        3 => chains_asm!(@8 eight!("eor ", ":w", self ", {k:w}"), reg, c, k),
                        _ => chains_asm!(@8 eight!("rev ", ":w", self ""), reg, c),
                    }
                }
            }
        }
        black_box(c);
        iterations.max(1) * schedule.len() as u64 * super::SCALAR_BLOCK
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Long enough for a few dozen trials, short enough for a loaded test machine.
    const BUDGET: Duration = Duration::from_millis(60);

    fn mix(add: f64, rotate: f64, shift: f64, logic: f64, other: f64) -> OpMix {
        let mut m = OpMix::default();
        (m.add, m.rotate, m.shift, m.logic, m.other) = (add, rotate, shift, logic, other);
        m
    }

    #[test]
    fn the_measured_clock_is_a_plausible_frequency() {
        if cfg!(not(any(target_arch = "x86_64", target_arch = "aarch64"))) {
            assert_eq!(clock_hz(BUDGET), None);
            return;
        }
        let hz = clock_hz(BUDGET).expect("a clock on this architecture");
        assert!((0.2e9..10e9).contains(&hz), "clock {hz} Hz");
    }

    #[test]
    fn sha_rate_is_plausible_where_the_cpu_has_sha() {
        for &b in Backend::ALL {
            let rate = sha_rate(b, BUDGET);
            let is_sha = matches!(b.name(), "sha-ni" | "arm-sha2");
            if !is_sha || b.check().is_err() {
                assert_eq!(rate, None, "{b:?}");
                continue;
            }
            // Hardware runs one to a few per cycle (under 40 G/s); an emulator such as the
            // qemu that CI runs the ARM suite on manages tens of millions, so the floor is 1 M/s.
            let rate = rate.expect("the CPU has the instructions");
            assert!((1e6..4e10).contains(&rate), "{b:?}: {rate} per second");
        }
    }

    #[test]
    fn mix_rate_is_plausible_for_every_mix_backend() {
        let m = mix(7.0, 3.0, 1.0, 5.0, 0.5);
        for &b in Backend::ALL {
            let rate = mix_rate(b, &m, BUDGET);
            let is_mix = matches!(b.name(), "portable" | "avx2" | "avx512");
            if !is_mix || b.check().is_err() {
                assert_eq!(rate, None, "{b:?}");
                continue;
            }
            // Debug builds add loads and stores between blocks; still more than 10 M/s, and
            // no core retires 64 instructions a cycle.
            let rate = rate.expect("a mix kernel for this backend");
            assert!(
                (1e7..64.0 * 10e9).contains(&rate),
                "{b:?}: {rate} per second"
            );
        }
    }

    #[test]
    fn an_empty_or_broken_mix_has_no_rate() {
        for m in [
            OpMix::default(),
            mix(f64::NAN, 0.0, 0.0, 1.0, 0.0),
            mix(f64::INFINITY, 0.0, 0.0, 1.0, 0.0),
            mix(-1.0, 0.0, 0.0, 2.0, 0.0),
        ] {
            assert_eq!(Schedule::new(&m), None, "{m:?}");
            assert_eq!(mix_rate(Backend::Portable, &m, BUDGET), None, "{m:?}");
        }
    }

    #[test]
    fn a_schedule_holds_the_mix_in_proportion_and_spread_out() {
        // 3 : 1 add to logic over 64 slots: 48 adds, 16 logic, one logic in every four slots.
        let s = Schedule::new(&mix(3.0, 0.0, 0.0, 1.0, 0.0)).expect("a mix");
        let want: Vec<u8> = (0..64).map(|i| if i % 4 == 2 { 3 } else { 0 }).collect();
        assert_eq!(s.0.len(), 64);
        assert_eq!(
            (
                s.0.iter().filter(|&&c| c == 0).count(),
                s.0.iter().filter(|&&c| c == 3).count()
            ),
            (48, 16)
        );
        assert_eq!(s.0, want);
        // Shares that do not divide 64: the counts still sum to 64, largest remainders first.
        let s = Schedule::new(&mix(1.0, 1.0, 1.0, 0.0, 0.0)).expect("a mix");
        let counts: Vec<usize> = (0..5u8)
            .map(|c| s.0.iter().filter(|&&x| x == c).count())
            .collect();
        assert_eq!(counts, [22, 21, 21, 0, 0]);
    }
}
