//! Socket-pattern semantics, on the in-memory net: each test states a libzmq rule and
//! checks a Vocket keeps it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx_emul::pattern::{Action, Flow, Input, PeerInfo, Refusal, Transmit, Vocket};
use vtx_emul::testing::net::{Faults, Net, NodeId};
use vtx_emul::{Msg, SocketOptions, SocketType as T};

fn opts() -> SocketOptions {
    SocketOptions::default()
}

fn m(s: &str) -> Msg {
    Msg::single(Bytes::copy_from_slice(s.as_bytes()))
}

/// The request as the application's REQ puts it on the pipe.
fn req(s: &str) -> Msg {
    Msg::from_frames([Bytes::new(), Bytes::copy_from_slice(s.as_bytes())])
}

fn body(msg: &Msg) -> &[u8] {
    msg.frames().last().map(|b| &b[..]).unwrap_or_default()
}

fn reply_to(request: &Msg, text: &'static str) -> Msg {
    let mut reply = Msg::from_frames([request.frames()[0].clone(), Bytes::new()]);
    reply.push(Bytes::from_static(text.as_bytes()));
    reply
}

fn input(msg: Msg) -> Input {
    Input::Message { msg, seq: None }
}

#[test]
fn push_round_robins_over_live_peers() {
    let mut net = Net::new(1);
    let push = net.add(T::Push, opts());
    let pulls: Vec<_> = (0..3).map(|_| net.add(T::Pull, opts())).collect();
    for &p in &pulls {
        net.connect(push, p, false, Faults::none()).unwrap();
    }
    for i in 0..30 {
        assert!(net.app_send(push, m(&i.to_string())));
    }
    net.settle(Duration::from_secs(1));
    let got: Vec<Vec<Msg>> = pulls.iter().map(|&p| net.app_drain(p)).collect();
    assert!(
        got.iter().all(|g| g.len() == 10),
        "even spread: {:?}",
        got.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for g in &got {
        let nums: Vec<u32> = g
            .iter()
            .map(|m| std::str::from_utf8(body(m)).unwrap().parse().unwrap())
            .collect();
        assert!(
            nums.windows(2).all(|w| w[1] == w[0] + 3),
            "every third message, in order: {nums:?}"
        );
    }
}

#[test]
fn push_blocks_when_every_peer_is_full() {
    let mut o = opts();
    o.sndhwm = 4;
    let mut v = Vocket::new(T::Push, o);
    let now = Instant::now();
    assert!(!v.can_send(), "no peers: the message must wait in the pipe");
    let p = v
        .handle_peer_up(PeerInfo::new(T::Pull, "t://a", 1), now)
        .unwrap();
    for i in 0..4 {
        assert!(v.can_send(), "room for message {i}");
        v.handle_app(m("x"), now);
    }
    assert!(!v.can_send(), "peer at SNDHWM: block like libzmq");
    let _ = v.poll_ready();
    assert!(v.poll_transmit(p).is_some());
    assert!(v.poll_transmit(p).is_some());
    assert!(v.can_send(), "reactivated at the low-water mark");
}

#[test]
fn push_drops_what_a_dead_peer_never_took() {
    let mut v = Vocket::new(T::Push, opts());
    let now = Instant::now();
    let a = v
        .handle_peer_up(PeerInfo::new(T::Pull, "t://a", 1), now)
        .unwrap();
    let b = v
        .handle_peer_up(PeerInfo::new(T::Pull, "t://b", 2), now)
        .unwrap();
    for i in 0..10 {
        v.handle_app(m(&i.to_string()), now);
    }
    // a dies before its transport took anything: its five are lost with it, as with a
    // libzmq pipe; b keeps its own five and gets no more.
    v.handle_peer_down(a, now);
    let mut n = 0;
    while v.poll_transmit(b).is_some() {
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(v.stats().dropped_peer_gone, 5);
}

#[test]
fn pull_fair_queues_and_ignores_app_sends() {
    let mut net = Net::new(2);
    let pull = net.add(T::Pull, opts());
    let pushes: Vec<_> = (0..2).map(|_| net.add(T::Push, opts())).collect();
    for &p in &pushes {
        net.connect(p, pull, false, Faults::none()).unwrap();
    }
    for i in 0..5 {
        for (k, &p) in pushes.iter().enumerate() {
            net.app_send(p, m(&format!("{k}-{i}")));
        }
    }
    net.settle(Duration::from_secs(1));
    let got = net.app_drain(pull);
    assert_eq!(got.len(), 10);
    for k in 0..2 {
        let mine: Vec<Vec<u8>> = got
            .iter()
            .filter(|m| body(m).starts_with(format!("{k}-").as_bytes()))
            .map(|m| body(m).to_vec())
            .collect();
        assert_eq!(mine.len(), 5);
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "per-peer order kept");
    }
    assert!(!net.vocket(pull).can_send());
}

#[test]
fn req_rep_basic_exchange() {
    let mut net = Net::new(3);
    let r = net.add(T::Req, opts());
    let p = net.add(T::Rep, opts());
    net.connect(r, p, false, Faults::none()).unwrap();
    net.app_send(r, req("hello?"));
    net.settle(Duration::from_secs(1));
    let got = net.app_recv(p).unwrap();
    assert_eq!(got.len(), 3, "[routing frame, \"\", body]");
    // The peering, and the request's sequence where the transport has one.
    assert!(matches!(got.frames()[0].len(), 8 | 12));
    assert!(got.frames()[1].is_empty());
    assert_eq!(body(&got), b"hello?");
    net.app_send(p, reply_to(&got, "ack"));
    net.settle(Duration::from_secs(1));
    assert_eq!(
        net.app_recv(r).unwrap().frames(),
        &[Bytes::new(), Bytes::from_static(b"ack")]
    );
}

/// A REQ with two REPs sends "q"; the REP that got it loses its link. Returns the net,
/// the REQ, and the REP that is left.
fn req_loses_the_rep_with_its_request(o: SocketOptions) -> (Net, NodeId, NodeId) {
    let mut net = Net::new(4);
    let r = net.add(T::Req, o);
    let reps = [net.add(T::Rep, opts()), net.add(T::Rep, opts())];
    let links: Vec<_> = reps
        .iter()
        .map(|&p| net.connect(r, p, false, Faults::none()).unwrap())
        .collect();
    net.app_send(r, req("q"));
    net.settle(Duration::from_secs(1));
    let (first, other) = if net.app_recv(reps[0]).is_some() {
        (0, 1)
    } else {
        (1, 0)
    };
    net.disconnect(links[first]);
    net.settle(Duration::from_secs(1));
    (net, r, reps[other])
}

#[test]
fn req_sends_a_request_once_by_default() {
    let (mut net, r, other) = req_loses_the_rep_with_its_request(opts());
    assert!(
        net.app_recv(other).is_none(),
        "lost with its peering, as libzmq's REQ: at most once"
    );
    // The next request (REQ_RELAXED in the application) goes to the live one.
    net.app_send(r, req("again"));
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(other).unwrap()), b"again");
}

