//! A transport for byte streams, generic over the network (TCP, TLS over TCP, Unix
//! sockets) and over the session protocol spoken on each link (ZMTP 3.1).
//!
//! It owns listeners, connections and reconnecting endpoints: accept, non-blocking
//! connect, reconnect with libzmq's RECONNECT_IVL/RECONNECT_IVL_MAX backoff and jitter,
//! the handshake timeout, reading with backpressure (a paused peering is not read, so
//! TCP flow control pushes back on the sender), and coalesced vectored writes. A
//! transport crate supplies a [`Network`] and gets a full [`crate::runtime::Transport`].

mod conn;
mod links;
pub mod tcp;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt;
use std::io::{self, IoSlice};
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use slab::Slab;

use self::conn::{Conn, Origin, State};
use crate::pattern::{ConnId, DownReason};
use crate::runtime::{Core, SocketId, Transport};
pub use crate::session::{
    Local, OutBuf, ProtocolError, Role, Session, SessionEvent, VectoredWrite,
};
use crate::{Endpoint, Error, Result, SocketOptions, SocketType};

/// One established (or establishing) byte-stream link.
pub trait Link: mio::event::Source + Send + 'static {
    /// Reads available bytes (`WouldBlock` when none; `Ok(0)` at end of stream).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from several buffers.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Whether a non-blocking connect has completed (`Err` if it failed).
    fn connected(&mut self) -> io::Result<bool>;
    /// Pushes out bytes the link buffers itself (TLS records). `Ok(true)` when none remain.
    fn flush_link(&mut self) -> io::Result<bool> {
        Ok(true)
    }
    /// Link metadata (`"cert-subject"` for TLS).
    fn meta(&self, key: &str) -> Option<String> {
        let _ = key;
        None
    }
    /// An identity the link itself vouches for (a verified certificate's name), used
    /// instead of the one the peer announces when the transport is set up to.
    fn peer_identity(&self) -> Option<Bytes> {
        None
    }
}

/// How a scheme listens, accepts and connects.
pub trait Network: Send + 'static {
    /// A listening socket.
    type Listener: mio::event::Source + Send + 'static;
    /// A connection.
    type Link: Link;
    /// A resolved connect target.
    type Target: Clone + Send + fmt::Debug + 'static;

    /// Opens a listener; returns it and the endpoint actually bound (`scheme://addr`).
    fn listen(
        &mut self,
        endpoint: &Endpoint,
        opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)>;
    /// Accepts one pending connection and its peer address (`WouldBlock` when none).
    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)>;
    /// Resolves a connect endpoint (once, at `connect`).
    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target>;
    /// Starts a non-blocking connect; returns the link and the peer address.
    fn connect(
        &mut self,
        target: &Self::Target,
        opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)>;
    /// Checks, at `connect` time, that a socket's options let it connect at all, so a
    /// configuration mistake is an error for the application, not a silent retry loop.
    fn check_connect(&self, opts: &SocketOptions) -> Result<()> {
        let _ = opts;
        Ok(())
    }
}

/// Stop pulling from the Vocket when this much is waiting to be written.
const OUT_HIGH: usize = 256 * 1024;
/// First read size; grows while reads fill it.
const READ_MIN: usize = 16 * 1024;
const READ_MAX: usize = 256 * 1024;

/// What one link may read and decode per turn of the event loop before the others get
/// theirs: its bytes read, plus [`EVENT_COST`] per decoded event. The link is read again
/// on the next turn. Also what bounds the messages one turn can queue for an
/// application that set no RCVHWM (0: no limit, as in libzmq).
const READ_BUDGET: usize = 256 * 1024;
/// What a decoded event (a message, a command) costs against [`READ_BUDGET`], so a
/// flood of tiny messages yields as often as a stream of large ones.
const EVENT_COST: usize = 64;

const LISTENER_BIT: usize = 1 << 60;
const TIMER_HANDSHAKE: u64 = 1;
const TIMER_RECONNECT: u64 = 2;
/// A link stopped on its read budget: read it again.
const TIMER_READ: u64 = 3;

/// A transport timer key: a kind (0 to 3), the generation of the slab entry it is
/// for (so a timer of a reused slot is recognised as stale) and the slab key.
pub fn timer_key(kind: u64, generation: u32, key: usize) -> u64 {
    (kind << 62) | (u64::from(generation & 0x3fff_ffff) << 32) | (key as u64 & 0xffff_ffff)
}

