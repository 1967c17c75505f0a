//! NOM-2 against peers that lie (docs/nom-2.md §9), sans-IO on the simulated network:
//! spoofed sources get no more bytes than they sent and leave no state, a validated
//! flood is refused within bounds, a WINDOW for data never sent is refused, and a
//! fragment flood costs what it sends and leaves the peering working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::{Sim, udp_opts};
use vtx_emul::{Msg, SocketOptions, SocketType as T};
use vtx_udp::nom2::wire::{self, Cmd, Hello};
use vtx_udp::nom2::{Config, Failure, PieceError};

fn hello(sender: u32, ty: T) -> Hello {
    Hello {
        sender,
        socket_type: ty,
        identity: Bytes::new(),
    }
}

fn ohai(sender: u32, ty: T, cookie: &wire::Cookie) -> Vec<u8> {
    let mut d = Vec::new();
    wire::encode_ohai(&mut d, &hello(sender, ty), cookie);
    d
}

/// Everything node `n` has queued to send, as (destination, datagram).
fn drain(sim: &mut Sim, n: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(b) = sim.nodes[n].engine.peek_batch() {
        for d in b.buf.chunks(b.seg.max(1)) {
            out.push((b.dst, d.to_vec()));
        }
        sim.nodes[n].engine.pop_batch();
    }
    out
}

fn stranger(i: u32) -> SocketAddr {
    format!("127.1.{}.{}:{}", i / 250, i % 250, 1000 + i)
        .parse()
        .unwrap()
}

#[test]
fn spoofed_ohai_ok_and_unknown_peerings_are_dropped() {
    let mut sim = Sim::new(2, 0.0, 0.0);
    let a = sim.node(Config::default());
    let c = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
    let me = sim.connect(c, "127.0.0.9:9000", false); // nobody there
    sim.run_until(Duration::from_millis(50), |_| false);
    for guess in [1u32, 2, 0xFFFF_FFFF] {
        let mut spoof = Vec::new();
        wire::encode_ohai_ok(&mut spoof, guess, &hello(99, T::Rep));
        sim.deliver(me, "127.0.0.66:1".parse().unwrap(), Bytes::from(spoof));
    }
    let mut nom = Vec::new();
    wire::put_header(&mut nom, Cmd::Nom, 1234);
    sim.deliver(me, "127.0.0.66:1".parse().unwrap(), Bytes::from(nom));
    assert_eq!(sim.peers(c), 0, "a guessed nonce must not make a peering");
    assert_eq!(sim.nodes[a].apps.failures, 4, "each counted");
}

/// §4.1: an OHAI from an address that has not shown it receives there gets a COOKIE,
/// smaller than the OHAI, and the server keeps nothing: no peering, no heartbeats to
/// the spoofed address, nothing for the socket to refuse.
#[test]
fn ohai_from_an_unproved_address_gets_a_cookie_and_leaves_no_state() {
    let mut sim = Sim::new(3, 0.0, 0.0);
    let a = sim.node(Config::default());
    let server = sim.socket(a, T::Router, udp_opts(SocketOptions::default()));
    let addr = sim.bind(server, "127.0.0.1:9100");
    let (mut bytes_in, mut bytes_out) = (0, 0);
    for i in 0..2000u32 {
        // Half compatible, half not: the type is not even looked at yet.
        let ty = if i % 2 == 0 { T::Dealer } else { T::Pub };
        let d = ohai(i + 1, ty, &[0; wire::COOKIE_LEN]);
        bytes_in += d.len();
        sim.deliver(addr, stranger(i), Bytes::from(d.clone()));
        let answers = drain(&mut sim, a);
        assert_eq!(answers.len(), 1, "one answer per OHAI");
        let (to, answer) = &answers[0];
        assert_eq!(*to, stranger(i));
        assert_eq!(answer[1], Cmd::Cookie as u8);
        assert!(answer.len() <= d.len(), "{} > {}", answer.len(), d.len());
        bytes_out += answer.len();
    }
    assert_eq!(sim.nodes[a].engine.peering_count(), 0, "no state kept");
    assert_eq!(sim.nodes[a].engine.cookies_sent, 2000);
    assert_eq!(sim.app(server).v.stats().refused, 0);
    // Nothing is sent to the spoofed addresses afterwards (no HUGZ, no retries).
    sim.run_until(Duration::from_secs(10), |_| false);
    assert!(drain(&mut sim, a).is_empty());
    eprintln!(
        "2000 spoofed OHAIs: {bytes_in} B in, {bytes_out} B out ({:.2}x)",
        bytes_out as f64 / bytes_in as f64
    );
}

