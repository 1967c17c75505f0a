//! Every datagram is hostile: garbage at a bound socket is counted and dropped while a
//! real REQ/REP pair on the same socket keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use vtx::Vtx;
use vtx_udp::nom2::wire;

#[test]
fn random_datagrams_do_not_disturb_a_working_pair() {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("udp", vtx_udp::UdpTransport::default())
        .unwrap();
    let rep = vtx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(5000).unwrap();
    let ep = rep.bind("udp://127.0.0.1:0").unwrap();
    let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
    let req = vtx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(5000).unwrap();
    req.connect(&ep).unwrap();

    let flood = std::thread::spawn(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut buf = [0u8; 512];
        for i in 0..100_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 200) as usize;
            for (j, b) in buf[..len].iter_mut().enumerate() {
                *b = (x >> (j % 8 * 8)) as u8 ^ j as u8;
            }
            // A third look like NOM-2, so the parser goes deeper than the signature.
            if i % 3 == 0 && len >= 8 {
                buf[0] = wire::SIGNATURE;
                buf[1] = (x % 11) as u8;
                buf[2] = 0;
                buf[3] = 0;
            }
            let _ = s.send_to(&buf[..len], ("127.0.0.1", port));
            if i % 2000 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // let the pair breathe
            }
        }
    });
    let t0 = Instant::now();
    let mut rounds = 0;
    while !flood.is_finished() || rounds < 100 {
        req.send(format!("{rounds}").as_bytes(), 0).unwrap();
        assert_eq!(rep.recv_bytes(0).unwrap(), format!("{rounds}").as_bytes());
        rep.send("ok", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"ok");
        rounds += 1;
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
    flood.join().unwrap();
    let errors = || -> u64 {
        rep.meta("protocol-errors")
            .unwrap()
            .unwrap()
            .parse()
            .unwrap()
    };
    vtx_emul::testing::wait_until("garbage counted", Duration::from_secs(10), || {
        errors() > 10_000
    });
    let errors = errors();
    // Random bytes that happen to form an OHAI get a COOKIE and make no peering
    // (docs/nom-2.md §4.1); the real peering survived throughout.
    assert_eq!(req.peer_count(), 1, "the real peering survived");
    assert_eq!(rep.peer_count(), 1, "garbage made no peering");
    eprintln!("{rounds} round trips during the flood; {errors} bad datagrams counted");
}
