//! Many associations on one userspace `sctp` driver thread: 10,000 associations from a
//! child process (its own driver) all get an answer from one ROUTER, and the driver heap
//! each idle association costs the ROUTER's side is measured with a counting
//! allocator.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use vtx::Vtx;
use vtx_emul::testing::{CountingAlloc, raise_fd_limit};

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const N: usize = 10_000;

fn setup() -> (zmq::Context, Vtx) {
    raise_fd_limit(4 * N as u64 + 1000);
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register("sctp", vtx_sctp::SctpTransport::default())
        .unwrap();
    (ctx, vtx)
}

/// The dealers, in a child process so their heap is not counted.
struct Dealers {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Dealers {
    fn spawn(endpoint: &str) -> Dealers {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "dealers_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("VTX_SCTP_DEALERS", endpoint)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        Dealers { child, out }
    }

    fn expect(&mut self, word: &str) {
        // The harness prints "test dealers_child ... " on the same line.
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.out.read_line(&mut line).unwrap() > 0,
                "child ended early"
            );
            if line.trim().ends_with(word) {
                return;
            }
            assert!(!line.contains("fail:"), "{line}");
        }
    }
}

impl Drop for Dealers {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs only as the child of `router_answers_ten_thousand_associations`.
#[test]
fn dealers_child() {
    let Ok(endpoint) = std::env::var("VTX_SCTP_DEALERS") else {
        return;
    };
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
    println!("answered");
    // Stay up, idle, until the parent has measured.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    std::thread::sleep(Duration::from_secs(60));
}

#[test]
fn router_answers_ten_thousand_associations() {
    let (_ctx, vtx) = setup();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_rcvtimeo(60_000).unwrap();
    let ep = router.bind("sctp://127.0.0.1:0").unwrap();
    let before = HEAP.settled();
    let mut dealers = Dealers::spawn(&ep);
    let start = Instant::now();
    let mut identities = std::collections::HashSet::new();
    for _ in 0..N {
        let m = router.recv_multipart(0).unwrap();
        assert_eq!(m[1], b"hello");
        identities.insert(m[0].clone());
        router
            .send_multipart([m[0].clone(), b"ack".to_vec()], 0)
            .unwrap();
    }
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
