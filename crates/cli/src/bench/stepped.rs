//! Instructions per nonce of a CPU backend's compiled kernel, counted by executing it: a child
//! process (this binary's hidden `step-kernel` command) scans a few nonces while this process
//! single-steps it under ptrace, once for `n` nonces and once for `2n`, so that everything but
//! the per-nonce work (process start, dispatch, the stop that marks the end) cancels out. Each
//! step is one retired instruction of the child's thread, so the count covers every move,
//! spill and loop branch the compiler emitted, which the op model does not see.

use clap::Args;
use nix::sys::ptrace;
use nix::sys::signal::{raise, Signal};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use sha256d::hazmat::{Backend, Prehash};
use std::process::{Command, Stdio};

/// The hidden child command's arguments.
#[derive(Args)]
pub struct StepKernelArgs {
    /// The backend, by engine name.
    #[arg(long)]
    engine: String,
    /// Rolled versions sharing a schedule.
    #[arg(long)]
    versions: u32,
    /// Nonces to scan while traced.
    #[arg(long)]
    nonces: u32,
}

/// More steps than any counted scan takes: a child that runs past it is killed, not waited on.
const MAX_STEPS: u64 = 20_000_000;

/// Nonces per counted scan: one vector of the widest backend (16 lanes; the others' lanes and
/// streams divide it) and one nonce for the scalar kernel, whose thousands of instructions per
/// nonce would otherwise take many seconds to step.
fn nonces_for(backend: Backend) -> u32 {
    if backend == Backend::Portable {
        1
    } else {
        16
    }
}

/// Instructions per nonce (per nonce and version, where versions share a schedule) of engine
/// `name`'s kernel at `versions` rolled versions, or why it could not be counted.
pub fn instructions_per_nonce(name: &str, versions: u32) -> Result<f64, String> {
    let backend = backend(name)?;
    let n = nonces_for(backend);
    let once = steps(name, versions, n)?;
    let twice = steps(name, versions, 2 * n)?;
    let extra = twice
        .checked_sub(once)
        .filter(|&d| d > 0)
        .ok_or_else(|| format!("{twice} steps for {} nonces, {once} for {n}", 2 * n))?;
    Ok(extra as f64 / f64::from(n) / f64::from(versions))
}

fn backend(name: &str) -> Result<Backend, String> {
    Backend::ALL
        .iter()
        .copied()
        .find(|b| b.name() == name && b.check().is_ok())
        .ok_or_else(|| format!("no {name} backend on this CPU"))
}

/// The instructions the child's thread retires between its two stops.
fn steps(name: &str, versions: u32, nonces: u32) -> Result<u64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("this program's path: {e}"))?;
    let mut child = Command::new(exe)
        .args(["step-kernel", "--engine", name])
        .args(["--versions", &versions.to_string()])
        .args(["--nonces", &nonces.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the counted child: {e}"))?;
    let pid = Pid::from_raw(i32::try_from(child.id()).map_err(|e| e.to_string())?);
    let counted = trace(pid);
    if counted.is_err() {
        // Whatever state it is in, it must not outlive the count.
        let _ = child.kill();
    }
    let _ = child.wait();
    counted
}

fn trace(pid: Pid) -> Result<u64, String> {
    let wait = || waitpid(pid, None).map_err(|e| format!("waiting on the counted child: {e}"));
    match wait()? {
        WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
        // It exits at once where the OS refuses to let it be traced.
        other => {
            return Err(format!(
                "the counted child did not stop to be traced: {other:?}"
            ))
        }
    }
    let mut steps = 0u64;
    loop {
        ptrace::step(pid, None).map_err(|e| format!("single-stepping: {e}"))?;
        match wait()? {
            WaitStatus::Stopped(_, Signal::SIGTRAP) => steps += 1,
            // The child's own stop after its scan.
            WaitStatus::Stopped(_, Signal::SIGSTOP) => break,
            other => return Err(format!("the counted child ended mid-count: {other:?}")),
        }
        if steps > MAX_STEPS {
            return Err(format!("over {MAX_STEPS} instructions: stopped counting"));
        }
    }
    ptrace::kill(pid).map_err(|e| format!("ending the counted child: {e}"))?;
    Ok(steps)
}

/// The child: warm up (a first call may time its own variants), let the parent trace it, scan,
/// and stop again to mark the end. Never returns; the parent kills it.
pub fn child(args: &StepKernelArgs) -> ! {
    let Ok(backend) = backend(&args.engine) else {
        std::process::exit(2)
    };
    let Ok(header) = sha256d::Header::from_hex(super::HEADER) else {
        std::process::exit(2)
    };
    let header = header.to_bytes();
    let versions = args.versions.clamp(1, 16) as usize;
    let pres: Vec<Prehash> = (0..versions)
        .map(|k| {
            let mut h = header;
            h[0] ^= k as u8;
            Prehash::new(&h)
        })
        .collect();
    let mut out = vec![Vec::with_capacity(16); versions];
    // A limit of zero: no nonce is a candidate, so nothing allocates while counted.
    backend.scan_shared(&pres, 0, args.nonces, 0, &mut out);
    if ptrace::traceme().is_err() || raise(Signal::SIGSTOP).is_err() {
        std::process::exit(3);
    }
    backend.scan_shared(&pres, 1 << 20, args.nonces, 0, &mut out);
    let _ = raise(Signal::SIGSTOP);
    std::process::exit(0)
}
