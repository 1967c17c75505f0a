//! ZMTP 3.1 (RFC 23 framing, RFC 37 commands), sans-IO, shared by every transport that
//! speaks standard 0MQ on a byte stream (tcp6, tls, and the Unix test transport).
//!
//! [`greeting`] and [`frame`] are pure codecs (`&[u8]` in, typed value or typed error
//! out, lengths checked before any allocation); [`command`] parses and builds the
//! commands, [`plain`] PLAIN's; [`ZmtpSession`] is the per-link state machine the
//! stream transport drives, with the security handshake of the socket's mechanism
//! ([`crate::security`]).

pub mod command;
pub mod curve;
pub mod frame;
pub mod greeting;
pub mod plain;
#[cfg(feature = "sasl")]
pub mod sasl;
mod session;

pub use self::session::ZmtpSession;
