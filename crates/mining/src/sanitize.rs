//! The one gate for text a peer chose (pool messages, reject reasons, hosts, job ids) on its way
//! to a terminal or a log.
//!
//! A pool is untrusted: without this, `client.show_message` could clear the operator's screen
//! (`ESC[2J`), recolour it, or use a carriage return to overwrite the line with a forged
//! "connected to …". Every control character therefore becomes visible text, and the result
//! is cut to a length that fits a status line.

use std::fmt::Write as _;

/// Peer text is cut to this many characters (an ellipsis marks the cut).
pub const MAX_TERMINAL_TEXT: usize = 200;

/// `text` made safe to print: line breaks and tabs become spaces, every other control
/// character (C0, DEL, C1, and the Unicode bidirectional and line-separator controls that
/// reorder or break a line) is written out as a visible `\x1b` or `\u{202e}` escape, and the
/// result holds at most [`MAX_TERMINAL_TEXT`] characters of the original (plus `…`).
/// Text that is already safe and short enough comes back unchanged.
pub fn for_terminal(text: &str) -> String {
    for_terminal_max(text, MAX_TERMINAL_TEXT)
}

/// [`for_terminal`] with a caller's bound of `max` original characters.
pub fn for_terminal_max(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(4 * max));
    let mut chars = text.chars();
    for c in chars.by_ref().take(max) {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if is_unsafe(c) => {
                let n = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if n <= 0xff {
                    write!(out, "\\x{n:02x}")
                } else {
                    write!(out, "\\u{{{n:x}}}")
                };
            }
            c => out.push(c),
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// Characters a terminal acts on instead of showing.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_line_tricks_become_visible_text() {
        for (raw, shown) in [
            ("plain text", "plain text"),
            ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
            (
                "ok\rconnected to stratum+tcp://evil:1 as you",
                "ok connected to stratum+tcp://evil:1 as you",
            ),
            ("maintenance\nat 5\ttoday", "maintenance at 5 today"),
            (
                "bell\x07 nul\0 del\x7f c1\u{9b}",
                "bell\\x07 nul\\x00 del\\x7f c1\\x9b",
            ),
            ("abc\u{202e}fed", "abc\\u{202e}fed"),
            ("line\u{2028}sep", "line\\u{2028}sep"),
            ("ünïcødé ✓", "ünïcødé ✓"),
        ] {
            assert_eq!(for_terminal(raw), shown, "{raw:?}");
            assert_eq!(for_terminal(shown), shown, "idempotent on {shown:?}");
        }
    }

    #[test]
    fn long_text_is_cut_with_a_mark() {
        let long = "é".repeat(MAX_TERMINAL_TEXT + 1);
        let shown = for_terminal(&long);
        assert_eq!(shown, format!("{}…", "é".repeat(MAX_TERMINAL_TEXT)));
        assert_eq!(
            for_terminal(&"x".repeat(MAX_TERMINAL_TEXT)),
            "x".repeat(200)
        );
        // A line of escapes grows by at most the escape width.
        let hostile = "\x1b".repeat(10_000);
        assert_eq!(
            for_terminal(&hostile).len(),
            4 * MAX_TERMINAL_TEXT + '…'.len_utf8()
        );
        assert_eq!(for_terminal_max("abcdef", 3), "abc…");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a peer sends, what reaches the terminal holds no control character and
        /// stays within the bound (ten characters for the longest escape, `\u{10ffff}`).
        #[test]
        fn any_text_comes_out_printable_and_bounded(text in any::<String>(), max in 0usize..300) {
            let shown = for_terminal_max(&text, max);
            prop_assert!(!shown.chars().any(|c| is_unsafe(c) || c.is_control()), "{shown:?}");
            prop_assert!(shown.chars().count() <= 10 * max + 1);
            if text.chars().count() <= max && !text.chars().any(|c| is_unsafe(c) || c.is_control()) {
                prop_assert_eq!(shown, text);
            }
        }
    }
}
