//! Structure-aware: messages sent through one NOM-2 engine (packed and fragmented as
//! needed) arrive intact, in order, once, at another.
#![no_main]

use std::time::Instant;

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vtx_emul::pattern::{Input, PeerInfo, Transmit, Vocket};
use vtx_emul::{Msg, SocketType};
use vtx_udp::nom2::{Config, Engine, Event, Owner};

#[derive(Debug, Arbitrary)]
struct Case {
    datagram: u16,
    msgs: Vec<(Vec<Vec<u8>>, Option<u32>)>,
}

fn pump(
    from: &mut Engine,
    to: &mut Engine,
    to_local: usize,
    src: std::net::SocketAddr,
    now: Instant,
) {
    while let Some(b) = from.peek_batch() {
        for d in b.buf.chunks(b.seg) {
            to.handle_datagram(to_local, src, Bytes::copy_from_slice(d), now);
        }
        from.pop_batch();
    }
}

fuzz_target!(|c: Case| {
    let now = Instant::now();
    let cfg = Config {
        max_datagram: usize::from(c.datagram).clamp(64, 9000),
        max_segments: 8,
        ..Config::default()
    };
    let max_msg_size = cfg.max_msg_size as u64;
    let (mut a, mut b) = (Engine::new(cfg.clone(), 1, now), Engine::new(cfg, 2, now));
    let (a_addr, b_addr) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    let al = a.add_local(
        Owner {
            sock: 1,
            socket_type: SocketType::Dealer,
            identity: Bytes::new(),
        },
        false,
    );
    let bl = b.add_local(
        Owner {
            sock: 2,
            socket_type: SocketType::Dealer,
            identity: Bytes::new(),
        },
        true,
    );
    let mut va = Vocket::new(SocketType::Dealer, Default::default());
    let mut vb = Vocket::new(SocketType::Dealer, Default::default());
    a.connect(
        al,
        b_addr,
        false,
        std::time::Duration::from_millis(100),
        now,
    );
    let mut a_peering = None;
    for _ in 0..3 {
        pump(&mut a, &mut b, bl, a_addr, now);
        pump(&mut b, &mut a, al, b_addr, now);
        for (is_a, e, v) in [(true, &mut a, &mut va), (false, &mut b, &mut vb)] {
            while let Some(ev) = e.poll_event() {
                if let Event::Up { peering, hello, .. } = ev {
                    let p = v
                        .handle_peer_up(PeerInfo::new(hello.socket_type, "x", peering), now)
                        .unwrap();
                    e.accept(peering, p, now);
                    if is_a {
                        a_peering = Some(peering);
                    }
                }
            }
        }
    }
    let a_peering = a_peering.expect("handshake completes on a perfect link");
    let mut want = Vec::new();
    for (frames, rseq) in c.msgs {
        if frames.is_empty() {
            continue;
        }
        let msg = Msg::from_frames(frames.into_iter().map(Bytes::from));
        // The sender drops what the receiver would refuse: many empty frames can cost
        // more than the limit (FRAME_COST each) in a few input bytes.
        if msg.cost() > max_msg_size {
            continue;
        }
        a.send(
            a_peering,
            Transmit::Message {
                msg: msg.clone(),
                seq: rseq,
            },
            now,
        );
        want.push((msg, rseq));
    }
    a.flush(a_peering);
    pump(&mut a, &mut b, bl, a_addr, now);
    let mut got = Vec::new();
    while let Some(ev) = b.poll_event() {
        if let Event::Input {
            input: Input::Message { msg, seq },
            ..
        } = ev
        {
            got.push((msg, seq));
        }
    }
    assert_eq!(got, want);
});
