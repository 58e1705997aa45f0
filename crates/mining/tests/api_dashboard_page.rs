//! The dashboard page in a real browser (headless Chromium from `SHA256D_CHROMIUM`, driven
//! through `SHA256D_CHROMEDRIVER`; skipped without them unless peers are required), against a
//! scripted API that answers the contract's JSON: what the page shows, that text from outside
//! stays text, and that the setpoint form sends the control token and shows a refusal.

use serde_json::{json, Value};
use sha256d_mining::api::dashboard;
use sha256d_testkit::webdriver::Browser;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

const READ: &str = "read-secret";
const CONTROL: &str = "control-secret";
/// A pool URL that would run script if the page ever wrote it as markup.
const HOSTILE_URL: &str = "stratum+tcp://<img src=x onerror=\"document.title='owned'\">:3333";
const WAIT: Duration = Duration::from_secs(20);

fn status() -> Value {
    json!({"version": "0.1.0", "uptime_seconds": 65.5, "source": "stratum+tcp://pool",
      "hashrate": {"measured_hs": 2.5e6, "proven_hs": 1.5e6, "proven_low_hs": 1.0e6,
                   "proven_high_hs": null, "confidence": 0.95},
      "hashes_total": 163_750_000u64,
      "shares": {"found": 9, "submitted": 8, "accepted": 7, "rejected_total": 1,
                 "rejected": {"<b>bold</b> reason": 1}, "stale": 0, "hardware_errors": 2,
                 "unanswered": 0, "dropped": {}},
      "best_share_difficulty": 3.25, "difficulty": 0.001,
      "blocks": {"found": 0, "accepted": 0, "candidates": 0},
      "power": {"watts": 31.5, "joules": 2063.25, "source": "declared 31.5 W",
                "joules_per_verified_th": null},
      "setpoint": {"cap": "full", "source": null, "duty": 1.0, "api": null}})
}

fn devices() -> Value {
    json!({"devices": [{"index": 0, "engine": "sha-ni", "device": "sha-ni, 2 threads",
      "enabled": true, "hashes_total": 163_750_000u64, "measured_hs": 2.5e6, "proven_hs": 1.5e6,
      "proven_low_hs": 1.0e6, "proven_high_hs": null, "claims_more_than_proven": false,
      "shares_found": 9, "accepted": 7, "rejected": 1, "stale": 0, "hardware_errors": 2,
      "known_answers_passed": 4, "known_answer_misses": 1, "failure": null}]})
}

fn pools() -> Value {
    json!({"pools": [{"index": 0, "url": HOSTILE_URL, "user": "w1", "active": true,
      "status": "alive", "accepted": 7, "rejected": 1, "stale": 0, "difficulty": 0.001}]})
}

fn history() -> Value {
    let points: Vec<Value> = (0..7)
        .map(|i| {
            json!({"at": 5.5 + 10.0 * f64::from(i), "measured_hs": 2.0e6 + 1e5 * f64::from(i),
                        "proven_hs": 1.5e6})
        })
        .collect();
    json!({"step_seconds": 10, "span_seconds": 3600, "points": points})
}

/// The setpoint bodies the API accepted.
type Accepted = Arc<Mutex<Vec<Value>>>;

/// Serves the assets and the scripted API on a loopback port, one connection at a time.
fn serve(accepted: Accepted) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let port = listener.local_addr().expect("a bound address").port();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            answer(stream, &accepted);
        }
    });
    port
}

fn answer(stream: TcpStream, accepted: &Accepted) {
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_string());
    }
    let Some(request) = head.first() else { return };
    let mut parts = request.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let header = |name: &str| {
        head.iter()
            .find_map(|h| {
                h.split_once(": ")
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            })
            .map(|(_, v)| v.to_string())
    };
    let length = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let token = header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(String::from));
    let json_answer = |status: &str, value: Value| {
        (
            "application/json",
            status.to_string(),
            value.to_string().into_bytes(),
        )
    };
    let (kind, status, bytes) = if let Some((kind, bytes)) = dashboard::asset(path) {
        (kind, "200 OK".to_string(), bytes.to_vec())
    } else if method == "PUT" && path == "/v1/setpoint" {
        if token.as_deref() == Some(CONTROL) {
            let setpoint: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            accepted
                .lock()
                .expect("not poisoned")
                .push(setpoint.clone());
            json_answer("200 OK", json!({ "setpoint": setpoint }))
        } else {
            json_answer(
                "401 Unauthorized",
                json!({"error": "a control token is needed"}),
            )
        }
    } else if ![Some(READ), Some(CONTROL)].contains(&token.as_deref()) {
        json_answer(
            "401 Unauthorized",
            json!({"error": "a read token is needed"}),
        )
    } else {
        match path {
            "/v1/status" => json_answer("200 OK", status()),
            "/v1/devices" => json_answer("200 OK", devices()),
            "/v1/pools" => json_answer("200 OK", pools()),
            "/v1/history" => json_answer("200 OK", history()),
            _ => json_answer("404 Not Found", json!({"error": "no such endpoint"})),
        }
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    let _ = stream.write_all(&bytes);
}

