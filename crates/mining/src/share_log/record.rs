//! One line of the share log: what it records, the one JSON form the writer gives it, and
//! the checks a line passes on its own (the chain between lines is the verifier's).

use crate::sanitize::for_terminal_max;
use crate::{Share, Verdict};
use serde_json::{Map, Value};
use sha256d::hazmat::hex;
use sha256d::{Error, Hash, Header, Target};

/// The longest line the writer writes and the verifier reads, without its newline. The
/// fields a peer chooses are cut short enough that a line always fits.
pub const MAX_LINE: usize = 8192;

/// A pool's job id is cut to this many characters (it is recorded, not checked).
const MAX_JOB_ID: usize = 64;
/// A peer's reply is cut to this many characters.
const MAX_REPLY: usize = 256;
/// An engine name is cut to this many characters.
const MAX_ENGINE: usize = 64;

/// The `prev` of a chain's first line (`seq` 0): no line comes before it.
pub const CHAIN_START: [u8; 32] = [0; 32];

/// The hash a line's successor carries as its `prev`: SHA-256 of the line's bytes, without
/// its newline.
pub fn line_hash(line: &[u8]) -> [u8; 32] {
    sha256d::hazmat::sha256(line)
}

/// What was submitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A share that does not meet the network target.
    Share,
    /// A share that meets the network target, submitted to a pool: the pool may submit the
    /// block; its acceptance of the share does not say the block is in the chain.
    BlockCandidate,
    /// A block submitted to a node.
    Block,
}

impl Kind {
    /// The kind of a submission: `is_block` when its hash meets the network target,
    /// `to_node` when a node judges it (see [`crate::Source::block_verdicts_are_final`]).
    pub fn of(is_block: bool, to_node: bool) -> Kind {
        match (is_block, to_node) {
            (false, _) => Kind::Share,
            (true, false) => Kind::BlockCandidate,
            (true, true) => Kind::Block,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Share => "share",
            Kind::BlockCandidate => "block_candidate",
            Kind::Block => "block",
        }
    }
}

/// What the peer said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted.
    Accepted,
    /// Rejected for a reason other than staleness.
    Rejected,
    /// Rejected as stale.
    Stale,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Rejected => "rejected",
            Outcome::Stale => "stale",
        }
    }
}

/// The engine that found a result: its name and its place in the run's engine list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finder {
    /// The engine's name.
    pub name: String,
    /// Its index in the list of engines the run was given.
    pub index: u64,
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its place in the chain, from 0; it goes on across rotated files.
    pub seq: u64,
    /// [`line_hash`] of the line before, or [`CHAIN_START`] for `seq` 0.
    pub prev: [u8; 32],
    /// When the verdict arrived, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// The engine that found it, where the pipeline knew.
    pub engine: Option<Finder>,
    /// The job id, as the source gave it (control characters escaped, cut short).
    pub job: String,
    /// What was submitted.
    pub kind: Kind,
    /// The full header (the `version` and `nonce` fields of the line repeat its own).
    pub header: Header,
    /// The hash recorded for the header.
    pub hash: Hash,
    /// The share target it was submitted at.
    pub target: Target,
    /// The network target of its job.
    pub block_target: Target,
    /// The verdict.
    pub verdict: Outcome,
    /// The peer's reason, for a rejection (control characters escaped, cut short).
    pub reply: Option<String>,
}

/// The keys of a line, in the order the writer writes them.
const KEYS: [&str; 15] = [
    "seq",
    "prev",
    "time_ms",
    "engine",
    "engine_index",
    "job",
    "kind",
    "header",
    "version",
    "nonce",
    "hash",
    "target",
    "block_target",
    "verdict",
    "reply",
];

