//! The userspace `sctp` backend on real UDP sockets over loopback: every socket pair,
//! large messages, flow control, graceful close, reconnection and limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

mod common;

use common::{LIMIT, bind, pair, setup, sock, wait_until};
use vtx_emul::{every_pair, req_rep, round_trip, send_in_order};

#[test]
fn req_rep() {
    let (_ctx, vtx) = setup();
    let (req, rep) = pair(&vtx, zmq::REQ, zmq::REP);
    req_rep!(req, rep, 200, "sctp://127.0.0.1:");
}

/// ZMTP PLAIN runs on SCTP associations as on TCP: one handshake for every ZMTP
/// transport; the refused client hears ERROR "400" before the association ends.
#[test]
fn plain_over_sctp() {
    let (_ctx, vtx) = setup();
    let intruder = vtx_emul::plain_handshakes!(|ty| sock(&vtx, ty), "sctp://127.0.0.1:0", LIMIT);
    wait_until("the refused client told", || {
        intruder.stats().map_or(0, |s| s.handshake_failures) >= 1
    });
}

/// A refusal reaches the refused peer before the association ends: a second PAIR
/// hears why it was turned away (after its own READY went through, so as an error
/// from a peer that was up).
#[test]
fn a_refusal_reaches_the_refused_peer() {
    let (_ctx, vtx) = setup();
    let server = sock(&vtx, zmq::PAIR);
    let ep = server.bind("sctp://127.0.0.1:0").unwrap();
    let first = sock(&vtx, zmq::PAIR);
    first.connect(&ep).unwrap();
    wait_until("the first PAIR up", || first.peer_count() == 1);
    let second = sock(&vtx, zmq::PAIR);
    second.connect(&ep).unwrap();
    wait_until("the second PAIR told", || {
        second
            .stats()
            .is_ok_and(|s| s.protocol_errors + s.handshake_failures >= 1)
    });
    wait_until("the second PAIR without a peer", || {
        second.peer_count() == 0
    });
}

/// CURVE here as on every ZMTP transport: the allowed key in, a stranger out.
#[test]
fn curve_over_sctp() {
    let (_ctx, vtx) = setup();
    let _stranger = vtx_emul::curve_handshakes!(|ty| sock(&vtx, ty), "sctp://127.0.0.1:0", LIMIT);
}

#[test]
fn all_socket_pairs() {
    let (_ctx, vtx) = setup();
    every_pair!(|a, b| pair(&vtx, a, b), LIMIT);
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
    let (push, pull) = pair(&vtx, zmq::PUSH, zmq::PULL);
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
    let (push, pull) = pair(&vtx, zmq::PUSH, zmq::PULL);
    let push = send_in_order!(push, pull, 100_000);
    // An association's deadline moves all the time (SACK delays, T3-rtx); the driver
    // keeps one timer entry per deadline, not one per move. Superseded entries used to
    // re-arm when they fired, and piled up.
    for s in [&push, &pull] {
        let timers: u64 = s.meta("driver-timers").unwrap().unwrap().parse().unwrap();
        assert!(
            timers <= 16,
            "{timers} timer entries after 100,000 messages"
        );
    }
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
    round_trip!(req, rep, 1);
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
    round_trip!(req, rep, 2);
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
    round_trip!(req, rep, 0);
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

/// ZMTP-SASL SCRAM-SHA-256 over an association: the right password in, a wrong one out.
#[test]
fn sasl_scram_over_sctp() {
    let (_ctx, vtx) = setup();
    let _intruder = vtx_emul::sasl_handshakes!(
        |ty| sock(&vtx, ty),
        "sctp://127.0.0.1:0",
        LIMIT,
        vtx_emul::sasl::SaslMechanism::ScramSha256
    );
}
