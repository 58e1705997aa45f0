//! Templates as a node sends them, built with rust-bitcoin, for the unit tests.

use super::template::COMMITMENT_PREFIX;
use super::CoinbaseOptions;
use bitcoin::consensus::encode::serialize_hex;
use bitcoin::hashes::Hash as _;
use serde_json::{json, Value};
use sha256d::hazmat::hex;

pub(crate) const PREV: &str = "1c1f4e5f5db1d6fa3ea860e35006eab7f988b4f3dcb73b5596abcbcf9ee1813d";
pub(crate) const PAYOUT: &str = "76a914c4877bf4b8454f56548b53cdf28f3ae1828084c288ac";

/// A transaction spending outpoint `i`, with a witness (P2WPKH-shaped) or a scriptSig.
pub(crate) fn tx(i: u8, witness: bool) -> bitcoin::Transaction {
    bitcoin::Transaction {
        version: bitcoin::transaction::Version::TWO,
        lock_time: bitcoin::absolute::LockTime::ZERO,
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint {
                txid: bitcoin::Txid::from_byte_array([i; 32]),
                vout: u32::from(i),
            },
            script_sig: if witness {
                bitcoin::ScriptBuf::new()
            } else {
                bitcoin::ScriptBuf::from_bytes(vec![0x51; usize::from(i) + 1])
            },
            sequence: bitcoin::Sequence::MAX,
            witness: if witness {
                bitcoin::Witness::from_slice(&[vec![0x30; 71], vec![0x02; 33]])
            } else {
                bitcoin::Witness::new()
            },
        }],
        output: vec![bitcoin::TxOut {
            value: bitcoin::Amount::from_sat(1000 * u64::from(i) + 1),
            script_pubkey: bitcoin::ScriptBuf::from_bytes([&[0, 20][..], &[i; 20]].concat()),
        }],
    }
}

/// A template as Core would send it for `txs`, with rust-bitcoin's witness commitment
/// when `segwit`.
pub(crate) fn template_json(height: u64, txs: &[bitcoin::Transaction], segwit: bool) -> Value {
    let mut v = json!({
        "capabilities": ["proposal"],
        "version": 0x2000_0000,
        "rules": ["csv", "!segwit", "taproot"],
        "previousblockhash": PREV,
        "transactions": txs.iter().map(|t| json!({
            "data": serialize_hex(t),
            "txid": t.compute_txid().to_string(),
            "hash": t.compute_wtxid().to_string(),
            "depends": [],
            "fee": 1000,
            "sigops": 1,
            "weight": t.weight().to_wu(),
        })).collect::<Vec<_>>(),
        "coinbasevalue": 312_500_000u64 + 1000 * txs.len() as u64,
        "longpollid": format!("{PREV}{height}"),
        "target": "7fffff0000000000000000000000000000000000000000000000000000000000",
        "mintime": 1_700_000_000,
        "mutable": ["time", "transactions", "prevblock"],
        "noncerange": "00000000ffffffff",
        "curtime": 1_700_000_600,
        "bits": "207fffff",
        "height": height,
    });
    if segwit {
        let wtxids = std::iter::once(bitcoin::Wtxid::all_zeros())
            .chain(txs.iter().map(|t| t.compute_wtxid()));
        let root = bitcoin::merkle_tree::calculate_root(wtxids).expect("non-empty");
        let root = bitcoin::WitnessMerkleNode::from_raw_hash(root.to_raw_hash());
        let commitment = bitcoin::Block::compute_witness_commitment(&root, &[0; 32]);
        let script = [&COMMITMENT_PREFIX[..], &commitment.to_byte_array()].concat();
        v["default_witness_commitment"] = json!(hex::encode(&script));
    }
    v
}

pub(crate) fn coinbase_options() -> CoinbaseOptions {
    CoinbaseOptions {
        payout_script: hex::decode(PAYOUT).expect("valid"),
        extranonce1: vec![0xde, 0xad, 0xbe, 0xef],
        extranonce2_size: 8,
        tag: b"/sha256d/".to_vec(),
        version_rolling: true,
    }
}
