//! The share log's line parser and the verifier over it, on hostile bytes: neither may
//! panic; a line that parses writes back to the same bytes; a stream is read in lines of at
//! most `MAX_LINE` bytes, whatever it holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::share_log::{Record, Verifier, MAX_LINE};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::parse(data) {
        assert_eq!(record.to_line().as_bytes(), data);
        assert!(data.len() <= MAX_LINE);
        let _ = record.check();
    }
    let mut verifier = Verifier::new();
    if verifier.read(data).is_ok() {
        let lines = data.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(verifier.summary().lines, lines);
    }
});
