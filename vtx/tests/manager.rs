//! The manager API and the driver runtime end to end, over the ZMTP-over-Unix test
//! transport (no network transport needed), and against libzmq's own `ipc://`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::time::{Duration, Instant};

use harness::{LIMIT, bind, ep, manager, sock, subscriber, wait_peers};
use vtx::{Error, Vtx, VtxSocket};
use vtx_emul::runtime::{Driver, SocketId};
use vtx_emul::testing::{unix_transport, wait_until};
use vtx_emul::{publish_until, req_rep, round_trip, unsubscribe_holds};

fn setup() -> (zmq::Context, Vtx) {
    manager("ipc", unix_transport())
}

/// A native libzmq socket whose receives give up after [`LIMIT`].
fn native(ctx: &zmq::Context, ty: zmq::SocketType) -> zmq::Socket {
    let s = ctx.socket(ty).unwrap();
    s.set_rcvtimeo(LIMIT.as_millis() as i32).unwrap();
    s
}

/// A `server` socket bound to `e` (the endpoint it says is `e`), and a `client`
/// connected to it: (client, server).
fn pair_at(
    vtx: &Vtx,
    client: zmq::SocketType,
    server: zmq::SocketType,
    e: &str,
) -> (VtxSocket, VtxSocket) {
    let s = sock(vtx, server);
    assert_eq!(s.bind(e).unwrap(), e);
    let c = sock(vtx, client);
    c.connect(e).unwrap();
    (c, s)
}

#[test]
fn req_rep_round_trips() {
    let (_ctx, vtx) = setup();
    let (req, rep) = pair_at(&vtx, zmq::REQ, zmq::REP, &ep());
    req_rep!(req, rep, 50, "ipc://");
    assert_eq!(rep.peer_count(), 1);
    assert_eq!(rep.meta("msgs-in").unwrap().as_deref(), Some("50"));
}

#[test]
fn pub_sub_with_subscribe_and_cancel() {
    let (_ctx, vtx) = setup();
    let (publisher, e) = bind(&vtx, zmq::PUB);
    let sub = subscriber(&vtx, b"weather", &publisher, &e);
    let m = publish_until!(publisher, sub, &[b"news: nothing", b"weather: sun"], LIMIT);
    assert_eq!(m, b"weather: sun");
    unsubscribe_holds!(publisher, sub, b"weather", LIMIT);
}

#[test]
fn router_dealer_identities() {
    let (_ctx, vtx) = setup();
    let (router, e) = bind(&vtx, zmq::ROUTER);
    let dealer = sock(&vtx, zmq::DEALER);
    dealer.set_identity(b"worker-1").unwrap();
    dealer.connect(&e).unwrap();
    dealer.send_multipart(["hello", "there"], 0).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(
        got,
        vec![b"worker-1".to_vec(), b"hello".to_vec(), b"there".to_vec()]
    );
    router
        .send_multipart([&b"worker-1"[..], b"reply"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"reply");
}

#[test]
fn push_pull_fan_out_and_fan_in() {
    let (_ctx, vtx) = setup();
    let (push, e) = bind(&vtx, zmq::PUSH);
    let pulls: Vec<_> = (0..3).map(|_| sock(&vtx, zmq::PULL)).collect();
    for p in &pulls {
        p.connect(&e).unwrap();
    }
    wait_peers(&push, 3);
    for i in 0..300u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    let mut all = Vec::new();
    for p in &pulls {
        let mut n = 0;
        p.set_rcvtimeo(500).unwrap();
        while let Ok(m) = p.recv_bytes(0) {
            all.push(u32::from_be_bytes(m.try_into().unwrap()));
            n += 1;
        }
        assert_eq!(n, 100, "round robin over three live peers");
    }
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<_>>());

    // Fan-in: three pushers into one pull.
    let e2 = ep();
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&e2).unwrap();
    let pushers: Vec<_> = (0..3).map(|_| sock(&vtx, zmq::PUSH)).collect();
    for (i, p) in pushers.iter().enumerate() {
        p.connect(&e2).unwrap();
        for k in 0..10 {
            p.send(format!("{i}-{k}").as_bytes(), 0).unwrap();
        }
    }
    let got: Vec<_> = (0..30).map(|_| pull.recv_bytes(0).unwrap()).collect();
    for i in 0..3 {
        assert_eq!(
            got.iter()
                .filter(|m| m.starts_with(format!("{i}-").as_bytes()))
                .count(),
            10
        );
    }
}

#[test]
fn pair_exchanges_and_refuses_a_third() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let (b, a) = pair_at(&vtx, zmq::PAIR, zmq::PAIR, &e);
    b.send("hi", 0).unwrap();
    assert_eq!(a.recv_bytes(0).unwrap(), b"hi");
    a.send("yo", 0).unwrap();
    assert_eq!(b.recv_bytes(0).unwrap(), b"yo");
    let c = sock(&vtx, zmq::PAIR);
    c.connect(&e).unwrap();
    wait_until("the second PAIR refused", LIMIT, || {
        a.meta("refused").unwrap().unwrap().parse::<u64>().unwrap() >= 1
    });
    assert_eq!(a.peer_count(), 1);
}

