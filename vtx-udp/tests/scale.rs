//! 10,000 concurrent NOM-2 peerings on one driver thread: all come up, a ROUTER answers
//! every dealer, a PUB reaches exactly the matching subscribers; and the idle memory
//! each peering costs the driver, measured with a counting allocator while the peers
//! run in a child process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod setup;

use std::time::{Duration, Instant};

use bytes::Bytes;
use setup::setup;
use vtx_emul::answer_all;
use vtx_emul::testing::addr::socket_addr_of;
use vtx_emul::testing::measure::CountingAlloc;
use vtx_emul::testing::process::{say_and_idle, spawn_test};
use vtx_emul::testing::scale::{many_peers, raise_fd_limit};
use vtx_emul::testing::wait_for_count;
use vtx_emul::{Msg, SocketOptions, SocketType};
use vtx_udp::swarm::UdpSwarm;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;

/// Descriptors for `N` peerings, with room to spare.
const FDS: u64 = 4 * N as u64;

#[test]
fn router_answers_ten_thousand_dealers() {
    let _turn = many_peers(N, FDS);
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    let ep = router.bind("udp://127.0.0.1:0").unwrap();
    let t0 = Instant::now();
    let swarm = UdpSwarm::spawn(
        socket_addr_of(&ep),
        N,
        SocketType::Dealer,
        SocketOptions::default(),
        |_| vec![],
    )
    .unwrap();
    wait_for_count("peerings", Duration::from_secs(90), N, || {
        router.peer_count()
    });
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
    let ids = answer_all!(router, N);
    assert_eq!(ids.len(), N, "every dealer is its own identity");
    wait_for_count("replies", Duration::from_secs(60), N, || {
        swarm.total_received()
    });
    assert!(
        (0..N).all(|i| swarm.received(i).0 == 1),
        "each dealer got exactly its reply"
    );
}

#[test]
fn pub_reaches_exactly_the_matching_subscribers() {
    let _turn = many_peers(N, FDS);
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
        socket_addr_of(&ep),
        N,
        SocketType::Sub,
        SocketOptions::default(),
        sub,
    )
    .unwrap();
    wait_for_count("peerings", Duration::from_secs(90), N, || {
        publisher.peer_count()
    });
    // Subscriptions travel reliably but asynchronously: publish until every even
    // subscriber has its message, then one for the odd ones, which must have it first.
    let publish_until = |msg: &str, first: usize| {
        let what = format!("subscribers reached by {msg:?}");
        wait_for_count(&what, Duration::from_secs(60), N / 2, || {
            publisher.send(msg, 0).unwrap();
            // A fleet's worth of datagrams per publish: give them time to land.
            std::thread::sleep(Duration::from_millis(200));
            (first..N)
                .step_by(2)
                .filter(|&i| swarm.received(i).0 > 0)
                .count()
        });
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
    raise_fd_limit(FDS);
    let swarm = UdpSwarm::spawn(
        addr.parse().unwrap(),
        N,
        SocketType::Dealer,
        SocketOptions::default(),
        |_| vec![],
    )
    .unwrap();
    assert!(swarm.wait_up(N, Duration::from_secs(120)));
    say_and_idle("up");
}

#[test]
fn idle_memory_per_peering() {
    let _turn = many_peers(N, FDS);
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    let ep = router.bind("udp://127.0.0.1:0").unwrap();
    let before = HEAP.settled();
    let target = socket_addr_of(&ep).to_string();
    let mut child = spawn_test("idle_swarm_child", &[("VTX_SWARM_TARGET", &target)]);
    child.expect("up");
    wait_for_count("peerings", Duration::from_secs(60), N, || {
        router.peer_count()
    });
    // Heartbeats and acknowledgements settle into the idle state.
    let per = (HEAP.settled() - before) as f64 / N as f64;
    drop(child);
    eprintln!("idle UDP peering: {per:.0} bytes of driver heap each ({N} peerings)");
    assert!(
        per < 4096.0,
        "idle UDP peering costs {per:.0} bytes, over the 4 KiB target"
    );
}
