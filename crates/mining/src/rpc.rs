//! A blocking JSON-RPC 1.0 client for a Bitcoin node over HTTP/1.1, and the sans-IO HTTP
//! response parser under it.
//!
//! One TCP connection per call (`Connection: close`): a miner makes a handful of calls a
//! minute, so keep-alive would buy nothing and would add a stale-connection path to test.
//!
//! Failures come back as [`Error`]s whose kind says what to do about them:
//! - [`ErrorKind::InvalidInput`]: fix the configuration — a malformed URL, the node rejected
//!   the credentials (HTTP 401/403), or the node answered with a JSON-RPC error that retrying
//!   will not cure (unknown method, bad parameters).
//! - [`ErrorKind::Unavailable`]: try again later — the connection was refused or timed out,
//!   or the node is not ready yet (JSON-RPC errors -9 "not connected", -10 "downloading
//!   blocks", -28 "warming up").
//! - [`ErrorKind::Parse`]: the reply was not HTTP or not JSON-RPC.
//! - [`ErrorKind::Io`]: any other socket error.

use serde_json::Value;
use sha256d::{Error, ErrorKind};
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The most header bytes (status line, headers, chunk-size lines and trailers together) a
/// reply may carry. Nodes send a few hundred; the cap only stops a peer that never ends them.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most body bytes a reply may carry. A `getblocktemplate` reply is the largest thing a
/// node sends a miner: a full 4 MWU block is at most 4 MB of transactions, twice that as hex,
/// plus per-transaction JSON (txid, hash, fee, sigops, weight, depends; about 250 bytes each
/// for up to ~20,000 transactions), so about 13 MB. Twice that, rounded up, leaves room for
/// chains with larger templates without letting a hostile peer make us allocate without bound.
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// The read timeout of an ordinary call: long enough for a `getblocktemplate` on a loaded
/// node, short enough that a hung node is noticed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How the client proves itself to the node.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Auth {
    /// `-rpcuser` / `-rpcpassword` (or an `-rpcauth` entry).
    UserPass(String, String),
    /// The node's `.cookie` file (`__cookie__:<random>`), re-read on every connection because
    /// the node writes a new one each time it starts.
    Cookie(PathBuf),
}

// By hand, so that a password never reaches a log through `{:?}`.
impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::UserPass(user, _) => f
                .debug_tuple("UserPass")
                .field(user)
                .field(&"<hidden>")
                .finish(),
            Auth::Cookie(path) => f.debug_tuple("Cookie").field(path).finish(),
        }
    }
}

impl Auth {
    /// The `Authorization` header value.
    fn header(&self) -> Result<String, Error> {
        let credentials = match self {
            Auth::UserPass(user, pass) => format!("{user}:{pass}"),
            Auth::Cookie(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!(
                            "cannot read the RPC cookie file {}: {e} (is the node running, and \
                             is this its data directory and chain?)",
                            path.display()
                        ),
                    )
                })?;
                let line = text.trim_end_matches(['\r', '\n']);
                if !line.contains(':') {
                    return Err(Error::invalid(format!(
                        "the RPC cookie file {} does not hold `user:password`",
                        path.display()
                    )));
                }
                line.to_owned()
            }
        };
        Ok(format!("Basic {}", base64(credentials.as_bytes())))
    }
}

/// Standard base64 (RFC 4648, with padding), for the Basic authorization header.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A failed call, split the way a caller that retries needs it split.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The node could not be reached or the exchange broke off.
    Transport(Error),
    /// The node did not answer within the read timeout (for a longpoll: nothing changed).
    Timeout(Error),
    /// HTTP 401 or 403.
    Credentials(Error),
    /// The node answered with a JSON-RPC error object.
    Rpc {
        /// The node's error code.
        code: i64,
        /// The whole error, for the caller to pass on.
        error: Error,
    },
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        match e {
            CallError::Transport(error)
            | CallError::Timeout(error)
            | CallError::Credentials(error) => error,
            CallError::Rpc { error, .. } => error,
        }
    }
}

