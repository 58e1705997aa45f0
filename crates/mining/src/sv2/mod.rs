//! Stratum V2: the pool's authority key checked in a Noise NX handshake, then binary frames
//! encrypted end to end, so nobody on the path can read shares or rewrite jobs.
//!
//! [`transport`] is the encrypted connection (both roles), [`client`] the mining protocol as
//! a pure state machine, [`template_provider`] a Template Provider fed by getblocktemplate; the pool source in `pool.rs` runs V2 sessions beside V1 ones.

pub mod client;
pub(crate) mod session;
pub mod template_provider;
pub mod transport;

pub use client::{ChannelKind, Client, ClientEvent, Config};
pub use transport::{AuthorityKeypair, AuthorityPublicKey, ServerAuth, TransportError};
