//! A raw Stratum V1 miner for tests: newline-delimited JSON over TCP, with the header built from
//! `mining.notify` the way pools build it. Deliberately independent of the crate's own client,
//! so a real pool can judge both; the tests that use it can later switch to that client.

use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d::hazmat::sha256d;
use sha256d::{CompactTarget, Found, Hash, Header, Target, Work};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long to wait for a reply to a request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// One `mining.notify`, decoded.
#[derive(Clone, Debug)]
pub struct Job {
    pub id: String,
    /// The previous block hash as it goes in the header (internal order).
    pub prev_blockhash: [u8; 32],
    pub coinb1: Vec<u8>,
    pub coinb2: Vec<u8>,
    /// Internal-order hashes, folded onto the coinbase hash in order.
    pub branch: Vec<[u8; 32]>,
    pub version: u32,
    pub bits: u32,
    pub ntime: u32,
    pub clean: bool,
    /// The share difficulty in force when the job arrived (a new one applies from the next job).
    pub difficulty: f64,
}

impl Job {
    fn from_params(params: &Value, difficulty: f64) -> Job {
        let p = params
            .as_array()
            .filter(|p| p.len() >= 9)
            .unwrap_or_else(|| panic!("mining.notify wants 9 params, got {params}"));
        let text = |i: usize| {
            p[i].as_str()
                .unwrap_or_else(|| panic!("mining.notify param {i} is not a string: {params}"))
        };
        let bytes = |s: &str| hex::decode(s).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        let u32_hex = |i: usize| {
            u32::from_str_radix(text(i), 16)
                .unwrap_or_else(|e| panic!("mining.notify param {i}: {e}: {params}"))
        };
        let hash = |s: &str| -> [u8; 32] {
            bytes(s)
                .try_into()
                .unwrap_or_else(|_| panic!("{s:?} is not 32 bytes"))
        };
        // Notify sends the header's prevhash with every 4-byte word byte-reversed.
        let mut prev_blockhash = hash(text(1));
        for word in prev_blockhash.chunks_exact_mut(4) {
            word.reverse();
        }
        let branch = p[4]
            .as_array()
            .unwrap_or_else(|| panic!("mining.notify param 4 is not an array: {params}"))
            .iter()
            .map(|h| hash(h.as_str().expect("branch entries are hex strings")))
            .collect();
        Job {
            id: text(0).to_string(),
            prev_blockhash,
            coinb1: bytes(text(2)),
            coinb2: bytes(text(3)),
            branch,
            version: u32_hex(5),
            bits: u32_hex(6),
            ntime: u32_hex(7),
            clean: p[8]
                .as_bool()
                .unwrap_or_else(|| panic!("clean_jobs is not a bool: {params}")),
            difficulty,
        }
    }

    /// coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2.
    pub fn coinbase(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Vec<u8> {
        [&self.coinb1[..], extranonce1, extranonce2, &self.coinb2].concat()
    }

    /// sha256d(coinbase), then each branch entry folded on: `root = sha256d(root ‖ entry)`.
    pub fn merkle_root(&self, extranonce1: &[u8], extranonce2: &[u8]) -> [u8; 32] {
        self.branch.iter().fold(
            sha256d(&self.coinbase(extranonce1, extranonce2)),
            |root, entry| sha256d(&[&root[..], entry].concat()),
        )
    }

    /// The header with nonce 0.
    pub fn header(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Header {
        Header {
            version: self.version,
            prev_blockhash: self.prev_blockhash,
            merkle_root: self.merkle_root(extranonce1, extranonce2),
            time: self.ntime,
            bits: CompactTarget::from_consensus(self.bits),
            nonce: 0,
        }
    }

    /// The first nonce whose hash meets the job's share target, found with the crate's fastest
    /// CPU engine a slice of nonces at a time.
    pub fn find_share(&self, extranonce1: &[u8], extranonce2: &[u8]) -> Found {
        let header = self.header(extranonce1, extranonce2);
        let target = Target::from_difficulty(self.difficulty)
            .unwrap_or_else(|e| panic!("difficulty {}: {e}", self.difficulty));
        let engine = sha256d::best();
        const SLICE: u64 = 1 << 16;
        for start in (0..1u64 << 32).step_by(SLICE as usize) {
            let work = Work::new(header, target)
                .with_nonces(start..start + SLICE)
                .expect("a slice of the nonce space");
            let found = engine.search(&work).expect("a CPU search");
            if let Some(first) = found.first() {
                return *first;
            }
        }
        panic!(
            "no nonce meets difficulty {} for job {}",
            self.difficulty, self.id
        )
    }

    /// The first nonce whose hash misses `target`, with that hash.
    pub fn find_miss(
        &self,
        extranonce1: &[u8],
        extranonce2: &[u8],
        target: &Target,
    ) -> (u32, Hash) {
        let mut header = self.header(extranonce1, extranonce2);
        (0..=u32::MAX)
            .find_map(|nonce| {
                header.nonce = nonce;
                let hash = header.block_hash();
                (!target.is_met_by(&hash)).then_some((nonce, hash))
            })
            .expect("some nonce misses any target below the maximum")
    }
}

/// A connection to a pool, after `mining.subscribe`.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_id: u64,
    /// Notifications read while waiting for a reply, in order.
    pending: VecDeque<Value>,
    pub extranonce1: Vec<u8>,
    pub extranonce2_size: usize,
    /// The latest `mining.set_difficulty`, once one came.
    pub difficulty: Option<f64>,
}

impl Client {
    /// Connects to `stratum+tcp://HOST:PORT` and subscribes.
    pub fn subscribe(url: &str, user_agent: &str) -> Client {
        let address = url
            .strip_prefix("stratum+tcp://")
            .unwrap_or_else(|| panic!("not a stratum+tcp:// URL: {url}"));
        let writer =
            TcpStream::connect(address).unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        let reader = BufReader::new(writer.try_clone().expect("cloning a TCP stream"));
        let mut client = Client {
            reader,
            writer,
            next_id: 1,
            pending: VecDeque::new(),
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            difficulty: None,
        };
        let reply = client.request("mining.subscribe", json!([user_agent]));
        let result = &reply["result"];
        // [[[name, subscription id]...], extranonce1, extranonce2_size]
        let (Some(en1), Some(size)) = (result[1].as_str(), result[2].as_u64()) else {
            panic!("unexpected mining.subscribe reply: {reply}");
        };
        client.extranonce1 = hex::decode(en1).unwrap_or_else(|e| panic!("extranonce1: {e}"));
        client.extranonce2_size = usize::try_from(size).expect("a small extranonce2 size");
        client
    }

