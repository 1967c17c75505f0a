//! An in-memory network of Vockets with a virtual clock and a seeded lossy link, in the
//! spirit of quinn-proto's test `Pair` and smoltcp's loopback.
//!
//! Reliable links deliver in order and honour [`Flow::Pause`] like a stream transport;
//! lossy links drop, duplicate, reorder and delay like datagrams. Every run is a
//! function of its seed.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::pattern::{Action, ConnId, Flow, Input, PeerId, PeerInfo, Refusal, Transmit, Vocket};
use crate::{Msg, SocketOptions, SocketType};

/// Index of a node (one Vocket) in the net.
pub type NodeId = usize;
/// Index of a link between two nodes.
pub type LinkId = usize;

/// How a lossy link misbehaves.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Probability of dropping each datagram.
    pub loss: f64,
    /// Probability of delivering a datagram twice.
    pub duplicate: f64,
    /// Delay range; reordering comes from independent delays.
    pub delay: (Duration, Duration),
}

impl Faults {
    /// A perfect link with a fixed 1 ms delay.
    pub fn none() -> Faults {
        Faults {
            loss: 0.0,
            duplicate: 0.0,
            delay: (Duration::from_millis(1), Duration::from_millis(1)),
        }
    }

    /// Loss and duplication with 1-20 ms of jitter (which reorders).
    pub fn lossy(loss: f64, duplicate: f64) -> Faults {
        Faults {
            loss,
            duplicate,
            delay: (Duration::from_millis(1), Duration::from_millis(20)),
        }
    }
}

struct Node {
    v: Vocket,
    /// What the application received (drained from the Vocket each step).
    app: VecDeque<Msg>,
    /// Link id by conn id (conn ids are link ids).
    links: HashMap<ConnId, LinkId>,
}

struct Side {
    node: NodeId,
    peer: PeerId,
    /// Reading paused by Flow::Pause (reliable links only).
    paused: bool,
}

struct LinkState {
    sides: [Side; 2],
    lossy: bool,
    faults: Faults,
    /// (deliver at, order, to side index, what)
    in_flight: Vec<(Instant, u64, usize, Transmit)>,
    up: bool,
}

/// Where a simulation's virtual clock goes at the end of a step: to the earliest of
/// `due` (deliveries, timers), at most `cap` after `now`, and at least 100 µs after it,
/// so that time always moves.
pub fn advance(
    now: Instant,
    cap: Duration,
    due: impl IntoIterator<Item = Option<Instant>>,
) -> Instant {
    let next = due.into_iter().flatten().min().unwrap_or(now + cap);
    next.min(now + cap).max(now + Duration::from_micros(100))
}

/// The in-memory world.
pub struct Net {
    /// Virtual time.
    pub now: Instant,
    rng: StdRng,
    nodes: Vec<Node>,
    links: Vec<LinkState>,
    order: u64,
    /// Datagrams dropped by lossy links so far.
    pub dropped: u64,
    /// Whether each node's application drains its pipe (false: a stalled application).
    reading: Vec<bool>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("nodes", &self.nodes.len())
            .field("links", &self.links.len())
            .finish()
    }
}

fn to_input(t: Transmit) -> Input {
    match t {
        Transmit::Message { msg, seq } => Input::Message { msg, seq },
        Transmit::Subscribe(s) => Input::Subscribe(s),
        Transmit::Cancel(s) => Input::Cancel(s),
        Transmit::Ping { ttl, context } => Input::Ping { ttl, context },
        Transmit::Pong { context } => Input::Pong { context },
    }
}

impl Net {
    /// An empty net whose randomness comes from `seed`.
    pub fn new(seed: u64) -> Net {
        Net {
            now: Instant::now(),
            rng: StdRng::seed_from_u64(seed),
            nodes: Vec::new(),
            links: Vec::new(),
            order: 0,
            dropped: 0,
            reading: Vec::new(),
        }
    }

    /// Adds a socket.
    pub fn add(&mut self, ty: SocketType, opts: SocketOptions) -> NodeId {
        self.nodes.push(Node {
            v: Vocket::new(ty, opts),
            app: VecDeque::new(),
            links: HashMap::new(),
        });
        self.reading.push(true);
        self.nodes.len() - 1
    }

