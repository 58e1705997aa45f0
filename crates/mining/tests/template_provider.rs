//! The Template Provider's server as a pool meets it, over real Noise on 127.0.0.1, on a
//! Bitcoin Knots regtest node (`SHA256D_KNOTS_BITCOIND`): the authority key pinned, a setup
//! for the wrong protocol refused, and the whole exchange a pool has (constraints, a template
//! with the mempool's transactions, RequestTransactionData, which pool_sv2 never sends, and a
//! solution that becomes the node's tip). Skips with a message without Knots, and fails instead
//! under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

#![cfg(feature = "sv2")]

mod sv2_stack;

use bitcoin::consensus::encode::serialize;
use bitcoin::hashes::Hash as _;
use common_messages_sv2::{Protocol, SetupConnection};
use parsers_sv2::{
    AnyMessageOwned, CommonMessages, CommonMessagesOwned, TemplateDistribution,
    TemplateDistributionOwned,
};
use sha256d_mining::rpc::Auth;
use sha256d_mining::sv2::template_provider::{frame, Server, ServerOptions};
use sha256d_mining::sv2::transport::{self, Frame, FrameReader, FrameWriter};
use sha256d_mining::sv2::{AuthorityKeypair, ServerAuth, TransportError};
use sha256d_testkit::regtest::{Flavour, Regtest};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use sv2_stack::{Lines, PATIENCE};
use template_distribution_sv2::{
    CoinbaseOutputConstraints, NewTemplateOwned, RequestTransactionData, SubmitSolution,
};

fn start(node: &Regtest) -> (Server, Lines) {
    let lines = Lines::default();
    let log = lines.clone();
    let mut options = ServerOptions::new(
        node.rpc_url(),
        Auth::UserPass(node.rpc_user(), node.rpc_password()),
        AuthorityKeypair::generate(),
    );
    options.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let server = Server::start(options, Arc::new(move |line: &str| log.push(line)))
        .expect("the template provider starts");
    (server, lines)
}

type Halves = (FrameReader<TcpStream>, FrameWriter<TcpStream>);

fn connect(server: &Server, auth: ServerAuth) -> Result<Halves, TransportError> {
    let stream = TcpStream::connect(server.local_addr()).expect("the listener answers");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    transport::connect(stream, auth)
}

fn send<T: Into<AnyMessageOwned>>(writer: &mut FrameWriter<TcpStream>, message: T) {
    writer
        .write_frame(&frame(message.into()))
        .expect("the frame goes out");
}

fn setup(protocol: Protocol) -> CommonMessagesOwned {
    CommonMessagesOwned::SetupConnection(
        SetupConnection {
            protocol,
            min_version: 2,
            max_version: 2,
            flags: 0,
            endpoint_host: "127.0.0.1".try_into().expect("short"),
            endpoint_port: 8442,
            vendor: "sha256d tests".try_into().expect("short"),
            hardware_version: "".try_into().expect("short"),
            firmware: "".try_into().expect("short"),
            device_id: "".try_into().expect("short"),
        }
        .into_owned(),
    )
}

fn template_message(mut frame: Frame) -> TemplateDistributionOwned {
    TemplateDistribution::try_from((frame.msg_type, &mut frame.payload[..]))
        .expect("a template message")
        .into_owned()
}

fn common_message(mut frame: Frame) -> CommonMessagesOwned {
    CommonMessages::try_from((frame.msg_type, &mut frame.payload[..]))
        .expect("a common message")
        .into_owned()
}

#[test]
fn a_pool_pinning_another_key_is_refused_the_handshake() {
    let Some(node) = Regtest::knots() else { return };
    let (server, _) = start(&node);
    let other = AuthorityKeypair::generate().public();
    assert_eq!(
        connect(&server, ServerAuth::Pinned(other)).err(),
        Some(TransportError::WrongAuthority)
    );
}

#[test]
fn a_setup_for_the_mining_protocol_is_refused() {
    let Some(node) = Regtest::knots() else { return };
    let (server, lines) = start(&node);
    let (mut reader, mut writer) =
        connect(&server, ServerAuth::Pinned(server.public_key())).expect("the handshake");
    send(&mut writer, setup(Protocol::MiningProtocol));
    match common_message(reader.read_frame().expect("an answer")) {
        CommonMessagesOwned::SetupConnectionError(e) => {
            assert_eq!(e.error_code.as_bytes(), b"unsupported-protocol");
        }
        other => panic!("{other}"),
    }
    assert_eq!(reader.read_frame().err(), Some(TransportError::Closed));
    lines.wait_for("closed: the pool's setup was refused", PATIENCE);
}

