//! The `udp` driver: UDP sockets, readiness and batching around the sans-IO NOM-2
//! engine. Datagrams are received with `recvmmsg` (and GRO where the kernel has it) and
//! sent in GSO batches where it has that, through `quinn-udp`, which falls back to one
//! datagram per call by itself; small messages are packed many to a datagram either way.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use quinn_udp::{BATCH_SIZE, RecvMeta, Transmit as UdpTransmit, UdpSocketState};
use rand::Rng;
use rustc_hash::{FxHashMap, FxHashSet};
use slab::Slab;
use socket2::{Domain, Protocol, Socket, Type};

use smallvec::SmallVec;
use vtx_emul::endpoint::{Host as EpHost, format_addr};
use vtx_emul::pattern::{ConnId, DownReason, Flow, Input, PeerId, PeerInfo, Refusal};
use vtx_emul::runtime::{Driver, SocketId, Transport};
use vtx_emul::timer::Deadline;
use vtx_emul::{Endpoint, Error, Result, SocketOptions, SocketType};

use crate::host::{self, Host};
use crate::nom2::{Config, Engine, Failure, LocalId, Owner};

/// Receive buffer per datagram slot (with GRO one slot holds many datagrams).
const RECV_SLOT: usize = 64 * 1024;
/// Batches queued in the engine before pulling from Vockets pauses.
const OUT_LIMIT: usize = 256;
/// Batches queued while pulling from a Vocket before they are sent.
const SEND_AT: usize = 8;
/// Datagram batches read per readiness event before other work gets a turn.
const READ_BUDGET: usize = 64;
const TIMER_ENGINE: u64 = 1;
/// Kernel socket buffer asked for.
const SOCKET_BUFFER: usize = 4 << 20;
const TIMER_READ_MORE: u64 = 2 << 56;

/// Default heartbeat interval for UDP peerings (there is no connection to lose).
pub const DEFAULT_HEARTBEAT_IVL: Duration = Duration::from_secs(1);
/// Default silence after a HUGZ before a peering is declared dead.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default REQ resend interval (the seed's 200 ms).
pub const DEFAULT_REQ_RESEND_IVL: Duration = Duration::from_millis(200);

#[derive(Debug)]
enum Kind {
    Bound { asked: String, bound: String },
    Client,
}

struct Udp {
    /// Not read while its owner's application pipe is full: the kernel buffers, as TCP
    /// does for a paused stream.
    paused: bool,
    socket: mio::net::UdpSocket,
    state: UdpSocketState,
    local: LocalId,
    owner: SocketId,
    kind: Kind,
}

#[derive(Default)]
struct Links {
    udp: Vec<usize>,
    client_v4: Option<usize>,
    client_v6: Option<usize>,
    connecters: Vec<(usize, String)>,
}

/// The `udp` transport (NOM-2). Register one per driver instance:
/// `vtx.register("udp", UdpTransport::default())`.
pub struct UdpTransport {
    cfg: Config,
    reuse_port: bool,
    engine: Option<Engine>,
    udp: Slab<Udp>,
    by_local: FxHashMap<LocalId, usize>,
    links: FxHashMap<SocketId, Links>,
    recv: Vec<u8>,
    timer_at: Deadline,
    /// Peerings whose transmits stopped on a full output queue.
    starved: FxHashSet<ConnId>,
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport")
            .field("sockets", &self.udp.len())
            .finish()
    }
}

impl Default for UdpTransport {
    fn default() -> Self {
        UdpTransport::with_config(Config::default())
    }
}

impl UdpTransport {
    /// A transport with explicit NOM-2 limits.
    pub fn with_config(cfg: Config) -> UdpTransport {
        UdpTransport {
            cfg,
            reuse_port: false,
            engine: None,
            udp: Slab::new(),
            by_local: FxHashMap::default(),
            links: FxHashMap::default(),
            recv: Vec::new(),
            timer_at: Deadline::default(),
            starved: FxHashSet::default(),
        }
    }

    /// Largest message carried (default 64 KiB); larger ones are fragmented up to it.
    pub fn max_msg_size(mut self, bytes: usize) -> Self {
        self.cfg.max_msg_size = bytes;
        self
    }

