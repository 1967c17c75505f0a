//! The `vtx` command as a user runs it: output, exit codes, and no panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![cfg(all(feature = "udp", feature = "ipv6", feature = "tls"))]

mod common;
mod harness;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{VTX, spawn_announcing, spawn_bound};
use harness::defaults;
use vtx_emul::testing::addr::port_of;
use vtx_emul::testing::process::{ChildGuard, python_with_zmq};
use vtx_emul::testing::wait::wait_until;

fn vtx(args: &[&str]) -> Output {
    Command::new(VTX).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `vtx cat -t <ty> -b <endpoint> <rest>`'s arguments.
fn cat_bind(ty: &str, endpoint: &str, rest: &[&str]) -> Vec<String> {
    strings(&[&["cat", "-t", ty, "-b", endpoint][..], rest].concat())
}

/// A socket in this process bound to `endpoint`, receiving for up to 10 s, and the
/// endpoint it bound.
fn bound(v: &vtx::Vtx, ty: zmq::SocketType, endpoint: &str) -> (vtx::VtxSocket, String) {
    let s = v.socket(ty).unwrap();
    s.set_rcvtimeo(10_000).unwrap();
    let ep = s.bind(endpoint).unwrap();
    (s, ep)
}

/// `vtx proxy` from a native `tcp://` front to `back`, and the front it bound.
fn proxy(back: &str, pattern: &str) -> (ChildGuard, String) {
    let args = [
        "proxy",
        "--front",
        "tcp://127.0.0.1:*",
        "--back",
        back,
        "--pattern",
        pattern,
    ];
    spawn_announcing(&strings(&args), "front bound ", Stdio::null())
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
    let out = vtx(&["demo", "--port", "0"]);
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
    let mut server = ChildGuard::spawn(
        Command::new(VTX)
            .args(["demo", "server", "--port", "0"])
            .stdout(Stdio::piped()),
    );
    let first = server.line().unwrap();
    let port = first
        .strip_prefix("server: bound udp://")
        .map(port_of)
        .unwrap_or_else(|| panic!("{first}"));
    let port = port.to_string();
    let out = vtx(&["demo", "client", "--port", &port, "--count", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches("client: got ack").count(), 2);
}

#[test]
fn cat_push_to_pull_with_multipart() {
    let (pull, ep) = spawn_announcing(
        &cat_bind(
            "pull",
            "udp://127.0.0.1:0",
            &["-n", "3", "-s", "|", "--timeout", "10000"],
        ),
        "bound ",
        Stdio::piped(),
    );
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
    let printed = pull.rest_of_stdout();
    assert!(pull.wait().success());
    assert_eq!(printed, "one\ntwo|parts\nthree\n");
}

#[test]
fn cat_req_rep_over_tcp6() {
    let (_rep, ep) = spawn_bound(&cat_bind(
        "rep",
        "tcp6://[::1]:0",
        &["-n", "1", "--reply", "pong"],
    ));
    let out = vtx(&["cat", "-t", "req", "-c", &ep, "-m", "ping"]);
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
        (&["bench", "--repeat", "0"], 2, "--repeat"),
        (
            &["bench", "--readme", "/nonexistent/README.md"],
            1,
            "cannot read /nonexistent/README.md",
        ),
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
    // A port held by a socket that never answers: nobody can peer there meanwhile.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
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
    let python = python_with_zmq();
    let (_ctx, v) = defaults();
    let (rep, back) = bound(&v, zmq::REP, "udp://127.0.0.1:0");
    let (_proxy, front) = proxy(&back, "reqrep");
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
    let mut py = ChildGuard::spawn(
        Command::new(python)
            .args(["-c", &script])
            .stdout(Stdio::piped()),
    );
    for i in 0..20 {
        let q = rep.recv_string(0).unwrap().unwrap();
        assert_eq!(q, format!("req {i}"));
        rep.send(format!("rep {i}").as_bytes(), 0).unwrap();
    }
    assert!(py.wait().success());
}

/// Native PUSH -> proxy (pipeline) -> vtx PULL over tcp6, in process.
#[test]
fn proxy_pipeline_native_to_vtx() {
    let (ctx, v) = defaults();
    let (pull, back) = bound(&v, zmq::PULL, "tcp6://[::1]:0");
    let (_proxy, front) = proxy(&back, "pipeline");
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

/// `tail -f log | vtx cat -t pub`: each line goes out as it is written, not at EOF.
#[test]
fn cat_sends_each_line_as_it_arrives() {
    let (_ctx, v) = defaults();
    let (pull, ep) = bound(&v, zmq::PULL, "tcp6://[::1]:0");
    let mut push = ChildGuard::spawn(
        Command::new(VTX)
            .args(["cat", "-t", "push", "-c", &ep])
            .stdin(Stdio::piped()),
    );
    let mut stdin = push.child().stdin.take().unwrap();
    for line in ["first", "second"] {
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
        // Arrives while the input is still open.
        assert_eq!(pull.recv_bytes(0).unwrap(), line.as_bytes());
    }
    drop(stdin);
    assert!(push.wait().success());
}

/// A DEALER prints what comes back; a ROUTER prints the identity (hex when it is not
/// text) and answers behind it with --reply.
#[test]
fn cat_dealer_and_router_talk_back() {
    let (mut router, ep) = spawn_announcing(
        &cat_bind("router", "tcp6://[::1]:0", &["-n", "1", "--reply", "pong"]),
        "bound ",
        Stdio::piped(),
    );
    let (_ctx, v) = defaults();
    let dealer = v.socket(zmq::DEALER).unwrap();
    dealer.set_identity(&[0x00, 0xff]).unwrap();
    dealer.set_rcvtimeo(10_000).unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("ping", 0).unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"pong");
    let printed = router.rest_of_stdout();
    assert!(router.wait().success());
    assert_eq!(printed, "00ff\tping\n");

    // The DEALER side in the command: it sends its line and prints the answer.
    let (_rep, ep) = spawn_bound(&cat_bind("router", "tcp6://[::1]:0", &["--reply", "back"]));
    let out = vtx(&["cat", "-t", "dealer", "-c", &ep, "-m", "hello", "-n", "1"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "back\n");
}

/// Runs the `vtx` command, failing the test if it takes longer than `limit`.
fn vtx_within(args: &[&str], limit: Duration) -> (std::process::ExitStatus, String, String) {
    let mut child = ChildGuard::spawn(
        Command::new(VTX)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let read = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.take_stdout().unwrap()));
    let stderr = read(Box::new(child.child().stderr.take().unwrap()));
    let mut status = None;
    wait_until(&format!("vtx {args:?} to exit"), limit, || {
        status = child.child().try_wait().unwrap();
        status.is_some()
    });
    let status = status.unwrap();
    (status, stdout.join().unwrap(), stderr.join().unwrap())
}

/// `vtx bench --repeat 2` keeps both samples of every cell (and the CPU time of each
/// throughput sample) in its JSON, measures the relay anchor, draws its chart and fills
/// a README's generated section: the structure of the output, not its speed.
#[test]
fn bench_repeats_plots_and_writes_the_readme() {
    let dir = std::env::temp_dir().join(format!("vtx-cli-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (svg, readme) = (dir.join("chart.svg"), dir.join("README.md"));
    std::fs::write(
        &readme,
        "# kept\n<!-- vtx bench --readme: begin -->\nold\n<!-- vtx bench --readme: end -->\nkept too\n",
    )
    .unwrap();
    let (status, json, err) = vtx_within(
        &[
            "bench",
            "--scale",
            "0.01",
            "--repeat",
            "2",
            "--sizes",
            "64,1024",
            "--transports",
            "relay,tcp6",
            "--json",
            "--plot",
            svg.to_str().unwrap(),
            "--readme",
            readme.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    assert!(status.success(), "{err}");
    // A real JSON parser reads it and lists each cell's shape.
    let mut py = Command::new(python_with_zmq())
        .args([
            "-c",
            "import json, sys\n\
             d = json.load(sys.stdin)\n\
             print(d['repeat'], d['baseline'], d['machine']['libzmq'])\n\
             for c in d['cells']:\n\
             \x20   ok = c['min'] <= c['median'] <= c['max'] and all(x > 0 for x in c['samples'])\n\
             \x20   cpu = c['cpu_us_per_msg']\n\
             \x20   ok = ok and (len(cpu) == 2 and all(x > 0 for x in cpu) if c['measure'] == 'throughput' else cpu == [])\n\
             \x20   print(c['measure'], c['pairing'], c['size'], len(c['samples']), len(c['ratios']), ok)\n",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    py.stdin.take().unwrap().write_all(json.as_bytes()).unwrap();
    let shape = py.wait_with_output().unwrap();
    assert!(shape.status.success(), "not JSON: {json}");
    let shape = text(&shape.stdout);
    let lines: Vec<&str> = shape.lines().collect();
    assert!(lines[0].starts_with("2 native tcp "), "{shape}");
    assert_eq!(
        lines[1..],
        [
            "throughput native tcp 64 2 2 True",
            "throughput native tcp via inproc relays 64 2 2 True",
            "throughput vtx tcp6 64 2 2 True",
            "throughput native tcp 1024 2 2 True",
            "throughput native tcp via inproc relays 1024 2 2 True",
            "throughput vtx tcp6 1024 2 2 True",
            "latency native tcp 64 2 2 True",
            "latency native tcp via inproc relays 64 2 2 True",
            "latency vtx tcp6 64 2 2 True",
        ],
        "{json}"
    );
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert!(
        chart.contains("vtx tcp6") && chart.contains("64 B"),
        "{chart}"
    );
    let readme = std::fs::read_to_string(&readme).unwrap();
    assert!(readme.starts_with("# kept\n") && readme.ends_with("kept too\n"));
    assert!(!readme.contains("\nold\n"), "{readme}");
    for needle in [
        "Placeholder",
        "libzmq",
        "![",
        "chart.svg",
        "| vtx tcp6 | 1 KiB |",
    ] {
        assert!(readme.contains(needle), "no `{needle}` in {readme}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `vtx cat -t req -c <ep> -m <msg> <rest>`, run to its end.
fn req_to(ep: &str, msg: &str, rest: &[&str]) -> Output {
    vtx(&[&["cat", "-t", "req", "-c", ep, "-m", msg][..], rest].concat())
}

/// A directory of this test's own with `name` holding `content`: the directory (to
/// remove) and `@FILE` naming the file.
fn secret_file(test: &str, name: &str, content: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("vtx-cli-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(name);
    std::fs::write(&file, content).unwrap();
    let at = format!("@{}", file.display());
    (dir, at)
}

/// `vtx cat` with PLAIN (libzmq's option names): a server letting one user in, with
/// its password from a file, and clients with the right and a wrong password.
#[test]
fn cat_req_rep_with_plain() {
    let (dir, at_file) = secret_file("plain", "password", "s3cret\nnot this line\n");
    let server = ["-n", "1", "--reply", "welcome", "--plain-server"];
    let user = ["--plain-username", "ops", "--plain-password"];
    let (_rep, ep) = spawn_bound(&cat_bind(
        "rep",
        "tcp6://[::1]:0",
        &[&server[..], &user, &[&at_file]].concat(),
    ));
    let wrong = req_to(
        &ep,
        "hi",
        &[&["--timeout", "500"][..], &user, &["guess"]].concat(),
    );
    assert!(!wrong.status.success(), "a wrong password gets no peer");
    let out = req_to(&ep, "hi", &[&user[..], &["s3cret"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "welcome\n");
    let half = req_to(&ep, "x", &user[..2]);
    assert_eq!(half.status.code(), Some(1));
    assert!(
        text(&half.stderr).contains("--plain-password"),
        "{}",
        text(&half.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `vtx keygen` prints a key pair as libzmq's tools do (public, then secret, Z85), and
/// `vtx cat` runs CURVE with them: a server letting one client key in, the secret key
/// from a file; a client with another key pair gets no peer.
#[test]
fn keygen_and_cat_with_curve() {
    let keys = || {
        let out = vtx(&["keygen"]);
        assert!(out.status.success());
        let text = text(&out.stdout);
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines.iter().all(|l| l.len() == 40), "{text}");
        (lines[0].clone(), lines[1].clone())
    };
    let (server_pub, server_sec) = keys();
    let (client_pub, client_sec) = keys();
    let (_, stranger_sec) = keys();
    assert_ne!(server_pub, client_pub);
    let (dir, at_file) = secret_file("curve", "server.key", &format!("{server_sec}\n"));
    let (_rep, ep) = spawn_bound(&cat_bind(
        "rep",
        "tcp6://[::1]:0",
        &[
            "-n",
            "1",
            "--reply",
            "sealed",
            "--curve-server",
            "--curve-secretkey",
            &at_file,
            "--allow-key",
            &client_pub,
        ],
    ));
    let client = |secret: &str| {
        [
            "--curve-serverkey",
            &server_pub,
            "--curve-secretkey",
            secret,
        ]
        .map(str::to_owned)
    };
    let stranger = client(&stranger_sec);
    let stranger: Vec<&str> = ["--timeout", "500"]
        .into_iter()
        .chain(stranger.iter().map(String::as_str))
        .collect();
    assert!(
        !req_to(&ep, "hi", &stranger).status.success(),
        "a key not on the list gets no peer"
    );
    let good = client(&client_sec);
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let out = req_to(&ep, "hi", &good);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "sealed\n");
    let both = req_to(&ep, "x", &[&good[..], &["--plain-username", "u"]].concat());
    assert_eq!(both.status.code(), Some(1));
    assert!(
        text(&both.stderr).contains("one mechanism"),
        "{}",
        text(&both.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `vtx mkpasswd` writes a SASL credential line (the password from stdin), and `vtx
/// cat` runs ZMTP-SASL SCRAM-SHA-256 with it: the right password gets the reply, a
/// wrong one no peer; a mechanism that needs TLS is refused on tcp6 with the reason.
#[test]
fn mkpasswd_and_cat_with_sasl_scram() {
    use std::io::Write;
    let mut p = Command::new(VTX)
        .args(["mkpasswd", "alice", "--iterations", "4096"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(b"wonderland\n").unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(out.status.success());
    let line = text(&out.stdout);
    assert!(line.starts_with("alice:{SCRAM-SHA-256}4096,"), "{line}");
    let (dir, at_file) = secret_file("sasl", "users", &line);
    let users = at_file.trim_start_matches('@').to_owned();
    let (_rep, ep) = spawn_bound(&cat_bind(
        "rep",
        "tcp6://[::1]:0",
        &[
            "-n",
            "1",
            "--reply",
            "welcome",
            "--sasl-credentials",
            &users,
        ],
    ));
    let client = |password: &str| {
        ["--sasl-username", "alice", "--sasl-password", password].map(str::to_owned)
    };
    let wrong = client("wonderlan");
    let wrong: Vec<&str> = ["--timeout", "500"]
        .into_iter()
        .chain(wrong.iter().map(String::as_str))
        .collect();
    assert!(
        !req_to(&ep, "hi", &wrong).status.success(),
        "a wrong password gets no peer"
    );
    let good = client("wonderland");
    let good: Vec<&str> = good.iter().map(String::as_str).collect();
    let out = req_to(&ep, "hi", &good);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "welcome\n");
    let plain = req_to(
        &ep,
        "x",
        &[&good[..], &["--sasl-mechanism", "PLAIN"]].concat(),
    );
    assert_eq!(plain.status.code(), Some(1));
    assert!(
        text(&plain.stderr).contains("only inside TLS"),
        "{}",
        text(&plain.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--zap-domain` with `--zap-endpoint`: a `vtx cat` PLAIN server asks a ZAP handler
/// in another process (here: a REP of this test on tcp://) through the command's
/// relay; the handler's 200 lets `admin` in, its 400 keeps a wrong password out, and
/// it sees the domain and the credentials.
#[test]
fn cat_asks_a_zap_handler_elsewhere() {
    let ctx = zmq::Context::new();
    let handler = ctx.socket(zmq::REP).unwrap();
    handler.bind("tcp://127.0.0.1:*").unwrap();
    handler.set_rcvtimeo(10_000).unwrap();
    let zap_ep = handler.get_last_endpoint().unwrap().unwrap();
    let answering = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while let Ok(req) = handler.recv_multipart(0) {
            let ok = req[5] == b"PLAIN" && req[6] == b"admin" && req[7] == b"secret";
            let status: &[u8] = if ok { b"200" } else { b"400" };
            handler
                .send_multipart([&b"1.0"[..], &req[1], status, b"", b"admin-user", b""], 0)
                .unwrap();
            seen.push(req);
            if ok {
                return seen;
            }
        }
        seen
    });
    let (_rep, ep) = spawn_bound(&cat_bind(
        "rep",
        "tcp6://[::1]:0",
        &[
            "-n",
            "1",
            "--reply",
            "checked",
            "--plain-server",
            "--zap-domain",
            "lab",
            "--zap-endpoint",
            &zap_ep,
        ],
    ));
    let wrong = req_to(
        &ep,
        "hi",
        &[
            "--timeout",
            "500",
            "--plain-username",
            "admin",
            "--plain-password",
            "guess",
        ],
    );
    assert!(!wrong.status.success(), "the handler's 400 keeps it out");
    let good = req_to(
        &ep,
        "hi",
        &["--plain-username", "admin", "--plain-password", "secret"],
    );
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert_eq!(text(&good.stdout), "checked\n");
    let seen = answering.join().unwrap();
    assert!(seen.len() >= 2, "{seen:?}");
    assert!(seen.iter().all(|r| r[0] == b"1.0" && r[2] == b"lab"));
    let half = vtx(&[
        "cat",
        "-t",
        "rep",
        "-b",
        "tcp6://[::1]:0",
        "--plain-server",
        "--zap-domain",
        "lab",
    ]);
    assert_eq!(half.status.code(), Some(1));
    assert!(
        text(&half.stderr).contains("go together"),
        "{}",
        text(&half.stderr)
    );
}

/// `vtx proxy` with a bound back: the proxy and the (front, back) it bound.
fn proxy_both(args: &[&str]) -> (ChildGuard, (String, String)) {
    let mut child = ChildGuard::spawn(
        Command::new(VTX)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut front = None;
    let bound = child.announced("vtx proxy", Duration::from_secs(30), move |line| {
        if let Some(f) = line.strip_prefix("front bound ") {
            front = Some(f.to_owned());
        }
        let back = line.strip_prefix("back bound ")?;
        Some((front.clone()?, back.to_owned()))
    });
    (child, bound)
}

/// `vtx proxy` lets a native libzmq application serve browsers: pyzmq's REP and PUB
/// behind two proxies (`--back ws://... --back-bind`), headless Chromium in front,
/// speaking ZWS 2.0 (`ZWS2.0`) to the proxies' ws:// sides.
#[test]
fn proxy_serves_a_browser_from_pyzmq() {
    let (_reqrep, (rep_front, rep_back)) = proxy_both(&[
        "proxy",
        "--front",
        "tcp://127.0.0.1:*",
        "--back",
        "ws://127.0.0.1:0/rep",
        "--back-bind",
        "--from",
        "back",
        "--pattern",
        "reqrep",
    ]);
    let (_pubsub, (pub_front, pub_back)) = proxy_both(&[
        "proxy",
        "--front",
        "tcp://127.0.0.1:*",
        "--back",
        "ws://127.0.0.1:0/pub",
        "--back-bind",
        "--from",
        "front",
        "--pattern",
        "pubsub",
    ]);
    let python = vtx_emul::testing::process::python_with_zmq();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proxy_browser.py");
    let _py = ChildGuard::spawn(Command::new(python).args([script, &rep_front, &pub_front]));
    let page = vtx_ws::testing::Page::serve();
    let _browser = page.open(&format!("router={rep_back}&pub={pub_back}&envelope=1"), &[]);
    let fields = page.report(Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(20))
    });
    assert_eq!(
        fields.get("router").map(String::as_str),
        Some("python got: hello from the browser"),
        "{fields:?}"
    );
    assert_eq!(
        fields.get("sub").map(String::as_str),
        Some("t-from-python"),
        "{fields:?}"
    );
}
