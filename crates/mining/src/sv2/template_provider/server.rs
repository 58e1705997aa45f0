//! The Template Provider's I/O around [`Session`]: a listener whose connections are Noise
//! responders holding the authority keypair, the node watched for templates by the solo
//! miner's own watcher (longpoll where offered), and each solution sent with `submitblock`
//! by a thread of its own, the node's answer logged.
//!
//! Threads: one accepts, one watches the node, one hands each template to every connection,
//! one submits blocks (one at a time, at most [`QUEUED_BLOCKS`] waiting), and each connection
//! has one that runs its session and one that reads its frames (a blocking read cannot also
//! wait for templates). All end within [`STOP_CHECK`] of [`Server`] being dropped or the stop
//! flag being set.

use super::{Output, Session, SolvedBlock};
use crate::gbt::watch::Watch;
use crate::gbt::{
    fetch_template, Template, Update, Watcher, LONGPOLL_DEADLINE, RPC_DEADLINE, SUBMIT_DEADLINE,
};
use crate::rpc::{Auth, RpcClient, STOP_CHECK};
use crate::sanitize::for_terminal;
use crate::sv2::transport::{self, Frame};
use crate::sv2::{AuthorityKeypair, AuthorityPublicKey};
use parsers_sv2::{AnyMessageOwned, IsSv2Message};
use serde_json::{json, Value};
use sha256d::hazmat::hex;
use sha256d::{Error, ErrorKind};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The port SV2 Template Providers listen on by convention (Core's `-sv2port`).
pub const DEFAULT_PORT: u16 = 8442;

/// How long each connection's certificate is valid: the pool checks it once, at the
/// handshake.
pub const CERT_VALIDITY: Duration = Duration::from_secs(3600);

/// The most pool connections served at once: a pool needs one, and each costs two threads,
/// so anyone who can reach the port should not be able to open thousands.
pub const MAX_CONNECTIONS: usize = 16;

/// Where operator lines go (the CLI prints them; tests collect them).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// What a [`Server`] needs to know.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The node's RPC URL, e.g. `http://127.0.0.1:18443`.
    pub url: String,
    /// The RPC credentials.
    pub auth: Auth,
    /// Where to listen (default `127.0.0.1:8442`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The authority keypair the pool pins the public half of.
    pub keypair: AuthorityKeypair,
    /// As [`crate::gbt::SoloOptions::poll_interval`] (default 1 s).
    pub poll_interval: Duration,
    /// Whether to longpoll when the node offers it (default true).
    pub longpoll: bool,
    /// The deadline of each `getblocktemplate` and `getbestblockhash`.
    pub rpc_deadline: Duration,
    /// The deadline of each longpoll.
    pub longpoll_deadline: Duration,
    /// The deadline of each `submitblock`.
    pub submit_deadline: Duration,
    /// Set from outside (a signal handler) to stop the server.
    pub stop: Option<Arc<AtomicBool>>,
}

impl ServerOptions {
    /// Options with the defaults for everything but the node and the keypair.
    pub fn new(url: impl Into<String>, auth: Auth, keypair: AuthorityKeypair) -> Self {
        ServerOptions {
            url: url.into(),
            auth,
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            keypair,
            poll_interval: Duration::from_secs(1),
            longpoll: true,
            rpc_deadline: RPC_DEADLINE,
            longpoll_deadline: LONGPOLL_DEADLINE,
            submit_deadline: SUBMIT_DEADLINE,
            stop: None,
        }
    }
}

/// What a connection's session thread hears.
enum Input {
    Frame(Frame),
    Template(Arc<Template>),
    /// The reader ended, with why.
    Gone(String),
}

/// What the threads share.
struct Shared {
    latest: Mutex<Arc<Template>>,
    connections: Mutex<Vec<Sender<Input>>>,
    client: RpcClient,
    keypair: AuthorityKeypair,
    submit_deadline: Duration,
    /// Asks the watcher for a template now (a block was accepted: the tip moved).
    kick: Sender<()>,
    /// To the submitter thread; bounded, so a pool that floods solutions cannot queue more.
    blocks: SyncSender<SolvedBlock>,
    log: Log,
}

/// How many solved blocks may wait for `submitblock`.
const QUEUED_BLOCKS: usize = 16;

/// A running Template Provider. Dropping it stops every thread and waits for them.
pub struct Server {
    addr: SocketAddr,
    public: AuthorityPublicKey,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start a thread: {e}")))
}

