//! VTX: transports for 0MQ that libzmq does not have, behind real libzmq sockets.
//!
//! An application keeps its `zmq` sockets and gains transports through *drivers*: one
//! thread per driver instance, reached through an inproc pipe, emulating 0MQ socket
//! semantics over a native protocol.
//!
//! ```no_run
//! # fn main() -> Result<(), vtx::Error> {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! # #[cfg(feature = "udp")]
//! vtx.register("udp", vtx::udp::UdpTransport::default())?;
//! let server = vtx.socket(zmq::REP)?;
//! server.bind("udp://*:32000")?;
//! let client = vtx.socket(zmq::REQ)?;
//! client.connect("udp://127.255.255.255:32000")?; // finds the server by broadcast
//! client.send("hello?", 0)?;                             // a real zmq::Socket
//! # Ok(()) }
//! ```
//!
//! Features `udp`, `tls`, `sctp` and `ipv6` (all on by default) compile in and re-export
//! the transports.

mod any;
#[cfg(feature = "cli")]
pub mod bench;
mod manager;
mod socket;

pub use any::Socket;
pub use manager::Vtx;
pub use socket::VtxSocket;
pub use vtx_emul::pattern::PeerProperties;
pub use vtx_emul::runtime::Transport;
pub use vtx_emul::{Endpoint, Error, Result, SocketOptions, SocketType, Stats};

/// The shared emulation layer (patterns, runtime, ZMTP codec), for transport authors.
pub use vtx_emul as emul;

/// NOM-2 over UDP: peerings, broadcast discovery, retries, heartbeats.
#[cfg(feature = "udp")]
pub use vtx_udp as udp;

/// ZMTP 3.1 inside TLS 1.3 (rustls).
#[cfg(feature = "tls")]
pub use vtx_tls as tls;

/// 0MQ over SCTP: userspace over UDP, or the kernel's.
#[cfg(feature = "sctp")]
pub use vtx_sctp as sctp;

/// ZMTP 3.1 over TCP, IPv6 first, interoperable with libzmq.
#[cfg(feature = "ipv6")]
pub use vtx_ipv6 as ipv6;
