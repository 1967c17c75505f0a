//! NOM-2 sans-IO on a simulated datagram network: real engines and Vockets, a virtual
//! clock, and seeded loss, duplication, reordering and delay.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vtx_emul::pattern::{Action, Flow, Input, PeerId, PeerInfo, Refusal, Vocket};
use vtx_emul::{Msg, SocketOptions, SocketType as T};
use vtx_udp::host::{self, Host};
use vtx_udp::nom2::{Config, Engine, LocalId, Owner};

/// One socket's Vocket and what its application received.
struct App {
    v: Vocket,
    got: VecDeque<Msg>,
    /// Peerings with transmits left behind a closed window.
    blocked: Vec<(PeerId, u64)>,
    /// The application reads its pipe (false: a stalled consumer).
    reading: bool,
}

#[derive(Default)]
struct Apps {
    apps: HashMap<u64, App>,
    failures: u64,
}

impl Host for Apps {
    fn peer_up(&mut self, sock: u64, info: PeerInfo) -> Result<PeerId, Refusal> {
        let now = NOW.with(|n| n.get());
        self.apps
            .get_mut(&sock)
            .ok_or(Refusal::Closing)?
            .v
            .handle_peer_up(info, now)
    }
    fn input(&mut self, sock: u64, peer: PeerId, input: Input) -> Flow {
        let now = NOW.with(|n| n.get());
        match self.apps.get_mut(&sock) {
            Some(a) => a.v.handle_input(peer, input, now),
            None => Flow::Continue,
        }
    }
    fn writable(&mut self, _peering: u64) {
        // The simulation retries blocked peerings every step.
    }
    fn peer_down(&mut self, sock: u64, peer: PeerId) {
        let now = NOW.with(|n| n.get());
        if let Some(a) = self.apps.get_mut(&sock) {
            a.v.handle_peer_down(peer, now);
        }
    }
    fn failure(&mut self, _sock: u64, _address: &str, _what: &str) {
        self.failures += 1;
    }
}

thread_local! {
    static NOW: std::cell::Cell<Instant> = std::cell::Cell::new(Instant::now());
}

struct Node {
    engine: Engine,
    apps: Apps,
}

/// The simulated network.
struct Sim {
    now: Instant,
    rng: StdRng,
    nodes: Vec<Node>,
    /// Address -> (node, local).
    addrs: HashMap<SocketAddr, (usize, LocalId)>,
    locals: HashMap<(usize, LocalId), SocketAddr>,
    in_flight: Vec<(Instant, u64, SocketAddr, SocketAddr, Bytes)>,
    order: u64,
    loss: f64,
    dup: f64,
    delay: (u64, u64),
    /// Addresses whose datagrams are dropped (a partition).
    cut: BTreeSet<SocketAddr>,
    next_sock: u64,
    next_port: u16,
    sent: u64,
    dropped: u64,
}

impl Sim {
    fn new(seed: u64, loss: f64, dup: f64) -> Sim {
        let now = Instant::now();
        Sim {
            now,
            rng: StdRng::seed_from_u64(seed),
            nodes: Vec::new(),
            addrs: HashMap::new(),
            locals: HashMap::new(),
            in_flight: Vec::new(),
            order: 0,
            loss,
            dup,
            delay: (1, 20),
            cut: BTreeSet::new(),
            next_sock: 1,
            next_port: 40000,
            sent: 0,
            dropped: 0,
        }
    }

    fn node(&mut self, cfg: Config) -> usize {
        let seed = self.rng.random();
        self.nodes.push(Node {
            engine: Engine::new(cfg, seed, self.now),
            apps: Apps::default(),
        });
        self.nodes.len() - 1
    }

    fn socket(&mut self, node: usize, ty: T, opts: SocketOptions) -> (usize, u64) {
        let sock = self.next_sock;
        self.next_sock += 1;
        self.nodes[node].apps.apps.insert(
            sock,
            App {
                v: Vocket::new(ty, opts),
                got: VecDeque::new(),
                blocked: Vec::new(),
                reading: true,
            },
        );
        (node, sock)
    }

    fn owner(&self, (node, sock): (usize, u64)) -> Owner {
        let v = &self.nodes[node].apps.apps[&sock].v;
        Owner {
            sock,
            socket_type: v.socket_type(),
            identity: Bytes::new(),
        }
    }

    fn bind(&mut self, s: (usize, u64), addr: &str) -> SocketAddr {
        let addr: SocketAddr = addr.parse().unwrap();
        let owner = self.owner(s);
        let local = self.nodes[s.0].engine.add_local(owner, true);
        self.addrs.insert(addr, (s.0, local));
        self.locals.insert((s.0, local), addr);
        addr
    }

