//! Stratum V2 pools that do what no real pool here can: after an honest handshake one sends an
//! oversized frame or a frame with a bad MAC, and the source drops the connection with a
//! notice that says why, before reading the oversized payload, and takes no job from it. One
//! drops the connection, and is dialled again as the failover policy says. One asks the miner
//! to reconnect elsewhere (pool_sv2 never does): the miner follows to a server that proves the
//! same authority key, and refuses one that does not.

#![cfg(feature = "sv2")]

use sha256d_mining::sv2::transport::{self, Frame, FrameReader, FrameWriter};
use sha256d_mining::sv2::AuthorityKeypair;
use sha256d_mining::{Event, PoolConfig, PoolOptions, PoolSource, PoolUrl, Source};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Generous: on a loaded machine the handshake alone can take a while.
const PATIENCE: Duration = Duration::from_secs(60);

/// A pool on a loopback port that takes one miner: shakes hands with `keys`, reads the
/// SetupConnection, then hands the stream over to `then`.
fn fake_pool(
    keys: &AuthorityKeypair,
    then: impl FnOnce(FrameReader<TcpStream>, FrameWriter<TcpStream>) + Send + 'static,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let addr = listener.local_addr().expect("bound");
    let keys = keys.clone();
    let pool = std::thread::spawn(move || {
        let (stream, _) = listener.accept().expect("the miner connects");
        let (mut reader, writer) =
            transport::accept(stream, &keys, Duration::from_secs(60)).expect("handshake");
        let setup = reader.read_frame().expect("SetupConnection");
        assert_eq!(setup.msg_type, 0x00);
        then(reader, writer);
    });
    (addr, pool)
}

/// A source on the pool at `addr` with `keys`' authority key in its URL.
fn source_for(addr: SocketAddr, keys: &AuthorityKeypair) -> (PoolUrl, PoolSource) {
    let url =
        PoolUrl::parse(&format!("stratum2+tcp://{addr}/{}", keys.public())).expect("a V2 URL");
    let source = PoolSource::new(PoolOptions::new(vec![PoolConfig::new(
        url.clone(),
        "w",
        "x",
    )]))
    .expect("valid");
    (url, source)
}

/// Polls `source` until `done` holds for a notice it gave, which is returned, and checks that
/// no job ever came.
fn notice_where(source: &mut PoolSource, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    loop {
        assert!(Instant::now() < deadline, "{seen:#?}");
        for event in source.poll(Duration::from_millis(200)).expect("not fatal") {
            match event {
                Event::Notice(n) if done(&n) => return n,
                Event::Notice(n) => seen.push(n),
                Event::Job(job) => panic!("a job from a fake pool: {job:?}"),
                _ => {}
            }
        }
    }
}

/// A pool that does `misbehave` with the frame writer after the SetupConnection; returns the
/// first notice the source gives.
fn first_notice(misbehave: fn(&mut FrameWriter<TcpStream>)) -> String {
    let keypair = AuthorityKeypair::generate();
    let (addr, pool) = fake_pool(&keypair, move |mut reader, mut writer| {
        misbehave(&mut writer);
        // Hold the connection until the miner drops it.
        let _ = reader.read_frame();
    });
    let (_, mut source) = source_for(addr, &keypair);
    let notice = notice_where(&mut source, |_| true);
    drop(source);
    pool.join().expect("the fake pool");
    notice
}

/// A pool that asks the miner, right after its SetupConnection, to reconnect to `to`.
fn redirecting_pool(keys: &AuthorityKeypair, to: SocketAddr) -> (SocketAddr, JoinHandle<()>) {
    fake_pool(keys, move |mut reader, mut writer| {
        let reconnect = common_messages_sv2::Reconnect {
            new_host: "127.0.0.1".try_into().expect("short"),
            new_port: to.port(),
        };
        writer
            .write_frame(&Frame {
                extension_type: 0,
                channel_msg: false,
                msg_type: common_messages_sv2::MESSAGE_TYPE_RECONNECT,
                payload: binary_sv2::to_bytes(reconnect).expect("encodes"),
            })
            .expect("the miner reads");
        let _ = reader.read_frame();
    })
}

#[test]
fn a_reconnect_is_followed_to_a_server_that_proves_the_same_key() {
    let keypair = AuthorityKeypair::generate();
    let (reached, reached_rx) = mpsc::channel();
    let (second, second_pool) = fake_pool(&keypair, move |mut reader, _writer| {
        reached.send(()).expect("the test waits");
        let _ = reader.read_frame();
    });
    let (first, first_pool) = redirecting_pool(&keypair, second);
    let (url, mut source) = source_for(first, &keypair);
    let to = format!("stratum2+tcp://{second}/{}", keypair.public());
    let notice = notice_where(&mut source, |n| n.contains("asked to reconnect"));
    assert!(
        notice.starts_with(&format!("pool {url} asked to reconnect to {to} in 0 ms;")),
        "{notice}"
    );
    let deadline = Instant::now() + PATIENCE;
    while reached_rx.try_recv().is_err() {
        assert!(
            Instant::now() < deadline,
            "the second server was never reached"
        );
        source.poll(Duration::from_millis(200)).expect("not fatal");
    }
    assert_eq!(source.describe(), format!("{to} as w (pool 1 of 1)"));
    drop(source);
    first_pool.join().expect("the first pool");
    second_pool.join().expect("the second pool");
}

#[test]
fn a_reconnect_to_a_server_without_the_key_is_refused_in_the_handshake() {
    let keypair = AuthorityKeypair::generate();
    let impostor = TcpListener::bind("127.0.0.1:0").expect("loopback");
    let impostor_addr = impostor.local_addr().expect("bound");
    let impostor_keys = AuthorityKeypair::generate();
    let impostor = std::thread::spawn(move || {
        let (stream, _) = impostor.accept().expect("the miner connects");
        // The responder's half of the handshake ends with its certificate, so it may
        // complete here; the miner checks it and hangs up without sending a thing.
        if let Ok((mut reader, _writer)) = transport::accept(stream, &impostor_keys, PATIENCE) {
            assert!(
                reader.read_frame().is_err(),
                "the miner talked to the impostor"
            );
        }
    });
    let (first, first_pool) = redirecting_pool(&keypair, impostor_addr);
    let (_, mut source) = source_for(first, &keypair);
    let to = format!("stratum2+tcp://{impostor_addr}/{}", keypair.public());
    let notice = notice_where(&mut source, |n| n.starts_with(&format!("pool {to}")));
    assert!(
        notice.contains("not signed by the expected authority key"),
        "{notice}"
    );
    drop(source);
    first_pool.join().expect("the first pool");
    impostor.join().expect("the impostor");
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
