//! The power policy's file parsers on hostile bytes: the price parser and the hard-stop
//! parser may not panic; a price that parses is finite and its text was small; a hard stop
//! that parses writes back to JSON that parses to the same stop; a setpoint that parses
//! displays as one that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::power::{parse_price, Cap, HardStop, MAX_PRICE_FILE_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(price) = parse_price(data) {
        assert!(price.is_finite());
        assert!(data.len() <= MAX_PRICE_FILE_BYTES);
    }
    if let Ok(stop) = HardStop::from_json(data) {
        assert_eq!(HardStop::from_json(stop.to_json().as_bytes()), Ok(stop));
    }
    // Longer numbers may sit near f64::MAX, where a display and re-parse can round past it.
    if let Some(text) = std::str::from_utf8(data).ok().filter(|t| t.len() <= 64) {
        if let Ok(cap) = text.parse::<Cap>() {
            let shown = cap.to_string();
            assert!(shown.parse::<Cap>().is_ok(), "{shown}");
        }
    }
});
