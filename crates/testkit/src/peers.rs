//! Real third-party peers on 127.0.0.1, installed by `.ci/peers.sh DIR`, and what every
//! starter of one shares: whether peers are required, the path of an installed peer, free
//! loopback ports, temporary directories.
//!
//! - The regtest nodes are in [`crate::regtest`].
//! - The Stratum V2 pools are in [`crate::sv2`], the OpenADR 3 server and its PostgreSQL in
//!   [`crate::openadr`]; `Peer` is the process handling they share.
//! - [`NpmPool`]: the npm Stratum V1 pool `stratum-pool-sha256`, run by `peers/pool.js`
//!   against a node. `SHA256D_STRATUM_POOL` names the directory holding
//!   `node_modules/stratum-pool-sha256`; `node` must be on `PATH`.
//!
//! Without them the starters print why and return `None`, so `cargo test` passes on a bare
//! machine; with `SHA256D_REQUIRE_PEERS=1` or `CI=true` they panic instead. Every process is
//! killed and waited for on drop, and every data directory removed.

use crate::regtest::Regtest;
use serde_json::Value;
use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a peer may take to come up before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Between polls while waiting for a peer.
pub const POLL: Duration = Duration::from_millis(50);

/// Whether a missing peer fails the test instead of skipping it.
pub fn required() -> bool {
    std::env::var("SHA256D_REQUIRE_PEERS").is_ok_and(|v| v == "1")
        || std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Says why a peer can't run and returns `None`, or panics when peers are required.
pub fn unavailable<T>(why: &str) -> Option<T> {
    if required() {
        panic!("{why} (peers are required here: SHA256D_REQUIRE_PEERS=1 or CI=true)");
    }
    eprintln!("skipping: {why}");
    None
}

/// The existing path in environment variable `var`, or `None` (or a panic) saying how to get it.
pub fn peer_path(var: &str, what: &str) -> Option<PathBuf> {
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
pub fn free_ports<const N: usize>() -> [u16; N] {
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
pub fn temp_dir(what: &str) -> PathBuf {
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
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// A child process with its directory and log file, killed and removed on drop.
pub(crate) struct Peer {
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    what: &'static str,
}

impl Peer {
    /// Runs `command` in `dir`, its output into `dir/log.txt`.
    pub(crate) fn start(what: &'static str, mut command: Command, dir: PathBuf) -> Peer {
        let log = dir.join("log.txt");
        let out = File::create(&log).unwrap_or_else(|e| panic!("creating {}: {e}", log.display()));
        let err = out.try_clone().expect("cloning a file handle");
        let child = command
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {what} ({:?}): {e}", command.get_program()));
        Peer {
            child,
            dir,
            log,
            what,
        }
    }

    /// Waits until `port` accepts connections; panics with the log if the process exits or
    /// the time runs out.
    pub(crate) fn wait_listening(&mut self, port: u16) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited ({status}) before listening on {port}:\n{}",
                    self.what,
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {port} within {START_TIMEOUT:?}:\n{}",
                self.what,
                self.logs()
            );
            thread::sleep(POLL);
        }
    }

    pub(crate) fn logs(&self) -> String {
        format!("--- {} log (tail):\n{}", self.what, tail(&self.log, 60))
    }

    pub(crate) fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log holds `needle`; panics with the log if it does not within `timeout`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{} did not log {needle:?} within {timeout:?}:\n{}",
                self.what,
                self.logs()
            );
            thread::sleep(POLL);
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
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
