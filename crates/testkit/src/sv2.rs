//! The real Stratum V2 pool stack on 127.0.0.1, installed by `.ci/peers.sh DIR`:
//!
//! - [`PoolSv2`]: SRI's `pool_sv2` (`SHA256D_POOL_SV2`), which takes its work only from a
//!   Template Provider (the caller starts one, e.g. the mining crate's, and passes its address
//!   and authority key).
//! - [`TranslatorSv2`]: SRI's `translator_sv2` (`SHA256D_TRANSLATOR_SV2`) in front of the pool,
//!   an SV1 server with BIP310 version rolling and vardiff. It sends `mining.set_extranonce`
//!   only when its upstream sends SetExtranoncePrefix, which `pool_sv2` 0.7.0 never does (and
//!   a pool restart ends its SV1 sessions rather than renumbering them), so in front of
//!   [`PoolSv2`] it never sends one. [`TranslatorSv2::start_upstream`] puts it in front of
//!   any SV2 pool instead, such as a test's own that sends SetExtranoncePrefix: then it sends
//!   `mining.set_extranonce` right before the first job built on the new prefix.
//!
//! Each writes its configuration into a temporary directory, logs into a file there, listens
//! on a free loopback port, and is killed and waited for on drop, its directory removed. A
//! missing binary skips (or fails under `CI=true` / `SHA256D_REQUIRE_PEERS=1`) as
//! [`crate::peers`] does. Keys come from the caller: this crate holds no cryptography.

use crate::peers::{free_ports, peer_path, temp_dir, Peer};
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How [`PoolSv2::start`] configures the pool.
#[derive(Clone, Debug)]
pub struct PoolSv2Config {
    /// The Template Provider's address.
    pub template_provider: SocketAddr,
    /// The Template Provider's authority public key (base58-check), which the pool pins.
    pub template_provider_key: String,
    /// The pool's own authority keypair (base58-check), which its miners pin.
    pub authority_public_key: String,
    /// Its secret half, written only into the configuration file.
    pub authority_secret_key: String,
    /// The address the pool's coinbase pays (a regtest `bcrt1…` address).
    pub payout_address: String,
    /// The share rate the pool sets targets for.
    pub shares_per_minute: f64,
}

/// Starts an SRI binary on `config` (its TOML) in `dir`, logging into `dir/log.txt`.
fn spawn(what: &'static str, binary: &Path, dir: PathBuf, config: &str) -> Peer {
    let config_path = dir.join("config.toml");
    fs::write(&config_path, config)
        .unwrap_or_else(|e| panic!("writing {}: {e}", config_path.display()));
    let mut command = Command::new(binary);
    command
        .arg("-c")
        .arg(&config_path)
        // Plain text, not colours, in the log the tests search.
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info");
    Peer::start(what, command, dir)
}

/// SRI's `pool_sv2`, fed by the Template Provider in its [`PoolSv2Config`].
pub struct PoolSv2 {
    peer: Peer,
    port: u16,
    authority: String,
}

impl PoolSv2 {
    /// The pool, listening once it has connected to the Template Provider (it opens its
    /// listener after that handshake); `None` when `SHA256D_POOL_SV2` is missing.
    pub fn start(config: &PoolSv2Config) -> Option<PoolSv2> {
        let binary = peer_path("SHA256D_POOL_SV2", "pool_sv2")?;
        let [port] = free_ports::<1>();
        let toml = format!(
            r#"authority_public_key = "{public}"
authority_secret_key = "{secret}"
cert_validity_sec = 3600
listen_address = "127.0.0.1:{port}"
coinbase_reward_script = "addr({payout})"
server_id = 1
pool_signature = "sha256d test pool"
shares_per_minute = {spm:?}
share_batch_size = 1

[template_provider_type.Sv2Tp]
address = "{tp}"
public_key = "{tp_key}"
"#,
            public = config.authority_public_key,
            secret = config.authority_secret_key,
            payout = config.payout_address,
            spm = config.shares_per_minute,
            tp = config.template_provider,
            tp_key = config.template_provider_key,
        );
        let mut peer = spawn("pool_sv2", &binary, temp_dir("pool-sv2"), &toml);
        peer.wait_listening(port);
        Some(PoolSv2 {
            peer,
            port,
            authority: config.authority_public_key.clone(),
        })
    }

