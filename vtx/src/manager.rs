//! The manager: drivers by scheme, sockets, and the calls that route between them.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use vtx_emul::runtime::{DriverHandle, SocketId, Transport, app_socket, from_zmq};
use vtx_emul::{Endpoint, Error, Result};

use crate::socket::VtxSocket;

pub(crate) struct Inner {
    pub(crate) ctx: zmq::Context,
    drivers: RwLock<HashMap<String, Arc<DriverHandle>>>,
    /// Schemes whose drivers were shut down: asking for them is `DriverGone`, not
    /// `UnknownScheme`.
    gone: RwLock<Vec<String>>,
    next_socket: AtomicU64,
}

impl Inner {
    pub(crate) fn driver(&self, scheme: &str) -> Result<Arc<DriverHandle>> {
        let drivers = self.drivers.read().map_err(|_| Error::DriverGone {
            driver: scheme.into(),
        })?;
        drivers
            .get(scheme)
            .cloned()
            .ok_or_else(|| Error::UnknownScheme {
                scheme: scheme.into(),
            })
    }

    fn shutdown(&self) {
        let drivers: Vec<(String, Arc<DriverHandle>)> = match self.drivers.write() {
            Ok(mut d) => d.drain().collect(),
            Err(_) => return,
        };
        if let Ok(mut g) = self.gone.write() {
            g.extend(drivers.iter().map(|(s, _)| s.clone()));
        }
        let drivers = drivers.into_iter().map(|(_, d)| d);
        for d in drivers {
            d.shutdown();
        }
    }
}

/// The VTX manager: registers drivers and creates sockets that use them.
///
/// Dropping it shuts every driver down: sockets still open are closed (each lingers at
/// most its `ZMQ_LINGER`, capped at 2 s), driver threads are joined, and calls on
/// surviving [`VtxSocket`]s return [`Error::DriverGone`].
pub struct Vtx {
    inner: Arc<Inner>,
}

impl fmt::Debug for Vtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vtx")
            .field("schemes", &self.schemes())
            .finish()
    }
}

impl Vtx {
    /// A manager using `ctx` for the application sockets and the pipes.
    pub fn new(ctx: &zmq::Context) -> Vtx {
        Vtx {
            inner: Arc::new(Inner {
                ctx: ctx.clone(),
                drivers: RwLock::new(HashMap::new()),
                gone: RwLock::new(Vec::new()),
                next_socket: AtomicU64::new(1),
            }),
        }
    }

    /// An authenticator asking the ZAP handler (RFC 27) of this manager's context,
    /// the application's, for `domain`, waiting up to
    /// [`vtx_emul::runtime::zap::DEFAULT_ZAP_TIMEOUT`]: give it to
    /// `VtxSocket::set_plain_server` or `set_curve_server`, and a ZAP handler written
    /// for libzmq decides for vtx peers (see `vtx_emul::runtime::zap`).
    pub fn zap_authenticator(
        &self,
        domain: &str,
    ) -> Result<vtx_emul::runtime::zap::ZapAuthenticator> {
        Ok(vtx_emul::runtime::zap::ZapAuthenticator::new(
            &self.inner.ctx,
            domain,
            vtx_emul::runtime::zap::DEFAULT_ZAP_TIMEOUT,
        )?)
    }

    /// Starts a driver instance (its own thread) for endpoints `scheme://...`.
    ///
    /// One transport may be registered several times under different schemes (`udp`,
    /// `udp1`, ...): each is an independent instance with its own thread. Identities and
    /// peerings do not cross instances.
    pub fn register<T: Transport>(&self, scheme: &str, transport: T) -> Result<()> {
        Endpoint::parse(&format!("{scheme}://x"))
            .map_err(|_| Error::bad_endpoint(scheme, "invalid scheme"))?;
        let mut drivers = self.inner.drivers.write().map_err(|_| Error::DriverGone {
            driver: scheme.into(),
        })?;
        if drivers.contains_key(scheme) {
            return Err(Error::SchemeTaken {
                scheme: scheme.into(),
            });
        }
        let handle = DriverHandle::spawn(scheme, &self.inner.ctx, transport)?;
        drivers.insert(scheme.to_owned(), Arc::new(handle));
        Ok(())
    }

    /// Registers every transport compiled in, with default configuration, under its
    /// usual scheme: `udp`, `tcp6`, `sctp` (userspace) and `ws`. `tls` needs certificates, so
    /// it is registered by the application; so is `sctp+kernel`, which needs a kernel
    /// with SCTP.
    pub fn register_defaults(&self) -> Result<()> {
        #[cfg(feature = "udp")]
        self.register("udp", vtx_udp::UdpTransport::default())?;
        #[cfg(feature = "ipv6")]
        self.register("tcp6", vtx_ipv6::Tcp6Transport::default())?;
        #[cfg(feature = "sctp")]
        self.register("sctp", vtx_sctp::SctpTransport::default())?;
        #[cfg(feature = "ws")]
        self.register("ws", vtx_ws::WsTransport::default())?;
        Ok(())
    }

    /// The registered schemes, sorted.
    pub fn schemes(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .inner
            .drivers
            .read()
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether the driver registered under `scheme` is running.
    pub fn is_alive(&self, scheme: &str) -> bool {
        self.inner.driver(scheme).is_ok_and(|d| d.is_alive())
    }

    /// Creates a socket of a 0MQ type. The application gets a real libzmq socket (see
    /// [`VtxSocket`]); it attaches to a driver at its first `bind`/`connect`, so libzmq
    /// options set before then (SNDHWM, ROUTING_ID, HEARTBEAT_IVL...) apply.
    pub fn socket(&self, ty: zmq::SocketType) -> Result<VtxSocket> {
        let vty = from_zmq(ty).ok_or_else(|| Error::InvalidSocketType(format!("{ty:?}")))?;
        let socket = app_socket(&self.inner.ctx, vty)?;
        let id = SocketId(self.inner.next_socket.fetch_add(1, Ordering::Relaxed));
        Ok(VtxSocket::new(socket, vty, id, self.inner.clone()))
    }

    /// Shuts every driver down now (what dropping the manager does).
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }
}

impl Drop for Vtx {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}
