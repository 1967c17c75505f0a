//! 10,000 concurrent ZMTP peerings on one tcp6 driver thread. The clients (raw ZMTP
//! sessions on plain sockets) run in a child process: both ends in one process would
//! need 20,000 descriptors, more than this machine's hard limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{Setup, meta};
use vtx_emul::answer_all;
use vtx_emul::pattern::Transmit;
use vtx_emul::testing::addr::{socket_addr_of, with_scheme};
use vtx_emul::testing::measure::CountingAlloc;
use vtx_emul::testing::process::{ChildGuard, say_and_idle, spawn_test};
use vtx_emul::testing::scale::{many_peers, raise_fd_limit};
use vtx_emul::testing::swarm::ZmtpSwarm;
use vtx_emul::testing::{wait_for_count, wait_until};
use vtx_emul::{Msg, SocketType};

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;

/// Descriptors for `N` peerings, with room to spare.
const FDS: u64 = N as u64 + 2000;

/// The clients, in a child process: `swarm_child` in `mode` against `target`.
fn swarm(mode: &str, target: &str) -> ChildGuard {
    let target = socket_addr_of(target).to_string();
    spawn_test(
        "swarm_child",
        &[("VTX_SWARM_MODE", mode), ("VTX_SWARM_TARGET", &target)],
    )
}

/// The client side, in its own process.
#[test]
fn swarm_child() {
    let (Ok(mode), Ok(target)) = (
        std::env::var("VTX_SWARM_MODE"),
        std::env::var("VTX_SWARM_TARGET"),
    ) else {
        return;
    };
    raise_fd_limit(FDS);
    let addr = target.parse().unwrap();
    let ty = if mode == "subs" {
        SocketType::Sub
    } else {
        SocketType::Dealer
    };
    let mut swarm = ZmtpSwarm::connect(addr, N, ty, |_| None).unwrap();
    match mode.as_str() {
        "dealers" => {
            println!("up");
            for i in 0..N {
                swarm
                    .send_msg(i, Msg::single(Bytes::from_static(b"hello")))
                    .unwrap();
            }
            for i in 0..N {
                let m = swarm.recv(i).unwrap();
                if m.first().map(|f| &f[..]) != Some(b"ack") {
                    println!("fail: dealer {i} got {m:?}");
                    return;
                }
            }
            println!("ok");
        }
        "subs" => {
            for i in 0..N {
                let topic: &'static [u8] = if i % 2 == 0 { b"even" } else { b"odd" };
                swarm
                    .send(i, Transmit::Subscribe(Bytes::from_static(topic)))
                    .unwrap();
            }
            println!("up");
            for i in (0..N).step_by(2) {
                if let Err(e) = swarm.recv(i) {
                    println!("fail: even subscriber {i}: {e}");
                    return;
                }
            }
            for i in (1..N).step_by(2) {
                if let Ok(Some(m)) = swarm.recv_within(i, Duration::from_millis(1)) {
                    println!("fail: odd subscriber {i} got {m:?}");
                    return;
                }
            }
            println!("ok");
        }
        _ => {
            say_and_idle("up");
        }
    }
}

#[test]
fn router_answers_ten_thousand_dealers() {
    let _turn = many_peers(N, FDS);
    let Setup { ctx: _ctx, vtx } = Setup::new();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    let t0 = Instant::now();
    let mut swarm = swarm("dealers", &ep);
    wait_for_count("peerings", Duration::from_secs(120), N, || {
        router.peer_count()
    });
    eprintln!(
        "{N} ZMTP peerings up in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let ids = answer_all!(router, N);
    assert_eq!(ids.len(), N);
    swarm.expect("ok");
}

#[test]
fn pub_reaches_exactly_the_matching_subscribers() {
    let _turn = many_peers(N, FDS);
    let Setup { ctx: _ctx, vtx } = Setup::new();
    let publisher = vtx.socket(zmq::PUB).unwrap();
    let ep = publisher.bind("tcp6://[::1]:0").unwrap();
    let mut swarm = swarm("subs", &ep);
    wait_for_count("peerings", Duration::from_secs(120), N, || {
        publisher.peer_count()
    });
    swarm.expect("up");
    // Subscriptions arrive asynchronously: publish until the child has checked.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s = stop.clone();
    let pump = std::thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            publisher.send("even: news", 0).unwrap();
            std::thread::sleep(Duration::from_millis(500));
        }
        publisher
    });
    swarm.expect("ok");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(pump.join().unwrap());
}

#[test]
fn idle_memory_per_peering() {
    let _turn = many_peers(N, FDS);
    let Setup { ctx: _ctx, vtx } = Setup::new();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    let before = HEAP.settled();
    let mut swarm = swarm("idle", &ep);
    wait_for_count("peerings", Duration::from_secs(120), N, || {
        router.peer_count()
    });
    swarm.expect("up");
    let per = (HEAP.settled() - before) as f64 / N as f64;
    eprintln!("idle TCP peering: {per:.0} bytes of driver heap each ({N} peerings)");
    assert!(
        per < 16.0 * 1024.0,
        "idle TCP peering costs {per:.0} bytes, over the 16 KiB target"
    );
}

#[test]
fn the_peering_past_the_maximum_gets_a_zmtp_error() {
    let _turn = many_peers(N, FDS);
    let Setup { ctx, vtx } = Setup::new();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_max_peers(3).unwrap();
    let ep = with_scheme(&router.bind("tcp6://[::1]:0").unwrap(), "tcp");
    let dealers: Vec<zmq::Socket> = (0..5)
        .map(|_| {
            let d = ctx.socket(zmq::DEALER).unwrap();
            d.set_ipv6(true).unwrap();
            d.set_linger(0).unwrap();
            d.connect(&ep).unwrap();
            d
        })
        .collect();
    wait_until("3 peerings and 2 refused", Duration::from_secs(5), || {
        router.peer_count() == 3 && meta(&router, "refused") >= 2
    });
    drop(dealers);
}
