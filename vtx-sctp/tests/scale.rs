//! Many associations on one userspace `sctp` driver thread: 10,000 associations from a
//! child process (its own driver) all get an answer from one ROUTER, and the driver heap
//! each idle association costs the ROUTER's side is measured with a counting
//! allocator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::setup;
use vtx_emul::answer_all;
use vtx_emul::testing::measure::CountingAlloc;
use vtx_emul::testing::process::{say_and_idle, spawn_test};
use vtx_emul::testing::scale::many_peers;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;

/// Descriptors for `N` associations, with room to spare.
const FDS: u64 = 4 * N as u64 + 1000;

/// Runs only as the child of `router_answers_ten_thousand_associations`.
#[test]
fn dealers_child() {
    let Ok(endpoint) = std::env::var("VTX_SCTP_DEALERS") else {
        return;
    };
    let _turn = many_peers(N, FDS);
    let (_ctx, vtx) = setup();
    // One DEALER connected N times: N associations, and round-robin sends one
    // message down each.
    let dealer = vtx.socket(zmq::DEALER).unwrap();
    dealer.set_rcvtimeo(60_000).unwrap();
    for _ in 0..N {
        dealer.connect(&endpoint).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(120);
    while dealer.peer_count() < N {
        if Instant::now() > end {
            println!("fail: only {} associations", dealer.peer_count());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    for _ in 0..N {
        dealer.send("hello", 0).unwrap();
    }
    for i in 0..N {
        match dealer.recv_bytes(0) {
            Ok(m) if m == b"ack" => {}
            other => {
                println!("fail: answer {i}: {other:?}");
                return;
            }
        }
    }
    say_and_idle("answered");
}

#[test]
fn router_answers_ten_thousand_associations() {
    let _turn = many_peers(N, FDS);
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(60_000).unwrap();
    let ep = router.bind("sctp://127.0.0.1:0").unwrap();
    let before = HEAP.settled();
    // The dealers, in a child process so their heap is not counted.
    let mut dealers = spawn_test("dealers_child", &[("VTX_SCTP_DEALERS", &ep)]);
    let start = Instant::now();
    let identities = answer_all!(router, N);
    assert_eq!(identities.len(), N, "one hello per association");
    dealers.expect("answered");
    let elapsed = start.elapsed();
    assert_eq!(router.peer_count(), N);
    let per = (HEAP.settled() - before) as f64 / N as f64;
    eprintln!(
        "sctp: {N} associations up and answered in {elapsed:?}; idle association: {per:.0} bytes of driver heap each"
    );
    assert!(
        per < 16.0 * 1024.0,
        "an idle association costs {per:.0} bytes"
    );
}
