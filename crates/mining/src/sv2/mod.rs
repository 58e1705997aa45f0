//! Stratum V2: the pool's authority key checked in a Noise NX handshake, then binary frames
//! encrypted end to end, so nobody on the path can read shares or rewrite jobs.

pub mod template_provider;
pub mod transport;

pub use transport::{AuthorityKeypair, AuthorityPublicKey, ServerAuth, TransportError};
