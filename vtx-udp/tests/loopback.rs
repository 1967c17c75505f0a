//! The `udp` driver on real sockets over loopback: every socket pair, broadcast
//! discovery, large (fragmented) messages, heartbeats and reconnection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};

fn setup() -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("udp", vtx_udp::UdpTransport::default())
        .unwrap();
    (ctx, vtx)
}

fn sock(vtx: &Vtx, ty: zmq::SocketType) -> VtxSocket {
    let s = vtx.socket(ty).unwrap();
    s.set_rcvtimeo(5000).unwrap();
    s.set_sndtimeo(5000).unwrap();
    s
}

fn bind(vtx: &Vtx, ty: zmq::SocketType) -> (VtxSocket, String) {
    let s = sock(vtx, ty);
    let ep = s.bind("udp://127.0.0.1:0").unwrap();
    (s, ep)
}

fn wait_peers(s: &VtxSocket, n: usize) {
    let end = Instant::now() + Duration::from_secs(5);
    while s.peer_count() < n {
        assert!(
            Instant::now() < end,
            "peers never came up ({} of {n})",
            s.peer_count()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn req_rep_by_unicast() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    assert!(ep.starts_with("udp://127.0.0.1:"), "{ep}");
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for i in 0..100 {
        req.send(format!("hello? {i}").as_bytes(), 0).unwrap();
        assert_eq!(rep.recv_bytes(0).unwrap(), format!("hello? {i}").as_bytes());
        rep.send("ack", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ack");
    }
    assert!(
        rep.last_peer()
            .unwrap()
            .unwrap()
            .starts_with("udp://127.0.0.1:")
    );
}

#[test]
fn req_finds_rep_by_broadcast() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("udp://*:0").unwrap();
    let port = ep.rsplit(':').next().unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&format!("udp://127.255.255.255:{port}"))
        .unwrap();
    req.send("hello?", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"hello?");
    rep.send("ack", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"ack");
}

#[test]
fn all_socket_pairs() {
    let (_ctx, vtx) = setup();
    let pairs = [
        (zmq::DEALER, zmq::ROUTER),
        (zmq::DEALER, zmq::DEALER),
        (zmq::PUSH, zmq::PULL),
        (zmq::PAIR, zmq::PAIR),
        (zmq::REQ, zmq::ROUTER),
        (zmq::DEALER, zmq::REP),
    ];
    for (a, b) in pairs {
        let (server, ep) = bind(&vtx, b);
        let client = sock(&vtx, a);
        client.connect(&ep).unwrap();
        let body = format!("{a:?}->{b:?}");
        let out: Vec<Vec<u8>> = if a == zmq::DEALER && b == zmq::REP {
            vec![vec![], body.clone().into_bytes()]
        } else {
            vec![body.clone().into_bytes()]
        };
        client.send_multipart(&out, 0).unwrap();
        let got = server.recv_multipart(0).unwrap();
        assert_eq!(got.last().unwrap(), body.as_bytes(), "{a:?} -> {b:?}");
        if b == zmq::ROUTER {
            server
                .send_multipart([got[0].clone(), b"".to_vec(), b"back".to_vec()], 0)
                .unwrap();
            let reply = client.recv_multipart(0).unwrap();
            assert_eq!(reply.last().unwrap(), b"back");
        }
    }
}

#[test]
fn pub_sub_filters_at_the_publisher() {
    let (_ctx, vtx) = setup();
    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let sub = sock(&vtx, zmq::SUB);
    sub.set_subscribe(b"weather").unwrap();
    sub.connect(&ep).unwrap();
    wait_peers(&publisher, 1);
    let end = Instant::now() + Duration::from_secs(5);
    sub.set_rcvtimeo(50).unwrap();
    loop {
        publisher.send("news", 0).unwrap();
        publisher.send("weather: sun", 0).unwrap();
        if let Ok(m) = sub.recv_bytes(0) {
            assert_eq!(m, b"weather: sun");
            break;
        }
        assert!(Instant::now() < end);
    }
    let out0: u64 = publisher
        .meta("msgs-out")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..10 {
        publisher.send("news", 0).unwrap();
    }
    // One that matches, after them: when it arrives, the ten were filtered upstream.
    publisher.send("weather: fog", 0).unwrap();
    sub.set_rcvtimeo(5000).unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"weather: fog");
    let out1: u64 = publisher
        .meta("msgs-out")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(out0 + 1, out1, "filtered upstream");
    // XPUB sees the subscription; XSUB's arrives.
    let (xpub, ep) = bind(&vtx, zmq::XPUB);
    let xsub = sock(&vtx, zmq::XSUB);
    xsub.connect(&ep).unwrap();
    xsub.send(&b"\x01topic"[..], 0).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01topic");
}

