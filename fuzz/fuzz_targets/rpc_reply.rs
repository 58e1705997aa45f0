//! What a node (or anything listening on its port) sends back: bytes through the HTTP
//! response parser, fed in two pieces, then the JSON-RPC reply and the block template
//! readers. None may panic; the split must not change the parse; the body stays in its cap; a
//! template that reads is self-consistent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::gbt::{CoinbaseOptions, Template};
use sha256d_mining::http::{Response, ResponseParser, MAX_BODY_BYTES};
use sha256d_mining::rpc::parse_reply;

fn parse(parts: &[&[u8]]) -> Result<Response, sha256d::Error> {
    let mut parser = ResponseParser::new();
    for part in parts {
        if let Some(response) = parser.push(part)? {
            return Ok(response);
        }
    }
    parser.finish()
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(bytes.len());
    let whole = parse(&[bytes]);
    let pieces = parse(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole.is_ok(), pieces.is_ok());
    if let (Ok(a), Ok(b)) = (&whole, &pieces) {
        assert_eq!(a, b);
    }
    // Past the HTTP layer, the body alone: a reply, and its result as a template.
    let body = match &whole {
        Ok(response) => {
            assert!(response.body.len() <= MAX_BODY_BYTES);
            response.body.as_slice()
        }
        Err(_) => bytes,
    };
    if let Ok(result) = parse_reply(body) {
        if let Ok(template) = Template::from_json(&result) {
            // What the reader promises: bits and target agree, and the time is not too old.
            assert_eq!(
                sha256d::Target::from_compact(template.bits).ok(),
                Some(template.target)
            );
            assert!(template.curtime >= template.mintime);
            let options = CoinbaseOptions {
                payout_script: vec![0x51],
                extranonce1: vec![1, 2, 3, 4],
                extranonce2_size: 8,
                tag: b"/fuzz/".to_vec(),
                version_rolling: true,
            };
            let job = template
                .job("f", &options)
                .expect("every parsed height fits");
            assert_eq!(job.height, Some(template.height));
        }
    }
});
