//! `VtxSocket`: a real libzmq socket whose other end is a driver.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use vtx_emul::options::DEFAULT_MAX_MSG_SIZE;
use vtx_emul::pattern::PeerProperties;
use vtx_emul::runtime::{DriverHandle, SocketId, SocketShared};
use vtx_emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramCredentials};
use vtx_emul::security::{Authenticator, Security};
use vtx_emul::{Endpoint, Error, Result, SocketOptions, SocketType, Stats};

use crate::manager::Inner;

struct Attached {
    driver: Arc<DriverHandle>,
}

/// vtx options that libzmq has no (readable, or meaningful through the pipe) option for.
#[derive(Clone, Debug, Default)]
struct Overrides {
    req_resend_ivl: Option<Option<Duration>>,
    req_failover: Option<bool>,
    max_peers: Option<usize>,
    router_mandatory: Option<bool>,
    router_handover: Option<bool>,
    router_notify: Option<u8>,
    probe_router: Option<bool>,
    xpub_nodrop: Option<bool>,
    xpub_welcome: Option<Option<bytes::Bytes>>,
    metadata: Vec<(bytes::Bytes, bytes::Bytes)>,
    max_msg_size: Option<Option<u64>>,
    max_subscriptions: Option<(usize, usize)>,
    transport: Option<vtx_emul::options::TransportConfig>,
    security: Option<Security>,
    identity_from_user: Option<bool>,
}

/// A vtx socket: a real libzmq socket for the application, whose peer is a driver.
///
/// Its methods are libzmq's where libzmq has them (`send`, `recv_multipart`,
/// `set_sndhwm`, `get_socket_type`, ...), with libzmq's signatures and errors, and
/// vtx's for the rest: `bind`, `connect`, `unbind` and `disconnect` go to the driver
/// named by the endpoint's scheme (`udp://`, `tls://`...), and there is no way to reach
/// libzmq's methods of those names by accident. [`VtxSocket::as_poll_item`] puts it in
/// a `zmq::poll` beside any other 0MQ socket.
///
/// Where one pipe to the driver would change what libzmq's socket does, this type
/// puts it back: a send with no peering to take it fails with `EAGAIN` (or blocks up to
/// `SNDTIMEO`) as in libzmq, a ROUTER under ROUTER_MANDATORY fails with `EHOSTUNREACH`
/// for an identity no peering has, and a ROUTER says it is a ROUTER. What still
/// differs is listed in `docs/semantics.md`.
///
/// Options that shape peerings (HWMs, identity, heartbeats, reconnects, MAXMSGSIZE,
/// LINGER) apply to peerings that come up after they are set, as in libzmq; set after
/// `bind`/`connect`, they reach the driver at once. Dropping the socket closes it; the
/// driver flushes what was sent for up to `LINGER` (-1, libzmq's default: until sent,
/// but at most 2 s once the manager shuts down).
pub struct VtxSocket {
    socket: zmq::Socket,
    ty: SocketType,
    id: SocketId,
    inner: Arc<Inner>,
    shared: Arc<SocketShared>,
    attached: RefCell<Option<Attached>>,
    overrides: RefCell<Overrides>,
    /// A message is half sent: its first frame passed the checks, the rest follows.
    mid_send: Cell<bool>,
    /// PUB/XPUB: the message being sent found the pipe full and is dropped, frame by
    /// frame, as libzmq's PUB drops at its HWM.
    dropping: Cell<bool>,
    /// Endpoints connected and not disconnected: libzmq keeps a pipe for each, unless
    /// IMMEDIATE, which takes messages before a peering is up.
    connects: Cell<usize>,
    immediate: Cell<bool>,
    /// REQ: a request went out and its reply has not been read (libzmq's EFSM state).
    req_waiting: Cell<bool>,
    req_relaxed: Cell<bool>,
    /// Whole messages received: which one the last was, for its peer's properties.
    received: Cell<u64>,
    conflate: Cell<bool>,
}

impl fmt::Debug for VtxSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VtxSocket")
            .field("type", &self.ty)
            .field("id", &self.id)
            .field("driver", &self.driver_name())
            .finish()
    }
}

fn ms(v: i32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(v as u64))
}

/// libzmq's options that the driver reads: set through the socket, they are forwarded
/// to the driver once it is attached.
macro_rules! driver_options {
    ($($(#[$doc:meta])* $get:ident / $set:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $get(&self) -> zmq::Result<$ty> {
                self.socket.$get()
            }

            #[doc = concat!("Sets the option [`VtxSocket::", stringify!($get), "`] reads; reaches the driver at once.")]
            pub fn $set(&self, value: $ty) -> Result<()> {
                self.socket.$set(value)?;
                self.sync_options()
            }
        )*
    };
}