impl Record {
    /// The record of `verdict` on `share`, as line `seq` after the line whose hash is `prev`.
    pub fn of_verdict(
        (seq, prev): (u64, [u8; 32]),
        time_ms: u64,
        engine: Option<Finder>,
        share: &Share,
        verdict: &Verdict,
        to_node: bool,
    ) -> Record {
        let (outcome, reply) = match verdict {
            Verdict::Accepted => (Outcome::Accepted, None),
            Verdict::Rejected { reason, stale } => (
                if *stale {
                    Outcome::Stale
                } else {
                    Outcome::Rejected
                },
                Some(for_terminal_max(reason, MAX_REPLY)),
            ),
        };
        Record {
            seq,
            prev,
            time_ms,
            engine: engine.map(|f| Finder {
                name: for_terminal_max(&f.name, MAX_ENGINE),
                index: f.index,
            }),
            job: for_terminal_max(&share.job.id, MAX_JOB_ID),
            kind: Kind::of(share.is_block, to_node),
            header: share.header,
            hash: share.hash,
            target: share.job.share_target,
            block_target: share.job.block_target,
            verdict: outcome,
            reply,
        }
    }

    /// The line, without its newline: keys in the order of `KEYS`, no spaces, hex in lower
    /// case. It is the only form [`Record::parse`] accepts.
    pub fn to_line(&self) -> String {
        let (engine, index) = match &self.engine {
            Some(f) => (Value::from(f.name.as_str()), Value::from(f.index)),
            None => (Value::Null, Value::Null),
        };
        let reply = self.reply.as_deref().map_or(Value::Null, Value::from);
        format!(
            "{{\"seq\":{},\"prev\":\"{}\",\"time_ms\":{},\"engine\":{engine},\
             \"engine_index\":{index},\"job\":{},\"kind\":\"{}\",\"header\":\"{}\",\
             \"version\":{},\"nonce\":{},\"hash\":\"{}\",\"target\":\"{}\",\
             \"block_target\":\"{}\",\"verdict\":\"{}\",\"reply\":{reply}}}",
            self.seq,
            hex::encode(&self.prev),
            self.time_ms,
            Value::from(self.job.as_str()),
            self.kind.as_str(),
            self.header.to_hex(),
            self.header.version,
            self.header.nonce,
            self.hash,
            self.target.to_be_hex(),
            self.block_target.to_be_hex(),
            self.verdict.as_str(),
        )
    }

    /// Reads a line (without its newline). Anything but the exact form [`Record::to_line`]
    /// writes is an error: a line edited by hand, even where JSON would not care, is named.
    /// At most [`MAX_LINE`] bytes are looked at.
    pub fn parse(line: &[u8]) -> Result<Record, Error> {
        if line.len() > MAX_LINE {
            return Err(Error::parse(format!("longer than {MAX_LINE} bytes")));
        }
        let text = std::str::from_utf8(line).map_err(|_| Error::parse("not UTF-8"))?;
        let value: Value =
            serde_json::from_str(text).map_err(|e| Error::parse(format!("not JSON: {e}")))?;
        let Value::Object(map) = value else {
            return Err(Error::parse("not a JSON object"));
        };
        if map.len() != KEYS.len() || KEYS.iter().any(|k| !map.contains_key(*k)) {
            return Err(Error::parse(format!(
                "its keys are not the share log's: {}",
                KEYS.join(", ")
            )));
        }
        // Indexing cannot panic from here on: every key is there, checked just above.
        let engine = match (&map["engine"], &map["engine_index"]) {
            (Value::Null, Value::Null) => None,
            (Value::String(name), index) => Some(Finder {
                name: name.clone(),
                index: index
                    .as_u64()
                    .ok_or_else(|| Error::parse("engine_index is not a count"))?,
            }),
            _ => {
                return Err(Error::parse(
                    "engine and engine_index are neither a name and a count nor both null",
                ))
            }
        };
        let header = Header::from_hex(string(&map, "header")?)?;
        let record = Record {
            seq: count(&map, "seq")?,
            prev: hex::decode_array(string(&map, "prev")?, "prev")?,
            time_ms: count(&map, "time_ms")?,
            engine,
            job: string(&map, "job")?.to_string(),
            kind: match string(&map, "kind")? {
                "share" => Kind::Share,
                "block_candidate" => Kind::BlockCandidate,
                "block" => Kind::Block,
                _ => return Err(Error::parse("kind is not share, block_candidate or block")),
            },
            header,
            hash: Hash::from_display_hex(string(&map, "hash")?)?,
            target: Target::from_be_hex(string(&map, "target")?)?,
            block_target: Target::from_be_hex(string(&map, "block_target")?)?,
            verdict: match string(&map, "verdict")? {
                "accepted" => Outcome::Accepted,
                "rejected" => Outcome::Rejected,
                "stale" => Outcome::Stale,
                _ => return Err(Error::parse("verdict is not accepted, rejected or stale")),
            },
            reply: match &map["reply"] {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                _ => return Err(Error::parse("reply is neither text nor null")),
            },
        };
        for (key, field) in [
            ("version", record.header.version),
            ("nonce", record.header.nonce),
        ] {
            if map[key].as_u64() != Some(u64::from(field)) {
                return Err(Error::parse(format!("{key} is not the header's")));
            }
        }
        if record.to_line().as_bytes() != line {
            return Err(Error::parse(
                "not in the form the share log writes (spacing, key order, number or hex \
                 spelling changed)",
            ));
        }
        Ok(record)
    }

