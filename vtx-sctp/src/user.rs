//! The userspace backend: sctp-proto associations over UDP (RFC 6951 encapsulation),
//! each carrying one ZMTP 3.1 session on stream 0.
//!
//! Every bound endpoint owns one UDP socket and one sctp-proto [`Endpoint`] that
//! multiplexes all associations accepted on it; outgoing associations share one client
//! socket per address family. The driver thread reads datagrams, routes them to their
//! association by verification tag, and runs each association's ZMTP session through
//! the same peering lifecycle as every stream link ([`vtx_emul::peering`]: greeting and
//! READY, then frames in both directions, reconnect): the Vocket pausing reads closes
//! the association's receive window and the sender stops, and SCTP's own buffered
//! amount pauses writes. What is SCTP's own lives here: the UDP sockets, routing
//! datagrams to associations, the handshake table, driving sctp-proto's timers and the
//! graceful SHUTDOWN.

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSliceMut};
use std::net::{Ipv6Addr, SocketAddr};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use quinn_udp::{BATCH_SIZE, RecvMeta, Transmit as UdpTransmit, UdpSocketState};
use rustc_hash::{FxHashMap, FxHashSet};
use sctp_proto::{
    Association, AssociationHandle, ClientConfig, DatagramEvent, Endpoint, EndpointConfig,
    EndpointEvent, Event, Payload, PayloadProtocolIdentifier, ServerConfig, StreamEvent,
    TransportConfig,
};
use slab::Slab;
use smallvec::SmallVec;
use socket2::{Domain, Protocol, Socket, Type};
use vtx_emul::endpoint::format_addr;
use vtx_emul::pattern::{ConnId, DownReason};
use vtx_emul::peering::{
    BoundAs, Connecters, Decode, End, Generations, Origin, Peering, Phase, SocketLinks,
    split_conn_id, split_timer_key, timer_key,
};
use vtx_emul::runtime::{Driver, SocketId, Transport};
use vtx_emul::timer::Deadline;
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::{Endpoint as VtxEndpoint, Result, SocketOptions};

use crate::SctpConfig;

/// The one stream every session uses: 0MQ promises order per peer.
const STREAM: u16 = 0;
/// Payload protocol identifier on our messages. IANA has none for ZMTP; the receiver
/// ignores it.
const PPI: PayloadProtocolIdentifier = PayloadProtocolIdentifier::Binary;
/// Largest SCTP user message we send: ZMTP bytes are cut into pieces this size, so a
/// receiver never needs more than this in its reassembly buffer for one message.
pub(crate) const SEGMENT: usize = 64 * 1024;
/// Largest SCTP user message we accept from a peer (other stacks may send bigger pieces).
pub(crate) const MAX_RECEIVE_MESSAGE: u32 = 1024 * 1024;
/// Stop pulling from the Vocket while this much is unacknowledged in the association.
const SEND_HIGH: usize = 1024 * 1024;
/// Largest datagram read, or GRO batch of datagrams (one receive slot).
const DATAGRAM_MAX: usize = 65_536;
/// Datagrams read before the associations they touched are driven.
const READ_BATCH: usize = 64;
/// Datagrams read from one UDP socket per turn of the event loop (checked before each
/// read, so one read's batch may pass it); the socket is read again on the next turn,
/// so a flood on one socket cannot hold the driver.
const READ_BUDGET: usize = 16 * READ_BATCH;
/// Associations an endpoint holds in the handshake at once; an INIT beyond evicts the
/// oldest (an INIT flood costs the attacker a datagram per association, us a bounded
/// table).
const MAX_HANDSHAKING: usize = 1024;

/// A UDP socket stopped on its read budget: read it again.
const TIMER_READ: u64 = 0;
const TIMER_ASSOC: u64 = 1;
const TIMER_RECONNECT: u64 = 2;
const TIMER_HANDSHAKE: u64 = 3;

struct Listener {
    sock: SocketId,
    name: BoundAs,
}

/// One UDP socket and the SCTP endpoint multiplexed over it.
struct Udp {
    socket: mio::net::UdpSocket,
    /// quinn-udp's view of the socket: GSO sends.
    state: UdpSocketState,
    endpoint: Endpoint,
    local: SocketAddr,
    /// Set for a bound endpoint; `None` for a client socket.
    listener: Option<Listener>,
    /// Associations on this socket that have not finished the SCTP handshake.
    handshaking: usize,
    /// Pending associations evicted for an INIT while the table was full.
    evicted: u64,
    /// Accepted associations in arrival order (key, generation), oldest first, to
    /// evict from when the handshake table is full; entries of associations that
    /// completed or ended are skipped.
    pending: VecDeque<(usize, u32)>,
    /// Associations on this socket.
    assocs: FxHashSet<usize>,
    /// Unbound: the socket closes when its last association has shut down.
    retired: bool,
}

/// One association and the peering on it. Its phase: [`Phase::Connecting`] during
/// SCTP's four-way handshake, [`Phase::Closing`] while SCTP SHUTDOWN is in progress.
struct Assoc {
    udp: usize,
    handle: AssociationHandle,
    assoc: Association,
    peering: Peering<ZmtpSession>,
    /// The association timer armed in the runtime heap.
    armed: Deadline,
    /// When a graceful close gives up on the peer's SHUTDOWN-ACK.
    close_by: Option<Instant>,
    /// Bytes sent and not yet acknowledged, as of the last drive (for linger).
    unacked: usize,
}

