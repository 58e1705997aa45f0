//! The real OpenADR 3 server on 127.0.0.1, installed by `.ci/peers.sh DIR`:
//!
//! - [`Postgres`]: a throw-away PostgreSQL 17 cluster (`SHA256D_POSTGRES_BIN`, the directory of
//!   trixie's `initdb`, `postgres` and `psql` wrappers) in a temporary directory, on a free
//!   loopback port, trusting local connections. PostgreSQL refuses to run as root, so when the
//!   tests run as root it runs as `nobody` (through util-linux's `setpriv`).
//! - [`Vtn`]: `openleadr-vtn` 0.2.8 (`SHA256D_OPENADR_VTN`) on its own [`Postgres`], issuing
//!   its own OAuth tokens, with two clients seeded: [`UTILITY`] (the business logic: programs,
//!   events, reading everything) and [`VEN`] (a VEN's scopes). [`Vtn::utility`] acts as the
//!   utility through the server's API.
//!
//! Missing binaries skip (or fail under `CI=true` / `SHA256D_REQUIRE_PEERS=1`) as
//! [`crate::peers`] does; every process is killed and every directory removed on drop.

use crate::peers::{free_ports, peer_path, temp_dir, Peer, POLL, START_TIMEOUT};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

/// `nobody` and `nogroup` on Debian.
const NOBODY: u32 = 65534;

/// The migrations openleadr-vtn 0.2.8 embeds. It logs a failed migration and serves anyway
/// (its `/health` still answers 200), so the starter counts them instead of trusting it.
const VTN_MIGRATIONS: usize = 9;

/// OAuth client credentials seeded into the VTN.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// `client_id`.
    pub id: &'static str,
    /// `client_secret`.
    pub secret: &'static str,
}

/// The utility: reads everything, writes programs and events.
pub const UTILITY: Client = Client {
    id: "bl-client",
    secret: "bl-client",
};

/// A VEN: reads the events targeted at it (and untargeted ones), writes reports.
pub const VEN: Client = Client {
    id: "ven-client-client-id",
    secret: "ven-client",
};

/// The seeded clients. The secrets' argon2id hashes are the ones openleadr-vtn's own test
/// fixtures publish for these secrets; this crate holds no password hashing.
const SEED: &str = r#"
INSERT INTO "user" (id, reference, description, scopes, created, modified)
VALUES ('utility', 'utility', 'the utility in the tests', '{read_all,write_programs,write_events}',
        now(), now()),
       ('ven', 'ven', 'the miner in the tests',
        '{read_targets,read_ven_objects,write_reports_ven,write_vens_ven}', now(), now());
INSERT INTO user_credentials (user_id, client_id, client_secret)
VALUES ('utility', 'bl-client',
        '$argon2id$v=19$m=16,t=2,p=1$MWt1QVNFdHdlZVJhNEZzUA$Rmkguwgaz+A2GWIaDRtv8w'),
       ('ven', 'ven-client-client-id',
        '$argon2id$v=19$m=16,t=2,p=1$YWlOSE8xRGFVdVVIa212Ug$tjmQC+zNC3QXc9K8mEXRrA');
"#;

