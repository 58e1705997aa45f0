//! A `sha256d mine` run serving its APIs, for the tests that watch and steer it from outside,
//! and a plain HTTP/1.1 client to ask it with (one request per connection, as the server
//! answers).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a miner may take to start listening.
const START: Duration = Duration::from_secs(60);

/// A running `sha256d mine` with `--api` and/or `--cgminer-api`.
pub struct ApiMiner {
    child: Child,
    /// `http://127.0.0.1:PORT` of the HTTP API, when the run serves it.
    pub http: Option<String>,
    /// `127.0.0.1:PORT` of the cgminer-compatible API, when the run serves it.
    pub cgminer: Option<String>,
    stderr: Arc<Mutex<String>>,
    stdout: Option<JoinHandle<String>>,
    stderr_thread: Option<JoinHandle<()>>,
}

impl ApiMiner {
    /// Starts `sha256d mine ARGS...` with `env`, and waits until each API it was asked for
    /// says where it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> ApiMiner {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .arg("mine")
            .args(args)
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut out = child.stdout.take().expect("stdout is piped");
        let stdout = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = out.read_to_string(&mut text);
            text
        });
        let err = BufReader::new(child.stderr.take().expect("stderr is piped"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let kept = Arc::clone(&stderr);
        let stderr_thread = std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                let mut all = kept.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        let wants_http = args.contains(&"--api");
        let wants_cgminer = args.contains(&"--cgminer-api");
        let (mut http, mut cgminer) = (None, None);
        let deadline = Instant::now() + START;
        while (wants_http && http.is_none()) || (wants_cgminer && cgminer.is_none()) {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!(
                        "the miner did not say where it listens within {START:?}: {}",
                        stderr.lock().unwrap_or_else(|e| e.into_inner())
                    );
                }
            };
            if let Some((_, at)) = line.split_once("cgminer api: listening on ") {
                cgminer = Some(at.trim().to_string());
            } else if let Some((_, at)) = line.split_once("api: listening on ") {
                http = Some(at.trim().to_string());
            }
        }
        ApiMiner {
            child,
            http,
            cgminer,
            stderr,
            stdout: Some(stdout),
            stderr_thread: Some(stderr_thread),
        }
    }

    /// `METHOD PATH` on the HTTP API with `token` and a JSON `body`.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let base = self.http.as_deref().expect("the run serves the HTTP API");
        call(base, method, path, token, body)
    }

    /// What the miner wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ends the run with SIGTERM, as an operator would; its exit status, stdout and stderr.
    pub fn stop(mut self) -> (ExitStatus, String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("the miner exits");
        let stdout = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if let Some(h) = self.stderr_thread.take() {
            let _ = h.join();
        }
        (status, stdout, self.stderr())
    }
}

impl Drop for ApiMiner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The head as sent, status line and headers.
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.head, self.body))
    }
}

/// One request to `base` (`http://HOST:PORT`), read to the close.
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Reply {
    let authority = base.strip_prefix("http://").expect("an http:// base");
    let mut stream = TcpStream::connect(authority).expect("the API accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout can be set");
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n");
    if let Some(token) = token {
        request += &format!("Authorization: Bearer {token}\r\n");
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "PUT" || method == "POST" {
        request += &format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    request += "\r\n";
    request += body;
    stream
        .write_all(request.as_bytes())
        .expect("the request is sent");
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).expect("the reply is read");
    let reply = String::from_utf8(reply).expect("a UTF-8 reply");
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {reply:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

/// `sha256d mine ARGS...` with `env`, which must fail before it mines; its stderr.
pub fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .arg("mine")
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "it ran: {stderr}");
    stderr
}

/// Files holding the `read` and `control` tokens, in a fresh directory named for `tag`.
pub fn token_files(tag: &str, read: &str, control: &str) -> (PathBuf, PathBuf) {
    let dir = sha256d_testkit::peers::temp_dir(tag);
    let files = (dir.join("read"), dir.join("control"));
    // One with a line break and one without: both are how token files are written.
    std::fs::write(&files.0, format!("{read}\n")).expect("the read token is written");
    std::fs::write(&files.1, control).expect("the control token is written");
    files
}
