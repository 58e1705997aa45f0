//! `sha256d emulate`: a software USB stick on a pseudo-terminal, served until unplugged.

use sha256d::Error;
use sha256d_emulator::{self as emulator, Config, Stats};
use std::sync::atomic::AtomicBool;

/// `sha256d emulate`: run an emulated stick until interrupted.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct EmulateArgs {
    /// Wire protocol: icarus, bm1397 or bm1370.
    #[arg(long)]
    protocol: String,
    /// Chips on the chain (BM13xx).
    #[arg(long, default_value_t = 1)]
    chips: usize,
    /// Hashes per second of the whole stick.
    #[arg(long, default_value_t = 1e6)]
    hashrate: f64,
    /// Zero bits every reported nonce has before the ticket mask (real chips: 32).
    #[arg(long, default_value_t = 32)]
    ticket_bits: u32,
    /// Ticks each BM1370 version batch runs past its deadline (silicon: about 130; 0 keeps a
    /// slow emulated stick from spending most of each short window past it).
    #[arg(long, default_value_t = 130)]
    overrun_ticks: u32,
    /// Seed for fault injection.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A fault to inject (repeatable): garbage=P, drop=P, bad-crc=P, wrong-nonce=P, slow=MS,
    /// unplug=N, hang=N, miss-baud=N.
    #[arg(long)]
    fault: Vec<String>,
}

/// Runs the emulator for the CLI: prints `pty: PATH` first, then serves until unplugged.
pub(crate) fn run(args: EmulateArgs) -> Result<(), Error> {
    let emu = |e: emulator::Error| Error::invalid(e.message());
    let config = Config {
        protocol: args.protocol.parse().map_err(emu)?,
        chips: args.chips.max(1),
        hashrate: args.hashrate,
        ticket_bits: args.ticket_bits,
        overrun_ticks: args.overrun_ticks,
        seed: args.seed,
        faults: args
            .fault
            .iter()
            .map(|f| f.parse())
            .collect::<Result<_, _>>()
            .map_err(emu)?,
    };
    if config.chips > 256 {
        return Err(Error::invalid("at most 256 chips on a chain"));
    }
    let stats = Stats::default();
    let stop = AtomicBool::new(false);
    emulator::run(&config, &stats, &stop, |path| {
        use std::io::Write;
        println!("pty: {path}");
        // The line is what scripts wait for; push it out now, not when the buffer fills.
        let _ = std::io::stdout().flush();
    })
    .map_err(|e| Error::new(sha256d::ErrorKind::Io, e.message()))
}
