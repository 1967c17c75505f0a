//! Every socket pattern driven by arbitrary event sequences: no panic, bounded queues.
#![no_main]

use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vtx_emul::pattern::{Input, PeerId, PeerInfo, Vocket};
use vtx_emul::{Msg, SocketOptions, SocketType};

#[derive(Debug, Arbitrary)]
enum Op {
    Up(u8, Option<Vec<u8>>, bool),
    Down(u8),
    Msg(u8, Vec<Vec<u8>>, Option<u32>),
    Sub(u8, bool, Vec<u8>),
    Ping(u8, u16),
    App(Vec<Vec<u8>>),
    Time(u16),
    Drain(u8),
    Read(u8),
}

fuzz_target!(|input: (u8, Vec<Op>)| {
    let (ty, ops) = input;
    let Some(ty) = SocketType::from_raw(ty % 11) else {
        return;
    };
    let opts = SocketOptions::default()
        .with_sndhwm(8)
        .with_rcvhwm(8)
        .with_max_peers(8)
        .with_heartbeat_ivl(Some(Duration::from_millis(100)))
        .with_req_resend_ivl(Some(Duration::from_millis(30)));
    let mut v = Vocket::new(ty, opts);
    let mut now = Instant::now();
    let mut peers: Vec<PeerId> = Vec::new();
    let pick = |p: &[PeerId], i: u8| (!p.is_empty()).then(|| p[usize::from(i) % p.len()]);
    for (n, op) in ops.into_iter().enumerate() {
        match op {
            Op::Up(t, id, lossy) => {
                let Some(t) = SocketType::from_raw(t % 11) else {
                    continue;
                };
                let info = PeerInfo::new(t, format!("f://{n}"), n as u64)
                    .with_identity(id.map(Bytes::from))
                    .lossy(lossy);
                if let Ok(p) = v.handle_peer_up(info, now) {
                    peers.push(p);
                }
            }
            Op::Down(i) => {
                if let Some(p) = pick(&peers, i) {
                    v.handle_peer_down(p, now);
                }
            }
            Op::Msg(i, f, seq) => {
                if let Some(p) = pick(&peers, i) {
                    v.handle_input(
                        p,
                        Input::Message {
                            msg: Msg::from_frames(f),
                            seq,
                        },
                        now,
                    );
                }
            }
            Op::Sub(i, on, t) => {
                if let Some(p) = pick(&peers, i) {
                    let t = Bytes::from(t);
                    v.handle_input(
                        p,
                        if on {
                            Input::Subscribe(t)
                        } else {
                            Input::Cancel(t)
                        },
                        now,
                    );
                }
            }
            Op::Ping(i, ttl) => {
                if let Some(p) = pick(&peers, i) {
                    let ttl = Some(Duration::from_millis(u64::from(ttl)));
                    v.handle_input(
                        p,
                        Input::Ping {
                            ttl,
                            context: Bytes::new(),
                        },
                        now,
                    );
                }
            }
            Op::App(f) => {
                if v.can_send() {
                    v.handle_app(Msg::from_frames(f), now);
                }
            }
            Op::Time(ms) => {
                now += Duration::from_millis(u64::from(ms));
                v.handle_timeout(now);
            }
            Op::Drain(i) => {
                if let Some(p) = pick(&peers, i) {
                    while v.poll_transmit(p).is_some() {}
                }
                while v.poll_ready().is_some() {}
                while v.poll_action().is_some() {}
                while v.poll_event().is_some() {}
            }
            Op::Read(k) => {
                for _ in 0..k {
                    v.pop_to_app();
                }
            }
        }
        // RCVHWM 8 per peering (up to 8 of them, each at most its hard cap), and as much
        // again left by peerings that went down.
        assert!(v.to_app_len() <= 9 * (8 + 1024));
        assert!(v.peer_count() <= 8);
    }
});
