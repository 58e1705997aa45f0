//! Throughput, accounting and latency of the `asic` engine against the pty emulator.
//!
//! Not a timed test: it prints figures. Run with `cargo bench --features asic --bench asic`.
//! Drives ~1,000+ replies/s for 30 s (override with ASIC_BENCH_SECS) and reports replies lost,
//! host CPU on the engine's thread, and how soon a job handed to the engine reaches the chip.

use sha256d::engine::asic::{AsicEngine, Protocol, Settings};
use sha256d::{Control, Engine, Header, Target, Work};
use sha256d_emulator::{self as emulator, Config};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

/// CPU seconds this thread has used.
fn thread_cpu() -> f64 {
    cpu_time::ThreadTime::try_now().map_or(0.0, |t| t.as_duration().as_secs_f64())
}

fn main() {
    let secs: u64 = std::env::var("ASIC_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let rate = 400_000.0;
    let ticket = 8;
    let mut c = Config::new(emulator::Protocol::Bm1370);
    c.hashrate = rate;
    c.ticket_bits = ticket;
    c.overrun_ticks = 0;
    let emu = emulator::spawn(c).expect("a pty");
    let mut settings = Settings::new(Protocol::Bm1370);
    settings.hashrate = rate;
    settings.ticket_bits = ticket;
    settings.known_answer_every = None;
    settings.frequency_mhz = 50.0;
    settings.ramp_pause = Duration::from_millis(1);
    settings.confirm_sweeps = 0;
    settings.overrun_ticks = 0;
    let engine = AsicEngine::new(emu.path(), Protocol::Bm1370, settings).expect("engine");
    let mut header = Header::genesis();
    header.version = 0x2000_0000;
    let mut le = [0xffu8; 32];
    le[31] = 0;
    let target = Target::from_le_bytes(le);

    // The first search opens and initialises the stick; latency is measured after it.
    engine
        .search(&Work::new(header, target).with_nonces(0..1).expect("range"))
        .expect("warm-up search");
    // Latency: a job handed to the engine, until the emulated chip has read it.
    let mut worst = Duration::ZERO;
    let mut total = Duration::ZERO;
    let rounds = 20;
    for i in 0..rounds {
        header.time += 1;
        let work = Work::new(header, target)
            .with_nonces(i..i + 1)
            .expect("range");
        let t0 = Instant::now();
        engine.search(&work).expect("search");
        let got = emu.stats().last_job().expect("a job arrived") - t0;
        worst = worst.max(got);
        total += got;
    }

    // Throughput: one full-range job, cancelled after `secs`.
    header.time += 1;
    let work = Work::new(header, target);
    let ctl = Control::new();
    let sent_before = emu.stats().nonces_sent.load(Relaxed);
    let seen_before = engine.stats().nonce_replies.load(Relaxed);
    let (summary, cpu, wall) = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_secs(secs));
            ctl.cancel();
        });
        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        let summary = engine
            .search_stream(&work, &ctl, &mut |_| {})
            .expect("search");
        (summary, thread_cpu() - cpu0, t0.elapsed())
    });
    let sent = emu.stats().nonces_at_last_register_reply() - sent_before;
    let seen = engine.stats().nonce_replies.load(Relaxed) - seen_before;
    let st = engine.stats();
    println!("asic bench (bm1370 emulator, {rate} H/s, ticket {ticket} bits, {secs} s)");
    println!(
        "  replies: {seen} received of {sent} sent before the final fence ({:.0}/s); lost {}",
        seen as f64 / wall.as_secs_f64(),
        sent.saturating_sub(seen)
    );
    println!(
        "  accounted: found {} + hardware errors {} (filtered {}, overruns {}, duplicates {})",
        summary.found,
        summary.hardware_errors,
        st.filtered.load(Relaxed),
        st.overruns.load(Relaxed),
        st.duplicates.load(Relaxed)
    );
    println!(
        "  host CPU on the engine thread: {cpu:.2} s in {:.1} s = {:.1}% of one core",
        wall.as_secs_f64(),
        100.0 * cpu / wall.as_secs_f64()
    );
    println!(
        "  job latency (handed to engine -> read by chip), {rounds} searches: mean {:.2} ms, worst {:.2} ms",
        total.as_secs_f64() * 1e3 / f64::from(rounds as u32),
        worst.as_secs_f64() * 1e3
    );
}
