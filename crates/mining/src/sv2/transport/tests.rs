use super::*;
use std::io::Cursor;
use std::net::TcpListener;
use std::thread;

/// A session between the two roles done in memory, for the frame tests that need to look at
/// exactly what a reader consumed.
fn engines() -> (NoiseEngine, NoiseEngine) {
    let keypair = AuthorityKeypair::generate();
    let mut initiator = Initiator::from_raw_k(keypair.public().to_bytes()).expect("valid key");
    let mut responder =
        Responder::from_authority_kp(&keypair.public.0, &keypair.secret, Duration::from_secs(60))
            .expect("matching keypair");
    let hello = initiator.step_0().expect("first message");
    let (reply, responder_engine) = responder.step_1(hello).expect("second message");
    let initiator_engine = initiator.step_2(reply).expect("certificate checks out");
    (initiator_engine, responder_engine)
}

fn frame(msg_type: u8, channel_msg: bool, payload: Vec<u8>) -> Frame {
    Frame {
        extension_type: 0,
        channel_msg,
        msg_type,
        payload,
    }
}

/// What a writer puts on the wire for `frames`, and a reader of the other role over it.
fn wire(frames: &[Frame]) -> (Vec<u8>, FrameReader<Cursor<Vec<u8>>>) {
    let (initiator, responder) = engines();
    let (encryptor, _) = initiator.into_split();
    let (_, decryptor) = responder.into_split();
    let mut writer = FrameWriter::new(Vec::new(), encryptor);
    for f in frames {
        writer.write_frame(f).expect("writes to a Vec");
    }
    let bytes = writer.inner;
    (
        bytes.clone(),
        FrameReader::new(Cursor::new(bytes), decryptor),
    )
}

fn loopback() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    (listener, addr)
}

#[test]
fn the_two_roles_shake_hands_on_loopback_and_frames_cross_both_ways() {
    let keypair = AuthorityKeypair::generate();
    let (listener, addr) = loopback();
    let server_keypair = keypair.clone();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let (mut reader, mut writer) =
            accept(stream, &server_keypair, Duration::from_secs(60)).expect("responder side");
        // Echo three frames back with the type bumped.
        for _ in 0..3 {
            let mut f = reader.read_frame().expect("frame from the initiator");
            f.msg_type += 1;
            writer.write_frame(&f).expect("echo");
        }
        reader.read_frame()
    });
    let stream = TcpStream::connect(addr).expect("connect");
    let (mut reader, mut writer) =
        connect(stream, ServerAuth::Pinned(keypair.public())).expect("initiator side");
    let sent = [
        frame(0x00, false, b"setup".to_vec()),
        frame(0x1f, true, Vec::new()),
        // Several payload chunks: over the 65519-byte plaintext limit of one.
        frame(0x15, true, (0..200_000u32).map(|i| i as u8).collect()),
    ];
    for f in &sent {
        writer.write_frame(f).expect("send");
        let mut expected = f.clone();
        expected.msg_type += 1;
        assert_eq!(reader.read_frame(), Ok(expected));
    }
    drop(writer);
    drop(reader);
    assert_eq!(
        server.join().expect("server thread"),
        Err(TransportError::Closed)
    );
}

#[test]
fn a_certificate_from_another_authority_is_refused() {
    let (listener, addr) = loopback();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let impostor = AuthorityKeypair::generate();
        accept(stream, &impostor, Duration::from_secs(60)).map(|_| ())
    });
    let stream = TcpStream::connect(addr).expect("connect");
    let pinned = AuthorityKeypair::generate().public();
    assert_eq!(
        connect(stream, ServerAuth::Pinned(pinned)).map(|_| ()),
        Err(TransportError::WrongAuthority)
    );
    // The responder finished its half; it cannot tell that it was refused.
    assert_eq!(server.join().expect("server thread"), Ok(()));
}

#[test]
fn without_an_authority_check_any_responder_is_accepted() {
    let (listener, addr) = loopback();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().expect("accept");
        let (mut reader, _writer) = accept(
            stream,
            &AuthorityKeypair::generate(),
            Duration::from_secs(60),
        )
        .expect("responder side");
        reader.read_frame()
    });
    let stream = TcpStream::connect(addr).expect("connect");
    let (_reader, mut writer) =
        connect(stream, ServerAuth::InsecureNoAuthorityCheck).expect("initiator side");
    writer
        .write_frame(&frame(7, false, vec![1, 2, 3]))
        .expect("send");
    assert_eq!(
        server.join().expect("server thread"),
        Ok(frame(7, false, vec![1, 2, 3]))
    );
}

/// The handshake with the responder's clock at `responder_now`, checked at `initiator_now`.
fn handshake_at(responder_now: u32, initiator_now: u32) -> Result<(), TransportError> {
    let keypair = AuthorityKeypair::generate();
    let public = keypair.public();
    let (listener, addr) = loopback();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        respond(
            &mut stream,
            &keypair,
            Duration::from_secs(60),
            responder_now,
        )
        .map(|_| ())
    });
    let mut stream = TcpStream::connect(addr).expect("connect");
    let result = initiate(&mut stream, ServerAuth::Pinned(public), initiator_now).map(|_| ());
    server
        .join()
        .expect("server thread")
        .expect("the responder's half completes");
    result
}

#[test]
fn an_expired_certificate_is_refused_with_its_dates() {
    let now = 1_800_000_000;
    assert_eq!(
        handshake_at(now - 3600, now),
        Err(TransportError::CertificateExpired {
            not_valid_after: now - 3600 + 60,
            now,
        })
    );
}

