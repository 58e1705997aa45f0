//! The chip model: registers, addressing, and the nonce counter sweeping a job, hashing with the
//! `sha2` crate so the emulator shares no hashing code with the engines it checks.

use super::decode::{seal_reply, Command};
use crate::Protocol;

const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Leading zero bits of the double SHA-256 (read as a little-endian 256-bit number) of a header
/// given as its midstate and the 16 bytes that follow.
pub(super) fn zero_bits(midstate: &[u32; 8], rest: &[u8; 16]) -> u32 {
    let mut block = [0u8; 64];
    block[..16].copy_from_slice(rest);
    block[16] = 0x80;
    block[62..].copy_from_slice(&640u16.to_be_bytes());
    let mut first = *midstate;
    sha2::block_api::compress256(&mut first, &[block]);
    let mut block = [0u8; 64];
    for (chunk, w) in block.chunks_exact_mut(4).zip(first) {
        chunk.copy_from_slice(&w.to_be_bytes());
    }
    block[32] = 0x80;
    block[62..].copy_from_slice(&256u16.to_be_bytes());
    let mut second = IV;
    sha2::block_api::compress256(&mut second, &[block]);
    let mut zeros = 0;
    for w in second.iter().rev() {
        // State word 7's bytes, reversed, are the number's most significant 32 bits.
        let lz = w.swap_bytes().leading_zeros();
        zeros += lz;
        if lz < 32 {
            break;
        }
    }
    zeros
}

fn midstate_of(header: &[u8; 80]) -> [u32; 8] {
    let mut s = IV;
    let mut block = [0u8; 64];
    block.copy_from_slice(&header[..64]);
    sha2::block_api::compress256(&mut s, &[block]);
    s
}

