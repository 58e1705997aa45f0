//! `sha256d`: search, hash and benchmark Bitcoin proof-of-work from the command line.
//!
//! The subcommands and their flags are an interface other tools script against: keep them
//! stable. Every failure, a bad flag included, is one line `error: ...` on stderr and exit
//! status 1.

/// `println!` that ends the program with the usual one-line error when stdout is gone (`|
/// head`), where `println!` would panic.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::write_out(format_args!($($arg)*)) };
}

/// `eprintln!` that carries on when stderr is closed, where `eprintln!` would panic.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::write_err(format_args!($($arg)*)) };
}

mod api_args;
mod api_run;
mod bench;
mod config;
mod device_events;
#[cfg(target_os = "linux")]
mod emulate;
mod energy_args;
mod engine_args;
mod explain;
mod hotplug;
mod logging;
mod manual;
mod mine;
mod node_args;
mod power_args;
mod power_run;
mod progress;
mod search;
mod secret;
mod signals;
mod summary;
mod template_provider;
mod values;
mod verify_log;

use clap::{CommandFactory, Parser, Subcommand};
use serde_json::json;
use sha256d::{Error, Header};
use std::fmt::Arguments;
use std::io::Write;
use std::process::ExitCode;

/// The version line: crate version, the commit it was built from and the features built in
/// (both from build.rs).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("SHA256D_GIT_COMMIT"),
    ", features: ",
    env!("SHA256D_FEATURES"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "sha256d",
    version = VERSION,
    about = "Bitcoin proof-of-work nonce search"
)]
struct Cli {
    #[command(flatten)]
    log: logging::LogArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the block hash (explorer byte order) of a header given as 160 hex digits.
    Hash {
        /// The 80-byte header, hex.
        header: String,
    },
    /// Find every nonce (and rolled version) whose hash meets a target.
    Search(search::SearchArgs),
    /// Walk through one header's proof of work: its fields and their byte order, the nBits
    /// decoding, the midstate, both SHA-256 passes and the comparison with the target.
    Explain(explain::ExplainArgs),
    /// List every engine, whether it can run here, and why not.
    Engines {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check that every available engine agrees, then time each against reference code.
    Bench(bench::BenchArgs),
    /// Mine for real: shares for a Stratum pool, or blocks for a node (getblocktemplate).
    Mine(Box<mine::MineArgs>),
    /// Serve a Stratum V2 pool the templates of a getblocktemplate node (prints the authority
    /// public key the pool pins), and submit the blocks it finds.
    TemplateProvider(Box<template_provider::TemplateProviderArgs>),
    /// Check a share log (`mine --share-log`): every header re-hashed against its recorded
    /// hash and target, and the chain of line hashes unbroken. Exit 0 with a one-line summary
    /// when intact, 1 naming the first bad line.
    VerifyLog(verify_log::VerifyLogArgs),
    /// Emulate a USB ASIC stick on a pseudo-terminal (prints `pty: PATH` first).
    #[cfg(target_os = "linux")]
    Emulate(emulate::EmulateArgs),
    /// `bench`'s counted child: scans a few nonces while the bench single-steps it.
    #[cfg(target_os = "linux")]
    #[command(hide = true)]
    StepKernel(bench::StepKernelArgs),
    /// Print a shell completion script, e.g. `sha256d completions bash > sha256d.bash`.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `sha256d` or one subcommand: `sha256d man | man -l -`.
    Man {
        /// A subcommand's page instead of the main one.
        subcommand: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = match config::expand(&Cli::command(), std::env::args_os().collect()) {
        Ok(args) => args,
        Err(e) => {
            errln!("error: {}", one_line(&e.to_string()));
            return ExitCode::FAILURE;
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    logging::init(&cli.log);
    let done = |r: Result<(), Error>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::Hash { header } => done(hash(&header)),
        Command::Search(args) => search::run(args),
        Command::Explain(args) => done(explain::run(args)),
        Command::Engines { json } => done(engines(json)),
        Command::Bench(args) => done(bench::run(args)),
        Command::Mine(args) => done(mine::run(*args)),
        Command::TemplateProvider(args) => done(template_provider::run(*args)),
        Command::VerifyLog(args) => done(verify_log::run(args)),
        #[cfg(target_os = "linux")]
        Command::Emulate(args) => done(emulate::run(args)),
        #[cfg(target_os = "linux")]
        Command::StepKernel(args) => bench::step_kernel(&args),
        Command::Completions { shell } => done(manual::completions(shell, &mut Cli::command())),
        Command::Man { subcommand } => done(manual::man(&Cli::command(), subcommand.as_deref())),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            let line = format!("error: {}", one_line(&e.to_string()));
            logging::report(log::Level::Error, "exit_error", &line);
            ExitCode::FAILURE
        }
    }
}

/// One line on stdout; see [`outln`].
fn write_out(line: Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{line}").and_then(|()| out.flush()) {
        errln!("error: cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// One line on stderr; see [`errln`].
fn write_err(line: Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Help and version go to stdout with status 0; every other clap error is condensed into the
/// one `error: ...` line (with clap's tips) and status 1 that every failure here gets.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // Nothing useful is left to do if stdout is gone.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // Bare `sha256d`: the help (on stderr), as the answer to a question, but still a failure.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return ExitCode::FAILURE;
        }
        _ => {}
    }
    errln!("error: {}", condense(&e.render().to_string()));
    ExitCode::FAILURE
}

/// Clap's multi-line error text as one line: the message, the items listed under it, and its
/// tips; not the usage block, which `--help` shows.
fn condense(text: &str) -> String {
    let mut out = String::new();
    let mut listing = false;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if out.is_empty() {
            out.push_str(line.strip_prefix("error: ").unwrap_or(line));
            listing = out.ends_with(':');
        } else if let Some(tip) = line.strip_prefix("tip: ") {
            out.push_str("; ");
            out.push_str(tip);
        } else {
            out.push_str(if listing { " " } else { ", " });
            out.push_str(line);
            listing = false;
        }
    }
    if out.is_empty() {
        out.push_str("bad command line");
    }
    one_line(&(out + " (see --help)"))
}

/// An error or usage text as the one line a failure prints, every control character visible
/// (errors can quote a pool's or a node's words).
fn one_line(text: &str) -> String {
    sha256d_mining::sanitize::for_terminal_max(text, 4000)
}

fn hash(header: &str) -> Result<(), Error> {
    outln!("{}", Header::from_hex(header)?.block_hash());
    Ok(())
}

fn engines(as_json: bool) -> Result<(), Error> {
    let list = sha256d::engines();
    if as_json {
        let rows: Vec<_> = list
            .iter()
            .map(|s| match &s.availability {
                Ok(d) => json!({"name": s.name, "available": true, "detail": d}),
                Err(why) => json!({"name": s.name, "available": false, "detail": why}),
            })
            .collect();
        outln!("{}", json!({ "engines": rows }));
    } else {
        for s in &list {
            match &s.availability {
                Ok(d) => outln!("{:<10} available      {d}", s.name),
                Err(why) => outln!("{:<10} not available  {why}", s.name),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_errors_condense_to_one_line_with_their_tips() {
        assert_eq!(
            condense(
                "error: unexpected argument '--nonce' found\n\n  tip: a similar argument \
                 exists: '--nonces'\n\nUsage: sha256d search --nonces <A..B>\n\nFor more \
                 information, try '--help'.\n"
            ),
            "unexpected argument '--nonce' found; a similar argument exists: '--nonces' (see --help)"
        );
        assert_eq!(
            condense(
                "error: the following required arguments were not provided:\n  --header \
                 <HEADER>\n  <--target <TARGET>|--bits <BITS>>\n\nUsage: sha256d search\n"
            ),
            "the following required arguments were not provided: --header <HEADER>, \
             <--target <TARGET>|--bits <BITS>> (see --help)"
        );
        assert_eq!(condense(""), "bad command line (see --help)");
    }

    #[test]
    fn one_line_escapes_control_characters() {
        assert_eq!(one_line("a\nb\u{1b}[2J\tc"), "a b\\x1b[2J c");
        assert_eq!(one_line("plain, ünïcode"), "plain, ünïcode");
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
