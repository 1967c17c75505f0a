//! vtx `ws://` against the project's own libzmq (the `zmq` crate's 4.3.4, which has
//! `ws://`): REQ/REP and DEALER/ROUTER and PUB/SUB, vtx binding and connecting,
//! multipart, empty and 1 MiB messages, and vtx to vtx.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(5),
}

fn setup() -> (zmq::Context, vtx::Vtx) {
    let _ = env_logger::builder().is_test(true).try_init();
    manager("ws", vtx_ws::WsTransport::default())
}

fn native(ctx: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(ty).unwrap();
    s.set_rcvtimeo(5000).unwrap();
    s.set_sndtimeo(5000).unwrap();
    s.set_linger(0).unwrap();
    s
}

fn messages() -> Vec<Vec<Vec<u8>>> {
    vec![
        vec![b"hello".to_vec()],
        vec![Vec::new()],
        vec![b"head".to_vec(), vec![7u8; 300], Vec::new()],
        vec![vec![0x5A; 1 << 20]],
    ]
}

#[test]
fn libzmq_ws_is_there() {
    assert!(zmq::has("ws").unwrap_or(false) || zmq::has("WS").unwrap_or(false));
}

/// A native REP bound on ws://, a vtx REQ connecting: every message both ways.
#[test]
fn vtx_req_to_native_rep() {
    let (ctx, vtx) = setup();
    let rep = native(&ctx, zmq::REP);
    rep.bind("ws://127.0.0.1:*/zmq").unwrap();
    let ep = rep.get_last_endpoint().unwrap().unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for m in messages() {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), m);
        rep.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }
}

/// A vtx REP bound, a native REQ connecting.
#[test]
fn native_req_to_vtx_rep() {
    let (ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = native(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    for m in messages() {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), m);
        rep.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }
}

/// DEALER/ROUTER both ways, identities included.
#[test]
fn dealer_router_both_ways() {
    let (ctx, vtx) = setup();
    let (router, ep) = bind(&vtx, zmq::ROUTER);
    let dealer = native(&ctx, zmq::DEALER);
    dealer.set_identity(b"native-d").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("hi", 0).unwrap();
    assert_eq!(
        router.recv_multipart(0).unwrap(),
        vec![b"native-d".to_vec(), b"hi".to_vec()]
    );
    router.send_multipart(["native-d", "back"], 0).unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"back");

    let nrouter = native(&ctx, zmq::ROUTER);
    nrouter.bind("ws://127.0.0.1:*/r").unwrap();
    let nep = nrouter.get_last_endpoint().unwrap().unwrap();
    let vdealer = sock(&vtx, zmq::DEALER);
    vdealer.set_identity(b"vtx-d").unwrap();
    vdealer.connect(&nep).unwrap();
    vdealer.send("hi", 0).unwrap();
    assert_eq!(
        nrouter.recv_multipart(0).unwrap(),
        vec![b"vtx-d".to_vec(), b"hi".to_vec()]
    );
}

/// PUB/SUB both ways: the subscription crosses (as a ZWS command) and filters.
#[test]
fn pub_sub_both_ways() {
    let (ctx, vtx) = setup();
    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let sub = native(&ctx, zmq::SUB);
    sub.set_subscribe(b"t").unwrap();
    sub.connect(&ep).unwrap();
    let got = vtx_emul::publish_until!(publisher, sub, &[b"x-no", b"t-yes"], LIMIT);
    assert_eq!(got, b"t-yes");

    let npub = native(&ctx, zmq::PUB);
    npub.bind("ws://127.0.0.1:*/p").unwrap();
    let nep = npub.get_last_endpoint().unwrap().unwrap();
    let vsub = sock(&vtx, zmq::SUB);
    vsub.set_subscribe(b"t").unwrap();
    vsub.connect(&nep).unwrap();
    let got = vtx_emul::publish_until!(npub, vsub, &[b"x-no", b"t-yes"], LIMIT);
    assert_eq!(got, b"t-yes");
}

/// vtx to vtx over ws://.
#[test]
fn vtx_to_vtx() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for m in messages() {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), m);
        rep.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }
}

/// The security mechanisms run over ws:// as over tcp6:// (subprotocols
/// `ZWS2.0/PLAIN`, `ZWS2.0/CURVE`, `ZWS2.0/SASL`): the right credentials in, the
/// wrong ones out.
#[test]
fn plain_curve_and_sasl_between_vtx_sockets() {
    let (_ctx, vtx) = setup();
    let _ = vtx_emul::plain_handshakes!(|ty| sock(&vtx, ty), "ws://127.0.0.1:0/zmq", LIMIT);
    let _ = vtx_emul::curve_handshakes!(|ty| sock(&vtx, ty), "ws://127.0.0.1:0/zmq", LIMIT);
    let _ = vtx_emul::sasl_handshakes!(
        |ty| sock(&vtx, ty),
        "ws://127.0.0.1:0/zmq",
        LIMIT,
        vtx_emul::sasl::SaslMechanism::ScramSha256
    );
}

/// PLAIN with libzmq over ws://: a native PLAIN client (`ZWS2.0/PLAIN`) to a vtx
/// PLAIN server.
#[test]
fn native_plain_client_to_vtx_plain_server() {
    let (ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    rep.set_plain_server(vtx_emul::security::PlainPasswords::new().with_user(b"admin", b"secret"))
        .unwrap();
    let ep = rep.bind("ws://127.0.0.1:0/zmq").unwrap();
    let req = native(&ctx, zmq::REQ);
    req.set_plain_username(Some("admin")).unwrap();
    req.set_plain_password(Some("secret")).unwrap();
    req.connect(&ep).unwrap();
    req.send("sealed", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"sealed");
    assert_eq!(rep.msg_gets("User-Id").unwrap().as_deref(), Some("admin"));
}
