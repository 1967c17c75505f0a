//! [`StreamTransport`]: listeners, links and connecters of a byte-stream [`Network`],
//! each link's peering driven by [`crate::peering`].

use std::fmt;
use std::io;

use slab::Slab;

use super::conn::Conn;
use super::{Link, Network};
use crate::pattern::{ConnId, DownReason};
use crate::peering::{
    BoundAs, Connecters, Decode, End, Generations, Origin, Peering, Phase, SocketLinks,
    split_conn_id, split_timer_key, timer_key,
};
use crate::runtime::{Driver, SocketId, Transport};
use crate::session::Session;
use crate::{Endpoint, Error, Result, SocketType};

/// Stop pulling from the Vocket when this much is waiting to be written.
const OUT_HIGH: usize = 256 * 1024;
/// First read size; grows while reads fill it.
const READ_MIN: usize = 16 * 1024;
const READ_MAX: usize = 256 * 1024;

/// What one link may read and decode per turn of the event loop before the others get
/// theirs: its bytes read, plus [`crate::peering::EVENT_COST`] per decoded event. The
/// link is read again on the next turn. Also what bounds the messages one turn can
/// queue for an application that set no RCVHWM (0: no limit, as in libzmq).
const READ_BUDGET: usize = 256 * 1024;

const LISTENER_BIT: usize = 1 << 60;
const TIMER_HANDSHAKE: u64 = 1;
const TIMER_RECONNECT: u64 = 2;
/// A link stopped on its read budget: read it again.
const TIMER_READ: u64 = 3;
/// A refused link's wait for its peer to close is over.
const TIMER_LINGER: u64 = 4;
/// How long a refused link waits for the peer to read our ERROR and close.
const REFUSAL_LINGER: std::time::Duration = std::time::Duration::from_millis(500);

struct ListenerEntry<L> {
    sock: SocketId,
    listener: L,
    name: BoundAs,
}

/// A [`Transport`] for any byte-stream [`Network`] carrying any [`Session`].
pub struct StreamTransport<N: Network, S: Session> {
    net: N,
    listeners: Slab<ListenerEntry<N::Listener>>,
    conns: Slab<Conn<N::Link, S>>,
    connecters: Connecters<N::Target>,
    sockets: SocketLinks,
    generations: Generations,
    supports: fn(SocketType) -> bool,
}

