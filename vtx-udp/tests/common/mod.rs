//! The simulated datagram network shared by the sans-IO NOM-2 tests: real engines and
//! Vockets, a virtual clock, and seeded loss, duplication, reordering and delay.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use vtx_emul::pattern::{Action, Flow, Input, PeerId, PeerInfo, Refusal, Vocket};
use vtx_emul::testing::net::advance;
use vtx_emul::{Msg, SocketOptions, SocketType as T};
use vtx_udp::host::{self, Host};
use vtx_udp::nom2::{Config, Engine, LocalId, Owner};

/// One socket's Vocket and what its application received.
pub struct App {
    pub v: Vocket,
    pub got: VecDeque<Msg>,
    /// Peerings with transmits left behind a closed window.
    pub blocked: Vec<(PeerId, u64)>,
    /// The application reads its pipe (false: a stalled consumer).
    pub reading: bool,
}

#[derive(Default)]
pub struct Apps {
    pub apps: HashMap<u64, App>,
    pub failures: u64,
    /// What each failure was.
    pub failed: Vec<vtx_udp::nom2::Failure>,
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
    fn failure(&mut self, _sock: u64, _addr: std::net::SocketAddr, what: vtx_udp::nom2::Failure) {
        self.failures += 1;
        self.failed.push(what);
    }
}

thread_local! {
    static NOW: std::cell::Cell<Instant> = std::cell::Cell::new(Instant::now());
}

pub struct Node {
    pub engine: Engine,
    pub apps: Apps,
}

/// The simulated network.
pub struct Sim {
    pub now: Instant,
    pub rng: StdRng,
    pub nodes: Vec<Node>,
    /// Address -> (node, local).
    pub addrs: HashMap<SocketAddr, (usize, LocalId)>,
    pub locals: HashMap<(usize, LocalId), SocketAddr>,
    pub in_flight: Vec<(Instant, u64, SocketAddr, SocketAddr, Bytes)>,
    pub order: u64,
    pub loss: f64,
    pub dup: f64,
    pub delay: (u64, u64),
    /// Addresses whose datagrams are dropped (a partition).
    pub cut: BTreeSet<SocketAddr>,
    pub next_sock: u64,
    pub next_port: u16,
    pub sent: u64,
    pub dropped: u64,
}

impl Sim {
    pub fn new(seed: u64, loss: f64, dup: f64) -> Sim {
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

    pub fn node(&mut self, cfg: Config) -> usize {
        let seed = self.rng.random();
        self.nodes.push(Node {
            engine: Engine::new(cfg, seed, self.now),
            apps: Apps::default(),
        });
        self.nodes.len() - 1
    }

    pub fn socket(&mut self, node: usize, ty: T, opts: SocketOptions) -> (usize, u64) {
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

    pub fn owner(&self, (node, sock): (usize, u64)) -> Owner {
        let v = &self.nodes[node].apps.apps[&sock].v;
        Owner {
            sock,
            socket_type: v.socket_type(),
            identity: Bytes::new(),
        }
    }

    pub fn bind(&mut self, s: (usize, u64), addr: &str) -> SocketAddr {
        let addr: SocketAddr = addr.parse().unwrap();
        let owner = self.owner(s);
        let local = self.nodes[s.0].engine.add_local(owner, true);
        self.addrs.insert(addr, (s.0, local));
        self.locals.insert((s.0, local), addr);
        addr
    }

    pub fn connect(&mut self, s: (usize, u64), target: &str, broadcast: bool) -> SocketAddr {
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

    pub fn app(&mut self, (node, sock): (usize, u64)) -> &mut App {
        self.nodes[node].apps.apps.get_mut(&sock).unwrap()
    }

    pub fn send(&mut self, s: (usize, u64), msg: Msg) -> bool {
        let now = self.now;
        let a = self.app(s);
        if !a.v.can_send() {
            return false;
        }
        a.v.handle_app(msg, now);
        true
    }

    pub fn recv(&mut self, s: (usize, u64)) -> Option<Msg> {
        self.app(s).got.pop_front()
    }

    pub fn peers(&mut self, s: (usize, u64)) -> usize {
        self.app(s).v.peer_count()
    }

    /// Vocket outputs into the engine; engine output onto the wire.
    pub fn pump(&mut self, n: usize) {
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

    pub fn deliver(&mut self, dst: SocketAddr, src: SocketAddr, data: Bytes) {
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

    pub fn step(&mut self) {
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
        self.now = advance(now, Duration::from_millis(5), [next_flight, next_timer]);
    }

    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Sim) -> bool) -> bool {
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

pub fn udp_opts(mut o: SocketOptions) -> SocketOptions {
    o.heartbeat_ivl = o.heartbeat_ivl.or(Some(vtx_udp::DEFAULT_HEARTBEAT_IVL));
    o.heartbeat_timeout = o
        .heartbeat_timeout
        .or(Some(vtx_udp::DEFAULT_HEARTBEAT_TIMEOUT));
    o.req_resend_ivl = o.req_resend_ivl.or(Some(Duration::from_millis(100)));
    o
}

pub fn req(b: &[u8]) -> Msg {
    Msg::from_frames([Bytes::new(), Bytes::copy_from_slice(b)])
}

pub fn body(m: &Msg) -> Vec<u8> {
    m.frames().last().map(|b| b.to_vec()).unwrap_or_default()
}
