//! Test PKI generated at test time with rcgen, and helpers.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;
use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};
use vtx_tls::TlsConfig;
pub use vtx_tls::testing::{Pki, config};

pub fn manager(cfg: TlsConfig) -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("tls", vtx_tls::transport(cfg)).unwrap();
    (ctx, vtx)
}

pub fn sock(vtx: &Vtx, ty: zmq::SocketType) -> VtxSocket {
    let s = vtx.socket(ty).unwrap();
    s.set_rcvtimeo(5000).unwrap();
    s.set_sndtimeo(5000).unwrap();
    s
}

pub fn port_of(ep: &str) -> u16 {
    ep.rsplit(':').next().unwrap().parse().unwrap()
}

pub fn wait_meta(s: &VtxSocket, key: &str, at_least: u64) -> u64 {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let v: u64 = s
            .meta(key)
            .unwrap()
            .unwrap_or_default()
            .parse()
            .unwrap_or(0);
        if v >= at_least {
            return v;
        }
        assert!(Instant::now() < end, "{key} stayed at {v}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn wait_peers(s: &VtxSocket, n: usize) {
    let end = Instant::now() + Duration::from_secs(5);
    while s.peer_count() < n {
        assert!(Instant::now() < end, "peers never came up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
