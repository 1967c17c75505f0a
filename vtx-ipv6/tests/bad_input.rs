//! Hostile peers on a plain TCP socket: each is disconnected with a logged reason and a
//! counter, and a real REQ/REP pair on the same vtx socket keeps working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use vtx_emul::round_trip;
use vtx_emul::testing::addr::{port_of, with_scheme};
use vtx_emul::testing::wait_until;

fn greeting(major: u8, mechanism: &[u8]) -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = major;
    g[11] = 1;
    g[12..12 + mechanism.len()].copy_from_slice(mechanism);
    g
}

fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5u8];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    let mut f = vec![0x04, body.len() as u8];
    f.extend(body);
    f
}

/// Writes `bytes` from a raw TCP client; true if vtx then closed the connection.
fn closed_after(port: u16, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(format!("[::1]:{port}")).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let _ = s.write_all(bytes);
    let end = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 4096];
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true, // reset
        }
    }
    false
}

#[test]
fn hostile_peers_are_dropped_and_counted_while_others_work() {
    let t = Setup::new();
    let rep = t.vtx_sock(zmq::REP);
    rep.set_handshake_ivl(300).unwrap();
    let bound = rep.bind("tcp6://[::1]:0").unwrap();
    let port = port_of(&bound);
    let req = t.native_connect(zmq::REQ, &with_scheme(&bound, "tcp"));

    let mut oversize = greeting(3, b"NULL");
    oversize.extend(ready("REQ"));
    oversize.push(0x02);
    oversize.extend_from_slice(&(1u64 << 62).to_be_bytes());
    let mut message_before_ready = greeting(3, b"NULL");
    message_before_ready.extend_from_slice(&[0x00, 0x01, b'x']);
    let mut command_before_ready = greeting(3, b"NULL");
    command_before_ready.extend_from_slice(&[0x04, 0x0A, 9]);
    command_before_ready.extend_from_slice(b"SUBSCRIBE");
    let mut bad_ready = greeting(3, b"NULL");
    bad_ready.extend_from_slice(&[0x04, 0x09, 5, b'R', b'E', b'A', b'D', b'Y', 200, b'x', b'y']);
    let mut incompatible = greeting(3, b"NULL");
    incompatible.extend(ready("PUB"));

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "wrong signature",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "TLS client hello",
            vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00],
        ),
        ("bad version", greeting(2, b"NULL")),
        ("unknown mechanism", greeting(3, b"CURVE")),
        ("malformed mechanism", greeting(3, b"\x01\x02")),
        ("oversize frame", oversize),
        ("message before READY", message_before_ready),
        ("command before READY", command_before_ready),
        ("property past end of frame", bad_ready),
        ("incompatible socket type", incompatible),
        ("truncated greeting", greeting(3, b"NULL")[..20].to_vec()),
        ("silent peer", Vec::new()),
    ];
    for (i, (name, bytes)) in cases.iter().enumerate() {
        assert!(closed_after(port, bytes), "{name}: not disconnected");
        // The driver and the good peering go on.
        round_trip!(req, rep, i);
        let failures = meta(&rep, "handshake-failures");
        let refused = meta(&rep, "refused");
        // After the handshake a bad frame is a protocol error, not a failed handshake.
        let errors = meta(&rep, "protocol-errors");
        assert_eq!(
            failures + refused + errors,
            i as u64 + 1,
            "{name}: counted once"
        );
        let after_ready = *name == "oversize frame";
        assert_eq!(
            errors,
            u64::from(after_ready || i > 5),
            "{name}: a protocol error only once READY was through"
        );
    }
    assert_eq!(rep.peer_count(), 1);
}

#[test]
fn garbage_flood_does_not_disturb_a_working_pair() {
    let t = Setup::new();
    let rep = t.vtx_sock(zmq::REP);
    let bound = rep.bind("tcp6://[::1]:0").unwrap();
    let port = port_of(&bound);
    let req = t.native_connect(zmq::REQ, &with_scheme(&bound, "tcp"));
    let flood = std::thread::spawn(move || {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..200 {
            let Ok(mut s) = TcpStream::connect(format!("[::1]:{port}")) else {
                continue;
            };
            let mut junk = vec![0u8; 512];
            for b in junk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            junk[0] = 0xFF; // sometimes gets past the first check
            let _ = s.write_all(&junk);
        }
    });
    for i in 0..200 {
        round_trip!(req, rep, i);
    }
    flood.join().unwrap();
}

/// A peer that floods faster than the driver decodes, at a PULL with no RCVHWM (0:
/// unlimited, as libzmq): the driver reads it a budget per turn, so it keeps answering
/// the application and serving other peerings instead of reading that one link for as
/// long as the flood lasts.
#[test]
fn a_flood_with_no_rcvhwm_does_not_starve_the_driver() {
    let t = Setup::new();
    let pull = t.vtx_sock(zmq::PULL);
    pull.set_rcvhwm(0).unwrap();
    let ep = pull.bind("tcp6://[::1]:0").unwrap();
    let port = port_of(&ep);
    let mut s = TcpStream::connect(format!("[::1]:{port}")).unwrap();
    s.write_all(&greeting(3, b"NULL")).unwrap();
    s.write_all(&ready("PUSH")).unwrap();
    wait_until("the flooding peer", LIMIT, || pull.peer_count() == 1);
    // 256 KiB of 14-byte messages per write, for three seconds.
    let mut block = Vec::new();
    while block.len() < 256 * 1024 {
        block.extend_from_slice(&[0x00, 12]);
        block.extend_from_slice(b"flood flood!");
    }
    let flood = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            if s.write_all(&block).is_err() {
                break;
            }
        }
    });
    let mut slowest = Duration::ZERO;
    while !flood.is_finished() {
        let t0 = Instant::now();
        pull.meta("peers").unwrap();
        slowest = slowest.max(t0.elapsed());
        // The application reads too, as it would.
        while pull.recv_bytes(zmq::DONTWAIT).is_ok() {}
    }
    flood.join().unwrap();
    eprintln!("slowest driver answer during the flood: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(1500),
        "the driver answered only after {slowest:?}"
    );
}
