//! The life of one peering, the same for every connection-oriented transport: a
//! link is set up (a TCP connect, a TLS handshake, an SCTP association), its
//! [`Session`] handshakes (greeting and READY), the peering comes up in the Vocket,
//! traffic flows both ways with backpressure, and the link ends, after which a
//! connecter reconnects.
//!
//! A transport owns the links and their I/O; it keeps one [`Peering`] per link for
//! everything else and calls it at fixed points:
//!
//! | when | call |
//! |---|---|
//! | a link is made (accepted, or a connect started) | [`Peering::new`], then [`Peering::arm_handshake_timer`] |
//! | the link is ready for the session (connected, associated) | [`Peering::start`] |
//! | bytes arrived in [`Peering::rbuf`] | [`Peering::decode`] until it says [`Decode::Drained`], then read more |
//! | the link has room | [`Peering::fill`], then write [`Peering::out`] |
//! | the Vocket resumes a paused peering | clear [`Peering::paused`], decode again |
//!
//! and acts on what [`Peering::decode`] returns. Beside it: [`Connecters`] (one per
//! `connect`, with libzmq's reconnect policy), [`SocketLinks`] (which listeners,
//! connecters and links a socket has) and the ids and timer keys ([`ids`]) that name
//! slab entries to the runtime without confusing a reused slot with its predecessor.

pub mod ids;
mod reconnect;
mod table;

use std::fmt;

use bytes::{Bytes, BytesMut};

pub use self::ids::{Generations, conn_id, split_conn_id, split_timer_key, timer_key};
pub use self::reconnect::{Connecter, Connecters};
pub use self::table::{BoundAs, SocketLinks};
use crate::pattern::{ConnId, DownReason, Flow, PeerId, PeerInfo};
use crate::runtime::{Driver, SocketId};
use crate::session::{ChannelFacts, Local, OutBuf, Role, Session, SessionEvent, zap_status};

/// Where a peering is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The link is being set up: a non-blocking connect, an SCTP four-way handshake.
    Connecting,
    /// The session handshake (greeting, READY) is in progress.
    Handshaking,
    /// The peering is up in the Vocket.
    Up,
    /// Ending: a refusal or SCTP's SHUTDOWN being flushed.
    Closing,
}

/// How a link came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A listener accepted it.
    Accepted,
    /// The connecter with this key made it; it reconnects when the link ends.
    Connected(usize),
}

impl Origin {
    /// The session role of a link of this origin.
    pub fn role(self) -> Role {
        match self {
            Origin::Accepted => Role::Server,
            Origin::Connected(_) => Role::Client,
        }
    }
}

/// What [`Peering::decode`] stopped on.
#[derive(Debug, PartialEq, Eq)]
pub enum Decode {
    /// Everything buffered is decoded: read more from the link.
    Drained,
    /// The read budget is spent: read on at the next turn of the event loop.
    OutOfBudget,
    /// The Vocket is full: stop reading this link until [`crate::runtime::Transport::resume`].
    Paused,
    /// End the link (the reason is counted and logged already). With [`End::Refused`],
    /// flush [`Peering::out`] first: it holds the refusal.
    End(End),
}

/// Why a link must end.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// The Vocket refused the peer; the refusal is queued in [`Peering::out`].
    Refused,
    /// The peer broke the protocol or reported an error.
    Failed,
}

/// What a decoded event costs against a read budget, so that a flood of tiny
/// messages yields as often as a stream of large ones.
pub const EVENT_COST: usize = 64;

/// The session state of one link, and the peering it carries once up.
pub struct Peering<S> {
    /// Of the slab entry this peering lives in.
    pub generation: u32,
    /// The vtx socket the link belongs to.
    pub sock: SocketId,
    /// The session protocol on the link.
    pub session: S,
    /// Bytes read and not yet decoded.
    pub rbuf: BytesMut,
    /// Bytes encoded and not yet written.
    pub out: OutBuf,
    /// The peering in the Vocket, once up (and until the Vocket forgets it).
    pub peer: Option<PeerId>,
    /// `scheme://address` of the peer, for logs and the monitor.
    pub address: String,
    /// How the link came to be.
    pub origin: Origin,
    /// Where the peering is in its life.
    pub phase: Phase,
    /// The Vocket is full: the link is not read.
    pub paused: bool,
}

