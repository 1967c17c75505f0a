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
//! client.send("hello?", 0)?;                      // libzmq's send, on a real socket
//! # Ok(()) }
//! ```
//!
//! Features `udp`, `tls`, `sctp` and `ipv6` compile in and re-export the transports;
//! `cli` the `vtx` command and `vtx::bench`. All are on by default; a library user takes
//! what it needs: `default-features = false, features = ["udp"]`.
//!
//! # Socket families
//!
//! Every 0MQ socket type works as with libzmq; each family below runs over `tcp6`
//! (these examples are tests).
//!
//! Request-reply: REQ, REP. A REQ's request goes to one peering and is lost with it,
//! as in libzmq; [`VtxSocket::set_req_failover`] sends it elsewhere instead.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "ipv6")] {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())?;
//! let rep = vtx.socket(zmq::REP)?;
//! let ep = rep.bind("tcp6://[::1]:0")?;
//! let req = vtx.socket(zmq::REQ)?;
//! req.connect(&ep)?;
//! req.send("ping", 0)?;
//! assert_eq!(rep.recv_bytes(0)?, b"ping");
//! assert_eq!(rep.msg_gets("Socket-Type")?.as_deref(), Some("REQ"));
//! rep.send("pong", 0)?;
//! assert_eq!(req.recv_bytes(0)?, b"pong");
//! assert_eq!(req.send("again", 0), Ok(()));
//! assert_eq!(req.send("too soon", 0), Err(zmq::Error::EFSM));
//! # }
//! # Ok(()) }
//! ```
//!
//! Routing: DEALER, ROUTER. A ROUTER names each peer by the identity it announced, else
//! by its schemed address; under ROUTER_MANDATORY a send to an unknown identity fails.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "ipv6")] {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())?;
//! let router = vtx.socket(zmq::ROUTER)?;
//! router.set_router_mandatory(true)?;
//! let ep = router.bind("tcp6://[::1]:0")?;
//! let dealer = vtx.socket(zmq::DEALER)?;
//! dealer.set_identity(b"alice")?;
//! dealer.connect(&ep)?;
//! dealer.send("hi", 0)?;
//! assert_eq!(router.recv_multipart(0)?, [b"alice".to_vec(), b"hi".to_vec()]);
//! router.send_multipart(["alice", "hello"], 0)?;
//! assert_eq!(dealer.recv_bytes(0)?, b"hello");
//! assert_eq!(router.send("nobody", zmq::SNDMORE), Err(zmq::Error::EHOSTUNREACH));
//! assert_eq!(router.get_socket_type()?, zmq::ROUTER);
//! # }
//! # Ok(()) }
//! ```
//!
//! Publish-subscribe: PUB, SUB, XPUB, XSUB. The publisher filters per subscriber;
//! subscriptions travel after the peering comes up, so a publisher starts once they
//! have (here: once the XPUB has seen it).
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "ipv6")] {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())?;
//! let xpub = vtx.socket(zmq::XPUB)?;
//! let ep = xpub.bind("tcp6://[::1]:0")?;
//! let sub = vtx.socket(zmq::SUB)?;
//! sub.set_subscribe(b"news")?;
//! sub.connect(&ep)?;
//! assert_eq!(xpub.recv_bytes(0)?, b"\x01news");
//! xpub.send("weather: sun", 0)?;
//! xpub.send("news: vtx", 0)?;
//! assert_eq!(sub.recv_bytes(0)?, b"news: vtx");
//! # }
//! # Ok(()) }
//! ```
//!
//! Pipeline: PUSH, PULL. PUSH spreads over its peers; PULL fair-queues them, one
//! message from each in turn, with RCVHWM per peer as libzmq's per pipe. A PUSH with no
//! peer to take a message says `EAGAIN` (or waits up to SNDTIMEO), as libzmq's.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "ipv6")] {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())?;
//! let push = vtx.socket(zmq::PUSH)?;
//! let ep = push.bind("tcp6://[::1]:0")?;
//! assert_eq!(push.send("nobody yet", zmq::DONTWAIT), Err(zmq::Error::EAGAIN));
//! let pull = vtx.socket(zmq::PULL)?;
//! pull.connect(&ep)?;
//! push.set_sndtimeo(5000)?;
//! push.send("work", 0)?; // waits for the peering
//! assert_eq!(pull.recv_bytes(0)?, b"work");
//! # }
//! # Ok(()) }
//! ```
//!
//! Exclusive pair: PAIR, one peering at a time.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # #[cfg(feature = "ipv6")] {
//! let ctx = zmq::Context::new();
//! let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())?;
//! let a = vtx.socket(zmq::PAIR)?;
//! let ep = a.bind("tcp6://[::1]:0")?;
//! let b = vtx.socket(zmq::PAIR)?;
//! b.connect(&ep)?;
//! b.send("one", 0)?;
//! assert_eq!(a.recv_bytes(0)?, b"one");
//! a.send("two", 0)?;
//! assert_eq!(b.recv_bytes(0)?, b"two");
//! # }
//! # Ok(()) }
//! ```
//!
//! # Where vtx differs from libzmq
//!
//! The conformance suite (`vtx/tests/conformance`) runs every scenario on native
//! libzmq and on each transport; docs/semantics.md is its table. The differences:
//!
//! - **udp, large messages**: NOM-2 carries messages up to
//!   `UdpTransport::max_msg_size` (64 KiB unless raised); a larger one is dropped at
//!   the sender, logged and counted.
//! - **udp, metadata**: NOM-2's handshake carries no application properties, so
//!   ZMQ_METADATA (`X-` properties) does not travel over udp.
//! - **udp, fan-in**: fair per message while every sender has messages waiting; a
//!   NOM-2 sender paused by a full inbox restarts only when the acknowledgement reaches
//!   it, and the other's window in flight is delivered back to back meanwhile.
//! - **PAIR**: a bound PAIR takes a new peering once its peer is gone (libzmq 4.3's
//!   keeps refusing, and its sends fail with `EAGAIN` for good).
//! - **`POLLOUT`** says the pipe to the driver has room, also while no peering is up;
//!   [`VtxSocket::send`] then says `EAGAIN`.
//! - **Messages not yet read by the driver** when their peering went down go to the
//!   next peering (libzmq would have queued them for the dead one and dropped them).
//! - **LINGER**: a closed socket flushes to the peerings it has and does not reconnect
//!   to deliver; when the manager shuts down, at most 2 s more.
//! - **`Peer-Address`** is the schemed address (`tcp6://[::1]:5555`), not the IP alone.
//! - **XPUB_MANUAL** is not offered; **ROUTER_NOTIFY** (a libzmq draft) is, and
//!   [`VtxSocket::set_req_failover`] is vtx's own.
//! - **Sends through [`VtxSocket::pipe_end`]** skip the `EAGAIN`/`EHOSTUNREACH`
//!   checks, and receives through it are not counted for
//!   [`VtxSocket::peer_properties`].

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

/// ZMTP over WebSocket (ZWS 2.0), interoperable with libzmq's ws.
#[cfg(feature = "ws")]
pub use vtx_ws as ws;
