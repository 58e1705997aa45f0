//! Arbitrary device bytes through the C reply parser, for every reply size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d::engine::asic::{parse_replies, Protocol};

fuzz_target!(|data: &[u8]| {
    for protocol in [Protocol::Icarus, Protocol::Bm1397, Protocol::Bm1370] {
        let parsed = parse_replies(protocol, data);
        // Every byte is a reply, dropped, or pending: never more replies than the input holds.
        assert!(parsed.replies.len() * protocol.reply_len() <= data.len());
        assert!(parsed.pending <= data.len());
    }
});
