use super::*;
use crate::gbt::fixtures::{template_json, tx, PREV};
use binary_sv2::{to_bytes, B0255Owned, GetSize, Seq0255Owned, Serialize};
use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash as _;
use common_messages_sv2::{SetupConnection, MESSAGE_TYPE_SETUP_CONNECTION};
use serde_json::json;
use template_distribution_sv2::{
    NewTemplateOwned, RequestTransactionData, SetNewPrevHashOwned, SubmitSolution,
    MESSAGE_TYPE_COINBASE_OUTPUT_CONSTRAINTS, MESSAGE_TYPE_NEW_TEMPLATE,
    MESSAGE_TYPE_REQUEST_TRANSACTION_DATA, MESSAGE_TYPE_SUBMIT_SOLUTION,
};

fn payload<T: Serialize + GetSize>(message: T) -> Vec<u8> {
    to_bytes(message).expect("encodable")
}

fn setup_payload(protocol: Protocol, min: u16, max: u16) -> Vec<u8> {
    payload(SetupConnection {
        protocol,
        min_version: min,
        max_version: max,
        flags: 0,
        endpoint_host: "127.0.0.1".try_into().expect("short"),
        endpoint_port: 8442,
        vendor: "".try_into().expect("short"),
        hardware_version: "".try_into().expect("short"),
        firmware: "".try_into().expect("short"),
        device_id: "".try_into().expect("short"),
    })
}

fn constraints_payload(size: u32) -> Vec<u8> {
    payload(CoinbaseOutputConstraints {
        coinbase_output_max_additional_size: size,
        coinbase_output_max_additional_sigops: 400,
    })
}

/// A session the pool has set up and sent its constraints to.
fn ready_session() -> Session {
    let mut s = Session::new();
    let mut setup = setup_payload(Protocol::TemplateDistributionProtocol, 2, 2);
    s.on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut setup)
        .expect("setup");
    let mut c = constraints_payload(100);
    s.on_frame(0, MESSAGE_TYPE_COINBASE_OUTPUT_CONSTRAINTS, &mut c)
        .expect("constraints");
    assert!(s.ready());
    s
}

fn template(height: u64, txs: &[bitcoin::Transaction], segwit: bool) -> Arc<Template> {
    Arc::new(Template::from_json(&template_json(height, txs, segwit)).expect("valid"))
}

fn sent(out: &[Output]) -> Vec<String> {
    out.iter()
        .map(|o| match o {
            Output::Send(m) => format!("send {m}"),
            Output::Submit(b) => format!("submit {}", b.hash),
            Output::Log(l) => format!("log {l}"),
            Output::Close => "close".to_owned(),
        })
        .collect()
}

fn new_templates(out: &[Output]) -> Vec<NewTemplateOwned> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(AnyMessageOwned::TemplateDistribution(
                TemplateDistributionOwned::NewTemplate(t),
            )) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

fn prev_hashes(out: &[Output]) -> Vec<SetNewPrevHashOwned> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(AnyMessageOwned::TemplateDistribution(
                TemplateDistributionOwned::SetNewPrevHash(p),
            )) => Some(p.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn setup_is_answered_for_template_distribution_only() {
    let mut s = Session::new();
    let mut p = setup_payload(Protocol::TemplateDistributionProtocol, 2, 3);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut p)
        .expect("valid");
    assert_eq!(
        sent(&out),
        ["send CommonMessage: SetupConnectionSuccess(used_version: 2, flags: 0x00000000)"]
    );

    for (protocol, min, max, code) in [
        (Protocol::MiningProtocol, 2, 2, "unsupported-protocol"),
        (
            Protocol::TemplateDistributionProtocol,
            3,
            4,
            "protocol-version-mismatch",
        ),
    ] {
        let mut s = Session::new();
        let mut p = setup_payload(protocol, min, max);
        let out = s
            .on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut p)
            .expect("answered");
        assert!(
            matches!(out.last(), Some(Output::Close)),
            "{:?}",
            sent(&out)
        );
        let error = out.iter().find_map(|o| match o {
            Output::Send(AnyMessageOwned::Common(CommonMessagesOwned::SetupConnectionError(e))) => {
                Some(e.error_code.as_bytes().to_vec())
            }
            _ => None,
        });
        assert_eq!(error, Some(code.as_bytes().to_vec()));
        assert!(!s.ready());
    }
}

