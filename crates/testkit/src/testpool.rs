//! A small Stratum V1 pool on 127.0.0.1 for the client's end-to-end tests.
//!
//! It validates every submitted share the way a real pool does, with its own code (the `sha2`
//! crate hashes, nothing from `sha256d` builds or checks headers), so it is an oracle for the
//! client rather than a mirror of it: job lookup and staleness, extranonce2 size, ntime range,
//! version bits against the negotiated mask, duplicates, and the hash against the share
//! difficulty. Per-test knobs choose the error dialect, version rolling, difficulty and
//! extranonce; scripted [`Action`]s push messages to connected miners; [`Hostile`] modes do
//! what no honest pool does.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::tls::TlsIdentity;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How rejections are worded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// node-stratum-pool: `"error":[code,"message",null]`.
    Numeric,
    /// ckpool: `"result":false,"error":null,"reject-reason":"..."`.
    Ckpool,
}

/// What a hostile or broken pool does instead of serving honestly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    None,
    /// Closes the connection on every `mining.submit`, before answering it.
    DropOnSubmit,
    /// Closes the connection right after authorizing and sending the first job.
    DropAfterAuthorize,
    /// Answers no request, but sends `mining.ping` every 200 ms so the line is never idle.
    Mute,
    /// One line of this many bytes, streamed in chunks, never finished.
    HugeLine(u64),
    /// A line that is not UTF-8.
    InvalidUtf8,
    /// JSON nested far deeper than any message.
    DeepNesting,
}

/// The pool's behaviour for new connections.
#[derive(Clone)]
pub struct Settings {
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    pub difficulty: f64,
    /// The server mask for `mining.configure`; `None` answers `{}` (no rolling).
    pub rolling_mask: Option<u32>,
    pub dialect: Dialect,
    pub reject_auth: bool,
    /// How many merkle branch entries each job carries.
    pub branch_len: usize,
    pub hostile: Hostile,
    /// Goes into every coinbase and previous-block hash, so pools' jobs differ.
    pub tag: String,
    pub tls: Option<Arc<TlsIdentity>>,
    /// Every share is rejected with this reason (`{n}` becomes a counter, so each differs).
    pub reject_reason: Option<String>,
    /// Each connection gets its own extranonce1 (`extranonce1` with the connection number
    /// added to its last byte), unless its `mining.subscribe` resumes an earlier one by the
    /// subscription id that connection was given, as ckpool does.
    pub fresh_extranonce1: bool,
}

impl Settings {
    pub fn new(tag: &str) -> Self {
        Settings {
            extranonce1: vec![0xa0, 0x00, 0x00, 0x01],
            extranonce2_size: 4,
            difficulty: 1e-5,
            rolling_mask: None,
            dialect: Dialect::Numeric,
            reject_auth: false,
            branch_len: 2,
            hostile: Hostile::None,
            tag: tag.to_string(),
            tls: None,
            reject_reason: None,
            fresh_extranonce1: false,
        }
    }
}

/// Something the test makes the pool send to every connected miner.
#[derive(Clone, Debug)]
pub enum Action {
    SetDifficulty(f64),
    /// A new job; `clean` voids the older ones (and moves to a new previous block).
    Notify {
        clean: bool,
    },
    SetVersionMask(u32),
    SetExtranonce(Vec<u8>, usize),
    Reconnect {
        host: Option<String>,
        port: Option<u16>,
        wait: u64,
    },
    ShowMessage(String),
    Raw(Vec<u8>),
    Close,
}

/// A share as the pool saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct Submitted {
    pub conn: usize,
    pub params: Vec<String>,
    /// The header version the pool hashed (after applying the version bits).
    pub version: u32,
    /// sha256d of the header, display order (reversed), as block explorers show it.
    pub hash: String,
}

#[derive(Default)]
struct Log {
    connections: usize,
    received: Vec<(usize, String)>,
    accepted: Vec<Submitted>,
    rejected: Vec<(Submitted, String)>,
    hostile_bytes: u64,
}