    /// The Vocket of a node.
    pub fn vocket(&mut self, n: NodeId) -> &mut Vocket {
        &mut self.nodes[n].v
    }

    /// Peers a node with another, as a completed handshake does; the first refusal wins.
    pub fn connect(
        &mut self,
        a: NodeId,
        b: NodeId,
        lossy: bool,
        faults: Faults,
    ) -> Result<LinkId, Refusal> {
        self.connect_with_identities(a, b, None, None, lossy, faults)
    }

    /// [`Net::connect`] where the nodes announce identities.
    pub fn connect_with_identities(
        &mut self,
        a: NodeId,
        b: NodeId,
        a_identity: Option<&[u8]>,
        b_identity: Option<&[u8]>,
        lossy: bool,
        faults: Faults,
    ) -> Result<LinkId, Refusal> {
        let id = self.links.len();
        let now = self.now;
        let (ta, tb) = (self.nodes[a].v.socket_type(), self.nodes[b].v.socket_type());
        let info = |ty, n: NodeId, ident: Option<&[u8]>| {
            PeerInfo::new(ty, format!("mem://{n}/{id}"), id as ConnId)
                .with_identity(ident.map(bytes::Bytes::copy_from_slice))
                .lossy(lossy)
        };
        let pa = self.nodes[a]
            .v
            .handle_peer_up(info(tb, b, b_identity), now)?;
        let pb = match self.nodes[b].v.handle_peer_up(info(ta, a, a_identity), now) {
            Ok(p) => p,
            Err(r) => {
                self.nodes[a].v.handle_peer_down(pa, now);
                return Err(r);
            }
        };
        self.nodes[a].links.insert(id as ConnId, id);
        self.nodes[b].links.insert(id as ConnId, id);
        self.links.push(LinkState {
            sides: [
                Side {
                    node: a,
                    peer: pa,
                    paused: false,
                },
                Side {
                    node: b,
                    peer: pb,
                    paused: false,
                },
            ],
            lossy,
            faults,
            in_flight: Vec::new(),
            up: true,
        });
        Ok(id)
    }

    /// Takes a link down on both sides, losing what is in flight.
    pub fn disconnect(&mut self, l: LinkId) {
        let now = self.now;
        let link = &mut self.links[l];
        if !link.up {
            return;
        }
        link.up = false;
        link.in_flight.clear();
        for side in &link.sides {
            self.nodes[side.node].v.handle_peer_down(side.peer, now);
        }
    }

    /// Whether a link is still up.
    pub fn is_up(&self, l: LinkId) -> bool {
        self.links[l].up
    }

    /// Cuts a link silently: nothing more is delivered, neither side is told (a
    /// partition; heartbeats must notice).
    pub fn partition(&mut self, l: LinkId) {
        self.links[l].faults.loss = 1.0;
        self.links[l].lossy = true;
    }

    /// Stops (or restarts) a node's application reading its pipe.
    pub fn set_reading(&mut self, n: NodeId, on: bool) {
        self.reading[n] = on;
    }

    /// The application of `n` sends, if the Vocket takes it now (`can_send`).
    pub fn app_send(&mut self, n: NodeId, msg: Msg) -> bool {
        let now = self.now;
        let v = &mut self.nodes[n].v;
        if !v.can_send() {
            return false;
        }
        v.handle_app(msg, now);
        true
    }

    /// What the application of `n` received, oldest first.
    pub fn app_recv(&mut self, n: NodeId) -> Option<Msg> {
        self.nodes[n].app.pop_front()
    }

    /// Everything the application of `n` received so far.
    pub fn app_drain(&mut self, n: NodeId) -> Vec<Msg> {
        self.nodes[n].app.drain(..).collect()
    }