#[test]
fn req_fails_over_when_asked_and_its_peer_dies() {
    let (mut net, r, other) = req_loses_the_rep_with_its_request(opts().with_req_failover(true));
    let got = net.app_recv(other).expect("request moved to the live REP");
    assert_eq!(body(&got), b"q");
    net.app_send(other, reply_to(&got, "a"));
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(r).unwrap()), b"a");
}

#[test]
fn req_waits_for_a_peer_then_sends() {
    let mut net = Net::new(5);
    let r = net.add(T::Req, opts());
    net.app_send(r, req("early"));
    net.settle(Duration::from_millis(50));
    let p = net.add(T::Rep, opts());
    net.connect(r, p, false, Faults::none()).unwrap();
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(p).unwrap()), b"early");
}

#[test]
fn req_ignores_replies_from_other_peers_and_extra_replies() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Req, opts());
    let a = v
        .handle_peer_up(PeerInfo::new(T::Rep, "t://a", 1), now)
        .unwrap();
    let b = v
        .handle_peer_up(PeerInfo::new(T::Rep, "t://b", 2), now)
        .unwrap();
    v.handle_app(req("q"), now);
    let (to, _) = v.poll_ready().unwrap();
    let other = if to == a { b } else { a };
    v.handle_input(other, input(req("r")), now);
    assert!(
        v.pop_to_app().is_none(),
        "a reply from the wrong peer is dropped"
    );
    // On a stream, whatever the right peer sends is for the application's REQ to
    // judge (libzmq's REQ reads the pipe it sent on, and drops what it does not expect).
    v.handle_input(to, input(req("r")), now);
    v.handle_input(to, input(req("r")), now);
    assert!(v.pop_to_app().is_some());
    assert!(v.pop_to_app().is_some());
    assert!(v.pop_to_app().is_none());
    assert_eq!(v.stats().dropped_invalid, 1);
}

#[test]
fn req_takes_one_reply_per_request_on_datagram_peers() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Req, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Rep, "u://a", 1).lossy(true), now)
        .unwrap();
    v.handle_app(req("q"), now);
    let _ = v.poll_ready();
    let Some(Transmit::Message { seq: Some(seq), .. }) = v.poll_transmit(p) else {
        panic!("the request, with its sequence");
    };
    let reply = |seq| Input::Message {
        msg: req("r"),
        seq: Some(seq),
    };
    v.handle_input(p, reply(seq.wrapping_add(7)), now);
    v.handle_input(p, reply(seq), now);
    v.handle_input(p, reply(seq), now);
    assert!(v.pop_to_app().is_some());
    assert!(v.pop_to_app().is_none(), "one request, one reply");
    assert_eq!(v.stats().dropped_duplicate, 2);
}

#[test]
fn req_resends_on_lossy_peers_only() {
    let now = Instant::now();
    let mut o = opts();
    o.req_resend_ivl = Some(Duration::from_millis(200));
    let mut v = Vocket::new(T::Req, o.clone());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Rep, "u://a", 1).lossy(true), now)
        .unwrap();
    v.handle_app(req("q"), now);
    assert!(matches!(
        v.poll_transmit(p),
        Some(Transmit::Message { seq: Some(0), .. })
    ));
    v.handle_timeout(now + Duration::from_millis(250));
    assert!(
        matches!(
            v.poll_transmit(p),
            Some(Transmit::Message { seq: Some(0), .. })
        ),
        "resent, same sequence"
    );
    let mut v = Vocket::new(T::Req, o);
    let p = v
        .handle_peer_up(PeerInfo::new(T::Rep, "t://a", 1), now)
        .unwrap();
    v.handle_app(req("q"), now);
    assert!(v.poll_transmit(p).is_some());
    v.handle_timeout(now + Duration::from_secs(5));
    assert!(
        v.poll_transmit(p).is_none(),
        "streams do not lose requests: no resend"
    );
}

