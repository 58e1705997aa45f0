//! `sha256d mine --pool` against the in-repo test pool, which validates every share with its
//! own hashing: failover through the command line, version rolling on and off, and the errors a
//! user meets first.

mod common;

use common::{mine, mine_with_env, summary};

use sha256d_testkit::testpool::{Settings, TestPool};

/// A loopback URL that refuses connections while the returned listener lives. Holding the
/// port on 127.0.0.1 keeps a parallel test from being given it; nothing listens on 127.0.0.2.
fn dead_url() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("bound").port();
    (listener, format!("stratum+tcp://127.0.0.2:{port}"))
}

#[test]
fn fails_over_past_a_dead_pool_and_rolls_versions() {
    let mut settings = Settings::new("cli");
    settings.rolling_mask = Some(0x1fff_e000);
    let pool = TestPool::start(settings);
    let ((_held, dead), live) = (dead_url(), pool.url());
    let s = summary(&mine(&[
        "--pool", &dead, "--pool", &live, "--user", "w1", "--shares", "5", "--time", "60", "--json",
    ]));
    assert!(s["accepted"].as_u64() >= Some(5), "{s}");
    assert_eq!(s["rejected_total"], 0, "{s}");
    assert_eq!(s["difficulty"], 1e-5, "{s}");
    let accepted = pool.accepted();
    assert!(
        accepted.len() >= 5,
        "the pool validated {} shares",
        accepted.len()
    );
    // BIP310: the rolled bits travel as the sixth submit parameter.
    assert!(
        accepted.iter().all(|a| a.params.len() == 6),
        "{:?}",
        accepted[0].params
    );
    assert!(pool
        .received()
        .iter()
        .any(|(_, line)| line.contains("mining.configure")));
}

#[test]
fn without_version_rolling_no_configure_and_five_submit_params() {
    let mut settings = Settings::new("plain");
    settings.rolling_mask = Some(0x1fff_e000);
    let pool = TestPool::start(settings);
    let url = pool.url();
    let s = summary(&mine(&[
        "--pool",
        &url,
        "--user",
        "w1",
        "--no-version-rolling",
        "--shares",
        "3",
        "--time",
        "60",
        "--json",
    ]));
    assert!(s["accepted"].as_u64() >= Some(3), "{s}");
    let accepted = pool.accepted();
    assert!(
        accepted.iter().all(|a| a.params.len() == 5),
        "{:?}",
        accepted[0].params
    );
    assert!(accepted.iter().all(|a| a.version == 0x2000_0000));
    assert!(!pool
        .received()
        .iter()
        .any(|(_, line)| line.contains("mining.configure")));
}

