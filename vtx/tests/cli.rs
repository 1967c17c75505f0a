//! The `vtx` command as a user runs it: output, exit codes, and no panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "udp", feature = "ipv6"))]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const VTX: &str = env!("CARGO_BIN_EXE_vtx");

fn vtx(args: &[&str]) -> Output {
    Command::new(VTX).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Kills the child when dropped, so a failing test leaves no process behind.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn help_on_every_subcommand() {
    for args in [
        &["--help"][..],
        &["demo", "--help"],
        &["cat", "--help"],
        &["proxy", "--help"],
        &["bench", "--help"],
    ] {
        let out = vtx(args);
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage:"), "{args:?}");
    }
    assert!(text(&vtx(&["--version"]).stdout).starts_with("vtx "));
}

#[test]
fn demo_in_one_process() {
    let port = free_udp_port().to_string();
    let out = vtx(&["demo", "--port", &port]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert_eq!(
        stdout
            .matches("client: got ack from udp://127.0.0.1:")
            .count(),
        3,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("server: got hello? from udp://127.0.0.1:")
            .count(),
        3,
        "{stdout}"
    );
}

#[test]
fn demo_in_two_processes() {
    let port = free_udp_port().to_string();
    let server = Command::new(VTX)
        .args(["demo", "server", "--port", &port])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut server = Guard(server);
    let mut lines = BufReader::new(server.0.stdout.take().unwrap()).lines();
    assert!(
        lines
            .next()
            .unwrap()
            .unwrap()
            .starts_with("server: bound udp://")
    );
    let out = vtx(&["demo", "client", "--port", &port, "--count", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("client: got ack").count(), 2);
}

#[test]
fn cat_push_to_pull_with_multipart() {
    let port = free_udp_port();
    let ep = format!("udp://127.0.0.1:{port}");
    let pull = Command::new(VTX)
        .args([
            "cat",
            "-t",
            "pull",
            "-b",
            &ep,
            "-n",
            "3",
            "-s",
            "|",
            "--timeout",
            "10000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pull = Guard(pull);
    let mut push = Command::new(VTX)
        .args(["cat", "-t", "push", "-c", &ep, "-s", "|"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    push.stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo|parts\nthree\n")
        .unwrap();
    assert!(push.wait().unwrap().success());
    let mut pull = pull;
    let out = std::mem::replace(&mut pull.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "one\ntwo|parts\nthree\n");
}

#[test]
fn cat_req_rep_over_tcp6() {
    let port = free_tcp_port();
    let rep = Command::new(VTX)
        .args([
            "cat",
            "-t",
            "rep",
            "-b",
            &format!("tcp6://[::1]:{port}"),
            "-n",
            "1",
            "--reply",
            "pong",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let _rep = Guard(rep);
    let out = vtx(&[
        "cat",
        "-t",
        "req",
        "-c",
        &format!("tcp6://[::1]:{port}"),
        "-m",
        "ping",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "pong\n");
}

#[test]
fn bad_arguments_get_clear_errors_and_exit_codes() {
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["cat", "-t", "push", "-c", "nope://x:1", "-m", "x"],
            1,
            "no transport `nope`",
        ),
        (&["cat", "-t", "push", "-m", "x"], 1, "--bind or --connect"),
        (
            &[
                "cat",
                "-t",
                "push",
                "-c",
                "udp://127.0.0.1:notaport",
                "-m",
                "x",
            ],
            1,
            "malformed endpoint",
        ),
        (
            &[
                "cat",
                "-t",
                "push",
                "-c",
                "udp://127.0.0.1:9",
                "-f",
                "/nonexistent/file",
            ],
            1,
            "cannot read /nonexistent/file",
        ),
        (
            &["cat", "-t", "bogus", "-c", "udp://127.0.0.1:9"],
            2,
            "invalid value 'bogus'",
        ),
        (
            &["bench", "--transports", "carrier-pigeon"],
            1,
            "unknown transport `carrier-pigeon`",
        ),
        (&["bench", "--scale", "0"], 1, "--scale"),
        (
            &[
                "proxy",
                "--front",
                "udp://127.0.0.1:1",
                "--back",
                "udp://127.0.0.1:2",
            ],
            1,
            "same scheme",
        ),
        (
            &["proxy", "--front", "bogus", "--back", "udp://127.0.0.1:2"],
            1,
            "front bogus",
        ),
    ];
    for (args, code, needle) in cases {
        let out = vtx(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert!(
            err.contains(needle),
            "{args:?}: expected `{needle}` in: {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn cat_push_without_peer_times_out_cleanly() {
    let port = free_udp_port();
    let t = Instant::now();
    let out = vtx(&[
        "cat",
        "-t",
        "push",
        "-c",
        &format!("udp://127.0.0.1:{port}"),
        "-m",
        "x",
        "--timeout",
        "300",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no peer came up"));
    assert!(t.elapsed() < Duration::from_secs(5));
}

/// A pyzmq REQ (another process, plain tcp) through `vtx proxy` to a vtx REP on udp.
#[test]
fn proxy_bridges_pyzmq_to_a_vtx_peer() {
    let have = Command::new("python3")
        .args(["-c", "import zmq"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        have,
        "pyzmq is missing: `python3 -m pip install pyzmq` (scripts/test installs it)"
    );
    let ctx = zmq::Context::new();
    let v = vtx::Vtx::new(&ctx);
    v.register_defaults().unwrap();
    let rep = v.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    let back = rep.bind("udp://127.0.0.1:0").unwrap();
    let front = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let proxy = Command::new(VTX)
        .args([
            "proxy",
            "--front",
            &front,
            "--back",
            &back,
            "--pattern",
            "reqrep",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _proxy = Guard(proxy);
    let script = format!(
        "import zmq\n\
         s = zmq.Context().socket(zmq.REQ)\n\
         s.setsockopt(zmq.RCVTIMEO, 10000)\n\
         s.setsockopt(zmq.LINGER, 0)\n\
         s.connect('{front}')\n\
         for i in range(20):\n\
         \x20   s.send_string('req %d' % i)\n\
         \x20   r = s.recv_string()\n\
         \x20   assert r == 'rep %d' % i, r\n\
         print('pyzmq ok')\n"
    );
    let mut py = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    for i in 0..20 {
        let q = rep.recv_string(0).unwrap().unwrap();
        assert_eq!(q, format!("req {i}"));
        rep.send(format!("rep {i}").as_bytes(), 0).unwrap();
    }
    let status = py.wait().unwrap();
    assert!(status.success());
}

/// Native PUSH -> proxy (pipeline) -> vtx PULL over tcp6, in process.
#[test]
fn proxy_pipeline_native_to_vtx() {
    let ctx = zmq::Context::new();
    let v = vtx::Vtx::new(&ctx);
    v.register_defaults().unwrap();
    let pull = v.socket(zmq::PULL).unwrap();
    pull.set_rcvtimeo(10_000).unwrap();
    let back = pull.bind("tcp6://[::1]:0").unwrap();
    let front = format!("tcp://127.0.0.1:{}", free_tcp_port());
    let proxy = Command::new(VTX)
        .args([
            "proxy",
            "--front",
            &front,
            "--back",
            &back,
            "--pattern",
            "pipeline",
        ])
        .spawn()
        .unwrap();
    let _proxy = Guard(proxy);
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(0).unwrap();
    push.connect(&front).unwrap();
    for i in 0..10 {
        push.send(format!("m{i}").as_bytes(), 0).unwrap();
    }
    for i in 0..10 {
        assert_eq!(pull.recv_bytes(0).unwrap(), format!("m{i}").as_bytes());
    }
}
