//! Hex text to bytes and back; bounded by the caller's expected length.

use crate::Error;
use alloc::{format, string::String, vec::Vec};

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex (either case, no prefix, surrounding whitespace ignored) into bytes.
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    let text = text.trim();
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::parse(format!(
            "hex has an odd number of digits ({})",
            bytes.len()
        )));
    }
    bytes
        .chunks_exact(2)
        .enumerate()
        .map(|(i, pair)| match (nibble(pair[0]), nibble(pair[1])) {
            (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
            _ => Err(Error::parse(format!(
                "invalid hex digit at position {}",
                if nibble(pair[0]).is_none() {
                    2 * i
                } else {
                    2 * i + 1
                }
            ))),
        })
        .collect()
}

/// Decodes hex that must be exactly `N` bytes; `what` names the value in the error.
pub fn decode_array<const N: usize>(text: &str, what: &str) -> Result<[u8; N], Error> {
    let text = text.trim();
    if text.len() != 2 * N {
        return Err(Error::parse(format!(
            "{what} must be {} hex digits ({N} bytes), got {}",
            2 * N,
            text.len()
        )));
    }
    let v = decode(text)?;
    Ok(v.try_into().expect("length checked above"))
}

/// Lower-case hex of `bytes`.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}
