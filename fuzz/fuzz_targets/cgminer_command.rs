//! What a client of the cgminer API sends: bytes through the request parser, whole and in two
//! pieces. It may not panic; the split must not change the outcome; it never keeps more than
//! `MAX_REQUEST_BYTES`; the commands of a request are non-empty, unjoined and distinct.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::api::cgminer::{Refusal, Request, RequestParser, MAX_REQUEST_BYTES};

fn parse(parts: &[&[u8]]) -> Result<Request, Refusal> {
    let mut parser = RequestParser::new();
    for part in parts {
        if let Some(request) = parser.push(part)? {
            return Ok(request);
        }
    }
    Err(parser.finish())
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    let at = usize::from(split).min(bytes.len());
    let whole = parse(&[bytes]);
    assert_eq!(whole, parse(&[&bytes[..at], &bytes[at..]]));
    let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(whole, parse(&bytewise));
    if let Ok(request) = whole {
        assert!(request.command.len() <= MAX_REQUEST_BYTES);
        let commands = request.commands();
        for (i, c) in commands.iter().enumerate() {
            assert!(!c.is_empty() && !c.contains('+'));
            assert!(!commands[..i].contains(c));
        }
    }
});
