//! TCP as a stream [`Network`]: listeners and connections set up through socket2
//! (SO_REUSEADDR, dual stack, TCP_NODELAY, non-blocking connect), IPv6 first. Used by
//! the `tcp6` transport directly and by `tls` underneath its record layer.

use std::io;
use std::net::SocketAddr;

use super::Network;
use crate::endpoint::format_addr;
use crate::{Endpoint, Result, SocketOptions};
use socket2::{Domain, Protocol, Socket, Type};

/// libzmq's default `ZMQ_BACKLOG`.
const BACKLOG: i32 = 100;

/// TCP, IPv6 first.
#[derive(Debug, Default)]
pub struct TcpNetwork;

/// Makes a non-blocking stream socket a listener on `addr`, libzmq's way:
/// SO_REUSEADDR, dual stack for `[::]`, a backlog of 100. mio's listener type works
/// for any stream protocol whose `accept` is the usual one (TCP, one-to-one SCTP).
pub fn listen_on(s: Socket, addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    s.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // Dual stack: `[::]` and `*` take IPv4 peers too.
        s.set_only_v6(false)?;
    }
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(s.into()))
}

/// Listens on `endpoint` (each of its addresses in turn, as [`Endpoint::bind_with`]
/// does) with the stream sockets `socket` makes; returns the listener and the address
/// bound.
pub fn listen_with(
    endpoint: &Endpoint,
    socket: impl Fn(SocketAddr) -> io::Result<Socket>,
) -> Result<(mio::net::TcpListener, String)> {
    endpoint.bind_with(|addr| {
        let l = listen_on(socket(addr)?, addr)?;
        let local = l.local_addr()?;
        Ok((l, local))
    })
}

/// Starts a non-blocking connect of the stream socket `s` to `target`.
pub fn start_connect(s: Socket, target: SocketAddr) -> io::Result<mio::net::TcpStream> {
    match s.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(s.into()))
}

/// Whether a non-blocking connect of `s` finished: `Err` if it failed, `Ok(false)`
/// while it is in progress.
pub fn connect_finished(s: &mio::net::TcpStream) -> io::Result<bool> {
    connect_outcome(s.take_error()?, s.peer_addr().map(drop))
}

/// A non-blocking connect's outcome from the socket's pending error and whether it has
/// a peer address yet.
pub(super) fn connect_outcome(error: Option<io::Error>, peer: io::Result<()>) -> io::Result<bool> {
    if let Some(e) = error {
        return Err(e);
    }
    match peer {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) => Err(e),
    }
}

fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )
}

impl Network for TcpNetwork {
    type Listener = mio::net::TcpListener;
    type Link = mio::net::TcpStream;
    type Target = SocketAddr;

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        _opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        listen_with(endpoint, tcp_socket)
    }

    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let (s, peer) = listener.accept()?;
        s.set_nodelay(true)?;
        Ok((s, format_addr(peer)))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        // IPv6 first, as the scheme promises; IPv4 when that is all a name has.
        let addrs = endpoint.connect_addrs()?;
        Ok(*addrs.iter().find(|a| a.is_ipv6()).unwrap_or(&addrs[0]))
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        _opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        let s = tcp_socket(*target)?;
        s.set_tcp_nodelay(true)?;
        Ok((start_connect(s, *target)?, format_addr(*target)))
    }
}
