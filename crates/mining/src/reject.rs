//! Rejection reasons as counter keys: a peer writes what it likes into a reason (hashes,
//! nonces, difficulties, heights), so counting by the raw text would let it grow the map by
//! one key per share. Reasons are reduced to their wording, and the number of distinct keys
//! is capped.

use crate::sanitize::for_terminal_max;
use std::collections::BTreeMap;

/// The most distinct reasons a counter map holds, [`OTHER_REASON`] included.
pub const MAX_REJECT_REASONS: usize = 32;

/// The key that counts every reason past the first [`MAX_REJECT_REASONS`] - 1.
pub const OTHER_REASON: &str = "other";

/// A reason key is cut to this many characters.
const MAX_REASON_KEY: usize = 80;

/// A bare number of at most this many digits is kept: it is an error code (Stratum's 20-25,
/// JSON-RPC's -32601), which says what went wrong; longer ones are data.
const MAX_CODE_DIGITS: usize = 5;

/// The wording of `reason` without its data: every word that holds a digit (a hash, a nonce,
/// a difficulty, `0x…`) becomes `#`, unless it is a short bare number (an error code);
/// whitespace runs become one space; control characters are escaped; the result is cut to a
/// status line's width. `"Low difficulty share (23)"` stays as it is;
/// `"share 00000a3f… above target 0.0001"` becomes `"share # above target #"`.
pub fn reject_key(reason: &str) -> String {
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let bare_code = word.len() <= MAX_CODE_DIGITS && word.bytes().all(|b| b.is_ascii_digit());
        if word.bytes().any(|b| b.is_ascii_digit()) && !bare_code {
            out.push('#');
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in reason.trim().chars() {
        if c.is_alphanumeric() || c == '.' || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out);
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    for_terminal_max(out.trim_end(), MAX_REASON_KEY)
}

/// Counts one rejection for `reason` in `counts`, under its [`reject_key`]; a new key once
/// [`MAX_REJECT_REASONS`] - 1 others exist counts under [`OTHER_REASON`], so the map never
/// holds more than [`MAX_REJECT_REASONS`] keys whatever the peer says.
pub fn count_rejection(counts: &mut BTreeMap<String, u64>, reason: &str) {
    let key = reject_key(reason);
    let key = if counts.contains_key(&key) || counts.len() + 1 < MAX_REJECT_REASONS {
        key
    } else {
        OTHER_REASON.to_string()
    };
    *counts.entry(key).or_default() += 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_keep_their_wording_and_lose_their_data() {
        for (reason, key) in [
            ("Low difficulty share (23)", "Low difficulty share (23)"),
            ("Job not found (21)", "Job not found (21)"),
            (
                "job not found at all (-32601)",
                "job not found at all (-32601)",
            ),
            ("Above target", "Above target"),
            ("result false", "result false"),
            (
                "high-hash 0000669be9f9933ebcbf3e3791eae5f6d7ef9b3ce993d3f9cafb3e95fab12d8e",
                "high-hash #",
            ),
            ("share diff 0.000120 < 0.0001", "share diff # < #"),
            ("nonce 0x1a99 seen   twice\n", "nonce # seen twice"),
            ("Duplicate share 1700000001", "Duplicate share #"),
            ("\x1b[2Jevil 7", "\\x1b[# 7"),
        ] {
            assert_eq!(reject_key(reason), key, "{reason:?}");
        }
        assert_eq!(reject_key(&"word ".repeat(100)).chars().count(), 81);
    }

    /// Reference case: a pool that put a counter in every reason made 170,699 keys.
    #[test]
    fn unique_reasons_cannot_grow_the_map() {
        let mut counts = BTreeMap::new();
        for i in 0..10_000u64 {
            count_rejection(&mut counts, &format!("share {i:016x} rejected"));
            count_rejection(&mut counts, &format!("reason number {} of many", i % 100));
            count_rejection(&mut counts, &format!("kind{i} of failure"));
        }
        assert_eq!(counts.len(), MAX_REJECT_REASONS);
        assert_eq!(counts["share # rejected"], 10_000);
        assert_eq!(counts.values().sum::<u64>(), 30_000);
        assert!(counts[OTHER_REASON] > 0);
        // An existing key still counts under its own name once the map is full.
        count_rejection(&mut counts, "share 42424242 rejected");
        assert_eq!(counts["share # rejected"], 10_001);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_reasons_keep_the_map_bounded_and_printable(
            reasons in proptest::collection::vec(any::<String>(), 0..200)
        ) {
            let mut counts = BTreeMap::new();
            for r in &reasons {
                count_rejection(&mut counts, r);
            }
            prop_assert!(counts.len() <= MAX_REJECT_REASONS);
            prop_assert_eq!(counts.values().sum::<u64>(), reasons.len() as u64);
            for key in counts.keys() {
                prop_assert!(!key.chars().any(char::is_control), "{key:?}");
                prop_assert!(key.chars().count() <= 10 * MAX_REASON_KEY + 1);
            }
        }
    }
}
