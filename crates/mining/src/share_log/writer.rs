//! Appending to the share log: one write and one sync per line, rotation by size, and
//! resuming the chain of a log that exists (after a restart, or a crash).

use super::record::{line_hash, Finder, Record, CHAIN_START, MAX_LINE};
use crate::{Share, Verdict};
use sha256d::{Error, ErrorKind};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The size past which a log is rotated, unless the caller says otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;

/// The smallest rotation size: a file must hold the longest line.
pub const MIN_MAX_BYTES: u64 = MAX_LINE as u64 + 1;

/// An open share log. Each [`ShareLog::record`] is one line, written with one `write` and
/// synced before it returns, so a crash loses at most the line being written.
#[derive(Debug)]
pub struct ShareLog {
    path: PathBuf,
    file: File,
    /// Bytes in `file`, all of them whole lines.
    size: u64,
    max_bytes: u64,
    next_seq: u64,
    prev: [u8; 32],
    written: u64,
}

impl ShareLog {
    /// Opens `path` for appending, creating it if need be, and rotating it to `path.N` (N one
    /// more than the highest already there) whenever the next line would take it past
    /// `max_bytes`. An existing log's chain goes on: its last line (or, when `path` is
    /// empty, the last line of the newest rotated file) is checked, and the next line
    /// follows it. A last line cut short, as a crash while writing it leaves it, is removed
    /// first. Returns the log and what the operator should hear about its past.
    pub fn open(path: &Path, max_bytes: u64) -> Result<(ShareLog, Vec<String>), Error> {
        if max_bytes < MIN_MAX_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("a share log must be allowed at least {MIN_MAX_BYTES} bytes a file"),
            ));
        }
        let file = open_locked(path)?;
        let mut notes = Vec::new();
        let (size, last) = cut_partial_line(&file, path, &mut notes)?;
        let last = match last {
            Some(line) => Some((line, path.to_path_buf())),
            None => newest_rotated(path)?
                .map(|rotated| {
                    let (_, line) = tail(&File::open(&rotated)?, &rotated, true)?;
                    Ok::<_, Error>(line.map(|l| (l, rotated)))
                })
                .transpose()?
                .flatten(),
        };
        let (next_seq, prev) = match last {
            Some((line, from)) => {
                let record = Record::parse(&line)
                    .and_then(|r| r.check().map(|()| r))
                    .map_err(|e| {
                        Error::parse(format!(
                            "share log {}: its last line does not verify ({}); check it with \
                             `sha256d verify-log`, and move it aside to start a new log",
                            from.display(),
                            e.message()
                        ))
                    })?;
                notes.push(format!(
                    "share log {}: continuing its chain after line seq {}",
                    path.display(),
                    record.seq
                ));
                let next = record.seq.checked_add(1).ok_or_else(|| {
                    Error::parse(format!("share log {}: its chain is full", from.display()))
                })?;
                (next, line_hash(&line))
            }
            None => (0, CHAIN_START),
        };
        Ok((
            ShareLog {
                path: path.to_path_buf(),
                file,
                size,
                max_bytes,
                next_seq,
                prev,
                written: 0,
            },
            notes,
        ))
    }

    /// Appends the line for `verdict` on `share`, found by `engine` (where known); `to_node`
    /// when the source is a node (see [`crate::Source::block_verdicts_are_final`]).
    pub fn record(
        &mut self,
        share: &Share,
        verdict: &Verdict,
        engine: Option<Finder>,
        to_node: bool,
    ) -> Result<(), Error> {
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let record = Record::of_verdict(
            (self.next_seq, self.prev),
            time_ms,
            engine,
            share,
            verdict,
            to_node,
        );
        let mut line = record.to_line().into_bytes();
        if line.len() > MAX_LINE {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "share log: a line of {} bytes is too long to write",
                    line.len()
                ),
            ));
        }
        let hash = line_hash(&line);
        line.push(b'\n');
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        if let Err(e) = self
            .file
            .write_all(&line)
            .and_then(|()| self.file.sync_data())
        {
            // Cut a partly written line back off, so the file holds whole lines only.
            let _ = self.file.set_len(self.size);
            return Err(self.error("cannot write", e));
        }
        self.size += line.len() as u64;
        self.prev = hash;
        self.next_seq += 1;
        self.written += 1;
        Ok(())
    }

    /// The hash of the last line: keep it somewhere else, and `verify-log --head` shows later
    /// that no line was changed or removed up to it.
    pub fn head(&self) -> [u8; 32] {
        self.prev
    }

    /// Lines written since [`ShareLog::open`].
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotate(&mut self) -> Result<(), Error> {
        let n = match newest_rotated(&self.path)? {
            Some(p) => rotation_number(&self.path, &p).map_or(1, |n| n + 1),
            None => 1,
        };
        let to = rotated_path(&self.path, n);
        fs::rename(&self.path, &to).map_err(|e| self.error("cannot rotate", e))?;
        self.file = open_locked(&self.path)?;
        self.size = 0;
        // The rename is durable only once the directory is.
        if let Ok(dir) = File::open(parent(&self.path)) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    fn error(&self, what: &str, e: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Io,
            format!("share log {}: {what}: {e}", self.path.display()),
        )
    }
}

