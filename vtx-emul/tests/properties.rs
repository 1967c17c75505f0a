//! Property tests: Vockets against small reference models, on a seeded in-memory net.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use vtx_emul::pattern::{Action, Flow, Input, PeerId, PeerInfo, Transmit, Vocket};
use vtx_emul::testing::net::{Faults, Net};
use vtx_emul::{Msg, SocketOptions, SocketType as T};

fn m(b: &[u8]) -> Msg {
    Msg::single(Bytes::copy_from_slice(b))
}

fn body(msg: &Msg) -> Vec<u8> {
    msg.frames().last().map(|b| b.to_vec()).unwrap_or_default()
}

fn req(b: &[u8]) -> Msg {
    Msg::from_frames([Bytes::new(), Bytes::copy_from_slice(b)])
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// PUSH delivers every message exactly once, in order per peer, while peers are live,
    /// whatever the HWM and however the receiving applications stall.
    #[test]
    fn push_delivers_each_message_exactly_once(
        seed in any::<u64>(),
        pulls in 1usize..5,
        hwm in 1usize..20,
        rcvhwm in 1usize..20,
        n in 1usize..200,
        stalls in proptest::collection::vec(any::<bool>(), 8),
    ) {
        let mut net = Net::new(seed);
        let push = net.add(T::Push, SocketOptions::default().with_sndhwm(hwm));
        let nodes: Vec<_> = (0..pulls).map(|_| net.add(T::Pull, SocketOptions::default().with_rcvhwm(rcvhwm))).collect();
        for &p in &nodes {
            net.connect(push, p, false, Faults::none()).unwrap();
        }
        let mut sent = 0;
        let mut round = 0;
        while sent < n {
            if net.app_send(push, m(&(sent as u32).to_be_bytes())) {
                sent += 1;
            } else {
                net.step();
            }
            round += 1;
            if round % 16 == 0 {
                for (i, &p) in nodes.iter().enumerate() {
                    net.set_reading(p, !stalls[(round / 16 + i) % stalls.len()]);
                }
            }
        }
        for &p in &nodes {
            net.set_reading(p, true);
        }
        net.settle(Duration::from_secs(5));
        let mut all = Vec::new();
        for &p in &nodes {
            let got: Vec<u32> = net.app_drain(p).iter().map(|m| u32::from_be_bytes(body(m).try_into().unwrap())).collect();
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]), "order per peer: {got:?}");
            all.extend(got);
        }
        all.sort_unstable();
        prop_assert_eq!(all, (0..n as u32).collect::<Vec<_>>());
    }

    /// Every subscriber gets exactly the published messages that match one of its
    /// prefixes, in publish order, each once.
    #[test]
    fn pub_sub_matches_prefix_model(
        seed in any::<u64>(),
        subs in proptest::collection::vec(proptest::collection::btree_set("[ab]{0,3}", 0..4), 1..5),
        msgs in proptest::collection::vec("[ab]{0,5}", 0..60),
    ) {
        let mut net = Net::new(seed);
        let p = net.add(T::Pub, SocketOptions::default().with_sndhwm(0));
        let nodes: Vec<_> = subs.iter().map(|_| net.add(T::Sub, SocketOptions::default())).collect();
        for (&s, topics) in nodes.iter().zip(&subs) {
            net.connect(p, s, false, Faults::none()).unwrap();
            for t in topics {
                let mut f = vec![1u8];
                f.extend_from_slice(t.as_bytes());
                net.app_send(s, m(&f));
            }
        }
        net.settle(Duration::from_secs(1));
        for msg in &msgs {
            net.app_send(p, m(msg.as_bytes()));
        }
        net.settle(Duration::from_secs(1));
        for (&s, topics) in nodes.iter().zip(&subs) {
            let want: Vec<Vec<u8>> = msgs
                .iter()
                .filter(|msg| topics.iter().any(|t| msg.starts_with(t.as_str())))
                .map(|msg| msg.as_bytes().to_vec())
                .collect();
            let got: Vec<Vec<u8>> = net.app_drain(s).iter().map(body).collect();
            prop_assert_eq!(got, want);
        }
    }

    /// Replaying the subscription messages a PUB's pipe receives through libzmq's XSUB
    /// refcounting yields exactly the union of the subscribers' current subscriptions.
    #[test]
    fn pub_pipe_union_matches_model(
        seed in any::<u64>(),
        ops in proptest::collection::vec((0usize..3, any::<bool>(), "[xy]{0,2}"), 0..40),
        drop_one in any::<bool>(),
    ) {
        let mut net = Net::new(seed);
        let p = net.add(T::Pub, SocketOptions::default());
        let nodes: Vec<_> = (0..3).map(|_| net.add(T::Sub, SocketOptions::default())).collect();
        let links: Vec<_> = nodes.iter().map(|&s| net.connect(p, s, false, Faults::none()).unwrap()).collect();
        let mut model: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 3];
        for (who, on, topic) in &ops {
            let mut f = vec![u8::from(*on)];
            f.extend_from_slice(topic.as_bytes());
            net.app_send(nodes[*who], m(&f));
            if *on { model[*who].insert(topic.clone()); } else { model[*who].remove(topic); }
        }
        net.settle(Duration::from_secs(1));
        if drop_one {
            net.disconnect(links[0]);
            model[0].clear();
            net.settle(Duration::from_secs(1));
        }
        let mut refcount: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        for msg in net.app_drain(p) {
            let f = &msg.frames()[0];
            let delta = if f[0] == 1 { 1 } else { -1 };
            *refcount.entry(f[1..].to_vec()).or_default() += delta;
        }
        prop_assert!(refcount.values().all(|&c| c >= 0), "never cancels more than it subscribed");
        let union: BTreeSet<Vec<u8>> = refcount.into_iter().filter(|(_, c)| *c > 0).map(|(t, _)| t).collect();
        let want: BTreeSet<Vec<u8>> = model.iter().flatten().map(|t| t.as_bytes().to_vec()).collect();
        prop_assert_eq!(union, want);
    }

    /// Over a lossy, duplicating, reordering link, every request gets exactly one reply
    /// and the REP application sees each request exactly once.
    #[test]
    fn req_rep_exactly_once_under_loss(
        seed in any::<u64>(),
        loss in 0.0f64..0.3,
        dup in 0.0f64..0.2,
        n in 1usize..25,
    ) {
        let mut net = Net::new(seed);
        let r = net.add(T::Req, SocketOptions::default().with_req_resend_ivl(Some(Duration::from_millis(50))));
        let p = net.add(T::Rep, SocketOptions::default());
        net.connect(r, p, true, Faults::lossy(loss, dup)).unwrap();
        let mut seen_by_rep = Vec::new();
        for i in 0..n {
            let q = format!("q{i}");
            prop_assert!(net.app_send(r, req(q.as_bytes())));
            let deadline = net.now + Duration::from_secs(60);
            let reply = loop {
                net.step();
                while let Some(got) = net.app_recv(p) {
                    seen_by_rep.push(body(&got));
                    let mut reply = Msg::from_frames([got.frames()[0].clone(), Bytes::new()]);
                    reply.push(Bytes::from(format!("a{}", String::from_utf8_lossy(&body(&got))[1..].to_owned())));
                    net.app_send(p, reply);
                }
                if let Some(a) = net.app_recv(r) {
                    break a;
                }
                prop_assert!(net.now < deadline, "request {i} unanswered");
            };
            prop_assert_eq!(body(&reply), format!("a{i}").into_bytes());
            // A late duplicate must not surface as a second reply.
            net.run_for(Duration::from_millis(100));
            prop_assert!(net.app_recv(r).is_none(), "second reply to request {}", i);
        }
        let want: Vec<Vec<u8>> = (0..n).map(|i| format!("q{i}").into_bytes()).collect();
        prop_assert_eq!(seen_by_rep, want);
    }

    /// A ROUTER echoing to the identity frame reaches exactly the dealer that sent.
    #[test]
    fn router_routes_replies_to_sender(
        seed in any::<u64>(),
        sends in proptest::collection::vec((0usize..4, any::<u16>()), 1..80),
    ) {
        let mut net = Net::new(seed);
        let router = net.add(T::Router, SocketOptions::default());
        let dealers: Vec<_> = (0..4).map(|_| net.add(T::Dealer, SocketOptions::default())).collect();
        for (i, &d) in dealers.iter().enumerate() {
            let ident = if i % 2 == 0 { Some(format!("d{i}")) } else { None };
            net.connect_with_identities(router, d, None, ident.as_deref().map(str::as_bytes), false, Faults::none()).unwrap();
        }
        for &(who, x) in &sends {
            net.app_send(dealers[who], m(&[&[who as u8][..], &x.to_be_bytes()].concat()));
        }
        net.settle(Duration::from_secs(1));
        for msg in net.app_drain(router) {
            net.app_send(router, msg);
        }
        net.settle(Duration::from_secs(1));
        for (i, &d) in dealers.iter().enumerate() {
            let got: Vec<Vec<u8>> = net.app_drain(d).iter().map(body).collect();
            let want: Vec<Vec<u8>> = sends
                .iter()
                .filter(|(w, _)| *w == i)
                .map(|&(w, x)| [&[w as u8][..], &x.to_be_bytes()].concat())
                .collect();
            prop_assert_eq!(got, want);
        }
    }

    /// Heartbeats detect a silent partition within interval + timeout.
    #[test]
    fn heartbeat_detects_partition_in_bounded_time(
        seed in any::<u64>(),
        ivl_ms in 20u64..500,
        timeout_ms in 20u64..1000,
        before_ms in 0u64..2000,
    ) {
        let o = SocketOptions::default().with_heartbeat_ivl(Some(Duration::from_millis(ivl_ms))).with_heartbeat_timeout(Some(Duration::from_millis(timeout_ms)));
        let mut net = Net::new(seed);
        let a = net.add(T::Pair, o.clone());
        let b = net.add(T::Pair, o);
        let l = net.connect(a, b, false, Faults::none()).unwrap();
        net.run_for(Duration::from_millis(before_ms));
        prop_assert!(net.is_up(l), "alive while answering");
        net.partition(l);
        let start = net.now;
        let bound = Duration::from_millis(ivl_ms + timeout_ms + 20);
        while net.is_up(l) && net.now < start + bound * 2 {
            net.step();
        }
        prop_assert!(!net.is_up(l));
        prop_assert!(net.now - start <= bound, "took {:?}, bound {:?}", net.now - start, bound);
    }

    /// DEALER spreads evenly over peers that can take messages.
    #[test]
    fn dealer_spreads_evenly(seed in any::<u64>(), peers in 1usize..6, n in 0usize..100) {
        let mut net = Net::new(seed);
        let d = net.add(T::Dealer, SocketOptions::default().with_sndhwm(0));
        let nodes: Vec<_> = (0..peers).map(|_| net.add(T::Dealer, SocketOptions::default())).collect();
        for &x in &nodes {
            net.connect(d, x, false, Faults::none()).unwrap();
        }
        for i in 0..n {
            prop_assert!(net.app_send(d, m(&(i as u32).to_be_bytes())));
        }
        net.settle(Duration::from_secs(1));
        let counts: Vec<usize> = nodes.iter().map(|&x| net.app_drain(x).len()).collect();
        prop_assert_eq!(counts.iter().sum::<usize>(), n);
        let (lo, hi) = (counts.iter().min().copied().unwrap_or(0), counts.iter().max().copied().unwrap_or(0));
        prop_assert!(hi - lo <= 1, "{counts:?}");
    }
}

