//! `sha256d emulate`: a software USB stick on a pseudo-terminal, served until unplugged.

use crate::values;
use sha256d::Error;
use sha256d_emulator::{self as emulator, Config, Stats};
use std::sync::atomic::AtomicBool;

/// `sha256d emulate`: run an emulated stick until interrupted.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct EmulateArgs {
    /// Wire protocol: icarus, bm1397 or bm1370.
    #[arg(long)]
    protocol: String,
    /// Chips on the chain (BM13xx), 1 to 256.
    #[arg(long, default_value_t = 1, value_parser = values::chips)]
    chips: usize,
    /// Hashes per second of the whole stick (1e3 to 1e15; k, M, G, T suffixes).
    #[arg(long, default_value_t = 1e6, value_parser = values::hashrate)]
    hashrate: f64,
    /// Zero bits every reported nonce has before the ticket mask (real chips: 32).
    #[arg(long, default_value_t = 32, value_parser = values::ticket_bits)]
    ticket_bits: u32,
    /// Ticks each BM1370 version batch runs past its deadline (silicon: about 130; 0 keeps a
    /// slow emulated stick from spending most of each short window past it).
    #[arg(long, default_value_t = 130)]
    overrun_ticks: u32,
    /// Seed for fault injection.
    #[arg(long, default_value_t = 0, value_parser = values::seed)]
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
        chips: args.chips,
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
    let stats = Stats::default();
    let stop = AtomicBool::new(false);
    // `outln!` flushes: the line is what scripts wait for.
    emulator::run(&config, &stats, &stop, |path| outln!("pty: {path}"))
        .map_err(|e| Error::new(sha256d::ErrorKind::Io, e.message()))
}
