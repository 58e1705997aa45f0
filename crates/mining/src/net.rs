//! The thin blocking I/O under the pool client: pool URLs (`net/url.rs`), TCP or TLS
//! connections, and a line reader that never buffers more than one bounded line.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sha256d::{Error, ErrorKind};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest line a pool may send. The largest honest message is a `mining.notify` with
/// a big coinbase and a full merkle branch, a few hundred KB at most; the cap keeps a
/// hostile or broken pool from making the reader buffer without end.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// A pool address: `stratum+tcp://host:port`, or `stratum+ssl://host:port` (also spelled
/// `stratum+tls://`) for Stratum inside TLS, or `stratum2+tcp://host:port/AUTHORITY_KEY` for a
/// Stratum V2 pool (Noise-encrypted, authenticated by the pool's authority key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PoolUrl {
    /// Whether the connection is wrapped in TLS (Stratum V1 only).
    pub tls: bool,
    /// Host name or IP address (IPv6 without its brackets).
    pub host: String,
    /// TCP port, never 0.
    pub port: u16,
    /// For a Stratum V2 pool, what the URL says about its authority key; `None` for V1.
    pub sv2: Option<Sv2Endpoint>,
}

/// The Stratum V2 part of a `stratum2+tcp://` URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sv2Endpoint {
    /// The pool's authority public key (x-only secp256k1) from the end of the URL. Without one
    /// the pool cannot be authenticated, and a source refuses it unless told explicitly to skip
    /// the check.
    pub authority_key: Option<[u8; 32]>,
}

mod url;

/// How `stratum+ssl://` connections verify the pool: the Mozilla roots (webpki-roots), plus
/// the certificates in an optional PEM file (a private CA, or a pool's self-signed
/// certificate).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// A PEM file of extra trusted certificates.
    pub ca_file: Option<PathBuf>,
}

impl TlsSettings {
    /// Also trusts the certificates in the PEM file at `path`.
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// The rustls client configuration these settings describe; fails if the CA file cannot
    /// be read or holds no certificate.
    pub fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = &self.ca_file {
            let shown = path.display();
            let mut added = 0;
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("CA file {shown}: cannot read it: {e}"),
                )
            })?;
            for cert in certs {
                let cert = cert.map_err(|e| {
                    Error::new(ErrorKind::Parse, format!("CA file {shown}: bad PEM: {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    Error::new(
                        ErrorKind::Parse,
                        format!("CA file {shown}: unusable certificate: {e}"),
                    )
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(Error::invalid(format!(
                    "CA file {shown} holds no PEM certificate"
                )));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

/// An open connection to a pool, plain or TLS.
pub(crate) struct Conn {
    inner: Inner,
}

enum Inner {
    Plain(TcpStream),
    // Boxed: the TLS state is large and the plain variant should not pay for it.
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner {
            Inner::Plain(_) => "tcp",
            Inner::Tls(_) => "tls",
        };
        f.debug_struct("Conn").field("kind", &kind).finish()
    }
}

impl Conn {
    fn socket(&self) -> &TcpStream {
        match &self.inner {
            Inner::Plain(s) => s,
            Inner::Tls(s) => &s.sock,
        }
    }

    /// How long a read may block before it fails with `WouldBlock` or `TimedOut`; `None`
    /// blocks for ever. A zero duration is taken as the shortest timeout the OS allows.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let timeout = timeout.map(|t| t.max(Duration::from_millis(1)));
        Ok(self.socket().set_read_timeout(timeout)?)
    }

    /// Closes both directions; further reads see end of stream.
    pub fn shutdown(&self) {
        // Already closed is as good as closed.
        let _ = self.socket().shutdown(std::net::Shutdown::Both);
    }

    /// Whether bytes already accepted by a write still wait to go out (TLS records the socket
    /// had no room for); [`Write::flush`] sends them.
    pub fn has_unsent(&self) -> bool {
        match &self.inner {
            Inner::Plain(_) => false,
            Inner::Tls(s) => s.conn.wants_write(),
        }
    }
}

/// Hands rustls's sealed records to the socket until they are gone or the socket is full.
fn send_tls(conn: &mut rustls::ClientConnection, sock: &mut TcpStream) -> io::Result<()> {
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A read makes at most one read from the socket, so it returns within the read timeout even
/// when the pool trickles bytes (rustls's own stream loops until a whole record is in).
impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let s = match &mut self.inner {
            Inner::Plain(s) => return s.read(buf),
            Inner::Tls(s) => s,
        };
        match s.conn.reader().read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            done => return done,
        }
        s.conn.read_tls(&mut s.sock)?;
        if let Err(e) = s.conn.process_new_packets() {
            // The alert that says why, if the socket takes it; the error is what matters.
            let _ = send_tls(&mut s.conn, &mut s.sock);
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        // WouldBlock while a record is still incomplete, which readers take as a timeout.
        s.conn.reader().read(buf)
    }
}

/// A write takes what the socket has room for within [`WRITE_WAIT`] and fails with
/// `WouldBlock` (or `TimedOut`) when it has none, so a pool that stops reading cannot stall
/// the caller; the caller keeps what was not taken and tries again later.
impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let s = match &mut self.inner {
            Inner::Plain(s) => return s.write(buf),
            Inner::Tls(s) => s,
        };
        // Records from earlier writes go first; until they are out, nothing new is taken.
        send_tls(&mut s.conn, &mut s.sock)?;
        let taken = s.conn.writer().write(buf)?;
        match send_tls(&mut s.conn, &mut s.sock) {
            // Sealed and kept by rustls: `has_unsent` and `flush` see to the rest.
            Err(e) if taken > 0 && is_full(&e) => Ok(taken),
            Err(e) => Err(e),
            Ok(()) => Ok(taken),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(s) => s.flush(),
            Inner::Tls(s) => send_tls(&mut s.conn, &mut s.sock),
        }
    }
}

