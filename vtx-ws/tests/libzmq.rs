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

/// Every message of [`messages`] from `req` to `rep` and back.
fn exchange(req: &impl vtx::Socket, rep: &impl vtx::Socket) {
    for m in messages() {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), m);
        rep.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }
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
    exchange(&req, &rep);
}

/// A vtx REP bound, a native REQ connecting.
#[test]
fn native_req_to_vtx_rep() {
    let (ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = native(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    exchange(&req, &rep);
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
    exchange(&req, &rep);
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

/// Heartbeats cross: ours are WebSocket pings (libzmq's ws ignores ZMTP PING
/// commands and answers pings), and libzmq's pings get our pongs. With short
/// intervals on both sides the peering stays up for many intervals and carries
/// messages.
#[test]
fn heartbeats_cross_with_libzmq() {
    let (ctx, vtx) = setup();
    let rep = native(&ctx, zmq::REP);
    rep.set_heartbeat_ivl(100).unwrap();
    rep.set_heartbeat_timeout(300).unwrap();
    rep.bind("ws://127.0.0.1:*/hb").unwrap();
    let ep = rep.get_last_endpoint().unwrap().unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.set_heartbeat_ivl(100).unwrap();
    req.set_heartbeat_timeout(300).unwrap();
    req.connect(&ep).unwrap();
    req.send("first", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"first");
    rep.send("ok", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"ok");
    // Ten heartbeat intervals with nothing but heartbeats on the wire.
    std::thread::sleep(Duration::from_millis(1000));
    let stats = req.stats().unwrap();
    assert_eq!(
        (stats.heartbeat_timeouts, stats.peers_down, req.peer_count()),
        (0, 0, 1)
    );
    req.send("still here", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"still here");
}

/// libzmq's ws client sends only the last segment of its endpoint's path; a vtx
/// server bound on a longer path still takes it.
#[test]
fn a_libzmq_client_reaches_a_vtx_server_on_a_deep_path() {
    let (ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("ws://127.0.0.1:0/api/v1/zmq").unwrap();
    assert!(ep.ends_with("/api/v1/zmq"), "{ep}");
    let req = native(&ctx, zmq::REQ);
    req.connect(&ep).unwrap();
    req.send("deep", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"deep");
}

/// Every compatible pair of socket types with libzmq over ws://, both ways round: the
/// connecting side vtx and libzmq binding, then libzmq connecting to vtx binding.
#[test]
fn every_pair_with_libzmq_both_ways() {
    let (ctx, vtx) = setup();
    vtx_emul::every_pair!(
        |a, b| {
            let server = native(&ctx, b);
            server.bind("ws://127.0.0.1:*/pair").unwrap();
            let ep = server.get_last_endpoint().unwrap().unwrap();
            let client = sock(&vtx, a);
            client.connect(&ep).unwrap();
            (client, server)
        },
        LIMIT
    );
    vtx_emul::every_pair!(
        |a, b| {
            let (server, ep) = bind(&vtx, b);
            let client = native(&ctx, a);
            client.connect(&ep).unwrap();
            (client, server)
        },
        LIMIT
    );
}

/// Several vtx sockets share one port by path: a REP on `/rpc` and a PUB on
/// `/feed`, reached by libzmq clients on their paths; a path nobody serves is a 404,
/// and a path bound twice is refused.
#[test]
fn sockets_share_a_port_by_path() {
    let (ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let rpc = rep.bind("ws://127.0.0.1:0/rpc").unwrap();
    let port = vtx_emul::testing::addr::port_of(rpc.trim_end_matches("/rpc"));
    let publisher = sock(&vtx, zmq::PUB);
    let feed = publisher
        .bind(&format!("ws://127.0.0.1:{port}/feed"))
        .unwrap();
    assert_eq!(feed, format!("ws://127.0.0.1:{port}/feed"));
    let twice = sock(&vtx, zmq::REP);
    assert!(matches!(
        twice.bind(&format!("ws://127.0.0.1:{port}/rpc")),
        Err(vtx::Error::AddressInUse { .. })
    ));

    let req = native(&ctx, zmq::REQ);
    req.connect(&rpc).unwrap();
    req.send("to the rep", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"to the rep");
    rep.send("from the rep", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"from the rep");

    let sub = native(&ctx, zmq::SUB);
    sub.set_subscribe(b"t").unwrap();
    sub.connect(&feed).unwrap();
    let got = vtx_emul::publish_until!(publisher, sub, &[b"x-no", b"t-yes"], LIMIT);
    assert_eq!(got, b"t-yes");
    assert_eq!(rep.peer_count(), 1, "the SUB went to the PUB, not the REP");

    let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    raw.set_read_timeout(Some(LIMIT)).unwrap();
    let request = vtx_ws::upgrade::request(
        &format!("127.0.0.1:{port}"),
        "/nobody",
        "dGhlIHNhbXBsZSBub25jZQ==",
        &[vtx_ws::upgrade::subprotocol("NULL")],
    );
    std::io::Write::write_all(&mut raw, &request).unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut raw, &mut answer);
    assert!(
        answer.starts_with(b"HTTP/1.1 404 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

/// The socket holding a shared port unbinds: the next to bind there listens again,
/// and the others' paths are reached through it.
#[test]
fn a_shared_port_outlives_its_first_socket() {
    let (ctx, vtx) = setup();
    let first = sock(&vtx, zmq::REP);
    let a = first.bind("ws://127.0.0.1:0/a").unwrap();
    let port = vtx_emul::testing::addr::port_of(a.trim_end_matches("/a"));
    let second = sock(&vtx, zmq::REP);
    let b = second.bind(&format!("ws://127.0.0.1:{port}/b")).unwrap();
    drop(first);
    let third = sock(&vtx, zmq::REP);
    let mut c = String::new();
    vtx_emul::testing::wait_until("the port bound again", LIMIT, || {
        third
            .bind(&format!("ws://127.0.0.1:{port}/c"))
            .map(|ep| c = ep)
            .is_ok()
    });
    for (ep, rep) in [(&b, &second), (&c, &third)] {
        let req = native(&ctx, zmq::REQ);
        req.connect(ep).unwrap();
        req.send(ep.as_str(), 0).unwrap();
        assert_eq!(rep.recv_bytes(0).unwrap(), ep.as_bytes());
    }
}
