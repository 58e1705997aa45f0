//! The `asic` engine against captured frames and the pty emulator.
#![cfg(target_os = "linux")]

use sha256d::engine::asic::{self, AsicEngine, Protocol, Reply, Settings};
use sha256d::hazmat as sha256;
use sha256d::hazmat::hex;
use sha256d::{Engine, ErrorKind, Header, Target, Work};
use sha256d_emulator::{self as emulator, Config, Fault};
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
    let job = asic::bm1397_job(0x08, 7, &header, &[mid; 4]);
    assert_eq!(job.len(), 152);
    let cmds = emulator::decode(Protocol::Bm1397, &job);
    assert!(matches!(&cmds[..], [emulator::Command::Job(b)] if b.len() == 146));
    let job = asic::bm1370_job(0x68, 0, &header);
    assert_eq!((job.len(), job[3]), (88, 0x56));
    assert!(matches!(
        &emulator::decode(Protocol::Bm1370, &job)[..],
        [emulator::Command::Job(_)]
    ));
}

const GENESIS: &str = "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c";

/// A target whose hashes have at least `bits` leading zero bits.
fn target_bits(bits: u32) -> Target {
    let mut le = [0xffu8; 32];
    for i in 0..bits as usize {
        le[31 - i / 8] &= !(0x80 >> (i % 8));
    }
    Target::from_le_bytes(le)
}

fn header() -> Header {
    let mut h = Header::from_hex(GENESIS).expect("genesis");
    h.time += 12345;
    h.version = 0x2000_0000;
    h
}

const RATE: f64 = 100_000.0;
/// What the engine is told the stick does: half the emulated rate, so a test machine busy
/// enough to slow the emulator down does not make it a stick slower than configured (which the
/// engine rightly reports as an error).
const ENGINE_RATE: f64 = RATE / 2.0;

fn emulate(protocol: Protocol, ticket_bits: u32, faults: Vec<Fault>) -> emulator::Emulator {
    let mut c = Config::new(protocol);
    c.hashrate = RATE;
    c.ticket_bits = ticket_bits;
    c.seed = 7;
    c.faults = faults;
    emulator::spawn(c).expect("a pty for the emulator")
}

fn engine(emu: &emulator::Emulator, protocol: Protocol, ticket_bits: u32) -> AsicEngine {
    AsicEngine::new(
        emu.path(),
        protocol,
        Settings {
            hashrate: ENGINE_RATE,
            ticket_bits,
            known_answer_every: Some(Duration::from_millis(300)),
        },
    )
    .expect("the emulator's pty exists")
}

fn portable() -> Box<dyn Engine> {
    sha256d::open("portable", &sha256d::Options::default()).expect("portable always runs")
}

#[test]
fn bm1397_matches_portable() {
    let emu = emulate(Protocol::Bm1397, 6, vec![]);
    let asic = engine(&emu, Protocol::Bm1397, 6);
    // One nonce, many versions: four midstates per job, and the ticket mask adds 2 bits.
    let work = Work::new(header(), target_bits(8))
        .with_nonces(1000..1001)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 2048))
        .expect("valid work");
    let want = portable().search(&work).expect("portable");
    assert!(!want.is_empty());
    assert_eq!(asic.search(&work).expect("asic"), want);
    assert!(
        asic.stats()
            .known_answers
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
    assert!(asic.describe().contains("1 chip"));
}

#[test]
fn bm1370_matches_portable_with_and_without_on_chip_rolling() {
    let emu = emulate(Protocol::Bm1370, 8, vec![]);
    let asic = engine(&emu, Protocol::Bm1370, 8);
    let work = Work::new(header(), target_bits(9))
        .with_nonces(77..78)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 10_000))
        .expect("valid work");
    let want = portable().search(&work).expect("portable");
    assert!(want.len() > 10);
    assert_eq!(asic.search(&work).expect("asic"), want);
    // A mask outside BIP320's bits: one job per version, rolling off.
    let work = Work::new(header(), target_bits(8))
        .with_nonces(5..6)
        .and_then(|w| w.with_version_rolling(0x0000_0ff0, 256))
        .expect("valid work");
    assert_eq!(
        asic.search(&work).expect("asic"),
        portable().search(&work).expect("portable")
    );
}