/// Whether a write failed only because the socket had no room within [`WRITE_WAIT`].
pub(crate) fn is_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// How long a write on a [`connect`]ed connection waits for room in the socket.
pub(crate) const WRITE_WAIT: Duration = Duration::from_millis(2);

/// Connects to `url` and for TLS completes the handshake (certificate checked against `tls`)
/// before returning, all within `timeout`: the resolved addresses share it, and so does the
/// handshake, so a host with many dead addresses or a server that trickles its certificate
/// cannot hold the caller for a multiple of it. (The name lookup itself cannot be timed out;
/// callers that must not wait for it run `connect` on a thread of its own.)
pub(crate) fn connect(url: &PoolUrl, tls: &TlsSettings, timeout: Duration) -> Result<Conn, Error> {
    let timeout = timeout.max(Duration::from_millis(1));
    let deadline = Instant::now() + timeout;
    let sock = connect_tcp(url, deadline, timeout)?;
    if !url.tls {
        sock.set_write_timeout(Some(WRITE_WAIT))?;
        return Ok(Conn {
            inner: Inner::Plain(sock),
        });
    }
    let config = tls.client_config()?;
    let name = ServerName::try_from(url.host.clone())
        .map_err(|e| Error::invalid(format!("{}: not a TLS server name: {e}", url.host)))?;
    let mut session = rustls::ClientConnection::new(config, name)
        .map_err(|e| Error::new(ErrorKind::Io, format!("TLS setup: {e}")))?;
    // The handshake happens here, under the connect timeout, so certificate problems show up
    // as a failed connection and later reads never stall in the middle of a handshake.
    let mut sock = sock;
    sock.set_write_timeout(Some(
        deadline
            .saturating_duration_since(Instant::now())
            .max(WRITE_WAIT),
    ))?;
    while session.is_handshaking() {
        // The whole handshake, not each read, is held to the timeout: a server that trickles
        // its certificate would otherwise keep the connecting thread for ever.
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "TLS handshake with {url} failed: not done within {} s",
                    timeout.as_secs_f64()
                ),
            ));
        }
        sock.set_read_timeout(Some(left))?;
        session.complete_io(&mut sock).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("TLS handshake with {url} failed: {e}"),
            )
        })?;
    }
    sock.set_write_timeout(Some(WRITE_WAIT))?;
    Ok(Conn {
        inner: Inner::Tls(Box::new(rustls::StreamOwned::new(session, sock))),
    })
}

/// TCP keepalive on every pool connection. Stratum V2 has no keepalive of its own and a V2
/// pool may rightly say nothing for minutes, so a pool host that vanished (power lost, a NAT
/// that dropped the mapping) would leave the reader blocked for good and the miner on stale
/// work. Probes start after a minute of silence, every 10 s; three unanswered ones end the
/// connection, so a vanished pool is noticed within about 90 s.
const KEEPALIVE: socket2::TcpKeepalive = socket2::TcpKeepalive::new()
    .with_time(Duration::from_secs(60))
    .with_interval(Duration::from_secs(10))
    .with_retries(3);

