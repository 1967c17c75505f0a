//! Interop with a stack no one here wrote: the userspace backend against usrsctp
//! (Debian's libusrsctp-dev), both over UDP encapsulation. The peer is
//! `tests/usrsctp/zmtp_echo.c`, compiled here with `cc`: a ZMTP PAIR that echoes.
//!
//! Needs libusrsctp-dev (scripts/test installs it); without it these tests fail
//! with a message saying so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

mod common;

use common::{setup, sock, wait_until};
use vtx::VtxSocket;
use vtx_emul::testing::addr::{free_udp_port, port_of};
use vtx_emul::testing::process::{ChildGuard, Isolation, isolate};

fn echo_binary() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join("zmtp_echo");
        // Each test process builds its own copy and renames it into place: another
        // process may be running the previous one.
        let tmp = dir.join(format!("zmtp_echo.{}", std::process::id()));
        let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/usrsctp/zmtp_echo.c");
        let status = Command::new("cc")
            .args(["-O2", "-Wall", "-o"])
            .arg(&tmp)
            .arg(&src)
            .args(["-lusrsctp", "-lpthread"])
            .status()
            .expect("run cc");
        assert!(
            status.success(),
            "cannot build the usrsctp peer: is libusrsctp-dev installed? (scripts/test installs it)"
        );
        std::fs::rename(&tmp, &out).unwrap();
        out
    })
}

/// The usrsctp peer, its stdout piped. usrsctp takes its UDP port as a number, so each
/// test runs in a network namespace of its own, where nothing else can take a port
/// found free meanwhile.
fn peer(args: &[String]) -> ChildGuard {
    ChildGuard::spawn(
        Command::new(echo_binary())
            .args(args)
            .stdout(Stdio::piped()),
    )
}

/// Reads the peer's next line, which must start with `prefix`.
fn expect_line(peer: &mut ChildGuard, prefix: &str) {
    let line = peer.line().unwrap_or_default();
    assert!(
        line.starts_with(prefix),
        "usrsctp peer said {line:?}, expected {prefix}"
    );
}

/// Messages both ways: single, multipart, empty, 1 MiB.
fn exchange(s: &VtxSocket) {
    s.send("hello usrsctp", 0).unwrap();
    assert_eq!(s.recv_bytes(0).unwrap(), b"hello usrsctp");
    let parts = vec![b"one".to_vec(), Vec::new(), b"three".to_vec()];
    s.send_multipart(&parts, 0).unwrap();
    assert_eq!(s.recv_multipart(0).unwrap(), parts);
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 253) as u8).collect();
    s.send(&big, 0).unwrap();
    assert!(s.recv_bytes(0).unwrap() == big, "1 MiB message corrupted");
    for i in 0..100u32 {
        s.send(&i.to_be_bytes()[..], 0).unwrap();
    }
    for i in 0..100u32 {
        assert_eq!(s.recv_bytes(0).unwrap(), i.to_be_bytes());
    }
}

#[test]
fn vtx_connects_to_usrsctp() {
    if !isolate("vtx_connects_to_usrsctp", Isolation::NetNamespace) {
        return;
    }
    let (_ctx, vtx) = setup();
    let port = free_udp_port();
    let mut peer = peer(&["listen".into(), port.to_string(), port.to_string()]);
    expect_line(&mut peer, "listening");
    let s = sock(&vtx, zmq::PAIR);
    s.connect(&format!("sctp://127.0.0.1:{port}")).unwrap();
    expect_line(&mut peer, "ready");
    exchange(&s);
    // Closing the socket shuts the association down; usrsctp sees a clean end.
    drop(s);
    let lines = peer.finish(Duration::from_secs(10));
    assert_eq!(lines, ["echoed 103, peer shut down", "closed"]);
}

#[test]
fn usrsctp_connects_to_vtx() {
    if !isolate("usrsctp_connects_to_vtx", Isolation::NetNamespace) {
        return;
    }
    let (_ctx, vtx) = setup();
    let s = sock(&vtx, zmq::PAIR);
    let ep = s.bind("sctp://127.0.0.1:0").unwrap();
    let port = port_of(&ep);
    let own = free_udp_port();
    let mut peer = peer(&[
        "connect".into(),
        own.to_string(),
        own.to_string(),
        port.to_string(),
        port.to_string(),
    ]);
    expect_line(&mut peer, "ready");
    wait_until("peer up", || s.peer_count() == 1);
    exchange(&s);
    // usrsctp shuts the association down; vtx learns at once, not by a heartbeat.
    s.send("QUIT", 0).unwrap();
    let t = Instant::now();
    wait_until("peer down", || s.peer_count() == 0);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    let lines = peer.finish(Duration::from_secs(10));
    assert_eq!(lines, ["echoed 103, quit", "closed"]);
}
