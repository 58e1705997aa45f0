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

/// A Python script for a python with pyasic: it reads the cgminer-compatible API on
/// 127.0.0.1 at the port given as its one argument, through pyasic's RPC class and its
/// cgminer miner backend, and prints what pyasic made of it as one JSON object.
pub const PYASIC_CLIENT: &str = include_str!("pyasic_client.py");
