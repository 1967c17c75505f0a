//! vtx `tcp6` against real libzmq (the `zmq` crate's native sockets over
//! `tcp://[::1]:port` with `ZMQ_IPV6`), both directions, every compatible pair.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use vtx_emul::testing::addr::{port_of, with_scheme};
use vtx_emul::testing::wait_until;
use vtx_emul::{req_rep, round_trip, unsubscribe_holds};

#[test]
fn req_rep_both_ways() {
    let t = Setup::new();
    // vtx REQ -> native REP
    let (rep, ep) = t.native_bind(zmq::REP);
    let req = t.vtx_sock(zmq::REQ);
    req.connect(&ep).unwrap();
    for i in 0..20 {
        round_trip!(req, rep, i);
    }
    // native REQ -> vtx REP
    let (rep, ep) = t.vtx_bind(zmq::REP);
    let req = t.native_connect(zmq::REQ, &ep);
    req_rep!(req, rep, 20, "tcp6://[::1]:");
}

#[test]
fn multipart_empty_and_one_mib_messages_both_ways() {
    let t = Setup::new();
    let big = vec![0xA5u8; 1 << 20];
    let parts: Vec<Vec<u8>> = vec![b"head".to_vec(), vec![], big.clone(), b"tail".to_vec()];
    // vtx DEALER -> native DEALER
    let (native, ep) = t.native_bind(zmq::DEALER);
    let vtx = t.vtx_sock(zmq::DEALER);
    vtx.connect(&ep).unwrap();
    vtx.send_multipart(&parts, 0).unwrap();
    vtx.send(&b""[..], 0).unwrap();
    assert_eq!(native.recv_multipart(0).unwrap(), parts);
    assert_eq!(native.recv_multipart(0).unwrap(), vec![Vec::<u8>::new()]);
    native.send_multipart(&parts, 0).unwrap();
    assert_eq!(vtx.recv_multipart(0).unwrap(), parts);
    // native DEALER -> vtx DEALER
    let (vtx, ep) = t.vtx_bind(zmq::DEALER);
    let native = t.native_connect(zmq::DEALER, &ep);
    native.send_multipart(&parts, 0).unwrap();
    assert_eq!(vtx.recv_multipart(0).unwrap(), parts);
    vtx.send(&big[..], 0).unwrap();
    assert_eq!(native.recv_bytes(0).unwrap(), big);
}

#[test]
fn dealer_router_and_router_dealer() {
    let t = Setup::new();
    // vtx DEALER (with identity) -> native ROUTER
    let (router, ep) = t.native_bind(zmq::ROUTER);
    let dealer = t.vtx_sock(zmq::DEALER);
    dealer.set_identity(b"vtx-dealer").unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send_multipart(["", "hello"], 0).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got, vec![b"vtx-dealer".to_vec(), vec![], b"hello".to_vec()]);
    router
        .send_multipart([&b"vtx-dealer"[..], b"", b"world"], 0)
        .unwrap();
    assert_eq!(
        dealer.recv_multipart(0).unwrap(),
        vec![vec![], b"world".to_vec()]
    );
    // native DEALER -> vtx ROUTER
    let (router, ep) = t.vtx_bind(zmq::ROUTER);
    let dealer = t.native_connect_with(zmq::DEALER, &ep, |s| {
        s.set_identity(b"native-dealer").unwrap()
    });
    dealer.send("hi", 0).unwrap();
    assert_eq!(
        router.recv_multipart(0).unwrap(),
        vec![b"native-dealer".to_vec(), b"hi".to_vec()]
    );
    router
        .send_multipart([&b"native-dealer"[..], b"back"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"back");
    // vtx ROUTER connecting out to a native DEALER (ROUTER-DEALER, the other binding).
    let (dealer, ep) =
        t.native_bind_with(zmq::DEALER, |s| s.set_identity(b"bound-dealer").unwrap());
    let router = t.vtx_sock(zmq::ROUTER);
    router.connect(&ep).unwrap();
    t.wait_peers(&router, 1);
    router
        .send_multipart([&b"bound-dealer"[..], b"to you"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"to you");
    // A native REQ through a vtx ROUTER: the REQ envelope arrives intact.
    let (router, ep) = t.vtx_bind(zmq::ROUTER);
    let req = t.native_connect(zmq::REQ, &ep);
    req.send("envelope?", 0).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got.len(), 3);
    assert!(got[1].is_empty());
    router
        .send_multipart([got[0].clone(), vec![], b"yes".to_vec()], 0)
        .unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"yes");
}