    /// Checks the work the line claims: its header re-hashed is its hash, which meets its
    /// target, and meets the network target exactly when its kind says it is a block.
    pub fn check(&self) -> Result<(), Error> {
        let hash = self.header.block_hash();
        if hash != self.hash {
            return Err(Error::parse(format!(
                "its header hashes to {hash}, not to the recorded {}",
                self.hash
            )));
        }
        if !self.target.is_met_by(&hash) {
            return Err(Error::parse(format!(
                "its hash {hash} does not meet its target {}",
                self.target.to_be_hex()
            )));
        }
        let is_block = self.block_target.is_met_by(&hash);
        if is_block != (self.kind != Kind::Share) {
            return Err(Error::parse(format!(
                "it is recorded as a {} but its hash {} the network target",
                self.kind.as_str(),
                if is_block { "meets" } else { "does not meet" }
            )));
        }
        Ok(())
    }
}

fn string<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a str, Error> {
    map[key]
        .as_str()
        .ok_or_else(|| Error::parse(format!("{key} is not text")))
}

fn count(map: &Map<String, Value>, key: &str) -> Result<u64, Error> {
    map[key]
        .as_u64()
        .ok_or_else(|| Error::parse(format!("{key} is not a count")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;
    use std::sync::Arc;

    /// A share of the genesis header, which meets difficulty 1 and (with its own nBits) the
    /// network target.
    fn genesis_share(is_block: bool) -> Share {
        let header = Header::genesis();
        let block_target = if is_block {
            Target::from_compact(header.bits).expect("genesis bits")
        } else {
            Target::from_difficulty(1e6).expect("a difficulty")
        };
        Share {
            job: Arc::new(Job {
                id: "job\u{1b}[2J\"1".into(),
                share_target: Target::from_difficulty(1.0).expect("a difficulty"),
                block_target,
                ..Job::blank()
            }),
            extranonce2: vec![0; 4],
            header,
            hash: header.block_hash(),
            is_block,
            stale: false,
        }
    }

    fn finder() -> Option<Finder> {
        Some(Finder {
            name: "sha-ni".into(),
            index: 1,
        })
    }

    #[test]
    fn a_record_reads_back_from_its_line() {
        let share = genesis_share(true);
        let verdict = Verdict::Rejected {
            reason: "duplicate\nshare".into(),
            stale: true,
        };
        let r = Record::of_verdict(
            (7, [3; 32]),
            1_700_000_000_123,
            finder(),
            &share,
            &verdict,
            false,
        );
        assert_eq!(r.kind, Kind::BlockCandidate);
        assert_eq!(r.verdict, Outcome::Stale);
        assert_eq!(r.job, "job\\x1b[2J\"1");
        assert_eq!(r.reply.as_deref(), Some("duplicate share"));
        let line = r.to_line();
        assert_eq!(Record::parse(line.as_bytes()), Ok(r.clone()));
        assert_eq!(r.check(), Ok(()));
        let value: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(value["version"], 1);
        assert_eq!(value["nonce"], 2_083_236_893u32);
        assert_eq!(
            value["hash"],
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_eq!(value["job"], "job\\x1b[2J\"1");

        let unknown =
            Record::of_verdict((0, CHAIN_START), 0, None, &share, &Verdict::Accepted, true);
        assert_eq!(unknown.kind, Kind::Block);
        let line = unknown.to_line();
        assert!(
            line.contains("\"engine\":null,\"engine_index\":null"),
            "{line}"
        );
        assert_eq!(Record::parse(line.as_bytes()), Ok(unknown));
    }

    #[test]
    fn only_the_written_form_is_read() {
        let share = genesis_share(false);
        let line = Record::of_verdict(
            (0, CHAIN_START),
            5,
            finder(),
            &share,
            &Verdict::Accepted,
            false,
        )
        .to_line();
        let why = |text: &str| {
            Record::parse(text.as_bytes())
                .map(|_| ())
                .map_err(|e| e.message().to_string())
        };
        assert_eq!(why(&line), Ok(()));
        let spaced = line.replacen(",\"prev\"", ", \"prev\"", 1);
        assert!(
            why(&spaced).is_err_and(|e| e.starts_with("not in the form")),
            "{spaced}"
        );
        // The same hash to a JSON reader, but not as the log writes it.
        let upper = line.replace("19d6689c", "19D6689C");
        assert!(
            why(&upper).is_err_and(|e| e.starts_with("not in the form")),
            "{upper}"
        );
        let nonce = line.replace("\"nonce\":2083236893", "\"nonce\":2083236894");
        assert_eq!(why(&nonce), Err("nonce is not the header's".to_string()));
        let extra = line.replacen('{', "{\"x\":1,", 1);
        assert!(why(&extra).is_err_and(|e| e.starts_with("its keys")));
        assert_eq!(why("[1]"), Err("not a JSON object".to_string()));
        assert_eq!(
            why(&"x".repeat(MAX_LINE + 1)),
            Err(format!("longer than {MAX_LINE} bytes"))
        );
    }

    #[test]
    fn the_check_reads_the_work_itself() {
        let share = genesis_share(false);
        let good = Record::of_verdict(
            (0, CHAIN_START),
            5,
            finder(),
            &share,
            &Verdict::Accepted,
            false,
        );
        assert_eq!(good.check(), Ok(()));
        let why = |r: &Record| r.check().map_err(|e| e.message().to_string());

        let mut other = good.clone();
        other.header.nonce ^= 1;
        assert!(why(&other).is_err_and(|e| e.starts_with("its header hashes to")));

        let mut hard = good.clone();
        hard.target = Target::from_difficulty(1e12).expect("a difficulty");
        assert!(why(&hard).is_err_and(|e| e.contains("does not meet its target")));

        let mut block = good.clone();
        block.kind = Kind::Block;
        assert_eq!(
            why(&block),
            Err(
                "it is recorded as a block but its hash does not meet the network target"
                    .to_string()
            )
        );
    }

    /// Peers choose the job id and the reply: even the longest, worst-escaped ones fit a line.
    #[test]
    fn the_longest_line_fits() {
        let mut share = genesis_share(true);
        let worst = "\u{202e}".repeat(10_000);
        Arc::make_mut(&mut share.job).id = worst.clone();
        let verdict = Verdict::Rejected {
            reason: worst.clone(),
            stale: false,
        };
        let engine = Some(Finder {
            name: worst,
            index: u64::MAX,
        });
        let r = Record::of_verdict(
            (u64::MAX, [0xff; 32]),
            u64::MAX,
            engine,
            &share,
            &verdict,
            true,
        );
        let line = r.to_line();
        assert!(line.len() <= MAX_LINE, "{}", line.len());
        assert_eq!(Record::parse(line.as_bytes()), Ok(r));
    }
}
