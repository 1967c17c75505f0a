//! vtx `ws://` against zeromq.js (npm `zeromq` 6.8.0 with its prebuilt libzmq 4.3.5),
//! another process: a Node REQ and SUB against vtx REP and PUB, and vtx REQ and SUB
//! against a Node REP and PUB. `scripts/test` installs zeromq.js into
//! `target/zeromq-js` with npm; without it the test fails and says so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(10),
}

fn zeromq_js() -> PathBuf {
    let root =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/zeromq-js/node_modules/zeromq");
    assert!(
        root.join("package.json").exists(),
        "zeromq.js is missing at {}: scripts/test installs it (npm install --prefix target/zeromq-js zeromq@6.8.0)",
        root.display()
    );
    root
}

/// The Node script in `mode`, its stdout piped.
fn node(args: &[&str]) -> Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/zeromq_js.js");
    Command::new("node")
        .arg(script)
        .args(args)
        .env("ZEROMQ_JS", zeromq_js())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("node does not start ({e}): Node.js is needed"))
}

/// Kills the child when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lines(child: &mut Child) -> impl Iterator<Item = String> + use<> {
    BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
}

fn setup() -> (zmq::Context, vtx::Vtx) {
    let _ = env_logger::builder().is_test(true).try_init();
    manager("ws", vtx_ws::WsTransport::default())
}

#[test]
fn node_req_and_sub_against_vtx_rep_and_pub() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let mut req = node(&["req", &ep, "3"]);
    let mut out = lines(&mut req);
    for i in 0..3 {
        let m = rep.recv_multipart(0).unwrap();
        assert_eq!(m, vec![b"hello".to_vec(), i.to_string().into_bytes()]);
        rep.send_multipart([b"re".to_vec(), m[1].clone()], 0)
            .unwrap();
        assert_eq!(out.next().as_deref(), Some(format!("re {i}").as_str()));
    }
    assert!(req.wait().unwrap().success());

    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let sub = Guard(node(&["sub", &ep, "3"]));
    let mut sub = sub;
    let mut got = lines(&mut sub.0);
    let reader = std::thread::spawn(move || (0..3).filter_map(|_| got.next()).collect::<Vec<_>>());
    let deadline = std::time::Instant::now() + LIMIT;
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        publisher.send("x-no", 0).unwrap();
        publisher.send("t-yes", 0).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = reader.join().unwrap();
    assert_eq!(got, vec!["t-yes"; 3], "only the subscribed topic");
}

#[test]
fn vtx_req_and_sub_against_node_rep_and_pub() {
    let (_ctx, vtx) = setup();
    let mut rep = Guard(node(&["rep", "ws://127.0.0.1:*/zmq"]));
    let mut out = lines(&mut rep.0);
    let bound = out.next().expect("the Node REP bound");
    let ep = bound.strip_prefix("bound ").unwrap().to_owned();
    let req = sock(&vtx, zmq::REQ);
    req.connect(&ep).unwrap();
    for m in [
        vec![b"one".to_vec()],
        vec![b"a".to_vec(), vec![1u8; 100_000]],
    ] {
        req.send_multipart(&m, 0).unwrap();
        assert_eq!(req.recv_multipart(0).unwrap(), m);
    }

    let mut publisher = Guard(node(&["pub", "ws://127.0.0.1:*/p"]));
    let mut out = lines(&mut publisher.0);
    let ep = out
        .next()
        .unwrap()
        .strip_prefix("bound ")
        .unwrap()
        .to_owned();
    let sub = sock(&vtx, zmq::SUB);
    sub.set_subscribe(b"t").unwrap();
    sub.connect(&ep).unwrap();
    for _ in 0..3 {
        let m = sub.recv_bytes(0).unwrap();
        assert!(m.starts_with(b"t-yes"), "{:?}", String::from_utf8_lossy(&m));
    }
}
