//! BM13xx register addresses, values and the arithmetic behind them (PLL, hash counting number,
//! ticket mask), as the reference firmware (ESP-Miner, cgminer-gekko) and mujina's BM13xx
//! reference document them. Pure: no I/O.

use super::Protocol;

/// Frame header bytes (`TYPE | BROADCAST | CMD`).
pub mod hdr {
    /// Set the address of the first unaddressed chip.
    pub const SET_ADDRESS: u8 = 0x40;
    /// Write a register of one chip.
    pub const WRITE: u8 = 0x41;
    /// Read a register of one chip.
    pub const READ: u8 = 0x42;
    /// Write a register of every chip.
    pub const WRITE_ALL: u8 = 0x51;
    /// Read a register of every chip (discovery).
    pub const READ_ALL: u8 = 0x52;
    /// Chain inactive: every chip enters addressing mode.
    pub const CHAIN_INACTIVE: u8 = 0x53;
}

/// Register addresses.
pub mod reg {
    /// Chip id, core count byte and address (read only).
    pub const CHIP_ID: u8 = 0x00;
    /// PLL0 parameter: the hash clock.
    pub const PLL0: u8 = 0x08;
    /// BM1370: where each core's counter starts (`offset << 9`, bit 31 enables).
    pub const CHIP_NONCE_OFFSET: u8 = 0x0C;
    /// BM1366 and later: the sweep deadline in ticks of the 25 MHz crystal; 0 halts hashing.
    pub const HASH_COUNTING_NUMBER: u8 = 0x10;
    /// Extra zero bits a nonce needs before the chip reports it.
    pub const TICKET_MASK: u8 = 0x14;
    /// BM1397: baud divider; BM1370: nonce-reporting enables ("open core").
    pub const MISC_CONTROL: u8 = 0x18;
    /// BM1397: ordered clock enable.
    pub const ORDERED_CLOCK_ENABLE: u8 = 0x20;
    /// BM1397: fast UART configuration; BM1370: the baud divider (UART_BAUD).
    pub const FAST_UART: u8 = 0x28;
    /// Core register control (BM1397) / core mailbox (BM1370).
    pub const CORE_CONTROL: u8 = 0x3C;
    /// BM1370: analog mux select.
    pub const ANALOG_MUX: u8 = 0x54;
    /// BM1370: output drive strength.
    pub const IO_DRIVER_STRENGTH: u8 = 0x58;
    /// BM1397: PLL3 parameter.
    pub const PLL3: u8 = 0x68;
    /// BM1397: PLL0 divider, written before each PLL0 change.
    pub const PLL0_DIVIDER: u8 = 0x70;
    /// BM1397: clock order control 0 and 1.
    pub const CLOCK_ORDER_0: u8 = 0x80;
    /// See [`CLOCK_ORDER_0`].
    pub const CLOCK_ORDER_1: u8 = 0x84;
    /// BM1370: midstate generation and the on-chip version-rolling mask.
    pub const VERSION_MASK: u8 = 0xA4;
    /// BM1370: soft reset control.
    pub const SOFT_RESET: u8 = 0xA8;
    /// BM1370: ADC control, written around the analog mux select.
    pub const ADC_CTRL1: u8 = 0xB9;
}

/// Register values the reference bring-ups write, named by what they do.
pub mod val {
    /// 0xA4: automatic midstates, generation code 1; OR in the mask shifted right 13.
    pub const VERSION_ROLLING: u32 = 0x9000_0000;
    /// 0xA8 broadcast: the reset default (normalises chip state before addressing).
    pub const SOFT_RESET_DEFAULT: u32 = 0x0007_0000;
    /// 0xA8 per chip: core reset asserted before core configuration.
    pub const SOFT_RESET_CORES: u32 = 0x0007_01F0;
    /// 0x18 on BM1370: every quarter's nonce reporting enabled.
    pub const OPEN_CORE: u32 = 0xF000_C100;
    /// 0x3C on BM1370: clock select 0, then clock delay 0x0C, then core enable 0xAA.
    pub const CORE_CLOCK_SELECT: u32 = 0x8000_8B00;
    /// See [`CORE_CLOCK_SELECT`].
    pub const CORE_CLOCK_DELAY: u32 = 0x8000_800C;
    /// See [`CORE_CLOCK_SELECT`].
    pub const CORE_ENABLE: u32 = 0x8000_82AA;
    /// 0x3C on BM1370: nonce bin overflow control on.
    pub const CORE_NONCE_OVERFLOW: u32 = 0x8000_8DEE;
    /// 0x58 on BM1370: every output at drive strength 1.
    pub const DRIVE_STRENGTH: u32 = 0x0001_1111;
    /// 0xB9 on BM1370, paired with the temperature-diode mux select.
    pub const ADC_DIODE: u32 = 0x0000_4480;
    /// 0x54 on BM1370: select 2, the temperature diode.
    pub const MUX_DIODE: u32 = 0x0000_0002;
    /// 0x28 on BM1370: divider 2, 25 MHz / 24 = 1,041,667 baud.
    pub const BM1370_FAST_BAUD: u32 = 0x1130_0200;
    /// 0x3C on BM1397: core register control.
    pub const BM1397_CORE_CONTROL: u32 = 0x8000_8074;
    /// 0x68 on BM1397: PLL3.
    pub const BM1397_PLL3: u32 = 0xC070_0111;
    /// 0x28 on BM1397: fast UART configuration.
    pub const BM1397_FAST_UART: u32 = 0x0600_000F;
    /// 0x18 on BM1397: baud divider 1, 25 MHz / 16 = 1,562,500 baud (gekko's Compac F rate).
    pub const BM1397_FAST_BAUD: u32 = 0x0000_6131;
    /// 0x70 on BM1397, before every PLL0 write.
    pub const BM1397_PLL0_DIVIDER: u32 = 0x0F0F_0F00;
    /// 0x0C enable bit.
    pub const NONCE_OFFSET_ENABLE: u32 = 0x8000_0000;
}

