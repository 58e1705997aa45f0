//! Our Stratum V1 client's `mining.set_extranonce` against the real `translator_sv2`
//! (`SHA256D_TRANSLATOR_SV2`; install it with `.ci/peers.sh DIR`). The translator sends it
//! only when its upstream moves the channel to a new extranonce prefix with SV2
//! SetExtranoncePrefix, which no real pool here does (`pool_sv2` 0.7.0 never sends it), so the
//! upstream is a pool this file plays ([`FakePool`]): it grants a channel on prefix A, and once
//! two shares are accepted under A moves it to prefix B with a new job. It verifies every share
//! for real, with the prefix its job was sent under, at a share target hard enough that a share
//! built on the wrong extranonce fails it (and the translator's own check) but for one time in
//! thousands. The test skips with a message when the translator is missing and fails instead
//! under `SHA256D_REQUIRE_PEERS=1` or `CI=true`.

#![cfg(feature = "sv2")]

use binary_sv2::{Seq0255, Sv2Option};
use common_messages_sv2::SetupConnectionSuccess;
use mining_sv2::{
    NewExtendedMiningJob, OpenExtendedMiningChannelSuccess, SetExtranoncePrefix, SetNewPrevHash,
    SetTarget, SubmitSharesError, SubmitSharesExtended, SubmitSharesSuccess,
};
use parsers_sv2::{AnyMessageOwned, CommonMessages, CommonMessagesOwned, Mining, MiningOwned};
use sha256d::{CompactTarget, Header, Target, BIP320_VERSION_MASK};
use sha256d_mining::sv2::template_provider::frame;
use sha256d_mining::sv2::transport::{self, Frame};
use sha256d_mining::sv2::AuthorityKeypair;
use sha256d_mining::{
    mine, Event, MineOptions, PoolConfig, PoolOptions, PoolSource, PoolUrl, Share, Source, Verdict,
};
use sha256d_testkit::peers::POLL;
use sha256d_testkit::sv2::{TranslatorSv2, TranslatorSv2Config};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Generous: on a loaded machine the translator alone can take seconds to come up.
const PATIENCE: Duration = Duration::from_secs(60);
/// The channel the fake pool opens, and the group it puts it in: distinct, as a real pool's.
const CHANNEL_ID: u32 = 7;
const GROUP_CHANNEL_ID: u32 = 99;
const PREFIX_A: [u8; 4] = [0xa0, 0xa1, 0xa2, 0xa3];
const PREFIX_B: [u8; 4] = [0xb0, 0xb1, 0xb2, 0xb3];
/// Accepted shares wanted under each prefix.
const SHARES_PER_PREFIX: usize = 2;
/// The extranonce2 the translator gives its SV1 miners (`downstream_extranonce2_size`).
const EXTRANONCE2_SIZE: usize = 4;
const PREV_HASH: [u8; 32] = [0x5a; 32];
/// Difficulty 1: no share at the test's difficulty is also a block.
const NBITS: u32 = 0x1d00_ffff;
const VERSION: u32 = 0x2000_0000;

/// The share difficulty: a share every 2^13 hashes in a debug build (about 45 kH/s on one
/// thread: a fifth of a second), every 2^20 in a release one (about 200 times faster), so that
/// shares come every fraction of a second either way. A power of two, so that the difficulty
/// the translator sends (a float) turns back into exactly the pool's target.
fn share_difficulty() -> f64 {
    let hashes_per_share_log2 = if cfg!(debug_assertions) { 13 } else { 20 };
    2f64.powi(hashes_per_share_log2 - 32)
}

/// A coinbase around an extranonce of `extranonce_len` bytes that parses as a transaction:
/// version 2, one input spending nothing whose script is height 1000's BIP34 push followed by
/// the extranonce, one output of 50 BTC to `OP_TRUE`, lock time 0.
fn coinbase_parts(extranonce_len: usize) -> (Vec<u8>, Vec<u8>) {
    let height_push = [0x02, 0xe8, 0x03];
    let mut prefix = 2u32.to_le_bytes().to_vec();
    prefix.push(1);
    prefix.extend_from_slice(&[0; 32]);
    prefix.extend_from_slice(&u32::MAX.to_le_bytes());
    prefix.push(u8::try_from(height_push.len() + extranonce_len).expect("at most 35 bytes"));
    prefix.extend_from_slice(&height_push);
    let mut suffix = u32::MAX.to_le_bytes().to_vec();
    suffix.push(1);
    suffix.extend_from_slice(&5_000_000_000u64.to_le_bytes());
    suffix.extend_from_slice(&[1, 0x51]);
    suffix.extend_from_slice(&0u32.to_le_bytes());
    (prefix, suffix)
}

