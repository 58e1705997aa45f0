//! Where a password comes from: the flag (visible to every local user in `ps`), a file, or an
//! environment variable, in that order. The value is never printed.

use sha256d::{Error, ErrorKind};
use std::io::Read;
use std::path::Path;

/// Longer than any password or cookie; a bigger file is the wrong file.
const MAX_SECRET_FILE: u64 = 4096;

/// The secret from `flag`, else the file `file` (its trailing line break dropped), else the
/// environment variable `var`; `None` if none is given.
pub fn resolve(
    flag: Option<&str>,
    file: Option<&Path>,
    var: &str,
) -> Result<Option<String>, Error> {
    if let Some(s) = flag {
        return Ok(Some(s.to_string()));
    }
    if let Some(path) = file {
        return read_file(path).map(Some);
    }
    match std::env::var(var) {
        Ok(s) => Ok(Some(s)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{var} is not valid UTF-8"),
        )),
    }
}

fn read_file(path: &Path) -> Result<String, Error> {
    let shown = path.display();
    let text = read_capped(path, MAX_SECRET_FILE, "a password file")?;
    let secret = text.trim_end_matches(['\n', '\r']);
    if secret.contains(['\n', '\r']) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{shown} has more than one line; it should hold only the password"),
        ));
    }
    Ok(secret.to_string())
}

/// The UTF-8 text of the file at `path`, refused when it is over `max` bytes (it is then not
/// `what`, and is read no further).
pub fn read_capped(path: &Path, max: u64, what: &str) -> Result<String, Error> {
    let shown = path.display();
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("cannot read {shown}: {e}"));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{shown} is over {max} bytes: not {what}"),
        ));
    }
    String::from_utf8(bytes)
        .map_err(|_| Error::new(ErrorKind::InvalidInput, format!("{shown} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(name: &str, contents: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("sha256d-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }

    #[test]
    fn flag_then_file_then_environment() {
        let file = file_with("pass", b"from-file\r\n");
        // A variable no other test sets, so tests running in parallel cannot race on it.
        let var = "SHA256D_TEST_SECRET_ORDER";
        std::env::set_var(var, "from-env");
        assert_eq!(
            resolve(Some("from-flag"), Some(&file), var).ok().flatten(),
            Some("from-flag".to_string())
        );
        assert_eq!(
            resolve(None, Some(&file), var).ok().flatten(),
            Some("from-file".to_string())
        );
        assert_eq!(
            resolve(None, None, var).ok().flatten(),
            Some("from-env".to_string())
        );
        std::env::remove_var(var);
        assert_eq!(resolve(None, None, var).ok().flatten(), None);
    }

    #[test]
    fn bad_files_are_clear_errors_that_never_show_the_contents() {
        let cases: [(&str, Vec<u8>, &str); 3] = [
            ("big", vec![b'a'; 5000], "over 4096 bytes"),
            (
                "lines",
                b"secret1\nsecret2\n".to_vec(),
                "more than one line",
            ),
            ("binary", vec![0xff, 0xfe], "not UTF-8"),
        ];
        for (name, contents, needle) in cases {
            let path = file_with(name, &contents);
            let e = resolve(None, Some(&path), "SHA256D_TEST_UNSET").expect_err(name);
            assert!(e.message().contains(needle), "{name}: {e}");
            assert!(!e.message().contains("secret1"), "{name}: {e}");
        }
        let missing = std::env::temp_dir().join("sha256d-no-such-secret-file");
        let e = resolve(None, Some(&missing), "SHA256D_TEST_UNSET").expect_err("missing");
        assert!(e.message().starts_with("cannot read "), "{e}");
    }
}
