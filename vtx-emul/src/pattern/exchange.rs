//! What a Vocket and its transport say to each other about peerings: the peering a
//! handshake brought up ([`PeerInfo`]), what a peer sent ([`Input`]), what to send it
//! ([`Transmit`]), what to do to a peering ([`Action`]) and whether to keep reading it
//! ([`Flow`]). Data and `PeerInfo`'s builders only: the logic is the Vocket's.

use std::time::Duration;

use bytes::Bytes;

use super::DownReason;
use crate::{Msg, SocketType};

/// The transport's own key for a peering (a connection, an association, a UDP peering).
pub type ConnId = u64;

/// What a transport knows about a peering when its handshake completes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The socket type the peer announced.
    pub socket_type: SocketType,
    /// The identity the peer announced, if any (ZMTP `Identity`).
    pub identity: Option<Bytes>,
    /// The peer's schemed address, `udp://192.0.2.7:32000`.
    pub address: String,
    /// The transport's key for this peering, handed back in [`Action`]s.
    pub conn: ConnId,
    /// Datagram peering: may lose messages, so REQ resends and REP dedupes.
    pub lossy: bool,
    /// The transport can stop this peering's sender when the application pipe is full
    /// (streams by TCP flow control, NOM-2 by its window). Peerings that cannot be
    /// paused get their messages dropped instead.
    pub pausable: bool,
    /// Every property the peer announced in its handshake (ZMTP READY), for
    /// [`PeerProperties`](super::PeerProperties).
    pub properties: Vec<(Bytes, Bytes)>,
}

impl PeerInfo {
    /// A reliable (stream) peering with no announced identity.
    pub fn new(socket_type: SocketType, address: impl Into<String>, conn: ConnId) -> PeerInfo {
        PeerInfo {
            socket_type,
            identity: None,
            address: address.into(),
            conn,
            lossy: false,
            pausable: true,
            properties: Vec::new(),
        }
    }

    /// Sets the properties the peer announced.
    pub fn with_properties(mut self, properties: Vec<(Bytes, Bytes)>) -> PeerInfo {
        self.properties = properties;
        self
    }

    /// Sets the announced identity (empty counts as none, as in ZMTP).
    pub fn with_identity(mut self, identity: Option<Bytes>) -> PeerInfo {
        self.identity = identity.filter(|i| !i.is_empty());
        self
    }

    /// Marks the peering as a datagram peering, which (unless it says otherwise with
    /// [`PeerInfo::pausable`]) cannot be paused either.
    pub fn lossy(mut self, lossy: bool) -> PeerInfo {
        self.lossy = lossy;
        self.pausable = !lossy;
        self
    }

    /// Whether the transport can pause this peering's sender (see the field).
    pub fn pausable(mut self, pausable: bool) -> PeerInfo {
        self.pausable = pausable;
        self
    }
}

/// Something a peer sent, decoded by the transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// A message. `seq` is the request sequence of datagram transports (NOM-2).
    Message {
        /// The frames as they came off the wire.
        msg: Msg,
        /// Request/reply sequence, where the transport carries one.
        seq: Option<u32>,
    },
    /// The peer subscribes to a topic prefix.
    Subscribe(Bytes),
    /// The peer cancels a subscription.
    Cancel(Bytes),
    /// Heartbeat request; answer with a pong carrying the same context.
    Ping {
        /// The peer may be considered dead after this much silence (RFC 37 §3.4 TTL).
        ttl: Option<Duration>,
        /// Opaque bytes to echo.
        context: Bytes,
    },
    /// Heartbeat answer.
    Pong {
        /// The echoed context.
        context: Bytes,
    },
}

/// Something to send to one peer, for the transport to encode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// A message, with the request sequence for transports that carry it.
    Message {
        /// The frames to send.
        msg: Msg,
        /// Request/reply sequence (ignored by stream transports).
        seq: Option<u32>,
    },
    /// Subscribe to a topic prefix.
    Subscribe(Bytes),
    /// Cancel a subscription.
    Cancel(Bytes),
    /// Heartbeat request.
    Ping {
        /// Our TTL, for the peer's deadline.
        ttl: Option<Duration>,
        /// Opaque bytes the pong echoes.
        context: Bytes,
    },
    /// Heartbeat answer.
    Pong {
        /// The ping's context.
        context: Bytes,
    },
}

/// What the transport must do to a peering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Close the peering: the Vocket has already forgotten it.
    Close {
        /// The transport's key.
        conn: ConnId,
        /// Why, for the log and the peer (ZMTP ERROR, NOM-2 ROTFL).
        reason: DownReason,
    },
    /// The application pipe has room again: read this peering.
    Resume {
        /// The transport's key.
        conn: ConnId,
    },
}

/// What the transport should do after delivering an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop reading this peering until [`Action::Resume`].
    Pause,
}
