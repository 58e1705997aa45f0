//! A JSON-RPC node on 127.0.0.1 that a test scripts call by call: faults no real node can be
//! made to show (replies trickled a byte a second, no answer at all, odd templates), or a real
//! node's answers passed on with one detail changed. Every call is logged with its arrival time.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the fake node answers one call.
pub enum Reply {
    /// This HTTP status and body, at once.
    Now(u16, String),
    /// The same, one byte a second.
    Trickle(u16, String),
    /// Nothing: the request is read and the connection held until the client gives up.
    Silent,
}

/// A JSON-RPC result, HTTP 200.
pub fn result(v: Value) -> Reply {
    Reply::Now(
        200,
        json!({"result": v, "error": null, "id": 1}).to_string(),
    )
}

/// A JSON-RPC error, HTTP 500 as Core sends it.
pub fn rpc_error(code: i64, message: &str) -> Reply {
    let error = json!({"code": code, "message": message});
    Reply::Now(
        500,
        json!({"result": null, "error": error, "id": 1}).to_string(),
    )
}

type Script = dyn Fn(&str, &Value) -> Reply + Send + Sync;

/// A node on loopback: each connection on its own thread, so that one held open does not
/// hold up the next; every call is logged with its arrival time.
pub struct FakeNode {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    calls: Arc<Mutex<Vec<(Instant, String, Value)>>>,
}

impl FakeNode {
    /// Serves on an ephemeral loopback port, answering each call as `script` says.
    pub fn start(script: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> FakeNode {
        let listener = TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
        let url = format!("http://{}", listener.local_addr().expect("bound"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&calls);
        let script: Arc<Script> = Arc::new(script);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (log, script) = (Arc::clone(&log), Arc::clone(&script));
                std::thread::spawn(move || serve(stream, &log, &*script));
            }
        });
        FakeNode { url, calls }
    }

    /// How many calls of `method` came so far.
    pub fn count(&self, method: &str) -> usize {
        self.count_since(method, None)
    }

    /// How many calls of `method` came at or after `since` (all of them for `None`).
    pub fn count_since(&self, method: &str, since: Option<Instant>) -> usize {
        let calls = self.calls.lock().expect("not poisoned");
        calls
            .iter()
            .filter(|(at, m, _)| m == method && since.is_none_or(|s| *at >= s))
            .count()
    }
}

fn serve(mut s: TcpStream, log: &Mutex<Vec<(Instant, String, Value)>>, script: &Script) {
    // A connection nobody closes ends after this, so no test leaves threads behind for long.
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let Some(request) = read_request(&mut s) else {
        return;
    };
    let method = request["method"].as_str().unwrap_or("").to_owned();
    log.lock().expect("not poisoned").push((
        Instant::now(),
        method.clone(),
        request["params"].clone(),
    ));
    let http = |status: u16, body: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    match script(&method, &request["params"]) {
        Reply::Now(status, body) => {
            let _ = s.write_all(http(status, &body).as_bytes());
        }
        Reply::Trickle(status, body) => {
            for b in http(status, &body).bytes() {
                if s.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        // Until the client closes (or the read timeout above).
        Reply::Silent => while matches!(s.read(&mut [0u8; 256]), Ok(n) if n > 0) {},
    }
}

fn read_request(s: &mut TcpStream) -> Option<Value> {
    let mut req = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        let n = s.read(&mut buf).ok().filter(|&n| n > 0)?;
        req.extend_from_slice(&buf[..n]);
        let split = req.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&req[..split]).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))?
            .parse()
            .ok()?;
        if req.len() >= split + 4 + len {
            return serde_json::from_slice(&req[split + 4..split + 4 + len]).ok();
        }
    }
}
