//! One request in cgminer's JSON form, `{"command":"summary+pools","parameter":"0"}`, read
//! from bytes as they come (sans-IO). The request has no terminator: a client writes the object
//! and waits for the reply, so the object's closing brace is its end.

use std::fmt;

/// The longest request read; a longer one is refused. cgminer reads at most about 32 KiB in
/// one `recv`; no real command comes near this.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// A request: the command as sent (`summary` or `summary+pools`) and its parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The command, `+` joining several.
    pub command: String,
    /// The parameter, as text: a string as sent; a number as cgminer prints it (an integer
    /// in decimal, a real with six decimals).
    pub parameter: Option<String>,
}

impl Request {
    /// Whether it joins several commands with `+` (then cgminer ignores the parameter).
    pub fn is_joined(&self) -> bool {
        self.command.contains('+')
    }

    /// The commands it names, in order: a repeated one once, empty ones skipped, as cgminer
    /// does.
    pub fn commands(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in self.command.split('+') {
            if !name.is_empty() && !out.contains(&name) {
                out.push(name);
            }
        }
        out
    }
}

/// Why a request is refused; each has a cgminer status code for the reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Longer than [`MAX_REQUEST_BYTES`].
    TooLong,
    /// Not a JSON object (the plain-text form included), or cut short.
    InvalidJson,
    /// An object without `command`.
    MissingCommand,
    /// A `command` that is not a string.
    InvalidCommand,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Refusal::TooLong => "request too long",
            Refusal::InvalidJson => "not a JSON request",
            Refusal::MissingCommand => "no command",
            Refusal::InvalidCommand => "command is not a string",
        })
    }
}

/// Reads one request from the bytes [`RequestParser::push`] is given.
#[derive(Debug, Default)]
pub struct RequestParser {
    buf: Vec<u8>,
    /// How far `buf` has been scanned for the object's end.
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl RequestParser {
    /// One with nothing read.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `bytes`: `Ok(Some(request))` once the object is complete (bytes after it are
    /// ignored), `Ok(None)` while more are needed, `Err` for a request that cannot become valid.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Option<Request>, Refusal> {
        // Past the limit nothing more is kept: the scan below refuses it there.
        let room = (MAX_REQUEST_BYTES + 1).saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
        while self.scanned < self.buf.len() {
            if self.scanned == MAX_REQUEST_BYTES {
                return Err(Refusal::TooLong);
            }
            let b = self.buf[self.scanned];
            self.scanned += 1;
            if self.depth == 0 {
                // Before the object: whitespace, then `{`; anything else is the text form or
                // noise, refused at once instead of waiting for an end that never comes.
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => continue,
                    b'{' => self.depth = 1,
                    _ => return Err(Refusal::InvalidJson),
                }
                continue;
            }
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return parse(&self.buf[..self.scanned]).map(Some);
                    }
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// The peer stopped sending (end of stream, or out of time) before the object ended.
    pub fn finish(self) -> Refusal {
        Refusal::InvalidJson
    }
}

fn parse(object: &[u8]) -> Result<Request, Refusal> {
    let value: serde_json::Value =
        serde_json::from_slice(object).map_err(|_| Refusal::InvalidJson)?;
    let map = value.as_object().ok_or(Refusal::InvalidJson)?;
    let command = match map.get("command") {
        None => return Err(Refusal::MissingCommand),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(Refusal::InvalidCommand),
    };
    // cgminer takes a string, an integer or a real and ignores any other kind; pyasic sends an
    // integer for `switchpool(1)`.
    let parameter = match map.get("parameter") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("{f:.6}"),
            (None, None) => n.to_string(),
        }),
        _ => None,
    };
    Ok(Request { command, parameter })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Result<Option<Request>, Refusal> {
        RequestParser::new().push(bytes)
    }

    fn req(command: &str, parameter: Option<&str>) -> Request {
        Request {
            command: command.into(),
            parameter: parameter.map(String::from),
        }
    }

    #[test]
    fn reads_command_and_parameter() {
        assert_eq!(
            whole(br#"{"command":"summary"}"#),
            Ok(Some(req("summary", None)))
        );
        assert_eq!(
            whole(br#" {"command":"switchpool","parameter":"1"}"#),
            Ok(Some(req("switchpool", Some("1"))))
        );
        assert_eq!(
            whole(br#"{"command":"switchpool","parameter":2}"#),
            Ok(Some(req("switchpool", Some("2"))))
        );
        assert_eq!(
            whole(br#"{"command":"x","parameter":1.5}"#),
            Ok(Some(req("x", Some("1.500000"))))
        );
        assert_eq!(
            whole(br#"{"command":"x","parameter":[1]}"#),
            Ok(Some(req("x", None)))
        );
    }

    #[test]
    fn the_closing_brace_ends_it_byte_by_byte() {
        let text = br#"{"command":"pools","parameter":"a}\"{b"}"#;
        let mut parser = RequestParser::new();
        for (i, b) in text.iter().enumerate() {
            let got = parser.push(&[*b]);
            if i + 1 < text.len() {
                assert_eq!(got, Ok(None), "at byte {i}");
            } else {
                assert_eq!(got, Ok(Some(req("pools", Some("a}\"{b")))));
            }
        }
    }

    #[test]
    fn refuses_what_is_not_a_request() {
        assert_eq!(whole(b"summary|0"), Err(Refusal::InvalidJson));
        assert_eq!(whole(b"{\"command\":}"), Err(Refusal::InvalidJson));
        assert_eq!(whole(b"{\"cmd\":\"x\"}"), Err(Refusal::MissingCommand));
        assert_eq!(whole(b"{\"command\":1}"), Err(Refusal::InvalidCommand));
        assert_eq!(whole(b"{\"command\":\"su"), Ok(None));
        assert_eq!(RequestParser::new().finish(), Refusal::InvalidJson);
    }

    #[test]
    fn refuses_a_request_past_the_limit() {
        let mut parser = RequestParser::new();
        let mut refused = None;
        let chunk = [b'{'; 1000];
        for _ in 0..20 {
            if let Err(e) = parser.push(&chunk) {
                refused = Some(e);
                break;
            }
        }
        assert_eq!(refused, Some(Refusal::TooLong));
        let long = format!("{{\"command\":\"{}\"}}", "a".repeat(MAX_REQUEST_BYTES));
        assert_eq!(whole(long.as_bytes()), Err(Refusal::TooLong));
    }

    #[test]
    fn joined_commands_once_each_in_order() {
        let r = req("summary++pools+summary+devs", Some("9"));
        assert!(r.is_joined());
        assert_eq!(r.commands(), ["summary", "pools", "devs"]);
        assert!(!req("summary", None).is_joined());
    }
}