/// JSON-RPC error codes that mean "not yet": the node is starting, syncing or has no peers.
pub(crate) fn is_not_ready(code: i64) -> bool {
    matches!(code, -9 | -10 | -28)
}

/// A blocking JSON-RPC client for one node.
#[derive(Debug)]
pub struct RpcClient {
    url: String,
    host: String,
    port: u16,
    path: String,
    auth: Auth,
    timeout: Duration,
    next_id: AtomicU64,
}

impl Clone for RpcClient {
    fn clone(&self) -> Self {
        RpcClient {
            url: self.url.clone(),
            host: self.host.clone(),
            port: self.port,
            path: self.path.clone(),
            auth: self.auth.clone(),
            timeout: self.timeout,
            next_id: AtomicU64::new(self.next_id.load(Ordering::Relaxed)),
        }
    }
}

impl RpcClient {
    /// A client for `url` (`http://host[:port][/path]`; port 8332 when omitted, IPv6 hosts in
    /// brackets). Only checks the URL; nothing is sent until the first call.
    pub fn new(url: &str, auth: Auth) -> Result<Self, Error> {
        let url = url.trim();
        let rest = if let Some(rest) = url.strip_prefix("http://") {
            rest
        } else if url.starts_with("https://") {
            return Err(Error::invalid(format!(
                "{url}: https is not supported; nodes serve RPC over plain http (use an SSH \
                 tunnel or a local proxy for a remote node)"
            )));
        } else {
            return Err(Error::invalid(format!(
                "{url}: a node URL must look like http://host:port"
            )));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(Error::invalid(format!(
                "{}: put the RPC user and password in the credentials option, not in the URL",
                url.split('@').next_back().unwrap_or(url)
            )));
        }
        let (host, port) = split_host_port(authority)
            .ok_or_else(|| Error::invalid(format!("{url}: cannot read a host and port")))?;
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(Error::invalid(format!(
                "{url}: the path holds spaces or control characters"
            )));
        }
        Ok(RpcClient {
            url: url.to_owned(),
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            auth,
            timeout: DEFAULT_TIMEOUT,
            next_id: AtomicU64::new(1),
        })
    }

    /// The same client with another read timeout for ordinary calls.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` (an array or an object) and returns the `result`.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        Ok(self.call_detailed(method, params, self.timeout)?)
    }

    /// [`RpcClient::call`] with its own read timeout: a longpoll `getblocktemplate` may hold
    /// the reply back for minutes.
    pub fn call_with_timeout(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, Error> {
        Ok(self.call_detailed(method, params, timeout)?)
    }

    pub(crate) fn call_detailed(
        &self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, CallError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::json!({
            "jsonrpc": "1.0",
            "id": id,
            "method": method,
            "params": params,
        })
        .to_string();
        let authorization = self.auth.header().map_err(CallError::Transport)?;
        let request = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {authorization}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            host_header(&self.host, self.port),
            body.len()
        );
        let response = self.exchange(request.as_bytes(), body.as_bytes(), timeout)?;
        reply_result(&response, method, &self.url)
    }

    fn exchange(&self, head: &[u8], body: &[u8], timeout: Duration) -> Result<Response, CallError> {
        let mut stream = self.connect()?;
        let io = |e: std::io::Error| self.io_error(e, timeout);
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        stream.write_all(head).map_err(io)?;
        stream.write_all(body).map_err(io)?;
        let mut parser = ResponseParser::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stream.read(&mut buf).map_err(io)?;
            if n == 0 {
                return parser
                    .finish()
                    .map_err(|e| CallError::Transport(self.context(e)));
            }
            let pushed = parser.push(&buf[..n]);
            if let Some(response) = pushed.map_err(|e| CallError::Transport(self.context(e)))? {
                return Ok(response);
            }
        }
    }

    fn connect(&self) -> Result<TcpStream, CallError> {
        let addrs = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| {
                CallError::Transport(Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot resolve the node's host in {}: {e}", self.url),
                ))
            })?;
        let mut last = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        Err(CallError::Transport(match last {
            Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot connect to the node at {}: connection refused (is it running, with \
                     -server=1 and this RPC port?)",
                    self.url
                ),
            ),
            Some(e) => Error::new(
                ErrorKind::Unavailable,
                format!("cannot connect to the node at {}: {e}", self.url),
            ),
            None => Error::new(
                ErrorKind::Unavailable,
                format!("the node's host in {} resolves to no address", self.url),
            ),
        }))
    }

    fn io_error(&self, e: std::io::Error, timeout: Duration) -> CallError {
        use std::io::ErrorKind as Io;
        match e.kind() {
            Io::TimedOut | Io::WouldBlock => CallError::Timeout(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the node at {} did not answer within {} s",
                    self.url,
                    timeout.as_secs_f64()
                ),
            )),
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::UnexpectedEof => CallError::Transport(Error::new(
                ErrorKind::Unavailable,
                format!("lost the connection to the node at {}: {e}", self.url),
            )),
            _ => CallError::Transport(Error::new(
                ErrorKind::Io,
                format!("talking to the node at {}: {e}", self.url),
            )),
        }
    }

    fn context(&self, e: Error) -> Error {
        Error::new(
            e.kind(),
            format!("bad HTTP reply from {}: {}", self.url, e.message()),
        )
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']')?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return None,
        };
        (&rest[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return None,
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        None => 8332,
    };
    Some((host, port))
}