#[test]
fn anything_but_setup_first_is_a_protocol_error() {
    let mut s = Session::new();
    let mut c = constraints_payload(10);
    let err = s
        .on_frame(0, MESSAGE_TYPE_COINBASE_OUTPUT_CONSTRAINTS, &mut c)
        .expect_err("before setup");
    assert_eq!(
        err.message(),
        "the pool sent message type 0x70 before SetupConnection"
    );
    // Truncated, garbage, an extension, a second setup, a message only a TP sends.
    let mut s = Session::new();
    let mut p = setup_payload(Protocol::TemplateDistributionProtocol, 2, 2);
    let len = p.len();
    assert!(s
        .on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut p[..len - 1])
        .is_err());
    let mut s = ready_session();
    let mut p = setup_payload(Protocol::TemplateDistributionProtocol, 2, 2);
    assert!(s
        .on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut p)
        .is_err());
    assert!(s.on_frame(0, 0x99, &mut [1, 2, 3]).is_err());
    let mut c = constraints_payload(10);
    assert!(s
        .on_frame(0x4000, MESSAGE_TYPE_COINBASE_OUTPUT_CONSTRAINTS, &mut c)
        .is_err());
    let mut t = payload(new_template(0, true, &template(200, &[], true)));
    let err = s
        .on_frame(0, MESSAGE_TYPE_NEW_TEMPLATE, &mut t)
        .expect_err("from the pool");
    assert_eq!(
        err.message(),
        "the pool sent NewTemplate, which only a Template Provider sends"
    );
}