/// Wire midstate (BE(h7) .. BE(h0)) to state words.
fn midstate_from_wire(b: &[u8]) -> [u32; 8] {
    let mut h = [0u32; 8];
    for (i, c) in b.chunks_exact(4).take(8).enumerate() {
        h[7 - i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    h
}

/// Header bytes 64..76 from the wire tail (nbits, ntime, merkle word).
fn rest_from_tail(tail: &[u8]) -> [u8; 12] {
    let mut r = [0u8; 12];
    r[..4].copy_from_slice(&tail[8..12]);
    r[4..8].copy_from_slice(&tail[4..8]);
    r[8..].copy_from_slice(&tail[..4]);
    r
}

fn unreverse_words(src: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for i in 0..8 {
        out[4 * i..4 * i + 4].copy_from_slice(&src[4 * (7 - i)..4 * (7 - i) + 4]);
    }
    out
}

/// Spreads the low bits of `k` over the set bits of `mask`, lowest first.
fn deposit(mut k: u64, mask: u32) -> u32 {
    let (mut out, mut m) = (0u32, mask);
    while m != 0 && k != 0 {
        let bit = m & m.wrapping_neg();
        if k & 1 != 0 {
            out |= bit;
        }
        k >>= 1;
        m &= m - 1;
    }
    out
}

/// Silicon constants of the two BM13xx models (mujina's reference, ESP-Miner).
mod silicon {
    /// BM1370: cores (nonce bits 31..25 name the core).
    pub const BM1370_CORES: u64 = 128;
    /// BM1370: sub-cores per core, each hashing its own rolled version of the same nonces.
    pub const BM1370_BATCH: u64 = 16;
    /// BM1370: bits of each core's counter.
    pub const BM1370_COUNTER_BITS: u32 = 25;
    /// BM1397: core slots (nonce bits 31..24 name the core).
    pub const BM1397_CORES: u64 = 256;
    /// BM1397: bits of each core's counter.
    pub const BM1397_COUNTER_BITS: u32 = 24;
    /// The hash clock at power-on, before any PLL write (the clock ESP-Miner assumes).
    pub const POWER_ON_MHZ: f64 = 50.0;
}

/// A PLL0 setting the chip accepted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Clock {
    fb: u64,
    div: u64,
    pub(super) mhz: f64,
}

/// Decodes a 0x08 write, or `None` where the chip's PLL cannot run it. BM1370 stores the post
/// dividers minus one, needs FBDIV 0xA0..=0xEF, a VCO of 1600..=3200 MHz flagged 0x50 at or
/// above 2400 MHz (0x40 below), and the first post divider at least the second (mujina);
/// BM1397 stores them as they are under a 0x40 flag, FBDIV 0x10..=0xF0 (gekko's solver's
/// range), either post divider the larger.
fn decode_pll(protocol: Protocol, v: u32) -> Option<Clock> {
    let flag = v >> 24;
    let fb = u64::from((v >> 16) & 0xfff);
    let refdiv = u64::from((v >> 8) & 0x3f);
    let (mut p1, mut p2) = (u64::from((v >> 4) & 0x7), u64::from(v & 0x7));
    if refdiv == 0 {
        return None;
    }
    if protocol == Protocol::Bm1370 {
        p1 += 1;
        p2 += 1;
        let vco = 25.0 * fb as f64 / refdiv as f64;
        let want_flag = if vco >= 2400.0 { 0x50 } else { 0x40 };
        if !(0xa0..=0xef).contains(&fb)
            || !(1600.0..=3200.0).contains(&vco)
            || flag != want_flag
            || p1 < p2
        {
            return None;
        }
    } else if !(0x10..=0xf0).contains(&fb) || flag != 0x40 || p1 == 0 || p2 == 0 {
        // gekko writes post dividers 2 and 5 for 200 MHz: no order rule on this chip.
        return None;
    }
    let div = refdiv * p1 * p2;
    Some(Clock {
        fb,
        div,
        mhz: 25.0 * fb as f64 / div as f64,
    })
}

/// What a job asks the chip to hash.
enum Sweep {
    /// Counter from 0 until the first hit.
    Icarus { midstate: [u32; 8], rest: [u8; 12] },
    /// Every core from counter 0 to the top of its slice, each midstate at every counter.
    Bm1397 {
        id: u8,
        midstates: Vec<[u32; 8]>,
        rest: [u8; 12],
    },
    /// Every core from `start` for `window` counters, 16 versions a batch, batches forever.
    Bm1370 {
        job_header: u8,
        header: [u8; 80],
        start: u32,
        window: u64,
        mask: u32,
        batch: Option<(u64, Vec<[u32; 8]>)>,
    },
}

/// The job the chain is working on.
pub(super) struct Active {
    sweep: Sweep,
    /// Positions hashed so far (a position is one (core, counter, midstate or version)).
    pub(super) done: u64,
    finished: bool,
}

/// A nonce the chain found, encoded as the chip would send it.
pub(super) struct Hit {
    pub(super) frame: Vec<u8>,
    /// Offset of the 4 nonce bytes in `frame`.
    pub(super) nonce_at: usize,
}

/// What the chip did with the host's register writes, for tests to hold a driver to.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ChipLog {
    /// PLL writes the chip could not run (ignored; the clock stays as it was).
    pub pll_rejects: u64,
    /// PLL writes that moved the clock by more than one 6.25 MHz ramp step.
    pub pll_jumps: u64,
    /// The highest clock the chip was set to, in MHz.
    pub max_mhz: f64,
    /// Jobs that found register 0x10 at 0, and so hashed nothing.
    pub halted_jobs: u64,
    /// Jobs with a non-zero starting nonce (no reference sends one; the chip ignored them).
    pub nonzero_start_jobs: u64,
    /// BM1370 writes of 0 to register 0x10 that stopped a job still sweeping.
    pub parks: u64,
}

/// A chain of identical chips sharing one serial line. The chain hashes each job once and
/// reports from the first chip's address: how chips split a chain's space is the host's
/// business (addresses, offsets) and is not modelled.
pub(super) struct Chain {
    protocol: Protocol,
    addresses: Vec<Option<u8>>,
    regs: Vec<[u32; 256]>,
    /// Zero bits every reported nonce has before the ticket mask adds more (32 on silicon).
    ticket_bits: u32,
    /// Ticks each BM1370 batch runs past its deadline (about 130 on silicon).
    overrun_ticks: u32,
    long_replies: bool,
    clock: Option<Clock>,
    mhz: f64,
    /// BM1370 without an enabled nonce offset: where the last sweep's counters stopped.
    float_start: u32,
    /// Baud-rate writes still to be missed (a fault).
    pub(super) miss_baud_writes: u32,
    pub(super) log: ChipLog,
    pub(super) active: Option<Active>,
}

