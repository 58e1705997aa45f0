//! `sha256d explain`: one header's proof of work worked through, as a learner would on paper:
//! each field where it sits in the 80 bytes and how an explorer shows it, the nBits decoding,
//! the midstate, both SHA-256 passes block by block, and the comparison with the target.
//!
//! The hashing is the core library's own compression function over the blocks shown here, so
//! what is printed is what was computed; only the padding is spelled out here, because seeing
//! it is the point.

use clap::Args;
use serde_json::{json, Value};
use sha256d::hazmat::{compress256, hex, IV};
use sha256d::{CompactTarget, Error, ErrorKind, Hash, Header, Target};
use std::ops::Range;

#[derive(Args)]
pub struct ExplainArgs {
    /// The 80-byte header as 160 hex digits, in wire order (as `bitcoin-cli getblockheader
    /// HASH false` prints it).
    header: String,
    /// Compare the hash with this target (64 hex digits, as explorers show it) instead of the
    /// header's nBits; invalid header nBits are then reported, not an error.
    #[arg(long, conflicts_with = "bits")]
    target: Option<String>,
    /// Decode these nBits (8 hex digits, e.g. 1d00ffff) instead of the header's and compare
    /// with their target; the header and its hash stay as given.
    #[arg(long)]
    bits: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

/// One header field: where it sits, and what it means.
struct Field {
    name: &'static str,
    bytes: Range<usize>,
    /// How its bytes are read.
    order: &'static str,
    /// Its value as JSON (a number, or hex as explorers show it).
    value: Value,
    /// Its value as an explorer shows it, for the text form.
    shown: String,
}

/// nBits taken apart.
struct Bits {
    bits: CompactTarget,
    /// `header` or `--bits`.
    source: &'static str,
    exponent: u32,
    mantissa: u32,
    negative: bool,
    target: Result<Target, Error>,
}

impl Bits {
    fn new(bits: CompactTarget, source: &'static str) -> Bits {
        let raw = bits.to_consensus();
        Bits {
            bits,
            source,
            exponent: raw >> 24,
            mantissa: raw & 0x007f_ffff,
            negative: raw & 0x0080_0000 != 0,
            target: Target::from_compact(bits),
        }
    }

    /// How the target follows from exponent and mantissa, as a formula.
    fn formula(&self) -> String {
        match self.exponent {
            0..=2 => format!("0x{:06x} >> (8 * (3 - {}))", self.mantissa, self.exponent),
            3 => format!("0x{:06x}", self.mantissa),
            e => format!("0x{:06x} * 256^({e} - 3)", self.mantissa),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "source": self.source,
            "bits": self.bits.to_string(),
            "exponent": self.exponent,
            "mantissa": format!("{:06x}", self.mantissa),
            "negative": self.negative,
            "formula": self.formula(),
            "target": self.target.as_ref().ok().map(|t| t.to_be_hex()),
            "error": self.target.as_ref().err().map(|e| e.message().to_owned()),
        })
    }
}

/// Both SHA-256 passes, block by block.
struct Passes {
    block1: [u8; 64],
    midstate: [u32; 8],
    block2: [u8; 64],
    first_hash: [u8; 32],
    block3: [u8; 64],
    second_hash: [u8; 32],
}

impl Passes {
    fn new(header: &[u8; 80]) -> Passes {
        let block1: [u8; 64] = header[..64].try_into().expect("64 of 80 bytes");
        let mut midstate = IV;
        compress256(&mut midstate, &block1);
        // SHA-256 padding: a 1 bit, zeros, and the message length in bits in the last 8 bytes.
        let block2 = padded(&header[64..], 80);
        let mut state = midstate;
        compress256(&mut state, &block2);
        let first_hash = be_bytes(&state);
        let block3 = padded(&first_hash, 32);
        let mut state = IV;
        compress256(&mut state, &block3);
        Passes {
            block1,
            midstate,
            block2,
            first_hash,
            block3,
            second_hash: be_bytes(&state),
        }
    }
}

