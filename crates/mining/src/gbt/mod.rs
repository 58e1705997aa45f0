//! Solo mining with `getblocktemplate` (BIP22/BIP23): a template from the node becomes a
//! [`Job`] (our own coinbase split around an extranonce, the template's transactions folded
//! into a merkle branch), and a share that meets the block target becomes a block for
//! `submitblock`.
//!
//! The protocol is pure and lives beside this file: [`Template`] reads and checks a template
//! (`template.rs`), turns it into a job and a found share into a block (`block.rs`); `watch.rs`
//! decides when to ask the node for work and `submit.rs` how to get a block to it. This file is
//! the thin I/O around them: [`SoloSource`] and its two threads, one watching for templates and
//! one submitting blocks, so that neither a longpoll nor a node that never answers
//! `submitblock` holds up the other, or the pipeline.
//!
//! Every call to the node has an overall deadline (see [`SoloOptions`]). The source stops
//! within a fraction of a second when [`SoloOptions::stop`] is set or when it is dropped: calls
//! in progress end (see [`crate::rpc::STOP_CHECK`]), blocks still waiting for the node are
//! reported as not submitted, and their files stay for submitting by hand.

mod block;
#[cfg(test)]
pub(crate) mod fixtures;
mod submit;
mod template;
pub(crate) mod watch;

// For the Template Provider, which builds blocks from the same templates.
#[cfg(feature = "sv2")]
pub(crate) use block::height_push;
pub use block::{push_varint, CoinbaseOptions};
#[cfg(feature = "sv2")]
pub(crate) use template::{txid_of, without_witness};
pub use template::{Template, TemplateTx, MAX_TRANSACTIONS};

use crate::rpc::{is_not_ready, Auth, CallError, RpcClient, STOP_CHECK};
use crate::sanitize::for_terminal;
use crate::{Event, Job, Share, Source, Verdict};
use block::extranonce1;
use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d::{Error, ErrorKind, Hash};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};
use submit::{Answer, Blocks, Outcome};
use watch::{Call, Failure, Report, Watch};

/// The default deadline of a `getblocktemplate` or `getbestblockhash` call, all of it:
/// connecting, sending and the whole reply.
pub const RPC_DEADLINE: Duration = Duration::from_secs(30);

/// The default deadline of a longpoll. The node holds the reply until the work changes, so
/// running into it only means nothing did; the longpoll is sent again.
pub const LONGPOLL_DEADLINE: Duration = Duration::from_secs(120);

/// The default deadline of one `submitblock` try; the block is sent again after it.
pub const SUBMIT_DEADLINE: Duration = Duration::from_secs(10);

/// How many emitted jobs (and their templates) are kept to build blocks from: shares of
/// older jobs are rejected as stale without being submitted.
const KEPT_JOBS: usize = 16;

/// What a [`SoloSource`] needs to know.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SoloOptions {
    /// The node's RPC URL, e.g. `http://127.0.0.1:18443`.
    pub url: String,
    /// The RPC credentials.
    pub auth: Auth,
    /// The output script the coinbase pays (see [`crate::address::script_for_address`]).
    pub payout_script: Vec<u8>,
    /// Without longpoll, how often to ask the node for its best block; with it, the least time
    /// between two longpolls, so that a node that answers them at once is not asked in a loop
    /// (default 1 s).
    pub poll_interval: Duration,
    /// Whether to longpoll when the node offers it (default true).
    pub longpoll: bool,
    /// Whether jobs may roll BIP320's version bits (default true).
    pub version_rolling: bool,
    /// Bytes in the coinbase scriptSig after the extranonce (default `/sha256d/`).
    pub coinbase_tag: Vec<u8>,
    /// The deadline of each `getblocktemplate` and `getbestblockhash` (default
    /// [`RPC_DEADLINE`]). The first template is fetched in the background, so mining's own
    /// time limit and stop flag apply to it too.
    pub rpc_deadline: Duration,
    /// The deadline of each longpoll (default [`LONGPOLL_DEADLINE`]).
    pub longpoll_deadline: Duration,
    /// The deadline of each `submitblock` try (default [`SUBMIT_DEADLINE`]).
    pub submit_deadline: Duration,
    /// Where each found block is saved, as `sha256d-block-<hash>.hex` (the block as hex, the
    /// header its first 160 digits), before it is sent: a block the node never takes can be
    /// submitted by hand with `bitcoin-cli submitblock`. The file is removed once the node has
    /// the block. Default: the current directory.
    pub block_dir: PathBuf,
    /// Set from outside (a signal handler) to stop the source as [`crate::MineOptions::stop`]
    /// stops mining: calls in progress end within a second (see [`RpcClient::with_stop`])
    /// and blocks still waiting for the node come back as not submitted at once, so mining
    /// can wind up without waiting out a deadline. Pass the same flag to both.
    pub stop: Option<Arc<AtomicBool>>,
}

