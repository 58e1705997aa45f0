//! The encrypted SV2 connection: a Noise NX handshake over a blocking stream, in either role,
//! then frames read and written through the session ciphers.
//!
//! The initiator (a miner, a pool talking to its Template Provider) pins the responder's
//! *authority key*: the responder proves it holds a static key that the authority signed for a
//! time window, so a man in the middle cannot finish the handshake, and an expired certificate
//! is refused. The responder (a pool, a Template Provider) holds the authority keypair and
//! issues that certificate for each connection.
//!
//! Frames are bounded: the declared payload length is checked against a cap before any of the
//! payload is read, so a hostile peer cannot make the reader allocate more than the cap. A
//! failed MAC ends the session; nothing after it can be trusted. After any error the reader
//! and writer must be dropped with the connection: a read cut short leaves the stream out of
//! step with the cipher.

use key_utils::{Secp256k1PublicKey, Secp256k1SecretKey};
use noise_sv2::{
    Initiator, NoiseDecryptor, NoiseEncryptor, NoiseEngine, Responder, AEAD_MAC_LEN,
    ELLSWIFT_ENCODING_SIZE, INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE,
};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest frame payload a reader accepts unless told otherwise. The largest mining message
/// (NewExtendedMiningJob: two 64 KiB coinbase halves and 255 merkle hashes) needs ~140 KB, so
/// 1 MiB leaves room while keeping a hostile peer's cost small.
pub const DEFAULT_MAX_FRAME_PAYLOAD: usize = 1 << 20;

/// The most a frame header can declare: its length field has 24 bits.
pub const MAX_FRAME_PAYLOAD_ON_WIRE: usize = (1 << 24) - 1;

/// How long a handshake may wait for the peer when the stream has no read timeout of its own.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Clock drift allowed on each side of a certificate's validity window, as `noise_sv2` applies.
const CERTIFICATE_LEEWAY_SECS: u32 = 10;

const HEADER_LEN: usize = 6;
const ENCRYPTED_HEADER_LEN: usize = HEADER_LEN + AEAD_MAC_LEN;
/// Each encrypted payload chunk is at most this long on the wire, MAC included.
const CHUNK_LEN: usize = 65535;
const PLAINTEXT_CHUNK_LEN: usize = CHUNK_LEN - AEAD_MAC_LEN;
const CHANNEL_MSG_BIT: u16 = 0x8000;

/// A pool's (or Template Provider's) authority public key: the x-only secp256k1 key that signs
/// the certificate in the handshake. Text form: base58-check with a 2-byte version prefix, as
/// the SV2 spec and SRI's configs write it (`9auqWEzQDVyd2oe1JVGFLMLHZtCo2FFqZwtKA5gd9xbuEu7PH72`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AuthorityPublicKey([u8; 32]);

impl AuthorityPublicKey {
    /// The key of 32 x-only bytes, if they are a point on the curve.
    pub fn from_bytes(bytes: [u8; 32]) -> Option<AuthorityPublicKey> {
        secp256k1::XOnlyPublicKey::from_slice(&bytes)
            .ok()
            .map(|_| AuthorityPublicKey(bytes))
    }

    /// The 32-byte x-only key.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }
}

impl FromStr for AuthorityPublicKey {
    type Err = sha256d::Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse::<Secp256k1PublicKey>()
            .map(|key| AuthorityPublicKey(key.into_bytes()))
            .map_err(|e| {
                sha256d::Error::parse(format!(
                    "authority public key {:?}: not a base58-check SV2 key ({e})",
                    crate::sanitize::for_terminal(text)
                ))
            })
    }
}

impl fmt::Display for AuthorityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = secp256k1::XOnlyPublicKey::from_slice(&self.0)
            .expect("every AuthorityPublicKey was a valid x-only key when built");
        fmt::Display::fmt(&Secp256k1PublicKey(key), f)
    }
}

impl fmt::Debug for AuthorityPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthorityPublicKey({self})")
    }
}

/// The authority keypair a responder signs its certificates with. The secret never appears in
/// `Debug` output.
#[derive(Clone)]
pub struct AuthorityKeypair {
    public: AuthorityPublicKey,
    secret: [u8; 32],
}

