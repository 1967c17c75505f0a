//! Per-socket options shared by the pattern layer and the transports, with their defaults.
//!
//! The manager fills these from the application socket's own libzmq options (SNDHWM,
//! RCVHWM, ROUTING_ID, HEARTBEAT_*, MAXMSGSIZE, HANDSHAKE_IVL, RECONNECT_IVL*, LINGER)
//! when it binds or connects, as libzmq applies options to later connections, then
//! applies the vtx-only options the application set, then lets the transport fill what
//! is still unset (a datagram transport needs heartbeats where TCP does not).

use std::any::Any;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::security::Security;

/// Transport-specific configuration for one socket (the TLS settings of a `tls://`
/// socket, for instance), overriding the driver's defaults. Opaque to everything but
/// the transport that knows its type.
#[derive(Clone, Default)]
pub struct TransportConfig(Option<Arc<dyn Any + Send + Sync>>);

impl TransportConfig {
    /// Wraps a transport's configuration value.
    pub fn new<T: Any + Send + Sync>(value: T) -> TransportConfig {
        TransportConfig(Some(Arc::new(value)))
    }

    /// The value, if one of type `T` was set.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.0.as_ref().and_then(|v| v.downcast_ref::<T>())
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "TransportConfig(set)"
        } else {
            "TransportConfig(none)"
        })
    }
}

