//! Hostile peers against the userspace backend on real sockets: random datagrams, bad
//! checksums, an INIT flood, a ZMTP header that lies about its length, a peer that
//! aborts in the middle of a message. Each is dropped (and counted where a socket
//! owns it); the driver goes on serving honest peers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
mod common;

use common::{meta, setup, sock, wait_until};
use vtx::{Vtx, VtxSocket};
use vtx_emul::round_trip;
use vtx_emul::testing::addr::socket_addr_of;
use vtx_sctp::SctpConfig;
use vtx_sctp::sctp_proto::{
    Association, ClientConfig, DatagramEvent, Endpoint, EndpointConfig, Event, Payload,
    PayloadProtocolIdentifier, ServerConfig,
};

const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

fn rep(vtx: &Vtx) -> (VtxSocket, SocketAddr) {
    let s = sock(vtx, zmq::REP);
    let ep = s.bind("sctp://127.0.0.1:0").unwrap();
    (s, socket_addr_of(&ep))
}

/// An honest REQ still gets its answer.
fn still_serves(vtx: &Vtx, rep: &VtxSocket, addr: SocketAddr) {
    let req = sock(vtx, zmq::REQ);
    req.connect(&format!("sctp://{addr}")).unwrap();
    round_trip!(req, rep, 0);
}

fn protocol_errors(s: &VtxSocket) -> u64 {
    meta(s, "protocol-errors")
}

fn with_checksum(mut p: Vec<u8>) -> Vec<u8> {
    p[8..12].fill(0);
    let sum = CRC32C.checksum(&p);
    p[8..12].copy_from_slice(&sum.to_le_bytes());
    p
}

fn init(tag: u32, port: u16) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_u16(port);
    b.put_u16(port);
    b.put_u32(0);
    b.put_u32(0);
    b.put_u8(1); // INIT
    b.put_u8(0);
    b.put_u16(20);
    b.put_u32(tag);
    b.put_u32(1 << 20);
    b.put_u16(1);
    b.put_u16(1);
    b.put_u32(tag);
    with_checksum(b.to_vec())
}

/// Random datagrams, half with a right checksum so they reach the chunk parsers: every
/// one with a wrong checksum is counted, none hurts, an honest REQ is served after.
#[test]
fn random_datagrams_and_bad_checksums() {
    let (_ctx, vtx) = setup();
    let (rep, addr) = rep(&vtx);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let mut bad = 0;
    for i in 0..20_000 {
        let len = rng.random_range(0..1500);
        let mut d: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        if i % 2 == 0 && d.len() >= 16 {
            d[12] = rng.random_range(0..16);
            d = with_checksum(d);
        }
        bad += u64::from(!vtx_sctp::checksum_ok(&d));
        let _ = attacker.send_to(&d, addr);
        if i % 100 == 99 {
            // Within the socket buffer: wait until the driver has counted them all.
            wait_until("bad checksums counted", || protocol_errors(&rep) >= bad);
        }
    }
    wait_until("bad checksums counted", || protocol_errors(&rep) >= bad);
    assert!(bad > 9_000, "{bad}");
    still_serves(&vtx, &rep, addr);
}

/// An INIT flood: the handshake table stays at its bound (1,024), each INIT past it
/// evicts the oldest pending association (counted), INITs with a wrong checksum evict
/// nothing, and an honest REQ is served.
#[test]
fn init_flood_is_bounded() {
    let (_ctx, vtx) = setup();
    let (rep, addr) = rep(&vtx);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let n = 5_000u32;
    for tag in 1..=n {
        let _ = attacker.send_to(&init(tag, 4000), addr);
        if tag % 100 == 0 {
            wait_until("INITs taken", || {
                meta(&rep, "sctp-handshaking") + meta(&rep, "sctp-evicted") >= u64::from(tag)
            });
        }
    }
    assert_eq!(
        meta(&rep, "sctp-handshaking"),
        1024,
        "the table is at its bound"
    );
    assert_eq!(meta(&rep, "sctp-evicted"), u64::from(n) - 1024);
    assert!(
        protocol_errors(&rep) >= u64::from(n) - 1024,
        "evictions counted"
    );
    // INITs a checksum refuses evict nothing.
    let errors = protocol_errors(&rep);
    for tag in 1..=500u32 {
        let mut p = init(n + tag, 4000);
        p[8] ^= 0xff;
        let _ = attacker.send_to(&p, addr);
    }
    wait_until("bad INITs counted", || {
        protocol_errors(&rep) >= errors + 500
    });
    assert_eq!(meta(&rep, "sctp-evicted"), u64::from(n) - 1024);
    still_serves(&vtx, &rep, addr);
}

