//! Finding serial devices that may be mining sticks: USB ids from sysfs, matched against the
//! bridges known sticks sit behind.

use alloc::{format, string::String, vec::Vec};

/// A serial device that may be a mining stick.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The tty path, e.g. `/dev/ttyUSB0`.
    pub path: String,
    /// USB vendor and product id.
    pub usb_id: (u16, u16),
    /// What sticks use that id, and with which protocol.
    pub guess: &'static str,
}

/// USB ids of the bridges known sticks sit behind.
const KNOWN_IDS: &[(u16, u16, &str)] = &[
    (0x067b, 0x2303, "Icarus (PL2303): protocol icarus"),
    (
        0x10c4,
        0xea60,
        "Block Erupter / Antminer U1-U3 (CP2102): protocol icarus",
    ),
    (
        0x0403,
        0x6015,
        "GekkoScience Compac F / R909, BM1397 (FT230X): protocol bm1397",
    ),
    (
        0x10c4,
        0xea70,
        "GekkoScience Compac A2, BM1370 (CP2105): protocol bm1370",
    ),
    (0x0403, 0x6001, "Lancelot (FT232R): protocol icarus"),
    (0x0403, 0x6014, "Cairnsmore1 (FTDI)"),
    (0x0403, 0x8350, "Cairnsmore2 (FTDI)"),
    (0x1a86, 0x7523, "CH340 serial bridge"),
    (0x1a86, 0x5523, "CH341 serial bridge"),
    (0x1a86, 0x7522, "CH340 serial bridge"),
];

/// Serial devices whose USB ids match a known stick, or whose USB strings say Bitaxe.
pub fn discover() -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/class/tty") else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(mut dir) = std::fs::canonicalize(entry.path().join("device")) else {
            continue;
        };
        // idVendor sits on the USB device, a few levels above the interface the tty hangs off.
        for _ in 0..4 {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
            let hex = |f: &str| read(f).and_then(|s| u16::from_str_radix(s.trim(), 16).ok());
            if let (Some(v), Some(p)) = (hex("idVendor"), hex("idProduct")) {
                let product = read("product").unwrap_or_default();
                let guess = KNOWN_IDS
                    .iter()
                    .find(|k| k.0 == v && k.1 == p)
                    .map(|k| k.2)
                    .or_else(|| {
                        product
                            .contains("Bitaxe")
                            .then_some("Bitaxe (bitaxe-raw): protocol bm1370 on its second port")
                    });
                if let Some(guess) = guess {
                    out.push(Candidate {
                        path: format!("/dev/{name}"),
                        usb_id: (v, p),
                        guess,
                    });
                }
                break;
            }
            if !dir.pop() {
                break;
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