impl AuthorityKeypair {
    /// A fresh random keypair.
    pub fn generate() -> AuthorityKeypair {
        let secret = secp256k1::SecretKey::new(&mut secp256k1::rand::thread_rng());
        Self::from_secret(Secp256k1SecretKey(secret))
    }

    /// The keypair of a base58-check secret key, as SRI's configs and `key-utils` write it.
    pub fn from_secret_base58(text: &str) -> Result<AuthorityKeypair, sha256d::Error> {
        text.trim()
            .parse::<Secp256k1SecretKey>()
            .map(Self::from_secret)
            // The text is a secret: the message must not quote it.
            .map_err(|_| sha256d::Error::parse("authority secret key: not a base58-check key"))
    }

    fn from_secret(secret: Secp256k1SecretKey) -> AuthorityKeypair {
        AuthorityKeypair {
            public: AuthorityPublicKey(Secp256k1PublicKey::from(secret).into_bytes()),
            secret: secret.into_bytes(),
        }
    }

    /// The public half, for the initiators to pin.
    pub fn public(&self) -> AuthorityPublicKey {
        self.public
    }

    /// The secret in base58-check, for writing into a peer's configuration file (a pool's
    /// `authority_secret_key`). Never log it.
    pub fn secret_base58(&self) -> String {
        let secret = secp256k1::SecretKey::from_slice(&self.secret)
            .expect("every AuthorityKeypair was built from a valid secret key");
        Secp256k1SecretKey(secret).to_string()
    }
}

impl fmt::Debug for AuthorityKeypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthorityKeypair")
            .field("public", &self.public)
            .field("secret", &"<hidden>")
            .finish()
    }
}

/// How an initiator authenticates the responder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerAuth {
    /// The responder's certificate must be signed by this authority key and valid now.
    Pinned(AuthorityPublicKey),
    /// No check at all: the session is encrypted, but anyone on the path can impersonate the
    /// responder and read or rewrite every message. Only for a pool on a trusted LAN that
    /// publishes no authority key.
    InsecureNoAuthorityCheck,
}

/// Why a handshake or a frame failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The socket failed (`during` says at which step).
    Io {
        /// The step: "handshake", "reading a frame", "writing a frame".
        during: &'static str,
        /// The I/O error's kind.
        kind: io::ErrorKind,
        /// Its message.
        message: String,
    },
    /// The peer closed the connection between frames.
    Closed,
    /// The responder's certificate is not signed by the pinned authority key: someone else
    /// answered, perhaps a man in the middle.
    WrongAuthority,
    /// The certificate's validity window ended before now.
    CertificateExpired {
        /// Its last valid second (Unix time).
        not_valid_after: u32,
        /// This machine's clock (Unix time).
        now: u32,
    },
    /// The certificate's validity window starts after now.
    CertificateNotYetValid {
        /// Its first valid second (Unix time).
        valid_from: u32,
        /// This machine's clock (Unix time).
        now: u32,
    },
    /// Any other handshake failure (a malformed or tampered handshake message, an unsupported
    /// certificate version).
    Handshake(String),
    /// A frame declared a payload longer than the reader's cap (or than the wire allows, when
    /// writing); nothing of it was read.
    FrameTooLarge {
        /// The declared length.
        length: usize,
        /// The cap.
        max: usize,
    },
    /// A frame failed authentication: it was altered on the way or the stream lost step.
    BadMac,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Io {
                during, message, ..
            } => write!(f, "SV2 connection failed while {during}: {message}"),
            TransportError::Closed => f.write_str("the SV2 peer closed the connection"),
            TransportError::WrongAuthority => f.write_str(
                "the SV2 peer's certificate is not signed by the expected authority key: \
                 refusing it (a different server, or someone in the middle)",
            ),
            TransportError::CertificateExpired {
                not_valid_after,
                now,
            } => write!(
                f,
                "the SV2 peer's certificate expired at {not_valid_after} (Unix time); \
                 this machine's clock says {now}"
            ),
            TransportError::CertificateNotYetValid { valid_from, now } => write!(
                f,
                "the SV2 peer's certificate is valid only from {valid_from} (Unix time); \
                 this machine's clock says {now}"
            ),
            TransportError::Handshake(why) => write!(f, "SV2 handshake failed: {why}"),
            TransportError::FrameTooLarge { length, max } => write!(
                f,
                "SV2 frame of {length} bytes is over the {max}-byte limit; dropping the connection"
            ),
            TransportError::BadMac => f.write_str(
                "SV2 frame failed authentication (bad MAC): altered in transit; \
                 dropping the connection",
            ),
        }
    }
}

