//! What the API answers, and its bytes on the wire. Every answer carries the same fixed
//! headers and nothing taken from the request.

/// An answer to one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// Headers beyond the fixed ones (`Allow`, `WWW-Authenticate`).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

/// The content type of the API's JSON answers.
pub const JSON: &str = "application/json";

impl Response {
    /// An answer with `body` of `content_type`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A JSON answer.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Response {
        Response::new(status, JSON, value.to_string())
    }

    /// `{"error": message}`.
    pub(crate) fn error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    /// With one more header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    /// The whole answer as sent: status line, headers (the connection closes after it), body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::ResponseParser;

    #[test]
    fn the_bytes_parse_back_with_the_fixed_headers() {
        let sent = Response::error(405, "no").with_header("Allow", "GET".into());
        let got = ResponseParser::new()
            .push(&sent.to_bytes())
            .expect("valid")
            .expect("complete");
        assert_eq!(
            (got.status, got.reason.as_str()),
            (405, "Method Not Allowed")
        );
        assert_eq!(got.header("content-type"), Some(JSON));
        assert_eq!(got.header("cache-control"), Some("no-store"));
        assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(got.header("connection"), Some("close"));
        assert_eq!(got.header("allow"), Some("GET"));
        assert_eq!(got.body, br#"{"error":"no"}"#);
    }
}
