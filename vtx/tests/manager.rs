//! The manager API and the driver runtime end to end, over the ZMTP-over-Unix test
//! transport (no network transport needed), and against libzmq's own `ipc://`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use vtx::{Error, Vtx, VtxSocket};
use vtx_emul::testing::{unix_transport, wait_until};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh abstract-namespace endpoint.
fn ep() -> String {
    format!(
        "ipc://@vtx-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn setup() -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("ipc", unix_transport()).unwrap();
    (ctx, vtx)
}

fn sock(vtx: &Vtx, ty: zmq::SocketType) -> VtxSocket {
    let s = vtx.socket(ty).unwrap();
    s.set_rcvtimeo(5000).unwrap();
    s.set_sndtimeo(5000).unwrap();
    s
}

fn wait_peers(s: &VtxSocket, n: usize) {
    let end = Instant::now() + Duration::from_secs(5);
    while s.peer_count() < n {
        assert!(Instant::now() < end, "peers never came up");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn req_rep_round_trips() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let rep = sock(&vtx, zmq::REP);
    assert_eq!(rep.bind(&e).unwrap(), e);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&e).unwrap();
    for i in 0..50 {
        req.send(format!("q{i}").as_bytes(), 0).unwrap();
        assert_eq!(rep.recv_bytes(0).unwrap(), format!("q{i}").as_bytes());
        rep.send_multipart(["a", "b"], 0).unwrap();
        assert_eq!(
            req.recv_multipart(0).unwrap(),
            vec![b"a".to_vec(), b"b".to_vec()]
        );
    }
    assert_eq!(rep.peer_count(), 1);
    assert!(rep.last_peer().unwrap().unwrap().starts_with("ipc://"));
    assert_eq!(rep.meta("msgs-in").unwrap().as_deref(), Some("50"));
}

#[test]
fn pub_sub_with_subscribe_and_cancel() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let publisher = sock(&vtx, zmq::PUB);
    publisher.bind(&e).unwrap();
    let sub = sock(&vtx, zmq::SUB);
    sub.set_subscribe(b"weather").unwrap();
    sub.connect(&e).unwrap();
    wait_peers(&publisher, 1);
    // Subscriptions travel asynchronously: publish until the first arrives.
    let end = Instant::now() + Duration::from_secs(5);
    sub.set_rcvtimeo(50).unwrap();
    loop {
        publisher.send("news: nothing", 0).unwrap();
        publisher.send("weather: sun", 0).unwrap();
        if let Ok(m) = sub.recv_bytes(0) {
            assert_eq!(m, b"weather: sun");
            break;
        }
        assert!(
            Instant::now() < end,
            "subscription never reached the publisher"
        );
    }
    // A second subscription is the sentinel: once the publisher holds only that one,
    // the cancelled topic published before it must not arrive before it.
    sub.set_subscribe(b"sentinel").unwrap();
    wait_until("two subscriptions", Duration::from_secs(5), || {
        publisher.meta("subscriptions").unwrap().as_deref() == Some("2")
    });
    sub.set_unsubscribe(b"weather").unwrap();
    wait_until("the cancel applied", Duration::from_secs(5), || {
        publisher.meta("subscriptions").unwrap().as_deref() == Some("1")
    });
    while sub.recv_bytes(0).is_ok() {}
    sub.set_rcvtimeo(5000).unwrap();
    publisher.send("weather: rain", 0).unwrap();
    publisher.send("sentinel", 0).unwrap();
    assert_eq!(
        sub.recv_bytes(0).unwrap(),
        b"sentinel",
        "cancelled subscription still delivers"
    );
}

#[test]
fn router_dealer_identities() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let router = sock(&vtx, zmq::ROUTER);
    router.bind(&e).unwrap();
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
    let e = ep();
    let push = sock(&vtx, zmq::PUSH);
    push.bind(&e).unwrap();
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
    let a = sock(&vtx, zmq::PAIR);
    a.bind(&e).unwrap();
    let b = sock(&vtx, zmq::PAIR);
    b.connect(&e).unwrap();
    b.send("hi", 0).unwrap();
    assert_eq!(a.recv_bytes(0).unwrap(), b"hi");
    a.send("yo", 0).unwrap();
    assert_eq!(b.recv_bytes(0).unwrap(), b"yo");
    let c = sock(&vtx, zmq::PAIR);
    c.connect(&e).unwrap();
    wait_until("the second PAIR refused", Duration::from_secs(5), || {
        a.meta("refused").unwrap().unwrap().parse::<u64>().unwrap() >= 1
    });
    assert_eq!(a.peer_count(), 1);
}

