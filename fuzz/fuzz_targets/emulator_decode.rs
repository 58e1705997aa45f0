//! Arbitrary host bytes through the emulator's command decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_emulator::{decode, Command, Protocol};

fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::Icarus, Protocol::Bm1397, Protocol::Bm1370] {
        for cmd in decode(protocol, data) {
            if let Command::Job(body) = cmd {
                assert!(body.len() <= 256, "a job body is bounded by its one-byte LEN");
            }
        }
    }
});