    fn connect(&mut self, s: (usize, u64), target: &str, broadcast: bool) -> SocketAddr {
        let owner = self.owner(s);
        let local = self.nodes[s.0].engine.add_local(owner, false);
        self.next_port += 1;
        let me: SocketAddr = format!("127.0.0.{}:{}", s.0 + 1, self.next_port)
            .parse()
            .unwrap();
        self.addrs.insert(me, (s.0, local));
        self.locals.insert((s.0, local), me);
        let now = self.now;
        self.nodes[s.0].engine.connect(
            local,
            target.parse().unwrap(),
            broadcast,
            Duration::from_millis(100),
            now,
        );
        me
    }

    fn app(&mut self, (node, sock): (usize, u64)) -> &mut App {
        self.nodes[node].apps.apps.get_mut(&sock).unwrap()
    }

    fn send(&mut self, s: (usize, u64), msg: Msg) -> bool {
        let now = self.now;
        let a = self.app(s);
        if !a.v.can_send() {
            return false;
        }
        a.v.handle_app(msg, now);
        true
    }

    fn recv(&mut self, s: (usize, u64)) -> Option<Msg> {
        self.app(s).got.pop_front()
    }

    fn peers(&mut self, s: (usize, u64)) -> usize {
        self.app(s).v.peer_count()
    }

    /// Vocket outputs into the engine; engine output onto the wire.
    fn pump(&mut self, n: usize) {
        let now = self.now;
        let node = &mut self.nodes[n];
        for app in node.apps.apps.values_mut() {
            while app.reading
                && let Some(m) = app.v.pop_to_app()
            {
                app.got.push_back(m);
            }
            while let Some(a) = app.v.poll_action() {
                match a {
                    Action::Close { conn, .. } => node.engine.close(conn, now),
                    Action::Resume { conn } => node.engine.resume(conn),
                }
            }
            while app.v.poll_event().is_some() {}
            while let Some(ready) = app.v.poll_ready() {
                app.blocked.push(ready);
            }
            // Pull while the window allows (NOM-2 §6.4); the rest waits for a WINDOW.
            for (peer, conn) in std::mem::take(&mut app.blocked) {
                let mut more = true;
                while node.engine.can_send(conn) {
                    match app.v.poll_transmit(peer) {
                        Some(t) => {
                            node.engine.send(conn, t, now);
                        }
                        None => {
                            more = false;
                            break;
                        }
                    }
                }
                node.engine.flush(conn);
                if more && app.v.peer_info(peer).is_some() {
                    node.engine.blocked(conn, now);
                    app.blocked.push((peer, conn));
                }
            }
        }
        while let Some(b) = node.engine.peek_batch() {
            let src = self.locals[&(n, b.local)];
            for d in b.buf.chunks(b.seg.max(1)) {
                self.sent += 1;
                let copies = if self.cut.contains(&src)
                    || self.cut.contains(&b.dst)
                    || self.rng.random_bool(self.loss)
                {
                    self.dropped += 1;
                    0
                } else if self.rng.random_bool(self.dup) {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    let delay =
                        Duration::from_millis(self.rng.random_range(self.delay.0..=self.delay.1));
                    self.order += 1;
                    self.in_flight.push((
                        now + delay,
                        self.order,
                        src,
                        b.dst,
                        Bytes::copy_from_slice(d),
                    ));
                }
            }
            node.engine.pop_batch();
        }
    }

    fn deliver(&mut self, dst: SocketAddr, src: SocketAddr, data: Bytes) {
        let now = self.now;
        let targets: Vec<(usize, LocalId)> = if dst.ip().to_string().ends_with(".255") {
            // Broadcast: every bound local on the port.
            let mut t: Vec<_> = self
                .addrs
                .iter()
                .filter(|(a, _)| a.port() == dst.port())
                .map(|(_, &v)| v)
                .collect();
            t.sort_unstable();
            t
        } else {
            self.addrs.get(&dst).copied().into_iter().collect()
        };
        for (n, local) in targets {
            let node = &mut self.nodes[n];
            node.engine.handle_datagram(local, src, data.clone(), now);
            host::dispatch(&mut node.engine, &mut node.apps, "udp", now);
        }
    }

    fn step(&mut self) {
        NOW.with(|n| n.set(self.now));
        for n in 0..self.nodes.len() {
            self.pump(n);
        }
        self.in_flight.sort_by_key(|f| (f.0, f.1));
        while self.in_flight.first().is_some_and(|f| f.0 <= self.now) {
            let (_, _, src, dst, data) = self.in_flight.remove(0);
            self.deliver(dst, src, data);
        }
        let now = self.now;
        for n in 0..self.nodes.len() {
            let node = &mut self.nodes[n];
            if node.engine.poll_timeout().is_some_and(|t| t <= now) {
                node.engine.handle_timeout(now);
            }
            for app in node.apps.apps.values_mut() {
                if app.v.poll_timeout().is_some_and(|t| t <= now) {
                    app.v.handle_timeout(now);
                }
            }
            host::dispatch(&mut node.engine, &mut node.apps, "udp", now);
            self.pump(n);
        }
        let next_flight = self.in_flight.iter().map(|f| f.0).min();
        let next_timer = self
            .nodes
            .iter()
            .flat_map(|n| {
                n.engine
                    .poll_timeout()
                    .into_iter()
                    .chain(n.apps.apps.values().filter_map(|a| a.v.poll_timeout()))
            })
            .min();
        let cap = now + Duration::from_millis(5);
        let next = [next_flight, next_timer, Some(cap)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(cap);
        self.now = next.max(now + Duration::from_micros(100));
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            self.step();
            if done(self) {
                return true;
            }
        }
        false
    }
}

