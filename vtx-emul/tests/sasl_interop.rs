//! ZMTP-SASL's SCRAM-SHA-256 (rsasl, as the session drives it) against the two SASL
//! libraries a site already runs: GNU gsasl (the `gsasl` command) and Cyrus SASL
//! (`sasl-sample-server`/`-client` with a sasldb from `saslpasswd2`), in both roles,
//! through a relay of the SASL messages; the right password in, a wrong one out. The
//! server's credentials come from `gsasl --mkpasswd`, the file format VTX reads.
//!
//! `scripts/test` installs the tools (Debian's gsasl, sasl2-bin, libsasl2-modules,
//! libsasl2-modules-db); a missing one fails the test and names it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use vtx_emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramUsers};
use vtx_emul::security::AllowAny;
use vtx_emul::stream::ChannelFacts;
use vtx_emul::zmtp::sasl::{ClientExchange, Hello, ServerExchange, ServerStep};

const USER: &str = "user";
const PASSWORD: &str = "pencil";
const MECH: &str = "SCRAM-SHA-256";
const STEP: Duration = Duration::from_secs(10);
/// Cyrus's sample programs trade one message each after authenticating.
const CYRUS_SERVER_MESSAGE: &str = "c3J2IG1lc3NhZ2UgMQA=";
const CYRUS_CLIENT_MESSAGE: &str = "Y2xpZW50IG1lc3NhZ2UgMQA=";

