//! 10,000 concurrent NOM-2 peerings on one driver thread: all come up, a ROUTER answers
//! every dealer, a PUB reaches exactly the matching subscribers; and the idle memory
//! each peering costs the driver, measured with a counting allocator while the peers
//! run in a child process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx::Vtx;
use vtx_emul::testing::{CountingAlloc, raise_fd_limit};
use vtx_emul::{Msg, SocketOptions, SocketType};
use vtx_udp::swarm::UdpSwarm;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;

/// One 10,000-peer test at a time: two at once would pass the open-file limit.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn setup() -> (zmq::Context, Vtx) {
    // Callers hold `serial()`.
    assert!(
        raise_fd_limit(4 * N as u64) >= N as u64 + 1000,
        "cannot raise the open-file limit for {N} peers"
    );
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("udp", vtx_udp::UdpTransport::default())
        .unwrap();
    (ctx, vtx)
}

fn wait_peers(s: &vtx::VtxSocket, n: usize, limit: Duration) {
    let end = Instant::now() + limit;
    while s.peer_count() < n {
        assert!(
            Instant::now() < end,
            "only {} of {n} peerings came up",
            s.peer_count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn router_answers_ten_thousand_dealers() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    let ep = router.bind("udp://127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let swarm = UdpSwarm::spawn(
        ep[6..].parse().unwrap(),
        N,
        SocketType::Dealer,
        SocketOptions::default(),
        |_| vec![],
    )
    .unwrap();
    wait_peers(&router, N, Duration::from_secs(90));
    assert!(swarm.wait_up(N, Duration::from_secs(30)));
    eprintln!(
        "{N} NOM-2 peerings up in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    // A fleet does not speak in lockstep: 1,000 dealers every 20 ms (10,000 datagrams
    // in one instant would overflow any kernel receive buffer; DEALER is at most once).
    for i in 0..N {
        swarm.send(i, Msg::single(Bytes::from_static(b"hello")));
        if i % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut ids = std::collections::HashSet::new();
    for k in 0..N {
        let m = router.recv_multipart(0).unwrap_or_else(|e| {
            let meta = |key| router.meta(key).unwrap().unwrap_or_default();
            panic!(
                "after {k} messages: {e}; msgs-in {}, dropped {} (app-full {}), protocol-errors {}, peers {}",
                meta("msgs-in"),
                meta("dropped"),
                meta("dropped-app-full"),
                meta("protocol-errors"),
                meta("peers")
            )
        });
        assert_eq!(m[1], b"hello");
        ids.insert(m[0].clone());
        router
            .send_multipart([m[0].clone(), b"ack".to_vec()], 0)
            .unwrap();
    }
    assert_eq!(ids.len(), N, "every dealer is its own identity");
    let end = Instant::now() + Duration::from_secs(60);
    while swarm.total_received() < N {
        assert!(
            Instant::now() < end,
            "{} of {N} replies arrived",
            swarm.total_received()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        (0..N).all(|i| swarm.received(i).0 == 1),
        "each dealer got exactly its reply"
    );
}

#[test]
fn pub_reaches_exactly_the_matching_subscribers() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let publisher = vtx.socket(zmq::PUB).unwrap();
    let ep = publisher.bind("udp://127.0.0.1:0").unwrap();
    let sub = |i: usize| {
        vec![Msg::single(Bytes::from(if i % 2 == 0 {
            b"\x01even".to_vec()
        } else {
            b"\x01odd".to_vec()
        }))]
    };
    let swarm = UdpSwarm::spawn(
        ep[6..].parse().unwrap(),
        N,
        SocketType::Sub,
        SocketOptions::default(),
        sub,
    )
    .unwrap();
    wait_peers(&publisher, N, Duration::from_secs(90));
    // Subscriptions travel reliably but asynchronously: publish until every even
    // subscriber has its message, then one for the odd ones, which must have it first.
    let publish_until = |msg: &str, first: usize| {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            publisher.send(msg, 0).unwrap();
            std::thread::sleep(Duration::from_millis(200));
            let got = (first..N)
                .step_by(2)
                .filter(|&i| swarm.received(i).0 > 0)
                .count();
            if got == N / 2 {
                return;
            }
            assert!(
                Instant::now() < end,
                "{got} of {} reached by {msg:?}",
                N / 2
            );
        }
    };
    publish_until("even: news", 0);
    publish_until("odd: last", 1);
    for i in (1..N).step_by(2) {
        let first = swarm.first_received(i).unwrap();
        assert_eq!(
            first.frames()[0],
            &b"odd: last"[..],
            "odd subscriber {i} got an even message"
        );
    }
}

/// Child process: `N` idle peers of the parent's socket, until killed.
#[test]
fn idle_swarm_child() {
    let Ok(addr) = std::env::var("VTX_SWARM_TARGET") else {
        return;
    };
    raise_fd_limit(4 * N as u64);
    let swarm = UdpSwarm::spawn(
        addr.parse().unwrap(),
        N,
        SocketType::Dealer,
        SocketOptions::default(),
        |_| vec![],
    )
    .unwrap();
    assert!(swarm.wait_up(N, Duration::from_secs(120)));
    println!("up");
    std::thread::sleep(Duration::from_secs(600));
}

#[test]
fn idle_memory_per_peering() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    let ep = router.bind("udp://127.0.0.1:0").unwrap();
    let before = HEAP.settled();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "idle_swarm_child", "--nocapture"])
        .env("VTX_SWARM_TARGET", &ep[6..])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let up = lines.any(|l| l.is_ok_and(|l| l.contains("up")));
    wait_peers(&router, N, Duration::from_secs(60));
    // Heartbeats and acknowledgements settle into the idle state.
    let per = (HEAP.settled() - before) as f64 / N as f64;
    let _ = child.kill();
    let _ = child.wait();
    assert!(up);
    eprintln!("idle UDP peering: {per:.0} bytes of driver heap each ({N} peerings)");
    assert!(
        per < 4096.0,
        "idle UDP peering costs {per:.0} bytes, over the 4 KiB target"
    );
}
