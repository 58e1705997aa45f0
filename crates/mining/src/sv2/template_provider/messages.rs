//! A checked template as the template-distribution protocol carries it: NewTemplate (the
//! coinbase's fixed parts and the merkle path) and SetNewPrevHash (the header fields the tip
//! decides). No I/O.

use crate::gbt::{height_push, push_varint, Template};
use crate::merkle_branch;
use binary_sv2::{B0255Owned, B064KOwned, Seq0255Owned, U256Owned};
use template_distribution_sv2::{NewTemplateOwned, SetNewPrevHashOwned};

/// The coinbase transaction version the pool is told to write: 2, as Core's own miner does
/// (BIP68 relative lock times need it; a coinbase has no inputs to lock, so it only matches).
pub const COINBASE_TX_VERSION: u32 = 2;

/// The template as NewTemplate: the coinbase prefix is the BIP34 height push (the pool
/// appends its tag and the extranonce), the value is everything the coinbase may pay, and the
/// only output the template adds is the witness commitment (when the block commits to
/// witnesses), worth nothing.
pub fn new_template(template_id: u64, future: bool, template: &Template) -> NewTemplateOwned {
    let mut outputs = Vec::new();
    if let Some(commitment) = &template.witness_commitment {
        outputs.extend_from_slice(&0u64.to_le_bytes());
        push_varint(&mut outputs, commitment.len() as u64);
        outputs.extend_from_slice(commitment);
    }
    let txids: Vec<[u8; 32]> = template.transactions.iter().map(|t| t.txid).collect();
    let path: Vec<U256Owned> = merkle_branch(&txids)
        .into_iter()
        .map(U256Owned::from)
        .collect();
    NewTemplateOwned {
        template_id,
        future_template: future,
        version: template.version,
        coinbase_tx_version: COINBASE_TX_VERSION,
        coinbase_prefix: B0255Owned::new(height_push(template.height))
            .expect("a height push is at most 5 bytes"),
        coinbase_tx_input_sequence: u32::MAX,
        coinbase_tx_value_remaining: template.coinbase_value,
        coinbase_tx_outputs_count: u32::from(template.witness_commitment.is_some()),
        coinbase_tx_outputs: B064KOwned::new(outputs)
            .expect("a commitment output is at most 89 bytes (the script is checked to 80)"),
        coinbase_tx_locktime: 0,
        merkle_path: Seq0255Owned::new(path)
            .expect("a path over at most 100,000 transactions has at most 17 levels"),
    }
}

/// The template's tip as SetNewPrevHash for the future template `template_id`: the parent,
/// the node's time, bits and the network target (little-endian, as SV2 writes a U256).
pub fn set_new_prev_hash(template_id: u64, template: &Template) -> SetNewPrevHashOwned {
    SetNewPrevHashOwned {
        template_id,
        prev_hash: U256Owned::from(template.prev_hash),
        header_timestamp: template.curtime,
        n_bits: template.bits.to_consensus(),
        target: U256Owned::from(template.target.to_le_bytes()),
    }
}
