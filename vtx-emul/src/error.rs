//! The error type of every control call (`bind`, `connect`, ...), re-exported as `vtx::Error`.

use std::io;
use std::path::PathBuf;

use crate::SocketType;

/// Result of a control call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong with a control call.
///
/// Errors name what they happened to (an endpoint, a scheme, a file), so a message
/// printed to a user is enough to act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No driver is registered under this scheme.
    #[error("no driver registered for scheme `{scheme}`")]
    UnknownScheme {
        /// The scheme asked for.
        scheme: String,
    },
    /// A driver is already registered under this scheme.
    #[error("a driver is already registered for scheme `{scheme}`")]
    SchemeTaken {
        /// The scheme asked for.
        scheme: String,
    },
    /// The endpoint string cannot be parsed.
    #[error("malformed endpoint `{endpoint}`: {reason}")]
    BadEndpoint {
        /// The endpoint as given.
        endpoint: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The local address is taken by another socket.
    #[error("address in use: {endpoint}")]
    AddressInUse {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The address is not local, or cannot be reached or resolved.
    #[error("address not available: {endpoint}: {reason}")]
    AddressNotAvailable {
        /// The endpoint as given.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The driver cannot carry this socket type.
    #[error("driver `{driver}` does not support socket type {socket_type}")]
    UnsupportedSocketType {
        /// The driver's scheme.
        driver: String,
        /// The socket type asked for.
        socket_type: SocketType,
    },
    /// A vtx socket uses one driver; this call named another.
    #[error("socket already uses driver `{current}`; it cannot also use `{requested}`")]
    MixedDrivers {
        /// The driver the socket is attached to.
        current: String,
        /// The driver this call asked for.
        requested: String,
    },
    /// The driver thread has exited (shut down, or panicked).
    #[error("driver `{driver}` is gone")]
    DriverGone {
        /// The driver's scheme.
        driver: String,
    },
    /// `unbind`/`disconnect` named an endpoint the socket does not have.
    #[error("endpoint not bound or connected on this socket: {endpoint}")]
    UnknownEndpoint {
        /// The endpoint as given.
        endpoint: String,
    },
    /// The socket was never bound or connected, so it has no driver to ask.
    #[error("socket is not attached to a driver yet (bind or connect it first)")]
    NotAttached,
    /// A configuration file could not be used (certificates, keys, CA bundles).
    #[error("{what} `{}`: {reason}", path.display())]
    Config {
        /// What the file was for ("certificate chain", "private key", ...).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it is unusable.
        reason: String,
    },
    /// A configuration that is not about one file is unusable.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// Why.
        reason: String,
    },
    /// The socket type cannot be used through vtx (`zmq::STREAM`).
    #[error("socket type {0} cannot be emulated")]
    InvalidSocketType(String),
    /// An operating-system error during a control call.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// libzmq refused an operation on the application or pipe socket.
    #[cfg(feature = "runtime")]
    #[error("libzmq: {0}")]
    Zmq(#[from] zmq::Error),
}

impl Error {
    /// An I/O error with a description of what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Maps a bind-time OS error to the typed variants where one fits.
    pub fn from_bind(endpoint: &str, e: io::Error) -> Error {
        match e.kind() {
            io::ErrorKind::AddrInUse => Error::AddressInUse {
                endpoint: endpoint.into(),
            },
            io::ErrorKind::AddrNotAvailable => Error::AddressNotAvailable {
                endpoint: endpoint.into(),
                reason: e.to_string(),
            },
            _ => Error::io(format!("bind {endpoint}"), e),
        }
    }

    /// A malformed-endpoint error.
    pub fn bad_endpoint(endpoint: &str, reason: impl Into<String>) -> Error {
        Error::BadEndpoint {
            endpoint: endpoint.into(),
            reason: reason.into(),
        }
    }
}