impl<N: Network, S: Session> fmt::Debug for StreamTransport<N, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamTransport")
            .field("listeners", &self.listeners.len())
            .field("conns", &self.conns.len())
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
            connecters: Connecters::new(TIMER_RECONNECT),
            sockets: SocketLinks::default(),
            generations: Generations::new(),
            supports: |_| true,
        }
    }

    /// Restricts the socket types this transport accepts.
    pub fn with_supported(mut self, supports: fn(SocketType) -> bool) -> Self {
        self.supports = supports;
        self
    }

    /// Takes a new link into the table, registers it and starts its session.
    fn add_conn(
        &mut self,
        driver: &mut Driver,
        sock: SocketId,
        mut link: N::Link,
        peer: String,
        origin: Origin,
    ) -> Option<usize> {
        let generation = self.generations.advance();
        let address = format!("{}://{peer}", driver.scheme());
        let peering = Peering::new(driver, sock, generation, address, origin)?;
        let entry = self.conns.vacant_entry();
        let key = entry.key();
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        if let Err(e) = driver
            .registry()
            .register(&mut link, mio::Token(key), interest)
        {
            log::warn!("{sock}: cannot register link to {peer}: {e}");
            if let Origin::Connected(ck) = origin {
                // As a failed connect: try again after the usual wait.
                self.connecters.attempt_failed(driver, ck);
            }
            return None;
        }
        peering.arm_handshake_timer(driver, TIMER_HANDSHAKE, key);
        entry.insert(Conn::new(link, peering));
        self.sockets.of(sock).links.insert(key);
        match origin {
            Origin::Connected(ck) => self.connecters.linked(ck, key),
            Origin::Accepted => self.start_session(driver, key),
        }
        Some(key)
    }

    /// A server link that asked for another listener sharing its address
    /// ([`super::Link::route`]) moves to the socket of the listener that serves the
    /// route, with a new peering; with no such listener it is closed. `true` when it
    /// moved (read it again: what it asked with is still in it).
    fn reroute(&mut self, driver: &mut Driver, key: usize) -> bool {
        let Some(c) = self.conns.get(key) else {
            return false;
        };
        let Some(route) = c.link.route().map(str::to_owned) else {
            return false;
        };
        let from = c.listener.and_then(|l| self.listeners.get(l));
        let target = from.and_then(|from| {
            self.listeners
                .iter()
                .find(|(_, l)| self.net.serves(&l.listener, &from.listener, &route))
                .map(|(k, l)| (k, l.sock))
        });
        let Some((lkey, sock)) = target else {
            log::debug!("{}: nobody serves {route}", c.peering);
            self.close_conn(driver, key, false);
            return false;
        };
        let (generation, address) = (c.peering.generation, c.peering.address.clone());
        let Some(peering) = Peering::new(driver, sock, generation, address, Origin::Accepted)
        else {
            self.close_conn(driver, key, false);
            return false;
        };
        let old = c.peering.sock;
        self.sockets.remove_link(old, key);
        let (Some(c), Some(l)) = (self.conns.get_mut(key), self.listeners.get(lkey)) else {
            return false;
        };
        self.net.rehome(&mut c.link, &l.listener);
        log::debug!("{}: moves to {sock} for {route}", c.peering);
        c.peering = peering;
        c.listener = Some(lkey);
        c.peering.arm_handshake_timer(driver, TIMER_HANDSHAKE, key);
        self.sockets.of(sock).links.insert(key);
        self.start_session(driver, key);
        true
    }

    fn start_session(&mut self, driver: &mut Driver, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        c.peering.start();
        self.write(driver, key);
    }

    /// Closes a link. `notify`: tell the Vocket (it does not know yet).
    fn close_conn(&mut self, driver: &mut Driver, key: usize, notify: bool) {
        if !self.conns.contains(key) {
            return;
        }
        let mut c = self.conns.remove(key);
        let _ = driver.registry().deregister(&mut c.link);
        let p = &c.peering;
        self.sockets.remove_link(p.sock, key);
        if notify && let Some(peer) = p.peer {
            driver.peer_down(p.sock, peer);
        }
        if let Origin::Connected(ck) = p.origin {
            self.connecters.link_ended(driver, ck, key);
        }
    }

    fn fail(&mut self, driver: &mut Driver, key: usize, reason: &dyn fmt::Display) {
        if let Some(c) = self.conns.get(key) {
            let p = &c.peering;
            driver.link_failed(p.sock, p.peer.is_some(), &p.address, reason);
        }
        self.close_conn(driver, key, true);
    }

    /// A refused link, once our ERROR is out: our side of the stream ends (a FIN),
    /// rather than the whole link at once: closing with the peer's bytes unread would
    /// send a reset, which can destroy the ERROR before the peer reads it. What the
    /// peer still sends is dropped until it closes or REFUSAL_LINGER passes. A link
    /// that cannot end one side just closes.
    fn linger(&mut self, driver: &mut Driver, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.shut || c.has_pending() {
            // Still flushing: the writable event comes back here.
            return;
        }
        match c.link.shutdown_write() {
            Ok(()) => {
                c.shut = true;
                self.discard(driver, key);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => self.close_conn(driver, key, false),
        }
    }

    /// Reads and drops what a lingering link's peer sends; its end closes the link.
    fn discard(&mut self, driver: &mut Driver, key: usize) {
        let mut budget = READ_BUDGET;
        while let Some(c) = self.conns.get_mut(key) {
            let r = c.read();
            c.peering.rbuf.clear();
            match r {
                Ok(n) if n > 0 && budget > n => budget -= n,
                // More than a turn's worth: the linger timer ends it.
                Ok(n) if n > 0 => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => {
                    self.close_conn(driver, key, false);
                    return;
                }
            }
        }
    }

    /// The link ended under us (end of stream, a reset). During the session handshake
    /// that is a failed handshake, counted and logged as libzmq reports one
    /// (HANDSHAKE_FAILED_NO_DETAIL): a server that could not open our HELLO closes
    /// without a word. Otherwise the peer just went.
    fn ended(&mut self, driver: &mut Driver, key: usize, why: &dyn fmt::Display) {
        let Some(c) = self.conns.get(key) else {
            return;
        };
        if matches!(c.peering.phase, Phase::Handshaking) {
            let why = format!("{why} during the handshake");
            self.fail(driver, key, &why);
        } else {
            log::debug!("{}: {why}", c.peering);
            self.close_conn(driver, key, true);
        }
    }

    fn attempt(&mut self, driver: &mut Driver, ck: usize) {
        let Some(c) = self.connecters.idle(ck) else {
            return;
        };
        let sock = c.sock;
        let Some(opts) = driver.options(sock) else {
            return;
        };
        match self.net.connect(&c.target, opts) {
            Ok((link, peer)) => {
                self.add_conn(driver, sock, link, peer, Origin::Connected(ck));
            }
            Err(e) => {
                log::debug!("{sock}: connect to {:?} failed: {e}", c.target);
                self.connecters.attempt_failed(driver, ck);
            }
        }
    }

    fn on_readable(&mut self, driver: &mut Driver, key: usize) {
        let mut budget = READ_BUDGET;
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            let link = &c.link;
            let decoded = c.peering.decode(
                driver,
                key,
                &mut budget,
                &mut self.connecters,
                || link.peer_identity(),
                || link.channel(),
            );
            match decoded {
                Decode::Drained => {}
                Decode::OutOfBudget => {
                    // Edge-triggered: no new readiness will come for what is left, so
                    // the next turn's timer reads on.
                    let at = driver.now();
                    driver.set_timer(at, timer_key(TIMER_READ, c.peering.generation, key));
                    break;
                }
                Decode::Paused => break,
                Decode::End(End::Refused) => {
                    c.peering.phase = Phase::Closing;
                    let at = driver.now() + REFUSAL_LINGER;
                    driver.set_timer(at, timer_key(TIMER_LINGER, c.peering.generation, key));
                    self.write(driver, key);
                    self.linger(driver, key);
                    return;
                }
                Decode::End(End::Failed) => {
                    self.close_conn(driver, key, true);
                    return;
                }
            }
            match c.read() {
                Ok(0) => {
                    self.ended(driver, key, &"the peer closed the link");
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
                    self.fail(driver, key, &e);
                    return;
                }
                Err(e) => {
                    self.ended(driver, key, &format_args!("read failed: {e}"));
                    return;
                }
            }
        }
        // A link for another socket's listener moves there, and is read again.
        if self.reroute(driver, key) {
            self.on_readable(driver, key);
            return;
        }
        // Handshake replies the decoder queued.
        self.write(driver, key);
        // Writing gave the link something to read (no readiness event will say so).
        if let Some(c) = self.conns.get(key)
            && c.link.buffered_input()
        {
            let at = driver.now();
            driver.set_timer(at, timer_key(TIMER_READ, c.peering.generation, key));
        }
    }

    /// Writes what is queued; on a hard error the link is closed.
    fn write(&mut self, driver: &mut Driver, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        if c.peering.phase == Phase::Connecting {
            return;
        }
        match c.write() {
            Ok(true) => driver.link_drained(c.peering.sock),
            Ok(false) => {}
            Err(e) => {
                log::debug!("{}: write failed: {e}", c.peering);
                self.close_conn(driver, key, true);
            }
        }
    }

    /// Pulls transmits from the Vocket into the link while it has room.
    fn pull(&mut self, driver: &mut Driver, key: usize) {
        loop {
            let Some(c) = self.conns.get_mut(key) else {
                return;
            };
            c.peering.fill(driver, OUT_HIGH);
            if c.peering.out.is_empty() {
                return;
            }
            match c.write() {
                Ok(true) => driver.link_drained(c.peering.sock), // all written: pull more
                Ok(false) => return,                             // link full: wait for writable
                Err(e) => {
                    let p = &c.peering;
                    log::debug!("{}: write failed: {e}", p);
                    self.close_conn(driver, key, true);
                    return;
                }
            }
        }
    }

    fn on_connected(&mut self, driver: &mut Driver, key: usize) {
        let Some(c) = self.conns.get_mut(key) else {
            return;
        };
        match c.link.connected() {
            Ok(true) => self.start_session(driver, key),
            Ok(false) => {}
            Err(e) => {
                let p = &c.peering;
                log::debug!("{}: connect failed: {e}", p);
                self.close_conn(driver, key, true);
            }
        }
    }

    /// The link of a peering id, if it is still that one (not a reused slot).
    fn live(&mut self, conn: ConnId) -> Option<(usize, &mut Conn<N::Link, S>)> {
        let (generation, key) = split_conn_id(conn);
        self.conns
            .get_mut(key)
            .filter(|c| c.peering.generation == generation)
            .map(|c| (key, c))
    }
}

