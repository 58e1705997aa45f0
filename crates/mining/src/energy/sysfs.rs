//! Reading the kernel's one-value files (powercap, hwmon): tiny by contract, so a file longer
//! than [`MAX_FILE`] is the wrong file and is read no further.

use sha256d::{Error, ErrorKind};
use std::io::Read;
use std::path::Path;

/// The most bytes a value file may hold: a 20-digit counter and a line break, with room to spare.
pub(super) const MAX_FILE: usize = 64;

/// The longest name kept from a `name` file; the kernel's are far shorter.
pub const MAX_NAME: usize = 32;

/// A counter or a reading as the kernel writes it: ASCII decimal digits, then maybe a line
/// break. Anything else is not one.
pub fn parse_number(bytes: &[u8]) -> Option<u64> {
    let digits = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A device or zone name fit to print and to put in a source label: at most [`MAX_NAME`]
/// characters, each a letter, digit, `-`, `_` or `.`; anything else becomes `?`, so a hostile
/// driver cannot forge a label or reach a terminal.
pub fn parse_name(bytes: &[u8]) -> Option<String> {
    let text = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if text.is_empty() {
        return None;
    }
    Some(
        text.iter()
            .take(MAX_NAME)
            .map(|&b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => b as char,
                _ => '?',
            })
            .collect(),
    )
}

/// The bytes of the value file at `path`, at most [`MAX_FILE`] of them.
pub(super) fn read_small(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(MAX_FILE + 1);
    std::fs::File::open(path)?
        .take(MAX_FILE as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_FILE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("longer than the {MAX_FILE} bytes a sysfs value has"),
        ));
    }
    Ok(bytes)
}

/// The number in the value file at `path`, or an error naming the file.
pub(super) fn read_number(path: &Path) -> Result<u64, Error> {
    let bytes = read_small(path).map_err(|e| read_error(path, &e))?;
    parse_number(&bytes).ok_or_else(|| {
        Error::new(
            ErrorKind::Parse,
            format!("{}: not a decimal counter", path.display()),
        )
    })
}

/// The name in the `name` file at `path`, if it has a readable one.
pub(super) fn read_name(path: &Path) -> Option<String> {
    parse_name(&read_small(path).ok()?)
}

/// "cannot read PATH: WHY", the one shape of a sysfs read error.
pub(super) fn read_error(path: &Path, e: &std::io::Error) -> Error {
    Error::new(
        ErrorKind::Io,
        format!("cannot read {}: {e}", path.display()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_plain_decimal_with_an_optional_line_break() {
        assert_eq!(parse_number(b"262143328850\n"), Some(262_143_328_850));
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(
            parse_number(b"18446744073709551615\n"),
            Some(u64::MAX),
            "the largest u64"
        );
        for bad in [
            &b""[..],
            b"\n",
            b"18446744073709551616",
            b"-5\n",
            b" 5\n",
            b"5\n\n",
            b"0x10",
            b"12 34",
            b"000000000000000000001",
        ] {
            assert_eq!(
                parse_number(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn names_keep_only_label_characters() {
        assert_eq!(parse_name(b"package-0\n"), Some("package-0".into()));
        assert_eq!(parse_name(b"amdgpu"), Some("amdgpu".into()));
        assert_eq!(
            parse_name(b"evil\x1b[2J name/x:y"),
            Some("evil??2J?name?x?y".into())
        );
        assert_eq!(parse_name(&[b'a'; 40]), Some("a".repeat(MAX_NAME)));
        assert_eq!(parse_name(b"\n"), None);
    }

    #[test]
    fn a_file_longer_than_a_value_is_refused() {
        let dir = sha256d_testkit::peers::temp_dir("energy-sysfs");
        let long = dir.join("long");
        std::fs::write(&long, [b'1'; MAX_FILE + 1]).expect("written");
        let err = read_number(&long).expect_err("too long");
        assert_eq!(
            err.message(),
            format!(
                "cannot read {}: longer than the 64 bytes a sysfs value has",
                long.display()
            )
        );
        let exact = dir.join("exact");
        std::fs::write(&exact, b"00000000000000012345").expect("written");
        assert_eq!(read_number(&exact), Ok(12_345));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
