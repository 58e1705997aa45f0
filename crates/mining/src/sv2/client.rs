//! The Stratum V2 mining client as a pure state machine: decrypted frames in, frames to send
//! and events out. No sockets, no clock; `pool.rs` runs it over the transport.
//!
//! The flow: SetupConnection (mining protocol) → Open{Standard,Extended}MiningChannel → jobs
//! (future jobs wait for the SetNewPrevHash that names them) → SubmitShares{Standard,Extended}
//! → SubmitShares.Success (which may acknowledge several shares at once) or .Error.
//!
//! A *standard* channel carries header-only work: the pool keeps the coinbase and sends the
//! merkle root, so the miner rolls only nonce, ntime and the version bits. An *extended*
//! channel carries the coinbase around an extranonce the miner fills, and a merkle path.

use crate::job::NTIME_ROLL;
use crate::sanitize::for_terminal_max;
use crate::sv2::transport::Frame;
use crate::{Job, Share, Verdict};
use binary_sv2::{Encodable, GetSize, B032, U256};
use common_messages_sv2::{Protocol, SetupConnection};
use mining_sv2::{
    OpenExtendedMiningChannel, OpenStandardMiningChannel, SubmitSharesExtended,
    SubmitSharesStandard,
};
use parsers_sv2::{CommonMessages, Mining};
use sha256d::{CompactTarget, Error, ErrorKind, Target};
use std::collections::VecDeque;
use std::sync::Arc;

/// The only protocol version there is.
const PROTOCOL_VERSION: u16 = 2;
/// SetupConnection flags of the mining protocol.
const REQUIRES_STANDARD_JOBS: u32 = 1 << 0;
const REQUIRES_VERSION_ROLLING: u32 = 1 << 2;
/// The version bits BIP320 leaves to miners, which SV2 lets them roll.
pub const VERSION_ROLLING_MASK: u32 = 0x1fff_e000;
/// The longest extranonce (pool prefix and miner part together) SV2 allows.
pub const MAX_EXTRANONCE: usize = 32;
/// The extranonce the client asks an extended channel for at least: 4 bytes roll 2^32
/// coinbases, more than any engine gets through in a job's life.
const MIN_EXTRANONCE_SIZE: u16 = 4;
/// Shares in flight without a verdict; past this the pool has stopped answering.
pub const MAX_UNANSWERED_SUBMITS: usize = 1024;
/// Future jobs kept while waiting for their SetNewPrevHash; older ones are dropped.
const MAX_FUTURE_JOBS: usize = 16;
/// Jobs on the current previous hash that shares may still be submitted for.
const MAX_LIVE_JOBS: usize = 32;
/// Cut on text from the pool (error codes, reasons) before it reaches a log line.
const MAX_POOL_TEXT: usize = 200;

/// Which kind of channel to open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    /// Header-only work: the pool sends the merkle root.
    Standard,
    /// The coinbase halves, an extranonce to roll, and the merkle path.
    Extended,
}

/// What the client asks the pool for.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// The user identity the channel is opened for (worker name; for SRI's pool in solo mode
    /// `sri/solo/<address>/<worker>`).
    pub user_identity: String,
    /// Standard or extended.
    pub channel: ChannelKind,
    /// Roll the BIP320 version bits, and tell the pool the miner needs to.
    pub version_rolling: bool,
    /// The hash rate the miner expects to deliver (hashes per second); the pool sets the first
    /// share target from it.
    pub nominal_hash_rate: f32,
    /// Where the client connected, as SetupConnection reports it.
    pub endpoint_host: String,
    /// The port it connected to.
    pub endpoint_port: u16,
}

impl Config {
    /// A config for `user_identity` on a `channel`, version rolling on, a nominal hash rate of
    /// 10 MH/s (a CPU's; the pool's vardiff corrects it), no endpoint.
    pub fn new(user_identity: impl Into<String>, channel: ChannelKind) -> Self {
        Config {
            user_identity: user_identity.into(),
            channel,
            version_rolling: true,
            nominal_hash_rate: 10e6,
            endpoint_host: String::new(),
            endpoint_port: 0,
        }
    }
}

