//! The `asic` engine against captured frames and the pty emulator.
#![cfg(target_os = "linux")]

use sha256d::engine::asic::{self, AsicEngine, Protocol, Reply, Settings};
use sha256d::hazmat as sha256;
use sha256d::hazmat::hex;
use sha256d::{Engine, ErrorKind, Header, Target, Work};
use sha256d_emulator::{self as emulator, Config, Fault};
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(&text.replace(' ', "")).expect("test vector is hex")
}

#[test]
fn crcs_match_the_reference_command_frames() {
    for frame in [
        "55AA52050000 0A",
        "55AA53050000 03",
        "55AA40050000 1C",
        "55AA40050200 01",
        "55AA40050400 03",
        "55AA51090014000000FF 08",
        "55AA51090014 00000000 1C",
        "55AA5109001800007A31 15",
        "55AA51090008 40F00235 1E",
        "55AA51090028 11300200 03",
        "55AA510900A4 9000FFFF 1C",
    ] {
        let f = bytes(frame);
        let payload = &f[4..f.len() - 1];
        assert_eq!(asic::command(f[2], payload), f, "{frame}");
        assert_eq!(
            asic::crc5(&f[2..f.len() - 1], (f.len() - 3) * 8),
            f[f.len() - 1]
        );
    }
}

