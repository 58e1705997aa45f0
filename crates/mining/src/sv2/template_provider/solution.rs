//! SubmitSolution becomes the block for `submitblock`: the pool's coinbase with the template's
//! transactions under the header the pool found. No I/O.

use crate::gbt::{push_varint, txid_of, without_witness, Template};
use crate::job::fold_branch;
use crate::merkle_branch;
use sha256d::{Error, Hash, Header};
use template_distribution_sv2::SubmitSolutionOwned;

/// A block built from a solution, ready for `submitblock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SolvedBlock {
    /// The template the solution was found on.
    pub template_id: u64,
    /// The block's height.
    pub height: u64,
    /// The block's hash.
    pub hash: Hash,
    /// The serialized block.
    pub data: Vec<u8>,
}

/// The block for `solution` on `template`.
///
/// The pool serializes its coinbase with segwit (a witness of 32 zero bytes, the reserved
/// value the commitment was computed with); that form goes into a block that commits to
/// witnesses, and the witness is stripped for a chain without them, whose nodes would refuse
/// it. Fails when the coinbase is not one transaction or the header misses the template's
/// target: the node could only refuse such a block, and a pool should not make it try.
pub fn block(
    template_id: u64,
    template: &Template,
    solution: &SubmitSolutionOwned,
) -> Result<SolvedBlock, Error> {
    let coinbase = solution.coinbase_tx.as_bytes();
    let (coinbase_txid, _) = txid_of(coinbase).map_err(|e| {
        Error::parse(format!(
            "the solution for template {template_id} has a coinbase that is not a \
             transaction: {}",
            e.message()
        ))
    })?;
    let txids: Vec<[u8; 32]> = template.transactions.iter().map(|t| t.txid).collect();
    let header = Header {
        version: solution.version,
        prev_blockhash: template.prev_hash,
        merkle_root: fold_branch(coinbase_txid, &merkle_branch(&txids)),
        time: solution.header_timestamp,
        bits: template.bits,
        nonce: solution.header_nonce,
    };
    let hash = header.block_hash();
    if !template.target.is_met_by(&hash) {
        return Err(Error::invalid(format!(
            "the solution for template {template_id} hashes to {hash}, above the target {}",
            template.target
        )));
    }
    let stripped = match template.witness_commitment {
        Some(_) => None,
        None => without_witness(coinbase).expect("parsed above"),
    };
    let coinbase = stripped.as_deref().unwrap_or(coinbase);
    let size = 80
        + 9
        + coinbase.len()
        + template
            .transactions
            .iter()
            .map(|t| t.data.len())
            .sum::<usize>();
    let mut data = Vec::with_capacity(size);
    data.extend_from_slice(&header.to_bytes());
    push_varint(&mut data, 1 + template.transactions.len() as u64);
    data.extend_from_slice(coinbase);
    for tx in &template.transactions {
        data.extend_from_slice(&tx.data);
    }
    Ok(SolvedBlock {
        template_id,
        height: template.height,
        hash,
        data,
    })
}
