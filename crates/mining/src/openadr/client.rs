//! The blocking shell around [`Ven`]: one TCP connection per request (`Connection: close`),
//! the reply read by the sans-IO parser in [`crate::http`] under a body cap and one deadline.
//!
//! Plain `http://` only, meant for a VTN on loopback or reached through a local TLS proxy: a
//! VTN on the open internet speaks https, which this client refuses rather than sending a client
//! secret in the clear. (The crate's rustls stack could carry it; that is not wired here yet.)

use super::ven::{Reading, Request, Step, Ven, VenConfig};
use super::Timeline;
use crate::http::{Response, ResponseParser, MAX_HEADER_BYTES};
use crate::rpc::{host_header, is_wait, split_host_port};
use sha256d::{Error, ErrorKind};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime};

/// The most bytes one VTN reply may carry: a page of 50 events with a day of one-minute
/// intervals each is about 3 MB.
pub const MAX_REPLY_BYTES: usize = 4 * 1024 * 1024;

/// How long one request may take, connecting and reading included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// The most requests one poll sends: a token, ten pages of programs and of events, and a
/// retry after a refused token.
const MAX_REQUESTS: usize = 24;

/// A VEN talking to one VTN over blocking HTTP.
#[derive(Debug)]
pub struct VenClient {
    url: String,
    host: String,
    port: u16,
    base: String,
    ven: Ven,
}

impl VenClient {
    /// A client for the VTN at `url` (`http://host[:port][/base/path]`, port 80 when omitted).
    /// Only checks the URL; nothing is sent until [`VenClient::poll`].
    pub fn new(url: &str, config: VenConfig) -> Result<VenClient, Error> {
        let url = url.trim();
        let rest = if let Some(rest) = url.strip_prefix("http://") {
            rest
        } else if url.starts_with("https://") {
            return Err(Error::invalid(format!(
                "{url}: https is not supported yet; reach the VTN over loopback or through a \
                 local TLS proxy"
            )));
        } else {
            return Err(Error::invalid(format!(
                "{url}: a VTN URL must look like http://host:port/path"
            )));
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(Error::invalid(format!(
                "{url}: give the VTN's client credentials in the configuration, not the URL"
            )));
        }
        let (host, port) = split_host_port(authority, 80)
            .ok_or_else(|| Error::invalid(format!("{url}: cannot read a host and port")))?;
        if base
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'?' || b == b'#')
        {
            return Err(Error::invalid(format!(
                "{url}: the path holds spaces, control characters, a query or a fragment"
            )));
        }
        Ok(VenClient {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            base: base.to_owned(),
            ven: Ven::new(config),
        })
    }

    /// Fetches the program's events and resolves them: the new timeline, or why not (the
    /// previous timeline stays in [`VenClient::timeline`], which a VEN keeps executing while
    /// the VTN is away).
    pub fn poll(&mut self) -> Result<&Timeline, Error> {
        let request = self.ven.start_poll(SystemTime::now());
        self.run(request)?;
        Ok(self.ven.timeline())
    }

    /// Posts `reading` as a report.
    pub fn report(&mut self, reading: &Reading) -> Result<(), Error> {
        let request = self.ven.start_report(SystemTime::now(), reading)?;
        self.run(request)
    }

    /// The timeline of the last successful poll.
    pub fn timeline(&self) -> &Timeline {
        self.ven.timeline()
    }

    /// The program's id on the VTN, once a poll has found it.
    pub fn program_id(&self) -> Option<&str> {
        self.ven.program_id()
    }

    fn run(&mut self, mut request: Request) -> Result<(), Error> {
        for _ in 0..MAX_REQUESTS {
            let response = self.exchange(&request)?;
            match self
                .ven
                .on_response(SystemTime::now(), response.status, &response.body)
                .map_err(|e| Error::new(e.kind(), format!("{}: {}", self.url, e.message())))?
            {
                Step::Send(next) => request = next,
                Step::Done => return Ok(()),
            }
        }
        Err(Error::parse(format!(
            "{}: more than {MAX_REQUESTS} requests for one poll",
            self.url
        )))
    }

    fn exchange(&self, request: &Request) -> Result<Response, Error> {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let mut head = format!(
            "{} {}{} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n",
            request.method,
            self.base,
            request.path,
            host_header(&self.host, self.port)
        );
        if let Some(token) = &request.bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body: &[u8] = match &request.body {
            Some((content_type, body)) => {
                head.push_str(&format!(
                    "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                    body.len()
                ));
                body
            }
            None => &[],
        };
        head.push_str("\r\n");
        let mut stream = self.connect(deadline)?;
        let io = |e: std::io::Error| {
            Error::new(
                ErrorKind::Unavailable,
                format!("talking to the VTN at {}: {e}", self.url),
            )
        };
        let left = |what: &str| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the VTN at {} did not {what} within {} s",
                        self.url,
                        REQUEST_DEADLINE.as_secs()
                    ),
                ))
            } else {
                Ok(left)
            }
        };
        stream
            .set_write_timeout(Some(left("take the request")?))
            .map_err(io)?;
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(body).map_err(io)?;
        let mut parser = ResponseParser::with_limits(MAX_HEADER_BYTES, MAX_REPLY_BYTES);
        let mut buf = vec![0u8; 64 * 1024];
        let bad = |e: Error| {
            Error::new(
                e.kind(),
                format!("the VTN at {}: {}", self.url, e.message()),
            )
        };
        loop {
            stream.set_read_timeout(Some(left("answer")?)).map_err(io)?;
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if is_wait(&e) => continue,
                Err(e) => return Err(io(e)),
            };
            if n == 0 {
                return parser.finish().map_err(bad);
            }
            if let Some(response) = parser.push(&buf[..n]).map_err(bad)? {
                return Ok(response);
            }
        }
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, Error> {
        let unavailable = |why: String| Error::new(ErrorKind::Unavailable, why);
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| unavailable(format!("cannot resolve the host of {}: {e}", self.url)))?;
        let mut last = None;
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(unavailable(match last {
            Some(e) => format!("cannot connect to the VTN at {}: {e}", self.url),
            None => format!("no address to connect to for {}", self.url),
        }))
    }
}