/// The `sctp` transport's userspace backend. Register it with
/// [`crate::transport`] or `SctpTransport::new(SctpConfig::default())`.
pub struct SctpTransport {
    cfg: SctpConfig,
    server: Arc<ServerConfig>,
    endpoint_cfg: Arc<EndpointConfig>,
    udps: Slab<Udp>,
    assocs: Slab<Assoc>,
    routes: FxHashMap<(usize, usize), usize>,
    connecters: Connecters<SocketAddr>,
    sockets: SocketLinks,
    /// Client sockets: IPv4, IPv6.
    clients: [Option<usize>; 2],
    generations: Generations,
    datagram: Box<[u8]>,
    /// Associations that took datagrams since they were last driven.
    touched: Vec<usize>,
    /// Where runs of datagrams are joined for one GSO send.
    gso: Vec<u8>,
}

impl fmt::Debug for SctpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SctpTransport")
            .field("udp_sockets", &self.udps.len())
            .field("associations", &self.assocs.len())
            .finish()
    }
}

impl Default for SctpTransport {
    fn default() -> Self {
        SctpTransport::new(SctpConfig::default())
    }
}

pub(crate) fn transport_config(cfg: &SctpConfig, ports: Option<(u16, u16)>) -> TransportConfig {
    let mut t = TransportConfig::default()
        .with_max_send_message_size(SEGMENT as u32)
        .with_max_receive_message_size(MAX_RECEIVE_MESSAGE)
        .with_max_receive_buffer_size(cfg.receive_window)
        .with_max_num_outbound_streams(1)
        .with_max_num_inbound_streams(16)
        .with_rto_initial_ms(cfg.rto_initial.as_millis() as u64)
        .with_rto_min_ms(cfg.rto_min.as_millis() as u64)
        .with_rto_max_ms(cfg.rto_max.as_millis() as u64)
        .with_max_init_retransmits(Some(cfg.max_init_retransmits))
        .with_max_data_retransmits(Some(cfg.max_data_retransmits));
    if let Some((local, remote)) = ports {
        t = t.with_local_port(local).with_remote_port(remote);
    }
    t
}

/// The sctp-proto endpoint and server settings of a listening UDP socket: what the
/// driver uses, and what the fuzzing entry point feeds.
pub(crate) fn stack_config(cfg: &SctpConfig) -> (EndpointConfig, ServerConfig) {
    let mut server = ServerConfig::new();
    server.transport = Arc::new(transport_config(cfg, None));
    let mut endpoint = EndpointConfig::new();
    endpoint.max_payload_size(cfg.max_payload);
    (endpoint, server)
}

fn udp_socket(addr: SocketAddr) -> io::Result<mio::net::UdpSocket> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::DGRAM.nonblocking(),
        Some(Protocol::UDP),
    )?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        s.set_only_v6(false)?;
    }
    // Room for bursts of a fast sender; SCTP's window keeps it bounded.
    let _ = s.set_recv_buffer_size(4 * 1024 * 1024);
    let _ = s.set_send_buffer_size(4 * 1024 * 1024);
    s.bind(&addr.into())?;
    Ok(mio::net::UdpSocket::from_std(s.into()))
}

impl SctpTransport {
    /// A transport with these settings.
    pub fn new(cfg: SctpConfig) -> SctpTransport {
        let (endpoint_cfg, server) = stack_config(&cfg);
        SctpTransport {
            cfg,
            server: Arc::new(server),
            endpoint_cfg: Arc::new(endpoint_cfg),
            udps: Slab::new(),
            assocs: Slab::new(),
            routes: FxHashMap::default(),
            connecters: Connecters::new(TIMER_RECONNECT),
            sockets: SocketLinks::default(),
            clients: [None, None],
            generations: Generations::new(),
            datagram: vec![0; DATAGRAM_MAX * BATCH_SIZE].into_boxed_slice(),
            touched: Vec::new(),
            gso: Vec::new(),
        }
    }

    /// Associations (established or not) the transport holds.
    pub fn association_count(&self) -> usize {
        self.assocs.len()
    }

    /// The association a peering id names, if it is still that one (not a reused slot).
    fn live(&mut self, conn: ConnId) -> Option<(usize, &mut Assoc)> {
        let (generation, key) = split_conn_id(conn);
        self.assocs
            .get_mut(key)
            .filter(|a| a.peering.generation == generation)
            .map(|a| (key, a))
    }

    fn new_endpoint(&self, server: bool) -> Endpoint {
        // A server configuration is set even on client sockets: sctp-proto 0.10 panics
        // on an INIT without one. Client endpoints refuse new associations instead.
        let mut e = Endpoint::new(self.endpoint_cfg.clone(), Some(self.server.clone()));
        if !server {
            e.reject_new_associations();
        }
        e
    }

