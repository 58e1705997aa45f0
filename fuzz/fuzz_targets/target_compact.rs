//! nBits, targets and difficulty: decoding never panics, and valid encodings survive a round
//! trip through the lossy re-encoding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d::{CompactTarget, Target};

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let raw = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    if let Ok(t) = Target::from_compact(CompactTarget::from_consensus(raw)) {
        let again = Target::from_compact(t.to_compact_lossy()).expect("re-encoding is valid");
        assert_eq!(again, t, "{raw:08x}");
    }
    if data.len() >= 36 {
        let t = Target::from_le_bytes(data[4..36].try_into().expect("32 bytes"));
        // Lossy encoding rounds down and never grows the target.
        if let Ok(back) = Target::from_compact(t.to_compact_lossy()) {
            assert!(back <= t);
        }
    }
    if data.len() >= 12 {
        let d = f64::from_le_bytes(data[4..12].try_into().expect("8 bytes"));
        if let Ok(t) = Target::from_difficulty(d) {
            assert!(d > 0.0 && d.is_finite());
            let _ = t.difficulty_float();
        }
    }
});
