//! Test peers for the sha256d workspace: real regtest nodes ([`regtest`]), a scripted node
//! ([`fake_node`]), the harness
//! that runs a real Stratum V1 pool ([`peers`]), an in-repo pool that validates every share itself
//! ([`testpool`]), a raw Stratum V1 client that serves as an independent oracle ([`sv1`]),
//! the real Stratum V2 pool and translator ([`sv2`]), the real OpenADR 3 server on its own
//! PostgreSQL ([`openadr`]), a real Prometheus text parser ([`prometheus`]), and headless
//! Chromium through WebDriver ([`webdriver`]).

pub mod fake_node;
pub mod openadr;
pub mod peers;
pub mod prometheus;
pub mod regtest;
pub mod sv1;
pub mod sv2;
pub mod testpool;
pub mod tls;
pub mod webdriver;