#[test]
fn templates_become_new_template_and_set_new_prev_hash() {
    let txs = [tx(1, true), tx(2, false)];
    let t = template(300, &txs, true);
    let mut s = Session::new();
    // Nothing goes out before the pool is set up and has sent its constraints.
    assert!(s.on_template(t.clone()).is_empty());
    let mut p = setup_payload(Protocol::TemplateDistributionProtocol, 2, 2);
    s.on_frame(0, MESSAGE_TYPE_SETUP_CONNECTION, &mut p)
        .expect("setup");
    let mut c = constraints_payload(5000);
    let out = s
        .on_frame(0, MESSAGE_TYPE_COINBASE_OUTPUT_CONSTRAINTS, &mut c)
        .expect("constraints");
    assert_eq!(
        sent(&out)[..2],
        [
            "log the pool adds coinbase outputs of up to 5000 bytes and 400 sigops",
            "log warning: getblocktemplate leaves room for about 1000 bytes of coinbase \
             outputs, not 5000; a full block may come out too large"
        ]
    );

    let commitment = t.witness_commitment.clone().expect("segwit");
    let mut outputs = 0u64.to_le_bytes().to_vec();
    outputs.push(commitment.len() as u8);
    outputs.extend_from_slice(&commitment);
    let txids: Vec<[u8; 32]> = txs
        .iter()
        .map(|t| t.compute_txid().to_byte_array())
        .collect();
    let path: Vec<binary_sv2::U256Owned> = crate::merkle_branch(&txids)
        .into_iter()
        .map(Into::into)
        .collect();
    let expected = NewTemplateOwned {
        template_id: 0,
        future_template: true,
        version: 0x2000_0000,
        coinbase_tx_version: 2,
        // 300 as a script number: two bytes, little-endian.
        coinbase_prefix: B0255Owned::new(vec![0x02, 0x2c, 0x01]).expect("short"),
        coinbase_tx_input_sequence: u32::MAX,
        coinbase_tx_value_remaining: 312_502_000,
        coinbase_tx_outputs_count: 1,
        coinbase_tx_outputs: B064KOwned::new(outputs).expect("short"),
        coinbase_tx_locktime: 0,
        merkle_path: Seq0255Owned::new(path).expect("short"),
    };
    assert_eq!(new_templates(&out), [expected]);
    let mut prev = [0u8; 32];
    hex_into(PREV, &mut prev);
    prev.reverse();
    let mut target = [0u8; 32];
    target[29] = 0xff;
    target[30] = 0xff;
    target[31] = 0x7f;
    assert_eq!(
        prev_hashes(&out),
        [SetNewPrevHashOwned {
            template_id: 0,
            prev_hash: prev.into(),
            header_timestamp: 1_700_000_600,
            n_bits: 0x207f_ffff,
            target: target.into(),
        }]
    );
    assert_eq!(out.len(), 4);

    // The clock moved a little: the same work, nothing sent.
    let mut later = template_json(300, &txs, true);
    later["curtime"] = json!(1_700_000_660);
    let later = Arc::new(Template::from_json(&later).expect("valid"));
    assert!(s.on_template(later).is_empty());

    // New transactions on the same tip: a NewTemplate for now, no SetNewPrevHash.
    let more = template(300, &[tx(1, true), tx(2, false), tx(3, true)], true);
    let out = s.on_template(more);
    let templates = new_templates(&out);
    assert_eq!(
        templates
            .iter()
            .map(|t| (t.template_id, t.future_template))
            .collect::<Vec<_>>(),
        [(1, false)]
    );
    assert_eq!(templates[0].merkle_path.clone().into_inner().len(), 2);
    assert_eq!(out.len(), 1);

    // A new tip: a future template and its SetNewPrevHash again.
    let mut tip = template_json(301, &[], true);
    tip["previousblockhash"] = json!("11".repeat(32));
    let out = s.on_template(Arc::new(Template::from_json(&tip).expect("valid")));
    assert_eq!(
        new_templates(&out)
            .iter()
            .map(|t| (
                t.template_id,
                t.future_template,
                t.coinbase_prefix.as_bytes().to_vec()
            ))
            .collect::<Vec<_>>(),
        [(2, true, vec![0x02, 0x2d, 0x01])]
    );
    assert_eq!(
        prev_hashes(&out)
            .iter()
            .map(|p| (p.template_id, p.prev_hash.to_owned_bytes()))
            .collect::<Vec<_>>(),
        [(2, vec![0x11; 32])]
    );
}

fn hex_into(text: &str, out: &mut [u8; 32]) {
    let bytes = sha256d::hazmat::hex::decode(text).expect("hex");
    out.copy_from_slice(&bytes);
}

#[test]
fn request_transaction_data_is_answered_from_kept_templates() {
    let txs = [tx(4, true), tx(5, false)];
    let mut s = ready_session();
    s.on_template(template(500, &txs, true));
    let mut r = payload(RequestTransactionData { template_id: 0 });
    let out = s
        .on_frame(0, MESSAGE_TYPE_REQUEST_TRANSACTION_DATA, &mut r)
        .expect("valid");
    match &out[..] {
        [Output::Send(AnyMessageOwned::TemplateDistribution(
            TemplateDistributionOwned::RequestTransactionDataSuccess(ok),
        ))] => {
            assert_eq!(ok.template_id, 0);
            assert_eq!(
                ok.transaction_list
                    .clone()
                    .into_inner()
                    .into_iter()
                    .map(|t| t.into_bytes())
                    .collect::<Vec<_>>(),
                txs.iter().map(serialize).collect::<Vec<_>>()
            );
        }
        other => panic!("{:?}", sent(other)),
    }
    let mut r = payload(RequestTransactionData { template_id: 7 });
    let out = s
        .on_frame(0, MESSAGE_TYPE_REQUEST_TRANSACTION_DATA, &mut r)
        .expect("valid");
    assert_eq!(
        sent(&out),
        [
            "send TemplateDistributionMessage: RequestTransactionDataError(template_id: 7, \
          error_code: template-id-not-found)"
        ]
    );
}

