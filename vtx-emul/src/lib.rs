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
//! codec and handshake ([`zmtp`]) behind the [`session`] interface. So does the one
//! timer mechanism of the Vockets, the runtime and the NOM-2 engine
//! ([`timer::TimerHeap`]). The generic stream transport (`stream`) that runs a
//! session over TCP, TLS or a Unix socket is part of the runtime.
//!
//! The runtime is the `runtime` feature (on by default). Without it
//! (`cargo build -p vtx-emul --no-default-features`) the crate is the sans-IO layer
//! alone, with no libzmq, mio or libc: patterns, sessions, the ZMTP codec, timers,
//! messages, options and endpoints (`scripts/test` builds it that way, and
//! `tests/layering.rs` checks the dependency tree).

pub mod endpoint;
mod error;
pub mod msg;
pub mod options;
pub mod pattern;
#[cfg(feature = "runtime")]
pub mod peering;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sasl;
pub mod security;
pub mod session;
pub mod socket_type;
#[cfg(feature = "runtime")]
pub mod stream;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod timer;
pub mod zmtp;

pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use msg::Msg;
pub use options::SocketOptions;
pub use pattern::Stats;
pub use socket_type::SocketType;

/// Whether a 0MQ socket has a peer to talk to: a vtx socket's peering count, and for
/// a native libzmq socket always (libzmq queues what it is given until it connects).
/// The shared socket tests wait on it before a first message.
pub trait Peered {
    /// Has a peering, or needs none to take messages.
    fn peered(&self) -> bool;
}

#[cfg(feature = "runtime")]
impl Peered for zmq::Socket {
    fn peered(&self) -> bool {
        true
    }
}