#[test]
fn pub_sub_vtx_publisher_native_subscribers() {
    let t = Setup::new();
    let (publisher, ep) = t.vtx_bind(zmq::PUB);
    let sub = t.native_connect_with(zmq::SUB, &ep, |s| s.set_subscribe(b"weather").unwrap());
    t.wait_peers(&publisher, 1);
    let got = publish_until(&publisher, &sub, &[b"news: x", b"weather: sun"]);
    assert_eq!(got, b"weather: sun");
    drain(&sub);
    // Prefix filtering happens at the publisher: of ten filtered messages and one that
    // matches, only the one that matches leaves the driver, and it arrives first.
    let before = meta(&publisher, "msgs-out");
    for _ in 0..10 {
        publisher.send("news: filtered out", 0).unwrap();
    }
    publisher.send("weather: fog", 0).unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"weather: fog");
    assert_eq!(
        meta(&publisher, "msgs-out"),
        before + 1,
        "non-matching messages never left the driver"
    );
    unsubscribe_holds!(publisher, sub, b"weather", LIMIT);
    // Late joiner gets what is published after it subscribes.
    let late = t.native_connect_with(zmq::SUB, &ep, |s| s.set_subscribe(b"").unwrap());
    t.wait_peers(&publisher, 2);
    assert_eq!(
        publish_until(&publisher, &late, &[b"for the late one"]),
        b"for the late one"
    );
}

#[test]
fn pub_sub_native_publisher_vtx_subscriber() {
    let t = Setup::new();
    let (publisher, ep) = t.native_bind(zmq::PUB);
    let sub = t.vtx_sock(zmq::SUB);
    sub.set_subscribe(b"a").unwrap();
    sub.connect(&ep).unwrap();
    assert_eq!(
        publish_until(&publisher, &sub, &[b"b-no", b"a-yes"]),
        b"a-yes"
    );
    sub.set_unsubscribe(b"a").unwrap();
    sub.set_subscribe(b"b").unwrap();
    // The subscribe follows the cancel on the same connection: once "b" arrives, the
    // native publisher has applied both.
    assert_eq!(publish_until(&publisher, &sub, &[b"b-first"]), b"b-first");
    drain(&sub);
    publisher.send("a-no", 0).unwrap();
    publisher.send("b-yes", 0).unwrap();
    assert_eq!(sub.recv_bytes(0).unwrap(), b"b-yes");
}

#[test]
fn xpub_xsub_both_ways() {
    let t = Setup::new();
    // vtx XPUB sees a native XSUB's subscription.
    let (xpub, ep) = t.vtx_bind(zmq::XPUB);
    let xsub = t.native_connect(zmq::XSUB, &ep);
    xsub.send(&b"\x01topic"[..], 0).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01topic");
    assert_eq!(
        publish_until(&xpub, &xsub, &[b"topic: data"]),
        b"topic: data"
    );
    // native XPUB sees a vtx XSUB's subscription.
    let (xpub, ep) = t.native_bind(zmq::XPUB);
    let xsub = t.vtx_sock(zmq::XSUB);
    xsub.connect(&ep).unwrap();
    xsub.send(&b"\x01other"[..], 0).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x01other");
    xpub.send("other: data", 0).unwrap();
    assert_eq!(xsub.recv_bytes(0).unwrap(), b"other: data");
    xsub.send(&b"\x00other"[..], 0).unwrap();
    assert_eq!(xpub.recv_bytes(0).unwrap(), b"\x00other");
}

