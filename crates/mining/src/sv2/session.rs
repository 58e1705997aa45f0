//! One live Stratum V2 connection: the encrypted transport, a reader thread that hands frames
//! over a channel (so the source can wait on it with a timeout and never block in the middle
//! of a frame), and the protocol state.

use crate::net::{self, PoolUrl};
use crate::sv2::client::Client;
use crate::sv2::transport::{self, Frame, FrameReader, FrameWriter, ServerAuth, TransportError};
use sha256d::{Error, ErrorKind};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A write the pool takes nothing of for this long fails: it stopped reading.
const WRITE_STALL: Duration = Duration::from_secs(10);

/// A connected, handshaken transport, before the session starts.
pub(crate) struct Link {
    reader: FrameReader<TcpStream>,
    writer: FrameWriter<TcpStream>,
}

impl Link {
    /// Connects to `url` and completes the Noise handshake with the responder checked as `auth`
    /// says, all within `timeout` (name lookup aside, as for V1).
    pub(crate) fn connect(
        url: &PoolUrl,
        auth: ServerAuth,
        timeout: Duration,
    ) -> Result<Link, Error> {
        let timeout = timeout.max(Duration::from_millis(1));
        let deadline = Instant::now() + timeout;
        let stream = net::connect_tcp(url, deadline, timeout)?;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream.set_read_timeout(Some(left))?;
        stream.set_write_timeout(Some(left))?;
        let (reader, writer) = transport::connect(stream, auth)?;
        // From here the reader thread blocks for as long as the pool is quiet; writes keep a
        // limit so a pool that stops reading is noticed.
        reader.get_ref().set_read_timeout(None)?;
        writer.get_ref().set_write_timeout(Some(WRITE_STALL))?;
        Ok(Link { reader, writer })
    }
}

/// A session on pool `index` of the list, reached at `url`.
pub(crate) struct Session {
    pub index: usize,
    pub url: PoolUrl,
    pub client: Client,
    writer: FrameWriter<TcpStream>,
    frames: mpsc::Receiver<Result<Frame, TransportError>>,
}

/// What waiting for the pool gave.
pub(crate) enum Received {
    Frame(Frame),
    TimedOut,
    Failed(String),
}

impl Session {
    /// A session over `link`; starts the reader thread.
    pub fn new(index: usize, url: PoolUrl, link: Link, client: Client) -> Result<Self, Error> {
        let (tx, frames) = mpsc::channel();
        let mut reader = link.reader;
        // The thread ends when the connection does: `close` shuts the socket down, which ends
        // the blocking read, or the source drops the receiver and the next send fails.
        std::thread::Builder::new()
            .name("stratum2-read".into())
            .spawn(move || loop {
                let frame = reader.read_frame();
                let failed = frame.is_err();
                if tx.send(frame).is_err() || failed {
                    break;
                }
            })
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start a thread: {e}")))?;
        Ok(Session {
            index,
            url,
            client,
            writer: link.writer,
            frames,
        })
    }

    /// Sends `frame`, waiting at most the write stall for room.
    pub fn send(&mut self, frame: &Frame) -> Result<(), Error> {
        self.writer
            .write_frame(frame)
            .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))
    }

    /// The next frame from the pool, waiting at most `wait`.
    pub fn receive(&mut self, wait: Duration) -> Received {
        match self.frames.recv_timeout(wait) {
            Ok(Ok(frame)) => Received::Frame(frame),
            Ok(Err(TransportError::Closed)) => Received::Failed("closed the connection".into()),
            Ok(Err(e)) => Received::Failed(e.to_string()),
            Err(mpsc::RecvTimeoutError::Timeout) => Received::TimedOut,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Received::Failed("the connection's reader stopped".into())
            }
        }
    }

    /// Closes the connection; the reader thread ends with it.
    pub fn shutdown(&self) {
        let _ = self.writer.get_ref().shutdown(Shutdown::Both);
    }
}

impl Drop for Session {
    /// The reader thread holds its own handle on the socket: without a shutdown it would keep
    /// the connection open, blocked in a read, until the pool closed it.
    fn drop(&mut self) {
        self.shutdown();
    }
}
