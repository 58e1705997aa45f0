//! Our Stratum V2 client against the real stack on 127.0.0.1: SRI's `pool_sv2`
//! (`SHA256D_POOL_SV2`) fed by our Template Provider on Bitcoin Knots
//! (`SHA256D_KNOTS_BITCOIND`). Install them with `.ci/peers.sh DIR`. Each test skips with a
//! message when a peer is absent and fails instead under `SHA256D_REQUIRE_PEERS=1` or
//! `CI=true`.

#![cfg(feature = "sv2")]

mod sv2_stack;

use sha256d::Target;
use sha256d_mining::sv2::client::{ChannelKind, Client, ClientEvent, Config};
use sha256d_mining::sv2::transport::{self, FrameReader, FrameWriter};
use sha256d_mining::sv2::{AuthorityKeypair, AuthorityPublicKey, ServerAuth};
use sha256d_mining::{
    mine, Event, Job, MineOptions, PoolConfig, PoolOptions, PoolSource, PoolUrl, Share, Source,
    Verdict,
};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;
use sv2_stack::{Stack, PATIENCE};

/// What the tests announce to the pool: a debug build on a shared machine does tens of kH/s.
const NOMINAL_HASH_RATE: f32 = 1e4;

/// Mines `shares` accepted shares on `channel` through the pool, checking that nothing was
/// rejected but as stale and that the node's tip moved (every regtest share is a block).
fn mine_through_the_pool(channel: ChannelKind) {
    let Some(stack) = Stack::start() else { return };
    let start_height = stack.node.height();
    let url = PoolUrl::parse(&stack.pool.url()).expect("the pool's URL");
    let mut options = PoolOptions::new(vec![PoolConfig::new(url, stack.user_identity("w1"), "x")]);
    options.sv2_channel = channel;
    // A debug build on a busy machine hashes slowly: announce little so shares come often.
    options.sv2_nominal_hash_rate = NOMINAL_HASH_RATE;
    let mut source = PoolSource::new(options).expect("valid options");
    let mut notices = Vec::new();
    let stats = mine(
        &mut source,
        &[sha256d::best()],
        &MineOptions {
            shares: Some(3),
            time: Some(PATIENCE),
            ..MineOptions::default()
        },
        &mut |_, notice| notices.extend(notice.map(str::to_owned)),
    )
    .expect("mining on pool_sv2");
    // A share in flight when a block of ours moves the tip comes back stale: the only
    // rejection there may be.
    assert!(
        stats.accepted >= 3 && stats.rejected.values().sum::<u64>() == stats.stale,
        "{stats:?}\nnotices: {notices:#?}\n{}",
        stack.pool.logs()
    );
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with("connected to stratum2+tcp://127.0.0.1:")),
        "{notices:#?}"
    );
    // An extended job's coinbase carries the BIP34 height; a standard job's is the pool's.
    // Behind a pool they are candidates: only the node's tip says which got in.
    assert_eq!(stats.blocks_accepted, 0);
    let heights: Vec<Option<u64>> = stats.candidates.iter().map(|b| b.height).collect();
    assert!(
        !heights.is_empty()
            && heights
                .iter()
                .all(|h| h.is_some() == (channel == ChannelKind::Extended)
                    && h.is_none_or(|h| h > start_height)),
        "{heights:?}"
    );
    stack.tp_log.wait_for("accepted by the node", PATIENCE);
    assert!(
        stack.node.height() > start_height,
        "the tip stayed at {start_height}\n{}",
        stack.pool.logs()
    );
}

#[test]
fn shares_on_a_standard_channel_are_accepted_and_blocks_reach_the_node() {
    mine_through_the_pool(ChannelKind::Standard);
}

#[test]
fn shares_on_an_extended_channel_are_accepted_and_blocks_reach_the_node() {
    mine_through_the_pool(ChannelKind::Extended);
}

#[test]
fn a_failover_list_mixes_v1_and_v2_pools() {
    let Some(stack) = Stack::start() else { return };
    // A V1 pool first that is not there: a port just freed.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let gone_url = format!("stratum+tcp://{}", gone.local_addr().expect("bound"));
    drop(gone);
    let v1 = PoolConfig::new(PoolUrl::parse(&gone_url).expect("V1 URL"), "w1", "x");
    let v2 = PoolConfig::new(
        PoolUrl::parse(&stack.pool.url()).expect("V2 URL"),
        stack.user_identity("w1"),
        "x",
    );
    let mut options = PoolOptions::new(vec![v1, v2]);
    options.sv2_nominal_hash_rate = NOMINAL_HASH_RATE;
    let mut source = PoolSource::new(options).expect("valid options");
    let mut notices = Vec::new();
    let stats = mine(
        &mut source,
        &[sha256d::best()],
        &MineOptions {
            shares: Some(1),
            time: Some(PATIENCE),
            ..MineOptions::default()
        },
        &mut |_, notice| notices.extend(notice.map(str::to_owned)),
    )
    .expect("mining on the second pool");
    assert!(stats.accepted >= 1, "{stats:?}\n{notices:#?}");
    assert!(
        notices
            .iter()
            .any(|n| n.starts_with(&format!("pool {gone_url} refused: "))),
        "{notices:#?}"
    );
    assert!(
        stats.source.starts_with(&stack.pool.url()) && stats.source.ends_with("(pool 2 of 2)"),
        "{}",
        stats.source
    );
}

