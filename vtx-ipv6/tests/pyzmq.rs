//! A pyzmq peer in another process talks to a vtx tcp6 socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use vtx_emul::testing::process::{ChildGuard, python_with_zmq};

#[test]
fn pyzmq_req_talks_to_vtx_rep() {
    let python = python_with_zmq();
    let t = Setup::new();
    let (rep, ep) = t.vtx_bind(zmq::REP);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyzmq_peer.py");
    let mut child = ChildGuard::spawn(Command::new(python).args([script, &ep, "50"]));
    for _ in 0..50 {
        let req = rep.recv_multipart(0).unwrap();
        assert_eq!(req[0], b"py");
        rep.send_multipart([b"ack".to_vec(), req[1].clone()], 0)
            .unwrap();
    }
    let status = child.wait();
    assert!(status.success(), "pyzmq peer failed: {status}");
}
