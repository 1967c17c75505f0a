//! Faults on real sockets, on every transport: a peer process frozen then killed
//! mid-request and restarted, a stalled subscriber, a full pipe to a stopped peer, and a
//! network partition made with nftables inside a network namespace.
//!
//! The memory measures run each in a process of its own (the counting allocator and
//! RSS then see only that test) and the partition in a namespace of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "udp", feature = "ipv6", feature = "sctp", feature = "tls"))]

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{SCHEMES, VTX, cat_bound, manager, meta, tls_args};
use vtx::VtxSocket;
use vtx_emul::testing::measure::{CountingAlloc, rss_kib};
use vtx_emul::testing::process::{
    ChildGuard, Isolation, isolate, nft_counters, require_command, sh,
};
use vtx_emul::testing::wait_until;
use vtx_tls::testing::Pki;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

fn heartbeats(s: &VtxSocket) {
    s.set_heartbeat_ivl(100).unwrap();
    s.set_heartbeat_timeout(300).unwrap();
    s.set_reconnect_ivl(100).unwrap();
}

/// A REP process freezes with a request of ours in it and is killed: the REQ notices
/// (heartbeat timeout), the request goes to the other REP (the REQ asked for failover;
/// by default a request is lost with its peer, as in libzmq), and when the process
/// comes back on the same port the REQ peers with it again.
#[test]
fn killed_peer_failover_and_restart() {
    let pki = Pki::new("killed");
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager(&pki);
        let (a, ep_a) = cat_bound(&pki, "rep", &format!("{scheme}://127.0.0.1:0"));
        let req = vtx.socket(zmq::REQ).unwrap();
        heartbeats(&req);
        req.set_req_failover(true).unwrap();
        req.set_rcvtimeo(100).unwrap();
        req.connect(&ep_a).unwrap();
        req.send("warm-up", 0).unwrap();
        wait_until(
            &format!("{scheme}: first reply"),
            Duration::from_secs(10),
            || req.recv_bytes(0).is_ok(),
        );
        // A is the REQ's only peer: the next request can only go to it, and stays there.
        a.signal(libc::SIGSTOP);
        req.send("stuck", 0).unwrap();
        let b = vtx.socket(zmq::REP).unwrap();
        b.set_rcvtimeo(100).unwrap();
        let ep_b = b.bind(&format!("{scheme}://127.0.0.1:0")).unwrap();
        req.connect(&ep_b).unwrap();
        a.signal(libc::SIGKILL);
        let took = wait_until(
            &format!("{scheme}: failover"),
            Duration::from_secs(10),
            || {
                if let Ok(q) = b.recv_bytes(0) {
                    assert_eq!(q, b"stuck", "{scheme}");
                    b.send(&q[..], 0).unwrap();
                }
                req.recv_bytes(0).is_ok()
            },
        );
        eprintln!("{scheme}: the request failed over {took:?} after the kill");
        wait_until(
            &format!("{scheme}: the dead peering is gone"),
            Duration::from_secs(10),
            || req.peer_count() == 1,
        );
        // A restarted REP on the same port is found again.
        let (_a2, again) = cat_bound(&pki, "rep", &ep_a);
        assert_eq!(again, ep_a);
        wait_until(
            &format!("{scheme}: reconnect"),
            Duration::from_secs(10),
            || req.peer_count() == 2,
        );
    }
}