#[test]
fn golden_bm1397_job_frame_is_built_byte_for_byte() {
    let golden = bytes(
        "4679ba4ec99876bf4bfe086082b400254df6c356451471139a3afa71e48f544a\
         0000000000000000000000000000000000000000 87320b1a1426674f2fa722ce",
    );
    let mut mid = [0u32; 8];
    for (i, c) in golden[..32].chunks_exact(4).enumerate() {
        mid[7 - i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    let mut header = [0u8; 80];
    header[64..68].copy_from_slice(&golden[60..64]);
    header[68..72].copy_from_slice(&golden[56..60]);
    header[72..76].copy_from_slice(&golden[52..56]);
    let want = bytes(
        "55AA2136040100000000 87320B1A 1426674F 2FA722CE \
         4679BA4EC99876BF4BFE086082B400254DF6C356451471139A3AFA71E48F544A D161",
    );
    assert_eq!(asic::bm1397_job(0x04, 0, &header, &[mid]), want);
    assert_eq!(asic::icarus_work(&mid, &header, 0).to_vec(), golden);
}

#[test]
fn captured_replies_parse() {
    let p = asic::parse_replies(Protocol::Bm1397, &bytes("AA5513971800000006"));
    assert_eq!(
        p.replies,
        [Reply::Register {
            value: 0x1397_1800,
            chip: 0,
            register: 0
        }]
    );
    let p = asic::parse_replies(Protocol::Bm1397, &bytes("00 AA550003EA0F02209C AA"));
    assert_eq!(p.bad, 1);
    assert_eq!(p.pending, 1);
    assert!(matches!(
        p.replies[..],
        [Reply::Nonce {
            wire: [0x00, 0x03, 0xea, 0x0f],
            b6: 0x02,
            b7: 0x20,
            ..
        }]
    ));
    let p = asic::parse_replies(Protocol::Bm1370, &bytes("AA554C0352750CD205A29C"));
    let [Reply::Nonce {
        wire,
        b7,
        version_bits,
        ..
    }] = p.replies[..]
    else {
        panic!("expected one nonce reply, got {p:?}");
    };
    assert_eq!(u32::from_le_bytes(wire), 0x7552_034c);
    assert_eq!((b7 & 0xf0) >> 1, 0x68);
    assert_eq!(u32::from(version_bits) << 13, 0x00b4_4000);
    let p = asic::parse_replies(Protocol::Bm1370, &bytes("AA551370000000000000 10"));
    assert!(matches!(
        p.replies[..],
        [Reply::Register {
            value: 0x1370_0000,
            ..
        }]
    ));
    // A corrupted CRC is dropped, and the real frame right after it is still found.
    let p = asic::parse_replies(
        Protocol::Bm1397,
        &bytes("AA5513971800000007 AA5513971800000006"),
    );
    assert!(p.bad >= 1);
    assert_eq!(p.replies.len(), 1);
}

#[test]
fn frames_built_by_the_c_driver_decode_in_the_emulator() {
    let header = Header::from_hex(GENESIS).expect("genesis").to_bytes();
    let mid = sha256::Prehash::new(&header).midstate;
    let job = asic::bm1397_job(0x08, 0, &header, &[mid; 4]);
    assert_eq!(job.len(), 152);
    // The starting nonce is zero, as every reference sends it.
    assert_eq!(job[6..10], [0, 0, 0, 0]);
    let cmds = emulator::decode(emulator::Protocol::Bm1397, &job);
    assert!(matches!(&cmds[..], [emulator::Command::Job(b)] if b.len() == 146));
    let job = asic::bm1370_job(0x68, 0, &header);
    assert_eq!((job.len(), job[3]), (88, 0x56));
    assert!(matches!(
        &emulator::decode(emulator::Protocol::Bm1370, &job)[..],
        [emulator::Command::Job(_)]
    ));
}

const GENESIS: &str = sha256d::GENESIS_HEADER_HEX;

/// ESP-Miner's BM1370 ramp from its assumed 50 MHz power-on clock to the 525 MHz stock clock:
/// one 0x08 value per 6.25 MHz step, as its solver picks them (post dividers minus one, flag
/// 0x50 at a VCO of 2400 MHz or more).
const BM1370_RAMP: [u32; 76] = [
    0x40BD0265, 0x40AF0264, 0x40A50254, 0x40A80263, 0x40B60263, 0x40A80253, 0x40B40253, 0x40A00243,
    0x40AA0243, 0x40A20252, 0x40AB0252, 0x40B40252, 0x40BD0252, 0x40A50242, 0x40A10261, 0x40A80261,
    0x40AF0261, 0x40B60261, 0x40A20251, 0x40A80251, 0x40AE0251, 0x40B40251, 0x40BA0251, 0x40A00241,
    0x40A50241, 0x40AA0241, 0x40AF0241, 0x40B40241, 0x40B90241, 0x40BE0241, 0x50C30241, 0x40A00231,
    0x40A40231, 0x40A80231, 0x40AC0231, 0x40B00231, 0x40B40231, 0x40A10260, 0x40BC0231, 0x40A80260,
    0x50C40231, 0x40AF0260, 0x50CC0231, 0x40B60260, 0x50D40231, 0x40A20250, 0x40A50250, 0x40A80250,
    0x40AB0250, 0x40AE0250, 0x40B10250, 0x40B40250, 0x40B70250, 0x40BA0250, 0x40BD0250, 0x40A00240,
    0x50C30250, 0x40A50240, 0x50C90250, 0x40AA0240, 0x50CF0250, 0x40AF0240, 0x50D50250, 0x40B40240,
    0x50DB0250, 0x40B90240, 0x50E10250, 0x40BE0240, 0x50E70250, 0x50C30240, 0x50ED0250, 0x40A00230,
    0x40A20230, 0x40A40230, 0x40A60230, 0x40A80230,
];

/// The same ramp for BM1397 to gekko's 200 MHz Compac F clock (post dividers as they are).
const BM1397_RAMP: [u32; 24] = [
    0x403F0272, 0x403C0262, 0x40420262, 0x403C0252, 0x40410252, 0x40460252, 0x403C0242, 0x40400242,
    0x40440242, 0x403F0271, 0x404C0242, 0x403C0261, 0x403F0261, 0x40420261, 0x40450261, 0x403C0251,
    0x404B0261, 0x40410251, 0x40510261, 0x40460251, 0x40570261, 0x403C0241, 0x403E0241, 0x40400241,
];

/// A broadcast register write frame.
fn w(reg: u8, value: u32) -> Vec<u8> {
    let v = value.to_be_bytes();
    asic::command(0x51, &[0, reg, v[0], v[1], v[2], v[3]])
}

/// A register write frame to the chip at `addr`.
fn w1(addr: u8, reg: u8, value: u32) -> Vec<u8> {
    let v = value.to_be_bytes();
    asic::command(0x41, &[addr, reg, v[0], v[1], v[2], v[3]])
}

/// ESP-Miner's `BM1370_init` for one chip, then its baud change, with the ramp above and the
/// hash counting number for a full slice per core at 525 MHz.
fn bm1370_reference() -> Vec<Vec<u8>> {
    let mut f = vec![bytes("55AA510900A49000FFFF1C"); 3];
    f.push(bytes("55AA52050000 0A"));
    f.extend([
        bytes("55AA510900A49000FFFF1C"),
        w(0xA8, 0x0007_0000),
        w(0x18, 0xF000_C100),
        bytes("55AA53050000 03"),
        bytes("55AA40050000 1C"),
        w(0x3C, 0x8000_8B00),
        w(0x3C, 0x8000_800C),
        bytes("55AA51090014000000FF 08"),
        w(0x58, 0x0001_1111),
        w1(0, 0xA8, 0x0007_01F0),
        w1(0, 0x18, 0xF000_C100),
        w1(0, 0x3C, 0x8000_8B00),
        w1(0, 0x3C, 0x8000_800C),
        w1(0, 0x3C, 0x8000_82AA),
        w(0xB9, 0x0000_4480),
        w(0x54, 0x0000_0002),
        w(0xB9, 0x0000_4480),
        w(0x3C, 0x8000_8DEE),
    ]);
    f.extend(BM1370_RAMP.iter().map(|&v| w(0x08, v)));
    // ESP-Miner writes 798647 here: the same full slice less a 268-tick guard against the
    // overrun's duplicates. This driver drops duplicates on the host instead, so it keeps the
    // slice's last counters.
    f.push(w(0x10, 798_916));
    f.push(bytes("55AA51090028113002 00 03"));
    // Not in ESP-Miner: this driver counts the chips again at the new rate before going on.
    f.push(bytes("55AA52050000 0A"));
    f.push(bytes("55AA510900A49000FFFF1C"));
    f
}

/// cgminer-gekko's Compac F bring-up for one chip, with ESP-Miner's 6.25 MHz ramp to 200 MHz
/// (0x70 twice, then 0x08 twice, per step).
fn bm1397_reference() -> Vec<Vec<u8>> {
    let mut f = vec![bytes("55AA52050000 0A")];
    f.extend(vec![bytes("55AA53050000 03"); 3]);
    f.extend([
        bytes("55AA40050000 1C"),
        w(0x80, 0),
        w(0x84, 0),
        w(0x20, 1),
        w(0x3C, 0x8000_8074),
        bytes("55AA51090014000000FF 08"),
        w(0x68, 0xC070_0111),
        w(0x68, 0xC070_0111),
        w(0x28, 0x0600_000F),
        w(0x18, 0x0000_6131),
        // Not in gekko: this driver counts the chips again at the new rate before going on.
        bytes("55AA52050000 0A"),
    ]);
    for &v in &BM1397_RAMP {
        f.extend([
            w(0x70, 0x0F0F_0F00),
            w(0x70, 0x0F0F_0F00),
            w(0x08, v),
            w(0x08, v),
        ]);
    }
    f
}

fn header() -> Header {
    let mut h = Header::from_hex(GENESIS).expect("genesis");
    h.time += 12345;
    h.version = 0x2000_0000;
    h
}

/// A target whose hashes have at least `bits` leading zero bits.
fn target_bits(bits: u32) -> Target {
    let mut le = [0xffu8; 32];
    for i in 0..bits as usize {
        le[31 - i / 8] &= !(0x80 >> (i % 8));
    }
    Target::from_le_bytes(le)
}

const RATE: f64 = 120_000.0;
/// What the engine is told the stick does: a quarter of the emulated rate, so a test machine
/// busy enough to slow the emulator down does not make it a stick slower than configured
/// (which the engine rightly reports as an error).
const ENGINE_RATE: f64 = RATE / 4.0;

fn emu_protocol(p: Protocol) -> emulator::Protocol {
    match p {
        Protocol::Icarus => emulator::Protocol::Icarus,
        Protocol::Bm1397 => emulator::Protocol::Bm1397,
        _ => emulator::Protocol::Bm1370,
    }
}

/// An emulated stick with a relaxed ticket and no batch overrun, so short windows stay short.
fn config(protocol: Protocol, ticket_bits: u32, faults: Vec<Fault>) -> Config {
    let mut c = Config::new(emu_protocol(protocol));
    c.hashrate = RATE;
    c.ticket_bits = ticket_bits;
    c.overrun_ticks = 0;
    c.seed = 7;
    c.faults = faults;
    c
}

fn emulate(protocol: Protocol, ticket_bits: u32, faults: Vec<Fault>) -> emulator::Emulator {
    emulator::spawn(config(protocol, ticket_bits, faults)).expect("a pty for the emulator")
}

/// Settings matched to the emulator: its relaxed ticket and overrun, a short ramp pause, and
/// BM1370 at 50 MHz, where a one-tick window is 5 counters per core rather than 42.
fn settings(protocol: Protocol, ticket_bits: u32) -> Settings {
    let mut s = Settings::new(protocol);
    s.hashrate = ENGINE_RATE;
    s.ticket_bits = ticket_bits;
    s.known_answer_every = Some(Duration::from_secs(2));
    s.ramp_pause = Duration::from_millis(1);
    s.overrun_ticks = 0;
    if protocol == Protocol::Bm1370 {
        s.frequency_mhz = 50.0;
    }
    s
}

fn engine(emu: &emulator::Emulator, protocol: Protocol, ticket_bits: u32) -> AsicEngine {
    AsicEngine::new(emu.path(), protocol, settings(protocol, ticket_bits))
        .expect("the emulator's pty exists")
}

fn portable() -> Box<dyn Engine> {
    sha256d::open("portable", &sha256d::Options::default()).expect("portable always runs")
}

/// Brings a stick up at its stock clock with a tiny search and returns every frame it got.
fn bring_up(protocol: Protocol) -> (Vec<Vec<u8>>, emulator::ChipLog) {
    let emu = emulate(protocol, 8, vec![]);
    let mut s = settings(protocol, 8);
    s.frequency_mhz = Settings::new(protocol).frequency_mhz;
    s.known_answer_every = None;
    let asic = AsicEngine::new(emu.path(), protocol, s).expect("pty exists");
    let work = Work::new(header(), target_bits(8))
        .with_nonces(0..0)
        .expect("an empty range is valid work");
    asic.search(&work).expect("bring-up succeeds");
    // The last writes need no answer: give the emulator a moment to have read them.
    let until = Instant::now() + Duration::from_secs(5);
    let want = match protocol {
        Protocol::Bm1370 => bm1370_reference().len(),
        _ => bm1397_reference().len(),
    };
    while emu.stats().frames().len() < want && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    (emu.stats().frames(), emu.stats().chip())
}

#[test]
fn bm1370_bring_up_is_esp_miners_write_for_write() {
    let (frames, chip) = bring_up(Protocol::Bm1370);
    assert_eq!(frames, bm1370_reference());
    assert_eq!(chip.pll_rejects, 0);
    assert_eq!(chip.pll_jumps, 0, "every clock change is one ramp step");
    assert_eq!(chip.max_mhz, 525.0, "never past the stock clock");
}

#[test]
fn bm1397_bring_up_is_gekkos_with_a_ramp() {
    let (frames, chip) = bring_up(Protocol::Bm1397);
    assert_eq!(frames, bm1397_reference());
    assert_eq!((chip.pll_rejects, chip.pll_jumps), (0, 0));
    assert_eq!(chip.max_mhz, 200.0);
}

#[test]
fn a_missed_baud_change_is_retried_before_it_is_an_error() {
    for protocol in [Protocol::Bm1370, Protocol::Bm1397] {
        let emu = emulate(protocol, 8, vec![Fault::MissBaud(1)]);
        let asic = engine(&emu, protocol, 8);
        let work = Work::new(header(), target_bits(8))
            .with_nonces(0..64)
            .expect("valid work");
        assert_eq!(
            asic.search(&work)
                .unwrap_or_else(|e| panic!("{protocol:?}: the second try reaches the chip: {e}")),
            portable().search(&work).expect("portable"),
            "{protocol:?}"
        );
        let baud = if protocol == Protocol::Bm1370 {
            w(0x28, 0x1130_0200)
        } else {
            w(0x18, 0x0000_6131)
        };
        let sent = emu.stats().frames().iter().filter(|f| **f == baud).count();
        assert_eq!(sent, 2, "{protocol:?}: written once, missed, written again");
    }
}

#[test]
fn bm1397_matches_portable() {
    let emu = emulate(Protocol::Bm1397, 6, vec![]);
    let asic = engine(&emu, Protocol::Bm1397, 6);
    // Nonces below 256 sit at counter 0 of each core; the ticket mask adds 2 bits.
    let work = Work::new(header(), target_bits(8))
        .with_nonces(0..200)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 8))
        .expect("valid work");
    let want = portable().search(&work).expect("portable");
    assert!(!want.is_empty());
    assert_eq!(asic.search(&work).expect("asic"), want);
    assert!(asic.stats().known_answers.load(Relaxed) >= 1);
    assert!(asic.describe().contains("1 chip"), "{}", asic.describe());
}

