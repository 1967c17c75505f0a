//! `VtxSocket`: a real libzmq socket whose other end is a driver.

use std::cell::RefCell;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use vtx_emul::options::{DEFAULT_LINGER, DEFAULT_MAX_MSG_SIZE};
use vtx_emul::runtime::{DriverHandle, SocketId};
use vtx_emul::{Endpoint, Error, Result, SocketOptions, SocketType};

use crate::manager::Inner;

struct Attached {
    driver: Arc<DriverHandle>,
}

/// vtx-only options that libzmq has no (readable) option for.
#[derive(Clone, Debug, Default)]
struct Overrides {
    req_resend_ivl: Option<Option<Duration>>,
    max_peers: Option<usize>,
    router_mandatory: Option<bool>,
    router_handover: Option<bool>,
    max_msg_size: Option<Option<u64>>,
    max_subscriptions: Option<(usize, usize)>,
    transport: Option<vtx_emul::options::TransportConfig>,
}

/// A vtx socket: derefs to the application's real [`zmq::Socket`].
///
/// `send`, `recv`, `zmq::poll` and libzmq's options work as on any socket. The type
/// libzmq sees is the application type of docs/architecture.md §2: a ROUTER is a DEALER carrying the
/// ROUTER framing (first frame: the peer's identity). `bind`, `connect`, `unbind` and
/// `disconnect` here go to the driver named by the endpoint's scheme. Dropping the
/// socket closes it; the driver flushes what was sent for up to `ZMQ_LINGER`.
pub struct VtxSocket {
    socket: zmq::Socket,
    ty: SocketType,
    id: SocketId,
    inner: Arc<Inner>,
    attached: RefCell<Option<Attached>>,
    overrides: RefCell<Overrides>,
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

impl Deref for VtxSocket {
    type Target = zmq::Socket;

