//! A sans-IO HTTP/1.x response parser: bytes in as they arrive, the response out once it is
//! complete, with hard caps on what a peer can make it store. The JSON-RPC client in
//! [`crate::rpc`] is the thin I/O around it.
//!
//! Why not `httparse`: it parses only the status line and headers, from one contiguous buffer,
//! so the body framing (`Content-Length` checks, chunked sizes, extensions and trailers,
//! bodies delimited by the close, 1xx interim replies) and the caps would all stay here; it
//! would replace some sixty lines for a dependency and a fixed-size header array.

use crate::sanitize::for_terminal;
use sha256d::{Error, ErrorKind};

/// The most header bytes (status line, headers, chunk-size lines and trailers together) a
/// reply may carry. Nodes send a few hundred; the cap only stops a peer that never ends them.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most body bytes a reply may carry. A `getblocktemplate` reply is the largest thing a
/// node sends a miner: a full 4 MWU block is at most 4 MB of transactions, twice that as hex,
/// plus per-transaction JSON (txid, hash, fee, sigops, weight, depends; about 250 bytes each
/// for up to ~20,000 transactions), so about 13 MB. Twice that, rounded up, leaves room for
/// chains with larger templates without letting a hostile peer make us allocate without bound.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// A complete HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The reason phrase.
    pub reason: String,
    /// Header fields in arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, with any chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Fixed(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    UntilClose,
    Done,
}