/// §9: whatever a stranger sends, the answer is no larger.
#[test]
fn answers_to_strangers_are_never_larger_than_what_they_sent() {
    let mut sim = Sim::new(4, 0.0, 0.0);
    let a = sim.node(Config::default());
    let server = sim.socket(a, T::Rep, udp_opts(SocketOptions::default()));
    let addr = sim.bind(server, "127.0.0.1:9200");
    let mut hugz = Vec::new();
    wire::encode_hugz(&mut hugz, 0xdead_beef, 0);
    let short_hugz = hugz[..10].to_vec(); // a HUGZ without the padding
    let mut nom = Vec::new();
    wire::put_header(&mut nom, Cmd::Nom, 0xdead_beef);
    wire::put_record_header(&mut nom, wire::RECORD_MSG, 2, 1, None);
    nom.extend_from_slice(&[1, b'x']);
    let mut window = Vec::new();
    wire::encode_window(&mut window, 0xdead_beef, 5);
    let mut sub = Vec::new();
    wire::encode_sub(&mut sub, 0xdead_beef, true, 1, b"");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "OHAI, incompatible type",
            ohai(7, T::Pub, &[0; wire::COOKIE_LEN]),
        ),
        (
            "OHAI, compatible type",
            ohai(8, T::Req, &[0; wire::COOKIE_LEN]),
        ),
        (
            "OHAI, forged cookie",
            ohai(9, T::Req, &[0x55; wire::COOKIE_LEN]),
        ),
        ("HUGZ, unknown peering", hugz),
        ("short HUGZ, unknown peering", short_hugz),
        ("NOM, unknown peering", nom),
        ("WINDOW, unknown peering", window),
        ("SUB, unknown peering", sub),
    ];
    for (i, (what, d)) in cases.into_iter().enumerate() {
        sim.deliver(addr, stranger(i as u32), Bytes::from(d.clone()));
        let out: usize = drain(&mut sim, a).iter().map(|(_, b)| b.len()).sum();
        assert!(out <= d.len(), "{what}: {out} B answered to {} B", d.len());
        eprintln!("{what}: {} B in, {out} B out", d.len());
    }
    assert_eq!(sim.nodes[a].engine.peering_count(), 0);
}

/// Sources that do receive (they echo their cookies) but exceed the socket's peering
/// limit are refused with ROTFL, and what the server remembers of refusals is bounded.
#[test]
fn validated_flood_past_max_peers_is_refused_and_bounded() {
    let mut sim = Sim::new(5, 0.0, 0.0);
    let a = sim.node(Config::default());
    let server = sim.socket(
        a,
        T::Router,
        udp_opts(SocketOptions::default().with_max_peers(50)),
    );
    let addr = sim.bind(server, "127.0.0.1:9300");
    let mut rotfl = 0;
    for i in 0..2000u32 {
        let src = stranger(i);
        sim.deliver(addr, src, Bytes::from(ohai(i + 1, T::Dealer, &[0; 16])));
        let answers = drain(&mut sim, a);
        let mut cookie = [0; wire::COOKIE_LEN];
        cookie.copy_from_slice(&answers[0].1[wire::HEADER_LEN..]);
        sim.deliver(addr, src, Bytes::from(ohai(i + 1, T::Dealer, &cookie)));
        for (_, d) in drain(&mut sim, a) {
            rotfl += usize::from(d[1] == Cmd::Rotfl as u8);
        }
    }
    assert_eq!(sim.peers(server), 50);
    assert!(
        sim.nodes[a].engine.peering_count() <= 50,
        "refused OHAIs leave no peering"
    );
    assert_eq!(rotfl, 1950, "every refused one got a ROTFL");
    assert!(
        sim.nodes[a].engine.remembered_refusals() <= 1024,
        "refusals remembered: {}",
        sim.nodes[a].engine.remembered_refusals()
    );
}

/// A PUSH and a PULL peered on the simulated network, with one message through.
fn pair(seed: u64) -> (Sim, (usize, u64), (usize, u64), SocketAddr, SocketAddr) {
    let mut sim = Sim::new(seed, 0.0, 0.0);
    sim.delay = (1, 1);
    let a = sim.node(Config::default());
    let b = sim.node(Config::default());
    let push = sim.socket(a, T::Push, udp_opts(SocketOptions::default()));
    let pull = sim.socket(b, T::Pull, udp_opts(SocketOptions::default()));
    let pull_addr = sim.bind(pull, "127.0.0.2:7000");
    let push_addr = sim.connect(push, "127.0.0.2:7000", false);
    assert!(sim.run_until(Duration::from_secs(5), |s| s.peers(push) == 1
        && s.peers(pull) == 1));
    (sim, push, pull, push_addr, pull_addr)
}

