use super::*;
use binary_sv2::{Seq0255, Sv2Option};
use common_messages_sv2::{SetupConnectionError, SetupConnectionSuccess};
use mining_sv2::{
    NewExtendedMiningJob, NewMiningJob, OpenExtendedMiningChannelSuccess, OpenMiningChannelError,
    OpenStandardMiningChannelSuccess, SetExtranoncePrefix, SetNewPrevHash, SetTarget,
    SubmitSharesError, SubmitSharesSuccess,
};

const REGTEST_BITS: u32 = 0x207f_ffff;
const PREV: [u8; 32] = [0x11; 32];
const ROOT: [u8; 32] = [0x22; 32];

fn share_target() -> Target {
    Target::from_difficulty(0.5).expect("valid difficulty")
}

fn setup_success() -> Frame {
    frame(
        SetupConnectionSuccess {
            used_version: 2,
            flags: 0,
        },
        common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
        false,
    )
}

fn prev_hash(channel_id: u32, job_id: u32) -> Frame {
    frame(
        SetNewPrevHash {
            channel_id,
            job_id,
            prev_hash: (&PREV).into(),
            min_ntime: 1_700_000_000,
            nbits: REGTEST_BITS,
        },
        mining_sv2::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
        true,
    )
}

fn standard_job(job_id: u32, min_ntime: Option<u32>) -> Frame {
    frame(
        NewMiningJob {
            channel_id: 7,
            job_id,
            min_ntime: Sv2Option::new(min_ntime),
            version: 0x2000_0000,
            merkle_root: (&ROOT).into(),
        },
        mining_sv2::MESSAGE_TYPE_NEW_MINING_JOB,
        true,
    )
}

fn events(client: &mut Client, frame: &Frame) -> Vec<ClientEvent> {
    client.handle_frame(frame).expect("a valid message")
}

/// A standard channel (id 7) with job 1 active on `PREV`.
fn standard_client() -> (Client, Arc<Job>) {
    let mut client = Client::new(Config::new("alice", ChannelKind::Standard));
    client.take_outgoing();
    assert_eq!(events(&mut client, &setup_success()), vec![]);
    let open = frame(
        OpenStandardMiningChannelSuccess {
            request_id: 1,
            channel_id: 7,
            target: (&share_target().to_le_bytes()).into(),
            extranonce_prefix: [1u8, 2, 3, 4].as_slice().try_into().expect("fits"),
            group_channel_id: 99,
        },
        mining_sv2::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
        false,
    );
    assert_eq!(
        events(&mut client, &open),
        vec![
            ClientEvent::ChannelOpened {
                channel_id: 7,
                extranonce_size: 0
            },
            ClientEvent::Difficulty(0.5)
        ]
    );
    assert_eq!(events(&mut client, &standard_job(1, None)), vec![]);
    let job = match &events(&mut client, &prev_hash(7, 1))[..] {
        [ClientEvent::Job(job)] => job.clone(),
        other => panic!("{other:?}"),
    };
    (client, job)
}

#[test]
fn setup_asks_for_the_mining_protocol_with_the_channel_kinds_flags() {
    for (kind, rolling, flags) in [
        (ChannelKind::Standard, true, 0b101),
        (ChannelKind::Standard, false, 0b001),
        (ChannelKind::Extended, true, 0b100),
        (ChannelKind::Extended, false, 0b000),
    ] {
        let mut config = Config::new("w", kind);
        config.version_rolling = rolling;
        config.endpoint_host = "127.0.0.1".into();
        config.endpoint_port = 34254;
        let mut client = Client::new(config);
        let mut sent = client.take_outgoing();
        assert_eq!(sent.len(), 1);
        assert_eq!(
            (sent[0].msg_type, sent[0].channel_msg),
            (common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION, false)
        );
        let setup: SetupConnection = binary_sv2::from_bytes(&mut sent[0].payload).expect("decodes");
        assert_eq!(setup.protocol, Protocol::MiningProtocol);
        assert_eq!((setup.min_version, setup.max_version), (2, 2));
        assert_eq!(setup.flags, flags, "{kind:?} rolling {rolling}");
        assert_eq!(setup.endpoint_host.as_bytes(), b"127.0.0.1");
        assert_eq!(setup.endpoint_port, 34254);
        assert!(!client.is_ready());
    }
}

