//! The NOM-2 engine alone, driven by hand: what happens between two engines whose
//! datagrams are handed over in batches, as a UDP read returns them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx_emul::pattern::{Input, PeerId, PeerInfo, Transmit, Vocket};
use vtx_emul::{Msg, SocketType};
use vtx_udp::nom2::{Config, Engine, Event, Owner, PeeringId};

/// Hands every datagram `from` queued to `to`, in one go.
fn pump(from: &mut Engine, to: &mut Engine, to_local: usize, src: SocketAddr, now: Instant) {
    while let Some(b) = from.peek_batch() {
        for d in b.buf.chunks(b.seg) {
            to.handle_datagram(to_local, src, Bytes::copy_from_slice(d), now);
        }
        from.pop_batch();
    }
}

fn owner(sock: u64, socket_type: SocketType) -> Owner {
    Owner {
        sock,
        socket_type,
        identity: Bytes::new(),
    }
}

/// The `Up` event among the engine's, taken by a Vocket of `ty`.
fn take_up(e: &mut Engine, v: &mut Vocket, now: Instant) -> Option<(PeeringId, PeerId)> {
    while let Some(ev) = e.poll_event() {
        if let Event::Up { peering, hello, .. } = ev {
            let p = v
                .handle_peer_up(PeerInfo::new(hello.socket_type, "u://x", peering), now)
                .unwrap();
            return Some((peering, p));
        }
    }
    None
}

/// A server that sends at once when a peering comes up (an XPUB's welcome, a PUSH with
/// messages waiting): its first datagrams reach the client in the same read as the
/// OHAI-OK, before the client's Vocket has taken the peering. They wait for it.
#[test]
fn datagrams_before_the_vocket_takes_a_peering_are_not_lost() {
    let now = Instant::now();
    let (mut client, mut server) = (
        Engine::new(Config::default(), 1, now),
        Engine::new(Config::default(), 2, now),
    );
    let (c_addr, s_addr): (SocketAddr, SocketAddr) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    let cl = client.add_local(owner(1, SocketType::Pull), false);
    let sl = server.add_local(owner(2, SocketType::Push), true);
    let mut vc = Vocket::new(SocketType::Pull, Default::default());
    let mut vs = Vocket::new(SocketType::Push, Default::default());
    client.connect(cl, s_addr, false, Duration::from_millis(100), now);
    // OHAI, COOKIE, OHAI with the cookie: the server's peering comes up.
    pump(&mut client, &mut server, sl, c_addr, now);
    pump(&mut server, &mut client, cl, s_addr, now);
    pump(&mut client, &mut server, sl, c_addr, now);
    let (s_peering, _) = take_up(&mut server, &mut vs, now).expect("server peering");
    server.accept(s_peering, take_peer(&mut vs), now);
    server.send(
        s_peering,
        Transmit::Message {
            msg: Msg::single("first"),
            seq: None,
        },
        now,
    );
    server.flush(s_peering);
    // OHAI-OK and the message in one read.
    pump(&mut server, &mut client, cl, s_addr, now);
    let (c_peering, c_peer) = take_up(&mut client, &mut vc, now).expect("client peering");
    assert!(
        client.poll_event().is_none(),
        "nothing delivered before it is taken"
    );
    client.accept(c_peering, c_peer, now);
    let got: Vec<Msg> = std::iter::from_fn(|| client.poll_event())
        .filter_map(|ev| match ev {
            Event::Input {
                input: Input::Message { msg, .. },
                ..
            } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(got, [Msg::single("first")]);
}

/// The peer id the server's Vocket gave its one peering.
fn take_peer(v: &mut Vocket) -> PeerId {
    v.peer_ids()[0]
}

/// What a message costs against the limit counts its frames (`Msg::cost`), as the
/// receiver counts them: the sender drops a message of many empty frames that costs more
/// than the limit, with few bytes, and delivers one that costs exactly the limit.
#[test]
fn the_sender_drops_what_the_receiver_would_refuse_by_cost() {
    let now = Instant::now();
    let cfg = Config::default();
    let limit = cfg.max_msg_size as u64;
    let (mut client, mut server) = (Engine::new(cfg.clone(), 1, now), Engine::new(cfg, 2, now));
    let (c_addr, s_addr): (SocketAddr, SocketAddr) = (
        "127.0.0.1:1".parse().unwrap(),
        "127.0.0.1:2".parse().unwrap(),
    );
    let cl = client.add_local(owner(1, SocketType::Push), false);
    let sl = server.add_local(owner(2, SocketType::Pull), true);
    let mut vc = Vocket::new(SocketType::Push, Default::default());
    let mut vs = Vocket::new(SocketType::Pull, Default::default());
    client.connect(cl, s_addr, false, Duration::from_millis(100), now);
    pump(&mut client, &mut server, sl, c_addr, now);
    pump(&mut server, &mut client, cl, s_addr, now);
    pump(&mut client, &mut server, sl, c_addr, now);
    let (s_peering, s_peer) = take_up(&mut server, &mut vs, now).expect("server peering");
    server.accept(s_peering, s_peer, now);
    pump(&mut server, &mut client, cl, s_addr, now);
    let (c_peering, c_peer) = take_up(&mut client, &mut vc, now).expect("client peering");
    client.accept(c_peering, c_peer, now);

    let empties = |n| Msg::from_frames(std::iter::repeat_n(Bytes::new(), n));
    let at_limit = empties(usize::try_from(limit / 64).unwrap() + 1);
    let over = empties(usize::try_from(limit / 64).unwrap() + 2);
    assert_eq!(at_limit.cost(), limit);
    assert!(over.cost() > limit && over.byte_len() == 0);
    for msg in [over, at_limit.clone()] {
        assert!(client.send(c_peering, Transmit::Message { msg, seq: None }, now));
    }
    client.flush(c_peering);
    assert_eq!(client.dropped, 1, "the message over the limit is counted");
    pump(&mut client, &mut server, sl, c_addr, now);
    let got: Vec<Msg> = std::iter::from_fn(|| server.poll_event())
        .filter_map(|ev| match ev {
            Event::Input {
                input: Input::Message { msg, .. },
                ..
            } => Some(msg),
            _ => None,
        })
        .collect();
    assert_eq!(got, [at_limit]);
    assert_eq!(server.dropped, 0);
}
