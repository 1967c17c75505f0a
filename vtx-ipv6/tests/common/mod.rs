//! Shared helpers for the tcp6 interop tests: a vtx manager and native sockets on one
//! context, monitors, and a TCP proxy that can turn into a black hole.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};
use vtx_emul::testing::addr::with_scheme;
use vtx_emul::testing::{wait_for_count, wait_until};

vtx_emul::vtx_harness! {
    bind: "tcp6://[::1]:0",
    limit: Duration::from_secs(5),
}

pub struct Setup {
    pub ctx: zmq::Context,
    pub vtx: Vtx,
}

static MON: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Setup {
    pub fn new() -> Setup {
        let (ctx, vtx) = manager("tcp6", vtx_ipv6::Tcp6Transport::default());
        Setup { ctx, vtx }
    }

    pub fn vtx_sock(&self, ty: zmq::SocketType) -> VtxSocket {
        sock(&self.vtx, ty)
    }

    /// A vtx socket bound on `[::1]`; returns it and the native endpoint to reach it.
    pub fn vtx_bind(&self, ty: zmq::SocketType) -> (VtxSocket, String) {
        let (s, bound) = bind(&self.vtx, ty);
        (s, with_scheme(&bound, "tcp"))
    }

    fn native(&self, ty: zmq::SocketType) -> zmq::Socket {
        let s = self.ctx.socket(ty).unwrap();
        s.set_ipv6(true).unwrap();
        s.set_rcvtimeo(5000).unwrap();
        s.set_sndtimeo(5000).unwrap();
        s.set_linger(0).unwrap();
        s
    }

    pub fn native_bind_with(
        &self,
        ty: zmq::SocketType,
        f: impl FnOnce(&zmq::Socket),
    ) -> (zmq::Socket, String) {
        let s = self.native(ty);
        f(&s);
        s.bind("tcp://[::1]:*").unwrap();
        let ep = s.get_last_endpoint().unwrap().unwrap();
        (s, with_scheme(&ep, "tcp6"))
    }

    /// A native socket bound on `[::1]`; returns it and the vtx endpoint to reach it.
    pub fn native_bind(&self, ty: zmq::SocketType) -> (zmq::Socket, String) {
        self.native_bind_with(ty, |_| {})
    }

    pub fn native_bind_at(&self, ty: zmq::SocketType, ep: &str) -> zmq::Socket {
        let s = self.native(ty);
        wait_until(&format!("rebind {ep}"), LIMIT, || s.bind(ep).is_ok());
        s
    }

    pub fn native_connect_with(
        &self,
        ty: zmq::SocketType,
        ep: &str,
        f: impl FnOnce(&zmq::Socket),
    ) -> zmq::Socket {
        let s = self.native(ty);
        f(&s);
        s.connect(ep).unwrap();
        s
    }

    pub fn native_connect(&self, ty: zmq::SocketType, ep: &str) -> zmq::Socket {
        self.native_connect_with(ty, ep, |_| {})
    }

    /// A PAIR receiving the native socket's monitor events.
    pub fn native_monitor(&self, s: &zmq::Socket, events: i32) -> zmq::Socket {
        let ep = format!("inproc://mon-{}", MON.fetch_add(1, Ordering::Relaxed));
        s.monitor(&ep, events).unwrap();
        let m = self.ctx.socket(zmq::PAIR).unwrap();
        m.set_linger(0).unwrap();
        m.connect(&ep).unwrap();
        m
    }

    pub fn wait_peers(&self, s: &VtxSocket, n: usize) {
        wait_peers(s, n);
    }
}

/// Waits up to `d` for one of `events` on a native monitor.
pub fn native_event_within(
    mon: &zmq::Socket,
    events: &[zmq::SocketEvent],
    d: Duration,
) -> Option<(zmq::SocketEvent, Duration)> {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        let left = d.saturating_sub(t0.elapsed()).as_millis().max(1) as i32;
        mon.set_rcvtimeo(left).unwrap();
        let Ok(frames) = mon.recv_multipart(0) else {
            continue;
        };
        let raw = u16::from_le_bytes([frames[0][0], frames[0][1]]);
        let ev = zmq::SocketEvent::from_raw(raw);
        if events.contains(&ev) {
            return Some((ev, t0.elapsed()));
        }
    }
    None
}

pub fn wait_native_event(
    mon: &zmq::Socket,
    events: &[zmq::SocketEvent],
) -> Option<(zmq::SocketEvent, Duration)> {
    native_event_within(mon, events, Duration::from_secs(5))
}

/// Waits until a numeric metadata counter reaches `at_least`.
pub fn wait_meta(s: &VtxSocket, key: &str, at_least: u64) {
    wait_for_count(key, LIMIT, at_least, || meta(s, key));
}

/// Publishes `msgs` in a loop until the subscriber receives one (subscriptions travel
/// asynchronously, as in libzmq); returns what arrived.
pub fn publish_until(
    publisher: &impl vtx::Socket,
    sub: &impl vtx::Socket,
    msgs: &[&[u8]],
) -> Vec<u8> {
    vtx_emul::publish_until!(publisher, sub, msgs, LIMIT)
}

pub fn drain(s: &impl vtx::Socket) {
    let t = s.get_rcvtimeo().unwrap();
    s.set_rcvtimeo(50).unwrap();
    while s.recv_bytes(0).is_ok() {}
    s.set_rcvtimeo(t).unwrap();
}

/// Receives until 300 ms of silence.
pub fn recv_all(s: &impl vtx::Socket) -> Vec<Vec<u8>> {
    let t = s.get_rcvtimeo().unwrap();
    s.set_rcvtimeo(300).unwrap();
    let mut v = Vec::new();
    while let Ok(m) = s.recv_bytes(0) {
        v.push(m);
    }
    s.set_rcvtimeo(t).unwrap();
    v
}

/// A TCP proxy on `[::1]` that forwards to `target` until told to black-hole: then it
/// keeps both connections open and forwards nothing (a dead peer, as heartbeats see it).
pub struct Blackhole {
    port: u16,
    holed: Arc<AtomicBool>,
}

impl Blackhole {
    pub fn start(target: &str) -> Blackhole {
        let target = target.rsplit_once("://").unwrap().1.to_owned();
        let listener = TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let holed = Arc::new(AtomicBool::new(false));
        let h = holed.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&target) else {
                    return;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let h = h.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 65536];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) if !h.load(Ordering::Relaxed) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Ok(_) => {} // swallowed
                            }
                        }
                    });
                }
            }
        });
        Blackhole { port, holed }
    }

    pub fn endpoint(&self) -> String {
        format!("tcp6://[::1]:{}", self.port)
    }

    pub fn blackhole(&self) {
        self.holed.store(true, Ordering::Relaxed);
    }
}
