//! One live connection to a pool: the socket, the line reader, the protocol state, and the
//! bytes the socket had no room for yet. Writes never wait; a pool that stops reading is
//! noticed and left.

use crate::failover::show_wait;
use crate::net::{self, Conn, LineReader, PoolUrl};
use crate::stratum::Client;
use sha256d::{Error, ErrorKind};
use std::io::Write;
use std::time::{Duration, Instant};

/// A pool that has taken none of our bytes for this long stopped reading; it is left.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// The most bytes kept for a pool that is slow to read them: a thousand submits. More means
/// the pool stopped reading; it is left rather than buffered for without end.
const MAX_UNSENT: usize = 256 * 1024;

/// A connection to pool `index` of the list, reached at `url`.
pub(crate) struct Session {
    pub index: usize,
    pub url: PoolUrl,
    pub conn: Conn,
    pub reader: LineReader,
    pub client: Client,
    pub last_heard: Instant,
    /// Lines the socket had no room for yet, in order.
    unsent: Vec<u8>,
    /// Since when bytes have waited to go out; cleared once all are out.
    stalled_since: Option<Instant>,
}

impl Session {
    /// A session on a fresh connection, with nothing sent yet.
    pub fn new(index: usize, url: PoolUrl, conn: Conn, client: Client, now: Instant) -> Self {
        Session {
            index,
            url,
            conn,
            reader: LineReader::new(),
            client,
            last_heard: now,
            unsent: Vec::new(),
            stalled_since: None,
        }
    }

    /// Sends `line`, or keeps it for [`Session::pump`] when the socket has no room.
    pub fn send(&mut self, line: &str) -> Result<(), Error> {
        if self.unsent.len() + line.len() + 1 > MAX_UNSENT {
            return Err(Error::new(
                ErrorKind::Io,
                format!("the pool left {} bytes we sent unread", self.unsent.len()),
            ));
        }
        self.unsent.extend_from_slice(line.as_bytes());
        self.unsent.push(b'\n');
        self.pump()
    }

    /// Writes what the socket takes without waiting; fails once the pool has taken nothing
    /// for [`WRITE_STALL`].
    pub fn pump(&mut self) -> Result<(), Error> {
        while !self.unsent.is_empty() {
            match self.conn.write(&self.unsent) {
                // A TLS connection whose own buffer is full.
                Ok(0) => break,
                Ok(n) => {
                    self.unsent.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if net::is_full(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        match self.conn.flush() {
            Err(e) if !net::is_full(&e) => return Err(e.into()),
            _ => {}
        }
        if self.unsent.is_empty() && !self.conn.has_unsent() {
            self.stalled_since = None;
            return Ok(());
        }
        let since = *self.stalled_since.get_or_insert_with(Instant::now);
        if since.elapsed() >= WRITE_STALL {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "the pool left what we sent unread for {}",
                    show_wait(WRITE_STALL)
                ),
            ));
        }
        Ok(())
    }
}