/// The TCP connection under every pool connection: each of the host's addresses in turn until
/// one answers, all before `deadline` (`timeout` is for the message).
pub(crate) fn connect_tcp(
    url: &PoolUrl,
    deadline: Instant,
    timeout: Duration,
) -> Result<TcpStream, Error> {
    let out_of_time = || {
        Error::new(
            ErrorKind::Io,
            format!("not connected within {} s", timeout.as_secs_f64()),
        )
    };
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot resolve {}: {e}", url.host)))?
        .collect();
    let mut last = None;
    let mut sock = None;
    for addr in &addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(out_of_time());
        }
        match TcpStream::connect_timeout(addr, left) {
            Ok(s) => {
                sock = Some(s);
                break;
            }
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    let sock = sock.ok_or_else(|| {
        Error::new(
            ErrorKind::Io,
            last.unwrap_or_else(|| format!("{} resolves to no address", url.host)),
        )
    })?;
    sock.set_nodelay(true)?;
    socket2::SockRef::from(&sock).set_tcp_keepalive(&KEEPALIVE)?;
    Ok(sock)
}

/// Splits a byte stream into lines of at most [`MAX_LINE`] bytes, keeping partial lines
/// across reads that time out.
// Public for the fuzz target only.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct LineReader {
    // Bytes received and not yet returned. Holds no newline when a read starts, so it never
    // grows past MAX_LINE + 1 bytes.
    buf: Vec<u8>,
}

/// The answer of one [`LineReader::read_line`].
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadLine {
    /// A complete line, without its `\n` (or `\r\n`).
    Line(String),
    /// The read timed out before a line was complete; the partial line is kept.
    TimedOut,
    /// The read brought part of a line; it is kept for the next call.
    Partial,
    /// The peer closed the connection (a trailing unterminated line is dropped).
    Closed,
}

