//! A software USB mining stick on a pseudo-terminal, for testing the `asic` engine without
//! hardware.
//!
//! It answers on the wire as the chip would: it checks checksums and the line settings the host
//! applied (raw mode, baud against the chip's programmed rate), enumerates a chain, accepts jobs
//! and finds nonces by actually hashing (with the `sha2` crate, sharing no code with any driver
//! it checks) at a configured hashrate.
//!
//! The chips follow the silicon as the reference firmware and mujina's BM13xx reference
//! describe it, not any one driver: the PLL register decodes with each model's divider rules
//! and an impossible setting is refused; a BM1370 core sweeps only the nonces carrying its
//! core id, from register 0x0C's offset for register 0x10's deadline in 25 MHz crystal ticks
//! (zero halts hashing, and a zero written during a job stops it), 16 versions a batch, re-sweeping the window batch after batch; nonce
//! reporting needs register 0x18's enables; a BM1397 core sweeps its 2^24 counters from 0 with
//! every midstate. Time is the one thing scaled: positions (core x counter x version) are
//! hashed at the configured hashrate instead of the silicon's, so a crystal tick lasts as long
//! as the positions it covers take to hash. Two more relaxations make tests fast, both
//! configurable and off the silicon values only where a test says so: the difficulty every chip
//! hard-wires (`ticket_bits`, 32 on silicon) and the BM1370's overrun past each batch's
//! deadline (`overrun_ticks`, about 130 on silicon). Faults are injected from a seeded
//! generator, so a failing run repeats. Every frame the host sends is recorded, so a test can
//! hold a driver's bring-up to the reference sequence.

#![cfg(target_os = "linux")]
#![warn(missing_docs)]

mod chip;
mod decode;
mod error;
mod pty;
mod splitmix;

pub use chip::ChipLog;
pub use decode::{decode, Command, Decoder};

use crate::splitmix::SplitMix64;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use core::time::Duration;
pub use error::{Error, Protocol};
use std::sync::Mutex;
use std::time::Instant;
use std::{collections::VecDeque, sync::Arc};

/// A fault the emulated stick injects.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    /// With this probability, random bytes precede a reply.
    Garbage(f64),
    /// With this probability, a found nonce is never sent.
    Drop(f64),
    /// With this probability, a reply's checksum is corrupted.
    BadCrc(f64),
    /// With this probability, a reply carries a nonce the chip did not find.
    WrongNonce(f64),
    /// Every reply leaves this much later than it was found.
    Slow(Duration),
    /// After this many nonce replies the stick is unplugged: the pty closes.
    Unplug(u64),
    /// After this many nonce replies the stick stops answering but stays plugged in.
    Hang(u64),
    /// The chip misses its first N baud-rate writes (a glitch on the line as the rate
    /// changes), so the host's first switch to the fast rate finds no chip there.
    MissBaud(u32),
}

impl core::str::FromStr for Fault {
    type Err = Error;

    /// `garbage=P`, `drop=P`, `bad-crc=P`, `wrong-nonce=P` (probabilities 0..1), `slow=MS`,
    /// `unplug=N`, `hang=N` (after N nonce replies).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = || {
            Error::new(format!(
                "fault {s:?}: expected garbage=P, drop=P, bad-crc=P, wrong-nonce=P, slow=MS, \
                 unplug=N, hang=N or miss-baud=N"
            ))
        };
        let (name, value) = s.split_once('=').ok_or_else(bad)?;
        let p = || {
            value
                .parse::<f64>()
                .ok()
                .filter(|p| (0.0..=1.0).contains(p))
                .ok_or_else(bad)
        };
        let n = || value.parse::<u64>().map_err(|_| bad());
        Ok(match name {
            "garbage" => Fault::Garbage(p()?),
            "drop" => Fault::Drop(p()?),
            "bad-crc" => Fault::BadCrc(p()?),
            "wrong-nonce" => Fault::WrongNonce(p()?),
            "slow" => Fault::Slow(Duration::from_millis(n()?)),
            "unplug" => Fault::Unplug(n()?),
            "hang" => Fault::Hang(n()?),
            "miss-baud" => Fault::MissBaud(n()?.min(u64::from(u32::MAX)) as u32),
            _ => return Err(bad()),
        })
    }
}