/// libzmq's options that stay with the application's socket.
macro_rules! app_options {
    ($($(#[$doc:meta])* $get:ident / $set:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $get(&self) -> zmq::Result<$ty> {
                self.socket.$get()
            }

            #[doc = concat!("Sets the option [`VtxSocket::", stringify!($get), "`] reads.")]
            pub fn $set(&self, value: $ty) -> zmq::Result<()> {
                self.socket.$set(value)
            }
        )*
    };
}

impl VtxSocket {
    pub(crate) fn new(
        socket: zmq::Socket,
        ty: SocketType,
        id: SocketId,
        inner: Arc<Inner>,
    ) -> VtxSocket {
        VtxSocket {
            socket,
            ty,
            id,
            inner,
            shared: Arc::default(),
            attached: RefCell::new(None),
            overrides: RefCell::new(Overrides::default()),
            mid_send: Cell::new(false),
            dropping: Cell::new(false),
            connects: Cell::new(0),
            immediate: Cell::new(false),
            req_waiting: Cell::new(false),
            req_relaxed: Cell::new(false),
            received: Cell::new(0),
            conflate: Cell::new(false),
        }
    }

    /// The 0MQ socket type asked for.
    pub fn socket_type(&self) -> SocketType {
        self.ty
    }

    /// The 0MQ socket type asked for, as libzmq names it (a ROUTER is a ROUTER, though
    /// the pipe's end in the application is a libzmq DEALER carrying ROUTER framing).
    pub fn get_socket_type(&self) -> zmq::Result<zmq::SocketType> {
        Ok(vtx_emul::runtime::to_zmq(self.ty))
    }

    /// The scheme of the driver this socket uses, once bound or connected.
    pub fn driver_name(&self) -> Option<String> {
        self.attached
            .borrow()
            .as_ref()
            .map(|a| a.driver.scheme().to_owned())
    }

    // ----- the data path ----------------------------------------------------------------

    /// Sends one frame (`zmq::SNDMORE` for more to come), as `zmq::Socket::send`.
    ///
    /// Fails with `EAGAIN` under `DONTWAIT` (or blocks up to `SNDTIMEO`) while no
    /// peering could take the message, as libzmq does for PUSH, DEALER, REQ and PAIR
    /// with no pipe; with ROUTER_MANDATORY, fails with `EHOSTUNREACH` when no peering
    /// has the identity in the first frame.
    pub fn send<T: Into<zmq::Message>>(&self, data: T, flags: i32) -> zmq::Result<()> {
        let msg = data.into();
        if self.lossy() {
            return self.send_lossy(msg, flags);
        }
        self.check_send(&msg, flags)?;
        let r = self.socket.send(msg, flags);
        self.after_send(&r, flags);
        r
    }

    /// PUB/XPUB without XPUB_NODROP: never blocks; a message that finds the pipe full
    /// is dropped whole (the pipe's end says EAGAIN rather than drop: see
    /// `vtx_emul::runtime::app_socket`).
    fn send_lossy(&self, msg: zmq::Message, flags: i32) -> zmq::Result<()> {
        let more = flags & zmq::SNDMORE != 0;
        if !self.dropping.get() {
            match self.socket.send(msg, flags | zmq::DONTWAIT) {
                Err(zmq::Error::EAGAIN) if !self.mid_send.get() => self.dropping.set(true),
                r => {
                    r?;
                    self.mid_send.set(more);
                }
            }
        }
        if !more {
            self.dropping.set(false);
        }
        Ok(())
    }

    fn lossy(&self) -> bool {
        matches!(self.ty, SocketType::Pub | SocketType::XPub)
            && !self.overrides.borrow().xpub_nodrop.unwrap_or(false)
    }

    /// Sends a message frame by frame, as `zmq::Socket::send_multipart`.
    pub fn send_multipart<I, T>(&self, iter: I, flags: i32) -> zmq::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<zmq::Message>,
    {
        let mut frames = iter.into_iter().map(Into::<zmq::Message>::into).peekable();
        while let Some(frame) = frames.next() {
            let more = if frames.peek().is_some() {
                zmq::SNDMORE
            } else {
                0
            };
            self.send(frame, flags | more)?;
        }
        Ok(())
    }

    /// Receives a frame into `msg`, as `zmq::Socket::recv`.
    pub fn recv(&self, msg: &mut zmq::Message, flags: i32) -> zmq::Result<()> {
        self.socket.recv(msg, flags)?;
        self.after_recv(msg.get_more());
        Ok(())
    }

    /// Receives a frame, as `zmq::Socket::recv_msg`.
    pub fn recv_msg(&self, flags: i32) -> zmq::Result<zmq::Message> {
        let mut msg = zmq::Message::new();
        self.recv(&mut msg, flags)?;
        Ok(msg)
    }