impl LineReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a complete line is already buffered, so the next read returns without I/O.
    pub fn has_line(&self) -> bool {
        self.buf.contains(&b'\n')
    }

    /// Returns the next line, reading from `src` only when no complete line is buffered, and
    /// then at most once: a peer that trickles a line byte by byte cannot hold the caller
    /// past its read timeout. A line longer than [`MAX_LINE`] or not UTF-8 is an `Err` of
    /// kind [`ErrorKind::Parse`]; after that the stream is out of step and should be closed.
    pub fn read_line(&mut self, src: &mut impl Read) -> Result<ReadLine, Error> {
        if !self.has_line() {
            let mut chunk = [0u8; 16 * 1024];
            let room = (MAX_LINE + 1 - self.buf.len()).min(chunk.len());
            let n = loop {
                match src.read(&mut chunk[..room]) {
                    Ok(0) => return Ok(ReadLine::Closed),
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) =>
                    {
                        return Ok(ReadLine::TimedOut)
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
        let Some(end) = self.buf.iter().position(|&b| b == b'\n') else {
            if self.buf.len() > MAX_LINE {
                self.buf.clear();
                return Err(Error::parse(format!(
                    "the pool sent a line longer than {MAX_LINE} bytes"
                )));
            }
            return Ok(ReadLine::Partial);
        };
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line)
            .map(ReadLine::Line)
            .map_err(|_| Error::parse("the pool sent a line that is not UTF-8"))
    }
}

/// A loopback address that refuses connections for as long as the returned listener lives.
///
/// Binding a port and dropping the listener is racy: a test running in parallel can be given
/// the same port and start listening on it. Holding the port on 127.0.0.1 keeps anyone else
/// from binding it there, and nothing listens on 127.0.0.2 (all of 127/8 is loopback).
#[cfg(test)]
pub(crate) fn refusing_address() -> (std::net::TcpListener, std::net::SocketAddr) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    let port = listener.local_addr().expect("bound").port();
    (listener, std::net::SocketAddr::from(([127, 0, 0, 2], port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback listener that nobody reads from, and a V1 URL for it.
    fn listening_pool() -> (std::net::TcpListener, PoolUrl) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("ephemeral port");
        let url = PoolUrl {
            tls: false,
            host: "127.0.0.1".into(),
            port: listener.local_addr().expect("bound").port(),
            sv2: None,
        };
        (listener, url)
    }

    /// A pool that stops reading fills the socket; a write then gives up at once instead of
    /// holding the miner.
    #[test]
    fn writes_to_a_pool_that_reads_nothing_do_not_wait() {
        let (listener, url) = listening_pool();
        let mut conn =
            connect(&url, &TlsSettings::default(), Duration::from_secs(5)).expect("connects");
        let chunk = vec![b'x'; 1 << 20];
        let mut sent = 0;
        let full = loop {
            let start = std::time::Instant::now();
            let result = conn.write(&chunk);
            assert!(start.elapsed() < Duration::from_secs(1), "a write waited");
            match result {
                Ok(n) => sent += n,
                Err(e) => break e,
            }
            assert!(sent < 1 << 30, "the socket never filled");
        };
        assert!(is_full(&full), "{full}");
        drop(listener);
    }

    /// Every pool connection probes a silent peer, so a vanished pool host is noticed.
    #[test]
    fn pool_connections_keep_alive() {
        let (_listener, url) = listening_pool();
        let timeout = Duration::from_secs(5);
        let sock = connect_tcp(&url, Instant::now() + timeout, timeout).expect("connects");
        let sock = socket2::SockRef::from(&sock);
        assert!(sock.keepalive().expect("readable"));
        assert_eq!(
            (
                sock.tcp_keepalive_time().expect("readable"),
                sock.tcp_keepalive_interval().expect("readable"),
                sock.tcp_keepalive_retries().expect("readable"),
            ),
            (Duration::from_secs(60), Duration::from_secs(10), 3)
        );
    }

    /// A reader that hands out scripted pieces, with timeouts between them.
    struct Script(Vec<io::Result<Vec<u8>>>);

    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            match self.0.remove(0) {
                Ok(mut piece) => {
                    let n = piece.len().min(buf.len());
                    buf[..n].copy_from_slice(&piece[..n]);
                    if n < piece.len() {
                        self.0.insert(0, Ok(piece.split_off(n)));
                    }
                    Ok(n)
                }
                Err(e) => Err(e),
            }
        }
    }

    fn timeout() -> io::Result<Vec<u8>> {
        Err(io::Error::new(io::ErrorKind::WouldBlock, "timeout"))
    }

    #[test]
    fn lines_survive_splits_and_timeouts() {
        let mut src = Script(vec![
            Ok(b"{\"a\":".to_vec()),
            timeout(),
            Ok(b"1}\r\nsecond\nthi".to_vec()),
            Err(io::Error::new(io::ErrorKind::TimedOut, "timeout")),
            Ok(b"rd\n\n".to_vec()),
        ]);
        let mut r = LineReader::new();
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Partial));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::TimedOut));
        assert_eq!(
            r.read_line(&mut src),
            Ok(ReadLine::Line("{\"a\":1}".into()))
        );
        assert!(r.has_line());
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Line("second".into())));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::TimedOut));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Line("third".into())));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Line(String::new())));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Closed));
    }

    /// A peer that never stops sending, one byte at a time and never a newline, gets one
    /// read per call: the caller is back within its timeout.
    #[test]
    fn a_trickled_line_costs_one_read_per_call() {
        struct Trickle(usize);
        impl Read for Trickle {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0 += 1;
                buf[0] = b'x';
                Ok(1)
            }
        }
        let mut src = Trickle(0);
        let mut r = LineReader::new();
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Partial));
        assert_eq!(r.read_line(&mut src), Ok(ReadLine::Partial));
        assert_eq!(src.0, 2);
    }

    #[test]
    fn long_lines_and_bad_utf8_are_errors() {
        let mut r = LineReader::new();
        let mut src = Script(vec![Ok(b"\xff\xfe\n".to_vec())]);
        assert_eq!(
            r.read_line(&mut src).map_err(|e| e.kind()),
            Err(ErrorKind::Parse)
        );

        // An endless line: the reader stops at the cap and never holds more than it.
        struct Endless(usize);
        impl Read for Endless {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                buf.fill(b'[');
                self.0 += buf.len();
                Ok(buf.len())
            }
        }
        let mut src = Endless(0);
        let err = loop {
            match r.read_line(&mut src) {
                Ok(ReadLine::Partial) => {}
                other => break other.expect_err("over-long line"),
            }
        };
        assert_eq!(err.kind(), ErrorKind::Parse);
        assert!(err.message().contains("longer than 1048576 bytes"), "{err}");
        assert_eq!(src.0, MAX_LINE + 1);
        assert!(r.buf.capacity() <= 2 * (MAX_LINE + 1));

        // A line of exactly the cap is fine.
        let mut line = vec![b'x'; MAX_LINE];
        line.push(b'\n');
        let mut src = Script(vec![Ok(line)]);
        let mut r = LineReader::new();
        loop {
            match r.read_line(&mut src) {
                Ok(ReadLine::Partial) => {}
                Ok(ReadLine::Line(l)) => break assert_eq!(l.len(), MAX_LINE),
                other => panic!("{other:?}"),
            }
        }
    }
}
