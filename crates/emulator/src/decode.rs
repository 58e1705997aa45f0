//! Host-to-chip byte stream decoding, written independently of the C driver so that each checks
//! the other.

use crate::Protocol;

/// Input kept while waiting for a frame to complete; beyond it the oldest bytes are dropped,
/// so a host streaming garbage cannot grow the emulator's memory.
const MAX_PENDING: usize = 4096;

/// One thing the host told the chip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// An Icarus 64-byte work packet.
    IcarusWork(Box<[u8; 64]>),
    /// Set the address of the first unaddressed chip.
    SetAddress(u8),
    /// Write a register: all chips, or the one at `chip`.
    Write {
        /// Broadcast.
        all: bool,
        /// Addressed chip (ignored when broadcast).
        chip: u8,
        /// Register.
        register: u8,
        /// Value (MSB first on the wire).
        value: u32,
    },
    /// Read a register.
    Read {
        /// Broadcast.
        all: bool,
        /// Addressed chip (ignored when broadcast).
        chip: u8,
        /// Register.
        register: u8,
    },
    /// Chain inactive: chips stop forwarding address commands until each is addressed.
    ChainInactive,
    /// A mining job; `body` is everything between LEN and the CRC16.
    Job(Vec<u8>),
    /// A frame with a bad checksum or an unknown header: the chip ignores it.
    Rejected,
}

/// Splits a host byte stream into commands for one protocol.
pub struct Decoder {
    protocol: Protocol,
    pending: Vec<u8>,
}

fn crc5(data: &[u8], bits: usize) -> u8 {
    let mut crc = 0x1fu8;
    for i in 0..bits {
        let bit = (data[i / 8] >> (7 - i % 8)) & 1;
        let top = (crc >> 4) & 1;
        crc = (crc << 1) & 0x1f;
        if bit ^ top != 0 {
            crc ^= 0x05;
        }
    }
    crc
}

fn crc16(data: &[u8]) -> u16 {
    let mut crc = 0xffffu16;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Seals a chip-to-host BM13xx frame: the last byte keeps its top 3 type bits and gets the CRC5
/// over everything after the preamble in its low 5 bits.
pub(super) fn seal_reply(frame: &mut [u8]) {
    let n = frame.len();
    let bits = (n - 3) * 8 + 3;
    let crc = crc5(&frame[2..], bits);
    frame[n - 1] = (frame[n - 1] & 0xe0) | crc;
}

impl Decoder {
    /// A decoder for `protocol`'s host-to-chip stream.
    pub fn new(protocol: Protocol) -> Self {
        Decoder {
            protocol,
            pending: Vec::new(),
        }
    }

    /// Adds bytes from the line.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() > MAX_PENDING {
            let excess = self.pending.len() - MAX_PENDING;
            self.pending.drain(..excess);
        }
    }

    /// The next complete command, if the buffered bytes hold one.
    pub fn next_command(&mut self) -> Option<Command> {
        self.next_frame().map(|(c, _)| c)
    }

    /// The next complete command with the bytes it came in.
    pub fn next_frame(&mut self) -> Option<(Command, Vec<u8>)> {
        match self.protocol {
            Protocol::Icarus => {
                if self.pending.len() < 64 {
                    return None;
                }
                let mut work = Box::new([0u8; 64]);
                work.copy_from_slice(&self.pending[..64]);
                let raw: Vec<u8> = self.pending.drain(..64).collect();
                Some((Command::IcarusWork(work), raw))
            }
            _ => self.next_bm13xx(),
        }
    }

    fn next_bm13xx(&mut self) -> Option<(Command, Vec<u8>)> {
        let start = self.pending.windows(2).position(|w| w == [0x55, 0xaa]);
        let Some(start) = start else {
            // Keep a trailing 0x55: it may begin the next preamble.
            let keep = usize::from(self.pending.last() == Some(&0x55));
            let drop = self.pending.len() - keep;
            self.pending.drain(..drop);
            return None;
        };
        self.pending.drain(..start);
        if self.pending.len() < 4 {
            return None;
        }
        let hdr = self.pending[2];
        let len = usize::from(self.pending[3]);
        let total = if hdr == 0x21 && self.protocol == Protocol::Bm1370 {
            // BM1370 evidently ignores LEN (hosts send 0x36, 0x56 or 0xFF): the model
            // fixes the frame size.
            88
        } else {
            len + 2
        };
        let plausible = match hdr {
            0x21 => total >= 24,
            _ => len == 5 || len == 9,
        };
        if !plausible {
            let raw: Vec<u8> = self.pending.drain(..2).collect();
            return Some((Command::Rejected, raw));
        }
        if self.pending.len() < total {
            return None;
        }
        let frame: Vec<u8> = self.pending.drain(..total).collect();
        Some((parse_frame(&frame), frame))
    }
}