    fn deref(&self) -> &zmq::Socket {
        &self.socket
    }
}

fn ms(v: i32) -> Option<Duration> {
    (v > 0).then(|| Duration::from_millis(v as u64))
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
            attached: RefCell::new(None),
            overrides: RefCell::new(Overrides::default()),
        }
    }

    /// The 0MQ socket type asked for (ROUTER for a ROUTER, though libzmq sees a DEALER).
    pub fn socket_type(&self) -> SocketType {
        self.ty
    }

    /// The scheme of the driver this socket uses, once bound or connected.
    pub fn driver_name(&self) -> Option<String> {
        self.attached
            .borrow()
            .as_ref()
            .map(|a| a.driver.scheme().to_owned())
    }

    /// The options the driver will use: the application socket's libzmq options, then
    /// the vtx-only ones set here.
    pub fn options(&self) -> Result<SocketOptions> {
        let s = &self.socket;
        // libzmq's MAXMSGSIZE default is -1 (no limit); vtx keeps a limit unless one is set.
        let max = s.get_maxmsgsize()?;
        let linger = s.get_linger()?;
        let mut o = SocketOptions {
            sndhwm: usize::try_from(s.get_sndhwm()?).unwrap_or(0),
            rcvhwm: usize::try_from(s.get_rcvhwm()?).unwrap_or(0),
            identity: Some(s.get_identity()?)
                .filter(|i| !i.is_empty())
                .map(Into::into),
            heartbeat_ivl: ms(s.get_heartbeat_ivl()?),
            heartbeat_timeout: ms(s.get_heartbeat_timeout()?),
            heartbeat_ttl: ms(s.get_heartbeat_ttl()?),
            max_msg_size: Some(if max < 0 {
                DEFAULT_MAX_MSG_SIZE
            } else {
                max as u64
            }),
            handshake_ivl: ms(s.get_handshake_ivl()?),
            reconnect_ivl: ms(s.get_reconnect_ivl()?),
            reconnect_ivl_max: ms(s.get_reconnect_ivl_max()?),
            linger: if linger < 0 {
                DEFAULT_LINGER
            } else {
                Duration::from_millis(linger as u64)
            },
            ..SocketOptions::default()
        };
        let v = self.overrides.borrow();
        if let Some(x) = v.req_resend_ivl {
            o.req_resend_ivl = x;
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
        Ok(o)
    }

    fn set_override(&self, f: impl FnOnce(&mut Overrides)) -> Result<()> {
        f(&mut self.overrides.borrow_mut());
        let driver = self.attached.borrow().as_ref().map(|a| a.driver.clone());
        match driver {
            Some(d) => d.set_options(self.id, self.options()?),
            None => Ok(()),
        }
    }

    /// REQ: resend an unanswered request after this long (datagram transports default
    /// to 200 ms; `None` turns resending off).
    pub fn set_req_resend_ivl(&self, ivl: Option<Duration>) -> Result<()> {
        self.set_override(|o| o.req_resend_ivl = Some(ivl))
    }

    /// Most peerings this socket accepts; the next is refused with the transport's reject.
    pub fn set_max_peers(&self, n: usize) -> Result<()> {
        self.set_override(|o| o.max_peers = Some(n))
    }

    /// ROUTER: report unroutable messages as monitor events (they are dropped and
    /// counted either way; the application's send has already succeeded).
    pub fn set_router_mandatory(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.router_mandatory = Some(on))
    }

    /// ROUTER: a new peering with an identity in use takes it over.
    pub fn set_router_handover(&self, on: bool) -> Result<()> {
        self.set_override(|o| o.router_handover = Some(on))
    }

    /// Largest message accepted from a peer (`None`: no limit). Default 64 MiB.
    pub fn set_max_msg_size(&self, max: Option<u64>) -> Result<()> {
        self.set_override(|o| o.max_msg_size = Some(max))
    }

    /// PUB/XPUB: most subscriptions one peering may hold, and most bytes of their
    /// topics; a peering that asks for more is dropped and counted in `over-limit`.
    /// Defaults: 100,000 and 8 MiB (docs/limits.md).
    pub fn set_max_subscriptions(&self, n: usize, bytes: usize) -> Result<()> {
        self.set_override(|o| o.max_subscriptions = Some((n, bytes)))
    }

    /// Transport-specific settings for this socket, overriding the driver's defaults for
    /// later binds and connects (for `tls://`: a `vtx::tls::TlsConfig`).
    pub fn set_transport_config<T: std::any::Any + Send + Sync>(&self, config: T) -> Result<()> {
        self.set_override(|o| o.transport = Some(vtx_emul::options::TransportConfig::new(config)))
    }

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
        let pipe = driver.open(self.id, self.ty, self.options()?)?;
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

    /// Connects to `scheme://address`. Peerings come up in the background.
    pub fn connect(&self, endpoint: &str) -> Result<()> {
        let ep = Endpoint::parse(endpoint)?;
        self.attach(&ep)?.connect(self.id, ep)
    }

    /// Stops listening on an endpoint `bind` was given or returned.
    pub fn unbind(&self, endpoint: &str) -> Result<()> {
        self.attached_driver(endpoint)?.unbind(self.id, endpoint)
    }

    /// Stops connecting to an endpoint and drops its peerings.
    pub fn disconnect(&self, endpoint: &str) -> Result<()> {
        self.attached_driver(endpoint)?
            .disconnect(self.id, endpoint)
    }

    fn driver(&self) -> Result<Arc<DriverHandle>> {
        self.attached
            .borrow()
            .as_ref()
            .map(|a| a.driver.clone())
            .ok_or(Error::NotAttached)
    }

    /// Reads metadata from the driver: `peers`, `last-peer` (the schemed address of the
    /// peer whose message was last queued for this socket, e.g. `udp://192.0.2.7:32000`),
    /// counters (`msgs-in`, `msgs-out`, `dropped`, `dropped-hwm`, `refused`,
    /// `heartbeat-timeouts`, `handshake-failures`, ...), and transport keys of the last
    /// peer as `last-peer.<key>` (TLS: `last-peer.cert-subject`).
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.driver()?.meta(self.id, key)
    }

    /// Number of live peerings.
    pub fn peer_count(&self) -> Result<usize> {
        Ok(self
            .meta("peers")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// Schemed address of the last peer a message came from.
    pub fn last_peer(&self) -> Result<Option<String>> {
        self.meta("last-peer")
    }

    /// Publishes lifecycle events on a PAIR socket the driver connects to `endpoint`
    /// (an `inproc://` endpoint the application bound with a PAIR socket). Each event is
    /// three frames: name (`peer-up`, `peer-down`, `heartbeat-timeout`, `refused`,
    /// `handshake-failed`, `dropped`), the peer's schemed address (empty when not known),
    /// and a reason (`hwm`, `unroutable`, `appfull`, `invalid`, `duplicate` for drops).
    pub fn monitor(&self, endpoint: &str) -> Result<()> {
        self.driver()?.monitor(self.id, endpoint)
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
