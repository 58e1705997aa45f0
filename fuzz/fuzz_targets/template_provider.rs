//! What a pool (or anything that finished the Noise handshake) sends a Template Provider:
//! frames into a session that has a segwit template with two transactions, optionally set up
//! first so the fuzzer starts past SetupConnection. None may panic; every message the session
//! sends must encode; a block it hands to `submitblock` has the template's parent and meets its
//! target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use sha256d::Header;
use sha256d_mining::gbt::Template;
use sha256d_mining::sv2::template_provider::{frame, Output, Session};
use std::sync::{Arc, OnceLock};

fn template() -> Arc<Template> {
    static TEMPLATE: OnceLock<Arc<Template>> = OnceLock::new();
    TEMPLATE
        .get_or_init(|| {
            let txs: Vec<_> = [1u8, 2]
                .iter()
                .map(|&i| {
                    // Version 1, one input spending outpoint (i…i, 0) with an OP_TRUE
                    // scriptSig, one 1000-sat OP_TRUE output, lock time 0.
                    let mut data = vec![1, 0, 0, 0, 1];
                    data.extend_from_slice(&[i; 32]);
                    data.extend_from_slice(&[0; 4]);
                    data.extend_from_slice(&[1, 0x51]);
                    data.extend_from_slice(&[0xff; 4]);
                    data.push(1);
                    data.extend_from_slice(&1000u64.to_le_bytes());
                    data.extend_from_slice(&[1, 0x51]);
                    data.extend_from_slice(&[0; 4]);
                    json!({ "data": sha256d::hazmat::hex::encode(&data) })
                })
                .collect();
            let value = json!({
                "version": 0x2000_0000,
                "previousblockhash": "11".repeat(32),
                "transactions": txs,
                "coinbasevalue": 5_000_000_000u64,
                "bits": "207fffff",
                "curtime": 1_700_000_600,
                "mintime": 1_700_000_000,
                "height": 700,
                "default_witness_commitment": format!("6a24aa21a9ed{}", "ab".repeat(32)),
            });
            Arc::new(Template::from_json(&value).expect("a valid template"))
        })
        .clone()
}

/// A SetupConnection for template distribution, versions 2..=2, empty strings (SV2 layout:
/// protocol u8, min u16, max u16, flags u32, host STR0_255, port u16, four STR0_255).
const SETUP: [u8; 16] = [2, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0x42, 0x20, 0, 0, 0, 0];
/// CoinbaseOutputConstraints: 100 bytes (u32), 4 sigops (u16).
const CONSTRAINTS: [u8; 6] = [100, 0, 0, 0, 4, 0];

fn check(outputs: Vec<Output>, template: &Template) {
    for output in outputs {
        match output {
            Output::Send(message) => {
                let frame = frame(message);
                assert!(frame.payload.len() < 1 << 24);
            }
            Output::Submit(block) => {
                let header: [u8; 80] = block.data[..80].try_into().expect("a header");
                let header = Header::from_bytes(&header);
                assert_eq!(header.prev_blockhash, template.prev_hash);
                assert!(template.target.is_met_by(&header.block_hash()));
                assert_eq!(header.block_hash(), block.hash);
            }
            Output::Log(_) | Output::Close => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let template = template();
    let mut session = Session::new();
    if mode & 1 == 1 {
        for (message_type, payload) in [(0x00, &SETUP[..]), (0x70, &CONSTRAINTS[..])] {
            let outputs = session
                .on_frame(0, message_type, &mut payload.to_vec())
                .expect("a valid setup");
            check(outputs, &template);
        }
    }
    check(session.on_template(template.clone()), &template);
    // Frames: extension type (u16), message type, payload length (u16), payload.
    while rest.len() >= 5 {
        let extension = u16::from_le_bytes([rest[0], rest[1]]);
        let message_type = rest[2];
        let len = usize::from(u16::from_le_bytes([rest[3], rest[4]])).min(rest.len() - 5);
        let mut payload = rest[5..5 + len].to_vec();
        rest = &rest[5 + len..];
        match session.on_frame(extension, message_type, &mut payload) {
            Ok(outputs) => check(outputs, &template),
            Err(e) => {
                assert!(!e.message().is_empty());
                return;
            }
        }
    }
});