/// The coinbase a pool builds from a NewTemplate, as rust-bitcoin writes it: the prefix, a
/// tag and an extranonce in the scriptSig, its payout first, then the template's outputs, and
/// the 32 zero bytes of witness.
fn pool_coinbase(t: &NewTemplateOwned) -> bitcoin::Transaction {
    let mut script = t.coinbase_prefix.as_bytes().to_vec();
    script.push(4);
    script.extend_from_slice(b"pool");
    script.push(8);
    script.extend_from_slice(&[7; 8]);
    let mut output = vec![bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(t.coinbase_tx_value_remaining),
        script_pubkey: bitcoin::ScriptBuf::from_bytes([&[0, 20][..], &[9; 20]].concat()),
    }];
    let mut rest = t.coinbase_tx_outputs.as_bytes();
    for _ in 0..t.coinbase_tx_outputs_count {
        let out: bitcoin::TxOut =
            bitcoin::consensus::Decodable::consensus_decode(&mut rest).expect("an output");
        output.push(out);
    }
    assert!(rest.is_empty());
    bitcoin::Transaction {
        version: bitcoin::transaction::Version(t.coinbase_tx_version as i32),
        lock_time: bitcoin::absolute::LockTime::from_consensus(t.coinbase_tx_locktime),
        input: vec![bitcoin::TxIn {
            previous_output: bitcoin::OutPoint::null(),
            script_sig: bitcoin::ScriptBuf::from_bytes(script),
            sequence: bitcoin::Sequence(t.coinbase_tx_input_sequence),
            witness: bitcoin::Witness::from_slice(&[[0u8; 32]]),
        }],
        output,
    }
}

/// A solution for `t` the template's target accepts (regtest: about every second nonce),
/// and the block rust-bitcoin builds from it.
fn solve(
    t: &NewTemplateOwned,
    prev: &SetNewPrevHashOwned,
    txs: &[bitcoin::Transaction],
) -> (Vec<u8>, bitcoin::Block) {
    let coinbase = pool_coinbase(t);
    let txdata: Vec<bitcoin::Transaction> = std::iter::once(coinbase.clone())
        .chain(txs.iter().cloned())
        .collect();
    let mut block = bitcoin::Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(0x2000_4000),
            prev_blockhash: bitcoin::BlockHash::from_byte_array(
                prev.prev_hash.to_owned_bytes().try_into().expect("32"),
            ),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: prev.header_timestamp + 5,
            bits: bitcoin::CompactTarget::from_consensus(prev.n_bits),
            nonce: 0,
        },
        txdata,
    };
    block.header.merkle_root = block.compute_merkle_root().expect("transactions");
    let target =
        bitcoin::Target::from_le_bytes(prev.target.to_owned_bytes().try_into().expect("32"));
    while !target.is_met_by(block.block_hash()) {
        block.header.nonce += 1;
    }
    (serialize(&coinbase), block)
}

fn solution_payload(id: u64, coinbase: &[u8], block: &bitcoin::Block) -> Vec<u8> {
    payload(SubmitSolution {
        template_id: id,
        version: block.header.version.to_consensus() as u32,
        header_timestamp: block.header.time,
        header_nonce: block.header.nonce,
        coinbase_tx: coinbase.try_into().expect("short"),
    })
}

fn submitted(out: &[Output]) -> &SolvedBlock {
    match out {
        [Output::Submit(b)] => b,
        other => panic!("{:?}", sent(other)),
    }
}