    /// `127.0.0.1:PORT`, where miners connect.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `stratum2+tcp://127.0.0.1:PORT/AUTHORITY_KEY`.
    pub fn url(&self) -> String {
        format!("stratum2+tcp://{}/{}", self.address(), self.authority)
    }

    /// The pool's authority public key (base58-check).
    pub fn authority_public_key(&self) -> &str {
        &self.authority
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.peer.log_text()
    }

    /// The log's tail, for failure messages.
    pub fn logs(&self) -> String {
        self.peer.logs()
    }

    /// Waits until the log holds `needle`; panics with the log otherwise.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        self.peer.wait_for_log(needle, timeout);
    }
}

/// How [`TranslatorSv2::start`] configures the translator.
#[derive(Clone, Debug)]
pub struct TranslatorSv2Config {
    /// The SV2 user identity it opens its channel with (`sri/solo/<address>/<worker>` is
    /// pool_sv2's solo payout convention).
    pub user_identity: String,
    /// The hashrate vardiff starts each miner at, hashes per second.
    pub min_individual_miner_hashrate: f64,
    /// The share rate vardiff aims for.
    pub shares_per_minute: f64,
    /// Whether vardiff adjusts the difficulty.
    pub enable_vardiff: bool,
}

/// SRI's `translator_sv2`: SV1 miners in front of a [`PoolSv2`].
pub struct TranslatorSv2 {
    peer: Peer,
    port: u16,
}

impl TranslatorSv2 {
    /// The translator in front of `pool`, listening; `None` when `SHA256D_TRANSLATOR_SV2` is
    /// missing.
    pub fn start(pool: &PoolSv2, config: &TranslatorSv2Config) -> Option<TranslatorSv2> {
        Self::start_upstream(pool.address(), &pool.authority, config)
    }

    /// The translator in front of the SV2 pool at `upstream` that proves `authority_public_key`
    /// (base58-check), listening; `None` when `SHA256D_TRANSLATOR_SV2` is missing. For a pool
    /// other than [`PoolSv2`]: one a test plays itself, to send what no real pool sends.
    pub fn start_upstream(
        upstream: SocketAddr,
        authority_public_key: &str,
        config: &TranslatorSv2Config,
    ) -> Option<TranslatorSv2> {
        let binary = peer_path("SHA256D_TRANSLATOR_SV2", "translator_sv2")?;
        let [port] = free_ports::<1>();
        let toml = format!(
            r#"downstream_address = "127.0.0.1"
downstream_port = {port}
max_supported_version = 2
min_supported_version = 2
downstream_extranonce2_size = 4
verify_payout = false
aggregate_channels = true
supported_extensions = []
required_extensions = []

[downstream_difficulty_config]
min_individual_miner_hashrate = {hashrate:?}
shares_per_minute = {spm:?}
enable_vardiff = {vardiff}
job_keepalive_interval_secs = 60

[[upstreams]]
address = "{pool_ip}"
port = {pool_port}
authority_pubkey = "{key}"
user_identity = "{user}"
"#,
            user = config.user_identity,
            hashrate = config.min_individual_miner_hashrate,
            spm = config.shares_per_minute,
            vardiff = config.enable_vardiff,
            pool_ip = upstream.ip(),
            pool_port = upstream.port(),
            key = authority_public_key,
        );
        let mut peer = spawn("translator_sv2", &binary, temp_dir("translator-sv2"), &toml);
        peer.wait_listening(port);
        Some(TranslatorSv2 { peer, port })
    }

    /// `stratum+tcp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("stratum+tcp://127.0.0.1:{}", self.port)
    }

    /// The log so far.
    pub fn log(&self) -> String {
        self.peer.log_text()
    }

    /// The log's tail, for failure messages.
    pub fn logs(&self) -> String {
        self.peer.logs()
    }

    /// Waits until the log holds `needle`; panics with the log otherwise.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        self.peer.wait_for_log(needle, timeout);
    }
}