/// The header id `from` puts in its datagrams to `to`, read off the wire (a sender
/// sends a probe first).
fn sniff_id(sim: &mut Sim, from: (usize, u64), to: SocketAddr) -> u32 {
    if sim.app(from).v.can_send() {
        sim.send(from, Msg::single("probe"));
    }
    for _ in 0..100 {
        sim.pump(from.0);
        if let Some(f) = sim.in_flight.iter().find(|f| f.3 == to) {
            return u32::from_be_bytes(f.4[4..8].try_into().unwrap());
        }
        sim.step();
    }
    panic!("nothing sent to {to}");
}

/// §6.4: a WINDOW acknowledging data never sent is refused; before, it closed the
/// sender's window for good and the peering sent nothing more.
#[test]
fn window_beyond_what_was_sent_is_refused() {
    let (mut sim, push, pull, push_addr, pull_addr) = pair(6);
    let _ = sniff_id(&mut sim, push, pull_addr);
    // The PULL acknowledges the probe (a WINDOW): its header id addresses the PUSH.
    let to_push = sniff_id(&mut sim, pull, push_addr);
    let failures = sim.nodes[push.0].apps.failures;
    let mut w = Vec::new();
    wire::encode_window(&mut w, to_push, 1_000_000);
    sim.deliver(push_addr, pull_addr, Bytes::from(w));
    assert_eq!(
        sim.nodes[push.0].apps.failures,
        failures + 1,
        "counted (id {to_push:#x})"
    );
    for i in 0..3000u32 {
        assert!(
            sim.run_until(Duration::from_secs(5), |s| s.app(push).v.can_send()),
            "PUSH wedged after {i} messages"
        );
        sim.send(push, Msg::single(Bytes::from(i.to_be_bytes().to_vec())));
        sim.step();
    }
    assert!(sim.run_until(Duration::from_secs(10), |s| s.app(pull).got.len() >= 3001));
}

/// FRAG records of one message of `total` octets from `dseq`, each a piece of
/// `len` octets at the offsets given, as many to a datagram as fit in 1,400 octets.
fn fragment_datagrams(id: u32, dseq: u32, total: u32, len: usize, offsets: &[u32]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut d = Vec::new();
    for &off in offsets {
        if d.len() + 16 + len > 1400 || d.is_empty() {
            if !d.is_empty() {
                out.push(std::mem::take(&mut d));
            }
            wire::put_header(&mut d, Cmd::Nom, id);
        }
        wire::put_record_header(&mut d, wire::RECORD_FRAG, 8 + len, dseq, None);
        d.extend_from_slice(&total.to_be_bytes());
        d.extend_from_slice(&off.to_be_bytes());
        d.extend(std::iter::repeat_n(0u8, len));
    }
    out.push(d);
    out
}

fn reassembly_failures(sim: &Sim, node: usize, e: PieceError) -> usize {
    sim.nodes[node]
        .apps
        .failed
        .iter()
        .filter(|f| **f == Failure::Reassembly(e))
        .count()
}