/// A sans-IO HTTP/1.x response parser: feed it bytes as they arrive, get the response once
/// it is complete. Handles `Content-Length`, `Transfer-Encoding: chunked` (with chunk
/// extensions and trailers) and bodies delimited by the connection closing, and refuses
/// anything past [`MAX_HEADER_BYTES`] or [`MAX_BODY_BYTES`] before storing it.
#[derive(Clone, Debug)]
pub struct ResponseParser {
    state: State,
    lines: Lines,
    max_header: usize,
    max_body: usize,
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Default for ResponseParser {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseParser {
    /// A parser with the default limits.
    pub fn new() -> Self {
        Self::with_limits(MAX_HEADER_BYTES, MAX_BODY_BYTES)
    }

    /// A parser with other limits (tests use small ones).
    pub fn with_limits(max_header: usize, max_body: usize) -> Self {
        ResponseParser {
            state: State::Head,
            lines: Lines::default(),
            max_header,
            max_body,
            status: 0,
            reason: String::new(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Feeds the next bytes. Returns the response once complete; bytes after its end are
    /// ignored (we send `Connection: close`, so none are expected).
    pub fn push(&mut self, data: &[u8]) -> Result<Option<Response>, Error> {
        if self.state == State::Done {
            return Err(Error::parse("the response was already complete"));
        }
        let mut input = data;
        loop {
            match self.state {
                State::Head | State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let Some(line) =
                        self.lines.take(&mut input, self.max_header).map_err(|_| {
                            Error::parse(format!(
                                "the reply's header lines exceed {} bytes",
                                self.max_header
                            ))
                        })?
                    else {
                        return Ok(None);
                    };
                    self.line(&line)?;
                }
                State::Fixed(0) | State::ChunkData(0) => unreachable!("advanced by store"),
                State::Fixed(left) | State::ChunkData(left) => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(input.len());
                    self.body.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.state = match self.state {
                        State::Fixed(_) if n == left => State::Done,
                        State::Fixed(_) => State::Fixed(left - n),
                        _ if n == left => State::ChunkEnd,
                        _ => State::ChunkData(left - n),
                    };
                }
                State::UntilClose => {
                    if self.body.len() + input.len() > self.max_body {
                        return Err(self.too_big());
                    }
                    self.body.extend_from_slice(input);
                    return Ok(None);
                }
                State::Done => return Ok(Some(self.take())),
            }
        }
    }

    /// The connection closed: returns the response if the close completes it (a body
    /// delimited by the close), or says what was cut off.
    pub fn finish(&mut self) -> Result<Response, Error> {
        match self.state {
            State::UntilClose => {
                self.state = State::Done;
                Ok(self.take())
            }
            State::Head => Err(Error::new(
                ErrorKind::Unavailable,
                if self.lines.pending.is_empty() && self.status == 0 {
                    "the connection closed before any reply".to_owned()
                } else {
                    "the connection closed inside the reply's headers".to_owned()
                },
            )),
            State::Done => Err(Error::parse("the response was already complete")),
            _ => Err(Error::new(
                ErrorKind::Unavailable,
                "the connection closed before the reply's body was complete",
            )),
        }
    }

    fn line(&mut self, line: &[u8]) -> Result<(), Error> {
        let text = std::str::from_utf8(line)
            .map_err(|_| Error::parse("a header line of the reply is not UTF-8"))?;
        match self.state {
            State::Head if self.status == 0 => self.status_line(text),
            State::Head if text.is_empty() => self.end_of_head(),
            State::Head => {
                let (name, value) = text
                    .split_once(':')
                    .filter(|(n, _)| is_token(n))
                    .ok_or_else(|| {
                        Error::parse(format!(
                            "bad header line in the reply: {}",
                            for_terminal(text)
                        ))
                    })?;
                self.headers
                    .push((name.to_owned(), value.trim().to_owned()));
                Ok(())
            }
            State::ChunkSize => {
                // Extensions (`;name=value`) carry nothing we need.
                let size = text.split(';').next().unwrap_or("").trim();
                let size = if !size.is_empty() && size.len() <= 16 {
                    usize::from_str_radix(size, 16).ok()
                } else {
                    None
                }
                .filter(|_| size.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or_else(|| {
                    Error::parse(format!(
                        "bad chunk size in the reply: {}",
                        for_terminal(text)
                    ))
                })?;
                if size == 0 {
                    self.state = State::Trailers;
                } else if size > self.max_body - self.body.len() {
                    return Err(self.too_big());
                } else {
                    self.state = State::ChunkData(size);
                }
                Ok(())
            }
            State::ChunkEnd if text.is_empty() => {
                self.state = State::ChunkSize;
                Ok(())
            }
            State::ChunkEnd => Err(Error::parse("a chunk of the reply overruns its size")),
            State::Trailers => {
                if text.is_empty() {
                    self.state = State::Done;
                }
                Ok(())
            }
            _ => unreachable!("line() is only called in line states"),
        }
    }

    fn status_line(&mut self, text: &str) -> Result<(), Error> {
        let bad = || {
            Error::parse(format!(
                "the reply does not start with an HTTP status line: {}",
                for_terminal(text)
            ))
        };
        let rest = text.strip_prefix("HTTP/1.").ok_or_else(bad)?;
        let mut parts = rest.splitn(3, ' ');
        let minor = parts.next().ok_or_else(bad)?;
        let code = parts.next().ok_or_else(bad)?;
        if !(minor == "0" || minor == "1") || code.len() != 3 {
            return Err(bad());
        }
        self.status = code
            .parse()
            .ok()
            .filter(|c| (100..600).contains(c))
            .ok_or_else(bad)?;
        self.reason = for_terminal(parts.next().unwrap_or(""));
        Ok(())
    }

    fn end_of_head(&mut self) -> Result<(), Error> {
        if (100..200).contains(&self.status) {
            // An interim reply (100 Continue): the real one follows.
            self.status = 0;
            self.headers.clear();
            return Ok(());
        }
        let chunked = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
            .flat_map(|(_, v)| v.split(','))
            .next_back()
            .is_some_and(|coding| coding.trim().eq_ignore_ascii_case("chunked"));
        let length = content_length(&self.headers).map_err(|lengths| {
            Error::parse(format!(
                "bad Content-Length in the reply: {}",
                for_terminal(&lengths)
            ))
        })?;
        self.state = if self.status == 204 || self.status == 304 {
            State::Done
        } else if chunked {
            State::ChunkSize
        } else if let Some(n) = length {
            match usize::try_from(n) {
                Ok(0) => State::Done,
                Ok(n) if n <= self.max_body => State::Fixed(n),
                _ => return Err(self.too_big()),
            }
        } else {
            State::UntilClose
        };
        Ok(())
    }

    fn too_big(&self) -> Error {
        Error::parse(format!("the reply's body exceeds {} bytes", self.max_body))
    }

    fn take(&mut self) -> Response {
        Response {
            status: self.status,
            reason: std::mem::take(&mut self.reason),
            headers: std::mem::take(&mut self.headers),
            body: std::mem::take(&mut self.body),
        }
    }
}

/// Header lines cut off bytes as they arrive, under a cap on their total size: what this
/// response parser and the API's request parser share.
#[derive(Clone, Debug, Default)]
pub(crate) struct Lines {
    /// Bytes received but not yet consumed (an incomplete line, at most).
    pending: Vec<u8>,
    /// Bytes taken so far, terminators included.
    taken: usize,
}

/// The lines taken so far exceed the cap.
#[derive(Debug)]
pub(crate) struct LinesTooLong;

impl Lines {
    /// Cuts one CRLF- (or LF-) terminated line off `input`, buffering a partial one; fails
    /// once the lines taken so far exceed `max` bytes, before storing the excess.
    pub(crate) fn take(
        &mut self,
        input: &mut &[u8],
        max: usize,
    ) -> Result<Option<Vec<u8>>, LinesTooLong> {
        let newline = input.iter().position(|&b| b == b'\n');
        let used = newline.map_or(input.len(), |i| i + 1);
        self.taken += used;
        if self.taken > max {
            return Err(LinesTooLong);
        }
        self.pending.extend_from_slice(&input[..used]);
        *input = &input[used..];
        if newline.is_none() {
            return Ok(None);
        }
        let mut line = std::mem::take(&mut self.pending);
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }
}

/// What the `Content-Length` fields among `headers` give: `None` without one; a length past
/// `u64` saturates (it is too big for any cap). Several must agree, and each must be digits
/// only; otherwise the error holds them, joined, for a message.
pub(crate) fn content_length(headers: &[(String, String)]) -> Result<Option<u64>, String> {
    let lengths: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.as_str())
        .collect();
    let Some(first) = lengths.first() else {
        return Ok(None);
    };
    if lengths.iter().any(|l| l != first)
        || first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(lengths.join(", "));
    }
    // Digits only: the parse can fail only by overflowing.
    Ok(Some(first.parse().unwrap_or(u64::MAX)))
}

/// Whether `name` is an HTTP token (a method, a header name).
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(bytes: &[u8]) -> Result<Response, Error> {
        let mut p = ResponseParser::new();
        match p.push(bytes)? {
            Some(r) => Ok(r),
            None => p.finish(),
        }
    }

    /// Feeds `bytes` split at `at`, then (if still incomplete) closes.
    fn parse_split(bytes: &[u8], at: usize) -> Result<Response, Error> {
        let mut p = ResponseParser::new();
        if let Some(r) = p.push(&bytes[..at])? {
            return Ok(r);
        }
        match p.push(&bytes[at..])? {
            Some(r) => Ok(r),
            None => p.finish(),
        }
    }

    const CHUNKED: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
        Date: Sun, 22 Nov 2026 10:00:00 GMT\r\nTransfer-Encoding: chunked\r\n\r\n\
        7;ext=1\r\n{\"resul\r\n1A\r\nt\":null,\"error\":null,\"id\":\r\n3\r\n 1}\r\n\
        0;last\r\nX-Trailer: yes\r\n\r\n";

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let r = parse_all(CHUNKED).expect("valid reply");
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"result":null,"error":null,"id": 1}"#);
    }

