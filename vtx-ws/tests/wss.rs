//! `wss://`: ZWS 2.0 inside TLS 1.3, configured as `tls://` is (vtx to vtx: no libzmq
//! here has wss). Every message form both ways, SCRAM-SHA-256-PLUS bound to the TLS
//! session under the WebSocket, and a client that does not trust the server's
//! certificate gets no peer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vtx_tls::testing::{Pki, config};

vtx_emul::vtx_harness! {
    bind: "wss://127.0.0.1:0/zmq",
    limit: Duration::from_secs(5),
}

fn wss(pki: &Pki) -> (zmq::Context, vtx::Vtx) {
    let _ = env_logger::builder().is_test(true).try_init();
    manager("wss", vtx_ws::wss_transport(config(pki)))
}

#[test]
fn req_rep_over_wss() {
    let pki = Pki::new("wss");
    let (_ctx, vtx) = wss(&pki);
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for m in [
        vec![b"hello".to_vec()],
        vec![Vec::new()],
        vec![b"head".to_vec(), vec![7u8; 300], Vec::new()],
        vec![vec![0x5A; 1 << 20]],
    ] {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), m);
        rep.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }
    assert_eq!(
        rep.meta("last-peer.tls-version").unwrap().as_deref(),
        Some("TLSv1_3"),
        "TLS under the WebSocket"
    );
}

/// SASL's mechanisms that need TLS run on wss:// (and the channel binding reaches
/// through the WebSocket to the TLS session).
#[test]
fn scram_plus_over_wss() {
    let pki = Pki::new("wss-plus");
    let (_ctx, vtx) = wss(&pki);
    let _ = vtx_emul::sasl_handshakes!(
        |ty| sock(&vtx, ty),
        "wss://127.0.0.1:0/zmq",
        LIMIT,
        vtx_emul::sasl::SaslMechanism::ScramSha256Plus
    );
}

/// A client whose CA did not sign the server's certificate never gets a peer.
#[test]
fn an_untrusted_server_gets_no_peer() {
    let pki = Pki::new("wss-ours");
    let other = Pki::new("wss-other");
    let (_ctx, vtx) = wss(&pki);
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = sock(&vtx, zmq::REQ);
    req.set_transport_config(config(&other)).unwrap();
    req.connect(&ep).unwrap();
    vtx_emul::testing::wait_for_count("refused", LIMIT, 1, || {
        req.stats().map_or(0, |s| s.handshake_failures)
    });
    assert_eq!(rep.peer_count(), 0);
}