/// An out-of-the-blue SHUTDOWN-ACK is answered with a SHUTDOWN-COMPLETE of the same
/// size, and only if its checksum is right.
#[test]
fn out_of_the_blue_shutdown_ack_needs_a_right_checksum() {
    let (_ctx, vtx) = setup();
    let (rep, addr) = rep(&vtx);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut ack = BytesMut::new();
    ack.put_u16(4000);
    ack.put_u16(addr.port());
    ack.put_u32(0x1234_5678);
    ack.put_u32(0);
    ack.put_u8(8); // SHUTDOWN-ACK
    ack.put_u8(0);
    ack.put_u16(4);
    let good = with_checksum(ack.to_vec());
    let mut bad = good.clone();
    bad[9] ^= 1;
    let errors = protocol_errors(&rep);
    s.send_to(&bad, addr).unwrap();
    // Counted when the driver has handled it; an answer would have been sent then.
    wait_until("the bad one counted", || protocol_errors(&rep) > errors);
    let mut buf = [0u8; 64];
    s.set_nonblocking(true).unwrap();
    assert!(
        s.recv_from(&mut buf).is_err(),
        "a wrong checksum was answered"
    );
    s.set_nonblocking(false).unwrap();
    s.send_to(&good, addr).unwrap();
    let (n, _) = s.recv_from(&mut buf).expect("a SHUTDOWN-COMPLETE");
    assert_eq!(n, good.len(), "no larger than the packet it answers");
    assert_eq!(buf[12], 14, "SHUTDOWN-COMPLETE");
    assert_eq!(buf[13], 1, "T bit");
    assert!(vtx_sctp::checksum_ok(&buf[..n]));
    still_serves(&vtx, &rep, addr);
}

/// A client made of sctp-proto directly, to say what vtx never would.
struct RawPeer {
    socket: UdpSocket,
    endpoint: Endpoint,
    assoc: Association,
    /// The verification tag the server expects, read off our own packets.
    peer_tag: Option<[u8; 4]>,
    local_port: u16,
    server: SocketAddr,
}

impl RawPeer {
    fn connect(server: SocketAddr) -> RawPeer {
        let cfg = SctpConfig::default();
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        let local_port = socket.local_addr().unwrap().port();
        let mut sc = ServerConfig::new();
        sc.transport = Arc::new(cfg.transport_config(None));
        let mut endpoint = Endpoint::new(Arc::new(EndpointConfig::new()), Some(Arc::new(sc)));
        let mut cc = ClientConfig::new();
        cc.transport = Arc::new(cfg.transport_config(Some((local_port, server.port()))));
        let (_, assoc) = endpoint.connect(cc, server).unwrap();
        let mut p = RawPeer {
            socket,
            endpoint,
            assoc,
            peer_tag: None,
            local_port,
            server,
        };
        wait_until("an association", || {
            p.pump();
            matches!(p.assoc.poll(), Some(Event::Connected))
        });
        if p.assoc.stream(0).is_err() {
            p.assoc
                .open_stream(0, PayloadProtocolIdentifier::Binary)
                .unwrap();
        }
        p
    }