/// The parts of a [`timer_key`]: kind, generation, slab key.
pub fn split_timer_key(k: u64) -> (u64, u32, usize) {
    (
        k >> 62,
        ((k >> 32) & 0x3fff_ffff) as u32,
        (k & 0xffff_ffff) as usize,
    )
}

/// A peering's [`ConnId`] from its slab key and generation.
pub fn conn_id(generation: u32, key: usize) -> ConnId {
    (u64::from(generation) << 32) | key as u64
}

/// The parts of a [`conn_id`]: generation, slab key.
pub fn split_conn_id(id: ConnId) -> (u32, usize) {
    ((id >> 32) as u32, (id & 0xffff_ffff) as usize)
}

struct ListenerEntry<L> {
    sock: SocketId,
    listener: L,
    /// The endpoint as bound and as asked for; `unbind` accepts either.
    bound: String,
    asked: String,
}

struct Connecter<T> {
    sock: SocketId,
    endpoint: String,
    target: T,
    conn: Option<usize>,
    ivl: Duration,
    generation: u32,
}

#[derive(Default)]
struct SockLinks {
    listeners: Vec<usize>,
    connecters: Vec<usize>,
    conns: FxHashSet<usize>,
}

/// A [`Transport`] for any byte-stream [`Network`] carrying any [`Session`].
pub struct StreamTransport<N: Network, S: Session> {
    net: N,
    listeners: Slab<ListenerEntry<N::Listener>>,
    conns: Slab<Conn<N::Link, S>>,
    connecters: Slab<Connecter<N::Target>>,
    sockets: FxHashMap<SocketId, SockLinks>,
    next_generation_value: u32,
    supports: fn(SocketType) -> bool,
}

impl<N: Network, S: Session> fmt::Debug for StreamTransport<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTransport")
            .field("listeners", &self.listeners.len())
            .field("conns", &self.conns.len())
            .field("connecters", &self.connecters.len())
            .finish()
    }
}

impl<N: Network, S: Session> StreamTransport<N, S> {
    /// A transport over `net`, carrying every socket type.
    pub fn new(net: N) -> Self {
        StreamTransport {
            net,
            listeners: Slab::new(),
            conns: Slab::new(),
            connecters: Slab::new(),
            sockets: FxHashMap::default(),
            next_generation_value: 1,
            supports: |_| true,
        }
    }

    /// The network, for configuration.
    pub fn network_mut(&mut self) -> &mut N {
        &mut self.net
    }

    /// Number of links (established or handshaking).
    pub fn link_count(&self) -> usize {
        self.conns.len()
    }

    fn next_generation(&mut self) -> u32 {
        self.next_generation_value = self.next_generation_value.wrapping_add(1) & 0x3fff_ffff;
        self.next_generation_value
    }

    fn links(&mut self, sock: SocketId) -> &mut SockLinks {
        self.sockets.entry(sock).or_default()
    }

    fn local(core: &Core, sock: SocketId) -> Option<Local> {
        let opts = core.options(sock)?;
        Some(Local::new(core.socket_type(sock)?, opts))
    }

    /// Takes a new link into the table, registers it and starts its session.
    fn add_conn(
        &mut self,
        core: &mut Core,
        sock: SocketId,
        mut link: N::Link,
        peer: String,
        origin: Origin,
    ) {
        let Some(local) = Self::local(core, sock) else {
            return;
        };
        let role = match origin {
            Origin::Accepted => Role::Server,
            Origin::Connected(_) => Role::Client,
        };
        let generation = self.next_generation();
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = core
            .registry()
            .register(&mut link, mio::Token(key), interest)
        {
            log::warn!("{sock}: cannot register link to {peer}: {e}");
            return;
        }
        let address = format!("{}://{peer}", core.scheme());
        let connecting = matches!(origin, Origin::Connected(_));
        entry.insert(Conn::new(
            generation,
            sock,
            link,
            S::new(&local, role),
            address,
            origin,
            connecting,
        ));
        self.links(sock).conns.insert(key);
        if let Origin::Connected(c) = origin
            && let Some(c) = self.connecters.get_mut(c)
        {
            c.conn = Some(key);
        }
        if let Some(ivl) = core.options(sock).and_then(|o| o.handshake_ivl) {
            core.set_timer(
                core.now() + ivl,
                timer_key(TIMER_HANDSHAKE, generation, key),
            );
        }
        if !connecting {
            self.start_session(core, key);
        }
    }

    fn start_session(&mut self, core: &mut Core, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.state = State::Handshaking;
        c.session.start(&mut c.out);
        self.write(core, key);
    }

