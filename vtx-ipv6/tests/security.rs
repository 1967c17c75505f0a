//! ZMTP PLAIN between vtx `tcp6` and real libzmq (the `zmq` crate's native sockets),
//! both roles: credentials checked by a vtx authenticator and by a ZAP handler (RFC 27)
//! in the native context, `User-Id` on both sides, and refusals both ways.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use common::*;
use std::time::Duration;

use vtx_emul::runtime::zap::ZapAuthenticator;
use vtx_emul::security::PlainPasswords;

/// A ZAP handler on `inproc://zeromq.zap.01` of `ctx`, as a libzmq application runs
/// one: PLAIN `admin`/`secret` is let in as `admin-user` (200), CURVE with the key of
/// the secret key of all 9s as `curve-user`, everything else denied (400). Stops when
/// dropped.
struct Zap {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Vec<Vec<Vec<u8>>>>>,
}

impl Zap {
    fn start(ctx: &zmq::Context) -> Zap {
        let rep = ctx.socket(zmq::REP).unwrap();
        rep.set_linger(0).unwrap();
        rep.bind("inproc://zeromq.zap.01").unwrap();
        rep.set_rcvtimeo(20).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut requests = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                let Ok(req) = rep.recv_multipart(0) else {
                    continue;
                };
                let plain_ok = req.len() == 8
                    && req[0] == b"1.0"
                    && req[5] == b"PLAIN"
                    && req[6] == b"admin"
                    && req[7] == b"secret";
                // CURVE: the public key of the secret key of all 9s.
                let curve_ok = req.len() == 7
                    && req[5] == b"CURVE"
                    && req[6] == vtx_emul::zmtp::curve::public_of(&[9; 32]);
                let (status, user): (&[u8], &[u8]) = if plain_ok {
                    (b"200", b"admin-user")
                } else if curve_ok {
                    (b"200", b"curve-user")
                } else {
                    (b"400", b"")
                };
                let reply: [&[u8]; 6] = [b"1.0", &req[1], status, b"", user, b""];
                rep.send_multipart(reply, 0).unwrap();
                requests.push(req);
            }
            requests
        });
        Zap {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops; the requests it answered.
    fn finish(mut self) -> Vec<Vec<Vec<u8>>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Zap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn setup() -> Setup {
    let _ = env_logger::builder().is_test(true).try_init();
    Setup::new()
}

fn passwords() -> PlainPasswords {
    PlainPasswords::new().with_user(b"admin", b"secret")
}

#[test]
fn plain_between_vtx_sockets() {
    let t = setup();
    let intruder = vtx_emul::plain_handshakes!(|ty| t.vtx_sock(ty), "tcp6://[::1]:0", LIMIT);
    // The refused client heard ERROR "400".
    wait_meta(&intruder, "handshake-failures", 1);
}

#[test]
fn curve_between_vtx_sockets() {
    let t = setup();
    let stranger = vtx_emul::curve_handshakes!(|ty| t.vtx_sock(ty), "tcp6://[::1]:0", LIMIT);
    // The stranger heard ERROR "400".
    wait_meta(&stranger, "handshake-failures", 1);
}

/// ZMTP-SASL SCRAM-SHA-256 on plain TCP: the right password in as `alice`, a wrong
/// one refused with ERROR "400".
#[test]
fn sasl_scram_between_vtx_sockets() {
    let t = setup();
    let intruder = vtx_emul::sasl_handshakes!(
        |ty| t.vtx_sock(ty),
        "tcp6://[::1]:0",
        LIMIT,
        vtx_emul::sasl::SaslMechanism::ScramSha256
    );
    wait_meta(&intruder, "handshake-failures", 1);
}

/// The mechanisms that need TLS are refused on plain TCP at bind and connect, with a
/// reason that says so.
#[test]
fn sasl_mechanisms_that_need_tls_are_refused_on_tcp6() {
    use vtx_emul::sasl::{SaslClient, SaslMechanism, ScramUsers};
    use vtx_emul::security::AllowAny;
    let t = setup();
    for m in [
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256Plus,
        SaslMechanism::External,
    ] {
        let server = t.vtx_sock(zmq::REP);
        server
            .set_sasl_server(m, ScramUsers::new(), AllowAny)
            .unwrap();
        let e = server.bind("tcp6://[::1]:0").unwrap_err();
        assert!(e.to_string().contains("only inside TLS"), "{m}: {e}");
        let client = t.vtx_sock(zmq::REQ);
        client
            .set_sasl_client(SaslClient::new(m, "alice", "pw").unwrap())
            .unwrap();
        let e = client.connect("tcp6://[::1]:1").unwrap_err();
        assert!(e.to_string().contains("only inside TLS"), "{m}: {e}");
    }
}

#[test]
fn vtx_plain_client_to_native_plain_server_checked_by_zap() {
    let t = setup();
    let zap = Zap::start(&t.ctx);
    let (rep, ep) = t.native_bind_with(zmq::REP, |s| s.set_plain_server(true).unwrap());
    let req = t.vtx_sock(zmq::REQ);
    req.set_plain_client(b"admin", b"secret").unwrap();
    req.connect(&ep).unwrap();
    req.send("who am I", 0).unwrap();
    let mut msg = zmq::Message::new();
    rep.recv(&mut msg, 0).unwrap();
    assert_eq!(&msg[..], b"who am I");
    assert_eq!(msg.gets("User-Id"), Some("admin-user"));
    rep.send("admin-user", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"admin-user");
    let asked = zap.finish();
    assert_eq!(asked.len(), 1, "one handshake, one ZAP request");
    assert_eq!(&asked[0][5..], [&b"PLAIN"[..], b"admin", b"secret"]);
}

#[test]
fn native_plain_client_to_vtx_plain_server() {
    let t = setup();
    let (rep, ep) = {
        let s = t.vtx_sock(zmq::REP);
        s.set_plain_server(passwords()).unwrap();
        let bound = s.bind("tcp6://[::1]:0").unwrap();
        (s, vtx_emul::testing::addr::with_scheme(&bound, "tcp"))
    };
    let req = t.native_connect_with(zmq::REQ, &ep, |s| {
        s.set_plain_username(Some("admin")).unwrap();
        s.set_plain_password(Some("secret")).unwrap();
    });
    req.send("hello", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"hello");
    assert_eq!(rep.msg_gets("User-Id").unwrap().as_deref(), Some("admin"));
    assert_eq!(rep.msg_gets("Socket-Type").unwrap().as_deref(), Some("REQ"));
    rep.send("hello admin", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"hello admin");
}

/// A native client with a wrong password hears ERROR "400" (libzmq reports a failed
/// authentication with that status); the vtx server counts a failed handshake and has
/// no peer. The other way, a ZAP handler's 400 keeps the vtx client out likewise.
#[test]
fn wrong_passwords_are_refused_both_ways() {
    let t = setup();
    let server = t.vtx_sock(zmq::REP);
    server.set_plain_server(passwords()).unwrap();
    let bound = server.bind("tcp6://[::1]:0").unwrap();
    let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
    let native = t.native_connect_with(zmq::REQ, &ep, |s| {
        s.set_plain_username(Some("admin")).unwrap();
        s.set_plain_password(Some("guess")).unwrap();
    });
    let mon = t.native_monitor(&native, zmq::SocketEvent::ALL.to_raw() as i32);
    // libzmq 4.3.4 cannot read a correct PLAIN ERROR (see `zmtp::plain::libzmq_error`):
    // it reports a failed handshake, not a failed authentication.
    let failed = wait_native_event(
        &mon,
        &[
            zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL,
            zmq::SocketEvent::HANDSHAKE_FAILED_AUTH,
        ],
    );
    assert!(failed.is_some(), "libzmq saw its handshake fail");
    // An authentication failure: counted as a failed handshake and as such.
    wait_meta(&server, "auth-failures", 1);
    wait_meta(&server, "handshake-failures", 1);
    assert_eq!(meta(&server, "peers"), 0);

    let _zap = Zap::start(&t.ctx);
    let (rep, ep) = t.native_bind_with(zmq::REP, |s| s.set_plain_server(true).unwrap());
    let client = t.vtx_sock(zmq::REQ);
    client.set_plain_client(b"admin", b"guess").unwrap();
    client.connect(&ep).unwrap();
    // libzmq's ERROR "400", in libzmq's own spelling, is read as what it means.
    wait_meta(&client, "auth-failures", 1);
    wait_meta(&client, "handshake-failures", 1);
    assert_eq!(meta(&client, "peers"), 0);
    rep.set_rcvtimeo(100).unwrap();
    assert!(rep.recv_bytes(0).is_err(), "nothing got through");
}

fn zap(t: &Setup, timeout_ms: u64) -> ZapAuthenticator {
    ZapAuthenticator::new(&t.ctx, "vtx-tests", Duration::from_millis(timeout_ms)).unwrap()
}

/// A vtx PLAIN server asks the application's ZAP handler (RFC 27), as libzmq would:
/// the request names the domain, the client's address and the identity it announced,
/// and carries its credentials; the handler's user id is the `User-Id`, its 400 a
/// refusal.
#[test]
fn a_vtx_plain_server_asks_the_applications_zap_handler() {
    let t = setup();
    let handler = Zap::start(&t.ctx);
    let server = t.vtx_sock(zmq::ROUTER);
    server
        .set_plain_server(t.vtx.zap_authenticator("vtx-tests").unwrap())
        .unwrap();
    let bound = server.bind("tcp6://[::1]:0").unwrap();
    let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
    let good = t.native_connect_with(zmq::DEALER, &ep, |s| {
        s.set_identity(b"dealer-7").unwrap();
        s.set_plain_username(Some("admin")).unwrap();
        s.set_plain_password(Some("secret")).unwrap();
    });
    good.send("in", 0).unwrap();
    let msg = server.recv_multipart(0).unwrap();
    assert_eq!(msg, [b"dealer-7".to_vec(), b"in".to_vec()]);
    assert_eq!(
        server.msg_gets("User-Id").unwrap().as_deref(),
        Some("admin-user")
    );
    let bad = t.native_connect_with(zmq::DEALER, &ep, |s| {
        s.set_plain_username(Some("admin")).unwrap();
        s.set_plain_password(Some("guess")).unwrap();
    });
    let _ = bad.send("out", zmq::DONTWAIT);
    wait_meta(&server, "handshake-failures", 1);
    assert_eq!(meta(&server, "peers"), 1);
    let asked = handler.finish();
    let first = &asked[0];
    assert_eq!(&first[..3], [&b"1.0"[..], b"1", b"vtx-tests"]);
    assert!(first[3].starts_with(b"tcp6://[::1]:"), "{:?}", first[3]);
    assert_eq!(
        &first[4..],
        [&b"dealer-7"[..], b"PLAIN", b"admin", b"secret"]
    );
}

/// CURVE asks ZAP with the client's 32-byte key. With no handler bound, a ZAP
/// authenticator refuses (500) when its timeout passes rather than letting anyone in;
/// once a handler binds, the requests that timed out are answered and skipped, and the
/// next handshake gets its own answer.
#[test]
fn zap_for_curve_and_before_a_handler_binds() {
    let t = setup();
    let (server_pub, server_sec) = vtx_emul::security::curve_keypair();
    let client_sec = vtx_emul::security::z85_encode(&[9; 32]);
    let server = t.vtx_sock(zmq::REP);
    server
        .set_curve_server(&[&server_sec], zap(&t, 300))
        .unwrap();
    let bound = server.bind("tcp6://[::1]:0").unwrap();
    let early = t.vtx_sock(zmq::REQ);
    early.set_curve_client(&server_pub, &client_sec).unwrap();
    early.connect(&bound).unwrap();
    wait_meta(&server, "handshake-failures", 1);
    assert_eq!(meta(&server, "peers"), 0);
    drop(early);

    let handler = Zap::start(&t.ctx);
    let client = t.vtx_sock(zmq::REQ);
    client.set_curve_client(&server_pub, &client_sec).unwrap();
    client.connect(&bound).unwrap();
    client.send("sealed", 0).unwrap();
    assert_eq!(server.recv_bytes(0).unwrap(), b"sealed");
    assert_eq!(
        server.msg_gets("User-Id").unwrap().as_deref(),
        Some("curve-user")
    );
    server.send("ok", 0).unwrap();
    assert_eq!(client.recv_bytes(0).unwrap(), b"ok");
    let asked = handler.finish();
    assert!(asked.iter().all(|r| r[5] == b"CURVE" && r[6].len() == 32));
}

/// A NULL libzmq peer and a PLAIN vtx socket do not meet halfway, either way round:
/// libzmq reports a failed handshake, and no peering comes up on the vtx side.
#[test]
fn null_native_peers_and_plain_vtx_sockets_do_not_peer() {
    let t = setup();
    let server = t.vtx_sock(zmq::PULL);
    server.set_plain_server(passwords()).unwrap();
    let bound = server.bind("tcp6://[::1]:0").unwrap();
    let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
    let native = t.native_connect(zmq::PUSH, &ep);
    let mon = t.native_monitor(&native, zmq::SocketEvent::ALL.to_raw() as i32);
    native.set_sndtimeo(0).unwrap();
    let _ = native.send("unauthenticated", 0);
    let failed = wait_native_event(&mon, &[zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL]);
    assert!(failed.is_some(), "libzmq saw the mechanisms differ");
    server.set_rcvtimeo(100).unwrap();
    assert!(server.recv_bytes(0).is_err());
    assert_eq!(meta(&server, "peers"), 0);

    let (pull, ep) = t.native_bind(zmq::PULL);
    let mon = t.native_monitor(&pull, zmq::SocketEvent::ALL.to_raw() as i32);
    let client = t.vtx_sock(zmq::PUSH);
    client.set_plain_client(b"admin", b"secret").unwrap();
    client.connect(&ep).unwrap();
    let failed = wait_native_event(&mon, &[zmq::SocketEvent::HANDSHAKE_FAILED_PROTOCOL]);
    assert!(failed.is_some(), "libzmq saw the mechanisms differ");
    assert_eq!(meta(&client, "peers"), 0);
}

/// Refusing a client (several attempts, as it reconnects) does not stand in the way
/// of the next one.
#[test]
fn a_refused_client_does_not_hold_up_the_next() {
    let t = setup();
    let rep = t.vtx_sock(zmq::REP);
    rep.set_plain_server(passwords()).unwrap();
    let ep = rep.bind("tcp6://[::1]:0").unwrap();
    let bad = t.vtx_sock(zmq::REQ);
    bad.set_plain_client(b"admin", b"guess").unwrap();
    bad.connect(&ep).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(bad);
    let good = t.vtx_sock(zmq::REQ);
    good.set_plain_client(b"admin", b"secret").unwrap();
    good.connect(&ep).unwrap();
    good.send("hi", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"hi");
}

/// A PLAIN client speaks only after it has read the server's greeting. A server that
/// greets the moment it accepts (as every ZMTP peer does) may have its greeting arrive
/// with the connect's completion, in one edge-triggered event: the client must still
/// read it. Each round, a raw server greets at once and waits for the HELLO.
#[test]
fn a_client_that_must_read_first_reads_what_came_with_the_connect() {
    use std::io::{Read, Write};
    let t = setup();
    for round in 0..20 {
        let listener = std::net::TcpListener::bind("[::1]:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let greeting = vtx_emul::zmtp::greeting::Greeting::new(b"PLAIN", true).encode();
            s.write_all(&greeting).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while !got.windows(6).any(|w| w == b"\x05HELLO") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            true
        });
        let client = t.vtx_sock(zmq::DEALER);
        client.set_plain_client(b"u", b"p").unwrap();
        client.connect(&format!("tcp6://[::1]:{port}")).unwrap();
        assert!(server.join().unwrap(), "round {round}: no HELLO came");
    }
}