    /// Binds with SO_REUSEPORT, so several instances of this driver (`udp0`, `udp1`...)
    /// can bind the same port: the kernel spreads peers over them by address, and each
    /// peer stays with one instance. Peerings, identities and subscriptions do not cross
    /// instances; connect to such servers by unicast (a broadcast OHAI would reach every
    /// instance).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Largest datagram sent (default 1400 bytes).
    pub fn max_datagram(mut self, bytes: usize) -> Self {
        self.cfg.max_datagram = bytes.clamp(256, 65_000);
        self
    }

    fn owner(driver: &Driver, sock: SocketId) -> Option<Owner> {
        Some(Owner {
            sock: sock.0,
            socket_type: driver.socket_type(sock)?,
            identity: driver.options(sock)?.identity.clone().unwrap_or_default(),
        })
    }

    fn open(
        &mut self,
        driver: &mut Driver,
        sock: SocketId,
        addr: SocketAddr,
        kind: Kind,
    ) -> Result<(usize, String)> {
        let owner = Self::owner(driver, sock).ok_or(Error::NotAttached)?;
        let what = match &kind {
            Kind::Bound { asked, .. } => asked.clone(),
            Kind::Client => "udp client socket".into(),
        };
        let s = Socket::new(
            Domain::for_address(addr),
            Type::DGRAM.nonblocking(),
            Some(Protocol::UDP),
        )
        .map_err(|e| Error::io(&what, e))?;
        if addr.is_ipv6() && addr.ip().is_unspecified() {
            s.set_only_v6(false).map_err(|e| Error::io(&what, e))?;
        }
        // Room for bursts from many peerings at once: past net.core.rmem_max when
        // privileged (SO_RCVBUFFORCE), else as much as it allows.
        if !force_buffers(&s) {
            let _ = s.set_recv_buffer_size(SOCKET_BUFFER);
            let _ = s.set_send_buffer_size(SOCKET_BUFFER);
        }
        if addr.is_ipv4() {
            // Connecting to a broadcast address needs it; harmless otherwise.
            s.set_broadcast(true).map_err(|e| Error::io(&what, e))?;
        }
        if self.reuse_port && matches!(kind, Kind::Bound { .. }) {
            s.set_reuse_port(true).map_err(|e| Error::io(&what, e))?;
        }
        s.bind(&addr.into())
            .map_err(|e| Error::from_bind(&what, e))?;
        let socket = mio::net::UdpSocket::from_std(s.into());
        let state = UdpSocketState::new((&socket).into()).map_err(|e| Error::io(&what, e))?;
        let local_addr = socket.local_addr().map_err(|e| Error::io(&what, e))?;
        let engine = self.engine.as_mut().ok_or(Error::NotAttached)?;
        engine.set_max_segments(state.max_gso_segments());
        let local = engine.add_local(owner, matches!(kind, Kind::Bound { .. }));
        let key = self.udp.vacant_key();
        let mut socket = socket;
        driver
            .registry()
            .register(
                &mut socket,
                mio::Token(key),
                mio::Interest::READABLE | mio::Interest::WRITABLE,
            )
            .map_err(|e| Error::io(&what, e))?;
        let shown = match local_addr {
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => format!("[::]:{}", v6.port()),
            a => format_addr(a),
        };
        let kind = match kind {
            Kind::Bound { asked, .. } => Kind::Bound {
                asked,
                bound: format!("{}://{shown}", driver.scheme()),
            },
            k => k,
        };
        self.udp.insert(Udp {
            paused: false,
            socket,
            state,
            local,
            owner: sock,
            kind,
        });
        self.by_local.insert(local, key);
        self.links.entry(sock).or_default().udp.push(key);
        Ok((key, format!("{}://{shown}", driver.scheme())))
    }

