//! Stamps the version line with the commit the binary was built from and the features built
//! in. Without git (a crates.io tarball) the commit is `unknown`, or whatever
//! `SHA256D_GIT_COMMIT` says, for packagers who know it.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=SHA256D_GIT_COMMIT");
    let commit = std::env::var("SHA256D_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let commit = git(&["rev-parse", "--short=12", "HEAD"])?;
            // Rerun when HEAD moves or the branch it names gets a new commit. Only paths that
            // exist: cargo reruns a script on every build for a missing one.
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
                if let Some(p) = git(&["rev-parse", "--git-path", name]) {
                    if std::path::Path::new(&p).exists() {
                        println!("cargo:rerun-if-changed={p}");
                    }
                }
            }
            Some(commit)
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=SHA256D_GIT_COMMIT={commit}");

    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_lowercase))
        .filter(|f| f != "default")
        .collect();
    features.sort();
    let list = if features.is_empty() {
        "none".to_string()
    } else {
        features.join(" ")
    };
    println!("cargo:rustc-env=SHA256D_FEATURES={list}");

    // For `bench --json`: a published comparison names the compiler and target it ran.
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "unknown".to_string(), |v| v.trim().to_string());
    println!("cargo:rustc-env=SHA256D_RUSTC={version}");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!("cargo:rustc-env=SHA256D_TARGET={target}");
}