#[test]
fn close_then_rebind_the_same_endpoint() {
    let (_ctx, vtx) = setup();
    let e = ep();
    for round in 0..3 {
        let rep = sock(&vtx, zmq::REP);
        rep.bind(&e).unwrap();
        let req = sock(&vtx, zmq::REQ);
        req.connect(&e).unwrap();
        req.send(format!("round {round}").as_bytes(), 0).unwrap();
        assert_eq!(
            rep.recv_bytes(0).unwrap(),
            format!("round {round}").as_bytes()
        );
        rep.send("ok", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ok");
    }
}

#[test]
fn unbind_frees_the_endpoint() {
    let (_ctx, vtx) = setup();
    let e = ep();
    let a = sock(&vtx, zmq::PULL);
    a.bind(&e).unwrap();
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
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&e).unwrap();
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&e).unwrap();
    wait_peers(&push, 1);
    push.disconnect(&e).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    while pull.peer_count() != 0 {
        assert!(Instant::now() < end);
        std::thread::sleep(Duration::from_millis(5));
    }
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
    let e = ep();
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&e).unwrap();
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&e).unwrap();
    let native_pull = ctx.socket(zmq::PULL).unwrap();
    native_pull.bind("inproc://native-poll").unwrap();
    let native_push = ctx.socket(zmq::PUSH).unwrap();
    native_push.connect("inproc://native-poll").unwrap();
    native_push.send("native", 0).unwrap();
    push.send("vtx", 0).unwrap();
    let mut got = Vec::new();
    let end = Instant::now() + Duration::from_secs(5);
    while got.len() < 2 && Instant::now() < end {
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
    }
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
    let e = ep();
    let pull = sock(&vtx, zmq::PULL);
    pull.bind(&e).unwrap();
    {
        let push = sock(&vtx, zmq::PUSH);
        push.connect(&e).unwrap();
        wait_peers(&push, 1);
        for i in 0..500u32 {
            push.send(&i.to_be_bytes()[..], 0).unwrap();
        }
    } // dropped at once
    for i in 0..500u32 {
        assert_eq!(pull.recv_bytes(0).unwrap(), i.to_be_bytes());
    }
}

#[test]
fn monitor_reports_peer_events() {
    let (ctx, vtx) = setup();
    let e = ep();
    let rep = sock(&vtx, zmq::REP);
    rep.bind(&e).unwrap();
    let mon = ctx.socket(zmq::PAIR).unwrap();
    mon.set_rcvtimeo(5000).unwrap();
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
    let e = ep();
    let rep = sock(&vtx, zmq::REP);
    rep.bind(&e).unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&e).unwrap();
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
    fn bind(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: vtx_emul::runtime::SocketId,
        _: &vtx::Endpoint,
    ) -> vtx::Result<String> {
        Ok("boom://bound".into())
    }
    fn connect(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: vtx_emul::runtime::SocketId,
        _: &vtx::Endpoint,
    ) -> vtx::Result<()> {
        panic!("driver bug");
    }
    fn unbind(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: vtx_emul::runtime::SocketId,
        _: &str,
    ) -> vtx::Result<()> {
        Ok(())
    }
    fn disconnect(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: vtx_emul::runtime::SocketId,
        _: &str,
    ) -> vtx::Result<()> {
        Ok(())
    }
    fn close_socket(&mut self, _: &mut vtx_emul::runtime::Driver, _: vtx_emul::runtime::SocketId) {}
    fn destroy_socket(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: vtx_emul::runtime::SocketId,
    ) {
    }
    fn ready(&mut self, _: &mut vtx_emul::runtime::Driver, _: mio::Token, _: &mio::event::Event) {}
    fn timer(&mut self, _: &mut vtx_emul::runtime::Driver, _: u64) {}
    fn flush(&mut self, _: &mut vtx_emul::runtime::Driver, _: u64) {}
    fn close(
        &mut self,
        _: &mut vtx_emul::runtime::Driver,
        _: u64,
        _: &vtx::emul::pattern::DownReason,
    ) {
    }
    fn resume(&mut self, _: &mut vtx_emul::runtime::Driver, _: u64) {}
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
    let e = ep();
    let rep = sock(&vtx, zmq::REP);
    rep.bind(&e).unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&e).unwrap();
    req.send("still here?", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"still here?");
}

#[test]
fn native_libzmq_ipc_peer_talks_to_vtx() {
    let (ctx, vtx) = setup();
    let e = ep();
    let rep = sock(&vtx, zmq::REP);
    rep.bind(&e).unwrap();
    let native = ctx.socket(zmq::REQ).unwrap();
    native.set_rcvtimeo(5000).unwrap();
    native.connect(&e).unwrap(); // libzmq's own ipc:// transport, ZMTP 3.1
    native.send("from libzmq", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"from libzmq");
    rep.send("from vtx", 0).unwrap();
    assert_eq!(native.recv_bytes(0).unwrap(), b"from vtx");

    // And the other way: vtx connects to a native bind.
    let e2 = ep();
    let native_pull = ctx.socket(zmq::PULL).unwrap();
    native_pull.set_rcvtimeo(5000).unwrap();
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