#[test]
fn bm1370_matches_portable_with_and_without_on_chip_rolling() {
    let emu = emulate(Protocol::Bm1370, 8, vec![]);
    let asic = engine(&emu, Protocol::Bm1370, 8);
    // Even nonces at counter 0 of each core, odd ones at 2^24: two windows, two batches.
    let work = Work::new(header(), target_bits(9))
        .with_nonces(0..128)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 32))
        .expect("valid work");
    let want = portable().search(&work).expect("portable");
    assert!(want.len() > 5, "{}", want.len());
    assert_eq!(asic.search(&work).expect("asic"), want);
    // A mask outside BIP320's bits: one job per version, rolling off.
    let work = Work::new(header(), target_bits(8))
        .with_nonces(0..64)
        .and_then(|w| w.with_version_rolling(0x0000_0ff0, 2))
        .expect("valid work");
    assert_eq!(
        asic.search(&work).expect("asic"),
        portable().search(&work).expect("portable")
    );
}

#[test]
fn a_chain_of_chips_is_enumerated_and_addressed() {
    let mut c = config(Protocol::Bm1397, 8, vec![]);
    c.chips = 3;
    let emu = emulator::spawn(c).expect("pty");
    let asic = engine(&emu, Protocol::Bm1397, 8);
    let work = Work::new(header(), target_bits(8))
        .with_nonces(0..256)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 4))
        .expect("valid work");
    assert_eq!(
        asic.search(&work).expect("asic"),
        portable().search(&work).expect("portable")
    );
    assert!(asic.describe().contains("3 chip"), "{}", asic.describe());
    let set_address: Vec<Vec<u8>> = emu
        .stats()
        .frames()
        .into_iter()
        .filter(|f| f[2] == 0x40)
        .collect();
    assert_eq!(
        set_address,
        [
            bytes("55AA40050000 1C"),
            asic::command(0x40, &[85, 0]),
            asic::command(0x40, &[170, 0])
        ]
    );
}

