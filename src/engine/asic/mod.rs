//! The `asic` engine: USB mining sticks (Icarus, BM1397, BM1366/68/70) driven through a thin C
//! driver, with every policy decision here and every returned nonce re-hashed on the host.
//!
//! How a [`Work`] becomes chip jobs: a chip counts the big-endian reading of the nonce bytes
//! (the "counter"), so consecutive Bitcoin nonces lie 2^24 counters apart. A small range is
//! swept as one job per run of adjacent counters, merged into longer sweeps where hashing the
//! gaps is cheaper than another job; a large range is swept whole. Nonces a sweep finds outside
//! the range are verified and dropped. Versions go four midstates per job on BM1397,
//! and on chip (register 0xA4) on BM1370 when the rolling mask lies inside BIP320's
//! `1fffe000`. Jobs are timed by the configured hashrate: a chip gives no "done" signal, so the
//! next job is sent once the current window has certainly been swept, and a register read (a
//! fence: the chip answers it after every nonce found before it) closes each search. Known-answer
//! jobs start a little before their answer, so a stick slower than its configured hashrate is
//! caught (it answers late) instead of silently losing the ends of its sweeps.
//!
//! Exactness: the chip reports only nonces whose hash clears its ticket (`ticket_bits` hardwired
//! zero bits, plus the ticket mask this engine programs from the target), so results equal the
//! portable engine's for targets at least as hard as the ticket. Icarus sticks stop at their
//! first nonce per work, so they find at most one result per version.

mod ffi;

pub use ffi::{bm1370_job, bm1397_job, command, crc16, crc5, icarus_work, Reply};

use crate::{sha256, Error, ErrorKind, Work};
use alloc::{format, string::String, vec, vec::Vec};
use core::time::Duration;
use ffi::{Port, Scan};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use super::{Control, Engine, Hits, Offer};

