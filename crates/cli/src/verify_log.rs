//! `sha256d verify-log`: checks a share log written by `mine --share-log`.

use clap::Args;
use sha256d::hazmat::hex;
use sha256d::{Error, ErrorKind};
use sha256d_mining::share_log::{chain_files, verify_files, Summary, Verifier};
use std::path::PathBuf;

#[derive(Args)]
pub struct VerifyLogArgs {
    /// The share log. Its rotated files (FILE.1, FILE.2, ...) are read first, oldest first,
    /// as the start of the same chain.
    file: PathBuf,
    /// Read FILE alone, not its rotated files (it may then go on from a file not read).
    #[arg(long)]
    only: bool,
    /// A head kept from earlier (`mine` prints it at the end): the chain must pass through
    /// that line, which shows that no line up to it was changed or removed since.
    #[arg(long, value_name = "HASH", value_parser = head)]
    head: Option<[u8; 32]>,
}

fn head(text: &str) -> Result<[u8; 32], String> {
    hex::decode_array(text, "--head").map_err(|e| e.to_string())
}

pub fn run(args: VerifyLogArgs) -> Result<(), Error> {
    let files = if args.only {
        vec![args.file.clone()]
    } else {
        chain_files(&args.file).map_err(|e| {
            Error::new(
                e.kind(),
                format!("{}: {}", args.file.display(), e.message()),
            )
        })?
    };
    let verifier = args.head.map_or_else(Verifier::new, Verifier::with_anchor);
    let summary = verify_files(verifier, &files)
        .map_err(|bad| Error::new(ErrorKind::Parse, bad.to_string()))?;
    if let Some(want) = args.head {
        if summary.anchor_seq.is_none() {
            return Err(Error::new(
                ErrorKind::Parse,
                format!(
                    "{}: no line has the hash {}: a line up to it was changed or removed, or \
                     it is in a file not read",
                    args.file.display(),
                    hex::encode(&want)
                ),
            ));
        }
    }
    outln!("{}", summary_line(&args.file, &summary));
    Ok(())
}

/// The one line an intact log gets.
fn summary_line(file: &std::path::Path, s: &Summary) -> String {
    let mut line = format!(
        "{}: intact, {} line{} in {} file{}",
        file.display(),
        s.lines,
        if s.lines == 1 { "" } else { "s" },
        s.files,
        if s.files == 1 { "" } else { "s" },
    );
    if let Some((seq, prev)) = s.first {
        line += &format!(" (seq {seq} to {})", seq + (s.lines - 1));
        if seq > 0 {
            line += &format!(
                ", going on from a line not read (prev {})",
                hex::encode(&prev)
            );
        }
    }
    line += &format!(
        ": {} accepted, {} rejected, {} stale, {} blocks accepted, {} block candidates",
        s.accepted, s.rejected, s.stale, s.blocks_accepted, s.block_candidates
    );
    if let Some(seq) = s.anchor_seq {
        line += &format!(", through --head at seq {seq}");
    }
    if let Some(head) = s.head {
        line += &format!("; head {}", hex::encode(&head));
    }
    line
}