/// One random operation on a Vocket.
#[derive(Clone, Debug)]
enum Op {
    Up(u8, Option<Vec<u8>>, bool),
    Down(usize),
    Msg(usize, Vec<Vec<u8>>, Option<u32>),
    Sub(usize, bool, Vec<u8>),
    Ping(usize, u16),
    App(Vec<Vec<u8>>),
    Time(u16),
    Drain(usize),
    AppRead(u8),
}

fn op() -> impl Strategy<Value = Op> {
    let frames = proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..4);
    prop_oneof![
        (
            0u8..11,
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
            any::<bool>()
        )
            .prop_map(|(t, id, lossy)| Op::Up(t, id, lossy)),
        any::<usize>().prop_map(Op::Down),
        (
            any::<usize>(),
            frames.clone(),
            proptest::option::of(0u32..4)
        )
            .prop_map(|(p, f, s)| Op::Msg(p, f, s)),
        (
            any::<usize>(),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..4)
        )
            .prop_map(|(p, on, t)| Op::Sub(p, on, t)),
        (any::<usize>(), any::<u16>()).prop_map(|(p, t)| Op::Ping(p, t)),
        frames.prop_map(Op::App),
        any::<u16>().prop_map(Op::Time),
        any::<usize>().prop_map(Op::Drain),
        any::<u8>().prop_map(Op::AppRead),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Garbage in any order never panics any pattern, and its queues stay bounded, as a
    /// transport sees them: a transport that asks before reading (`admit`), stops
    /// reading a peering it was told to pause and reads it again on Resume never has
    /// more waiting for the application than RCVHWM (twice that for the subscription
    /// notices of a peering that cannot be paused) and the cancels a departing
    /// subscriber leaves; the live peerings are exactly those the transport brought up
    /// and has not been told to close.
    #[test]
    fn random_events_never_panic_and_stay_bounded(
        ty in 0u8..11,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let hwm = 8;
        let rcvhwm = 8;
        let opts = SocketOptions::default().with_sndhwm(hwm).with_rcvhwm(rcvhwm).with_heartbeat_ivl(Some(Duration::from_millis(100))).with_req_resend_ivl(Some(Duration::from_millis(30))).with_max_peers(6);
        let mut v = Vocket::new(T::from_raw(ty).unwrap(), opts);
        let mut now = Instant::now();
        // The transport's view: live peerings by conn, and which it stopped reading.
        let mut live: BTreeMap<u64, PeerId> = BTreeMap::new();
        let mut paused: BTreeSet<u64> = BTreeSet::new();
        let mut subs: BTreeMap<u64, BTreeSet<Vec<u8>>> = BTreeMap::new();
        let mut cancels = 0usize;
        let mut conn = 0u64;
        let pick = |live: &BTreeMap<u64, PeerId>, i: usize| {
            if live.is_empty() { None } else { live.iter().nth(i % live.len()).map(|(&c, &p)| (c, p)) }
        };
        let publisher = matches!(T::from_raw(ty).unwrap(), T::Pub | T::XPub);
        for op in ops {
            match op {
                Op::Up(t, id, lossy) => {
                    conn += 1;
                    let info = PeerInfo::new(T::from_raw(t).unwrap(), format!("t://{conn}"), conn)
                        .with_identity(id.map(Bytes::from))
                        .lossy(lossy);
                    if let Ok(p) = v.handle_peer_up(info, now) {
                        live.insert(conn, p);
                    }
                }
                Op::Down(i) => {
                    if let Some((c, p)) = pick(&live, i) {
                        v.handle_peer_down(p, now);
                        live.remove(&c);
                        paused.remove(&c);
                        if publisher {
                            cancels += subs.remove(&c).map_or(0, |s| s.len());
                        }
                    }
                }
                Op::Msg(i, f, seq) => {
                    if let Some((c, p)) = pick(&live, i).filter(|(c, _)| !paused.contains(c)) {
                        if v.admit(p) == Flow::Pause
                            || v.handle_input(p, Input::Message { msg: Msg::from_frames(f), seq }, now) == Flow::Pause
                        {
                            paused.insert(c);
                        }
                    }
                }
                Op::Sub(i, on, t) => {
                    if let Some((c, p)) = pick(&live, i).filter(|(c, _)| !paused.contains(c)) {
                        let topic = Bytes::from(t.clone());
                        let input = if on { Input::Subscribe(topic) } else { Input::Cancel(topic) };
                        if v.admit(p) == Flow::Pause || v.handle_input(p, input, now) == Flow::Pause {
                            paused.insert(c);
                        }
                        if v.peer_info(p).is_some() {
                            let set = subs.entry(c).or_default();
                            if on { set.insert(t); } else { set.remove(&t); }
                        }
                    }
                }
                Op::Ping(i, ttl) => {
                    if let Some((_, p)) = pick(&live, i) {
                        let ttl = Some(Duration::from_millis(u64::from(ttl)));
                        v.handle_input(p, Input::Ping { ttl, context: Bytes::new() }, now);
                    }
                }
                Op::App(f) => {
                    if v.can_send() {
                        v.handle_app(Msg::from_frames(f), now);
                    }
                }
                Op::Time(ms) => {
                    now += Duration::from_millis(u64::from(ms % 500));
                    v.handle_timeout(now);
                }
                Op::Drain(i) => {
                    if let Some((_, p)) = pick(&live, i) {
                        let mut data = 0;
                        while let Some(t) = v.poll_transmit(p) {
                            if matches!(t, Transmit::Message { .. }) {
                                data += 1;
                            }
                        }
                        prop_assert!(data <= hwm + 1, "peer queue over SNDHWM: {data}");
                    }
                    while v.poll_ready().is_some() {}
                    while v.poll_event().is_some() {}
                }
                Op::AppRead(n) => {
                    for _ in 0..n % 8 {
                        v.pop_to_app();
                    }
                }
            }
            // What the Vocket asks of the transport, as it would be done at once.
            while let Some(a) = v.poll_action() {
                match a {
                    Action::Close { conn, .. } => {
                        prop_assert!(live.remove(&conn).is_some(), "closed an unknown peering {conn}");
                        paused.remove(&conn);
                        if publisher {
                            cancels += subs.remove(&conn).map_or(0, |s| s.len());
                        }
                    }
                    Action::Resume { conn } => {
                        paused.remove(&conn);
                    }
                }
            }
            // RCVHWM holds per peering, as libzmq's per pipe; what peerings that went
            // down left is capped as one peering's hard limit.
            for (&c, &p) in &live {
                prop_assert!(v.inbox_len(p) <= 2 * rcvhwm, "inbox of {c}: {} over {}", v.inbox_len(p), 2 * rcvhwm);
            }
            let bound = live.len() * 2 * rcvhwm + (rcvhwm + 1024) + cancels;
            prop_assert!(v.to_app_len() <= bound, "to_app {} over {bound}", v.to_app_len());
            prop_assert_eq!(v.peer_count(), live.len(), "live peerings differ from the transport's");
            prop_assert!(v.peer_count() <= 6, "max_peers passed");
            if let Some(t) = v.poll_timeout() {
                prop_assert!(t >= now - Duration::from_secs(1000));
            }
        }
    }
}