#[test]
fn a_certificate_from_the_future_is_refused_and_small_drift_is_not() {
    let now = 1_800_000_000;
    assert_eq!(
        handshake_at(now + 3600, now),
        Err(TransportError::CertificateNotYetValid {
            valid_from: now + 3600,
            now,
        })
    );
    // Inside the ten seconds of leeway on either side.
    assert_eq!(handshake_at(now + 9, now), Ok(()));
    assert_eq!(handshake_at(now - 60 - 9, now), Ok(()));
}

#[test]
fn frames_round_trip_in_memory_with_the_channel_bit_and_extension() {
    let mut with_extension = frame(0x42, true, vec![9; 70_000]);
    with_extension.extension_type = 0x0002;
    let frames = [frame(0, false, Vec::new()), with_extension];
    let (bytes, mut reader) = wire(&frames);
    // Header 22 bytes, empty payload; header 22 bytes + two chunks each with a MAC.
    assert_eq!(bytes.len(), 22 + 22 + 70_000 + 2 * 16);
    assert_eq!(reader.read_frame(), Ok(frames[0].clone()));
    assert_eq!(reader.read_frame(), Ok(frames[1].clone()));
    assert_eq!(reader.read_frame(), Err(TransportError::Closed));
}

#[test]
fn an_oversized_frame_is_refused_from_its_header_alone() {
    let (_, mut reader) = wire(&[frame(1, false, vec![0; 2000])]);
    reader.set_max_payload(1000);
    assert_eq!(
        reader.read_frame(),
        Err(TransportError::FrameTooLarge {
            length: 2000,
            max: 1000
        })
    );
    // Nothing past the encrypted header was read, so nothing of the payload was buffered.
    assert_eq!(reader.get_ref().position(), 22);
}

#[test]
fn a_header_declaring_the_wire_maximum_is_refused_without_allocating_it() {
    // A peer with the session keys (a hostile pool) declares 16 MiB and sends nothing more.
    let (initiator, responder) = engines();
    let (mut encryptor, _) = initiator.into_split();
    let (_, decryptor) = responder.into_split();
    let mut header = vec![0, 0, 0x15, 0xff, 0xff, 0xff];
    encryptor.encrypt(&mut header).expect("encrypt");
    let mut reader = FrameReader::new(Cursor::new(header), decryptor);
    assert_eq!(
        reader.read_frame(),
        Err(TransportError::FrameTooLarge {
            length: MAX_FRAME_PAYLOAD_ON_WIRE,
            max: DEFAULT_MAX_FRAME_PAYLOAD
        })
    );
}

#[test]
fn a_writer_refuses_a_payload_the_header_cannot_declare() {
    let (initiator, _) = engines();
    let (encryptor, _) = initiator.into_split();
    let mut writer = FrameWriter::new(Vec::new(), encryptor);
    assert_eq!(
        writer.write_frame(&frame(1, false, vec![0; MAX_FRAME_PAYLOAD_ON_WIRE + 1])),
        Err(TransportError::FrameTooLarge {
            length: MAX_FRAME_PAYLOAD_ON_WIRE + 1,
            max: MAX_FRAME_PAYLOAD_ON_WIRE
        })
    );
    assert_eq!(writer.inner, Vec::<u8>::new());
}

#[test]
fn a_flipped_bit_in_the_header_or_the_payload_is_a_bad_mac() {
    for at in [0, 21, 22, 22 + 99] {
        let (mut bytes, reader) = wire(&[frame(1, false, vec![5; 100])]);
        bytes[at] ^= 0x01;
        let mut reader = FrameReader::new(Cursor::new(bytes), reader.decryptor);
        assert_eq!(
            reader.read_frame(),
            Err(TransportError::BadMac),
            "byte {at}"
        );
    }
}

#[test]
fn a_connection_cut_inside_a_frame_is_an_unexpected_eof() {
    let cut_at = |cut: usize| {
        let (bytes, reader) = wire(&[frame(1, false, vec![5; 100])]);
        FrameReader::new(Cursor::new(bytes[..cut].to_vec()), reader.decryptor).read_frame()
    };
    assert_eq!(
        cut_at(10),
        Err(TransportError::Io {
            during: "reading a frame",
            kind: io::ErrorKind::UnexpectedEof,
            message: "the peer closed the connection 10 bytes into a 22-byte message".into(),
        })
    );
    assert_eq!(
        cut_at(22),
        Err(TransportError::Io {
            during: "reading a frame",
            kind: io::ErrorKind::UnexpectedEof,
            message: "the peer closed the connection inside a frame".into(),
        })
    );
}

#[test]
fn a_silent_responder_times_out_the_handshake_instead_of_hanging() {
    let (listener, addr) = loopback();
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let err = connect(stream, ServerAuth::InsecureNoAuthorityCheck).expect_err("no reply");
    assert!(
        matches!(
            err,
            TransportError::Io {
                during: "handshake",
                kind: io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut,
                ..
            }
        ),
        "{err:?}"
    );
    drop(listener);
}

#[test]
fn authority_keys_read_and_write_the_sri_text_form() {
    // The authority key SRI's example configs ship.
    let text = "9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72";
    let key: AuthorityPublicKey = text.parse().expect("SRI's example key");
    assert_eq!(key.to_string(), text);
    assert!("9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH73"
        .parse::<AuthorityPublicKey>()
        .is_err());

    let keypair = AuthorityKeypair::generate();
    let again = AuthorityKeypair::from_secret_base58(&keypair.secret_base58()).expect("reads");
    assert_eq!(again.public(), keypair.public());
    let shown = format!("{keypair:?}");
    assert!(shown.contains("<hidden>"), "{shown}");
    assert!(!shown.contains(&keypair.secret_base58()), "{shown}");
    assert_eq!(
        AuthorityKeypair::from_secret_base58("not a key")
            .expect_err("refused")
            .message(),
        "authority secret key: not a base58-check key"
    );
}