    /// Receives a frame into a buffer, as `zmq::Socket::recv_into`: its full size, which
    /// may exceed what fitted.
    pub fn recv_into(&self, bytes: &mut [u8], flags: i32) -> zmq::Result<usize> {
        let n = self.socket.recv_into(bytes, flags)?;
        self.after_recv(self.socket.get_rcvmore()?);
        Ok(n)
    }

    /// Receives a frame as bytes, as `zmq::Socket::recv_bytes`.
    pub fn recv_bytes(&self, flags: i32) -> zmq::Result<Vec<u8>> {
        self.recv_msg(flags).map(|m| m.to_vec())
    }

    /// Receives a frame as text (or its bytes, when not UTF-8), as
    /// `zmq::Socket::recv_string`.
    pub fn recv_string(&self, flags: i32) -> zmq::Result<std::result::Result<String, Vec<u8>>> {
        self.recv_bytes(flags)
            .map(|b| String::from_utf8(b).map_err(|e| e.into_bytes()))
    }

    /// Receives every frame of a message, as `zmq::Socket::recv_multipart`.
    pub fn recv_multipart(&self, flags: i32) -> zmq::Result<Vec<Vec<u8>>> {
        let mut frames = Vec::new();
        loop {
            let msg = self.recv_msg(flags)?;
            let more = msg.get_more();
            frames.push(msg.to_vec());
            if !more {
                return Ok(frames);
            }
        }
    }

    /// Whether the last frame received has more after it.
    pub fn get_rcvmore(&self) -> zmq::Result<bool> {
        self.socket.get_rcvmore()
    }

    /// `ZMQ_EVENTS` of the application's socket.
    ///
    /// `POLLOUT` says the pipe to the driver has room, which it has while no peering is
    /// up (libzmq: while some pipe has room); [`VtxSocket::send`] then says `EAGAIN`.
    pub fn get_events(&self) -> zmq::Result<zmq::PollEvents> {
        self.socket.get_events()
    }