/// The crystal every BM13xx chip is clocked from; register 0x10 counts its ticks.
pub const CRYSTAL_HZ: f64 = 25e6;
/// BM1370: cores per chip; a nonce's top 7 bits (read big-endian) name its core.
pub const BM1370_CORES: u64 = 128;
/// BM1370: versions each sweep hashes at once (one per sub-core).
pub const BM1370_BATCH: u64 = 16;
/// BM1370: bits of each core's counter (the nonce below the core id).
pub const BM1370_COUNTER_BITS: u32 = 25;
/// BM1370: the offset in register 0x0C is in units of this many counter values.
pub const BM1370_OFFSET_UNIT: u32 = 1 << 9;
/// BM1397: core slots; a nonce's top byte (read big-endian) names its core.
pub const BM1397_CORES: u64 = 256;
/// BM1397: bits of each core's counter.
pub const BM1397_COUNTER_BITS: u32 = 24;
/// The power-on hash clock ESP-Miner assumes before its ramp, in MHz.
pub const POWER_ON_MHZ: f64 = 50.0;
/// The ramp's step, in MHz (ESP-Miner and mujina's capture).
pub const RAMP_STEP_MHZ: f64 = 6.25;

/// A solved PLL setting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pll {
    /// Feedback divider.
    pub fb: u32,
    /// Reference divider.
    pub refdiv: u32,
    /// Post dividers (true values, not as stored).
    pub post1: u32,
    /// See [`Pll::post1`].
    pub post2: u32,
}

impl Pll {
    /// The hash clock in MHz.
    pub fn mhz(self) -> f64 {
        25.0 * f64::from(self.fb) / f64::from(self.refdiv * self.post1 * self.post2)
    }

    /// The VCO frequency in MHz.
    pub fn vco_mhz(self) -> f64 {
        25.0 * f64::from(self.fb) / f64::from(self.refdiv)
    }

    /// The 0x08 value: BM1370 stores the post dividers minus one and flags a VCO at or above
    /// 2400 MHz with 0x50; BM1397 stores them as they are under a 0x40 flag.
    pub fn register(self, protocol: Protocol) -> u32 {
        let (flag, p1, p2) = if protocol == Protocol::Bm1370 {
            let flag = if self.vco_mhz() >= 2400.0 { 0x50 } else { 0x40 };
            (flag, self.post1 - 1, self.post2 - 1)
        } else {
            (0x40, self.post1, self.post2)
        };
        (flag << 24) | (self.fb << 16) | (self.refdiv << 8) | (p1 << 4) | p2
    }
}

/// The feedback-divider range ESP-Miner's solver allows for each chip.
fn fb_range(protocol: Protocol) -> (u32, u32) {
    if protocol == Protocol::Bm1370 {
        (160, 239)
    } else {
        (60, 200)
    }
}

/// The dividers closest to `mhz`, preferring the lowest VCO and then the smallest post
/// dividers, with the first post divider strictly above the second: ESP-Miner's rules.
pub fn solve_pll(protocol: Protocol, mhz: f64) -> Option<Pll> {
    let (lo, hi) = fb_range(protocol);
    let mut best: Option<(f64, Pll)> = None;
    for refdiv in [2u32, 1] {
        for post1 in (1..=7u32).rev() {
            for post2 in (1..post1).rev() {
                let div = refdiv * post1 * post2;
                let fb = (mhz / 25.0 * f64::from(div)).round();
                if !(f64::from(lo)..=f64::from(hi)).contains(&fb) {
                    continue;
                }
                let p = Pll {
                    fb: fb as u32,
                    refdiv,
                    post1,
                    post2,
                };
                let diff = (p.mhz() - mhz).abs();
                let better = match best {
                    None => true,
                    Some((d, b)) => {
                        diff < d - 1e-4
                            || ((diff - d).abs() < 1e-4
                                && (p.vco_mhz() < b.vco_mhz() - 1e-4
                                    || ((p.vco_mhz() - b.vco_mhz()).abs() < 1e-4
                                        && post1 * post2 < b.post1 * b.post2)))
                    }
                };
                if better {
                    best = Some((diff, p));
                }
            }
        }
    }
    best.map(|(_, p)| p)
}