/// A reply dropped at RCVHWM on a datagram peering (which cannot be paused) leaves its
/// request unanswered: it is resent, so the REP's cached reply comes again. (It was
/// marked answered before it was queued, and the application's REQ hung.)
#[test]
fn req_resends_a_request_whose_reply_was_dropped_at_rcvhwm() {
    let now = Instant::now();
    let mut o = opts();
    o.rcvhwm = 1;
    o.req_resend_ivl = Some(Duration::from_millis(200));
    let mut v = Vocket::new(T::Req, o);
    let p = v
        .handle_peer_up(PeerInfo::new(T::Rep, "u://a", 1).lossy(true), now)
        .unwrap();
    let reply = |seq, text| Input::Message {
        msg: req(text),
        seq: Some(seq),
    };
    // REQ_RELAXED: a second request while the first reply still waits for the
    // application, whose inbox (RCVHWM 1) is then full.
    for (text, answer) in [("q1", "r1"), ("q2", "r2")] {
        v.handle_app(req(text), now);
        let Some(Transmit::Message { seq: Some(seq), .. }) = v.poll_transmit(p) else {
            panic!("the request {text}, with its sequence");
        };
        v.handle_input(p, reply(seq, answer), now);
    }
    assert_eq!(v.stats().dropped_app_full, 1, "r2 did not fit");
    while v.pop_to_app().is_some() {}
    v.handle_timeout(now + Duration::from_millis(250));
    let Some(Transmit::Message { msg, .. }) = v.poll_transmit(p) else {
        panic!("the unanswered request is resent");
    };
    assert_eq!(body(&msg), b"q2");
}

#[test]
fn rep_drops_requests_without_delimiter() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Rep, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://a", 1), now)
        .unwrap();
    v.handle_input(p, input(m("no envelope")), now);
    assert!(v.pop_to_app().is_none());
    assert_eq!(v.stats().dropped_invalid, 1);
}

#[test]
fn rep_resends_cached_reply_to_duplicate_request() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Rep, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Req, "udp://a", 1).lossy(true), now)
        .unwrap();
    let dup = || Input::Message {
        msg: req("q"),
        seq: Some(7),
    };
    v.handle_input(p, dup(), now);
    let got = v.pop_to_app().unwrap();
    v.handle_app(reply_to(&got, "a"), now);
    let _ = v.poll_ready();
    assert!(matches!(
        v.poll_transmit(p),
        Some(Transmit::Message { seq: Some(7), .. })
    ));
    // The reply was lost; the REQ resends the same request.
    v.handle_input(p, dup(), now);
    assert!(v.pop_to_app().is_none(), "never delivered twice to the app");
    assert!(
        matches!(
            v.poll_transmit(p),
            Some(Transmit::Message { seq: Some(7), .. })
        ),
        "cached reply resent"
    );
}

#[test]
fn rep_drops_replies_to_dead_peers_and_forged_routes() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Rep, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Req, "t://a", 1), now)
        .unwrap();
    v.handle_input(p, input(req("q")), now);
    let got = v.pop_to_app().unwrap();
    v.handle_peer_down(p, now);
    v.handle_app(reply_to(&got, "a"), now);
    assert_eq!(v.stats().dropped_unroutable, 1);
    v.handle_app(
        Msg::from_frames([Bytes::from_static(b"12345678"), Bytes::new()]),
        now,
    );
    v.handle_app(
        Msg::from_frames([Bytes::from_static(b"short"), Bytes::new()]),
        now,
    );
    assert_eq!(v.stats().dropped_unroutable, 3);
}

#[test]
fn router_prefixes_identity_and_routes_back() {
    let mut net = Net::new(6);
    let router = net.add(T::Router, opts());
    let d1 = net.add(T::Dealer, opts());
    let d2 = net.add(T::Dealer, opts());
    net.connect_with_identities(router, d1, None, Some(b"alice"), false, Faults::none())
        .unwrap();
    net.connect(router, d2, false, Faults::none()).unwrap();
    net.app_send(d1, m("from alice"));
    net.app_send(d2, m("from anon"));
    net.settle(Duration::from_secs(1));
    let got = net.app_drain(router);
    assert_eq!(got.len(), 2);
    let alice = got.iter().find(|m| body(m) == b"from alice").unwrap();
    assert_eq!(&alice.frames()[0][..], b"alice");
    let anon = got.iter().find(|m| body(m) == b"from anon").unwrap();
    assert!(
        anon.frames()[0].starts_with(b"mem://"),
        "schemed identity for anonymous peers"
    );
    net.app_send(
        router,
        Msg::from_frames([anon.frames()[0].clone(), Bytes::from_static(b"to anon")]),
    );
    net.app_send(
        router,
        Msg::from_frames([
            Bytes::from_static(b"alice"),
            Bytes::from_static(b"to alice"),
        ]),
    );
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(d1).unwrap()), b"to alice");
    assert_eq!(body(&net.app_recv(d2).unwrap()), b"to anon");
}

#[test]
fn router_drops_unknown_identities_and_counts() {
    let mut v = Vocket::new(T::Router, opts());
    v.handle_app(
        Msg::from_frames([Bytes::from_static(b"nobody"), Bytes::from_static(b"x")]),
        Instant::now(),
    );
    v.handle_app(
        Msg::single(Bytes::from_static(b"identity only")),
        Instant::now(),
    );
    assert_eq!(v.stats().dropped_unroutable, 1);
    assert_eq!(v.stats().dropped_invalid, 1);
    assert!(v.can_send(), "ROUTER never blocks");
}

