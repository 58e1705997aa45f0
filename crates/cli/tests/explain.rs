//! `sha256d explain`, run as a user runs it, on real headers: the genesis block and block
//! 840000. The expected values come from outside this workspace: the hashes and fields as
//! explorers show them, and the midstates and pass-1 hashes from an independent SHA-256
//! (Python's hashlib for the hashes, a FIPS 180-4 compression written out for the midstate).

use serde_json::{json, Value};
use std::process::{Command, Output};

const GENESIS: &str = sha256d::GENESIS_HEADER_HEX;
const BLOCK_840000: &str = "00e05f2aab948491071265ad552351d0ad625745668da54b0172010000000000\
                            000000004f89a5d73bd4d4887f25981fe81892ccafda10c27f52d6f3dd28183a\
                            7c411b03b7072366194203177d9863ea";
const HASH_840000: &str = "0000000000000000000320283a032748cef8227873ff4872689bf23f1cda83a5";

fn explain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sha256d"))
        .arg("explain")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout.clone()).expect("UTF-8 output")
}

fn json_of(args: &[&str]) -> Value {
    serde_json::from_str(&stdout(&explain(args))).expect("one JSON object")
}

/// The one error line of a failed run.
fn error_of(args: &[&str]) -> String {
    let o = explain(args);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(o.stdout.is_empty(), "{o:?}");
    String::from_utf8(o.stderr).expect("UTF-8 errors")
}

#[test]
fn genesis_worked_through_in_text() {
    let expected = "\
header, 80 bytes as hashed (wire order):
  0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c

fields: where each sits in the 80 bytes, and how an explorer shows it
  version     bytes  0..4   little-endian u32               01000000
                                                           shown as  0x00000001 (1)
  prev_block  bytes  4..36  32 bytes, reversed for display  0000000000000000000000000000000000000000000000000000000000000000
                                                           shown as  0000000000000000000000000000000000000000000000000000000000000000
  merkle_root bytes 36..68  32 bytes, reversed for display  3ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a
                                                           shown as  4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b
  time        bytes 68..72  little-endian u32               29ab5f49
                                                           shown as  1231006505 (2009-01-03T18:15:05Z)
  bits        bytes 72..76  little-endian u32               ffff001d
                                                           shown as  1d00ffff
  nonce       bytes 76..80  little-endian u32               1dac2b7c
                                                           shown as  2083236893 (0x7c2bac1d)

nBits 1d00ffff (from the header):
  exponent   0x1d = 29: the target is 29 bytes long
  mantissa   0x00ffff: its most significant bytes
  sign bit   clear (0x00800000)
  target     0x00ffff * 256^(29 - 3)
             = 00000000ffff0000000000000000000000000000000000000000000000000000

SHA-256 pass 1, over the 80 header bytes (two 64-byte blocks):
  block 1    header bytes 0..64
             0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27ac72c3e67768f617fc81bc3888a51323a9fb8aa
  midstate   the state after block 1, the same for every nonce
             bc909a33 6358bff0 90ccac7d 1e59caa8 c3c8d8e9 4f0103c8 96b18736 4719f91b
  block 2    header bytes 64..80, then 0x80, zeros, the length (640 bits)
             4b1e5e4a29ab5f49ffff001d1dac2b7c800000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000280
  hash 1     af42031e805ff493a07341e2f74ff58149d22ab9ba19f61343e2c86c71c5d66d
SHA-256 pass 2, over hash 1 (one 64-byte block):
  block      hash 1, then 0x80, zeros, the length (256 bits)
             af42031e805ff493a07341e2f74ff58149d22ab9ba19f61343e2c86c71c5d66d8000000000000000000000000000000000000000000000000000000000000100
  hash 2     6fe28c0ab6f1b372c1a6a246ae63f74f931e8365e15a089c68d6190000000000
  block hash 000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f  (hash 2 reversed, as explorers show it)

comparison, both as 256-bit numbers (the hash read little-endian):
  hash       000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f
  target     00000000ffff0000000000000000000000000000000000000000000000000000  (from nBits 1d00ffff)
  difficulty 1
  verdict    hash <= target: the proof of work is valid
";
    assert_eq!(stdout(&explain(&[GENESIS])), expected);
}