    fn add_udp(
        &mut self,
        driver: &mut Driver,
        addr: SocketAddr,
        server: bool,
    ) -> io::Result<usize> {
        let mut socket = udp_socket(addr)?;
        let state = UdpSocketState::new((&socket).into())?;
        let local = socket.local_addr()?;
        let key = self.udps.vacant_key();
        driver
            .registry()
            .register(&mut socket, mio::Token(key), mio::Interest::READABLE)?;
        let endpoint = self.new_endpoint(server);
        self.udps.insert(Udp {
            socket,
            state,
            endpoint,
            local,
            listener: None,
            handshaking: 0,
            evicted: 0,
            pending: VecDeque::new(),
            assocs: FxHashSet::default(),
            retired: false,
        });
        Ok(key)
    }

    fn client_udp(&mut self, driver: &mut Driver, target: SocketAddr) -> io::Result<usize> {
        let family = usize::from(target.is_ipv6());
        if let Some(k) = self.clients[family] {
            return Ok(k);
        }
        let any: SocketAddr = if target.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            ([0, 0, 0, 0], 0).into()
        };
        let k = self.add_udp(driver, any, false)?;
        self.clients[family] = Some(k);
        Ok(k)
    }

    /// Takes a new association into the table.
    fn add_assoc(
        &mut self,
        driver: &mut Driver,
        sock: SocketId,
        udp: usize,
        handle: AssociationHandle,
        assoc: Association,
        origin: Origin,
    ) -> Option<usize> {
        let generation = self.generations.advance();
        let address = format!("{}://{}", driver.scheme(), format_addr(assoc.remote_addr()));
        let peering = Peering::new(driver, sock, generation, address, origin)?;
        let entry = self.assocs.vacant_entry();
        let key = entry.key();
        peering.arm_handshake_timer(driver, TIMER_HANDSHAKE, key);
        entry.insert(Assoc {
            udp,
            handle,
            assoc,
            peering,
            armed: Deadline::default(),
            close_by: None,
            unacked: 0,
        });
        self.routes.insert((udp, handle.0), key);
        self.sockets.of(sock).links.insert(key);
        if let Some(u) = self.udps.get_mut(udp) {
            u.handshaking += 1;
            u.assocs.insert(key);
            if origin == Origin::Accepted {
                u.pending.push_back((key, generation));
                // Entries of associations past the handshake are dropped lazily; keep
                // the queue within a small multiple of the table.
                if u.pending.len() > 2 * MAX_HANDSHAKING {
                    let assocs = &self.assocs;
                    u.pending.retain(|&(k, g)| {
                        assocs.get(k).is_none_or(|a| {
                            a.peering.generation == g && a.peering.phase == Phase::Connecting
                        })
                    });
                }
            }
        }
        if let Origin::Connected(ck) = origin {
            self.connecters.linked(ck, key);
        }
        Some(key)
    }

    /// Forgets an association, telling the Vocket if the peering was still up there.
    fn remove_assoc(&mut self, driver: &mut Driver, key: usize) {
        if !self.assocs.contains(key) {
            return;
        }
        // Dropped without another call into it: what it had to say (a
        // SHUTDOWN-COMPLETE) went out when it was last driven, and a stack that failed
        // is not touched again.
        let a = self.assocs.remove(key);
        self.routes.remove(&(a.udp, a.handle.0));
        let mut retire = false;
        if let Some(u) = self.udps.get_mut(a.udp) {
            let _ = u.endpoint.handle_event(a.handle, EndpointEvent::drained());
            if a.peering.phase == Phase::Connecting {
                u.handshaking = u.handshaking.saturating_sub(1);
            }
            u.assocs.remove(&key);
            retire = u.retired && u.assocs.is_empty();
        }
        if retire {
            self.remove_udp(driver, a.udp);
        }
        self.sockets.remove_link(a.peering.sock, key);
        if let Some(p) = a.peering.peer {
            driver.peer_down(a.peering.sock, p);
        }
        if let Origin::Connected(ck) = a.peering.origin {
            self.connecters.link_ended(driver, ck, key);
        }
    }

    /// sctp-proto panicked on this association: counted, logged, and the association
    /// dropped without another call into it.
    fn stack_failed(&mut self, driver: &mut Driver, key: usize, during: &str) {
        if let Some(a) = self.assocs.get(key) {
            let reason = format!("the SCTP stack failed {during}");
            driver.link_failed(
                a.peering.sock,
                a.peering.peer.is_some(),
                &a.peering.address.clone(),
                &reason,
            );
        }
        self.remove_assoc(driver, key);
    }

    /// A peer broke the protocol: counted, logged, and the association shut down.
    fn fail(&mut self, driver: &mut Driver, key: usize, reason: &dyn fmt::Display) {
        if let Some(a) = self.assocs.get(key) {
            driver.link_failed(
                a.peering.sock,
                a.peering.peer.is_some(),
                &a.peering.address.clone(),
                reason,
            );
        }
        self.shutdown(driver, key);
    }

    /// Ends a peering gracefully: the Vocket forgets it now, SCTP SHUTDOWN sends what
    /// is queued and tells the peer, and the association is forgotten when the peer
    /// confirms or after a bounded wait. An association not yet established just ends.
    fn shutdown(&mut self, driver: &mut Driver, key: usize) {
        let wait = self.cfg.rto_max;
        let Some(a) = self.assocs.get_mut(key) else {
            return;
        };
        if a.peering.phase == Phase::Closing {
            return;
        }
        if let Some(p) = a.peering.peer.take() {
            driver.peer_down(a.peering.sock, p);
        }
        // What was just written (a refusal's ERROR) goes out first: sctp-proto's
        // shutdown counts only data in flight, and sends SHUTDOWN at once past data
        // still queued, which the peer then never reads.
        send_transmits(&self.udps, driver.now(), a.udp, &mut a.assoc, &mut self.gso);
        if a.peering.phase == Phase::Connecting || a.assoc.shutdown().is_err() {
            self.remove_assoc(driver, key);
            return;
        }
        a.peering.phase = Phase::Closing;
        a.close_by = Some(driver.now() + wait);
        self.drive(driver, key);
    }

    fn attempt(&mut self, driver: &mut Driver, ck: usize) {
        let Some(c) = self.connecters.idle(ck) else {
            return;
        };
        let (sock, target) = (c.sock, c.target);
        let udp = match self.client_udp(driver, target) {
            Ok(u) => u,
            Err(e) => {
                log::warn!("{sock}: no client socket for {target}: {e}");
                return;
            }
        };
        let local_port = self.udps[udp].local.port();
        let mut config = ClientConfig::new();
        config.transport = Arc::new(transport_config(
            &self.cfg,
            Some((local_port, target.port())),
        ));
        match self.udps[udp].endpoint.connect(config, target) {
            Ok((handle, assoc)) => {
                if let Some(key) =
                    self.add_assoc(driver, sock, udp, handle, assoc, Origin::Connected(ck))
                {
                    self.drive(driver, key);
                }
            }
            Err(e) => {
                log::debug!("{sock}: connect to {target} failed: {e}");
                self.connecters.attempt_failed(driver, ck);
            }
        }
    }

    /// Runs an association after any input: events, reads, writes, datagrams, timer.
    /// Everything it calls in sctp-proto (events, stream reads and writes, transmits)
    /// runs on state a peer shaped, so a panic there ends this association only.
    fn drive(&mut self, driver: &mut Driver, key: usize) {
        if catch_unwind(AssertUnwindSafe(|| self.drive_unguarded(driver, key))).is_err() {
            self.stack_failed(driver, key, "while running the association");
        }
    }

    fn drive_unguarded(&mut self, driver: &mut Driver, key: usize) {
        loop {
            let Some(a) = self.assocs.get_mut(key) else {
                return;
            };
            let Some(event) = a.assoc.poll() else { break };
            match event {
                Event::Connected => self.on_connected(driver, key),
                Event::HandshakeFailed { reason } => {
                    log::debug!("{}: association failed: {reason}", a.peering);
                    self.remove_assoc(driver, key);
                    return;
                }
                Event::AssociationLost { reason } => {
                    log::debug!("{}: association ended: {reason}", a.peering);
                    self.remove_assoc(driver, key);
                    return;
                }
                Event::Stream(StreamEvent::Opened { id } | StreamEvent::Readable { id })
                    if id != STREAM =>
                {
                    self.fail(
                        driver,
                        key,
                        &format_args!("data on stream {id}; ZMTP uses 0"),
                    );
                    return;
                }
                Event::Stream(StreamEvent::Opened { .. }) => {
                    let _ = a.assoc.accept_stream();
                    self.on_readable(driver, key);
                }
                Event::Stream(StreamEvent::Readable { .. }) => self.on_readable(driver, key),
                _ => {}
            }
        }
        if let Some(a) = self.assocs.get_mut(key)
            && matches!(a.peering.phase, Phase::Handshaking | Phase::Up)
            && a.assoc.is_closing()
        {
            // The peer sent SHUTDOWN: it is leaving; what it sent before is read.
            log::debug!("{}: shutting down", a.peering);
            a.peering.phase = Phase::Closing;
            a.close_by = Some(driver.now() + self.cfg.rto_max);
            if let Some(p) = a.peering.peer.take() {
                driver.peer_down(a.peering.sock, p);
            }
        }
        self.pull(driver, key);
        let Some(a) = self.assocs.get_mut(key) else {
            return;
        };
        // Endpoint events are only "drained"; `remove_assoc` reports that itself.
        while a.assoc.poll_endpoint_event().is_some() {}
        send_transmits(&self.udps, driver.now(), a.udp, &mut a.assoc, &mut self.gso);
        a.unacked = a.buffered();
        if a.unacked == 0 && a.peering.out.is_empty() {
            // All acknowledged: a lingering socket may be done.
            driver.link_drained(a.peering.sock);
        }
        // A server association sits in CLOSED until the COOKIE-ECHO arrives (the
        // cookie carries its state): closed means over only once it was associated.
        if a.peering.phase != Phase::Connecting && a.assoc.is_closed() {
            self.remove_assoc(driver, key);
            return;
        }
        let deadline = match (a.assoc.poll_timeout(), a.close_by) {
            (Some(t), Some(c)) => Some(t.min(c)),
            (t, c) => t.or(c),
        };
        if let Some(at) = deadline
            && a.armed.arm_if_sooner(at)
        {
            driver.set_timer(at, timer_key(TIMER_ASSOC, a.peering.generation, key));
        }
    }

    fn on_connected(&mut self, driver: &mut Driver, key: usize) {
        let Some(a) = self.assocs.get_mut(key) else {
            return;
        };
        if a.peering.phase != Phase::Connecting {
            return;
        }
        if let Some(u) = self.udps.get_mut(a.udp) {
            u.handshaking = u.handshaking.saturating_sub(1);
        }
        if a.assoc.stream(STREAM).is_err() {
            match a.assoc.open_stream(STREAM, PPI) {
                Ok(_) => {}
                Err(e) => {
                    self.fail(driver, key, &format_args!("cannot open stream 0: {e}"));
                    return;
                }
            }
        }
        a.peering.start();
        self.write_out(driver, key);
    }

    fn write_out(&mut self, driver: &mut Driver, key: usize) {
        let Some(a) = self.assocs.get_mut(key) else {
            return;
        };
        if let Err(e) = a.flush_out() {
            log::debug!("{}: write failed: {e}", a.peering);
            self.shutdown(driver, key);
        }
    }

    fn on_readable(&mut self, driver: &mut Driver, key: usize) {
        // SCTP's receive window bounds what one drive can decode: no budget here.
        let mut budget = usize::MAX;
        loop {
            let Some(a) = self.assocs.get_mut(key) else {
                return;
            };
            match a.peering.decode(
                driver,
                key,
                &mut budget,
                &mut self.connecters,
                || None,
                Default::default,
            ) {
                Decode::Drained => {}
                Decode::OutOfBudget | Decode::Paused => break,
                Decode::End(End::Refused) => {
                    self.write_out(driver, key);
                    self.shutdown(driver, key);
                    return;
                }
                Decode::End(End::Failed) => {
                    self.shutdown(driver, key);
                    return;
                }
            }
            let chunks = match a.assoc.stream(STREAM).and_then(|mut s| s.read_sctp()) {
                Ok(Some(chunks)) => chunks,
                Ok(None) | Err(_) => break,
            };
            let rbuf = &mut a.peering.rbuf;
            let start = rbuf.len();
            rbuf.resize(start + chunks.len(), 0);
            match chunks.read(&mut rbuf[start..]) {
                Ok(n) => rbuf.truncate(start + n),
                Err(e) => {
                    self.fail(driver, key, &format_args!("bad SCTP message: {e}"));
                    return;
                }
            }
        }
        if let Some(a) = self.assocs.get_mut(key) {
            a.peering.release_idle_buffer();
        }
        self.write_out(driver, key);
    }

    /// Pulls transmits from the Vocket while the association has room.
    fn pull(&mut self, driver: &mut Driver, key: usize) {
        let Some(a) = self.assocs.get_mut(key) else {
            return;
        };
        if a.peering.phase != Phase::Up {
            return;
        }
        let mut room = SEND_HIGH.saturating_sub(a.buffered());
        let mut result = Ok(());
        while room > 0 && result.is_ok() {
            // A segment at a time, so that SCTP messages stay at most SEGMENT bytes.
            let encoded = a.peering.fill(driver, room.min(SEGMENT));
            if encoded == 0 {
                break;
            }
            room = room.saturating_sub(encoded);
            if a.peering.out.len() >= SEGMENT {
                result = a.flush_out();
            }
        }
        if let Err(e) = result.and_then(|()| a.flush_out()) {
            log::debug!("{}: write failed: {e}", a.peering);
            self.shutdown(driver, key);
        }
    }

    fn on_datagram(&mut self, driver: &mut Driver, udp: usize, from: SocketAddr, data: Bytes) {
        let now = driver.now();
        // For the (rate-limited) log lines about this datagram.
        let address = move |scheme: &str| format!("{scheme}://{}", format_addr(from));
        let Some(u) = self.udps.get_mut(udp) else {
            return;
        };
        // An INIT (first chunk type 1, verification tag 0) for a new association while
        // the handshake table is full: the oldest association still in the handshake
        // makes room, as a SYN cache does. A flood then costs honest peers nothing
        // unless it outruns their round trip.
        // Only a packet with a right checksum evicts: random bytes never do.
        if data.len() >= 16
            && data[12] == 1
            && data[4..8] == [0, 0, 0, 0]
            && u.handshaking >= MAX_HANDSHAKING
            && crate::checksum_ok(&data)
        {
            let sock = u.listener.as_ref().map(|l| l.sock);
            while let Some((k, generation)) = u.pending.pop_front() {
                if self.assocs.get(k).is_some_and(|a| {
                    a.peering.generation == generation && a.peering.phase == Phase::Connecting
                }) {
                    if let Some(sock) = sock {
                        driver.hostile_input(
                            sock,
                            address,
                            &"handshake table full: the oldest pending association evicted",
                        );
                    }
                    u.evicted += 1;
                    self.remove_assoc(driver, k);
                    break;
                }
            }
        }
        let Some(u) = self.udps.get_mut(udp) else {
            return;
        };
        let packet = data.clone();
        let handled = catch_unwind(AssertUnwindSafe(|| {
            u.endpoint.handle(now, from, None, None, data)
        }));
        let (handle, event) = match handled {
            Ok(Some(r)) => r,
            Ok(None) => {
                // Dropped by the stack. A bad checksum is counted (checked only here,
                // off the path of packets the stack takes); an out-of-the-blue
                // SHUTDOWN-ACK with a good one is answered.
                let sock = u.listener.as_ref().map(|l| l.sock);
                if !crate::checksum_ok(&packet) {
                    if let Some(sock) = sock {
                        driver.hostile_input(sock, address, &"SCTP packet with a bad checksum");
                    }
                } else if let Some(reply) = crate::ootb::reply_to_checked(&packet) {
                    let _ = u.socket.send_to(&reply, from);
                }
                return;
            }
            Err(_) => {
                if let Some(sock) = u.listener.as_ref().map(|l| l.sock) {
                    driver.hostile_input(
                        sock,
                        address,
                        &"the SCTP stack failed on this packet; dropped",
                    );
                }
                return;
            }
        };
        match event {
            DatagramEvent::NewAssociation(assoc) => {
                let Some(sock) = u.listener.as_ref().map(|l| l.sock) else {
                    return;
                };
                if let Some(key) =
                    self.add_assoc(driver, sock, udp, handle, assoc, Origin::Accepted)
                {
                    self.touched.push(key);
                }
            }
            DatagramEvent::AssociationEvent(ev) => {
                let Some(&key) = self.routes.get(&(udp, handle.0)) else {
                    return;
                };
                let Some(a) = self.assocs.get_mut(key) else {
                    return;
                };
                if catch_unwind(AssertUnwindSafe(|| a.assoc.handle_event(ev))).is_err() {
                    self.stack_failed(driver, key, "on a packet");
                    return;
                }
                self.touched.push(key);
            }
        }
    }

    /// Reads what the socket has. Associations are driven once per batch of
    /// datagrams, not once per datagram: sctp-proto's `poll_transmit` walks the whole
    /// in-flight queue, so driving after every SACK made the cost per packet grow
    /// with the window.
    fn read_udp(&mut self, driver: &mut Driver, udp: usize) {
        let mut read = 0;
        let mut metas = [RecvMeta::default(); BATCH_SIZE];
        loop {
            if read >= READ_BUDGET {
                // Edge-triggered: the next turn's timer reads on.
                driver.set_timer(driver.now(), timer_key(TIMER_READ, 0, udp));
                break;
            }
            let Some(u) = self.udps.get(udp) else {
                break;
            };
            let n = {
                let mut bufs: SmallVec<[IoSliceMut<'_>; BATCH_SIZE]> = self
                    .datagram
                    .chunks_mut(DATAGRAM_MAX)
                    .map(IoSliceMut::new)
                    .collect();
                match u.state.recv((&u.socket).into(), &mut bufs, &mut metas) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // ICMP errors surface here on some systems; the association's
                        // own timers decide whether the peer is gone. An error costs
                        // the budget a datagram, so a persistent one cannot spin.
                        log::debug!("recv on {} failed: {e}", u.local);
                        read += 1;
                        continue;
                    }
                }
            };
            // The buffer is lent out while its datagrams are handled (no copy of it).
            let buffer = std::mem::take(&mut self.datagram);
            for (i, meta) in metas.iter().take(n).enumerate() {
                let slot = &buffer[i * DATAGRAM_MAX..][..meta.len.min(DATAGRAM_MAX)];
                // A GRO read holds several datagrams of `stride` bytes (the last may
                // be shorter); an empty datagram is one too (and counted as hostile).
                let stride = if meta.stride == 0 {
                    slot.len()
                } else {
                    meta.stride
                };
                let empty = slot.is_empty().then_some(&[][..]);
                for d in slot.chunks(stride.max(1)).chain(empty) {
                    // Copied: a datagram kept by the stack must not pin the slot.
                    self.on_datagram(driver, udp, meta.addr, Bytes::copy_from_slice(d));
                    read += 1;
                    if read % READ_BATCH == 0 {
                        self.drive_touched(driver);
                    }
                }
            }
            self.datagram = buffer;
        }
        self.drive_touched(driver);
    }

    fn drive_touched(&mut self, driver: &mut Driver) {
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort_unstable();
        touched.dedup();
        for &key in &touched {
            self.drive(driver, key);
        }
        touched.clear();
        if self.touched.is_empty() {
            self.touched = touched;
        }
    }

    /// Stops accepting on a bound socket; its associations shut down gracefully and
    /// the socket closes after the last one.
    fn retire_udp(&mut self, driver: &mut Driver, udp: usize) {
        let Some(u) = self.udps.get_mut(udp) else {
            return;
        };
        u.retired = true;
        u.listener = None;
        u.endpoint.reject_new_associations();
        let keys: Vec<usize> = u.assocs.iter().copied().collect();
        for k in keys {
            self.shutdown(driver, k);
        }
        if self.udps.get(udp).is_some_and(|u| u.assocs.is_empty()) {
            self.remove_udp(driver, udp);
        }
    }

    fn remove_udp(&mut self, driver: &mut Driver, udp: usize) {
        if self.udps.contains(udp) {
            let mut u = self.udps.remove(udp);
            let _ = driver.registry().deregister(&mut u.socket);
        }
    }
}