/// A share the fake pool verified, with the prefix it verified under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct PoolShare {
    prefix: Vec<u8>,
    /// The share's extranonce: the translator's bytes, then the miner's extranonce2.
    extranonce: Vec<u8>,
    version: u32,
    ntime: u32,
    nonce: u32,
}

/// What the fake pool saw.
#[derive(Clone, Debug, Default)]
struct PoolLog {
    verified: Vec<PoolShare>,
    /// Shares that failed verification, and anything else that went wrong, each with why.
    failures: Vec<String>,
    /// Message types it received and had no use for.
    ignored: Vec<u8>,
}

/// The fake pool's side of one connection as a state machine: frames in, frames out.
struct PoolState {
    target: Target,
    /// The extranonce bytes the channel's miner rolls, once it is open.
    granted: Option<usize>,
    prefix: Vec<u8>,
    min_ntime: u32,
    /// Each job sent, with the prefix current when it was sent.
    jobs: BTreeMap<u32, Vec<u8>>,
    moved_to_b: bool,
    log: Arc<Mutex<PoolLog>>,
}

fn mining(message: MiningOwned) -> Frame {
    frame(AnyMessageOwned::Mining(message))
}

fn lock(log: &Mutex<PoolLog>) -> MutexGuard<'_, PoolLog> {
    // Only a panicking test thread can poison it, and the data stays readable.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

impl PoolState {
    fn new(target: Target, min_ntime: u32, log: Arc<Mutex<PoolLog>>) -> PoolState {
        PoolState {
            target,
            granted: None,
            prefix: PREFIX_A.to_vec(),
            min_ntime,
            jobs: BTreeMap::new(),
            moved_to_b: false,
            log,
        }
    }

    fn handle(&mut self, frame: &Frame) -> Result<Vec<Frame>, String> {
        let mut payload = frame.payload.clone();
        if frame.msg_type < 0x10 {
            return match CommonMessages::try_from((frame.msg_type, payload.as_mut_slice())) {
                Ok(CommonMessages::SetupConnection(_)) => Ok(vec![frame_of_setup_success()]),
                Ok(_) => Ok(self.ignore(frame.msg_type)),
                Err(e) => Err(format!("message {:#04x} unreadable: {e:?}", frame.msg_type)),
            };
        }
        match Mining::try_from((frame.msg_type, payload.as_mut_slice())) {
            Ok(Mining::OpenExtendedMiningChannel(open)) => {
                Ok(self.open(open.request_id, open.min_extranonce_size))
            }
            Ok(Mining::SubmitSharesExtended(share)) => Ok(self.on_share(&share)),
            Ok(_) => Ok(self.ignore(frame.msg_type)),
            Err(e) => Err(format!("message {:#04x} unreadable: {e:?}", frame.msg_type)),
        }
    }

    fn ignore(&mut self, msg_type: u8) -> Vec<Frame> {
        lock(&self.log).ignored.push(msg_type);
        Vec::new()
    }