#[test]
fn the_page_shows_the_api_as_text_and_sends_setpoints_with_the_control_token() {
    let accepted = Accepted::default();
    let port = serve(accepted.clone());
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.navigate(&format!("http://127.0.0.1:{port}/"));

    // Without a token the reads are refused, and the page says so.
    browser.wait_until(WAIT, "a refusal of the reads", || {
        browser
            .text_of("#status")
            .contains("needs the read token")
            .then_some(())
    });
    let field = browser.wait_for("#read-token", WAIT);
    browser.send_keys(&field, READ);
    browser.click(&browser.wait_for("#read-save", WAIT));
    browser.wait_until(WAIT, "the figures", || {
        (browser.text_of("#accepted") == "7").then_some(())
    });
    assert_eq!(browser.text_of("#measured"), "2.50 MH/s");
    assert_eq!(browser.text_of("#proven"), "1.50 MH/s");
    assert_eq!(browser.text_of("#proven-range"), "1.00 MH/s to ∞ (95%)");
    assert_eq!(browser.text_of("#watts"), "31.5 W");
    assert_eq!(browser.text_of("#joules"), "2.06 kJ");
    assert_eq!(browser.text_of("#setpoint-cap"), "full");
    assert_eq!(browser.text_of("#setpoint-source"), "none");
    assert_eq!(browser.text_of("#hardware-errors"), "2");
    let row = browser.text_of("#device-0");
    assert!(row.contains("sha-ni") && row.contains("2.50 MH/s"), "{row}");
    let measured = browser.find("#line-measured").expect("the chart's line");
    let points = browser.attribute(&measured, "points").unwrap_or_default();
    assert_eq!(points.split(' ').count(), 7, "{points}");

    // Text from outside is shown as it came, and runs nothing.
    assert!(
        browser.text_of("#pools").contains(HOSTILE_URL),
        "{}",
        browser.text_of("#pools")
    );
    assert!(browser
        .text_of("#reject-reasons")
        .contains("<b>bold</b> reason"));
    let injected = browser
        .execute("return [document.title, document.querySelectorAll('#pools img, #reject-reasons b').length];", &[])
        .expect("a script runs");
    assert_eq!(injected, json!(["sha256d miner", 0]));

    // A setpoint with a wrong control token is refused with the server's words; with the
    // right one it goes through as the contract's body.
    let kind = browser.wait_for("#setpoint-kind", WAIT);
    browser.click(&kind);
    browser.click(&browser.wait_for("#setpoint-kind option[value=hashrate]", WAIT));
    let value = browser.wait_for("#setpoint-value", WAIT);
    browser.send_keys(&value, "1000");
    let token = browser.wait_for("#control-token", WAIT);
    browser.send_keys(&token, "wrong");
    browser.click(&browser.wait_for("#setpoint-apply", WAIT));
    browser.wait_until(WAIT, "the refusal", || {
        (browser.text_of("#control-result") == "refused (401): a control token is needed")
            .then_some(())
    });
    assert!(accepted.lock().expect("not poisoned").is_empty());
    browser.clear(&token);
    browser.send_keys(&token, CONTROL);
    browser.click(&browser.wait_for("#setpoint-apply", WAIT));
    browser.wait_until(WAIT, "the setpoint applied", || {
        browser
            .text_of("#control-result")
            .starts_with("applied")
            .then_some(())
    });
    assert_eq!(
        *accepted.lock().expect("not poisoned"),
        [json!({"hashrate_hs": 1000})]
    );

    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-scripted.png");
    browser
        .execute("window.scrollTo(0, 0);", &[])
        .expect("a script runs");
    browser.save_screenshot(&path);
    println!("screenshot: {}", path.display());
}
