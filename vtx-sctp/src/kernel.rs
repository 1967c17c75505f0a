//! The kernel backend: the operating system's SCTP through one-to-one style
//! (`SOCK_STREAM`, `IPPROTO_SCTP`) sockets, non-blocking, with `SCTP_NODELAY`.
//!
//! The mapping is the userspace backend's (docs/sctp.md): ZMTP 3.1 on stream 0, written
//! in SCTP user messages of at most 64 KiB. A one-to-one socket behaves like a
//! connected stream socket whose `sendmsg` keeps message boundaries, so the shared
//! [`StreamTransport`] drives it with the same ZMTP session as `tcp6`; the only
//! differences are the protocol number, the socket options and the capped message
//! size. Register it under its own scheme:
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("sctp+kernel", vtx_sctp::kernel::KernelSctpTransport::default())?;
//! # Ok(()) }
//! ```
//!
//! Loading `sctp.ko` is the host's business; without it `bind` and `connect` fail with
//! "protocol not supported".

use std::io::{self, IoSlice, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, Socket, Type};
use vtx_emul::endpoint::format_addr;
use vtx_emul::stream::{Link, Network, StreamTransport, tcp};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::{Endpoint, Result, SocketOptions};

use crate::user::SEGMENT;

/// IANA protocol number of SCTP.
const IPPROTO_SCTP: i32 = 132;
/// `SCTP_NODELAY` from `<netinet/sctp.h>`: send small messages at once (no Nagle).
const SCTP_NODELAY: i32 = 3;

/// ZMTP 3.1 over kernel SCTP.
pub type KernelSctpTransport = StreamTransport<KernelSctpNetwork, ZmtpSession>;

/// Kernel SCTP as a stream [`Network`].
#[derive(Debug, Default)]
pub struct KernelSctpNetwork;

/// One association: a one-to-one SCTP socket.
#[derive(Debug)]
pub struct SctpLink(mio::net::TcpStream);

fn sctp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(
        Domain::for_address(addr),
        Type::STREAM.nonblocking(),
        Some(Protocol::from(IPPROTO_SCTP)),
    )?;
    set_nodelay(&s)?;
    Ok(s)
}

fn set_nodelay(s: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: setsockopt on an open descriptor with a pointer to a local int and its size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            IPPROTO_SCTP,
            SCTP_NODELAY,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl Network for KernelSctpNetwork {
    // One-to-one SCTP sockets accept like TCP ones: mio's listener type serves.
    type Listener = mio::net::TcpListener;
    type Target = SocketAddr;
    type Link = SctpLink;

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        _opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        // mio's TCP types are plain descriptors underneath: accept, read and writev
        // mean the same on a one-to-one SCTP socket.
        tcp::listen_with(endpoint, sctp_socket)
    }

    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let (s, peer) = listener.accept()?;
        set_nodelay(&s)?;
        Ok((SctpLink(s), format_addr(peer)))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        Ok(endpoint.connect_addrs()?[0])
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        _opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        let s = tcp::start_connect(sctp_socket(*target)?, *target)?;
        Ok((SctpLink(s), format_addr(*target)))
    }
}

impl mio::event::Source for SctpLink {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        self.0.reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        self.0.deregister(registry)
    }
}

impl Link for SctpLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One call returns at most one SCTP message (or part of one); the ZMTP
        // decoder does not care where messages end.
        Read::read(&mut self.0, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // One `writev` is one SCTP message, and SCTP queues a message whole or not at
        // all: keep messages at the mapping's 64 KiB so a big frame never waits for a
        // send buffer larger than the kernel's.
        let mut total = 0;
        let mut n = 0;
        for b in bufs {
            if total + b.len() > SEGMENT {
                break;
            }
            total += b.len();
            n += 1;
        }
        if n == 0 {
            let first = bufs.first().map_or(&[][..], |b| &b[..SEGMENT.min(b.len())]);
            return Write::write(&mut self.0, first);
        }
        Write::write_vectored(&mut self.0, &bufs[..n])
    }

    fn connected(&mut self) -> io::Result<bool> {
        tcp::connect_finished(&self.0)
    }

    fn meta(&self, key: &str) -> Option<String> {
        (key == "sctp-backend").then(|| "kernel".into())
    }
}
