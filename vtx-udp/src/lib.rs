//! The `udp` transport: NOM-2 over UDP, with peerings, broadcast discovery, request
//! retries, heartbeats and subscriptions filtered at the publisher.
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("udp", vtx_udp::UdpTransport::default())?;
//! let rep = vtx.socket(zmq::REP)?;
//! rep.bind("udp://*:32000")?;
//! let req = vtx.socket(zmq::REQ)?;
//! req.connect("udp://127.255.255.255:32000")?; // finds every REP on the port by broadcast
//! # Ok(()) }
//! ```
//!
//! Endpoints: `udp://*:port` (IPv4 any), `udp://[::]:port` (dual stack), literal
//! addresses and names; connecting to an IPv4 broadcast address keeps discovering peers.
//! Delivery is at most once, in order per peering (late datagrams are dropped); REQ/REP
//! are made reliable by resending requests and caching replies (docs/nom-2.md §6).
//!
//! This crate is larger than the other transports (about 4,000 lines against their
//! 1,000 to 1,500) because it holds a whole protocol engine where they reuse one: TCP,
//! TLS and SCTP carry ZMTP on the shared stream transport and peering lifecycle of
//! `vtx-emul`, while NOM-2 is a datagram protocol of its own, so its engine
//! ([`nom2::engine`]: peerings, address validation, retransmission, reassembly, flow
//! control; [`nom2::wire`]: the codec; `nom2::cookie`: stateless cookies) lives here,
//! sans-IO. The I/O around it ([`UdpTransport`], in `driver.rs`) is 700 lines.

mod driver;
pub mod host;
pub mod nom2;
#[cfg(feature = "test-util")]
pub mod swarm;

pub use driver::{
    DEFAULT_HEARTBEAT_IVL, DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_REQ_RESEND_IVL, UdpTransport,
};
