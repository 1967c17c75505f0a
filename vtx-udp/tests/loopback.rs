//! The `udp` driver on real sockets over loopback: every socket pair, broadcast
//! discovery, large (fragmented) messages, heartbeats and reconnection.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod setup;

use std::time::Duration;

use setup::{LIMIT, bind, meta, pair, setup, sock, subscriber, wait_peers};
use vtx::{Vtx, VtxSocket};
use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::{wait_for_count, wait_until};
use vtx_emul::{every_pair, publish_until, req_rep, send_in_order};

#[test]
fn req_rep_by_unicast() {
    let (_ctx, vtx) = setup();
    let (req, rep) = pair(&vtx, zmq::REQ, zmq::REP);
    req_rep!(req, rep, 100, "udp://127.0.0.1:");
}

#[test]
fn req_finds_rep_by_broadcast() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("udp://*:0").unwrap();
    let port = port_of(&ep);
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
    every_pair!(|a, b| pair(&vtx, a, b), LIMIT);
}

#[test]
fn pub_sub_filters_at_the_publisher() {
    let (_ctx, vtx) = setup();
    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let sub = subscriber(&vtx, b"weather", &publisher, &ep);
    let m = publish_until!(publisher, sub, &[b"news", b"weather: sun"], LIMIT);
    assert_eq!(m, b"weather: sun");
    let out0 = meta(&publisher, "msgs-out");
    for _ in 0..10 {
        publisher.send("news", 0).unwrap();
    }
    // One that matches, after them: when it arrives, the ten were filtered upstream.
    publisher.send("weather: fog", 0).unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"weather: fog");
    let out1 = meta(&publisher, "msgs-out");
    assert_eq!(out0 + 1, out1, "filtered upstream");
    // XPUB sees the subscription; XSUB's arrives.
    let (xsub, xpub) = pair(&vtx, zmq::XSUB, zmq::XPUB);
    xsub.send(&b"\x01topic"[..], 0).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01topic");
}

#[test]
fn large_messages_are_fragmented_and_reassembled() {
    let (_ctx, vtx) = setup();
    let (push, pull) = pair(&vtx, zmq::PUSH, zmq::PULL);
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
    wait_until("goodbye noticed", Duration::from_secs(3), || {
        push.peer_count() == 0
    });
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
    let (push, pull) = pair(&vtx, zmq::PUSH, zmq::PULL);
    let push = send_in_order!(push, pull, 100_000);
    assert_eq!(pull.meta("dropped").unwrap().as_deref(), Some("0"));
    // The engine's deadline moves all the time (acknowledgement delays); the driver
    // keeps one timer entry per deadline, not one per move. Superseded entries used to
    // re-arm when they fired, and piled up by the thousand.
    for s in [&push, &pull] {
        let timers = meta(s, "driver-timers");
        assert!(
            timers <= 16,
            "{timers} timer entries after 100,000 messages"
        );
    }
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
    let port = port_of(&ep);
    let r1 = sock(&vtx, zmq::ROUTER);
    r1.bind(&format!("udp1://127.0.0.1:{port}")).unwrap();
    let clients: Vec<VtxSocket> = (0..40)
        .map(|_| {
            let c = sock(&vtx, zmq::DEALER);
            c.connect(&format!("udp://127.0.0.1:{port}")).unwrap();
            c
        })
        .collect();
    wait_for_count(
        "peerings of both instances",
        Duration::from_secs(10),
        40,
        || r0.peer_count() + r1.peer_count(),
    );
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

/// NOM-2 has no ZMTP security handshake: a socket asking for PLAIN gets an error at
/// bind and connect, never a peering without the security it asked for.
#[test]
fn a_security_mechanism_is_refused_not_ignored() {
    let (_ctx, vtx) = setup();
    let server = sock(&vtx, zmq::REP);
    server
        .set_plain_server(vtx_emul::security::PlainPasswords::new())
        .unwrap();
    let err = server.bind("udp://127.0.0.1:0").unwrap_err();
    assert!(
        matches!(&err, vtx::Error::InvalidConfig { reason } if reason.contains("PLAIN")),
        "{err}"
    );
    let client = sock(&vtx, zmq::REQ);
    client.set_plain_client(b"u", b"p").unwrap();
    assert!(matches!(
        client.connect("udp://127.0.0.1:9"),
        Err(vtx::Error::InvalidConfig { .. })
    ));
    // Back to NULL, the same socket binds.
    server
        .set_security(vtx_emul::security::Security::Null)
        .unwrap();
    server.bind("udp://127.0.0.1:0").unwrap();
}

/// A mechanism set after a bind is refused at once: the bound endpoint would otherwise
/// go on without it.
#[test]
fn a_mechanism_set_after_a_bind_is_refused() {
    let (_ctx, vtx) = setup();
    let server = sock(&vtx, zmq::REP);
    server.bind("udp://127.0.0.1:0").unwrap();
    let err = server
        .set_plain_server(vtx_emul::security::PlainPasswords::new())
        .unwrap_err();
    assert!(matches!(err, vtx::Error::InvalidConfig { .. }), "{err}");
    // The refused mechanism is not kept: other options still reach the driver.
    server.set_max_peers(5).unwrap();
}