#[test]
fn router_refuses_duplicate_identity_unless_handover() {
    let now = Instant::now();
    let info = |c| {
        PeerInfo::new(T::Dealer, format!("t://{c}"), c)
            .with_identity(Some(Bytes::from_static(b"id")))
    };
    let mut v = Vocket::new(T::Router, opts());
    v.handle_peer_up(info(1), now).unwrap();
    assert_eq!(
        v.handle_peer_up(info(2), now),
        Err(Refusal::DuplicateIdentity)
    );
    let mut o = opts();
    o.router_handover = true;
    let mut v = Vocket::new(T::Router, o);
    v.handle_peer_up(info(1), now).unwrap();
    let second = v.handle_peer_up(info(2), now).unwrap();
    assert_eq!(v.peer_count(), 1);
    assert!(matches!(
        v.poll_action(),
        Some(Action::Close { conn: 1, .. })
    ));
    v.handle_app(
        Msg::from_frames([Bytes::from_static(b"id"), Bytes::from_static(b"x")]),
        now,
    );
    assert_eq!(v.poll_ready().map(|(p, _)| p), Some(second));
}

#[test]
fn dealer_to_dealer_both_ways_multipart() {
    let mut net = Net::new(7);
    let a = net.add(T::Dealer, opts());
    let b = net.add(T::Dealer, opts());
    net.connect(a, b, false, Faults::none()).unwrap();
    net.app_send(
        a,
        Msg::from_frames([&b"x"[..], b"y", b"z"].map(Bytes::from_static)),
    );
    net.app_send(b, m("back"));
    net.settle(Duration::from_secs(1));
    assert_eq!(net.app_recv(b).unwrap().len(), 3, "multipart kept whole");
    assert_eq!(body(&net.app_recv(a).unwrap()), b"back");
}

#[test]
fn pair_takes_one_peer_only() {
    let mut net = Net::new(8);
    let a = net.add(T::Pair, opts());
    let b = net.add(T::Pair, opts());
    let c = net.add(T::Pair, opts());
    net.connect(a, b, false, Faults::none()).unwrap();
    assert_eq!(
        net.connect(a, c, false, Faults::none()).err(),
        Some(Refusal::PairTaken)
    );
    net.app_send(a, m("ping"));
    net.app_send(b, m("pong"));
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(b).unwrap()), b"ping");
    assert_eq!(body(&net.app_recv(a).unwrap()), b"pong");
    assert!(net.app_recv(c).is_none());
}

#[test]
fn incompatible_types_are_refused() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Req, opts());
    let r = v.handle_peer_up(PeerInfo::new(T::Pub, "t://a", 1), now);
    assert_eq!(
        r,
        Err(Refusal::Incompatible {
            ours: T::Req,
            theirs: T::Pub
        })
    );
    assert_eq!(v.stats().refused, 1);
    assert_eq!(v.peer_count(), 0);
}

#[test]
fn max_peers_refuses_the_next() {
    let now = Instant::now();
    let mut o = opts();
    o.max_peers = 2;
    let mut v = Vocket::new(T::Pull, o);
    v.handle_peer_up(PeerInfo::new(T::Push, "t://a", 1), now)
        .unwrap();
    v.handle_peer_up(PeerInfo::new(T::Push, "t://b", 2), now)
        .unwrap();
    assert_eq!(
        v.handle_peer_up(PeerInfo::new(T::Push, "t://c", 3), now),
        Err(Refusal::TooManyPeers)
    );
}

#[test]
fn pub_filters_by_prefix_per_subscriber() {
    let mut net = Net::new(9);
    let p = net.add(T::Pub, opts());
    let s1 = net.add(T::Sub, opts());
    let s2 = net.add(T::Sub, opts());
    net.connect(p, s1, false, Faults::none()).unwrap();
    net.connect(p, s2, false, Faults::none()).unwrap();
    net.app_send(s1, Msg::single(Bytes::from_static(b"\x01wea")));
    net.app_send(s2, Msg::single(Bytes::from_static(b"\x01news")));
    net.app_send(s2, Msg::single(Bytes::from_static(b"\x01")));
    net.settle(Duration::from_secs(1));
    assert_eq!(
        net.app_drain(p).len(),
        3,
        "the PUB's pipe hears every new subscription"
    );
    for topic in ["weather", "news today", "sports"] {
        net.app_send(p, m(topic));
    }
    net.settle(Duration::from_secs(1));
    let got1: Vec<_> = net.app_drain(s1).iter().map(|m| body(m).to_vec()).collect();
    let got2: Vec<_> = net.app_drain(s2).iter().map(|m| body(m).to_vec()).collect();
    assert_eq!(got1, vec![b"weather".to_vec()]);
    assert_eq!(got2.len(), 3, "two matching prefixes still deliver once");
}

#[test]
fn sub_cancel_stops_delivery_and_late_publishers_learn_subscriptions() {
    let mut net = Net::new(10);
    let s = net.add(T::Sub, opts());
    net.app_send(s, Msg::single(Bytes::from_static(b"\x01a")));
    let p = net.add(T::Pub, opts());
    net.connect(p, s, false, Faults::none()).unwrap();
    net.settle(Duration::from_secs(1));
    net.app_send(p, m("a1"));
    net.settle(Duration::from_secs(1));
    assert_eq!(
        net.app_drain(s).len(),
        1,
        "late-joining publisher got the subscription"
    );
    net.app_send(s, Msg::single(Bytes::from_static(b"\x00a")));
    net.settle(Duration::from_secs(1));
    net.app_send(p, m("a2"));
    net.settle(Duration::from_secs(1));
    assert!(net.app_drain(s).is_empty());
    let pipe: Vec<Vec<u8>> = net
        .app_drain(p)
        .iter()
        .map(|m| m.frames()[0].to_vec())
        .collect();
    assert_eq!(pipe, vec![b"\x01a".to_vec(), b"\x00a".to_vec()]);
}

