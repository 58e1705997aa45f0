//! `sha256d bench --compare FILE` reads a saved run from outside: whatever the bytes, parsing
//! ends in a value or an error, never a panic, and what it accepts is within its bounds.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The parser is a file of the CLI binary, built here as it is.
// Only `spread` is used here.
#[allow(dead_code)]
#[path = "../../crates/cli/src/bench/stats.rs"]
mod stats;
#[path = "../../crates/cli/src/bench/saved.rs"]
mod saved;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = saved::parse(data) {
        assert!(s.rows.len() <= saved::MAX_ROWS);
        for (i, r) in s.rows.iter().enumerate() {
            assert!(r.mhs.is_finite() && r.mhs >= 0.0);
            assert!(r.versions >= 1);
            assert!(!s.rows[..i].iter().any(|o| saved::same_row(o, r)));
        }
    }
});