/// With `identity_from_user`, a ROUTER names an authenticated client by its `User-Id`,
/// not by the identity it announced, and replies reach it by that name.
#[test]
fn a_router_names_authenticated_clients_by_their_user_id() {
    let t = setup();
    let router = t.vtx_sock(zmq::ROUTER);
    router.set_plain_server(passwords()).unwrap();
    router.set_identity_from_user(true).unwrap();
    let bound = router.bind("tcp6://[::1]:0").unwrap();
    let ep = vtx_emul::testing::addr::with_scheme(&bound, "tcp");
    let dealer = t.native_connect_with(zmq::DEALER, &ep, |s| {
        s.set_identity(b"someone-else").unwrap();
        s.set_plain_username(Some("admin")).unwrap();
        s.set_plain_password(Some("secret")).unwrap();
    });
    dealer.send("who am I?", 0).unwrap();
    assert_eq!(
        router.recv_multipart(0).unwrap(),
        [b"admin".to_vec(), b"who am I?".to_vec()]
    );
    router
        .send_multipart([&b"admin"[..], b"you are admin"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"you are admin");
}

/// A CURVE client session driven over a blocking TCP stream until its handshake
/// completes: every byte it sent, in order.
fn curve_handshake_over_tcp(addr: &str, server_pub: &[u8; 32], client_sec: &[u8; 32]) -> Vec<u8> {
    use std::io::{Read, Write};
    use vtx_emul::security::{Security, z85_encode};
    use vtx_emul::stream::{OutBuf, Role, Session, SessionEvent};
    let security =
        Security::curve_client(&z85_encode(server_pub), &z85_encode(client_sec)).unwrap();
    let local = vtx_emul::testing::handshake::local(vtx_emul::SocketType::Req, b"", security);
    let mut s = vtx_emul::zmtp::ZmtpSession::new(&local, Role::Client);
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(LIMIT)).unwrap();
    let mut out = OutBuf::new();
    s.start(&mut out);
    let mut sent = Vec::new();
    let mut inbox = bytes::BytesMut::new();
    loop {
        let bytes = vtx_emul::testing::handshake::drain(&mut out);
        tcp.write_all(&bytes).unwrap();
        sent.extend_from_slice(&bytes);
        let mut buf = [0u8; 4096];
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "the server closed during a good handshake");
        inbox.extend_from_slice(&buf[..n]);
        while let Some(ev) = s.decode(&mut inbox, &mut out).unwrap() {
            if matches!(ev, SessionEvent::Ready { .. }) {
                return sent;
            }
        }
    }
}

