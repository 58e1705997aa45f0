//! The thin blocking shell around one stick: the open port, reading and scanning replies,
//! running bring-up steps, discovery, and the baud change (retried before it is an error).
//! Decisions live in `init`, `plan`, `known` and `search`.

use super::ffi::{self, Port, Reply, Scan};
use super::init::{self, Bringup, Step};
use super::known::{self, Policy, Vector};
use super::regs::{self, reg, Pll};
use super::{Protocol, Settings};
use crate::{Error, ErrorKind};
use alloc::{format, string::String, vec, vec::Vec};
use core::time::Duration;
use std::time::Instant;

/// One job in flight on the chain.
#[derive(Clone)]
pub(super) struct Job {
    /// The header, version field aside.
    pub header: [u8; 80],
    /// Versions the reply's midstate index (BM1397) selects, or the single version.
    pub versions: Vec<u32>,
    /// BM1370: the version bits the reply carries are ORed into this.
    pub base_version: u32,
    /// Icarus golden work: verify against this midstate and tail instead of `header`.
    pub golden: Option<([u32; 8], [u8; 12])>,
    /// Set for known-answer jobs: the nonce it must return (`None`: any verified one) and
    /// whether it has.
    pub known: Option<(Option<u32>, bool)>,
}

/// One scanned unit of device input.
pub(super) enum Frame {
    Reply(Reply),
    Bad,
}

/// How long discovery waits for the first chip, and for quiet after the last.
const FIRST_ANSWER: Duration = Duration::from_secs(2);
const QUIET: Duration = Duration::from_millis(300);
/// Baud changes tried before the stick counts as unreachable at its fast rate.
const BAUD_TRIES: u32 = 3;

pub(super) struct Session {
    pub port: Port,
    pub protocol: Protocol,
    pub rx: Vec<u8>,
    pub chips: usize,
    /// The running hash clock (BM13xx).
    pub pll: Option<Pll>,
    /// Register values last written, so a search writes only what changes.
    pub written: Vec<(u8, u32)>,
    pub next_id: usize,
    /// Jobs by id. Kept across searches: a chip keeps sweeping its last job until replaced,
    /// and its late replies must still verify (as overruns), not count as hardware errors.
    pub slots: Vec<Option<Job>>,
    pub known: Policy,
    pub vector: Option<Vector>,
    /// The known-answer policy's clock.
    pub epoch: Instant,
}

impl Session {
    pub fn open(path: &str, protocol: Protocol, settings: &Settings) -> Result<Session, Error> {
        let port = Port::open(path, 115_200)?;
        let slots = match protocol {
            Protocol::Icarus => 1,
            Protocol::Bm1397 => 32,
            Protocol::Bm1370 => 16,
        };
        let mut s = Session {
            port,
            protocol,
            rx: Vec::new(),
            chips: 0,
            pll: None,
            written: Vec::new(),
            next_id: 0,
            slots: vec![None; slots],
            known: Policy::new(settings.known_answer_every),
            vector: None,
            epoch: Instant::now(),
        };
        if protocol == Protocol::Icarus {
            s.detect_icarus(settings)?;
            s.chips = 1;
        } else {
            s.bring_up(path, settings)?;
        }
        Ok(s)
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), Error> {
        self.port.write_all(bytes, 1000)
    }

    /// Writes `value` to `register` of every chip unless it already holds it.
    pub fn set_register(&mut self, register: u8, value: u32) -> Result<(), Error> {
        if self
            .written
            .iter()
            .any(|&(r, v)| r == register && v == value)
        {
            return Ok(());
        }
        self.send(&init::write_all(register, value))?;
        self.written.retain(|&(r, _)| r != register);
        self.written.push((register, value));
        Ok(())
    }

    pub fn read_frames(&mut self, timeout: Duration) -> Result<Vec<Frame>, Error> {
        let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        self.port.read_into(&mut self.rx, 4096, ms)?;
        let mut out = Vec::new();
        let mut used = 0;
        while used < self.rx.len() {
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
        }
        self.rx.drain(..used.min(self.rx.len()));
        Ok(out)
    }

    /// Broadcasts a chip-id read and counts the chips that answer.
    fn count_chips(&mut self) -> Result<usize, Error> {
        let id = init::chip_id(self.protocol);
        self.send(&init::discovery())?;
        let started = Instant::now();
        let mut last = None::<Instant>;
        let mut chips = 0;
        while started.elapsed() < FIRST_ANSWER + QUIET
            && last.map_or(started.elapsed() < FIRST_ANSWER, |t| t.elapsed() < QUIET)
        {
            for f in self.read_frames(Duration::from_millis(20))? {
                if let Frame::Reply(Reply::Register {
                    value,
                    register: reg::CHIP_ID,
                    ..
                }) = f
                {
                    if value >> 16 == id {
                        chips += 1;
                        last = Some(Instant::now());
                    }
                }
            }
        }
        Ok(chips)
    }

