//! Many NOM-2 peers in one thread, for scale tests and benchmarks (feature `test-util`):
//! each peer is a UDP socket, a Vocket and a local of one shared engine, driven by a
//! background thread that answers heartbeats while the test does other things.

use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::nom2::Failure;
use bytes::Bytes;
use mio::{Events, Interest, Poll, Token};
use vtx_emul::pattern::{Action, Flow, Input, PeerId, PeerInfo, Refusal, Vocket};
use vtx_emul::{Msg, SocketOptions, SocketType};

use crate::host::{self, Host};
use crate::nom2::{Config, Engine, LocalId, Owner, PeeringId};

enum Cmd {
    Send(usize, Msg),
    SendAll(Msg),
}

#[derive(Default)]
struct Shared {
    up: AtomicUsize,
    received: Mutex<Vec<usize>>,
    first: Mutex<Vec<Option<Msg>>>,
    last: Mutex<Vec<Option<Msg>>>,
    stop: AtomicBool,
}

/// A swarm of NOM-2 peers connected to one server.
pub struct UdpSwarm {
    cmd: Sender<Cmd>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for UdpSwarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSwarm").field("up", &self.up()).finish()
    }
}

struct Peer {
    v: Vocket,
    socket: mio::net::UdpSocket,
    local: LocalId,
    pending: VecDeque<(PeerId, PeeringId)>,
}

struct Apps<'a> {
    peers: &'a mut [Peer],
    now: Instant,
}

impl Host for Apps<'_> {
    fn peer_up(&mut self, sock: u64, info: PeerInfo) -> Result<PeerId, Refusal> {
        let now = self.now;
        self.peers
            .get_mut(sock as usize)
            .ok_or(Refusal::Closing)?
            .v
            .handle_peer_up(info, now)
    }
    fn input(&mut self, sock: u64, peer: PeerId, input: Input) -> Flow {
        let now = self.now;
        self.peers
            .get_mut(sock as usize)
            .map_or(Flow::Continue, |p| p.v.handle_input(peer, input, now))
    }
    fn peer_down(&mut self, sock: u64, peer: PeerId) {
        let now = self.now;
        if let Some(p) = self.peers.get_mut(sock as usize) {
            p.v.handle_peer_down(peer, now);
        }
    }
    fn writable(&mut self, _peering: PeeringId) {}
    fn failure(&mut self, _sock: u64, _addr: SocketAddr, _what: Failure) {}
}