/// How to emulate.
#[derive(Clone, Debug)]
pub struct Config {
    /// The wire protocol.
    pub protocol: Protocol,
    /// Chips on the chain (BM13xx).
    pub chips: usize,
    /// Hashes per second of the whole stick.
    pub hashrate: f64,
    /// Zero bits every reported nonce's hash has before any ticket mask (32 on real chips).
    pub ticket_bits: u32,
    /// Ticks each BM1370 version batch runs past its deadline (mujina measured about 130).
    pub overrun_ticks: u32,
    /// Seed for fault injection.
    pub seed: u64,
    /// Faults to inject.
    pub faults: Vec<Fault>,
}

impl Config {
    /// A fault-free single-chip stick at 1 MH/s with the real 32-bit ticket.
    pub fn new(protocol: Protocol) -> Self {
        Config {
            protocol,
            chips: 1,
            hashrate: 1e6,
            ticket_bits: 32,
            overrun_ticks: 130,
            seed: 0,
            faults: Vec::new(),
        }
    }
}

/// What the emulated stick did, for accounting against what a host saw.
#[derive(Debug, Default)]
pub struct Stats {
    /// Correct nonce replies sent.
    pub nonces_sent: AtomicU64,
    /// Nonce replies sent with a corrupted checksum or a nonce the chip did not find.
    pub faulty_sent: AtomicU64,
    /// Nonces found but deliberately not sent.
    pub dropped: AtomicU64,
    /// Bursts of garbage bytes sent.
    pub garbage_sent: AtomicU64,
    /// Register replies sent.
    pub register_replies: AtomicU64,
    /// Jobs (or Icarus work packets) accepted.
    pub jobs: AtomicU64,
    /// Frames ignored for a bad checksum or unknown header.
    pub rejected: AtomicU64,
    /// Input ignored because the host's line settings were wrong (not raw, or the wrong baud).
    pub line_rejects: AtomicU64,
    /// Positions (nonce x midstate or version) hashed.
    pub hashes: AtomicU64,
    /// Wall time, in nanoseconds, the chip had a job under way: what a real stick's power
    /// follows. Unlike `hashes` it does not fall when a busy machine starves the emulator.
    pub busy_ns: AtomicU64,
    last_job: Mutex<Option<Instant>>,
    nonces_at_register_reply: AtomicU64,
    frames: Mutex<Vec<Vec<u8>>>,
    chip: Mutex<ChipLog>,
}

/// Frames recorded before the oldest are no longer kept: a long run stays bounded.
const MAX_RECORDED_FRAMES: usize = 100_000;

impl Stats {
    /// `nonces_sent` as it stood when the last register reply was queued: replies leave in
    /// order, so a host that has that register reply has had exactly these nonces.
    pub fn nonces_at_last_register_reply(&self) -> u64 {
        self.nonces_at_register_reply.load(Ordering::Relaxed)
    }

    /// When the last job was received.
    pub fn last_job(&self) -> Option<Instant> {
        *self.last_job.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every frame the host sent (decoded or rejected), in order, as it came in.
    pub fn frames(&self) -> Vec<Vec<u8>> {
        self.frames
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// What the chip made of the host's register writes.
    pub fn chip(&self) -> ChipLog {
        self.chip.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, frame: Vec<u8>) {
        let mut f = self.frames.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < MAX_RECORDED_FRAMES {
            f.push(frame);
        }
    }
}

/// Seeded fault decisions, so a failing run can be replayed.
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next()
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// A running emulator on its own thread; stopped and joined on drop.
pub struct Emulator {
    path: String,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Result<(), Error>>>,
}

impl Emulator {
    /// The pty path the host should open.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Live counters.
    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    /// Whether the emulator has stopped (unplugged, or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            // A panic on the emulator thread has already been reported there.
            let _ = t.join();
        }
    }
}

/// Starts an emulator on a new thread and returns once its pty exists.
pub fn spawn(config: Config) -> Result<Emulator, Error> {
    let pty = pty::Pty::open()?;
    let path = String::from(pty.path());
    let stats = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (stats.clone(), stop.clone());
    let thread = std::thread::Builder::new()
        .name(String::from("asic-emulator"))
        .spawn(move || serve(&pty, &config, &s, &st))
        .map_err(Error::from)?;
    Ok(Emulator {
        path,
        stats,
        stop,
        thread: Some(thread),
    })
}

/// Runs an emulator on this thread until it is unplugged by a fault or `stop` is set; calls
/// `ready` with the pty path first.
pub fn run(
    config: &Config,
    stats: &Stats,
    stop: &AtomicBool,
    ready: impl FnOnce(&str),
) -> Result<(), Error> {
    let pty = pty::Pty::open()?;
    ready(pty.path());
    serve(&pty, config, stats, stop)
}