impl std::error::Error for TransportError {}

impl From<TransportError> for sha256d::Error {
    fn from(e: TransportError) -> Self {
        let kind = match e {
            TransportError::Io { .. } | TransportError::Closed => sha256d::ErrorKind::Io,
            _ => sha256d::ErrorKind::InvalidInput,
        };
        sha256d::Error::new(kind, e.to_string())
    }
}

fn io_error(during: &'static str) -> impl Fn(io::Error) -> TransportError {
    move |e| TransportError::Io {
        during,
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// One SV2 frame, decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The extension the message belongs to (0 for the core protocols), without the
    /// channel-message bit.
    pub extension_type: u16,
    /// Whether the message is for one channel (its payload then starts with the channel id).
    pub channel_msg: bool,
    /// The message type.
    pub msg_type: u8,
    /// The serialized message.
    pub payload: Vec<u8>,
}

/// Connects as the initiator over `stream`: the handshake, with the responder checked as `auth`
/// says, then the two halves of the session. Both halves own clones of the stream.
pub fn connect(
    mut stream: TcpStream,
    auth: ServerAuth,
) -> Result<(FrameReader<TcpStream>, FrameWriter<TcpStream>), TransportError> {
    let engine = with_handshake_timeout(&mut stream, |s| initiate(s, auth, unix_now()))?;
    split(stream, engine)
}

/// Accepts `stream` as the responder: the handshake with a certificate for `keypair` valid for
/// `cert_validity` from now, then the two halves of the session.
pub fn accept(
    mut stream: TcpStream,
    keypair: &AuthorityKeypair,
    cert_validity: Duration,
) -> Result<(FrameReader<TcpStream>, FrameWriter<TcpStream>), TransportError> {
    let engine = with_handshake_timeout(&mut stream, |s| {
        respond(s, keypair, cert_validity, unix_now())
    })?;
    split(stream, engine)
}

fn split(
    stream: TcpStream,
    engine: NoiseEngine,
) -> Result<(FrameReader<TcpStream>, FrameWriter<TcpStream>), TransportError> {
    let (encryptor, decryptor) = engine.into_split();
    let writer_stream = stream.try_clone().map_err(io_error("handshake"))?;
    Ok((
        FrameReader::new(stream, decryptor),
        FrameWriter::new(writer_stream, encryptor),
    ))
}

/// Runs the handshake with [`HANDSHAKE_TIMEOUT`] on reads unless the caller set a timeout, so a
/// silent peer cannot hold the connection open forever.
fn with_handshake_timeout<T>(
    stream: &mut TcpStream,
    run: impl FnOnce(&mut TcpStream) -> Result<T, TransportError>,
) -> Result<T, TransportError> {
    let during = io_error("handshake");
    let previous = stream.read_timeout().map_err(&during)?;
    if previous.is_none() {
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(&during)?;
    }
    let result = run(stream);
    if previous.is_none() {
        stream.set_read_timeout(None).map_err(&during)?;
    }
    result
}

fn unix_now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn initiate<S: Read + Write>(
    stream: &mut S,
    auth: ServerAuth,
    now: u32,
) -> Result<NoiseEngine, TransportError> {
    let during = io_error("handshake");
    let mut initiator = match auth {
        ServerAuth::Pinned(key) => Initiator::from_raw_k(key.to_bytes())
            .map_err(|e| TransportError::Handshake(format!("authority key: {e:?}")))?,
        ServerAuth::InsecureNoAuthorityCheck => {
            Initiator::without_pk().map_err(|e| TransportError::Handshake(format!("{e:?}")))?
        }
    };
    let hello = initiator
        .step_0()
        .map_err(|e| TransportError::Handshake(format!("first message: {e:?}")))?;
    stream.write_all(&hello).map_err(&during)?;
    stream.flush().map_err(&during)?;
    let mut reply = [0u8; INITIATOR_EXPECTED_HANDSHAKE_MESSAGE_SIZE];
    read_exact_or_closed(stream, &mut reply, "handshake")?;
    initiator.step_2_with_now(reply, now).map_err(|e| match e {
        noise_sv2::Error::InvalidCertificate(cert) => {
            if cert.version != noise_sv2::CERTIFICATE_VERSION {
                TransportError::Handshake(format!(
                    "unsupported certificate version {}",
                    cert.version
                ))
            } else if cert.not_valid_after.saturating_add(CERTIFICATE_LEEWAY_SECS) < now {
                TransportError::CertificateExpired {
                    not_valid_after: cert.not_valid_after,
                    now,
                }
            } else if cert.valid_from.saturating_sub(CERTIFICATE_LEEWAY_SECS) > now {
                TransportError::CertificateNotYetValid {
                    valid_from: cert.valid_from,
                    now,
                }
            } else {
                TransportError::WrongAuthority
            }
        }
        other => TransportError::Handshake(format!(
            "the responder's reply does not decrypt ({other:?})"
        )),
    })
}

fn respond<S: Read + Write>(
    stream: &mut S,
    keypair: &AuthorityKeypair,
    cert_validity: Duration,
    now: u32,
) -> Result<NoiseEngine, TransportError> {
    let during = io_error("handshake");
    let mut responder =
        Responder::from_authority_kp(&keypair.public.to_bytes(), &keypair.secret, cert_validity)
            .map_err(|e| TransportError::Handshake(format!("authority keypair: {e:?}")))?;
    let mut hello = [0u8; ELLSWIFT_ENCODING_SIZE];
    read_exact_or_closed(stream, &mut hello, "handshake")?;
    let (reply, engine) = responder
        .step_1_with_now_rng(hello, now, &mut secp256k1::rand::thread_rng())
        .map_err(|e| TransportError::Handshake(format!("the initiator's message: {e:?}")))?;
    stream.write_all(&reply).map_err(&during)?;
    stream.flush().map_err(&during)?;
    Ok(engine)
}

/// Fills `buf`; a peer that closes before the first byte is [`TransportError::Closed`].
fn read_exact_or_closed<R: Read>(
    reader: &mut R,
    buf: &mut [u8],
    during: &'static str,
) -> Result<(), TransportError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Err(TransportError::Closed),
            Ok(0) => {
                return Err(TransportError::Io {
                    during,
                    kind: io::ErrorKind::UnexpectedEof,
                    message: format!(
                        "the peer closed the connection {filled} bytes into a {}-byte message",
                        buf.len()
                    ),
                })
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(during)(e)),
        }
    }
    Ok(())
}

