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

fn listener(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::TCP),
    )?;
    listen_on(s, addr)
}

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

impl Network for TcpNetwork {
    type Listener = mio::net::TcpListener;
    type Link = mio::net::TcpStream;
    type Target = SocketAddr;

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        _opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        endpoint.bind_with(|addr| {
            let l = listener(addr)?;
            let local = l.local_addr()?;
            Ok((l, local))
        })
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
        let s = Socket::new(
            Domain::for_address(*target),
            Type::STREAM.nonblocking(),
            Some(Protocol::TCP),
        )?;
        s.set_tcp_nodelay(true)?;
        match s.connect(&(*target).into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        Ok((
            mio::net::TcpStream::from_std(s.into()),
            format_addr(*target),
        ))
    }
}