impl<N: Network, S: Session> Transport for StreamTransport<N, S> {
    fn secures(&self) -> bool {
        S::secures()
    }

    fn confidential(&self) -> bool {
        self.net.confidential()
    }

    fn supports(&self, socket_type: SocketType) -> bool {
        (self.supports)(socket_type)
    }

    fn bind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<String> {
        let opts = driver.options(sock).ok_or(Error::NotAttached)?;
        let (mut listener, bound) = self.net.listen(endpoint, opts)?;
        let key = self.listeners.vacant_key();
        driver
            .registry()
            .register(
                &mut listener,
                mio::Token(LISTENER_BIT | key),
                mio::Interest::READABLE,
            )
            .map_err(|e| Error::io(format!("register listener {bound}"), e))?;
        let name = BoundAs {
            bound: bound.clone(),
            asked: endpoint.to_string(),
        };
        self.listeners.insert(ListenerEntry {
            sock,
            listener,
            name,
        });
        self.sockets.of(sock).listeners.push(key);
        log::debug!("{sock} listening on {bound}");
        Ok(bound)
    }

    fn connect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<()> {
        if let Some(opts) = driver.options(sock) {
            self.net.check_connect(opts)?;
        }
        let target = self.net.resolve(endpoint)?;
        let ck = self
            .connecters
            .connect(driver, &mut self.sockets, sock, endpoint, target);
        self.attempt(driver, ck);
        Ok(())
    }

