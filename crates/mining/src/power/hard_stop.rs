//! The persisted hard stop: once engaged it survives a restart, until it is released or its
//! `until` passes. The file is JSON, `{"source":"api","since":"2026-05-04T18:00:00Z",
//! "until":null,"reason":"grid emergency"}`, replaced atomically; a file that cannot be read
//! back is an error the miner must refuse to start on, never a silent resume.

use super::file::{read_capped, remove_durably, write_atomic};
use jiff::Timestamp;
use serde_json::{json, Value};
use std::fmt;
use std::path::{Path, PathBuf};

/// The most bytes a hard-stop file may hold.
pub const MAX_HARD_STOP_FILE_BYTES: usize = 16 * 1024;
const MAX_SOURCE_CHARS: usize = 128;
const MAX_REASON_CHARS: usize = 1024;

/// An engaged hard stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardStop {
    /// Who engaged it (`api`, `openadr`, an operator's name), at most 128 characters.
    pub source: String,
    /// When it was engaged.
    pub since: Timestamp,
    /// When it lapses by itself; `None`: only an explicit release ends it.
    pub until: Option<Timestamp>,
    /// Why, for the log and the dashboard, at most 1024 characters.
    pub reason: String,
}

impl HardStop {
    /// Whether it has lapsed at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.until.is_some_and(|until| until <= now)
    }

    /// The file's JSON form.
    pub fn to_json(&self) -> String {
        json!({
            "source": self.source,
            "since": self.since.to_string(),
            "until": self.until.map(|u| u.to_string()),
            "reason": self.reason,
        })
        .to_string()
    }

    /// Parses the file's JSON form; unknown fields are ignored, missing or mistyped ones refused.
    pub fn from_json(bytes: &[u8]) -> Result<HardStop, String> {
        if bytes.len() > MAX_HARD_STOP_FILE_BYTES {
            return Err(format!("larger than {MAX_HARD_STOP_FILE_BYTES} bytes"));
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let text = |field: &str, max: usize| -> Result<String, String> {
            let s = value
                .get(field)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("`{field}` must be a string"))?;
            if s.chars().count() > max {
                return Err(format!("`{field}` is longer than {max} characters"));
            }
            Ok(s.to_string())
        };
        let instant = |field: &str, s: &str| {
            s.parse::<Timestamp>()
                .map_err(|e| format!("`{field}` is not an RFC 3339 instant: {e}"))
        };
        let since = instant("since", &text("since", 64)?)?;
        let until = match value.get("until") {
            None | Some(Value::Null) => None,
            Some(_) => Some(instant("until", &text("until", 64)?)?),
        };
        Ok(HardStop {
            source: text("source", MAX_SOURCE_CHARS)?,
            since,
            until,
            reason: text("reason", MAX_REASON_CHARS)?,
        })
    }
}

/// A hard-stop file that cannot be read, parsed or written; names the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardStopError {
    path: PathBuf,
    message: String,
}

impl fmt::Display for HardStopError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hard stop file {}: {}",
            self.path.display(),
            self.message
        )
    }
}

impl std::error::Error for HardStopError {}

/// The hard stop's file and what it holds.
#[derive(Debug)]
pub struct HardStopStore {
    path: PathBuf,
    stop: Option<HardStop>,
}

