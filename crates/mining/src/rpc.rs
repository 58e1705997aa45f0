//! A blocking JSON-RPC 1.0 client for a Bitcoin node over HTTP/1.1, on the sans-IO response
//! parser in [`crate::http`]; the reply's JSON-RPC layer is read here, without I/O.
//!
//! One TCP connection per call (`Connection: close`): a miner makes a handful of calls a
//! minute, so keep-alive would buy nothing and would add a stale-connection path to test.
//!
//! Every call has one deadline for all of it: connecting, sending the request and reading the
//! whole reply. A node that trickles its answer a byte at a time cannot hold a call past it.
//! A call is also interruptible: [`RpcClient::with_stop`] gives it flags that, once set, end
//! the call within [`STOP_CHECK`], because the socket is read and written in slices that
//! short and the flags are checked between them (connection attempts last up to a second).
//!
//! Failures come back as [`Error`]s whose kind says what to do about them:
//! - [`ErrorKind::InvalidInput`]: fix the configuration — a malformed URL, the node rejected
//!   the credentials (HTTP 401/403), or the node answered with a JSON-RPC error that retrying
//!   will not cure (unknown method, bad parameters).
//! - [`ErrorKind::Unavailable`]: try again later — the connection was refused, the call ran
//!   into its deadline or was stopped, or the node is not ready yet (JSON-RPC errors -9 "not
//!   connected", -10 "downloading blocks", -28 "warming up").
//! - [`ErrorKind::Parse`]: the reply was not HTTP or not JSON-RPC.
//! - [`ErrorKind::Io`]: any other socket error.

use crate::http::{Response, ResponseParser};
use crate::sanitize::for_terminal;
use serde_json::Value;
use sha256d::{Error, ErrorKind};
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The deadline of an ordinary call: long enough for a `getblocktemplate` on a loaded node,
/// short enough that a hung node is noticed.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

/// The longest connecting to one address may take, within the call's deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest one connection attempt waits for the handshake before the stop flags are
/// checked and it is tried again.
const CONNECT_ATTEMPT: Duration = Duration::from_secs(1);

/// The longest a single read or write waits; the stop flags and the deadline are checked
/// between them, so this bounds how late a stop or a deadline is noticed.
pub const STOP_CHECK: Duration = Duration::from_millis(100);

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
fn base64(data: &[u8]) -> String {
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
    /// The call ran into its deadline (for a longpoll: nothing changed).
    Timeout(Error),
    /// A stop flag was set.
    Interrupted(Error),
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
            | CallError::Interrupted(error)
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
    deadline: Duration,
    stops: Vec<Arc<AtomicBool>>,
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
            deadline: self.deadline,
            stops: self.stops.clone(),
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
        let (host, port) = split_host_port(authority, 8332)
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
            deadline: DEFAULT_DEADLINE,
            stops: Vec::new(),
            next_id: AtomicU64::new(1),
        })
    }

    /// The same client with another deadline for [`RpcClient::call`].
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The same client, also stopped by `flag`: once it is set, a call in progress ends with
    /// an [`ErrorKind::Unavailable`] error within [`STOP_CHECK`] (within a second while it is
    /// still connecting), and new calls fail at once. Flags add up; any one stops the client.
    pub fn with_stop(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stops.push(flag);
        self
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Calls `method` with `params` (an array or an object) and returns the `result`, within
    /// the client's deadline.
    pub fn call(&self, method: &str, params: Value) -> Result<Value, Error> {
        Ok(self.call_detailed(method, params, self.deadline)?)
    }

    /// [`RpcClient::call`] with its own deadline: a longpoll `getblocktemplate` may hold the
    /// reply back for minutes.
    pub fn call_within(
        &self,
        method: &str,
        params: Value,
        deadline: Duration,
    ) -> Result<Value, Error> {
        Ok(self.call_detailed(method, params, deadline)?)
    }

    pub(crate) fn call_detailed(
        &self,
        method: &str,
        params: Value,
        limit: Duration,
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
        let call = Call {
            client: self,
            method,
            limit,
            deadline: Instant::now() + limit,
        };
        let response = call.exchange(&[request.as_bytes(), body.as_bytes()])?;
        reply_result(&response, method, &self.url)
    }

    /// Whether a stop flag is set.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stops.iter().any(|s| s.load(Ordering::Relaxed))
    }
}

/// One call in progress, against its deadline.
struct Call<'a> {
    client: &'a RpcClient,
    method: &'a str,
    limit: Duration,
    deadline: Instant,
}