fn udp_opts(o: SocketOptions) -> SocketOptions {
    SocketOptions {
        heartbeat_ivl: o.heartbeat_ivl.or(Some(vtx_udp::DEFAULT_HEARTBEAT_IVL)),
        heartbeat_timeout: o
            .heartbeat_timeout
            .or(Some(vtx_udp::DEFAULT_HEARTBEAT_TIMEOUT)),
        req_resend_ivl: o.req_resend_ivl.or(Some(Duration::from_millis(100))),
        ..o
    }
}

fn req(b: &[u8]) -> Msg {
    Msg::from_frames([Bytes::new(), Bytes::copy_from_slice(b)])
}

fn body(m: &Msg) -> Vec<u8> {
    m.frames().last().map(|b| b.to_vec()).unwrap_or_default()
}

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
        let p = sim.socket(a, T::Pub, udp_opts(SocketOptions { sndhwm: 0, ..Default::default() }));
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
        let o = SocketOptions {
            heartbeat_ivl: Some(Duration::from_millis(ivl_ms)),
            heartbeat_timeout: Some(Duration::from_millis(timeout_ms)),
            ..Default::default()
        };
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
fn spoofed_ohai_ok_and_unknown_peerings_are_dropped() {
    let mut sim = Sim::new(2, 0.0, 0.0);
    let a = sim.node(Config::default());
    let c = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
    let me = sim.connect(c, "127.0.0.9:9000", false); // nobody there
    sim.run_until(Duration::from_millis(50), |_| false);
    let mut spoof = Vec::new();
    let hello = vtx_udp::nom2::wire::Hello {
        sender: 99,
        socket_type: T::Rep,
        identity: Bytes::new(),
    };
    for guess in [1u32, 2, 0xFFFF_FFFF] {
        spoof.clear();
        vtx_udp::nom2::wire::encode_hello(
            &mut spoof,
            vtx_udp::nom2::wire::Cmd::OhaiOk,
            guess,
            &hello,
        );
        sim.deliver(
            me,
            "127.0.0.66:1".parse().unwrap(),
            Bytes::from(spoof.clone()),
        );
    }
    let mut nom = Vec::new();
    vtx_udp::nom2::wire::put_header(&mut nom, vtx_udp::nom2::wire::Cmd::Nom, 1234);
    sim.deliver(me, "127.0.0.66:1".parse().unwrap(), Bytes::from(nom));
    assert_eq!(sim.peers(c), 0, "a guessed nonce must not make a peering");
    assert_eq!(sim.nodes[a].apps.failures, 4, "each counted");
}

#[test]
fn ohai_flood_past_max_peers_is_refused_and_bounded() {
    let mut sim = Sim::new(3, 0.0, 0.0);
    let a = sim.node(Config::default());
    let server = sim.socket(
        a,
        T::Router,
        udp_opts(SocketOptions {
            max_peers: 50,
            ..Default::default()
        }),
    );
    let addr = sim.bind(server, "127.0.0.1:9100");
    let hello = vtx_udp::nom2::wire::Hello {
        sender: 5,
        socket_type: T::Dealer,
        identity: Bytes::new(),
    };
    for i in 0..2000u32 {
        let mut d = Vec::new();
        vtx_udp::nom2::wire::encode_hello(
            &mut d,
            vtx_udp::nom2::wire::Cmd::Ohai,
            0,
            &vtx_udp::nom2::wire::Hello {
                sender: i + 1,
                ..hello.clone()
            },
        );
        let src: SocketAddr = format!("127.1.{}.{}:{}", i / 250, i % 250, 1000 + i)
            .parse()
            .unwrap();
        sim.deliver(addr, src, Bytes::from(d));
    }
    assert_eq!(sim.peers(server), 50);
    assert!(
        sim.nodes[a].engine.peering_count() <= 50,
        "refused OHAIs leave no state"
    );
    // Every refused one got a ROTFL.
    let mut rotfl = 0;
    while let Some(b) = sim.nodes[a].engine.peek_batch() {
        if b.buf[1] == vtx_udp::nom2::wire::Cmd::Rotfl as u8 {
            rotfl += 1;
        }
        sim.nodes[a].engine.pop_batch();
    }
    assert_eq!(rotfl, 1950);
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
        udp_opts(SocketOptions {
            sndhwm: 100,
            ..Default::default()
        }),
    );
    let pull = sim.socket(
        b,
        T::Pull,
        udp_opts(SocketOptions {
            rcvhwm: 50,
            ..Default::default()
        }),
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