#[test]
fn icarus_passes_detection_and_returns_each_versions_first_nonce() {
    let emu = emulate(Protocol::Icarus, 10, vec![]);
    let asic = engine(&emu, Protocol::Icarus, 10);
    let work = Work::new(header(), target_bits(10))
        .with_version_rolling(0x1fff_e000, 3)
        .expect("valid work");
    let got = asic.search(&work).expect("asic");
    // The stick counts the big-endian reading of the nonce and stops at its first find.
    let mut want: Vec<_> = (0..3)
        .map(|k| {
            let v = work.version(k);
            (0u32..)
                .map(|c| c.swap_bytes())
                .find(|&n| {
                    let h = sha256::sha256d_header(&work.header_bytes(v, n));
                    u32::from_le_bytes([h[28], h[29], h[30], h[31]]) <= u32::MAX >> 10
                })
                .map(|n| (v, n))
                .expect("a 10-bit nonce exists")
        })
        .collect();
    want.sort_unstable();
    let got: Vec<_> = got.iter().map(|f| (f.version, f.nonce)).collect();
    assert_eq!(got, want);
}

#[test]
fn an_icarus_that_never_answers_fails_detection() {
    // A 60-bit ticket: the golden work is never found within the wait.
    let emu = emulate(Protocol::Icarus, 60, vec![]);
    let asic = engine(&emu, Protocol::Icarus, 10);
    let work = Work::new(header(), target_bits(10));
    let err = asic.search(&work).expect_err("no detection");
    assert_eq!(err.kind(), ErrorKind::Device, "{err}");
}