impl Chain {
    pub(super) fn new(
        protocol: Protocol,
        chips: usize,
        ticket_bits: u32,
        overrun_ticks: u32,
    ) -> Self {
        let mut regs = vec![[0u32; 256]; chips.max(1)];
        for r in &mut regs {
            r[0] = match protocol {
                Protocol::Bm1370 => 0x1370_0000,
                _ => 0x1397_1800,
            };
            r[0x28] = 0x0130_1a00;
            r[0x18] = match protocol {
                Protocol::Bm1370 => 0x0000_c100,
                _ => 0x0000_7a31,
            };
        }
        Chain {
            protocol,
            addresses: vec![None; chips.max(1)],
            regs,
            ticket_bits,
            overrun_ticks,
            long_replies: false,
            clock: None,
            mhz: silicon::POWER_ON_MHZ,
            float_start: 0,
            miss_baud_writes: 0,
            log: ChipLog {
                max_mhz: silicon::POWER_ON_MHZ,
                ..ChipLog::default()
            },
            active: None,
        }
    }

    /// The rate the chips' UART runs at now, in bits per second.
    pub(super) fn baud(&self) -> u32 {
        let div = match self.protocol {
            Protocol::Bm1397 => {
                let v = self.regs[0][0x18];
                (((v >> 24) & 0xf) << 5) | ((v >> 8) & 0x1f)
            }
            Protocol::Bm1370 => (self.regs[0][0x28] >> 8) & 0xff,
            _ => return 115_200,
        };
        25_000_000 / ((div + 1) * 8)
    }

    fn reply_len(&self) -> usize {
        if self.protocol == Protocol::Bm1370 && self.long_replies {
            11
        } else {
            9
        }
    }

    fn chip_index(&self, addr: u8) -> Option<usize> {
        self.addresses.iter().position(|a| *a == Some(addr))
    }

    /// The chips a command reaches: every chip, or the one at `chip` (none if unassigned).
    fn addressed(&self, all: bool, chip: u8) -> Vec<usize> {
        if all {
            (0..self.regs.len()).collect()
        } else {
            self.chip_index(chip).into_iter().collect()
        }
    }

    fn write_pll(&mut self, value: u32) {
        let Some(c) = decode_pll(self.protocol, value) else {
            self.log.pll_rejects += 1;
            return;
        };
        if (c.mhz - self.mhz).abs() > 6.25 + 1e-6 {
            self.log.pll_jumps += 1;
        }
        self.log.max_mhz = self.log.max_mhz.max(c.mhz);
        self.clock = Some(c);
        self.mhz = c.mhz;
    }