impl SoloOptions {
    /// Options with the defaults for everything but the node and the payout.
    pub fn new(url: impl Into<String>, auth: Auth, payout_script: Vec<u8>) -> Self {
        SoloOptions {
            url: url.into(),
            auth,
            payout_script,
            poll_interval: Duration::from_secs(1),
            longpoll: true,
            version_rolling: true,
            coinbase_tag: b"/sha256d/".to_vec(),
            rpc_deadline: RPC_DEADLINE,
            longpoll_deadline: LONGPOLL_DEADLINE,
            submit_deadline: SUBMIT_DEADLINE,
            block_dir: PathBuf::from("."),
            stop: None,
        }
    }
}

/// What the threads tell the source (and the Template Provider, which runs the watcher too).
pub(crate) enum Update {
    Template(Box<Template>),
    Notice(String),
    Verdict(Box<Share>, Verdict),
    /// Solo mining cannot start (the first template could not be had).
    Fatal(Error),
}

/// What the submitter thread is told.
pub(crate) enum ToSubmitter {
    Block {
        share: Box<Share>,
        hex: String,
        file: Option<PathBuf>,
    },
    /// The node's tip, as the watcher saw it.
    Tip([u8; 32]),
}

fn gbt_params(longpoll_id: Option<&str>) -> Value {
    match longpoll_id {
        Some(id) => json!([{"rules": ["segwit"], "longpollid": id}]),
        None => json!([{"rules": ["segwit"]}]),
    }
}

pub(crate) fn fetch_template(
    client: &RpcClient,
    longpoll_id: Option<&str>,
    deadline: Duration,
) -> Result<Template, CallError> {
    let value = client.call_detailed("getblocktemplate", gbt_params(longpoll_id), deadline)?;
    Template::from_json(&value).map_err(|e| {
        CallError::Transport(Error::new(
            e.kind(),
            format!(
                "{} sent a bad block template: {}",
                client.url(),
                e.message()
            ),
        ))
    })
}

pub(crate) fn best_block(client: &RpcClient, deadline: Duration) -> Result<[u8; 32], CallError> {
    let best = client.call_detailed("getbestblockhash", json!([]), deadline)?;
    best.as_str()
        .and_then(|t| Hash::from_display_hex(t).ok())
        .map(Hash::to_byte_array)
        .ok_or_else(|| {
            CallError::Transport(Error::parse(format!(
                "{} answered getbestblockhash with {}",
                client.url(),
                for_terminal(&best.to_string())
            )))
        })
}

/// The watcher thread: [`Watch`] decides, this makes the calls.
pub(crate) struct Watcher {
    pub(crate) client: RpcClient,
    pub(crate) watch: Watch,
    pub(crate) rpc_deadline: Duration,
    pub(crate) longpoll_deadline: Duration,
    pub(crate) updates: Sender<Update>,
    pub(crate) submitter: Sender<ToSubmitter>,
    /// Set when the tip moves, to end a `submitblock` try that the new tip has decided.
    pub(crate) tip_moved: Arc<AtomicBool>,
    pub(crate) last_tip: Option<[u8; 32]>,
    pub(crate) kicks: Receiver<()>,
}

