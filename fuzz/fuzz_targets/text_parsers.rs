//! Every parser of text a user or peer hands us: headers, hashes, targets, nBits, nonce
//! ranges. None may panic, and what parses must print back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d::{CompactTarget, Hash, Header, Target};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(h) = Header::from_hex(text) {
        assert_eq!(Header::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(h.to_hex(), text.trim().to_ascii_lowercase());
    }
    if let Ok(h) = Hash::from_display_hex(text) {
        assert_eq!(Hash::from_display_hex(&h.to_string()), Ok(h));
    }
    if let Ok(t) = Target::from_be_hex(text) {
        assert_eq!(Target::from_be_hex(&t.to_be_hex()), Ok(t));
    }
    if let Ok(c) = CompactTarget::from_hex(text) {
        assert_eq!(CompactTarget::from_hex(&c.to_string()), Ok(c));
    }
    if let Ok(r) = sha256d::parse_nonce_range(text) {
        let _ = sha256d::Work::new(Header::from_bytes(&[0; 80]), Target::MAX).with_nonces(r);
    }
});
