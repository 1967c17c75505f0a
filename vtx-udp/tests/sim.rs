//! NOM-2 sans-IO on a simulated datagram network: real engines and Vockets, a virtual
//! clock, and seeded loss, duplication, reordering and delay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{Sim, body, req, udp_opts};
use proptest::prelude::*;
use vtx_emul::{Msg, SocketOptions, SocketType as T};
use vtx_udp::nom2::Config;

/// Runs `n` REQ/REP exchanges over a lossy network; returns what the REP application
/// saw, in order.
fn req_rep(seed: u64, loss: f64, dup: f64, n: usize, big: bool) -> Vec<Vec<u8>> {
    let mut sim = Sim::new(seed, loss, dup);
    let a = sim.node(Config::default());
    let b = sim.node(Config::default());
    let rep = sim.socket(b, T::Rep, udp_opts(SocketOptions::default()));
    let r = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
    sim.bind(rep, "127.0.0.2:5555");
    sim.connect(r, "127.0.0.2:5555", false);
    assert!(
        sim.run_until(Duration::from_secs(30), |s| s.peers(r) == 1),
        "no peering (seed {seed})"
    );
    let pad = if big { vec![7u8; 5000] } else { Vec::new() };
    let mut seen = Vec::new();
    for i in 0..n {
        let mut q = format!("q{i}").into_bytes();
        q.extend_from_slice(&pad);
        assert!(sim.send(r, req(&q)));
        let mut reply = None;
        let ok = sim.run_until(Duration::from_secs(60), |s| {
            while let Some(got) = s.recv(rep) {
                seen.push(body(&got)[..format!("q{i}").len().min(body(&got).len())].to_vec());
                let mut out = Msg::from_frames([got.frames()[0].clone(), Bytes::new()]);
                out.push(Bytes::from(format!("a{i}")));
                s.send(rep, out);
            }
            reply = s.recv(r);
            reply.is_some()
        });
        assert!(ok, "request {i} unanswered (seed {seed}, loss {loss})");
        assert_eq!(
            body(&reply.unwrap()),
            format!("a{i}").into_bytes(),
            "wrong reply (seed {seed})"
        );
        // A duplicate arriving later must not surface as a second reply.
        sim.run_until(Duration::from_millis(50), |_| false);
        assert!(sim.recv(r).is_none(), "second reply to {i} (seed {seed})");
    }
    seen
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Every request gets exactly one reply, and the REP application sees each request
    /// once, at up to 30% loss each way with duplication and reordering.
    #[test]
    fn req_rep_exactly_once_at_30_percent_loss(seed in any::<u64>(), loss in 0.0f64..0.3, dup in 0.0f64..0.1) {
        let seen = req_rep(seed, loss, dup, 20, false);
        let want: Vec<Vec<u8>> = (0..20).map(|i| format!("q{i}").into_bytes()).collect();
        prop_assert_eq!(seen, want);
    }

    /// The same with requests large enough to be fragmented.
    #[test]
    fn fragmented_requests_exactly_once(seed in any::<u64>(), loss in 0.0f64..0.15) {
        let seen = req_rep(seed, loss, 0.05, 5, true);
        let want: Vec<Vec<u8>> = (0..5).map(|i| format!("q{i}").into_bytes()).collect();
        prop_assert_eq!(seen, want);
    }

    /// Under loss, a subscriber receives only matching messages, in order, at most once;
    /// with subscriptions carried reliably, everything matching arrives when the
    /// network is clean.
    #[test]
    fn pub_sub_delivers_only_matching(seed in any::<u64>(), loss in 0.0f64..0.3, topics in proptest::collection::btree_set("[ab]{1,2}", 1..3)) {
        let mut sim = Sim::new(seed, loss, 0.05);
        let a = sim.node(Config::default());
        let b = sim.node(Config::default());
        let p = sim.socket(a, T::Pub, udp_opts(SocketOptions::default().with_sndhwm(0)));
        let s = sim.socket(b, T::Sub, udp_opts(SocketOptions::default()));
        sim.bind(p, "127.0.0.1:6000");
        sim.connect(s, "127.0.0.1:6000", false);
        for t in &topics {
            let mut f = vec![1u8];
            f.extend_from_slice(t.as_bytes());
            sim.send(s, Msg::single(Bytes::from(f)));
        }
        // Subscriptions are reliable: wait until the publisher knows them all.
        let want_subs = topics.len();
        let ok = sim.run_until(Duration::from_secs(30), |sim| {
            let app = sim.app(p);
            while let Some(m) = app.v.pop_to_app() { app.got.push_back(m); }
            app.got.len() >= want_subs
        });
        prop_assert!(ok, "subscriptions never arrived (seed {})", seed);
        let published: Vec<String> = (0..60).map(|i| format!("{}{i}", ["a", "b", "ab", "ba", "c"][i % 5])).collect();
        for m in &published {
            sim.send(p, Msg::single(Bytes::from(m.clone())));
        }
        sim.run_until(Duration::from_secs(2), |_| false);
        let mut got = Vec::new();
        while let Some(m) = sim.recv(s) {
            got.push(String::from_utf8(body(&m)).unwrap());
        }
        let matching: Vec<String> = published.iter().filter(|m| topics.iter().any(|t| m.starts_with(t.as_str()))).cloned().collect();
        // got is a subsequence of matching (in order, no duplicates, nothing else).
        let mut it = matching.iter();
        for g in &got {
            prop_assert!(it.any(|m| m == g), "{g} out of order, duplicated or not matching");
        }
        if loss == 0.0 {
            prop_assert_eq!(got, matching);
        }
    }

    /// A silent partition kills both sides' peerings within interval + timeout.
    #[test]
    fn peer_death_within_heartbeat_timeout(seed in any::<u64>(), ivl_ms in 50u64..400, timeout_ms in 100u64..1000) {
        let mut sim = Sim::new(seed, 0.0, 0.0);
        let a = sim.node(Config::default());
        let b = sim.node(Config::default());
        let o = SocketOptions::default().with_heartbeat_ivl(Some(Duration::from_millis(ivl_ms))).with_heartbeat_timeout(Some(Duration::from_millis(timeout_ms)));
        let x = sim.socket(a, T::Pair, udp_opts(o.clone()));
        let y = sim.socket(b, T::Pair, udp_opts(o));
        let addr = sim.bind(x, "127.0.0.1:7000");
        let me = sim.connect(y, "127.0.0.1:7000", false);
        prop_assert!(sim.run_until(Duration::from_secs(5), |s| s.peers(x) == 1 && s.peers(y) == 1));
        sim.run_until(Duration::from_millis(3 * ivl_ms), |_| false);
        prop_assert!(sim.peers(x) == 1 && sim.peers(y) == 1, "healthy peering kept");
        sim.cut.insert(addr);
        sim.cut.insert(me);
        let start = sim.now;
        let bound = Duration::from_millis(ivl_ms + timeout_ms + 50);
        prop_assert!(sim.run_until(bound * 2, |s| s.peers(x) == 0 && s.peers(y) == 0));
        prop_assert!(sim.now - start <= bound, "took {:?} > {:?}", sim.now - start, bound);
    }
}