    /// Closes a link. `notify`: tell the Vocket (it does not know yet).
    fn close_conn(&mut self, core: &mut Core, key: usize, notify: bool) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        let _ = core.registry().deregister(&mut c.link);
        if let Some(l) = self.sockets.get_mut(&c.sock) {
            l.conns.remove(&key);
        }
        if notify && let Some(p) = c.peer {
            core.peer_down(c.sock, p);
        }
        if let Origin::Connected(ck) = c.origin {
            let up = c.peer.is_some();
            self.schedule_reconnect(core, ck, key, up);
        }
    }

    fn fail(&mut self, core: &mut Core, key: usize, reason: &dyn fmt::Display) {
        if let Some(c) = self.conns.get(key) {
            core.link_failed(c.sock, c.peer.is_some(), &c.address.clone(), reason);
        }
        self.close_conn(core, key, true);
    }

    fn schedule_reconnect(&mut self, core: &mut Core, ck: usize, old_conn: usize, was_up: bool) {
        let Some(opts) = self
            .connecters
            .get(ck)
            .and_then(|c| core.options(c.sock))
            .cloned()
        else {
            return;
        };
        let generation = self.next_generation();
        let Some(c) = self.connecters.get_mut(ck) else {
            return;
        };
        if c.conn != Some(old_conn) {
            return;
        }
        c.conn = None;
        let Some(base) = opts.reconnect_ivl else {
            return;
        };
        if was_up {
            c.ivl = base;
        }
        let wait = reconnect_wait(&mut c.ivl, base, opts.reconnect_ivl_max, core.rng());
        c.generation = generation;
        core.set_timer(
            core.now() + wait,
            timer_key(TIMER_RECONNECT, generation, ck),
        );
    }

    fn attempt(&mut self, core: &mut Core, ck: usize) {
        let Some(c) = self.connecters.get(ck) else {
            return;
        };
        if c.conn.is_some() {
            return;
        }
        let (sock, target) = (c.sock, c.target.clone());
        let Some(opts) = core.options(sock).cloned() else {
            return;
        };
        match self.net.connect(&target, &opts) {
            Ok((link, peer)) => self.add_conn(core, sock, link, peer, Origin::Connected(ck)),
            Err(e) => {
                log::debug!("{sock}: connect to {target:?} failed: {e}");
                // Pretend a link existed so the usual backoff applies.
                let fake = usize::MAX;
                if let Some(c) = self.connecters.get_mut(ck) {
                    c.conn = Some(fake);
                }
                self.schedule_reconnect(core, ck, fake, false);
            }
        }
    }

    fn on_readable(&mut self, core: &mut Core, key: usize) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            if c.paused || c.state == State::Closing {
                return;
            }
            if let Some(peer) = c.peer
                && core.admit(c.sock, peer) == crate::pattern::Flow::Pause
            {
                c.paused = true;
                return;
            }
            // Decode what is already buffered before reading more.
            loop {
                let Some(c) = self.conns.get_mut(key) else {
                    return;
                };
                if budget == 0 {
                    break;
                }
                let ev = match c.session.decode(&mut c.rbuf, &mut c.out) {
                    Ok(Some(ev)) => ev,
                    Ok(None) => break,
                    Err(e) => {
                        self.fail(core, key, &e);
                        return;
                    }
                };
                budget = budget.saturating_sub(EVENT_COST);
                if !self.on_event(core, key, ev) {
                    self.write(core, key);
                    return;
                }
            }
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            if budget == 0 {
                // Edge-triggered: no new readiness will come for what is left, so the
                // next turn's timer reads on.
                let at = core.now();
                core.set_timer(at, timer_key(TIMER_READ, c.generation, key));
                break;
            }
            match c.read() {
                Ok(0) => {
                    log::debug!("{}: {} closed the link", c.sock, c.address);
                    self.close_conn(core, key, true);
                    return;
                }
                Ok(n) => budget = budget.saturating_sub(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    c.release_idle_buffer();
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    // The link layer refused the peer (a TLS handshake or record error).
                    self.fail(core, key, &e);
                    return;
                }
                Err(e) => {
                    log::debug!("{}: read from {} failed: {e}", c.sock, c.address);
                    self.close_conn(core, key, true);
                    return;
                }
            }
        }
        // Handshake replies the decoder queued.
        self.write(core, key);
    }

    /// Handles one decoded event; false when reading must stop (paused or closed).
    fn on_event(&mut self, core: &mut Core, key: usize, ev: SessionEvent) -> bool {
        let Some(c) = self.conns.get_mut(key) else {
            return false;
        };
        let (sock, conn) = (c.sock, conn_id(c.generation, key));
        let link = &c.link;
        match deliver(
            core,
            sock,
            c.peer,
            &c.address,
            conn,
            || link.peer_identity(),
            ev,
        ) {
            Delivered::Continue => true,
            Delivered::Pause => {
                c.paused = true;
                false
            }
            Delivered::Up(peer) => {
                c.peer = Some(peer);
                c.state = State::Up;
                if let Origin::Connected(ck) = c.origin
                    && let Some(cn) = self.connecters.get_mut(ck)
                    && let Some(base) = core.options(sock).and_then(|o| o.reconnect_ivl)
                {
                    cn.ivl = base;
                }
                true
            }
            Delivered::Refused(reason) => {
                c.session.refuse(&reason, &mut c.out);
                c.state = State::Closing;
                self.write(core, key);
                self.close_conn(core, key, false);
                false
            }
            Delivered::Close => {
                self.close_conn(core, key, true);
                false
            }
        }
    }

    /// Writes what is queued; on a hard error the link is closed.
    fn write(&mut self, core: &mut Core, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.state == State::Connecting {
            return;
        }
        if let Err(e) = c.write() {
            log::debug!("{}: write to {} failed: {e}", c.sock, c.address);
            self.close_conn(core, key, true);
        }
    }

    /// Pulls transmits from the Vocket into the link while it has room.
    fn pull(&mut self, core: &mut Core, key: usize) {
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            let (sock, Some(peer), State::Up) = (c.sock, c.peer, c.state) else {
                return;
            };
            while c.out.len() < OUT_HIGH {
                match core.transmit(sock, peer) {
                    Some(t) => c.session.encode(t, &mut c.out),
                    None => break,
                }
            }
            if c.out.is_empty() {
                return;
            }
            match c.write() {
                Ok(true) => {}       // all written: pull more
                Ok(false) => return, // link full: wait for writable
                Err(e) => {
                    log::debug!("{sock}: write to {} failed: {e}", c.address);
                    self.close_conn(core, key, true);
                    return;
                }
            }
        }
    }

    fn on_connected(&mut self, core: &mut Core, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        match c.link.connected() {
            Ok(true) => self.start_session(core, key),
            Ok(false) => {}
            Err(e) => {
                log::debug!("{}: connect to {} failed: {e}", c.sock, c.address);
                self.close_conn(core, key, true);
            }
        }
    }
}

