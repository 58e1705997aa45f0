//! Headless Chromium driven through W3C WebDriver: `chromedriver` (from `SHA256D_CHROMEDRIVER`)
//! on a loopback port, the browser from `SHA256D_CHROMIUM`, spoken to in plain HTTP/1.1 and
//! JSON. [`Browser::start`] returns `None` (or panics where peers are required) without them.
//!
//! The browser runs with a fresh profile and the flags a machine with no outside network
//! needs (no background fetches, no component updates, no sync), at a phone's width; the
//! session is deleted, chromedriver killed and the profile removed on drop.

use crate::peers::{free_ports, peer_path, temp_dir, POLL, START_TIMEOUT};
use base64::Engine as _;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The key W3C WebDriver gives an element reference under.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long one WebDriver command may take (a page load included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The window chromium opens, as wide as a large phone.
pub const WINDOW: (u32, u32) = (414, 900);

/// A WebDriver error: the HTTP status and the `error` and `message` the driver sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebDriverError {
    /// The HTTP status of the answer.
    pub status: u16,
    /// The W3C error code (`no such element`, `javascript error`, ...).
    pub error: String,
    /// The driver's message.
    pub message: String,
}

impl std::fmt::Display for WebDriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error, self.status, self.message)
    }
}

/// One headless Chromium session.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
    dir: PathBuf,
}

/// An element of the page, as the session knows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element(String);

impl Browser {
    /// Starts chromedriver and a session in a fresh profile, or `None` without the peers.
    pub fn start() -> Option<Browser> {
        let chromedriver = peer_path("SHA256D_CHROMEDRIVER", "chromedriver")?;
        let chromium = peer_path("SHA256D_CHROMIUM", "chromium")?;
        let dir = temp_dir("chromium");
        let profile = dir.join("profile");
        fs::create_dir_all(&profile).expect("a profile directory");
        let log = dir.join("chromedriver.log");
        let [port] = free_ports::<1>();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("stdout.txt")).expect("a log file"))
            .stderr(File::create(dir.join("stderr.txt")).expect("a log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", chromedriver.display()));
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
            dir,
        };
        browser.wait_ready();
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .map(String::from)
        .into_iter()
        .chain([
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={},{}", WINDOW.0, WINDOW.1),
        ])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let value = browser
            .request("POST", "/session", Some(&caps))
            .unwrap_or_else(|e| panic!("starting a chromium session: {e}\n{}", browser.logs()));
        browser.session = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a new session without an id: {value}"))
            .to_string();
        Some(browser)
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let ready = self
                .request("GET", "/status", None)
                .is_ok_and(|v| v["ready"] == true);
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited ({status}):\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready within {START_TIMEOUT:?}:\n{}",
                self.logs()
            );
            thread::sleep(POLL);
        }
    }

    /// Opens `url` and waits for it to load.
    pub fn navigate(&self, url: &str) {
        self.command("POST", "url", json!({ "url": url }));
    }

    /// The first element matching the CSS `selector`.
    pub fn find(&self, selector: &str) -> Result<Element, WebDriverError> {
        let body = json!({"using": "css selector", "value": selector});
        let value = self.session_request("POST", "element", Some(&body))?;
        Ok(element(&value))
    }

    /// Waits up to `timeout` for an element matching `selector`; panics with the page if none
    /// comes.
    pub fn wait_for(&self, selector: &str, timeout: Duration) -> Element {
        self.wait_until(timeout, &format!("an element {selector}"), || {
            self.find(selector).ok()
        })
    }

    /// The visible text of `element`.
    pub fn text(&self, element: &Element) -> String {
        let value = self.command("GET", &format!("element/{}/text", element.0), Value::Null);
        value.as_str().unwrap_or_default().to_string()
    }

    /// The visible text of the first element matching `selector` (empty without one).
    pub fn text_of(&self, selector: &str) -> String {
        self.find(selector)
            .map(|e| self.text(&e))
            .unwrap_or_default()
    }

    /// An attribute of `element`, `None` where it has none.
    pub fn attribute(&self, element: &Element, name: &str) -> Option<String> {
        let path = format!("element/{}/attribute/{name}", element.0);
        self.command("GET", &path, Value::Null)
            .as_str()
            .map(String::from)
    }

    /// Clears a form field.
    pub fn clear(&self, element: &Element) {
        self.command("POST", &format!("element/{}/clear", element.0), json!({}));
    }

    /// Types `text` into `element`.
    pub fn send_keys(&self, element: &Element, text: &str) {
        let path = format!("element/{}/value", element.0);
        self.command("POST", &path, json!({ "text": text }));
    }

    /// Clicks `element`.
    pub fn click(&self, element: &Element) {
        self.command("POST", &format!("element/{}/click", element.0), json!({}));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value, WebDriverError> {
        let body = json!({ "script": script, "args": args });
        self.session_request("POST", "execute/sync", Some(&body))
    }

    /// Polls `probe` until it gives `Some`, for up to `timeout`; panics naming `what`, with the
    /// page's text, if it never does.
    pub fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe() {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; the page reads:\n{}\n{}",
                self.text_of("body"),
                self.logs()
            );
            thread::sleep(POLL * 2);
        }
    }

    /// A PNG of the window.
    pub fn screenshot(&self) -> Vec<u8> {
        let value = self.command("GET", "screenshot", Value::Null);
        let data = value.as_str().expect("a screenshot as base64");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("a screenshot in standard base64")
    }

    /// Writes a PNG of the window to `path`.
    pub fn save_screenshot(&self, path: &Path) {
        fs::write(path, self.screenshot())
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// chromedriver's own log, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- chromedriver stderr:\n{}\n--- chromedriver log (tail):\n{}",
            crate::peers::tail(&self.dir.join("stderr.txt"), 20),
            crate::peers::tail(&self.dir.join("chromedriver.log"), 30)
        )
    }

    /// A session command that must succeed; panics with the driver's error.
    fn command(&self, method: &str, path: &str, body: Value) -> Value {
        let body = (!body.is_null()).then_some(&body);
        self.session_request(method, path, body)
            .unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"))
    }

    fn session_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        self.request(method, &format!("/session/{}/{path}", self.session), body)
    }

    /// One HTTP exchange with chromedriver; the answer's `value`, or its error.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, WebDriverError> {
        let failed = |message: String| WebDriverError {
            status: 0,
            error: "no answer".into(),
            message,
        };
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))
            .map_err(|e| failed(format!("connecting to chromedriver: {e}")))?;
        stream
            .set_read_timeout(Some(COMMAND_TIMEOUT))
            .expect("a non-zero timeout");
        let body = body.map(Value::to_string).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json; \
             charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|e| failed(format!("writing {method} {path}: {e}")))?;
        // chromedriver keeps the connection open whatever the request says: the answer ends
        // where its length says.
        let mut answer = Vec::new();
        let mut buf = [0; 64 * 1024];
        let (status, body) = loop {
            let n = stream
                .read(&mut buf)
                .map_err(|e| failed(format!("reading the answer to {method} {path}: {e}")))?;
            answer.extend_from_slice(&buf[..n]);
            if let Some(whole) = split_response(&answer, n == 0) {
                break whole;
            }
            if n == 0 {
                return Err(failed(format!("a cut-off answer to {method} {path}")));
            }
        };
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| failed(format!("{method} {path} answered no JSON: {e}")))?;
        let value = json["value"].clone();
        if (200..300).contains(&status) {
            return Ok(value);
        }
        Err(WebDriverError {
            status,
            error: value["error"].as_str().unwrap_or("unknown").to_string(),
            message: value["message"].as_str().unwrap_or_default().to_string(),
        })
    }
}

