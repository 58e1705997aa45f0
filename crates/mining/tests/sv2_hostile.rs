//! A hostile Stratum V2 pool, which no real pool can play: after an honest handshake it sends
//! an oversized frame or a frame with a bad MAC. The source drops the connection with a notice
//! that says why, before reading the oversized payload, and takes no job from it. And a pool
//! that drops the connection is dialled again as the failover policy says.

#![cfg(feature = "sv2")]

use sha256d_mining::sv2::transport::{self, Frame};
use sha256d_mining::sv2::AuthorityKeypair;
use sha256d_mining::{Event, PoolConfig, PoolOptions, PoolSource, PoolUrl, Source};
use std::io::Write;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Generous: on a loaded machine the handshake alone can take a while.
const PATIENCE: Duration = Duration::from_secs(60);

/// A pool that shakes hands, reads the SetupConnection, then does `misbehave` with the raw
/// stream and the frame writer; returns the first notice the source gives.
fn first_notice(misbehave: fn(&mut transport::FrameWriter<std::net::TcpStream>)) -> String {
    let keypair = AuthorityKeypair::generate();
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let addr = listener.local_addr().expect("bound");
    let server_keys = keypair.clone();
    let pool = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("the miner connects");
        let (mut reader, mut writer) =
            transport::accept(stream, &server_keys, Duration::from_secs(60)).expect("handshake");
        let setup = reader.read_frame().expect("SetupConnection");
        assert_eq!(setup.msg_type, 0x00);
        misbehave(&mut writer);
        // Hold the connection until the miner drops it.
        let _ = reader.read_frame();
    });
    let url =
        PoolUrl::parse(&format!("stratum2+tcp://{addr}/{}", keypair.public())).expect("a V2 URL");
    let mut source =
        PoolSource::new(PoolOptions::new(vec![PoolConfig::new(url, "w", "x")])).expect("valid");
    let deadline = Instant::now() + PATIENCE;
    let notice = loop {
        assert!(Instant::now() < deadline, "no notice within {PATIENCE:?}");
        let events = source.poll(Duration::from_millis(200)).expect("not fatal");
        assert!(
            !events.iter().any(|e| matches!(e, Event::Job(_))),
            "{events:?}"
        );
        if let Some(Event::Notice(n)) = events.first() {
            break n.clone();
        }
    };
    drop(source);
    pool.join().expect("the fake pool");
    notice
}

#[test]
fn an_oversized_frame_ends_the_session_with_its_size() {
    let notice = first_notice(|writer| {
        let frame = Frame {
            extension_type: 0,
            channel_msg: false,
            msg_type: 0x01,
            payload: vec![0; 2 << 20],
        };
        // The miner stops reading after the header, so the rest may not all go out.
        let _ = writer.write_frame(&frame);
    });
    assert!(
        notice.contains(
            "SV2 frame of 2097152 bytes is over the 1048576-byte limit; dropping the connection"
        ),
        "{notice}"
    );
}

#[test]
fn a_frame_with_a_bad_mac_ends_the_session() {
    let notice = first_notice(|writer| {
        let mut stream = writer.get_ref();
        stream.write_all(&[0x5a; 22]).expect("raw bytes");
    });
    assert!(
        notice.contains("SV2 frame failed authentication (bad MAC)"),
        "{notice}"
    );
}

#[test]
fn a_dropped_connection_is_dialled_again_with_the_failover_policy() {
    let keypair = AuthorityKeypair::generate();
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let addr = listener.local_addr().expect("bound");
    let server_keys = keypair.clone();
    // Two connections, each closed right after the miner's SetupConnection.
    let pool = std::thread::spawn(move || {
        for _ in 0..2 {
            let (stream, _) = listener.accept().expect("the miner connects");
            let (mut reader, _writer) =
                transport::accept(stream, &server_keys, Duration::from_secs(60))
                    .expect("handshake");
            assert_eq!(reader.read_frame().expect("SetupConnection").msg_type, 0x00);
        }
    });
    let url =
        PoolUrl::parse(&format!("stratum2+tcp://{addr}/{}", keypair.public())).expect("a V2 URL");
    let mut options = PoolOptions::new(vec![PoolConfig::new(url.clone(), "w", "x")]);
    options.backoff_min = Duration::from_millis(100);
    let mut source = PoolSource::new(options).expect("valid");
    let deadline = Instant::now() + PATIENCE;
    let mut ended = Vec::new();
    while ended.len() < 2 {
        assert!(Instant::now() < deadline, "{ended:?}");
        for event in source.poll(Duration::from_millis(200)).expect("not fatal") {
            if let Event::Notice(n) = event {
                ended.push(n);
            }
        }
    }
    pool.join().expect("the fake pool");
    for n in &ended {
        assert!(
            n.starts_with(&format!(
                "pool {url} closed the connection, trying {url} in "
            )),
            "{ended:#?}"
        );
    }
}
