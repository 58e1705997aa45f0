//! A blocking HTTP/1.1 client for plain `http://` endpoints the miner polls (an OpenADR VTN,
//! a price feed): one TCP connection per request (`Connection: close`), the reply read by the
//! sans-IO parser in [`crate::http`] under a body cap and one deadline for the whole exchange.
//!
//! Plain `http://` only, meant for a server on loopback or reached through a local TLS proxy:
//! one on the open internet speaks https, which this client refuses rather than send
//! credentials in the clear. (The crate's rustls stack could carry it; that is not wired here
//! yet.)

use crate::http::{Response, ResponseParser, MAX_HEADER_BYTES};
use crate::rpc::{host_header, is_wait, split_host_port};
use sha256d::{Error, ErrorKind};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long one request may take, connecting and reading included.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(30);

/// A server at `http://host[:port][/base]`, named in messages as `what` ("the VTN").
#[derive(Debug)]
pub(crate) struct Endpoint {
    what: &'static str,
    url: String,
    host: String,
    port: u16,
    base: String,
}

/// One request to an [`Endpoint`].
pub(crate) struct Call<'a> {
    pub(crate) method: &'a str,
    /// Below the endpoint's base path.
    pub(crate) path: &'a str,
    pub(crate) bearer: Option<&'a str>,
    /// Its content type and bytes.
    pub(crate) body: Option<(&'a str, &'a [u8])>,
    /// The most body bytes the reply may carry.
    pub(crate) max_reply: usize,
}

impl Endpoint {
    /// Reads `url` (`http://host[:port][/base/path]`, port 80 when omitted); nothing is sent.
    pub(crate) fn parse(url: &str, what: &'static str) -> Result<Endpoint, Error> {
        let url = url.trim();
        let rest = if let Some(rest) = url.strip_prefix("http://") {
            rest
        } else if url.starts_with("https://") {
            return Err(Error::invalid(format!(
                "{url}: https is not supported yet; reach {what} over loopback or through a \
                 local TLS proxy"
            )));
        } else {
            return Err(Error::invalid(format!(
                "{url}: the URL of {what} must look like http://host:port/path"
            )));
        };
        let (authority, base) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(Error::invalid(format!(
                "{url}: give credentials for {what} in the configuration, not the URL"
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
        Ok(Endpoint {
            what,
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            base: base.to_owned(),
        })
    }

    /// The URL as given.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Sends `call` and reads the whole reply.
    pub(crate) fn exchange(&self, call: &Call<'_>) -> Result<Response, Error> {
        let deadline = Instant::now() + REQUEST_DEADLINE;
        let target = format!("{}{}", self.base, call.path);
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\nConnection: close\r\n",
            call.method,
            if target.is_empty() { "/" } else { &target },
            host_header(&self.host, self.port)
        );
        if let Some(token) = call.bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body: &[u8] = match call.body {
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
                format!("talking to {} at {}: {e}", self.what, self.url),
            )
        };
        let left = |what: &str| {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "{} at {} did not {what} within {} s",
                        self.what,
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
        let mut parser = ResponseParser::with_limits(MAX_HEADER_BYTES, call.max_reply);
        let mut buf = vec![0u8; 64 * 1024];
        let bad = |e: Error| {
            Error::new(
                e.kind(),
                format!("{} at {}: {}", self.what, self.url, e.message()),
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
            Some(e) => format!("cannot connect to {} at {}: {e}", self.what, self.url),
            None => format!("no address to connect to for {}", self.url),
        }))
    }
}
