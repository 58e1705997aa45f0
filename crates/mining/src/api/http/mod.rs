//! The HTTP API: JSON over HTTP/1.1 with read and control bearer tokens.

mod request;

pub use request::{Request, RequestError, RequestParser, MAX_BODY_BYTES, MAX_HEAD_BYTES};
