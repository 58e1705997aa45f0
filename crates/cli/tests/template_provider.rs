//! `sha256d template-provider` as an operator runs it: against a Knots regtest node
//! (`SHA256D_KNOTS_BITCOIND`), serving SRI's `pool_sv2` (`SHA256D_POOL_SV2`). Skips with a
//! message when they are absent, and fails instead under `SHA256D_REQUIRE_PEERS=1` or
//! `CI=true`. Its errors need no peer.

use sha256d_mining::sv2::AuthorityKeypair;
use sha256d_testkit::peers::{free_ports, temp_dir};
use sha256d_testkit::regtest::Regtest;
use sha256d_testkit::sv2::{PoolSv2, PoolSv2Config};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn template_provider(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sha256d"));
    command
        .arg("template-provider")
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("SHA256D_TP_AUTHORITY_SECRET")
        .env_remove("SHA256D_RPC_PASS");
    command
}

fn failure(args: &[&str]) -> String {
    let o: Output = template_provider(args).output().expect("runs");
    assert!(!o.status.success(), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

/// The running command, killed and waited for on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn errors_say_what_is_missing() {
    let dir = temp_dir("tp-cli-errors");
    let [port] = free_ports::<1>();
    let node = format!("http://127.0.0.1:{port}");
    assert_eq!(
        failure(&["--node", &node, "--rpc-user", "u", "--rpc-pass", "p"]),
        "error: the template provider needs an authority key: --authority-secret-file FILE, \
         SHA256D_TP_AUTHORITY_SECRET, or --generate-key FILE for a new one\n"
    );
    assert_eq!(
        failure(&["--node", &node, "--generate-key", "k"]),
        "error: the template provider needs --rpc-user and --rpc-pass, or --rpc-cookie\n"
    );
    let key = dir.join("key");
    std::fs::write(&key, "not a key\n").expect("write");
    let key = key.to_str().expect("UTF-8 path");
    let err = failure(&[
        "--node",
        &node,
        "--rpc-user",
        "u",
        "--rpc-pass",
        "p",
        "--generate-key",
        key,
    ]);
    assert!(
        err.ends_with("; to serve with the key in it, pass --authority-secret-file instead\n"),
        "{err}"
    );
    assert_eq!(
        failure(&[
            "--node",
            &node,
            "--rpc-user",
            "u",
            "--rpc-pass",
            "p",
            "--authority-secret-file",
            key,
        ]),
        "error: authority secret key: not a base58-check key\n"
    );
    // A good key, but no node there.
    std::fs::write(key, AuthorityKeypair::generate().secret_base58()).expect("write");
    let err = failure(&[
        "--node",
        &node,
        "--rpc-user",
        "u",
        "--rpc-pass",
        "p",
        "--authority-secret-file",
        key,
    ]);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn serves_pool_sv2_from_a_knots_node() {
    let Some(node) = Regtest::knots() else { return };
    let dir = temp_dir("tp-cli");
    let key = dir.join("authority.key");
    let pass = dir.join("rpc.pass");
    std::fs::write(&pass, node.rpc_password()).expect("write");
    let [port] = free_ports::<1>();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Running(
        template_provider(&[
            "--node",
            &node.rpc_url(),
            "--rpc-user",
            &node.rpc_user(),
            "--rpc-pass-file",
            pass.to_str().expect("UTF-8 path"),
            "--listen",
            &listen,
            "--generate-key",
            key.to_str().expect("UTF-8 path"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts"),
    );
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("reads stdout");
    let public = line.trim_end().to_owned();
    // The key it printed is the public half of the secret it wrote, which only we can read.
    let secret = std::fs::read_to_string(&key).expect("the key file");
    let keypair = AuthorityKeypair::from_secret_base58(&secret).expect("a key");
    assert_eq!(keypair.public().to_string(), public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let pool_keys = AuthorityKeypair::generate();
    let Some(pool) = PoolSv2::start(&PoolSv2Config {
        template_provider: listen.parse().expect("an address"),
        template_provider_key: public,
        authority_public_key: pool_keys.public().to_string(),
        authority_secret_key: pool_keys.secret_base58(),
        payout_address: node.new_address(),
        shares_per_minute: 60.0,
    }) else {
        return;
    };
    pool.wait_for_log(
        "NewTemplate(template_id: 0, future_template: true",
        Duration::from_secs(60),
    );
    drop(pool);
    drop(child);
    let _ = std::fs::remove_dir_all(dir);
}