#[test]
fn broadcast_discovers_every_server() {
    let mut sim = Sim::new(1, 0.0, 0.0);
    let client_node = sim.node(Config::default());
    let c = sim.socket(client_node, T::Dealer, udp_opts(SocketOptions::default()));
    let mut servers = Vec::new();
    for i in 0..3 {
        let n = sim.node(Config::default());
        let s = sim.socket(n, T::Router, udp_opts(SocketOptions::default()));
        sim.bind(s, &format!("127.0.0.{}:8000", 10 + i));
        servers.push(s);
    }
    sim.connect(c, "127.255.255.255:8000", true);
    assert!(sim.run_until(Duration::from_secs(5), |s| s.peers(c) == 3));
    // A late joiner is found by the periodic OHAI.
    let n = sim.node(Config::default());
    let late = sim.socket(n, T::Router, udp_opts(SocketOptions::default()));
    sim.bind(late, "127.0.0.20:8000");
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.peers(c) == 4),
        "late server found"
    );
}

#[test]
fn sanity_the_loss_is_real() {
    let mut total_dropped = 0;
    for seed in 0..5 {
        let mut sim = Sim::new(seed, 0.3, 0.05);
        let a = sim.node(Config::default());
        let b = sim.node(Config::default());
        let rep = sim.socket(b, T::Rep, udp_opts(SocketOptions::default()));
        let r = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
        sim.bind(rep, "127.0.0.2:5555");
        sim.connect(r, "127.0.0.2:5555", false);
        assert!(sim.run_until(Duration::from_secs(30), |s| s.peers(r) == 1));
        for i in 0..20 {
            sim.send(r, req(format!("{i}").as_bytes()));
            assert!(sim.run_until(Duration::from_secs(60), |s| {
                if let Some(g) = s.recv(rep) {
                    let mut out = Msg::from_frames([g.frames()[0].clone(), Bytes::new()]);
                    out.push(Bytes::from_static(b"a"));
                    s.send(rep, out);
                }
                s.recv(r).is_some()
            }));
        }
        total_dropped += sim.dropped;
    }
    assert!(total_dropped > 20);
}

/// NOM-2 flow control (§6.4): a PUSH to a PULL whose application stalls is held back by
/// the window instead of losing messages at the receiver; when the application reads
/// again, everything arrives, in order, once.
#[test]
fn slow_consumer_is_flow_controlled_not_dropped() {
    let mut sim = Sim::new(7, 0.0, 0.0);
    // No reordering either: NOM-2 drops late datagrams (ordered, at most once).
    sim.delay = (1, 1);
    let a = sim.node(Config::default());
    let b = sim.node(Config::default());
    let push = sim.socket(
        a,
        T::Push,
        udp_opts(SocketOptions::default().with_sndhwm(100)),
    );
    let pull = sim.socket(
        b,
        T::Pull,
        udp_opts(SocketOptions::default().with_rcvhwm(50)),
    );
    sim.bind(pull, "127.0.0.2:7100");
    sim.connect(push, "127.0.0.2:7100", false);
    assert!(sim.run_until(Duration::from_secs(5), |s| s.peers(push) == 1));
    sim.app(pull).reading = false;
    let mut sent = 0u32;
    // Send until PUSH blocks (its SNDHWM and the window are full).
    while sim.send(push, Msg::single(Bytes::from(sent.to_be_bytes().to_vec()))) {
        sent += 1;
        sim.step();
        assert!(sent < 100_000, "PUSH never blocked on a stalled consumer");
    }
    sim.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(
        sim.app(pull).v.stats().dropped_app_full,
        0,
        "no drops at the receiver"
    );
    sim.app(pull).reading = true;
    let ok = sim.run_until(Duration::from_secs(10), |s| {
        s.app(pull).got.len() == sent as usize
    });
    if !ok {
        let st = sim.app(pull).v.stats().clone();
        panic!(
            "sent {sent}, got {}, to_app {}, pull stats {st:?}, push stats {:?}",
            sim.app(pull).got.len(),
            sim.app(pull).v.to_app_len(),
            sim.app(push).v.stats()
        );
    }
    let got: Vec<u32> = sim
        .app(pull)
        .got
        .iter()
        .map(|m| u32::from_be_bytes(body(m).try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..sent).collect::<Vec<_>>());
}
