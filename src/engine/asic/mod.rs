//! The `asic` engine: USB mining sticks (Icarus, BM1397, BM1366/68/70) driven through a thin C
//! driver, with every policy decision in Rust and every returned nonce re-hashed on the host.
//!
//! The pieces: `regs` names the registers and does the PLL and deadline arithmetic, `init`
//! lists the reference bring-up, `plan` turns a work's nonces into sweeps in the chip's own
//! order, `known` is the known-answer policy, `search` runs a search, and `port` is the thin
//! blocking shell over the serial line.
//!
//! Exactness: the chip reports only nonces whose hash clears its ticket (`ticket_bits`
//! hardwired zero bits, plus the ticket mask this engine programs from the target), so results
//! equal the portable engine's for targets at least as hard as the ticket. A sweep in which the
//! engine saw a fault (a garbled frame, a nonce that fails the re-hash) is swept again; with
//! `confirm_sweeps` on (the default) every sweep is repeated until a repeat adds nothing, so a
//! nonce a stick drops without a trace is lost only if every sweep drops it. Faults that
//! re-sweeping does not clear, and missed known answers, mark the summary incomplete.
//! Icarus sticks stop at their first nonce per work, so they find at most one result per
//! version.
//!
//! Clocks: a BM13xx stick is ramped in 6.25 MHz steps to the chip's stock clock (BM1370
//! 525 MHz, BM1397 200 MHz) unless [`Settings::frequency_mhz`] asks for another, never above
//! the highest clock the reference firmware offers. The engine writes no voltage: USB sticks
//! set theirs in hardware.

mod discover;
mod ffi;
mod init;
mod known;
mod plan;
mod port;
mod regs;
mod search;

pub use discover::{discover, Candidate};
pub use ffi::{bm1370_job, bm1397_job, command, crc16, crc5, icarus_work, Reply};

use crate::{sha256, Error, ErrorKind, Work};
use alloc::{format, string::String, vec::Vec};
use core::time::Duration;
use ffi::Scan;
use port::Session;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Control, Engine, Hits};

/// A stick's wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// Icarus / Block Erupter: 64-byte work, 4-byte nonce replies.
    Icarus,
    /// Bitmain BM1397 (GekkoScience Compac F): midstate jobs, 9-byte replies.
    Bm1397,
    /// Bitmain BM1368/BM1370 (Bitaxe, Compac A2): full-header jobs, on-chip version rolling,
    /// 11-byte replies.
    Bm1370,
}

impl Protocol {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Icarus => "icarus",
            Protocol::Bm1397 => "bm1397",
            Protocol::Bm1370 => "bm1370",
        }
    }

    /// Bytes in one reply once the chip is initialised.
    pub fn reply_len(self) -> usize {
        match self {
            Protocol::Icarus => 4,
            Protocol::Bm1397 => 9,
            Protocol::Bm1370 => 11,
        }
    }

    /// Hashes per second a typical stick of this kind does at `mhz`: ESP-Miner's small-core
    /// counts (BM1370 2040, BM1397 672) times the clock, which never overstates what the
    /// chip's sweep model (`plan`) needs.
    fn typical_hashrate(self, mhz: f64) -> f64 {
        match self {
            Protocol::Icarus => 380e6,
            Protocol::Bm1397 => 672.0 * mhz * 1e6,
            Protocol::Bm1370 => 2040.0 * mhz * 1e6,
        }
    }
}

impl core::str::FromStr for Protocol {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "icarus" => Ok(Protocol::Icarus),
            "bm1397" => Ok(Protocol::Bm1397),
            "bm1368" | "bm1370" => Ok(Protocol::Bm1370),
            _ => Err(Error::invalid(format!(
                "unknown ASIC protocol {s:?}; use icarus, bm1397 or bm1370"
            ))),
        }
    }
}

/// What [`parse_replies`] made of a byte stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Checksum-valid replies, in order.
    pub replies: Vec<Reply>,
    /// Garbage runs and frames with bad checksums that were dropped.
    pub bad: usize,
    /// Trailing bytes that may begin a reply.
    pub pending: usize,
}

/// Splits bytes a `protocol` device sent into replies, through the C parser.
pub fn parse_replies(protocol: Protocol, bytes: &[u8]) -> Parsed {
    let mut out = Parsed::default();
    let mut rest = bytes;
    loop {
        match ffi::scan(rest, protocol.reply_len()) {
            Scan::Frame(r, used) => {
                out.replies.push(r);
                rest = &rest[used..];
            }
            Scan::Bad(used) => {
                out.bad += 1;
                rest = &rest[used.min(rest.len())..];
            }
            Scan::NeedMore(used) => {
                rest = &rest[used..];
                out.pending = rest.len();
                return out;
            }
        }
        if rest.is_empty() {
            return out;
        }
    }
}

