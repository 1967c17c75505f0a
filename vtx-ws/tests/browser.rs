//! A real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`) loads a page served on loopback by this test; its script speaks
//! ZWS 2.0 with the subprotocol browsers can send (`ZWS2.0`) to a vtx ROUTER (a round
//! trip) and a vtx PUB (a subscription), and reports back by fetching `/done`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use vtx_ws::testing::Page;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(20),
}

/// Runs the page against a ROUTER and a PUB of `vtx` bound on `bind`.
fn browser_round(vtx: &vtx::Vtx, bind_at: &str, extra: &[String]) {
    let router = sock(vtx, zmq::ROUTER);
    let router_ep = router.bind(bind_at).unwrap();
    let publisher = sock(vtx, zmq::PUB);
    let pub_ep = publisher.bind(bind_at).unwrap();
    let page = Page::serve();
    let _browser = page.open(&format!("router={router_ep}&pub={pub_ep}"), extra);
    // The browser's message, and the reply to it by its identity.
    let m = router.recv_multipart(0).unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1], b"hello from the browser");
    router
        .send_multipart([m[0].clone(), b"hello browser".to_vec()], 0)
        .unwrap();
    // Publish until the page reports what its subscription brought.
    let fields = page.report(LIMIT, || {
        publisher.send("x-not-for-you", 0).unwrap();
        publisher.send("t-for-you", 0).unwrap();
    });
    assert_eq!(
        fields.get("router").map(String::as_str),
        Some("hello browser"),
        "{fields:?}"
    );
    assert_eq!(
        fields.get("sub").map(String::as_str),
        Some("t-for-you"),
        "{fields:?}"
    );
}

#[test]
fn a_browser_talks_to_a_vtx_router_and_subscribes_to_a_vtx_pub() {
    let _ = env_logger::builder().is_test(true).try_init();
    let (_ctx, vtx) = manager("ws", vtx_ws::WsTransport::default());
    browser_round(&vtx, "ws://127.0.0.1:0/zmq", &[]);
}

/// The same over wss://: Chromium trusts the test server's key by its SPKI hash
/// (`--ignore-certificate-errors-spki-list`), as a test may make it.
#[test]
fn a_browser_over_wss() {
    use base64::Engine;
    use sha2::Digest;
    let _ = env_logger::builder().is_test(true).try_init();
    let pki = vtx_tls::testing::Pki::new("browser");
    let (cert, key) = pki.server();
    let cfg = vtx_tls::TlsConfig::builder()
        .server_cert_pem(&cert, &key)
        .unwrap()
        .build()
        .unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let x509 = pem.parse_x509().unwrap();
    let spki = sha2::Sha256::digest(x509.tbs_certificate.subject_pki.raw);
    let pin = base64::engine::general_purpose::STANDARD.encode(spki);
    let (_ctx, vtx) = manager("wss", vtx_ws::wss_transport(cfg));
    browser_round(
        &vtx,
        "wss://127.0.0.1:0/zmq",
        &[format!("--ignore-certificate-errors-spki-list={pin}")],
    );
}