#[test]
fn a_solution_becomes_the_exact_block() {
    let txs = [tx(1, true), tx(2, false), tx(3, true)];
    let mut s = ready_session();
    let out = s.on_template(template(700, &txs, true));
    let (t, prev) = (&new_templates(&out)[0], &prev_hashes(&out)[0]);
    let (coinbase, expected) = solve(t, prev, &txs);
    assert!(expected.check_merkle_root());
    assert!(expected.check_witness_commitment());
    let mut p = solution_payload(0, &coinbase, &expected);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SUBMIT_SOLUTION, &mut p)
        .expect("valid");
    let b = submitted(&out);
    assert_eq!(b.data, serialize(&expected));
    assert_eq!((b.template_id, b.height), (0, 700));
    assert_eq!(b.hash.to_string(), expected.block_hash().to_string());
}

#[test]
fn a_chain_without_segwit_gets_the_coinbase_without_witness() {
    let txs = [tx(1, false)];
    let mut s = ready_session();
    let out = s.on_template(template(20, &txs, false));
    let (t, prev) = (&new_templates(&out)[0], &prev_hashes(&out)[0]);
    assert_eq!(
        (t.coinbase_tx_outputs_count, t.coinbase_prefix.as_bytes()),
        (0, &[0x01, 20][..])
    );
    let (coinbase, mut expected) = solve(t, prev, &txs);
    let mut p = solution_payload(0, &coinbase, &expected);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SUBMIT_SOLUTION, &mut p)
        .expect("valid");
    expected.txdata[0].input[0].witness = bitcoin::Witness::new();
    assert_eq!(submitted(&out).data, serialize(&expected));
}

#[test]
fn bad_solutions_are_logged_not_submitted() {
    let txs = [tx(1, true)];
    let mut s = ready_session();
    let out = s.on_template(template(700, &txs, true));
    let (t, prev) = (&new_templates(&out)[0], &prev_hashes(&out)[0]);
    let (coinbase, mut block) = solve(t, prev, &txs);

    let mut p = solution_payload(9, &coinbase, &block);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SUBMIT_SOLUTION, &mut p)
        .expect("valid");
    assert_eq!(
        sent(&out),
        [
            "log the pool submitted a solution for template 9, which is unknown or older than \
          the last 16; not submitted"
        ]
    );

    let mut p = solution_payload(0, &coinbase[..coinbase.len() - 1], &block);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SUBMIT_SOLUTION, &mut p)
        .expect("valid");
    assert_eq!(
        sent(&out),
        [
            "log the solution for template 0 has a coinbase that is not a transaction: the \
          transaction data is truncated; not submitted"
        ]
    );

    let target =
        bitcoin::Target::from_le_bytes(prev.target.to_owned_bytes().try_into().expect("32"));
    while target.is_met_by(block.block_hash()) {
        block.header.nonce += 1;
    }
    let mut p = solution_payload(0, &coinbase, &block);
    let out = s
        .on_frame(0, MESSAGE_TYPE_SUBMIT_SOLUTION, &mut p)
        .expect("valid");
    assert_eq!(
        sent(&out),
        [format!(
            "log the solution for template 0 hashes to {}, above the target \
             7fffff0000000000000000000000000000000000000000000000000000000000; not submitted",
            block.block_hash()
        )]
    );
}

#[test]
fn only_the_last_templates_are_kept() {
    let mut s = ready_session();
    for i in 0..KEPT_TEMPLATES as u64 + 4 {
        let mut t = template_json(100 + i, &[], true);
        t["previousblockhash"] = json!(format!("{:064x}", i + 1));
        s.on_template(Arc::new(Template::from_json(&t).expect("valid")));
    }
    let kept: Vec<u64> = s.sent.iter().map(|(id, _)| *id).collect();
    assert_eq!(kept, (4..KEPT_TEMPLATES as u64 + 4).collect::<Vec<_>>());
    let mut r = payload(RequestTransactionData { template_id: 3 });
    let out = s
        .on_frame(0, MESSAGE_TYPE_REQUEST_TRANSACTION_DATA, &mut r)
        .expect("valid");
    assert!(
        sent(&out)[0].contains("template-id-not-found"),
        "{:?}",
        sent(&out)
    );
}