    fn client_socket(&mut self, driver: &mut Driver, sock: SocketId, v6: bool) -> Result<usize> {
        let links = self.links.entry(sock).or_default();
        if let Some(k) = if v6 { links.client_v6 } else { links.client_v4 } {
            return Ok(k);
        }
        let any: IpAddr = if v6 {
            Ipv6Addr::UNSPECIFIED.into()
        } else {
            Ipv4Addr::UNSPECIFIED.into()
        };
        let (k, _) = self.open(driver, sock, SocketAddr::new(any, 0), Kind::Client)?;
        let links = self.links.entry(sock).or_default();
        if v6 {
            links.client_v6 = Some(k);
        } else {
            links.client_v4 = Some(k);
        }
        Ok(k)
    }

    /// Engine events to Vockets, datagrams to the network, the engine's timer armed.
    fn settle(&mut self, driver: &mut Driver) {
        let now = driver.now();
        let scheme = driver.scheme().to_owned();
        let mut writable = Vec::new();
        if let Some(engine) = self.engine.as_mut() {
            let mut h = CoreHost {
                driver,
                writable: Vec::new(),
                paused: Vec::new(),
            };
            host::dispatch(engine, &mut h, &scheme, now);
            writable = h.writable;
            for sock in h.paused {
                self.set_paused(SocketId(sock), true);
            }
        }
        // Windows that opened: what their Vockets hold can go now.
        for conn in writable {
            self.pull(driver, conn);
        }
        self.send_out(driver);
        let Some(at) = self.engine.as_ref().and_then(Engine::poll_timeout) else {
            return;
        };
        // One entry per deadline: a later one is armed when this fires.
        if self.timer_at.arm_if_sooner(at) {
            driver.set_timer(at, TIMER_ENGINE);
        }
    }

    fn send_out(&mut self, driver: &mut Driver) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        if !transmit(&self.udp, &self.by_local, engine) {
            return; // writable will resume
        }
        // Room again: pull what starved peerings still have.
        if !self.starved.is_empty() {
            let starved: Vec<ConnId> = self.starved.drain().collect();
            for conn in starved {
                self.pull(driver, conn);
            }
        }
    }

    fn pull(&mut self, driver: &mut Driver, conn: ConnId) {
        let Some(engine) = self.engine.as_mut() else {
            return;
        };
        let Some((sock, peer)) = engine.peer_of(conn) else {
            return;
        };
        let now = driver.now();
        // Once the socket is full, no more sends are tried here: a writable event
        // resumes them (one failing send per message would be a wasted syscall each).
        let mut socket_full = false;
        loop {
            if !socket_full && engine.queued_batches() >= SEND_AT {
                // Out before more is packed: sent batches leave their buffers to the
                // next ones, and what is queued stays small.
                socket_full = !transmit(&self.udp, &self.by_local, engine);
            }
            if engine.queued_batches() >= OUT_LIMIT {
                self.starved.insert(conn);
                break;
            }
            if !engine.can_send(conn) {
                // The receiver has not caught up (§6.4): its WINDOW reopens us.
                engine.blocked(conn, now);
                break;
            }
            match driver.transmit(SocketId(sock), peer) {
                Some(t) => {
                    engine.send(conn, t, now);
                }
                None => break,
            }
        }
        engine.flush(conn);
    }

    fn read(&mut self, driver: &mut Driver, key: usize) {
        if self.recv.is_empty() {
            self.recv = vec![0; RECV_SLOT * BATCH_SIZE];
        }
        let mut metas = [RecvMeta::default(); BATCH_SIZE];
        for _ in 0..READ_BUDGET {
            let Some(u) = self.udp.get(key) else { return };
            if u.paused {
                return; // resumed by Transport::resume
            }
            let local = u.local;
            let n = {
                let mut bufs: SmallVec<[IoSliceMut<'_>; BATCH_SIZE]> = self
                    .recv
                    .chunks_mut(RECV_SLOT)
                    .map(IoSliceMut::new)
                    .collect();
                match u.state.recv((&u.socket).into(), &mut bufs, &mut metas) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // ICMP errors surface here (port unreachable): not fatal for UDP.
                        log::debug!("udp recv: {e}");
                        continue;
                    }
                }
            };
            let now = driver.now();
            let Some(engine) = self.engine.as_mut() else {
                return;
            };
            for (i, meta) in metas.iter().take(n).enumerate() {
                let slot = &self.recv[i * RECV_SLOT..i * RECV_SLOT + meta.len.min(RECV_SLOT)];
                let stride = if meta.stride == 0 {
                    slot.len().max(1)
                } else {
                    meta.stride
                };
                for d in slot.chunks(stride) {
                    engine.handle_datagram(
                        local,
                        normalize(meta.addr),
                        Bytes::copy_from_slice(d),
                        now,
                    );
                }
            }
            self.settle(driver);
        }
        // Budget spent with data still waiting: come back on the next loop turn (the
        // edge-triggered poller will not tell us again).
        driver.set_timer(driver.now(), TIMER_READ_MORE | key as u64);
    }
}

