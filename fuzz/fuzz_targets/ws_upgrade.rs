//! The WebSocket upgrade parsers on hostile bytes: a server's (the request head, up
//! to its limit) and a client's (the 101 response). No panic; a request is accepted
//! only with a key, the path and a subprotocol we speak, and its answer satisfies our
//! own client.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vtx_ws::upgrade;

fuzz_target!(|data: &[u8]| {
    let ours = [upgrade::subprotocol("NULL")];
    if let Ok(Some(a)) = upgrade::accept(data, "/zmq", &ours) {
        assert!(a.len <= data.len() && a.len <= upgrade::HEAD_MAX);
        assert_eq!(a.protocol, ours[0]);
        assert!(a.path == "/zmq" || a.path.starts_with("/zmq?"));
    }
    if let Err(r) = upgrade::accept(data, "/zmq", &ours) {
        assert!(r.response().starts_with(b"HTTP/1.1 "));
    }
    let _ = upgrade::check_response(data, "dGhlIHNhbXBsZSBub25jZQ==", &ours);
});