/// One subscriber's process stops (SIGSTOP) while a PUB publishes 20,000 messages of
/// 1 KiB: the other subscriber gets every one, in order, the PUB drops for the stopped
/// one alone (counted), and what the stalled subscriber costs the publisher's process
/// is bounded by its SNDHWM. The publisher keeps within 1,000 messages of the fast
/// subscriber, so a loss there can only come from the stalled one.
#[test]
fn slow_subscriber_only_loses_its_own_messages() {
    if !isolate(
        "slow_subscriber_only_loses_its_own_messages",
        Isolation::Process,
    ) {
        return;
    }
    let pki = Pki::new("slowsub");
    const N: u32 = 20_000;
    const SNDHWM: usize = 5_000;
    const CREDIT: u32 = 1_000;
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager(&pki);
        let publisher = vtx.socket(zmq::PUB).unwrap();
        publisher.set_sndhwm(SNDHWM as i32).unwrap();
        let ep = publisher.bind(&format!("{scheme}://127.0.0.1:0")).unwrap();
        let fast = vtx.socket(zmq::SUB).unwrap();
        fast.set_subscribe(b"").unwrap();
        fast.set_rcvtimeo(10_000).unwrap();
        fast.connect(&ep).unwrap();
        let mut args: Vec<String> = ["cat", "-t", "sub", "-c", &ep]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.extend(tls_args(&pki, scheme));
        let slow = ChildGuard::spawn(
            Command::new(VTX)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null()),
        );
        wait_until(
            &format!("{scheme}: both subscriptions"),
            Duration::from_secs(10),
            || meta(&publisher, "subscriptions") == 2,
        );
        slow.signal(libc::SIGSTOP);
        let (heap0, rss0) = (HEAP.live(), rss_kib());
        let got = Arc::new(AtomicU32::new(0));
        let reader = {
            let got = got.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    let m = fast
                        .recv_bytes(0)
                        .unwrap_or_else(|e| panic!("fast subscriber stalled after {i}: {e}"));
                    assert_eq!(m[..4], i.to_be_bytes(), "message {i} lost or out of order");
                    got.store(i + 1, Ordering::Release);
                }
                fast
            })
        };
        let mut payload = vec![7u8; 1024];
        for i in 0..N {
            wait_until(
                &format!("{scheme}: the fast subscriber reads"),
                Duration::from_secs(10),
                || i < got.load(Ordering::Acquire) + CREDIT,
            );
            payload[..4].copy_from_slice(&i.to_be_bytes());
            publisher.send(&payload[..], 0).unwrap();
        }
        let fast = reader.join().expect("the fast subscriber got everything");
        let (heap, rss) = (
            HEAP.live().saturating_sub(heap0) / 1024,
            rss_kib().saturating_sub(rss0),
        );
        let dropped = meta(&publisher, "dropped-hwm");
        eprintln!(
            "{scheme}: fast subscriber got all {N}; {dropped} dropped for the stopped one; \
             the stalled subscriber cost {heap} KiB of heap, {rss} KiB of RSS"
        );
        assert!(
            dropped > 0,
            "{scheme}: nothing dropped for the stalled subscriber"
        );
        // Its queue (SNDHWM messages, their payload shared with libzmq's) plus the
        // transport's buffers for it.
        let bound = (SNDHWM * (1024 + 512) + 8 * 1024 * 1024) as isize / 1024;
        assert!(
            heap < bound,
            "{scheme}: {heap} KiB of heap for a stalled subscriber"
        );
        assert!(
            (rss as isize) < 4 * bound,
            "{scheme}: {rss} KiB of RSS for a stalled subscriber"
        );
        drop(fast);
    }
}

/// A PUSH to a peer that stopped: sends block (EAGAIN with DONTWAIT) at the high-water
/// marks, and memory stays bounded however long the application keeps trying.
#[test]
fn push_to_a_dead_peer_blocks_with_bounded_memory() {
    if !isolate(
        "push_to_a_dead_peer_blocks_with_bounded_memory",
        Isolation::Process,
    ) {
        return;
    }
    let pki = Pki::new("deadpush");
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager(&pki);
        let (pull, ep) = cat_bound(&pki, "pull", &format!("{scheme}://127.0.0.1:0"));
        let push = vtx.socket(zmq::PUSH).unwrap();
        push.set_sndhwm(1000).unwrap();
        push.connect(&ep).unwrap();
        wait_until("peering", Duration::from_secs(10), || {
            push.peer_count() == 1
        });
        pull.signal(libc::SIGSTOP);
        let payload = vec![1u8; 1024];
        let (heap0, rss0) = (HEAP.live(), rss_kib());
        let (mut sent, mut refused) = (0u64, 0u64);
        let t0 = Instant::now();
        // Two seconds of an application that keeps trying, waiting for POLLOUT.
        while t0.elapsed() < Duration::from_secs(2) {
            match push.send(&payload[..], zmq::DONTWAIT) {
                Ok(()) => sent += 1,
                Err(zmq::Error::EAGAIN) => {
                    refused += 1;
                    let mut items = [push.as_poll_item(zmq::POLLOUT)];
                    zmq::poll(&mut items, 10).unwrap();
                }
                Err(e) => panic!("{e}"),
            }
        }
        let heap = HEAP.live().saturating_sub(heap0) / 1024;
        let rss = rss_kib().saturating_sub(rss0);
        eprintln!(
            "{scheme}: {sent} sent then blocked ({refused} EAGAIN); heap grew {heap} KiB, RSS {rss} KiB"
        );
        assert!(refused > 0, "{scheme}: the PUSH never blocked");
        assert!(
            sent < 100_000,
            "{scheme}: {sent} messages accepted for a stopped peer"
        );
        assert!(heap < 16 * 1024, "{scheme}: heap grew by {heap} KiB");
        assert!(rss < 32 * 1024, "{scheme}: RSS grew by {rss} KiB");
    }
}

/// Packets the rules of the `vtxcut` input chain have dropped so far.
fn cut_drops() -> u64 {
    nft_counters("inet vtxcut input").iter().map(|r| r.1).sum()
}