/// A command-line SASL peer: lines to its stdin, its stdout's lines as they come.
struct Tool {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Tool {
    fn spawn(name: &'static str, cmd: &mut Command) -> Tool {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{name} does not start ({e}): scripts/test installs gsasl, sasl2-bin")
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Tool {
            name,
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// The next line, `None` when the tool ended without one.
    fn line(&self) -> Option<String> {
        match self.lines.recv_timeout(STEP) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("{}: no line in {STEP:?}", self.name),
        }
    }

    /// The next line starting with `prefix` (Cyrus prints chatter between them),
    /// without the prefix.
    fn token_line(&self, prefix: &str) -> Option<String> {
        loop {
            let l = self.line()?;
            if let Some(t) = l.strip_prefix(prefix) {
                return Some(t.to_owned());
            }
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        // A tool that already gave up has closed its end: its exit status tells.
        let _ = writeln!(stdin, "{line}").and_then(|()| stdin.flush());
    }

    /// Its exit status, within STEP.
    fn exit_ok(mut self) -> bool {
        self.stdin = None;
        let deadline = std::time::Instant::now() + STEP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.success();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} did not exit",
                self.name
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text.trim())
        .unwrap_or_else(|e| panic!("not base64 ({e}): {text:?}"))
}

fn vtx_client_first(password: &str) -> (ClientExchange, Vec<u8>) {
    let cfg = Arc::new(SaslClient::new(SaslMechanism::ScramSha256, USER, password).unwrap());
    let (c, first) = ClientExchange::start(&cfg, &ChannelFacts::default()).unwrap();
    (c, first.expect("SCRAM starts with the client"))
}

/// A vtx server whose only user's keys are what `gsasl --mkpasswd` printed for it.
fn vtx_server() -> Arc<SaslServer> {
    let out = Command::new("gsasl")
        .args(["--mkpasswd", "--mechanism", MECH, "--password", PASSWORD])
        .args(["--iteration-count", "4096"])
        .output()
        .unwrap_or_else(|e| panic!("gsasl --mkpasswd ({e}): scripts/test installs gsasl"));
    assert!(out.status.success(), "gsasl --mkpasswd failed");
    let line = String::from_utf8(out.stdout).unwrap();
    let file = format!("# from gsasl --mkpasswd\n{USER}:{}", line.trim());
    let users = ScramUsers::parse(&file).unwrap();
    Arc::new(SaslServer::new(
        SaslMechanism::ScramSha256,
        Arc::new(users),
        Arc::new(AllowAny),
        [3; 32],
    ))
}

/// The vtx server's side of an exchange whose client-first message is `first`:
/// `Ok(server-first, exchange)`.
fn vtx_server_first(server: &Arc<SaslServer>, first: &[u8]) -> (ServerExchange, Vec<u8>) {
    let hello = Hello {
        mechanism: MECH.as_bytes(),
        initial: Some(first),
    };
    let (exchange, step) = ServerExchange::start(server, &ChannelFacts::default(), &hello)
        .unwrap_or_else(|r| panic!("client-first refused: {r:?}"));
    let ServerStep::Challenge(server_first) = step else {
        panic!("SCRAM's server answers the first message with a challenge")
    };
    (exchange, server_first)
}

/// The vtx server's answer to a client-final message: with the right password
/// (`good`) the server signature to send back, the client authenticated as `user`;
/// with a wrong one `None`, refused with 400.
fn vtx_server_final(
    exchange: &mut ServerExchange,
    client_final: &[u8],
    good: bool,
) -> Option<Vec<u8>> {
    match exchange.on_response(client_final) {
        Ok(ServerStep::Success {
            additional: Some(verifier),
            principal,
        }) => {
            assert!(good, "a wrong password got in");
            assert_eq!(principal.authcid, USER);
            Some(verifier)
        }
        Ok(other) => panic!("unexpected {other:?}"),
        Err(refusal) => {
            assert!(!good, "the right password refused: {refusal:?}");
            assert_eq!(refusal.reply, "400");
            None
        }
    }
}

/// vtx (client) against gsasl's server: authenticated with the right password, and
/// gsasl refuses a wrong one.
#[test]
fn vtx_client_against_gsasl_server() {
    for (password, good) in [(PASSWORD, true), ("pencil2", false)] {
        let mut g = Tool::spawn(
            "gsasl --server",
            Command::new("gsasl")
                .args(["--server", "--quiet", "--no-cb", "-d", "-m", MECH])
                .args(["-p", PASSWORD]),
        );
        assert_eq!(g.line().as_deref(), Some(MECH));
        assert_eq!(g.line().as_deref(), Some(""), "an empty first challenge");
        let (mut c, first) = vtx_client_first(password);
        g.send(&b64(&first));
        let server_first = unb64(&g.line().unwrap());
        let client_final = c.on_challenge(&server_first).unwrap();
        g.send(&b64(&client_final));
        match g.line() {
            Some(verifier) if good => {
                c.on_welcome(Some(&unb64(&verifier))).unwrap();
                g.send("");
                assert!(g.exit_ok(), "gsasl authenticated us");
            }
            Some(l) => panic!("gsasl let a wrong password in: {l}"),
            None => {
                assert!(!good, "gsasl refused the right password");
                assert!(!g.exit_ok());
            }
        }
    }
}

/// gsasl's client against the vtx server (keys from `gsasl --mkpasswd`): in as
/// `user`, and a wrong password refused.
#[test]
fn gsasl_client_against_vtx_server() {
    let server = vtx_server();
    for (password, good) in [(PASSWORD, true), ("pencil2", false)] {
        let mut g = Tool::spawn(
            "gsasl --client",
            Command::new("gsasl")
                .args(["--client", "--quiet", "--no-cb", "-d", "-m", MECH])
                .args(["-a", USER, "-p", password]),
        );
        assert_eq!(g.line().as_deref(), Some(MECH));
        let first = unb64(&g.line().unwrap());
        let (mut exchange, server_first) = vtx_server_first(&server, &first);
        g.send(&b64(&server_first));
        let client_final = unb64(&g.line().unwrap());
        if let Some(verifier) = vtx_server_final(&mut exchange, &client_final, good) {
            g.send(&b64(&verifier));
            assert_eq!(g.line().as_deref(), Some(""), "gsasl verified the server");
            g.send("");
            assert!(g.exit_ok());
        }
    }
}

/// A Cyrus SASL configuration and sasldb with `user`/`pencil`, in a directory of its
/// own (removed when dropped).
struct Cyrus {
    dir: std::path::PathBuf,
}

impl Cyrus {
    fn new() -> Cyrus {
        let dir = std::env::temp_dir().join(format!("vtx-cyrus-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("sasldb2");
        let mut p = Command::new("saslpasswd2")
            .arg("-f")
            .arg(&db)
            .args(["-u", "example.org", "-c", "-p", USER])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("saslpasswd2 ({e}): scripts/test installs sasl2-bin"));
        p.stdin
            .take()
            .unwrap()
            .write_all(PASSWORD.as_bytes())
            .unwrap();
        assert!(p.wait().unwrap().success(), "saslpasswd2 failed");
        // The sample programs read <app>.conf, the app being "sample".
        std::fs::write(
            dir.join("sample.conf"),
            format!(
                "pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {}\nmech_list: {MECH}\n",
                db.display()
            ),
        )
        .unwrap();
        Cyrus { dir }
    }
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// vtx (client) against Cyrus's sample server: authenticated with the right password,
/// refused with a wrong one.
#[test]
fn vtx_client_against_cyrus_server() {
    let cyrus = Cyrus::new();
    for (password, good) in [(PASSWORD, true), ("pencil2", false)] {
        let mut s = Tool::spawn(
            "sasl-sample-server",
            Command::new("stdbuf")
                .args([
                    "-oL",
                    "sasl-sample-server",
                    "-s",
                    "rcmd",
                    "-u",
                    "example.org",
                ])
                .args(["-m", MECH])
                .env("SASL_CONF_PATH", &cyrus.dir),
        );
        assert_eq!(unb64(&s.token_line("S: ").unwrap()), MECH.as_bytes());
        let (mut c, first) = vtx_client_first(password);
        let mut initial = format!("{MECH}\0").into_bytes();
        initial.extend_from_slice(&first);
        s.send(&format!("C: {}", b64(&initial)));
        let server_first = unb64(&s.token_line("S: ").unwrap());
        let client_final = c.on_challenge(&server_first).unwrap();
        s.send(&format!("C: {}", b64(&client_final)));
        match s.token_line("S: ") {
            Some(verifier) if good => {
                c.on_welcome(Some(&unb64(&verifier))).unwrap();
                s.send("C: ");
                assert_eq!(s.token_line("S: ").as_deref(), Some(CYRUS_SERVER_MESSAGE));
                s.send(&format!("C: {CYRUS_CLIENT_MESSAGE}"));
                assert!(s.exit_ok(), "Cyrus authenticated us");
            }
            Some(l) => panic!("Cyrus let a wrong password in: {l}"),
            None => {
                assert!(!good, "Cyrus refused the right password");
                assert!(!s.exit_ok());
            }
        }
    }
}

/// Cyrus's sample client against the vtx server: in as `user`, and a wrong password
/// refused.
#[test]
fn cyrus_client_against_vtx_server() {
    let server = vtx_server();
    for (password, good) in [(PASSWORD, true), ("pencil2", false)] {
        // setsid: no controlling terminal, so getpass() reads the password from stdin.
        let mut c = Tool::spawn(
            "sasl-sample-client",
            Command::new("setsid")
                .args(["-w", "stdbuf", "-oL", "sasl-sample-client", "-s", "rcmd"])
                .args(["-n", "localhost", "-a", USER, "-m", MECH]),
        );
        c.send(&format!("S: {}", b64(MECH.as_bytes())));
        c.send(password);
        let initial = unb64(&c.token_line("C: ").unwrap());
        let first = initial
            .strip_prefix(format!("{MECH}\0").as_bytes())
            .expect("Cyrus names its mechanism first");
        let (mut exchange, server_first) = vtx_server_first(&server, first);
        c.send(&format!("S: {}", b64(&server_first)));
        let client_final = unb64(&c.token_line("C: ").unwrap());
        if let Some(verifier) = vtx_server_final(&mut exchange, &client_final, good) {
            c.send(&format!("S: {}", b64(&verifier)));
            assert_eq!(
                c.token_line("C: ").as_deref(),
                Some(""),
                "Cyrus verified us"
            );
            c.send(&format!("S: {CYRUS_SERVER_MESSAGE}"));
            assert_eq!(c.token_line("C: ").as_deref(), Some(CYRUS_CLIENT_MESSAGE));
            assert!(c.exit_ok());
        }
    }
}