/// The fragment flood of the outside review, on the engine: 2,000 datagrams of tiny
/// FRAG records of one declared 64 KiB message, from a real peer's address with its
/// real peering id. Empty pieces are refused as malformed; one-byte pieces beyond what
/// a sender could cut (64 KiB / 256 + 1) drop the partial message; overlapping pieces
/// drop it too; the charge stays within the budget and returns to nothing when partial
/// messages expire; and the real peering goes on.
#[test]
fn fragment_flood_is_refused_and_the_peering_goes_on() {
    let (mut sim, push, pull, push_addr, pull_addr) = pair(7);
    let to_pull = sniff_id(&mut sim, push, pull_addr);
    sim.run_until(Duration::from_millis(100), |_| false);
    let budget = Config::default().reassembly_budget;
    // Empty pieces: each datagram stops at its first one.
    let before = sim.nodes[pull.0].apps.failures;
    let mut empties = 0;
    for _ in 0..1000 {
        let mut d = Vec::new();
        wire::put_header(&mut d, Cmd::Nom, to_pull);
        while d.len() + 16 <= 1400 {
            wire::put_record_header(&mut d, wire::RECORD_FRAG, 8, 1_000, None);
            d.extend_from_slice(&65_536u32.to_be_bytes());
            d.extend_from_slice(&0u32.to_be_bytes());
        }
        sim.deliver(pull_addr, push_addr, Bytes::from(d));
        empties += 1;
    }
    let refused = sim.nodes[pull.0].apps.failures - before;
    assert_eq!(refused, empties, "every datagram of empty pieces refused");
    assert_eq!(
        sim.nodes[pull.0].engine.reassembly_bytes(),
        0,
        "nothing kept for them"
    );
    // One-byte pieces two octets apart, 1,000 datagrams of them.
    let offsets: Vec<u32> = (0..85_000u32).map(|i| (2 * i) % 65_535).collect();
    for d in fragment_datagrams(to_pull, 1_001, 65_536, 1, &offsets) {
        sim.deliver(pull_addr, push_addr, Bytes::from(d));
        let charged = sim.nodes[pull.0].engine.reassembly_bytes();
        assert!(charged <= budget, "{charged}");
        assert!(
            charged <= 2 * (65_536 / 256 + 1) * (1400 + 64),
            "{charged} for two partials"
        );
    }
    let too_many = reassembly_failures(&sim, pull.0, PieceError::TooMany);
    assert!(
        too_many >= 85_000 / 258,
        "{too_many} partials dropped for too many pieces"
    );
    // Overlapping pieces: 0..600 then 300..900.
    for d in fragment_datagrams(to_pull, 1_002, 4096, 600, &[0])
        .into_iter()
        .chain(fragment_datagrams(to_pull, 1_002, 4096, 600, &[300]))
    {
        sim.deliver(pull_addr, push_addr, Bytes::from(d));
    }
    assert_eq!(reassembly_failures(&sim, pull.0, PieceError::Overlap), 1);
    assert_eq!(
        sim.peers(pull),
        1,
        "the peering survives its own peer's garbage"
    );
    // Whatever was left expires, and the charge goes back to nothing.
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.nodes[pull.0].engine.reassembly_bytes() == 0
    }));
    // The honest sender is still heard.
    for i in 0..100u32 {
        assert!(sim.run_until(Duration::from_secs(5), |s| s.app(push).v.can_send()));
        sim.send(push, Msg::single(Bytes::from(i.to_be_bytes().to_vec())));
        sim.step();
    }
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s
            .app(pull)
            .got
            .iter()
            .any(|m| m.frames()[0][..] == 99u32.to_be_bytes())),
        "honest messages after the flood"
    );
}

/// §4.1, the client side: a unicast client answers a COOKIE only from the server it
/// connects to, so a COOKIE cannot make it send OHAIs anywhere else.
#[test]
fn a_client_answers_cookies_only_from_its_server() {
    let mut sim = Sim::new(8, 0.0, 0.0);
    let a = sim.node(Config::default());
    let c = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
    let me = sim.connect(c, "127.0.0.9:9000", false);
    // Its OHAI carries the nonce a COOKIE must echo.
    let out = drain(&mut sim, a);
    let nonce = u32::from_be_bytes(out[0].1[8..12].try_into().unwrap());
    let mut cookie = Vec::new();
    wire::encode_cookie(&mut cookie, nonce, &[3; wire::COOKIE_LEN]);
    sim.deliver(
        me,
        "127.0.0.66:9000".parse().unwrap(),
        Bytes::from(cookie.clone()),
    );
    assert!(
        drain(&mut sim, a).is_empty(),
        "answered a stranger's COOKIE"
    );
    sim.deliver(me, "127.0.0.9:9000".parse().unwrap(), Bytes::from(cookie));
    let out = drain(&mut sim, a);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, "127.0.0.9:9000".parse().unwrap());
    assert_eq!(out[0].1[1], Cmd::Ohai as u8);
    assert_eq!(
        out[0].1[out[0].1.len() - wire::COOKIE_LEN..],
        [3; wire::COOKIE_LEN],
        "echoes it"
    );
}

/// §4.1, discovery: a broadcast client answers COOKIEs from its broadcast's network
/// and port only, each server once per round of OHAIs.
#[test]
fn a_broadcast_client_answers_each_server_once_per_round() {
    let mut sim = Sim::new(9, 0.0, 0.0);
    let a = sim.node(Config::default());
    let c = sim.socket(a, T::Req, udp_opts(SocketOptions::default()));
    let me = sim.connect(c, "127.255.255.255:9000", true);
    let out = drain(&mut sim, a);
    let nonce = u32::from_be_bytes(out[0].1[8..12].try_into().unwrap());
    let mut cookie = Vec::new();
    wire::encode_cookie(&mut cookie, nonce, &[4; wire::COOKIE_LEN]);
    let server: SocketAddr = "127.0.0.20:9000".parse().unwrap();
    for _ in 0..10 {
        sim.deliver(me, server, Bytes::from(cookie.clone()));
    }
    assert_eq!(
        drain(&mut sim, a).len(),
        1,
        "one answer per server and round"
    );
    for outside in ["127.0.0.21:9001", "10.0.0.1:9000"] {
        sim.deliver(me, outside.parse().unwrap(), Bytes::from(cookie.clone()));
        assert!(drain(&mut sim, a).is_empty(), "answered {outside}");
    }
}
