//! NOM-2: the datagram decoder, then a live engine (a bound socket with one real
//! peering) fed hostile datagrams from the peer's address and from strangers.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vtx_emul::SocketType;
use vtx_udp::nom2::wire::{self, Datagram, Record, Records};
use vtx_udp::nom2::{Config, Engine, Event, Owner};

fuzz_target!(|input: (Vec<Vec<u8>>, bool)| {
    let (datagrams, from_peer) = input;
    for d in &datagrams {
        if let Ok(Datagram::Nom(_, body)) = wire::decode(&Bytes::copy_from_slice(d)) {
            for r in Records::new(body) {
                if let Ok(Record::Msg { body, .. }) = r {
                    let _ = wire::decode_frames(&body);
                }
            }
        }
    }
    // The engine: a bound REP socket with a peering from a REQ at `peer`.
    let now = Instant::now();
    let mut e = Engine::new(
        Config {
            max_msg_size: 8192,
            ..Config::default()
        },
        1,
        now,
    );
    let local = e.add_local(
        Owner {
            sock: 1,
            socket_type: SocketType::Rep,
            identity: Bytes::new(),
        },
        true,
    );
    let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let mut hello = Vec::new();
    wire::encode_hello(
        &mut hello,
        wire::Cmd::Ohai,
        0,
        &wire::Hello {
            sender: 77,
            socket_type: SocketType::Req,
            identity: Bytes::new(),
        },
    );
    e.handle_datagram(local, peer, Bytes::from(hello), now);
    let mut our_id = 0;
    while let Some(ev) = e.poll_event() {
        if let Event::Up { peering, .. } = ev {
            e.accept(peering, dummy_peer());
        }
    }
    while let Some(b) = e.peek_batch() {
        if b.buf.len() >= 12 && b.buf[1] == wire::Cmd::OhaiOk as u8 {
            our_id = u32::from_be_bytes([b.buf[8], b.buf[9], b.buf[10], b.buf[11]]);
        }
        e.pop_batch();
    }
    let src = if from_peer {
        peer
    } else {
        "10.9.8.7:1".parse().unwrap()
    };
    for (i, d) in datagrams.into_iter().enumerate() {
        let mut d = d;
        // Most datagrams address the real peering, so the engine goes past the lookup.
        if i % 2 == 0 && d.len() >= 8 {
            d[0] = wire::SIGNATURE;
            d[2] = 0;
            d[3] = 0;
            d[4..8].copy_from_slice(&our_id.to_be_bytes());
        }
        e.handle_datagram(
            local,
            src,
            Bytes::from(d),
            now + Duration::from_millis(i as u64),
        );
        while e.poll_event().is_some() {}
        while e.peek_batch().is_some() {
            e.pop_batch();
        }
        e.handle_timeout(now + Duration::from_millis(i as u64 * 100));
    }
});

fn dummy_peer() -> vtx_emul::pattern::PeerId {
    let mut v = vtx_emul::pattern::Vocket::new(SocketType::Rep, Default::default());
    v.handle_peer_up(
        vtx_emul::pattern::PeerInfo::new(SocketType::Req, "x", 0),
        Instant::now(),
    )
    .unwrap()
}
