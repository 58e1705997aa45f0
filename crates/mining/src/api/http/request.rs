//! A sans-IO HTTP/1.x request parser for the API server: bytes in as they arrive, the request
//! out once it is complete, with hard caps on what a client can make it store.
//!
//! Stricter than a general server: the API's clients are tools and its own dashboard, so
//! anything ambiguous is refused rather than guessed at. Bodies come with `Content-Length`
//! only (a `Transfer-Encoding` is refused with 411), the target is a path, and an error never
//! quotes the request (it may hold a token).

use crate::http::{content_length, is_token, Lines};

/// The most bytes the request line and headers may take together. Browsers send well under
/// 2 KiB; the cap only stops a client that never ends them.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The most body bytes a request may carry. The API's bodies are one small JSON object.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A complete request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (methods are case-sensitive).
    pub method: String,
    /// The request target: a path, with its query if any.
    pub target: String,
    /// Header fields in arrival order, names as sent, values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (empty without a `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        self.target
            .split_once('?')
            .map_or(self.target.as_str(), |(path, _)| path)
    }

    /// Every value of the headers named `name` (case-insensitive), in arrival order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request was refused, as the HTTP status to answer with and a message that quotes
/// nothing of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    status: u16,
    message: String,
}

impl RequestError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        RequestError {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(400, message)
    }

    /// The status to answer with: 400, 411, 413, 431 or 505.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Head,
    Body(usize),
    Done,
}

/// A sans-IO HTTP/1.x request parser: feed it bytes as they arrive, get the request once it
/// is complete. Refuses anything past [`MAX_HEAD_BYTES`] or [`MAX_BODY_BYTES`] before storing
/// it.
#[derive(Clone, Debug)]
pub struct RequestParser {
    state: State,
    lines: Lines,
    max_head: usize,
    max_body: usize,
    /// The minor version of the request line, once read.
    minor: Option<u8>,
    request: Request,
}

impl Default for RequestParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RequestParser {
    /// A parser with the default limits.
    pub fn new() -> Self {
        Self::with_limits(MAX_HEAD_BYTES, MAX_BODY_BYTES)
    }

    /// A parser with other limits (tests use small ones).
    pub fn with_limits(max_head: usize, max_body: usize) -> Self {
        RequestParser {
            state: State::Head,
            lines: Lines::default(),
            max_head,
            max_body,
            minor: None,
            request: Request {
                method: String::new(),
                target: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        }
    }

    /// Feeds the next bytes. Returns the request once complete; bytes after its end are
    /// ignored (the server answers one request per connection). After an error or a complete
    /// request, the parser only returns errors.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<Request>, RequestError> {
        let result = self.advance(data);
        if !matches!(result, Ok(None)) {
            self.state = State::Done;
        }
        result
    }

    fn advance(&mut self, mut input: &[u8]) -> Result<Option<Request>, RequestError> {
        loop {
            match self.state {
                State::Head => {
                    let Some(line) = self.lines.take(&mut input, self.max_head).map_err(|_| {
                        RequestError::new(
                            431,
                            format!("the request head exceeds {} bytes", self.max_head),
                        )
                    })?
                    else {
                        return Ok(None);
                    };
                    if let Some(body) = self.line(&line)? {
                        if body == 0 {
                            return Ok(Some(self.take()));
                        }
                        self.state = State::Body(body);
                    }
                }
                State::Body(left) => {
                    let n = left.min(input.len());
                    // Anything after the body is not part of this request.
                    self.request.body.extend_from_slice(&input[..n]);
                    if n == left {
                        return Ok(Some(self.take()));
                    }
                    self.state = State::Body(left - n);
                    return Ok(None);
                }
                State::Done => {
                    return Err(RequestError::bad("the request was already complete"));
                }
            }
        }
    }

    /// One line of the head; at its end, the body's length.
    fn line(&mut self, line: &[u8]) -> Result<Option<usize>, RequestError> {
        if self.minor.is_none() {
            // A client may send an empty line or two before the request line (RFC 9112 2.2).
            if !line.is_empty() {
                self.request_line(line)?;
            }
            return Ok(None);
        }
        if line.is_empty() {
            return self.end_of_head().map(Some);
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return Err(RequestError::bad("obsolete header line folding"));
        }
        // Field values are visible ASCII, spaces and tabs; a bare CR or any other control
        // byte is a framing trick, and non-ASCII carries nothing the API reads.
        if !line
            .iter()
            .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
        {
            return Err(RequestError::bad(
                "a header line holds a control or non-ASCII byte",
            ));
        }
        let text = std::str::from_utf8(line).expect("checked: ASCII only");
        let (name, value) = text
            .split_once(':')
            .filter(|(n, _)| is_token(n))
            .ok_or_else(|| RequestError::bad("a header line is not `name: value`"))?;
        self.request
            .headers
            .push((name.to_owned(), value.trim_matches([' ', '\t']).to_owned()));
        Ok(None)
    }

