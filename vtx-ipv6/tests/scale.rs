//! 10,000 concurrent ZMTP peerings on one tcp6 driver thread. The clients (raw ZMTP
//! sessions on plain sockets) run in a child process: both ends in one process would
//! need 20,000 descriptors, more than this machine's hard limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx::{Vtx, VtxSocket};
use vtx_emul::pattern::Transmit;
use vtx_emul::testing::swarm::ZmtpSwarm;
use vtx_emul::testing::{CountingAlloc, raise_fd_limit};
use vtx_emul::{Msg, SocketType};

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
        raise_fd_limit(N as u64 + 2000) >= N as u64 + 1000,
        "cannot raise the open-file limit for {N} peers"
    );
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("tcp6", vtx_ipv6::Tcp6Transport::default())
        .unwrap();
    (ctx, vtx)
}

fn wait_peers(s: &VtxSocket, n: usize, limit: Duration) {
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

struct ChildSwarm {
    child: Child,
    lines: std::io::Lines<BufReader<ChildStdout>>,
}

impl ChildSwarm {
    fn spawn(mode: &str, target: &str) -> ChildSwarm {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "swarm_child", "--nocapture"])
            .env("VTX_SWARM_MODE", mode)
            .env("VTX_SWARM_TARGET", target)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        ChildSwarm { child, lines }
    }

    /// Waits for a line starting with `ok` or `fail` (or `up`).
    fn expect(&mut self, what: &str) -> String {
        for line in self.lines.by_ref() {
            let line = line.unwrap();
            if line.starts_with(what) || line.starts_with("fail") {
                return line;
            }
        }
        panic!("swarm child exited before `{what}`");
    }
}

impl Drop for ChildSwarm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    raise_fd_limit(N as u64 + 2000);
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
            println!("up");
            std::thread::sleep(Duration::from_secs(600));
        }
    }
}

#[test]
fn router_answers_ten_thousand_dealers() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(10_000).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    let t0 = Instant::now();
    let mut swarm = ChildSwarm::spawn("dealers", &ep[7..]);
    wait_peers(&router, N, Duration::from_secs(120));
    eprintln!(
        "{N} ZMTP peerings up in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    let mut ids = std::collections::HashSet::new();
    for k in 0..N {
        let m = router.recv_multipart(0).unwrap_or_else(|e| {
            let meta = |key| router.meta(key).unwrap().unwrap_or_default();
            panic!(
                "after {k}: {e}; msgs-in {} dropped {} peers {} protocol-errors {}",
                meta("msgs-in"),
                meta("dropped"),
                meta("peers"),
                meta("protocol-errors")
            )
        });
        assert_eq!(m[1], b"hello");
        ids.insert(m[0].clone());
        router
            .send_multipart([m[0].clone(), b"ack".to_vec()], 0)
            .unwrap();
    }
    assert_eq!(ids.len(), N);
    assert_eq!(swarm.expect("ok"), "ok");
}

#[test]
fn pub_reaches_exactly_the_matching_subscribers() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let publisher = vtx.socket(zmq::PUB).unwrap();
    let ep = publisher.bind("tcp6://[::1]:0").unwrap();
    let mut swarm = ChildSwarm::spawn("subs", &ep[7..]);
    wait_peers(&publisher, N, Duration::from_secs(120));
    assert_eq!(swarm.expect("up"), "up");
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
    let verdict = swarm.expect("ok");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(pump.join().unwrap());
    assert_eq!(verdict, "ok");
}

#[test]
fn idle_memory_per_peering() {
    let _serial = serial();
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    let ep = router.bind("tcp6://[::1]:0").unwrap();
    let before = HEAP.settled();
    let mut swarm = ChildSwarm::spawn("idle", &ep[7..]);
    wait_peers(&router, N, Duration::from_secs(120));
    assert_eq!(swarm.expect("up"), "up");
    let per = (HEAP.settled() - before) as f64 / N as f64;
    eprintln!("idle TCP peering: {per:.0} bytes of driver heap each ({N} peerings)");
    assert!(
        per < 16.0 * 1024.0,
        "idle TCP peering costs {per:.0} bytes, over the 16 KiB target"
    );
}

#[test]
fn the_peering_past_the_maximum_gets_a_zmtp_error() {
    let _serial = serial();
    let (ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_max_peers(3).unwrap();
    let ep = router
        .bind("tcp6://[::1]:0")
        .unwrap()
        .replacen("tcp6://", "tcp://", 1);
    let dealers: Vec<zmq::Socket> = (0..5)
        .map(|_| {
            let d = ctx.socket(zmq::DEALER).unwrap();
            d.set_ipv6(true).unwrap();
            d.set_linger(0).unwrap();
            d.connect(&ep).unwrap();
            d
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let refused: u64 = router.meta("refused").unwrap().unwrap().parse().unwrap();
        if router.peer_count() == 3 && refused >= 2 {
            break;
        }
        assert!(
            Instant::now() < end,
            "peers {} refused {refused}",
            router.peer_count()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(dealers);
}