/// The last block of a `message_len`-byte message whose last `tail.len()` bytes are `tail`.
fn padded(tail: &[u8], message_len: u64) -> [u8; 64] {
    let mut block = [0u8; 64];
    block[..tail.len()].copy_from_slice(tail);
    block[tail.len()] = 0x80;
    block[56..].copy_from_slice(&(message_len * 8).to_be_bytes());
    block
}

/// SHA-256's state words as its output bytes (big-endian words).
fn be_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

fn words(state: &[u32; 8]) -> Vec<String> {
    state.iter().map(|w| format!("{w:08x}")).collect()
}

/// Hex of `bytes` reversed: how explorers show hashes.
fn reversed_hex(bytes: &[u8]) -> String {
    let mut r = bytes.to_vec();
    r.reverse();
    hex::encode(&r)
}

fn utc(time: u32) -> String {
    jiff::Timestamp::from_second(i64::from(time))
        .map(|t| format!("{t:.0}"))
        .unwrap_or_else(|_| "out of range".into())
}

fn fields(header: &Header) -> Vec<Field> {
    let le = "little-endian u32";
    let rev = "32 bytes, reversed for display";
    vec![
        Field {
            name: "version",
            bytes: 0..4,
            order: le,
            value: json!(header.version),
            shown: format!("0x{:08x} ({})", header.version, header.version),
        },
        Field {
            name: "prev_block",
            bytes: 4..36,
            order: rev,
            value: json!(reversed_hex(&header.prev_blockhash)),
            shown: reversed_hex(&header.prev_blockhash),
        },
        Field {
            name: "merkle_root",
            bytes: 36..68,
            order: rev,
            value: json!(reversed_hex(&header.merkle_root)),
            shown: reversed_hex(&header.merkle_root),
        },
        Field {
            name: "time",
            bytes: 68..72,
            order: le,
            value: json!(header.time),
            shown: format!("{} ({})", header.time, utc(header.time)),
        },
        Field {
            name: "bits",
            bytes: 72..76,
            order: le,
            value: json!(header.bits.to_string()),
            shown: header.bits.to_string(),
        },
        Field {
            name: "nonce",
            bytes: 76..80,
            order: le,
            value: json!(header.nonce),
            shown: format!("{} (0x{:08x})", header.nonce, header.nonce),
        },
    ]
}

/// Everything `explain` shows.
struct Explanation {
    bytes: [u8; 80],
    time: u32,
    fields: Vec<Field>,
    bits: Bits,
    passes: Passes,
    hash: Hash,
    target: Target,
    /// `nbits` or `--target`.
    target_source: &'static str,
    meets: bool,
}

pub fn run(args: ExplainArgs) -> Result<(), Error> {
    let e = explain(&args)?;
    if args.json {
        outln!("{}", e.to_json());
    } else {
        for line in e.text().lines() {
            outln!("{line}");
        }
    }
    Ok(())
}

fn explain(args: &ExplainArgs) -> Result<Explanation, Error> {
    let header = Header::from_hex(&args.header)?;
    let bits = match &args.bits {
        Some(text) => Bits::new(CompactTarget::from_hex(text)?, "--bits"),
        None => Bits::new(header.bits, "header"),
    };
    let (target, target_source) = match (&args.target, &bits.target) {
        (Some(text), _) => (Target::from_be_hex(text)?, "--target"),
        (None, Ok(target)) => (*target, "nbits"),
        (None, Err(e)) => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{}; give --target HEX64 or --bits HEX8 to compare with another target",
                    e.message()
                ),
            ))
        }
    };
    let bytes = header.to_bytes();
    let passes = Passes::new(&bytes);
    let hash = Hash(passes.second_hash);
    Ok(Explanation {
        bytes,
        time: header.time,
        fields: fields(&header),
        bits,
        meets: target.is_met_by(&hash),
        passes,
        hash,
        target,
        target_source,
    })
}