/// Most bytes joined for one GSO send (the kernel takes up to 64 KiB with headers).
const GSO_BYTES: usize = 60 * 1024;

/// Sends what an association has queued: each run of datagrams of one size (the last
/// may be shorter) in one GSO send where the socket can, else one by one. A datagram
/// the socket cannot take now is dropped: SCTP retransmits it.
fn send_transmits(
    udps: &Slab<Udp>,
    now: Instant,
    udp: usize,
    assoc: &mut Association,
    gso: &mut Vec<u8>,
) {
    let Some(u) = udps.get(udp) else {
        return;
    };
    // A full socket drops the rest of this call's packets (SCTP retransmits them)
    // without a failing syscall for each.
    let mut full = false;
    while let Some(t) = assoc.poll_transmit(now) {
        let Payload::RawEncode(datagrams) = t.payload else {
            continue;
        };
        let mut rest = &datagrams[..];
        while let Some(first) = rest.first()
            && !full
        {
            // Read per run: a refused GSO send lowers it.
            let max_segments = u.state.max_gso_segments();
            let seg = first.len();
            let (mut n, mut total) = (1, seg);
            while n < rest.len()
                && n < max_segments
                && rest[n - 1].len() == seg
                && rest[n].len() <= seg
                && total + rest[n].len() <= GSO_BYTES
            {
                total += rest[n].len();
                n += 1;
            }
            let contents: &[u8] = if n == 1 {
                first
            } else {
                gso.clear();
                for d in &rest[..n] {
                    gso.extend_from_slice(d);
                }
                gso
            };
            let send = |contents: &[u8], segment_size| {
                let transmit = UdpTransmit {
                    destination: t.remote,
                    ecn: None,
                    contents,
                    segment_size,
                    src_ip: None,
                };
                u.state.try_send((&u.socket).into(), &transmit)
            };
            match send(contents, (n > 1).then_some(seg)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => full = true,
                Err(e) if n > 1 => {
                    // GSO refused (quinn-udp lowers max_gso_segments): one by one.
                    log::debug!("GSO send to {} failed ({e}); sending singly", t.remote);
                    for d in &rest[..n] {
                        let _ = send(d, None);
                    }
                }
                Err(e) => log::debug!("send to {} failed: {e}", t.remote),
            }
            rest = &rest[n..];
        }
    }
}