impl<N: Network, S: Session> Transport for StreamTransport<N, S> {
    fn supports(&self, socket_type: SocketType) -> bool {
        (self.supports)(socket_type)
    }

    fn bind(&mut self, core: &mut Core, sock: SocketId, endpoint: &Endpoint) -> Result<String> {
        let opts = core.options(sock).cloned().ok_or(Error::NotAttached)?;
        let (mut listener, bound) = self.net.listen(endpoint, &opts)?;
        let key = self.listeners.vacant_key();
        core.registry()
            .register(
                &mut listener,
                mio::Token(LISTENER_BIT | key),
                mio::Interest::READABLE,
            )
            .map_err(|e| Error::io(format!("register listener {bound}"), e))?;
        self.listeners.insert(ListenerEntry {
            sock,
            listener,
            bound: bound.clone(),
            asked: endpoint.to_string(),
        });
        self.links(sock).listeners.push(key);
        log::debug!("{sock} listening on {bound}");
        Ok(bound)
    }

    fn connect(&mut self, core: &mut Core, sock: SocketId, endpoint: &Endpoint) -> Result<()> {
        if let Some(opts) = core.options(sock) {
            self.net.check_connect(opts)?;
        }
        let target = self.net.resolve(endpoint)?;
        let base = core
            .options(sock)
            .and_then(|o| o.reconnect_ivl)
            .unwrap_or(Duration::from_millis(100));
        let ck = self.connecters.insert(Connecter {
            sock,
            endpoint: endpoint.to_string(),
            target,
            conn: None,
            ivl: base,
            generation: 0,
        });
        self.links(sock).connecters.push(ck);
        self.attempt(core, ck);
        Ok(())
    }