#[test]
fn close_then_rebind_the_same_endpoint() {
    let (_ctx, vtx) = setup();
    let e = ep();
    for round in 0..3 {
        let (req, rep) = pair_at(&vtx, zmq::REQ, zmq::REP, &e);
        round_trip!(req, rep, round);
    }
}

#[test]
fn unbind_frees_the_endpoint() {
    let (_ctx, vtx) = setup();
    let (a, e) = bind(&vtx, zmq::PULL);
    let b = sock(&vtx, zmq::PULL);
    assert!(matches!(b.bind(&e), Err(Error::AddressInUse { .. })));
    a.unbind(&e).unwrap();
    b.bind(&e).unwrap();
    assert!(matches!(a.unbind(&e), Err(Error::UnknownEndpoint { .. })));
}

#[test]
fn disconnect_drops_the_peering() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let (push, pull) = pair_at(&vtx, zmq::PUSH, zmq::PULL, &e);
    wait_peers(&push, 1);
    push.disconnect(&e).unwrap();
    wait_until("the peering dropped", LIMIT, || pull.peer_count() == 0);
    assert_eq!(push.peer_count(), 0);
}

#[test]
fn typed_errors() {
    let (_ctx, vtx) = setup();
    let s = sock(&vtx, zmq::REQ);
    assert!(matches!(
        s.bind("nope://x:1"),
        Err(Error::UnknownScheme { .. })
    ));
    assert!(matches!(
        s.bind("not an endpoint"),
        Err(Error::BadEndpoint { .. })
    ));
    assert!(matches!(s.meta("peers"), Err(Error::NotAttached)));
    assert!(matches!(
        vtx.socket(zmq::STREAM),
        Err(Error::InvalidSocketType(_))
    ));
    assert!(matches!(
        vtx.register("ipc", unix_transport()),
        Err(Error::SchemeTaken { .. })
    ));
    vtx.register("ipc2", unix_transport()).unwrap();
    s.connect(&ep()).unwrap();
    let other = ep().replace("ipc://", "ipc2://");
    assert!(matches!(s.connect(&other), Err(Error::MixedDrivers { .. })));
    assert!(matches!(
        s.disconnect("ipc://@never"),
        Err(Error::UnknownEndpoint { .. })
    ));
    let pub_only = unix_transport().with_supported(|t| t == vtx::SocketType::Pub);
    vtx.register("pubonly", pub_only).unwrap();
    let r = sock(&vtx, zmq::REP);
    assert!(matches!(
        r.bind("pubonly://@x"),
        Err(Error::UnsupportedSocketType { .. })
    ));
    // Errors say what they are about.
    let msg = r.bind("nope://x:1").unwrap_err().to_string();
    assert!(msg.contains("nope"), "{msg}");
}

#[test]
fn zmq_poll_mixes_vtx_and_native_sockets() {
    let (ctx, vtx) = setup();
    let (push, pull) = pair_at(&vtx, zmq::PUSH, zmq::PULL, &ep());
    let native_pull = ctx.socket(zmq::PULL).unwrap();
    native_pull.bind("inproc://native-poll").unwrap();
    let native_push = ctx.socket(zmq::PUSH).unwrap();
    native_push.connect("inproc://native-poll").unwrap();
    native_push.send("native", 0).unwrap();
    push.send("vtx", 0).unwrap();
    let mut got = Vec::new();
    wait_until("both messages", LIMIT, || {
        let mut items = [
            pull.as_poll_item(zmq::POLLIN),
            native_pull.as_poll_item(zmq::POLLIN),
        ];
        zmq::poll(&mut items, 1000).unwrap();
        if items[0].is_readable() {
            got.push(pull.recv_bytes(0).unwrap());
        }
        if items[1].is_readable() {
            got.push(native_pull.recv_bytes(0).unwrap());
        }
        got.len() >= 2
    });
    got.sort();
    assert_eq!(got, vec![b"native".to_vec(), b"vtx".to_vec()]);
}

#[test]
fn sndhwm_blocks_like_libzmq_when_no_peer() {
    let (_ctx, vtx) = setup();
    let push = vtx.socket(zmq::PUSH).unwrap();
    push.set_sndhwm(10).unwrap();
    push.connect(&ep()).unwrap(); // nobody listens
    let mut sent = 0;
    while push.send("x", zmq::DONTWAIT).is_ok() {
        sent += 1;
        assert!(
            sent < 10_000,
            "the pipe never filled: memory would grow without bound"
        );
    }
    assert!(
        (10..=12).contains(&sent),
        "SNDHWM 10 plus the driver's one: sent {sent}"
    );
}

