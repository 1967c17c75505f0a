//! CURVE between vtx `tcp6` and pyzmq over a libzmq with libsodium (Debian's
//! python3-zmq), in another process: both roles, REQ/REP, DEALER/ROUTER and PUB/SUB,
//! the `User-Id` each side sees, a ZAP handler's denial, and a wrong server key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use vtx_emul::security::{AllowedKeys, Security, curve_keypair};
use vtx_emul::testing::process::{ChildGuard, python_with_zmq};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyzmq_curve.py");

/// The two pyzmq peers: Debian's (pyzmq 24 on libzmq 4.3.4, system libsodium) and
/// pyzmq 27's wheel (libzmq 4.3.5, bundled libsodium) in `target/pyzmq27`, which
/// `scripts/test` installs (`VTX_PYZMQ27` points elsewhere).
fn peers() -> Vec<PathBuf> {
    let wheel: PathBuf = std::env::var_os("VTX_PYZMQ27").map_or_else(
        || concat!(env!("CARGO_MANIFEST_DIR"), "/../target/pyzmq27/bin/python").into(),
        PathBuf::from,
    );
    let peers = vec![python_with_zmq(), wheel];
    for py in &peers {
        let ok = Command::new(py)
            .args([
                "-c",
                "import sys, zmq; sys.exit(0 if zmq.has('curve') else 1)",
            ])
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "{py:?} has no pyzmq with CURVE: scripts/test installs Debian's python3-zmq and \
             pyzmq 27 into target/pyzmq27 (VTX_PYZMQ27 names another interpreter)"
        );
    }
    peers
}

fn python(py: &Path, args: &[&str]) -> ChildGuard {
    ChildGuard::spawn(
        Command::new(py)
            .arg(SCRIPT)
            .args(args)
            .stdout(Stdio::piped()),
    )
}

/// The vtx endpoint of a pyzmq server, from its `bound tcp://...` line.
fn served(peer: &mut ChildGuard) -> String {
    let bound = peer.line().unwrap_or_default();
    bound
        .strip_prefix("bound tcp://")
        .map(|a| format!("tcp6://{a}"))
        .unwrap_or_else(|| panic!("pyzmq said {bound:?}"))
}

fn curve_server(secret: &str, allowed: &str) -> Security {
    Security::curve_server(
        &[secret],
        Arc::new(AllowedKeys::new().with_key(allowed).unwrap()),
    )
    .unwrap()
}

/// pyzmq REQ, DEALER and SUB clients of vtx CURVE servers: messages both ways (up
/// to 60 KB), the client's key as `User-Id` at vtx, subscriptions inside the boxes.
#[test]
fn pyzmq_curve_clients_of_vtx_servers() {
    let _ = env_logger::builder().is_test(true).try_init();
    for py in peers() {
        clients_of_vtx_servers(&py);
    }
}

