//! A stream transport over Unix domain sockets speaking ZMTP 3.1, so the runtime and the
//! manager can be tested end to end without a network transport, and against libzmq's
//! own `ipc://` sockets.
//!
//! Addresses: `scheme://@name` (Linux abstract namespace, nothing to clean up) or
//! `scheme:///path/to/socket`.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;

use crate::stream::{Network, StreamTransport};
use crate::zmtp::ZmtpSession;
use crate::{Endpoint, Error, Result, SocketOptions};

/// ZMTP over Unix sockets.
pub type UnixTransport = StreamTransport<UnixNetwork, ZmtpSession>;

/// A ZMTP-over-Unix-socket transport, ready to register.
pub fn unix_transport() -> UnixTransport {
    StreamTransport::new(UnixNetwork)
}

/// Unix domain sockets as a [`Network`].
#[derive(Debug, Default)]
pub struct UnixNetwork;

fn parse(endpoint: &Endpoint) -> Result<SocketAddr> {
    let a = endpoint.address();
    let r = match a.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(a),
    };
    r.map_err(|e| Error::bad_endpoint(endpoint.as_str(), e.to_string()))
}

impl Network for UnixNetwork {
    type Listener = mio::net::UnixListener;
    type Link = mio::net::UnixStream;
    type Target = (SocketAddr, String);

    fn listen(
        &mut self,
        endpoint: &Endpoint,
        _opts: &SocketOptions,
    ) -> Result<(Self::Listener, String)> {
        let addr = parse(endpoint)?;
        let l = mio::net::UnixListener::bind_addr(&addr)
            .map_err(|e| Error::from_bind(endpoint.as_str(), e))?;
        Ok((l, endpoint.to_string()))
    }

    fn accept(&mut self, listener: &Self::Listener) -> io::Result<(Self::Link, String)> {
        let (s, _) = listener.accept()?;
        let n = ACCEPTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let local = listener
            .local_addr()
            .ok()
            .map(|a| describe(&a))
            .unwrap_or_default();
        Ok((s, format!("{local}#{n}")))
    }

    fn resolve(&mut self, endpoint: &Endpoint) -> Result<Self::Target> {
        Ok((parse(endpoint)?, endpoint.address().to_owned()))
    }

    fn connect(
        &mut self,
        target: &Self::Target,
        _opts: &SocketOptions,
    ) -> io::Result<(Self::Link, String)> {
        Ok((
            mio::net::UnixStream::connect_addr(&target.0)?,
            target.1.clone(),
        ))
    }
}

static ACCEPTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn describe(a: &SocketAddr) -> String {
    if let Some(name) = a.as_abstract_name() {
        format!("@{}", String::from_utf8_lossy(name))
    } else if let Some(p) = a.as_pathname() {
        p.display().to_string()
    } else {
        "unnamed".into()
    }
}
