//! The HTTP API: JSON over HTTP/1.1 with read and control bearer tokens.
//!
//! [`serve`] starts it; the endpoints and their JSON are in `openapi.json`, served at
//! `/v1/openapi.json`. The parts are pure and tested without sockets: [`RequestParser`] reads
//! a request from bytes as they arrive, [`handle`] answers it, [`Response::to_bytes`] writes
//! the answer; the socket shell around them bounds what a client can hold (connections,
//! request size, time).

mod auth;
mod request;
mod response;
mod routes;
mod server;

pub use auth::{Auth, Denied, Scope, Secret};
pub use request::{Request, RequestError, RequestParser, MAX_BODY_BYTES, MAX_HEAD_BYTES};
pub use response::{Response, JSON};
pub use routes::handle;
pub use server::{serve, Config, Server, DEFAULT_MAX_CONNECTIONS, DEFAULT_TIMEOUT};

#[cfg(test)]
mod tests;
