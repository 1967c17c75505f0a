//! Faults on real sockets, for udp, tcp6 and sctp: a peer process killed mid-request, a
//! restarted peer, a slow subscriber, a full pipe to a dead peer, and a network
//! partition made with nftables inside a network namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "udp", feature = "ipv6", feature = "sctp"))]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};

const VTX: &str = env!("CARGO_BIN_EXE_vtx");
const SCHEMES: [&str; 3] = ["udp", "tcp6", "sctp"];

struct Proc(Child);

impl Proc {
    fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([sig, &self.0.id().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port(scheme: &str) -> u16 {
    // sctp:// is SCTP over UDP: its port is a UDP port.
    if scheme == "udp" || scheme == "sctp" {
        std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }
}

fn echo_rep(ep: &str) -> Proc {
    Proc(
        Command::new(VTX)
            .args(["cat", "-t", "rep", "-b", ep])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn manager() -> (zmq::Context, Vtx) {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register_defaults().unwrap();
    (ctx, vtx)
}

fn heartbeats(s: &VtxSocket) {
    s.set_heartbeat_ivl(100).unwrap();
    s.set_heartbeat_timeout(300).unwrap();
    s.set_reconnect_ivl(100).unwrap();
}

fn wait(what: &str, limit: Duration, mut f: impl FnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < limit, "{what} not within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t0.elapsed()
}

/// A REP process stops mid-request and is killed: the REQ notices within its heartbeat
/// timeout, the request goes to the other REP, and when the process comes back on the
/// same port the REQ peers with it again.
#[test]
fn killed_peer_failover_and_restart() {
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager();
        let port = free_port(scheme);
        let ep_a = format!("{scheme}://127.0.0.1:{port}");
        let a = echo_rep(&ep_a);
        let req = vtx.socket(zmq::REQ).unwrap();
        heartbeats(&req);
        req.set_rcvtimeo(200).unwrap();
        req.connect(&ep_a).unwrap();
        req.send("warm-up", 0).unwrap();
        wait(
            &format!("{scheme}: first reply"),
            Duration::from_secs(10),
            || req.recv_bytes(0).is_ok(),
        );
        let b = vtx.socket(zmq::REP).unwrap();
        b.set_rcvtimeo(100).unwrap();
        let ep_b = b.bind(&format!("{scheme}://127.0.0.1:0")).unwrap();
        req.connect(&ep_b).unwrap();
        wait("two peers", Duration::from_secs(5), || {
            req.peer_count().unwrap() == 2
        });
        a.signal("-STOP");
        // Requests alternate between the REPs; the one sent to the frozen process stalls.
        let mut stuck = None;
        for i in 0..4 {
            req.send(format!("r{i}").as_bytes(), 0).unwrap();
            let t = Instant::now();
            let mut answered = false;
            while t.elapsed() < Duration::from_millis(150) {
                if let Ok(q) = b.recv_bytes(0) {
                    b.send(&q[..], 0).unwrap();
                }
                if req.recv_bytes(0).is_ok() {
                    answered = true;
                    break;
                }
            }
            if !answered {
                stuck = Some(i);
                break;
            }
        }
        let stuck = stuck.unwrap_or_else(|| panic!("{scheme}: no request reached the frozen REP"));
        a.signal("-KILL");
        let t0 = Instant::now();
        // The REQ fails over: B sees the stuck request, the REQ gets its reply.
        let took = wait(
            &format!("{scheme}: failover"),
            Duration::from_secs(5),
            || {
                if let Ok(q) = b.recv_bytes(0) {
                    assert_eq!(q, format!("r{stuck}").as_bytes());
                    b.send(&q[..], 0).unwrap();
                }
                req.recv_bytes(0).is_ok()
            },
        );
        eprintln!(
            "{scheme}: request failed over {took:?} after the kill ({:?} after the freeze)",
            t0.elapsed()
        );
        assert_eq!(
            req.peer_count().unwrap(),
            1,
            "{scheme}: the dead peering is gone"
        );
        // A restarted REP on the same port is found again.
        let _a2 = echo_rep(&ep_a);
        wait(
            &format!("{scheme}: reconnect"),
            Duration::from_secs(10),
            || req.peer_count().unwrap() == 2,
        );
    }
}

/// One subscriber stops reading: the PUB drops for it alone and counts the drops; the
/// other subscriber gets everything.
#[test]
fn slow_subscriber_only_loses_its_own_messages() {
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager();
        let publisher = vtx.socket(zmq::PUB).unwrap();
        publisher.set_sndhwm(5_000).unwrap();
        let ep = publisher.bind(&format!("{scheme}://127.0.0.1:0")).unwrap();
        let fast = vtx.socket(zmq::SUB).unwrap();
        fast.set_subscribe(b"").unwrap();
        fast.set_rcvtimeo(5000).unwrap();
        fast.connect(&ep).unwrap();
        let slow = vtx.socket(zmq::SUB).unwrap();
        slow.set_rcvhwm(10).unwrap();
        slow.set_subscribe(b"").unwrap();
        slow.connect(&ep).unwrap();
        wait("subscribers", Duration::from_secs(5), || {
            publisher.peer_count().unwrap() == 2
        });
        // Both subscriptions known: probe until the fast one hears.
        fast.set_rcvtimeo(50).unwrap();
        wait("subscription", Duration::from_secs(5), || {
            publisher.send("probe", 0).unwrap();
            fast.recv_bytes(0).is_ok()
        });
        std::thread::sleep(Duration::from_millis(300));
        while fast.recv_bytes(0).is_ok() {}
        fast.set_rcvtimeo(5000).unwrap();
        let n = 20_000u32;
        let payload = vec![7u8; 1024];
        let reader = std::thread::spawn(move || {
            let mut got = 0u32;
            while got < n {
                let m = fast
                    .recv_bytes(0)
                    .unwrap_or_else(|e| panic!("fast subscriber stalled after {got}: {e}"));
                if m.len() > 1000 {
                    got += 1;
                }
            }
            fast
        });
        for i in 0..n {
            publisher.send(&payload[..], 0).unwrap();
            if i % 200 == 199 {
                std::thread::sleep(Duration::from_millis(4)); // a rate the fast one keeps up with
            }
        }
        let fast = reader.join();
        let meta = |k| publisher.meta(k).unwrap().unwrap_or_default();
        eprintln!(
            "{scheme}: PUB msgs-out {} dropped-hwm {}",
            meta("msgs-out"),
            meta("dropped-hwm")
        );
        drop(fast.expect("the fast subscriber got everything"));
        let dropped: u64 = publisher
            .meta("dropped-hwm")
            .unwrap()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            dropped > 0,
            "{scheme}: nothing dropped for the stalled subscriber"
        );
        eprintln!("{scheme}: fast subscriber got all {n}; {dropped} dropped for the slow one");
    }
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// A PUSH to a peer that stopped: sends block (EAGAIN with DONTWAIT) at the high-water
/// marks, and memory stays bounded however long the application keeps trying.
#[test]
fn push_to_a_dead_peer_blocks_with_bounded_memory() {
    for scheme in SCHEMES {
        let (_ctx, vtx) = manager();
        let port = free_port(scheme);
        let ep = format!("{scheme}://127.0.0.1:{port}");
        let pull = Proc(
            Command::new(VTX)
                .args(["cat", "-t", "pull", "-b", &ep])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let push = vtx.socket(zmq::PUSH).unwrap();
        push.set_sndhwm(1000).unwrap();
        push.connect(&ep).unwrap();
        wait("peering", Duration::from_secs(10), || {
            push.peer_count().unwrap() == 1
        });
        pull.signal("-STOP");
        let payload = vec![1u8; 1024];
        let before = rss_kib();
        let (mut sent, mut refused) = (0u64, 0u64);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            match push.send(&payload[..], zmq::DONTWAIT) {
                Ok(()) => sent += 1,
                Err(zmq::Error::EAGAIN) => {
                    refused += 1;
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
        let grew = rss_kib().saturating_sub(before);
        eprintln!("{scheme}: {sent} sent then blocked ({refused} EAGAIN); RSS grew {grew} KiB");
        assert!(refused > 0, "{scheme}: the PUSH never blocked");
        assert!(
            sent < 1_000_000,
            "{scheme}: {sent} messages accepted for a stopped peer"
        );
        assert!(grew < 64 * 1024, "{scheme}: memory grew by {grew} KiB");
    }
}

const PART_INNER: &str = "VTX_PARTITION_INNER";

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Inside a fresh network namespace: cut every packet of the test's ports with
/// nftables, then restore. Peerings die and come back; a request sent during the cut is
/// answered after it; a PULL never sees a message twice.
#[test]
fn partition_and_heal() {
    if std::env::var(PART_INNER).is_ok() {
        return partition_inner();
    }
    if !Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        eprintln!("SKIPPED: this machine cannot create a network namespace (unshare -n as root)");
        return;
    }
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "partition_and_heal", "--nocapture"])
        .env(PART_INNER, "1")
        .output()
        .unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "inner run failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn partition_inner() {
    sh("ip link set lo up");
    sh(
        "nft add table inet vtxcut && nft add chain inet vtxcut input '{ type filter hook input priority 0; policy accept; }'",
    );
    for (k, scheme) in SCHEMES.iter().enumerate() {
        let (_ctx, vtx) = manager();
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
        wait(
            &format!("{scheme}: reply before"),
            Duration::from_secs(10),
            || {
                serve(&rep);
                req.recv_bytes(0).is_ok()
            },
        );
        wait("push peer", Duration::from_secs(10), || {
            push.peer_count().unwrap() == 1
        });
        for _ in 0..100 {
            push.send(&seq.to_be_bytes()[..], 0).unwrap();
            seq += 1;
        }
        // Cut.
        sh(&format!(
            "nft add rule inet vtxcut input tcp dport {{ {p1}, {p2} }} drop"
        ));
        sh(&format!(
            "nft add rule inet vtxcut input tcp sport {{ {p1}, {p2} }} drop"
        ));
        sh(&format!(
            "nft add rule inet vtxcut input udp dport {{ {p1}, {p2} }} drop"
        ));
        sh(&format!(
            "nft add rule inet vtxcut input udp sport {{ {p1}, {p2} }} drop"
        ));
        let died = wait(
            &format!("{scheme}: peerings die"),
            Duration::from_secs(5),
            || {
                drain(&pull);
                serve(&rep);
                [&req, &rep, &push, &pull]
                    .iter()
                    .all(|s| s.peer_count().unwrap() == 0)
            },
        );
        // A request during the cut waits for the network to heal.
        req.send("during", 0).unwrap();
        for _ in 0..50 {
            let _ = push
                .send(&seq.to_be_bytes()[..], zmq::DONTWAIT)
                .map(|()| seq += 1);
        }
        std::thread::sleep(Duration::from_millis(300));
        sh("nft flush chain inet vtxcut input");
        let healed = wait(
            &format!("{scheme}: reply after healing"),
            Duration::from_secs(15),
            || {
                serve(&rep);
                drain(&pull);
                req.recv_bytes(0).is_ok()
            },
        );
        wait(
            &format!("{scheme}: push peers again"),
            Duration::from_secs(15),
            || {
                drain(&pull);
                push.peer_count().unwrap() == 1
            },
        );
        for _ in 0..100 {
            push.send(&seq.to_be_bytes()[..], 0).unwrap();
            seq += 1;
        }
        wait(
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
