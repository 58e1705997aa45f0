//! The only `extern "C"` in the crate: the C stick driver, and safe wrappers that check every
//! length before a pointer crosses the boundary.

use crate::{Error, ErrorKind};
use alloc::{format, vec::Vec};
use std::ffi::CString;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawReply {
    data: [u8; 4],
    b6: u8,
    b7: u8,
    version: u16,
    kind: u8,
}

const REPLY_REGISTER: u8 = 1;
const REPLY_NONCE: u8 = 2;
const SCAN_NEED_MORE: i32 = 0;
const SCAN_FRAME: i32 = 1;
/// Mirrors `ASIC_MAX_FRAME` in asic.h.
const MAX_FRAME: usize = 152;

extern "C" {
    fn asic_crc5(data: *const u8, bits: usize) -> u8;
    fn asic_crc16(data: *const u8, len: usize) -> u16;
    fn asic_bm_command(out: *mut u8, cap: usize, hdr: u8, payload: *const u8, plen: usize)
        -> usize;
    fn asic_bm1397_job(
        out: *mut u8,
        cap: usize,
        job_id: u8,
        start_nonce: u32,
        header: *const u8,
        midstates: *const u32,
        n: usize,
    ) -> usize;
    fn asic_bm1370_job(
        out: *mut u8,
        cap: usize,
        job_header: u8,
        start_nonce: u32,
        header: *const u8,
    ) -> usize;
    fn asic_icarus_work(out: *mut u8, midstate: *const u32, header: *const u8, work_id: u8);
    fn asic_scan(
        buf: *const u8,
        len: usize,
        frame_len: usize,
        out: *mut RawReply,
        consumed: *mut usize,
    ) -> i32;
    fn asic_open(path: *const core::ffi::c_char, baud: u32) -> i32;
    fn asic_set_baud(fd: i32, baud: u32) -> i32;
    fn asic_flush(fd: i32) -> i32;
    fn asic_write_all(fd: i32, buf: *const u8, len: usize, timeout_ms: i32) -> core::ffi::c_long;
    fn asic_read(fd: i32, buf: *mut u8, cap: usize, timeout_ms: i32) -> core::ffi::c_long;
    fn asic_close(fd: i32) -> i32;
}

/// CRC5 (x⁵+x²+1, init 0x1F, MSB first) over the first `bits` bits of `data`.
pub fn crc5(data: &[u8], bits: usize) -> u8 {
    assert!(
        bits <= data.len() * 8,
        "crc5: {bits} bits of a {}-byte slice",
        data.len()
    );
    // SAFETY: the C code reads bytes 0..ceil(bits/8), within `data` by the assert above.
    unsafe { asic_crc5(data.as_ptr(), bits) }
}

/// CRC-16/CCITT-FALSE over `data`.
pub fn crc16(data: &[u8]) -> u16 {
    // SAFETY: reads exactly `data.len()` bytes from a live slice.
    unsafe { asic_crc16(data.as_ptr(), data.len()) }
}

/// A BM13xx command frame: `55 AA hdr len payload crc5`. `payload` is at most 6 bytes.
pub fn command(hdr: u8, payload: &[u8]) -> Vec<u8> {
    assert!(
        payload.len() <= 6,
        "BM13xx commands carry at most 6 payload bytes"
    );
    let mut out = [0u8; 16];
    // SAFETY: `out` has 16 bytes, more than the 11 the largest command needs, and the C code
    // checks `cap` anyway; `payload` is live for `payload.len()` bytes.
    let n = unsafe {
        asic_bm_command(
            out.as_mut_ptr(),
            out.len(),
            hdr,
            payload.as_ptr(),
            payload.len(),
        )
    };
    out[..n].to_vec()
}