impl PartialEq for TransportConfig {
    fn eq(&self, other: &TransportConfig) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for TransportConfig {}

/// Default maximum message size (64 MiB): checked before any allocation.
pub const DEFAULT_MAX_MSG_SIZE: u64 = 64 * 1024 * 1024;
/// Default handshake timeout, as libzmq's `ZMQ_HANDSHAKE_IVL`.
pub const DEFAULT_HANDSHAKE_IVL: Duration = Duration::from_secs(30);
/// Default reconnect interval, as libzmq's `ZMQ_RECONNECT_IVL`.
pub const DEFAULT_RECONNECT_IVL: Duration = Duration::from_millis(100);
/// Default high-water mark, as libzmq's `ZMQ_SNDHWM`/`ZMQ_RCVHWM`.
pub const DEFAULT_HWM: usize = 1000;
/// Default maximum peerings per socket.
pub const DEFAULT_MAX_PEERS: usize = 100_000;
/// The longest a closed socket lingers while its manager shuts down, whatever its
/// LINGER: shutting down must not hang on a peer that never drains.
pub const SHUTDOWN_LINGER: Duration = Duration::from_secs(2);
/// Default most subscriptions one peering may hold at a publisher.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 100_000;
/// Default most bytes of subscription topics one peering may hold at a publisher.
pub const DEFAULT_MAX_SUBSCRIPTION_BYTES: usize = 8 * 1024 * 1024;

/// Options of one vtx socket. Durations of `None` mean "off" (LINGER: "no limit").
///
/// Fields can be read and assigned; new ones will come, so build from the default with
/// the `with_*` setters:
///
/// ```
/// # use vtx_emul::SocketOptions;
/// let o = SocketOptions::default().with_sndhwm(10).with_req_failover(true);
/// assert_eq!(o.sndhwm, 10);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SocketOptions {
    /// Messages queued per peering before it counts as full (0: no limit).
    /// Full peerings are skipped by load balancing; PUB and ROUTER drop for them.
    pub sndhwm: usize,
    /// Messages waiting for the application pipe before the driver stops reading stream
    /// peerings (and drops on datagram peerings). 0: no limit.
    pub rcvhwm: usize,
    /// This socket's identity, announced to peers (ZMTP `Identity`, NOM-2 OHAI).
    pub identity: Option<Bytes>,
    /// Send a heartbeat when nothing has been heard for this long.
    pub heartbeat_ivl: Option<Duration>,
    /// Declare a peering dead when nothing has been heard for this long
    /// (default: the heartbeat interval, as libzmq).
    pub heartbeat_timeout: Option<Duration>,
    /// TTL announced in our heartbeats: the peer may drop us after this much silence.
    pub heartbeat_ttl: Option<Duration>,
    /// REQ: resend the outstanding request to the same peering after this long
    /// (datagram transports; `None` on streams, which do not lose messages).
    pub req_resend_ivl: Option<Duration>,
    /// REQ: when the peering holding an unanswered request goes down, send the request
    /// to another peering. Off, as in libzmq: a request is sent once (at most once);
    /// on, the lost peer may have acted on it too (at least once).
    pub req_failover: bool,
    /// ROUTER (libzmq's ROUTER_MANDATORY): the application's send of a message to an
    /// unknown identity fails with `EHOSTUNREACH` (checked by `VtxSocket::send`), and a
    /// message for a peering at SNDHWM waits instead of being dropped.
    pub router_mandatory: bool,
    /// ROUTER (libzmq's draft ROUTER_NOTIFY): the application hears of peerings coming
    /// up ([`NOTIFY_CONNECT`]) and going down ([`NOTIFY_DISCONNECT`]) as an empty
    /// message from their identity.
    pub router_notify: u8,
    /// ROUTER, DEALER, REQ (libzmq's PROBE_ROUTER): every new peering is sent one
    /// empty message first, so a ROUTER learns of it at once.
    pub probe_router: bool,
    /// PUB/XPUB (libzmq's XPUB_NODROP): a message for a subscriber at SNDHWM waits, and
    /// the application's sends with it, instead of being dropped for that subscriber.
    pub xpub_nodrop: bool,
    /// XPUB (libzmq's XPUB_WELCOME_MSG): sent to every subscriber that comes up, first.
    pub xpub_welcome: Option<Bytes>,
    /// ROUTER: a new peering with an identity in use takes it over (ROUTER_HANDOVER)
    /// instead of being refused.
    pub router_handover: bool,
    /// Most peerings this socket accepts; the next is refused with the transport's reject.
    pub max_peers: usize,
    /// PUB/XPUB: most subscriptions one peering may hold; a peering that asks for more
    /// is dropped (logged, counted in `over-limit`).
    pub max_subscriptions: usize,
    /// PUB/XPUB: most bytes of topics one peering may hold subscribed, likewise.
    pub max_subscription_bytes: usize,
    /// Properties announced to peers in the handshake (libzmq's ZMQ_METADATA): names
    /// start with `X-` (checked by [`SocketOptions::add_metadata`]). Transports with a
    /// handshake of properties (ZMTP: tcp6, tls, sctp) send them; NOM-2 has none.
    pub metadata: Vec<(Bytes, Bytes)>,
    /// Largest message accepted from a peer, in bytes (`None`: no limit).
    pub max_msg_size: Option<u64>,
    /// A peering that has not completed its handshake by then is dropped.
    pub handshake_ivl: Option<Duration>,
    /// Reconnect after this long when a connected peering goes away (`None`: never).
    pub reconnect_ivl: Option<Duration>,
    /// Upper bound of the exponential reconnect backoff (`None`: fixed interval).
    pub reconnect_ivl_max: Option<Duration>,
    /// How long a closed socket keeps flushing queued messages to its peerings (`None`:
    /// until they are sent, as libzmq's LINGER -1; at most [`SHUTDOWN_LINGER`] while
    /// the manager shuts down).
    pub linger: Option<Duration>,
    /// Per-socket transport configuration (e.g. TLS certificates), if any.
    pub transport: TransportConfig,
    /// The ZMTP security mechanism (NULL by default). Transports without ZMTP refuse
    /// to bind or connect a socket that asks for another.
    pub security: Security,
    /// A server's peers are named by who authentication says they are: a ROUTER's
    /// identity for a peer is its `User-Id` (the identity it announced is ignored).
    /// Only authenticated peers have one, so this needs a server mechanism.
    pub identity_from_user: bool,
}

impl Default for SocketOptions {
    fn default() -> SocketOptions {
        SocketOptions {
            sndhwm: DEFAULT_HWM,
            rcvhwm: DEFAULT_HWM,
            identity: None,
            heartbeat_ivl: None,
            heartbeat_timeout: None,
            heartbeat_ttl: None,
            req_resend_ivl: None,
            req_failover: false,
            router_mandatory: false,
            router_notify: 0,
            probe_router: false,
            xpub_nodrop: false,
            xpub_welcome: None,
            router_handover: false,
            max_peers: DEFAULT_MAX_PEERS,
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            max_subscription_bytes: DEFAULT_MAX_SUBSCRIPTION_BYTES,
            metadata: Vec::new(),
            max_msg_size: Some(DEFAULT_MAX_MSG_SIZE),
            handshake_ivl: Some(DEFAULT_HANDSHAKE_IVL),
            reconnect_ivl: Some(DEFAULT_RECONNECT_IVL),
            reconnect_ivl_max: None,
            linger: None,
            transport: TransportConfig::default(),
            security: Security::Null,
            identity_from_user: false,
        }
    }
}