fn bm1370_work() -> Work {
    Work::new(header(), target_bits(8))
        .with_nonces(0..128)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 16))
        .expect("valid work")
}

#[test]
fn faults_at_five_percent_never_pass_for_a_complete_result() {
    let work = bm1370_work();
    let want = portable().search(&work).expect("portable");
    assert!(want.len() > 5, "{}", want.len());
    let mut complete = 0;
    for fault in [
        Fault::Drop(0.05),
        Fault::BadCrc(0.05),
        Fault::WrongNonce(0.05),
    ] {
        for seed in 0..3 {
            let mut c = config(Protocol::Bm1370, 8, vec![fault]);
            c.seed = seed;
            let emu = emulator::spawn(c).expect("pty");
            let asic = engine(&emu, Protocol::Bm1370, 8);
            let mut got = Vec::new();
            let summary =
                asic.search_stream(&work, &sha256d::Control::new(), &mut |f| got.push(*f));
            got.sort_unstable();
            // A run may fail or say it is incomplete; one that claims completeness must be.
            if summary.is_ok_and(|s| !s.incomplete) {
                assert_eq!(got, want, "{fault:?} seed {seed}");
                complete += 1;
            }
        }
    }
    assert!(
        complete >= 3,
        "re-sweeping clears most faults: {complete} of 9"
    );
}