impl Explanation {
    fn to_json(&self) -> Value {
        let fields: Vec<Value> = self
            .fields
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "offset": f.bytes.start,
                    "length": f.bytes.len(),
                    "bytes": hex::encode(&self.bytes[f.bytes.clone()]),
                    "order": f.order,
                    "value": f.value,
                })
            })
            .collect();
        let p = &self.passes;
        json!({
            "header": hex::encode(&self.bytes),
            "fields": fields,
            "time_utc": utc(self.time),
            "nbits": self.bits.to_json(),
            "sha256": {
                "block1": hex::encode(&p.block1),
                "midstate": words(&p.midstate),
                "block2": hex::encode(&p.block2),
                "first_hash": hex::encode(&p.first_hash),
                "block3": hex::encode(&p.block3),
                "second_hash": hex::encode(&p.second_hash),
            },
            "hash": self.hash.to_string(),
            "target": self.target.to_be_hex(),
            "target_source": self.target_source,
            "difficulty": self.target.difficulty_float(),
            "meets_target": self.meets,
        })
    }

    fn text(&self) -> String {
        let (bits, p, hash) = (&self.bits, &self.passes, &self.hash);
        let mut out = Vec::new();
        out.push("header, 80 bytes as hashed (wire order):".to_owned());
        out.push(format!("  {}", hex::encode(&self.bytes)));
        out.push(String::new());
        out.push("fields: where each sits in the 80 bytes, and how an explorer shows it".into());
        for f in &self.fields {
            out.push(format!(
                "  {:<11} bytes {:>2}..{:<2}  {:<30}  {}",
                f.name,
                f.bytes.start,
                f.bytes.end,
                f.order,
                hex::encode(&self.bytes[f.bytes.clone()])
            ));
            out.push(format!("  {:<57}shown as  {}", "", f.shown));
        }
        out.push(String::new());
        out.push(format!("nBits {} (from the {}):", bits.bits, bits.source));
        out.push(format!(
            "  exponent   0x{:02x} = {}: the target is {} bytes long",
            bits.exponent, bits.exponent, bits.exponent
        ));
        out.push(format!(
            "  mantissa   0x{:06x}: its most significant bytes",
            bits.mantissa
        ));
        out.push(format!(
            "  sign bit   {} (0x00800000)",
            if bits.negative { "set" } else { "clear" }
        ));
        out.push(format!("  target     {}", bits.formula()));
        out.push(match &bits.target {
            Ok(t) => format!("             = {}", t.to_be_hex()),
            Err(e) => format!("             invalid: {}", e.message()),
        });
        out.push(String::new());
        out.push("SHA-256 pass 1, over the 80 header bytes (two 64-byte blocks):".into());
        out.push("  block 1    header bytes 0..64".into());
        out.push(format!("             {}", hex::encode(&p.block1)));
        out.push("  midstate   the state after block 1, the same for every nonce".into());
        out.push(format!("             {}", words(&p.midstate).join(" ")));
        out.push(
            "  block 2    header bytes 64..80, then 0x80, zeros, the length (640 bits)".into(),
        );
        out.push(format!("             {}", hex::encode(&p.block2)));
        out.push(format!("  hash 1     {}", hex::encode(&p.first_hash)));
        out.push("SHA-256 pass 2, over hash 1 (one 64-byte block):".into());
        out.push("  block      hash 1, then 0x80, zeros, the length (256 bits)".into());
        out.push(format!("             {}", hex::encode(&p.block3)));
        out.push(format!("  hash 2     {}", hex::encode(&p.second_hash)));
        out.push(format!(
            "  block hash {hash}  (hash 2 reversed, as explorers show it)"
        ));
        out.push(String::new());
        let source = match self.target_source {
            "--target" => "from --target".to_owned(),
            _ => format!("from nBits {}", bits.bits),
        };
        out.push("comparison, both as 256-bit numbers (the hash read little-endian):".into());
        out.push(format!("  hash       {hash}"));
        out.push(format!(
            "  target     {}  ({source})",
            self.target.to_be_hex()
        ));
        out.push(format!("  difficulty {}", self.target.difficulty_float()));
        out.push(format!(
            "  verdict    {}",
            if self.meets {
                "hash <= target: the proof of work is valid"
            } else {
                "hash > target: not a valid proof of work for this target"
            }
        ));
        out.join("\n")
    }
}