/// Whether this process runs as root (the owner of `/proc/self` is its effective user).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `program`, as `nobody` when this process is root.
fn unprivileged(program: PathBuf) -> Command {
    if is_root() {
        let mut command = Command::new("setpriv");
        command
            .arg(format!("--reuid={NOBODY}"))
            .arg(format!("--regid={NOBODY}"))
            .arg("--clear-groups")
            .args([
                "--inh-caps=+dac_read_search",
                "--ambient-caps=+dac_read_search",
            ])
            .arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// `bin`, or when `nobody` cannot run it (installed under a private directory such as root's
/// home), a copy of its whole install root inside `dir`, removed with it.
fn reachable(bin: PathBuf, dir: &Path) -> PathBuf {
    // PostgreSQL checks its programs with access(2), as `test` does.
    if !is_root()
        || unprivileged(PathBuf::from("test"))
            .arg("-r")
            .arg(bin.join("postgres"))
            .status()
            .is_ok_and(|status| status.success())
    {
        return bin;
    }
    // BIN is ROOT/usr/lib/postgresql/MAJOR/bin, as .ci/peers.sh lays it out.
    let Some(root) = bin.ancestors().nth(5) else {
        panic!(
            "SHA256D_POSTGRES_BIN={} is not ROOT/usr/lib/postgresql/MAJOR/bin",
            bin.display()
        );
    };
    let copy = dir.join("install");
    eprintln!(
        "nobody cannot run PostgreSQL in {}; copying {} into {}",
        bin.display(),
        root.display(),
        copy.display()
    );
    let status = Command::new("cp")
        .arg("-a")
        .arg(root)
        .arg(&copy)
        .status()
        .unwrap_or_else(|e| panic!("running cp: {e}"));
    assert!(
        status.success(),
        "copying {} failed ({status})",
        root.display()
    );
    copy.join(bin.strip_prefix(root).expect("root is an ancestor of bin"))
}

/// A PostgreSQL cluster of its own, superuser `postgres`, trusting connections on loopback.
pub struct Postgres {
    peer: Peer,
    port: u16,
    bin: PathBuf,
}

impl Postgres {
    /// A fresh cluster, accepting queries; `None` when `SHA256D_POSTGRES_BIN` is missing.
    pub fn start() -> Option<Postgres> {
        let bin = peer_path("SHA256D_POSTGRES_BIN", "PostgreSQL 17")?;
        let dir = temp_dir("postgres");
        if is_root() {
            std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY))
                .unwrap_or_else(|e| panic!("giving {} to nobody: {e}", dir.display()));
        }
        let bin = reachable(bin, &dir);
        let data = dir.join("data");
        let out = unprivileged(bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "--locale=C",
                "--encoding=UTF8",
            ])
            .arg("--no-sync")
            .env("TZ", "UTC")
            .current_dir(&dir)
            .output()
            .unwrap_or_else(|e| panic!("running {}/initdb: {e}", bin.display()));
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        assert!(
            out.status.success(),
            "{}/initdb failed ({}):\n{}{}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let [port] = free_ports::<1>();
        let mut command = unprivileged(bin.join("postgres"));
        command
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            // The socket beside the data, not in /run/postgresql (absent, and not ours).
            .arg("-k")
            .arg(&dir)
            // A test database: no JIT (its LLVM is not installed), no durability.
            .args([
                "-c",
                "jit=off",
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
            ])
            .env("TZ", "UTC");
        let mut peer = Peer::start("postgres", command, dir);
        peer.wait_listening(port);
        let db = Postgres { peer, port, bin };
        // Listening comes before accepting queries (recovery, start-up).
        let deadline = Instant::now() + START_TIMEOUT;
        while let Err(e) = db.try_psql("postgres", "SELECT 1") {
            assert!(
                Instant::now() < deadline,
                "postgres did not answer within {START_TIMEOUT:?}: {e}\n{}",
                db.peer.logs()
            );
            thread::sleep(POLL);
        }
        Some(db)
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` in database `db` and returns its rows, unaligned (`|` between columns).
    pub fn try_psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args([
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-X",
                "-A",
                "-t",
                "-q",
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| format!("running {}/psql: {e}", self.bin.display()))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// [`Postgres::try_psql`], panicking with the server log on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        self.try_psql(db, sql)
            .unwrap_or_else(|e| panic!("{e}\n{}", self.peer.logs()))
    }
}

/// openleadr-vtn on its own PostgreSQL, with [`UTILITY`] and [`VEN`] seeded.
pub struct Vtn {
    peer: Peer,
    port: u16,
    db: Postgres,
}

impl Vtn {
    /// The VTN, serving with every migration applied; `None` when `SHA256D_OPENADR_VTN` or
    /// `SHA256D_POSTGRES_BIN` is missing.
    pub fn start() -> Option<Vtn> {
        let binary = peer_path("SHA256D_OPENADR_VTN", "openleadr-vtn")?;
        let db = Postgres::start()?;
        db.psql("postgres", "CREATE DATABASE vtn");
        let [port] = free_ports::<1>();
        let mut command = Command::new(binary);
        // It binds 0.0.0.0:PORT, with no setting for the address; the tests only ever reach it
        // on 127.0.0.1, and the port is free and short-lived.
        command
            .env("DATABASE_URL", db.url("vtn"))
            .env("PORT", port.to_string())
            .env("OAUTH_TYPE", "INTERNAL")
            // HMAC key for its tokens: 32 bytes, fixed, as fits a throw-away server.
            .env(
                "OAUTH_BASE64_SECRET",
                "c2hhMjU2ZCB0ZXN0IFZUTiB0b2tlbiBzaWduaW5nIGtleQ==",
            )
            .env(
                "OAUTH_TOKEN_URL",
                format!("http://127.0.0.1:{port}/auth/token"),
            )
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1");
        for var in [
            "MQTT_URL",
            "MQTT_USERNAME",
            "MQTT_PASSWORD",
            "OAUTH_KEY_TYPE",
        ] {
            command.env_remove(var);
        }
        let mut peer = Peer::start("openleadr-vtn", command, temp_dir("openadr-vtn"));
        peer.wait_listening(port);
        // Printed once migrations have run (or failed) and the router is up.
        peer.wait_for_log("VTN listening on", START_TIMEOUT);
        let applied = db.psql("vtn", "SELECT count(*) FROM _sqlx_migrations WHERE success");
        assert_eq!(
            applied,
            VTN_MIGRATIONS.to_string(),
            "openleadr-vtn applied {applied} of its {VTN_MIGRATIONS} migrations (they need \
             PostgreSQL 16 or later):\n{}",
            peer.logs()
        );
        db.psql("vtn", SEED);
        Some(Vtn { peer, port, db })
    }

    /// `http://127.0.0.1:PORT`, the base of its API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The database behind it.
    pub fn database(&self) -> &Postgres {
        &self.db
    }

    /// The server's log tail, for failure messages.
    pub fn logs(&self) -> String {
        self.peer.logs()
    }

    /// Sends one request; returns the status and the body as JSON (`Null` when empty).
    /// Panics with the server's log if the exchange fails.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, &str)>,
    ) -> (u16, Value) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n",
            self.port
        );
        if let Some(token) = bearer {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.map_or(String::new(), |(content_type, body)| {
            head.push_str(&format!(
                "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
                body.len()
            ));
            body.to_owned()
        });
        head.push_str("\r\n");
        let fail = |e: String| -> ! { panic!("{method} {path}: {e}\n{}", self.logs()) };
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).unwrap_or_else(|e| fail(e.to_string()));
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a nonzero timeout");
        stream
            .write_all(format!("{head}{body}").as_bytes())
            .unwrap_or_else(|e| fail(e.to_string()));
        let mut reply = Vec::new();
        stream
            .read_to_end(&mut reply)
            .unwrap_or_else(|e| fail(e.to_string()));
        let text = String::from_utf8_lossy(&reply);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| fail(format!("no end of headers in {text:?}")));
        // axum sends JSON with a Content-Length, never chunked; a chunked body would fail here.
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| fail(format!("no status in {head:?}")));
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(body).unwrap_or_else(|e| fail(format!("{e}: {body:?}")))
        };
        (status, json)
    }

    /// A client-credentials token for `client`.
    pub fn token(&self, client: Client) -> String {
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            client.id, client.secret
        );
        let (status, reply) = self.request(
            "POST",
            "/auth/token",
            None,
            Some(("application/x-www-form-urlencoded", &form)),
        );
        assert_eq!(status, 200, "token for {}: {reply}", client.id);
        reply["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token in {reply}"))
            .to_owned()
    }

    /// The utility, logged in.
    pub fn utility(&self) -> Utility<'_> {
        Utility {
            vtn: self,
            token: self.token(UTILITY),
        }
    }
}

