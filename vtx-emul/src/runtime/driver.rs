//! What a transport sees of the runtime: the poller's registry, the clock, timers, and
//! the Vockets of the sockets it serves.

use std::fmt;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rustc_hash::FxHashMap;

use super::pipe::Pipe;
use crate::pattern::{Flow, Input, PeerId, PeerInfo, Refusal, Transmit, Vocket};
use crate::timer::TimerHeap;
use crate::{SocketOptions, SocketType};

/// Names one vtx socket within a driver (assigned by the manager, unique per `Vtx`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u64);

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What an entry in the runtime's timer heap is for. Nothing is cancelled: a socket's
/// entry, stale or not, costs one service pass (its Vocket's `handle_timeout` fires
/// only what is due; `SockState::timer_at` keeps a later deadline from being armed
/// while an earlier one is), and a transport keeps a generation in its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerEntry {
    Socket(SocketId),
    Transport(u64),
}

/// One vtx socket inside the driver.
#[derive(Debug)]
pub(crate) struct SockState {
    pub(crate) vocket: Vocket,
    /// The inproc pipe to the application; `None` once the application closed it.
    pub(crate) pipe: Option<Pipe>,
    /// The Vocket deadline armed in the runtime's heap.
    pub(crate) timer_at: Option<Instant>,
    /// Set while lingering after close: destroyed once flushed, or at the instant it
    /// holds at the latest (`None` inside: LINGER -1, until flushed).
    pub(crate) linger_until: Option<Option<Instant>>,
    pub(crate) dirty: bool,
    /// What the application's thread sees of the peerings.
    pub(crate) shared: std::sync::Arc<super::SocketShared>,
}

impl SockState {
    /// Puts the socket, `sock`, on the list of those to service this turn, once.
    fn set_dirty(&mut self, sock: SocketId, dirty: &mut Vec<SocketId>) {
        if !self.dirty {
            self.dirty = true;
            dirty.push(sock);
        }
    }

    /// Tells the application's thread what changed among the peerings.
    pub(crate) fn publish_peers(&mut self) {
        let peers = self.vocket.peer_count();
        let v = &mut self.vocket;
        self.shared
            .update(peers, std::iter::from_fn(|| v.poll_route()));
    }
}

/// How many bad inputs a second [`Driver::hostile_input`] logs and reports per driver.
pub const HOSTILE_LOG_RATE: u32 = 20;

/// The driver as its [`super::Transport`] sees it: the poller's registry, the clock,
/// timers, randomness, and the Vocket of every socket the driver serves. Every
/// transport call gets it (`driver: &mut Driver`); what a transport learns from the
/// network it reports here (`peer_up`, `input`, `peer_down`, `link_failed`), and what
/// it sends it takes from here (`transmit`).
pub struct Driver {
    registry: mio::Registry,
    scheme: String,
    pub(crate) now: Instant,
    rng: StdRng,
    /// By socket id (our own ids, not peer input: a fast hash is safe here).
    pub(crate) sockets: FxHashMap<SocketId, SockState>,
    /// Sockets' deadlines (their Vocket's, linger, a pipe retry) and the transport's.
    pub(crate) timers: TimerHeap<TimerEntry>,
    pub(crate) dirty: Vec<SocketId>,
    /// [`Driver::hostile_input`]'s rate: the second it counts from, and how many so far.
    hostile_logged: (Instant, u32),
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver")
            .field("scheme", &self.scheme)
            .field("sockets", &self.sockets.len())
            .finish()
    }
}

impl Driver {
    pub(crate) fn new(registry: mio::Registry, scheme: &str) -> Driver {
        Driver {
            registry,
            scheme: scheme.to_owned(),
            now: Instant::now(),
            rng: StdRng::from_os_rng(),
            sockets: FxHashMap::default(),
            timers: TimerHeap::new(),
            dirty: Vec::new(),
            hostile_logged: (Instant::now(), 0),
        }
    }

