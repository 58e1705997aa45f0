//! BM13xx bring-up as a pure list of steps (frames to send, pauses, host baud changes), in the
//! order and with the values the reference firmware uses: ESP-Miner's `BM1370_init` for the
//! BM1370 and cgminer-gekko's Compac F sequence for the BM1397, each followed by a 6.25 MHz
//! frequency ramp to the chosen clock. The port loop runs the steps; discovery (counting the
//! chips that answer) happens between [`before_discovery`] and [`after_discovery`].

use super::ffi::command;
use super::regs::{self, hdr, reg, val, Pll};
use super::Protocol;
use alloc::vec::Vec;
use core::time::Duration;

/// One thing the host does during bring-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these bytes.
    Send(Vec<u8>),
    /// Wait this long.
    Pause(Duration),
    /// Switch the host's line to this rate (after pending output has drained).
    HostBaud(u32),
}

/// What the bring-up programs.
#[derive(Clone, Debug, PartialEq)]
pub struct Bringup {
    /// Chips discovered.
    pub chips: usize,
    /// The clock ramp, in MHz, each entry one PLL write; the last is the running clock.
    pub ramp: Vec<Pll>,
    /// The pause after each ramp step (the references wait 100 ms).
    pub ramp_pause: Duration,
    /// Extra zero bits the ticket mask asks for at bring-up (the search sets its own later).
    pub ticket_bits: u32,
}

/// The broadcast write of `value` to `register`.
pub fn write_all(register: u8, value: u32) -> Vec<u8> {
    let v = value.to_be_bytes();
    command(hdr::WRITE_ALL, &[0, register, v[0], v[1], v[2], v[3]])
}

/// The write of `value` to `register` of the chip at `addr`.
pub fn write_one(addr: u8, register: u8, value: u32) -> Vec<u8> {
    let v = value.to_be_bytes();
    command(hdr::WRITE, &[addr, register, v[0], v[1], v[2], v[3]])
}

/// The broadcast read of the chip-id register: every chip answers.
pub fn discovery() -> Vec<u8> {
    command(hdr::READ_ALL, &[0, reg::CHIP_ID])
}

/// A read of `register` of the chip at `addr` (the fence: answered after earlier nonces).
pub fn read_one(addr: u8, register: u8) -> Vec<u8> {
    command(hdr::READ, &[addr, register])
}

/// The host rate once the chips run at their fast rate.
pub fn fast_host_baud(protocol: Protocol) -> u32 {
    if protocol == Protocol::Bm1370 {
        1_041_667
    } else {
        1_562_500
    }
}

/// The chip-id a chip of `protocol` answers discovery with (register 0 bits 31..16).
pub fn chip_id(protocol: Protocol) -> u32 {
    if protocol == Protocol::Bm1370 {
        0x1370
    } else {
        0x1397
    }
}

/// The 0xA4 value for on-chip rolling of `mask` (header bits 28..13).
pub fn version_mask_value(mask: u32) -> u32 {
    val::VERSION_ROLLING | (mask >> 13)
}

/// Chip `i`'s address: the 256 addresses split evenly, as every reference does.
pub fn address(i: usize, chips: usize) -> u8 {
    (i * (256 / chips.max(1))) as u8
}

