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
use upgrade::UpgradePolicy;
use vtx_emul::stream::tcp::TcpNetwork;
use vtx_emul::stream::{Network, StreamTransport};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::{Endpoint, Result, SocketOptions};

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

/// A listener for one path, with the settings of the socket that bound it.
#[derive(Debug)]
pub struct WsListener<L> {
    inner: L,
    path: String,
    protocols: Vec<String>,
    mechanism: Vec<u8>,
    max: u64,
    policy: UpgradePolicy,
}

impl<L: mio::event::Source> mio::event::Source for WsListener<L> {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner.register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.inner.deregister(r)
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
}

impl<N> WsNetwork<N> {
    /// WebSocket over `inner`, accepting every upgrade.
    pub fn new(inner: N) -> WsNetwork<N> {
        WsNetwork {
            inner,
            policy: UpgradePolicy::default(),
        }
    }

    /// The same with an upgrade policy for every server socket (a `ws://` socket
    /// may set its own: `set_transport_config(UpgradePolicy)`).
    pub fn with_policy(inner: N, policy: UpgradePolicy) -> WsNetwork<N> {
        WsNetwork { inner, policy }
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
        let (inner, bound) = self.inner.listen(&hp, opts)?;
        let shown = if path == "/" {
            bound
        } else {
            format!("{bound}{path}")
        };
        let listener = WsListener {
            inner,
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
        let (inner, peer) = self.inner.accept(&l.inner)?;
        let accepting = (
            l.path.clone(),
            l.protocols.clone(),
            l.policy.clone(),
            peer.clone(),
        );
        let link = WsLink::server(inner, accepting, &l.mechanism, l.max);
        Ok((link, peer))
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
