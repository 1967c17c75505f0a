//! The `ws` transport: ZMTP over WebSocket (ZWS 2.0, RFC 45), so libzmq's own `ws://`
//! peers (and, with the `ZWS2.0` subprotocol, browsers) talk to vtx sockets.
//!
//! The transport is the shared [`vtx_emul::stream::StreamTransport`] carrying the
//! shared [`vtx_emul::zmtp::ZmtpSession`]: this crate adds only the HTTP upgrade
//! ([`upgrade`], httparse) and the WebSocket framing ([`frame`], sans-IO), joined in a
//! [`WsLink`] that turns ZWS messages into ZMTP frames and back.
//!
//! Endpoints: `ws://127.0.0.1:5555/path`, `ws://[::1]:5555`, `ws://*:5555/zmq` (the
//! path is `/` when none is given; a server answers 404 to another one). The
//! subprotocol is `ZWS2.0/` and the socket's mechanism (`ZWS2.0/NULL`, libzmq's).
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("ws", vtx_ws::WsTransport::default())?;
//! # Ok(()) }
//! ```

pub mod frame;
mod link;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod upgrade;

use std::io;

pub use link::WsLink;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use link::Accepting;
use upgrade::UpgradePolicy;
use vtx_emul::stream::tcp::TcpNetwork;
use vtx_emul::stream::{Network, StreamTransport};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::{Endpoint, Error, Result, SocketOptions};

/// ZMTP over WebSocket over TCP: `ws://`.
pub type WsTransport = StreamTransport<WsNetwork<TcpNetwork>, ZmtpSession>;

/// ZMTP over WebSocket over TLS 1.3: `wss://`, configured as `tls://` is.
#[cfg(feature = "wss")]
pub type WssTransport = StreamTransport<WsNetwork<vtx_tls::TlsNetwork>, ZmtpSession>;

/// A `wss` transport with driver-wide TLS defaults (a socket may set its own with
/// `VtxSocket::set_transport_config`, as for `tls://`).
#[cfg(feature = "wss")]
pub fn wss_transport(defaults: vtx_tls::TlsConfig) -> WssTransport {
    StreamTransport::new(WsNetwork::new(vtx_tls::TlsNetwork::new(defaults)))
}

/// The largest message when the socket sets no MAXMSGSIZE: still no length that
/// would overflow an allocation.
const NO_LIMIT: u64 = 1 << 40;

/// `host:port` and `/path` of a `ws://` endpoint.
fn split(endpoint: &Endpoint) -> Result<(Endpoint, String)> {
    let address = endpoint.address();
    let (host, path) = match address.find('/') {
        Some(i) => (&address[..i], &address[i..]),
        None => (address, "/"),
    };
    let hp = Endpoint::parse(&format!("{}://{host}", endpoint.scheme()))?;
    hp.host_port()?;
    Ok((hp, path.to_owned()))
}

/// What a client offers: ZWS 2.0 with its mechanism.
fn protocols(opts: &SocketOptions) -> Vec<String> {
    vec![upgrade::subprotocol(&String::from_utf8_lossy(
        opts.security.name(),
    ))]
}

/// What a server takes, preferred first: ZWS 2.0 with its mechanism, and for NULL
/// also the bare `ZWS2.0` browsers ask for (after it: libzmq's ws aborts under bare
/// ZWS2.0 with heartbeats on, so a libzmq client offering both gets the other).
fn server_protocols(opts: &SocketOptions) -> Vec<String> {
    let mut p = protocols(opts);
    if opts.security.name() == b"NULL" {
        p.push(upgrade::BARE.to_owned());
    }
    p
}

fn max(opts: &SocketOptions) -> u64 {
    opts.max_msg_size.unwrap_or(NO_LIMIT).min(NO_LIMIT)
}

/// The paths served on one address: several sockets bind one port, each its path.
#[derive(Debug, Default)]
pub(crate) struct Group {
    paths: Mutex<Vec<String>>,
    /// A listener of the group holds the listening socket (its first socket may have
    /// unbound: the next to bind there listens again).
    listening: std::sync::atomic::AtomicBool,
}

impl Group {
    /// Whether some socket of the group serves `route`.
    pub(crate) fn serves(&self, route: &str) -> bool {
        self.paths
            .lock()
            .map(|p| p.iter().any(|ours| upgrade::serves_path(ours, route)))
            .unwrap_or(false)
    }
}

/// A listener for one path, with the settings of the socket that bound it. The
/// first socket to bind an address holds the listening socket; the others on that
/// address share it by path (`inner` is `None`): links for their paths move to them.
#[derive(Debug)]
pub struct WsListener<L> {
    inner: Option<L>,
    group: Arc<Group>,
    path: String,
    protocols: Vec<String>,
    mechanism: Vec<u8>,
    max: u64,
    policy: UpgradePolicy,
}

impl<L> Drop for WsListener<L> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            self.group
                .listening
                .store(false, std::sync::atomic::Ordering::Relaxed);
        }
        if let Ok(mut paths) = self.group.paths.lock()
            && let Some(i) = paths.iter().position(|p| *p == self.path)
        {
            paths.remove(i);
        }
    }
}

impl<L: mio::event::Source> mio::event::Source for WsListener<L> {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner.as_mut().map_or(Ok(()), |l| l.register(r, t, i))
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner
            .as_mut()
            .map_or(Ok(()), |l| l.reregister(r, t, i))
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.inner.as_mut().map_or(Ok(()), |l| l.deregister(r))
    }
}

