//! `cargo bench -p vtx-benches --bench hostile`: what a hostile UDP peer costs a
//! release-built driver.
//!
//! - CPU per hostile fragment datagram: a peer opens a real NOM-2 peering with a PULL,
//!   then sends 2,000 datagrams of 1,400 bytes, each packed with tiny FRAG records of
//!   one declared 64 KiB message. Measured: the driver thread's CPU time (from
//!   `/proc/self/task/*/schedstat`) until it is idle again, and whether 100 honest
//!   messages sent afterwards arrive within 10 s.
//! - Amplification: bytes the driver answers per byte received, from an address that
//!   never proved it receives (a spoofed source): an OHAI with an incompatible socket
//!   type, an OHAI of a compatible one, and a HUGZ to an unknown peering.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use vtx_emul::SocketType;
use vtx_emul::testing::addr::socket_addr_of;
use vtx_udp::nom2::wire::{self, Cmd, Datagram, Hello};

vtx_emul::vtx_harness! {
    bind: "udp://127.0.0.1:0",
    limit: Duration::from_secs(10),
}

/// CPU time of the driver thread named `name`, in nanoseconds.
fn thread_cpu_ns(name: &str) -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).unwrap();
            return stat.split_whitespace().next().unwrap().parse().unwrap();
        }
    }
    panic!("no thread named {name}");
}

/// Waits until the driver thread has used no CPU for 200 ms; returns its CPU time.
fn settle(name: &str) -> u64 {
    let mut last = thread_cpu_ns(name);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = thread_cpu_ns(name);
        if now - last < 2_000_000 {
            return now;
        }
        last = now;
    }
}

fn ohai(sender: u32, ty: SocketType, cookie: &wire::Cookie) -> Vec<u8> {
    let mut b = Vec::new();
    wire::encode_ohai(
        &mut b,
        &Hello {
            sender,
            socket_type: ty,
            identity: Default::default(),
        },
        cookie,
    );
    b
}

/// Opens a peering by hand from `s`; returns the id to put in our headers.
fn handshake(s: &UdpSocket, to: SocketAddr) -> u32 {
    let nonce = 0x5eed_0001;
    let mut buf = [0u8; 2048];
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut hi = ohai(nonce, SocketType::Push, &[0; wire::COOKIE_LEN]);
    for _ in 0..50 {
        s.send_to(&hi, to).unwrap();
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            let data = bytes::Bytes::copy_from_slice(&buf[..n]);
            match wire::decode(&data) {
                Ok(Datagram::OhaiOk(_, h)) => return h.sender,
                Ok(Datagram::Cookie(_, cookie)) => {
                    hi = ohai(nonce, SocketType::Push, &cookie);
                    s.send_to(&hi, to).unwrap();
                }
                _ => {}
            }
        }
    }
    panic!("no OHAI-OK");
}

fn fragment_flood() {
    let (_ctx, vtx) = manager("udp", vtx_udp::UdpTransport::default());
    let (pull, ep) = bind(&vtx, zmq::PULL);
    let to = socket_addr_of(&ep);
    let attacker = UdpSocket::bind("127.0.0.1:0").unwrap();
    let peering = handshake(&attacker, to);
    // An honest peer, up before the flood.
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&ep).unwrap();
    wait_peers(&pull, 2);
    let before = settle("vtx-udp");
    let datagrams = 2_000;
    let mut sent = 0usize;
    let mut offset = 0u32;
    let t0 = Instant::now();
    for _ in 0..datagrams {
        let mut d = Vec::with_capacity(1400);
        wire::put_header(&mut d, Cmd::Nom, peering);
        // Records of 16 (empty piece) or 17 bytes (one byte): about 85 to a datagram.
        while d.len() + 17 <= 1400 {
            let piece = usize::from(offset % 2 == 1);
            wire::put_record_header(&mut d, wire::RECORD_FRAG, 8 + piece, 1, None);
            d.extend_from_slice(&65_536u32.to_be_bytes());
            d.extend_from_slice(&(offset % 65_535).to_be_bytes());
            d.extend(std::iter::repeat_n(0u8, piece));
            offset += 1;
        }
        sent += d.len();
        attacker.send_to(&d, to).unwrap();
    }
    let send_time = t0.elapsed();
    // Honest traffic right after: does it get through?
    let t1 = Instant::now();
    for i in 0..100u32 {
        push.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    let mut got = 0;
    while got < 100 && pull.recv_bytes(0).is_ok() {
        got += 1;
    }
    let honest = t1.elapsed();
    let after = settle("vtx-udp");
    let cpu = Duration::from_nanos(after - before);
    println!(
        "| fragment flood | {datagrams} datagrams, {} KiB in {send_time:.2?} | driver CPU {cpu:.2?} = {:.1} µs per datagram | {got} of 100 honest messages in {honest:.2?} |",
        sent / 1024,
        cpu.as_secs_f64() * 1e6 / datagrams as f64
    );
}

/// Bytes that come back to `s` within `wait` after sending `d` once to `to`.
fn answered(s: &UdpSocket, to: SocketAddr, d: &[u8], wait: Duration) -> usize {
    s.send_to(d, to).unwrap();
    let mut total = 0;
    let end = Instant::now() + wait;
    let mut buf = [0u8; 2048];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match s.recv_from(&mut buf) {
            Ok((n, _)) => total += n,
            Err(_) => break,
        }
    }
    total
}

fn amplification() {
    let (_ctx, vtx) = manager("udp", vtx_udp::UdpTransport::default());
    let (_pull, ep) = bind(&vtx, zmq::PULL);
    let to = socket_addr_of(&ep);
    // The "spoofed" source: a socket that answers nothing, so each answer counts once.
    let victim = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cases: [(&str, Vec<u8>, Duration); 3] = [
        (
            "OHAI, incompatible type",
            ohai(7, SocketType::Pub, &[0; wire::COOKIE_LEN]),
            Duration::from_millis(300),
        ),
        (
            "OHAI, compatible type (answers within 6 s)",
            ohai(8, SocketType::Push, &[0; wire::COOKIE_LEN]),
            Duration::from_secs(6),
        ),
        (
            "HUGZ, unknown peering",
            {
                let mut b = Vec::new();
                wire::encode_hugz(&mut b, 0xdead_beef, 0);
                b
            },
            Duration::from_millis(300),
        ),
    ];
    for (what, d, wait) in cases {
        let back = answered(&victim, to, &d, wait);
        println!(
            "| amplification | {what} | {} B in | {back} B out | {:.2}x |",
            d.len(),
            back as f64 / d.len() as f64
        );
    }
}

fn main() {
    println!("| what | input | cost | effect |\n|---|---|---|---|");
    fragment_flood();
    amplification();
}
