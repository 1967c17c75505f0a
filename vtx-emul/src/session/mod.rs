//! What a link's session protocol is, sans-IO: bytes in, events out; transmits in,
//! bytes out. The ZMTP session ([`crate::zmtp::ZmtpSession`]) implements it; the
//! stream transport of the runtime drives it over TCP, TLS or a Unix socket, and the
//! SCTP transport over an association. Nothing here touches a socket, a clock or a
//! thread.

mod outbuf;

use std::fmt;

use bytes::{Bytes, BytesMut};
use zeroize::Zeroizing;

pub use self::outbuf::{OutBuf, VectoredWrite};
use crate::pattern::{Input, Transmit};
use crate::security::Security;
use crate::{SocketOptions, SocketType};

/// Which side of a link we are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We connected.
    Client,
    /// We accepted.
    Server,
}

/// What a session needs to know about our socket.
#[derive(Clone, Debug)]
pub struct Local {
    /// Our socket type.
    pub socket_type: SocketType,
    /// Our identity, announced to the peer.
    pub identity: Option<Bytes>,
    /// Application properties announced to the peer (ZMQ_METADATA).
    pub metadata: Vec<(Bytes, Bytes)>,
    /// Largest message accepted, checked before allocating.
    pub max_msg_size: Option<u64>,
    /// The security mechanism, and its credentials or authenticator.
    pub security: Security,
    /// Authenticated peers' identity is their `User-Id` (`SocketOptions::identity_from_user`).
    pub identity_from_user: bool,
    /// Randomness for the handshake (CURVE's transient keys and nonces): 32 bytes no
    /// one else knows, fresh for each link. The runtime draws them from the operating
    /// system; `None` makes a CURVE handshake fail rather than run on a guessable key.
    pub seed: Option<[u8; 32]>,
    /// The peer's address (`tcp6://[::1]:5555`), for an authenticator; empty if unknown.
    pub peer_address: String,
}

impl Local {
    /// What a session of a `socket_type` socket with `opts` announces and accepts.
    pub fn new(socket_type: SocketType, opts: &SocketOptions) -> Local {
        Local {
            socket_type,
            identity: opts.identity.clone(),
            metadata: opts.metadata.clone(),
            max_msg_size: opts.max_msg_size,
            security: opts.security.clone(),
            identity_from_user: opts.identity_from_user,
            seed: None,
            peer_address: String::new(),
        }
    }
}

/// What the link under a session knows of its channel, for mechanisms bound to it
/// (ZMTP-SASL's SCRAM-SHA-256-PLUS and EXTERNAL). Empty for links that are not TLS.
#[derive(Clone, Default)]
pub struct ChannelFacts {
    /// RFC 9266 `tls-exporter`: 32 bytes of the TLS 1.3 exporter with the label
    /// `EXPORTER-Channel-Binding` and no context, once the TLS handshake completed.
    pub tls_exporter: Option<Zeroizing<[u8; 32]>>,
    /// The name of the peer's verified certificate (its first DNS name, else its
    /// subject's common name).
    pub certificate_name: Option<String>,
}

impl fmt::Debug for ChannelFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelFacts")
            .field("tls_exporter", &self.tls_exporter.is_some())
            .field("certificate_name", &self.certificate_name)
            .finish()
    }
}

/// What a session decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The handshake completed.
    Ready {
        /// The peer's socket type.
        socket_type: SocketType,
        /// The peer's identity, if announced.
        identity: Option<Bytes>,
        /// Every property the peer announced (`Socket-Type`, `Identity`, `X-...`), as
        /// copies: they live as long as the peering.
        properties: Vec<(Bytes, Bytes)>,
    },
    /// Traffic for the Vocket.
    Input(Input),
    /// The peer reported an error and will close (ZMTP ERROR).
    PeerError(String),
    /// The handshake refused the peer (a mechanism it does not share, credentials the
    /// authenticator denied): the reason is for the log, the reply that tells the peer
    /// is in the output buffer; flush it, then close.
    Refused(String),
    /// Authentication refused the peer with a ZAP status (300, 400, 500): our
    /// authenticator denied it, or its proof did not verify. As
    /// [`SessionEvent::Refused`], the ERROR with the status is in the output buffer.
    Denied {
        /// The ZAP status the peer was told.
        status: u16,
        /// For the log.
        reason: String,
    },
}

/// The ZAP status (RFC 27) an ERROR reason is, if it is one: `"400"` is 400.
pub fn zap_status(reason: &str) -> Option<u16> {
    (reason.len() == 3)
        .then(|| reason.parse().ok())
        .flatten()
        .filter(|s| (300..600).contains(s))
}

/// A peer broke the protocol; the link is closed and the reason logged and counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// The protocol spoken on one link, sans-IO: bytes in, events out; transmits in, bytes out.
pub trait Session: Send + 'static {
    /// A session for a new link.
    fn new(local: &Local, role: Role) -> Self
    where
        Self: Sized;
    /// Writes what must be sent first (the greeting).
    fn start(&mut self, out: &mut OutBuf);
    /// Decodes the next event from the front of `buf`, consuming its bytes; `Ok(None)`
    /// means more bytes are needed. Handshake replies go to `out`.
    fn decode(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError>;
    /// Encodes one transmit (after `Ready`).
    fn encode(&mut self, t: Transmit, out: &mut OutBuf);
    /// Encodes a refusal before the link closes.
    fn refuse(&mut self, reason: &str, out: &mut OutBuf);
    /// Whether the session wants [`ChannelFacts`] before its next decode (a SASL
    /// mechanism that has not had them yet).
    fn wants_channel(&self) -> bool {
        false
    }
    /// What the link knows of its channel, once its own handshake completed.
    fn set_channel(&mut self, channel: ChannelFacts) {
        let _ = channel;
    }
    /// Whether the session runs the security handshake of [`Local::security`] (see
    /// `runtime::Transport::secures`).
    fn secures() -> bool
    where
        Self: Sized,
    {
        false
    }
}