    /// Applies one command; returns the replies it provokes (register reads only).
    pub(super) fn command(&mut self, cmd: Command) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        match cmd {
            Command::Rejected => {}
            Command::ChainInactive => {
                for a in &mut self.addresses {
                    *a = None;
                }
            }
            Command::SetAddress(addr) => {
                if let Some(slot) = self.addresses.iter_mut().find(|a| a.is_none()) {
                    *slot = Some(addr);
                }
            }
            Command::Write {
                all,
                chip,
                register,
                value,
            } => {
                let baud_register = match self.protocol {
                    Protocol::Bm1370 => 0x28,
                    _ => 0x18,
                };
                if register == baud_register && self.miss_baud_writes > 0 {
                    self.miss_baud_writes -= 1;
                    return out;
                }
                let targets = self.addressed(all, chip);
                if register == 0x08 && !targets.is_empty() && self.protocol != Protocol::Icarus {
                    self.write_pll(value);
                }
                for i in targets {
                    // Register 0 is read-only.
                    if register != 0 {
                        self.regs[i][usize::from(register)] = value;
                    }
                }
                if self.protocol == Protocol::Bm1370 && register == 0xa4 {
                    self.long_replies = true;
                }
                // The deadline is compared as the cores run, so a zero stops the batch under
                // way and every one after it; any other value takes hold at the next job.
                if self.protocol == Protocol::Bm1370 && register == 0x10 && value == 0 {
                    if let Some(a) = self.active.as_mut().filter(|a| !a.finished) {
                        a.finished = true;
                        self.log.parks += 1;
                    }
                }
            }
            Command::Read {
                all,
                chip,
                register,
            } => {
                for i in self.addressed(all, chip) {
                    let addr = self.addresses[i].unwrap_or(0);
                    let mut value = self.regs[i][usize::from(register)];
                    if register == 0 {
                        value = (value & !0xff) | u32::from(addr);
                    }
                    let mut f = vec![0u8; self.reply_len()];
                    f[0] = 0xaa;
                    f[1] = 0x55;
                    f[2..6].copy_from_slice(&value.to_be_bytes());
                    f[6] = addr;
                    f[7] = register;
                    seal_reply(&mut f);
                    out.push(f);
                }
            }
            Command::IcarusWork(w) => {
                self.active = Some(Active {
                    sweep: Sweep::Icarus {
                        midstate: midstate_from_wire(&w[..32]),
                        rest: rest_from_tail(&w[52..64]),
                    },
                    done: 0,
                    finished: false,
                });
            }
            Command::Job(body) => self.job(&body),
        }
        out
    }

    fn job(&mut self, body: &[u8]) {
        if body.len() < 18 {
            return;
        }
        // The starting nonce (header order) is 0 in every reference; what the chip does with
        // another value is unknown, so this chip refuses to guess and ignores the job.
        if body[2..6] != [0, 0, 0, 0] {
            self.log.nonzero_start_jobs += 1;
            self.active = None;
            return;
        }
        match self.protocol {
            Protocol::Bm1397 => {
                // Take the midstate count from the length actually sent, capped by the field:
                // hosts send LEN 0x96 with a count of 1.
                let room = body.len().saturating_sub(18) / 32;
                let n = usize::from(body[1]).clamp(1, 4).min(room);
                if n == 0 {
                    return;
                }
                let midstates = (0..n)
                    .map(|i| midstate_from_wire(&body[18 + 32 * i..50 + 32 * i]))
                    .collect();
                self.active = Some(Active {
                    sweep: Sweep::Bm1397 {
                        id: body[0],
                        midstates,
                        rest: rest_from_tail(&body[6..18]),
                    },
                    done: 0,
                    finished: false,
                });
            }
            Protocol::Bm1370 if body.len() >= 82 => self.bm1370_job(body),
            _ => {}
        }
    }

    fn bm1370_job(&mut self, body: &[u8]) {
        let mut header = [0u8; 80];
        header[..4].copy_from_slice(&body[78..82]);
        header[4..36].copy_from_slice(&unreverse_words(&body[46..78]));
        header[36..68].copy_from_slice(&unreverse_words(&body[14..46]));
        header[68..72].copy_from_slice(&body[10..14]);
        header[72..76].copy_from_slice(&body[6..10]);
        let hcn = u64::from(self.regs[0][0x10]);
        let offset = self.regs[0][0x0c];
        let start = if offset & 0x8000_0000 != 0 {
            (offset & 0xffff) << 9
        } else {
            self.float_start
        };
        // Each core advances two counters per hash clock; the deadline counts crystal ticks.
        let (fb, div) = self.clock.map_or((2, 1), |c| (c.fb, c.div));
        let window = (hcn + u64::from(self.overrun_ticks)) * 2 * fb / div;
        if hcn == 0 {
            self.log.halted_jobs += 1;
        }
        self.active = Some(Active {
            sweep: Sweep::Bm1370 {
                job_header: body[0],
                header,
                start,
                window,
                mask: self.regs[0][0xa4] & 0xffff,
                batch: None,
            },
            done: 0,
            // Zero halts hashing entirely.
            finished: hcn == 0 || window == 0,
        });
    }

    /// Whether the active job still has positions to hash.
    pub(super) fn busy(&self) -> bool {
        self.active.as_ref().is_some_and(|a| !a.finished)
    }

    /// Extra zero bits the ticket mask demands (the mask's bits are reversed within each byte).
    fn mask_bits(&self) -> u32 {
        let m = self.regs[0][0x14];
        let per_byte = u32::from_be_bytes(m.to_be_bytes().map(u8::reverse_bits));
        per_byte.trailing_ones()
    }

    /// Hashes positions until `done == upto` (or the job ends); returns the hits.
    pub(super) fn sweep(&mut self, upto: u64) -> Vec<Hit> {
        let need = self.ticket_bits + self.mask_bits();
        let long = self.long_replies;
        let report = self.regs[0][0x18] >> 28;
        let mut hits = Vec::new();
        let mut stopped_at = None;
        let Some(a) = self.active.as_mut() else {
            return hits;
        };
        while a.done < upto && !a.finished {
            let p = a.done;
            a.done += 1;
            match &mut a.sweep {
                Sweep::Icarus { midstate, rest } => {
                    if p >= 1 << 32 {
                        a.finished = true;
                        break;
                    }
                    let counter = p as u32;
                    if zero_bits(midstate, &with_nonce(rest, counter)) >= need {
                        hits.push(Hit {
                            frame: counter.to_be_bytes().to_vec(),
                            nonce_at: 0,
                        });
                        a.finished = true;
                    }
                }
                Sweep::Bm1397 {
                    id,
                    midstates,
                    rest,
                } => {
                    let n = midstates.len() as u64;
                    let step = p / (n * silicon::BM1397_CORES);
                    if step >= 1 << silicon::BM1397_COUNTER_BITS {
                        a.finished = true;
                        break;
                    }
                    let core = (p / n) % silicon::BM1397_CORES;
                    let m = (p % n) as usize;
                    let be = (core << silicon::BM1397_COUNTER_BITS) as u32 | step as u32;
                    if zero_bits(&midstates[m], &with_nonce(rest, be)) >= need {
                        let mut f = vec![0xaa, 0x55];
                        f.extend_from_slice(&be.to_be_bytes());
                        f.extend_from_slice(&[m as u8, (*id & 0xfc) | m as u8, 0x80]);
                        seal_reply(&mut f);
                        hits.push(Hit {
                            frame: f,
                            nonce_at: 2,
                        });
                    }
                }
                Sweep::Bm1370 {
                    job_header,
                    header,
                    start,
                    window,
                    mask,
                    batch,
                } => {
                    let per_step = silicon::BM1370_CORES * silicon::BM1370_BATCH;
                    let per_batch = *window * per_step;
                    let b = p / per_batch;
                    let within = p % per_batch;
                    let step = within / per_step;
                    let core = (within / silicon::BM1370_BATCH) % silicon::BM1370_CORES;
                    let slot = within % silicon::BM1370_BATCH;
                    let versions = 1u64 << mask.count_ones();
                    let r = (b * silicon::BM1370_BATCH + slot) % versions;
                    let bits = deposit(r, *mask);
                    if batch.as_ref().is_none_or(|(cb, _)| *cb != b) {
                        let mids = (0..silicon::BM1370_BATCH)
                            .map(|s| {
                                let k = (b * silicon::BM1370_BATCH + s) % versions;
                                let mut h = *header;
                                let v = u32::from_le_bytes([h[0], h[1], h[2], h[3]])
                                    | (deposit(k, *mask) << 13);
                                h[..4].copy_from_slice(&v.to_le_bytes());
                                midstate_of(&h)
                            })
                            .collect();
                        *batch = Some((b, mids));
                    }
                    let Some((_, mids)) = batch.as_ref() else {
                        break;
                    };
                    let counter_mask = (1u64 << silicon::BM1370_COUNTER_BITS) - 1;
                    let counter = (u64::from(*start) + step) & counter_mask;
                    let be = ((core << silicon::BM1370_COUNTER_BITS) | counter) as u32;
                    let mut rest = [0u8; 12];
                    rest.copy_from_slice(&header[64..76]);
                    let zeros = zero_bits(&mids[slot as usize], &with_nonce(&rest, be));
                    // Each quarter of the core array reports only with its enable bit set.
                    let open = report >> (core / 32) & 1 != 0;
                    if zeros >= need && open {
                        let excess = ((zeros - need) * 2).min(255) as u8;
                        let mut f = vec![0xaa, 0x55];
                        f.extend_from_slice(&be.to_be_bytes());
                        f.push(excess);
                        f.push(((*job_header << 1) & 0xf0) | slot as u8);
                        if long {
                            f.extend_from_slice(&(bits as u16).to_be_bytes());
                        }
                        f.push(0x80);
                        seal_reply(&mut f);
                        hits.push(Hit {
                            frame: f,
                            nonce_at: 2,
                        });
                    }
                    stopped_at = Some(((u64::from(*start) + step + 1) & counter_mask) as u32);
                }
            }
        }
        if let Some(c) = stopped_at {
            self.float_start = c;
        }
        hits
    }
}

