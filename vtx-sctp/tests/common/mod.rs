//! Setup shared by the vtx-sctp tests: the userspace backend on loopback.

#![allow(dead_code)]

use vtx::Vtx;

vtx_emul::vtx_harness! {
    bind: "sctp://127.0.0.1:0",
    limit: std::time::Duration::from_secs(10),
}

/// Logging, when RUST_LOG asks.
pub(crate) fn logging() {
    let _ = env_logger::builder().is_test(true).try_init();
}

/// The userspace backend under `sctp`.
pub(crate) fn setup() -> (zmq::Context, Vtx) {
    logging();
    manager("sctp", vtx_sctp::SctpTransport::default())
}

/// Waits up to [`LIMIT`] for `f` to hold.
pub(crate) fn wait_until(what: &str, f: impl FnMut() -> bool) {
    vtx_emul::testing::wait_until(what, LIMIT, f);
}
