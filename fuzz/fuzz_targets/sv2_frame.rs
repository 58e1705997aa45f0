//! What an SV2 peer sends after the handshake, through the frame reader: frames it encrypts
//! honestly (any header, any declared length, any payload), the same with bytes flipped, and
//! raw bytes. Nothing may panic; no frame read is over the cap; honest frames within the cap
//! read back as written.
#![no_main]

use libfuzzer_sys::fuzz_target;
use noise_sv2::{Initiator, NoiseEngine, Responder};
use sha256d_mining::sv2::transport::{Frame, FrameReader, FrameWriter, TransportError};
use sha256d_mining::sv2::AuthorityKeypair;
use std::io::Cursor;
use std::sync::OnceLock;
use std::time::Duration;

/// A cap small enough that the fuzzer reaches it often.
const CAP: usize = 4096;

/// A fresh session between the two roles, in memory: each input starts at nonce zero.
fn engines() -> (NoiseEngine, NoiseEngine) {
    static KEYS: OnceLock<([u8; 32], [u8; 32])> = OnceLock::new();
    let (public, secret) = KEYS.get_or_init(|| {
        let keys = AuthorityKeypair::generate();
        (keys.public().to_bytes(), secret_bytes(&keys))
    });
    let mut initiator = Initiator::from_raw_k(*public).expect("a valid key");
    let mut responder = Responder::from_authority_kp(public, secret, Duration::from_secs(60))
        .expect("a matching keypair");
    let hello = initiator.step_0().expect("first message");
    let (reply, responder_engine) = responder.step_1(hello).expect("second message");
    let initiator_engine = initiator.step_2(reply).expect("the certificate checks out");
    (initiator_engine, responder_engine)
}

/// The raw secret `noise_sv2` takes: the base58-check text is the 32 bytes and a checksum.
fn secret_bytes(keys: &AuthorityKeypair) -> [u8; 32] {
    let bytes = bs58::decode(keys.secret_base58()).into_vec().expect("base58");
    bytes[..32].try_into().expect("32 bytes then the checksum")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (initiator, responder) = engines();
    let (encryptor, _) = initiator.into_split();
    let (_, decryptor) = responder.into_split();
    let mut wire = Vec::new();
    let mut honest = Vec::new();
    match mode % 3 {
        // Raw bytes: the first MAC check fails or the stream ends.
        0 => wire.extend_from_slice(rest),
        // Frames through the writer, cut from the input: [type, channel, len lo, len hi, payload].
        1 | 2 => {
            let mut writer = FrameWriter::new(Vec::new(), encryptor);
            let mut src = rest;
            while src.len() >= 4 {
                let len = usize::from(u16::from_le_bytes([src[2], src[3]])) * 4;
                let body = &src[4..];
                let take = len.min(body.len());
                let frame = Frame {
                    extension_type: 0,
                    channel_msg: src[1] & 1 != 0,
                    msg_type: src[0],
                    payload: body[..take].to_vec(),
                };
                writer.write_frame(&frame).expect("a Vec takes every frame");
                honest.push(frame);
                src = &body[take..];
            }
            wire = writer.get_ref().clone();
            if mode % 3 == 2 && !wire.is_empty() {
                // One flipped bit, wherever the input says.
                let at = usize::from(mode) * 7919 % wire.len();
                wire[at] ^= 1 << (mode % 8);
                honest.clear();
            }
        }
        _ => unreachable!("mode % 3"),
    }
    let mut reader = FrameReader::new(Cursor::new(wire), decryptor);
    reader.set_max_payload(CAP);
    let mut read = Vec::new();
    loop {
        match reader.read_frame() {
            Ok(frame) => {
                assert!(frame.payload.len() <= CAP);
                read.push(frame);
            }
            Err(TransportError::FrameTooLarge { length, max }) => {
                assert!(length > max && max == CAP);
                break;
            }
            Err(_) => break,
        }
    }
    // Honest frames read back as written, up to the first one over the cap.
    let within: Vec<Frame> = honest
        .into_iter()
        .take_while(|f| f.payload.len() <= CAP)
        .collect();
    if mode % 3 == 1 {
        assert_eq!(read, within);
    }
});
