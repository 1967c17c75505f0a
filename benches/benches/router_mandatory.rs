//! `cargo bench -p vtx-benches --bench router_mandatory`: what ROUTER_MANDATORY costs,
//! the way vtx does it, against what the other design would cost.
//!
//! vtx keeps one pipe per socket and checks an identity against a copy of the routing
//! table on the application's thread (a read lock and a hash lookup per message). The
//! alternative, one inproc pipe per peering so that libzmq's own ROUTER can say
//! `EHOSTUNREACH`, costs a libzmq socket per peering in the driver: measured here as
//! the memory and descriptors of 1,000 inproc DEALERs connected to one ROUTER, the
//! least such a design would take.
//!
//! - Throughput: a vtx ROUTER sends 200,000 messages of 64 bytes to a vtx DEALER over
//!   tcp6, with ROUTER_MANDATORY off and on, 5 runs each, interleaved; median msgs/s.
//! - Per-peering pipe: RSS and open descriptors before and after 1,000 inproc pipes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use vtx_emul::testing::measure::{open_fds, rss_kib};

const MESSAGES: usize = 200_000;
const RUNS: usize = 5;
const PIPES: usize = 1000;

vtx_emul::vtx_harness! {
    bind: "tcp6://[::1]:0",
    limit: Duration::from_secs(10),
}

/// One run: msgs/s from the first send to the last receive.
fn run(mandatory: bool) -> f64 {
    let (_ctx, vtx) = manager("tcp6", vtx::ipv6::Tcp6Transport::default());
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_router_mandatory(mandatory).unwrap();
    router.set_sndhwm(0).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    let dealer = vtx.socket(zmq::DEALER).unwrap();
    dealer.set_identity(b"d").unwrap();
    dealer.set_rcvhwm(0).unwrap();
    dealer.set_rcvtimeo(10_000).unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("hi", 0).unwrap();
    router.recv_multipart(0).unwrap();
    let payload = [0x5Au8; 64];
    let receiver = std::thread::spawn(move || {
        for _ in 0..MESSAGES {
            dealer.recv_bytes(0).unwrap();
        }
        Instant::now()
    });
    let t0 = Instant::now();
    for _ in 0..MESSAGES {
        router.send("d", zmq::SNDMORE).unwrap();
        router.send(&payload[..], 0).unwrap();
    }
    let t1 = receiver.join().unwrap();
    MESSAGES as f64 / (t1 - t0).as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// What 1,000 inproc pipes to one ROUTER cost: (KiB of RSS, descriptors) per pipe.
fn per_pipe_cost() -> (f64, f64) {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.bind("inproc://per-peering").unwrap();
    let (rss0, fds0) = (rss_kib(), open_fds());
    let dealers: Vec<zmq::Socket> = (0..PIPES)
        .map(|i| {
            let d = ctx.socket(zmq::DEALER).unwrap();
            d.set_identity(format!("peer-{i}").as_bytes()).unwrap();
            d.connect("inproc://per-peering").unwrap();
            // One message each: a pipe that has carried traffic has its queues.
            d.send("x", 0).unwrap();
            d
        })
        .collect();
    router.set_rcvtimeo(5000).unwrap();
    for _ in 0..PIPES {
        router.recv_multipart(0).unwrap();
    }
    let (rss1, fds1) = (rss_kib(), open_fds());
    drop(dealers);
    (
        (rss1 as f64 - rss0 as f64) / PIPES as f64,
        (fds1 as f64 - fds0 as f64) / PIPES as f64,
    )
}

fn main() {
    // Criterion-style arguments (`--bench`) are ignored: this bench prints its table.
    // The pipes first, while the heap holds nothing else to return.
    let (kib, fds) = per_pipe_cost();
    let (mut off, mut on) = (Vec::new(), Vec::new());
    run(false); // warm-up
    for _ in 0..RUNS {
        off.push(run(false));
        on.push(run(true));
        std::thread::sleep(Duration::from_millis(50));
    }
    let (off, on) = (median(off), median(on));
    println!("ROUTER -> DEALER, tcp6, 64 B, median of {RUNS} interleaved runs");
    println!("  ROUTER_MANDATORY off: {off:>10.0} msgs/s");
    println!(
        "  ROUTER_MANDATORY on:  {on:>10.0} msgs/s ({:.2}x)",
        on / off
    );
    println!("one inproc pipe per peering (the design not taken), {PIPES} pipes:");
    println!("  {kib:.1} KiB of RSS and {fds:.2} descriptors per peering");
    println!("  (and a libzmq context allows 1,023 sockets unless raised before its first)");
}