#[test]
fn pub_forgets_subscriptions_of_dead_peers() {
    let mut net = Net::new(11);
    let p = net.add(T::Pub, opts());
    let s = net.add(T::Sub, opts());
    let l = net.connect(p, s, false, Faults::none()).unwrap();
    net.app_send(s, Msg::single(Bytes::from_static(b"\x01x")));
    net.settle(Duration::from_secs(1));
    net.disconnect(l);
    net.settle(Duration::from_secs(1));
    let pipe: Vec<Vec<u8>> = net
        .app_drain(p)
        .iter()
        .map(|m| m.frames()[0].to_vec())
        .collect();
    assert_eq!(
        pipe,
        vec![b"\x01x".to_vec(), b"\x00x".to_vec()],
        "union shrinks when a subscriber leaves"
    );
}

#[test]
fn pub_drops_only_for_the_slow_subscriber() {
    let now = Instant::now();
    let mut o = opts();
    o.sndhwm = 5;
    let mut v = Vocket::new(T::Pub, o);
    let slow = v
        .handle_peer_up(PeerInfo::new(T::Sub, "t://slow", 1), now)
        .unwrap();
    let fast = v
        .handle_peer_up(PeerInfo::new(T::Sub, "t://fast", 2), now)
        .unwrap();
    for p in [slow, fast] {
        v.handle_input(p, Input::Subscribe(Bytes::new()), now);
    }
    let mut fast_got = 0;
    for _ in 0..20 {
        assert!(v.can_send(), "PUB never blocks");
        v.handle_app(m("x"), now);
        while v.poll_transmit(fast).is_some() {
            fast_got += 1;
        }
    }
    assert_eq!(fast_got, 20);
    assert_eq!(v.stats().dropped_hwm, 15);
}

#[test]
fn pub_accepts_zmtp30_subscription_messages() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Pub, opts());
    let s = v
        .handle_peer_up(PeerInfo::new(T::Sub, "t://old", 1), now)
        .unwrap();
    v.handle_input(s, input(Msg::single(Bytes::from_static(b"\x01abc"))), now);
    v.handle_app(m("abcdef"), now);
    assert!(matches!(v.poll_transmit(s), Some(Transmit::Message { .. })));
    v.handle_input(s, input(m("not a subscription")), now);
    assert_eq!(
        v.stats().dropped_invalid,
        1,
        "PUB takes no data from subscribers"
    );
}

#[test]
fn xpub_sees_upstream_messages_and_subscriptions() {
    let mut net = Net::new(12);
    let xp = net.add(T::XPub, opts());
    let xs = net.add(T::XSub, opts());
    net.connect(xp, xs, false, Faults::none()).unwrap();
    net.app_send(xs, Msg::single(Bytes::from_static(b"\x01t")));
    net.app_send(xs, m("upstream"));
    net.settle(Duration::from_secs(1));
    let got: Vec<Vec<u8>> = net
        .app_drain(xp)
        .iter()
        .map(|m| m.frames()[0].to_vec())
        .collect();
    assert_eq!(got, vec![b"\x01t".to_vec(), b"upstream".to_vec()]);
    net.app_send(xp, m("t-data"));
    net.settle(Duration::from_secs(1));
    assert_eq!(body(&net.app_recv(xs).unwrap()), b"t-data");
}

#[test]
fn heartbeat_kills_a_silent_peer() {
    let mut o = opts();
    o.heartbeat_ivl = Some(Duration::from_millis(100));
    o.heartbeat_timeout = Some(Duration::from_millis(300));
    let mut net = Net::new(13);
    let a = net.add(T::Dealer, o.clone());
    let b = net.add(T::Dealer, o);
    let l = net.connect(a, b, false, Faults::none()).unwrap();
    net.run_for(Duration::from_secs(2));
    assert!(net.is_up(l), "answered pings keep the peering");
    net.partition(l);
    let start = net.now;
    while net.is_up(l) && net.now < start + Duration::from_secs(5) {
        net.step();
    }
    assert!(!net.is_up(l));
    let took = net.now - start;
    assert!(
        took <= Duration::from_millis(500),
        "detected within ivl + timeout, took {took:?}"
    );
    assert_eq!(net.vocket(a).peer_count() + net.vocket(b).peer_count(), 0);
}

#[test]
fn short_heartbeat_timeout_does_not_kill_idle_but_answering_peers() {
    let mut o = opts();
    o.heartbeat_ivl = Some(Duration::from_millis(500));
    o.heartbeat_timeout = Some(Duration::from_millis(100));
    let mut net = Net::new(14);
    let a = net.add(T::Pair, o.clone());
    let b = net.add(T::Pair, o);
    let l = net.connect(a, b, false, Faults::none()).unwrap();
    net.run_for(Duration::from_secs(5));
    assert!(
        net.is_up(l),
        "a timeout shorter than the interval counts from the PING, not from last traffic"
    );
}