#[test]
fn genesis_in_json() {
    let j = json_of(&[GENESIS, "--json"]);
    assert_eq!(
        j["hash"],
        json!("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    );
    assert_eq!(
        j["target"],
        json!("00000000ffff0000000000000000000000000000000000000000000000000000")
    );
    assert_eq!(j["target_source"], json!("nbits"));
    assert_eq!(j["difficulty"], json!(1.0));
    assert_eq!(j["meets_target"], json!(true));
    assert_eq!(j["time_utc"], json!("2009-01-03T18:15:05Z"));
    assert_eq!(
        j["sha256"]["midstate"],
        json!([
            "bc909a33", "6358bff0", "90ccac7d", "1e59caa8", "c3c8d8e9", "4f0103c8", "96b18736",
            "4719f91b"
        ])
    );
    assert_eq!(
        j["sha256"]["first_hash"],
        json!("af42031e805ff493a07341e2f74ff58149d22ab9ba19f61343e2c86c71c5d66d")
    );
    assert_eq!(
        j["nbits"],
        json!({
            "source": "header",
            "bits": "1d00ffff",
            "exponent": 29,
            "mantissa": "00ffff",
            "negative": false,
            "formula": "0x00ffff * 256^(29 - 3)",
            "target": "00000000ffff0000000000000000000000000000000000000000000000000000",
            "error": null,
        })
    );
}

#[test]
fn block_840000_in_json() {
    let j = json_of(&[BLOCK_840000, "--json"]);
    assert_eq!(j["hash"], json!(HASH_840000));
    assert_eq!(j["header"], json!(BLOCK_840000));
    let le = "little-endian u32";
    let rev = "32 bytes, reversed for display";
    assert_eq!(
        j["fields"],
        json!([
            {"name": "version", "offset": 0, "length": 4, "bytes": "00e05f2a", "order": le,
             "value": 0x2a5f_e000u32},
            {"name": "prev_block", "offset": 4, "length": 32,
             "bytes": "ab948491071265ad552351d0ad625745668da54b017201000000000000000000", "order": rev,
             "value": "0000000000000000000172014ba58d66455762add0512355ad651207918494ab"},
            {"name": "merkle_root", "offset": 36, "length": 32,
             "bytes": "4f89a5d73bd4d4887f25981fe81892ccafda10c27f52d6f3dd28183a7c411b03", "order": rev,
             "value": "031b417c3a1828ddf3d6527fc210daafcc9218e81f98257f88d4d43bd7a5894f"},
            {"name": "time", "offset": 68, "length": 4, "bytes": "b7072366", "order": le,
             "value": 1_713_571_767u32},
            {"name": "bits", "offset": 72, "length": 4, "bytes": "19420317", "order": le,
             "value": "17034219"},
            {"name": "nonce", "offset": 76, "length": 4, "bytes": "7d9863ea", "order": le,
             "value": 3_932_395_645u32},
        ])
    );
    assert_eq!(j["time_utc"], json!("2024-04-20T00:09:27Z"));
    assert_eq!(
        j["nbits"],
        json!({
            "source": "header",
            "bits": "17034219",
            "exponent": 23,
            "mantissa": "034219",
            "negative": false,
            "formula": "0x034219 * 256^(23 - 3)",
            "target": "0000000000000000000342190000000000000000000000000000000000000000",
            "error": null,
        })
    );
    assert_eq!(
        j["sha256"]["midstate"],
        json!([
            "95aa86c8", "51a2c610", "18ff5b7d", "08061330", "b96d93a3", "253806d2", "125f98df",
            "ce858e82"
        ])
    );
    assert_eq!(
        j["sha256"]["first_hash"],
        json!("f75a918335e029956bb8b67bc10fed5c9dfb00d360a5a87070f0f929ce3e3d67")
    );
    assert_eq!(
        j["sha256"]["second_hash"],
        json!("a583da1c3ff29b687248ff737822f8ce4827033a282003000000000000000000")
    );
    assert_eq!(
        j["target"],
        json!("0000000000000000000342190000000000000000000000000000000000000000")
    );
    assert_eq!(j["meets_target"], json!(true));
    // Explorers show 86,388,558,925,171.02 for this block.
    assert_eq!(
        format!("{:.2}", j["difficulty"].as_f64().expect("a number")),
        "86388558925171.02"
    );
}

#[test]
fn block_840000_in_text_names_its_hash_target_and_verdict() {
    let text = stdout(&explain(&[BLOCK_840000]));
    let lines: Vec<&str> = text.lines().collect();
    let tail = &lines[lines.len() - 5..];
    assert_eq!(
        tail,
        [
            "comparison, both as 256-bit numbers (the hash read little-endian):",
            &format!("  hash       {HASH_840000}"),
            "  target     0000000000000000000342190000000000000000000000000000000000000000  (from nBits 17034219)",
            "  difficulty 86388558925171.02",
            "  verdict    hash <= target: the proof of work is valid",
        ]
    );
    assert!(
        text.contains("  version     bytes  0..4   little-endian u32               00e05f2a\n"),
        "{text}"
    );
    assert!(
        text.contains("shown as  0x2a5fe000 (710926336)\n"),
        "{text}"
    );
    assert!(
        text.contains("shown as  3932395645 (0xea63987d)\n"),
        "{text}"
    );
    assert!(
        text.contains("  exponent   0x17 = 23: the target is 23 bytes long\n"),
        "{text}"
    );
}

#[test]
fn the_target_is_inclusive_and_can_be_overridden() {
    let at = json_of(&[BLOCK_840000, "--target", HASH_840000, "--json"]);
    assert_eq!(at["target"], json!(HASH_840000));
    assert_eq!(at["target_source"], json!("--target"));
    assert_eq!(at["meets_target"], json!(true));
    // One below the hash: missed. The header's own nBits are still decoded.
    let below = HASH_840000.replace("83a5", "83a4");
    let miss = json_of(&[BLOCK_840000, "--target", &below, "--json"]);
    assert_eq!(miss["meets_target"], json!(false));
    assert_eq!(miss["hash"], json!(HASH_840000));
    assert_eq!(miss["nbits"]["bits"], json!("17034219"));
    let text = stdout(&explain(&[BLOCK_840000, "--target", &below]));
    let lines: Vec<&str> = text.lines().collect();
    // Between them the difficulty of that target, which only --target gives here.
    assert_eq!(
        lines[lines.len() - 3],
        format!("  target     {below}  (from --target)")
    );
    assert_eq!(
        lines[lines.len() - 1],
        "  verdict    hash > target: not a valid proof of work for this target"
    );
}

#[test]
fn other_bits_change_the_verdict_not_the_header() {
    let j = json_of(&[GENESIS, "--bits", "1b00ffff", "--json"]);
    assert_eq!(
        j["hash"],
        json!("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f")
    );
    assert_eq!(j["header"], json!(GENESIS));
    assert_eq!(j["fields"][4]["value"], json!("1d00ffff"));
    assert_eq!(j["nbits"]["source"], json!("--bits"));
    assert_eq!(j["nbits"]["exponent"], json!(27));
    assert_eq!(
        j["target"],
        json!("000000000000ffff000000000000000000000000000000000000000000000000")
    );
    assert_eq!(j["difficulty"], json!(65536.0));
    assert_eq!(j["meets_target"], json!(false));
}

#[test]
fn invalid_header_bits_are_reported_with_a_target_and_fatal_without() {
    let negative = GENESIS.replace("ffff001d", "ffff801d");
    let why = "nBits 1d80ffff encodes a negative target (sign bit 0x00800000 set)";
    assert_eq!(
        error_of(&[&negative]),
        format!(
            "error: {why}; give --target HEX64 or --bits HEX8 to compare with another target\n"
        )
    );
    let target = "00000000ffff0000000000000000000000000000000000000000000000000000";
    let j = json_of(&[&negative, "--target", target, "--json"]);
    assert_eq!(j["nbits"]["error"], json!(why));
    assert_eq!(j["nbits"]["target"], Value::Null);
    assert_eq!(j["nbits"]["negative"], json!(true));
    assert_eq!(j["target"], json!(target));
    // Other bits make another header, whose hash misses the target.
    assert_eq!(
        j["hash"],
        json!("a4f9f07627079ded826aec63f43a383b709b93daf3328decd459bfc0946ddad4")
    );
    assert_eq!(j["meets_target"], json!(false));
    let text = stdout(&explain(&[&negative, "--target", target]));
    assert!(
        text.contains(&format!("             invalid: {why}\n")),
        "{text}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    assert_eq!(
        error_of(&["zz"]),
        "error: header: invalid hex digit at position 0\n"
    );
    assert_eq!(
        error_of(&[&GENESIS[2..]]),
        "error: a block header is 80 bytes (160 hex digits), got 79 bytes\n"
    );
    assert_eq!(
        error_of(&[GENESIS, "--bits", "1d00ff"]),
        "error: nBits must be 8 hex digits (4 bytes), got 6\n"
    );
    assert_eq!(
        error_of(&[GENESIS, "--target", "12"]),
        "error: target must be 64 hex digits (32 bytes), got 2\n"
    );
    assert_eq!(
        error_of(&[GENESIS, "--bits", "1d00ffff", "--target", HASH_840000]),
        "error: the argument '--bits <BITS>' cannot be used with '--target <TARGET>' (see --help)\n"
    );
}
