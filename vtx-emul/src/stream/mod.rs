//! A transport for byte streams, generic over the network (TCP, TLS over TCP, Unix
//! sockets) and over the session protocol spoken on each link (ZMTP 3.1).
//!
//! It owns listeners, connections and reconnecting endpoints: accept, non-blocking
//! connect, reconnect with libzmq's RECONNECT_IVL/RECONNECT_IVL_MAX backoff and jitter,
//! the handshake timeout, reading with backpressure (a paused peering is not read, so
//! TCP flow control pushes back on the sender), and coalesced vectored writes. A
//! transport crate supplies a [`Network`] and gets a full [`crate::runtime::Transport`].
//! The life of each peering (session handshake, backpressure, reconnect) is the one
//! every transport shares, in [`crate::peering`].

mod conn;
mod links;
pub mod tcp;
mod transport;

use std::fmt;
use std::io::{self, IoSlice};

use bytes::Bytes;

pub use self::transport::StreamTransport;
pub use crate::session::{
    ChannelFacts, Local, OutBuf, ProtocolError, Role, Session, SessionEvent, VectoredWrite,
};
use crate::{Endpoint, Result, SocketOptions};

/// One established (or establishing) byte-stream link.
pub trait Link: mio::event::Source + Send + 'static {
    /// Reads available bytes (`WouldBlock` when none; `Ok(0)` at end of stream).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes from several buffers.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
    /// Whether a non-blocking connect has completed (`Err` if it failed).
    fn connected(&mut self) -> io::Result<bool>;
    /// Pushes out bytes the link buffers itself (TLS records). `Ok(true)` when none remain.
    fn flush_link(&mut self) -> io::Result<bool> {
        Ok(true)
    }
    /// Ends our direction of the stream (TCP's FIN), after everything written; the
    /// peer's direction stays open. `Unsupported` where the link cannot.
    fn shutdown_write(&mut self) -> io::Result<()> {
        Err(io::ErrorKind::Unsupported.into())
    }
    /// A server link that learned from its first bytes that it is for another
    /// listener sharing its address (a WebSocket request for another socket's path):
    /// the route it asks for. The transport then moves it to the listener that
    /// [`Network::serves`] it, or closes it.
    fn route(&self) -> Option<&str> {
        None
    }
    /// Whether the link holds input for the session that no readiness event will
    /// announce (a link that makes input of its own while writing): the transport
    /// then reads it on the next turn.
    fn buffered_input(&self) -> bool {
        false
    }
    /// Link metadata (`"cert-subject"` for TLS).
    fn meta(&self, key: &str) -> Option<String> {
        let _ = key;
        None
    }
    /// An identity the link itself vouches for (a verified certificate's name), used
    /// instead of the one the peer announces when the transport is set up to.
    fn peer_identity(&self) -> Option<Bytes> {
        None
    }
    /// What the link knows of its channel (a TLS exporter, a verified certificate).
    fn channel(&self) -> ChannelFacts {
        ChannelFacts::default()
    }
}

/// How a scheme listens, accepts and connects.
pub trait Network: Send + 'static {
    /// A listening socket.
    type Listener: mio::event::Source + Send + 'static;
    /// A connection.
    type Link: Link;
    /// A resolved connect target.
    type Target: Clone + Send + fmt::Debug + 'static;

    /// Opens a listener; returns it and the endpoint actually bound (`scheme://addr`).
    fn listen(
        &mut self,
        endpoint: &Endpoint,
        opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)>;
    /// Accepts one pending connection and its peer address (`WouldBlock` when none).
    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)>;
    /// Resolves a connect endpoint (once, at `connect`).
    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target>;
    /// Starts a non-blocking connect; returns the link and the peer address.
    fn connect(
        &mut self,
        target: &Self::Target,
        opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)>;
    /// Whether `listener` takes the links that ask for `route` (see [`Link::route`])
    /// from `from`'s address.
    fn serves(&self, listener: &Self::Listener, from: &Self::Listener, route: &str) -> bool {
        let _ = (listener, from, route);
        false
    }
    /// Readies `link` for the listener it moves to: its settings are now that
    /// listener's socket's.
    fn rehome(&mut self, link: &mut Self::Link, listener: &Self::Listener) {
        let _ = (link, listener);
    }
    /// Whether every link is confidential and authenticated by itself (TLS): the
    /// SASL mechanisms that need TLS run only on such a network.
    fn confidential(&self) -> bool {
        false
    }
    /// Checks, at `connect` time, that a socket's options let it connect at all, so a
    /// configuration mistake is an error for the application, not a silent retry loop.
    fn check_connect(&self, opts: &SocketOptions) -> Result<()> {
        let _ = opts;
        Ok(())
    }
}