fn element(value: &Value) -> Element {
    Element(
        value[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("an element reference, not {value}"))
            .to_string(),
    )
}

/// The status and body of an HTTP/1.1 response once `answer` holds all of it (`None` before);
/// `eof`: the peer closed, which ends a body of no stated length.
fn split_response(answer: &[u8], eof: bool) -> Option<(u16, Vec<u8>)> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&answer[..end]).ok()?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = &answer[end + 4..];
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_ascii_lowercase())
        })
    };
    if let Some(length) = header("content-length") {
        let length: usize = length.parse().ok()?;
        return Some((status, body.get(..length)?.to_vec()));
    }
    if !header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return eof.then(|| (status, body.to_vec()));
    }
    let (mut out, mut rest) = (Vec::new(), body);
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Some((status, out));
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.request("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_is_whole_once_its_length_or_last_chunk_is_in() {
        let plain = b"HTTP/1.1 200 OK\r\nContent-Length:2\r\n\r\n{}";
        assert_eq!(split_response(plain, false), Some((200, b"{}".to_vec())));
        assert_eq!(split_response(&plain[..plain.len() - 1], false), None);
        let chunked = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n\
                        3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
        assert_eq!(
            split_response(chunked, false),
            Some((404, b"{\"a\":1}".to_vec()))
        );
        assert_eq!(split_response(&chunked[..40], false), None);
        let unsized_body = b"HTTP/1.1 200 OK\r\n\r\nabc";
        assert_eq!(split_response(unsized_body, false), None);
        assert_eq!(
            split_response(unsized_body, true),
            Some((200, b"abc".to_vec()))
        );
        assert_eq!(split_response(b"HTTP/1.1 200 OK\r\n", true), None);
    }
}
