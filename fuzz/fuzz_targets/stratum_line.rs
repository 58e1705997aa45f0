//! Lines from a Stratum pool, fed to the client in each stage of a session, and pool URLs.
//! Nothing may panic; what the client accepts must leave it able to build and submit shares;
//! no text it hands the operator holds a control character, and neither does the sanitiser's
//! or the reject-reason normaliser's output for any input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha256d_mining::net::{LineReader, ReadLine};
use sha256d_mining::reject::reject_key;
use sha256d_mining::sanitize::{for_terminal, MAX_TERMINAL_TEXT};
use sha256d_mining::stratum::{Client, ClientEvent, Config};
use sha256d_mining::{PoolUrl, Share, Verdict};

fn assert_printable(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

const NOTIFY: &str = r#"{"id":null,"method":"mining.notify","params":["6","9ee1813dcfcbab96dcb73b55f988b4f3b7ea0645e360a83efad6b15d1c1f4e5f","0100000001000000000000000000000000000000000000000000000000000000000000ffffffff200167045ea5026b08","0f2f456c6f506f6f6c2e436c6f75642f00000000",["8b897b8e448ce75c507d5f3ae910f0fee28ca3ea7312ef6dc311f0dc095484be"],"20000000","207fffff","6b02a55e",false]}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(url) = PoolUrl::parse(text) {
            assert_eq!(PoolUrl::parse(&url.to_string()), Ok(url));
        }
        let shown = for_terminal(text);
        assert_printable(&shown);
        // The longest escape, \u{10ffff}, is ten characters.
        assert!(shown.chars().count() <= 10 * MAX_TERMINAL_TEXT + 1);
        assert_printable(&reject_key(text));
    }

    let rolling = mode & 1 != 0;
    let mut config = Config::new("w", "x");
    config.version_rolling = rolling;
    config.extranonce_subscribe = mode & 2 != 0;
    config.suggest_difficulty = (mode & 4 != 0).then_some(0.5);
    let mut client = Client::new(config);
    let first = if rolling { 2 } else { 1 };
    let configure =
        r#"{"id":1,"result":{"version-rolling":true,"version-rolling.mask":"1fffe000"},"error":null}"#
            .to_string();
    let subscribe = format!(r#"{{"id":{first},"result":[[],"08000003",4],"error":null}}"#);
    let authorize = format!(r#"{{"id":{},"result":true,"error":null}}"#, first + 1);
    let difficulty = r#"{"id":null,"method":"mining.set_difficulty","params":[0.001]}"#.to_string();
    let mut prelude = Vec::new();
    if rolling {
        prelude.push(configure);
    }
    prelude.extend([subscribe, difficulty, NOTIFY.to_string(), authorize]);
    // How far into the session the fuzzed lines arrive: from before any reply to fully set up.
    let stage = usize::from(mode >> 3) % (prelude.len() + 1);
    for line in &prelude[..stage] {
        client.handle_line(line).expect("the prelude is valid");
    }

    let mut reader = LineReader::new();
    let mut src = rest;
    while let Ok(ReadLine::Line(line)) = reader.read_line(&mut src) {
        let Ok(events) = client.handle_line(&line) else {
            break;
        };
        for event in &events {
            match event {
                ClientEvent::Notice(text) | ClientEvent::AuthorizationFailed(text) => {
                    assert_printable(text)
                }
                ClientEvent::Verdict {
                    verdict: Verdict::Rejected { reason, .. },
                    ..
                } => assert_printable(reason),
                _ => {}
            }
        }
    }
    client.take_outgoing();
    if let Some(job) = client.current_job().cloned() {
        let extranonce2 = vec![0; job.extranonce2_size];
        let header = job.header(&extranonce2, job.ntime);
        let share = Share {
            hash: header.block_hash(),
            job,
            extranonce2,
            header,
            is_block: false,
            stale: false,
        };
        let _ = client.submit(&share);
        client.take_unanswered();
    }
});
