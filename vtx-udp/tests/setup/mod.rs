//! The manager and sockets of the end-to-end tests: the `udp` driver on loopback.

vtx_emul::vtx_harness! {
    bind: "udp://127.0.0.1:0",
    limit: std::time::Duration::from_secs(5),
}

/// A manager with `udp` registered.
#[allow(dead_code)]
pub(crate) fn setup() -> (zmq::Context, vtx::Vtx) {
    manager("udp", vtx_udp::UdpTransport::default())
}
