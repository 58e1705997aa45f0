//! The writer and the verifier together, on files: restarts, crashes, rotation, tampering.

use super::*;
use crate::{Job, Share, Verdict};
use sha256d::{Header, Target};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A share on nonce `nonce` of a job whose share target every hash meets; never a block.
fn share(nonce: u32) -> Share {
    let job = Arc::new(Job {
        id: format!("j{nonce}"),
        share_target: Target::from_le_bytes([0xff; 32]),
        block_target: Target::from_difficulty(1e6).expect("a difficulty"),
        ..Job::blank()
    });
    let mut header = Header::genesis();
    header.nonce = nonce;
    Share {
        hash: header.block_hash(),
        job,
        extranonce2: vec![0; 4],
        header,
        is_block: false,
        stale: false,
    }
}

fn engine() -> Option<Finder> {
    Some(Finder {
        name: "portable".into(),
        index: 0,
    })
}

fn rejected(stale: bool) -> Verdict {
    Verdict::Rejected {
        reason: "low difficulty".into(),
        stale,
    }
}

/// Opens `path`, writes one line per verdict (nonces from `first`), returns the notes.
fn write(path: &Path, first: u32, verdicts: &[Verdict]) -> Vec<String> {
    let (mut log, notes) = ShareLog::open(path, DEFAULT_MAX_BYTES).expect("opens");
    for (nonce, v) in (first..).zip(verdicts) {
        log.record(&share(nonce), v, engine(), false)
            .expect("writes");
    }
    notes
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .expect("reads")
        .lines()
        .map(str::to_string)
        .collect()
}

fn verify(files: &[PathBuf]) -> Result<Summary, (u64, String)> {
    verify_files(Verifier::new(), files).map_err(|b| (b.line, b.why))
}

/// A fresh directory, removed when dropped.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// `shares.log` in a fresh directory.
fn log_path(what: &str) -> (Dir, PathBuf) {
    let dir = sha256d_testkit::peers::temp_dir(what);
    let path = dir.join("shares.log");
    (Dir(dir), path)
}

#[test]
fn a_log_verifies_and_counts_its_verdicts() {
    let (_dir, path) = log_path("share-log-counts");
    let notes = write(
        &path,
        0,
        &[
            Verdict::Accepted,
            rejected(false),
            rejected(true),
            Verdict::Accepted,
        ],
    );
    assert_eq!(notes, Vec::<String>::new());
    let all = lines(&path);
    let head = line_hash(all[3].as_bytes());
    assert_eq!(
        verify(std::slice::from_ref(&path)),
        Ok(Summary {
            files: 1,
            lines: 4,
            first: Some((0, CHAIN_START)),
            head: Some(head),
            accepted: 2,
            rejected: 1,
            stale: 1,
            blocks_accepted: 0,
            block_candidates: 0,
            anchor_seq: None,
        })
    );
    // Each line's prev is the hash of the one before.
    for pair in all.windows(2) {
        let next = Record::parse(pair[1].as_bytes()).expect("parses");
        assert_eq!(next.prev, line_hash(pair[0].as_bytes()));
    }
    let anchored = verify_files(Verifier::with_anchor(line_hash(all[1].as_bytes())), &[path])
        .expect("verifies");
    assert_eq!(anchored.anchor_seq, Some(1));
}

#[test]
fn a_restart_goes_on_with_the_chain() {
    let (_dir, path) = log_path("share-log-restart");
    write(&path, 0, &[Verdict::Accepted, Verdict::Accepted]);
    let notes = write(&path, 2, &[Verdict::Accepted]);
    assert_eq!(
        notes,
        [format!(
            "share log {}: continuing its chain after line seq 1",
            path.display()
        )]
    );
    let summary = verify(std::slice::from_ref(&path)).expect("verifies");
    assert_eq!((summary.lines, summary.first), (3, Some((0, CHAIN_START))));
    let (log, _) = ShareLog::open(&path, DEFAULT_MAX_BYTES).expect("opens");
    assert_eq!(Some(log.head()), summary.head);
    // A second writer on the same log would break the chain: it is refused.
    let second = ShareLog::open(&path, DEFAULT_MAX_BYTES).map(|_| ());
    assert!(
        second
            .as_ref()
            .is_err_and(|e| e.message().contains("is another miner writing it?")),
        "{second:?}"
    );
}

#[test]
fn a_line_cut_short_by_a_crash_is_named_then_removed_on_restart() {
    let (_dir, path) = log_path("share-log-crash");
    write(&path, 0, &[Verdict::Accepted, Verdict::Accepted]);
    let whole = fs::read(&path).expect("reads");
    let mut cut = whole.clone();
    cut.extend_from_slice(&lines(&path)[1].as_bytes()[..100]);
    fs::write(&path, &cut).expect("writes");
    let (line, why) = verify(std::slice::from_ref(&path)).expect_err("a line is cut short");
    assert_eq!(line, 3);
    assert!(why.starts_with("cut short"), "{why}");

    let notes = write(&path, 2, &[Verdict::Accepted]);
    assert_eq!(
        notes[0],
        format!(
            "share log {}: removed a last line cut short (100 bytes), as a crash while \
             writing it leaves it",
            path.display()
        )
    );
    assert_eq!(fs::read(&path).expect("reads")[..whole.len()], whole[..]);
    assert_eq!(verify(std::slice::from_ref(&path)).map(|s| s.lines), Ok(3));
}