fn host_header(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The `result` of a JSON-RPC reply body, or its `error` as an [`Error`] carrying the node's
/// code and message.
pub fn parse_reply(body: &[u8]) -> Result<Value, Error> {
    Ok(reply_body(body, "the call", "the node")?)
}

fn reply_result(response: &Response, method: &str, url: &str) -> Result<Value, CallError> {
    if response.status == 401 || response.status == 403 {
        return Err(CallError::Credentials(Error::invalid(format!(
            "the node at {url} rejected the RPC credentials (HTTP {}); check the user and \
             password, or the cookie file",
            response.status
        ))));
    }
    // Nodes send JSON-RPC errors with HTTP 500 or 404, so the body decides, not the status.
    match reply_body(&response.body, method, url) {
        Err(CallError::Transport(e)) if response.status != 200 => {
            Err(CallError::Transport(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the node at {url} answered {method} with HTTP {} {} ({})",
                    response.status,
                    response.reason,
                    e.message()
                ),
            )))
        }
        other => other,
    }
}

fn reply_body(body: &[u8], method: &str, url: &str) -> Result<Value, CallError> {
    let parse = |what: String| CallError::Transport(Error::parse(what));
    let mut reply: Value = serde_json::from_slice(body)
        .map_err(|e| parse(format!("the reply from {url} to {method} is not JSON: {e}")))?;
    let Some(object) = reply.as_object_mut() else {
        return Err(parse(format!(
            "the reply from {url} to {method} is not a JSON-RPC object"
        )));
    };
    match object.get("error") {
        None | Some(Value::Null) => {}
        Some(error) => {
            let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
            let message = match error.get("message").and_then(Value::as_str) {
                Some(m) => one_line(m),
                None => one_line(&error.to_string()),
            };
            let kind = if is_not_ready(code) {
                ErrorKind::Unavailable
            } else {
                ErrorKind::InvalidInput
            };
            return Err(CallError::Rpc {
                code,
                error: Error::new(
                    kind,
                    format!("{url} answered {method} with error {code}: {message}"),
                ),
            });
        }
    }
    object.remove("result").ok_or_else(|| {
        parse(format!(
            "the reply from {url} to {method} has neither a result nor an error"
        ))
    })
}