/// The receiving half of a session: reads and decrypts one frame at a time.
pub struct FrameReader<R> {
    inner: R,
    decryptor: NoiseDecryptor,
    max_payload: usize,
}

impl<R: Read> FrameReader<R> {
    /// A reader over `inner` after a handshake done elsewhere, with
    /// [`DEFAULT_MAX_FRAME_PAYLOAD`] as its cap.
    pub fn new(inner: R, decryptor: NoiseDecryptor) -> Self {
        FrameReader {
            inner,
            decryptor,
            max_payload: DEFAULT_MAX_FRAME_PAYLOAD,
        }
    }

    /// Sets the largest payload accepted (at most [`MAX_FRAME_PAYLOAD_ON_WIRE`] matters).
    pub fn set_max_payload(&mut self, max: usize) {
        self.max_payload = max;
    }

    /// The stream, e.g. to set a timeout or shut it down.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads the next frame. Memory used is bounded by the cap: an oversized frame is refused
    /// from its header alone.
    pub fn read_frame(&mut self) -> Result<Frame, TransportError> {
        let mut header = vec![0; ENCRYPTED_HEADER_LEN];
        read_exact_or_closed(&mut self.inner, &mut header, "reading a frame")?;
        self.decryptor
            .decrypt(&mut header)
            .map_err(|_| TransportError::BadMac)?;
        let header = framing_sv2::header::Header::from_bytes(&header)
            .expect("a decrypted header has exactly six bytes");
        let length = header.payload_length();
        if length > self.max_payload {
            return Err(TransportError::FrameTooLarge {
                length,
                max: self.max_payload,
            });
        }
        let mut payload = Vec::with_capacity(length);
        let mut chunk = Vec::with_capacity(CHUNK_LEN.min(length + AEAD_MAC_LEN));
        while payload.len() < length {
            let plain = (length - payload.len()).min(PLAINTEXT_CHUNK_LEN);
            chunk.clear();
            chunk.resize(plain + AEAD_MAC_LEN, 0);
            read_exact_or_closed(&mut self.inner, &mut chunk, "reading a frame").map_err(|e| {
                match e {
                    TransportError::Closed => TransportError::Io {
                        during: "reading a frame",
                        kind: io::ErrorKind::UnexpectedEof,
                        message: "the peer closed the connection inside a frame".into(),
                    },
                    e => e,
                }
            })?;
            self.decryptor
                .decrypt(&mut chunk)
                .map_err(|_| TransportError::BadMac)?;
            payload.extend_from_slice(&chunk);
        }
        Ok(Frame {
            extension_type: header.ext_type_without_channel_msg(),
            channel_msg: header.channel_msg(),
            msg_type: header.msg_type(),
            payload,
        })
    }
}

