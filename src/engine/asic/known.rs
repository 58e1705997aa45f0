//! Known-answer policy: which header a stick must answer, where in the chip's sweep the answer
//! lies, when one is due, and how late it may come. Pure, apart from the host hashing that
//! finds a fresh vector when the chip's ticket is relaxed.

use crate::{sha256, Header};
use core::time::Duration;

/// A header with a nonce known to clear the chip's ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vector {
    /// The header, its nonce field holding the answer.
    pub header: [u8; 80],
    /// The answer.
    pub nonce: u32,
    /// The version field (the chip rolls nothing away from it: rolled bits are zero).
    pub version: u32,
}

/// Genesis: a real header with 43 zero bits, for chips that hard-wire all 32.
const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000\
                       000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa\
                       4b1e5e4a29ab5f49ffff001d1dac2b7c";

/// Host hashes spent looking for a fresh vector before settling for genesis.
const SEARCH_BUDGET: u32 = 1 << 22;

fn zero_bits(header: &[u8; 80]) -> u32 {
    let h = sha256::sha256d_header(header);
    let mut n = 0;
    for b in h.iter().rev() {
        n += b.leading_zeros();
        if *b != 0 {
            break;
        }
    }
    n
}

/// A vector whose answer is among the first nonces a chip reaches: counter 0 of some core
/// (`nonce = core << shift`, read big-endian), with no rolled version bits. Found on the host
/// when `ticket_bits` is small enough to make that cheap; otherwise genesis, whose answer a
/// real chip reaches within milliseconds.
pub fn vector(ticket_bits: u32, cores: u32, shift: u32) -> Vector {
    if ticket_bits <= 20 {
        let mut h = Header::from_hex(GENESIS).expect("GENESIS is a valid header");
        h.version = 0x2000_0000;
        let mut spent = 0u32;
        while spent < SEARCH_BUDGET {
            h.time = h.time.wrapping_add(1);
            for core in 0..cores {
                let nonce = (core << shift).swap_bytes();
                h.nonce = nonce;
                let bytes = h.to_bytes();
                spent += 1;
                if zero_bits(&bytes) >= ticket_bits {
                    return Vector {
                        header: bytes,
                        nonce,
                        version: h.version,
                    };
                }
            }
        }
    }
    let h = Header::from_hex(GENESIS).expect("GENESIS is a valid header");
    Vector {
        header: h.to_bytes(),
        nonce: h.nonce,
        version: h.version,
    }
}

/// When known answers are due and what a run of misses means.
#[derive(Clone, Debug)]
pub struct Policy {
    /// How often one is due during searching; `None`: never.
    pub every: Option<Duration>,
    /// When the last one was sent.
    pub last: Option<f64>,
    /// Misses in a row.
    pub misses: u32,
    /// Whether the stick has passed one since it was opened.
    pub passed: bool,
}

/// Misses in a row that end the search with an error.
pub const MAX_MISSES: u32 = 3;
/// Time beyond the expected sweep a known answer may take: host scheduling, USB latency and
/// a busy machine, none of which scale with the job.
pub const SLACK: Duration = Duration::from_millis(300);

impl Policy {
    /// A policy that sends one every `every`.
    pub fn new(every: Option<Duration>) -> Self {
        Policy {
            every,
            last: None,
            misses: 0,
            passed: false,
        }
    }

    /// Whether one is due at `now` (seconds on any monotonic clock).
    pub fn due(&self, now: f64) -> bool {
        match (self.every, self.last) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(e), Some(t)) => now - t >= e.as_secs_f64(),
        }
    }

    /// The deadline for an answer the stick should reach in `expected`.
    pub fn deadline(expected: Duration) -> Duration {
        expected + expected / 2 + SLACK
    }

    /// Records an answered one.
    pub fn pass(&mut self, now: f64) {
        self.last = Some(now);
        self.misses = 0;
        self.passed = true;
    }

    /// Records a miss; returns whether the stick has now missed too many in a row.
    pub fn miss(&mut self, now: f64) -> bool {
        self.last = Some(now);
        self.misses += 1;
        self.misses >= MAX_MISSES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relaxed_ticket_gets_a_vector_at_counter_zero() {
        let v = vector(8, 128, 25);
        assert!(zero_bits(&v.header) >= 8);
        assert_eq!(v.nonce.swap_bytes() & ((1 << 25) - 1), 0);
        let g = vector(32, 128, 25);
        assert_eq!(g.nonce, 2_083_236_893);
    }

    #[test]
    fn misses_in_a_row_fail_and_a_pass_resets() {
        let mut p = Policy::new(Some(Duration::from_secs(10)));
        assert!(p.due(0.0));
        assert!(!p.miss(0.0) && !p.miss(1.0));
        p.pass(2.0);
        assert!(!p.due(5.0) && p.due(12.0));
        assert!(!p.miss(13.0) && !p.miss(14.0) && p.miss(15.0));
        assert_eq!(
            Policy::deadline(Duration::from_millis(20)),
            Duration::from_millis(330)
        );
    }
}
