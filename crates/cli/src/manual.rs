//! `sha256d completions SHELL` and `sha256d man [SUBCOMMAND]`, generated from the same
//! definition that parses the command line, so they never drift from it.

use sha256d::{Error, ErrorKind};
use std::io::Write;

fn io(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write to stdout: {e}"))
}

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, cmd: &mut clap::Command) -> Result<(), Error> {
    let mut out = Vec::new();
    clap_complete::generate(shell, cmd, "sha256d", &mut out);
    std::io::stdout().write_all(&out).map_err(io)
}

/// Prints the roff manual page of `cmd`, or of its subcommand `sub` (as `sha256d-SUB(1)`).
pub fn man(cmd: &clap::Command, sub: Option<&str>) -> Result<(), Error> {
    let cmd = match sub {
        None => cmd.clone(),
        Some(name) => {
            let found = cmd.find_subcommand(name).ok_or_else(|| {
                let names: Vec<_> = cmd
                    .get_subcommands()
                    .filter(|s| !s.is_hide_set())
                    .map(|s| s.get_name())
                    .collect();
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("no subcommand {name:?}; there are {}", names.join(", ")),
                )
            })?;
            // The page's title and synopsis name the whole command, as `git-log(1)` does.
            found
                .clone()
                .name(format!("sha256d-{name}"))
                .bin_name(format!("sha256d {name}"))
                .version(crate::VERSION)
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).map_err(io)?;
    std::io::stdout().write_all(&out).map_err(io)
}