/// Something the protocol reports to the session.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// The channel is open; jobs follow.
    ChannelOpened {
        /// The pool's channel id.
        channel_id: u32,
        /// The extranonce bytes the miner fills (0 on a standard channel).
        extranonce_size: usize,
    },
    /// New work.
    Job(Arc<Job>),
    /// The pool set a new share target; the job carrying it follows.
    Difficulty(f64),
    /// The verdict on a submitted share.
    Verdict {
        /// The share as submitted.
        share: Share,
        /// What the pool said.
        verdict: Verdict,
    },
    /// The pool refused the connection or the channel (unknown user, unsupported flags): this
    /// pool cannot be used as configured.
    Refused(String),
    /// The pool asked the miner to reconnect, to `host` and `port` where given (the current
    /// ones otherwise). The new server must prove the same authority key.
    Reconnect {
        /// The new host, made safe to print.
        host: Option<String>,
        /// The new port.
        port: Option<u16>,
    },
    /// A line for the operator.
    Notice(String),
}

/// One job as the pool sent it, before a previous hash makes it work.
#[derive(Clone, Debug, PartialEq)]
enum Template {
    Standard {
        job_id: u32,
        version: u32,
        merkle_root: [u8; 32],
    },
    Extended {
        job_id: u32,
        version: u32,
        version_rolling_allowed: bool,
        merkle_path: Vec<[u8; 32]>,
        prefix: Vec<u8>,
        suffix: Vec<u8>,
    },
}