/// Collapses a peer's text to one printable line of bounded length.
pub(crate) fn one_line(text: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out.trim().to_owned()
}

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
    /// Bytes received but not yet consumed (an incomplete line, at most).
    pending: Vec<u8>,
    header_bytes: usize,
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
            pending: Vec::new(),
            header_bytes: 0,
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
                    let Some(line) = self.take_line(&mut input)? else {
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
                if self.pending.is_empty() && self.status == 0 {
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

    /// Cuts one CRLF- (or LF-) terminated line off `input`, buffering a partial one.
    fn take_line(&mut self, input: &mut &[u8]) -> Result<Option<Vec<u8>>, Error> {
        let newline = input.iter().position(|&b| b == b'\n');
        let used = newline.map_or(input.len(), |i| i + 1);
        self.header_bytes += used;
        if self.header_bytes > self.max_header {
            return Err(Error::parse(format!(
                "the reply's header lines exceed {} bytes",
                self.max_header
            )));
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
                        Error::parse(format!("bad header line in the reply: {}", one_line(text)))
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
                    Error::parse(format!("bad chunk size in the reply: {}", one_line(text)))
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
                one_line(text)
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
        self.reason = one_line(parts.next().unwrap_or(""));
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
        let lengths: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.as_str())
            .collect();
        self.state = if self.status == 204 || self.status == 304 {
            State::Done
        } else if chunked {
            State::ChunkSize
        } else if let Some(first) = lengths.first() {
            if lengths.iter().any(|l| l != first)
                || first.is_empty()
                || !first.bytes().all(|b| b.is_ascii_digit())
            {
                return Err(Error::parse(format!(
                    "bad Content-Length in the reply: {}",
                    one_line(&lengths.join(", "))
                )));
            }
            match first.parse::<usize>() {
                Ok(n) if n <= self.max_body => {
                    if n == 0 {
                        State::Done
                    } else {
                        State::Fixed(n)
                    }
                }
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

fn is_token(name: &str) -> bool {
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
    fn base64_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            ("u:p", "dTpw"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain:?}");
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn chunked_with_extensions_and_trailers() {
        let r = parse_all(CHUNKED).expect("valid reply");
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.body, br#"{"result":null,"error":null,"id": 1}"#);
        assert_eq!(parse_reply(&r.body), Ok(Value::Null));
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
        assert!(p.pending.len() <= 1024);
        // The default caps are the documented ones.
        let p = ResponseParser::new();
        assert_eq!(
            (p.max_header, p.max_body),
            (MAX_HEADER_BYTES, MAX_BODY_BYTES)
        );
    }

    #[test]
    fn json_rpc_replies() {
        assert_eq!(
            parse_reply(br#"{"result":{"a":1},"error":null,"id":1}"#),
            Ok(serde_json::json!({"a":1}))
        );
        let err = parse_reply(
            br#"{"result":null,"error":{"code":-10,"message":"Bitcoin is downloading blocks..."},"id":1}"#,
        )
        .expect_err("an error object");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains("-10"), "{err}");
        assert!(err.message().contains("downloading blocks"), "{err}");
        let err = parse_reply(
            br#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#,
        )
        .expect_err("an error object");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        for bad in [&b"[]"[..], b"{}", b"nope", b"{\"error\":null}"] {
            assert_eq!(
                parse_reply(bad).map_err(|e| e.kind()),
                Err(ErrorKind::Parse)
            );
        }
    }

    #[test]
    fn credentials_and_http_errors() {
        let response = |status, body: &[u8]| Response {
            status,
            reason: "x".into(),
            headers: vec![],
            body: body.to_vec(),
        };
        let url = "http://127.0.0.1:18443/";
        match reply_result(&response(401, b""), "getblocktemplate", url) {
            Err(CallError::Credentials(e)) => {
                assert!(e.message().contains("rejected the RPC credentials"), "{e}");
                assert_eq!(e.kind(), ErrorKind::InvalidInput);
            }
            other => panic!("{other:?}"),
        }
        // Core answers JSON-RPC errors with HTTP 500; the body wins.
        let body = br#"{"result":null,"error":{"code":-8,"message":"bad"},"id":1}"#;
        match reply_result(&response(500, body), "m", url) {
            Err(CallError::Rpc { code: -8, .. }) => {}
            other => panic!("{other:?}"),
        }
        match reply_result(&response(502, b"<html>"), "m", url) {
            Err(CallError::Transport(e)) => assert!(e.message().contains("HTTP 502"), "{e}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urls() {
        let auth = || Auth::UserPass("u".into(), "secret".into());
        let c = RpcClient::new("http://127.0.0.1:18443", auth()).expect("valid");
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("127.0.0.1", 18443, "/")
        );
        let c = RpcClient::new("http://[::1]:1/wallet/w", auth()).expect("valid");
        assert_eq!(
            (c.host.as_str(), c.port, c.path.as_str()),
            ("::1", 1, "/wallet/w")
        );
        assert_eq!(host_header(&c.host, c.port), "[::1]:1");
        let c = RpcClient::new("http://node", auth()).expect("valid");
        assert_eq!(c.port, 8332);
        for bad in [
            "https://node:8332",
            "node:8332",
            "http://:8332",
            "http://node:x",
            "http://node:0",
            "http://u:p@node:8332",
            "http://a:b:c",
            "http://[::1",
            "http://node:1/a b",
        ] {
            let err = RpcClient::new(bad, auth()).expect_err(bad);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}");
            assert!(!err.message().contains("p@"), "{err}");
        }
        assert!(format!("{:?}", auth()).contains("<hidden>"));
        assert!(!format!("{:?}", c).contains("secret"));
    }

    #[test]
    fn cookie_file_is_read_on_each_call() {
        let dir = std::env::temp_dir().join(format!("sha256d-cookie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(".cookie");
        let auth = Auth::Cookie(path.clone());
        assert_eq!(
            auth.header().map_err(|e| e.kind()),
            Err(ErrorKind::Unavailable)
        );
        std::fs::write(&path, "__cookie__:abc\n").expect("write");
        assert_eq!(
            auth.header(),
            Ok(format!("Basic {}", base64(b"__cookie__:abc")))
        );
        std::fs::write(&path, "__cookie__:def").expect("write");
        assert_eq!(
            auth.header(),
            Ok(format!("Basic {}", base64(b"__cookie__:def")))
        );
        std::fs::write(&path, "garbage").expect("write");
        assert!(auth.header().is_err());
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn refused_connection_names_the_url() {
        let (_held, addr) = crate::net::refusing_address();
        let url = format!("http://{addr}/");
        let c = RpcClient::new(&url, Auth::UserPass("u".into(), "p".into())).expect("valid");
        let err = c
            .call("getblockcount", Value::Array(vec![]))
            .expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(err.message().contains(&url), "{err}");
    }

    /// A one-shot server on loopback: the whole client path, request bytes included.
    #[test]
    fn call_against_a_loopback_server() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            // Read until the body (whose length the client sent) is in.
            loop {
                let n = s.read(&mut buf).expect("read");
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).into_owned();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("Content-Length: "))
                        .and_then(|v| v.parse().ok())
                        .expect("a length");
                    if body.len() >= len {
                        break;
                    }
                }
            }
            s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                .expect("write");
            for chunk in [&br#"{"result":7,"error""#[..], br#":null,"id":1}"#] {
                s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .and_then(|()| s.write_all(chunk))
                    .and_then(|()| s.write_all(b"\r\n"))
                    .expect("write");
            }
            s.write_all(b"0\r\n\r\n").expect("write");
            String::from_utf8(req).expect("ascii request")
        });
        let c = RpcClient::new(
            &format!("http://127.0.0.1:{port}/"),
            Auth::UserPass("u".into(), "p".into()),
        )
        .expect("valid");
        let result = c
            .call_with_timeout(
                "getblockcount",
                Value::Array(vec![]),
                Duration::from_secs(5),
            )
            .expect("answered");
        assert_eq!(result, Value::from(7));
        let req = server.join().expect("server thread");
        assert!(req.starts_with("POST / HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Authorization: Basic dTpw\r\n"), "{req}");
        assert!(
            req.ends_with(r#""method":"getblockcount","params":[]}"#),
            "{req}"
        );
    }
}
