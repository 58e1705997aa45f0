//! Messages from an SV2 pool, fed to the client in each stage of a session: before the setup
//! reply, before the channel, before any work, and with a job active, on either channel kind.
//! Nothing may panic; no text the client hands the operator holds a control character; what
//! the client accepts leaves it able to build and submit a share.
#![no_main]

use binary_sv2::{Encodable, GetSize, Sv2Option};
use common_messages_sv2::SetupConnectionSuccess;
use libfuzzer_sys::fuzz_target;
use mining_sv2::{
    NewExtendedMiningJob, NewMiningJob, OpenExtendedMiningChannelSuccess,
    OpenStandardMiningChannelSuccess, SetNewPrevHash,
};
use sha256d_mining::sv2::client::{ChannelKind, Client, ClientEvent, Config};
use sha256d_mining::sv2::transport::Frame;
use sha256d_mining::{Share, Verdict};

fn frame<T: Encodable + GetSize>(msg: T, msg_type: u8, channel_msg: bool) -> Frame {
    Frame {
        extension_type: 0,
        channel_msg,
        msg_type,
        payload: binary_sv2::to_bytes(msg).expect("a valid message"),
    }
}

fn prelude(kind: ChannelKind) -> Vec<Frame> {
    let target = [0xff; 32];
    let open = match kind {
        ChannelKind::Standard => frame(
            OpenStandardMiningChannelSuccess {
                request_id: 1,
                channel_id: 7,
                target: (&target).into(),
                extranonce_prefix: [1u8; 4].as_slice().try_into().expect("fits"),
                group_channel_id: 8,
            },
            mining_sv2::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL_SUCCESS,
            false,
        ),
        ChannelKind::Extended => frame(
            OpenExtendedMiningChannelSuccess {
                request_id: 1,
                channel_id: 7,
                target: (&target).into(),
                extranonce_size: 8,
                extranonce_prefix: [1u8; 4].as_slice().try_into().expect("fits"),
                group_channel_id: 8,
            },
            mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL_SUCCESS,
            false,
        ),
    };
    let job = match kind {
        ChannelKind::Standard => frame(
            NewMiningJob {
                channel_id: 7,
                job_id: 1,
                min_ntime: Sv2Option::new(None),
                version: 0x2000_0000,
                merkle_root: (&[2; 32]).into(),
            },
            mining_sv2::MESSAGE_TYPE_NEW_MINING_JOB,
            true,
        ),
        ChannelKind::Extended => frame(
            NewExtendedMiningJob {
                channel_id: 7,
                job_id: 1,
                min_ntime: Sv2Option::new(None),
                version: 0x2000_0000,
                version_rolling_allowed: true,
                merkle_path: binary_sv2::Seq0255::new(vec![(&[3; 32]).into()]).expect("fits"),
                coinbase_tx_prefix: [4u8; 40].as_slice().try_into().expect("fits"),
                coinbase_tx_suffix: [5u8; 40].as_slice().try_into().expect("fits"),
            },
            mining_sv2::MESSAGE_TYPE_NEW_EXTENDED_MINING_JOB,
            true,
        ),
    };
    vec![
        frame(
            SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            },
            common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION_SUCCESS,
            false,
        ),
        open,
        job,
        frame(
            SetNewPrevHash {
                channel_id: 7,
                job_id: 1,
                prev_hash: (&[6; 32]).into(),
                min_ntime: 1_700_000_000,
                nbits: 0x207f_ffff,
            },
            mining_sv2::MESSAGE_TYPE_MINING_SET_NEW_PREV_HASH,
            true,
        ),
    ]
}

fn assert_printable(text: &str) {
    assert!(!text.chars().any(char::is_control), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let kind = if mode & 1 == 0 {
        ChannelKind::Standard
    } else {
        ChannelKind::Extended
    };
    let mut client = Client::new(Config::new("w", kind));
    let prelude = prelude(kind);
    let stage = usize::from(mode >> 1) % (prelude.len() + 1);
    for f in &prelude[..stage] {
        client.handle_frame(f).expect("the prelude is valid");
    }
    let mut job = None;
    let mut src = rest;
    // Frames cut from the input: [type, flags, len lo, len hi, payload].
    while src.len() >= 4 {
        let len = usize::from(u16::from_le_bytes([src[2], src[3]]));
        let body = &src[4..];
        let take = len.min(body.len());
        let f = Frame {
            extension_type: u16::from(src[1] >> 1),
            channel_msg: src[1] & 1 != 0,
            msg_type: src[0],
            payload: body[..take].to_vec(),
        };
        src = &body[take..];
        let Ok(events) = client.handle_frame(&f) else {
            break;
        };
        for event in events {
            match event {
                ClientEvent::Notice(text) | ClientEvent::Refused(text) => assert_printable(&text),
                ClientEvent::Reconnect {
                    host: Some(host), ..
                } => assert_printable(&host),
                ClientEvent::Verdict {
                    verdict: Verdict::Rejected { reason, .. },
                    ..
                } => assert_printable(&reason),
                ClientEvent::Job(j) => {
                    assert!(j.extranonce1.len() + j.extranonce2_size <= 32);
                    job = Some(j);
                }
                _ => {}
            }
        }
    }
    client.take_outgoing();
    if let Some(job) = job.filter(|j| client.knows(j)) {
        let extranonce2 = vec![0; job.extranonce2_size];
        let header = job.header(&extranonce2, job.ntime);
        let share = Share {
            hash: header.block_hash(),
            job,
            extranonce2,
            header,
            is_block: false,
            stale: false,
        };
        client.submit(&share).expect("a known job takes a share");
        assert_eq!(client.take_unanswered(), vec![share]);
    }
});