impl Template {
    fn job_id(&self) -> u32 {
        match self {
            Template::Standard { job_id, .. } | Template::Extended { job_id, .. } => *job_id,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct PrevHash {
    prev_hash: [u8; 32],
    min_ntime: u32,
    nbits: u32,
}

#[derive(Clone, Debug, PartialEq)]
struct Channel {
    id: u32,
    group_id: u32,
    target: Target,
    extranonce_prefix: Vec<u8>,
    extranonce_size: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    AwaitSetup,
    AwaitChannel,
    Open,
    Refused,
}

/// The client's state for one connection.
#[derive(Debug)]
pub struct Client {
    config: Config,
    stage: Stage,
    channel: Option<Channel>,
    prev: Option<PrevHash>,
    future: VecDeque<Template>,
    /// The template work is on now, with the ntime it started from.
    active: Option<(Template, u32)>,
    /// Jobs shares may be submitted for, newest last, each with its pool job id.
    live: VecDeque<(u32, Arc<Job>)>,
    in_flight: VecDeque<(u32, Share)>,
    next_sequence: u32,
    outgoing: Vec<Frame>,
}

fn frame<T: Encodable + GetSize>(msg: T, msg_type: u8, channel_msg: bool) -> Frame {
    Frame {
        extension_type: 0,
        channel_msg,
        msg_type,
        payload: binary_sv2::to_bytes(msg).expect("a message sized by GetSize encodes"),
    }
}

fn text(bytes: &[u8]) -> String {
    for_terminal_max(&String::from_utf8_lossy(bytes), MAX_POOL_TEXT)
}

fn bad(what: impl Into<String>) -> Error {
    Error::parse(format!("the pool sent {}", what.into()))
}

impl Client {
    /// A client with its SetupConnection queued.
    pub fn new(config: Config) -> Self {
        let mut flags = 0;
        if config.channel == ChannelKind::Standard {
            flags |= REQUIRES_STANDARD_JOBS;
        }
        if config.version_rolling {
            flags |= REQUIRES_VERSION_ROLLING;
        }
        let host = for_terminal_max(&config.endpoint_host, 255);
        let setup = SetupConnection {
            protocol: Protocol::MiningProtocol,
            min_version: PROTOCOL_VERSION,
            max_version: PROTOCOL_VERSION,
            flags,
            endpoint_host: host
                .as_str()
                .try_into()
                .unwrap_or_else(|_| "".try_into().expect("empty fits")),
            endpoint_port: config.endpoint_port,
            vendor: "sha256d".try_into().expect("short literal"),
            hardware_version: "".try_into().expect("empty fits"),
            firmware: env!("CARGO_PKG_VERSION").try_into().expect("short version"),
            device_id: "".try_into().expect("empty fits"),
        };
        let outgoing = vec![frame(
            setup,
            common_messages_sv2::MESSAGE_TYPE_SETUP_CONNECTION,
            false,
        )];
        Client {
            config,
            stage: Stage::AwaitSetup,
            channel: None,
            prev: None,
            future: VecDeque::new(),
            active: None,
            live: VecDeque::new(),
            in_flight: VecDeque::new(),
            next_sequence: 0,
            outgoing,
        }
    }

    /// The user identity the channel is for.
    pub fn user(&self) -> &str {
        &self.config.user_identity
    }

    /// Frames to send, in order.
    pub fn take_outgoing(&mut self) -> Vec<Frame> {
        std::mem::take(&mut self.outgoing)
    }

    /// Whether the channel is open and there is work to submit shares for.
    pub fn is_ready(&self) -> bool {
        self.stage == Stage::Open && !self.live.is_empty()
    }

    /// Whether `job` came from this connection and its previous hash still stands.
    pub fn knows(&self, job: &Job) -> bool {
        self.live.iter().any(|(_, j)| **j == *job)
    }

    /// Why a share on `job`, which this client does not know, is stale: the block moved on, or
    /// the job came from another connection.
    pub fn stale_reason(&self, job: &Job) -> &'static str {
        match self.prev {
            Some(prev) if prev.prev_hash != job.prev_hash => {
                "stale: the pool moved to a new block after its job"
            }
            _ => "stale: its job did not survive the reconnection to the pool",
        }
    }

    /// Whether [`MAX_UNANSWERED_SUBMITS`] shares wait for a verdict.
    pub fn is_backlogged(&self) -> bool {
        self.in_flight.len() >= MAX_UNANSWERED_SUBMITS
    }

    /// Submitted shares still without a verdict, oldest first, forgotten by the client.
    pub fn take_unanswered(&mut self) -> Vec<Share> {
        self.in_flight.drain(..).map(|(_, s)| s).collect()
    }

    /// The submission frame for `share`, which must be on a job [`Client::knows`].
    pub fn submit(&mut self, share: &Share) -> Result<Frame, Error> {
        let unavailable = |why: &str| Error::new(ErrorKind::Unavailable, why.to_string());
        let Some(channel) = &self.channel else {
            return Err(unavailable("cannot submit: no channel is open"));
        };
        if self.is_backlogged() {
            return Err(unavailable(&format!(
                "cannot submit: the pool has not answered the last {MAX_UNANSWERED_SUBMITS} shares"
            )));
        }
        let Some(job_id) = self
            .live
            .iter()
            .find(|(_, j)| **j == *share.job)
            .map(|(id, _)| *id)
        else {
            return Err(unavailable(
                "cannot submit: the job is not one of this channel's",
            ));
        };
        let sequence_number = self.next_sequence;
        let frame = if share.job.fixed_merkle_root.is_some() {
            frame(
                SubmitSharesStandard {
                    channel_id: channel.id,
                    sequence_number,
                    job_id,
                    nonce: share.header.nonce,
                    ntime: share.header.time,
                    version: share.header.version,
                },
                mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_STANDARD,
                true,
            )
        } else {
            let extranonce: B032 = share
                .extranonce2
                .as_slice()
                .try_into()
                .map_err(|_| unavailable("cannot submit: the extranonce is over 32 bytes"))?;
            frame(
                SubmitSharesExtended {
                    channel_id: channel.id,
                    sequence_number,
                    job_id,
                    nonce: share.header.nonce,
                    ntime: share.header.time,
                    version: share.header.version,
                    extranonce,
                },
                mining_sv2::MESSAGE_TYPE_SUBMIT_SHARES_EXTENDED,
                true,
            )
        };
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.in_flight.push_back((sequence_number, share.clone()));
        Ok(frame)
    }

    /// Handles one frame from the pool. An `Err` means the pool broke the protocol and the
    /// connection should be dropped.
    pub fn handle_frame(&mut self, frame: &Frame) -> Result<Vec<ClientEvent>, Error> {
        if frame.extension_type != 0 {
            // Extensions were never negotiated; a pool may still announce some.
            return Ok(vec![ClientEvent::Notice(format!(
                "ignored a message of extension {:#06x}",
                frame.extension_type
            ))]);
        }
        let mut payload = frame.payload.clone();
        if frame.msg_type < 0x10 {
            let msg = CommonMessages::try_from((frame.msg_type, payload.as_mut_slice())).map_err(
                |e| {
                    bad(format!(
                        "an unreadable message {:#04x}: {e:?}",
                        frame.msg_type
                    ))
                },
            )?;
            return self.on_common(msg);
        }
        let msg = Mining::try_from((frame.msg_type, payload.as_mut_slice())).map_err(|e| {
            bad(format!(
                "an unreadable message {:#04x}: {e:?}",
                frame.msg_type
            ))
        })?;
        self.on_mining(msg)
    }

    fn on_common(&mut self, msg: CommonMessages<'_>) -> Result<Vec<ClientEvent>, Error> {
        match msg {
            CommonMessages::SetupConnectionSuccess(_) if self.stage == Stage::AwaitSetup => {
                self.open_channel();
                self.stage = Stage::AwaitChannel;
                Ok(vec![])
            }
            CommonMessages::SetupConnectionError(e) if self.stage == Stage::AwaitSetup => {
                self.stage = Stage::Refused;
                Ok(vec![ClientEvent::Refused(format!(
                    "the pool refused the connection setup: {}",
                    text(e.error_code.as_bytes())
                ))])
            }
            // An empty host or port 0 means the current one.
            CommonMessages::Reconnect(r) => Ok(vec![ClientEvent::Reconnect {
                host: Some(text(r.new_host.as_bytes())).filter(|h| !h.is_empty()),
                port: Some(r.new_port).filter(|&p| p != 0),
            }]),
            CommonMessages::ChannelEndpointChanged(_) => Ok(vec![]),
            other => Err(bad(format!("{other} out of turn"))),
        }
    }

    fn open_channel(&mut self) {
        let user_identity = for_terminal_max(&self.config.user_identity, 255);
        let user_identity = user_identity
            .as_str()
            .try_into()
            .unwrap_or_else(|_| "".try_into().expect("empty fits"));
        let max_target: U256 = (&[0xff; 32]).into();
        let request_id = 1;
        let nominal_hash_rate = self.config.nominal_hash_rate;
        self.outgoing.push(match self.config.channel {
            ChannelKind::Standard => frame(
                OpenStandardMiningChannel {
                    request_id,
                    user_identity,
                    nominal_hash_rate,
                    max_target,
                },
                mining_sv2::MESSAGE_TYPE_OPEN_STANDARD_MINING_CHANNEL,
                false,
            ),
            ChannelKind::Extended => frame(
                OpenExtendedMiningChannel {
                    request_id,
                    user_identity,
                    nominal_hash_rate,
                    max_target,
                    min_extranonce_size: MIN_EXTRANONCE_SIZE,
                },
                mining_sv2::MESSAGE_TYPE_OPEN_EXTENDED_MINING_CHANNEL,
                false,
            ),
        });
    }

    fn on_mining(&mut self, msg: Mining<'_>) -> Result<Vec<ClientEvent>, Error> {
        if self.stage == Stage::AwaitChannel {
            return self.on_channel_reply(msg);
        }
        if self.stage != Stage::Open {
            return Err(bad(format!("{msg} before a channel was open")));
        }
        let channel = self.channel.as_ref().expect("an open stage has a channel");
        let ours = |id: u32| id == channel.id || id == channel.group_id;
        match msg {
            Mining::NewMiningJob(j) if ours(j.channel_id) => {
                if self.config.channel != ChannelKind::Standard {
                    return Err(bad("a standard job on an extended channel"));
                }
                let template = Template::Standard {
                    job_id: j.job_id,
                    version: j.version,
                    merkle_root: j.merkle_root.to_array(),
                };
                Ok(self.on_template(template, j.min_ntime.into_inner()))
            }
            Mining::NewExtendedMiningJob(j) if ours(j.channel_id) => {
                if self.config.channel != ChannelKind::Extended {
                    return Err(bad("an extended job on a standard channel"));
                }
                let template = Template::Extended {
                    job_id: j.job_id,
                    version: j.version,
                    version_rolling_allowed: j.version_rolling_allowed,
                    merkle_path: j.merkle_path.iter().map(|h| h.to_array()).collect(),
                    prefix: j.coinbase_tx_prefix.as_bytes().to_vec(),
                    suffix: j.coinbase_tx_suffix.as_bytes().to_vec(),
                };
                Ok(self.on_template(template, j.min_ntime.into_inner()))
            }
            Mining::SetNewPrevHash(p) if ours(p.channel_id) => {
                let prev = PrevHash {
                    prev_hash: p.prev_hash.to_array(),
                    min_ntime: p.min_ntime,
                    nbits: p.nbits,
                };
                Target::from_compact(CompactTarget::from_consensus(prev.nbits))
                    .map_err(|e| bad(format!("a previous hash with bad nBits: {e}")))?;
                Ok(self.on_prev_hash(p.job_id, prev))
            }
            Mining::SetTarget(t) if ours(t.channel_id) => {
                let target = Target::from_le_bytes(t.maximum_target.to_array());
                self.channel.as_mut().expect("open").target = target;
                let mut events = vec![ClientEvent::Difficulty(target.difficulty_float())];
                events.extend(self.reissue(false));
                Ok(events)
            }
            Mining::SetExtranoncePrefix(x) if ours(x.channel_id) => {
                let prefix = x.extranonce_prefix.as_bytes().to_vec();
                let channel = self.channel.as_mut().expect("open");
                if prefix.len() + channel.extranonce_size > MAX_EXTRANONCE {
                    return Err(bad(format!(
                        "an extranonce prefix of {} bytes, leaving no room for the {} the \
                         channel rolls",
                        prefix.len(),
                        channel.extranonce_size
                    )));
                }
                channel.extranonce_prefix = prefix;
                // Every job built on the old prefix is void: the pool rebuilds coinbases with
                // the new one. A standard job's merkle root was built on it, so it goes too.
                self.live.clear();
                if self.config.channel == ChannelKind::Standard {
                    self.active = None;
                    return Ok(vec![ClientEvent::Notice(
                        "the pool changed the extranonce prefix; waiting for its next job".into(),
                    )]);
                }
                Ok(self.reissue(true))
            }
            Mining::SubmitSharesSuccess(s) if ours(s.channel_id) => {
                Ok(self.on_success(s.last_sequence_number, s.new_submits_accepted_count))
            }
            Mining::SubmitSharesError(e) if ours(e.channel_id) => {
                Ok(self.on_error(e.sequence_number, e.error_code.as_bytes()))
            }
            Mining::CloseChannel(c) if ours(c.channel_id) => {
                self.stage = Stage::Refused;
                Ok(vec![ClientEvent::Refused(format!(
                    "the pool closed the channel: {}",
                    text(c.reason_code.as_bytes())
                ))])
            }
            Mining::SetGroupChannel(_) => Ok(vec![]),
            Mining::NewMiningJob(_)
            | Mining::NewExtendedMiningJob(_)
            | Mining::SetNewPrevHash(_)
            | Mining::SetTarget(_)
            | Mining::SetExtranoncePrefix(_)
            | Mining::SubmitSharesSuccess(_)
            | Mining::SubmitSharesError(_)
            | Mining::CloseChannel(_) => {
                Err(bad("a message for a channel this client does not have"))
            }
            other => Err(bad(format!("{other}, which a pool does not send a miner"))),
        }
    }

    fn on_channel_reply(&mut self, msg: Mining<'_>) -> Result<Vec<ClientEvent>, Error> {
        let channel = match (msg, self.config.channel) {
            (Mining::OpenStandardMiningChannelSuccess(s), ChannelKind::Standard) => Channel {
                id: s.channel_id,
                group_id: s.group_channel_id,
                target: Target::from_le_bytes(s.target.to_array()),
                extranonce_prefix: s.extranonce_prefix.as_bytes().to_vec(),
                extranonce_size: 0,
            },
            (Mining::OpenExtendedMiningChannelSuccess(s), ChannelKind::Extended) => {
                let prefix = s.extranonce_prefix.as_bytes().to_vec();
                let size = usize::from(s.extranonce_size);
                if size == 0 || prefix.len() + size > MAX_EXTRANONCE {
                    return Err(bad(format!(
                        "an extended channel with {size} extranonce bytes to roll after a \
                         {}-byte prefix (1 to {MAX_EXTRANONCE} in all)",
                        prefix.len()
                    )));
                }
                Channel {
                    id: s.channel_id,
                    group_id: s.group_channel_id,
                    target: Target::from_le_bytes(s.target.to_array()),
                    extranonce_prefix: prefix,
                    extranonce_size: size,
                }
            }
            (Mining::OpenMiningChannelError(e), _) => {
                self.stage = Stage::Refused;
                return Ok(vec![ClientEvent::Refused(format!(
                    "the pool refused to open the channel: {}",
                    text(e.error_code.as_bytes())
                ))]);
            }
            (other, _) => return Err(bad(format!("{other} instead of the channel reply"))),
        };
        let opened = ClientEvent::ChannelOpened {
            channel_id: channel.id,
            extranonce_size: channel.extranonce_size,
        };
        let difficulty = ClientEvent::Difficulty(channel.target.difficulty_float());
        self.channel = Some(channel);
        self.stage = Stage::Open;
        Ok(vec![opened, difficulty])
    }

    fn on_template(&mut self, template: Template, min_ntime: Option<u32>) -> Vec<ClientEvent> {
        match (min_ntime, self.prev) {
            // A future job: it waits for the SetNewPrevHash that names it.
            (None, _) => {
                self.future.retain(|t| t.job_id() != template.job_id());
                if self.future.len() == MAX_FUTURE_JOBS {
                    self.future.pop_front();
                }
                self.future.push_back(template);
                vec![]
            }
            (Some(ntime), Some(prev)) => {
                self.active = Some((template, ntime));
                self.emit(prev, false).into_iter().collect()
            }
            (Some(_), None) => vec![ClientEvent::Notice(
                "the pool sent a job before any previous hash; waiting for one".into(),
            )],
        }
    }

    fn on_prev_hash(&mut self, job_id: u32, prev: PrevHash) -> Vec<ClientEvent> {
        self.prev = Some(prev);
        // Everything on the old previous hash is void, and so are the future jobs not named.
        self.live.clear();
        let named = self.future.iter().position(|t| t.job_id() == job_id);
        let template = named.and_then(|i| self.future.remove(i));
        self.future.clear();
        match template {
            Some(template) => {
                self.active = Some((template, prev.min_ntime));
                self.emit(prev, true).into_iter().collect()
            }
            None => {
                self.active = None;
                vec![ClientEvent::Notice(format!(
                    "the pool moved to a new block on job {job_id}, which it never sent; \
                     waiting for work"
                ))]
            }
        }
    }

    /// The active job again with the channel's current target or extranonce prefix.
    fn reissue(&mut self, clean: bool) -> Vec<ClientEvent> {
        match self.prev {
            Some(prev) if self.active.is_some() => self.emit(prev, clean).into_iter().collect(),
            _ => vec![],
        }
    }

    fn emit(&mut self, prev: PrevHash, clean: bool) -> Option<ClientEvent> {
        let (template, ntime) = self.active.as_ref()?;
        let channel = self.channel.as_ref()?;
        let bits = CompactTarget::from_consensus(prev.nbits);
        let block_target = Target::from_compact(bits).ok()?;
        let ntime = (*ntime).max(prev.min_ntime);
        let mut job = Job {
            id: template.job_id().to_string(),
            prev_hash: prev.prev_hash,
            coinb1: Vec::new(),
            extranonce1: Vec::new(),
            extranonce2_size: 0,
            coinb2: Vec::new(),
            merkle_branch: Vec::new(),
            fixed_merkle_root: None,
            version: 0,
            version_mask: 0,
            bits,
            ntime,
            ntime_max: ntime.saturating_add(NTIME_ROLL),
            share_target: channel.target,
            block_target,
            clean,
            height: None,
        };
        match template {
            Template::Standard {
                version,
                merkle_root,
                ..
            } => {
                job.version = *version;
                job.fixed_merkle_root = Some(*merkle_root);
                if self.config.version_rolling {
                    job.version_mask = VERSION_ROLLING_MASK;
                }
            }
            Template::Extended {
                version,
                version_rolling_allowed,
                merkle_path,
                prefix,
                suffix,
                ..
            } => {
                job.version = *version;
                job.coinb1 = prefix.clone();
                job.extranonce1 = channel.extranonce_prefix.clone();
                job.extranonce2_size = channel.extranonce_size;
                job.coinb2 = suffix.clone();
                job.merkle_branch = merkle_path.clone();
                job.height = crate::stratum::coinbase_height(prefix);
                if self.config.version_rolling && *version_rolling_allowed {
                    job.version_mask = VERSION_ROLLING_MASK;
                }
            }
        }
        let job = Arc::new(job);
        if self.live.len() == MAX_LIVE_JOBS {
            self.live.pop_front();
        }
        self.live.push_back((template.job_id(), job.clone()));
        Some(ClientEvent::Job(job))
    }

    fn on_success(&mut self, last_sequence: u32, accepted: u32) -> Vec<ClientEvent> {
        let mut events = Vec::new();
        let mut left = accepted;
        // Sequence numbers only grow (wrapping after 2^32 shares); the acknowledged ones are
        // the oldest in flight up to `last_sequence`.
        while let Some((seq, _)) = self.in_flight.front() {
            if last_sequence.wrapping_sub(*seq) > u32::MAX / 2 {
                break;
            }
            let (_, share) = self.in_flight.pop_front().expect("front exists");
            let verdict = if left > 0 {
                left -= 1;
                Verdict::Accepted
            } else {
                Verdict::Rejected {
                    reason: "not counted in the pool's acknowledgement".into(),
                    stale: false,
                }
            };
            events.push(ClientEvent::Verdict { share, verdict });
        }
        events
    }

    fn on_error(&mut self, sequence: u32, code: &[u8]) -> Vec<ClientEvent> {
        let Some(at) = self.in_flight.iter().position(|(s, _)| *s == sequence) else {
            return vec![ClientEvent::Notice(format!(
                "the pool rejected share {sequence}, which is not waiting for a verdict: {}",
                text(code)
            ))];
        };
        let (_, share) = self.in_flight.remove(at).expect("position is in range");
        let reason = text(code);
        let stale = matches!(
            reason.as_str(),
            mining_sv2::ERROR_CODE_SUBMIT_SHARES_STALE_SHARE
                | mining_sv2::ERROR_CODE_SUBMIT_SHARES_INVALID_JOB_ID
        );
        vec![ClientEvent::Verdict {
            share,
            verdict: Verdict::Rejected { reason, stale },
        }]
    }
}

#[cfg(test)]
mod tests;