/// Sets SO_RCVBUFFORCE/SO_SNDBUFFORCE (CAP_NET_ADMIN); false when not permitted.
fn force_buffers(s: &Socket) -> bool {
    use std::os::fd::AsRawFd;
    let size = SOCKET_BUFFER as libc::c_int;
    let set = |opt| {
        // SAFETY: a valid socket descriptor and a pointer/length pair to a live c_int.
        unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ) == 0
        }
    };
    set(libc::SO_RCVBUFFORCE) && set(libc::SO_SNDBUFFORCE)
}

/// IPv4-mapped IPv6 sources (dual-stack sockets) as plain IPv4, so a peer has one name.
fn normalize(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        a => a,
    }
}

/// Whether connecting to `ip` means discovery: an IPv4 broadcast address.
fn is_broadcast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_broadcast() || v4.octets()[3] == 255,
        IpAddr::V6(_) => false,
    }
}

struct CoreHost<'a> {
    driver: &'a mut Driver,
    writable: Vec<ConnId>,
    /// Sockets whose application pipe filled up.
    paused: Vec<u64>,
}

impl Host for CoreHost<'_> {
    fn peer_up(&mut self, sock: u64, info: PeerInfo) -> std::result::Result<PeerId, Refusal> {
        self.driver.peer_up(SocketId(sock), info)
    }

    fn input(&mut self, sock: u64, peer: PeerId, input: Input) -> Flow {
        let flow = self.driver.input(SocketId(sock), peer, input);
        if flow == Flow::Pause && !self.paused.contains(&sock) {
            self.paused.push(sock);
        }
        flow
    }

    fn writable(&mut self, peering: ConnId) {
        self.writable.push(peering);
    }

    fn peer_down(&mut self, sock: u64, peer: PeerId) {
        self.driver.peer_down(SocketId(sock), peer);
    }

    fn failure(&mut self, sock: u64, addr: SocketAddr, what: Failure) {
        self.driver
            .hostile_input(SocketId(sock), |scheme| host::address(scheme, addr), &what);
    }
}

impl Transport for UdpTransport {
    fn start(&mut self, driver: &mut Driver) -> Result<()> {
        let seed = driver.rng().random();
        self.engine = Some(Engine::new(self.cfg.clone(), seed, driver.now()));
        Ok(())
    }

    fn adjust_options(&self, opts: &mut SocketOptions) {
        // Nothing tells a datagram peering it is gone but silence: heartbeats are on by
        // default, and REQ resends what the network may have lost.
        opts.heartbeat_ivl.get_or_insert(DEFAULT_HEARTBEAT_IVL);
        opts.heartbeat_timeout
            .get_or_insert(DEFAULT_HEARTBEAT_TIMEOUT);
        opts.req_resend_ivl.get_or_insert(DEFAULT_REQ_RESEND_IVL);
    }

    fn supports(&self, _ty: SocketType) -> bool {
        true
    }

    fn bind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<String> {
        // `udp://*:port` is IPv4 (broadcast discovery is IPv4); `[::]` is dual stack.
        let addr = *endpoint
            .addrs(false)?
            .first()
            .ok_or_else(|| Error::AddressNotAvailable {
                endpoint: endpoint.to_string(),
                reason: "no address".into(),
            })?;
        let kind = Kind::Bound {
            asked: endpoint.to_string(),
            bound: String::new(),
        };
        let (_, bound) = self.open(driver, sock, addr, kind)?;
        log::debug!("{sock} listening on {bound}");
        Ok(bound)
    }

