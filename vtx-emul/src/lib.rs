//! Socket-pattern emulation for VTX, and the driver runtime every transport shares.
//!
//! Two layers with a hard wall between them:
//!
//! * [`pattern`]: one sans-IO state machine ([`pattern::Vocket`]) per 0MQ socket
//!   type. It owns peerings, routing, fair queuing, load balancing, REQ retry, REP
//!   reply dedupe, heartbeat deadlines and subscriptions. It reads no clock, does no
//!   I/O and never touches mio, libzmq or `std::net`.
//! * [`runtime`]: the driver thread: control channel, one inproc pipe per vtx
//!   socket, a mio poller over OS sockets and each pipe's `ZMQ_FD`, and timers. A
//!   transport implements [`runtime::Transport`] and gets everything else.
//!
//! Wire code shared by several transports lives here once, sans-IO: the ZMTP 3.1
//! codec and handshake ([`zmtp`]) and the generic stream transport ([`stream`])
//! that runs a framed session over TCP, TLS or a Unix socket.

pub mod endpoint;
mod error;
pub mod msg;
pub mod options;
pub mod pattern;
pub mod runtime;
pub mod socket_type;
pub mod stream;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod zmtp;

pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use msg::Msg;
pub use options::SocketOptions;
pub use socket_type::SocketType;
