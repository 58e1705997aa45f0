//! Running `sha256d mine` as a user does, for the tests that judge its JSON summary.

use std::process::{Command, Output};

/// `sha256d mine ARGS...`, waited for.
pub fn mine(args: &[&str]) -> Output {
    mine_with_env(args, &[])
}

/// `sha256d mine ARGS...` with the variables `env` set, waited for.
pub fn mine_with_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .arg("mine")
        .args(args)
        // Tests read stderr; a RUST_LOG in the environment would add library lines to it.
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

/// The `--json` summary of a run that must have succeeded.
pub fn summary(o: &Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "mine failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("one JSON summary object")
}
