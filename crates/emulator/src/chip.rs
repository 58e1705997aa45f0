//! The chip model: registers, addressing, and the nonce counter sweeping a job, hashing with the
//! `sha2` crate so the emulator shares no hashing code with the engines it checks.

use super::decode::{seal_reply, Command};
use sha256d::deposit;
use sha256d::engine::asic::Protocol;

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

/// What a job asks the chip to hash.
enum Sweep {
    /// Counter from 0 until the first hit.
    Icarus { midstate: [u32; 8], rest: [u8; 12] },
    /// Every midstate at each counter value from `start` to the top of the range.
    Bm1397 {
        id: u8,
        midstates: Vec<[u32; 8]>,
        rest: [u8; 12],
    },
    /// For each rolled version, a window of counters from `start`; the versions repeat forever.
    Bm1370 {
        job_header: u8,
        header: [u8; 80],
        cached: Option<(u64, [u32; 8])>,
    },
}

/// The job the chain is working on.
pub(super) struct Active {
    sweep: Sweep,
    start: u32,
    /// Positions hashed so far (a position is one (counter, midstate or version) pair).
    pub(super) done: u64,
    finished: bool,
}

/// A nonce the chain found, encoded as the chip would send it.
pub(super) struct Hit {
    pub(super) frame: Vec<u8>,
    /// Offset of the 4 nonce bytes in `frame`.
    pub(super) nonce_at: usize,
}

/// A chain of identical chips sharing one serial line.
pub(super) struct Chain {
    protocol: Protocol,
    addresses: Vec<Option<u8>>,
    regs: Vec<[u32; 256]>,
    /// Zero bits every reported nonce has before the ticket mask adds more (32 on silicon).
    ticket_bits: u32,
    long_replies: bool,
    pub(super) active: Option<Active>,
}

impl Chain {
    pub(super) fn new(protocol: Protocol, chips: usize, ticket_bits: u32) -> Self {
        let mut regs = std::vec![[0u32; 256]; chips.max(1)];
        for r in &mut regs {
            r[0] = match protocol {
                Protocol::Bm1370 => 0x1370_0000,
                _ => 0x1397_1800,
            };
            r[0x28] = 0x0130_1a00;
            r[0x18] = 0x0000_7a31;
        }
        Chain {
            protocol,
            addresses: std::vec![None; chips.max(1)],
            regs,
            ticket_bits,
            long_replies: false,
            active: None,
        }
    }

    /// The rate the chips' UART runs at now, in bits per second.
    pub(super) fn baud(&self) -> u32 {
        let div = match self.protocol {
            Protocol::Icarus => return 115_200,
            Protocol::Bm1397 => {
                let v = self.regs[0][0x18];
                (((v >> 24) & 0xf) << 5) | ((v >> 8) & 0x1f)
            }
            Protocol::Bm1370 => (self.regs[0][0x28] >> 8) & 0xff,
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
                let targets = self.addressed(all, chip);
                for i in targets {
                    // Register 0 is read-only.
                    if register != 0 {
                        self.regs[i][usize::from(register)] = value;
                    }
                }
                if self.protocol == Protocol::Bm1370 && register == 0xa4 {
                    self.long_replies = true;
                }
            }
            Command::Read {
                all,
                chip,
                register,
            } => {
                let targets = self.addressed(all, chip);
                for i in targets {
                    let addr = self.addresses[i].unwrap_or(0);
                    let mut value = self.regs[i][usize::from(register)];
                    if register == 0 && self.protocol == Protocol::Bm1397 {
                        value = (value & !0xff) | u32::from(addr);
                    }
                    let mut f = std::vec![0u8; self.reply_len()];
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
                    start: 0,
                    done: 0,
                    finished: false,
                });
            }
            Command::Job(body) => self.job(&body),
        }
        out
    }

    fn job(&mut self, body: &[u8]) {
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
                    start: u32::from_be_bytes([body[2], body[3], body[4], body[5]]),
                    done: 0,
                    finished: false,
                });
            }
            Protocol::Bm1370 if body.len() >= 82 => {
                let mut header = [0u8; 80];
                header[..4].copy_from_slice(&body[78..82]);
                header[4..36].copy_from_slice(&unreverse_words(&body[46..78]));
                header[36..68].copy_from_slice(&unreverse_words(&body[14..46]));
                header[68..72].copy_from_slice(&body[10..14]);
                header[72..76].copy_from_slice(&body[6..10]);
                self.active = Some(Active {
                    sweep: Sweep::Bm1370 {
                        job_header: body[0],
                        header,
                        cached: None,
                    },
                    start: u32::from_be_bytes([body[2], body[3], body[4], body[5]]),
                    done: 0,
                    finished: false,
                });
            }
            _ => {}
        }
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
        let version_mask = self.regs[0][0xa4] & 0xffff;
        let window = match self.regs[0][0x10] {
            0 => 1u64 << 32,
            w => u64::from(w),
        };
        let mut hits = Vec::new();
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
                    let counter = u64::from(a.start) + p / n;
                    if counter >= 1 << 32 {
                        a.finished = true;
                        break;
                    }
                    let m = (p % n) as usize;
                    let zeros = zero_bits(&midstates[m], &with_nonce(rest, counter as u32));
                    if zeros >= need {
                        let mut f = std::vec![0xaa, 0x55];
                        f.extend_from_slice(&(counter as u32).to_be_bytes());
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
                    cached,
                } => {
                    let versions = 1u64 << version_mask.count_ones();
                    let k = (p / window) % versions;
                    let counter = a.start.wrapping_add((p % window) as u32);
                    let bits = deposit(k, version_mask);
                    let mid = match cached {
                        Some((ck, m)) if *ck == k => *m,
                        _ => {
                            let mut h = *header;
                            let v = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) | (bits << 13);
                            h[..4].copy_from_slice(&v.to_le_bytes());
                            let m = midstate_of(&h);
                            *cached = Some((k, m));
                            m
                        }
                    };
                    let mut rest = [0u8; 12];
                    rest.copy_from_slice(&header[64..76]);
                    let zeros = zero_bits(&mid, &with_nonce(&rest, counter));
                    if zeros >= need {
                        let excess = ((zeros - need) * 2).min(255) as u8;
                        let mut f = std::vec![0xaa, 0x55];
                        f.extend_from_slice(&counter.to_be_bytes());
                        f.push(excess);
                        f.push((*job_header << 1) & 0xf0);
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
                }
            }
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
        let mut chain = Chain::new(Protocol::Icarus, 1, 32);
        let mut work = Box::new([0u8; 64]);
        work.copy_from_slice(&golden);
        chain.command(Command::IcarusWork(work));
        let hits = chain.sweep(100_259);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].frame, [0x00, 0x01, 0x87, 0xa2]);
    }
}