#[test]
fn large_messages_are_fragmented_and_reassembled() {
    let (_ctx, vtx) = setup();
    let (pull, ep) = bind(&vtx, zmq::PULL);
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    let big: Vec<u8> = (0..60_000u32).map(|i| i as u8).collect();
    push.send_multipart([&b"head"[..], &big, b""], 0).unwrap();
    let got = pull.recv_multipart(0).unwrap();
    assert_eq!(got, vec![b"head".to_vec(), big, vec![]]);
}

#[test]
fn heartbeat_notices_a_silent_peer_and_reconnects() {
    let (_ctx, vtx) = setup();
    let (pull, ep) = bind(&vtx, zmq::PULL);
    let push = sock(&vtx, zmq::PUSH);
    push.set_heartbeat_ivl(100).unwrap();
    push.set_heartbeat_timeout(300).unwrap();
    push.set_reconnect_ivl(100).unwrap();
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    // Closing the PULL says goodbye: the PUSH drops the peering at once.
    drop(pull);
    let end = Instant::now() + Duration::from_secs(3);
    while push.peer_count() != 0 {
        assert!(Instant::now() < end, "goodbye not noticed");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A new PULL on the same port: the PUSH re-OHAIs and peers again.
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&ep).unwrap();
    wait_peers(&push, 1);
    push.send("again", 0).unwrap();
    assert_eq!(pull.recv_bytes(0).unwrap(), b"again");
}

#[test]
fn push_pull_flow_control_delivers_everything() {
    let (_ctx, vtx) = setup();
    let (pull, ep) = bind(&vtx, zmq::PULL);
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&ep).unwrap();
    wait_peers(&push, 1);
    let n = 100_000u32;
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            push.send(&i.to_be_bytes()[..], 0).unwrap();
        }
        push
    });
    for i in 0..n {
        let m = pull
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("message {i}: {e}"));
        assert_eq!(
            u32::from_be_bytes(m.try_into().unwrap()),
            i,
            "in order, none lost"
        );
    }
    drop(sender.join().unwrap());
    assert_eq!(pull.meta("dropped").unwrap().as_deref(), Some("0"));
}

/// Two instances of the driver share a port with SO_REUSEPORT: the kernel spreads the
/// peers over them, and every peer is served.
#[test]
fn instances_share_a_port() {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("udp0", vtx_udp::UdpTransport::default().reuse_port(true))
        .unwrap();
    vtx.register("udp1", vtx_udp::UdpTransport::default().reuse_port(true))
        .unwrap();
    vtx.register("udp", vtx_udp::UdpTransport::default())
        .unwrap();
    let r0 = sock(&vtx, zmq::ROUTER);
    let ep = r0.bind("udp0://127.0.0.1:0").unwrap();
    let port = ep.rsplit(':').next().unwrap();
    let r1 = sock(&vtx, zmq::ROUTER);
    r1.bind(&format!("udp1://127.0.0.1:{port}")).unwrap();
    let clients: Vec<VtxSocket> = (0..40)
        .map(|_| {
            let c = sock(&vtx, zmq::DEALER);
            c.connect(&format!("udp://127.0.0.1:{port}")).unwrap();
            c
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(10);
    while r0.peer_count() + r1.peer_count() < 40 {
        assert!(
            Instant::now() < end,
            "{} + {}",
            r0.peer_count(),
            r1.peer_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        r0.peer_count() > 0 && r1.peer_count() > 0,
        "the kernel used both instances"
    );
    for c in &clients {
        c.send("ping", 0).unwrap();
    }
    let mut answered = 0;
    for r in [&r0, &r1] {
        r.set_rcvtimeo(300).unwrap();
        while let Ok(m) = r.recv_multipart(0) {
            r.send_multipart([m[0].clone(), b"pong".to_vec()], 0)
                .unwrap();
            answered += 1;
        }
    }
    assert_eq!(answered, 40);
    for c in &clients {
        assert_eq!(c.recv_bytes(0).unwrap(), b"pong");
    }
}