#[test]
fn a_standard_channel_turns_a_future_job_and_its_prev_hash_into_header_only_work() {
    let (client, job) = standard_client();
    assert_eq!(
        *job,
        Job {
            id: "1".into(),
            prev_hash: PREV,
            coinb1: vec![],
            extranonce1: vec![],
            extranonce2_size: 0,
            coinb2: vec![],
            merkle_branch: vec![],
            fixed_merkle_root: Some(ROOT),
            version: 0x2000_0000,
            version_mask: VERSION_ROLLING_MASK,
            bits: CompactTarget::from_consensus(REGTEST_BITS),
            ntime: 1_700_000_000,
            ntime_max: 1_700_000_000 + NTIME_ROLL,
            share_target: share_target(),
            block_target: Target::from_compact(CompactTarget::from_consensus(REGTEST_BITS))
                .expect("regtest bits"),
            clean: true,
            height: None,
        }
    );
    assert_eq!(job.header(&[], job.ntime).merkle_root, ROOT);
    assert!(client.is_ready());
    assert!(client.knows(&job));
}

#[test]
fn the_open_channel_request_carries_the_user_and_the_extranonce_wish() {
    let mut client = Client::new(Config::new("sri/solo/bcrt1q/w1", ChannelKind::Extended));
    client.take_outgoing();
    events(&mut client, &setup_success());
    let mut sent = client.take_outgoing();
    assert_eq!(
        sent[0].msg_type,
        mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL
    );
    let open: OpenExtendedMiningChannel =
        binary_sv2::from_bytes(&mut sent[0].payload).expect("decodes");
    assert_eq!(open.user_identity.as_bytes(), b"sri/solo/bcrt1q/w1");
    assert_eq!(open.min_extranonce_size, 4);
    assert_eq!(open.max_target.to_array(), [0xff; 32]);
    assert_eq!(open.nominal_hash_rate, 10e6);
}

#[test]
fn an_extended_channel_builds_the_coinbase_around_the_granted_extranonce() {
    let mut client = Client::new(Config::new("w", ChannelKind::Extended));
    events(&mut client, &setup_success());
    let open = frame(
        OpenExtendedMiningChannelSuccess {
            request_id: 1,
            channel_id: 3,
            target: (&share_target().to_le_bytes()).into(),
            extranonce_size: 16,
            extranonce_prefix: [9u8; 8].as_slice().try_into().expect("fits"),
            group_channel_id: 1,
        },
        mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        false,
    );
    assert_eq!(
        events(&mut client, &open)[0],
        ClientEvent::ChannelOpened {
            channel_id: 3,
            extranonce_size: 16
        }
    );
    let path = [[0x33u8; 32], [0x44; 32]];
    // Addressed to the group, as pool_sv2 sends every new block's job; shares still go to the
    // channel.
    let extended = frame(
        NewExtendedMiningJob {
            channel_id: 1,
            job_id: 5,
            min_ntime: Sv2Option::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: false,
            merkle_path: Seq0255::new(path.iter().map(U256::from).collect()).expect("fits"),
            coinbase_tx_prefix: [0xaau8; 3].as_slice().try_into().expect("fits"),
            coinbase_tx_suffix: [0xbbu8; 2].as_slice().try_into().expect("fits"),
        },
        mining_sv2::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
        true,
    );
    assert_eq!(events(&mut client, &extended), vec![]);
    let job = match &events(&mut client, &prev_hash(1, 5))[..] {
        [ClientEvent::Job(job)] => job.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            job.coinb1.clone(),
            job.extranonce1.clone(),
            job.extranonce2_size,
            job.coinb2.clone(),
            job.merkle_branch.clone(),
            job.fixed_merkle_root,
            job.version_mask,
        ),
        (
            vec![0xaa; 3],
            vec![9; 8],
            16,
            vec![0xbb; 2],
            path.to_vec(),
            None,
            // The job forbids rolling, whatever the client would like.
            0,
        )
    );
    // A share carries only the miner's part of the extranonce.
    let share = Share::on(&job, 42);
    let mut submitted = client.submit(&share).expect("submits");
    assert_eq!(
        submitted.msg_type,
        mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED
    );
    let sent: SubmitSharesExtended =
        binary_sv2::from_bytes(&mut submitted.payload).expect("decodes");
    assert_eq!(
        (
            sent.channel_id,
            sent.sequence_number,
            sent.job_id,
            sent.nonce,
            sent.extranonce.as_bytes().to_vec()
        ),
        (3, 0, 5, 42, vec![0; 16])
    );
}