    #[test]
    fn every_split_point_gives_the_same_response() {
        let fixed = b"HTTP/1.0 500 Internal Server Error\r\nContent-Length: 5\r\n\r\nhello";
        let close = b"HTTP/1.1 200 OK\nServer: x\n\nuntil the end";
        for bytes in [CHUNKED, &fixed[..], &close[..]] {
            let whole = parse_all(bytes).expect("valid");
            for at in 0..=bytes.len() {
                assert_eq!(parse_split(bytes, at).as_ref(), Ok(&whole), "split at {at}");
            }
            // And one byte at a time.
            let mut p = ResponseParser::new();
            let mut got = None;
            for b in bytes {
                if let Some(r) = p.push(std::slice::from_ref(b)).expect("valid") {
                    got = Some(r);
                }
            }
            let got = match got {
                Some(r) => r,
                None => p.finish().expect("completes at close"),
            };
            assert_eq!(got, whole);
        }
        assert_eq!(parse_all(fixed).expect("valid").body, b"hello");
        assert_eq!(parse_all(close).expect("valid").body, b"until the end");
    }

    #[test]
    fn interim_and_empty_replies() {
        let r = parse_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        )
        .expect("valid");
        assert_eq!(r.status, 401);
        assert!(r.body.is_empty());
        let r = parse_all(b"HTTP/1.1 204 No Content\r\n\r\n").expect("valid");
        assert_eq!(r.status, 204);
    }

    #[test]
    fn malformed_replies_are_errors() {
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
            // Cut off: inside the headers, inside a fixed body, inside a chunked body.
            b"HTTP/1.1 200 OK\r\nContent-",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel",
            b"",
        ] {
            assert!(
                parse_all(bad).is_err(),
                "{:?} parsed",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn oversize_replies_are_refused_before_they_are_stored() {
        // A claimed length past the cap fails at the end of the headers, with no body read.
        let mut p = ResponseParser::with_limits(1024, 100);
        let err = p
            .push(b"HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\n")
            .expect_err("too big");
        assert!(err.message().contains("exceeds 100 bytes"), "{err}");
        assert_eq!(p.body.capacity(), 0);
        // A chunk size past the cap fails at its size line.
        let mut p = ResponseParser::with_limits(1024, 100);
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\n";
        assert_eq!(p.push(head), Ok(None));
        p.push(&[b'x'; 0x50]).expect("within the cap");
        assert!(p.push(b"\r\n20\r\n").is_err());
        assert!(p.body.len() <= 100);
        // A close-delimited body past the cap.
        let mut p = ResponseParser::with_limits(1024, 100);
        assert_eq!(p.push(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(None));
        assert!(p.push(&[b'x'; 101]).is_err());
        // Headers that never end.
        let mut p = ResponseParser::with_limits(1024, 100);
        assert_eq!(p.push(b"HTTP/1.1 200 OK\r\n"), Ok(None));
        let err = p.push(&[b'a'; 2000]).expect_err("too long");
        assert!(err.message().contains("header lines exceed"), "{err}");
        assert!(p.lines.pending.len() <= 1024);
        // The default caps are the documented ones.
        let p = ResponseParser::new();
        assert_eq!(
            (p.max_header, p.max_body),
            (MAX_HEADER_BYTES, MAX_BODY_BYTES)
        );
    }
}