#[test]
fn corrupted_replies_are_counted_and_never_returned() {
    let emu = emulate(
        Protocol::Bm1370,
        8,
        vec![
            Fault::Garbage(0.2),
            Fault::BadCrc(0.2),
            Fault::WrongNonce(0.2),
        ],
    );
    let asic = engine(&emu, Protocol::Bm1370, 8);
    let work = bm1370_work();
    let mut got = Vec::new();
    let summary = asic
        .search_stream(&work, &sha256d::Control::new(), &mut |f| got.push(*f))
        .unwrap_or_else(|e| panic!("faults short of unplugging do not fail the search: {e}"));
    got.sort_unstable();
    let want = portable().search(&work).expect("portable");
    assert!(
        got.iter().all(|f| want.contains(f)),
        "a wrong result got through"
    );
    assert!(summary.hardware_errors > 0);
    assert!(asic.stats().resweeps.load(Relaxed) > 0);
}

#[test]
fn slow_replies_lose_nothing() {
    let emu = emulate(
        Protocol::Bm1370,
        8,
        vec![Fault::Slow(Duration::from_millis(30))],
    );
    let asic = engine(&emu, Protocol::Bm1370, 8);
    let work = bm1370_work();
    let mut got = Vec::new();
    let summary = asic
        .search_stream(&work, &sha256d::Control::new(), &mut |f| got.push(*f))
        .expect("slow replies are not an error");
    got.sort_unstable();
    assert_eq!(got, portable().search(&work).expect("portable"));
    assert_eq!((summary.hardware_errors, summary.incomplete), (0, false));
}