fn clients_of_vtx_servers(py: &Path) {
    let t = Setup::new();
    let (server_pub, server_sec) = curve_keypair();
    let (client_pub, client_sec) = curve_keypair();
    for (vtx_ty, py_ty) in [(zmq::REP, "req"), (zmq::ROUTER, "dealer")] {
        let server = t.vtx_sock(vtx_ty);
        server
            .set_security(curve_server(&server_sec, &client_pub))
            .unwrap();
        let bound = server.bind("tcp6://[::1]:0").unwrap();
        let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
        let mut peer = python(
            py,
            &[
                "connect",
                py_ty,
                &ep,
                &server_pub,
                &client_pub,
                &client_sec,
                "20",
            ],
        );
        for _ in 0..20 {
            let mut req = server.recv_multipart(0).unwrap();
            assert_eq!(
                server.msg_gets("User-Id").unwrap().as_deref(),
                Some(client_pub.as_str())
            );
            let at = if vtx_ty == zmq::ROUTER { 2 } else { 0 };
            req.insert(at, b"ack".to_vec());
            server.send_multipart(req, 0).unwrap();
        }
        let done = peer.line().unwrap_or_default();
        assert!(done.ends_with("20 ok"), "pyzmq {py_ty}: {done:?}");
        assert!(peer.wait().success());
    }
    let publisher = t.vtx_sock(zmq::PUB);
    publisher
        .set_security(curve_server(&server_sec, &client_pub))
        .unwrap();
    let bound = publisher.bind("tcp6://[::1]:0").unwrap();
    let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
    let mut peer = python(
        py,
        &[
            "connect",
            "sub",
            &ep,
            &server_pub,
            &client_pub,
            &client_sec,
            "5",
        ],
    );
    // Until the subscription (a command inside a MESSAGE box) has arrived and five
    // messages went through it.
    let mut sent = 0;
    let done = loop {
        publisher.send("x-not-subscribed", 0).unwrap();
        publisher.send(format!("t{sent}").as_bytes(), 0).unwrap();
        sent += 1;
        if let Ok(Some(status)) = peer.child().try_wait() {
            break status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert!(sent < 2000, "the pyzmq SUB got nothing");
    };
    assert!(done.success(), "pyzmq sub: {done}");
}

/// vtx REQ and DEALER clients of a pyzmq CURVE server whose ZAP handler lets the
/// client's key in (libzmq's `User-Id` for the vtx client is that key), and a vtx SUB
/// of a pyzmq CURVE PUB.
#[test]
fn vtx_curve_clients_of_a_pyzmq_server() {
    let _ = env_logger::builder().is_test(true).try_init();
    for py in peers() {
        vtx_clients_of(&py);
    }
}

fn vtx_clients_of(py: &Path) {
    let t = Setup::new();
    let (server_pub, server_sec) = curve_keypair();
    let (client_pub, client_sec) = curve_keypair();
    for (py_ty, vtx_ty) in [("rep", zmq::REQ), ("router", zmq::DEALER)] {
        let mut peer = python(py, &["serve", py_ty, &server_sec, &client_pub, "10"]);
        let ep = served(&mut peer);
        let client = t.vtx_sock(vtx_ty);
        client
            .set_security(Security::curve_client(&server_pub, &client_sec).unwrap())
            .unwrap();
        client.connect(&ep).unwrap();
        for i in 0..10 {
            let body = [b"vtx".to_vec(), i.to_string().into_bytes(), vec![7; 30_000]];
            let mut out = body.to_vec();
            if vtx_ty == zmq::DEALER {
                out.insert(0, Vec::new());
            }
            client.send_multipart(out, 0).unwrap();
            let mut reply = client.recv_multipart(0).unwrap();
            if vtx_ty == zmq::DEALER {
                reply.remove(0);
            }
            assert_eq!(reply[0], b"ack");
            assert_eq!(&reply[1..4], &body[..]);
            assert_eq!(reply[4], client_pub.as_bytes(), "libzmq's User-Id");
        }
        assert!(peer.wait().success());
    }
    // A vtx SUB of a pyzmq CURVE PUB: its subscription goes inside a MESSAGE box.
    let mut peer = python(py, &["serve", "pub", &server_sec, &client_pub, "10"]);
    let ep = served(&mut peer);
    let sub = t.vtx_sock(zmq::SUB);
    sub.set_curve_client(&server_pub, &client_sec).unwrap();
    sub.set_subscribe(b"t").unwrap();
    sub.connect(&ep).unwrap();
    for _ in 0..5 {
        let m = sub.recv_bytes(0).unwrap();
        assert!(m.starts_with(b"t"), "unsubscribed {m:?}");
    }
}

/// A pyzmq ZAP handler denies the vtx client's key: ERROR "400", counted, no peer.
/// A vtx client holding the wrong server key never gets a WELCOME it can open.
#[test]
fn denied_keys_and_wrong_server_keys_get_no_peer() {
    let _ = env_logger::builder().is_test(true).try_init();
    for py in peers() {
        denied_and_wrong_keys(&py);
    }
}

fn denied_and_wrong_keys(py: &Path) {
    let t = Setup::new();
    let (server_pub, server_sec) = curve_keypair();
    let (allowed_pub, _) = curve_keypair();
    let (_, client_sec) = curve_keypair();
    let mut peer = python(py, &["serve", "rep", &server_sec, &allowed_pub, "1"]);
    let ep = served(&mut peer);
    let denied = t.vtx_sock(zmq::REQ);
    denied
        .set_security(Security::curve_client(&server_pub, &client_sec).unwrap())
        .unwrap();
    let events = t.ctx.socket(zmq::PAIR).unwrap();
    let monitor = format!("inproc://denied-{}", py.display());
    events.bind(&monitor).unwrap();
    events.set_rcvtimeo(5000).unwrap();
    denied.connect(&ep).unwrap();
    // Attached now; a denied client tries again, so a first denial not seen here is
    // followed by another.
    denied.monitor(&monitor).unwrap();
    wait_meta(&denied, "auth-failures", 1);
    assert_eq!(meta(&denied, "peers"), 0);
    // The monitor says why: authentication, with the server's status (libzmq's
    // HANDSHAKE_FAILED_AUTH with 400).
    loop {
        let ev = events.recv_multipart(0).expect("an auth-failed event");
        if ev[0] == b"auth-failed" {
            assert!(
                ev[2].starts_with(b"400 "),
                "{:?}",
                String::from_utf8_lossy(&ev[2])
            );
            break;
        }
    }

    let (wrong_pub, _) = curve_keypair();
    let lost = t.vtx_sock(zmq::REQ);
    lost.set_security(Security::curve_client(&wrong_pub, &client_sec).unwrap())
        .unwrap();
    lost.connect(&ep).unwrap();
    // libzmq closes on a HELLO it cannot open, without a word: a failed handshake.
    wait_meta(&lost, "handshake-failures", 1);
    assert_eq!(meta(&lost, "peers"), 0);
}