impl UdpSwarm {
    /// Starts `n` peers of type `ty`, each connecting to `server`; `first(i)` are the
    /// messages peer `i`'s application sends at once (subscriptions, say).
    pub fn spawn(
        server: SocketAddr,
        n: usize,
        ty: SocketType,
        opts: SocketOptions,
        first: impl Fn(usize) -> Vec<Msg>,
    ) -> std::io::Result<UdpSwarm> {
        let poll = Poll::new()?;
        let now = Instant::now();
        let mut engine = Engine::new(Config::default(), 7, now);
        let mut peers = Vec::with_capacity(n);
        for i in 0..n {
            let std_sock = UdpSocket::bind(if server.is_ipv6() {
                "[::1]:0"
            } else {
                "127.0.0.1:0"
            })?;
            std_sock.set_nonblocking(true)?;
            let mut socket = mio::net::UdpSocket::from_std(std_sock);
            poll.registry()
                .register(&mut socket, Token(i), Interest::READABLE)?;
            let local = engine.add_local(
                Owner {
                    sock: i as u64,
                    socket_type: ty,
                    identity: Bytes::new(),
                },
                false,
            );
            let mut v = Vocket::new(ty, opts.clone());
            for m in first(i) {
                v.handle_app(m, now);
            }
            engine.connect(local, server, false, Duration::from_millis(100), now);
            peers.push(Peer {
                v,
                socket,
                local,
                pending: VecDeque::new(),
            });
        }
        let (cmd, rx) = channel();
        let shared = Arc::new(Shared {
            received: Mutex::new(vec![0; n]),
            first: Mutex::new(vec![None; n]),
            last: Mutex::new(vec![None; n]),
            ..Default::default()
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("udp-swarm".into())
            .spawn(move || run(poll, engine, peers, rx, s))?;
        Ok(UdpSwarm {
            cmd,
            shared,
            thread: Some(thread),
        })
    }

    /// Peers whose peering is up.
    pub fn up(&self) -> usize {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// Waits until `n` peers are up.
    pub fn wait_up(&self, n: usize, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        while self.up() < n {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Peer `i`'s application sends `msg`.
    pub fn send(&self, i: usize, msg: Msg) {
        let _ = self.cmd.send(Cmd::Send(i, msg));
    }

    /// Every peer's application sends `msg`.
    pub fn send_all(&self, msg: Msg) {
        let _ = self.cmd.send(Cmd::SendAll(msg));
    }

    /// Messages peer `i` received so far, and the last one.
    pub fn received(&self, i: usize) -> (usize, Option<Msg>) {
        let n = self.shared.received.lock().map(|r| r[i]).unwrap_or(0);
        let last = self.shared.last.lock().ok().and_then(|l| l[i].clone());
        (n, last)
    }

    /// The first message peer `i` received, if any.
    pub fn first_received(&self, i: usize) -> Option<Msg> {
        self.shared.first.lock().ok().and_then(|f| f[i].clone())
    }

    /// Messages received by all peers.
    pub fn total_received(&self) -> usize {
        self.shared
            .received
            .lock()
            .map(|r| r.iter().sum())
            .unwrap_or(0)
    }
}

impl Drop for UdpSwarm {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    mut poll: Poll,
    mut engine: Engine,
    mut peers: Vec<Peer>,
    rx: Receiver<Cmd>,
    shared: Arc<Shared>,
) {
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 65536];
    let by_local: std::collections::HashMap<LocalId, usize> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.local, i))
        .collect();
    while !shared.stop.load(Ordering::Relaxed) {
        let _ = poll.poll(&mut events, Some(Duration::from_millis(2)));
        let now = Instant::now();
        for ev in events.iter() {
            let Some(p) = peers.get(ev.token().0) else {
                continue;
            };
            while let Ok((n, src)) = p.socket.recv_from(&mut buf) {
                engine.handle_datagram(p.local, src, Bytes::copy_from_slice(&buf[..n]), now);
            }
        }
        while let Ok(c) = rx.try_recv() {
            match c {
                Cmd::Send(i, m) => {
                    if let Some(p) = peers.get_mut(i) {
                        p.v.handle_app(m, now);
                    }
                }
                Cmd::SendAll(m) => {
                    for p in &mut peers {
                        p.v.handle_app(m.clone(), now);
                    }
                }
            }
        }
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
        host::dispatch(
            &mut engine,
            &mut Apps {
                peers: &mut peers,
                now,
            },
            "udp",
            now,
        );
        let mut up = 0;
        for (i, p) in peers.iter_mut().enumerate() {
            if p.v.poll_timeout().is_some_and(|t| t <= now) {
                p.v.handle_timeout(now);
            }
            while let Some(m) = p.v.pop_to_app() {
                if let (Ok(mut r), Ok(mut f), Ok(mut l)) = (
                    shared.received.lock(),
                    shared.first.lock(),
                    shared.last.lock(),
                ) {
                    r[i] += 1;
                    if f[i].is_none() {
                        f[i] = Some(m.clone());
                    }
                    l[i] = Some(m);
                }
            }
            while let Some(a) = p.v.poll_action() {
                match a {
                    Action::Close { conn, .. } => engine.close(conn, now),
                    Action::Resume { conn } => engine.resume(conn),
                }
            }
            while p.v.poll_event().is_some() {}
            while let Some(ready) = p.v.poll_ready() {
                p.pending.push_back(ready);
            }
            for _ in 0..p.pending.len() {
                let Some((peer, conn)) = p.pending.pop_front() else {
                    break;
                };
                let mut more = true;
                while engine.can_send(conn) {
                    match p.v.poll_transmit(peer) {
                        Some(t) => {
                            engine.send(conn, t, now);
                        }
                        None => {
                            more = false;
                            break;
                        }
                    }
                }
                engine.flush(conn);
                if more && p.v.peer_info(peer).is_some() {
                    engine.blocked(conn, now);
                    p.pending.push_back((peer, conn));
                }
            }
            up += usize::from(p.v.peer_count() > 0);
        }
        shared.up.store(up, Ordering::Relaxed);
        while let Some(b) = engine.peek_batch() {
            if let Some(p) = by_local.get(&b.local).and_then(|&i| peers.get(i)) {
                for d in b.buf.chunks(b.seg.max(1)) {
                    let _ = p.socket.send_to(d, b.dst);
                }
            }
            engine.pop_batch();
        }
    }
}