impl Watcher {
    pub(crate) fn run(mut self) {
        while !self.client.is_stopped() {
            while self.kicks.try_recv().is_ok() {
                self.watch.kick();
            }
            let going = match self.watch.next(Instant::now()) {
                watch::Action::Wait(at) => {
                    let left = at.saturating_duration_since(Instant::now()).min(STOP_CHECK);
                    match self.kicks.recv_timeout(left) {
                        Ok(()) => self.watch.kick(),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    true
                }
                watch::Action::Call(Call::Template { longpoll_id }) => {
                    let deadline = match longpoll_id {
                        Some(_) => self.longpoll_deadline,
                        None => self.rpc_deadline,
                    };
                    match fetch_template(&self.client, longpoll_id.as_deref(), deadline) {
                        Ok(template) => {
                            let notice = self.watch.on_template(&template, Instant::now());
                            let notice = self.naming_the_node(notice);
                            self.tip(template.prev_hash);
                            self.notice(notice);
                            self.send(Update::Template(Box::new(template)))
                        }
                        Err(e) => self.failed(e),
                    }
                }
                watch::Action::Call(Call::BestBlock) => {
                    match best_block(&self.client, self.rpc_deadline) {
                        Ok(best) => {
                            let notice = self.watch.on_best(best);
                            let notice = self.naming_the_node(notice);
                            self.tip(best);
                            self.notice(notice);
                            true
                        }
                        Err(e) => self.failed(e),
                    }
                }
            };
            if !going {
                return;
            }
        }
    }

    /// Reports a failed call; false when the watcher should end.
    fn failed(&mut self, e: CallError) -> bool {
        let failure = match &e {
            CallError::Interrupted(_) => return false,
            CallError::Timeout(_) => Failure::Timeout,
            CallError::Rpc { code, .. } if is_not_ready(*code) => Failure::NotReady,
            _ => Failure::Other,
        };
        let error = Error::from(e);
        match self
            .watch
            .on_failure(failure, error.message().to_owned(), Instant::now())
        {
            Report::Fatal => {
                self.send(Update::Fatal(error));
                false
            }
            Report::Notice(text) => self.send(Update::Notice(text)),
            Report::Quiet => true,
        }
    }

    fn naming_the_node(&self, notice: Option<String>) -> Option<String> {
        notice.map(|text| format!("{}: {text}", self.client.url()))
    }

    fn tip(&mut self, tip: [u8; 32]) {
        if self.last_tip == Some(tip) {
            return;
        }
        self.last_tip = Some(tip);
        // The submitter ends only when the source stops, as this thread then does.
        let _ = self.submitter.send(ToSubmitter::Tip(tip));
        // After the message, so the submitter finds it when its try ends.
        self.tip_moved.store(true, Ordering::Relaxed);
    }

    fn notice(&self, notice: Option<String>) {
        if let Some(text) = notice {
            self.send(Update::Notice(text));
        }
    }

    /// False once the source is gone.
    fn send(&self, update: Update) -> bool {
        self.updates.send(update).is_ok()
    }
}

/// The submitter thread: [`Blocks`] decides, this sends.
struct Submitter {
    /// Stopped only with the source.
    client: RpcClient,
    /// The same, also stopped by `tip_moved`: a try that the new tip has decided (the block
    /// is now the tip, or stale) ends at once instead of at its deadline.
    try_client: RpcClient,
    tip_moved: Arc<AtomicBool>,
    blocks: Blocks,
    deadline: Duration,
    inbox: Receiver<ToSubmitter>,
    updates: Sender<Update>,
    kick: Sender<()>,
}

impl Submitter {
    fn run(mut self) {
        loop {
            if self.client.is_stopped() {
                let out = self.blocks.abandon();
                self.report(out);
                return;
            }
            // What is waiting first: a new tip may decide a block before it is sent again.
            loop {
                match self.inbox.try_recv() {
                    Ok(message) => self.take(message),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            let wait = match self.blocks.next(Instant::now()) {
                submit::Action::Submit { hash, hex } => {
                    self.tip_moved.store(false, Ordering::Relaxed);
                    self.submit(hash, &hex);
                    continue;
                }
                submit::Action::Wait(at) => {
                    at.saturating_duration_since(Instant::now()).min(STOP_CHECK)
                }
                submit::Action::Idle => STOP_CHECK,
            };
            match self.inbox.recv_timeout(wait) {
                Ok(message) => self.take(message),
                Err(RecvTimeoutError::Timeout) => {}
                // The source is gone, and with it anyone to tell.
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    fn take(&mut self, message: ToSubmitter) {
        let out = match message {
            ToSubmitter::Block { share, hex, file } => {
                self.blocks.add(*share, hex, file, Instant::now())
            }
            ToSubmitter::Tip(tip) => self.blocks.on_tip(tip),
        };
        self.report(out);
    }

    fn submit(&mut self, hash: Hash, hex: &str) {
        let answer = match self
            .try_client
            .call_detailed("submitblock", json!([hex]), self.deadline)
        {
            Ok(result) => Answer::Result(result),
            // Stopping (the loop gives every block up next) or a new tip (the loop reads it
            // next); either way this try does not count.
            Err(CallError::Interrupted(_)) => return,
            Err(CallError::Rpc { code, error }) if !is_not_ready(code) => {
                Answer::Refused(error.message().to_owned())
            }
            Err(e) => Answer::Retry(Error::from(e).message().to_owned()),
        };
        let out = self.blocks.on_answer(hash, answer, Instant::now());
        self.report(out);
    }

    fn report(&self, outcomes: Vec<Outcome>) {
        for outcome in outcomes {
            let update = match outcome {
                Outcome::Verdict {
                    share,
                    verdict,
                    file,
                } => {
                    if verdict == Verdict::Accepted {
                        if let Some(path) = file {
                            // A file left behind costs only disk space; the block is safe.
                            let _ = std::fs::remove_file(path);
                        }
                        // The tip moved: the next template now, not at the next poll.
                        let _ = self.kick.send(());
                    }
                    Update::Verdict(Box::new(share), verdict)
                }
                Outcome::Notice(text) => Update::Notice(text),
            };
            // The source is gone: nobody is left to tell.
            let _ = self.updates.send(update);
        }
    }
}

/// Writes `hex` to `dir/sha256d-block-<hash>.hex`.
fn save_block(dir: &Path, hash: &Hash, hex: &str) -> Result<PathBuf, String> {
    let path = dir.join(format!("sha256d-block-{hash}.hex"));
    std::fs::write(&path, format!("{hex}\n"))
        .map(|()| path.clone())
        .map_err(|e| format!("cannot save block {hash} to {}: {e}", path.display()))
}

/// Solo mining against a node's `getblocktemplate`: a [`Source`] whose jobs are templates
/// and whose shares are blocks.
///
/// [`SoloSource::new`] only checks the options and starts two threads: one watches the node
/// (longpoll where the template offers it, polling `getbestblockhash` otherwise) and hands
/// over each template that changes the work, the other submits blocks. So the first template
/// arrives through [`Source::poll`] like every other, and a failure to get it (unreachable,
/// refused credentials, a bad template) comes back from `poll` as an error; a node that is
/// not ready yet is reported and waited for.
///
/// [`Source::submit`] returns at once: the block is saved to a file, handed to the submitter
/// thread, and its verdict comes later from `poll`. Mining goes on meanwhile on a fresh job of
/// the current template, so a node that never answers cannot stall it.
pub struct SoloSource {
    client: RpcClient,
    coinbase: CoinbaseOptions,
    block_dir: PathBuf,
    updates: Receiver<Update>,
    submitter: Sender<ToSubmitter>,
    kick: Sender<()>,
    /// Set on drop, to end both threads.
    stop: Arc<AtomicBool>,
    current: Option<Arc<Template>>,
    jobs: VecDeque<(Arc<Job>, Arc<Template>)>,
    next_job: u64,
}

impl SoloSource {
    /// Checks the options and starts watching the node; nothing waits for the node here.
    ///
    /// Fails when the URL, payout script, tag, a deadline or the block directory is bad.
    pub fn new(opts: SoloOptions) -> Result<Self, Error> {
        for (name, value) in [
            ("poll interval", opts.poll_interval),
            ("RPC deadline", opts.rpc_deadline),
            ("longpoll deadline", opts.longpoll_deadline),
            ("submitblock deadline", opts.submit_deadline),
        ] {
            if value.is_zero() {
                return Err(Error::invalid(format!("the {name} must be above zero")));
            }
        }
        if !opts.block_dir.is_dir() {
            return Err(Error::invalid(format!(
                "{} is not a directory to save found blocks in",
                opts.block_dir.display()
            )));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let mut client = RpcClient::new(&opts.url, opts.auth.clone())?.with_stop(Arc::clone(&stop));
        if let Some(outside) = &opts.stop {
            client = client.with_stop(Arc::clone(outside));
        }
        let coinbase = CoinbaseOptions {
            payout_script: opts.payout_script.clone(),
            extranonce1: Vec::new(),
            extranonce2_size: 8,
            tag: opts.coinbase_tag.clone(),
            version_rolling: opts.version_rolling,
        };
        // The largest height and extranonce a job may have, so that a bad payout script or
        // tag fails here, at start, not at the first template.
        CoinbaseOptions {
            extranonce1: extranonce1(0),
            ..coinbase.clone()
        }
        .script_sig_len(i32::MAX as u64)?;
        let (updates_tx, updates) = mpsc::channel();
        let (submitter_tx, submitter_rx) = mpsc::channel();
        let (kick, kicks) = mpsc::channel();
        let tip_moved = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            client: client.clone(),
            watch: Watch::new(opts.longpoll, opts.poll_interval),
            rpc_deadline: opts.rpc_deadline,
            longpoll_deadline: opts.longpoll_deadline,
            updates: updates_tx.clone(),
            submitter: submitter_tx.clone(),
            tip_moved: Arc::clone(&tip_moved),
            last_tip: None,
            kicks,
        };
        let submitter = Submitter {
            client: client.clone(),
            try_client: client.clone().with_stop(Arc::clone(&tip_moved)),
            tip_moved,
            blocks: Blocks::default(),
            deadline: opts.submit_deadline,
            inbox: submitter_rx,
            updates: updates_tx,
            kick: kick.clone(),
        };
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.into())
                .spawn(f)
                .map(drop)
                .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start a thread: {e}")))
        };
        spawn("gbt-watch", Box::new(move || watcher.run()))?;
        if let Err(e) = spawn("gbt-submit", Box::new(move || submitter.run())) {
            stop.store(true, Ordering::Relaxed);
            return Err(e);
        }
        Ok(SoloSource {
            client,
            coinbase,
            block_dir: opts.block_dir,
            updates,
            submitter: submitter_tx,
            kick,
            stop,
            current: None,
            jobs: VecDeque::new(),
            next_job: 0,
        })
    }

    /// Takes a template as the current work unless it asks for the same block (or `again`,
    /// for a fresh job on the same work).
    fn offer(&mut self, template: Arc<Template>, again: bool, events: &mut Vec<Event>) {
        if let Some(current) = &self.current {
            if !again && current.same_work(&template) {
                return;
            }
        }
        if self.current.is_none() {
            events.push(Event::Notice(format!(
                "solo mining at {}: height {}, {} transactions, {} sat",
                self.client.url(),
                template.height,
                template.transactions.len(),
                template.coinbase_value
            )));
        }
        let clean = self
            .current
            .as_ref()
            .is_none_or(|c| c.prev_hash != template.prev_hash);
        self.next_job += 1;
        let id = format!("{}.{}", template.height, self.next_job);
        // Each job its own extranonce: a fresh job of the same template is new work.
        let coinbase = CoinbaseOptions {
            extranonce1: extranonce1(self.next_job),
            ..self.coinbase.clone()
        };
        let mut job = match template.job(&id, &coinbase) {
            Ok(job) => job,
            Err(e) => {
                events.push(Event::Notice(format!(
                    "cannot mine the template at height {}: {}",
                    template.height,
                    e.message()
                )));
                return;
            }
        };
        // A refresh on the same parent adds transactions; blocks of older jobs stay valid.
        job.clean = clean;
        let job = Arc::new(job);
        if self.jobs.len() == KEPT_JOBS {
            self.jobs.pop_front();
        }
        self.jobs.push_back((job.clone(), template.clone()));
        self.current = Some(template);
        events.push(Event::Job(job));
    }

    fn apply(&mut self, update: Update, events: &mut Vec<Event>) -> Result<(), Error> {
        match update {
            Update::Template(template) => self.offer(Arc::new(*template), false, events),
            Update::Notice(text) => events.push(Event::Notice(text)),
            Update::Verdict(share, verdict) => events.push(Event::Verdict {
                share: *share,
                verdict,
            }),
            Update::Fatal(error) => return Err(error),
        }
        Ok(())
    }

    /// The block for `share` as hex, or why it is not sent.
    fn block_hex(&self, share: &Share) -> Result<String, Verdict> {
        let rejected = |reason: String, stale: bool| Verdict::Rejected { reason, stale };
        let Some(template) = self
            .jobs
            .iter()
            .find(|(job, _)| **job == *share.job)
            .map(|(_, t)| t.clone())
        else {
            return Err(rejected(
                format!("stale: job {} is no longer kept", share.job.id),
                true,
            ));
        };
        if !share.is_block {
            return Err(rejected(
                "the hash does not meet the block target".into(),
                false,
            ));
        }
        let tip = self.current.as_ref().map(|t| t.prev_hash);
        if share.stale && tip != Some(share.job.prev_hash) {
            return Err(rejected("stale: the chain tip moved".into(), true));
        }
        template
            .block(share)
            .map(|block| hex::encode(&block))
            .map_err(|e| rejected(e.message().to_owned(), false))
    }
}

impl Drop for SoloSource {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Source for SoloSource {
    fn poll(&mut self, timeout: Duration) -> Result<Vec<Event>, Error> {
        let mut events = Vec::new();
        let deadline = Instant::now() + timeout;
        loop {
            while let Ok(update) = self.updates.try_recv() {
                self.apply(update, &mut events)?;
            }
            if !events.is_empty() {
                return Ok(events);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.updates.recv_timeout(left) {
                Ok(update) => self.apply(update, &mut events)?,
                Err(RecvTimeoutError::Timeout) => return Ok(events),
                // Both threads end when stopped; what they said has been passed on.
                Err(RecvTimeoutError::Disconnected) if self.client.is_stopped() => {
                    return Ok(events)
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        format!("the watcher of the node at {} stopped", self.client.url()),
                    ))
                }
            }
        }
    }

    fn submit(&mut self, share: Share) -> Result<Vec<Event>, Error> {
        let hex = match self.block_hex(&share) {
            Ok(hex) => hex,
            Err(verdict) => return Ok(vec![Event::Verdict { share, verdict }]),
        };
        let mut events = Vec::new();
        let file = match save_block(&self.block_dir, &share.hash, &hex) {
            Ok(path) => {
                // Said now: if mining ends before the node answers, nothing is left to say it.
                events.push(Event::Notice(format!(
                    "block {} found; saved in {} until the node takes it",
                    share.hash,
                    path.display()
                )));
                Some(path)
            }
            Err(text) => {
                events.push(Event::Notice(text));
                None
            }
        };
        let parent = share.job.prev_hash;
        let block = ToSubmitter::Block {
            share: Box::new(share),
            hex,
            file,
        };
        if let Err(mpsc::SendError(ToSubmitter::Block { share, hex, file })) =
            self.submitter.send(block)
        {
            // Stopping: the block is given up the way the submitter gives them up.
            let mut blocks = Blocks::default();
            blocks.add(*share, hex, file, Instant::now());
            for outcome in blocks.abandon() {
                events.push(match outcome {
                    Outcome::Verdict { share, verdict, .. } => Event::Verdict { share, verdict },
                    Outcome::Notice(text) => Event::Notice(text),
                });
            }
            return Ok(events);
        }
        // Mining goes on at once, on the same parent, until the node's answer or a new tip.
        if let Some(current) = self.current.clone().filter(|t| t.prev_hash == parent) {
            self.offer(current, true, &mut events);
        }
        // The watcher ends only when the source stops.
        let _ = self.kick.send(());
        Ok(events)
    }

    fn pause_after_block(&self) -> bool {
        true
    }

    fn block_verdicts_are_final(&self) -> bool {
        true
    }

    fn describe(&self) -> String {
        format!("solo at {}", self.client.url())
    }
}
