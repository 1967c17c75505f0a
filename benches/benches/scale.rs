//! `cargo bench -p vtx-benches --bench scale`: per-message cost on a driver holding 10,
//! 1,000 and 10,000 peerings (it must stay flat: no scans of all peerings), and
//! throughput with one driver instance against two.
//!
//! The idle tcp6 peers run in a child process (this same program, re-executed): both
//! ends of 10,000 TCP connections in one process would pass the open-file limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vtx::Vtx;
use vtx_emul::testing::addr::{port_of, socket_addr_of};
use vtx_emul::testing::process::ChildGuard;
use vtx_emul::testing::scale::raise_fd_limit;
use vtx_emul::testing::swarm::ZmtpSwarm;
use vtx_emul::testing::wait_for_count;
use vtx_emul::{SocketOptions, SocketType};
use vtx_udp::swarm::UdpSwarm;

fn main() {
    raise_fd_limit(20_000);
    if let Ok(spec) = std::env::var("VTX_BENCH_SWARM") {
        let (addr, n) = spec.split_once(' ').expect("addr n");
        let n: usize = n.parse().expect("n");
        let _swarm = ZmtpSwarm::connect(addr.parse().expect("addr"), n, SocketType::Push, |_| None)
            .expect("swarm");
        println!("up");
        // Hold the connections until the parent closes our stdin.
        let _ = std::io::stdin().read(&mut [0u8; 1]);
        return;
    }
    let scale: f64 = std::env::var("VTX_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let m = ((500_000.0 * scale) as usize).max(10_000);
    println!(
        "## Per-message cost against the number of peerings on one driver ({m} messages of 64 B)\n"
    );
    println!("| transport | peerings | msgs/s | ns per message | cost vs 10 peerings |");
    println!("|---|---:|---:|---:|---:|");
    for scheme in ["udp", "tcp6"] {
        let mut base = None;
        for n in [10usize, 1000, 10_000] {
            let rate = peerings(scheme, n, m);
            let ns = 1e9 / rate;
            let b = *base.get_or_insert(ns);
            println!("| {scheme} | {n} | {rate:.0} | {ns:.0} | {:.2}x |", ns / b);
        }
    }
    println!("\n## Driver instances (two PUSH/PULL pairs of 64 B messages, {m} each)\n");
    println!("| transport | instances per side | aggregate msgs/s | vs 1 instance |");
    println!("|---|---:|---:|---:|");
    for scheme in ["tcp6", "udp"] {
        let one = instances(scheme, 1, m);
        let two = instances(scheme, 2, m);
        println!("| {scheme} | 1 | {one:.0} | 1.00x |");
        println!("| {scheme} | 2 | {two:.0} | {:.2}x |", two / one);
    }
}

fn register(v: &Vtx, scheme: &str, k: usize) {
    for i in 0..k {
        let name = if k == 1 {
            scheme.to_owned()
        } else {
            format!("{scheme}{i}")
        };
        match scheme {
            "udp" => v
                .register(&name, vtx::udp::UdpTransport::default())
                .expect("register"),
            _ => v
                .register(&name, vtx::ipv6::Tcp6Transport::default())
                .expect("register"),
        }
    }
}

/// Sends `m` messages through one PUSH/PULL pair; returns msgs/s from the first send to
/// the last receive.
fn pump(push: &vtx::VtxSocket, pull: vtx::VtxSocket, m: usize) -> f64 {
    let payload = [0x5Au8; 64];
    push.send(&payload[..], 0).expect("send");
    pull.recv_bytes(0).expect("warm-up");
    let rx = std::thread::spawn(move || {
        for _ in 0..m {
            pull.recv_bytes(0).expect("recv");
        }
        Instant::now()
    });
    let t0 = Instant::now();
    for _ in 0..m {
        push.send(&payload[..], 0).expect("send");
    }
    let t1 = rx.join().expect("receiver");
    m as f64 / (t1 - t0).as_secs_f64()
}

fn peerings(scheme: &str, n: usize, m: usize) -> f64 {
    let ctx = zmq::Context::new();
    let server = Vtx::new(&ctx);
    register(&server, scheme, 1);
    let pull = server.socket(zmq::PULL).expect("socket");
    pull.set_rcvtimeo(30_000).expect("opt");
    let ep = pull.bind(&format!("{scheme}://127.0.0.1:0")).expect("bind");
    let addr = socket_addr_of(&ep);
    let idle = n - 1;
    // The idle peers: in this process for udp (a socket each, on the server's side
    // none), else in a child that holds its connections until its stdin closes.
    let (_udp, _child) = if scheme == "udp" {
        let swarm = UdpSwarm::spawn(
            addr,
            idle,
            SocketType::Push,
            SocketOptions::default(),
            |_| vec![],
        )
        .expect("swarm");
        (Some(swarm), None)
    } else {
        let mut c = ChildGuard::spawn(
            Command::new(std::env::current_exe().expect("exe"))
                .env("VTX_BENCH_SWARM", format!("{addr} {idle}"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped()),
        );
        assert_eq!(c.line().as_deref(), Some("up"), "swarm child failed");
        (None, Some(c))
    };
    wait_for_count("idle peers", Duration::from_secs(120), idle, || {
        pull.peer_count()
    });
    let client_ctx = zmq::Context::new();
    let client = Vtx::new(&client_ctx);
    register(&client, scheme, 1);
    let push = client.socket(zmq::PUSH).expect("socket");
    push.connect(&ep).expect("connect");
    pump(&push, pull, m)
}

fn instances(scheme: &str, k: usize, m: usize) -> f64 {
    let (ca, cb) = (zmq::Context::new(), zmq::Context::new());
    let (a, b) = (Vtx::new(&ca), Vtx::new(&cb));
    register(&a, scheme, k);
    register(&b, scheme, k);
    let name = |i: usize| {
        if k == 1 {
            scheme.to_owned()
        } else {
            format!("{scheme}{}", i % k)
        }
    };
    let mut pairs = Vec::new();
    for i in 0..2 {
        let pull = b.socket(zmq::PULL).expect("socket");
        pull.set_rcvtimeo(30_000).expect("opt");
        let ep = pull
            .bind(&format!("{}://127.0.0.1:0", name(i)))
            .expect("bind");
        let push = a.socket(zmq::PUSH).expect("socket");
        let port = port_of(&ep);
        push.connect(&format!("{}://127.0.0.1:{port}", name(i)))
            .expect("connect");
        pairs.push((push, pull));
    }
    let t0 = Instant::now();
    let threads: Vec<_> = pairs
        .into_iter()
        .map(|(push, pull)| std::thread::spawn(move || pump(&push, pull, m)))
        .collect();
    for t in threads {
        t.join().expect("pair");
    }
    (2 * m) as f64 / t0.elapsed().as_secs_f64()
}