    fn request_line(&mut self, line: &[u8]) -> Result<(), RequestError> {
        let bad = || RequestError::bad("the request line is not `METHOD /path HTTP/1.1`");
        let text = std::str::from_utf8(line).map_err(|_| bad())?;
        let mut parts = text.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        if !is_token(method) {
            return Err(bad());
        }
        if !target.starts_with('/') || !target.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(RequestError::bad("the request target must be a path"));
        }
        let minor = match version {
            "HTTP/1.1" => 1,
            "HTTP/1.0" => 0,
            v if v.starts_with("HTTP/") => {
                return Err(RequestError::new(
                    505,
                    "only HTTP/1.0 and HTTP/1.1 are served",
                ));
            }
            _ => return Err(bad()),
        };
        self.minor = Some(minor);
        self.request.method = method.to_owned();
        self.request.target = target.to_owned();
        Ok(())
    }

    fn end_of_head(&mut self) -> Result<usize, RequestError> {
        let request = &self.request;
        let hosts = request.header_values("host").count();
        if hosts > 1 || (hosts == 0 && self.minor == Some(1)) {
            return Err(RequestError::bad(
                "an HTTP/1.1 request needs exactly one Host header",
            ));
        }
        if request.header_values("transfer-encoding").next().is_some() {
            return Err(RequestError::new(
                411,
                "send the body with a Content-Length; Transfer-Encoding is not accepted",
            ));
        }
        let length = content_length(&request.headers)
            .map_err(|_| RequestError::bad("a bad or repeated Content-Length"))?
            .unwrap_or(0);
        match usize::try_from(length) {
            Ok(n) if n <= self.max_body => Ok(n),
            _ => Err(RequestError::new(
                413,
                format!("the body exceeds {} bytes", self.max_body),
            )),
        }
    }

    fn take(&mut self) -> Request {
        std::mem::replace(
            &mut self.request,
            Request {
                method: String::new(),
                target: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(bytes: &[u8]) -> Result<Option<Request>, RequestError> {
        RequestParser::new().push(bytes)
    }

    fn parse_pieces(pieces: &[&[u8]]) -> Result<Option<Request>, RequestError> {
        let mut p = RequestParser::new();
        for piece in pieces {
            if let Some(r) = p.push(piece)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    const PUT: &[u8] = b"PUT /v1/setpoint?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
        Authorization: Bearer abc\r\nContent-Type: application/json\r\n\
        Content-Length: 13\r\n\r\n{\"off\": true}";

    #[test]
    fn a_put_with_a_body() {
        let r = parse(PUT).expect("valid").expect("complete");
        assert_eq!(r.method, "PUT");
        assert_eq!(r.target, "/v1/setpoint?x=1");
        assert_eq!(r.path(), "/v1/setpoint");
        assert_eq!(
            r.header_values("authorization").collect::<Vec<_>>(),
            ["Bearer abc"]
        );
        assert_eq!(r.body, br#"{"off": true}"#);
        // Bare LF endings, empty lines before the request line, HTTP/1.0 without a Host.
        let r = parse(b"\r\n\nGET / HTTP/1.0\nAccept: */*\n\n")
            .expect("valid")
            .expect("complete");
        assert_eq!((r.method.as_str(), r.path()), ("GET", "/"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn incomplete_until_the_last_byte() {
        for end in 0..PUT.len() {
            assert_eq!(parse(&PUT[..end]), Ok(None), "complete at {end} bytes");
        }
        // Bytes after the request (a pipelined one) are not part of it.
        let mut both = PUT.to_vec();
        both.extend_from_slice(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(parse(&both), parse(PUT));
    }

    #[test]
    fn bad_framing_is_refused() {
        for (bad, status) in [
            (&b"GET /\r\n\r\n"[..], 400),
            (b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400),
            (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400),
            (b"SSH-2.0-OpenSSH_9.6\r\n", 400),
            (b"GET / HTTP/1.1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n  folded\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\rX: 1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 1\r\n\r\n", 400),
            (
                b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                400,
            ),
            (
                b"PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
                411,
            ),
            (
                b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
                411,
            ),
        ] {
            let err = parse(bad).expect_err(&String::from_utf8_lossy(bad));
            assert_eq!(err.status(), status, "{}: {err:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn oversize_requests_are_refused_before_they_are_stored() {
        let mut p = RequestParser::with_limits(100, 10);
        let err = p
            .push(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n")
            .expect_err("too big");
        assert_eq!(err.status(), 413);
        assert!(err.message().contains("exceeds 10 bytes"), "{err:?}");
        assert_eq!(p.request.body.capacity(), 0);
        let err = RequestParser::with_limits(100, 10)
            .push(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
            .expect_err("too big");
        assert_eq!(err.status(), 413);
        let ok = RequestParser::with_limits(100, 10)
            .push(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789")
            .expect("at the cap");
        assert!(ok.is_some());
        // A head that never ends fails once past the cap, storing no more than it.
        let mut p = RequestParser::with_limits(100, 10);
        assert_eq!(p.push(b"GET / HTTP/1.1\r\n"), Ok(None));
        let err = p.push(&[b'a'; 1000]).expect_err("too long");
        assert_eq!(err.status(), 431);
        assert!(err.message().contains("exceeds 100 bytes"));
        // The defaults are the documented caps.
        let p = RequestParser::new();
        assert_eq!((p.max_head, p.max_body), (MAX_HEAD_BYTES, MAX_BODY_BYTES));
    }

    #[test]
    fn errors_quote_nothing_of_the_request() {
        let secret = "s3cr3t-token";
        for bad in [
            format!("GET /{secret} HTTP/3\r\n\r\n"),
            format!("GET / HTTP/1.1\r\nHost: a\r\nAuthorization {secret}\r\n\r\n"),
            format!("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: {secret}\r\n\r\n"),
            format!("{secret} / HTTP/1.1\r\n\r\n"),
        ] {
            let err = parse(bad.as_bytes()).expect_err("bad");
            assert!(!err.message().contains(secret), "{err:?}");
        }
    }

    #[test]
    fn nothing_after_the_end() {
        let mut p = RequestParser::new();
        assert!(p.push(PUT).expect("valid").is_some());
        assert!(p.push(b"more").is_err());
        let mut p = RequestParser::new();
        assert!(p.push(b"GET / HTTP/2\r\n").is_err());
        assert!(p.push(b"Host: a\r\n\r\n").is_err());
    }

    fn request() -> impl Strategy<Value = Vec<u8>> {
        let method = prop::sample::select(vec!["GET", "PUT", "POST", "DELETE"]);
        let path = "/[a-z0-9/._~%-]{0,30}(\\?[a-z=&]{0,10})?";
        let header = ("[A-Za-z-]{1,12}", "[ -~]{0,40}");
        let body = prop::collection::vec(any::<u8>(), 0..100);
        (method, path, prop::collection::vec(header, 0..6), body).prop_map(
            |(method, path, headers, body)| {
                let mut bytes = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
                for (name, value) in headers {
                    // The generated framing fields are the body's own.
                    if !["host", "content-length", "transfer-encoding"]
                        .contains(&name.to_ascii_lowercase().as_str())
                    {
                        bytes.push_str(&format!("{name}: {value}\r\n"));
                    }
                }
                bytes.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut bytes = bytes.into_bytes();
                bytes.extend_from_slice(&body);
                bytes
            },
        )
    }

    proptest! {
        #[test]
        fn any_split_parses_the_same(bytes in request(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..4)) {
            let whole = parse(&bytes);
            prop_assert!(matches!(whole, Ok(Some(_))), "{whole:?}");
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut start = 0;
            for &cut in &at {
                pieces.push(&bytes[start..cut]);
                start = cut;
            }
            pieces.push(&bytes[start..]);
            prop_assert_eq!(parse_pieces(&pieces), whole);
        }

        #[test]
        fn arbitrary_bytes_split_anywhere_agree(bytes in prop::collection::vec(any::<u8>(), 0..200), cut in any::<prop::sample::Index>()) {
            let at = cut.index(bytes.len() + 1);
            let whole = parse(&bytes);
            let split = parse_pieces(&[&bytes[..at], &bytes[at..]]);
            prop_assert_eq!(split, whole);
        }
    }
}
