//! The manager and sockets of the `vtx` crate's end-to-end tests; sockets bind fresh
//! endpoints of the ZMTP-over-Unix test transport (`ipc`).

#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

vtx_emul::vtx_harness! {
    bind: ep(),
    limit: std::time::Duration::from_secs(5),
}

/// A fresh abstract-namespace endpoint of `ipc`.
pub(crate) fn ep() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "ipc://@vtx-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A manager with the default transports (`register_defaults`).
pub(crate) fn defaults() -> (zmq::Context, vtx::Vtx) {
    let ctx = zmq::Context::new();
    let vtx = vtx::Vtx::new(&ctx);
    vtx.register_defaults().unwrap();
    (ctx, vtx)
}