    fn unbind(&mut self, core: &mut Core, sock: SocketId, endpoint: &str) -> Result<()> {
        let listeners = &self.listeners;
        let links = self.sockets.entry(sock).or_default();
        let pos = links.listeners.iter().position(|&k| {
            listeners
                .get(k)
                .is_some_and(|l| l.bound == endpoint || l.asked == endpoint)
        });
        let Some(pos) = pos else {
            return Err(Error::UnknownEndpoint {
                endpoint: endpoint.into(),
            });
        };
        let key = links.listeners.swap_remove(pos);
        let mut l = self.listeners.remove(key);
        let _ = core.registry().deregister(&mut l.listener);
        Ok(())
    }

    fn disconnect(&mut self, core: &mut Core, sock: SocketId, endpoint: &str) -> Result<()> {
        let connecters = &self.connecters;
        let links = self.sockets.entry(sock).or_default();
        let pos = links
            .connecters
            .iter()
            .position(|&k| connecters.get(k).is_some_and(|c| c.endpoint == endpoint));
        let Some(pos) = pos else {
            return Err(Error::UnknownEndpoint {
                endpoint: endpoint.into(),
            });
        };
        let ck = links.connecters.swap_remove(pos);
        let c = self.connecters.remove(ck);
        if let Some(key) = c.conn.filter(|k| self.conns.contains(*k)) {
            // Detach first so closing does not schedule a reconnect.
            if let Some(conn) = self.conns.get_mut(key) {
                conn.origin = Origin::Accepted;
            }
            self.close_conn(core, key, true);
        }
        Ok(())
    }

    fn close_socket(&mut self, core: &mut Core, sock: SocketId) {
        let Some(links) = self.sockets.get_mut(&sock) else {
            return;
        };
        let listeners = std::mem::take(&mut links.listeners);
        let connecters = std::mem::take(&mut links.connecters);
        for key in listeners {
            let mut l = self.listeners.remove(key);
            let _ = core.registry().deregister(&mut l.listener);
        }
        for ck in connecters {
            let c = self.connecters.remove(ck);
            if let Some(conn) = c.conn.and_then(|k| self.conns.get_mut(k)) {
                conn.origin = Origin::Accepted;
            }
        }
    }

    fn has_pending(&self, sock: SocketId) -> bool {
        self.sockets.get(&sock).is_some_and(|l| {
            l.conns
                .iter()
                .any(|&k| self.conns.get(k).is_some_and(|c| !c.out.is_empty()))
        })
    }

    fn destroy_socket(&mut self, core: &mut Core, sock: SocketId) {
        self.close_socket(core, sock);
        if let Some(links) = self.sockets.remove(&sock) {
            for key in links.conns {
                self.close_conn(core, key, false);
            }
        }
    }

    fn ready(&mut self, core: &mut Core, token: mio::Token, event: &mio::event::Event) {
        let t = token.0;
        if t & LISTENER_BIT != 0 {
            let key = t & !LISTENER_BIT;
            loop {
                let Some(l) = self.listeners.get(key) else {
                    return;
                };
                let sock = l.sock;
                match self.net.accept(&l.listener) {
                    Ok((link, peer)) => self.add_conn(core, sock, link, peer, Origin::Accepted),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log::warn!("{sock}: accept failed: {e}");
                        return;
                    }
                }
            }
        }
        let key = t;
        let Some(c) = self.conns.get(key) else { return };
        if c.state == State::Connecting {
            if event.is_writable() || event.is_error() || event.is_write_closed() {
                self.on_connected(core, key);
            }
            return;
        }
        if event.is_writable() {
            self.write(core, key);
            self.pull(core, key);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(core, key);
        }
    }

    fn timer(&mut self, core: &mut Core, key: u64) {
        let (kind, generation, k) = split_timer_key(key);
        match kind {
            TIMER_HANDSHAKE
                if self
                    .conns
                    .get(k)
                    .is_some_and(|c| c.generation == generation && c.state != State::Up) =>
            {
                self.fail(core, k, &"handshake timeout");
            }
            TIMER_RECONNECT
                if self
                    .connecters
                    .get(k)
                    .is_some_and(|c| c.generation == generation) =>
            {
                self.attempt(core, k);
            }
            TIMER_READ
                if self.conns.get(k).is_some_and(|c| {
                    c.generation == generation && c.state != State::Connecting
                }) =>
            {
                self.on_readable(core, k);
            }
            _ => {}
        }
    }

    fn flush(&mut self, core: &mut Core, conn: ConnId) {
        let (generation, key) = split_conn_id(conn);
        if self
            .conns
            .get(key)
            .is_some_and(|c| c.generation == generation)
        {
            self.pull(core, key);
        }
    }

    fn close(&mut self, core: &mut Core, conn: ConnId, reason: &DownReason) {
        let (generation, key) = split_conn_id(conn);
        let Some(c) = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            return;
        };
        log::debug!("{}: closing {}: {reason}", c.sock, c.address);
        c.peer = None; // the Vocket already forgot it
        self.close_conn(core, key, false);
    }

    fn resume(&mut self, core: &mut Core, conn: ConnId) {
        let (generation, key) = split_conn_id(conn);
        let Some(c) = self
            .conns
            .get_mut(key)
            .filter(|c| c.generation == generation)
        else {
            return;
        };
        c.paused = false;
        // Edge-triggered: bytes may be waiting with no new edge coming.
        self.on_readable(core, key);
    }

    fn peer_meta(&self, conn: ConnId, key: &str) -> Option<String> {
        let (generation, k) = split_conn_id(conn);
        self.conns
            .get(k)
            .filter(|c| c.generation == generation)
            .and_then(|c| c.link.meta(key))
    }
}