    /// A poll item for `zmq::poll`, mixing this socket with any other 0MQ socket.
    pub fn as_poll_item(&self, events: zmq::PollEvents) -> zmq::PollItem<'_> {
        self.socket.as_poll_item(events)
    }

    /// The application's end of the pipe to the driver: the real libzmq socket, for
    /// libzmq calls this type does not offer (`zmq::proxy`, an option vtx does not
    /// forward). Its `bind` and `connect` are libzmq's own and reach no vtx transport,
    /// and what is sent through it skips [`VtxSocket::send`]'s checks (`EAGAIN`
    /// without peers, `EHOSTUNREACH`).
    pub fn pipe_end(&self) -> &zmq::Socket {
        &self.socket
    }

    /// Polls this socket alone, as `zmq::Socket::poll`.
    pub fn poll(&self, events: zmq::PollEvents, timeout_ms: i64) -> zmq::Result<i32> {
        self.socket.poll(events, timeout_ms)
    }

    /// libzmq's checks that one pipe to the driver cannot make: is there a peering
    /// for this message?
    fn check_send(&self, first: &[u8], flags: i32) -> zmq::Result<()> {
        if self.mid_send.get() {
            return Ok(());
        }
        let ready: fn(&SocketShared) -> bool = match self.ty {
            // libzmq's REQ says EFSM before it looks for a pipe.
            SocketType::Req if self.req_waiting.get() && !self.req_relaxed.get() => return Ok(()),
            SocketType::Push | SocketType::Dealer | SocketType::Req | SocketType::Pair => {
                if self.connects.get() > 0 && !self.immediate.get() {
                    // libzmq queues for a connected endpoint before its peering is up.
                    return Ok(());
                }
                |s| s.peer_count() > 0
            }
            SocketType::Router if self.router_mandatory() => {
                return if self.shared.has_route(first) {
                    Ok(())
                } else {
                    Err(zmq::Error::EHOSTUNREACH)
                };
            }
            _ => return Ok(()),
        };
        if ready(&self.shared) {
            return Ok(());
        }
        let timeout = match self.socket.get_sndtimeo()? {
            _ if flags & zmq::DONTWAIT != 0 => return Err(zmq::Error::EAGAIN),
            0 => return Err(zmq::Error::EAGAIN),
            t if t < 0 => None,
            t => Some(Duration::from_millis(t as u64)),
        };
        if self.shared.wait(timeout, ready) {
            Ok(())
        } else {
            Err(zmq::Error::EAGAIN)
        }
    }

    fn after_send(&self, r: &zmq::Result<()>, flags: i32) {
        if r.is_ok() {
            let more = flags & zmq::SNDMORE != 0;
            self.mid_send.set(more);
            if !more && self.ty == SocketType::Req {
                self.req_waiting.set(true);
            }
        }
    }

    fn after_recv(&self, more: bool) {
        if !more {
            self.received.set(self.received.get() + 1);
            if self.ty == SocketType::Req {
                self.req_waiting.set(false);
            }
        }
    }

    fn router_mandatory(&self) -> bool {
        self.overrides.borrow().router_mandatory.unwrap_or(false)
    }

    // ----- options -----------------------------------------------------------------------

    driver_options! {
        /// SNDHWM: messages queued per peering.
        get_sndhwm / set_sndhwm: i32,
        /// RCVHWM: messages from one peering waiting for the application.
        get_rcvhwm / set_rcvhwm: i32,
        /// LINGER in milliseconds (-1: until sent).
        get_linger / set_linger: i32,
        /// MAXMSGSIZE: the largest message taken from a peer (-1: vtx's 64 MiB default).
        get_maxmsgsize / set_maxmsgsize: i64,
        /// HEARTBEAT_IVL in milliseconds.
        get_heartbeat_ivl / set_heartbeat_ivl: i32,
        /// HEARTBEAT_TIMEOUT in milliseconds.
        get_heartbeat_timeout / set_heartbeat_timeout: i32,
        /// HEARTBEAT_TTL in milliseconds.
        get_heartbeat_ttl / set_heartbeat_ttl: i32,
        /// HANDSHAKE_IVL in milliseconds.
        get_handshake_ivl / set_handshake_ivl: i32,
        /// RECONNECT_IVL in milliseconds.
        get_reconnect_ivl / set_reconnect_ivl: i32,
        /// RECONNECT_IVL_MAX in milliseconds.
        get_reconnect_ivl_max / set_reconnect_ivl_max: i32,
    }

    app_options! {
        /// RCVTIMEO in milliseconds.
        get_rcvtimeo / set_rcvtimeo: i32,
        /// SNDTIMEO in milliseconds.
        get_sndtimeo / set_sndtimeo: i32,
    }

    /// CONFLATE: keep only the last message received.
    pub fn is_conflate(&self) -> zmq::Result<bool> {
        self.socket.is_conflate()
    }

    /// Sets CONFLATE.
    pub fn set_conflate(&self, on: bool) -> zmq::Result<()> {
        self.socket.set_conflate(on)?;
        self.conflate.set(on);
        Ok(())
    }

    /// Adds an application property announced to peers in the handshake, as libzmq's
    /// `ZMQ_METADATA` with `"X-name:value"` (ZMTP transports: tcp6, tls, sctp; NOM-2 has
    /// no place for it). `EINVAL` unless the name starts with `X-`, has no `:` and is
    /// at most 255 bytes, and all of them stay within 16 KiB.
    pub fn set_metadata(&self, name: &str, value: &[u8]) -> Result<()> {
        let current = self.overrides.borrow().metadata.clone();
        let with = SocketOptions::default()
            .with_metadata(current)
            .add_metadata(name, value)
            .ok_or(Error::Zmq(zmq::Error::EINVAL))?;
        self.set_override(|o| o.metadata = with.metadata)
    }

    /// ROUTING_ID (IDENTITY): announced to peers that come up later.
    pub fn get_identity(&self) -> zmq::Result<Vec<u8>> {
        self.socket.get_identity()
    }

    /// Sets the ROUTING_ID announced to peers; reaches the driver at once.
    pub fn set_identity(&self, identity: &[u8]) -> Result<()> {
        self.socket.set_identity(identity)?;
        self.sync_options()
    }

    /// SUB: subscribes to a topic prefix.
    pub fn set_subscribe(&self, topic: &[u8]) -> zmq::Result<()> {
        self.socket.set_subscribe(topic)
    }

    /// SUB: cancels a subscription.
    pub fn set_unsubscribe(&self, topic: &[u8]) -> zmq::Result<()> {
        self.socket.set_unsubscribe(topic)
    }

    /// IMMEDIATE: queue only for peerings that are up, not for endpoints being
    /// connected.
    pub fn is_immediate(&self) -> zmq::Result<bool> {
        Ok(self.immediate.get())
    }

    /// Sets IMMEDIATE.
    pub fn set_immediate(&self, on: bool) -> zmq::Result<()> {
        self.socket.set_immediate(on)?;
        self.immediate.set(on);
        Ok(())
    }

    /// REQ_RELAXED: a REQ may send a new request before the reply to the last.
    pub fn set_req_relaxed(&self, on: bool) -> zmq::Result<()> {
        self.socket.set_req_relaxed(on)?;
        self.req_relaxed.set(on);
        Ok(())
    }

    /// REQ_CORRELATE: a REQ tags its requests and takes only the matching reply.
    pub fn set_req_correlate(&self, on: bool) -> zmq::Result<()> {
        self.socket.set_req_correlate(on)
    }

    /// XPUB_VERBOSE: every subscription reaches the application, not only new ones.
    pub fn set_xpub_verbose(&self, on: bool) -> zmq::Result<()> {
        self.socket.set_xpub_verbose(on)
    }

    /// XPUB_WELCOME_MSG: sent to each new subscriber, before anything else (by the
    /// driver, to each peering: the application's XPUB has one pipe and would send it
    /// once). Reaches the driver at once.
    pub fn set_xpub_welcome_msg(&self, msg: Option<&str>) -> Result<()> {
        let msg = msg.map(|m| bytes::Bytes::copy_from_slice(m.as_bytes()));
        self.set_override(|o| o.xpub_welcome = Some(msg))
    }

    /// ZMQ_LAST_ENDPOINT is libzmq's for its own transports: for vtx, the endpoint
    /// [`VtxSocket::bind`] returns is the one to give peers.
    pub fn get_last_endpoint(&self) -> zmq::Result<std::result::Result<String, Vec<u8>>> {
        Err(zmq::Error::ENOTSUP)
    }

    /// The options the driver uses: the application socket's libzmq options, then the
    /// vtx ones set here.
    pub fn options(&self) -> Result<SocketOptions> {
        let s = &self.socket;
        // libzmq's MAXMSGSIZE default is -1 (no limit); vtx keeps a limit unless one is set.
        let max = s.get_maxmsgsize()?;
        let linger = s.get_linger()?;
        let mut o = SocketOptions::default()
            .with_sndhwm(usize::try_from(s.get_sndhwm()?).unwrap_or(0))
            .with_rcvhwm(usize::try_from(s.get_rcvhwm()?).unwrap_or(0))
            .with_identity(
                Some(s.get_identity()?)
                    .filter(|i| !i.is_empty())
                    .map(Into::into),
            )
            .with_heartbeat_ivl(ms(s.get_heartbeat_ivl()?))
            .with_heartbeat_timeout(ms(s.get_heartbeat_timeout()?))
            .with_heartbeat_ttl(ms(s.get_heartbeat_ttl()?))
            .with_max_msg_size(Some(if max < 0 {
                DEFAULT_MAX_MSG_SIZE
            } else {
                max as u64
            }))
            .with_handshake_ivl(ms(s.get_handshake_ivl()?))
            .with_reconnect_ivl(ms(s.get_reconnect_ivl()?))
            .with_reconnect_ivl_max(ms(s.get_reconnect_ivl_max()?))
            .with_linger((linger >= 0).then(|| Duration::from_millis(linger as u64)));
        let v = self.overrides.borrow();
        if let Some(x) = v.req_resend_ivl {
            o.req_resend_ivl = x;
        }
        if let Some(x) = v.req_failover {
            o.req_failover = x;
        }
        if let Some(x) = v.max_peers {
            o.max_peers = x;
        }
        if let Some(x) = v.router_mandatory {
            o.router_mandatory = x;
        }
        if let Some(x) = v.router_handover {
            o.router_handover = x;
        }
        if let Some(x) = v.router_notify {
            o.router_notify = x;
        }
        if let Some(x) = v.probe_router {
            o.probe_router = x;
        }
        if let Some(x) = v.xpub_nodrop {
            o.xpub_nodrop = x;
        }
        if let Some(x) = &v.xpub_welcome {
            o.xpub_welcome = x.clone();
        }
        o.metadata = v.metadata.clone();
        if let Some(x) = v.max_msg_size {
            o.max_msg_size = x;
        }
        if let Some((n, bytes)) = v.max_subscriptions {
            o.max_subscriptions = n;
            o.max_subscription_bytes = bytes;
        }
        if let Some(x) = &v.transport {
            o.transport = x.clone();
        }
        if let Some(x) = &v.security {
            o.security = x.clone();
        }
        if let Some(x) = v.identity_from_user {
            o.identity_from_user = x;
        }
        Ok(o)
    }

    /// Gives the driver the current options, if attached.
    fn sync_options(&self) -> Result<()> {
        let driver = self.attached.borrow().as_ref().map(|a| a.driver.clone());
        match driver {
            Some(d) => d.set_options(self.id, self.options()?),
            None => Ok(()),
        }
    }

    fn set_override(&self, f: impl FnOnce(&mut Overrides)) -> Result<()> {
        f(&mut self.overrides.borrow_mut());
        self.sync_options()
    }

    /// REQ: resend an unanswered request to the same peering after this long, on
    /// datagram transports (default 200 ms there; `None` turns resending off). The REP
    /// end drops the duplicates.
    pub fn set_req_resend_ivl(&self, ivl: Option<Duration>) -> Result<()> {
        self.set_override(|o| o.req_resend_ivl = Some(ivl))
    }

    /// REQ: when the peering holding an unanswered request goes down, send it to
    /// another peering (at least once: the lost peer may have acted on it). Off by
    /// default: as in libzmq, a request is sent once, and lost with its peering.
    pub fn set_req_failover(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.req_failover = Some(on))
    }

    /// Most peerings this socket accepts; the next is refused with the transport's reject.
    pub fn set_max_peers(&self, n: usize) -> Result<()> {
        self.set_override(|o| o.max_peers = Some(n))
    }

    /// ROUTER_MANDATORY: a send to an identity no peering has fails with
    /// `EHOSTUNREACH`; a message for a peering at SNDHWM waits (and the ones after it)
    /// instead of being dropped.
    pub fn set_router_mandatory(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.router_mandatory = Some(on))
    }

    /// Whether ROUTER_MANDATORY is on.
    pub fn is_router_mandatory(&self) -> zmq::Result<bool> {
        Ok(self.router_mandatory())
    }

    /// ROUTER_HANDOVER: a new peering with an identity in use takes it over.
    pub fn set_router_handover(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.router_handover = Some(on))
    }

    /// ROUTER_NOTIFY (a draft option in libzmq): an empty message from a peering's
    /// identity when it comes up (`vtx::emul::options::NOTIFY_CONNECT`) or goes down
    /// (`NOTIFY_DISCONNECT`).
    pub fn set_router_notify(&self, flags: u8) -> Result<()> {
        self.set_override(|o| o.router_notify = Some(flags))
    }

    /// PROBE_ROUTER (DEALER, REQ, ROUTER): each new peering is sent an empty message
    /// first, so a ROUTER there learns of it at once.
    pub fn set_probe_router(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.probe_router = Some(on))
    }

    /// XPUB_NODROP (PUB, XPUB): a message for a subscriber at SNDHWM waits instead of
    /// being dropped for it, and sends fail with `EAGAIN` (or block up to SNDTIMEO)
    /// once the pipe to the driver is full too.
    pub fn set_xpub_nodrop(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.xpub_nodrop = Some(on))
    }

    /// Largest message accepted from a peer (`None`: no limit). Default 64 MiB.
    pub fn set_max_msg_size(&self, max: Option<u64>) -> Result<()> {
        self.set_override(|o| o.max_msg_size = Some(max))
    }

    /// PUB/XPUB: most subscriptions one peering may hold, and most bytes of their
    /// topics; a peering that asks for more is dropped and counted in `over_limit`.
    /// Defaults: 100,000 and 8 MiB (docs/limits.md).
    pub fn set_max_subscriptions(&self, n: usize, bytes: usize) -> Result<()> {
        self.set_override(|o| o.max_subscriptions = Some((n, bytes)))
    }

    /// Transport-specific settings for this socket, overriding the driver's defaults for
    /// later binds and connects (for `tls://`: a `vtx::tls::TlsConfig`).
    pub fn set_transport_config<T: std::any::Any + Send + Sync>(&self, config: T) -> Result<()> {
        self.set_override(|o| o.transport = Some(vtx_emul::options::TransportConfig::new(config)))
    }

    /// The ZMTP security mechanism for later binds and connects (see
    /// `vtx::emul::security`): NULL by default. Transports without ZMTP (`udp://`)
    /// refuse to bind or connect a socket with another.
    pub fn set_security(&self, security: Security) -> Result<()> {
        let before = self.overrides.borrow().security.clone();
        self.set_override(|o| o.security = Some(security))
            .inspect_err(|_| {
                // Refused by the driver (a transport without ZMTP): the socket keeps
                // the mechanism it had, and its other options still apply.
                self.overrides.borrow_mut().security = before;
            })
    }

    /// PLAIN server (libzmq's PLAIN_SERVER): every client's user name and password go
    /// to `authenticator` (a [`vtx_emul::security::PlainPasswords`] table, or a
    /// closure); its `User-Id` becomes a property of the client's messages. PLAIN
    /// sends passwords in clear: use it inside `tls://`.
    pub fn set_plain_server(&self, authenticator: impl Authenticator) -> Result<()> {
        self.set_security(Security::PlainServer {
            authenticator: Arc::new(authenticator),
        })
    }

    /// PLAIN client (libzmq's PLAIN_USERNAME and PLAIN_PASSWORD): these credentials,
    /// each at most 255 bytes.
    pub fn set_plain_client(&self, username: &[u8], password: &[u8]) -> Result<()> {
        let security =
            Security::plain_client(username, password).ok_or_else(|| Error::InvalidConfig {
                reason: "PLAIN user name and password are at most 255 bytes each".into(),
            })?;
        self.set_security(security)
    }

    /// ZMTP-SASL client (docs/zmtp-sasl.md): SCRAM-SHA-256 on any transport;
    /// SCRAM-SHA-256-PLUS, EXTERNAL (the TLS client certificate) and PLAIN only on
    /// `tls://` (elsewhere bind and connect fail).
    pub fn set_sasl_client(&self, client: SaslClient) -> Result<()> {
        self.set_security(Security::SaslClient(Arc::new(client)))
    }

    /// ZMTP-SASL server of `mechanism`: SCRAM and PLAIN look users up in
    /// `credentials` (a [`vtx_emul::sasl::ScramUsers`] table or file, or a closure);
    /// `authenticator` decides on each authenticated client
    /// ([`vtx_emul::security::AllowAny`] lets every one in; ZAP asks a handler). Its
    /// `User-Id` is the client's authzid if it asked for one, else its authcid,
    /// unless the authenticator names it otherwise.
    pub fn set_sasl_server(
        &self,
        mechanism: SaslMechanism,
        credentials: impl ScramCredentials,
        authenticator: impl Authenticator,
    ) -> Result<()> {
        let server = SaslServer::random(mechanism, Arc::new(credentials), Arc::new(authenticator));
        self.set_security(Security::SaslServer(Arc::new(server)))
    }

    /// A server's authenticated peers are named by their `User-Id`: a ROUTER then
    /// addresses a client by who it proved to be (its PLAIN user, its CURVE key in
    /// Z85, what a ZAP handler answered), never by the identity it announced.
    pub fn set_identity_from_user(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.identity_from_user = Some(on))
    }

    /// CURVE server (libzmq's CURVE_SERVER with CURVE_SECRETKEY): `secret_keys` in
    /// Z85, the current one first (a client that still knows an older one gets in
    /// too, so keys rotate without downtime); `authenticator` decides by the client's
    /// public key ([`vtx_emul::security::AllowedKeys`], or
    /// [`vtx_emul::security::AllowAny`] for encryption without client checks).
    pub fn set_curve_server(
        &self,
        secret_keys: &[&str],
        authenticator: impl Authenticator,
    ) -> Result<()> {
        let security =
            Security::curve_server(secret_keys, Arc::new(authenticator)).ok_or_else(|| {
                Error::InvalidConfig {
                    reason: "CURVE server keys are 40-character Z85 secret keys, at least one"
                        .into(),
                }
            })?;
        self.set_security(security)
    }

    /// CURVE client (libzmq's CURVE_SERVERKEY and CURVE_SECRETKEY; the public key
    /// follows from the secret): both in Z85.
    pub fn set_curve_client(&self, server_key: &str, secret_key: &str) -> Result<()> {
        let security =
            Security::curve_client(server_key, secret_key).ok_or_else(|| Error::InvalidConfig {
                reason: "CURVE keys are 40-character Z85 keys".into(),
            })?;
        self.set_security(security)
    }

    // ----- endpoints ---------------------------------------------------------------------

    /// Attaches to the endpoint's driver (first call), or checks it is the same one.
    fn attach(&self, endpoint: &Endpoint) -> Result<Arc<DriverHandle>> {
        if let Some(a) = self.attached.borrow().as_ref() {
            if a.driver.scheme() != endpoint.scheme() {
                return Err(Error::MixedDrivers {
                    current: a.driver.scheme().to_owned(),
                    requested: endpoint.scheme().to_owned(),
                });
            }
            a.driver.set_options(self.id, self.options()?)?;
            return Ok(a.driver.clone());
        }
        let driver = self.inner.driver(endpoint.scheme())?;
        let pipe = driver.open(self.id, self.ty, self.options()?, self.shared.clone())?;
        if let Err(e) = self.socket.connect(&pipe) {
            let _ = driver.close(self.id);
            return Err(e.into());
        }
        *self.attached.borrow_mut() = Some(Attached {
            driver: driver.clone(),
        });
        Ok(driver)
    }

    fn attached_driver(&self, endpoint: &str) -> Result<Arc<DriverHandle>> {
        let ep = Endpoint::parse(endpoint)?;
        let attached = self.attached.borrow();
        let a = attached.as_ref().ok_or(Error::NotAttached)?;
        if a.driver.scheme() != ep.scheme() {
            return Err(Error::UnknownEndpoint {
                endpoint: endpoint.into(),
            });
        }
        Ok(a.driver.clone())
    }

    /// Binds to `scheme://address`; returns the endpoint bound (port 0 resolved).
    pub fn bind(&self, endpoint: &str) -> Result<String> {
        let ep = Endpoint::parse(endpoint)?;
        self.attach(&ep)?.bind(self.id, ep)
    }

    /// Connects to `scheme://address`. Peerings come up in the background; until then,
    /// messages queue for them (unless IMMEDIATE), as in libzmq.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let ep = Endpoint::parse(endpoint)?;
        self.attach(&ep)?.connect(self.id, ep)?;
        self.connects.set(self.connects.get() + 1);
        Ok(())
    }

    /// Stops listening on an endpoint `bind` was given or returned.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.attached_driver(endpoint)?.unbind(self.id, endpoint)
    }

    /// Stops connecting to an endpoint and drops its peerings.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.attached_driver(endpoint)?
            .disconnect(self.id, endpoint)?;
        self.connects.set(self.connects.get().saturating_sub(1));
        Ok(())
    }

    fn driver(&self) -> Result<Arc<DriverHandle>> {
        self.attached
            .borrow()
            .as_ref()
            .map(|a| a.driver.clone())
            .ok_or(Error::NotAttached)
    }

    // ----- what the driver knows ---------------------------------------------------------

    /// Number of live peerings (0 before the first `bind`/`connect`). Read without
    /// asking the driver: it is current as of the driver's last pass over the socket.
    pub fn peer_count(&self) -> usize {
        self.shared.peer_count()
    }

    /// The socket's counters: messages in and out, drops by cause, peerings up and
    /// refused, heartbeat timeouts, handshake failures and protocol errors.
    pub fn stats(&self) -> Result<Stats> {
        self.driver()?.stats(self.id)
    }

    /// The properties of the peer the last message received came from, as libzmq's
    /// `zmq_msg_gets` gives for its messages (`Socket-Type`, `Identity`, `Peer-Address`,
    /// and what the peer announced: `X-...`). Messages cross an inproc pipe, which
    /// carries no properties, so the driver tells: it numbers what it hands over and
    /// this socket counts what it receives. `None` before the first message, and for
    /// one received through [`VtxSocket::pipe_end`]; with CONFLATE, and on a REQ, the
    /// peer is that of the last message the driver handed over (a REQ hears only the
    /// peer its request went to).
    pub fn peer_properties(&self) -> Result<Option<Arc<PeerProperties>>> {
        let n = self.received.get();
        if n == 0 {
            return Ok(None);
        }
        let which = (!self.conflate.get() && self.ty != SocketType::Req).then(|| n - 1);
        self.driver()?.properties(self.id, which)
    }

    /// A property of the peer the last message received came from (see
    /// [`VtxSocket::peer_properties`]), as text, as `zmq::Message::gets`.
    pub fn msg_gets(&self, property: &str) -> Result<Option<String>> {
        Ok(self
            .peer_properties()?
            .and_then(|p| p.get(property))
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Schemed address of the peering whose message went to the application last
    /// (`udp://192.0.2.7:32000`).
    pub fn last_peer(&self) -> Result<Option<String>> {
        self.meta("last-peer")
    }

    /// Reads metadata by key, as the seed's `vtx_getmeta`: `peers`, `last-peer`,
    /// `socket-type`, the counters of [`VtxSocket::stats`] (`msgs-in`, `msgs-out`,
    /// `dropped`, `dropped-hwm`, `refused`, `heartbeat-timeouts`, `handshake-failures`,
    /// `protocol-errors`, ...), `driver-timers` (entries in the driver's timer heap), `driver-sockets` (sockets
    /// it serves, lingering ones included),
    /// transport keys (`sctp-evicted`), and transport keys of the last peer as
    /// `last-peer.<key>` (TLS: `last-peer.cert-subject`).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.driver()?.meta(self.id, key)
    }

    /// Publishes lifecycle events on a PAIR socket the driver connects to `endpoint`
    /// (an `inproc://` endpoint the application bound with a PAIR socket). Each event is
    /// three frames: name (`peer-up`, `peer-down`, `heartbeat-timeout`, `refused`,
    /// `handshake-failed`, `auth-failed`, `protocol-error`, `dropped`), the peer's
    /// schemed address (empty when not known), and a reason (`hwm`, `unroutable`,
    /// `appfull`, `invalid`, `duplicate`, `peergone` and a count for drops; for
    /// `auth-failed` the ZAP status first: `400 ...`).
    pub fn monitor(&self, endpoint: &str) -> Result<()> {
        self.driver()?.monitor(self.id, endpoint)
    }
}

/// A vtx socket has a peer once a peering is up.
impl vtx_emul::Peered for VtxSocket {
    fn peered(&self) -> bool {
        self.peer_count() > 0
    }
}

impl Drop for VtxSocket {
    fn drop(&mut self) {
        if let Some(a) = self.attached.get_mut().take() {
            // The driver takes what we sent before answering, then lingers to flush it.
            if let Err(e) = a.driver.close(self.id) {
                log::debug!("closing socket {}: {e}", self.id);
            }
        }
        // Whatever remains (a gone driver) must not hold up context termination.
        let _ = self.socket.set_linger(0);
    }
}