    /// The channel on prefix A with the size asked for, its share target again as SetTarget
    /// (the translator's first difficulty comes from its own configuration, and only a
    /// SetTarget replaces it while its vardiff is off), then a future job and the previous
    /// hash that activates it.
    fn open(&mut self, request_id: u32, min_extranonce_size: u16) -> Vec<Frame> {
        self.granted = Some(usize::from(min_extranonce_size));
        let target = self.target.to_le_bytes();
        let success = OpenExtendedMiningChannelSuccess {
            request_id,
            channel_id: CHANNEL_ID,
            target: (&target).into(),
            extranonce_size: min_extranonce_size,
            extranonce_prefix: self.prefix.as_slice().try_into().expect("4 bytes fit"),
            group_channel_id: GROUP_CHANNEL_ID,
        };
        let prev_hash = SetNewPrevHash {
            channel_id: CHANNEL_ID,
            job_id: 1,
            prev_hash: (&PREV_HASH).into(),
            min_ntime: self.min_ntime,
            nbits: NBITS,
        };
        let set_target = SetTarget {
            channel_id: CHANNEL_ID,
            maximum_target: (&target).into(),
        };
        vec![
            mining(MiningOwned::OpenExtendedMiningChannelSuccess(
                success.into_owned(),
            )),
            mining(MiningOwned::SetTarget(set_target.into_owned())),
            self.job(1, None),
            mining(MiningOwned::SetNewPrevHash(prev_hash.into_owned())),
        ]
    }

    /// Job `job_id` on the current prefix: a future job without `min_ntime`.
    fn job(&mut self, job_id: u32, min_ntime: Option<u32>) -> Frame {
        let granted = self.granted.expect("jobs are sent on an open channel");
        let (prefix, suffix) = coinbase_parts(self.prefix.len() + granted);
        let job = NewExtendedMiningJob {
            channel_id: CHANNEL_ID,
            job_id,
            min_ntime: Sv2Option::new(min_ntime),
            version: VERSION,
            version_rolling_allowed: true,
            merkle_path: Seq0255::new(Vec::new()).expect("an empty path fits"),
            coinbase_tx_prefix: prefix.as_slice().try_into().expect("a short prefix fits"),
            coinbase_tx_suffix: suffix.as_slice().try_into().expect("a short suffix fits"),
        };
        self.jobs.insert(job_id, self.prefix.clone());
        mining(MiningOwned::NewExtendedMiningJob(job.into_owned()))
    }

    /// Verifies `share` and answers it; after the SHARES_PER_PREFIX-th accepted under A, moves
    /// the channel to prefix B with a job on it (not a future one: it starts at once).
    fn on_share(&mut self, share: &SubmitSharesExtended<'_>) -> Vec<Frame> {
        let mut out = Vec::new();
        match self.verify(share) {
            Ok(verified) => {
                let mut log = lock(&self.log);
                log.verified.push(verified);
                let under_a = log.verified.iter().filter(|s| s.prefix == PREFIX_A).count();
                drop(log);
                out.push(mining(MiningOwned::SubmitSharesSuccess(
                    SubmitSharesSuccess {
                        channel_id: CHANNEL_ID,
                        last_sequence_number: share.sequence_number,
                        new_submits_accepted_count: 1,
                        new_shares_sum: 1,
                    }
                    .into_owned(),
                )));
                if under_a >= SHARES_PER_PREFIX && !self.moved_to_b {
                    self.moved_to_b = true;
                    self.prefix = PREFIX_B.to_vec();
                    let change = SetExtranoncePrefix {
                        channel_id: CHANNEL_ID,
                        extranonce_prefix: self.prefix.as_slice().try_into().expect("4 bytes fit"),
                    };
                    out.push(mining(MiningOwned::SetExtranoncePrefix(
                        change.into_owned(),
                    )));
                    out.push(self.job(2, Some(self.min_ntime)));
                }
            }
            Err((code, why)) => {
                lock(&self.log).failures.push(why);
                out.push(mining(MiningOwned::SubmitSharesError(
                    SubmitSharesError {
                        channel_id: CHANNEL_ID,
                        sequence_number: share.sequence_number,
                        error_code: code.try_into().expect("an SV2 error code fits"),
                    }
                    .into_owned(),
                )));
            }
        }
        out
    }

