//! The socket shell: a listener, a thread per connection up to a cap, one request per
//! connection under one deadline, then the answer and the close.

use super::auth::{Auth, Secret};
use super::request::{RequestParser, MAX_BODY_BYTES};
use super::response::Response;
use super::routes::handle;
use crate::api::{Control, Live};
use crate::rpc::STOP_CHECK;
use sha256d::{Error, ErrorKind};
use std::io::{ErrorKind as IoKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest a connection is kept open after its answer, for the client to close it first.
const LINGER: Duration = Duration::from_millis(500);

/// How many connections [`Config::max_connections`] allows unless told otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// How long [`Config::timeout`] gives a connection unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the server runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// The token that reads. Without it reads are open, which only a loopback address allows.
    pub read_token: Option<Secret>,
    /// The token that reads and steers. Without it the control endpoints answer 403.
    pub control_token: Option<Secret>,
    /// The most connections served at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// How long a connection may take to send its request, and again to take the answer.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            read_token: None,
            control_token: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A running API server. Dropping it stops it: it stops accepting and its connections end
/// within [`STOP_CHECK`].
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Server {
    /// Where it listens (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accepting) = self.accepting.take() {
            // A thread that panicked has nothing left to clean up.
            let _ = accepting.join();
        }
    }
}

/// Listens on `addr` and serves the API from `live`, steering through `control`. Refuses an
/// address other than loopback unless both tokens are set: anyone who can reach it could
/// otherwise read the run or be one token short of steering it.
pub fn serve(
    addr: SocketAddr,
    config: Config,
    live: Arc<Live>,
    control: Arc<dyn Control>,
) -> Result<Server, Error> {
    if !addr.ip().is_loopback() && (config.read_token.is_none() || config.control_token.is_none()) {
        return Err(Error::invalid(format!(
            "the API would listen on {addr}, which is not a loopback address, without both a \
             read token and a control token: set both, or listen on 127.0.0.1"
        )));
    }
    if config.max_connections == 0 || config.timeout.is_zero() {
        return Err(Error::invalid(
            "the API needs room for a connection and time to serve it",
        ));
    }
    let io = |what: &str, e: std::io::Error| Error::new(ErrorKind::Io, format!("{what}: {e}"));
    let listener =
        TcpListener::bind(addr).map_err(|e| io(&format!("cannot listen on {addr}"), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| io("the listener has no address", e))?;
    // Polled, so that a drop is noticed without a connection to wake the accept.
    listener
        .set_nonblocking(true)
        .map_err(|e| io("cannot poll the listener", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        auth: Auth {
            read: config.read_token,
            control: config.control_token,
        },
        live,
        control,
        timeout: config.timeout,
        stop: Arc::clone(&stop),
    };
    let max = config.max_connections;
    let accepting = thread::Builder::new()
        .name("api-accept".into())
        .spawn(move || accept_loop(listener, Arc::new(shared), max))
        .map_err(|e| io("cannot start a thread", e))?;
    Ok(Server {
        addr,
        stop,
        accepting: Some(accepting),
    })
}

struct Shared {
    auth: Auth,
    live: Arc<Live>,
    control: Arc<dyn Control>,
    timeout: Duration,
    stop: Arc<AtomicBool>,
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, max: usize) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !shared.stop.load(Ordering::Relaxed) {
        connections.retain(|c| !c.is_finished());
        match listener.accept() {
            Ok((stream, _)) if connections.len() >= max => refuse(stream),
            Ok((stream, _)) => {
                let for_connection = Arc::clone(&shared);
                // Without a thread there is no one to answer: the stream closes unanswered.
                if let Ok(t) = thread::Builder::new()
                    .name("api-connection".into())
                    .spawn(move || connection(stream, &for_connection))
                {
                    connections.push(t);
                }
            }
            Err(e) if e.kind() == IoKind::WouldBlock => thread::sleep(STOP_CHECK),
            // Out of descriptors, a connection reset before it was taken: try again shortly.
            Err(_) => thread::sleep(STOP_CHECK),
        }
    }
    for c in connections {
        let _ = c.join();
    }
}

/// Answers 503 without a thread: what the client sent so far is read off without waiting,
/// so that the close does not reset the connection before the answer is read.
fn refuse(mut stream: TcpStream) {
    let _ = stream.set_nonblocking(true);
    let mut sink = [0; 4096];
    let mut drained = 0;
    while drained < MAX_BODY_BYTES {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => drained += n,
            _ => break,
        }
    }
    let busy = Response::error(503, "the API is serving as many connections as it takes");
    let _ = stream.write_all(&busy.to_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

/// One connection: one request, its answer, the close.
fn connection(mut stream: TcpStream, shared: &Shared) {
    let deadline = Instant::now() + shared.timeout;
    // Accepted sockets may inherit the listener's non-blocking mode on some systems. Short
    // reads and writes let the stop flag and the deadline be checked between them.
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(STOP_CHECK)).is_err()
        || stream.set_write_timeout(Some(STOP_CHECK)).is_err()
    {
        return;
    }
    let mut parser = RequestParser::new();
    let mut buf = [0; 4096];
    let response = loop {
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        if Instant::now() >= deadline {
            break Response::error(408, "the request took too long");
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), IoKind::WouldBlock | IoKind::TimedOut) => continue,
            Err(e) if e.kind() == IoKind::Interrupted => continue,
            Err(_) => return,
        };
        match parser.push(&buf[..n]) {
            Ok(None) => {}
            Ok(Some(request)) => {
                break handle(&request, &shared.live, &*shared.control, &shared.auth);
            }
            Err(e) => break Response::error(e.status(), e.message()),
        }
    };
    // The answer gets time of its own: a request cut off at its deadline is still told why.
    let deadline = Instant::now() + shared.timeout;
    if write_all(&mut stream, &response.to_bytes(), deadline, &shared.stop) {
        linger(&mut stream, deadline, &shared.stop);
    }
}

/// Writes `bytes` before `deadline`; false if it could not.
fn write_all(
    stream: &mut TcpStream,
    mut bytes: &[u8],
    deadline: Instant,
    stop: &AtomicBool,
) -> bool {
    while !bytes.is_empty() {
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            return false;
        }
        match stream.write(bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                ) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Ends the connection after the answer: the client's unread bytes (a refused body, say) are
/// read off until it closes (for a moment at most), so the close does not reset the connection and lose the answer.
fn linger(stream: &mut TcpStream, deadline: Instant, stop: &AtomicBool) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let until = deadline.min(Instant::now() + LINGER);
    let mut sink = [0; 4096];
    let mut drained = 0;
    while drained < MAX_BODY_BYTES && Instant::now() < until && !stop.load(Ordering::Relaxed) {
        match stream.read(&mut sink) {
            Ok(0) => return,
            Ok(n) => drained += n,
            Err(e)
                if matches!(
                    e.kind(),
                    IoKind::WouldBlock | IoKind::TimedOut | IoKind::Interrupted
                ) => {}
            Err(_) => return,
        }
    }
}
