//! Setup shared by the vtx-sctp tests.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};

/// A manager with `scheme` registered to `transport`, and logging when RUST_LOG asks.
pub(crate) fn manager(
    scheme: &str,
    transport: impl vtx_emul::runtime::Transport,
) -> (zmq::Context, Vtx) {
    let _ = env_logger::builder().is_test(true).try_init();
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register(scheme, transport).unwrap();
    (ctx, vtx)
}

/// The userspace backend under `sctp`.
pub(crate) fn setup() -> (zmq::Context, Vtx) {
    manager("sctp", vtx_sctp::SctpTransport::default())
}

/// A socket whose sends and receives give up after 10 s.
pub(crate) fn sock(vtx: &Vtx, ty: zmq::SocketType) -> VtxSocket {
    let s = vtx.socket(ty).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    s.set_sndtimeo(10_000).unwrap();
    s
}

pub(crate) fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
