//! The NOM-2 engine, sans-IO: every peering of one driver, the OHAI handshake and
//! discovery, packing and fragmentation, reassembly, the reliable subscription channel,
//! and batching for GSO. Datagrams come in with [`Engine::handle_datagram`]; what to
//! send comes out of [`Engine::peek_batch`]; what happened comes out of
//! [`Engine::poll_event`]. Time is passed in; randomness (peering ids) comes from a
//! seeded generator the caller provides.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slab::Slab;

use vtx_emul::pattern::{Input, PeerId, Refusal, Transmit};
use vtx_emul::timer::TimerHeap;
use vtx_emul::{Msg, SocketType};

use super::cookie::CookieJar;
use super::peering::{BATCH_BYTES, Batch, Origin, Partial, Peering, Piece, PieceError};
use super::pool::{BufPool, POOL_MIN};
use super::wire::{self, Cmd, Cookie, Datagram, Hello, Reason, Record, Records, WireError};

/// Index of a local UDP socket in the engine.
pub type LocalId = usize;
/// A peering, as the Vocket's [`vtx_emul::pattern::ConnId`].
pub type PeeringId = u64;

/// The smallest `Config::max_datagram` the engine uses (the IPv4 minimum reassembly
/// size): fragments then carry at least 256 octets each, which receivers count on.
pub const MIN_DATAGRAM: usize = 576;

/// Engine limits and timers (docs/nom-2.md §8).
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest datagram sent (default 1400: fits common paths without IP fragmentation;
    /// at least [`MIN_DATAGRAM`]).
    pub max_datagram: usize,
    /// Largest message, reassembled or not (default 64 KiB).
    pub max_msg_size: usize,
    /// OHAI retry interval while a connecter has no peering (default 100 ms).
    pub ohai_ivl: Duration,
    /// OHAI interval for broadcast connecters once peered, to find late joiners (1 s).
    pub discover_ivl: Duration,
    /// First SUB/UNSUB retransmission timeout; doubles to 1 s.
    pub control_rto: Duration,
    /// A partial message is dropped after this long (default 2 s).
    pub reassembly_timeout: Duration,
    /// Messages reassembled at once per peering (default 2).
    pub max_partials: usize,
    /// Bytes held for reassembly over all peerings (default 32 MiB).
    pub reassembly_budget: usize,
    /// Datagrams per GSO batch (1: no GSO).
    pub max_segments: usize,
    /// Messages a sender may have beyond the receiver's last WINDOW (§6.4).
    pub window: u32,
    /// Bytes a sender may have beyond the receiver's last WINDOW: what a default Linux
    /// socket receive buffer holds, so a burst is not dropped by the kernel.
    pub window_bytes: usize,
    /// A receiver acknowledges at most this long after delivering.
    pub ack_delay: Duration,
    /// A sender stopped by its window probes (HUGZ) this often for a lost WINDOW.
    pub probe_ivl: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_datagram: 1400,
            max_msg_size: 64 * 1024,
            ohai_ivl: Duration::from_millis(100),
            discover_ivl: Duration::from_secs(1),
            control_rto: Duration::from_millis(100),
            reassembly_timeout: Duration::from_secs(2),
            max_partials: 2,
            reassembly_budget: 32 * 1024 * 1024,
            max_segments: 1,
            window: 1024,
            window_bytes: 256 * 1024,
            ack_delay: Duration::from_millis(10),
            probe_ivl: Duration::from_millis(50),
        }
    }
}

/// The socket a local UDP socket serves.
#[derive(Clone, Debug)]
pub struct Owner {
    /// The owning vtx socket (`SocketId.0`).
    pub sock: u64,
    /// Its type, announced in OHAI/OHAI-OK.
    pub socket_type: SocketType,
    /// Its identity, announced in OHAI/OHAI-OK.
    pub identity: Bytes,
}

/// What the engine reports.
#[derive(Debug)]
pub enum Event {
    /// A handshake completed: the owner's Vocket must accept ([`Engine::accept`]) or
    /// refuse ([`Engine::refuse`]) it before anything else is processed.
    Up {
        /// The peering.
        peering: PeeringId,
        /// Owning socket.
        sock: u64,
        /// The peer's announcement.
        hello: Hello,
        /// The peer's address.
        addr: SocketAddr,
    },
    /// Traffic for the owner's Vocket.
    Input {
        /// The peering (to pause it if the Vocket says so).
        peering: PeeringId,
        /// Owning socket.
        sock: u64,
        /// The Vocket's peer.
        peer: PeerId,
        /// What arrived.
        input: Input,
    },
    /// A peering's window opened again: pull what the Vocket has for it.
    Writable {
        /// The peering.
        peering: PeeringId,
    },
    /// A peering ended (goodbye, refusal, restart).
    Down {
        /// Owning socket.
        sock: u64,
        /// The Vocket's peer.
        peer: PeerId,
        /// Why.
        why: &'static str,
    },
    /// A datagram was dropped as hostile or broken, or the peer refused us.
    Failure {
        /// Owning socket.
        sock: u64,
        /// Who sent it.
        addr: SocketAddr,
        /// What was wrong.
        what: Failure,
    },
}

/// Why the engine dropped a datagram or a partial message, or why a peer ended a
/// handshake: cheap to make (no allocation), so a flood costs counters, not memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The datagram does not decode.
    Wire(WireError),
    /// It breaks the protocol, as said.
    Protocol(&'static str),
    /// A datagram for a peering that does not exist here.
    UnknownPeering(Cmd),
    /// A fragment did not fit its partial message, which was dropped.
    Reassembly(PieceError),
    /// The peer refused our OHAI.
    Refused(Reason),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Wire(e) => e.fmt(f),
            Failure::Protocol(what) => f.write_str(what),
            Failure::UnknownPeering(cmd) => write!(f, "{cmd:?} for an unknown peering"),
            Failure::Reassembly(PieceError::Overlap) => {
                f.write_str("fragment overlaps what arrived; message dropped")
            }
            Failure::Reassembly(PieceError::TooMany) => {
                f.write_str("message cut into too many fragments; dropped")
            }
            Failure::Refused(reason) => write!(f, "peer refused us: {reason:?}"),
        }
    }
}

/// A batch of datagrams to one destination: `buf` holds `count` datagrams of `seg`
/// bytes, the last possibly shorter (a GSO send), or one datagram.
#[derive(Debug)]
pub struct OutBatch<'a> {
    /// Local socket to send from.
    pub local: LocalId,
    /// Destination.
    pub dst: SocketAddr,
    /// The datagrams, back to back.
    pub buf: &'a [u8],
    /// Size of each datagram but the last.
    pub seg: usize,
    /// How many.
    pub count: usize,
}

#[derive(Debug)]
struct Local {
    owner: Owner,
    bound: bool,
}

#[derive(Debug)]
struct Connecter {
    local: LocalId,
    target: SocketAddr,
    broadcast: bool,
    nonce: u32,
    reconnect: Duration,
    peerings: Vec<usize>,
    /// Next OHAI (the timer armed for it).
    next_ohai: Option<Instant>,
    generation: u32,
    /// Unicast: the server's last COOKIE, echoed in OHAI retries (§4.1).
    cookie: Option<Cookie>,
    /// Broadcast: the servers whose COOKIE this round (since the last OHAI) answered.
    answered: HashSet<SocketAddr>,
}