#[test]
fn shares_submit_as_standard_and_verdicts_map_onto_the_pipeline() {
    let (mut client, job) = standard_client();
    let shares: Vec<Share> = (0..4).map(|n| Share::on(&job, n)).collect();
    for (seq, share) in shares.iter().enumerate() {
        let mut f = client.submit(share).expect("submits");
        assert_eq!(
            (f.msg_type, f.channel_msg),
            (mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD, true)
        );
        let sent: SubmitSharesStandard = binary_sv2::from_bytes(&mut f.payload).expect("decodes");
        assert_eq!(
            (
                sent.channel_id,
                sent.sequence_number,
                sent.job_id,
                sent.nonce,
                sent.ntime,
                sent.version
            ),
            (7, seq as u32, 1, seq as u32, job.ntime, job.version)
        );
    }
    let error = |seq: u32, code: &str| {
        frame(
            SubmitSharesError {
                channel_id: 7,
                sequence_number: seq,
                error_code: code.try_into().expect("short"),
            },
            mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
            true,
        )
    };
    assert_eq!(
        events(&mut client, &error(1, "stale-share")),
        vec![ClientEvent::Verdict {
            share: shares[1].clone(),
            verdict: Verdict::Rejected {
                reason: "stale-share".into(),
                stale: true
            }
        }]
    );
    assert_eq!(
        events(&mut client, &error(2, "difficulty-too-low")),
        vec![ClientEvent::Verdict {
            share: shares[2].clone(),
            verdict: Verdict::Rejected {
                reason: "difficulty-too-low".into(),
                stale: false
            }
        }]
    );
    // One acknowledgement for the two shares left, up to sequence 3.
    let success = frame(
        SubmitSharesSuccess {
            channel_id: 7,
            last_sequence_number: 3,
            new_submits_accepted_count: 2,
            new_shares_sum: 2,
        },
        mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
        true,
    );
    assert_eq!(
        events(&mut client, &success),
        vec![
            ClientEvent::Verdict {
                share: shares[0].clone(),
                verdict: Verdict::Accepted
            },
            ClientEvent::Verdict {
                share: shares[3].clone(),
                verdict: Verdict::Accepted
            },
        ]
    );
    assert_eq!(client.take_unanswered(), vec![]);
}

#[test]
fn an_acknowledgement_covers_only_shares_up_to_its_sequence_number() {
    let (mut client, job) = standard_client();
    let shares: Vec<Share> = (0..3).map(|n| Share::on(&job, n)).collect();
    for share in &shares {
        client.submit(share).expect("submits");
    }
    let success = frame(
        SubmitSharesSuccess {
            channel_id: 7,
            last_sequence_number: 1,
            new_submits_accepted_count: 2,
            new_shares_sum: 2,
        },
        mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_SUCCESS,
        true,
    );
    assert_eq!(events(&mut client, &success).len(), 2);
    assert_eq!(client.take_unanswered(), vec![shares[2].clone()]);
}

#[test]
fn invalid_job_id_is_stale_and_an_unknown_sequence_is_only_a_notice() {
    let (mut client, job) = standard_client();
    let share = Share::on(&job, 9);
    client.submit(&share).expect("submits");
    let error = |seq: u32| {
        frame(
            SubmitSharesError {
                channel_id: 7,
                sequence_number: seq,
                error_code: "invalid-job-id".try_into().expect("short"),
            },
            mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_ERROR,
            true,
        )
    };
    assert_eq!(
        events(&mut client, &error(55)),
        vec![ClientEvent::Notice(
            "the pool rejected share 55, which is not waiting for a verdict: invalid-job-id".into()
        )]
    );
    assert_eq!(
        events(&mut client, &error(0)),
        vec![ClientEvent::Verdict {
            share,
            verdict: Verdict::Rejected {
                reason: "invalid-job-id".into(),
                stale: true
            }
        }]
    );
}