/// How the engine treats its stick. Start from [`Settings::new`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Settings {
    /// Hashes per second the stick does; jobs are timed by it, so it must not overstate.
    pub hashrate: f64,
    /// Zero bits the chips hard-wire into every reported nonce (32 on real silicon; lower on
    /// the emulator to make tests fast).
    pub ticket_bits: u32,
    /// How often to send a job whose answer is known; `None` never.
    pub known_answer_every: Option<Duration>,
    /// The BM13xx hash clock in MHz (the frequency ramp ends there).
    pub frequency_mhz: f64,
    /// The pause after each 6.25 MHz ramp step (the references wait 100 ms).
    pub ramp_pause: Duration,
    /// Clean repeats of each sweep that must add nothing before it counts as complete (0: a
    /// sweep without visible faults is trusted).
    pub confirm_sweeps: u32,
    /// Ticks each BM1370 version batch runs past its deadline before the next begins (mujina
    /// measured about 130); later batches of a job are waited for that much longer.
    pub overrun_ticks: u32,
}

impl Settings {
    /// The defaults for `protocol`: its typical hashrate at its stock clock, the silicon
    /// ticket, a known answer every 10 s, the references' 100 ms ramp, one confirming sweep.
    pub fn new(protocol: Protocol) -> Self {
        let mhz = regs::stock_mhz(protocol);
        Settings {
            hashrate: protocol.typical_hashrate(mhz),
            ticket_bits: 32,
            known_answer_every: Some(Duration::from_secs(10)),
            frequency_mhz: mhz,
            ramp_pause: Duration::from_millis(100),
            confirm_sweeps: 1,
            overrun_ticks: 130,
        }
    }
}

/// Counters over the engine's life, for checking that no reply goes unaccounted.
#[derive(Debug, Default)]
pub struct Stats {
    /// Checksum-valid nonce replies received.
    pub nonce_replies: AtomicU64,
    /// Results delivered.
    pub found: AtomicU64,
    /// Verified nonces that missed the work's target.
    pub filtered: AtomicU64,
    /// Verified nonces outside the work (the chip swept past the range).
    pub overruns: AtomicU64,
    /// Verified nonces already delivered (re-sweeps, BM1370 version batches).
    pub duplicates: AtomicU64,
    /// Nonces that failed the host re-hash, or named no known job.
    pub invalid: AtomicU64,
    /// Garbage runs and frames with bad checksums.
    pub bad_frames: AtomicU64,
    /// Known-answer jobs answered / missed.
    pub known_answers: AtomicU64,
    /// See [`Stats::known_answers`].
    pub known_answers_missed: AtomicU64,
    /// Known answers that came after their deadline (counted as missed too): the stick is
    /// slower than configured, and sweeps after it are given more time.
    pub late_known_answers: AtomicU64,
    /// Sweeps repeated (faults seen, or confirmation).
    pub resweeps: AtomicU64,
    /// Sweeps whose faults repeated sweeping did not clear.
    pub unresolved: AtomicU64,
    /// Sweeps that ended with no reply from their tail where several were due: the stick
    /// was slower than configured, and the sweep was repeated with more time.
    pub short_sweeps: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The lowest and highest hashrate the engine accepts: below it a single job would take
/// days; above it no stick exists.
const HASHRATE_RANGE: (f64, f64) = (1e3, 1e16);

/// The `asic` engine.
pub struct AsicEngine {
    path: String,
    protocol: Protocol,
    settings: Settings,
    stats: Stats,
    session: Mutex<Option<Session>>,
}

/// cgminer's Icarus detection work, already in wire order; answered by counter 0x000187a2.
const ICARUS_GOLDEN: &str = "4679ba4ec99876bf4bfe086082b400254df6c356451471139a3afa71e48f544a\
                             0000000000000000000000000000000000000000\
                             87320b1a1426674f2fa722ce";
const ICARUS_GOLDEN_COUNTER: u32 = 0x0001_87a2;

impl AsicEngine {
    /// An engine for the stick at `path`. Nothing is sent until the first search.
    pub fn new(path: &str, protocol: Protocol, settings: Settings) -> Result<Self, Error> {
        let (lo, hi) = HASHRATE_RANGE;
        if !(lo..=hi).contains(&settings.hashrate) {
            return Err(Error::invalid(format!(
                "the ASIC hashrate must be between {lo:e} and {hi:e} hashes per second, not {}",
                settings.hashrate
            )));
        }
        if !(1..=64).contains(&settings.ticket_bits) {
            return Err(Error::invalid("ASIC ticket bits must be 1..=64"));
        }
        if protocol != Protocol::Icarus {
            let f = settings.frequency_mhz;
            let max = regs::max_mhz(protocol);
            if !(regs::POWER_ON_MHZ..=max).contains(&f) {
                return Err(Error::invalid(format!(
                    "a {} clock of {f} MHz is outside {}..={max} MHz, the range the reference \
                     firmware drives the chip in",
                    protocol.name(),
                    regs::POWER_ON_MHZ
                )));
            }
        }
        if settings.ramp_pause > Duration::from_secs(10) {
            return Err(Error::invalid("the ramp pause must be at most 10 s"));
        }
        if std::fs::metadata(path).is_err() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("no device at {path}"),
            ));
        }
        Ok(AsicEngine {
            path: String::from(path),
            protocol,
            settings,
            stats: Stats::default(),
            session: Mutex::new(None),
        })
    }

    /// Counters since the engine was made.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
}