/// What an entry in the engine's [`TimerHeap`] is for: a connecter's or a peering's
/// slot and the generation it had when armed. Cancelled lazily: a fire counts only if
/// the slot still has that generation and still holds that deadline (`next_ohai`,
/// `ctl_deadline`, `reassembly_at`, `ack_deadline`, `probe_deadline`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Ohai(usize, u32),
    Control(usize, u32),
    Reassembly(usize, u32),
    Ack(usize, u32),
    Probe(usize, u32),
}

/// Refusals remembered to answer OHAI retries without asking the Vocket again.
const REFUSAL_MEMORY: Duration = Duration::from_secs(5);
/// Most servers a broadcast connecter answers per discovery round (§4.1).
const MAX_ANSWERED: usize = 256;
/// Most refusals remembered; the oldest is forgotten first. Only validated addresses
/// are refused (§4.1), so this bounds what honest-looking clients can make us keep.
const MAX_REFUSALS: usize = 1024;
/// Answers to datagrams for unknown peerings, at most this many per second.
const UNKNOWN_REPLIES_PER_SEC: u32 = 100;

/// Everything NOM-2 of one driver.
#[derive(Debug)]
pub struct Engine {
    cfg: Config,
    rng: StdRng,
    locals: Slab<Local>,
    connecters: Slab<Connecter>,
    peerings: Slab<Peering>,
    /// (local, peer address, our id) -> peering: how datagrams find their peering.
    by_local_id: HashMap<(LocalId, SocketAddr, u32), usize>,
    /// (local, peer address, their id) -> peering: duplicate OHAI and ROTFL lookups.
    by_remote_id: HashMap<(LocalId, SocketAddr, u32), usize>,
    /// (local, nonce) -> connecter.
    nonces: HashMap<(LocalId, u32), usize>,
    refused: HashMap<(LocalId, SocketAddr, u32), (Reason, Instant)>,
    /// Refusals in the order made, to forget the oldest.
    refused_order: VecDeque<((LocalId, SocketAddr, u32), Instant)>,
    cookies: CookieJar,
    timers: TimerHeap<Timer>,
    events: VecDeque<Event>,
    out: VecDeque<Batch>,
    /// Buffers of sent fragment batches, kept for the next ones (at most
    /// [`SPARE_BATCHES`]): a 64 KiB buffer per batch, allocated and freed each time, made
    /// the allocator hand pages back to the kernel and fault them in again.
    spare: Vec<Vec<u8>>,
    /// Buffers large messages are reassembled in, back from the application.
    pool: BufPool,
    reassembly_bytes: usize,
    unknown_budget: (Instant, u32),
    next_generation: u32,
    /// Datagrams dropped as hostile or malformed.
    pub dropped: u64,
    /// COOKIEs sent (OHAIs from addresses not yet validated).
    pub cookies_sent: u64,
}

/// Batch buffers an engine keeps for reuse, at most (each [`BATCH_BYTES`]).
const SPARE_BATCHES: usize = 8;

/// Frames slice the datagram they arrived in. A small message from a large datagram
/// (GRO, a peer's large datagrams) is copied out, so that while it waits for a slow
/// application it holds at most 16 times its size, not the whole datagram; messages of
/// ordinary datagrams stay zero-copy.
fn unpin(msg: Msg, datagram: usize) -> Msg {
    if datagram <= 4096 || msg.byte_len() * 16 >= datagram {
        return msg;
    }
    msg.iter().map(|f| Bytes::copy_from_slice(f)).collect()
}

/// Whether `src` is in the network a broadcast `target` reaches: the address with
/// its trailing 255 octets masked (`192.0.2.255` reaches `192.0.2.0/24`,
/// `127.255.255.255` reaches `127.0.0.0/8`, `255.255.255.255` every IPv4 address).
fn in_reach_of(target: SocketAddr, src: SocketAddr) -> bool {
    let (std::net::IpAddr::V4(t), std::net::IpAddr::V4(s)) = (target.ip(), src.ip()) else {
        return false;
    };
    let (t, s) = (t.octets(), s.octets());
    let prefix = t.iter().rposition(|&o| o != 255).map_or(0, |i| i + 1);
    t[..prefix] == s[..prefix]
}

/// Maps a Vocket refusal to its ROTFL reason.
pub fn reason_for(r: &Refusal) -> Reason {
    match r {
        Refusal::Incompatible { .. } => Reason::Incompatible,
        Refusal::TooManyPeers => Reason::TooManyPeers,
        Refusal::PairTaken => Reason::PairTaken,
        Refusal::DuplicateIdentity => Reason::DuplicateIdentity,
        _ => Reason::Closing,
    }
}