/// The frequencies a ramp from `from` to `to` MHz visits, in 6.25 MHz steps, ending at `to`.
/// A ramp to where the chip already is still writes `to` once: the power-on PLL value is not
/// documented, only the clock ESP-Miner assumes it gives.
pub fn ramp(from: f64, to: f64) -> alloc::vec::Vec<f64> {
    let mut out = alloc::vec::Vec::new();
    if (to - from).abs() < 1e-6 {
        out.push(to);
        return out;
    }
    let up = to > from;
    let step = |f: f64| {
        if up {
            (f / RAMP_STEP_MHZ).floor() as i64
        } else {
            (f / RAMP_STEP_MHZ).ceil() as i64
        }
    };
    let (mut cur, end) = (step(from), step(to));
    while cur != end {
        cur += if up { 1 } else { -1 };
        out.push(cur as f64 * RAMP_STEP_MHZ);
    }
    if out.last().is_none_or(|f| (f - to).abs() > 1e-6) {
        out.push(to);
    }
    out
}

/// The fewest ticks register 0x10 must hold for each BM1370 core to sweep `counters` values
/// at `pll` (the divider form, exact in integers).
pub fn hcn_for(counters: u64, pll: Pll) -> u32 {
    let num = counters * u64::from(pll.refdiv * pll.post1 * pll.post2);
    let den = 2 * u64::from(pll.fb);
    u32::try_from(num.div_ceil(den).max(1)).unwrap_or(u32::MAX)
}

/// Counter values each core sweeps in `hcn` ticks at `pll`.
pub fn counters_for(hcn: u32, pll: Pll) -> u64 {
    u64::from(hcn) * 2 * u64::from(pll.fb) / u64::from(pll.refdiv * pll.post1 * pll.post2)
}

/// The 0x14 value for `n` extra zero bits: 2^n - 1 with each byte's bits reversed.
pub fn ticket_mask(n: u32) -> u32 {
    let m = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
    u32::from_be_bytes(m.to_be_bytes().map(u8::reverse_bits))
}

/// The hash clock a chip runs at unless the user asks for another, in MHz: ESP-Miner's
/// Bitaxe Gamma default for BM1370, gekko's Compac F default for BM1397.
pub fn stock_mhz(protocol: Protocol) -> f64 {
    match protocol {
        Protocol::Bm1370 => 525.0,
        _ => 200.0,
    }
}

/// The highest clock any reference firmware offers for the chip, in MHz (ESP-Miner's option
/// lists); an explicit setting may go up to it, never past it.
pub fn max_mhz(protocol: Protocol) -> f64 {
    match protocol {
        Protocol::Bm1370 => 625.0,
        _ => 600.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pll_values_match_esp_miners_solver_and_the_captures() {
        let bm1370 = |f| solve_pll(Protocol::Bm1370, f).map(|p| p.register(Protocol::Bm1370));
        let bm1397 = |f| solve_pll(Protocol::Bm1397, f).map(|p| p.register(Protocol::Bm1397));
        assert_eq!(bm1370(525.0), Some(0x40A8_0230));
        assert_eq!(bm1370(56.25), Some(0x40BD_0265));
        assert_eq!(bm1370(600.0), Some(0x50C0_0230));
        assert_eq!(bm1397(200.0), Some(0x4040_0241));
        assert_eq!(bm1397(425.0), Some(0x4044_0221));
        // mujina's capture wrote 525 MHz as 0x50D20240: the same clock, a higher VCO.
        let captured = Pll {
            fb: 0xD2,
            refdiv: 2,
            post1: 5,
            post2: 1,
        };
        assert_eq!(captured.register(Protocol::Bm1370), 0x50D2_0240);
        assert_eq!(captured.mhz(), 525.0);
    }

    #[test]
    fn hcn_covers_a_cores_slice_as_esp_miner_computes_it() {
        let pll = solve_pll(Protocol::Bm1370, 525.0).expect("525 MHz solves");
        let full = hcn_for(1 << BM1370_COUNTER_BITS, pll);
        // ESP-Miner: 2^32/128 * 25/525 * 0.5 = 798915.05 ticks, less its 268-tick guard.
        assert_eq!(full, 798_916);
        assert!(counters_for(full, pll) >= 1 << BM1370_COUNTER_BITS);
        assert!(counters_for(full - 1, pll) < 1 << BM1370_COUNTER_BITS);
    }

    #[test]
    fn the_ramp_climbs_in_quarter_steps_from_power_on() {
        let r = ramp(POWER_ON_MHZ, 525.0);
        assert_eq!((r.len(), r[0], r[r.len() - 1]), (76, 56.25, 525.0));
        assert_eq!(ramp(200.0, 200.0), [200.0]);
        assert_eq!(ramp(50.0, 60.0), [56.25, 60.0]);
        assert_eq!(ticket_mask(8), 0xff);
        assert_eq!(ticket_mask(10), 0xc0ff);
    }
}