#[test]
fn a_log_whose_last_line_does_not_verify_is_not_appended_to() {
    let (_dir, path) = log_path("share-log-bad-tail");
    write(&path, 0, &[Verdict::Accepted]);
    let bad = lines(&path)[0].replace("\"nonce\":0", "\"nonce\":1");
    fs::write(&path, format!("{bad}\n")).expect("writes");
    let e = ShareLog::open(&path, DEFAULT_MAX_BYTES).expect_err("refused");
    assert_eq!(
        e.message(),
        format!(
            "share log {}: its last line does not verify (nonce is not the header's); check \
             it with `sha256d verify-log`, and move it aside to start a new log",
            path.display()
        )
    );
}

#[test]
fn a_rotated_chain_verifies_across_its_files() {
    let (_dir, path) = log_path("share-log-rotate");
    let (mut log, _) = ShareLog::open(&path, MIN_MAX_BYTES).expect("opens");
    for nonce in 0..30 {
        log.record(&share(nonce), &Verdict::Accepted, engine(), false)
            .expect("writes");
    }
    drop(log);
    let files = chain_files(&path).expect("lists");
    let name = |n: usize| PathBuf::from(format!("{}.{n}", path.display()));
    let rotated = files.len() - 1;
    assert!(rotated >= 2, "{files:?}");
    let expected: Vec<PathBuf> = (1..=rotated).map(name).chain([path.clone()]).collect();
    assert_eq!(files, expected);
    // Each file is as full as the limit allows: its next line did not fit.
    for pair in files.windows(2) {
        let size = fs::metadata(&pair[0]).expect("exists").len();
        let next = lines(&pair[1])[0].len() as u64 + 1;
        assert!(
            size <= MIN_MAX_BYTES && size + next > MIN_MAX_BYTES,
            "{size} {next}"
        );
    }
    let summary = verify(&files).expect("verifies");
    assert_eq!((summary.files, summary.lines), (rotated + 1, 30));
    assert!(summary.from_the_start());

    // The newest file alone goes on from a file not read.
    let alone = verify(std::slice::from_ref(&path)).expect("verifies");
    let first = Record::parse(lines(&path)[0].as_bytes()).expect("parses");
    assert_eq!(alone.first, Some((first.seq, first.prev)));
    assert_eq!(
        first.prev,
        line_hash(lines(&name(rotated)).last().expect("a line").as_bytes())
    );
    assert!(!alone.from_the_start());

    // Out of order, the files do not make a chain.
    let (line, why) = verify(&[name(2), name(1)]).expect_err("out of order");
    assert_eq!(line, 1);
    assert!(why.starts_with("seq 0 follows seq"), "{why}");

    // A crash right after a rotation leaves no current file: the chain goes on from the
    // newest rotated one.
    fs::rename(&path, name(rotated + 1)).expect("renames");
    assert_eq!(
        chain_files(&path).expect("lists"),
        (1..=rotated + 1).map(name).collect::<Vec<_>>()
    );
    let notes = write(&path, 100, &[Verdict::Accepted]);
    assert_eq!(
        notes,
        [format!(
            "share log {}: continuing its chain after line seq 29",
            path.display()
        )]
    );
    let files = chain_files(&path).expect("lists");
    assert_eq!(files.len(), rotated + 2);
    assert_eq!(verify(&files).map(|s| s.lines), Ok(31));
}

/// A log, and each edit a tamperer would make.
#[test]
fn a_changed_removed_or_moved_line_is_named() {
    let (_dir, path) = log_path("share-log-tamper");
    write(
        &path,
        0,
        &[
            Verdict::Accepted,
            rejected(false),
            Verdict::Accepted,
            Verdict::Accepted,
        ],
    );
    let all = lines(&path);
    let check = |text: Vec<String>| {
        fs::write(&path, text.join("\n") + "\n").expect("writes");
        verify(std::slice::from_ref(&path))
    };
    assert!(check(all.clone()).is_ok());

    // A digit of the header's merkle root: the line itself no longer verifies.
    let mut header = all.clone();
    let at = header[1].find("\"header\":\"").expect("a header") + 10 + 80;
    let digit = if &header[1][at..=at] == "0" { "1" } else { "0" };
    header[1].replace_range(at..=at, digit);
    let (line, why) = check(header).expect_err("changed");
    assert_eq!(line, 2);
    assert!(why.starts_with("its header hashes to"), "{why}");

    // A byte of the verdict: the next line's prev no longer matches.
    let mut verdict = all.clone();
    verdict[1] = verdict[1].replace("\"verdict\":\"rejected\"", "\"verdict\":\"accepted\"");
    assert_ne!(verdict[1], all[1]);
    assert_eq!(
        check(verdict),
        Err((
            3,
            "its prev is not the hash of the line before: that line was changed, or lines \
             were moved"
                .to_string()
        ))
    );

    let mut removed = all.clone();
    removed.remove(1);
    assert_eq!(
        check(removed),
        Err((
            2,
            "seq 2 follows seq 0: a line was removed, added or moved here".to_string()
        ))
    );

    let mut moved = all.clone();
    moved.swap(1, 2);
    assert_eq!(
        check(moved),
        Err((
            2,
            "seq 2 follows seq 0: a line was removed, added or moved here".to_string()
        ))
    );

    // The first line removed: what is left starts mid-chain, which the summary says.
    let mut head_cut = all.clone();
    head_cut.remove(0);
    assert_eq!(check(head_cut).map(|s| s.from_the_start()), Ok(false));

    // Hostile bytes: a line too long to be one of the log's is not read whole.
    let mut long = all;
    long[2] = "x".repeat(MAX_LINE + 10);
    assert_eq!(
        check(long),
        Err((3, format!("longer than {MAX_LINE} bytes")))
    );
}