#[test]
fn push_pull_fan_out_and_fan_in_both_ways() {
    let t = Setup::new();
    // vtx PUSH fans out to two native PULLs.
    let (push, ep) = t.vtx_bind(zmq::PUSH);
    let pulls = [
        t.native_connect(zmq::PULL, &ep),
        t.native_connect(zmq::PULL, &ep),
    ];
    t.wait_peers(&push, 2);
    for i in 0..100u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    let counts: Vec<usize> = pulls.iter().map(|p| recv_all(p).len()).collect();
    assert_eq!(counts, vec![50, 50]);
    // Two native PUSHes fan in to a vtx PULL.
    let (pull, ep) = t.vtx_bind(zmq::PULL);
    let pushes = [
        t.native_connect(zmq::PUSH, &ep),
        t.native_connect(zmq::PUSH, &ep),
    ];
    for (k, p) in pushes.iter().enumerate() {
        for i in 0..50 {
            p.send(format!("{k}:{i}").as_bytes(), 0).unwrap();
        }
    }
    let got = recv_all(&pull);
    assert_eq!(got.len(), 100);
    // A native PUSH fans out to two vtx PULLs.
    let (push, ep) = t.native_bind(zmq::PUSH);
    let mon = t.native_monitor(&push, zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32);
    let pulls = [t.vtx_sock(zmq::PULL), t.vtx_sock(zmq::PULL)];
    for p in &pulls {
        p.connect(&ep).unwrap();
        t.wait_peers(p, 1);
        // The native side's handshake too: then its PUSH balances over both.
        assert!(wait_native_event(&mon, &[zmq::SocketEvent::HANDSHAKE_SUCCEEDED]).is_some());
    }
    for i in 0..100u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    let counts: Vec<usize> = pulls.iter().map(|p| recv_all(p).len()).collect();
    assert_eq!(counts.iter().sum::<usize>(), 100);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}

#[test]
fn pair_both_ways() {
    let t = Setup::new();
    let (a, ep) = t.vtx_bind(zmq::PAIR);
    let b = t.native_connect(zmq::PAIR, &ep);
    b.send("to vtx", 0).unwrap();
    assert_eq!(a.recv_bytes(0).unwrap(), b"to vtx");
    a.send("to native", 0).unwrap();
    assert_eq!(b.recv_bytes(0).unwrap(), b"to native");
    let (a, ep) = t.native_bind(zmq::PAIR);
    let b = t.vtx_sock(zmq::PAIR);
    b.connect(&ep).unwrap();
    b.send("x", 0).unwrap();
    assert_eq!(a.recv_bytes(0).unwrap(), b"x");
}

#[test]
fn incompatible_pair_is_refused_on_both_ends() {
    let t = Setup::new();
    // native REQ -> vtx PUB: vtx refuses with an ERROR and closes.
    let (publisher, ep) = t.vtx_bind(zmq::PUB);
    let req = t.native_connect(zmq::REQ, &ep);
    let mon = t.native_monitor(&req, zmq::SocketEvent::ALL as i32);
    wait_meta(&publisher, "refused", 1);
    assert_eq!(publisher.peer_count(), 0);
    let ev = wait_native_event(
        &mon,
        &[
            zmq::SocketEvent::DISCONNECTED,
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
        ],
    );
    assert!(ev.is_some(), "libzmq saw the refusal");
    // vtx REQ -> native PUB: libzmq drops us; vtx sees the PUB's READY and refuses too.
    let (_native_pub, ep) = t.native_bind(zmq::PUB);
    let req = t.vtx_sock(zmq::REQ);
    req.connect(&ep).unwrap();
    wait_until("vtx noticed the incompatible peer", LIMIT, || {
        meta(&req, "refused") + meta(&req, "handshake-failures") > 0
    });
    assert_eq!(req.peer_count(), 0);
}

#[test]
fn vtx_answers_native_heartbeats() {
    let t = Setup::new();
    let (router, ep) = t.vtx_bind(zmq::ROUTER);
    let dealer = t.native_connect_with(zmq::DEALER, &ep, |s| {
        s.set_heartbeat_ivl(50).unwrap();
        s.set_heartbeat_timeout(200).unwrap();
        s.set_heartbeat_ttl(500).unwrap();
    });
    let mon = t.native_monitor(&dealer, zmq::SocketEvent::DISCONNECTED as i32);
    dealer.send("x", 0).unwrap();
    router.recv_multipart(0).unwrap();
    // Idle for many heartbeat intervals: vtx must answer every PING.
    let ev = native_event_within(
        &mon,
        &[zmq::SocketEvent::DISCONNECTED],
        Duration::from_millis(1500),
    );
    assert!(ev.is_none(), "libzmq dropped vtx: {ev:?}");
    dealer.send("still there", 0).unwrap();
    assert_eq!(router.recv_multipart(0).unwrap()[1], b"still there");
}