impl Server {
    /// Fetches the first template (so that an unreachable node, refused credentials or a bad
    /// template fail here, for the operator to fix), binds the listener and starts serving.
    pub fn start(opts: ServerOptions, log: Log) -> Result<Server, Error> {
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
        let stop = Arc::new(AtomicBool::new(false));
        let mut client = RpcClient::new(&opts.url, opts.auth.clone())?.with_stop(Arc::clone(&stop));
        if let Some(outside) = &opts.stop {
            client = client.with_stop(Arc::clone(outside));
        }
        let first = fetch_template(&client, None, opts.rpc_deadline).map_err(Error::from)?;
        let listener = TcpListener::bind(opts.listen).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot listen on {}: {e}", opts.listen),
            )
        })?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Io, format!("the listener has no address: {e}")))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot poll the listener: {e}")))?;
        log(&format!(
            "template provider on {addr} for {}: height {}, {} transactions",
            client.url(),
            first.height,
            first.transactions.len()
        ));

        let (updates_tx, updates) = mpsc::channel();
        // The watcher tells a submitter of each new tip; this server has none (solutions are
        // sent as they come), so nobody listens there.
        let (submitter, _) = mpsc::channel();
        let (kick, kicks) = mpsc::channel();
        let (blocks, to_submit) = mpsc::sync_channel(QUEUED_BLOCKS);
        let mut watch = Watch::new(opts.longpoll, opts.poll_interval);
        watch.on_template(&first, Instant::now());
        let watcher = Watcher {
            client: client.clone(),
            watch,
            rpc_deadline: opts.rpc_deadline,
            longpoll_deadline: opts.longpoll_deadline,
            updates: updates_tx,
            submitter,
            tip_moved: Arc::new(AtomicBool::new(false)),
            last_tip: Some(first.prev_hash),
            kicks,
        };
        let shared = Arc::new(Shared {
            latest: Mutex::new(Arc::new(first)),
            connections: Mutex::new(Vec::new()),
            client,
            keypair: opts.keypair.clone(),
            submit_deadline: opts.submit_deadline,
            kick,
            blocks,
            log,
        });
        let mut server = Server {
            addr,
            public: opts.keypair.public(),
            stop: Arc::clone(&stop),
            threads: Vec::new(),
        };
        server
            .threads
            .push(spawn("tp-watch", move || watcher.run())?);
        let feed_shared = Arc::clone(&shared);
        server
            .threads
            .push(spawn("tp-feed", move || feed(updates, &feed_shared))?);
        let submit_shared = Arc::clone(&shared);
        let submit_stop = Arc::clone(&stop);
        server.threads.push(spawn("tp-submit", move || {
            submit_loop(to_submit, &submit_shared, &submit_stop)
        })?);
        let outside = opts.stop.clone();
        server.threads.push(spawn("tp-accept", move || {
            accept_loop(listener, &shared, &stop, outside.as_deref())
        })?);
        Ok(server)
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The authority public key the pool must be configured with.
    pub fn public_key(&self) -> AuthorityPublicKey {
        self.public
    }

    /// Runs until the stop flag in the options is set (or the server is dropped elsewhere).
    pub fn wait(mut self) {
        for t in self.threads.drain(..) {
            // A thread that panicked has nothing left to clean up.
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Only a panicking holder poisons these; the data (a list, the latest template) is whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Hands every template the watcher sends to every connection, and logs its notices.
fn feed(updates: Receiver<Update>, shared: &Shared) {
    // Ends when the watcher does (it holds the only sender).
    for update in updates {
        match update {
            Update::Template(template) => {
                let template = Arc::new(*template);
                *lock(&shared.latest) = Arc::clone(&template);
                lock(&shared.connections)
                    .retain(|c| c.send(Input::Template(Arc::clone(&template))).is_ok());
            }
            Update::Notice(text) => (shared.log)(&text),
            Update::Fatal(e) => (shared.log)(e.message()),
            // Only the solo miner's submitter sends verdicts.
            Update::Verdict(..) => {}
        }
    }
}

fn stopped(stop: &AtomicBool, outside: Option<&AtomicBool>) -> bool {
    stop.load(Ordering::Relaxed) || outside.is_some_and(|s| s.load(Ordering::Relaxed))
}

fn accept_loop(
    listener: TcpListener,
    shared: &Arc<Shared>,
    stop: &Arc<AtomicBool>,
    outside: Option<&AtomicBool>,
) {
    let mut connections: Vec<JoinHandle<()>> = Vec::new();
    while !stopped(stop, outside) {
        connections.retain(|c| !c.is_finished());
        match listener.accept() {
            Ok((stream, peer)) if connections.len() >= MAX_CONNECTIONS => {
                (shared.log)(&format!(
                    "{peer}: refused, already serving {MAX_CONNECTIONS} connections"
                ));
                drop(stream);
            }
            Ok((stream, peer)) => {
                let for_connection = Arc::clone(shared);
                let stop = Arc::clone(stop);
                match spawn("tp-connection", move || {
                    serve(stream, peer, &for_connection, &stop);
                }) {
                    Ok(t) => connections.push(t),
                    Err(e) => (shared.log)(&format!("{peer}: {}", e.message())),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => thread::sleep(STOP_CHECK),
            Err(e) => {
                (shared.log)(&format!("accepting a connection failed: {e}"));
                thread::sleep(STOP_CHECK);
            }
        }
    }
    // Connections watch only the server's own flag: make sure it is set.
    stop.store(true, Ordering::Relaxed);
    for c in connections {
        let _ = c.join();
    }
}

/// One pool connection: the handshake, then its session until either side ends it.
fn serve(stream: TcpStream, peer: SocketAddr, shared: &Arc<Shared>, stop: &AtomicBool) {
    let log = |text: &str| (shared.log)(&format!("{peer}: {text}"));
    // Accepted sockets may inherit the listener's non-blocking mode on some systems.
    if let Err(e) = stream.set_nonblocking(false) {
        return log(&format!("cannot use the connection: {e}"));
    }
    let (mut reader, mut writer) = match transport::accept(stream, &shared.keypair, CERT_VALIDITY) {
        Ok(halves) => halves,
        Err(e) => return log(&format!("handshake failed: {e}")),
    };
    log("connected (Noise handshake done)");
    let (tx, rx) = mpsc::channel();
    lock(&shared.connections).push(tx.clone());
    let reading = thread::Builder::new()
        .name("tp-read".into())
        .spawn(move || loop {
            match reader.read_frame() {
                Ok(frame) => {
                    if tx.send(Input::Frame(frame)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Input::Gone(e.to_string()));
                    return;
                }
            }
        });
    let reading = match reading {
        Ok(t) => t,
        Err(e) => return log(&format!("cannot start a thread: {e}")),
    };
    let mut session = Session::new();
    let latest = Arc::clone(&lock(&shared.latest));
    let mut outputs = session.on_template(latest);
    let why = loop {
        if let Some(why) = run_outputs(outputs, &mut writer, shared, &log) {
            break why;
        }
        if stop.load(Ordering::Relaxed) {
            break "the template provider is stopping".to_owned();
        }
        outputs = match rx.recv_timeout(STOP_CHECK) {
            Ok(Input::Frame(mut frame)) => {
                match session.on_frame(frame.extension_type, frame.msg_type, &mut frame.payload) {
                    Ok(out) => out,
                    Err(e) => break e.message().to_owned(),
                }
            }
            Ok(Input::Template(template)) => session.on_template(template),
            Ok(Input::Gone(why)) => break why,
            Err(RecvTimeoutError::Timeout) => Vec::new(),
            Err(RecvTimeoutError::Disconnected) => break "the reader ended".to_owned(),
        };
    };
    log(&format!("closed: {why}"));
    // Ends the reader's blocking read.
    let _ = writer.get_ref().shutdown(Shutdown::Both);
    let _ = reading.join();
}

/// Carries out a session's outputs; `Some(why)` when the connection should end.
fn run_outputs(
    outputs: Vec<Output>,
    writer: &mut transport::FrameWriter<TcpStream>,
    shared: &Arc<Shared>,
    log: &dyn Fn(&str),
) -> Option<String> {
    for output in outputs {
        match output {
            Output::Send(message) => {
                if let Err(e) = writer.write_frame(&frame(message)) {
                    return Some(e.to_string());
                }
            }
            Output::Submit(block) => {
                log(&format!(
                    "solution on template {}: block {} at height {}, submitting",
                    block.template_id, block.hash, block.height
                ));
                let hash = block.hash;
                if shared.blocks.try_send(block).is_err() {
                    log(&format!(
                        "block {hash} dropped: {QUEUED_BLOCKS} blocks already wait for the node"
                    ));
                }
            }
            Output::Log(text) => log(&text),
            Output::Close => return Some("the pool's setup was refused".to_owned()),
        }
    }
    None
}

/// The frame that carries `message`.
pub fn frame(message: AnyMessageOwned) -> Frame {
    Frame {
        extension_type: 0,
        channel_msg: message.channel_bit(),
        msg_type: message.message_type(),
        payload: binary_sv2::to_bytes(message).expect("the buffer is sized by get_size"),
    }
}

/// The submitter thread: one `submitblock` at a time, until the server stops.
fn submit_loop(blocks: Receiver<SolvedBlock>, shared: &Shared, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match blocks.recv_timeout(STOP_CHECK) {
            Ok(block) => submit(shared, &block),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn submit(shared: &Shared, block: &SolvedBlock) {
    let answer = shared.client.call_within(
        "submitblock",
        json!([hex::encode(&block.data)]),
        shared.submit_deadline,
    );
    let text = match answer {
        Ok(Value::Null) => {
            // The tip moved: the next template now, not at the next poll.
            let _ = shared.kick.send(());
            format!(
                "block {} at height {} accepted by the node",
                block.hash, block.height
            )
        }
        Ok(Value::String(reason)) => format!(
            "block {} refused by the node: {}",
            block.hash,
            for_terminal(&reason)
        ),
        Ok(other) => format!(
            "block {}: the node answered submitblock with {}",
            block.hash,
            for_terminal(&other.to_string())
        ),
        Err(e) => format!("block {}: submitblock failed: {}", block.hash, e.message()),
    };
    (shared.log)(&text);
}