/// The coinbase a pool would build: its tag and extranonce after the template's prefix, its
/// payout, then the template's outputs, with the 32-byte witness reserved value.
fn coinbase(t: &NewTemplateOwned, payout: bitcoin::ScriptBuf) -> bitcoin::Transaction {
    let mut script = t.coinbase_prefix.as_bytes().to_vec();
    script.extend_from_slice(&[8, 1, 2, 3, 4, 5, 6, 7, 8]);
    let mut output = vec![bitcoin::TxOut {
        value: bitcoin::Amount::from_sat(t.coinbase_tx_value_remaining),
        script_pubkey: payout,
    }];
    let mut rest = t.coinbase_tx_outputs.as_bytes();
    for _ in 0..t.coinbase_tx_outputs_count {
        output.push(bitcoin::consensus::Decodable::consensus_decode(&mut rest).expect("an output"));
    }
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

#[test]
fn a_pools_whole_exchange_ends_in_the_nodes_new_tip() {
    let Some(node) = Regtest::knots() else { return };
    whole_exchange(&node);
}

/// The same on a chain without segwit (Bitcoin SV, `SHA256D_BITCOIND`): no commitment output,
/// and the pool's coinbase reaches the node without its witness, which that node would refuse.
#[test]
fn a_pools_whole_exchange_on_a_chain_without_segwit() {
    let Some(node) = Regtest::start() else { return };
    whole_exchange(&node);
}

fn whole_exchange(node: &Regtest) {
    let txid = node.send_to_new_address("1");
    sv2_stack::wait_for_mempool_in_template(node, 1);
    let (server, lines) = start(node);
    let (mut reader, mut writer) =
        connect(&server, ServerAuth::Pinned(server.public_key())).expect("the handshake");
    send(&mut writer, setup(Protocol::TemplateDistributionProtocol));
    match common_message(reader.read_frame().expect("an answer")) {
        CommonMessagesOwned::SetupConnectionSuccess(s) => assert_eq!(s.used_version, 2),
        other => panic!("{other}"),
    }
    send(
        &mut writer,
        AnyMessageOwned::TemplateDistribution(
            TemplateDistributionOwned::CoinbaseOutputConstraints(CoinbaseOutputConstraints {
                coinbase_output_max_additional_size: 100,
                coinbase_output_max_additional_sigops: 4,
            }),
        ),
    );
    let TemplateDistributionOwned::NewTemplate(template) =
        template_message(reader.read_frame().expect("a template"))
    else {
        panic!("not a NewTemplate first");
    };
    let TemplateDistributionOwned::SetNewPrevHash(tip) =
        template_message(reader.read_frame().expect("its tip"))
    else {
        panic!("not a SetNewPrevHash second");
    };
    assert_eq!((template.template_id, template.future_template), (0, true));
    assert_eq!(tip.template_id, 0);
    let mut prev = tip.prev_hash.to_owned_bytes();
    prev.reverse();
    assert_eq!(sha256d::hazmat::hex::encode(&prev), node.best_hash());
    assert_eq!(template.merkle_path.clone().into_inner().len(), 1);
    let segwit = node.flavour() == Flavour::Knots;
    assert_eq!(template.coinbase_tx_outputs_count, u32::from(segwit));

    // The transaction data, as a pool that checks what it mines would ask.
    send(
        &mut writer,
        AnyMessageOwned::TemplateDistribution(TemplateDistributionOwned::RequestTransactionData(
            RequestTransactionData { template_id: 0 },
        )),
    );
    let TemplateDistributionOwned::RequestTransactionDataSuccess(data) =
        template_message(reader.read_frame().expect("the data"))
    else {
        panic!("not the transaction data");
    };
    let txs: Vec<bitcoin::Transaction> = data
        .transaction_list
        .into_inner()
        .into_iter()
        .map(|t| bitcoin::consensus::deserialize(t.as_bytes()).expect("a transaction"))
        .collect();
    assert_eq!(
        txs.iter()
            .map(|t| t.compute_txid().to_string())
            .collect::<Vec<_>>(),
        [txid]
    );

    // A block on the template: the pool's coinbase and the transactions it was sent.
    let payout = bitcoin::ScriptBuf::from_bytes([&[0, 20][..], &[7; 20]].concat());
    let coinbase = coinbase(&template, payout);
    let mut block = bitcoin::Block {
        header: bitcoin::block::Header {
            version: bitcoin::block::Version::from_consensus(template.version as i32),
            prev_blockhash: bitcoin::BlockHash::from_byte_array(
                tip.prev_hash.to_owned_bytes().try_into().expect("32 bytes"),
            ),
            merkle_root: bitcoin::TxMerkleNode::all_zeros(),
            time: tip.header_timestamp,
            bits: bitcoin::CompactTarget::from_consensus(tip.n_bits),
            nonce: 0,
        },
        txdata: std::iter::once(coinbase.clone()).chain(txs).collect(),
    };
    block.header.merkle_root = block.compute_merkle_root().expect("transactions");
    let target =
        bitcoin::Target::from_le_bytes(tip.target.to_owned_bytes().try_into().expect("32"));
    while !target.is_met_by(block.block_hash()) {
        block.header.nonce += 1;
    }
    let coinbase = serialize(&coinbase);
    send(
        &mut writer,
        AnyMessageOwned::TemplateDistribution(TemplateDistributionOwned::SubmitSolution(
            SubmitSolution {
                template_id: 0,
                version: template.version,
                header_timestamp: block.header.time,
                header_nonce: block.header.nonce,
                coinbase_tx: coinbase.as_slice().try_into().expect("short"),
            }
            .into_owned(),
        )),
    );
    let hash = block.block_hash().to_string();
    lines.wait_for(
        &format!("block {hash} at height 102 accepted by the node"),
        PATIENCE,
    );
    assert_eq!(node.best_hash(), hash);
    // The new tip goes out as the next future template and its SetNewPrevHash.
    let TemplateDistributionOwned::NewTemplate(next) =
        template_message(reader.read_frame().expect("a template"))
    else {
        panic!("not a NewTemplate after the block");
    };
    assert_eq!((next.template_id, next.future_template), (1, true));
    assert_eq!(next.coinbase_prefix.as_bytes(), [0x01, 103]);
}