    /// `mining.authorize`; panics unless the pool answers `true`.
    pub fn authorize(&mut self, worker: &str, password: &str) {
        let reply = self.request("mining.authorize", json!([worker, password]));
        assert_eq!(reply["result"], json!(true), "mining.authorize: {reply}");
    }

    /// `mining.submit`; the pool's whole reply (`id`, `result`, `error`).
    pub fn submit(
        &mut self,
        worker: &str,
        job_id: &str,
        extranonce2: &[u8],
        ntime: u32,
        nonce: u32,
    ) -> Value {
        self.request(
            "mining.submit",
            json!([
                worker,
                job_id,
                hex::encode(extranonce2),
                format!("{ntime:08x}"),
                format!("{nonce:08x}"),
            ]),
        )
    }

    /// Sends a request; its reply, matched by id (notifications in between are kept).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line = json!({"id": id, "method": method, "params": params}).to_string() + "\n";
        self.writer
            .write_all(line.as_bytes())
            .unwrap_or_else(|e| panic!("sending {method}: {e}"));
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let message = self.read(deadline, method);
            if message["id"] == json!(id) {
                return message;
            }
            if message.get("method").is_some() {
                self.pending.push_back(message);
            }
        }
    }

    /// The next `mining.notify`, applying `set_difficulty` on the way.
    pub fn next_job(&mut self, timeout: Duration) -> Job {
        self.next_job_where(|_| true, timeout)
    }

    /// The next `mining.notify` whose job `wanted` accepts (others are skipped).
    pub fn next_job_where(&mut self, wanted: impl Fn(&Job) -> bool, timeout: Duration) -> Job {
        let deadline = Instant::now() + timeout;
        loop {
            let message = match self.pending.pop_front() {
                Some(m) => m,
                None => self.read(deadline, "mining.notify"),
            };
            match message["method"].as_str() {
                Some("mining.set_difficulty") => {
                    self.difficulty = Some(
                        message["params"][0]
                            .as_f64()
                            .unwrap_or_else(|| panic!("bad mining.set_difficulty: {message}")),
                    );
                }
                Some("mining.notify") => {
                    let difficulty = self
                        .difficulty
                        .unwrap_or_else(|| panic!("mining.notify before any set_difficulty"));
                    let job = Job::from_params(&message["params"], difficulty);
                    if wanted(&job) {
                        return job;
                    }
                }
                _ => {}
            }
        }
    }

    /// One JSON message; panics if none is complete by `deadline`.
    fn read(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .unwrap_or_else(|| panic!("no {waiting_for} from the pool in time"));
        self.reader
            .get_ref()
            .set_read_timeout(Some(left))
            .expect("setting a read timeout");
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the pool closed the connection waiting for {waiting_for}"),
            Ok(_) => serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("the pool sent non-JSON ({e}): {line:?}")),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("no {waiting_for} from the pool in time")
            }
            Err(e) => panic!("reading from the pool: {e}"),
        }
    }
}
