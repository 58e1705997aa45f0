//! A throwaway certificate authority for `stratum+ssl://` tests: the in-repo pool serves a
//! certificate it signed, and the miner is told to trust it through a PEM file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A CA, a server certificate it signed for `localhost` and `127.0.0.1`, and the CA's PEM
/// written to a file for the client to trust.
pub struct TlsIdentity {
    pub ca_file: PathBuf,
    config: Arc<rustls::ServerConfig>,
}

impl TlsIdentity {
    pub fn generate() -> Arc<Self> {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("key generation");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate().expect("key generation");
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("leaf params")
            .signed_by(&leaf_key, &issuer)
            .expect("leaf certificate");
        static N: AtomicUsize = AtomicUsize::new(0);
        let ca_file = std::env::temp_dir().join(format!(
            "sha256d-testpool-ca-{}-{}.pem",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&ca_file, ca_cert.pem()).expect("write CA PEM");
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], key)
            .expect("server certificate");
        Arc::new(TlsIdentity {
            ca_file,
            config: Arc::new(config),
        })
    }
}

impl TlsIdentity {
    /// The server side, for each connection the pool accepts.
    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }
}

impl Drop for TlsIdentity {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.ca_file);
    }
}