/// A BM1397 job for 1 to 4 midstates (state words after the header's first 64 bytes),
/// starting at nonce `start` (every reference sends 0).
pub fn bm1397_job(job_id: u8, start: u32, header: &[u8; 80], midstates: &[[u32; 8]]) -> Vec<u8> {
    assert!(
        (1..=4).contains(&midstates.len()),
        "a BM1397 job has 1 to 4 midstates"
    );
    let mut out = [0u8; MAX_FRAME];
    // SAFETY: `header` is 80 bytes; `midstates` is `len` arrays of 8 contiguous u32s, so the C
    // code's `n * 8` words are in bounds; `out` holds MAX_FRAME bytes, the 4-midstate size, and
    // the C code checks `cap`.
    let n = unsafe {
        asic_bm1397_job(
            out.as_mut_ptr(),
            out.len(),
            job_id,
            start,
            header.as_ptr(),
            midstates.as_ptr().cast::<u32>(),
            midstates.len(),
        )
    };
    out[..n].to_vec()
}

/// A BM1366/68/70 full-header job starting at nonce `start` (every reference sends 0).
pub fn bm1370_job(job_header: u8, start: u32, header: &[u8; 80]) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME];
    // SAFETY: `header` is 80 bytes and `out` MAX_FRAME (> 88) bytes; the C code checks `cap`.
    let n = unsafe {
        asic_bm1370_job(
            out.as_mut_ptr(),
            out.len(),
            job_header,
            start,
            header.as_ptr(),
        )
    };
    out[..n].to_vec()
}

/// An Icarus 64-byte work packet.
pub fn icarus_work(midstate: &[u32; 8], header: &[u8; 80], work_id: u8) -> [u8; 64] {
    let mut out = [0u8; 64];
    // SAFETY: all three pointers come from arrays of exactly the sizes the C code uses.
    unsafe {
        asic_icarus_work(
            out.as_mut_ptr(),
            midstate.as_ptr(),
            header.as_ptr(),
            work_id,
        )
    };
    out
}

/// One reply a device sent, decoded but not yet believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A register read answer.
    Register {
        /// The value, MSB first on the wire.
        value: u32,
        /// The answering chip's address.
        chip: u8,
        /// The register.
        register: u8,
    },
    /// A nonce.
    Nonce {
        /// The nonce bytes as on the wire (= header bytes 76..80).
        wire: [u8; 4],
        /// Byte 6 (BM13xx).
        b6: u8,
        /// Byte 7: job id and midstate (BM1397), result header (BM1370), work id (ANU).
        b7: u8,
        /// Rolled version bits >> 13 (11-byte replies).
        version_bits: u16,
    },
}

/// What [`scan`] found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan {
    /// A complete, checksum-valid frame; drop `consumed` bytes.
    Frame(Reply, usize),
    /// Garbage or a frame with a bad checksum; drop `consumed` bytes.
    Bad(usize),
    /// Not enough bytes yet; drop `consumed` bytes (skipped garbage, possibly 0).
    NeedMore(usize),
}

/// Decodes the next reply of `frame_len` bytes (4, 5, 9 or 11) at the start of `buf`.
pub fn scan(buf: &[u8], frame_len: usize) -> Scan {
    let mut raw = RawReply::default();
    let mut consumed = 0usize;
    // SAFETY: `buf` is live for `buf.len()` bytes and the C code reads no further; `raw` and
    // `consumed` are valid for writes. The C code never sets `consumed` above `len`.
    let status = unsafe { asic_scan(buf.as_ptr(), buf.len(), frame_len, &mut raw, &mut consumed) };
    let consumed = consumed.min(buf.len());
    match status {
        SCAN_FRAME if raw.kind == REPLY_REGISTER => Scan::Frame(
            Reply::Register {
                value: u32::from_be_bytes(raw.data),
                chip: raw.b6,
                register: raw.b7,
            },
            consumed,
        ),
        SCAN_FRAME if raw.kind == REPLY_NONCE => Scan::Frame(
            Reply::Nonce {
                wire: raw.data,
                b6: raw.b6,
                b7: raw.b7,
                version_bits: raw.version,
            },
            consumed,
        ),
        SCAN_NEED_MORE => Scan::NeedMore(consumed),
        // An unexpected status or kind from C is treated like a bad frame: drop and move on,
        // but always make progress so a caller's loop terminates.
        _ => Scan::Bad(consumed.max(1).min(buf.len().max(1))),
    }
}