#[test]
fn bad_urls_and_dead_pools_are_clear_errors() {
    let o = mine(&["--pool", "http://127.0.0.1:3333", "--user", "w"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("stratum+tcp://"),
        "{err}"
    );

    let (_held, dead) = dead_url();
    let o = mine(&["--pool", &dead, "--user", "w", "--time", "2"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("refused"), "{err}");
    assert!(err.contains("error: no work arrived"), "{err}");

    let o = mine(&["--user", "w"]);
    assert_eq!(o.status.code(), Some(1), "a source is required");
}

#[test]
fn ctrl_c_stops_with_a_summary() {
    let pool = TestPool::start(Settings::new("sigint"));
    let url = pool.url();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args(["mine", "--pool", &url, "--user", "w1", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // Wait until it has a share accepted, so there is something to summarise.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while pool.accepted().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no share accepted");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let s = summary(&child.wait_with_output().expect("it exits"));
    assert!(s["accepted"].as_u64() >= Some(1), "{s}");
    assert_eq!(
        s["accepted"].as_u64(),
        Some(pool.accepted().len() as u64),
        "every share the pool took is counted: {s}"
    );
}

/// The password the pool's `mining.authorize` carried on its first connection.
fn authorized_with(pool: &TestPool) -> String {
    let (_, line) = pool
        .received()
        .into_iter()
        .find(|(_, line)| line.contains("mining.authorize"))
        .expect("an authorize request");
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    v["params"][1].as_str().expect("a password").to_string()
}

#[test]
fn the_pool_password_comes_from_the_flag_a_file_or_the_environment() {
    let dir = std::env::temp_dir().join(format!("sha256d-cli-mine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("pool-pass");
    std::fs::write(&file, "from-the-file\n").expect("write");
    let file = file.to_str().expect("UTF-8 path");
    /// Flags, environment, and the password the pool must see.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (&[], &[], "x"),
        (
            &[],
            &[("SHA256D_POOL_PASS", "from-the-env")],
            "from-the-env",
        ),
        (
            &["--pass-file", file],
            &[("SHA256D_POOL_PASS", "from-the-env")],
            "from-the-file",
        ),
        (
            &["--pass", "from-the-flag"],
            &[("SHA256D_POOL_PASS", "from-the-env")],
            "from-the-flag",
        ),
    ];
    for (flags, env, expected) in cases {
        let pool = TestPool::start(Settings::new("pass"));
        let url = pool.url();
        let args = [
            &[
                "--pool", &url, "--user", "w1", "--shares", "1", "--time", "60", "--json",
            ],
            flags,
        ]
        .concat();
        let o = mine_with_env(&args, env);
        let s = summary(&o);
        assert!(s["accepted"].as_u64() >= Some(1), "{s}");
        assert_eq!(authorized_with(&pool), expected, "{flags:?} {env:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!err.contains("from-the"), "a password was printed: {err}");
    }

    let o = mine(
        &[
            "--pool",
            "stratum+tcp://127.0.0.1:1",
            "--user",
            "w",
            "--pass",
            "p",
        ]
        .into_iter()
        .chain(["--pass-file", file])
        .collect::<Vec<_>>(),
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: the argument '--pass <P>' cannot be used with"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn rpc_user_without_any_password_is_a_clear_error() {
    let o = mine_with_env(
        &[
            "--node",
            "http://127.0.0.1:1",
            "--rpc-user",
            "u",
            "--address",
            "x",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        "error: --rpc-user needs a password: --rpc-pass, --rpc-pass-file or SHA256D_RPC_PASS\n"
    );

    // A file that cannot be read is named; a password from the environment gets past the
    // check to the address, which is not one.
    let o = mine_with_env(
        &[
            "--node",
            "http://127.0.0.1:1",
            "--rpc-user",
            "u",
            "--rpc-pass-file",
            "/nonexistent/rpc-pass",
            "--address",
            "x",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: cannot read /nonexistent/rpc-pass: "),
        "{err}"
    );
    let o = mine_with_env(
        &[
            "--node",
            "http://127.0.0.1:1",
            "--rpc-user",
            "u",
            "--address",
            "x",
        ],
        &[("SHA256D_RPC_PASS", "from-the-env")],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("needs a password"), "{err}");
    assert!(
        !err.contains("from-the-env"),
        "a password was printed: {err}"
    );
}

#[test]
fn off_a_terminal_status_lines_are_logged_at_the_interval() {
    let pool = TestPool::start(Settings::new("status"));
    let url = pool.url();
    let base = ["--pool", &url, "--user", "w1", "--time", "4", "--json"];
    let status_lines = |interval: &str| {
        let o = mine(&[&base[..], &["--status-interval", interval]].concat());
        summary(&o);
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.contains(" INFO  ") && l.contains("H/s | ") && l.contains(" | A "))
            .count()
    };
    let every_second = status_lines("1");
    assert!(
        (1..=5).contains(&every_second),
        "{every_second} status lines in 4 s"
    );
    assert_eq!(status_lines("0"), 0);
}

/// `--config FILE`: every key a flag (a list for the failover pools, `true` for a switch), and
/// a flag on the command line in place of its key; a bad key is one clear line.
#[test]
fn a_config_file_gives_the_flags_and_the_command_line_overrides_it() {
    let mut settings = Settings::new("config");
    settings.rolling_mask = Some(0x1fff_e000);
    let pool = TestPool::start(settings);
    let (_held, dead) = dead_url();
    let dir = std::env::temp_dir().join(format!("sha256d-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let config = dir.join("mine.toml");
    std::fs::write(
        &config,
        format!(
            "pool = [{dead:?}, {live:?}]\nuser = \"w1\"\nno_version_rolling = true\n\
             shares = 1000\ntime = 60\njson = true\n",
            live = pool.url()
        ),
    )
    .expect("written");
    let config = config.to_str().expect("a UTF-8 temp path");
    let s = summary(&mine(&["--config", config, "--shares", "3"]));
    let accepted = s["accepted"].as_u64().expect("a count");
    // Stopped by the command line's 3, not the config's 1000. The work in flight is submitted
    // too, and a fast engine has many shares in flight at this difficulty (an AVX-512 run had
    // 76), but nothing near 1000.
    assert!((3..1000).contains(&accepted), "{s}");
    assert_eq!(s["rejected_total"], 0, "{s}");
    // The config's switch: no BIP310, so five submit parameters and no mining.configure.
    let validated = pool.accepted();
    assert!(validated
        .iter()
        .all(|a| a.params.len() == 5 && a.params[0] == "w1"));
    assert!(!pool
        .received()
        .iter()
        .any(|(_, line)| line.contains("mining.configure")));

    std::fs::write(dir.join("bad.toml"), "pass = \"hunter2\"\n").expect("written");
    let bad = dir.join("bad.toml");
    let o = mine(&["--config", bad.to_str().expect("UTF-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: {}: `pass` would keep a password in the config; use pass-file or \
             SHA256D_POOL_PASS\n",
            bad.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sha256d --log-format FORMAT mine --json` on the test pool until two shares are accepted:
/// its stderr lines (the summary goes to stdout; without `--json` it is text on stderr).
fn log_lines(format: &str) -> Vec<String> {
    let pool = TestPool::start(Settings::new("logs"));
    let url = pool.url();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .args([
            "--log-format",
            format,
            "mine",
            "--pool",
            &url,
            "--user",
            "w1",
        ])
        // No --json: the text summary is on stderr too, and must be in the logs' format.
        .args(["--shares", "2", "--time", "60"])
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8(o.stderr).expect("UTF-8 logs");
    assert!(o.status.success(), "mine failed: {stderr}");
    stderr.lines().map(str::to_string).collect()
}

#[test]
fn json_logs_are_one_object_a_line_with_the_device_events() {
    let lines = log_lines("json");
    assert!(!lines.is_empty());
    let records: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    for r in &records {
        let ts = r["ts"].as_str().unwrap_or_else(|| panic!("no ts: {r}"));
        assert!(ts.len() == 20 && ts.ends_with('Z'), "not RFC 3339 UTC: {r}");
        assert!(
            ["error", "warn", "info", "debug", "trace"]
                .contains(&r["level"].as_str().unwrap_or("")),
            "{r}"
        );
        assert!(r["msg"].is_string(), "{r}");
    }
    assert!(
        records
            .iter()
            .any(|r| r["event"] == "device_joined" && r["device"] == 0 && r["engine"].is_string()),
        "{lines:#?}"
    );
    assert!(
        records.iter().any(|r| r["event"] == "summary"
            && r["msg"].as_str().is_some_and(|m| m.contains("accepted"))),
        "{lines:#?}"
    );
}

#[test]
fn journald_logs_carry_a_priority_and_no_timestamp() {
    let lines = log_lines("journald");
    assert!(!lines.is_empty());
    for l in &lines {
        let rest = ["<3>", "<4>", "<6>", "<7>"]
            .iter()
            .find_map(|p| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no priority: {l}"));
        assert!(!rest.starts_with("20"), "a timestamp: {l}");
    }
    assert!(
        lines.iter().any(|l| l.starts_with("<6>device 0 (")),
        "{lines:#?}"
    );
}