/// `#3 tcp6://[::1]:5555`: the socket and the peer, for log lines.
impl<S> fmt::Display for Peering<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.sock, self.address)
    }
}

impl<S> fmt::Debug for Peering<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peering")
            .field("sock", &self.sock)
            .field("address", &self.address)
            .field("phase", &self.phase)
            .field("peer", &self.peer)
            .finish()
    }
}

impl<S: Session> Peering<S> {
    /// The peering of a new link of `sock` to `address` (`scheme://addr`); `None` when
    /// the socket is gone. `phase` is [`Phase::Connecting`] while the link itself is
    /// not ready, else [`Phase::Handshaking`] (then call [`Peering::start`]).
    pub fn new(
        driver: &Driver,
        sock: SocketId,
        generation: u32,
        address: String,
        origin: Origin,
    ) -> Option<Self> {
        let mut local = Local::new(driver.socket_type(sock)?, driver.options(sock)?);
        // Each link's own: from the operating system (a CSPRNG seeded by it).
        local.seed = Some(rand::random());
        local.peer_address.clone_from(&address);
        Some(Peering {
            generation,
            sock,
            session: S::new(&local, origin.role()),
            rbuf: BytesMut::new(),
            out: OutBuf::new(),
            peer: None,
            address,
            origin,
            phase: Phase::Connecting,
            paused: false,
        })
    }

    /// Arms the socket's HANDSHAKE_IVL for this peering, as a transport timer of
    /// `kind` for slab entry `key`.
    pub fn arm_handshake_timer(&self, driver: &mut Driver, kind: u64, key: usize) {
        if let Some(ivl) = driver.options(self.sock).and_then(|o| o.handshake_ivl) {
            let at = driver.now() + ivl;
            driver.set_timer(at, timer_key(kind, self.generation, key));
        }
    }

    /// The link is ready: the session handshake starts (its greeting goes to
    /// [`Peering::out`]).
    pub fn start(&mut self) {
        self.phase = Phase::Handshaking;
        self.session.start(&mut self.out);
    }

    /// The peering's id in the Vocket, for the slab entry `key`.
    pub fn conn_id(&self, key: usize) -> ConnId {
        conn_id(self.generation, key)
    }

    /// Decodes what [`Peering::rbuf`] holds and hands it to the Vocket, until the
    /// buffer is drained, `budget` (bytes read plus [`EVENT_COST`] per event) is spent,
    /// the Vocket pauses the peering or the link must end. READY brings the peering up
    /// (with `vouched`, an identity the link itself vouches for, replacing the
    /// announced one) and resets `connecters`' backoff; a peer's ERROR, traffic before
    /// READY or bytes that break the protocol are counted and end the link.
    pub fn decode<T>(
        &mut self,
        driver: &mut Driver,
        key: usize,
        budget: &mut usize,
        connecters: &mut Connecters<T>,
        vouched: impl Fn() -> Option<Bytes>,
        channel: impl Fn() -> ChannelFacts,
    ) -> Decode {
        if self.paused || matches!(self.phase, Phase::Closing | Phase::Connecting) {
            return Decode::Paused;
        }
        if self.session.wants_channel() {
            self.session.set_channel(channel());
        }
        if let Some(peer) = self.peer
            && driver.admit(self.sock, peer) == Flow::Pause
        {
            self.paused = true;
            return Decode::Paused;
        }
        loop {
            if *budget == 0 {
                return Decode::OutOfBudget;
            }
            let ev = match self.session.decode(&mut self.rbuf, &mut self.out) {
                Ok(Some(ev)) => ev,
                Ok(None) => return Decode::Drained,
                Err(e) => {
                    driver.link_failed(self.sock, self.peer.is_some(), &self.address, &e);
                    return Decode::End(End::Failed);
                }
            };
            *budget = budget.saturating_sub(EVENT_COST);
            if let Some(stop) = self.on_event(driver, key, connecters, &vouched, ev) {
                return stop;
            }
        }
    }

