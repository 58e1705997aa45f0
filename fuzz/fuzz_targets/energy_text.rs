//! What the energy meters read from others: sysfs value and name files (any driver's bytes)
//! and `--energy` specs. None may panic; a number parses only from its own digits, a name
//! keeps within its cap and its label characters, and a spec prints back to one that parses
//! to the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::energy::sysfs::{parse_name, parse_number, MAX_NAME};
use sha256d_mining::energy::MeterSpec;

fuzz_target!(|data: &[u8]| {
    if let Some(n) = parse_number(data) {
        assert_eq!(n.to_string().parse::<u64>(), Ok(n));
        assert!(data.len() <= 21);
    }
    if let Some(name) = parse_name(data) {
        assert!(name.chars().count() <= MAX_NAME);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.?".contains(c)));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(spec) = text.parse::<MeterSpec>() {
            assert_eq!(spec.to_string().parse::<MeterSpec>().ok(), Some(spec));
        }
    }
});