#[test]
fn unplug_and_hang_are_reported_in_bounded_time() {
    for fault in [Fault::Unplug(3), Fault::Hang(3)] {
        let emu = emulate(Protocol::Bm1370, 8, vec![fault]);
        let asic = engine(&emu, Protocol::Bm1370, 8);
        let work = Work::new(header(), target_bits(8))
            .with_nonces(0..256)
            .and_then(|w| w.with_version_rolling(0x1fff_e000, 1 << 12))
            .expect("valid work");
        let t = Instant::now();
        let err = asic.search(&work).expect_err("the stick went away");
        assert_eq!(err.kind(), ErrorKind::Device, "{fault:?}: {err}");
        // Generous: the bound is the fence timeout, not the machine's speed.
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{fault:?} took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn a_stick_that_hashes_wrongly_fails_its_known_answers() {
    let emu = emulate(Protocol::Bm1397, 8, vec![Fault::WrongNonce(1.0)]);
    let asic = engine(&emu, Protocol::Bm1397, 8);
    let work = Work::new(header(), target_bits(8))
        .with_nonces(1..2)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 64))
        .expect("valid work");
    let err = asic.search(&work).expect_err("known answers missed");
    assert!(err.message().contains("known-answer"), "{err}");
}

#[test]
fn hashrates_outside_any_stick_are_refused_not_panicked_on() {
    let emu = emulate(Protocol::Bm1370, 8, vec![]);
    for rate in [1e-10, 1e-6, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e300] {
        let mut s = settings(Protocol::Bm1370, 8);
        s.hashrate = rate;
        let err = AsicEngine::new(emu.path(), Protocol::Bm1370, s)
            .err()
            .unwrap_or_else(|| panic!("{rate} accepted"));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{rate}: {err}");
    }
    let mut s = settings(Protocol::Bm1370, 8);
    s.frequency_mhz = 1050.0;
    let err = AsicEngine::new(emu.path(), Protocol::Bm1370, s)
        .err()
        .expect("a 2x overclock is refused");
    assert!(err.message().contains("1050 MHz"), "{err}");
}

#[test]
fn cancelled_sweeps_are_not_credited_in_full() {
    let emu = emulate(Protocol::Bm1370, 8, vec![]);
    // Known answers are not what this test is about: a starved machine must not fail it.
    let mut s = settings(Protocol::Bm1370, 8);
    s.known_answer_every = None;
    let asic = AsicEngine::new(emu.path(), Protocol::Bm1370, s).expect("pty exists");
    // The whole nonce space: far more than the stick can do before the cancel.
    let work = Work::new(header(), target_bits(40));
    let ctl = sha256d::Control::new();
    let summary = std::thread::scope(|s| {
        let run = s.spawn(|| asic.search_stream(&work, &ctl, &mut |_| {}));
        std::thread::sleep(Duration::from_secs(3));
        // Credited as the sweep goes: a sweep of hours shows its rate long before it ends.
        assert!(ctl.hashes() > 0, "nothing credited in 3 s of a long sweep");
        ctl.cancel();
        run.join().expect("the search thread")
    })
    .expect("a cancelled search is not an error");
    assert!(summary.cancelled);
    // At most what the engine's hashrate allows in the time it ran, with room for slack.
    assert!(
        (summary.hashes as f64) < ENGINE_RATE * 60.0,
        "credited {} hashes",
        summary.hashes
    );
}

#[test]
fn open_needs_a_device_and_protocol() {
    let err = sha256d::open("asic", &sha256d::Options::default())
        .err()
        .expect("no device");
    assert!(
        err.message()
            .starts_with("the asic engine needs a device path and a protocol"),
        "{err}"
    );
    assert!(
        !err.message().contains("--"),
        "no CLI flags in a library error: {err}"
    );
}

/// A BM1370 re-sweeps its last window until told otherwise: a search that ends parks it, so
/// the stick hashes nothing between searches (a duty cycle's rests, a miner without work).
#[test]
fn a_finished_search_leaves_the_bm1370_parked() {
    let emu = emulate(Protocol::Bm1370, 8, vec![]);
    let asic = engine(&emu, Protocol::Bm1370, 8);
    let hashes = || emu.stats().hashes.load(Relaxed);
    asic.search(&bm1370_work()).expect("the search runs");
    let after = hashes();
    assert!(after > 0);
    std::thread::sleep(Duration::from_millis(500));
    // The park went out before the fence the search ended on: nothing after it.
    assert_eq!(hashes(), after);
    assert_eq!(emu.stats().chip().parks, 1);
}