fn parse_frame(frame: &[u8]) -> Command {
    let hdr = frame[2];
    let n = frame.len();
    if hdr == 0x21 {
        let crc = u16::from_be_bytes([frame[n - 2], frame[n - 1]]);
        if crc16(&frame[2..n - 2]) != crc {
            return Command::Rejected;
        }
        return Command::Job(frame[4..n - 2].to_vec());
    }
    if crc5(&frame[2..n - 1], (n - 3) * 8) != frame[n - 1] {
        return Command::Rejected;
    }
    let all = hdr & 0x10 != 0;
    let p = &frame[4..n - 1];
    match (hdr & 0x60, hdr & 0x0f, p.len()) {
        (0x40, 0, 2) => Command::SetAddress(p[0]),
        (0x40, 1, 6) => Command::Write {
            all,
            chip: p[0],
            register: p[1],
            value: u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
        },
        (0x40, 2, 2) => Command::Read {
            all,
            chip: p[0],
            register: p[1],
        },
        (0x40, 3, 2) => Command::ChainInactive,
        _ => Command::Rejected,
    }
}

/// Decodes a whole host byte stream at once (every complete command, in order).
pub fn decode(protocol: Protocol, bytes: &[u8]) -> Vec<Command> {
    let mut d = Decoder::new(protocol);
    let mut out = Vec::new();
    for chunk in bytes.chunks(MAX_PENDING) {
        d.push(chunk);
        while let Some(c) = d.next_command() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha256d::hazmat::hex;

    #[test]
    fn reference_command_frames_decode() {
        let cases: &[(&str, Command)] = &[
            (
                "55AA52050000 0A",
                Command::Read {
                    all: true,
                    chip: 0,
                    register: 0,
                },
            ),
            ("55AA53050000 03", Command::ChainInactive),
            ("55AA40050400 03", Command::SetAddress(4)),
            (
                "55AA5109001400 0000FF 08",
                Command::Write {
                    all: true,
                    chip: 0,
                    register: 0x14,
                    value: 0xff,
                },
            ),
            (
                "55AA51090028113002 00 03",
                Command::Write {
                    all: true,
                    chip: 0,
                    register: 0x28,
                    value: 0x1130_0200,
                },
            ),
        ];
        for (text, want) in cases {
            let bytes = hex::decode(&text.replace(' ', "")).expect("test vector is hex");
            assert_eq!(
                decode(Protocol::Bm1397, &bytes),
                core::slice::from_ref(want),
                "{text}"
            );
        }
    }

    #[test]
    fn bad_crc_and_garbage_are_rejected_without_losing_the_next_frame() {
        let mut bytes = hex::decode("0155AA5205000000").expect("hex");
        bytes.extend(hex::decode("55AA530500 0003".replace(' ', "").as_str()).expect("hex"));
        let got = decode(Protocol::Bm1397, &bytes);
        assert_eq!(got, [Command::Rejected, Command::ChainInactive]);
    }

    #[test]
    fn reply_sealing_matches_the_captured_frames() {
        for text in [
            "AA5513971800000006",
            "AA550003EA0F02209C",
            "AA554C0352750CD205A29C",
        ] {
            let want = hex::decode(text).expect("hex");
            let mut got = want.clone();
            let n = got.len();
            got[n - 1] &= 0xe0;
            seal_reply(&mut got);
            assert_eq!(got, want, "{text}");
        }
    }
}
