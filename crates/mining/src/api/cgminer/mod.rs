//! A cgminer-compatible API (its JSON form), for the dashboards and fleet tools that speak it:
//! `summary`, `devs`, `pools`, `stats`, `version` and `config`, joined with `+`
//! (`summary+pools`), each reply a `STATUS` array and a section, ended by a NUL byte, one
//! reply per connection, as cgminer's API-README describes.
//!
//! Read-only unless [`Config::allow_control`]: then `switchpool|N` and `ascenable|N`,
//! `ascdisable|N` (and the `pga` aliases) steer the run through its [`Control`]. Without it they
//! answer cgminer's "Access denied" (code 45). cgminer's plain-text form (`summary|0`) is not
//! spoken: it is answered "Invalid JSON" (code 23).
//!
//! cgminer's API has no authentication, so [`serve`] binds loopback addresses only: anyone who
//! can reach the port can read the run and, with control allowed, steer it. Reach it from
//! elsewhere through something that authenticates (an SSH tunnel), or use the HTTP API with
//! its tokens.

mod command;
mod reply;
#[cfg(test)]
mod tests;

pub use command::{Refusal, Request, RequestParser, MAX_REQUEST_BYTES};

use super::{Control, Live};
use sha256d::{Error, ErrorKind};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a client has to send its request, and to take the reply.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections served at once; more are closed unanswered until one ends.
pub const MAX_CONNECTIONS: usize = 16;
/// How long, after the reply, the server reads what else the client sent (a trailing
/// newline, say) before closing: closing on unread bytes resets the connection, and a reset
/// can destroy the reply before the client read it.
const LINGER: Duration = Duration::from_millis(500);

/// How the API behaves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Whether the control commands (`switchpool`, `ascenable`, `ascdisable`, `pgaenable`,
    /// `pgadisable`) are carried out; without it they answer "Access denied".
    pub allow_control: bool,
}

/// The running API; dropping it stops it (connections being served finish on their own,
/// within [`REQUEST_TIMEOUT`] and the linger after it).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// The address it listens on (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept; if that fails the listener is already gone.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

/// Serves the cgminer API on `addr` (a loopback address; port 0 picks a free port) from what
/// `live` holds, steering through `control` when `config` allows it.
pub fn serve(
    addr: SocketAddr,
    config: Config,
    live: Arc<Live>,
    control: Arc<dyn Control>,
) -> Result<Server, Error> {
    if !addr.ip().is_loopback() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "cgminer api: {addr} is not a loopback address, and the cgminer API has no \
                 authentication; bind it to 127.0.0.1 or ::1 (reach it through an SSH tunnel), \
                 or use the HTTP API with tokens"
            ),
        ));
    }
    let listener = TcpListener::bind(addr)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cgminer api: binding {addr}: {e}")))?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(AtomicBool::new(false));
    let accept = {
        let stop = Arc::clone(&stop);
        thread::Builder::new()
            .name("cgminer-api".into())
            .spawn(move || accept_loop(listener, &stop, config, live, control))?
    };
    Ok(Server {
        addr,
        stop,
        accept: Some(accept),
    })
}

fn accept_loop(
    listener: TcpListener,
    stop: &AtomicBool,
    config: Config,
    live: Arc<Live>,
    control: Arc<dyn Control>,
) {
    let busy = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else {
            // A connection that failed before it was accepted (reset, out of descriptors):
            // a short pause keeps a persistent failure from spinning.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
            busy.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let (held, live, control) = (Arc::clone(&busy), Arc::clone(&live), Arc::clone(&control));
        let spawned = thread::Builder::new()
            .name("cgminer-api-conn".into())
            .spawn(move || {
                // Errors here are the client's (gone, too slow): there is no one to tell.
                let _ = answer(stream, config, &live, control.as_ref());
                held.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The closure, and its count, never ran.
            busy.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn answer(
    mut stream: TcpStream,
    config: Config,
    live: &Live,
    control: &dyn Control,
) -> std::io::Result<()> {
    let deadline = Instant::now() + REQUEST_TIMEOUT;
    let request = read_request(&mut stream, deadline);
    let snapshot = live.snapshot();
    let history = live.history();
    let when = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let view = reply::View {
        snapshot: &snapshot,
        history: &history,
        when,
    };
    let bytes = reply::respond(request, &view, config.allow_control, control);
    stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
    stream.write_all(&bytes)?;
    stream.shutdown(Shutdown::Write)?;
    linger(&mut stream);
    Ok(())
}

fn read_request(stream: &mut TcpStream, deadline: Instant) -> Result<Request, Refusal> {
    let mut parser = RequestParser::new();
    let mut buf = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Err(parser.finish());
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Err(parser.finish()),
            Ok(n) => {
                if let Some(request) = parser.push(&buf[..n])? {
                    return Ok(request);
                }
            }
        }
    }
}

fn linger(stream: &mut TcpStream) {
    let end = Instant::now() + LINGER;
    let mut buf = [0u8; 1024];
    let mut left: usize = 64 * 1024;
    while left > 0 {
        let wait = end.saturating_duration_since(Instant::now());
        if wait.is_zero() || stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}
