//! Lifecycle events on a monitor socket, each kind from a real cause: a peer that comes
//! and goes, one that freezes (heartbeat timeout), one of the wrong type, garbage bytes,
//! and a message to nobody.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(feature = "udp")]

mod harness;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::defaults;
use vtx_emul::testing::addr::socket_addr_of;
use vtx_emul::testing::process::ChildGuard;

const VTX: &str = env!("CARGO_BIN_EXE_vtx");

#[test]
fn every_event_kind() {
    let (ctx, vtx) = defaults();
    let router = vtx.socket(zmq::ROUTER).unwrap();
    router.set_heartbeat_ivl(100).unwrap();
    router.set_heartbeat_timeout(300).unwrap();
    let ep = router.bind("udp://127.0.0.1:0").unwrap();
    let mon = ctx.socket(zmq::PAIR).unwrap();
    mon.set_rcvtimeo(100).unwrap();
    mon.bind("inproc://vtx-monitor-kinds").unwrap();
    router.monitor("inproc://vtx-monitor-kinds").unwrap();

    // A dealer that stays (blocked reading its stdin), then freezes.
    let frozen = ChildGuard::spawn(
        Command::new(VTX)
            .args(["cat", "-t", "dealer", "-c", &ep])
            .stdin(Stdio::piped()),
    );
    // A dealer that says hello and leaves.
    let brief = Command::new(VTX)
        .args(["cat", "-t", "dealer", "-c", &ep, "-m", "hi"])
        .status()
        .unwrap();
    assert!(brief.success());
    // A socket type a ROUTER cannot talk to.
    let wrong = ChildGuard::spawn(Command::new(VTX).args([
        "cat",
        "-t",
        "pull",
        "-c",
        &ep,
        "--timeout",
        "2000",
    ]));
    // Garbage at the port.
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"not NOM-2", socket_addr_of(&ep))
        .unwrap();
    // A message to an identity no peer has.
    router.send_multipart([&b"nobody"[..], b"x"], 0).unwrap();

    let mut names = BTreeSet::new();
    let end = Instant::now() + Duration::from_secs(10);
    let want = [
        "dropped",
        "heartbeat-timeout",
        "peer-down",
        "peer-up",
        "protocol-error",
        "refused",
    ];
    let mut stopped = false;
    while Instant::now() < end && !want.iter().all(|w| names.contains(*w)) {
        if let Ok(ev) = mon.recv_multipart(0) {
            assert_eq!(ev.len(), 3);
            names.insert(String::from_utf8(ev[0].clone()).unwrap());
        }
        if !stopped && router.peer_count() >= 1 && names.contains("peer-down") {
            frozen.signal(libc::SIGSTOP);
            stopped = true;
        }
    }
    drop((frozen, wrong));
    assert_eq!(
        names.iter().map(String::as_str).collect::<Vec<_>>(),
        want.to_vec()
    );
    let hb: u64 = router
        .meta("heartbeat-timeouts")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    assert!(hb >= 1);
}