#[test]
fn linger_flushes_what_was_sent_before_close() {
    let (_ctx, vtx) = setup();
    let (push, pull) = pair_at(&vtx, zmq::PUSH, zmq::PULL, &ep());
    wait_peers(&push, 1);
    for i in 0..500u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    drop(push); // at once
    for i in 0..500u32 {
        assert_eq!(pull.recv_bytes(0).unwrap(), i.to_be_bytes());
    }
}

#[test]
fn monitor_reports_peer_events() {
    let (ctx, vtx) = setup();
    let (rep, e) = bind(&vtx, zmq::REP);
    let mon = native(&ctx, zmq::PAIR);
    mon.bind("inproc://vtx-monitor-test").unwrap();
    rep.monitor("inproc://vtx-monitor-test").unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&e).unwrap();
    let ev = mon.recv_multipart(0).unwrap();
    assert_eq!(ev[0], b"peer-up");
    assert!(ev[1].starts_with(b"ipc://"));
    drop(req);
    let ev = mon.recv_multipart(0).unwrap();
    assert_eq!(ev[0], b"peer-down");
}

#[test]
fn dropping_vtx_with_open_sockets_does_not_hang() {
    let (_ctx, vtx) = setup();
    let (req, rep) = pair_at(&vtx, zmq::REQ, zmq::REP, &ep());
    req.send("pending", 0).unwrap();
    let t = Instant::now();
    drop(vtx);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert!(matches!(rep.meta("peers"), Err(Error::DriverGone { .. })));
    assert!(matches!(req.connect(&ep()), Err(Error::DriverGone { .. })));
    // The sockets can still be dropped, and the context terminated, without hanging.
}

/// A transport that panics when asked to connect.
struct Panicker;

impl vtx::Transport for Panicker {
    fn bind(&mut self, _: &mut Driver, _: SocketId, _: &vtx::Endpoint) -> vtx::Result<String> {
        Ok("boom://bound".into())
    }
    fn connect(&mut self, _: &mut Driver, _: SocketId, _: &vtx::Endpoint) -> vtx::Result<()> {
        panic!("driver bug");
    }
    fn unbind(&mut self, _: &mut Driver, _: SocketId, _: &str) -> vtx::Result<()> {
        Ok(())
    }
    fn disconnect(&mut self, _: &mut Driver, _: SocketId, _: &str) -> vtx::Result<()> {
        Ok(())
    }
    fn close_socket(&mut self, _: &mut Driver, _: SocketId) {}
    fn destroy_socket(&mut self, _: &mut Driver, _: SocketId) {}
    fn ready(&mut self, _: &mut Driver, _: mio::Token, _: &mio::event::Event) {}
    fn timer(&mut self, _: &mut Driver, _: u64) {}
    fn flush(&mut self, _: &mut Driver, _: u64) {}
    fn close(&mut self, _: &mut Driver, _: u64, _: &vtx::emul::pattern::DownReason) {}
    fn resume(&mut self, _: &mut Driver, _: u64) {}
}

#[test]
fn a_panicking_driver_is_reported_gone_and_others_live_on() {
    let (_ctx, vtx) = setup();
    vtx.register("boom", Panicker).unwrap();
    let s = sock(&vtx, zmq::PUSH);
    assert_eq!(s.bind("boom://x").unwrap(), "boom://bound");
    assert!(matches!(
        s.connect("boom://x"),
        Err(Error::DriverGone { .. })
    ));
    assert!(matches!(s.bind("boom://y"), Err(Error::DriverGone { .. })));
    assert!(!vtx.is_alive("boom"));
    // The other driver is untouched.
    let (req, rep) = pair_at(&vtx, zmq::REQ, zmq::REP, &ep());
    round_trip!(req, rep, 0);
}

#[test]
fn native_libzmq_ipc_peer_talks_to_vtx() {
    let (ctx, vtx) = setup();
    let (rep, e) = bind(&vtx, zmq::REP);
    let req = native(&ctx, zmq::REQ);
    req.connect(&e).unwrap(); // libzmq's own ipc:// transport, ZMTP 3.1
    round_trip!(req, rep, 0);

    // And the other way: vtx connects to a native bind.
    let e2 = ep();
    let native_pull = native(&ctx, zmq::PULL);
    native_pull.bind(&e2).unwrap();
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&e2).unwrap();
    push.send_multipart(["a", "", "c"], 0).unwrap();
    assert_eq!(
        native_pull.recv_multipart(0).unwrap(),
        vec![b"a".to_vec(), vec![], b"c".to_vec()]
    );
}

#[test]
fn several_instances_of_one_transport() {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    for i in 0..3 {
        vtx.register(&format!("ipc{i}"), unix_transport()).unwrap();
    }
    assert_eq!(vtx.schemes(), vec!["ipc0", "ipc1", "ipc2"]);
    let e = ep();
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&e.replace("ipc://", "ipc0://")).unwrap();
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&e.replace("ipc://", "ipc2://")).unwrap();
    push.send("across instances", 0).unwrap();
    assert_eq!(pull.recv_bytes(0).unwrap(), b"across instances");
    assert_eq!(pull.driver_name().as_deref(), Some("ipc0"));
}
