//! Every datagram is hostile: garbage at a bound socket is counted and dropped while a
//! real REQ/REP pair on the same socket keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod setup;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use setup::{meta, setup, sock};
use vtx_emul::round_trip;
use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::wait_for_count;
use vtx_udp::nom2::wire;

#[test]
fn random_datagrams_do_not_disturb_a_working_pair() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("udp://127.0.0.1:0").unwrap();
    let port = port_of(&ep);
    let req = sock(&vtx, zmq::REQ);
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
        round_trip!(req, rep, rounds);
        rounds += 1;
        assert!(t0.elapsed() < Duration::from_secs(60));
    }
    flood.join().unwrap();
    let errors = wait_for_count("garbage counted", Duration::from_secs(10), 10_001, || {
        meta(&rep, "protocol-errors")
    });
    // Random bytes that happen to form an OHAI get a COOKIE and make no peering
    // (docs/nom-2.md §4.1); the real peering survived throughout.
    assert_eq!(req.peer_count(), 1, "the real peering survived");
    assert_eq!(rep.peer_count(), 1, "garbage made no peering");
    eprintln!("{rounds} round trips during the flood; {errors} bad datagrams counted");
}