/// Where to connect: the stream's own target, the `Host` header and the path.
#[derive(Clone, Debug)]
pub struct WsTarget<T> {
    inner: T,
    host: String,
    path: String,
}

/// WebSocket over the byte-stream network `N` (TCP; TLS for `wss://`).
#[derive(Debug, Default)]
pub struct WsNetwork<N> {
    inner: N,
    policy: UpgradePolicy,
    /// The addresses bound (as asked, port not 0), and who serves which path there.
    groups: HashMap<String, (String, Weak<Group>)>,
}

impl<N> WsNetwork<N> {
    /// WebSocket over `inner`, accepting every upgrade.
    pub fn new(inner: N) -> WsNetwork<N> {
        WsNetwork::with_policy(inner, UpgradePolicy::default())
    }

    /// The same with an upgrade policy for every server socket (a `ws://` socket
    /// may set its own: `set_transport_config(UpgradePolicy)`).
    pub fn with_policy(inner: N, policy: UpgradePolicy) -> WsNetwork<N> {
        WsNetwork {
            inner,
            policy,
            groups: HashMap::new(),
        }
    }
}

impl<N: Network> Network for WsNetwork<N> {
    type Listener = WsListener<N::Listener>;
    type Link = WsLink<N::Link>;
    type Target = WsTarget<N::Target>;

    fn confidential(&self) -> bool {
        self.inner.confidential()
    }

    fn check_connect(&self, opts: &SocketOptions) -> Result<()> {
        self.inner.check_connect(opts)
    }

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        let (hp, path) = split(endpoint)?;
        // Another socket already listens here: share its port, by path.
        let shared = self
            .groups
            .get(hp.address())
            .and_then(|(bound, g)| Some((bound.clone(), g.upgrade()?)))
            .filter(|(_, g)| g.listening.load(std::sync::atomic::Ordering::Relaxed));
        let (inner, bound, group) = match shared {
            Some((bound, group)) => {
                let mut paths = group.paths.lock().map_err(|_| Error::InvalidConfig {
                    reason: "ws: a poisoned path table".into(),
                })?;
                if paths.contains(&path) {
                    return Err(Error::AddressInUse {
                        endpoint: endpoint.to_string(),
                    });
                }
                paths.push(path.clone());
                drop(paths);
                (None, bound, group)
            }
            None => {
                let (inner, bound) = self.inner.listen(&hp, opts)?;
                // A group whose listener went: this one listens for it again.
                let group = self
                    .groups
                    .get(hp.address())
                    .and_then(|(_, g)| g.upgrade())
                    .unwrap_or_default();
                group
                    .listening
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut p) = group.paths.lock() {
                    p.push(path.clone());
                }
                // Found again by the address asked (port not 0) and the one bound.
                self.groups.retain(|_, (_, g)| g.strong_count() > 0);
                let at = bound.split_once("://").map_or(bound.as_str(), |(_, a)| a);
                let mut keys = vec![at.to_owned()];
                if hp.host_port().is_ok_and(|h| h.port != 0) {
                    keys.push(hp.address().to_owned());
                }
                for k in keys {
                    let entry = (bound.clone(), Arc::downgrade(&group));
                    self.groups.insert(k, entry);
                }
                (Some(inner), bound, group)
            }
        };
        let shown = if path == "/" {
            bound
        } else {
            format!("{bound}{path}")
        };
        let listener = WsListener {
            inner,
            group,
            protocols: server_protocols(opts),
            mechanism: opts.security.name().to_vec(),
            max: max(opts),
            path,
            policy: opts
                .transport
                .get::<UpgradePolicy>()
                .unwrap_or(&self.policy)
                .clone(),
        };
        Ok((listener, shown))
    }

    fn accept(&mut self, l: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let Some(listening) = &l.inner else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        let (inner, peer) = self.inner.accept(listening)?;
        let accepting = Accepting {
            path: l.path.clone(),
            protocols: l.protocols.clone(),
            policy: l.policy.clone(),
            peer: peer.clone(),
            group: l.group.clone(),
        };
        let link = WsLink::server(inner, accepting, &l.mechanism, l.max);
        Ok((link, peer))
    }

    fn serves(&self, listener: &Self::Listener, from: &Self::Listener, route: &str) -> bool {
        Arc::ptr_eq(&listener.group, &from.group) && upgrade::serves_path(&listener.path, route)
    }

    fn rehome(&mut self, link: &mut Self::Link, l: &Self::Listener) {
        let accepting = Accepting {
            path: l.path.clone(),
            protocols: l.protocols.clone(),
            policy: l.policy.clone(),
            peer: link.peer().to_owned(),
            group: l.group.clone(),
        };
        link.rehome(accepting, &l.mechanism, l.max);
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        let (hp, path) = split(endpoint)?;
        let inner = self.inner.resolve(&hp)?;
        Ok(WsTarget {
            inner,
            host: hp.address().to_owned(),
            path,
        })
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        let (inner, peer) = self.inner.connect(&target.inner, opts)?;
        let link = WsLink::client(
            inner,
            &target.host,
            &target.path,
            protocols(opts),
            opts.security.name(),
            max(opts),
        );
        Ok((link, peer))
    }
}
