//! The power policy's small files: a capped read, and an atomic replace that survives a crash.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

/// Reads at most `cap` bytes of `path`; a longer file is an error, found before it is stored.
pub(super) fn read_capped(path: &Path, cap: usize) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    // One byte past the cap tells a file at the cap from a longer one.
    file.take(cap as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(bytes)
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new file: write
/// a temporary file beside it, fsync it, rename it over, fsync the directory.
pub(super) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = Path::new(&tmp);
    let mut file = File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(tmp, path)?;
    sync_dir(path)
}

/// Removes `path` (already gone is fine) and makes the removal durable.
pub(super) fn remove_durably(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other?,
    }
    sync_dir(path)
}

/// Fsyncs the directory holding `path`, so a rename or removal in it is on disk.
fn sync_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