impl<N: Network + Default, S: Session> Default for StreamTransport<N, S> {
    fn default() -> Self {
        StreamTransport::new(N::default())
    }
}

impl<N: Network, S: Session> StreamTransport<N, S> {
    /// Restricts the socket types this transport accepts.
    pub fn with_supported(mut self, supports: fn(SocketType) -> bool) -> Self {
        self.supports = supports;
        self
    }
}

/// What a transport does after [`deliver`] handed on a decoded session event.
#[derive(Debug)]
pub enum Delivered {
    /// Keep reading the peering.
    Continue,
    /// The application side is full: stop reading this peering until
    /// [`Transport::resume`].
    Pause,
    /// The handshake completed: the peering is up in the Vocket.
    Up(crate::pattern::PeerId),
    /// The Vocket refused the peer: send the reason ([`Session::refuse`]) and close.
    Refused(String),
    /// The peer broke the protocol or reported an error (counted and logged already):
    /// close the link.
    Close,
}

/// Hands one decoded session event to the Vocket of `sock`, the same way for every
/// transport: READY brings the peering up (with `vouched`, an identity the link itself
/// vouches for, replacing the announced one), traffic goes in, and a peer's ERROR or
/// traffic before READY is a counted protocol error. `peer` is the peering once up.
pub fn deliver(
    core: &mut Core,
    sock: SocketId,
    peer: Option<crate::pattern::PeerId>,
    address: &str,
    conn: ConnId,
    vouched: impl FnOnce() -> Option<Bytes>,
    ev: SessionEvent,
) -> Delivered {
    match ev {
        SessionEvent::Ready {
            socket_type,
            identity,
            properties,
        } => {
            let info = crate::pattern::PeerInfo::new(socket_type, address, conn)
                .with_identity(vouched().or(identity))
                .with_properties(properties);
            match core.peer_up(sock, info) {
                Ok(peer) => Delivered::Up(peer),
                Err(refusal) => Delivered::Refused(refusal.to_string()),
            }
        }
        SessionEvent::Input(input) => match peer {
            Some(peer) if core.input(sock, peer, input) == crate::pattern::Flow::Pause => {
                Delivered::Pause
            }
            Some(_) => Delivered::Continue,
            None => {
                core.handshake_failed(sock, address, &"traffic before the handshake completed");
                Delivered::Close
            }
        },
        SessionEvent::PeerError(reason) => {
            let reason = format!("peer reported an error: {reason}");
            core.link_failed(sock, peer.is_some(), address, &reason);
            Delivered::Close
        }
    }
}

/// The wait before the next connect attempt, libzmq's way: the current interval plus
/// up to one `base` interval of jitter. With a RECONNECT_IVL_MAX above `base`, `ivl`
/// doubles after each attempt up to the maximum; a transport resets it to `base` once a
/// session came up.
pub fn reconnect_wait(
    ivl: &mut Duration,
    base: Duration,
    max: Option<Duration>,
    rng: &mut impl Rng,
) -> Duration {
    let jitter = Duration::from_millis(rng.random_range(0..=base.as_millis().max(1) as u64));
    let wait = *ivl + jitter;
    if let Some(max) = max.filter(|m| *m > base) {
        *ivl = (*ivl * 2).min(max);
    }
    wait
}

pub(crate) fn read_size(last: usize, current: usize) -> usize {
    if last >= current {
        (current * 2).min(READ_MAX)
    } else {
        current
    }
}

pub(crate) const INITIAL_READ: usize = READ_MIN;
