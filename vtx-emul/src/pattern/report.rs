//! What a Vocket reports: lifecycle [`Event`]s, the reasons they carry ([`Refusal`],
//! [`DownReason`], [`DropReason`]) and its counters ([`Stats`]). Data and how it reads
//! in a log only: the logic is the Vocket's.

use std::fmt;

use crate::SocketType;

/// Why a peering was refused at handshake.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The socket types cannot talk (RFC 37 §3.5).
    Incompatible {
        /// Our type.
        ours: SocketType,
        /// Theirs.
        theirs: SocketType,
    },
    /// PAIR already has its one peering.
    PairTaken,
    /// The socket has its maximum number of peerings.
    TooManyPeers,
    /// ROUTER: another peering uses this identity.
    DuplicateIdentity,
    /// The socket is closing.
    Closing,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Incompatible { ours, theirs } => {
                write!(f, "socket type {theirs} cannot talk to {ours}")
            }
            Refusal::PairTaken => f.write_str("PAIR socket already has a peer"),
            Refusal::TooManyPeers => f.write_str("too many peerings"),
            Refusal::DuplicateIdentity => f.write_str("identity already in use"),
            Refusal::Closing => f.write_str("socket is closing"),
        }
    }
}

/// Why a peering went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownReason {
    /// The transport lost it (peer closed, network error, goodbye).
    Closed,
    /// Nothing heard within the heartbeat timeout or the peer's TTL.
    HeartbeatTimeout,
    /// ROUTER handover: a new peering took this identity.
    Replaced,
    /// The socket closed.
    SocketClosed,
    /// The peer asked for more than a per-peer limit allows (subscriptions).
    OverLimit,
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DownReason::Closed => "closed",
            DownReason::HeartbeatTimeout => "heartbeat timeout",
            DownReason::Replaced => "replaced by a peering with the same identity",
            DownReason::SocketClosed => "socket closed",
            DownReason::OverLimit => "over a per-peer limit (subscriptions)",
        })
    }
}

/// Why a message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// The peering's queue was at SNDHWM (PUB, ROUTER, REP).
    Hwm,
    /// The application pipe was full and the peering cannot be paused (datagram).
    AppFull,
    /// ROUTER/REP: no peering with that identity.
    Unroutable,
    /// Not valid for this socket type (a reply without request, a message to PUSH...).
    Invalid,
    /// A duplicate request or reply (datagram retries).
    Duplicate,
    /// Queued for a peering that went down before it took the message: libzmq drops
    /// what a closed pipe held, and so does vtx (no other peer gets it).
    PeerGone,
}

/// A lifecycle event, for logs, counters and the socket monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peering completed its handshake.
    PeerUp {
        /// Schemed address.
        address: String,
    },
    /// A peering went down.
    PeerDown {
        /// Schemed address.
        address: String,
        /// Why.
        reason: DownReason,
    },
    /// A peering was refused at handshake.
    Refused {
        /// Schemed address.
        address: String,
        /// Why.
        reason: Refusal,
    },
    /// Authentication refused a peer (our authenticator denied it, or its server
    /// denied us): also a failed handshake.
    AuthFailed {
        /// Schemed address.
        address: String,
        /// ZAP's status code: 300 (try later), 400 (denied), 500 (failed).
        status: u16,
        /// Why, as far as we know.
        reason: String,
    },
    /// A link failed before or during its handshake.
    HandshakeFailed {
        /// Schemed address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// A peer broke the protocol after its handshake, or a stranger sent bad input;
    /// the transport dropped the link (if there was one).
    ProtocolError {
        /// Schemed address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// Messages were dropped: at most one such event per reason waits to be polled,
    /// and it counts every drop since the last one, so a flood of drops costs
    /// counters, not events.
    Dropped {
        /// Why.
        reason: DropReason,
        /// How many since the last `Dropped` event of this reason.
        count: u64,
    },
}

/// Number of [`DropReason`]s.
pub(super) const DROP_REASONS: usize = 6;

impl DropReason {
    /// Its slot among the [`DROP_REASONS`] counters (a match: a new reason will not
    /// compile until it has one).
    pub(super) fn slot(self) -> usize {
        match self {
            DropReason::Hwm => 0,
            DropReason::AppFull => 1,
            DropReason::Unroutable => 2,
            DropReason::Invalid => 3,
            DropReason::Duplicate => 4,
            DropReason::PeerGone => 5,
        }
    }
}

/// Counters of one Vocket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages delivered toward the application.
    pub msgs_in: u64,
    /// Messages handed to transports.
    pub msgs_out: u64,
    /// Peerings that came up.
    pub peers_up: u64,
    /// Peerings that went down (closed, lost, timed out, replaced, over a limit).
    pub peers_down: u64,
    /// Peerings refused at handshake.
    pub refused: u64,
    /// Peerings declared dead by heartbeat.
    pub heartbeat_timeouts: u64,
    /// Dropped at a peering's SNDHWM.
    pub dropped_hwm: u64,
    /// Dropped because the application pipe was full.
    pub dropped_app_full: u64,
    /// Dropped as unroutable.
    pub dropped_unroutable: u64,
    /// Dropped as invalid for the socket type.
    pub dropped_invalid: u64,
    /// Dropped as duplicates.
    pub dropped_duplicate: u64,
    /// Dropped with a peering that went down before taking them.
    pub dropped_peer_gone: u64,
    /// Links that failed their handshake.
    pub handshake_failures: u64,
    /// Of those, peers that authentication refused: a client our authenticator denied,
    /// or a server that denied us (ERROR with a ZAP status: libzmq's
    /// HANDSHAKE_FAILED_AUTH).
    pub auth_failures: u64,
    /// Peers that broke the protocol after their handshake, and bad input from strangers.
    pub protocol_errors: u64,
    /// Peerings dropped for asking more than a per-peer limit allows.
    pub over_limit: u64,
}