#[test]
fn peer_ttl_is_honoured() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Dealer, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://a", 1), now)
        .unwrap();
    v.handle_input(
        p,
        Input::Ping {
            ttl: Some(Duration::from_secs(1)),
            context: Bytes::from_static(b"c"),
        },
        now,
    );
    let _ = v.poll_ready();
    assert_eq!(
        v.poll_transmit(p),
        Some(Transmit::Pong {
            context: Bytes::from_static(b"c")
        })
    );
    let t = v.poll_timeout().expect("TTL deadline armed");
    assert!(t <= now + Duration::from_secs(1));
    v.handle_timeout(now + Duration::from_millis(1100));
    assert_eq!(
        v.peer_count(),
        0,
        "dropped after the TTL the peer announced"
    );
    assert_eq!(v.stats().heartbeat_timeouts, 1);
}

#[test]
fn app_pipe_full_pauses_streams_and_drops_datagrams() {
    let now = Instant::now();
    let mut o = opts();
    o.rcvhwm = 4;
    let mut v = Vocket::new(T::Pull, o);
    let stream = v
        .handle_peer_up(PeerInfo::new(T::Push, "t://s", 1), now)
        .unwrap();
    let dgram = v
        .handle_peer_up(PeerInfo::new(T::Push, "u://d", 2).lossy(true), now)
        .unwrap();
    let flows: Vec<_> = (0..4)
        .map(|_| v.handle_input(stream, input(m("x")), now))
        .collect();
    assert_eq!(
        flows,
        vec![Flow::Continue, Flow::Continue, Flow::Continue, Flow::Pause]
    );
    // The limit is per peering, as libzmq's per pipe: the datagram peering has an
    // inbox of its own, and loses only what comes past it.
    for _ in 0..5 {
        v.handle_input(dgram, input(m("x")), now);
    }
    assert_eq!(v.stats().dropped_app_full, 1);
    assert_eq!(v.to_app_len(), 8);
    // Fair queuing takes one from each in turn: after three, the stream has two left.
    for _ in 0..3 {
        v.pop_to_app();
    }
    assert_eq!(v.inbox_len(stream), 2);
    assert_eq!(v.poll_action(), Some(Action::Resume { conn: 1 }));
}

#[test]
fn close_refuses_new_peers_and_reports_flushed() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Push, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Pull, "t://a", 1), now)
        .unwrap();
    v.handle_app(m("last words"), now);
    v.close();
    assert!(!v.is_flushed());
    assert_eq!(
        v.handle_peer_up(PeerInfo::new(T::Pull, "t://b", 2), now),
        Err(Refusal::Closing)
    );
    assert!(v.poll_transmit(p).is_some());
    assert!(v.is_flushed());
}

#[test]
fn stale_peer_ids_are_harmless() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Dealer, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://a", 1), now)
        .unwrap();
    v.handle_peer_down(p, now);
    let q = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://b", 2), now)
        .unwrap();
    // Late input for the old peering must not land on the new one.
    v.handle_input(p, input(m("late")), now);
    v.handle_peer_down(p, now);
    assert!(v.pop_to_app().is_none());
    assert_eq!(v.peer_count(), 1);
    assert!(v.peer_info(q).is_some());
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut net = Net::new(seed);
        let start = net.now;
        let mut o = opts();
        o.req_resend_ivl = Some(Duration::from_millis(50));
        let r = net.add(T::Req, o);
        let p = net.add(T::Rep, opts());
        net.connect(r, p, true, Faults::lossy(0.3, 0.1)).unwrap();
        let mut log = Vec::new();
        for i in 0..20 {
            net.app_send(r, req(&i.to_string()));
            loop {
                net.step();
                if let Some(q) = net.app_recv(p) {
                    log.push((net.now - start, body(&q).to_vec()));
                    net.app_send(p, reply_to(&q, "ok"));
                }
                if net.app_recv(r).is_some() {
                    break;
                }
            }
        }
        (log, net.dropped)
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42).1, run(43).1, "the seed matters");
}

#[test]
fn fan_in_is_fair_when_the_application_is_slow() {
    let now = Instant::now();
    let mut o = opts();
    o.rcvhwm = 10;
    let mut v = Vocket::new(T::Pull, o);
    let a = v
        .handle_peer_up(PeerInfo::new(T::Push, "t://a", 1), now)
        .unwrap();
    let b = v
        .handle_peer_up(PeerInfo::new(T::Push, "t://b", 2), now)
        .unwrap();
    // a floods first, b comes after: each fills its own inbox and is paused there.
    let fa: Vec<_> = (0..10)
        .map(|_| v.handle_input(a, input(m("a")), now))
        .collect();
    assert_eq!(fa.last(), Some(&Flow::Pause));
    assert_eq!(v.admit(a), Flow::Pause, "a full inbox is not read");
    assert_eq!(
        v.admit(b),
        Flow::Continue,
        "another peering's inbox is its own"
    );
    for _ in 0..10 {
        v.handle_input(b, input(m("b")), now);
    }
    let order: String = std::iter::from_fn(|| v.pop_to_app())
        .map(|msg| String::from_utf8(body(&msg).to_vec()).unwrap())
        .collect();
    assert_eq!(order, "ab".repeat(10), "one from each in turn");
    let resumed: Vec<_> = std::iter::from_fn(|| v.poll_action()).collect();
    assert_eq!(
        resumed,
        vec![Action::Resume { conn: 1 }, Action::Resume { conn: 2 }]
    );
}

