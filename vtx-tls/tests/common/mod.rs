//! Test PKI generated at test time with rcgen, and helpers: the `tls` driver on
//! loopback.

#![allow(dead_code, unreachable_pub)]

use vtx::{Vtx, VtxSocket};
pub use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::wait_for_count;
use vtx_tls::TlsConfig;
pub use vtx_tls::testing::{Pki, config};

vtx_emul::vtx_harness! {
    bind: "tls://127.0.0.1:0",
    limit: std::time::Duration::from_secs(5),
}

/// A manager with `tls` registered, configured by `cfg`.
pub fn tls(cfg: TlsConfig) -> (zmq::Context, Vtx) {
    manager("tls", vtx_tls::transport(cfg))
}

/// Waits until a counter of `s` reaches `at_least`; returns it.
pub fn wait_meta(s: &VtxSocket, key: &str, at_least: u64) -> u64 {
    wait_for_count(key, LIMIT, at_least, || meta(s, key))
}
