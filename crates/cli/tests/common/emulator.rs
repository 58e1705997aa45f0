//! `sha256d emulate` as a separate process on a real pseudo-terminal, for the tests that
//! drive emulated sticks as a user drives real ones.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// An emulator process, killed on drop so a failed assertion does not leave it running.
pub struct Emulator {
    child: Child,
    /// Its pty, to give `--device`.
    pub path: String,
}

impl Emulator {
    /// `sha256d emulate ARGS...`, once it has printed its pty.
    pub fn start(args: &[&str]) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sha256d"))
            .arg("emulate")
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the emulator starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // Guard before reading, so a bad first line still kills the child.
        let mut emu = Emulator {
            child,
            path: String::new(),
        };
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the emulator prints its pty");
        emu.path = line
            .trim_end()
            .strip_prefix("pty: ")
            .unwrap_or_else(|| panic!("expected `pty: PATH`, got {line:?}"))
            .to_string();
        emu
    }

    /// Whether the process has ended (an `unplug` fault ends it when it pulls the stick).
    // Each test binary includes this file; not every one pulls a stick.
    #[allow(dead_code)]
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // It may already have exited; either way it must not outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
