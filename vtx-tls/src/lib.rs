//! The `tls` transport: ZMTP 3.1 inside TLS 1.3, via rustls.
//!
//! Exactly the byte stream a TLS terminator (stunnel, socat) in front of a libzmq TCP
//! socket produces, so such a pair interoperates. The only difference from `tcp6` is the
//! record layer: the same shared stream transport and ZMTP session run over a
//! [`TlsLink`], so heartbeats, reconnection and limits behave the same.
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! use vtx_tls::TlsConfig;
//! let config = TlsConfig::builder()
//!     .server_cert_pem("server.pem", "server.key")?
//!     .trust_pem("ca.pem")?
//!     .build()?;
//! vtx.register("tls", vtx_tls::transport(config))?;
//! let rep = vtx.socket(zmq::REP)?;
//! rep.bind("tls://*:5555")?;
//! # Ok(()) }
//! ```
//!
//! - TLS 1.3 only; never a fallback to plaintext: a peer that does not complete the TLS
//!   handshake (wrong CA, expired or misnamed certificate, no client certificate when
//!   one is required, plaintext ZMTP, garbage) is dropped with a logged reason and
//!   counted in the socket's `handshake-failures`; the driver and other peers go on.
//! - The server name checked is the endpoint's host (a name or an IP address), unless
//!   [`TlsConfigBuilder::server_name`] overrides it.
//! - The verified peer certificate is metadata: `last-peer.cert-subject`,
//!   `last-peer.cert-san`, `last-peer.tls-version`; with
//!   [`TlsConfigBuilder::identity_from_cert`] it is also the peer's ROUTER identity.
//! - Crypto provider: ring. It builds with a C compiler alone in a few seconds (aws-lc-rs
//!   takes three times as long on these 2-core machines) and the test certificates'
//!   generator (rcgen) uses it too, so one crypto library is compiled, not two; both
//!   reach the throughput targets here (see benches/README.md).

mod config;
pub mod fuzzing;
mod link;
#[cfg(feature = "test-util")]
pub mod testing;

pub(crate) use config::certs_from_pem_bytes;
pub use config::{
    TlsConfig, TlsConfigBuilder, certs_from_pem, key_from_pem, provider, roots_from_pem,
};
pub use rustls::RootCertStore;

/// A PKCS#8 private key from its DER bytes.
pub fn key_der_from_pkcs8(der: Vec<u8>) -> rustls_pki_types::PrivateKeyDer<'static> {
    rustls_pki_types::PrivateKeyDer::Pkcs8(der.into())
}
pub use link::{TlsLink, TlsListener, TlsNetwork, TlsTarget};
use vtx_emul::stream::StreamTransport;
use vtx_emul::zmtp::ZmtpSession;

/// ZMTP 3.1 over TLS 1.3 over TCP.
pub type TlsTransport = StreamTransport<TlsNetwork, ZmtpSession>;

/// A `tls` transport with driver-wide defaults (each socket may override them with
/// `VtxSocket::set_transport_config(TlsConfig)`).
pub fn transport(defaults: TlsConfig) -> TlsTransport {
    StreamTransport::new(TlsNetwork::new(defaults))
}