/// What goes out before discovery.
pub fn before_discovery(protocol: Protocol) -> Vec<Step> {
    match protocol {
        // The version-rolling enable also switches replies to the 11-byte form discovery reads.
        Protocol::Bm1370 => (0..3)
            .map(|_| {
                Step::Send(write_all(
                    reg::VERSION_MASK,
                    version_mask_value(0x1fff_e000),
                ))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Everything after discovery, through the baud change and the frequency ramp.
pub fn after_discovery(protocol: Protocol, b: &Bringup) -> Vec<Step> {
    match protocol {
        Protocol::Bm1370 => bm1370(b),
        _ => bm1397(b),
    }
}

fn ms(n: u64) -> Step {
    Step::Pause(Duration::from_millis(n))
}

fn bm1370(b: &Bringup) -> Vec<Step> {
    let w = |r, v| Step::Send(write_all(r, v));
    let mut s = vec![
        w(reg::VERSION_MASK, version_mask_value(0x1fff_e000)),
        w(reg::SOFT_RESET, val::SOFT_RESET_DEFAULT),
        w(reg::MISC_CONTROL, val::OPEN_CORE),
        Step::Send(command(hdr::CHAIN_INACTIVE, &[0, 0])),
    ];
    for i in 0..b.chips {
        s.push(Step::Send(command(
            hdr::SET_ADDRESS,
            &[address(i, b.chips), 0],
        )));
    }
    s.extend([
        w(reg::CORE_CONTROL, val::CORE_CLOCK_SELECT),
        w(reg::CORE_CONTROL, val::CORE_CLOCK_DELAY),
        w(reg::TICKET_MASK, regs::ticket_mask(b.ticket_bits)),
        w(reg::IO_DRIVER_STRENGTH, val::DRIVE_STRENGTH),
    ]);
    for i in 0..b.chips {
        let a = address(i, b.chips);
        for (r, v) in [
            (reg::SOFT_RESET, val::SOFT_RESET_CORES),
            (reg::MISC_CONTROL, val::OPEN_CORE),
            (reg::CORE_CONTROL, val::CORE_CLOCK_SELECT),
            (reg::CORE_CONTROL, val::CORE_CLOCK_DELAY),
            (reg::CORE_CONTROL, val::CORE_ENABLE),
        ] {
            s.push(Step::Send(write_one(a, r, v)));
        }
    }
    s.extend([
        w(reg::ADC_CTRL1, val::ADC_DIODE),
        w(reg::ANALOG_MUX, val::MUX_DIODE),
        w(reg::ADC_CTRL1, val::ADC_DIODE),
        w(reg::CORE_CONTROL, val::CORE_NONCE_OVERFLOW),
    ]);
    for p in &b.ramp {
        s.push(w(reg::PLL0, p.register(Protocol::Bm1370)));
        s.push(Step::Pause(b.ramp_pause));
    }
    // A full slice per core at the running clock; each search narrows it to what it needs.
    if let Some(&running) = b.ramp.last() {
        let full = regs::hcn_for(1 << regs::BM1370_COUNTER_BITS, running);
        s.push(w(reg::HASH_COUNTING_NUMBER, full));
    }
    s.extend([
        w(reg::FAST_UART, val::BM1370_FAST_BAUD),
        // Let the write leave at the old rate before the host's line changes.
        ms(20),
        Step::HostBaud(fast_host_baud(Protocol::Bm1370)),
        w(reg::VERSION_MASK, version_mask_value(0x1fff_e000)),
    ]);
    s
}

fn bm1397(b: &Bringup) -> Vec<Step> {
    let w = |r, v| Step::Send(write_all(r, v));
    let mut s = Vec::new();
    for _ in 0..3 {
        s.push(Step::Send(command(hdr::CHAIN_INACTIVE, &[0, 0])));
        s.push(ms(100));
    }
    for i in 0..b.chips {
        s.push(Step::Send(command(
            hdr::SET_ADDRESS,
            &[address(i, b.chips), 0],
        )));
        s.push(ms(10));
    }
    s.extend([
        w(reg::CLOCK_ORDER_0, 0),
        ms(10),
        w(reg::CLOCK_ORDER_1, 0),
        ms(100),
        w(reg::ORDERED_CLOCK_ENABLE, 1),
        ms(50),
        w(reg::CORE_CONTROL, val::BM1397_CORE_CONTROL),
        ms(100),
        w(reg::TICKET_MASK, regs::ticket_mask(b.ticket_bits)),
        w(reg::PLL3, val::BM1397_PLL3),
        ms(50),
        w(reg::PLL3, val::BM1397_PLL3),
        ms(50),
        w(reg::FAST_UART, val::BM1397_FAST_UART),
        ms(100),
        w(reg::MISC_CONTROL, val::BM1397_FAST_BAUD),
        ms(10),
        Step::HostBaud(fast_host_baud(Protocol::Bm1397)),
        ms(10),
    ]);
    for p in &b.ramp {
        for _ in 0..2 {
            s.push(ms(10));
            s.push(w(reg::PLL0_DIVIDER, val::BM1397_PLL0_DIVIDER));
        }
        for _ in 0..2 {
            s.push(ms(10));
            s.push(w(reg::PLL0, p.register(Protocol::Bm1397)));
        }
        s.push(Step::Pause(b.ramp_pause));
    }
    s
}