impl Assoc {
    /// Moves what the session encoded into the association, in SCTP messages of at
    /// most [`SEGMENT`] bytes.
    fn flush_out(&mut self) -> std::result::Result<(), sctp_proto::Error> {
        if self.peering.phase == Phase::Connecting {
            return Ok(());
        }
        let mut stream = self.assoc.stream(STREAM)?;
        while !self.peering.out.is_empty() {
            // One SCTP user message per segment: a lone piece goes as it is (shared,
            // not copied); several (a frame header and the start of a large payload)
            // are joined, since SCTP pays per message and a copy of 64 KiB is cheap
            // next to that. Where segments end does not matter to the receiver.
            let mut pieces = self.peering.out.take_front(SEGMENT);
            let message = if pieces.len() == 1 {
                pieces.swap_remove(0)
            } else {
                let mut joined = BytesMut::with_capacity(pieces.iter().map(Bytes::len).sum());
                for p in &pieces {
                    joined.extend_from_slice(p);
                }
                joined.freeze()
            };
            stream.write_sctp(&message, PPI)?;
        }
        Ok(())
    }

    fn buffered(&mut self) -> usize {
        self.assoc
            .stream(STREAM)
            .and_then(|s| s.buffered_amount())
            .unwrap_or(0)
    }
}