    fn pump(&mut self) {
        let now = Instant::now();
        if self.assoc.poll_timeout().is_some_and(|t| t <= now) {
            self.assoc.handle_timeout(now);
        }
        while let Some(t) = self.assoc.poll_transmit(now) {
            if let Payload::RawEncode(ds) = t.payload {
                for d in ds {
                    if d.len() >= 8 && d[4..8] != [0; 4] {
                        self.peer_tag = Some([d[4], d[5], d[6], d[7]]);
                    }
                    let _ = self.socket.send_to(&d, t.remote);
                }
            }
        }
        let mut buf = [0u8; 65_536];
        while let Ok((n, from)) = self.socket.recv_from(&mut buf) {
            let data = Bytes::copy_from_slice(&buf[..n]);
            if let Some((_, DatagramEvent::AssociationEvent(ev))) =
                self.endpoint.handle(Instant::now(), from, None, None, data)
            {
                self.assoc.handle_event(ev);
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }

    fn send(&mut self, bytes: &[u8]) {
        self.assoc
            .stream(0)
            .unwrap()
            .write_sctp(
                &Bytes::copy_from_slice(bytes),
                PayloadProtocolIdentifier::Binary,
            )
            .unwrap();
        for _ in 0..20 {
            self.pump();
        }
    }

    /// Connected, handshaken, and a peer of `rep`.
    fn up(server: SocketAddr, rep: &VtxSocket) -> RawPeer {
        let mut peer = RawPeer::connect(server);
        peer.handshake();
        wait_until("the raw peer up", || {
            peer.pump();
            rep.peer_count() > 0
        });
        peer
    }

    /// Greeting and READY of a REQ.
    fn handshake(&mut self) {
        let mut g = vec![0u8; 64];
        g[0] = 0xff;
        g[9] = 0x7f;
        g[10] = 3;
        g[11] = 1;
        g[12..16].copy_from_slice(b"NULL");
        let mut ready = vec![0x04, 0];
        let body = b"\x05READY\x0bSocket-Type\x00\x00\x00\x03REQ";
        ready[1] = body.len() as u8;
        ready.extend_from_slice(body);
        g.extend_from_slice(&ready);
        self.send(&g);
    }

    /// An ABORT with the tag the server expects.
    fn abort(&mut self) {
        let tag = self.peer_tag.expect("a packet went out");
        let mut b = BytesMut::new();
        b.put_u16(self.local_port);
        b.put_u16(self.server.port());
        b.put_slice(&tag);
        b.put_u32(0);
        b.put_u8(6); // ABORT
        b.put_u8(0);
        b.put_u16(4);
        let p = with_checksum(b.to_vec());
        self.socket.send_to(&p, self.server).unwrap();
    }
}

#[test]
fn a_lying_frame_header_drops_the_peering() {
    let (_ctx, vtx) = setup();
    let (rep, addr) = rep(&vtx);
    let mut peer = RawPeer::up(addr, &rep);
    // A long frame claiming 2^60 bytes: refused from the header, nothing allocated.
    let mut frame = vec![0x02];
    frame.extend_from_slice(&(1u64 << 60).to_be_bytes());
    frame.extend_from_slice(b"not that much");
    peer.send(&frame);
    wait_until("the lying peer dropped", || {
        peer.pump();
        rep.peer_count() == 0 && protocol_errors(&rep) > 0
    });
    still_serves(&vtx, &rep, addr);
}

#[test]
fn an_abort_mid_message_drops_only_that_peering() {
    let (_ctx, vtx) = setup();
    let (rep, addr) = rep(&vtx);
    let mut peer = RawPeer::up(addr, &rep);
    // Half of a 100 KiB request, then ABORT.
    let mut frame = vec![0x02];
    frame.extend_from_slice(&(100u64 * 1024).to_be_bytes());
    frame.extend_from_slice(&[0u8; 50 * 1024]);
    peer.send(&frame);
    peer.abort();
    wait_until("the aborted peering down", || rep.peer_count() == 0);
    still_serves(&vtx, &rep, addr);
    // The half message never reached the application.
    assert!(rep.recv_bytes(zmq::DONTWAIT).is_err());
}