fn os_error(what: &str, code: i64) -> Error {
    let e = std::io::Error::from_raw_os_error(i32::try_from(-code).unwrap_or(libc::EIO));
    if code == -i64::from(libc::EPIPE) {
        Error::new(
            ErrorKind::Device,
            format!("{what}: the device hung up (unplugged?)"),
        )
    } else {
        Error::new(ErrorKind::Device, format!("{what}: {e}"))
    }
}

/// An open serial port, closed on drop.
#[derive(Debug)]
pub struct Port {
    fd: i32,
}

impl Port {
    /// Opens `path` raw, 8N1, at the nearest termios rate to `baud`.
    pub fn open(path: &str, baud: u32) -> Result<Port, Error> {
        let c = CString::new(path)
            .map_err(|_| Error::invalid(format!("device path {path:?} contains a NUL byte")))?;
        // SAFETY: `c` is a NUL-terminated string that outlives the call.
        let fd = unsafe { asic_open(c.as_ptr(), baud) };
        if fd == -libc::ENOTTY {
            return Err(Error::new(
                ErrorKind::Device,
                format!("{path} is not a serial port: --device must name the stick's tty"),
            ));
        }
        if fd < 0 {
            return Err(os_error(&format!("opening {path}"), i64::from(fd)));
        }
        Ok(Port { fd })
    }

    /// Changes the line rate after pending output has drained.
    pub fn set_baud(&self, baud: u32) -> Result<(), Error> {
        // SAFETY: `fd` is open for the life of `self`.
        let rc = unsafe { asic_set_baud(self.fd, baud) };
        if rc < 0 {
            return Err(os_error("setting the baud rate", i64::from(rc)));
        }
        Ok(())
    }

    /// Discards input the device sent that has not been read.
    pub fn flush(&self) -> Result<(), Error> {
        // SAFETY: `fd` is open for the life of `self`.
        let rc = unsafe { asic_flush(self.fd) };
        if rc < 0 {
            return Err(os_error("flushing", i64::from(rc)));
        }
        Ok(())
    }

    /// Writes all of `bytes`, waiting at most `timeout_ms` for the line to accept each part.
    pub fn write_all(&self, bytes: &[u8], timeout_ms: i32) -> Result<(), Error> {
        // SAFETY: `bytes` is live for its length; `fd` is open.
        let n = unsafe { asic_write_all(self.fd, bytes.as_ptr(), bytes.len(), timeout_ms) };
        if n < 0 {
            return Err(os_error("writing to the device", n as i64));
        }
        Ok(())
    }

    /// Appends what arrives within `timeout_ms` to `buf` (at most `max` bytes); returns how many.
    pub fn read_into(
        &self,
        buf: &mut Vec<u8>,
        max: usize,
        timeout_ms: i32,
    ) -> Result<usize, Error> {
        let mut chunk = [0u8; 4096];
        let cap = max.min(chunk.len());
        // SAFETY: `chunk` has at least `cap` writable bytes; `fd` is open.
        let n = unsafe { asic_read(self.fd, chunk.as_mut_ptr(), cap, timeout_ms) };
        if n < 0 {
            return Err(os_error("reading from the device", n as i64));
        }
        let n = usize::try_from(n).map_or(0, |n| n.min(cap));
        buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }
}

impl Drop for Port {
    fn drop(&mut self) {
        // SAFETY: `fd` was opened by `asic_open` and is closed exactly once, here.
        unsafe { asic_close(self.fd) };
    }
}
