//! The driver runtime: one thread per driver instance, shared by every transport.
//!
//! The thread owns a mio [`Poll`](mio::Poll) over the transport's OS sockets, the
//! `ZMQ_FD` of every application pipe, and a waker for the control channel; a timer
//! heap driven by the Vockets' and the transport's deadlines; and one
//! [`Vocket`](crate::pattern::Vocket) per vtx socket. A transport implements
//! [`Transport`] (bind, connect, I/O readiness, framing) and reaches the rest through
//! [`Driver`]. Every event costs O(1) in the number of peerings.
//!
//! The manager side is [`DriverHandle`]: typed commands over a channel, each answered
//! by the driver; a driver that died answers [`crate::Error::DriverGone`].

mod driver;
mod event_loop;
mod handle;
mod pipe;
mod shared;
pub mod zap;

use std::time::Instant;

pub use self::driver::{Driver, HOSTILE_LOG_RATE, SocketId};
pub use self::handle::DriverHandle;
pub use self::pipe::{app_socket, app_socket_type, from_zmq, pipe_socket_type, to_zmq};
pub use self::shared::SocketShared;
use crate::pattern::{ConnId, DownReason};
use crate::{Endpoint, Result, SocketOptions, SocketType};

/// Tokens at or above this value belong to the runtime; a transport uses the ones below.
pub const RESERVED_TOKENS: usize = 1 << 62;

/// A transport: how one scheme binds, connects and moves framed messages.
///
/// All methods run on the driver thread. Errors from `bind`/`connect` go back to the
/// application as typed [`crate::Error`]s; everything after that (a peer's bad bytes, a
/// lost connection) is handled here, logged and counted, never returned.
pub trait Transport: Send + 'static {
    /// Called once on the driver thread before any other method.
    fn start(&mut self, driver: &mut Driver) -> Result<()> {
        let _ = driver;
        Ok(())
    }

    /// Whether this transport can carry a socket type.
    fn supports(&self, socket_type: SocketType) -> bool {
        let _ = socket_type;
        true
    }

    /// Whether peerings of this transport run the ZMTP security handshake of the
    /// socket's mechanism (`SocketOptions::security`). A transport that does not is
    /// never asked to bind or connect a socket with a mechanism other than NULL: the
    /// application gets an error instead of a peering without the security it asked
    /// for.
    fn secures(&self) -> bool {
        false
    }

    /// Whether its links are confidential and authenticated by themselves (TLS): a
    /// SASL mechanism that needs TLS is refused on any other transport.
    fn confidential(&self) -> bool {
        false
    }

    /// Fills transport defaults into options the application left unset.
    fn adjust_options(&self, opts: &mut SocketOptions) {
        let _ = opts;
    }

    /// Binds `sock` to a local endpoint; returns the endpoint actually bound (port 0
    /// resolved, like libzmq's `ZMQ_LAST_ENDPOINT`).
    fn bind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<String>;

    /// Starts connecting `sock` to a remote endpoint; peerings come up asynchronously.
    fn connect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &Endpoint) -> Result<()>;

    /// Stops listening on an endpoint `bind` returned or was given.
    fn unbind(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()>;

    /// Stops connecting to an endpoint and closes the peerings it made.
    fn disconnect(&mut self, driver: &mut Driver, sock: SocketId, endpoint: &str) -> Result<()>;

    /// The socket is closing: stop listening and reconnecting. Live peerings stay
    /// until [`Transport::destroy_socket`] so queued messages can still be flushed.
    fn close_socket(&mut self, driver: &mut Driver, sock: SocketId);

    /// Whether the transport still holds unsent bytes for the socket (linger).
    fn has_pending(&self, sock: SocketId) -> bool {
        let _ = sock;
        false
    }

    /// Drops everything the socket still has.
    fn destroy_socket(&mut self, driver: &mut Driver, sock: SocketId);

    /// An OS socket the transport registered is ready.
    fn ready(&mut self, driver: &mut Driver, token: mio::Token, event: &mio::event::Event);

    /// A timer the transport set with [`Driver::set_timer`] fired.
    fn timer(&mut self, driver: &mut Driver, key: u64);

    /// The Vocket has messages for a peering: pull them with [`Driver::transmit`] as far
    /// as the transport's buffers allow, and resume when the link is writable again.
    fn flush(&mut self, driver: &mut Driver, conn: ConnId);

    /// The Vocket dropped a peering (heartbeat timeout, handover): close it.
    fn close(&mut self, driver: &mut Driver, conn: ConnId, reason: &DownReason);

    /// The application pipe has room again: read this peering.
    fn resume(&mut self, driver: &mut Driver, conn: ConnId);

    /// Transport-specific metadata of a peering (`"peer-cert-subject"`, ...).
    fn peer_meta(&self, conn: ConnId, key: &str) -> Option<String> {
        let _ = (conn, key);
        None
    }

    /// Transport-specific metadata of a socket (its own counters and table sizes),
    /// for keys the runtime does not know.
    fn socket_meta(&self, sock: SocketId, key: &str) -> Option<String> {
        let _ = (sock, key);
        None
    }
}

/// Clamps a deadline for mio: how long to sleep from `now`.
pub(crate) fn sleep_until(deadline: Option<Instant>, now: Instant) -> Option<std::time::Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}