fn with_nonce(rest: &[u8; 12], counter: u32) -> [u8; 16] {
    let mut r = [0u8; 16];
    r[..12].copy_from_slice(rest);
    r[12..].copy_from_slice(&counter.to_be_bytes());
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d::hazmat::hex;

    #[test]
    fn icarus_golden_is_found_at_its_counter() {
        let golden = hex::decode(
            "4679ba4ec99876bf4bfe086082b400254df6c356451471139a3afa71e48f544a\
             0000000000000000000000000000000000000000\
             87320b1a1426674f2fa722ce",
        )
        .expect("hex");
        let mid = midstate_from_wire(&golden[..32]);
        let rest = rest_from_tail(&golden[52..]);
        assert!(zero_bits(&mid, &with_nonce(&rest, 0x0001_87a2)) >= 53);
        let mut chain = Chain::new(Protocol::Icarus, 1, 32, 0);
        let mut work = Box::new([0u8; 64]);
        work.copy_from_slice(&golden);
        chain.command(Command::IcarusWork(work));
        let hits = chain.sweep(100_259);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].frame, [0x00, 0x01, 0x87, 0xa2]);
    }

    fn write(chain: &mut Chain, register: u8, value: u32) {
        chain.command(Command::Write {
            all: true,
            chip: 0,
            register,
            value,
        });
    }

    /// A BM1370 full-header job for genesis with version 0x20000000.
    fn genesis_job() -> Vec<u8> {
        let h = hex::decode(
            "0000002000000000000000000000000000000000000000000000000000000000\
             000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa\
             4b1e5e4a29ab5f49ffff001d00000000",
        )
        .expect("hex");
        let mut body = vec![0x08, 0x01, 0, 0, 0, 0];
        body.extend_from_slice(&h[72..76]);
        body.extend_from_slice(&h[68..72]);
        body.extend_from_slice(&unreverse_words(&h[36..68]));
        body.extend_from_slice(&unreverse_words(&h[4..36]));
        body.extend_from_slice(&h[..4]);
        body
    }

    #[test]
    fn hash_counting_number_zero_halts_and_a_tick_sweeps_by_the_pll() {
        let mut chain = Chain::new(Protocol::Bm1370, 1, 8, 0);
        write(&mut chain, 0x18, 0xf000_c100);
        write(&mut chain, 0x0c, 0x8000_0000);
        chain.command(Command::Job(genesis_job()));
        assert!(!chain.busy(), "register 0x10 is 0 out of reset: no hashing");
        assert_eq!(chain.log.halted_jobs, 1);
        // 525 MHz (FB 168, REF 2, post dividers 4 and 1): 42 counters per core per tick.
        write(&mut chain, 0x08, 0x40a8_0230);
        write(&mut chain, 0x10, 1);
        chain.command(Command::Job(genesis_job()));
        assert!(chain.busy());
        let Some(Active {
            sweep: Sweep::Bm1370 { window, start, .. },
            ..
        }) = &chain.active
        else {
            panic!("a BM1370 job is active");
        };
        assert_eq!((*window, *start), (42, 0));
    }

    #[test]
    fn a_zero_deadline_written_during_a_job_stops_it() {
        let mut chain = Chain::new(Protocol::Bm1370, 1, 8, 0);
        write(&mut chain, 0x08, 0x40a8_0230);
        write(&mut chain, 0x10, 1);
        chain.command(Command::Job(genesis_job()));
        chain.sweep(10);
        assert!(chain.busy());
        write(&mut chain, 0x10, 0);
        assert!(!chain.busy());
        assert!(chain.sweep(1 << 20).is_empty());
        // Nothing left to stop: a second zero is no park.
        write(&mut chain, 0x10, 0);
        assert_eq!(chain.log.parks, 1);
    }

    #[test]
    fn pll_writes_no_chip_can_run_are_refused_and_jumps_are_logged() {
        let mut chain = Chain::new(Protocol::Bm1370, 1, 32, 0);
        // 0x50 claims a VCO of 2400 MHz or more; FB 168 / REF 2 is 2100.
        write(&mut chain, 0x08, 0x50a8_0230);
        // FB 0xF0 is past the BM1370's 0xEF.
        write(&mut chain, 0x08, 0x40f0_0230);
        assert_eq!(chain.log.pll_rejects, 2);
        // The old driver's single write: post dividers stored minus one make it 1050 MHz.
        write(&mut chain, 0x08, 0x40a8_0210);
        assert_eq!((chain.log.pll_jumps, chain.log.max_mhz), (1, 1050.0));
        let mut bm1397 = Chain::new(Protocol::Bm1397, 1, 32, 0);
        // gekko's 200 MHz: FB 0xA0, REF 2, post dividers 2 and 5 as they are.
        write(&mut bm1397, 0x08, 0x40a0_0225);
        assert_eq!((bm1397.log.pll_rejects, bm1397.log.max_mhz), (0, 200.0));
    }

    #[test]
    fn a_job_with_a_nonzero_starting_nonce_is_ignored() {
        let mut chain = Chain::new(Protocol::Bm1370, 1, 8, 0);
        write(&mut chain, 0x10, 1);
        let mut job = genesis_job();
        job[2] = 7;
        chain.command(Command::Job(job));
        assert!(!chain.busy());
        assert_eq!(chain.log.nonzero_start_jobs, 1);
    }
}