#[test]
fn a_chain_of_chips_is_enumerated_and_addressed() {
    let mut c = Config::new(Protocol::Bm1397);
    c.chips = 3;
    c.hashrate = RATE;
    c.ticket_bits = 8;
    let emu = emulator::spawn(c).expect("pty");
    let asic = engine(&emu, Protocol::Bm1397, 8);
    let work = Work::new(header(), target_bits(8))
        .with_nonces(3..4)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 256))
        .expect("valid work");
    assert_eq!(
        asic.search(&work).expect("asic"),
        portable().search(&work).expect("portable")
    );
    assert!(asic.describe().contains("3 chip"), "{}", asic.describe());
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
    // Ticket 40 bits at 200 kH/s: the golden work is not found within the wait.
    let emu = emulate(Protocol::Icarus, 60, vec![]);
    let asic = engine(&emu, Protocol::Icarus, 10);
    let work = Work::new(header(), target_bits(10));
    let err = asic.search(&work).expect_err("no detection");
    assert_eq!(err.kind(), ErrorKind::Device, "{err}");
}

fn faulty_run(faults: Vec<Fault>) -> (Vec<sha256d::Found>, Vec<sha256d::Found>, u64) {
    let emu = emulate(Protocol::Bm1370, 8, faults);
    let asic = engine(&emu, Protocol::Bm1370, 8);
    let work = Work::new(header(), target_bits(8))
        .with_nonces(9..10)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 8192))
        .expect("valid work");
    let mut got = Vec::new();
    let summary = asic
        .search_stream(&work, &sha256d::Control::new(), &mut |f| got.push(*f))
        .expect("faults short of unplugging do not fail the search");
    got.sort_unstable();
    (
        got,
        portable().search(&work).expect("portable"),
        summary.hardware_errors,
    )
}

#[test]
fn corrupted_replies_are_counted_and_never_returned() {
    let (got, want, errors) = faulty_run(vec![
        Fault::Garbage(0.2),
        Fault::BadCrc(0.2),
        Fault::WrongNonce(0.2),
        Fault::Drop(0.1),
    ]);
    assert!(
        got.iter().all(|f| want.contains(f)),
        "a wrong result got through"
    );
    assert!(
        got.len() * 2 > want.len(),
        "most results survive: {} of {}",
        got.len(),
        want.len()
    );
    assert!(errors > 0);
}

#[test]
fn slow_replies_lose_nothing() {
    let (got, want, errors) = faulty_run(vec![Fault::Slow(Duration::from_millis(30))]);
    assert_eq!(got, want);
    assert_eq!(errors, 0);
}

#[test]
fn unplug_and_hang_are_reported_in_bounded_time() {
    for fault in [Fault::Unplug(3), Fault::Hang(3)] {
        let emu = emulate(Protocol::Bm1370, 8, vec![fault]);
        let asic = engine(&emu, Protocol::Bm1370, 8);
        let work = Work::new(header(), target_bits(8))
            .with_nonces(9..10)
            .and_then(|w| w.with_version_rolling(0x1fff_e000, 1 << 16))
            .expect("valid work");
        let t = Instant::now();
        let err = asic.search(&work).expect_err("the stick went away");
        assert_eq!(err.kind(), ErrorKind::Device, "{fault:?}: {err}");
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "{fault:?} took {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn a_stick_that_hashes_wrongly_fails_its_known_answers() {
    let emu = emulate(Protocol::Bm1397, 8, vec![Fault::WrongNonce(1.0)]);
    let asic = AsicEngine::new(
        emu.path(),
        Protocol::Bm1397,
        Settings {
            hashrate: ENGINE_RATE,
            ticket_bits: 8,
            known_answer_every: Some(Duration::ZERO),
        },
    )
    .expect("pty exists");
    let work = Work::new(header(), target_bits(8))
        .with_nonces(1..2)
        .and_then(|w| w.with_version_rolling(0x1fff_e000, 64))
        .expect("valid work");
    let err = asic.search(&work).expect_err("known answers missed");
    assert!(err.message().contains("known-answer"), "{err}");
}

#[test]
fn open_needs_a_device_and_protocol() {
    let err = sha256d::open("asic", &sha256d::Options::default())
        .err()
        .expect("no device");
    assert!(err
        .message()
        .starts_with("needs --device PATH and --protocol icarus|bm1397|bm1370"));
}
