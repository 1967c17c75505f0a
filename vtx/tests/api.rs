//! The `VtxSocket` API as an application meets it: libzmq's errors where libzmq gives
//! them, typed counters, options that reach the driver, LINGER.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "ipv6")]

mod harness;

use std::time::{Duration, Instant};

use harness::manager;
use vtx::Vtx;
use vtx_emul::testing::addr::with_scheme;
use vtx_emul::testing::wait_until;

fn setup() -> (zmq::Context, Vtx) {
    manager("tcp6", vtx::ipv6::Tcp6Transport::default())
}

#[test]
fn counters_are_typed() {
    let (_ctx, vtx) = setup();
    let pull = vtx.socket(zmq::PULL).unwrap();
    pull.set_rcvtimeo(5000).unwrap();
    let ep = pull.bind("tcp6://[::1]:0").unwrap();
    let push = vtx.socket(zmq::PUSH).unwrap();
    assert_eq!(push.peer_count(), 0);
    assert!(matches!(push.stats(), Err(vtx::Error::NotAttached)));
    push.connect(&ep).unwrap();
    for i in 0..5 {
        push.send(format!("{i}").as_bytes(), 0).unwrap();
    }
    for _ in 0..5 {
        pull.recv_bytes(0).unwrap();
    }
    assert_eq!(pull.stats().unwrap().msgs_in, 5);
    wait_until("sent", Duration::from_secs(5), || {
        push.stats().unwrap().msgs_out == 5
    });
    let s = push.stats().unwrap();
    assert_eq!((s.peers_up, s.peers_down, s.handshake_failures), (1, 0, 0));
    assert_eq!(push.peer_count(), 1);
    assert_eq!(push.get_socket_type().unwrap(), zmq::PUSH);
    drop(pull);
    wait_until("peer gone", Duration::from_secs(5), || {
        push.peer_count() == 0
    });
    assert_eq!(push.stats().unwrap().peers_down, 1);
}

/// libzmq blocks (or says EAGAIN) when no peer can take a message; so does vtx, and a
/// blocked send goes on once a peering comes up.
#[test]
fn a_send_waits_for_a_peer() {
    let (_ctx, vtx) = setup();
    let push = vtx.socket(zmq::PUSH).unwrap();
    let ep = push.bind("tcp6://[::1]:0").unwrap();
    assert_eq!(push.send("x", zmq::DONTWAIT), Err(zmq::Error::EAGAIN));
    let puller = std::thread::spawn(move || {
        let ctx = zmq::Context::new();
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_ipv6(true).unwrap();
        pull.set_rcvtimeo(10_000).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        pull.connect(&with_scheme(&ep, "tcp")).unwrap();
        pull.recv_bytes(0).unwrap()
    });
    push.set_sndtimeo(10_000).unwrap();
    let t = Instant::now();
    push.send("waited", 0).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150), "it did wait");
    assert_eq!(puller.join().unwrap(), b"waited");
}

/// LINGER -1 (libzmq's default) flushes whatever it takes: here a reader that resumes
/// only after the 2 s vtx used to give up at. Once everything is out, the lingering
/// socket is gone from its driver (it once stayed for ever).
#[test]
fn linger_minus_one_waits_until_sent() {
    let (_ctx, vtx) = setup();
    // The reader on a driver of its own: nothing else wakes the sender's.
    let (_rx_ctx, rx) = setup();
    let pull = rx.socket(zmq::PULL).unwrap();
    pull.set_rcvhwm(10).unwrap();
    let ep = pull.bind("tcp6://[::1]:0").unwrap();
    let push = vtx.socket(zmq::PUSH).unwrap();
    assert_eq!(push.get_linger().unwrap(), -1);
    push.set_sndhwm(100_000).unwrap();
    push.connect(&ep).unwrap();
    wait_until("peering", Duration::from_secs(5), || push.peer_count() == 1);
    let big = vec![7u8; 64 * 1024];
    let n = 200; // 12.5 MiB: more than socket buffers and both HWMs hold
    for _ in 0..n {
        push.send(&big[..], 0).unwrap();
    }
    drop(push);
    std::thread::sleep(Duration::from_millis(2500));
    pull.set_rcvtimeo(5000).unwrap();
    for i in 0..n {
        assert_eq!(pull.recv_bytes(0).unwrap().len(), big.len(), "message {i}");
    }
    // A bystander on the sender's driver counts what it still serves.
    let bystander = vtx.socket(zmq::PULL).unwrap();
    bystander.bind("tcp6://[::1]:0").unwrap();
    let sockets = || bystander.meta("driver-sockets").unwrap().unwrap();
    wait_until(
        "the lingering PUSH is destroyed",
        Duration::from_secs(5),
        || sockets() == "1",
    );
}

/// Options set after `bind`/`connect` reach the driver for what comes next.
#[test]
fn options_set_after_bind_apply_to_later_peers() {
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    router.set_max_peers(1).unwrap();
    router.set_router_mandatory(true).unwrap();
    assert!(router.is_router_mandatory().unwrap());
    let dealers: Vec<_> = (0..2).map(|_| vtx.socket(zmq::DEALER).unwrap()).collect();
    for (i, d) in dealers.iter().enumerate() {
        d.set_identity(format!("d{i}").as_bytes()).unwrap();
        d.connect(&ep).unwrap();
    }
    wait_until("one refused", Duration::from_secs(5), || {
        router.stats().unwrap().refused >= 1
    });
    assert_eq!(router.peer_count(), 1);
    assert_eq!(router.get_socket_type().unwrap(), zmq::ROUTER);
    assert_eq!(
        router.send_multipart(["nobody", "x"], zmq::DONTWAIT),
        Err(zmq::Error::EHOSTUNREACH)
    );
}