struct Shared {
    settings: Mutex<Settings>,
    log: Mutex<Log>,
    conns: Mutex<Vec<Sender<Action>>>,
    /// Subscription ids handed out, with their extranonce1, for resumption.
    sessions: Mutex<HashMap<String, Vec<u8>>>,
    stop: AtomicBool,
}

pub struct TestPool {
    port: u16,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl TestPool {
    /// A pool on an ephemeral port.
    pub fn start(settings: Settings) -> Self {
        Self::start_on(0, settings)
    }

    /// A pool on `port` (0: ephemeral); used to bring a stopped pool back where it was.
    pub fn start_on(port: u16, settings: Settings) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind test pool");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            settings: Mutex::new(settings),
            log: Mutex::new(Log::default()),
            conns: Mutex::new(Vec::new()),
            sessions: Mutex::new(HashMap::new()),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let acceptor = std::thread::spawn(move || accept_loop(listener, s));
        TestPool {
            port,
            shared,
            threads: vec![acceptor],
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        let tls = self.shared.settings.lock().expect("lock").tls.is_some();
        let scheme = if tls { "stratum+ssl" } else { "stratum+tcp" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Sends `action` to every connected miner.
    pub fn act(&self, action: Action) {
        for tx in self.shared.conns.lock().expect("lock").iter() {
            let _ = tx.send(action.clone());
        }
    }

    /// Changes the settings for connections made from now on.
    pub fn set(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut self.shared.settings.lock().expect("lock"));
    }

    pub fn connections(&self) -> usize {
        self.shared.log.lock().expect("lock").connections
    }

    pub fn accepted(&self) -> Vec<Submitted> {
        self.shared.log.lock().expect("lock").accepted.clone()
    }

    pub fn rejected(&self) -> Vec<(Submitted, String)> {
        self.shared.log.lock().expect("lock").rejected.clone()
    }

    /// Every line received, with its connection number (1-based).
    pub fn received(&self) -> Vec<(usize, String)> {
        self.shared.log.lock().expect("lock").received.clone()
    }

    pub fn hostile_bytes_sent(&self) -> u64 {
        self.shared.log.lock().expect("lock").hostile_bytes
    }

    /// Closes the listener and every connection, and waits for the threads.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for TestPool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut handlers = Vec::new();
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((sock, _)) => {
                let (tx, rx) = channel();
                shared.conns.lock().expect("lock").push(tx);
                let id = {
                    let mut log = shared.log.lock().expect("lock");
                    log.connections += 1;
                    log.connections
                };
                let s = shared.clone();
                handlers.push(std::thread::spawn(move || serve(sock, id, s, rx)));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    drop(listener);
    for h in handlers {
        let _ = h.join();
    }
}

struct JobRecord {
    prev_header: [u8; 32],
    coinb1: Vec<u8>,
    coinb2: Vec<u8>,
    branch: Vec<[u8; 32]>,
    version: u32,
    nbits: u32,
    ntime: u32,
    difficulty: f64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
}

struct Conn {
    id: usize,
    settings: Settings,
    io: Box<dyn ReadWrite>,
    sock: TcpStream,
    shared: Arc<Shared>,
    subscribed: bool,
    worker: Option<String>,
    mask: u32,
    difficulty: f64,
    extranonce1: Vec<u8>,
    extranonce2_size: usize,
    jobs: HashMap<String, JobRecord>,
    stale: HashSet<String>,
    seen: HashSet<(String, String, String, String, u32)>,
    job_counter: u32,
    tip: u32,
    closed: bool,
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

fn sha256d(data: &[u8]) -> [u8; 32] {
    Sha256::digest(Sha256::digest(data)).into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn u32_hex(s: &str) -> Option<u32> {
    (s.len() == 8)
        .then(|| u32::from_str_radix(s, 16).ok())
        .flatten()
}

fn serve(sock: TcpStream, id: usize, shared: Arc<Shared>, rx: Receiver<Action>) {
    let settings = shared.settings.lock().expect("lock").clone();
    sock.set_read_timeout(Some(Duration::from_millis(10)))
        .expect("read timeout");
    sock.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("write timeout");
    let handle = sock.try_clone().expect("clone socket");
    let io: Box<dyn ReadWrite> = match &settings.tls {
        Some(tls) => {
            let server = rustls::ServerConnection::new(tls.server_config()).expect("TLS server");
            Box::new(rustls::StreamOwned::new(server, sock))
        }
        None => Box::new(sock),
    };
    let mut conn = Conn {
        id,
        extranonce1: settings.extranonce1.clone(),
        extranonce2_size: settings.extranonce2_size,
        difficulty: settings.difficulty,
        settings,
        io,
        sock: handle,
        shared,
        subscribed: false,
        worker: None,
        mask: 0,
        jobs: HashMap::new(),
        stale: HashSet::new(),
        seen: HashSet::new(),
        job_counter: 0,
        tip: 0,
        closed: false,
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last_ping = Instant::now();
    while !conn.closed && !conn.shared.stop.load(Ordering::SeqCst) {
        while let Ok(action) = rx.try_recv() {
            conn.act(action);
        }
        if conn.settings.hostile == Hostile::Mute
            && last_ping.elapsed() >= Duration::from_millis(200)
        {
            last_ping = Instant::now();
            conn.send(json!({"id": 1_000_000, "method": "mining.ping", "params": []}));
        }
        match conn.io.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
        while let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line).trim().to_string();
            if !line.is_empty() {
                conn.handle(&line);
            }
        }
    }
    let _ = conn.sock.shutdown(Shutdown::Both);
}

impl Conn {
    fn send(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.send_raw(line.as_bytes());
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        if self
            .io
            .write_all(bytes)
            .and_then(|_| self.io.flush())
            .is_err()
        {
            self.closed = true;
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::SetDifficulty(d) => {
                self.difficulty = d;
                self.send(json!({"id":null,"method":"mining.set_difficulty","params":[d]}));
            }
            Action::Notify { clean } => self.notify(clean),
            Action::SetVersionMask(m) => {
                self.mask = m;
                self.send(json!({"id":null,"method":"mining.set_version_mask","params":[format!("{m:08x}")]}));
            }
            Action::SetExtranonce(en1, size) => {
                self.extranonce1 = en1.clone();
                self.extranonce2_size = size;
                self.send(
                    json!({"id":null,"method":"mining.set_extranonce","params":[hex(&en1), size]}),
                );
            }
            Action::Reconnect { host, port, wait } => {
                let params = json!([host.unwrap_or_default(), port.unwrap_or(0), wait]);
                self.send(json!({"id":null,"method":"client.reconnect","params":params}));
            }
            Action::ShowMessage(m) => {
                self.send(json!({"id":null,"method":"client.show_message","params":[m]}))
            }
            Action::Raw(bytes) => self.send_raw(&bytes),
            Action::Close => self.closed = true,
        }
    }

    /// Builds and sends a job; the coinbase has a BIP34 height, the tag, and room for the
    /// extranonces at the end of its scriptSig.
    fn notify(&mut self, clean: bool) {
        if clean {
            self.stale.extend(self.jobs.keys().cloned());
            self.tip += 1;
        }
        self.job_counter += 1;
        let n = self.job_counter;
        let tag = format!("/testpool {}/", self.settings.tag);
        let prev_header = sha256d(format!("{tag} tip {}", self.tip).as_bytes());
        let height = 100 + self.tip;
        let script_len = 4 + self.extranonce1.len() + self.extranonce2_size + tag.len();
        let mut coinb1 = vec![1, 0, 0, 0, 1];
        coinb1.extend_from_slice(&[0; 32]);
        coinb1.extend_from_slice(&[0xff; 4]);
        coinb1.push(u8::try_from(script_len).expect("short script"));
        coinb1.push(3);
        coinb1.extend_from_slice(&height.to_le_bytes()[..3]);
        let mut coinb2 = tag.as_bytes().to_vec();
        coinb2.extend_from_slice(&[0xff; 4]);
        coinb2.push(1);
        coinb2.extend_from_slice(&50_0000_0000u64.to_le_bytes());
        coinb2.extend_from_slice(&[0x19, 0x76, 0xa9, 0x14]);
        coinb2.extend_from_slice(&[0x42; 20]);
        coinb2.extend_from_slice(&[0x88, 0xac, 0, 0, 0, 0]);
        let branch: Vec<[u8; 32]> = (0..self.settings.branch_len)
            .map(|i| sha256d(format!("{tag} job {n} tx {i}").as_bytes()))
            .collect();
        let job_id = format!("{n:016x}");
        let record = JobRecord {
            prev_header,
            coinb1,
            coinb2,
            branch,
            version: 0x2000_0000,
            nbits: 0x1d00_ffff,
            ntime: 0x6b02_a55e + n,
            difficulty: self.difficulty,
            extranonce1: self.extranonce1.clone(),
            extranonce2_size: self.extranonce2_size,
        };
        // The getwork layout: each 4-byte word of the header-order hash byte-reversed.
        let mut notify_prev = record.prev_header;
        for w in notify_prev.chunks_exact_mut(4) {
            w.reverse();
        }
        let msg = json!({"id": null, "method": "mining.notify", "params": [
            job_id,
            hex(&notify_prev),
            hex(&record.coinb1),
            hex(&record.coinb2),
            record.branch.iter().map(|b| hex(b)).collect::<Vec<_>>(),
            format!("{:08x}", record.version),
            format!("{:08x}", record.nbits),
            format!("{:08x}", record.ntime),
            clean,
        ]});
        self.jobs.insert(job_id, record);
        self.send(msg);
    }

    fn handle(&mut self, line: &str) {
        self.shared
            .log
            .lock()
            .expect("lock")
            .received
            .push((self.id, line.to_string()));
        if self.settings.hostile == Hostile::Mute {
            return;
        }
        let Ok(msg) = serde_json::from_str::<Value>(line) else {
            self.send(json!({"id": null, "result": null, "error": "Invalid json"}));
            return;
        };
        let id = msg["id"].clone();
        let params = msg["params"].as_array().cloned().unwrap_or_default();
        match msg["method"].as_str().unwrap_or("") {
            "mining.configure" => {
                let result = match self.settings.rolling_mask {
                    Some(server) => {
                        let asked = params
                            .get(1)
                            .and_then(|p| p["version-rolling.mask"].as_str())
                            .and_then(u32_hex)
                            .unwrap_or(0);
                        self.mask = server & asked;
                        json!({"version-rolling": true, "version-rolling.mask": format!("{:08x}", self.mask)})
                    }
                    None => json!({}),
                };
                self.send(json!({"id": id, "result": result, "error": null}));
            }
            "mining.subscribe" => {
                self.subscribed = true;
                let mut session = match self.settings.dialect {
                    Dialect::Ckpool => "6b02a699",
                    Dialect::Numeric => "deadbeefcafebabe0100000000000000",
                }
                .to_string();
                if self.settings.fresh_extranonce1 {
                    let mut sessions = self.shared.sessions.lock().expect("lock");
                    let resumed = params
                        .get(1)
                        .and_then(Value::as_str)
                        .and_then(|id| sessions.get(id).cloned());
                    self.extranonce1 = resumed.unwrap_or_else(|| {
                        let mut fresh = self.settings.extranonce1.clone();
                        if let Some(last) = fresh.last_mut() {
                            *last = last.wrapping_add(self.id as u8);
                        }
                        fresh
                    });
                    session = hex(&self.extranonce1);
                    sessions.insert(session.clone(), self.extranonce1.clone());
                }
                let subs = match self.settings.dialect {
                    Dialect::Ckpool => json!([["mining.notify", session]]),
                    Dialect::Numeric => json!([
                        ["mining.set_difficulty", session],
                        ["mining.notify", session]
                    ]),
                };
                let result = json!([subs, hex(&self.extranonce1), self.extranonce2_size]);
                self.send(json!({"id": id, "result": result, "error": null}));
                self.misbehave();
            }
            "mining.authorize" => {
                if self.settings.reject_auth {
                    let reply = match self.settings.dialect {
                        Dialect::Numeric => {
                            json!({"id": id, "result": null, "error": [24, "Unauthorized worker", null]})
                        }
                        Dialect::Ckpool => json!({"id": id, "result": false, "error": null}),
                    };
                    self.send(reply);
                    return;
                }
                self.worker = params.first().and_then(Value::as_str).map(str::to_string);
                // Work first, the authorize reply last, as ckpool does.
                let d = self.difficulty;
                self.send(json!({"id":null,"method":"mining.set_difficulty","params":[d]}));
                self.notify(true);
                self.send(json!({"id": id, "result": true, "error": null}));
                if self.settings.hostile == Hostile::DropAfterAuthorize {
                    self.closed = true;
                }
            }
            "mining.extranonce.subscribe" | "mining.suggest_difficulty" => {
                self.send(json!({"id": id, "result": true, "error": null}));
            }
            "mining.submit" => {
                if self.settings.hostile == Hostile::DropOnSubmit {
                    self.closed = true;
                    return;
                }
                let strings: Vec<String> = params
                    .iter()
                    .map(|p| p.as_str().unwrap_or("").to_string())
                    .collect();
                let (verdict, version, hash) = self.check(&strings);
                let forced = self.settings.reject_reason.as_ref().map(|r| {
                    let n = self.shared.log.lock().expect("lock").rejected.len();
                    r.replace("{n}", &n.to_string())
                });
                let record = Submitted {
                    conn: self.id,
                    params: strings,
                    version,
                    hash,
                };
                let reply = match (verdict, forced) {
                    (_, Some(text)) => {
                        let reply = match self.settings.dialect {
                            Dialect::Numeric => {
                                json!({"id": id, "result": null, "error": [20, text, null]})
                            }
                            Dialect::Ckpool => {
                                json!({"reject-reason": text, "result": false, "error": null, "id": id})
                            }
                        };
                        self.shared
                            .log
                            .lock()
                            .expect("lock")
                            .rejected
                            .push((record, text));
                        reply
                    }
                    (Ok(()), None) => {
                        self.shared.log.lock().expect("lock").accepted.push(record);
                        json!({"id": id, "result": true, "error": null})
                    }
                    (Err((code, numeric, ckpool)), None) => {
                        let text = match self.settings.dialect {
                            Dialect::Numeric => numeric,
                            Dialect::Ckpool => ckpool,
                        };
                        self.shared
                            .log
                            .lock()
                            .expect("lock")
                            .rejected
                            .push((record, text.to_string()));
                        match self.settings.dialect {
                            Dialect::Numeric => {
                                json!({"id": id, "result": null, "error": [code, text, null]})
                            }
                            Dialect::Ckpool => {
                                json!({"reject-reason": text, "result": false, "error": null, "id": id})
                            }
                        }
                    }
                };
                self.send(reply);
            }
            _ => self
                .send(json!({"id": id, "result": null, "error": [20, "Method not found", null]})),
        }
    }

    fn misbehave(&mut self) {
        match self.settings.hostile {
            Hostile::None | Hostile::DropOnSubmit | Hostile::DropAfterAuthorize | Hostile::Mute => {
            }
            Hostile::InvalidUtf8 => self.send_raw(
                b"{\"id\":null,\"method\":\"client.show_message\",\"params\":[\"\xff\xfe\"]}\n",
            ),
            Hostile::DeepNesting => {
                let mut line = "[".repeat(200_000);
                line.push('\n');
                self.send_raw(line.as_bytes());
            }
            Hostile::HugeLine(total) => {
                let chunk = vec![b'a'; 64 * 1024];
                let mut sent = 0u64;
                while sent < total && !self.closed && !self.shared.stop.load(Ordering::SeqCst) {
                    let n = chunk.len().min((total - sent) as usize);
                    match self.io.write(&chunk[..n]) {
                        Ok(k) => sent += k as u64,
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => self.closed = true,
                    }
                }
                self.shared.log.lock().expect("lock").hostile_bytes = sent;
                self.closed = true;
            }
        }
    }

    /// The pool's verdict: `Err((code, node-pool text, ckpool text))` on rejection.
    #[allow(clippy::type_complexity)]
    fn check(
        &mut self,
        p: &[String],
    ) -> (Result<(), (i32, &'static str, &'static str)>, u32, String) {
        let mut version = 0;
        let mut hash_text = String::new();
        let verdict = (|| {
            if self.worker.is_none() || !self.subscribed {
                return Err((24, "Unauthorized worker", "Unauthorized"));
            }
            if p.len() != 5 && p.len() != 6 {
                return Err((20, "Wrong number of params", "Invalid params"));
            }
            if Some(&p[0]) != self.worker.as_ref() {
                return Err((24, "Unauthorized worker", "Worker mismatch"));
            }
            let job = self
                .jobs
                .get(&p[1])
                .ok_or((21, "Job not found", "Invalid JobID"))?;
            if self.stale.contains(&p[1]) {
                return Err((21, "Job not found", "Stale"));
            }
            let en2 = unhex(&p[2])
                .filter(|e| e.len() == job.extranonce2_size)
                .ok_or((20, "Incorrect size of extranonce2", "Invalid nonce2 length"))?;
            let ntime = u32_hex(&p[3]).ok_or((20, "Incorrect size of ntime", "Invalid ntime"))?;
            if ntime < job.ntime || ntime > job.ntime + 7200 {
                return Err((20, "ntime out of range", "Ntime out of range"));
            }
            let nonce = u32_hex(&p[4]).ok_or((20, "Incorrect size of nonce", "No nonce"))?;
            version = job.version;
            if let Some(bits) = p.get(5) {
                let bits =
                    u32_hex(bits).ok_or((20, "Invalid version bits", "Invalid version mask"))?;
                if self.mask == 0 || bits & !self.mask != 0 {
                    return Err((20, "Invalid version bits", "Invalid version mask"));
                }
                version = (job.version & !self.mask) | (bits & self.mask);
            }
            let key = (
                p[1].clone(),
                p[2].clone(),
                p[3].clone(),
                p[4].clone(),
                version,
            );
            if !self.seen.insert(key) {
                return Err((22, "Duplicate share", "Duplicate"));
            }
            let mut coinbase = job.coinb1.clone();
            coinbase.extend_from_slice(&job.extranonce1);
            coinbase.extend_from_slice(&en2);
            coinbase.extend_from_slice(&job.coinb2);
            let mut root = sha256d(&coinbase);
            for node in &job.branch {
                let mut pair = root.to_vec();
                pair.extend_from_slice(node);
                root = sha256d(&pair);
            }
            let mut header = Vec::with_capacity(80);
            header.extend_from_slice(&version.to_le_bytes());
            header.extend_from_slice(&job.prev_header);
            header.extend_from_slice(&root);
            header.extend_from_slice(&ntime.to_le_bytes());
            header.extend_from_slice(&job.nbits.to_le_bytes());
            header.extend_from_slice(&nonce.to_le_bytes());
            let hash = sha256d(&header);
            let mut shown = hash;
            shown.reverse();
            hash_text = hex(&shown);
            // Share difficulty as pools compute it: diff1 / hash, the hash read little-endian.
            let value: f64 = hash
                .iter()
                .rev()
                .fold(0.0, |acc, &b| acc * 256.0 + f64::from(b));
            let diff1 = 65535.0 * 2f64.powi(208);
            if diff1 / value < job.difficulty {
                return Err((23, "Low difficulty share", "Above target"));
            }
            Ok(())
        })();
        (verdict, version, hash_text)
    }
}