impl Transport for SctpTransport {
    fn secures(&self) -> bool {
        true
    }

    fn adjust_options(&self, opts: &mut SocketOptions) {
        // sctp-proto sends no SCTP HEARTBEATs: ZMTP PING/PONG watches idle peerings.
        opts.heartbeat_ivl.get_or_insert(self.cfg.heartbeat_ivl);
    }

    fn bind(
        &mut self,
        driver: &mut Driver,
        sock: SocketId,
        endpoint: &VtxEndpoint,
    ) -> Result<String> {
        let (k, bound) = endpoint.bind_with(|addr| {
            let k = self.add_udp(driver, addr, true)?;
            Ok((k, self.udps[k].local))
        })?;
        let name = BoundAs {
            bound: bound.clone(),
            asked: endpoint.to_string(),
        };
        self.udps[k].listener = Some(Listener { sock, name });
        self.sockets.of(sock).listeners.push(k);
        log::debug!("{sock} listening on {bound}");
        Ok(bound)
    }

    fn unbind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let udps = &self.udps;
        let k = self.sockets.take_listener(sock, endpoint, |k| {
            udps.get(k)
                .and_then(|u| u.listener.as_ref())
                .is_some_and(|l| l.name.is(endpoint))
        })?;
        // The associations live on the listener's socket: they end with it.
        self.retire_udp(driver, k);
        Ok(())
    }

    fn connect(
        &mut self,
        driver: &mut Driver,
        sock: SocketId,
        endpoint: &VtxEndpoint,
    ) -> Result<()> {
        let target = endpoint.connect_addrs()?[0];
        let ck = self
            .connecters
            .connect(driver, &mut self.sockets, sock, endpoint, target);
        self.attempt(driver, ck);
        Ok(())
    }

    fn disconnect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()> {
        let link = self
            .connecters
            .disconnect(&mut self.sockets, sock, endpoint)?;
        if let Some((key, a)) = link.and_then(|k| Some((k, self.assocs.get_mut(k)?))) {
            // Detached: the shutdown does not schedule a reconnect.
            a.peering.origin = Origin::Accepted;
            if let Some(p) = a.peering.peer.take() {
                driver.peer_down(sock, p);
            }
            self.shutdown(driver, key);
        }
        Ok(())
    }

    fn close_socket(&mut self, _core: &mut Driver, sock: SocketId) {
        let Some((listeners, links)) = self.connecters.close_socket(&mut self.sockets, sock) else {
            return;
        };
        for k in links {
            if let Some(a) = self.assocs.get_mut(k) {
                a.peering.origin = Origin::Accepted;
            }
        }
        // A listener's socket carries its associations: stop accepting but keep it
        // until the socket is destroyed, so queued messages still flush (linger).
        for k in listeners {
            if let Some(u) = self.udps.get_mut(k) {
                u.endpoint.reject_new_associations();
                if let Some(l) = u.listener.as_mut() {
                    l.name = BoundAs::default();
                }
            }
            self.sockets.of(sock).listeners.push(k);
        }
    }

    fn has_pending(&self, sock: SocketId) -> bool {
        self.sockets.get(sock).is_some_and(|e| {
            e.links.iter().any(|&k| {
                self.assocs
                    .get(k)
                    .is_some_and(|a| !a.peering.out.is_empty() || a.unacked > 0)
            })
        })
    }

    fn destroy_socket(&mut self, driver: &mut Driver, sock: SocketId) {
        self.close_socket(driver, sock);
        let Some(entries) = self.sockets.remove(sock) else {
            return;
        };
        for key in entries.links {
            if let Some(a) = self.assocs.get_mut(key) {
                a.peering.peer = None;
                a.peering.origin = Origin::Accepted;
            }
            // A graceful goodbye: the peer learns at once, not by a timeout. The
            // association outlives the socket until SHUTDOWN completes.
            self.shutdown(driver, key);
        }
        for k in entries.listeners {
            self.retire_udp(driver, k);
        }
    }

    fn ready(&mut self, driver: &mut Driver, token: mio::Token, event: &mio::event::Event) {
        if event.is_readable() {
            self.read_udp(driver, token.0);
        }
    }

    fn timer(&mut self, driver: &mut Driver, key: u64) {
        let (kind, generation, k) = split_timer_key(key);
        match kind {
            // A socket of a reused slot just gets read: harmless.
            TIMER_READ => self.read_udp(driver, k),
            TIMER_ASSOC => {
                let now = driver.now();
                let Some(a) = self
                    .assocs
                    .get_mut(k)
                    .filter(|a| a.peering.generation == generation)
                else {
                    return;
                };
                if !a.armed.fired(now) {
                    return; // superseded
                }
                if a.close_by.is_some_and(|c| c <= now) {
                    log::debug!("{}: did not confirm the shutdown", a.peering);
                    self.remove_assoc(driver, k);
                    return;
                }
                if catch_unwind(AssertUnwindSafe(|| a.assoc.handle_timeout(now))).is_err() {
                    self.stack_failed(driver, k, "on a timer");
                    return;
                }
                self.drive(driver, k);
            }
            TIMER_HANDSHAKE
                if self.assocs.get(k).is_some_and(|a| {
                    a.peering.generation == generation && a.peering.handshaking()
                }) =>
            {
                self.fail(driver, k, &"handshake timeout");
            }
            TIMER_RECONNECT if self.connecters.is_due(k, generation) => self.attempt(driver, k),
            _ => {}
        }
    }

    fn close(&mut self, driver: &mut Driver, conn: ConnId, reason: &DownReason) {
        let Some((key, a)) = self.live(conn) else {
            return;
        };
        a.peering.closed_by_vocket(reason);
        match reason {
            // A silent peer will not answer a SHUTDOWN.
            DownReason::HeartbeatTimeout => self.remove_assoc(driver, key),
            _ => self.shutdown(driver, key),
        }
    }

    fn resume(&mut self, driver: &mut Driver, conn: ConnId) {
        let Some((key, a)) = self.live(conn) else {
            return;
        };
        a.peering.paused = false;
        self.on_readable(driver, key);
        self.drive(driver, key);
    }

    fn flush(&mut self, driver: &mut Driver, conn: ConnId) {
        // Transmits go out when the association is driven.
        if let Some((key, _)) = self.live(conn) {
            self.drive(driver, key);
        }
    }

    fn socket_meta(&self, sock: SocketId, key: &str) -> Option<String> {
        // The handshake tables of the socket's listeners (MAX_HANDSHAKING each).
        let listeners = &self.sockets.get(sock)?.listeners;
        let sum = |f: fn(&Udp) -> u64| {
            listeners
                .iter()
                .filter_map(|&k| self.udps.get(k))
                .map(f)
                .sum::<u64>()
                .to_string()
        };
        match key {
            "sctp-handshaking" => Some(sum(|u| u.handshaking as u64)),
            "sctp-evicted" => Some(sum(|u| u.evicted)),
            _ => None,
        }
    }

    fn peer_meta(&self, conn: ConnId, key: &str) -> Option<String> {
        let (generation, k) = split_conn_id(conn);
        let a = self
            .assocs
            .get(k)
            .filter(|a| a.peering.generation == generation)?;
        match key {
            "sctp-rtt-ms" => Some(a.assoc.rtt().as_millis().to_string()),
            "sctp-backend" => Some("userspace".into()),
            _ => None,
        }
    }
}