/// Opens the engine from generic options (the `open("asic", ..)` path).
pub(crate) fn open(options: &super::Options) -> Result<AsicEngine, Error> {
    let (Some(device), Some(protocol)) = (&options.asic_device, &options.asic_protocol) else {
        let mut msg = String::from(
            "the asic engine needs a device path and a protocol (icarus, bm1397 or bm1370)",
        );
        for c in &discover() {
            msg.push_str(&format!(
                "; found {} ({:04x}:{:04x}, {})",
                c.path, c.usb_id.0, c.usb_id.1, c.guess
            ));
        }
        return Err(Error::new(ErrorKind::Unavailable, msg));
    };
    let protocol: Protocol = protocol.parse()?;
    let mut settings = Settings::new(protocol);
    if let Some(f) = options.asic_frequency_mhz {
        settings.frequency_mhz = f;
        settings.hashrate = protocol.typical_hashrate(f);
    }
    if let Some(h) = options.asic_hashrate {
        settings.hashrate = h;
    }
    if let Some(z) = options.asic_ticket_bits {
        settings.ticket_bits = z;
    }
    settings.known_answer_every = match options.asic_known_answer_every {
        Some(d) if d.is_zero() => None,
        Some(d) => Some(d),
        None => settings.known_answer_every,
    };
    AsicEngine::new(device, protocol, settings)
}

impl Engine for AsicEngine {
    fn name(&self) -> &'static str {
        "asic"
    }

    fn describe(&self) -> String {
        let chain = self
            .session
            .lock()
            .map(|s| s.as_ref().map_or_else(String::new, |s| s.describe_chips()))
            .unwrap_or_default();
        let rate = self.settings.hashrate;
        // In the unit that fits it: an emulated stick's kilohashes read as such, not 0.000 GH/s.
        let (scale, prefix) = [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]
            .into_iter()
            .find(|(scale, _)| rate >= *scale)
            .unwrap_or((1.0, ""));
        format!(
            "{} stick on {}{chain}, {:.3} {prefix}H/s, ticket {} bits",
            self.protocol.name(),
            self.path,
            rate / scale,
            self.settings.ticket_bits
        )
    }

    fn versions_per_pass(&self) -> u32 {
        match self.protocol {
            Protocol::Bm1370 => regs::BM1370_BATCH as u32,
            Protocol::Bm1397 => 4,
            Protocol::Icarus => 1,
        }
    }

    fn threads(&self) -> usize {
        0
    }

    fn run(&self, work: &Work, ctl: &Control, hits: &mut Hits<'_>) -> Result<(), Error> {
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(Session::open(&self.path, self.protocol, &self.settings)?);
        }
        let session = guard.as_mut().expect("the session was opened just above");
        let result = search::Search::new(session, &self.settings, &self.stats, work).run(ctl, hits);
        if result.is_err() {
            // Start from a fresh open and bring-up next time: the link state is unknown.
            *guard = None;
        }
        result
    }
}

/// The golden work as (midstate words, header bytes 64..76, wire packet).
fn icarus_golden() -> ([u32; 8], [u8; 12], [u8; 64]) {
    let g = crate::hex::decode(ICARUS_GOLDEN).expect("ICARUS_GOLDEN is 128 hex digits");
    let mut wire = [0u8; 64];
    wire.copy_from_slice(&g);
    let mut mid = [0u32; 8];
    for (i, c) in wire[..32].chunks_exact(4).enumerate() {
        mid[7 - i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    let mut rest = [0u8; 12];
    rest[..4].copy_from_slice(&wire[60..64]);
    rest[4..8].copy_from_slice(&wire[56..60]);
    rest[8..].copy_from_slice(&wire[52..56]);
    (mid, rest, wire)
}

/// Top 32 hash bits of a header known only by its midstate and bytes 64..76.
fn top_from_midstate(mid: &[u32; 8], rest: &[u8; 12], nonce: u32) -> u32 {
    let mut tail = [0u8; 16];
    tail[..12].copy_from_slice(rest);
    tail[12..].copy_from_slice(&nonce.to_le_bytes());
    sha256::top_word(&sha256::sha256d_from_midstate(mid, &tail))
}