impl HardStopStore {
    /// Loads the file at `path`: absent is no stop; unreadable or corrupt is an error that
    /// says to release the stop on purpose (delete the file) rather than mine past it.
    pub fn open(path: &Path) -> Result<HardStopStore, HardStopError> {
        let fail = |message: String| HardStopError {
            path: path.to_path_buf(),
            message,
        };
        let stop = match read_capped(path, MAX_HARD_STOP_FILE_BYTES) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(fail(format!(
                    "cannot be read ({e}); refusing to start while a hard stop may be engaged"
                )))
            }
            Ok(bytes) => Some(HardStop::from_json(&bytes).map_err(|e| {
                fail(format!(
                    "is corrupt ({e}); refusing to start while a hard stop may be engaged: \
                     inspect it, and delete it only to release the stop"
                ))
            })?),
        };
        Ok(HardStopStore {
            path: path.to_path_buf(),
            stop,
        })
    }

    /// Where the stop is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stop in force at `now`; one that has expired is released (its file removed).
    pub fn active(&mut self, now: Timestamp) -> Result<Option<&HardStop>, HardStopError> {
        if self.stop.as_ref().is_some_and(|s| s.is_expired(now)) {
            self.release()?;
        }
        Ok(self.stop.as_ref())
    }

    /// Engages (or replaces) the stop, durably, before returning.
    pub fn engage(&mut self, stop: HardStop) -> Result<(), HardStopError> {
        write_atomic(&self.path, stop.to_json().as_bytes()).map_err(|e| self.error(e))?;
        self.stop = Some(stop);
        Ok(())
    }

    /// Releases the stop, durably; returns what was engaged.
    pub fn release(&mut self) -> Result<Option<HardStop>, HardStopError> {
        remove_durably(&self.path).map_err(|e| self.error(e))?;
        Ok(self.stop.take())
    }

    fn error(&self, e: std::io::Error) -> HardStopError {
        HardStopError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).expect("in range")
    }

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("sha256d-hard-stop-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        dir.join("hard-stop.json")
    }

    fn stop(until: Option<Timestamp>) -> HardStop {
        HardStop {
            source: "api".into(),
            since: t(0),
            until,
            reason: "grid emergency".into(),
        }
    }

    #[test]
    fn survives_a_restart_until_released() {
        let path = temp_path("restart");
        let mut store = HardStopStore::open(&path).expect("no file yet");
        assert_eq!(store.active(t(0)), Ok(None));
        store.engage(stop(None)).expect("writable");
        drop(store);
        let mut store = HardStopStore::open(&path).expect("the file just written");
        assert_eq!(store.active(t(1_000_000)), Ok(Some(&stop(None))));
        assert_eq!(store.release(), Ok(Some(stop(None))));
        assert!(!path.exists());
        assert_eq!(
            HardStopStore::open(&path).expect("released").active(t(0)),
            Ok(None)
        );
        std::fs::remove_dir_all(path.parent().expect("a temp dir")).expect("the test's own dir");
    }

    #[test]
    fn expires_by_itself() {
        let path = temp_path("expiry");
        let mut store = HardStopStore::open(&path).expect("no file yet");
        store.engage(stop(Some(t(60)))).expect("writable");
        let mut store = HardStopStore::open(&path).expect("the file just written");
        assert_eq!(store.active(t(59)), Ok(Some(&stop(Some(t(60))))));
        assert_eq!(store.active(t(60)), Ok(None));
        assert!(!path.exists());
        std::fs::remove_dir_all(path.parent().expect("a temp dir")).expect("the test's own dir");
    }

    #[test]
    fn a_corrupt_file_refuses_to_start() {
        let path = temp_path("corrupt");
        std::fs::write(&path, r#"{"source":"api","since":5,"reason":"x"}"#).expect("writable");
        assert_eq!(
            HardStopStore::open(&path).unwrap_err().to_string(),
            format!(
                "hard stop file {}: is corrupt (`since` must be a string); refusing to start \
                 while a hard stop may be engaged: inspect it, and delete it only to release \
                 the stop",
                path.display()
            )
        );
        std::fs::write(
            &path,
            r#"{"source":"api","since":"yesterday","reason":"x"}"#,
        )
        .expect("writable");
        let message = HardStopStore::open(&path).unwrap_err().to_string();
        assert!(
            message.contains("is corrupt (`since` is not an RFC 3339 instant: "),
            "{message}"
        );
        std::fs::write(&path, b"{\"source\":").expect("writable");
        let message = HardStopStore::open(&path).unwrap_err().to_string();
        assert!(message.contains("is corrupt (not JSON: EOF"), "{message}");
        std::fs::remove_dir_all(path.parent().expect("a temp dir")).expect("the test's own dir");
    }

    #[test]
    fn the_json_form_round_trips() {
        let s = stop(Some(t(60)));
        assert_eq!(
            s.to_json(),
            r#"{"reason":"grid emergency","since":"2027-01-15T08:00:00Z","source":"api","until":"2027-01-15T08:01:00Z"}"#
        );
        assert_eq!(HardStop::from_json(s.to_json().as_bytes()), Ok(s));
        assert_eq!(
            HardStop::from_json(br#"{"since":"2027-01-15T08:00:00Z","reason":"r"}"#),
            Err("`source` must be a string".into())
        );
    }
}
