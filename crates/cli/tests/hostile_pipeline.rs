//! `sha256d mine` flooded with results: the in-repo test pool at difficulty 1e-10, where every
//! hash is a share. Memory stays bounded, the pool is fed as fast as it answers and never
//! dropped, every result is accounted for in the summary, and SIGTERM still wins at once.
#![cfg(target_os = "linux")]

use serde_json::Value;
use sha256d_testkit::testpool::{Settings, TestPool};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The peak resident memory a flooded miner may reach. An idle one holds about 40 MB; the
/// unbounded pipeline passed 470 MB within 20 s at difficulty 1e-8.
const PEAK_RSS_BOUND_KB: u64 = 150 * 1024;

/// A miner process with its output collected on threads (so a full pipe never stalls it),
/// killed on drop so a failed assertion does not leave it running.
struct Miner {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
}

fn collect(mut from: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = from.read_to_end(&mut out);
        out
    })
}

impl Miner {
    fn start(pool: &TestPool, extra: &[&str]) -> Miner {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .args(["mine", "--pool", &pool.url(), "--user", "w1", "--json"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stdout = collect(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        Miner {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
        }
    }

    /// The peak resident set so far (`VmHWM`), in kB; `None` once the process is gone.
    fn peak_rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("the miner can be waited for")
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for the exit; returns the status, the JSON summary and stderr.
    fn finish(mut self) -> (ExitStatus, Value, String) {
        let status = self.child.wait().expect("the miner exits");
        let take = |h: &mut Option<JoinHandle<Vec<u8>>>| {
            h.take()
                .expect("collected once")
                .join()
                .expect("the reader does not panic")
        };
        let stdout = take(&mut self.stdout);
        let stderr = String::from_utf8_lossy(&take(&mut self.stderr)).into_owned();
        let summary = serde_json::from_slice(&stdout)
            .unwrap_or_else(|e| panic!("no JSON summary ({e}); status {status}, stderr: {stderr}"));
        (status, summary, stderr)
    }
}

impl Drop for Miner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn flood_pool(tag: &str) -> TestPool {
    let mut settings = Settings::new(tag);
    settings.difficulty = 1e-10;
    TestPool::start(settings)
}

fn count(s: &Value, key: &str) -> u64 {
    s[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a count: {s}"))
}

/// Every result found was submitted or dropped with a reason, every submission has a verdict
/// or is counted unanswered, and the pool saw exactly the accepted ones (plus, at most, the
/// ones whose verdict was still on its way).
fn assert_accounted(s: &Value, pool: &TestPool) {
    let dropped: u64 = s["dropped"]
        .as_object()
        .expect("dropped is an object")
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum();
    assert_eq!(dropped, count(s, "dropped_total"), "{s}");
    assert_eq!(
        count(s, "shares_found"),
        count(s, "shares_submitted") + dropped,
        "{s}"
    );
    assert_eq!(
        count(s, "shares_submitted"),
        count(s, "accepted") + count(s, "rejected_total") + count(s, "unanswered"),
        "{s}"
    );
    let taken = pool.accepted().len() as u64;
    assert!(
        taken >= count(s, "accepted") && taken <= count(s, "accepted") + count(s, "unanswered"),
        "the pool took {taken}: {s}"
    );
}

/// Waits until the pool has taken more than `n` shares.
fn wait_for_shares(pool: &TestPool, miner: &mut Miner, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while pool.accepted().len() <= n {
        assert!(miner.exited().is_none(), "the miner ended early");
        assert!(Instant::now() < deadline, "fewer than {n} shares in 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Twenty seconds at difficulty 1e-10: peak RSS stays under the bound while shares keep
/// flowing on one connection, and the summary's counts add up.
#[test]
fn peak_memory_stays_bounded_at_difficulty_1e_10() {
    let pool = flood_pool("flood");
    let mut miner = Miner::start(&pool, &["--time", "20"]);
    wait_for_shares(&pool, &mut miner, 0);
    let started = Instant::now();
    let mut peak = 0;
    let mut early = None;
    while miner.exited().is_none() {
        if let Some(kb) = miner.peak_rss_kb() {
            peak = peak.max(kb);
        }
        if early.is_none() && started.elapsed() >= Duration::from_secs(5) {
            early = Some(pool.accepted().len());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, s, stderr) = miner.finish();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        peak > 0 && peak < PEAK_RSS_BOUND_KB,
        "peak RSS {peak} kB; {s}"
    );
    let early = early.expect("the run lasted past 5 s");
    // Loose: a loaded machine slows the test pool to a hundred shares a second or so.
    assert!(
        pool.accepted().len() > early + 100,
        "shares stopped flowing after {early}: {s}"
    );
    assert_eq!(pool.connections(), 1, "the miner left its pool: {stderr}");
    assert_eq!(count(&s, "rejected_total"), 0, "{s}");
    assert!(
        count(&s, "dropped_total") > 0,
        "a flood is dropped, not queued: {s}"
    );
    assert_accounted(&s, &pool);
}

/// SIGTERM in the middle of a flood: the summary comes within the stop grace (asserted with
/// a generous bound for a loaded machine), the exit is clean, and nothing is unaccounted.
#[test]
fn sigterm_during_a_flood_prints_the_summary_at_once() {
    let pool = flood_pool("sigterm");
    let mut miner = Miner::start(&pool, &[]);
    wait_for_shares(&pool, &mut miner, 2000);
    let sent = Instant::now();
    miner.signal("TERM");
    let deadline = sent + Duration::from_secs(10);
    while miner.exited().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = sent.elapsed();
    let (status, s, stderr) = miner.finish();
    assert!(
        took < Duration::from_secs(3),
        "exited {took:?} after SIGTERM"
    );
    assert!(status.success(), "{status}: {stderr}");
    assert!(count(&s, "accepted") > 2000, "{s}");
    assert_accounted(&s, &pool);
}