/// Opens `path` for appending and locks it, so two miners never write one chain.
fn open_locked(path: &Path) -> Result<File, Error> {
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("share log {}: cannot open: {e}", path.display()),
            )
        })?;
    file.try_lock().map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!(
                "share log {}: cannot lock it ({e}); is another miner writing it?",
                path.display()
            ),
        )
    })?;
    Ok(file)
}

/// Removes a last line cut short from `file`; returns the size left and its last line.
fn cut_partial_line(
    file: &File,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<(u64, Option<Vec<u8>>), Error> {
    let (whole, last) = tail(file, path, false)?;
    let len = file.metadata()?.len();
    if whole < len {
        file.set_len(whole)?;
        file.sync_data()?;
        notes.push(format!(
            "share log {}: removed a last line cut short ({} bytes), as a crash while writing \
             it leaves it",
            path.display(),
            len - whole
        ));
        // With the partial line gone, the line before it is the last.
        return tail(file, path, true);
    }
    Ok((whole, last))
}

/// Where `file`'s whole lines end, and its last whole line (without its newline). Reads at
/// most two lines' worth from the end. With `whole_only` a last line cut short is an error.
fn tail(file: &File, path: &Path, whole_only: bool) -> Result<(u64, Option<Vec<u8>>), Error> {
    let len = file.metadata()?.len();
    let window = 2 * (MAX_LINE as u64 + 1);
    let start = len.saturating_sub(window);
    let mut buf = Vec::new();
    let mut reader = file;
    reader.seek(SeekFrom::Start(start))?;
    reader.take(window).read_to_end(&mut buf)?;
    let too_long = || {
        Error::parse(format!(
            "share log {}: it ends in a line longer than {MAX_LINE} bytes: not a share log?",
            path.display()
        ))
    };
    // The end of the last whole line, newline included.
    let whole = match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start > 0 => return Err(too_long()),
        None => 0,
    };
    if whole < buf.len() && (whole_only || buf.len() - whole > MAX_LINE) {
        return Err(Error::parse(format!(
            "share log {}: its last line is cut short or not a share log line",
            path.display()
        )));
    }
    if whole == 0 {
        return Ok((start, None));
    }
    let line_start = match buf[..whole - 1].iter().rposition(|&b| b == b'\n') {
        Some(i) => i + 1,
        None if start > 0 => return Err(too_long()),
        None => 0,
    };
    Ok((
        start + whole as u64,
        Some(buf[line_start..whole - 1].to_vec()),
    ))
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// `path.N`.
pub(super) fn rotated_path(path: &Path, n: u64) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// N, if `candidate` is `path.N`.
fn rotation_number(path: &Path, candidate: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = candidate.file_name()?.to_str()?.strip_prefix(name)?;
    let digits = rest.strip_prefix('.')?;
    // `path.01` is not one this writer made.
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The rotated file with the highest number, if any.
pub(super) fn newest_rotated(path: &Path) -> Result<Option<PathBuf>, Error> {
    let dir = parent(path);
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in fs::read_dir(dir)? {
        let candidate = entry?.path();
        if let Some(n) = rotation_number(path, &candidate) {
            if newest.as_ref().is_none_or(|(m, _)| n > *m) {
                newest = Some((n, candidate));
            }
        }
    }
    Ok(newest.map(|(_, p)| p))
}

/// Every rotated file of `path`, oldest first, then `path` (unless it is missing while
/// rotated files exist, as a crash right after a rotation leaves it): one chain, in order.
pub fn chain_files(path: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut rotated = Vec::new();
    for entry in fs::read_dir(parent(path))? {
        let candidate = entry?.path();
        if let Some(n) = rotation_number(path, &candidate) {
            rotated.push((n, candidate));
        }
    }
    rotated.sort();
    let mut files: Vec<PathBuf> = rotated.into_iter().map(|(_, p)| p).collect();
    if files.is_empty() || path.exists() {
        files.push(path.to_path_buf());
    }
    Ok(files)
}
