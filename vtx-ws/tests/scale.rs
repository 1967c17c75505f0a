//! 10,000 half-open upgrades (a partial HTTP request, then silence) against one ws://
//! driver: a good client is served meanwhile, each pending upgrade costs the driver
//! about what it sent, not a read buffer, and HANDSHAKE_IVL ends them all, counted.
//! The attackers run in a child process (both ends in one would need 20,000
//! descriptors).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use vtx_emul::testing::measure::CountingAlloc;
use vtx_emul::testing::process::spawn_test;
use vtx_emul::testing::scale::{many_peers, raise_fd_limit};
use vtx_emul::testing::wait_for_count;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;
const FDS: u64 = N as u64 + 2000;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(10),
}

/// The attackers: N connections that each send half an upgrade request, then wait
/// for the server to close them all; prints `up`, then `closed`.
#[test]
fn half_open_child() {
    let Ok(target) = std::env::var("VTX_HALF_OPEN_TARGET") else {
        return;
    };
    raise_fd_limit(FDS);
    let half = format!("GET /zmq HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\n");
    let mut conns: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = TcpStream::connect(&target).unwrap();
            s.write_all(half.as_bytes()).unwrap();
            s
        })
        .collect();
    println!("up");
    for s in &mut conns {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut b = [0u8; 64];
        assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "still open");
    }
    println!("closed");
}

#[test]
fn ten_thousand_half_open_upgrades_are_bounded_and_timed_out() {
    let _turn = many_peers(N, FDS);
    let _ = env_logger::builder().is_test(true).try_init();
    let (_ctx, vtx) = manager("ws", vtx_ws::WsTransport::default());
    let rep = sock(&vtx, zmq::REP);
    rep.set_handshake_ivl(4000).unwrap();
    let ep = rep.bind("ws://127.0.0.1:0/zmq").unwrap();
    let target = ep
        .trim_start_matches("ws://")
        .trim_end_matches("/zmq")
        .to_owned();
    let before = HEAP.settled();
    let start = Instant::now();
    let mut child = spawn_test("half_open_child", &[("VTX_HALF_OPEN_TARGET", &target)]);
    child.expect("up");
    eprintln!("{N} half-open upgrades in {:?}", start.elapsed());
    // All accepted and read: each pending upgrade costs its bytes and its state.
    std::thread::sleep(Duration::from_millis(500));
    let per = (HEAP.settled() - before) as f64 / N as f64;
    eprintln!("a half-open ws upgrade: {per:.0} bytes of driver heap each ({N} of them)");
    assert!(
        per < 8192.0,
        "a half-open upgrade costs {per:.0} bytes (target: 8 KiB)"
    );
    // A good client is served meanwhile.
    let ctx = zmq::Context::new();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.set_linger(0).unwrap();
    req.connect(&ep).unwrap();
    let t = Instant::now();
    req.send("still served", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"still served");
    rep.send("yes", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"yes");
    eprintln!("a round trip beside them: {:?}", t.elapsed());
    // HANDSHAKE_IVL ends every one of them, each counted.
    wait_for_count("timed out", Duration::from_secs(60), N as u64, || {
        rep.stats().map_or(0, |s| s.handshake_failures)
    });
    eprintln!("all timed out at {:?}", start.elapsed());
    child.expect("closed");
    eprintln!("the child saw them closed at {:?}", start.elapsed());
}