impl<R> fmt::Debug for FrameReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameReader")
            .field("max_payload", &self.max_payload)
            .finish_non_exhaustive()
    }
}

/// The sending half of a session: encrypts and writes one frame at a time.
pub struct FrameWriter<W> {
    inner: W,
    encryptor: NoiseEncryptor,
}

impl<W: Write> FrameWriter<W> {
    /// A writer over `inner` after a handshake done elsewhere.
    pub fn new(inner: W, encryptor: NoiseEncryptor) -> Self {
        FrameWriter { inner, encryptor }
    }

    /// The stream, e.g. to set a timeout or shut it down.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Encrypts `frame` and writes it whole, flushed.
    pub fn write_frame(&mut self, frame: &Frame) -> Result<(), TransportError> {
        let length = frame.payload.len();
        if length > MAX_FRAME_PAYLOAD_ON_WIRE {
            return Err(TransportError::FrameTooLarge {
                length,
                max: MAX_FRAME_PAYLOAD_ON_WIRE,
            });
        }
        let chunks = length.div_ceil(PLAINTEXT_CHUNK_LEN);
        let mut wire = Vec::with_capacity(ENCRYPTED_HEADER_LEN + length + chunks * AEAD_MAC_LEN);
        let extension = (frame.extension_type & !CHANNEL_MSG_BIT)
            | if frame.channel_msg {
                CHANNEL_MSG_BIT
            } else {
                0
            };
        let length_le = u32::try_from(length)
            .expect("checked against the 24-bit limit")
            .to_le_bytes();
        let mut header = Vec::with_capacity(ENCRYPTED_HEADER_LEN);
        header.extend_from_slice(&extension.to_le_bytes());
        header.push(frame.msg_type);
        header.extend_from_slice(&length_le[..3]);
        self.encrypt(&mut header)?;
        wire.extend_from_slice(&header);
        let mut chunk = Vec::with_capacity(CHUNK_LEN.min(length + AEAD_MAC_LEN));
        for plain in frame.payload.chunks(PLAINTEXT_CHUNK_LEN) {
            chunk.clear();
            chunk.extend_from_slice(plain);
            self.encrypt(&mut chunk)?;
            wire.extend_from_slice(&chunk);
        }
        let during = io_error("writing a frame");
        self.inner.write_all(&wire).map_err(&during)?;
        self.inner.flush().map_err(&during)
    }

    fn encrypt(&mut self, buf: &mut Vec<u8>) -> Result<(), TransportError> {
        // Only a nonce counter at its end (2^64 messages) can fail here.
        self.encryptor
            .encrypt(buf)
            .map_err(|_| TransportError::Handshake("the session cipher is exhausted".into()))
    }
}

impl<W> fmt::Debug for FrameWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameWriter").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