impl Call<'_> {
    /// The time left for the next socket operation, at most [`STOP_CHECK`]; an error once the
    /// call is stopped or past its deadline.
    fn slice(&self) -> Result<Duration, CallError> {
        let url = &self.client.url;
        if self.client.is_stopped() {
            return Err(CallError::Interrupted(Error::new(
                ErrorKind::Unavailable,
                format!("{} to the node at {url} was stopped", self.method),
            )));
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(CallError::Timeout(Error::new(
                ErrorKind::Unavailable,
                format!(
                    "the node at {url} did not answer {} within {} s",
                    self.method,
                    self.limit.as_secs_f64()
                ),
            )));
        }
        // A zero socket timeout means "none"; the deadline check above keeps this above it.
        Ok(left.min(STOP_CHECK).max(Duration::from_millis(1)))
    }

    fn exchange(&self, request: &[&[u8]]) -> Result<Response, CallError> {
        let mut stream = self.connect()?;
        let io = |e: std::io::Error| self.client.io_error(e);
        for mut part in request.iter().copied() {
            while !part.is_empty() {
                stream.set_write_timeout(Some(self.slice()?)).map_err(io)?;
                match stream.write(part) {
                    Ok(0) => return Err(io(std::io::ErrorKind::WriteZero.into())),
                    Ok(n) => part = &part[n..],
                    Err(e) if is_wait(&e) => {}
                    Err(e) => return Err(io(e)),
                }
            }
        }
        let mut parser = ResponseParser::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            stream.set_read_timeout(Some(self.slice()?)).map_err(io)?;
            let n = match stream.read(&mut buf) {
                Ok(n) => n,
                Err(e) if is_wait(&e) => continue,
                Err(e) => return Err(io(e)),
            };
            if n == 0 {
                return parser
                    .finish()
                    .map_err(|e| CallError::Transport(self.client.context(e)));
            }
            let pushed = parser.push(&buf[..n]);
            if let Some(response) =
                pushed.map_err(|e| CallError::Transport(self.client.context(e)))?
            {
                return Ok(response);
            }
        }
    }

    fn connect(&self) -> Result<TcpStream, CallError> {
        let client = self.client;
        let addrs = (client.host.as_str(), client.port)
            .to_socket_addrs()
            .map_err(|e| {
                CallError::Transport(Error::new(
                    ErrorKind::Unavailable,
                    format!("cannot resolve the node's host in {}: {e}", client.url),
                ))
            })?;
        let mut last = None;
        for addr in addrs {
            let give_up = Instant::now() + CONNECT_TIMEOUT;
            // Attempts of at most CONNECT_ATTEMPT, so that a stop is seen while a host that
            // drops the handshake is tried; one of STOP_CHECK would refuse a slow but live one.
            loop {
                self.slice()?;
                let left = self
                    .deadline
                    .min(give_up)
                    .saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match TcpStream::connect_timeout(&addr, left.min(CONNECT_ATTEMPT)) {
                    Ok(stream) => return Ok(stream),
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => last = Some(e),
                    Err(e) => {
                        last = Some(e);
                        break;
                    }
                }
            }
        }
        self.slice()?;
        Err(CallError::Transport(match last {
            Some(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Error::new(
                ErrorKind::Unavailable,
                format!(
                    "cannot connect to the node at {}: connection refused (is it running, with \
                     -server=1 and this RPC port?)",
                    client.url
                ),
            ),
            Some(e) => Error::new(
                ErrorKind::Unavailable,
                format!("cannot connect to the node at {}: {e}", client.url),
            ),
            None => Error::new(
                ErrorKind::Unavailable,
                format!("the node's host in {} resolves to no address", client.url),
            ),
        }))
    }
}

/// A socket timeout of one slice: time to check the deadline and the stop flags.
pub(crate) fn is_wait(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::Interrupted
    )
}

impl RpcClient {
    fn io_error(&self, e: std::io::Error) -> CallError {
        use std::io::ErrorKind as Io;
        match e.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::BrokenPipe
            | Io::WriteZero
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

/// `host[:port]` or `[v6][:port]`, `default_port` when none is given.
pub(crate) fn split_host_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
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
        None => default_port,
    };
    Some((host, port))
}

pub(crate) fn host_header(host: &str, port: u16) -> String {
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
                Some(m) => for_terminal(m),
                None => for_terminal(&error.to_string()),
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

#[cfg(test)]
mod tests {
    use super::*;

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
            .call_within(
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