    /// The share as a pool checks it: coinbase = prefix ‖ the job's extranonce prefix ‖ the
    /// share's extranonce ‖ suffix, its hash the merkle root (the path is empty), the header
    /// from the share's version, ntime and nonce, its hash at most the share target.
    fn verify(
        &self,
        share: &SubmitSharesExtended<'_>,
    ) -> Result<PoolShare, (&'static str, String)> {
        let extranonce = share.extranonce.as_bytes().to_vec();
        let seen = format!(
            "share {} on job {} (extranonce {}, nonce {:#010x})",
            share.sequence_number,
            share.job_id,
            hex(&extranonce),
            share.nonce
        );
        let invalid = |why: &str| {
            (
                mining_sv2::ERROR_CODE_SUBMIT_SHARES_INVALID_SHARE,
                format!("{seen}: {why}"),
            )
        };
        if share.channel_id != CHANNEL_ID {
            return Err((
                mining_sv2::ERROR_CODE_SUBMIT_SHARES_INVALID_CHANNEL_ID,
                format!("{seen}: channel {}", share.channel_id),
            ));
        }
        let Some(job_prefix) = self.jobs.get(&share.job_id) else {
            return Err((
                mining_sv2::ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID,
                format!("{seen}: no such job"),
            ));
        };
        if Some(extranonce.len()) != self.granted {
            return Err((
                mining_sv2::ERROR_CODE_SUBMIT_SHARES_BAD_EXTRANONCE_SIZE,
                format!("{seen}: granted {:?} extranonce bytes", self.granted),
            ));
        }
        if share.version & !BIP320_VERSION_MASK != VERSION & !BIP320_VERSION_MASK {
            return Err(invalid(&format!(
                "version {:#010x} changes bits outside {BIP320_VERSION_MASK:#010x}",
                share.version
            )));
        }
        if share.ntime < self.min_ntime {
            return Err(invalid(&format!(
                "ntime {} before {}",
                share.ntime, self.min_ntime
            )));
        }
        let (prefix, suffix) = coinbase_parts(job_prefix.len() + extranonce.len());
        let coinbase = [&prefix[..], job_prefix, &extranonce, &suffix].concat();
        let header = Header {
            version: share.version,
            prev_blockhash: PREV_HASH,
            merkle_root: sha256d::hazmat::sha256d(&coinbase),
            time: share.ntime,
            bits: CompactTarget::from_consensus(NBITS),
            nonce: share.nonce,
        };
        if !self.target.is_met_by(&header.block_hash()) {
            return Err(invalid(&format!(
                "hash {} above the share target under prefix {}",
                header.block_hash(),
                hex(job_prefix)
            )));
        }
        Ok(PoolShare {
            prefix: job_prefix.clone(),
            extranonce,
            version: share.version,
            ntime: share.ntime,
            nonce: share.nonce,
        })
    }
}

fn frame_of_setup_success() -> Frame {
    frame(AnyMessageOwned::Common(
        CommonMessagesOwned::SetupConnectionSuccess(
            SetupConnectionSuccess {
                used_version: 2,
                flags: 0,
            }
            .into_owned(),
        ),
    ))
}

fn hex(bytes: &[u8]) -> String {
    sha256d::hazmat::hex::encode(bytes)
}

/// An SV2 pool on 127.0.0.1 for one connection (the translator's), speaking [`PoolState`]
/// over the Noise transport in its own thread, which ends when the connection does or when
/// nobody connects within [`PATIENCE`].
struct FakePool {
    address: SocketAddr,
    authority: String,
    log: Arc<Mutex<PoolLog>>,
}

impl FakePool {
    fn start(target: Target) -> FakePool {
        let keypair = AuthorityKeypair::generate();
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding a loopback port");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let log = Arc::new(Mutex::new(PoolLog::default()));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("the clock is past 1970")
            .as_secs();
        let state = PoolState::new(
            target,
            u32::try_from(now).expect("before 2106"),
            log.clone(),
        );
        let authority = keypair.public().to_string();
        let thread_log = log.clone();
        thread::spawn(move || {
            if let Err(why) = serve(&listener, &keypair, state) {
                lock(&thread_log).failures.push(why);
            }
        });
        FakePool {
            address,
            authority,
            log,
        }
    }

    fn log(&self) -> PoolLog {
        lock(&self.log).clone()
    }
}