impl Engine {
    /// An engine; `seed` drives peering ids and nonces.
    pub fn new(mut cfg: Config, seed: u64, now: Instant) -> Engine {
        cfg.max_datagram = cfg.max_datagram.max(MIN_DATAGRAM);
        let mut rng = StdRng::seed_from_u64(seed);
        let cookies = CookieJar::new(&mut rng, now);
        Engine {
            cfg,
            rng,
            locals: Slab::new(),
            connecters: Slab::new(),
            peerings: Slab::new(),
            by_local_id: HashMap::new(),
            by_remote_id: HashMap::new(),
            nonces: HashMap::new(),
            refused: HashMap::new(),
            refused_order: VecDeque::new(),
            cookies,
            timers: TimerHeap::new(),
            events: VecDeque::new(),
            out: VecDeque::new(),
            spare: Vec::new(),
            pool: BufPool::default(),
            reassembly_bytes: 0,
            unknown_budget: (now, UNKNOWN_REPLIES_PER_SEC),
            next_generation: 0,
            dropped: 0,
            cookies_sent: 0,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Sets the GSO segment limit (after the socket reported its capability).
    pub fn set_max_segments(&mut self, n: usize) {
        self.cfg.max_segments = n.max(1);
    }

    /// Number of peerings.
    pub fn peering_count(&self) -> usize {
        self.peerings.len()
    }

    /// What partial messages hold against the reassembly budget, bookkeeping included.
    pub fn reassembly_bytes(&self) -> usize {
        self.reassembly_bytes
    }

    /// Refusals remembered to answer OHAI retries (at most 1,024).
    pub fn remembered_refusals(&self) -> usize {
        self.refused.len()
    }

    /// The owning socket and Vocket peer of a peering.
    pub fn peer_of(&self, peering: PeeringId) -> Option<(u64, PeerId)> {
        let key = self.peering_key(peering)?;
        let peer = self.peerings[key].peer?;
        Some((self.owner_of(key), peer))
    }

    /// Stops a bound local accepting OHAI (its socket is closing); peerings stay.
    pub fn stop_accepting(&mut self, local: LocalId) {
        if let Some(l) = self.locals.get_mut(local) {
            l.bound = false;
        }
    }

    /// Whether datagrams from a local are still waiting to be sent.
    pub fn has_output(&self, local: LocalId) -> bool {
        self.out.iter().any(|b| b.local == local)
    }

    fn generation(&mut self) -> u32 {
        self.next_generation = self.next_generation.wrapping_add(1);
        self.next_generation
    }

    fn id(&mut self) -> u32 {
        loop {
            let id: u32 = self.rng.random();
            if id != 0 {
                return id;
            }
        }
    }

    fn peering_id(&self, key: usize) -> PeeringId {
        let g = self.peerings.get(key).map_or(0, |p| p.generation);
        (u64::from(g) << 32) | key as u64
    }

    fn peering_key(&self, id: PeeringId) -> Option<usize> {
        let key = (id & 0xffff_ffff) as usize;
        self.peerings
            .get(key)
            .filter(|p| u64::from(p.generation) == id >> 32)
            .map(|_| key)
    }

    /// Adds a local UDP socket; `bound` sockets accept OHAI.
    pub fn add_local(&mut self, owner: Owner, bound: bool) -> LocalId {
        self.locals.insert(Local { owner, bound })
    }

    /// Updates what a local announces.
    pub fn set_owner(&mut self, local: LocalId, owner: Owner) {
        if let Some(l) = self.locals.get_mut(local) {
            l.owner = owner;
        }
    }

    /// Removes a local socket with its connecters and peerings, saying goodbye to each.
    pub fn remove_local(&mut self, local: LocalId, now: Instant) {
        let keys: Vec<usize> = self
            .peerings
            .iter()
            .filter(|(_, p)| p.local == local)
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            if let Some(peer) = self.peerings.get(k).and_then(|p| p.peer) {
                let sock = self.owner_of(k);
                self.events.push_back(Event::Down {
                    sock,
                    peer,
                    why: "local socket closed",
                });
            }
            self.goodbye(k, now);
        }
        let cs: Vec<usize> = self
            .connecters
            .iter()
            .filter(|(_, c)| c.local == local)
            .map(|(k, _)| k)
            .collect();
        for c in cs {
            self.remove_connecter(c);
        }
        // Its queued datagrams (the goodbyes just written) stay: the caller sends them
        // before closing the socket, and drops what is left for a socket that is gone.
        if self.locals.contains(local) {
            self.locals.remove(local);
        }
    }

    /// Starts peering with `target`; returns the connecter. A broadcast target keeps
    /// looking for new peers after the first.
    pub fn connect(
        &mut self,
        local: LocalId,
        target: SocketAddr,
        broadcast: bool,
        reconnect: Duration,
        now: Instant,
    ) -> usize {
        let nonce = self.id();
        let generation = self.generation();
        let c = self.connecters.insert(Connecter {
            local,
            target,
            broadcast,
            nonce,
            reconnect,
            peerings: Vec::new(),
            next_ohai: None,
            generation,
            cookie: None,
            answered: HashSet::new(),
        });
        self.nonces.insert((local, nonce), c);
        self.send_ohai(c, now);
        c
    }

    /// Stops a connecter and ends its peerings.
    pub fn disconnect(&mut self, c: usize, now: Instant) {
        let Some(conn) = self.connecters.get(c) else {
            return;
        };
        for k in conn.peerings.clone() {
            if let Some(peer) = self.peerings.get(k).and_then(|p| p.peer) {
                let sock = self.owner_of(k);
                self.events.push_back(Event::Down {
                    sock,
                    peer,
                    why: "disconnected",
                });
            }
            self.goodbye(k, now);
        }
        self.remove_connecter(c);
    }

    /// Stops a connecter retrying, keeping its peerings (socket closing, linger).
    pub fn stop_connecter(&mut self, c: usize) {
        if let Some(conn) = self.connecters.get_mut(c) {
            conn.next_ohai = None;
        }
        for (_, p) in self.peerings.iter_mut() {
            if p.origin == Origin::Connected(c) {
                p.origin = Origin::Accepted;
            }
        }
        self.remove_connecter(c);
    }

    fn remove_connecter(&mut self, c: usize) {
        if let Some(conn) = self.connecters.try_remove(c) {
            self.nonces.remove(&(conn.local, conn.nonce));
        }
    }

    fn owner_of(&self, key: usize) -> u64 {
        self.peerings
            .get(key)
            .and_then(|p| self.locals.get(p.local))
            .map_or(0, |l| l.owner.sock)
    }

    fn hello(&self, local: LocalId, sender: u32) -> Option<Hello> {
        let o = &self.locals.get(local)?.owner;
        Some(Hello {
            sender,
            socket_type: o.socket_type,
            identity: o.identity.clone(),
        })
    }

    fn push_single(&mut self, local: LocalId, dst: SocketAddr, buf: Vec<u8>) {
        let seg = buf.len();
        self.out.push_back(Batch {
            local,
            dst,
            buf,
            seg,
            count: 1,
            closed: true,
        });
    }

    fn send_ohai(&mut self, c: usize, now: Instant) {
        let Some(conn) = self.connecters.get_mut(c) else {
            return;
        };
        conn.answered.clear(); // a new discovery round
        let (local, target, nonce) = (conn.local, conn.target, conn.nonce);
        let cookie = conn.cookie.unwrap_or_default();
        let ivl = if conn.peerings.is_empty() {
            self.cfg.ohai_ivl
        } else {
            self.cfg.discover_ivl
        };
        let peered_unicast = !conn.broadcast && !conn.peerings.is_empty();
        let generation = conn.generation;
        let Some(hello) = self.hello(local, nonce) else {
            return;
        };
        let mut buf = Vec::with_capacity(64);
        wire::encode_ohai(&mut buf, &hello, &cookie);
        self.push_single(local, target, buf);
        if let Some(conn) = self.connecters.get_mut(c) {
            conn.next_ohai = (!peered_unicast).then_some(now + ivl);
            if let Some(at) = conn.next_ohai {
                self.timers.arm(at, Timer::Ohai(c, generation));
            }
        }
    }

    // ----- incoming -------------------------------------------------------------

    /// A datagram arrived on `local` from `src`.
    pub fn handle_datagram(&mut self, local: LocalId, src: SocketAddr, data: Bytes, now: Instant) {
        let Some(l) = self.locals.get(local) else {
            return;
        };
        let sock = l.owner.sock;
        let d = match wire::decode(&data) {
            Ok(d) => d,
            Err(e) => return self.bad(sock, src, Failure::Wire(e)),
        };
        let len = data.len();
        match d {
            Datagram::Ohai(_, hello, cookie) => self.on_ohai(local, src, hello, &cookie, now),
            Datagram::Cookie(h, cookie) => self.on_cookie(local, src, h.peering, cookie),
            Datagram::OhaiOk(h, hello) => self.on_ohai_ok(local, src, h.peering, hello),
            Datagram::Rotfl(h, reason, about, text) => {
                self.on_rotfl(local, src, h.peering, reason, about, &text, now)
            }
            other => {
                let h = match &other {
                    Datagram::Hugz(h, _)
                    | Datagram::HugzOk(h)
                    | Datagram::Nom(h, _)
                    | Datagram::Sub(h, ..)
                    | Datagram::SubOk(h, _)
                    | Datagram::Kthxbai(h)
                    | Datagram::Window(h, _) => *h,
                    _ => return,
                };
                let Some(&key) = self.by_local_id.get(&(local, src, h.peering)) else {
                    return self.unknown_peering(local, src, h, len, now);
                };
                self.on_peering_datagram(key, other, len, now);
            }
        }
    }

    fn bad(&mut self, sock: u64, src: SocketAddr, what: Failure) {
        self.dropped += 1;
        self.events.push_back(Event::Failure {
            sock,
            addr: src,
            what,
        });
    }

    fn unknown_peering(
        &mut self,
        local: LocalId,
        src: SocketAddr,
        h: wire::Header,
        len: usize,
        now: Instant,
    ) {
        let sock = self.locals.get(local).map_or(0, |l| l.owner.sock);
        self.bad(sock, src, Failure::UnknownPeering(h.cmd));
        // Tell a peer that lost our state (we restarted) so it re-OHAIs instead of
        // waiting for its heartbeat timeout. Never answer answers, never with more
        // than came in (the source may be spoofed: §9), and rate-limit.
        if matches!(h.cmd, Cmd::Kthxbai | Cmd::HugzOk) || len < wire::SHORT_ROTFL {
            return;
        }
        if now.duration_since(self.unknown_budget.0) >= Duration::from_secs(1) {
            self.unknown_budget = (now, UNKNOWN_REPLIES_PER_SEC);
        }
        if self.unknown_budget.1 == 0 {
            return;
        }
        self.unknown_budget.1 -= 1;
        let mut buf = Vec::with_capacity(wire::SHORT_ROTFL);
        wire::encode_rotfl(&mut buf, 0, Reason::UnknownPeering, h.peering, "");
        self.push_single(local, src, buf);
    }

    fn on_ohai(
        &mut self,
        local: LocalId,
        src: SocketAddr,
        hello: Hello,
        cookie: &Cookie,
        now: Instant,
    ) {
        let Some(l) = self.locals.get(local) else {
            return;
        };
        let sock = l.owner.sock;
        if !l.bound {
            return self.bad(sock, src, Failure::Protocol("OHAI to a connecting socket"));
        }
        if hello.sender == 0 {
            return self.bad(sock, src, Failure::Protocol("OHAI with peering id 0"));
        }
        // §4.1: until the source proves it receives at its address, it gets a COOKIE
        // (smaller than the OHAI) and we keep nothing.
        let valid = self
            .cookies
            .check(&mut self.rng, now, local, src, hello.sender, cookie);
        if !valid {
            let cookie = self
                .cookies
                .make(&mut self.rng, now, local, src, hello.sender);
            let mut buf = Vec::with_capacity(wire::COOKIE_DATAGRAM);
            wire::encode_cookie(&mut buf, hello.sender, &cookie);
            self.cookies_sent += 1;
            self.push_single(local, src, buf);
            return;
        }
        // A retry of an OHAI we already answered.
        if let Some(&key) = self.by_remote_id.get(&(local, src, hello.sender)) {
            if let Some(p) = self.peerings.get(key)
                && p.peer.is_some()
            {
                let local_id = p.local_id;
                self.send_ohai_ok(local, src, hello.sender, local_id);
            }
            return;
        }
        let rkey = (local, src, hello.sender);
        if let Some(&(reason, at)) = self.refused.get(&rkey) {
            if now.duration_since(at) < REFUSAL_MEMORY {
                let mut buf = Vec::with_capacity(32);
                wire::encode_rotfl(&mut buf, hello.sender, reason, 0, "refused");
                self.push_single(local, src, buf);
                return;
            }
            self.refused.remove(&rkey);
        }
        let local_id = loop {
            let id = self.id();
            if !self.by_local_id.contains_key(&(local, src, id)) {
                break id;
            }
        };
        let generation = self.generation();
        let key = self.peerings.insert(Peering::new(
            generation,
            local,
            src,
            local_id,
            hello.sender,
            Origin::Accepted,
        ));
        self.by_local_id.insert((local, src, local_id), key);
        self.by_remote_id.insert((local, src, hello.sender), key);
        let peering = self.peering_id(key);
        self.events.push_back(Event::Up {
            peering,
            sock,
            hello,
            addr: src,
        });
    }

    fn send_ohai_ok(&mut self, local: LocalId, dst: SocketAddr, their_id: u32, our_id: u32) {
        let Some(hello) = self.hello(local, our_id) else {
            return;
        };
        let mut buf = Vec::with_capacity(64);
        wire::encode_ohai_ok(&mut buf, their_id, &hello);
        self.push_single(local, dst, buf);
    }

    /// A server asks us to prove our address (§4.1): OHAI again, echoing its cookie,
    /// if the COOKIE answers one of our live OHAIs (its header carries our nonce) from
    /// where we look for servers: the target of a unicast connect; for broadcast
    /// discovery, the broadcast's network and port, once per server and round. A
    /// COOKIE cannot make us send OHAIs anywhere else, or more often.
    fn on_cookie(&mut self, local: LocalId, src: SocketAddr, nonce: u32, cookie: Cookie) {
        let sock = self.locals.get(local).map_or(0, |l| l.owner.sock);
        let Some(&c) = self.nonces.get(&(local, nonce)) else {
            return self.bad(sock, src, Failure::Protocol("COOKIE for no OHAI of ours"));
        };
        let peered = self.by_local_id.contains_key(&(local, src, nonce));
        let Some(conn) = self.connecters.get_mut(c) else {
            return;
        };
        if conn.broadcast {
            if src.port() != conn.target.port() || !in_reach_of(conn.target, src) {
                return self.bad(
                    sock,
                    src,
                    Failure::Protocol("COOKIE from outside the broadcast"),
                );
            }
            // A server we are peered with answers too: if it restarted, our OHAI gets
            // an OHAI-OK with its new id (§4.2).
            if conn.answered.len() >= MAX_ANSWERED || !conn.answered.insert(src) {
                return;
            }
        } else {
            if src != conn.target {
                return self.bad(sock, src, Failure::Protocol("COOKIE from another address"));
            }
            if peered {
                return; // a late COOKIE
            }
            conn.cookie = Some(cookie);
        }
        let Some(hello) = self.hello(local, nonce) else {
            return;
        };
        let mut buf = Vec::with_capacity(64);
        wire::encode_ohai(&mut buf, &hello, &cookie);
        self.push_single(local, src, buf);
    }

    fn on_ohai_ok(&mut self, local: LocalId, src: SocketAddr, nonce: u32, hello: Hello) {
        let sock = self.locals.get(local).map_or(0, |l| l.owner.sock);
        // Only an OHAI-OK echoing one of our live nonces is accepted (§4.2): a blind
        // spoofer must guess 32 random bits.
        let Some(&c) = self.nonces.get(&(local, nonce)) else {
            return self.bad(sock, src, Failure::Protocol("OHAI-OK for no OHAI of ours"));
        };
        if hello.sender == 0 {
            return self.bad(sock, src, Failure::Protocol("OHAI-OK with peering id 0"));
        }
        if let Some(&key) = self.by_local_id.get(&(local, src, nonce)) {
            let same = self
                .peerings
                .get(key)
                .is_some_and(|p| p.remote_id == hello.sender);
            if same {
                return; // retry answered twice
            }
            // The server restarted and forgot us: the old peering is gone.
            if let Some(peer) = self.peerings.get(key).and_then(|p| p.peer) {
                self.events.push_back(Event::Down {
                    sock,
                    peer,
                    why: "peer restarted",
                });
            }
            self.remove_peering(key);
        }
        let generation = self.generation();
        let key = self.peerings.insert(Peering::new(
            generation,
            local,
            src,
            nonce,
            hello.sender,
            Origin::Connected(c),
        ));
        self.by_local_id.insert((local, src, nonce), key);
        self.by_remote_id.insert((local, src, hello.sender), key);
        if let Some(conn) = self.connecters.get_mut(c) {
            conn.peerings.push(key);
            if !conn.broadcast {
                conn.next_ohai = None; // peered: stop retrying
            }
        }
        let peering = self.peering_id(key);
        self.events.push_back(Event::Up {
            peering,
            sock,
            hello,
            addr: src,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rotfl(
        &mut self,
        local: LocalId,
        src: SocketAddr,
        header_id: u32,
        reason: Reason,
        about: u32,
        text: &[u8],
        now: Instant,
    ) {
        let sock = self.locals.get(local).map_or(0, |l| l.owner.sock);
        if reason == Reason::UnknownPeering {
            // The peer forgot the peering we address as `about`: drop it and re-OHAI.
            if let Some(&key) = self.by_remote_id.get(&(local, src, about)) {
                if let Some(peer) = self.peerings.get(key).and_then(|p| p.peer) {
                    self.events.push_back(Event::Down {
                        sock,
                        peer,
                        why: "peer forgot the peering",
                    });
                }
                self.drop_and_reconnect(key, now);
            }
            return;
        }
        if let Some(&key) = self.by_local_id.get(&(local, src, header_id)) {
            // A live peering refused after the fact (e.g. the peer's Vocket refused our OHAI-OK).
            if let Some(peer) = self.peerings.get(key).and_then(|p| p.peer) {
                self.events.push_back(Event::Down {
                    sock,
                    peer,
                    why: "refused by peer",
                });
            }
            self.remove_peering(key);
            return;
        }
        if self.nonces.contains_key(&(local, header_id)) {
            log::debug!(
                "udp: {src} refused us: {reason:?} ({})",
                String::from_utf8_lossy(text)
            );
            self.events.push_back(Event::Failure {
                sock,
                addr: src,
                what: Failure::Refused(reason),
            });
            return;
        }
        self.bad(sock, src, Failure::Protocol("ROTFL for nothing of ours"));
    }

    fn on_peering_datagram(&mut self, key: usize, d: Datagram, len: usize, now: Instant) {
        let sock = self.owner_of(key);
        let pid = self.peering_id(key);
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        let (src, Some(peer)) = (p.remote, p.peer) else {
            // Up, but not yet taken by its Vocket: the peer's first datagrams wait.
            if p.early.len() < super::peering::EARLY_MAX {
                p.early.push((d, len));
            }
            return;
        };
        match d {
            Datagram::Hugz(_, ttl) => {
                let ttl = (ttl != 0).then(|| Duration::from_millis(u64::from(ttl) * 100));
                // A HUGZ may be a stopped sender's probe (§6.4): tell it our window.
                self.send_window(key);
                self.events.push_back(Event::Input {
                    peering: pid,
                    sock,
                    peer,
                    input: Input::Ping {
                        ttl,
                        context: Bytes::new(),
                    },
                });
            }
            Datagram::HugzOk(_) => self.events.push_back(Event::Input {
                peering: pid,
                sock,
                peer,
                input: Input::Pong {
                    context: Bytes::new(),
                },
            }),
            Datagram::Kthxbai(_) => {
                self.events.push_back(Event::Down {
                    sock,
                    peer,
                    why: "goodbye",
                });
                self.drop_and_reconnect(key, now);
            }
            Datagram::SubOk(_, cseq) => self.on_sub_ok(key, cseq, now),
            Datagram::Window(_, delivered) => self.on_window(key, sock, src, delivered),
            Datagram::Sub(_, on, cseq, topic) => self.on_sub(key, on, cseq, topic),
            Datagram::Nom(_, body) => {
                self.on_nom(key, sock, src, peer, body, len, now);
                self.maybe_ack(key, now);
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_nom(
        &mut self,
        key: usize,
        sock: u64,
        src: SocketAddr,
        peer: PeerId,
        body: Bytes,
        datagram: usize,
        now: Instant,
    ) {
        let max = self.cfg.max_msg_size as u64;
        let pid = self.peering_id(key);
        for r in Records::new(body) {
            let r = match r {
                Ok(r) => r,
                Err(e) => return self.bad(sock, src, Failure::Wire(e)),
            };
            let Some(p) = self.peerings.get_mut(key) else {
                return;
            };
            match r {
                Record::Msg { dseq, rseq, body } => {
                    if !p.fresh(dseq) {
                        continue; // duplicate or late: at most once (§6.1)
                    }
                    p.rx_dseq = Some(dseq);
                    p.rx_unacked_bytes += body.len();
                    match wire::decode_frames(&body, max) {
                        Ok(msg) => self.events.push_back(Event::Input {
                            peering: pid,
                            sock,
                            peer,
                            input: Input::Message {
                                msg: unpin(msg, datagram),
                                seq: rseq,
                            },
                        }),
                        Err(e) => self.bad(sock, src, Failure::Wire(e)),
                    }
                }
                Record::Frag {
                    dseq,
                    rseq,
                    total,
                    offset,
                    chunk,
                } => self.on_fragment(
                    key,
                    sock,
                    src,
                    peer,
                    dseq,
                    rseq,
                    total as usize,
                    offset as usize,
                    chunk,
                    datagram,
                    now,
                ),
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_fragment(
        &mut self,
        key: usize,
        sock: u64,
        src: SocketAddr,
        peer: PeerId,
        dseq: u32,
        rseq: Option<u32>,
        total: usize,
        offset: usize,
        chunk: Bytes,
        datagram: usize,
        now: Instant,
    ) {
        let max = self.cfg.max_msg_size as u64;
        let pid = self.peering_id(key);
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        if !p.fresh(dseq) {
            return;
        }
        if total as u64 > wire::max_serialized(max) {
            return self.bad(
                sock,
                src,
                Failure::Protocol("fragmented message over the size limit"),
            );
        }
        // Everything partials hold, bookkeeping included, stays within the budget: a
        // piece that would pass it is dropped before anything is made or evicted.
        let budget = self.cfg.reassembly_budget;
        let idx = match p.partials.iter().position(|x| x.dseq == dseq) {
            Some(i) => {
                let part = &p.partials[i];
                if part.total != total {
                    return self.bad(
                        sock,
                        src,
                        Failure::Protocol("fragments disagree on the message length"),
                    );
                }
                if self.reassembly_bytes + part.charge_bound(offset, chunk.len(), datagram) > budget
                {
                    self.dropped += 1;
                    return;
                }
                i
            }
            None => {
                // Bounded: a few partials per peering (the oldest makes room).
                let deadline = now + self.cfg.reassembly_timeout;
                let fresh = Partial::new(dseq, rseq, total, deadline);
                let evicted = if p.partials.len() >= self.cfg.max_partials {
                    p.partials[0].charge()
                } else {
                    0
                };
                if self.reassembly_bytes - evicted
                    + fresh.charge_bound(offset, chunk.len(), datagram)
                    > budget
                {
                    self.dropped += 1;
                    return;
                }
                if p.partials.len() >= self.cfg.max_partials {
                    p.partials.remove(0);
                    self.reassembly_bytes -= evicted;
                }
                p.partials.push(fresh);
                // One expiry timer per peering at a time, for its oldest partial.
                if p.reassembly_at.is_none() {
                    p.reassembly_at = Some(deadline);
                    self.timers
                        .arm(deadline, Timer::Reassembly(key, p.generation));
                }
                p.partials.len() - 1
            }
        };
        let p = &mut self.peerings[key];
        let part = &mut p.partials[idx];
        let before = part.charge();
        if total >= POOL_MIN && part.wants_buffer(offset) {
            part.give_buffer(self.pool.take(total));
        }
        let added = part.add(offset, chunk, datagram);
        self.reassembly_bytes = self.reassembly_bytes + part.charge() - before;
        match added {
            Ok(Piece::Added) => {}
            Ok(Piece::Duplicate) => return,
            Err(e) => {
                let part = p.partials.remove(idx);
                self.reassembly_bytes -= part.charge();
                return self.bad(sock, src, Failure::Reassembly(e));
            }
        }
        if !p.partials[idx].is_complete() {
            return;
        }
        let part = p.partials.remove(idx);
        self.reassembly_bytes -= part.charge();
        p.rx_dseq = Some(dseq);
        p.rx_unacked_bytes += part.total;
        // Older partials can never complete in order now.
        let stale: usize = p
            .partials
            .iter()
            .filter(|x| !super::peering::newer(x.dseq, dseq))
            .map(Partial::charge)
            .sum();
        p.partials.retain(|x| super::peering::newer(x.dseq, dseq));
        self.reassembly_bytes -= stale;
        let seq = part.rseq;
        let body = match part.into_vec() {
            v if v.len() >= POOL_MIN => self.pool.wrap(v),
            v => Bytes::from(v),
        };
        match wire::decode_frames(&body, max) {
            Ok(msg) => self.events.push_back(Event::Input {
                peering: pid,
                sock,
                peer,
                input: Input::Message { msg, seq },
            }),
            Err(e) => self.bad(sock, src, Failure::Wire(e)),
        }
    }

    fn on_sub(&mut self, key: usize, on: bool, cseq: u32, topic: Bytes) {
        let sock = self.owner_of(key);
        let pid = self.peering_id(key);
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        let Some(peer) = p.peer else { return };
        if cseq == p.ctl_in_next {
            p.ctl_in_next = p.ctl_in_next.wrapping_add(1);
            let input = if on {
                Input::Subscribe(topic)
            } else {
                Input::Cancel(topic)
            };
            self.events.push_back(Event::Input {
                peering: pid,
                sock,
                peer,
                input,
            });
        } else if !super::peering::newer(cseq, p.ctl_in_next) {
            // A retransmission of one we applied: our SUB-OK was lost. Ack again.
        } else {
            return; // out of order: the sender retransmits in order (§7)
        }
        let (local, dst, rid) = (p.local, p.remote, p.remote_id);
        self.flush_peering(key);
        let mut buf = Vec::with_capacity(12);
        wire::encode_sub_ok(&mut buf, rid, cseq);
        self.push_single(local, dst, buf);
    }

    fn on_sub_ok(&mut self, key: usize, cseq: u32, now: Instant) {
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        if p.ctl_out.is_empty() || cseq != p.ctl_seq {
            return;
        }
        p.ctl_out.pop_front();
        p.ctl_seq = p.ctl_seq.wrapping_add(1);
        p.ctl_deadline = None;
        if !p.ctl_out.is_empty() {
            p.ctl_rto = self.cfg.control_rto;
            self.send_control_head(key, now);
        }
    }

    fn send_control_head(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        let Some((on, topic)) = p.ctl_out.front() else {
            return;
        };
        let mut buf = Vec::with_capacity(topic.len() + 12);
        wire::encode_sub(&mut buf, p.remote_id, *on, p.ctl_seq, topic);
        let at = now + p.ctl_rto;
        p.ctl_deadline = Some(at);
        let (local, dst, generation) = (p.local, p.remote, p.generation);
        self.timers.arm(at, Timer::Control(key, generation));
        self.flush_peering(key);
        self.push_single(local, dst, buf);
    }

    // ----- flow control (§6.4) -------------------------------------------------------

    /// Whether the window lets a peering send another message now.
    pub fn can_send(&self, peering: PeeringId) -> bool {
        self.peering_key(peering)
            .is_some_and(|k| self.window_open(k))
    }

    fn window_open(&self, key: usize) -> bool {
        let p = &self.peerings[key];
        p.tx_dseq.wrapping_sub(p.acked) < self.cfg.window
            && p.inflight_bytes < self.cfg.window_bytes
    }

    /// The caller found the window closed: probe for a lost WINDOW until it opens.
    pub fn blocked(&mut self, peering: PeeringId, now: Instant) {
        let Some(key) = self.peering_key(peering) else {
            return;
        };
        let p = &mut self.peerings[key];
        if p.probe_deadline.is_none() {
            let at = now + self.cfg.probe_ivl;
            p.probe_deadline = Some(at);
            self.timers.arm(at, Timer::Probe(key, p.generation));
        }
    }

    /// The owner's application pipe is full: stop acknowledging, so the sender stops.
    pub fn pause(&mut self, peering: PeeringId) {
        if let Some(key) = self.peering_key(peering) {
            self.peerings[key].paused = true;
        }
    }

    /// The application pipe has room again: acknowledge what was delivered.
    pub fn resume(&mut self, peering: PeeringId) {
        if let Some(key) = self.peering_key(peering) {
            self.peerings[key].paused = false;
            self.send_window(key);
        }
    }

    fn on_window(&mut self, key: usize, sock: u64, src: SocketAddr, delivered: u32) {
        let peering = self.peering_id(key);
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        // Acknowledgements are cumulative; a stale one says nothing new.
        if !super::peering::newer(delivered, p.acked) {
            return;
        }
        // §6.4: nobody delivered what was never sent; taken, it would close the
        // window for good.
        if super::peering::newer(delivered, p.tx_dseq) {
            return self.bad(sock, src, Failure::Protocol("WINDOW beyond what was sent"));
        }
        p.acked = delivered;
        p.probe_deadline = None;
        while let Some(&(dseq, bytes)) = p.inflight.front() {
            if super::peering::newer(dseq, delivered) {
                break;
            }
            p.inflight.pop_front();
            p.inflight_bytes -= bytes;
        }
        if p.inflight.is_empty() && p.inflight.capacity() > 64 {
            p.inflight = std::collections::VecDeque::new(); // an idle peering keeps nothing
        }
        if self.window_open(key) {
            self.events.push_back(Event::Writable { peering });
        }
    }

    /// After delivering: acknowledge now if a quarter of the window is unacknowledged,
    /// else within the ack delay.
    fn maybe_ack(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        if p.paused {
            return;
        }
        let delivered = p.rx_dseq.unwrap_or(0);
        let unacked = delivered.wrapping_sub(p.rx_acked);
        if unacked == 0 {
            return;
        }
        if unacked >= (self.cfg.window / 4).max(1)
            || p.rx_unacked_bytes >= self.cfg.window_bytes / 4
        {
            self.send_window(key);
        } else if p.ack_deadline.is_none() {
            let at = now + self.cfg.ack_delay;
            p.ack_deadline = Some(at);
            self.timers.arm(at, Timer::Ack(key, p.generation));
        }
    }

    fn send_window(&mut self, key: usize) {
        let Some(p) = self.peerings.get_mut(key) else {
            return;
        };
        if p.paused || p.peer.is_none() {
            return;
        }
        let delivered = p.rx_dseq.unwrap_or(0);
        p.rx_acked = delivered;
        p.rx_unacked_bytes = 0;
        p.ack_deadline = None;
        let (local, dst, rid) = (p.local, p.remote, p.remote_id);
        let mut buf = Vec::with_capacity(12);
        wire::encode_window(&mut buf, rid, delivered);
        self.flush_peering(key);
        self.push_single(local, dst, buf);
    }

    // ----- decisions and outgoing --------------------------------------------------

    /// The owner's Vocket accepted the peering: answer the OHAI (server side).
    pub fn accept(&mut self, peering: PeeringId, peer: PeerId, now: Instant) {
        let Some(key) = self.peering_key(peering) else {
            return;
        };
        let p = &mut self.peerings[key];
        p.peer = Some(peer);
        let early = std::mem::take(&mut p.early);
        if p.origin == Origin::Accepted {
            let (local, dst, rid, lid) = (p.local, p.remote, p.remote_id, p.local_id);
            self.send_ohai_ok(local, dst, rid, lid);
        }
        for (d, len) in early {
            self.on_peering_datagram(key, d, len, now);
        }
    }

    /// The owner's Vocket refused the peering: ROTFL, and forget it.
    pub fn refuse(&mut self, peering: PeeringId, refusal: &Refusal, now: Instant) {
        let Some(key) = self.peering_key(peering) else {
            return;
        };
        let p = &self.peerings[key];
        let (local, dst, rid) = (p.local, p.remote, p.remote_id);
        let accepted = p.origin == Origin::Accepted;
        let reason = reason_for(refusal);
        let mut buf = Vec::with_capacity(64);
        wire::encode_rotfl(&mut buf, rid, reason, 0, &refusal.to_string());
        self.push_single(local, dst, buf);
        if accepted {
            let k = (local, dst, rid);
            self.refused.insert(k, (reason, now));
            self.refused_order.push_back((k, now));
            // Forget the oldest beyond the bound; entries of refusals made again since
            // (a newer time in the map) are skipped.
            while self.refused_order.len() > MAX_REFUSALS {
                if let Some((old, at)) = self.refused_order.pop_front()
                    && self.refused.get(&old).is_some_and(|&(_, t)| t == at)
                {
                    self.refused.remove(&old);
                }
            }
        }
        self.remove_peering(key);
    }

    /// Queues a Vocket transmit for a peering. Returns false if the peering is gone.
    pub fn send(&mut self, peering: PeeringId, t: Transmit, now: Instant) -> bool {
        let Some(key) = self.peering_key(peering) else {
            return false;
        };
        match t {
            Transmit::Message { msg, seq } => self.send_message(key, &msg, seq),
            Transmit::Subscribe(topic) | Transmit::Cancel(topic)
                if topic.len() > self.cfg.max_datagram - 16 =>
            {
                log::warn!(
                    "subscription topic of {} bytes does not fit a datagram; dropped",
                    topic.len()
                );
            }
            Transmit::Subscribe(topic) => self.queue_control(key, true, topic, now),
            Transmit::Cancel(topic) => self.queue_control(key, false, topic, now),
            Transmit::Ping { ttl, .. } => {
                let p = &self.peerings[key];
                let (local, dst, rid) = (p.local, p.remote, p.remote_id);
                let deci = ttl.map_or(0, |t| {
                    u16::try_from(t.as_millis() / 100).unwrap_or(u16::MAX)
                });
                let mut buf = Vec::with_capacity(10);
                wire::encode_hugz(&mut buf, rid, deci);
                self.flush_peering(key);
                self.push_single(local, dst, buf);
            }
            Transmit::Pong { .. } => {
                let p = &self.peerings[key];
                let (local, dst, rid) = (p.local, p.remote, p.remote_id);
                let mut buf = Vec::with_capacity(8);
                wire::put_header(&mut buf, Cmd::HugzOk, rid);
                self.flush_peering(key);
                self.push_single(local, dst, buf);
            }
        }
        true
    }

    fn queue_control(&mut self, key: usize, on: bool, topic: Bytes, now: Instant) {
        let p = &mut self.peerings[key];
        p.ctl_out.push_back((on, topic));
        if p.ctl_out.len() == 1 {
            p.ctl_rto = self.cfg.control_rto;
            self.send_control_head(key, now);
        }
    }

    fn send_message(&mut self, key: usize, msg: &Msg, rseq: Option<u32>) {
        let flen = wire::frames_len(msg);
        // Measured as the receiver measures it (Msg::cost), so what we send is taken.
        if msg.cost() > self.cfg.max_msg_size as u64 {
            log::warn!(
                "message of {} bytes in {} frames over the UDP limit {}; dropped",
                msg.byte_len(),
                msg.len(),
                self.cfg.max_msg_size
            );
            self.dropped += 1;
            return;
        }
        let max = self.cfg.max_datagram;
        let hdr = wire::record_header_len(rseq);
        let p = &mut self.peerings[key];
        p.tx_dseq = p.tx_dseq.wrapping_add(1);
        let dseq = p.tx_dseq;
        p.inflight.push_back((dseq, flen));
        p.inflight_bytes += flen;
        if wire::HEADER_LEN + hdr + flen <= max {
            if p.cur.len() + hdr + flen > max {
                self.seal(key);
            }
            let p = &mut self.peerings[key];
            if p.cur.is_empty() {
                p.cur.reserve(max);
                wire::put_header(&mut p.cur, Cmd::Nom, p.remote_id);
            }
            wire::put_record_header(&mut p.cur, wire::RECORD_MSG, flen, dseq, rseq);
            wire::encode_frames(&mut p.cur, msg);
            return;
        }
        // Too large for one datagram: fragments, each in a datagram of its own (§5.3),
        // written straight into the GSO batch from the message's frames.
        let room = max - wire::HEADER_LEN - hdr - 8;
        self.seal(key);
        let remote_id = self.peerings[key].remote_id;
        let mut frames = wire::FramesReader::new(msg);
        let mut offset = 0;
        while offset < flen {
            let n = room.min(flen - offset);
            let len = wire::HEADER_LEN + hdr + 8 + n;
            let buf = self.batch_for(key, len);
            let start = buf.len();
            wire::put_header(buf, Cmd::Nom, remote_id);
            wire::put_record_header(buf, wire::RECORD_FRAG, n + 8, dseq, rseq);
            buf.extend_from_slice(&(flen as u32).to_be_bytes());
            buf.extend_from_slice(&(offset as u32).to_be_bytes());
            frames.read_into(buf, n);
            debug_assert_eq!(
                buf.len() - start,
                len,
                "the datagram is as long as announced"
            );
            offset += n;
        }
    }

    /// Moves the datagram being packed into the peering's GSO batch: appended to it
    /// (its buffer then stays for the next datagram; `flush_peering` frees it), or, as
    /// it is, the first of a new one.
    fn seal(&mut self, key: usize) {
        let max_seg = self.cfg.max_segments;
        let p = &mut self.peerings[key];
        let len = p.cur.len();
        if len == 0 {
            return;
        }
        if let Some(b) = p.batch.as_mut().filter(|b| b.takes(len, max_seg)) {
            b.buf.extend_from_slice(&p.cur);
            b.appended(len);
            p.cur.clear();
            return;
        }
        if let Some(b) = p.batch.take() {
            self.out.push_back(b);
        }
        p.batch = Some(Batch::new(p.local, p.remote, std::mem::take(&mut p.cur)));
    }

    /// The buffer to write a datagram of `len` bytes to (fragments): the peering's GSO
    /// batch when it takes one more of that length, else a new batch with room for a
    /// run of them (the old one goes out). The caller writes exactly `len` bytes.
    fn batch_for(&mut self, key: usize, len: usize) -> &mut Vec<u8> {
        let max_seg = self.cfg.max_segments;
        let p = &mut self.peerings[key];
        if let Some(b) = p.batch.take_if(|b| !b.takes(len, max_seg)) {
            self.out.push_back(b);
        }
        match &mut p.batch {
            Some(b) => b.appended(len),
            None => {
                let room = (len * max_seg).clamp(len, BATCH_BYTES.max(len));
                let buf = match self.spare.pop() {
                    Some(buf) if buf.capacity() >= room => buf,
                    _ => Vec::with_capacity(room),
                };
                let mut b = Batch::new(p.local, p.remote, buf);
                b.seg = len;
                p.batch = Some(b);
            }
        }
        let Some(b) = p.batch.as_mut() else {
            unreachable!("a batch was just made")
        };
        &mut b.buf
    }

    /// Ends packing for a peering: what it has goes out.
    pub fn flush(&mut self, peering: PeeringId) {
        if let Some(key) = self.peering_key(peering) {
            self.flush_peering(key);
        }
    }

    fn flush_peering(&mut self, key: usize) {
        self.seal(key);
        let p = &mut self.peerings[key];
        p.cur = Vec::new(); // idle peerings hold no buffer
        if let Some(b) = p.batch.take() {
            self.out.push_back(b);
        }
    }

    /// Ends a peering the Vocket dropped (or the socket closed): KTHXBAI, forget it.
    pub fn close(&mut self, peering: PeeringId, now: Instant) {
        if let Some(key) = self.peering_key(peering) {
            self.flush_peering(key);
            self.goodbye(key, now);
        }
    }

    fn goodbye(&mut self, key: usize, now: Instant) {
        let Some(p) = self.peerings.get(key) else {
            return;
        };
        let (local, dst, rid) = (p.local, p.remote, p.remote_id);
        let mut buf = Vec::with_capacity(8);
        wire::put_header(&mut buf, Cmd::Kthxbai, rid);
        self.push_single(local, dst, buf);
        self.drop_and_reconnect(key, now);
    }

    /// Forgets a peering; its connecter (unicast) starts OHAI again after its interval.
    fn drop_and_reconnect(&mut self, key: usize, now: Instant) {
        let origin = self.peerings.get(key).map(|p| p.origin);
        self.remove_peering(key);
        if let Some(Origin::Connected(c)) = origin {
            let next_nonce = self.id();
            let generation = self.generation();
            let Some(conn) = self.connecters.get_mut(c) else {
                return;
            };
            conn.peerings.retain(|&k| k != key);
            if conn.peerings.is_empty() && conn.next_ohai.is_none() {
                // A fresh nonce: a stale OHAI-OK for the old one cannot revive it (and
                // the old cookie, made for the old nonce, is no good).
                let old = conn.nonce;
                conn.nonce = next_nonce;
                conn.cookie = None;
                conn.generation = generation;
                let at = now + conn.reconnect;
                conn.next_ohai = Some(at);
                let local = conn.local;
                self.nonces.remove(&(local, old));
                self.nonces.insert((local, next_nonce), c);
                self.timers.arm(at, Timer::Ohai(c, generation));
            }
        }
    }

    fn remove_peering(&mut self, key: usize) {
        let Some(p) = self.peerings.try_remove(key) else {
            return;
        };
        self.by_local_id.remove(&(p.local, p.remote, p.local_id));
        self.by_remote_id.remove(&(p.local, p.remote, p.remote_id));
        self.reassembly_bytes -= p.reassembly_charge();
        if let Origin::Connected(c) = p.origin
            && let Some(conn) = self.connecters.get_mut(c)
        {
            conn.peerings.retain(|&k| k != key);
        }
        if let Some(b) = p.batch {
            self.out.push_back(b);
        }
    }

    // ----- time and output ------------------------------------------------------------

    /// The next batch to send, without removing it.
    pub fn peek_batch(&self) -> Option<OutBatch<'_>> {
        self.out.front().map(|b| OutBatch {
            local: b.local,
            dst: b.dst,
            buf: &b.buf,
            seg: b.seg,
            count: b.count,
        })
    }

    /// Removes the batch [`Engine::peek_batch`] showed (it was sent, or cannot be).
    pub fn pop_batch(&mut self) {
        if let Some(b) = self.out.pop_front()
            && b.buf.capacity() >= BATCH_BYTES
            && self.spare.len() < SPARE_BATCHES
        {
            let mut buf = b.buf;
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Batches waiting to be sent.
    pub fn queued_batches(&self) -> usize {
        self.out.len()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Time passed: OHAI retries, control retransmissions, reassembly expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, t)) = self.timers.pop_expired(now) {
            match t {
                Timer::Ohai(c, generation) => {
                    if self
                        .connecters
                        .get(c)
                        .is_some_and(|x| x.generation == generation && x.next_ohai == Some(at))
                    {
                        self.send_ohai(c, now);
                    }
                }
                Timer::Control(key, generation) => {
                    let Some(p) = self.peerings.get_mut(key) else {
                        continue;
                    };
                    if p.generation != generation || p.ctl_deadline != Some(at) {
                        continue;
                    }
                    p.ctl_rto = (p.ctl_rto * 2).min(Duration::from_secs(1));
                    self.send_control_head(key, now);
                }
                Timer::Ack(key, generation) => {
                    let due = self
                        .peerings
                        .get(key)
                        .is_some_and(|p| p.generation == generation && p.ack_deadline == Some(at));
                    if due {
                        self.send_window(key);
                    }
                }
                Timer::Probe(key, generation) => {
                    let Some(p) = self.peerings.get_mut(key) else {
                        continue;
                    };
                    if p.generation != generation || p.probe_deadline != Some(at) {
                        continue;
                    }
                    p.probe_deadline = None;
                    if !self.window_open(key) {
                        let p = &self.peerings[key];
                        let (local, dst, rid) = (p.local, p.remote, p.remote_id);
                        let mut buf = Vec::with_capacity(10);
                        wire::encode_hugz(&mut buf, rid, 0);
                        self.push_single(local, dst, buf);
                        let peering = self.peering_id(key);
                        self.blocked(peering, now);
                    }
                }
                Timer::Reassembly(key, generation) => {
                    let Some(p) = self.peerings.get_mut(key) else {
                        continue;
                    };
                    if p.generation != generation || p.reassembly_at != Some(at) {
                        continue;
                    }
                    let expired: usize = p
                        .partials
                        .iter()
                        .filter(|x| x.deadline <= now)
                        .map(Partial::charge)
                        .sum();
                    p.partials.retain(|x| x.deadline > now);
                    self.reassembly_bytes -= expired;
                    p.reassembly_at = p.partials.iter().map(|x| x.deadline).min();
                    if let Some(next) = p.reassembly_at {
                        self.timers.arm(next, Timer::Reassembly(key, generation));
                    }
                }
            }
        }
    }
}
