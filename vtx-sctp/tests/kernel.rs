//! The kernel backend (`sctp+kernel`) on the kernel's own SCTP. Most hosts (this CI
//! machine's included) have no SCTP, so these tests are ignored in a plain
//! `cargo test`; `scripts/vm-sctp-test` runs them with `--ignored` inside a qemu VM
//! booting Debian's cloud kernel, which loads sctp.ko, and fails if the VM cannot
//! start or the module cannot load.
//!
//! Besides vtx against vtx, a native libzmq socket talks to the kernel backend
//! through `socat`, which relays between kernel SCTP and TCP: the ZMTP bytes cross a
//! plain kernel SCTP socket that vtx did not open.

#![cfg(feature = "kernel")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod common;

use common::sock;
use vtx::Vtx;
use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::process::socat_listening;
use vtx_emul::testing::wait_until;
use vtx_emul::{req_rep, round_trip, send_in_order};

fn setup() -> (zmq::Context, Vtx) {
    common::logging();
    common::manager(
        "sctp+kernel",
        vtx_sctp::kernel::KernelSctpTransport::default(),
    )
}

#[test]
#[ignore = "needs kernel SCTP: scripts/vm-sctp-test runs it in a VM"]
fn req_rep_over_kernel_sctp() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("sctp+kernel://127.0.0.1:0").unwrap();
    assert!(ep.starts_with("sctp+kernel://127.0.0.1:"), "{ep}");
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    req_rep!(req, rep, 100, "sctp+kernel://127.0.0.1:");
}

#[test]
#[ignore = "needs kernel SCTP: scripts/vm-sctp-test runs it in a VM"]
fn push_pull_over_kernel_sctp() {
    let (_ctx, vtx) = setup();
    let pull = sock(&vtx, zmq::PULL);
    let ep = pull.bind("sctp+kernel://127.0.0.1:0").unwrap();
    let push = sock(&vtx, zmq::PUSH);
    push.connect(&ep).unwrap();
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    push.send(&big, 0).unwrap();
    assert!(
        pull.recv_bytes(0).unwrap() == big,
        "1 MiB message corrupted"
    );
    drop(send_in_order!(push, pull, 20_000));
}

#[test]
#[ignore = "needs kernel SCTP: scripts/vm-sctp-test runs it in a VM"]
fn graceful_close_and_reconnect_over_kernel_sctp() {
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("sctp+kernel://127.0.0.1:0").unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    round_trip!(req, rep, 1);
    drop(rep);
    wait_until("the close noticed", Duration::from_secs(5), || {
        req.peer_count() == 0
    });
    let rep = sock(&vtx, zmq::REP);
    rep.bind(&ep).unwrap();
    req.send("three", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"three");
}

/// vtx REQ over kernel SCTP to socat, which relays to a native libzmq REP over TCP.
#[test]
#[ignore = "needs kernel SCTP: scripts/vm-sctp-test runs it in a VM"]
fn vtx_req_reaches_native_rep_through_a_plain_sctp_socket() {
    let (ctx, vtx) = setup();
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let native = rep.get_last_endpoint().unwrap().unwrap();
    let tcp = port_of(&native);
    let (_relay, sctp) = socat_listening(&[
        "SCTP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork".into(),
        format!("TCP:127.0.0.1:{tcp}"),
    ]);
    let req = sock(&vtx, zmq::REQ);
    req.connect(&format!("sctp+kernel://127.0.0.1:{sctp}"))
        .unwrap();
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 249) as u8).collect();
    for body in [b"hello libzmq".to_vec(), big] {
        req.send(&body, 0).unwrap();
        assert!(rep.recv_bytes(0).unwrap() == body);
        rep.send_multipart(["ok", "fine"], 0).unwrap();
        assert_eq!(
            req.recv_multipart(0).unwrap(),
            [b"ok".to_vec(), b"fine".to_vec()]
        );
    }
}

/// A native libzmq REQ over TCP to socat, which relays over kernel SCTP to vtx REP.
#[test]
#[ignore = "needs kernel SCTP: scripts/vm-sctp-test runs it in a VM"]
fn native_req_reaches_vtx_rep_through_a_plain_sctp_socket() {
    let (ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let ep = rep.bind("sctp+kernel://127.0.0.1:0").unwrap();
    let sctp = port_of(&ep);
    let (_relay, tcp) = socat_listening(&[
        "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork".into(),
        format!("SCTP:127.0.0.1:{sctp}"),
    ]);
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.connect(&format!("tcp://127.0.0.1:{tcp}")).unwrap();
    for i in 0..10 {
        req.send_multipart([format!("q{i}").as_str(), "part"], 0)
            .unwrap();
        assert_eq!(
            rep.recv_multipart(0).unwrap(),
            [format!("q{i}").into_bytes(), b"part".to_vec()]
        );
        rep.send("a", 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), b"a");
    }
    let peer = rep.last_peer().unwrap().unwrap();
    assert!(peer.starts_with("sctp+kernel://127.0.0.1:"), "{peer}");
}