    /// The poller's registry, to register the transport's OS sockets (tokens below
    /// [`super::RESERVED_TOKENS`]).
    pub fn registry(&self) -> &mio::Registry {
        &self.registry
    }

    /// The scheme this driver instance is registered under (`udp`, `udp1`, `tcp6`...).
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// The time of the current event-loop turn.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The driver's random source (reconnect jitter, cookies, sequence starts).
    pub fn rng(&mut self) -> &mut StdRng {
        &mut self.rng
    }

    /// Calls [`super::Transport::timer`] with `key` at `at`. Timers cannot be cancelled:
    /// a transport ignores keys it no longer expects (keep a generation in the key).
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        self.timers.arm(at, TimerEntry::Transport(key));
    }

    /// The type of an open socket.
    pub fn socket_type(&self, sock: SocketId) -> Option<SocketType> {
        self.sockets.get(&sock).map(|s| s.vocket.socket_type())
    }

    /// The options of a socket.
    pub fn options(&self, sock: SocketId) -> Option<&SocketOptions> {
        self.sockets.get(&sock).map(|s| s.vocket.options())
    }

    /// A peering completed its handshake on `sock`. On refusal the transport sends its
    /// reject (ZMTP ERROR, NOM-2 ROTFL) and closes the link.
    pub fn peer_up(&mut self, sock: SocketId, info: PeerInfo) -> Result<PeerId, Refusal> {
        let now = self.now;
        let Some(s) = self.sockets.get_mut(&sock) else {
            return Err(Refusal::Closing);
        };
        let address = info.address.clone();
        let r = s.vocket.handle_peer_up(info, now);
        match &r {
            Ok(_) => log::debug!("{sock} peer up: {address}"),
            Err(reason) => log::warn!("{sock} refused {address}: {reason}"),
        }
        self.mark_dirty(sock);
        r
    }

    /// A peering is gone (the transport closed it or lost it).
    pub fn peer_down(&mut self, sock: SocketId, peer: PeerId) {
        let now = self.now;
        if let Some(s) = self.sockets.get_mut(&sock) {
            s.vocket.handle_peer_down(peer, now);
            self.mark_dirty(sock);
        }
    }

    /// A peering sent something. [`Flow::Pause`]: stop reading it until
    /// [`super::Transport::resume`].
    pub fn input(&mut self, sock: SocketId, peer: PeerId, input: Input) -> Flow {
        let now = self.now;
        let Some(s) = self.sockets.get_mut(&sock) else {
            return Flow::Continue;
        };
        let flow = s.vocket.handle_input(peer, input, now);
        s.set_dirty(sock, &mut self.dirty);
        flow
    }

    /// Whether a peering may be read now ([`Vocket::admit`]); on [`Flow::Pause`] the
    /// transport stops reading it until [`super::Transport::resume`].
    pub fn admit(&mut self, sock: SocketId, peer: PeerId) -> Flow {
        match self.sockets.get_mut(&sock) {
            Some(s) => s.vocket.admit(peer),
            None => Flow::Continue,
        }
    }

    /// The next thing to send to a peering, if any.
    pub fn transmit(&mut self, sock: SocketId, peer: PeerId) -> Option<Transmit> {
        let s = self.sockets.get_mut(&sock)?;
        // Taking a message makes room: a pipe that stopped reading for want of it may be
        // read again, and a lingering socket may be done. Otherwise no new pass is due.
        let wake = !s.vocket.can_send() || s.linger_until.is_some();
        let t = s.vocket.poll_transmit(peer);
        if t.is_some() && wake {
            s.set_dirty(sock, &mut self.dirty);
        }
        t
    }

    /// A link of `sock` wrote the last of what it had queued: a lingering socket may be
    /// done.
    pub fn link_drained(&mut self, sock: SocketId) {
        if self
            .sockets
            .get(&sock)
            .is_some_and(|s| s.linger_until.is_some())
        {
            self.mark_dirty(sock);
        }
    }

    /// A link failed its handshake (a bad greeting, a timeout, a peer that reported an
    /// error before READY): logged, counted in `handshake-failures`, reported as
    /// `handshake-failed`; the transport closes that link.
    pub fn handshake_failed(&mut self, sock: SocketId, address: &str, reason: &dyn fmt::Display) {
        log::warn!("{sock} handshake with {address} failed: {reason}");
        if let Some(s) = self.sockets.get_mut(&sock) {
            s.vocket
                .note_handshake_failure(address, &reason.to_string());
            self.mark_dirty(sock);
        }
    }

    /// Authentication refused a peer with ZAP `status` (our authenticator, or its
    /// server): logged, counted in `handshake-failures` and `auth-failures`, reported
    /// as `auth-failed`.
    pub fn auth_failed(&mut self, sock: SocketId, address: &str, status: u16, reason: &str) {
        log::warn!("{sock} authentication with {address} refused ({status}): {reason}");
        if let Some(s) = self.sockets.get_mut(&sock) {
            s.vocket.note_auth_failure(address, status, reason);
            self.mark_dirty(sock);
        }
    }

    /// A peer broke the protocol after its handshake (an oversize frame, a bad command),
    /// or a stranger sent bad input: logged, counted in `protocol-errors`, reported as
    /// `protocol-error`; the transport closes that link if there is one.
    pub fn protocol_error(&mut self, sock: SocketId, address: &str, reason: &dyn fmt::Display) {
        log::warn!("{sock} dropping {address}: {reason}");
        if let Some(s) = self.sockets.get_mut(&sock) {
            s.vocket.note_protocol_error(address, &reason.to_string());
            self.mark_dirty(sock);
        }
    }

    /// A link broke: a protocol error when its peering was `up`, else a failed handshake.
    pub fn link_failed(
        &mut self,
        sock: SocketId,
        up: bool,
        address: &str,
        reason: &dyn fmt::Display,
    ) {
        if up {
            self.protocol_error(sock, address, reason);
        } else {
            self.handshake_failed(sock, address, reason);
        }
    }

    /// Bad input from a source that can send it at any rate (a datagram, a packet from
    /// a stranger): counted always, but logged and reported like
    /// [`Driver::protocol_error`] at most [`HOSTILE_LOG_RATE`] times a second per driver,
    /// so a flood costs a counter each, not a log line or an allocation. `address`
    /// (given the driver's scheme) is only called when the error is logged.
    pub fn hostile_input(
        &mut self,
        sock: SocketId,
        address: impl FnOnce(&str) -> String,
        reason: &dyn fmt::Display,
    ) {
        let now = self.now;
        let (since, n) = &mut self.hostile_logged;
        if now.duration_since(*since) >= std::time::Duration::from_secs(1) {
            if *n > HOSTILE_LOG_RATE {
                log::warn!(
                    "driver `{}`: {} more bad inputs not logged",
                    self.scheme,
                    *n - HOSTILE_LOG_RATE
                );
            }
            (*since, *n) = (now, 0);
        }
        *n += 1;
        if *n <= HOSTILE_LOG_RATE {
            let address = address(&self.scheme);
            self.protocol_error(sock, &address, reason);
        } else if let Some(s) = self.sockets.get_mut(&sock) {
            s.vocket.count_protocol_error();
        }
    }

    pub(crate) fn mark_dirty(&mut self, sock: SocketId) {
        if let Some(s) = self.sockets.get_mut(&sock) {
            s.set_dirty(sock, &mut self.dirty);
        }
    }

    /// Arms the runtime heap for a socket's Vocket deadline if it is sooner than the
    /// one already armed (a later one is picked up when the earlier fires).
    pub(crate) fn arm_socket_timer(&mut self, sock: SocketId) {
        let Some(s) = self.sockets.get_mut(&sock) else {
            return;
        };
        let Some(at) = s.vocket.poll_timeout() else {
            return;
        };
        if s.timer_at.is_some_and(|t| t <= at) {
            return;
        }
        s.timer_at = Some(at);
        self.timers.arm(at, TimerEntry::Socket(sock));
    }
}