    /// Advances until nothing is in flight and no timer is due, or `limit` passes.
    pub fn settle(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            self.step();
            let in_flight = self.links.iter().any(|l| l.up && !l.in_flight.is_empty());
            let undelivered = self
                .nodes
                .iter()
                .zip(&self.reading)
                .any(|(n, &r)| r && n.v.to_app_len() > 0);
            if !(in_flight || undelivered) || self.now >= end {
                return;
            }
        }
    }

    /// Runs for a span of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.step();
        }
    }

    /// One turn: move outputs onto links, deliver what is due, fire timers, advance time.
    pub fn step(&mut self) {
        let now = self.now;
        for n in 0..self.nodes.len() {
            self.pump(n);
        }
        // Deliver due datagrams/segments, in time order.
        for l in 0..self.links.len() {
            self.deliver_due(l, now);
        }
        for n in 0..self.nodes.len() {
            if self.nodes[n].v.poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[n].v.handle_timeout(now);
            }
            self.pump(n);
        }
        let next_flight = self
            .links
            .iter()
            .filter(|l| l.up)
            .flat_map(|l| l.in_flight.iter().map(|f| f.0))
            .min();
        let next_timer = self.nodes.iter().filter_map(|n| n.v.poll_timeout()).min();
        self.now = advance(now, Duration::from_millis(10), [next_flight, next_timer]);
    }

    fn pump(&mut self, n: NodeId) {
        let now = self.now;
        // Application side.
        if self.reading[n] {
            while let Some(m) = self.nodes[n].v.pop_to_app() {
                self.nodes[n].app.push_back(m);
            }
        }
        // Actions.
        while let Some(a) = self.nodes[n].v.poll_action() {
            match a {
                Action::Close { conn, .. } => {
                    if let Some(&l) = self.nodes[n].links.get(&conn) {
                        // The Vocket dropped it; the other side learns the link closed.
                        let link = &mut self.links[l];
                        if link.up {
                            link.up = false;
                            link.in_flight.clear();
                            for side in &link.sides {
                                if side.node != n {
                                    self.nodes[side.node].v.handle_peer_down(side.peer, now);
                                }
                            }
                        }
                    }
                }
                Action::Resume { conn } => {
                    if let Some(&l) = self.nodes[n].links.get(&conn) {
                        for side in &mut self.links[l].sides {
                            if side.node == n {
                                side.paused = false;
                            }
                        }
                        self.deliver_due(l, now);
                    }
                }
            }
        }
        while self.nodes[n].v.poll_event().is_some() {}
        // Transmits.
        while let Some((peer, conn)) = self.nodes[n].v.poll_ready() {
            let Some(&l) = self.nodes[n].links.get(&conn) else {
                continue;
            };
            let to = usize::from(self.links[l].sides[0].node == n);
            while let Some(t) = self.nodes[n].v.poll_transmit(peer) {
                self.send(l, to, t);
            }
        }
    }

    fn send(&mut self, l: LinkId, to: usize, t: Transmit) {
        let link = &mut self.links[l];
        if !link.up {
            return;
        }
        let f = link.faults;
        let copies = if link.lossy {
            if self.rng.random_bool(f.loss.clamp(0.0, 1.0)) {
                self.dropped += 1;
                0
            } else if self.rng.random_bool(f.duplicate.clamp(0.0, 1.0)) {
                2
            } else {
                1
            }
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if link.lossy && f.delay.1 > f.delay.0 {
                self.rng.random_range(f.delay.0..=f.delay.1)
            } else {
                f.delay.0
            };
            self.order += 1;
            link.in_flight
                .push((self.now + delay, self.order, to, t.clone()));
        }
    }

    fn deliver_due(&mut self, l: LinkId, now: Instant) {
        let link = &mut self.links[l];
        if !link.up {
            return;
        }
        link.in_flight.sort_by_key(|f| (f.0, f.1));
        let mut i = 0;
        while i < link.in_flight.len() {
            let (at, _, to, _) = &link.in_flight[i];
            if *at > now {
                break;
            }
            let to = *to;
            if link.sides[to].paused {
                i += 1;
                continue;
            }
            let (_, _, _, t) = link.in_flight.remove(i);
            let side = &link.sides[to];
            let flow = self.nodes[side.node]
                .v
                .handle_input(side.peer, to_input(t), now);
            if flow == Flow::Pause && !link.lossy {
                link.sides[to].paused = true;
            }
        }
    }
}