#[test]
fn a_dead_peers_messages_are_still_delivered() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Pull, opts());
    let a = v
        .handle_peer_up(PeerInfo::new(T::Push, "t://a", 1), now)
        .unwrap();
    v.handle_input(a, input(m("last words")), now);
    v.handle_peer_down(a, now);
    assert_eq!(body(&v.pop_to_app().unwrap()), b"last words");
    assert_eq!(v.last_sender(), Some("t://a"));
}

#[test]
fn pings_go_every_interval_even_under_traffic() {
    let now = Instant::now();
    let mut o = opts();
    o.heartbeat_ivl = Some(Duration::from_millis(100));
    let mut v = Vocket::new(T::Dealer, o);
    let p = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://a", 1), now)
        .unwrap();
    let mut pings = 0;
    for ms in (10..=1000).step_by(10) {
        let t = now + Duration::from_millis(ms);
        // The peer talks all the time; libzmq still pings every HEARTBEAT_IVL.
        v.handle_input(p, input(m("busy")), t);
        v.handle_timeout(t);
        while let Some(tx) = v.poll_transmit(p) {
            pings += usize::from(matches!(tx, Transmit::Ping { .. }));
        }
    }
    assert_eq!(pings, 10);
    assert_eq!(v.peer_count(), 1);
}

#[test]
fn any_input_resets_the_peers_ttl() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Dealer, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Dealer, "t://a", 1), now)
        .unwrap();
    let ping = Input::Ping {
        ttl: Some(Duration::from_millis(500)),
        context: Bytes::new(),
    };
    v.handle_input(p, ping, now);
    // Data before the TTL runs out cancels it, as libzmq does on any input.
    v.handle_input(p, input(m("alive")), now + Duration::from_millis(400));
    v.handle_timeout(now + Duration::from_millis(600));
    assert_eq!(v.peer_count(), 1, "the TTL was reset by data");
}

#[test]
fn peerings_that_come_and_go_cannot_pile_up_messages() {
    let now = Instant::now();
    let mut o = opts();
    o.rcvhwm = 4;
    let mut v = Vocket::new(T::Pull, o);
    for i in 0..300 {
        let p = v
            .handle_peer_up(PeerInfo::new(T::Push, format!("t://{i}"), i), now)
            .unwrap();
        for _ in 0..4 {
            v.handle_input(p, input(m("x")), now);
        }
        v.handle_peer_down(p, now);
    }
    // Left unread by peerings that went down: as much as one peering may hold at most.
    assert_eq!(v.to_app_len(), 1028);
    assert_eq!(v.stats().dropped_app_full, 300 * 4 - 1028);
}

#[test]
fn handover_never_takes_an_address_derived_identity() {
    let now = Instant::now();
    let mut o = opts();
    o.router_handover = true;
    let mut v = Vocket::new(T::Router, o);
    // A peer that announced nothing is known by its address...
    v.handle_peer_up(PeerInfo::new(T::Dealer, "t://honest", 1), now)
        .unwrap();
    // ...which a stranger cannot announce to take its messages.
    let impostor = PeerInfo::new(T::Dealer, "t://impostor", 2)
        .with_identity(Some(Bytes::from_static(b"t://honest")));
    assert_eq!(
        v.handle_peer_up(impostor, now),
        Err(Refusal::DuplicateIdentity)
    );
    assert_eq!(v.peer_count(), 1);
    assert!(v.poll_action().is_none(), "the honest peer stays");
}

#[test]
fn router_notify_tells_of_peers_coming_and_going() {
    let now = Instant::now();
    let mut o = opts();
    o.router_notify = vtx_emul::options::NOTIFY_CONNECT | vtx_emul::options::NOTIFY_DISCONNECT;
    let mut v = Vocket::new(T::Router, o);
    let p = v
        .handle_peer_up(
            PeerInfo::new(T::Dealer, "t://a", 1).with_identity(Some(Bytes::from_static(b"a"))),
            now,
        )
        .unwrap();
    v.handle_peer_down(p, now);
    let notices: Vec<Vec<Bytes>> = std::iter::from_fn(|| v.pop_to_app())
        .map(|m| m.frames().to_vec())
        .collect();
    let a_and_empty = vec![Bytes::from_static(b"a"), Bytes::new()];
    assert_eq!(notices, vec![a_and_empty.clone(), a_and_empty]);
}

#[test]
fn probe_router_goes_first_to_every_new_peer() {
    let now = Instant::now();
    let mut o = opts();
    o.probe_router = true;
    let mut v = Vocket::new(T::Dealer, o);
    for c in 1..=2 {
        let p = v
            .handle_peer_up(PeerInfo::new(T::Router, format!("t://{c}"), c), now)
            .unwrap();
        let Some(Transmit::Message { msg, .. }) = v.poll_transmit(p) else {
            panic!("no probe for peer {c}");
        };
        assert_eq!(msg.frames(), [Bytes::new()]);
    }
}

/// The probe goes ahead of data already waiting, and does not count against SNDHWM: a
/// DEALER with SNDHWM 1 still sends its message after the probe (it stalled when the
/// probe took the only slot).
#[test]
fn probe_router_goes_ahead_of_waiting_data_outside_sndhwm() {
    let now = Instant::now();
    let mut o = opts();
    o.probe_router = true;
    o.sndhwm = 1;
    let mut v = Vocket::new(T::Dealer, o);
    v.handle_app(Msg::single(Bytes::from_static(b"data")), now);
    let p = v
        .handle_peer_up(PeerInfo::new(T::Router, "t://a", 1), now)
        .unwrap();
    let mut sent = Vec::new();
    while let Some(Transmit::Message { msg, .. }) = v.poll_transmit(p) {
        sent.push(msg.frames().to_vec());
    }
    assert_eq!(
        sent,
        [vec![Bytes::new()], vec![Bytes::from_static(b"data")]],
        "the probe, then the message that waited"
    );
    assert!(v.can_send(), "room again for the next message");
}

