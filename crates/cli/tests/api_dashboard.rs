//! The dashboard of a running `sha256d mine --api` in a real browser (headless Chromium from
//! `SHA256D_CHROMIUM`, driven through `SHA256D_CHROMEDRIVER`), and its `/metrics` through a
//! real Prometheus parser (`SHA256D_PYTHON` with `prometheus_client`); each skipped without
//! its peer unless peers are required. The screenshot lands in the test target's temporary
//! directory, its path printed.

use serde_json::Value;
use sha256d_testkit::peers::temp_dir;
use sha256d_testkit::prometheus;
use sha256d_testkit::testpool::{Settings, TestPool};
use sha256d_testkit::webdriver::Browser;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

const READ: &str = "dashboard-read-token-0123456789";
const CONTROL: &str = "dashboard-control-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// `sha256d mine` with the API on a free loopback port; killed on drop.
struct Miner {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Miner {
    fn start(pool: &TestPool) -> Miner {
        let dir = temp_dir("dashboard");
        let (read, control) = (dir.join("read-token"), dir.join("control-token"));
        std::fs::write(&read, format!("{READ}\n")).expect("a token file");
        std::fs::write(&control, format!("{CONTROL}\n")).expect("a token file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .args(["mine", "--pool", &pool.url(), "--user", "w1"])
            .args(["--engine", "portable", "--threads", "1", "--time", "300"])
            .args(["--api", "127.0.0.1:0"])
            .arg("--api-read-token-file")
            .arg(&read)
            .arg("--api-control-token-file")
            .arg(&control)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let (lines, port) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr is piped");
        // Drained for the whole run, so the miner never blocks on a full pipe.
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("api: listening on http://127.0.0.1:").nth(1) {
                    let _ = lines.send(rest.trim().parse::<u16>().ok());
                }
                eprintln!("miner: {line}");
            }
        });
        let port = port
            .recv_timeout(WAIT)
            .ok()
            .flatten()
            .expect("the miner logs `api: listening on http://127.0.0.1:PORT`");
        Miner { child, port, dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `GET path` with `token`: the status and the body.
    fn get(&self, path: &str, token: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("the API accepts");
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{auth}Connection: close\r\n\r\n",
            self.port
        )
        .expect("the request goes out");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("a UTF-8 answer");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        (status.expect("a status line"), body.to_string())
    }

    fn status(&self) -> Value {
        let (status, body) = self.get("/v1/status", Some(READ));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON status")
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The number an element of the page holds in its `data-value`.
fn number(browser: &Browser, selector: &str) -> Option<f64> {
    let element = browser.find(selector).ok()?;
    browser.attribute(&element, "data-value")?.parse().ok()
}

fn apply_setpoint(browser: &Browser, kind: &str, token: &str) {
    browser.click(&browser.wait_for(&format!("#setpoint-kind option[value={kind}]"), WAIT));
    let field = browser.wait_for("#control-token", WAIT);
    browser.clear(&field);
    if !token.is_empty() {
        browser.send_keys(&field, token);
    }
    // A stale verdict must not pass for this one's.
    browser
        .execute(
            "document.getElementById('control-result').textContent = '';",
            &[],
        )
        .expect("a script runs");
    browser.click(&browser.wait_for("#setpoint-apply", WAIT));
}

#[test]
fn the_dashboard_shows_a_live_miner_and_steers_its_setpoint_with_the_control_token() {
    let pool = TestPool::start(Settings::new("dashboard"));
    let miner = Miner::start(&pool);
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.navigate(&miner.url("/"));
    browser.send_keys(&browser.wait_for("#read-token", WAIT), READ);
    browser.click(&browser.wait_for("#read-save", WAIT));

    // Figures appear, and move.
    let first = browser.wait_until(WAIT, "a hashrate and an accepted share", || {
        let hashes = number(&browser, "#hashes")?;
        let measured = number(&browser, "#measured")?;
        let accepted = number(&browser, "#accepted")?;
        (measured > 0.0 && accepted >= 1.0).then_some(hashes)
    });
    browser.wait_until(WAIT, "the hash count to grow", || {
        (number(&browser, "#hashes")? > first).then_some(())
    });
    let row = browser.text_of("#device-0");
    assert!(row.contains("portable"), "{row}");
    assert!(browser.text_of("#pools").contains(&pool.url()));
    assert!(number(&browser, "#chart-points").is_some_and(|n| n >= 1.0));

    // Without the control token the setpoint is refused, with the server's reason.
    apply_setpoint(&browser, "off", "");
    let refusal = browser.wait_until(WAIT, "a refusal", || {
        let text = browser.text_of("#control-result");
        text.starts_with("refused").then_some(text)
    });
    assert!(refusal.starts_with("refused (401): "), "{refusal}");
    assert_ne!(miner.status()["setpoint"]["source"], "api");
    // The read token does not steer either.
    apply_setpoint(&browser, "off", READ);
    let refusal = browser.wait_until(WAIT, "a refusal", || {
        let text = browser.text_of("#control-result");
        text.starts_with("refused").then_some(text)
    });
    assert!(refusal.starts_with("refused (403): "), "{refusal}");

    // With it, the miner goes off, and the page and the API agree.
    apply_setpoint(&browser, "off", CONTROL);
    browser.wait_until(WAIT, "the setpoint off by the api", || {
        (browser.text_of("#setpoint-source") == "api" && browser.text_of("#setpoint-cap") == "off")
            .then_some(())
    });
    assert!(browser.text_of("#control-result").starts_with("applied"));
    let status = miner.status();
    assert_eq!(status["setpoint"]["cap"], "off", "{status}");
    assert_eq!(status["setpoint"]["source"], "api", "{status}");
    assert_eq!(
        status["setpoint"]["api"],
        serde_json::json!({"off": true}),
        "{status}"
    );

    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser
        .execute("window.scrollTo(0, 0);", &[])
        .expect("a script runs");
    browser.save_screenshot(&shot);
    println!("dashboard screenshot: {}", shot.display());

    // Released, the API caps nothing again.
    apply_setpoint(&browser, "release", CONTROL);
    browser.wait_until(WAIT, "the setpoint released", || {
        (browser.text_of("#setpoint-source") != "api").then_some(())
    });
    assert!(miner.status()["setpoint"]["api"].is_null());

    // The same run's metrics, through a real parser.
    let (status, body) = miner.get("/metrics", None);
    assert_eq!(status, 401, "{body}");
    let (status, text) = miner.get("/metrics", Some(READ));
    assert_eq!(status, 200, "{text}");
    let Some(families) = prometheus::parse(&text) else {
        return;
    };
    let sample = |family: &str, label: Option<(&str, &str)>| {
        families
            .iter()
            .find(|f| f.name == family)
            .and_then(|f| {
                f.samples.iter().find(|s| {
                    label.is_none_or(|(k, v)| s.labels.get(k).is_some_and(|got| got == v))
                })
            })
            .map(|s| s.value)
            .unwrap_or_else(|| panic!("no {family} {label:?} in:\n{text}"))
    };
    assert!(sample("sha256d_hashes", Some(("engine", "portable"))) > 0.0);
    assert!(sample("sha256d_shares", Some(("result", "accepted"))) >= 1.0);
    assert_eq!(sample("sha256d_build_info", None), 1.0);
    assert!(sample("sha256d_uptime_seconds", None) > 0.0);
    assert_eq!(
        sample("sha256d_pool_up", Some(("pool", &pool.url()))),
        1.0,
        "{text}"
    );
}