    fn connect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<()> {
        let hp = endpoint.host_port()?;
        if hp.host == EpHost::Any || hp.port == 0 {
            return Err(Error::bad_endpoint(
                endpoint.as_str(),
                "connect needs a host and a port",
            ));
        }
        let target =
            *endpoint
                .connect_addrs()?
                .first()
                .ok_or_else(|| Error::AddressNotAvailable {
                    endpoint: endpoint.to_string(),
                    reason: "no address".into(),
                })?;
        let key = self.client_socket(driver, sock, target.is_ipv6())?;
        let local = self.udp[key].local;
        let reconnect = driver
            .options(sock)
            .and_then(|o| o.reconnect_ivl)
            .unwrap_or(Duration::from_millis(100));
        let now = driver.now();
        let engine = self.engine.as_mut().ok_or(Error::NotAttached)?;
        let c = engine.connect(local, target, is_broadcast(target.ip()), reconnect, now);
        self.links
            .entry(sock)
            .or_default()
            .connecters
            .push((c, endpoint.to_string()));
        self.settle(driver);
        Ok(())
    }

    fn unbind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let links = self.links.entry(sock).or_default();
        let udp = &self.udp;
        let pos = links.udp.iter().position(|&k| {
            udp.get(k).is_some_and(|u| matches!(&u.kind, Kind::Bound { asked, bound } if asked == endpoint || bound == endpoint))
        });
        let Some(pos) = pos else {
            return Err(Error::UnknownEndpoint {
                endpoint: endpoint.into(),
            });
        };
        let key = links.udp.swap_remove(pos);
        self.close_udp(driver, key);
        self.settle(driver);
        Ok(())
    }

    fn disconnect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let links = self.links.entry(sock).or_default();
        let Some(pos) = links.connecters.iter().position(|(_, e)| e == endpoint) else {
            return Err(Error::UnknownEndpoint {
                endpoint: endpoint.into(),
            });
        };
        let (c, _) = links.connecters.swap_remove(pos);
        let now = driver.now();
        if let Some(engine) = self.engine.as_mut() {
            engine.disconnect(c, now);
        }
        self.settle(driver);
        Ok(())
    }

    fn close_socket(&mut self, driver: &mut Driver, sock: SocketId) {
        let Some(links) = self.links.get_mut(&sock) else {
            return;
        };
        let connecters: Vec<usize> = links.connecters.drain(..).map(|(c, _)| c).collect();
        let locals: Vec<LocalId> = links
            .udp
            .iter()
            .filter_map(|&k| self.udp.get(k))
            .map(|u| u.local)
            .collect();
        if let Some(engine) = self.engine.as_mut() {
            for c in connecters {
                engine.stop_connecter(c);
            }
            for l in locals {
                engine.stop_accepting(l);
            }
        }
        self.settle(driver);
    }

    fn has_pending(&self, sock: SocketId) -> bool {
        let (Some(links), Some(engine)) = (self.links.get(&sock), self.engine.as_ref()) else {
            return false;
        };
        links
            .udp
            .iter()
            .filter_map(|&k| self.udp.get(k))
            .any(|u| engine.has_output(u.local))
    }

    fn destroy_socket(&mut self, driver: &mut Driver, sock: SocketId) {
        let Some(links) = self.links.get(&sock) else {
            return;
        };
        let (connecters, udp) = (links.connecters.clone(), links.udp.clone());
        if let Some(engine) = self.engine.as_mut() {
            for (c, _) in connecters {
                engine.stop_connecter(c);
            }
        }
        for k in udp {
            self.close_udp(driver, k); // goodbyes first, then the socket
        }
        self.links.remove(&sock);
    }

    fn ready(&mut self, driver: &mut Driver, token: mio::Token, event: &mio::event::Event) {
        let key = token.0;
        if !self.udp.contains(key) {
            return;
        }
        if event.is_readable() {
            self.read(driver, key);
        }
        if event.is_writable() {
            self.send_out(driver);
        }
        self.settle(driver);
    }

    fn timer(&mut self, driver: &mut Driver, key: u64) {
        if key & TIMER_READ_MORE != 0 {
            self.read(driver, (key & !TIMER_READ_MORE) as usize);
        } else {
            let now = driver.now();
            if !self.timer_at.fired(now) {
                return; // superseded
            }
            if let Some(e) = self.engine.as_mut() {
                e.handle_timeout(now);
            }
        }
        self.settle(driver);
    }

    fn flush(&mut self, driver: &mut Driver, conn: ConnId) {
        self.pull(driver, conn);
        self.settle(driver);
    }

    fn close(&mut self, driver: &mut Driver, conn: ConnId, reason: &DownReason) {
        log::debug!("udp peering {conn:#x} closed: {reason}");
        let now = driver.now();
        if let Some(e) = self.engine.as_mut() {
            e.close(conn, now);
        }
        self.settle(driver);
    }

    fn resume(&mut self, driver: &mut Driver, conn: ConnId) {
        // The application pipe has room: acknowledge again, so the sender goes on, and
        // read what the kernel buffered meanwhile.
        let owner = self
            .engine
            .as_ref()
            .and_then(|e| e.peer_of(conn))
            .map(|(sock, _)| SocketId(sock));
        if let Some(e) = self.engine.as_mut() {
            e.resume(conn);
        }
        if let Some(sock) = owner {
            for key in self.set_paused(sock, false) {
                driver.set_timer(driver.now(), TIMER_READ_MORE | key as u64);
            }
        }
        self.settle(driver);
    }
}