/// [`SocketOptions::router_notify`]: peerings coming up.
pub const NOTIFY_CONNECT: u8 = 1;
/// [`SocketOptions::router_notify`]: peerings going down.
pub const NOTIFY_DISCONNECT: u8 = 2;

/// `with_<field>(value)` for every field: the options with that one changed.
macro_rules! setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        impl SocketOptions {
            $(
                #[doc = concat!("These options with [`SocketOptions::", stringify!($field), "`] set.")]
                #[must_use]
                pub fn $setter(mut self, value: $ty) -> SocketOptions {
                    self.$field = value;
                    self
                }
            )*
        }
    };
}

setters! {
    with_sndhwm => sndhwm: usize,
    with_rcvhwm => rcvhwm: usize,
    with_identity => identity: Option<Bytes>,
    with_heartbeat_ivl => heartbeat_ivl: Option<Duration>,
    with_heartbeat_timeout => heartbeat_timeout: Option<Duration>,
    with_heartbeat_ttl => heartbeat_ttl: Option<Duration>,
    with_req_resend_ivl => req_resend_ivl: Option<Duration>,
    with_req_failover => req_failover: bool,
    with_router_mandatory => router_mandatory: bool,
    with_router_notify => router_notify: u8,
    with_router_handover => router_handover: bool,
    with_probe_router => probe_router: bool,
    with_xpub_nodrop => xpub_nodrop: bool,
    with_xpub_welcome => xpub_welcome: Option<Bytes>,
    with_max_peers => max_peers: usize,
    with_max_subscriptions => max_subscriptions: usize,
    with_max_subscription_bytes => max_subscription_bytes: usize,
    with_max_msg_size => max_msg_size: Option<u64>,
    with_metadata => metadata: Vec<(Bytes, Bytes)>,
    with_handshake_ivl => handshake_ivl: Option<Duration>,
    with_reconnect_ivl => reconnect_ivl: Option<Duration>,
    with_reconnect_ivl_max => reconnect_ivl_max: Option<Duration>,
    with_linger => linger: Option<Duration>,
    with_transport => transport: TransportConfig,
    with_security => security: Security,
    with_identity_from_user => identity_from_user: bool,
}

/// Most bytes of application metadata (names and values) a socket announces: a READY
/// must stay well under the 64 KiB a peer accepts before its handshake completes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

impl SocketOptions {
    /// Adds (or replaces) an application property announced to peers, as libzmq's
    /// `ZMQ_METADATA` with `"X-name:value"`. `None` when the name does not start with
    /// `X-`, is longer than 255 bytes (ZMTP's limit), has a `:`, or the properties would
    /// pass [`MAX_METADATA_BYTES`].
    #[must_use]
    pub fn add_metadata(mut self, name: &str, value: &[u8]) -> Option<SocketOptions> {
        let is_x = name.len() > 2 && name.as_bytes()[..2].eq_ignore_ascii_case(b"X-");
        if !is_x || name.len() > 255 || name.contains(':') {
            return None;
        }
        self.metadata
            .retain(|(k, _)| !k.eq_ignore_ascii_case(name.as_bytes()));
        let total: usize = self.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if total + name.len() + value.len() > MAX_METADATA_BYTES {
            return None;
        }
        self.metadata.push((
            Bytes::copy_from_slice(name.as_bytes()),
            Bytes::copy_from_slice(value),
        ));
        Some(self)
    }

    /// The effective heartbeat timeout: the option, or the interval (libzmq's default).
    pub fn effective_heartbeat_timeout(&self) -> Option<Duration> {
        self.heartbeat_timeout.or(self.heartbeat_ivl)
    }

    /// Whether a message of `len` bytes is over the size limit.
    pub fn too_big(&self, len: u64) -> bool {
        self.max_msg_size.is_some_and(|max| len > max)
    }
}
