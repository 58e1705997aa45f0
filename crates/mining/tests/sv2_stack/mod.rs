//! The whole Stratum V2 stack on 127.0.0.1 for a test: a Knots regtest node, this crate's
//! Template Provider on it, SRI's `pool_sv2` fed by that, and optionally `translator_sv2` in
//! front. A test file includes it with `mod sv2_stack;`. Missing peers skip (or fail under
//! `CI=true`) as `sha256d_testkit::peers` says; everything stops on drop.

#![allow(dead_code)] // Each test file that includes this uses a part of it.

use sha256d_mining::rpc::Auth;
use sha256d_mining::sv2::template_provider::{Server, ServerOptions};
use sha256d_mining::sv2::AuthorityKeypair;
use sha256d_testkit::regtest::Regtest;
use sha256d_testkit::sv2::{PoolSv2, PoolSv2Config, TranslatorSv2, TranslatorSv2Config};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: a peer normally answers within a second or two.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The Template Provider's log lines, shared with its threads.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    /// Adds a line (the Template Provider's log callback).
    pub fn push(&self, line: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.to_owned());
    }

    /// Every line so far.
    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits for a line containing `needle`, returning it; panics with every line otherwise.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.all().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "the template provider did not log {needle:?} within {timeout:?}:\n{}",
                self.all().join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits until the node's template carries `transactions` transactions: it rebuilds its
/// template only every few seconds after its mempool changes.
pub fn wait_for_mempool_in_template(node: &Regtest, transactions: usize) {
    node.wait_for_template(
        |t| t["transactions"].as_array().map(Vec::len) == Some(transactions),
        PATIENCE,
    );
}

/// Knots, the Template Provider and pool_sv2, started in that order.
pub struct Stack {
    // Dropped in this order: the pool before the Template Provider before the node.
    pub translator: Option<TranslatorSv2>,
    pub pool: PoolSv2,
    pub tp: Server,
    pub tp_log: Lines,
    pub node: Regtest,
    /// The regtest address the pool's coinbase pays.
    pub payout: String,
}

impl Stack {
    /// The stack on a node with 101 blocks; `None` when a peer is missing.
    pub fn start() -> Option<Stack> {
        Self::start_with_mempool(0)
    }

    /// The stack with `transactions` wallet payments (segwit spends) in the node's mempool
    /// before the Template Provider starts, so that its first template carries them (a
    /// longpoll returns on mempool changes only after a minute).
    pub fn start_with_mempool(transactions: usize) -> Option<Stack> {
        let node = Regtest::knots()?;
        for _ in 0..transactions {
            node.send_to_new_address("1");
        }
        wait_for_mempool_in_template(&node, transactions);
        let tp_log = Lines::default();
        let lines = tp_log.clone();
        let mut options = ServerOptions::new(
            node.rpc_url(),
            Auth::UserPass(node.rpc_user(), node.rpc_password()),
            AuthorityKeypair::generate(),
        );
        options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        options.poll_interval = Duration::from_millis(200);
        let tp = Server::start(
            options,
            Arc::new(move |line: &str| {
                eprintln!("template provider: {line}");
                lines
                    .0
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line.to_owned());
            }),
        )
        .expect("the template provider starts on the node");
        let pool_keys = AuthorityKeypair::generate();
        let payout = node.new_address();
        let pool = PoolSv2::start(&PoolSv2Config {
            template_provider: tp.local_addr(),
            template_provider_key: tp.public_key().to_string(),
            authority_public_key: pool_keys.public().to_string(),
            authority_secret_key: pool_keys.secret_base58(),
            payout_address: payout.clone(),
            shares_per_minute: 60.0,
        })?;
        Some(Stack {
            translator: None,
            pool,
            tp,
            tp_log,
            node,
            payout,
        })
    }

    /// pool_sv2's solo payout identity for `worker`: `sri/solo/<address>/<worker>`.
    pub fn user_identity(&self, worker: &str) -> String {
        format!("sri/solo/{}/{worker}", self.payout)
    }

    /// Starts translator_sv2 in front of the pool (vardiff on, from `hashrate` H/s); `None`
    /// when it is missing.
    pub fn with_translator(mut self, hashrate: f64) -> Option<Stack> {
        let config = TranslatorSv2Config {
            user_identity: self.user_identity("translator"),
            min_individual_miner_hashrate: hashrate,
            shares_per_minute: 30.0,
            enable_vardiff: true,
        };
        self.translator = Some(TranslatorSv2::start(&self.pool, &config)?);
        Some(self)
    }

    /// The translator's `stratum+tcp://` URL.
    pub fn translator_url(&self) -> String {
        self.translator
            .as_ref()
            .expect("started with_translator")
            .url()
    }
}
