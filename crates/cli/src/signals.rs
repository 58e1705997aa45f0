//! Ctrl-C and SIGTERM: the first stops the run the way a limit would, so what was found is
//! still reported; a second, for a peer or device that never lets go, quits at once.

use sha256d::{Error, ErrorKind};
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `stop` on the first Ctrl-C or SIGTERM; exits with status 130 on the second.
pub fn on_interrupt(stop: impl Fn() + Send + 'static) -> Result<(), Error> {
    let seen = AtomicBool::new(false);
    ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::Relaxed) {
            std::process::exit(130);
        }
        stop();
    })
    .map_err(|e| Error::new(ErrorKind::Io, format!("cannot catch Ctrl-C: {e}")))
}