/// Accepts one connection and runs `state` on it until it closes.
fn serve(
    listener: &TcpListener,
    keypair: &AuthorityKeypair,
    mut state: PoolState,
) -> Result<(), String> {
    let stream = accept_within(listener, PATIENCE).map_err(|e| format!("accepting: {e}"))?;
    let (mut reader, mut writer) = transport::accept(stream, keypair, Duration::from_secs(3600))
        .map_err(|e| format!("handshake: {e}"))?;
    // A read error is the translator going away when the test ends.
    while let Ok(frame) = reader.read_frame() {
        for reply in state.handle(&frame)? {
            writer
                .write_frame(&reply)
                .map_err(|e| format!("writing: {e}"))?;
        }
    }
    Ok(())
}

fn accept_within(listener: &TcpListener, timeout: Duration) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(POLL);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The pool source as `mine` drives it, recording what the client mines with: the
/// extranonce1 and extranonce2 size of each job, and each verdict with the share it judged.
/// It stops the run once SHARES_PER_PREFIX shares on prefix B's jobs are accepted, or at the
/// first rejection, which fails the test anyway.
struct Tap {
    inner: PoolSource,
    stop: Arc<AtomicBool>,
    jobs: Vec<(Vec<u8>, usize)>,
    verdicts: Vec<(Share, Verdict)>,
}

impl Tap {
    fn record(&mut self, events: Vec<Event>) -> Vec<Event> {
        for event in &events {
            match event {
                Event::Job(job) => self
                    .jobs
                    .push((job.extranonce1.clone(), job.extranonce2_size)),
                Event::Verdict { share, verdict } => {
                    self.verdicts.push((share.clone(), verdict.clone()))
                }
                Event::Difficulty(_) | Event::Notice(_) => {}
            }
        }
        let accepted_under_b = self
            .verdicts
            .iter()
            .filter(|(s, v)| *v == Verdict::Accepted && s.job.extranonce1.starts_with(&PREFIX_B))
            .count();
        let rejected = self.verdicts.iter().any(|(_, v)| *v != Verdict::Accepted);
        if accepted_under_b >= SHARES_PER_PREFIX || rejected {
            self.stop.store(true, Ordering::Relaxed);
        }
        events
    }
}

impl Source for Tap {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, sha256d::Error> {
        let events = self.inner.poll(timeout)?;
        Ok(self.record(events))
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, sha256d::Error> {
        let events = self.inner.submit(share)?;
        Ok(self.record(events))
    }

    fn pause_after_block(&self) -> bool {
        self.inner.pause_after_block()
    }