    fn run(&mut self, steps: &[Step]) -> Result<(), Error> {
        for s in steps {
            match s {
                Step::Send(f) => self.send(f)?,
                Step::Pause(d) => std::thread::sleep(*d),
                Step::HostBaud(b) => {
                    self.port.set_baud(*b)?;
                    // Everything after the switch goes out at the new rate: make sure the
                    // chips are there before sending it.
                    if self.chips > 0 {
                        self.verify_baud(self.chips, *b)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn bring_up(&mut self, path: &str, settings: &Settings) -> Result<(), Error> {
        let protocol = self.protocol;
        let fast = init::fast_host_baud(protocol);
        self.port.flush()?;
        self.run(&init::before_discovery(protocol))?;
        let mut chips = self.count_chips()?;
        let mut at_fast = false;
        if chips == 0 {
            // A stick an earlier run brought up stays at its fast rate until power-cycled.
            self.port.set_baud(fast)?;
            chips = self.count_chips()?;
            at_fast = true;
        }
        if chips == 0 {
            return Err(Error::new(
                ErrorKind::Device,
                format!(
                    "no {} chip answered the chip-id read on {path} at 115200 or {fast} baud \
                     within {} s (is the protocol right and the stick powered?)",
                    protocol.name(),
                    FIRST_ANSWER.as_secs()
                ),
            ));
        }
        self.chips = chips;
        let mhz = settings.frequency_mhz;
        let ramp: Vec<Pll> = regs::ramp(regs::POWER_ON_MHZ, mhz)
            .into_iter()
            .map(|f| regs::solve_pll(protocol, f))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                Error::invalid(format!(
                    "no PLL setting reaches {mhz} MHz on a {protocol:?}"
                ))
            })?;
        let bringup = Bringup {
            chips,
            ramp,
            ramp_pause: settings.ramp_pause,
            ticket_bits: 8,
        };
        let mut steps = init::after_discovery(protocol, &bringup);
        if at_fast {
            steps.retain(|s| !matches!(s, Step::HostBaud(_)));
        }
        self.run(&steps)?;
        self.pll = bringup.ramp.last().copied();
        self.written.clear();
        if at_fast {
            self.verify_baud(chips, fast)?;
        }
        Ok(())
    }

    /// Counts the chips again at the fast rate; a failed switch is retried (back to 115200,
    /// rewrite the rate, switch again) before it is an error.
    fn verify_baud(&mut self, chips: usize, fast: u32) -> Result<(), Error> {
        let (baud_reg, baud_value) = if self.protocol == Protocol::Bm1370 {
            (reg::FAST_UART, regs::val::BM1370_FAST_BAUD)
        } else {
            (reg::MISC_CONTROL, regs::val::BM1397_FAST_BAUD)
        };
        let mut again = 0;
        // Bytes still in flight at the old rate arrive garbled at the new one: let them pass.
        std::thread::sleep(Duration::from_millis(50));
        for attempt in 0..BAUD_TRIES {
            if attempt > 0 {
                self.port.set_baud(115_200)?;
                self.send(&init::write_all(baud_reg, baud_value))?;
                std::thread::sleep(Duration::from_millis(20));
                self.port.set_baud(fast)?;
                std::thread::sleep(Duration::from_millis(50));
                self.port.flush()?;
                self.rx.clear();
            }
            again = self.count_chips()?;
            if again == chips {
                return Ok(());
            }
        }
        Err(Error::new(
            ErrorKind::Device,
            format!(
                "{chips} chip(s) answered at 115200 baud but {again} at {fast} after \
                 {BAUD_TRIES} tries: the baud change failed"
            ),
        ))
    }

    /// cgminer's detection handshake: the golden work must come back, verified, in time.
    fn detect_icarus(&mut self, settings: &Settings) -> Result<(), Error> {
        let (mid, rest, wire) = super::icarus_golden();
        let zero = settings.ticket_bits.min(32);
        let limit = if zero >= 32 { 0 } else { u32::MAX >> zero };
        let sweep = f64::from(super::ICARUS_GOLDEN_COUNTER) * 1.5 / settings.hashrate;
        let wait =
            Duration::from_millis(300).max(Duration::from_secs_f64(sweep.min(60.0)) + known::SLACK);
        for _ in 0..2 {
            self.port.flush()?;
            self.rx.clear();
            self.send(&wire)?;
            let until = Instant::now() + wait;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                for f in self.read_frames(left.min(Duration::from_millis(50)))? {
                    if let Frame::Reply(Reply::Nonce { wire, .. }) = f {
                        let nonce = u32::from_le_bytes(wire);
                        if super::top_from_midstate(&mid, &rest, nonce) <= limit {
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

    /// The known-answer vector for this stick, found once.
    pub fn vector(&mut self, ticket_bits: u32) -> Vector {
        let (cores, shift) = match self.protocol {
            Protocol::Bm1370 => (regs::BM1370_CORES as u32, regs::BM1370_COUNTER_BITS),
            _ => (regs::BM1397_CORES as u32, regs::BM1397_COUNTER_BITS),
        };
        *self
            .vector
            .get_or_insert_with(|| known::vector(ticket_bits, cores, shift))
    }

    pub fn take_slot(&mut self, job: Job) -> usize {
        let id = self.next_id % self.slots.len();
        self.next_id = (id + 1) % self.slots.len();
        self.slots[id] = Some(job);
        id
    }

    pub fn describe_chips(&self) -> String {
        match self.pll {
            Some(p) => format!(", {} chip(s) at {:.2} MHz", self.chips, p.mhz()),
            None if self.chips > 0 => format!(", {} chip(s)", self.chips),
            None => String::new(),
        }
    }
}