/// Hostile bytes over real TCP to a vtx CURVE server: a whole handshake replayed on a
/// new connection (its INITIATE's cookie is the old WELCOME's), a HELLO cut short, a
/// command over the handshake's 64 KiB limit, and a NULL client are each refused and
/// counted; the server goes on, and a good client still gets in.
#[test]
fn a_curve_server_refuses_replays_and_malformed_hellos_over_tcp() {
    use std::io::{Read, Write};
    use vtx_emul::security::{AllowAny, z85_encode};
    use vtx_emul::zmtp::curve::keypair_from;
    let t = setup();
    let (server_pub, server_sec) = keypair_from([1; 32]);
    let (_, client_sec) = keypair_from([2; 32]);
    let rep = t.vtx_sock(zmq::REP);
    rep.set_curve_server(&[&z85_encode(&server_sec)], AllowAny)
        .unwrap();
    // A HELLO cut short waits for the rest until HANDSHAKE_IVL, then fails.
    rep.set_handshake_ivl(300).unwrap();
    let ep = rep.bind("tcp6://[::1]:0").unwrap();
    let addr = ep.trim_start_matches("tcp6://").to_owned();
    let failures = || rep.stats().map_or(0, |s| s.handshake_failures);

    let recorded = curve_handshake_over_tcp(&addr, &server_pub, &client_sec);
    vtx_emul::testing::wait_until("the recorded client gone", LIMIT, || rep.peer_count() == 0);
    let greeting = vtx_emul::zmtp::greeting::Greeting::new(b"CURVE", false).encode();
    let null_greeting = vtx_emul::zmtp::greeting::Greeting::new(b"NULL", false).encode();
    let mut oversized = greeting.to_vec();
    oversized.extend_from_slice(&[0x06, 0, 0, 0, 0, 0, 2, 0, 0]); // a 128 KiB command
    oversized.extend_from_slice(&[0u8; 1024]);
    let truncated = [&greeting[..], &recorded[64..100]].concat();
    for (what, bytes) in [
        ("a replayed handshake", recorded.clone()),
        ("an oversized HELLO", oversized),
        ("a NULL client", null_greeting.to_vec()),
        ("a truncated HELLO", truncated),
    ] {
        let before = failures();
        let mut tcp = std::net::TcpStream::connect(&addr).unwrap();
        tcp.set_read_timeout(Some(LIMIT)).unwrap();
        tcp.write_all(&bytes).unwrap();
        let mut rest = Vec::new();
        let _ = tcp.read_to_end(&mut rest);
        vtx_emul::testing::wait_until(what, LIMIT, || failures() > before);
        assert_eq!(rep.peer_count(), 0, "{what}: no peer");
    }
    // The server still serves: a good client's handshake completes.
    curve_handshake_over_tcp(&addr, &server_pub, &client_sec);
}
