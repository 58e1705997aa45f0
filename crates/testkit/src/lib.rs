//! Test peers for the sha256d workspace: the harness that runs a real regtest node and a real
//! Stratum V1 pool ([`peers`]), an in-repo pool that validates every share itself
//! ([`testpool`]), and a raw Stratum V1 client that serves as an independent oracle ([`sv1`]).

pub mod peers;
pub mod sv1;
pub mod testpool;
pub mod tls;
