//! The pseudo-terminal the emulated stick lives on.

use crate::Error;

use std::ffi::CStr;

/// The master side of a pty, plus one slave descriptor held open so the master never sees a
/// hang-up between two host sessions (a driver that closes and reopens the device).
pub(super) struct Pty {
    master: i32,
    slave: i32,
    path: String,
}

fn last_os_error(what: &str) -> Error {
    Error::new(format!("{what}: {}", std::io::Error::last_os_error()))
}

impl Pty {
    pub(super) fn open() -> Result<Pty, Error> {
        // SAFETY: plain libc calls on descriptors this function owns; `name` is a live buffer
        // whose length is passed, and ptsname_r NUL-terminates within it on success.
        unsafe {
            let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
            if master < 0 {
                return Err(last_os_error("posix_openpt"));
            }
            if libc::grantpt(master) != 0 || libc::unlockpt(master) != 0 {
                let e = last_os_error("grantpt/unlockpt");
                libc::close(master);
                return Err(e);
            }
            let mut name = [0 as libc::c_char; 128];
            if libc::ptsname_r(master, name.as_mut_ptr(), name.len()) != 0 {
                let e = last_os_error("ptsname_r");
                libc::close(master);
                return Err(e);
            }
            let path = CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
            let slave = libc::open(
                name.as_ptr(),
                libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
            );
            if slave < 0 {
                let e = last_os_error("opening the pty slave");
                libc::close(master);
                return Err(e);
            }
            let flags = libc::fcntl(master, libc::F_GETFL);
            libc::fcntl(master, libc::F_SETFL, flags | libc::O_NONBLOCK);
            Ok(Pty {
                master,
                slave,
                path,
            })
        }
    }

    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// Waits up to `timeout_ms` for input, then reads what is there into `buf`.
    pub(super) fn read(&self, buf: &mut [u8], timeout_ms: i32) -> usize {
        let mut p = libc::pollfd {
            fd: self.master,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `p` is one valid pollfd; `buf` is live for its length.
        unsafe {
            if libc::poll(&mut p, 1, timeout_ms) <= 0 || p.revents & libc::POLLIN == 0 {
                return 0;
            }
            let n = libc::read(self.master, buf.as_mut_ptr().cast(), buf.len());
            usize::try_from(n).unwrap_or(0)
        }
    }

    /// Writes what the line takes now; returns how many bytes went out.
    pub(super) fn write(&self, bytes: &[u8]) -> usize {
        // SAFETY: `bytes` is live for its length; the master is non-blocking.
        let n = unsafe { libc::write(self.master, bytes.as_ptr().cast(), bytes.len()) };
        usize::try_from(n).unwrap_or(0)
    }

    /// The line settings the host applied to the slave (TCGETS on a master reports the slave's).
    pub(super) fn host_termios(&self) -> Option<HostLine> {
        // SAFETY: `t` is a plain-old-data struct that tcgetattr fills in.
        unsafe {
            let mut t: libc::termios = core::mem::zeroed();
            if libc::tcgetattr(self.master, &mut t) != 0 {
                return None;
            }
            let raw = t.c_lflag & (libc::ICANON | libc::ECHO | libc::ISIG | libc::IEXTEN) == 0
                && t.c_iflag
                    & (libc::ICRNL | libc::INLCR | libc::IGNCR | libc::IXON | libc::ISTRIP)
                    == 0
                && t.c_oflag & libc::OPOST == 0
                && t.c_cflag & libc::CSIZE == libc::CS8
                && t.c_cflag & libc::PARENB == 0;
            Some(HostLine {
                raw,
                baud: baud_of(libc::cfgetospeed(&t)),
            })
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // SAFETY: both descriptors were opened by `Pty::open` and are closed once, here.
        unsafe {
            libc::close(self.slave);
            libc::close(self.master);
        }
    }
}

/// What the host configured on its end of the line.
pub(super) struct HostLine {
    /// No line discipline processing in either direction, 8 data bits, no parity.
    pub(super) raw: bool,
    /// The speed in bits per second (0 if termios reports a code this table lacks).
    pub(super) baud: u32,
}

fn baud_of(code: libc::speed_t) -> u32 {
    const TABLE: &[(libc::speed_t, u32)] = &[
        (libc::B9600, 9600),
        (libc::B19200, 19200),
        (libc::B38400, 38400),
        (libc::B57600, 57600),
        (libc::B115200, 115_200),
        (libc::B230400, 230_400),
        (libc::B460800, 460_800),
        (libc::B500000, 500_000),
        (libc::B921600, 921_600),
        (libc::B1000000, 1_000_000),
        (libc::B1500000, 1_500_000),
        (libc::B2000000, 2_000_000),
        (libc::B3000000, 3_000_000),
    ];
    TABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(0, |(_, b)| *b)
}
