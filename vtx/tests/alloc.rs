//! Heap allocations per message on the driver's hot path, counted (not timed): in
//! steady state a 64-byte message costs the sending driver and the receiving driver
//! far less than one allocation each (the floor is one, the goal none).
//!
//! Each path is measured alone against a native libzmq peer, whose allocations are
//! libzmq's own (C `malloc`, not this allocator): vtx `tcp6` PUSH to a native PULL is
//! the send path, a native PUSH to a vtx PULL the receive path. The application side
//! sends from and receives into reused buffers, so what is counted is the driver's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::thread;
use std::time::Duration;

use vtx::Vtx;
use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::measure::CountingAlloc;

#[global_allocator]
static HEAP: CountingAlloc = CountingAlloc::new();

const SIZE: usize = 64;
const WARM_UP: usize = 50_000;
const COUNTED: usize = 200_000;

/// The most a message may cost one path, in allocations: the floor is 1, the goal 0;
/// today each path makes well under 0.1 (a block of the pipe's arena per 64 frames,
/// buffers grown now and then), and this bound catches a per-message allocation
/// coming back.
const BOUND: f64 = 0.25;

/// Which end is vtx's.
#[derive(Clone, Copy, Debug)]
enum VtxEnd {
    Sender,
    Receiver,
}

/// Allocations per message while `COUNTED` messages go from a PUSH to a PULL after a
/// warm-up, one end vtx `tcp6`, the other native libzmq `tcp`.
fn allocations_per_message(vtx_end: VtxEnd) -> f64 {
    let ctx = zmq::Context::new();
    let vtx = Vtx::new(&ctx);
    vtx.register_defaults().unwrap();
    // The PULL binds; the PUSH connects.
    match vtx_end {
        VtxEnd::Sender => {
            let pull = ctx.socket(zmq::PULL).unwrap();
            pull.set_ipv6(true).unwrap();
            pull.bind("tcp://[::1]:*").unwrap();
            let ep = pull.get_last_endpoint().unwrap().unwrap();
            let port = port_of(&ep);
            let push = vtx.socket(zmq::PUSH).unwrap();
            push.connect(&format!("tcp6://[::1]:{port}")).unwrap();
            count(pull, &push)
        }
        VtxEnd::Receiver => {
            let pull = vtx.socket(zmq::PULL).unwrap();
            let ep = pull.bind("tcp6://[::1]:0").unwrap();
            let port = port_of(&ep);
            let push = ctx.socket(zmq::PUSH).unwrap();
            push.set_ipv6(true).unwrap();
            push.connect(&format!("tcp://[::1]:{port}")).unwrap();
            count(pull, &push)
        }
    }
}

fn count(pull: impl vtx::Socket + Send + 'static, push: &impl vtx::Socket) -> f64 {
    let total = WARM_UP + COUNTED;
    pull.set_rcvtimeo(30_000).unwrap();
    let (marks_tx, marks_rx) = std::sync::mpsc::channel();
    let receiver = thread::spawn(move || {
        let mut msg = zmq::Message::new();
        for i in 0..total {
            if i == WARM_UP {
                marks_tx.send(HEAP.allocations()).unwrap();
            }
            pull.recv(&mut msg, 0).expect("a message in time");
        }
        marks_tx.send(HEAP.allocations()).unwrap();
    });
    let payload = [7u8; SIZE];
    for _ in 0..total {
        push.send(&payload[..], 0).unwrap();
    }
    let start = marks_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let end = marks_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    receiver.join().unwrap();
    (end - start) as f64 / COUNTED as f64
}

/// Both paths in one test, one after the other: the counter is the whole process's, so
/// two tests measuring at once would count each other's messages.
#[test]
fn each_path_allocates_far_less_than_once_per_small_message() {
    for (path, end) in [("send", VtxEnd::Sender), ("receive", VtxEnd::Receiver)] {
        let per = allocations_per_message(end);
        eprintln!("{path} path: {per:.3} allocations per {SIZE}-byte message");
        assert!(
            per <= BOUND,
            "{path} path: {per:.3} allocations per message"
        );
    }
}
