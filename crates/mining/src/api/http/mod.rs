//! The HTTP API: JSON over HTTP/1.1 with read and control bearer tokens.

mod auth;
mod request;

pub use auth::{Auth, Denied, Scope, Secret};
pub use request::{Request, RequestError, RequestParser, MAX_BODY_BYTES, MAX_HEAD_BYTES};
