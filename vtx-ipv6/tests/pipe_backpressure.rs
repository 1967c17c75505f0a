//! The application pipe fills and drains many times: every message still arrives.
//! (Regression: a full pipe once waited for a `ZMQ_FD` edge that `ZMQ_EVENTS` had
//! already consumed, and the socket stalled with messages in the driver.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::Setup;
use vtx_emul::SocketType;
use vtx_emul::testing::addr::socket_addr_of;
use vtx_emul::testing::swarm::ZmtpSwarm;

#[test]
fn a_full_pipe_always_resumes() {
    let server = Setup::new();
    let pull = server.vtx.socket(zmq::PULL).unwrap();
    pull.set_rcvhwm(100).unwrap();
    pull.set_rcvtimeo(5000).unwrap();
    let ep = pull.bind("tcp6://127.0.0.1:0").unwrap();
    // Idle peerings beside the busy one, as a server has.
    let _idle = ZmtpSwarm::connect(socket_addr_of(&ep), 9, SocketType::Push, |_| None).unwrap();
    let client = Setup::new();
    let push = client.vtx.socket(zmq::PUSH).unwrap();
    push.set_sndtimeo(5000).unwrap();
    push.connect(&ep).unwrap();
    let n = 100_000u32;
    let reader = std::thread::spawn(move || {
        for i in 0..n {
            let m = pull
                .recv_bytes(0)
                .unwrap_or_else(|e| panic!("stalled at {i}: {e}"));
            assert_eq!(u32::from_be_bytes(m.try_into().unwrap()), i);
            if i % 5000 == 0 {
                std::thread::sleep(Duration::from_millis(20)); // let the pipe fill
            }
        }
    });
    for i in 0..n {
        push.send(&i.to_be_bytes()[..], 0)
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    reader.join().unwrap();
}