    fn block_verdicts_are_final(&self) -> bool {
        self.inner.block_verdicts_are_final()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// The whole extranonce a share was built with (extranonce1 ‖ extranonce2) and its header
/// fields: the same on both sides when the client and the pool agree on the coinbase.
type ShareKey = (Vec<u8>, u32, u32, u32);

fn client_key(share: &Share) -> ShareKey {
    (
        [&share.job.extranonce1[..], &share.extranonce2[..]].concat(),
        share.header.version,
        share.header.time,
        share.header.nonce,
    )
}

fn pool_key(share: &PoolShare) -> ShareKey {
    (
        [&share.prefix[..], &share.extranonce[..]].concat(),
        share.version,
        share.ntime,
        share.nonce,
    )
}

/// Our V1 client mines through translator_sv2 in front of the fake pool. After the pool moves
/// the channel from prefix A to B, the translator sends `mining.set_extranonce` with B and its
/// own bytes for this miner, and the client's shares on the new job verify under B: it mined
/// with the new extranonce1. Shares on the job before stay valid under A.
#[test]
fn set_extranonce_from_the_translator_moves_our_client_to_the_new_prefix() {
    let difficulty = share_difficulty();
    let target = Target::from_difficulty(difficulty).expect("a positive difficulty");
    let pool = FakePool::start(target);
    let config = TranslatorSv2Config {
        user_identity: "sha256d-test".into(),
        // Only the first difficulty comes from these; the pool's SetTarget replaces it before
        // the first job.
        min_individual_miner_hashrate: 1e5,
        shares_per_minute: 30.0,
        // Vardiff would set its own difficulty; without it the pool's SetTarget is the miner's.
        enable_vardiff: false,
    };
    let Some(translator) = TranslatorSv2::start_upstream(pool.address, &pool.authority, &config)
    else {
        return;
    };
    let url = PoolUrl::parse(&translator.url()).expect("translator URL");
    let mut options = PoolOptions::new(vec![PoolConfig::new(url, "w1", "x")]);
    options.extranonce_subscribe = true;
    let stop = Arc::new(AtomicBool::new(false));
    let mut tap = Tap {
        inner: PoolSource::new(options).expect("valid options"),
        stop: stop.clone(),
        jobs: Vec::new(),
        verdicts: Vec::new(),
    };
    let mut notices = Vec::new();
    let stats = mine(
        &mut tap,
        &[sha256d::best()],
        &MineOptions {
            time: Some(Duration::from_secs(300)),
            stop: Some(stop.clone()),
            ..MineOptions::default()
        },
        &mut |_, notice| notices.extend(notice.map(str::to_owned)),
    )
    .expect("mining through the translator");
    let context = || {
        format!(
            "{stats:#?}\nnotices: {notices:#?}\npool: {:#?}\n{}",
            pool.log(),
            translator.logs()
        )
    };
    // No rejections at all: a share built on the wrong extranonce would have been one.
    let rejected: Vec<(String, String, u32, Verdict)> = tap
        .verdicts
        .iter()
        .filter(|(_, v)| *v != Verdict::Accepted)
        .map(|(s, v)| {
            let job = &s.job;
            (
                job.id.clone(),
                hex(&job.extranonce1),
                s.header.nonce,
                v.clone(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        Vec::new(),
        "(job, extranonce1, nonce, verdict)\n{}",
        context()
    );
    assert!(
        stop.load(Ordering::Relaxed),
        "the run ended before {SHARES_PER_PREFIX} shares under B\n{}",
        context()
    );
    assert_eq!(stats.rejected, BTreeMap::new(), "{}", context());
    assert_eq!(stats.stale, 0, "{}", context());
    assert_eq!(stats.accepted, tap.verdicts.len() as u64, "{}", context());
    assert_eq!(stats.difficulty, Some(difficulty), "{}", context());

    // Every share the client saw accepted reached the pool and verified there (the
    // translator answers the miner before it forwards the share, so the pool may trail).
    let accepted: BTreeSet<ShareKey> = tap.verdicts.iter().map(|(s, _)| client_key(s)).collect();
    let deadline = Instant::now() + PATIENCE;
    let missing = loop {
        let verified: BTreeSet<ShareKey> = pool.log().verified.iter().map(pool_key).collect();
        let missing: BTreeSet<ShareKey> = accepted.difference(&verified).cloned().collect();
        if missing.is_empty() || Instant::now() >= deadline {
            break missing;
        }
        thread::sleep(POLL);
    };
    assert_eq!(missing, BTreeSet::new(), "{}", context());
    let log = pool.log();
    assert_eq!(log.failures, Vec::<String>::new(), "{}", context());

    // The translator's own bytes for this miner sit between the pool's prefix and the
    // miner's extranonce2 in every share; the client mined with A and then B in front of them.
    let local = &log.verified[0].extranonce[..log.verified[0].extranonce.len() - EXTRANONCE2_SIZE];
    let mut extranonce1s = tap.jobs.clone();
    extranonce1s.dedup();
    assert_eq!(
        extranonce1s,
        vec![
            ([&PREFIX_A[..], local].concat(), EXTRANONCE2_SIZE),
            ([&PREFIX_B[..], local].concat(), EXTRANONCE2_SIZE),
        ],
        "{}",
        context()
    );
    let mut under: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for share in &log.verified {
        assert_eq!(share.extranonce[..local.len()], *local, "{}", context());
        *under.entry(share.prefix.clone()).or_default() += 1;
    }
    let at_least_two: BTreeMap<Vec<u8>, bool> = under
        .iter()
        .map(|(prefix, n)| (prefix.clone(), *n >= SHARES_PER_PREFIX))
        .collect();
    assert_eq!(
        at_least_two,
        BTreeMap::from([(PREFIX_A.to_vec(), true), (PREFIX_B.to_vec(), true)]),
        "verified per prefix: {under:?}\n{}",
        context()
    );
}