#[test]
fn a_pool_with_another_authority_key_is_refused_before_any_job() {
    let Some(stack) = Stack::start() else { return };
    let impostor_key = AuthorityKeypair::generate().public();
    let url = format!("stratum2+tcp://{}/{impostor_key}", stack.pool.address());
    let url = PoolUrl::parse(&url).expect("a V2 URL");
    let pool = PoolConfig::new(url.clone(), stack.user_identity("w1"), "x");
    let mut source = PoolSource::new(PoolOptions::new(vec![pool])).expect("valid options");
    let deadline = Instant::now() + PATIENCE;
    let refusal = loop {
        assert!(Instant::now() < deadline, "no refusal within {PATIENCE:?}");
        let events = source
            .poll(std::time::Duration::from_millis(200))
            .expect("not fatal");
        assert!(
            !events.iter().any(|e| matches!(e, Event::Job(_))),
            "{events:?}"
        );
        if let Some(Event::Notice(n)) = events.first() {
            break n.clone();
        }
    };
    assert!(
        refusal.starts_with(&format!("pool {url} refused: the SV2 peer's certificate is not signed by the expected authority key")),
        "{refusal}"
    );
}

/// A bare session on the pool: the transport and the client, driven by hand.
struct Bare {
    client: Client,
    reader: FrameReader<TcpStream>,
    writer: FrameWriter<TcpStream>,
}

impl Bare {
    fn open(stack: &Stack, channel: ChannelKind) -> Bare {
        let key: AuthorityPublicKey = stack
            .pool
            .authority_public_key()
            .parse()
            .expect("the pool's key");
        let stream = TcpStream::connect(stack.pool.address()).expect("the pool listens");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("a read timeout");
        let (reader, writer) =
            transport::connect(stream, ServerAuth::Pinned(key)).expect("the handshake");
        let mut config = Config::new(stack.user_identity("bare"), channel);
        config.nominal_hash_rate = NOMINAL_HASH_RATE;
        let client = Client::new(config);
        let mut bare = Bare {
            client,
            reader,
            writer,
        };
        bare.flush();
        bare
    }

    fn flush(&mut self) {
        for frame in self.client.take_outgoing() {
            self.writer.write_frame(&frame).expect("send");
        }
    }

    /// Reads frames until `pick` takes an event.
    fn until<T>(&mut self, mut pick: impl FnMut(&ClientEvent) -> Option<T>) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "the pool sent nothing fitting");
            let frame = self.reader.read_frame().expect("a frame from the pool");
            let events = self.client.handle_frame(&frame).expect("a valid message");
            self.flush();
            if let Some(found) = events.iter().find_map(&mut pick) {
                return found;
            }
        }
    }

    fn next_job(&mut self) -> Arc<Job> {
        self.until(|e| match e {
            ClientEvent::Job(job) => Some(job.clone()),
            _ => None,
        })
    }

    fn verdict(&mut self) -> (Share, Verdict) {
        self.until(|e| match e {
            ClientEvent::Verdict { share, verdict } => Some((share.clone(), verdict.clone())),
            _ => None,
        })
    }
}

/// A share of `job` whose hash misses both its share target and the network's, nonces from 0
/// up. (On regtest about every other hash is a block, and the pool takes a block whatever the
/// share target says.)
fn share_above_target(job: &Arc<Job>) -> Share {
    let extranonce2 = vec![0; job.extranonce2_size];
    let mut header = job.header(&extranonce2, job.ntime);
    loop {
        let hash = header.block_hash();
        let target = Target::from_le_bytes(hash.0);
        if target > job.share_target && target > job.block_target {
            return Share {
                hash,
                job: job.clone(),
                extranonce2,
                header,
                is_block: false,
                stale: false,
            };
        }
        header.nonce += 1;
    }
}

#[test]
fn a_share_above_the_target_is_rejected_with_the_pools_error_code() {
    let Some(stack) = Stack::start() else { return };
    for channel in [ChannelKind::Standard, ChannelKind::Extended] {
        let mut bare = Bare::open(&stack, channel);
        let job = bare.next_job();
        let share = share_above_target(&job);
        let frame = bare.client.submit(&share).expect("a known job");
        bare.writer.write_frame(&frame).expect("send");
        assert_eq!(
            bare.verdict(),
            (
                share,
                Verdict::Rejected {
                    reason: "difficulty-too-low".into(),
                    stale: false
                }
            ),
            "{channel:?}"
        );
    }
}

#[test]
fn a_share_on_a_job_from_before_the_last_block_is_reported_stale() {
    let Some(stack) = Stack::start() else { return };
    let mut bare = Bare::open(&stack, ChannelKind::Standard);
    let old = bare.next_job();
    // The pool judges the job before the hash, so any nonce shows it; this one is cheap to find.
    let share = share_above_target(&old);
    // Made while the job stood, sent once a block from elsewhere has replaced it.
    let frame = bare.client.submit(&share).expect("a known job");
    stack.node.generate(1);
    let new = bare.next_job();
    assert!(new.clean && new.prev_hash != old.prev_hash, "{new:?}");
    bare.writer.write_frame(&frame).expect("send");
    let (answered, verdict) = bare.verdict();
    assert_eq!(answered, share);
    match verdict {
        Verdict::Rejected { stale: true, .. } => {}
        other => panic!("{other:?}\n{}", stack.pool.logs()),
    }
}
