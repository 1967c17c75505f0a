//! The `tcp6` transport: ZMTP 3.1 over TCP, IPv6 first, so any libzmq (`tcp://[::1]:port`
//! with `ZMQ_IPV6`), pyzmq or JeroMQ peer talks to it.
//!
//! Despite the crate's name (the seed's "TCP over IPv6"), this is plain TCP for both
//! address families: the scheme is `tcp6`, a name that resolves to IPv6 addresses is
//! reached over IPv6 first, and IPv4 addresses, IPv4-only names and IPv4 peers of a
//! dual-stack listener work too. Choose it to reach libzmq peers over IPv6, or as a
//! vtx-side TCP for either family.
//!
//! Endpoints: `tcp6://[::1]:5555`, `tcp6://[::]:5555` and `tcp6://*:5555` (dual stack:
//! IPv4 peers arrive as IPv4-mapped addresses and are shown as IPv4),
//! `tcp6://127.0.0.1:5555`, `tcp6://host.name:5555` (resolved at connect/bind), and port
//! 0 or `*` to let the system choose (the bound endpoint is returned).
//!
//! The transport is the shared [`vtx_emul::stream::StreamTransport`] carrying
//! [`vtx_emul::zmtp::ZmtpSession`] over the shared TCP network
//! ([`vtx_emul::stream::tcp::TcpNetwork`]: socket2 setup with SO_REUSEADDR, dual stack,
//! TCP_NODELAY and non-blocking connect); `tls` runs the same network under its record
//! layer.
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx_ipv6::Tcp6Transport::default())?;
//! # Ok(()) }
//! ```

use vtx_emul::stream::StreamTransport;
pub use vtx_emul::stream::tcp::TcpNetwork;
use vtx_emul::zmtp::ZmtpSession;

/// ZMTP 3.1 over TCP.
pub type Tcp6Transport = StreamTransport<TcpNetwork, ZmtpSession>;