/// A stick's wire protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

    /// Hashes per second a typical stick of this kind does.
    fn typical_hashrate(self) -> f64 {
        match self {
            Protocol::Icarus => 380e6,
            // 672 cores at the 200 MHz the init sequence programs.
            Protocol::Bm1397 => 134.4e9,
            Protocol::Bm1370 => 1.0e12,
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

/// A serial device that may be a mining stick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The tty path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// USB vendor and product id.
    pub usb_id: (u16, u16),
    /// What sticks use that id, and with which protocol.
    pub guess: &'static str,
}

/// USB ids of the bridges known sticks sit behind.
const KNOWN_IDS: &[(u16, u16, &str)] = &[
    (0x067b, 0x2303, "Icarus (PL2303): --protocol icarus"),
    (
        0x10c4,
        0xea60,
        "Block Erupter / Antminer U1-U3 (CP2102): --protocol icarus",
    ),
    (
        0x0403,
        0x6015,
        "GekkoScience Compac F / R909, BM1397 (FT230X): --protocol bm1397",
    ),
    (
        0x10c4,
        0xea70,
        "GekkoScience Compac A2, BM1370 (CP2105): --protocol bm1370",
    ),
    (0x0403, 0x6001, "Lancelot (FT232R): --protocol icarus"),
    (0x0403, 0x6014, "Cairnsmore1 (FTDI)"),
    (0x0403, 0x8350, "Cairnsmore2 (FTDI)"),
    (0x1a86, 0x7523, "CH340 serial bridge"),
    (0x1a86, 0x5523, "CH341 serial bridge"),
    (0x1a86, 0x7522, "CH340 serial bridge"),
];

/// Serial devices whose USB ids match a known stick, or whose USB strings say Bitaxe.
pub fn discover() -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/class/tty") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(mut dir) = std::fs::canonicalize(entry.path().join("device")) else {
            continue;
        };
        // idVendor sits on the USB device, a few levels above the interface the tty hangs off.
        for _ in 0..4 {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            let hex = |f: &str| read(f).and_then(|s| u16::from_str_radix(s.trim(), 16).ok());
            if let (Some(v), Some(p)) = (hex("idVendor"), hex("idProduct")) {
                let product = read("product").unwrap_or_default();
                let guess = KNOWN_IDS
                    .iter()
                    .find(|k| k.0 == v && k.1 == p)
                    .map(|k| k.2)
                    .or_else(|| {
                        product
                            .contains("Bitaxe")
                            .then_some("Bitaxe (bitaxe-raw): --protocol bm1370 on its second port")
                    });
                if let Some(guess) = guess {
                    out.push(Candidate {
                        path: format!("/dev/{name}"),
                        usb_id: (v, p),
                        guess,
                    });
                }
                break;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// How the engine treats its stick.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Hashes per second the stick does; jobs are timed by it, so it must not overstate.
    pub hashrate: f64,
    /// Zero bits the chips hard-wire into every reported nonce (32 on real silicon; lower on
    /// the emulator to make tests fast).
    pub ticket_bits: u32,
    /// How often to send a job whose answer is known; `None` never.
    pub known_answer_every: Option<Duration>,
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
    /// Verified nonces already delivered (BM1370 re-sweeps its versions).
    pub duplicates: AtomicU64,
    /// Nonces that failed the host re-hash, or named no known job.
    pub invalid: AtomicU64,
    /// Garbage runs and frames with bad checksums.
    pub bad_frames: AtomicU64,
    /// Known-answer jobs answered / missed.
    pub known_answers: AtomicU64,
    /// See [`Stats::known_answers`].
    pub known_answers_missed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// The `asic` engine.
pub struct AsicEngine {
    path: String,
    protocol: Protocol,
    settings: Settings,
    stats: Stats,
    session: Mutex<Option<Session>>,
}

/// Genesis: the known-answer header for BM13xx chips (43 zero bits, so it clears any ticket up
/// to that).
const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000\
                       000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa\
                       4b1e5e4a29ab5f49ffff001d1dac2b7c";
const GENESIS_ZERO_BITS: u32 = 43;
/// cgminer's Icarus detection work, already in wire order; answered by counter 0x000187a2.
const ICARUS_GOLDEN: &str = "4679ba4ec99876bf4bfe086082b400254df6c356451471139a3afa71e48f544a\
                             0000000000000000000000000000000000000000\
                             87320b1a1426674f2fa722ce";
const ICARUS_GOLDEN_COUNTER: u32 = 0x0001_87a2;
const ICARUS_GOLDEN_ZERO_BITS: u32 = 53;

/// Longest a chip may take to answer a register read before it counts as gone.
const FENCE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a long job is interrupted by a register read to prove the chips still answer.
const KEEPALIVE: Duration = Duration::from_millis(500);
/// Time beyond the nominal sweep a job is given: serial latency and scheduling.
const SLACK: Duration = Duration::from_millis(15);
/// Hashing a known-answer job asks of the stick at the configured hashrate.
const RATE_CHECK: Duration = Duration::from_millis(20);
/// How long a known answer may come late before it counts as missed.
const LATE_GRACE: Duration = Duration::from_secs(1);
/// Known-answer misses in a row that end the search with an error.
const MAX_KNOWN_ANSWER_MISSES: u32 = 3;

impl AsicEngine {
    /// An engine for the stick at `path`. Nothing is sent until the first search.
    pub fn new(path: &str, protocol: Protocol, settings: Settings) -> Result<Self, Error> {
        if !(settings.hashrate > 0.0 && settings.hashrate.is_finite()) {
            return Err(Error::invalid(
                "the ASIC hashrate must be a positive number",
            ));
        }
        if !(1..=64).contains(&settings.ticket_bits) {
            return Err(Error::invalid("ASIC ticket bits must be 1..=64"));
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
        let found = discover();
        let mut msg = String::from("needs --device PATH and --protocol icarus|bm1397|bm1370");
        for c in &found {
            msg.push_str(&format!(
                "; found {} ({:04x}:{:04x}, {})",
                c.path, c.usb_id.0, c.usb_id.1, c.guess
            ));
        }
        return Err(Error::new(ErrorKind::Unavailable, msg));
    };
    let protocol: Protocol = protocol.parse()?;
    AsicEngine::new(
        device,
        protocol,
        Settings {
            hashrate: options
                .asic_hashrate
                .unwrap_or_else(|| protocol.typical_hashrate()),
            ticket_bits: options.asic_ticket_bits.unwrap_or(32),
            known_answer_every: match options.asic_known_answer_every {
                Some(d) if d.is_zero() => None,
                Some(d) => Some(d),
                None => Some(Duration::from_secs(10)),
            },
        },
    )
}

impl Engine for AsicEngine {
    fn name(&self) -> &'static str {
        "asic"
    }

    fn describe(&self) -> String {
        let chips = self
            .session
            .lock()
            .map(|s| s.as_ref().map_or(0, |s| s.chips))
            .unwrap_or(0);
        let chain = if chips > 0 {
            format!(", {chips} chip(s)")
        } else {
            String::new()
        };
        format!(
            "{} stick on {}{chain}, {:.3} GH/s, ticket {} bits",
            self.protocol.name(),
            self.path,
            self.settings.hashrate / 1e9,
            self.settings.ticket_bits
        )
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
        let result = Search::new(session, &self.settings, &self.stats, work).run(ctl, hits);
        if result.is_err() {
            // Start from a fresh open and init next time: the link state is unknown.
            *guard = None;
        }
        result
    }
}

fn leading_zero_bits(le: &[u8; 32]) -> u32 {
    let mut n = 0;
    for b in le.iter().rev() {
        n += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    n
}

fn limit_for(zero_bits: u32) -> u32 {
    if zero_bits >= 32 {
        0
    } else {
        u32::MAX >> zero_bits
    }
}

/// A run of chip counters one job sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start: u32,
    len: u64,
    /// Counters in the window that are nonces of the work, for progress.
    covered: u64,
}

/// Ranges longer than this are swept whole: they hold every low nonce byte, so their counters
/// span nearly all of 2^32 anyway.
const MAX_PLANNED_NONCES: u64 = 1 << 16;

/// The counter windows that cover a range of Bitcoin nonces on a chip hashing `per_counter`
/// positions per counter at `hashrate`, in counter order.
///
/// Consecutive nonces are 2^24 counters apart (the counter is the nonce byte-swapped), so a
/// small range is a scatter of counters: one window spanning them would sweep almost the whole
/// space. Each run of adjacent counters gets its own job instead, and runs are merged only
/// where hashing the gap costs less than starting another job.
fn counter_windows(range: core::ops::Range<u64>, per_counter: u64, hashrate: f64) -> Vec<Window> {
    let total = range.end.saturating_sub(range.start);
    if total == 0 {
        return Vec::new();
    }
    if total > MAX_PLANNED_NONCES {
        return vec![Window {
            start: 0,
            len: 1 << 32,
            covered: total,
        }];
    }
    let mut counters: Vec<u32> = range.map(|n| (n as u32).swap_bytes()).collect();
    counters.sort_unstable();
    let worth_a_job = SLACK.as_secs_f64() * hashrate / per_counter.max(1) as f64;
    let mut out: Vec<Window> = Vec::new();
    for c in counters {
        if let Some(w) = out.last_mut() {
            let end = u64::from(w.start) + w.len;
            let gap = u64::from(c) - end;
            if (gap as f64) < worth_a_job {
                w.len += gap + 1;
                w.covered += 1;
                continue;
            }
        }
        out.push(Window {
            start: c,
            len: 1,
            covered: 1,
        });
    }
    out
}

/// One job in flight on the chain.
#[derive(Clone)]
struct Job {
    /// The header, version field aside.
    header: [u8; 80],
    /// Versions the reply's midstate index (BM1397) selects, or the single version.
    versions: Vec<u32>,
    /// BM1370: the version bits the reply carries are ORed into this.
    base_version: u32,
    /// Icarus golden work: verify against this midstate and tail instead of `header`.
    golden: Option<([u32; 8], [u8; 12])>,
    /// Set for known-answer jobs.
    known: Option<Known>,
}

#[derive(Clone, Copy)]
struct Known {
    /// The nonce the job must return (`None`: any verified nonce will do).
    nonce: Option<u32>,
    answered: bool,
}

struct Session {
    port: Port,
    protocol: Protocol,
    rx: Vec<u8>,
    chips: usize,
    ticket_mask_bits: Option<u32>,
    version_mask: Option<u32>,
    window: Option<u32>,
    next_id: usize,
    /// Jobs by id. Kept across searches: a chip keeps sweeping its last job until replaced,
    /// and its late replies must still verify (as overruns), not count as hardware errors.
    slots: Vec<Option<Job>>,
    last_known_answer: Option<Instant>,
    known_answer_misses: u32,
    /// Whether the stick has answered a known-answer job since it was opened.
    known_answer_passed: bool,
}

/// One scanned unit of device input.
enum Frame {
    Reply(Reply),
    Bad,
}

fn write_all(reg: u8, value: u32) -> Vec<u8> {
    let v = value.to_be_bytes();
    command(0x51, &[0, reg, v[0], v[1], v[2], v[3]])
}

/// The ticket-mask register value for `n` extra zero bits: 2^n - 1 with each byte's bits
/// reversed.
fn ticket_mask(n: u32) -> u32 {
    let m = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    u32::from_be_bytes(m.to_be_bytes().map(u8::reverse_bits))
}

impl Session {
    fn open(path: &str, protocol: Protocol, settings: &Settings) -> Result<Session, Error> {
        let port = Port::open(path, 115_200)?;
        let mut s = Session {
            port,
            protocol,
            rx: Vec::new(),
            chips: 0,
            ticket_mask_bits: None,
            version_mask: None,
            window: None,
            next_id: 0,
            slots: vec![
                None;
                match protocol {
                    Protocol::Icarus => 1,
                    Protocol::Bm1397 => 32,
                    Protocol::Bm1370 => 16,
                }
            ],
            last_known_answer: None,
            known_answer_misses: 0,
            known_answer_passed: false,
        };
        match protocol {
            Protocol::Icarus => {
                s.detect_icarus(settings)?;
                s.chips = 1;
            }
            Protocol::Bm1397 | Protocol::Bm1370 => s.init_bm13xx(path)?,
        }
        Ok(s)
    }

    fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        self.port.write_all(bytes, 1000)
    }

    fn read_frames(&mut self, timeout: Duration) -> Result<Vec<Frame>, Error> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        self.port.read_into(&mut self.rx, 4096, ms)?;
        let mut out = Vec::new();
        let mut used = 0;
        loop {
            match ffi::scan(&self.rx[used..], self.protocol.reply_len()) {
                Scan::Frame(r, n) => {
                    out.push(Frame::Reply(r));
                    used += n;
                }
                Scan::Bad(n) => {
                    out.push(Frame::Bad);
                    used += n;
                }
                Scan::NeedMore(n) => {
                    used += n;
                    break;
                }
            }
            if used >= self.rx.len() {
                break;
            }
        }
        self.rx.drain(..used.min(self.rx.len()));
        Ok(out)
    }

    /// Broadcasts a chip-id read and counts the answers of `chip_id` chips.
    fn count_chips(&mut self, chip_id: u32) -> Result<usize, Error> {
        self.send(&command(0x52, &[0, 0]))?;
        let started = Instant::now();
        let mut last = None::<Instant>;
        let mut chips = 0;
        // Chips answer back to back; stop after 100 ms of quiet, or 1 s if none answers.
        while started.elapsed() < Duration::from_secs(1)
            && last.is_none_or(|t| t.elapsed() < Duration::from_millis(100))
        {
            for f in self.read_frames(Duration::from_millis(20))? {
                if let Frame::Reply(Reply::Register {
                    value, register: 0, ..
                }) = f
                {
                    if value >> 16 == chip_id {
                        chips += 1;
                        last = Some(Instant::now());
                    }
                }
            }
        }
        Ok(chips)
    }

    fn init_bm13xx(&mut self, path: &str) -> Result<(), Error> {
        let bm1370 = self.protocol == Protocol::Bm1370;
        let chip_id = if bm1370 { 0x1370 } else { 0x1397 };
        self.port.flush()?;
        let pause = || std::thread::sleep(Duration::from_millis(10));
        if bm1370 {
            // Writing 0xA4 switches replies to 11 bytes, which is what this parser expects.
            for _ in 0..3 {
                self.send(&write_all(0xa4, 0x9000_ffff))?;
            }
            self.version_mask = Some(0xffff);
        }
        let host_baud = if bm1370 { 1_041_667 } else { 1_562_500 };
        let mut chips = self.count_chips(chip_id)?;
        if chips == 0 {
            // A stick an earlier run initialised stays at the fast rate until power-cycled.
            self.port.set_baud(host_baud)?;
            chips = self.count_chips(chip_id)?;
        }
        if chips == 0 {
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "no {} chip answered the chip-id read at 115200 or {host_baud} baud on {}: \
                     wrong --protocol, or no stick there",
                    self.protocol.name(),
                    path
                ),
            ));
        }
        self.chips = chips;
        if bm1370 {
            self.send(&write_all(0xa8, 0x0007_0000))?;
            self.send(&write_all(0x18, 0xf000_c100))?;
        }
        for _ in 0..3 {
            self.send(&command(0x53, &[0, 0]))?;
            pause();
        }
        let interval = 256 / chips;
        for i in 0..chips {
            self.send(&command(0x40, &[(i * interval) as u8, 0]))?;
        }
        let (baud_reg, baud_value) = if bm1370 {
            for (reg, v) in [
                (0x3c, 0x8000_8b00),
                (0x3c, 0x8000_800c),
                (0x58, 0x0001_1111),
                (0x54, 0x0000_0002),
                (0xb9, 0x0000_4480),
                (0x3c, 0x8000_8dee),
                // 525 MHz: FBDIV 0xA8, REFDIV 2, post dividers 2 and 1 stored minus one.
                (0x08, 0x40a8_0210),
            ] {
                self.send(&write_all(reg, v))?;
            }
            (0x28, 0x1130_0200)
        } else {
            for (reg, v) in [
                (0x80, 0),
                (0x84, 0),
                (0x20, 1),
                (0x3c, 0x8000_8074),
                (0x68, 0xc070_0111),
                (0x68, 0xc070_0111),
                (0x28, 0x0600_000f),
            ] {
                self.send(&write_all(reg, v))?;
            }
            (0x18, 0x0000_6131)
        };
        self.send(&write_all(baud_reg, baud_value))?;
        // The chip switches once the write is in; give it the time a real UART would.
        pause();
        self.port.set_baud(host_baud)?;
        if bm1370 {
            self.send(&write_all(0xa4, 0x9000_ffff))?;
        } else {
            // 200 MHz, gekko's default: the pre-divider first, then PLL0.
            self.send(&write_all(0x70, 0x0f0f_0f00))?;
            self.send(&write_all(0x08, 0x40f0_0235))?;
        }
        let again = self.count_chips(chip_id)?;
        if again != chips {
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "{chips} chip(s) answered at 115200 baud but {again} at {host_baud}: the \
                     baud change failed"
                ),
            ));
        }
        Ok(())
    }

    /// cgminer's detection handshake: the golden work must come back, verified, in time.
    fn detect_icarus(&mut self, settings: &Settings) -> Result<(), Error> {
        let (mid, rest, wire) = icarus_golden();
        let limit = limit_for(settings.ticket_bits);
        let sweep = f64::from(ICARUS_GOLDEN_COUNTER) * 1.5 / settings.hashrate;
        let wait = Duration::from_millis(300)
            .max(Duration::from_secs_f64(sweep.min(60.0)) + Duration::from_millis(100));
        for _ in 0..2 {
            self.port.flush()?;
            self.rx.clear();
            self.send(&wire)?;
            let until = Instant::now() + wait;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                for f in self.read_frames(left.min(Duration::from_millis(50)))? {
                    if let Frame::Reply(Reply::Nonce { wire, .. }) = f {
                        if top_from_midstate(&mid, &rest, u32::from_le_bytes(wire)) <= limit {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Err(Error::new(
            ErrorKind::Device,
            format!(
                "no Icarus stick answered the detection work within {} ms, twice",
                wait.as_millis()
            ),
        ))
    }

    fn set_register(&mut self, reg: u8, value: u32) -> Result<(), Error> {
        self.send(&write_all(reg, value))
    }
}

/// One search on an open session.
struct Search<'a> {
    s: &'a mut Session,
    settings: &'a Settings,
    stats: &'a Stats,
    work: &'a Work,
    /// Ticket limit for offers: the top 32 bits every reported nonce must clear.
    limit: u32,
    /// Total zero bits the chips require now.
    need: u32,
    delivered: HashSet<(u32, u32)>,
    fence_sent: Option<Instant>,
    last_answer: Instant,
}

impl<'a> Search<'a> {
    fn new(s: &'a mut Session, settings: &'a Settings, stats: &'a Stats, work: &'a Work) -> Self {
        Search {
            s,
            settings,
            stats,
            work,
            limit: 0,
            need: 0,
            delivered: HashSet::new(),
            fence_sent: None,
            last_answer: Instant::now(),
        }
    }

    fn run(mut self, ctl: &Control, hits: &mut Hits<'_>) -> Result<(), Error> {
        self.s.port.flush()?;
        self.s.rx.clear();
        let target_bits = leading_zero_bits(&self.work.target().to_le_bytes());
        let z = self.settings.ticket_bits;
        let extra = match self.s.protocol {
            Protocol::Icarus => 0,
            _ => target_bits.saturating_sub(z).min(32),
        };
        self.need = z + extra;
        self.limit = limit_for(self.need);
        if self.s.protocol != Protocol::Icarus && self.s.ticket_mask_bits != Some(extra) {
            self.s.set_register(0x14, ticket_mask(extra))?;
            self.s.ticket_mask_bits = Some(extra);
        }
        if self.work.nonces().is_empty() {
            return Ok(());
        }
        let rolls = self.work.rolls();
        let rate = self.settings.hashrate;
        match self.s.protocol {
            Protocol::Bm1397 => {
                let mut k = 0;
                while k < rolls && !ctl.is_cancelled() {
                    let n = (rolls - k).min(4);
                    let versions: Vec<u32> = (k..k + n).map(|i| self.work.version(i)).collect();
                    let header = self.work.header_bytes(versions[0], 0);
                    let mids: Vec<[u32; 8]> = versions
                        .iter()
                        .map(|&v| sha256::Prehash::new(&self.work.header_bytes(v, 0)).midstate)
                        .collect();
                    for w in counter_windows(self.work.nonces(), n, rate) {
                        if ctl.is_cancelled() {
                            break;
                        }
                        self.maybe_known_answer(hits)?;
                        let id = self.take_slot(Job {
                            header,
                            versions: versions.clone(),
                            base_version: 0,
                            golden: None,
                            known: None,
                        });
                        let frame = ffi::bm1397_job((id * 4) as u8, w.start, &header, &mids);
                        self.run_job(&frame, w.len * n, ctl, hits)?;
                        ctl.add_hashes(w.covered * n);
                    }
                    k += n;
                }
            }
            Protocol::Bm1370 => {
                let mask = self.work.version_mask();
                let on_chip = rolls > 1 && mask & !0x1fff_e000 == 0;
                let chip_mask = if on_chip { mask >> 13 } else { 0 };
                if self.s.version_mask != Some(chip_mask) {
                    self.s.set_register(0xa4, 0x9000_0000 | chip_mask)?;
                    self.s.version_mask = Some(chip_mask);
                }
                let jobs: Vec<(u32, u64)> = if on_chip {
                    vec![(self.work.header().version & !mask, rolls)]
                } else {
                    (0..rolls).map(|k| (self.work.version(k), 1)).collect()
                };
                for (version, count) in jobs {
                    let header = self.work.header_bytes(version, 0);
                    for w in counter_windows(self.work.nonces(), count, rate) {
                        if ctl.is_cancelled() {
                            break;
                        }
                        self.maybe_known_answer(hits)?;
                        self.set_window(w.len)?;
                        let id = self.take_slot(Job {
                            header,
                            versions: vec![version],
                            base_version: version,
                            golden: None,
                            known: None,
                        });
                        let frame = ffi::bm1370_job((id << 3) as u8, w.start, &header);
                        self.run_job(&frame, w.len * count, ctl, hits)?;
                        ctl.add_hashes(w.covered * count);
                    }
                }
            }
            Protocol::Icarus => {
                // The stick always counts from 0, so the last window's end is how far it must
                // get; it stops at its first nonce, usually long before.
                let end = counter_windows(self.work.nonces(), 1, rate)
                    .last()
                    .map_or(0, |w| u64::from(w.start) + w.len);
                let range_len = self.work.nonces().end - self.work.nonces().start;
                for k in 0..rolls {
                    if ctl.is_cancelled() {
                        break;
                    }
                    self.maybe_known_answer(hits)?;
                    let version = self.work.version(k);
                    let header = self.work.header_bytes(version, 0);
                    let mid = sha256::Prehash::new(&header).midstate;
                    self.take_slot(Job {
                        header,
                        versions: vec![version],
                        base_version: version,
                        golden: None,
                        known: None,
                    });
                    let frame = ffi::icarus_work(&mid, &header, 0);
                    self.s.port.flush()?;
                    self.s.rx.clear();
                    self.run_job(&frame, end, ctl, hits)?;
                    ctl.add_hashes(range_len);
                }
            }
        }
        self.sync(hits)
    }

    /// Programs the emulated chip's counter window (register 0x10; 0 means all 2^32).
    fn set_window(&mut self, len: u64) -> Result<(), Error> {
        let window = if len >= 1 << 32 { 0 } else { len as u32 };
        if self.s.window != Some(window) {
            self.s.set_register(0x10, window)?;
            self.s.window = Some(window);
        }
        Ok(())
    }

    fn take_slot(&mut self, job: Job) -> usize {
        let id = self.s.next_id % self.s.slots.len();
        self.s.next_id = (id + 1) % self.s.slots.len();
        self.s.slots[id] = Some(job);
        id
    }

    /// Sends a job and services replies until the chips have swept `positions`.
    fn run_job(
        &mut self,
        frame: &[u8],
        positions: u64,
        ctl: &Control,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let sweep = Duration::from_secs_f64(positions as f64 / self.settings.hashrate * 1.1);
        self.s.send(frame)?;
        let deadline = Instant::now() + sweep.min(Duration::from_secs(1 << 40)) + SLACK;
        let mut icarus_done = false;
        while Instant::now() < deadline && !ctl.is_cancelled() && !icarus_done {
            if self.s.protocol != Protocol::Icarus {
                self.keepalive()?;
            }
            let wait = deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(50));
            icarus_done = self.pump(wait, hits)? && self.s.protocol == Protocol::Icarus;
        }
        Ok(())
    }

    /// Proves the chips still answer: a register read every KEEPALIVE, each answered within
    /// FENCE_TIMEOUT.
    fn keepalive(&mut self) -> Result<(), Error> {
        self.check_fence()?;
        if self.fence_sent.is_none() && self.last_answer.elapsed() >= KEEPALIVE {
            self.send_fence()?;
        }
        Ok(())
    }

    fn check_fence(&self) -> Result<(), Error> {
        match self.fence_sent {
            Some(t) if t.elapsed() > FENCE_TIMEOUT => Err(Error::new(
                ErrorKind::Device,
                format!(
                    "the stick stopped answering: no reply to a register read within {} s",
                    FENCE_TIMEOUT.as_secs()
                ),
            )),
            _ => Ok(()),
        }
    }

    fn send_fence(&mut self) -> Result<(), Error> {
        self.s.send(&command(0x42, &[0, 0]))?;
        self.fence_sent = Some(Instant::now());
        Ok(())
    }

    /// Waits for every nonce found so far: a register read is answered after them.
    fn sync(&mut self, hits: &mut Hits<'_>) -> Result<(), Error> {
        if self.s.protocol == Protocol::Icarus {
            let until = Instant::now() + Duration::from_millis(50);
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                self.pump(left, hits)?;
            }
            return Ok(());
        }
        // A read already out may have left before the last job's nonces were found: let it
        // land, then send the one that fences.
        for fresh in [false, true] {
            if fresh {
                self.send_fence()?;
            }
            while self.fence_sent.is_some() {
                self.check_fence()?;
                self.pump(Duration::from_millis(50), hits)?;
            }
        }
        Ok(())
    }

    /// Reads and handles replies for up to `wait`; returns whether a nonce arrived.
    fn pump(&mut self, wait: Duration, hits: &mut Hits<'_>) -> Result<bool, Error> {
        let mut nonce = false;
        for f in self.s.read_frames(wait)? {
            match f {
                Frame::Bad => {
                    bump(&self.stats.bad_frames);
                    hits.hardware_error();
                }
                Frame::Reply(Reply::Register { .. }) => {
                    self.fence_sent = None;
                    self.last_answer = Instant::now();
                }
                Frame::Reply(Reply::Nonce {
                    wire,
                    b7,
                    version_bits,
                    ..
                }) => {
                    nonce = true;
                    bump(&self.stats.nonce_replies);
                    self.nonce(wire, b7, version_bits, hits)?;
                }
            }
        }
        Ok(nonce)
    }

    fn nonce(
        &mut self,
        wire: [u8; 4],
        b7: u8,
        version_bits: u16,
        hits: &mut Hits<'_>,
    ) -> Result<(), Error> {
        let nonce = u32::from_le_bytes(wire);
        let (slot, first) = match self.s.protocol {
            Protocol::Icarus => (0, 0),
            Protocol::Bm1397 => (usize::from(b7 >> 2) & 31, usize::from(b7 & 3)),
            Protocol::Bm1370 => (usize::from(b7 >> 4), 0),
        };
        let Some(job) = self.s.slots.get_mut(slot).and_then(Option::as_mut) else {
            bump(&self.stats.invalid);
            hits.hardware_error();
            return Ok(());
        };
        let candidates: Vec<u32> = match self.s.protocol {
            Protocol::Bm1370 => vec![job.base_version | (u32::from(version_bits) << 13)],
            // Try the midstate the reply names first, then the job's others: decoders
            // disagree on where the index lives.
            _ => {
                let n = job.versions.len();
                (0..n).map(|i| job.versions[(first + i) % n]).collect()
            }
        };
        let limit = self.limit;
        let verified = candidates.into_iter().find(|&v| {
            let top = match &job.golden {
                Some((mid, rest)) => top_from_midstate(mid, rest, nonce),
                None => {
                    let mut h = job.header;
                    h[..4].copy_from_slice(&v.to_le_bytes());
                    h[76..].copy_from_slice(&nonce.to_le_bytes());
                    sha256::top_word(&sha256::sha256d_header(&h))
                }
            };
            top <= limit
        });
        let Some(version) = verified else {
            bump(&self.stats.invalid);
            hits.hardware_error();
            return Ok(());
        };
        if let Some(known) = &mut job.known {
            if known.nonce.is_none_or(|n| n == nonce) {
                known.answered = true;
            }
            return Ok(());
        }
        let in_work =
            self.work.nonces().contains(&u64::from(nonce)) && self.work.has_version(version);
        if !in_work {
            bump(&self.stats.overruns);
            return Ok(());
        }
        if self.delivered.contains(&(version, nonce)) {
            bump(&self.stats.duplicates);
            return Ok(());
        }
        match hits.offer_with_limit(version, nonce, limit)? {
            Offer::Found => {
                bump(&self.stats.found);
                self.delivered.insert((version, nonce));
            }
            Offer::Filtered => bump(&self.stats.filtered),
            Offer::Invalid => bump(&self.stats.invalid),
        }
        Ok(())
    }

    /// Sends a job whose answer is known if one is due, and fails the search after repeated
    /// misses: a stick that hashes wrongly or not at all must not pass for an unlucky one.
    /// Until a session has passed one, misses are retried at once, so a stick that cannot
    /// answer fails the first search within seconds.
    fn maybe_known_answer(&mut self, hits: &mut Hits<'_>) -> Result<(), Error> {
        let Some(every) = self.settings.known_answer_every else {
            return Ok(());
        };
        if self
            .s
            .last_known_answer
            .is_some_and(|t| t.elapsed() < every)
        {
            return Ok(());
        }
        let clears = if self.s.protocol == Protocol::Icarus {
            ICARUS_GOLDEN_ZERO_BITS
        } else {
            GENESIS_ZERO_BITS
        };
        if self.need > clears {
            return Ok(());
        }
        loop {
            self.s.last_known_answer = Some(Instant::now());
            if self.known_answer(hits)? {
                bump(&self.stats.known_answers);
                self.s.known_answer_misses = 0;
                self.s.known_answer_passed = true;
                return Ok(());
            }
            bump(&self.stats.known_answers_missed);
            hits.hardware_error();
            self.s.known_answer_misses += 1;
            if self.s.known_answer_misses >= MAX_KNOWN_ANSWER_MISSES {
                return Err(Error::new(
                    ErrorKind::Device,
                    format!(
                        "the {} stick missed {MAX_KNOWN_ANSWER_MISSES} known-answer jobs in a \
                         row: it is not hashing correctly, or hashes far slower than the \
                         configured {:.0} H/s (--hashrate)",
                        self.s.protocol.name(),
                        self.settings.hashrate
                    ),
                ));
            }
            if self.s.known_answer_passed {
                return Ok(());
            }
        }
    }

    /// Runs one known-answer job; returns whether it was answered in time.
    fn known_answer(&mut self, hits: &mut Hits<'_>) -> Result<bool, Error> {
        let ctl = Control::new();
        if self.s.protocol == Protocol::Icarus {
            let (mid, rest, wire) = icarus_golden();
            let id = self.take_slot(Job {
                header: [0; 80],
                versions: vec![0],
                base_version: 0,
                golden: Some((mid, rest)),
                // With a relaxed ticket an earlier counter may clear it: any verified answer
                // proves the stick hashes.
                known: Some(Known {
                    nonce: None,
                    answered: false,
                }),
            });
            self.s.port.flush()?;
            self.s.rx.clear();
            self.run_job(&wire, u64::from(ICARUS_GOLDEN_COUNTER) + 1, &ctl, hits)?;
            return Ok(self.answered(id));
        }
        let header = genesis();
        let nonce = u32::from_le_bytes([header[76], header[77], header[78], header[79]]);
        let version = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let id = self.take_slot(Job {
            header,
            versions: vec![version],
            base_version: version,
            golden: None,
            known: Some(Known {
                nonce: Some(nonce),
                answered: false,
            }),
        });
        // Start RATE_CHECK's worth of hashing before the answer: a stick slower than the
        // configured hashrate then answers late, where job timing alone would silently cut
        // its sweeps short.
        let answer = nonce.swap_bytes();
        let lead = ((self.settings.hashrate * RATE_CHECK.as_secs_f64()) as u64)
            .min(u64::from(answer)) as u32;
        let start = answer - lead;
        let frame = if self.s.protocol == Protocol::Bm1397 {
            let mid = sha256::Prehash::new(&header).midstate;
            ffi::bm1397_job((id * 4) as u8, start, &header, &[mid])
        } else {
            // The answer must come before the chip rolls to the next version.
            self.set_window(u64::from(lead) + 1)?;
            ffi::bm1370_job((id << 3) as u8, start, &header)
        };
        let sent = Instant::now();
        self.run_job(&frame, u64::from(lead) + 1, &ctl, hits)?;
        self.sync(hits)?;
        if self.answered(id) {
            return Ok(true);
        }
        let on_time = sent.elapsed();
        let until = Instant::now() + LATE_GRACE;
        while !self.answered(id) && Instant::now() < until {
            self.pump(Duration::from_millis(50), hits)?;
        }
        if self.answered(id) {
            let took = sent.elapsed();
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "the {} stick hashes slower than the configured {:.0} H/s (--hashrate): a \
                     known-answer job due within {} ms took {} ms; set --hashrate to what the \
                     stick does",
                    self.s.protocol.name(),
                    self.settings.hashrate,
                    on_time.as_millis(),
                    took.as_millis()
                ),
            ));
        }
        Ok(false)
    }

    fn answered(&self, id: usize) -> bool {
        self.s.slots[id]
            .as_ref()
            .and_then(|j| j.known)
            .is_some_and(|k| k.answered)
    }
}

fn genesis() -> [u8; 80] {
    let g = crate::hex::decode(GENESIS).expect("GENESIS is 160 hex digits");
    let mut header = [0u8; 80];
    header.copy_from_slice(&g);
    header
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ranges_scatter_and_slow_chips_sweep_them_one_job_each() {
        // 2^24 counters between neighbours: never worth hashing across at 400 kH/s.
        let w = counter_windows(0..256, 64, 4e5);
        assert_eq!(w.len(), 256);
        assert!(w.iter().all(|w| w.len == 1 && w.covered == 1));
        assert_eq!(w[1].start, 1 << 24);
    }

    #[test]
    fn fast_chips_merge_the_gaps_into_one_sweep() {
        let w = counter_windows(0..256, 64, 1e12);
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].start, w[0].len, w[0].covered), (0, 0xff00_0001, 256));
    }

    #[test]
    fn large_ranges_sweep_everything() {
        let w = counter_windows(0..1 << 20, 1, 4e5);
        assert_eq!(
            w,
            vec![Window {
                start: 0,
                len: 1 << 32,
                covered: 1 << 20
            }]
        );
        assert!(counter_windows(5..5, 1, 4e5).is_empty());
    }
}