/// The utility's side of the API, with its token.
pub struct Utility<'a> {
    vtn: &'a Vtn,
    token: String,
}

impl Utility<'_> {
    /// POSTs `object` to `path` and returns what the VTN created; panics unless 201.
    pub fn create(&self, path: &str, object: &Value) -> Value {
        let body = object.to_string();
        let (status, reply) = self.vtn.request(
            "POST",
            path,
            Some(&self.token),
            Some(("application/json", &body)),
        );
        assert_eq!(status, 201, "POST {path} {body}: {reply}");
        reply
    }

    /// PUTs `object` in place of what is at `path` (an event the utility cuts short, say)
    /// and returns what the VTN kept; panics unless 200.
    pub fn update(&self, path: &str, object: &Value) -> Value {
        let body = object.to_string();
        let (status, reply) = self.vtn.request(
            "PUT",
            path,
            Some(&self.token),
            Some(("application/json", &body)),
        );
        assert_eq!(status, 200, "PUT {path} {body}: {reply}");
        reply
    }

    /// GETs `path`; panics unless 200.
    pub fn get(&self, path: &str) -> Value {
        let (status, reply) = self.vtn.request("GET", path, Some(&self.token), None);
        assert_eq!(status, 200, "GET {path}: {reply}");
        reply
    }
}