struct Outgoing {
    due: Instant,
    bytes: Vec<u8>,
}

fn serve(pty: &pty::Pty, config: &Config, stats: &Stats, stop: &AtomicBool) -> Result<(), Error> {
    if !(config.hashrate > 0.0 && config.hashrate.is_finite()) {
        return Err(Error::new("the emulator's hashrate must be positive"));
    }
    let mut chain = chip::Chain::new(
        config.protocol,
        config.chips,
        config.ticket_bits,
        config.overrun_ticks,
    );
    chain.miss_baud_writes = config
        .faults
        .iter()
        .find_map(|f| match f {
            Fault::MissBaud(n) => Some(*n),
            _ => None,
        })
        .unwrap_or(0);
    let mut decoder = Decoder::new(config.protocol);
    let mut faults = Injector::new(config);
    let mut out: VecDeque<Outgoing> = VecDeque::new();
    let mut job_start = Instant::now();
    let mut buf = [0u8; 4096];
    // The host's line rate now, before its last change, and when it changed.
    let mut host_baud = (0u32, 0u32, Instant::now());
    // Hash in slices of about 2 ms so input is read promptly, and keep at most 100 ms behind.
    let slice = (config.hashrate / 500.0).max(64.0) as u64;
    let backlog = (config.hashrate / 10.0).max(64.0) as u64;
    let unplug_after = config.faults.iter().find_map(|f| match f {
        Fault::Unplug(n) => Some(*n),
        _ => None,
    });
    let hang_after = config.faults.iter().find_map(|f| match f {
        Fault::Hang(n) => Some(*n),
        _ => None,
    });

    let due_positions = |start: Instant, now: Instant| -> u64 {
        (now.saturating_duration_since(start).as_secs_f64() * config.hashrate) as u64
    };

    // When the loop last looked, and whether the chip was hashing then.
    let mut looked = (Instant::now(), false);
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if looked.1 {
            let ns = now.saturating_duration_since(looked.0).as_nanos();
            stats
                .busy_ns
                .fetch_add(u64::try_from(ns).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        looked = (now, chain.busy());
        if unplug_after.is_some_and(|n| faults.replies >= n) {
            return Ok(());
        }
        if hang_after.is_some_and(|n| faults.replies >= n) {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let now = Instant::now();
        while let Some(o) = out.front_mut() {
            if o.due > now {
                break;
            }
            let n = pty.write(&o.bytes);
            o.bytes.drain(..n.min(o.bytes.len()));
            if !o.bytes.is_empty() {
                break;
            }
            out.pop_front();
        }
        let wait = if chain.busy() { 0 } else { 1 };
        // A pty has no line rate, so bytes written just before the host changed its rate are
        // read after the change: for a moment, the old rate still counts. The change is noted
        // when it happens, not when the next bytes come.
        let mut note = |line: &Option<pty::HostLine>| {
            if let Some(l) = line {
                if l.baud != host_baud.0 {
                    host_baud = (l.baud, host_baud.0, Instant::now());
                }
            }
        };
        note(&pty.host_termios());
        let n = pty.read(&mut buf, wait);
        if n > 0 {
            // The settings the bytes were written under are at least as new as these.
            let line = pty.host_termios();
            note(&line);
            let recent = host_baud.2.elapsed() < Duration::from_millis(30);
            let line_ok = line.is_some_and(|l| {
                l.raw
                    && (baud_close(l.baud, chain.baud())
                        || (recent && baud_close(host_baud.1, chain.baud())))
            });
            if !line_ok {
                stats.line_rejects.fetch_add(1, Ordering::Relaxed);
            } else {
                decoder.push(&buf[..n]);
            }
        }
        let mut emit: Vec<chip::Hit> = Vec::new();
        let mut replies: Vec<Vec<u8>> = Vec::new();
        while let Some((cmd, raw)) = decoder.next_frame() {
            stats.record(raw);
            // Everything the chip found before this command arrived goes out first: a new job
            // aborts the old one only from now on, and a register read fences earlier nonces.
            let now = Instant::now();
            let done = chain.active.as_ref().map_or(0, |a| a.done);
            emit.extend(chain.sweep(due_positions(job_start, now).min(done + slice)));
            let swept = chain.active.as_ref().map_or(done, |a| a.done) - done;
            stats.hashes.fetch_add(swept, Ordering::Relaxed);
            match cmd {
                Command::Rejected => {
                    stats.rejected.fetch_add(1, Ordering::Relaxed);
                }
                Command::Job(_) | Command::IcarusWork(_) => {
                    stats.jobs.fetch_add(1, Ordering::Relaxed);
                    *stats.last_job.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
                    job_start = now;
                }
                _ => {}
            }
            for hit in emit.drain(..) {
                faults.queue(hit, &mut out, stats);
            }
            for r in chain.command(cmd) {
                stats.register_replies.fetch_add(1, Ordering::Relaxed);
                stats
                    .nonces_at_register_reply
                    .store(stats.nonces_sent.load(Ordering::Relaxed), Ordering::Relaxed);
                replies.push(r);
            }
            *stats.chip.lock().unwrap_or_else(|e| e.into_inner()) = chain.log.clone();
            for r in replies.drain(..) {
                out.push_back(Outgoing {
                    due: Instant::now() + faults.delay,
                    bytes: r,
                });
            }
        }
        if chain.busy() {
            let mut target = due_positions(job_start, Instant::now());
            // A starved emulator falls behind its hashrate. It then runs slower, as a slow
            // stick does, rather than hashing a backlog while commands wait: a chip answers
            // register reads however busy its cores are.
            let done = chain.active.as_ref().map_or(0, |a| a.done);
            if target > done + backlog {
                let behind = target - done - backlog;
                job_start += Duration::from_secs_f64(behind as f64 / config.hashrate);
                target = done + backlog;
            }
            let done = chain.active.as_ref().map_or(0, |a| a.done);
            let before = done;
            let hits = chain.sweep(target.min(done + slice));
            let after = chain.active.as_ref().map_or(before, |a| a.done);
            stats.hashes.fetch_add(after - before, Ordering::Relaxed);
            for hit in hits {
                faults.queue(hit, &mut out, stats);
            }
            if target <= after {
                // Ahead of the hashrate: let time catch up.
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }
    Ok(())
}

fn baud_close(host: u32, chip: u32) -> bool {
    let (h, c) = (f64::from(host), f64::from(chip));
    (h - c).abs() <= 0.05 * c
}

/// Seeded fault injection on the reply path.
struct Injector {
    rng: Rng,
    garbage: f64,
    drop: f64,
    bad_crc: f64,
    wrong: f64,
    delay: Duration,
    /// Nonce replies sent, faulty or not.
    replies: u64,
}

impl Injector {
    fn new(config: &Config) -> Self {
        let mut f = Injector {
            rng: Rng(SplitMix64(config.seed)),
            garbage: 0.0,
            drop: 0.0,
            bad_crc: 0.0,
            wrong: 0.0,
            delay: Duration::ZERO,
            replies: 0,
        };
        for fault in &config.faults {
            match *fault {
                Fault::Garbage(p) => f.garbage = p,
                Fault::Drop(p) => f.drop = p,
                Fault::BadCrc(p) => f.bad_crc = p,
                Fault::WrongNonce(p) => f.wrong = p,
                Fault::Slow(d) => f.delay = d,
                Fault::Unplug(_) | Fault::Hang(_) | Fault::MissBaud(_) => {}
            }
        }
        f
    }

    fn queue(&mut self, hit: chip::Hit, out: &mut VecDeque<Outgoing>, stats: &Stats) {
        let due = Instant::now() + self.delay;
        let rng = &mut self.rng;
        if rng.chance(self.garbage) {
            let len = 1 + (rng.next() % 8) as usize;
            let junk: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            stats.garbage_sent.fetch_add(1, Ordering::Relaxed);
            out.push_back(Outgoing { due, bytes: junk });
        }
        if rng.chance(self.drop) {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut frame = hit.frame;
        let framed = frame.len() > 5;
        let mut faulty = false;
        if rng.chance(self.wrong) {
            let bit = rng.next() % 32;
            frame[hit.nonce_at + (bit / 8) as usize] ^= 1 << (bit % 8);
            if framed {
                decode::seal_reply(&mut frame);
            }
            faulty = true;
        }
        if framed && rng.chance(self.bad_crc) {
            let n = frame.len();
            frame[n - 1] ^= 1 + (rng.next() % 0x1f) as u8;
            faulty = true;
        }
        let counter = if faulty {
            &stats.faulty_sent
        } else {
            &stats.nonces_sent
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.replies += 1;
        out.push_back(Outgoing { due, bytes: frame });
    }
}
