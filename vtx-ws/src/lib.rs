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
pub mod upgrade;

use std::io;
use std::net::SocketAddr;

pub use link::WsLink;
use vtx_emul::stream::tcp::TcpNetwork;
use vtx_emul::stream::{Network, StreamTransport};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::{Endpoint, Result, SocketOptions};

/// ZMTP over WebSocket.
pub type WsTransport = StreamTransport<WsNetwork, ZmtpSession>;

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

fn protocols(opts: &SocketOptions) -> Vec<String> {
    vec![upgrade::subprotocol(&String::from_utf8_lossy(
        opts.security.name(),
    ))]
}

fn max(opts: &SocketOptions) -> u64 {
    opts.max_msg_size.unwrap_or(NO_LIMIT).min(NO_LIMIT)
}

/// A TCP listener for one path, with the settings of the socket that bound it.
#[derive(Debug)]
pub struct WsListener {
    tcp: mio::net::TcpListener,
    path: String,
    protocols: Vec<String>,
    mechanism: Vec<u8>,
    max: u64,
}

impl mio::event::Source for WsListener {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.tcp.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.tcp.deregister(r)
    }
}

/// Where to connect: the address, the `Host` header and the path.
#[derive(Clone, Debug)]
pub struct WsTarget {
    addr: SocketAddr,
    host: String,
    path: String,
}

/// WebSocket over TCP as a stream [`Network`].
#[derive(Debug, Default)]
pub struct WsNetwork {
    tcp: TcpNetwork,
}

impl Network for WsNetwork {
    type Listener = WsListener;
    type Link = WsLink;
    type Target = WsTarget;

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        opts: &SocketOptions,
    ) -> Result<(WsListener, String)> {
        let (hp, path) = split(endpoint)?;
        let (tcp, bound) = self.tcp.listen(&hp, opts)?;
        let listener = WsListener {
            tcp,
            protocols: protocols(opts),
            mechanism: opts.security.name().to_vec(),
            max: max(opts),
            path: path.clone(),
        };
        let shown = if path == "/" {
            bound
        } else {
            format!("{bound}{path}")
        };
        Ok((listener, shown))
    }

    fn accept(&mut self, l: &WsListener) -> io::Result<(WsLink, String)> {
        let (tcp, peer) = self.tcp.accept(&l.tcp)?;
        let link = WsLink::server(
            tcp,
            l.path.clone(),
            l.protocols.clone(),
            &l.mechanism,
            l.max,
        );
        Ok((link, peer))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<WsTarget> {
        let (hp, path) = split(endpoint)?;
        let addr = self.tcp.resolve(&hp)?;
        Ok(WsTarget {
            addr,
            host: hp.address().to_owned(),
            path,
        })
    }

    fn connect(&mut self, target: &WsTarget, opts: &SocketOptions) -> io::Result<(WsLink, String)> {
        let (tcp, peer) = self.tcp.connect(&target.addr, opts)?;
        let link = WsLink::client(
            tcp,
            &target.host,
            &target.path,
            protocols(opts),
            opts.security.name(),
            max(opts),
        );
        Ok((link, peer))
    }
}
