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

/// The messages among the engine's events.
fn delivered(e: &mut Engine) -> Vec<Msg> {
    std::iter::from_fn(|| e.poll_event())
        .filter_map(|ev| match ev {
            Event::Input {
                input: Input::Message { msg, .. },
                ..
            } => Some(msg),
            _ => None,
        })
        .collect()
}

/// A client engine connecting to a server engine, each with one local socket and its
/// Vocket. After `new`, the server's peering is up and taken (OHAI, COOKIE, OHAI with
/// the cookie); the client's OHAI-OK waits at the server.
struct Pair {
    now: Instant,
    client: Engine,
    server: Engine,
    cl: usize,
    sl: usize,
    c_addr: SocketAddr,
    s_addr: SocketAddr,
    vc: Vocket,
    s_peering: PeeringId,
}

impl Pair {
    fn new(cfg: Config, client_ty: SocketType, server_ty: SocketType) -> Pair {
        let now = Instant::now();
        let (mut client, mut server) = (Engine::new(cfg.clone(), 1, now), Engine::new(cfg, 2, now));
        let (c_addr, s_addr): (SocketAddr, SocketAddr) = (
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let cl = client.add_local(owner(1, client_ty), false);
        let sl = server.add_local(owner(2, server_ty), true);
        let mut vs = Vocket::new(server_ty, Default::default());
        client.connect(cl, s_addr, false, Duration::from_millis(100), now);
        pump(&mut client, &mut server, sl, c_addr, now);
        pump(&mut server, &mut client, cl, s_addr, now);
        pump(&mut client, &mut server, sl, c_addr, now);
        let (s_peering, s_peer) = take_up(&mut server, &mut vs, now).expect("server peering");
        server.accept(s_peering, s_peer, now);
        Pair {
            now,
            client,
            server,
            cl,
            sl,
            c_addr,
            s_addr,
            vc: Vocket::new(client_ty, Default::default()),
            s_peering,
        }
    }

    /// What the server queued, handed to the client in one read.
    fn deliver_to_client(&mut self) {
        pump(
            &mut self.server,
            &mut self.client,
            self.cl,
            self.s_addr,
            self.now,
        );
    }

    /// What the client queued, handed to the server in one read.
    fn deliver_to_server(&mut self) {
        pump(
            &mut self.client,
            &mut self.server,
            self.sl,
            self.c_addr,
            self.now,
        );
    }

    /// The client's peering, taken by its Vocket (after `deliver_to_client`).
    fn client_up(&mut self) -> (PeeringId, PeerId) {
        take_up(&mut self.client, &mut self.vc, self.now).expect("client peering")
    }
}

/// A server that sends at once when a peering comes up (an XPUB's welcome, a PUSH with
/// messages waiting): its first datagrams reach the client in the same read as the
/// OHAI-OK, before the client's Vocket has taken the peering. They wait for it.
#[test]
fn datagrams_before_the_vocket_takes_a_peering_are_not_lost() {
    let mut p = Pair::new(Config::default(), SocketType::Pull, SocketType::Push);
    let first = Transmit::Message {
        msg: Msg::single("first"),
        seq: None,
    };
    p.server.send(p.s_peering, first, p.now);
    p.server.flush(p.s_peering);
    // OHAI-OK and the message in one read.
    p.deliver_to_client();
    let (c_peering, c_peer) = p.client_up();
    assert!(
        p.client.poll_event().is_none(),
        "nothing delivered before it is taken"
    );
    p.client.accept(c_peering, c_peer, p.now);
    assert_eq!(delivered(&mut p.client), [Msg::single("first")]);
}

/// What a message costs against the limit counts its frames (`Msg::cost`), as the
/// receiver counts them: the sender drops a message of many empty frames that costs more
/// than the limit, with few bytes, and delivers one that costs exactly the limit.
#[test]
fn the_sender_drops_what_the_receiver_would_refuse_by_cost() {
    let cfg = Config::default();
    let limit = cfg.max_msg_size as u64;
    let mut p = Pair::new(cfg, SocketType::Push, SocketType::Pull);
    p.deliver_to_client();
    let (c_peering, c_peer) = p.client_up();
    p.client.accept(c_peering, c_peer, p.now);

    let empties = |n| Msg::from_frames(std::iter::repeat_n(Bytes::new(), n));
    let at_limit = empties(usize::try_from(limit / 64).unwrap() + 1);
    let over = empties(usize::try_from(limit / 64).unwrap() + 2);
    assert_eq!(at_limit.cost(), limit);
    assert!(over.cost() > limit && over.byte_len() == 0);
    for msg in [over, at_limit.clone()] {
        let t = Transmit::Message { msg, seq: None };
        assert!(p.client.send(c_peering, t, p.now));
    }
    p.client.flush(c_peering);
    assert_eq!(p.client.dropped, 1, "the message over the limit is counted");
    p.deliver_to_server();
    assert_eq!(delivered(&mut p.server), [at_limit]);
    assert_eq!(p.server.dropped, 0);
}

/// With GSO, small messages pack into datagrams and a large one's fragments leave in
/// runs of equal segments (the last shorter): every batch is `count` datagrams of
/// `seg` bytes but the last, and everything arrives, in order.
#[test]
fn gso_batches_carry_packed_and_fragmented_messages() {
    let cfg = Config {
        max_segments: 64,
        ..Config::default()
    };
    let mut p = Pair::new(cfg, SocketType::Push, SocketType::Pull);
    p.deliver_to_client();
    let (c_peering, c_peer) = p.client_up();
    p.client.accept(c_peering, c_peer, p.now);
    let big = Msg::single(Bytes::from(
        (0..60_000u32).map(|i| i as u8).collect::<Vec<u8>>(),
    ));
    let small = |i: u32| Msg::single(Bytes::copy_from_slice(&i.to_be_bytes()));
    let want: Vec<Msg> = (0..100)
        .map(small)
        .chain([big])
        .chain((100..200).map(small))
        .collect();
    for msg in &want {
        let t = Transmit::Message {
            msg: msg.clone(),
            seq: None,
        };
        assert!(p.client.send(c_peering, t, p.now));
    }
    p.client.flush(c_peering);
    let mut batches = 0;
    while let Some(b) = p.client.peek_batch() {
        assert!(
            b.count >= 1 && b.buf.len() <= b.seg * b.count,
            "{} in {}",
            b.buf.len(),
            b.count
        );
        assert!(
            b.buf.len() > b.seg * (b.count - 1),
            "the last datagram is not empty"
        );
        for d in b.buf.chunks(b.seg) {
            p.server
                .handle_datagram(p.sl, p.c_addr, Bytes::copy_from_slice(d), p.now);
        }
        p.client.pop_batch();
        batches += 1;
    }
    assert!(batches >= 3, "packed, fragments, packed: {batches} batches");
    assert_eq!(delivered(&mut p.server), want);
}

/// A large message is reassembled in a buffer that comes back when the application
/// releases the message: a later one of that size is reassembled in the same memory.
/// While the first is held, the second gets other memory.
#[test]
fn a_released_large_message_leaves_its_buffer_to_the_next() {
    let mut p = Pair::new(Config::default(), SocketType::Push, SocketType::Pull);
    p.deliver_to_client();
    let (c_peering, c_peer) = p.client_up();
    p.client.accept(c_peering, c_peer, p.now);
    let send = |p: &mut Pair, fill: u8| {
        let t = Transmit::Message {
            msg: Msg::single(vec![fill; 64 * 1024]),
            seq: None,
        };
        assert!(p.client.send(c_peering, t, p.now));
        p.client.flush(c_peering);
        p.deliver_to_server();
        let mut got = delivered(&mut p.server);
        assert_eq!(got.len(), 1);
        let msg = got.pop().unwrap();
        assert_eq!(msg.byte_len(), 64 * 1024);
        assert!(msg.iter().flat_map(|f| f.iter()).all(|&b| b == fill));
        msg
    };
    let at = |m: &Msg| m.first().unwrap().as_ptr();
    let first = send(&mut p, 1);
    let held = send(&mut p, 2);
    let (a, b) = (at(&first), at(&held));
    assert_ne!(a, b, "the first is still held");
    drop(first);
    drop(held);
    // Allocations of that size in between: freed memory would go to them, pooled not.
    let others: Vec<Vec<u8>> = (0..4).map(|_| vec![0; 66 * 1024]).collect();
    let third = send(&mut p, 3);
    assert!([a, b].contains(&at(&third)), "a released buffer is reused");
    drop(others);
}