#[test]
fn router_mandatory_holds_a_message_for_a_full_peer() {
    let now = Instant::now();
    let mut o = opts();
    o.sndhwm = 1;
    o.router_mandatory = true;
    let mut v = Vocket::new(T::Router, o);
    let p = v
        .handle_peer_up(
            PeerInfo::new(T::Dealer, "t://a", 1).with_identity(Some(Bytes::from_static(b"a"))),
            now,
        )
        .unwrap();
    let to_a = |body: &'static [u8]| {
        Msg::from_frames([Bytes::from_static(b"a"), Bytes::from_static(body)])
    };
    v.handle_app(to_a(b"1"), now);
    v.handle_app(to_a(b"2"), now);
    assert!(
        !v.can_send(),
        "the second waits for room, and the application with it"
    );
    assert_eq!(v.stats().dropped_hwm, 0);
    let bodies: Vec<Bytes> = std::iter::from_fn(|| v.poll_transmit(p))
        .filter_map(|t| match t {
            Transmit::Message { msg, .. } => Some(Bytes::copy_from_slice(body(&msg))),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, [Bytes::from_static(b"1"), Bytes::from_static(b"2")]);
    assert!(v.can_send());
}

#[test]
fn xpub_nodrop_holds_a_message_for_a_full_subscriber() {
    let now = Instant::now();
    let mut o = opts();
    o.sndhwm = 1;
    o.xpub_nodrop = true;
    let mut v = Vocket::new(T::XPub, o);
    let s = v
        .handle_peer_up(PeerInfo::new(T::Sub, "t://s", 1), now)
        .unwrap();
    v.handle_input(s, Input::Subscribe(Bytes::new()), now);
    v.handle_app(m("1"), now);
    v.handle_app(m("2"), now);
    assert!(!v.can_send());
    assert_eq!(v.stats().dropped_hwm, 0);
    let mut n = 0;
    while let Some(t) = v.poll_transmit(s) {
        n += usize::from(matches!(t, Transmit::Message { .. }));
    }
    assert_eq!(n, 2, "nothing dropped");
    assert!(v.can_send());
}

#[test]
fn each_message_handed_over_is_known_by_its_peer() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Sub, opts());
    v.handle_app(Msg::single(Bytes::from_static(b"\x01a")), now);
    let props = |x: &'static [u8]| vec![(Bytes::from_static(b"X-N"), Bytes::from_static(x))];
    let p1 = v
        .handle_peer_up(
            PeerInfo::new(T::Pub, "t://1", 1).with_properties(props(b"1")),
            now,
        )
        .unwrap();
    let p2 = v
        .handle_peer_up(
            PeerInfo::new(T::Pub, "t://2", 2).with_properties(props(b"2")),
            now,
        )
        .unwrap();
    v.handle_input(p1, input(m("a-from-1")), now);
    // Not subscribed: the application's SUB drops it, so it is not counted.
    v.handle_input(p2, input(m("b-from-2")), now);
    v.handle_input(p2, input(m("a-from-2")), now);
    while v.pop_to_app().is_some() {}
    let n = |i| {
        v.message_properties(i)
            .and_then(|p| p.get("x-n"))
            .map(|b| b.to_vec())
    };
    assert_eq!(n(0), Some(b"1".to_vec()));
    assert_eq!(n(1), Some(b"2".to_vec()));
    assert_eq!(n(2), None, "only two were the application's");
    let last = v.last_message_properties().unwrap();
    assert_eq!(last.get("Socket-Type").as_deref(), Some(&b"PUB"[..]));
    assert_eq!(last.get("Peer-Address").as_deref(), Some(&b"t://2"[..]));
}

#[test]
fn rep_tags_each_reply_with_its_own_requests_sequence() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Rep, opts());
    let p = v
        .handle_peer_up(PeerInfo::new(T::Req, "u://a", 1).lossy(true), now)
        .unwrap();
    let request = |seq, body: &'static str| Input::Message {
        msg: req(body),
        seq: Some(seq),
    };
    // A REQ_RELAXED peer sends its second request before the first is answered.
    v.handle_input(p, request(1, "one"), now);
    v.handle_input(p, request(2, "two"), now);
    let first = v.pop_to_app().unwrap();
    let second = v.pop_to_app().unwrap();
    v.handle_app(reply_to(&first, "to one"), now);
    v.handle_app(reply_to(&second, "to two"), now);
    let seqs: Vec<Option<u32>> = std::iter::from_fn(|| v.poll_transmit(p))
        .filter_map(|t| match t {
            Transmit::Message { seq, .. } => Some(seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, [Some(1), Some(2)]);
}

#[test]
fn xpub_welcomes_every_new_subscriber_first() {
    let now = Instant::now();
    let mut o = opts();
    o.xpub_welcome = Some(Bytes::from_static(b"welcome"));
    let mut v = Vocket::new(T::XPub, o);
    for c in 1..=2 {
        let s = v
            .handle_peer_up(PeerInfo::new(T::Sub, format!("t://{c}"), c), now)
            .unwrap();
        let Some(Transmit::Message { msg, .. }) = v.poll_transmit(s) else {
            panic!("no welcome for subscriber {c}");
        };
        assert_eq!(body(&msg), b"welcome");
    }
}