    /// Hands one decoded event to the Vocket; what decoding stops on, if it must.
    fn on_event<T>(
        &mut self,
        driver: &mut Driver,
        key: usize,
        connecters: &mut Connecters<T>,
        vouched: &impl Fn() -> Option<Bytes>,
        ev: SessionEvent,
    ) -> Option<Decode> {
        match ev {
            SessionEvent::Ready {
                socket_type,
                identity,
                properties,
            } => {
                let info = PeerInfo::new(socket_type, &self.address, self.conn_id(key))
                    .with_identity(vouched().or(identity))
                    .with_properties(properties);
                match driver.peer_up(self.sock, info) {
                    Ok(peer) => {
                        self.peer = Some(peer);
                        self.phase = Phase::Up;
                        if let Origin::Connected(ck) = self.origin {
                            connecters.up(driver, ck);
                        }
                        None
                    }
                    Err(refusal) => {
                        self.session.refuse(&refusal.to_string(), &mut self.out);
                        Some(Decode::End(End::Refused))
                    }
                }
            }
            SessionEvent::Input(input) => match self.peer {
                Some(peer) => (driver.input(self.sock, peer, input) == Flow::Pause).then(|| {
                    self.paused = true;
                    Decode::Paused
                }),
                None => {
                    driver.handshake_failed(
                        self.sock,
                        &self.address,
                        &"traffic before the handshake completed",
                    );
                    Some(Decode::End(End::Failed))
                }
            },
            SessionEvent::PeerError(reason) => {
                match zap_status(&reason).filter(|_| self.peer.is_none()) {
                    // The server's authentication denied us.
                    Some(status) => driver.auth_failed(
                        self.sock,
                        &self.address,
                        status,
                        "the server refused our credentials",
                    ),
                    None => {
                        let reason = format!("peer reported an error: {reason}");
                        driver.link_failed(self.sock, self.peer.is_some(), &self.address, &reason);
                    }
                }
                Some(Decode::End(End::Failed))
            }
            SessionEvent::Denied { status, reason } => {
                driver.auth_failed(self.sock, &self.address, status, &reason);
                Some(Decode::End(End::Refused))
            }
            SessionEvent::Refused(reason) => {
                driver.handshake_failed(self.sock, &self.address, &reason);
                Some(Decode::End(End::Refused))
            }
        }
    }

    /// Encodes transmits the Vocket has for this peering into [`Peering::out`] while
    /// it holds less than `limit` bytes; returns the bytes encoded. Nothing before the
    /// peering is up.
    pub fn fill(&mut self, driver: &mut Driver, limit: usize) -> usize {
        let (Some(peer), Phase::Up) = (self.peer, self.phase) else {
            return 0;
        };
        let before = self.out.len();
        while self.out.len() < limit {
            match driver.transmit(self.sock, peer) {
                Some(t) => self.session.encode(t, &mut self.out),
                None => break,
            }
        }
        self.out.len() - before
    }

    /// Whether the session handshake is still unfinished (a HANDSHAKE_IVL timer of this
    /// peering then fails the link).
    pub fn handshaking(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Handshaking)
    }

    /// The Vocket closed the peering (it forgot it already): logged, and not told again.
    pub fn closed_by_vocket(&mut self, reason: &DownReason) {
        log::debug!("{self}: closing: {reason}");
        self.peer = None;
    }

    /// Frees the read buffer when nothing is left in it: an idle link holds none
    /// (10,000 idle peerings would otherwise keep 16 KiB each).
    pub fn release_idle_buffer(&mut self) -> bool {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
            true
        } else {
            false
        }
    }
}