#[test]
fn native_heartbeat_detects_a_dead_vtx_peer() {
    let t = Setup::new();
    let (router, ep) = t.vtx_bind(zmq::ROUTER);
    let proxy = Blackhole::start(&ep);
    let native_ep = with_scheme(&proxy.endpoint(), "tcp");
    let dealer = t.native_connect_with(zmq::DEALER, &native_ep, |s| {
        s.set_heartbeat_ivl(100).unwrap();
        s.set_heartbeat_timeout(300).unwrap();
    });
    let mon = t.native_monitor(&dealer, zmq::SocketEvent::DISCONNECTED as i32);
    dealer.send("x", 0).unwrap();
    // Through the proxy and up before it turns into a black hole.
    assert_eq!(router.recv_multipart(0).unwrap()[1], b"x");
    proxy.blackhole();
    let t0 = Instant::now();
    let ev = wait_native_event(&mon, &[zmq::SocketEvent::DISCONNECTED]);
    assert!(ev.is_some(), "libzmq never noticed");
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn vtx_heartbeat_detects_a_dead_native_peer() {
    let t = Setup::new();
    let (_router, ep) = t.native_bind(zmq::ROUTER);
    let proxy = Blackhole::start(&ep);
    let dealer = t.vtx_sock(zmq::DEALER);
    dealer.set_heartbeat_ivl(100).unwrap();
    dealer.set_heartbeat_timeout(300).unwrap();
    dealer.connect(&proxy.endpoint()).unwrap();
    t.wait_peers(&dealer, 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        dealer.meta("heartbeat-timeouts").unwrap().as_deref(),
        Some("0"),
        "healthy peer kept"
    );
    proxy.blackhole();
    let t0 = Instant::now();
    wait_meta(&dealer, "heartbeat-timeouts", 1);
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "took {:?}",
        t0.elapsed()
    );
}

#[test]
fn reconnects_when_the_native_peer_comes_back() {
    let t = Setup::new();
    let (rep, ep) = t.native_bind(zmq::REP);
    let ep_native = with_scheme(&ep, "tcp");
    let req = t.vtx_sock(zmq::REQ);
    req.set_reconnect_ivl(50).unwrap();
    req.connect(&ep).unwrap();
    round_trip!(req, rep, 1);
    drop(rep);
    wait_until("the peering down", LIMIT, || req.peer_count() == 0);
    // Sent while the peer is away; delivered when it is back.
    req.send("two", 0).unwrap();
    let rep = t.native_bind_at(zmq::REP, &ep_native);
    assert_eq!(rep.recv_bytes(0).unwrap(), b"two");
    rep.send("2", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"2");
}

#[test]
fn dual_stack_bind_takes_ipv4_peers() {
    let t = Setup::new();
    let rep = t.vtx_sock(zmq::REP);
    let bound = rep.bind("tcp6://*:0").unwrap();
    assert!(bound.starts_with("tcp6://[::]:"), "{bound}");
    let port = port_of(&bound);
    let req = t.ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(5000).unwrap();
    req.connect(&format!("tcp://127.0.0.1:{port}")).unwrap();
    req.send("over v4", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"over v4");
    assert!(
        rep.last_peer()
            .unwrap()
            .unwrap()
            .starts_with("tcp6://127.0.0.1:"),
        "IPv4-mapped shown as IPv4"
    );
    rep.send("ok", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"ok");
    // And a name.
    let req2 = t.vtx_sock(zmq::REQ);
    req2.connect(&format!("tcp6://localhost:{port}")).unwrap();
    req2.send("by name", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"by name");
}

#[test]
fn endpoint_errors_are_typed() {
    let t = Setup::new();
    let s = t.vtx_sock(zmq::PULL);
    let bound = s.bind("tcp6://[::1]:0").unwrap();
    let other = t.vtx_sock(zmq::PULL);
    assert!(matches!(
        other.bind(&bound),
        Err(vtx::Error::AddressInUse { .. })
    ));
    assert!(matches!(
        other.bind("tcp6://[::1]:99999"),
        Err(vtx::Error::BadEndpoint { .. })
    ));
    assert!(matches!(
        other.connect("tcp6://*:5555"),
        Err(vtx::Error::BadEndpoint { .. })
    ));
    assert!(matches!(
        other.bind("tcp6://[2001:db8::1]:0"),
        Err(vtx::Error::AddressNotAvailable { .. })
    ));
    assert!(matches!(
        other.connect("tcp6://no-such-host.invalid:1"),
        Err(vtx::Error::AddressNotAvailable { .. })
    ));
}