    fn unbind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let listeners = &self.listeners;
        let key = self.sockets.take_listener(sock, endpoint, |k| {
            listeners.get(k).is_some_and(|l| l.name.is(endpoint))
        })?;
        let mut l = self.listeners.remove(key);
        let _ = driver.registry().deregister(&mut l.listener);
        Ok(())
    }

    fn disconnect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let link = self
            .connecters
            .disconnect(&mut self.sockets, sock, endpoint)?;
        if let Some((key, c)) = link.and_then(|k| Some((k, self.conns.get_mut(k)?))) {
            // Detach first so closing does not schedule a reconnect.
            c.peering.origin = Origin::Accepted;
            self.close_conn(driver, key, true);
        }
        Ok(())
    }

    fn close_socket(&mut self, driver: &mut Driver, sock: SocketId) {
        let Some((listeners, links)) = self.connecters.close_socket(&mut self.sockets, sock) else {
            return;
        };
        for key in listeners {
            let mut l = self.listeners.remove(key);
            let _ = driver.registry().deregister(&mut l.listener);
        }
        for k in links {
            if let Some(c) = self.conns.get_mut(k) {
                c.peering.origin = Origin::Accepted;
            }
        }
    }

    fn has_pending(&self, sock: SocketId) -> bool {
        self.sockets.get(sock).is_some_and(|e| {
            e.links
                .iter()
                .any(|&k| self.conns.get(k).is_some_and(Conn::has_pending))
        })
    }

    fn destroy_socket(&mut self, driver: &mut Driver, sock: SocketId) {
        self.close_socket(driver, sock);
        if let Some(entries) = self.sockets.remove(sock) {
            for key in entries.links {
                self.close_conn(driver, key, false);
            }
        }
    }

    fn ready(&mut self, driver: &mut Driver, token: mio::Token, event: &mio::event::Event) {
        let t = token.0;
        if t & LISTENER_BIT != 0 {
            let key = t & !LISTENER_BIT;
            loop {
                let Some(l) = self.listeners.get(key) else {
                    return;
                };
                let sock = l.sock;
                match self.net.accept(&l.listener) {
                    Ok((link, peer)) => {
                        if let Some(c) = self
                            .add_conn(driver, sock, link, peer, Origin::Accepted)
                            .and_then(|k| self.conns.get_mut(k))
                        {
                            c.listener = Some(key);
                        }
                    }
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
        if c.peering.phase == Phase::Connecting {
            if event.is_writable() || event.is_error() || event.is_write_closed() {
                self.on_connected(driver, key);
            }
            // Edge-triggered: what the peer sent already (its greeting, sent when it
            // accepted) came in this same event and is not announced again. A client
            // that must read it before it speaks (PLAIN, CURVE) would wait forever.
            let started = self
                .conns
                .get(key)
                .is_some_and(|c| c.peering.phase != Phase::Connecting);
            if !started {
                return;
            }
        }
        if self
            .conns
            .get(key)
            .is_some_and(|c| c.peering.phase == Phase::Closing)
        {
            if event.is_writable() {
                self.write(driver, key);
                self.linger(driver, key);
            }
            if self.conns.get(key).is_some_and(|c| c.shut) {
                self.discard(driver, key);
            }
            return;
        }
        if event.is_writable() {
            self.write(driver, key);
            self.pull(driver, key);
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.on_readable(driver, key);
        }
    }

    fn timer(&mut self, driver: &mut Driver, key: u64) {
        let (kind, generation, k) = split_timer_key(key);
        let peering = self
            .conns
            .get(k)
            .map(|c| &c.peering)
            .filter(|p| p.generation == generation);
        match kind {
            TIMER_HANDSHAKE if peering.is_some_and(Peering::handshaking) => {
                self.fail(driver, k, &"handshake timeout");
            }
            TIMER_LINGER if peering.is_some_and(|p| p.phase == Phase::Closing) => {
                self.close_conn(driver, k, false);
            }
            TIMER_RECONNECT if self.connecters.is_due(k, generation) => self.attempt(driver, k),
            TIMER_READ if peering.is_some_and(|p| p.phase != Phase::Connecting) => {
                self.on_readable(driver, k);
            }
            _ => {}
        }
    }

    fn flush(&mut self, driver: &mut Driver, conn: ConnId) {
        if let Some((key, _)) = self.live(conn) {
            self.pull(driver, key);
        }
    }

    fn close(&mut self, driver: &mut Driver, conn: ConnId, reason: &DownReason) {
        let Some((key, c)) = self.live(conn) else {
            return;
        };
        c.peering.closed_by_vocket(reason);
        self.close_conn(driver, key, false);
    }

    fn resume(&mut self, driver: &mut Driver, conn: ConnId) {
        let Some((key, c)) = self.live(conn) else {
            return;
        };
        c.peering.paused = false;
        // Edge-triggered: bytes may be waiting with no new edge coming.
        self.on_readable(driver, key);
    }

    fn peer_meta(&self, conn: ConnId, key: &str) -> Option<String> {
        let (generation, k) = split_conn_id(conn);
        self.conns
            .get(k)
            .filter(|c| c.peering.generation == generation)
            .and_then(|c| c.link.meta(key))
    }
}

impl<N: Network + Default, S: Session> Default for StreamTransport<N, S> {
    fn default() -> Self {
        StreamTransport::new(N::default())
    }
}

pub(super) fn read_size(last: usize, current: usize) -> usize {
    if last >= current {
        (current * 2).min(READ_MAX)
    } else {
        current
    }
}

pub(super) const INITIAL_READ: usize = READ_MIN;