#[test]
fn set_target_reissues_the_job_and_a_new_prev_hash_voids_the_old_work() {
    let (mut client, job) = standard_client();
    let harder = Target::from_difficulty(2.0).expect("valid");
    let set_target = frame(
        SetTarget {
            channel_id: 7,
            maximum_target: (&harder.to_le_bytes()).into(),
        },
        mining_sv2::MESSAGE_TYPE_SET_TARGET,
        true,
    );
    let reissued = match &events(&mut client, &set_target)[..] {
        [ClientEvent::Difficulty(d), ClientEvent::Job(j)] => {
            assert_eq!(*d, 2.0);
            j.clone()
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(
        *reissued,
        Job {
            share_target: harder,
            clean: false,
            ..(*job).clone()
        }
    );
    // Both stand until the next block.
    assert!(client.knows(&job) && client.knows(&reissued));

    // A job sent for the current block goes to work at once, not clean.
    let now = match &events(&mut client, &standard_job(2, Some(1_700_000_100)))[..] {
        [ClientEvent::Job(j)] => j.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (now.id.as_str(), now.clean, now.ntime),
        ("2", false, 1_700_000_100)
    );

    events(&mut client, &standard_job(3, None));
    let next = match &events(&mut client, &prev_hash(7, 3))[..] {
        [ClientEvent::Job(j)] => j.clone(),
        other => panic!("{other:?}"),
    };
    assert!(next.clean);
    assert!(!client.knows(&job) && !client.knows(&now));
    // The test's blocks share a previous hash; another one shows what moved.
    let elsewhere = Job {
        prev_hash: [0x99; 32],
        ..(*job).clone()
    };
    assert_eq!(
        client.stale_reason(&elsewhere),
        "stale: the pool moved to a new block after its job"
    );
    assert_eq!(
        client.stale_reason(&job),
        "stale: its job did not survive the reconnection to the pool"
    );
    let err = client.submit(&Share::on(&job, 1)).expect_err("old work");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}

#[test]
fn a_new_extranonce_prefix_voids_standard_jobs_until_the_next_one() {
    let (mut client, job) = standard_client();
    let set = frame(
        SetExtranoncePrefix {
            channel_id: 7,
            extranonce_prefix: [5u8; 4].as_slice().try_into().expect("fits"),
        },
        mining_sv2::MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
        true,
    );
    assert_eq!(
        events(&mut client, &set),
        vec![ClientEvent::Notice(
            "the pool changed the extranonce prefix; waiting for its next job".into()
        )]
    );
    assert!(!client.knows(&job));
    assert!(!client.is_ready());
}

#[test]
fn a_new_extranonce_prefix_reissues_the_extended_job_on_it() {
    let mut client = Client::new(Config::new("w", ChannelKind::Extended));
    events(&mut client, &setup_success());
    let open = frame(
        OpenExtendedMiningChannelSuccess {
            request_id: 1,
            channel_id: 3,
            target: (&share_target().to_le_bytes()).into(),
            extranonce_size: 8,
            extranonce_prefix: [9u8; 4].as_slice().try_into().expect("fits"),
            group_channel_id: 0,
        },
        mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        false,
    );
    events(&mut client, &open);
    let extended = frame(
        NewExtendedMiningJob {
            channel_id: 3,
            job_id: 5,
            min_ntime: Sv2Option::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Seq0255::new(Vec::new()).expect("fits"),
            coinbase_tx_prefix: [0xaau8; 3].as_slice().try_into().expect("fits"),
            coinbase_tx_suffix: [0xbbu8; 2].as_slice().try_into().expect("fits"),
        },
        mining_sv2::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
        true,
    );
    events(&mut client, &extended);
    let old = match &events(&mut client, &prev_hash(3, 5))[..] {
        [ClientEvent::Job(job)] => job.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(old.version_mask, VERSION_ROLLING_MASK);
    let set = |prefix: Vec<u8>| {
        frame(
            SetExtranoncePrefix {
                channel_id: 3,
                extranonce_prefix: prefix.as_slice().try_into().expect("fits"),
            },
            mining_sv2::MESSAGE_TYPE_SET_EXTRANONCE_PREFIX,
            true,
        )
    };
    let new = match &events(&mut client, &set(vec![7; 6]))[..] {
        [ClientEvent::Job(job)] => job.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        *new,
        Job {
            extranonce1: vec![7; 6],
            clean: true,
            ..(*old).clone()
        }
    );
    assert!(client.knows(&new) && !client.knows(&old));
    // A prefix that leaves no room for the channel's 8 bytes breaks the protocol.
    let err = client.handle_frame(&set(vec![7; 25])).expect_err("no room");
    assert!(err.message().contains("leaving no room"), "{err}");
}

#[test]
fn refusals_are_reported_as_such() {
    let mut client = Client::new(Config::new("w", ChannelKind::Standard));
    let refused = frame(
        SetupConnectionError {
            flags: 0,
            error_code: "unsupported-feature-flags".try_into().expect("short"),
        },
        common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION_ERROR,
        false,
    );
    assert_eq!(
        events(&mut client, &refused),
        vec![ClientEvent::Refused(
            "the pool refused the connection setup: unsupported-feature-flags".into()
        )]
    );

    let mut client = Client::new(Config::new("w", ChannelKind::Standard));
    events(&mut client, &setup_success());
    let refused = frame(
        OpenMiningChannelError {
            request_id: 1,
            error_code: "unknown-user".try_into().expect("short"),
        },
        mining_sv2::MESSAGE_TYPE_OPEN_MINING_CHANNEL_ERROR,
        false,
    );
    assert_eq!(
        events(&mut client, &refused),
        vec![ClientEvent::Refused(
            "the pool refused to open the channel: unknown-user".into()
        )]
    );
}

/// Reconnect names the new server; an empty host and port 0 mean the current ones.
#[test]
fn reconnect_is_reported_with_the_new_host_and_port() {
    let reconnect = |host: &str, port| {
        frame(
            common_messages_sv2::Reconnect {
                new_host: host.try_into().expect("short"),
                new_port: port,
            },
            common_messages_sv2::MESSAGE_TYPE_RECONNECT,
            false,
        )
    };
    let (mut client, _) = standard_client();
    assert_eq!(
        events(&mut client, &reconnect("pool2.example.com", 3337)),
        vec![ClientEvent::Reconnect {
            host: Some("pool2.example.com".into()),
            port: Some(3337)
        }]
    );
    assert_eq!(
        events(&mut client, &reconnect("", 0)),
        vec![ClientEvent::Reconnect {
            host: None,
            port: None
        }]
    );
}

#[test]
fn hostile_messages_are_errors_not_panics() {
    let mut client = Client::new(Config::new("w", ChannelKind::Extended));
    events(&mut client, &setup_success());
    for (size, prefix) in [(0u16, 4usize), (29, 4), (1, 32)] {
        let mut c = Client::new(Config::new("w", ChannelKind::Extended));
        events(&mut c, &setup_success());
        let open = frame(
            OpenExtendedMiningChannelSuccess {
                request_id: 1,
                channel_id: 3,
                target: (&[0xff; 32]).into(),
                extranonce_size: size,
                extranonce_prefix: vec![1u8; prefix].as_slice().try_into().expect("fits"),
                group_channel_id: 0,
            },
            mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
            false,
        );
        let err = c.handle_frame(&open).expect_err("no room");
        assert!(
            err.message().contains("extranonce bytes to roll"),
            "{size} {prefix}: {err}"
        );
    }
    // Truncated payload.
    let mut short = prev_hash(3, 1);
    short.payload.truncate(10);
    assert!(client.handle_frame(&short).is_err());
    // Work before a channel.
    assert!(client.handle_frame(&standard_job(1, None)).is_err());
    // A message for another channel.
    let (mut client, _) = standard_client();
    let err = client.handle_frame(&prev_hash(8, 1)).expect_err("not ours");
    assert!(
        err.message().contains("channel this client does not have"),
        "{err}"
    );
    // An extension nobody negotiated is ignored.
    let mut ext = prev_hash(7, 1);
    ext.extension_type = 2;
    assert!(matches!(
        &events(&mut client, &ext)[..],
        [ClientEvent::Notice(_)]
    ));
}

#[test]
fn an_extended_job_knows_its_height_from_the_coinbase_prefix() {
    let mut client = Client::new(Config::new("w", ChannelKind::Extended));
    events(&mut client, &setup_success());
    let open = frame(
        OpenExtendedMiningChannelSuccess {
            request_id: 1,
            channel_id: 3,
            target: (&[0xff; 32]).into(),
            extranonce_size: 8,
            extranonce_prefix: [9u8; 4].as_slice().try_into().expect("fits"),
            group_channel_id: 0,
        },
        mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
        false,
    );
    events(&mut client, &open);
    // Version, one input, the null prevout, the scriptSig's length, then BIP34's push of 102.
    let mut prefix = vec![2, 0, 0, 0, 1];
    prefix.extend([0; 32]);
    prefix.extend([0xff; 4]);
    prefix.extend([20, 0x01, 102]);
    let extended = frame(
        NewExtendedMiningJob {
            channel_id: 3,
            job_id: 5,
            min_ntime: Sv2Option::new(None),
            version: 0x2000_0000,
            version_rolling_allowed: true,
            merkle_path: Seq0255::new(Vec::new()).expect("fits"),
            coinbase_tx_prefix: prefix.as_slice().try_into().expect("fits"),
            coinbase_tx_suffix: [0xbbu8; 2].as_slice().try_into().expect("fits"),
        },
        mining_sv2::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
        true,
    );
    events(&mut client, &extended);
    match &events(&mut client, &prev_hash(3, 5))[..] {
        [ClientEvent::Job(job)] => assert_eq!(job.height, Some(102)),
        other => panic!("{other:?}"),
    }
}
