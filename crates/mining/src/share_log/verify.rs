//! Checking a share log: every line on its own ([`Record::check`]) and the chain between
//! lines, streamed a line at a time so that a log of any size, or hostile bytes, is read in
//! bounded memory.

use super::record::{line_hash, Kind, Outcome, Record, CHAIN_START, MAX_LINE};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;

/// What an intact chain holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Lines, all files together.
    pub lines: u64,
    /// The first line's `seq` and `prev`: `(0, CHAIN_START)` when the chain is read from its
    /// start; otherwise it goes on from a file not read.
    pub first: Option<(u64, [u8; 32])>,
    /// The hash of the last line, the chain's head.
    pub head: Option<[u8; 32]>,
    /// Lines by verdict.
    pub accepted: u64,
    /// Rejected, not as stale.
    pub rejected: u64,
    /// Rejected as stale.
    pub stale: u64,
    /// Blocks a node accepted.
    pub blocks_accepted: u64,
    /// Block candidates a pool accepted.
    pub block_candidates: u64,
    /// The `seq` of the line whose hash is the anchor [`Verifier::with_anchor`] was given,
    /// once read.
    pub anchor_seq: Option<u64>,
}

impl Summary {
    /// Whether the lines read go back to the start of the chain.
    pub fn from_the_start(&self) -> bool {
        self.first.is_none_or(|(seq, _)| seq == 0)
    }
}

/// The first line that does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadLine {
    /// The file it is in.
    pub path: PathBuf,
    /// Its number in that file, from 1; 0 when the file itself could not be opened.
    pub line: u64,
    /// What is wrong with it.
    pub why: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            0 => write!(f, "{}: {}", self.path.display(), self.why),
            n => write!(f, "{} line {n}: {}", self.path.display(), self.why),
        }
    }
}

/// The chain so far: a state machine fed one line at a time.
#[derive(Debug, Default)]
pub struct Verifier {
    summary: Summary,
    /// The last line's `seq` and hash.
    last: Option<(u64, [u8; 32])>,
    anchor: Option<[u8; 32]>,
}

impl Verifier {
    /// A verifier that has read nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that also looks for the line whose hash is `anchor` (a head kept
    /// elsewhere): the chain passing through it shows that no line up to it was changed or
    /// removed since.
    pub fn with_anchor(anchor: [u8; 32]) -> Self {
        Verifier {
            anchor: Some(anchor),
            ..Self::default()
        }
    }

    /// Checks the next line of the chain (without its newline); `Err` says why it is bad.
    pub fn line(&mut self, line: &[u8]) -> Result<(), String> {
        let record = Record::parse(line).map_err(|e| e.message().to_string())?;
        record.check().map_err(|e| e.message().to_string())?;
        match self.last {
            None if record.seq == 0 && record.prev != CHAIN_START => {
                return Err("seq 0 starts a chain, but its prev is not the zero hash".into())
            }
            None => self.summary.first = Some((record.seq, record.prev)),
            Some((seq, hash)) => {
                if Some(record.seq) != seq.checked_add(1) {
                    return Err(format!(
                        "seq {} follows seq {seq}: a line was removed, added or moved here",
                        record.seq
                    ));
                }
                if record.prev != hash {
                    return Err(
                        "its prev is not the hash of the line before: that line was changed, \
                         or lines were moved"
                            .into(),
                    );
                }
            }
        }
        let hash = line_hash(line);
        self.last = Some((record.seq, hash));
        let s = &mut self.summary;
        s.lines += 1;
        s.head = Some(hash);
        if self.anchor == Some(hash) {
            s.anchor_seq = Some(record.seq);
        }
        match record.verdict {
            Outcome::Accepted => {
                s.accepted += 1;
                match record.kind {
                    Kind::Share => {}
                    Kind::BlockCandidate => s.block_candidates += 1,
                    Kind::Block => s.blocks_accepted += 1,
                }
            }
            Outcome::Rejected => s.rejected += 1,
            Outcome::Stale => s.stale += 1,
        }
        Ok(())
    }

    /// Reads one file of the chain from `src`, a line of at most [`MAX_LINE`] bytes at a
    /// time; `Err` gives the number of the first bad line in it and why.
    pub fn read(&mut self, src: impl Read) -> Result<(), (u64, String)> {
        let mut reader = BufReader::new(src);
        let mut buf = Vec::with_capacity(MAX_LINE + 1);
        let mut number = 0;
        loop {
            buf.clear();
            let got = (&mut reader)
                .take(MAX_LINE as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| (number + 1, format!("cannot read: {e}")))?;
            if got == 0 {
                self.summary.files += 1;
                return Ok(());
            }
            number += 1;
            if buf.last() == Some(&b'\n') {
                buf.pop();
            } else if buf.len() > MAX_LINE {
                return Err((number, format!("longer than {MAX_LINE} bytes")));
            } else {
                return Err((
                    number,
                    "cut short, without its newline (a crash while it was written leaves \
                     this; `mine --share-log` removes it when it goes on with the log)"
                        .into(),
                ));
            }
            self.line(&buf).map_err(|why| (number, why))?;
        }
    }

    /// What the lines read so far hold.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// Checks `files` as one chain, in order (see [`super::chain_files`]), with `verifier` (a
/// [`Verifier::new`] one, or one [`Verifier::with_anchor`]).
pub fn verify_files(mut verifier: Verifier, files: &[PathBuf]) -> Result<Summary, BadLine> {
    for path in files {
        let bad = |(line, why)| BadLine {
            path: path.clone(),
            line,
            why,
        };
        let file = File::open(path).map_err(|e| bad((0, format!("cannot open: {e}"))))?;
        verifier.read(file).map_err(bad)?;
    }
    Ok(verifier.summary)
}
