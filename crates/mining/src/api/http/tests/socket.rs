//! The socket shell: serving over TCP, the loopback rule, the connection cap and deadlines.

use super::*;

fn addr() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

fn exchange(addr: SocketAddr, bytes: &[u8]) -> crate::http::Response {
    let mut stream = TcpStream::connect(addr).expect("connects");
    stream.write_all(bytes).expect("sends");
    read_reply(&mut stream)
}

fn try_exchange(addr: SocketAddr, bytes: &[u8]) -> Result<crate::http::Response, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.write_all(bytes).map_err(|e| e.to_string())?;
    let mut all = Vec::new();
    stream.read_to_end(&mut all).map_err(|e| e.to_string())?;
    let mut parser = ResponseParser::new();
    match parser.push(&all).map_err(|e| e.to_string())? {
        Some(reply) => Ok(reply),
        None => parser.finish().map_err(|e| e.to_string()),
    }
}

fn read_reply(stream: &mut TcpStream) -> crate::http::Response {
    let mut parser = ResponseParser::new();
    let mut buf = [0; 4096];
    loop {
        let n = stream.read(&mut buf).expect("reads");
        if n == 0 {
            return parser.finish().expect("a whole reply");
        }
        if let Some(reply) = parser.push(&buf[..n]).expect("a valid reply") {
            return reply;
        }
    }
}

#[test]
fn serves_over_a_socket() {
    let config = Config {
        read_token: Some(Secret::new(READ).expect("valid")),
        ..Config::default()
    };
    let control: Arc<dyn Control> = Arc::new(Recorder::default());
    let server = serve(addr(), config, live(), control).expect("serves");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    let reply = exchange(
        addr,
        format!(
            "GET /v1/status HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {READ}\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("connection"), Some("close"));
    // Nothing of the request comes back: not its headers, not its token.
    let reply = exchange(
        addr,
        format!("GET /v1/pools HTTP/1.1\r\nHost: localhost\r\nX-Echo: me\r\nAuthorization: Bearer no-{READ}\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert!(reply.header("x-echo").is_none());
    assert!(!String::from_utf8_lossy(&reply.body).contains(READ));
    // What the parser refuses is answered with its status.
    let reply = exchange(
        addr,
        b"PUT /v1/setpoint HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(reply.status, 411);
    // A body past the cap is refused at the end of the head, before it is sent.
    let big = b"PUT /v1/setpoint HTTP/1.1\r\nHost: localhost\r\nContent-Length: 70000\r\n\r\n";
    assert_eq!(exchange(addr, big).status, 413);
    let reply = exchange(
        addr,
        format!(
            "GET / HTTP/1.1\r\nHost: localhost\r\nX: {}\r\n\r\n",
            "y".repeat(20_000)
        )
        .as_bytes(),
    );
    assert_eq!(reply.status, 431);
    // Dropping the server closes the listener.
    drop(server);
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn only_loopback_without_both_tokens() {
    let control: Arc<dyn Control> = Arc::new(Recorder::default());
    let anywhere: SocketAddr = "0.0.0.0:0".parse().expect("an address");
    for config in [
        Config::default(),
        Config {
            read_token: Some(Secret::new(READ).expect("valid")),
            ..Config::default()
        },
        Config {
            control_token: Some(Secret::new(CONTROL).expect("valid")),
            ..Config::default()
        },
    ] {
        let err = serve(anywhere, config, live(), Arc::clone(&control)).expect_err("refused");
        assert!(err.message().contains("not a loopback address"), "{err}");
        assert!(
            err.message().contains("read token and a control token"),
            "{err}"
        );
    }
    let config = Config {
        read_token: Some(Secret::new(READ).expect("valid")),
        control_token: Some(Secret::new(CONTROL).expect("valid")),
        ..Config::default()
    };
    let server = serve(anywhere, config, live(), Arc::clone(&control)).expect("both tokens");
    drop(server);
    let v6: SocketAddr = "[::1]:0".parse().expect("an address");
    if let Ok(server) = serve(v6, Config::default(), live(), control) {
        // Where the machine has IPv6 loopback.
        assert!(server.local_addr().ip().is_loopback());
    }
}

#[test]
fn connections_past_the_cap_are_answered_503() {
    let config = Config {
        max_connections: 3,
        // Far longer than the test: the held connections must not time out during it.
        timeout: Duration::from_secs(600),
        ..Config::default()
    };
    let control: Arc<dyn Control> = Arc::new(Recorder::default());
    let server = serve(addr(), config, live(), control).expect("serves");
    let addr = server.local_addr();
    // Each held connection has sent part of a request, so it is being served, not queued.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connects");
            s.write_all(b"GET /v1/status HTTP/1.1\r\n").expect("sends");
            s
        })
        .collect();
    // The listener takes connections in order: the fourth finds every place taken.
    let mut fourth = TcpStream::connect(addr).expect("connects");
    // Served instead of refused, it would wait for a request: fail rather than hang.
    fourth
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("sets a timeout");
    let reply = read_reply(&mut fourth);
    assert_eq!(reply.status, 503);
    assert_eq!(reply.header("connection"), Some("close"));
    // A held one still gets its answer, and once the held ones go there is room again.
    let mut first = held.into_iter().next().expect("three");
    first.write_all(b"Host: localhost\r\n\r\n").expect("sends");
    assert_eq!(read_reply(&mut first).status, 200);
    drop(first);
    // The server notices the closes as soon as it runs; a refusal in between may also reset
    // the connection before its 503 is read.
    let mut tries = 0;
    let reply = loop {
        tries += 1;
        assert!(tries < 3000, "no room after the held connections closed");
        match try_exchange(addr, b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n") {
            Ok(reply) if reply.status != 503 => break reply,
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert_eq!(reply.status, 200);
}

#[test]
fn a_slow_client_is_cut_off_and_a_drop_ends_its_connection() {
    let config = Config {
        timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let control: Arc<dyn Control> = Arc::new(Recorder::default());
    let server = serve(addr(), config, live(), control).expect("serves");
    let mut slow = TcpStream::connect(server.local_addr()).expect("connects");
    slow.write_all(b"GET /v1/status HTTP/1.1\r\n")
        .expect("sends");
    // However late this thread gets to read, the answer is the timeout's.
    assert_eq!(read_reply(&mut slow).status, 408);
    // A connection that never sends ends with the server, not at its deadline.
    let server = serve(
        addr(),
        Config {
            timeout: Duration::from_secs(600),
            ..Config::default()
        },
        live(),
        Arc::new(Recorder::default()),
    )
    .expect("serves");
    let mut idle = TcpStream::connect(server.local_addr()).expect("connects");
    idle.write_all(b"GET").expect("sends");
    // The listener takes connections in order: once a later one is answered, the idle one
    // has its thread.
    let later = exchange(
        server.local_addr(),
        b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(later.status, 200);
    // Fails rather than hangs if the connection outlives the server.
    idle.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("sets a timeout");
    drop(server);
    // Closed (reset, if the server had not read what it sent): not timed out.
    let mut rest = Vec::new();
    match idle.read_to_end(&mut rest) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
    }
}