/// Inside a fresh network namespace: cut every packet of the test's ports with
/// nftables, then restore. Peerings die and come back; a request sent during the cut is
/// answered after it; a PULL never sees a message twice.
#[test]
fn partition_and_heal() {
    if !isolate("partition_and_heal", Isolation::NetNamespace) {
        return;
    }
    require_command("nft", "nftables");
    sh(
        "nft add table inet vtxcut && nft add chain inet vtxcut input '{ type filter hook input priority 0; policy accept; }'",
    );
    let pki = Pki::new("partition");
    for (k, scheme) in SCHEMES.iter().enumerate() {
        let (_ctx, vtx) = manager(&pki);
        let (p1, p2) = (41_000 + 10 * k as u16, 41_001 + 10 * k as u16);
        let rep = vtx.socket(zmq::REP).unwrap();
        heartbeats(&rep);
        rep.set_rcvtimeo(100).unwrap();
        rep.bind(&format!("{scheme}://127.0.0.1:{p1}")).unwrap();
        let req = vtx.socket(zmq::REQ).unwrap();
        heartbeats(&req);
        req.set_handshake_ivl(500).unwrap();
        req.set_rcvtimeo(100).unwrap();
        req.connect(&format!("{scheme}://127.0.0.1:{p1}")).unwrap();
        let pull = vtx.socket(zmq::PULL).unwrap();
        heartbeats(&pull);
        pull.set_rcvtimeo(100).unwrap();
        pull.bind(&format!("{scheme}://127.0.0.1:{p2}")).unwrap();
        let push = vtx.socket(zmq::PUSH).unwrap();
        heartbeats(&push);
        push.set_handshake_ivl(500).unwrap();
        push.connect(&format!("{scheme}://127.0.0.1:{p2}")).unwrap();
        let serve = |rep: &VtxSocket| {
            if let Ok(q) = rep.recv_bytes(0) {
                rep.send(&q[..], 0).unwrap();
            }
        };
        let seen = std::cell::RefCell::new(Vec::<u32>::new());
        let drain = |pull: &VtxSocket| {
            while let Ok(m) = pull.recv_bytes(0) {
                seen.borrow_mut()
                    .push(u32::from_be_bytes(m.try_into().unwrap()));
            }
        };
        let mut seq = 0u32;
        // Before: both patterns work.
        req.send("before", 0).unwrap();
        wait_until(
            &format!("{scheme}: reply before"),
            Duration::from_secs(10),
            || {
                serve(&rep);
                req.recv_bytes(0).is_ok()
            },
        );
        wait_until("push peer", Duration::from_secs(10), || {
            push.peer_count() == 1
        });
        for _ in 0..100 {
            push.send(&seq.to_be_bytes()[..], 0).unwrap();
            seq += 1;
        }
        // Cut.
        for dir in ["dport", "sport"] {
            for proto in ["tcp", "udp"] {
                sh(&format!(
                    "nft add rule inet vtxcut input {proto} {dir} {{ {p1}, {p2} }} counter drop"
                ));
            }
        }
        let died = wait_until(
            &format!("{scheme}: peerings die"),
            Duration::from_secs(5),
            || {
                drain(&pull);
                serve(&rep);
                [&req, &rep, &push, &pull]
                    .iter()
                    .all(|s| s.peer_count() == 0)
            },
        );
        // A request during the cut waits for the network to heal: the cut holds until
        // the peers' attempts to reconnect have been dropped for a while.
        req.send("during", 0).unwrap();
        for _ in 0..50 {
            let _ = push
                .send(&seq.to_be_bytes()[..], zmq::DONTWAIT)
                .map(|()| seq += 1);
        }
        let drops = cut_drops();
        wait_until(
            &format!("{scheme}: reconnects dropped during the cut"),
            Duration::from_secs(10),
            || cut_drops() >= drops + 8,
        );
        sh("nft flush chain inet vtxcut input");
        let healed = wait_until(
            &format!("{scheme}: reply after healing"),
            Duration::from_secs(15),
            || {
                serve(&rep);
                drain(&pull);
                req.recv_bytes(0).is_ok()
            },
        );
        wait_until(
            &format!("{scheme}: push peers again"),
            Duration::from_secs(15),
            || {
                drain(&pull);
                push.peer_count() == 1
            },
        );
        for _ in 0..100 {
            push.send(&seq.to_be_bytes()[..], 0).unwrap();
            seq += 1;
        }
        wait_until(
            &format!("{scheme}: last message"),
            Duration::from_secs(10),
            || {
                drain(&pull);
                seen.borrow().last() == Some(&(seq - 1))
            },
        );
        let seen = seen.into_inner();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "{scheme}: a message delivered twice or out of order"
        );
        eprintln!(
            "{scheme}: peerings died {died:?} after the cut; request answered {healed:?} after healing; PULL got {} of {seq}, none twice",
            seen.len()
        );
    }
}