impl UdpTransport {
    /// Pauses or resumes reading every UDP socket of a vtx socket; returns those whose
    /// state changed.
    fn set_paused(&mut self, sock: SocketId, paused: bool) -> Vec<usize> {
        let keys = self
            .links
            .get(&sock)
            .map(|l| l.udp.clone())
            .unwrap_or_default();
        keys.into_iter()
            .filter(|&k| match self.udp.get_mut(k) {
                Some(u) if u.paused != paused => {
                    u.paused = paused;
                    true
                }
                _ => false,
            })
            .collect()
    }

    fn close_udp(&mut self, driver: &mut Driver, key: usize) {
        let now = driver.now();
        let Some(local) = self.udp.get(key).map(|u| u.local) else {
            return;
        };
        if let Some(e) = self.engine.as_mut() {
            e.remove_local(local, now); // says goodbye to each peering
        }
        // Goodbyes go out before the socket closes (best effort).
        self.settle(driver);
        let Some(mut u) = self.udp.try_remove(key) else {
            return;
        };
        self.by_local.remove(&u.local);
        let _ = driver.registry().deregister(&mut u.socket);
        if let Some(l) = self.links.get_mut(&u.owner) {
            l.udp.retain(|&k| k != key);
            if l.client_v4 == Some(key) {
                l.client_v4 = None;
            }
            if l.client_v6 == Some(key) {
                l.client_v6 = None;
            }
        }
    }
}

/// Sends the engine's queued batches until the socket is full. `false` when it is (a
/// writable event resumes), `true` when the queue is empty.
fn transmit(udp: &Slab<Udp>, by_local: &FxHashMap<LocalId, usize>, engine: &mut Engine) -> bool {
    while let Some(b) = engine.peek_batch() {
        let Some(u) = by_local.get(&b.local).and_then(|&k| udp.get(k)) else {
            engine.pop_batch();
            continue;
        };
        let t = UdpTransmit {
            destination: b.dst,
            ecn: None,
            contents: b.buf,
            segment_size: (b.count > 1).then_some(b.seg),
            src_ip: None,
        };
        match u.state.try_send((&u.socket).into(), &t) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if b.count > 1 => {
                // GSO refused (quinn-udp then reports one segment): send one by one.
                log::debug!("GSO send failed ({e}); falling back to single datagrams");
                for d in b.buf.chunks(b.seg) {
                    let one = UdpTransmit {
                        destination: b.dst,
                        ecn: None,
                        contents: d,
                        segment_size: None,
                        src_ip: None,
                    };
                    let _ = u.state.try_send((&u.socket).into(), &one);
                }
                engine.set_max_segments(u.state.max_gso_segments());
            }
            Err(e) => log::debug!("udp send to {} failed: {e}", b.dst),
        }
        engine.pop_batch();
    }
    true
}
