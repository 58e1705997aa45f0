//! The dashboard of a running `sha256d mine --api` in a real browser (headless Chromium from
//! `SHA256D_CHROMIUM`, driven through `SHA256D_CHROMEDRIVER`), and its `/metrics` through a
//! real Prometheus parser (`SHA256D_PYTHON` with `prometheus_client`); each skipped without
//! its peer unless peers are required. The screenshot lands in the test target's temporary
//! directory, its path printed.

// Shared by the API tests, each using part of it.
#[allow(dead_code)]
#[path = "common/api.rs"]
mod api;

use api::ApiMiner;
use serde_json::Value;
use sha256d_testkit::prometheus;
use sha256d_testkit::testpool::{Settings, TestPool};
use sha256d_testkit::webdriver::Browser;
use std::path::Path;
use std::time::Duration;

const READ: &str = "dashboard-read-token-0123456789";
const CONTROL: &str = "dashboard-control-token-0123456789";
const WAIT: Duration = Duration::from_secs(30);

/// `sha256d mine` on the portable engine with the API on a free loopback port.
fn start_miner(pool: &TestPool) -> ApiMiner {
    let (read, control) = api::token_files("dashboard", READ, CONTROL);
    let (read, control) = (
        read.to_str().expect("a UTF-8 path"),
        control.to_str().expect("a UTF-8 path"),
    );
    ApiMiner::start(
        &[
            "--pool",
            &pool.url(),
            "--user",
            "w1",
            "--engine",
            "portable",
            "--threads",
            "1",
            "--time",
            "300",
            "--api",
            "127.0.0.1:0",
            "--api-read-token-file",
            read,
            "--api-control-token-file",
            control,
        ],
        &[],
    )
}

fn status(miner: &ApiMiner) -> Value {
    let reply = miner.call("GET", "/v1/status", Some(READ), None);
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.json()
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
    let miner = start_miner(&pool);
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.navigate(&format!(
        "{}/",
        miner.http.as_deref().expect("the HTTP API")
    ));
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
    assert_ne!(status(&miner)["setpoint"]["source"], "api");
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
    let now = status(&miner);
    assert_eq!(now["setpoint"]["cap"], "off", "{now}");
    assert_eq!(now["setpoint"]["source"], "api", "{now}");
    assert_eq!(
        now["setpoint"]["api"],
        serde_json::json!({"off": true}),
        "{now}"
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
    assert!(status(&miner)["setpoint"]["api"].is_null());

    // The same run's metrics, through a real parser.
    assert_eq!(miner.call("GET", "/metrics", None, None).status, 401);
    let metrics = miner.call("GET", "/metrics", Some(READ), None);
    assert_eq!(metrics.status, 200, "{metrics:?}");
    let text = metrics.body;
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
