//! The userspace `sctp` backend on real UDP sockets over loopback: every socket pair,
//! large messages, flow control, graceful close, reconnection and limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

mod common;

use common::{setup, sock, wait_until};
use vtx::{Vtx, VtxSocket};

fn bind(vtx: &Vtx, ty: zmq::SocketType) -> (VtxSocket, String) {
    let s = sock(vtx, ty);
    let ep = s.bind("sctp://127.0.0.1:0").unwrap();
    (s, ep)
}

fn wait_peers(s: &VtxSocket, n: usize) {
    wait_until("peers", || s.peer_count() >= n);
}

#[test]
fn req_rep() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    assert!(ep.starts_with("sctp://127.0.0.1:"), "{ep}");
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for i in 0..200 {
        req.send(format!("hello? {i}").as_bytes(), 0).unwrap();
        assert_eq!(rep.recv_bytes(0).unwrap(), format!("hello? {i}").as_bytes());
        rep.send("ack", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ack");
    }
    let last = rep.last_peer().unwrap().unwrap();
    assert!(last.starts_with("sctp://127.0.0.1:"), "{last}");
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
        (zmq::ROUTER, zmq::DEALER),
        (zmq::PULL, zmq::PUSH),
    ];
    for (a, b) in pairs {
        let (server, ep) = bind(&vtx, b);
        let client = sock(&vtx, a);
        client.connect(&ep).unwrap();
        wait_peers(&client, 1);
        let body = format!("{a:?}->{b:?}");
        let (sender, receiver) = match a {
            zmq::ROUTER | zmq::PULL => (&server, &client),
            _ => (&client, &server),
        };
        let mut out: Vec<Vec<u8>> = vec![body.clone().into_bytes(), b"part two".to_vec()];
        if a == zmq::DEALER && b == zmq::REP {
            out.insert(0, vec![]);
        }
        if a == zmq::ROUTER {
            // The dealer says hello first so the router learns its identity.
            server.send("hi", 0).unwrap();
            let hi = client.recv_multipart(0).unwrap();
            out.insert(0, hi[0].clone());
        }
        sender.send_multipart(&out, 0).unwrap();
        let got = receiver.recv_multipart(0).unwrap();
        assert_eq!(got.last().unwrap(), b"part two", "{a:?} -> {b:?}");
        assert_eq!(got[got.len() - 2], body.as_bytes(), "{a:?} -> {b:?}");
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
fn pub_sub_and_xpub_xsub_filter_by_prefix() {
    let (_ctx, vtx) = setup();
    for (p, s) in [(zmq::PUB, zmq::SUB), (zmq::XPUB, zmq::XSUB)] {
        let (publisher, ep) = bind(&vtx, p);
        let sub = sock(&vtx, s);
        if s == zmq::SUB {
            sub.set_subscribe(b"weather").unwrap();
        } else {
            sub.send(&b"\x01weather"[..], 0).unwrap();
        }
        sub.connect(&ep).unwrap();
        if p == zmq::XPUB {
            assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01weather");
        }
        // Publish until the subscription has reached the publisher.
        wait_until("subscription", || {
            publisher.send("weather: sun", 0).unwrap();
            sub.recv_bytes(zmq::DONTWAIT).is_ok()
        });
        publisher.send("sports: none", 0).unwrap();
        publisher.send("weather: rain", 0).unwrap();
        loop {
            let m = sub.recv_bytes(0).unwrap();
            assert!(m.starts_with(b"weather: "), "{m:?} passed the filter");
            if m == b"weather: rain" {
                break;
            }
        }
    }
}

#[test]
fn large_messages_cross_in_pieces() {
    let (_ctx, vtx) = setup();
    let (pull, ep) = bind(&vtx, zmq::PULL);
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&ep).unwrap();
    for size in [0usize, 1, 65_535, 65_536, 65_537, 1 << 20, 5 << 20] {
        let body: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
        push.send(&body, 0).unwrap();
        let got = pull.recv_bytes(0).unwrap();
        assert_eq!(got.len(), size);
        assert!(got == body, "{size}-byte message corrupted");
    }
}

#[test]
fn push_pull_delivers_everything_in_order() {
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
        assert_eq!(u32::from_be_bytes(m.try_into().unwrap()), i);
    }
    drop(sender.join().unwrap());
}

/// Closing a socket shuts its associations down gracefully: queued messages arrive
/// and the peer learns at once (no heartbeat timeout), then reconnects when the
/// server returns on the same port.
#[test]
fn graceful_close_and_reconnect() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    req.send("one", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"one");
    rep.send("two", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"two");
    let t = Instant::now();
    drop(rep);
    wait_until("peer down", || req.peer_count() == 0);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "the peer learned of the close by a timeout ({:?})",
        t.elapsed()
    );
    // Back on the same port (free once the association has shut down).
    let rep = sock(&vtx, zmq::REP);
    wait_until("rebind", || rep.bind(&ep).is_ok());
    req.send("three", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"three");
    rep.send("four", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"four");
}

#[test]
fn incompatible_sockets_are_refused() {
    let (_ctx, vtx) = setup();
    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    wait_until("refusal", || {
        publisher
            .meta("handshake-failures")
            .unwrap()
            .is_some_and(|n| n != "0")
            || publisher.meta("refused").unwrap().is_some_and(|n| n != "0")
    });
    assert_eq!(publisher.peer_count(), 0);
    assert_eq!(req.peer_count(), 0);
}

#[test]
fn ipv6_and_unbind() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("sctp://[::1]:0").unwrap();
    assert!(ep.starts_with("sctp://[::1]:"), "{ep}");
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    req.send("v6?", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"v6?");
    rep.send("yes", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"yes");
    rep.unbind(&ep).unwrap();
    wait_until("peer down", || req.peer_count() == 0);
}

#[test]
fn connect_errors_are_typed() {
    let (_ctx, vtx) = setup();
    let req = sock(&vtx, zmq::REQ);
    assert!(req.connect("sctp://*:5555").is_err());
    assert!(req.connect("sctp://127.0.0.1:0").is_err());
    assert!(req.bind("sctp://not an address").is_err());
}
