//! NOM-2: the datagram decoder, then a live engine (a bound socket with one real
//! peering) fed hostile datagrams from the peer's address and from strangers. Checks
//! what the protocol promises against liars (docs/nom-2.md §9): a stranger never gets
//! more bytes back than it sent and makes no peering, and partial messages stay within
//! the reassembly budget.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use vtx_emul::SocketType;
use vtx_udp::nom2::wire::{self, Datagram, Record, Records};
use vtx_udp::nom2::{Config, Engine, Event, Owner};

#[derive(Debug, arbitrary::Arbitrary)]
struct Input {
    datagrams: Vec<Vec<u8>>,
    from_peer: bool,
    /// Wrap each datagram's bytes as FRAG records of one message, to reach reassembly.
    as_fragments: bool,
}

fuzz_target!(|input: Input| {
    for d in &input.datagrams {
        if let Ok(Datagram::Nom(_, body)) = wire::decode(&Bytes::copy_from_slice(d)) {
            for r in Records::new(body) {
                if let Ok(Record::Msg { body, .. }) = r {
                    let _ = wire::decode_frames(&body, 8192);
                }
            }
        }
    }
    // The engine: a bound REP socket with a peering from a REQ at `peer`.
    let now = Instant::now();
    let cfg = Config {
        max_msg_size: 8192,
        ..Config::default()
    };
    let budget = cfg.reassembly_budget;
    let mut e = Engine::new(cfg, 1, now);
    let local = e.add_local(
        Owner {
            sock: 1,
            socket_type: SocketType::Rep,
            identity: Bytes::new(),
        },
        true,
    );
    let peer: std::net::SocketAddr = "127.0.0.1:5000".parse().unwrap();
    let our_id = handshake(&mut e, local, peer, now);
    let src = if input.from_peer {
        peer
    } else {
        "10.9.8.7:1".parse().unwrap()
    };
    for (i, d) in input.datagrams.into_iter().enumerate() {
        let mut d = d;
        if input.as_fragments {
            d = fragments(our_id, &d);
        } else if i % 2 == 0 && d.len() >= 8 {
            // Most datagrams address the real peering, so the engine goes past the lookup.
            d[0] = wire::SIGNATURE;
            d[2] = 0;
            d[3] = 0;
            d[4..8].copy_from_slice(&our_id.to_be_bytes());
        }
        let sent = d.len();
        let at = now + Duration::from_millis(i as u64);
        e.handle_datagram(local, src, Bytes::from(d), at);
        while let Some(ev) = e.poll_event() {
            assert!(
                input.from_peer || !matches!(ev, Event::Up { .. }),
                "a stranger made a peering"
            );
        }
        let mut answered = 0;
        while let Some(b) = e.peek_batch() {
            if b.dst == src {
                answered += b.buf.len();
            }
            e.pop_batch();
        }
        assert!(
            input.from_peer || answered <= sent,
            "{answered} B answered to {sent} B from a stranger"
        );
        assert!(e.reassembly_bytes() <= budget);
        e.handle_timeout(now + Duration::from_millis(i as u64 * 100));
    }
    // Every partial message expires, and what they were charged comes back exactly.
    e.handle_timeout(now + Duration::from_secs(3600));
    assert_eq!(e.reassembly_bytes(), 0, "reassembly charge leaked");
});

/// Opens the peering as a REQ at `peer` would (OHAI, COOKIE, OHAI with the cookie);
/// returns the id to put in its headers.
fn handshake(e: &mut Engine, local: usize, peer: std::net::SocketAddr, now: Instant) -> u32 {
    let hello = wire::Hello {
        sender: 77,
        socket_type: SocketType::Req,
        identity: Bytes::new(),
    };
    let mut cookie = [0; wire::COOKIE_LEN];
    let mut our_id = 0;
    for _ in 0..2 {
        let mut ohai = Vec::new();
        wire::encode_ohai(&mut ohai, &hello, &cookie);
        e.handle_datagram(local, peer, Bytes::from(ohai), now);
        while let Some(ev) = e.poll_event() {
            if let Event::Up { peering, .. } = ev {
                e.accept(peering, dummy_peer(), now);
            }
        }
        while let Some(b) = e.peek_batch() {
            if let Ok(d) = wire::decode(&Bytes::copy_from_slice(b.buf)) {
                match d {
                    Datagram::Cookie(_, c) => cookie = c,
                    Datagram::OhaiOk(_, h) => our_id = h.sender,
                    _ => {}
                }
            }
            e.pop_batch();
        }
    }
    our_id
}

/// The bytes as pieces of one 8 KiB message: each pair of bytes picks an offset and a
/// length (0 to 255, so pieces overlap, duplicate, fill gaps and join the prefix, and
/// some are empty) of a piece.
fn fragments(id: u32, spec: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    wire::put_header(&mut d, wire::Cmd::Nom, id);
    for pair in spec.chunks(2) {
        let offset = u32::from(pair[0]) * 32;
        let len = usize::from(pair.get(1).copied().unwrap_or(0));
        wire::put_record_header(&mut d, wire::RECORD_FRAG, 8 + len, 9, None);
        d.extend_from_slice(&8192u32.to_be_bytes());
        d.extend_from_slice(&offset.to_be_bytes());
        d.extend(std::iter::repeat_n(0xAB, len));
    }
    d
}

fn dummy_peer() -> vtx_emul::pattern::PeerId {
    let mut v = vtx_emul::pattern::Vocket::new(SocketType::Rep, Default::default());
    v.handle_peer_up(
        vtx_emul::pattern::PeerInfo::new(SocketType::Req, "x", 0),
        Instant::now(),
    )
    .unwrap()
}
