//! ZMTP-SASL handshakes between two sessions, sans-IO (docs/zmtp-sasl.md): SCRAM,
//! SCRAM-PLUS, EXTERNAL and PLAIN accepted and refused, what the server learns, the
//! authoriser's word, and hostile commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;
use vtx_emul::SocketType;
use vtx_emul::sasl::{SaslClient, SaslMechanism, SaslServer, ScramUsers};
use vtx_emul::security::{AllowAny, AuthOutcome, AuthRequest, Credentials, Security};
use vtx_emul::stream::{ChannelFacts, OutBuf, Role, SessionEvent};
use vtx_emul::testing::handshake::{Side, drain, handshake_over, local, prop, ready_props};
use vtx_emul::zmtp::frame;
use vtx_emul::zmtp::sasl::{self, BINDING_MISMATCH, MALFORMED, MISMATCH};
use zeroize::Zeroizing;

fn users() -> Arc<ScramUsers> {
    Arc::new(ScramUsers::new().with_password("alice", "wonderland", b"0123456789abcdef", 4096))
}

fn server(m: SaslMechanism) -> Security {
    Security::SaslServer(Arc::new(SaslServer::new(
        m,
        users(),
        Arc::new(AllowAny),
        [9; 32],
    )))
}

fn client(m: SaslMechanism, user: &str, password: &str) -> Security {
    Security::SaslClient(Arc::new(SaslClient::new(m, user, password).unwrap()))
}

fn tls(exporter: u8, cert: Option<&str>) -> ChannelFacts {
    ChannelFacts {
        tls_exporter: Some(Zeroizing::new([exporter; 32])),
        certificate_name: cert.map(str::to_owned),
    }
}

/// A handshake between a client and a server security on links that know these
/// channel facts.
fn run(c: Security, s: Security, cc: ChannelFacts, sc: ChannelFacts, chunk: usize) -> (Side, Side) {
    let client = local(SocketType::Dealer, b"d1", c);
    let server = local(SocketType::Router, b"", s);
    handshake_over(
        Side::with_channel(&client, Role::Client, cc),
        Side::with_channel(&server, Role::Server, sc),
        chunk,
        |b| b,
    )
}

/// The server refused with a log line containing `why`, and the client heard `reply`
/// (a ZAP status makes the refusal a denial).
fn refused(c: &Side, s: &Side, reply: &str, why: &str) {
    let status = reply.parse::<u16>().ok();
    assert!(
        match s.events.as_slice() {
            [SessionEvent::Denied { status: st, reason }] =>
                Some(*st) == status && reason.contains(why),
            [SessionEvent::Refused(r)] => status.is_none() && r.contains(why),
            _ => false,
        },
        "server: {:?} {:?}",
        s.events,
        s.error
    );
    assert_eq!(
        c.events,
        [SessionEvent::PeerError(reply.into())],
        "{:?}",
        c.error
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Whatever the chunking, SCRAM with the right password completes on both sides
    /// and the server's peering has the user as its `User-Id`.
    #[test]
    fn scram_completes_over_any_chunking(chunk in 1usize..200) {
        let (c, s) = run(
            client(SaslMechanism::ScramSha256, "alice", "wonderland"),
            server(SaslMechanism::ScramSha256),
            ChannelFacts::default(),
            ChannelFacts::default(),
            chunk,
        );
        let at_server = ready_props(&s);
        prop_assert_eq!(prop(at_server, "User-Id"), Some(&b"alice"[..]));
        prop_assert_eq!(prop(at_server, "Identity"), Some(&b"d1"[..]));
        prop_assert_eq!(prop(ready_props(&c), "Socket-Type"), Some(&b"ROUTER"[..]));
        prop_assert!(c.error.is_none() && s.error.is_none());
    }
}

/// A wrong password and a user who does not exist get the same answer, 400.
#[test]
fn a_wrong_password_and_an_unknown_user_are_both_refused_with_400() {
    for (user, password) in [("alice", "wonderlan"), ("mallory", "wonderland")] {
        let (c, s) = run(
            client(SaslMechanism::ScramSha256, user, password),
            server(SaslMechanism::ScramSha256),
            ChannelFacts::default(),
            ChannelFacts::default(),
            64,
        );
        refused(&c, &s, "400", "did not verify");
    }
}

/// The salt a server gives for an unknown user is the same on every attempt, so it
/// does not tell the user does not exist.
#[test]
fn an_unknown_user_gets_the_same_salt_twice() {
    let salt_of = |user: &str| {
        let client_local = local(
            SocketType::Req,
            b"",
            client(SaslMechanism::ScramSha256, user, "x"),
        );
        let server_local = local(SocketType::Rep, b"", server(SaslMechanism::ScramSha256));
        let (mut c, to_s) = Side::new(&client_local, Role::Client);
        let (mut s, to_c) = Side::new(&server_local, Role::Server);
        let hello = c.take(&to_c, 1000);
        let challenge = s.take(&[to_s, hello].concat(), 1000);
        let text = String::from_utf8_lossy(&challenge).into_owned();
        text.split(',')
            .find(|a| a.starts_with("s="))
            .unwrap()
            .to_owned()
    };
    assert_eq!(salt_of("mallory"), salt_of("mallory"));
    assert_ne!(salt_of("mallory"), salt_of("trudy"));
}

/// HELLO names the client's one mechanism; a server of another refuses it.
#[test]
fn a_client_of_another_mechanism_is_refused_as_a_mismatch() {
    let facts = tls(1, Some("client.example"));
    let (c, s) = run(
        client(SaslMechanism::Plain, "alice", "wonderland"),
        server(SaslMechanism::ScramSha256Plus),
        facts.clone(),
        facts,
        64,
    );
    refused(&c, &s, MISMATCH, "PLAIN");
}

/// SCRAM-SHA-256-PLUS completes when both ends see the same TLS exporter, and fails
/// when a man in the middle terminates TLS (each end sees another one).
#[test]
fn scram_plus_binds_to_the_tls_session() {
    let plus = SaslMechanism::ScramSha256Plus;
    let (c, s) = run(
        client(plus, "alice", "wonderland"),
        server(plus),
        tls(1, None),
        tls(1, None),
        64,
    );
    assert_eq!(prop(ready_props(&s), "User-Id"), Some(&b"alice"[..]));
    ready_props(&c);

    let (c, s) = run(
        client(plus, "alice", "wonderland"),
        server(plus),
        tls(1, None),
        tls(2, None),
        64,
    );
    refused(&c, &s, BINDING_MISMATCH, "another TLS session");
}

/// A -PLUS client with nothing to bind to refuses to start (and says why); a -PLUS
/// server refuses a client that does not bind.
#[test]
fn scram_plus_without_a_tls_exporter_is_refused() {
    let plus = SaslMechanism::ScramSha256Plus;
    let (c, _) = run(
        client(plus, "alice", "wonderland"),
        server(plus),
        ChannelFacts::default(),
        tls(1, None),
        64,
    );
    assert!(
        matches!(c.events.as_slice(), [SessionEvent::Denied { reason, .. }] if reason.contains("tls-exporter")),
        "{:?}",
        c.events
    );

    // A hand-made HELLO: SCRAM-SHA-256-PLUS with the "n" (no binding) flag.
    let server_local = local(SocketType::Rep, b"", server(plus));
    let (mut s, _) = Side::with_channel(&server_local, Role::Server, tls(1, None));
    let mut out = OutBuf::new();
    out.put_slice(&vtx_emul::zmtp::greeting::Greeting::new(b"SASL", false).encode());
    let hello = sasl::hello(plus, Some(b"n,,n=alice,r=abcdefghijklmnop"));
    frame::encode(&mut out, &hello, false, true);
    s.take(&drain(&mut out), 1000);
    assert!(
        matches!(s.events.as_slice(), [SessionEvent::Refused(r)] if r.contains("does not bind")),
        "{:?}",
        s.events
    );
}

/// EXTERNAL: the verified client certificate is who the client is; without one the
/// client is refused. An authzid the client asks for becomes its `User-Id`.
#[test]
fn external_takes_the_client_certificate() {
    let ext = || Security::SaslClient(Arc::new(SaslClient::external()));
    let (_, s) = run(
        ext(),
        server(SaslMechanism::External),
        tls(1, None),
        tls(1, Some("client.example")),
        64,
    );
    assert_eq!(
        prop(ready_props(&s), "User-Id"),
        Some(&b"client.example"[..])
    );

    let (c, s) = run(
        ext(),
        server(SaslMechanism::External),
        tls(1, None),
        tls(1, None),
        64,
    );
    refused(&c, &s, "400", "without a verified client certificate");

    let as_ops = Security::SaslClient(Arc::new(
        SaslClient::external().with_authzid("ops").unwrap(),
    ));
    let (_, s) = run(
        as_ops,
        server(SaslMechanism::External),
        tls(1, None),
        tls(1, Some("client.example")),
        64,
    );
    assert_eq!(prop(ready_props(&s), "User-Id"), Some(&b"ops"[..]));
}

/// SASL PLAIN checks the password against the same SCRAM keys.
#[test]
fn sasl_plain_checks_the_password_against_the_scram_keys() {
    let facts = tls(1, None);
    let (_, s) = run(
        client(SaslMechanism::Plain, "alice", "wonderland"),
        server(SaslMechanism::Plain),
        facts.clone(),
        facts.clone(),
        64,
    );
    assert_eq!(prop(ready_props(&s), "User-Id"), Some(&b"alice"[..]));
    for (user, password) in [("alice", "wonderlan"), ("bob", "wonderland")] {
        let (c, s) = run(
            client(SaslMechanism::Plain, user, password),
            server(SaslMechanism::Plain),
            facts.clone(),
            facts.clone(),
            64,
        );
        refused(&c, &s, "400", "bad user name or password");
    }
}

/// The authoriser sees the SASL mechanism, the authcid and authzid, and the client's
/// socket type; its status reaches the client.
#[test]
fn the_authoriser_sees_who_sasl_authenticated_and_its_status_reaches_the_client() {
    let auth = |r: &AuthRequest<'_>| {
        let Credentials::Sasl {
            mechanism,
            authcid,
            authzid,
        } = r.credentials
        else {
            panic!("SASL credentials expected")
        };
        assert_eq!(
            (r.mechanism, mechanism, authcid, authzid, r.socket_type),
            (
                "SASL",
                SaslMechanism::ScramSha256,
                "alice",
                Some("admins"),
                "DEALER"
            )
        );
        AuthOutcome::Deny {
            status: 300,
            text: "later".into(),
        }
    };
    let s = Security::SaslServer(Arc::new(SaslServer::new(
        SaslMechanism::ScramSha256,
        users(),
        Arc::new(auth),
        [1; 32],
    )));
    let c = Security::SaslClient(Arc::new(
        SaslClient::new(SaslMechanism::ScramSha256, "alice", "wonderland")
            .unwrap()
            .with_authzid("admins")
            .unwrap(),
    ));
    let (c, s) = run(c, s, ChannelFacts::default(), ChannelFacts::default(), 64);
    refused(&c, &s, "300", "later");
}

/// A server that cannot prove it knows the user's keys (its signature altered on the
/// way) is refused by the client before it sends INITIATE.
#[test]
fn a_server_signature_that_does_not_verify_is_refused_by_the_client() {
    let client_local = local(
        SocketType::Dealer,
        b"",
        client(SaslMechanism::ScramSha256, "alice", "wonderland"),
    );
    let server_local = local(SocketType::Router, b"", server(SaslMechanism::ScramSha256));
    let (c, s) = handshake_over(
        Side::new(&client_local, Role::Client),
        Side::new(&server_local, Role::Server),
        1000,
        |mut bytes| {
            if let Some(at) = bytes.windows(2).position(|w| w == b"v=") {
                bytes[at + 2] = if bytes[at + 2] == b'A' { b'B' } else { b'A' };
            }
            bytes
        },
    );
    assert!(
        matches!(
            c.events.as_slice(),
            [SessionEvent::Denied { status: 400, .. }]
        ),
        "{:?} {:?}",
        c.events,
        c.error
    );
    assert_eq!(s.events, [SessionEvent::PeerError("400".into())]);
}

/// A hostile server may not make the client run more than SCRAM_ITERATIONS_MAX.
#[test]
fn a_server_asking_for_millions_of_iterations_is_refused() {
    let cfg = Arc::new(SaslClient::new(SaslMechanism::ScramSha256, "alice", "x").unwrap());
    let (mut c, first) = sasl::ClientExchange::start(&cfg, &ChannelFacts::default()).unwrap();
    let first = String::from_utf8(first.unwrap()).unwrap();
    let nonce = first.split("r=").nth(1).unwrap();
    let server_first = format!("r={nonce}xyz,s=c2FsdA==,i=100000000");
    let e = c.on_challenge(server_first.as_bytes()).unwrap_err();
    assert!(e.reason.contains("100000000 iterations"), "{e:?}");
}

/// One server session fed the client's greeting and then `commands`; what it did and
/// what it answered.
fn server_fed(commands: &[Bytes]) -> (Side, Vec<u8>) {
    let server_local = local(SocketType::Rep, b"", server(SaslMechanism::ScramSha256));
    let (mut s, _) = Side::new(&server_local, Role::Server);
    let mut out = OutBuf::new();
    out.put_slice(&vtx_emul::zmtp::greeting::Greeting::new(b"SASL", false).encode());
    for c in commands {
        frame::encode(&mut out, c, false, true);
    }
    let answer = s.take(&drain(&mut out), 7);
    (s, answer)
}

fn refusal(s: &Side) -> &str {
    match s.events.as_slice() {
        [SessionEvent::Refused(r) | SessionEvent::Denied { reason: r, .. }] => r,
        other => panic!("expected a refusal, got {other:?} {:?}", s.error),
    }
}

/// Commands that do not parse, come out of turn or exceed a limit are refused with a
/// reason, never a panic, and nothing after them is decoded.
#[test]
fn hostile_commands_are_refused() {
    let big = Bytes::from(vec![b'x'; sasl::SASL_MESSAGE_MAX + 1]);
    let mut oversized = sasl::hello(SaslMechanism::ScramSha256, Some(&big)).to_vec();
    oversized.truncate(oversized.len() - 1); // the length says more than comes
    for (commands, why) in [
        (
            vec![sasl::data_command(b"RESPONSE", b"n,,n=a,r=b")],
            "out of turn",
        ),
        (
            vec![Bytes::from_static(b"\x05HELLO\x02\x05PLAIN\x00")],
            "version 2",
        ),
        (
            vec![Bytes::from_static(b"\x05HELLO\x01\x05pl\x00in\x00")],
            "mechanism name",
        ),
        (
            vec![Bytes::from_static(b"\x05HELLO\x01\x0dSCRAM-SHA-256\x07")],
            "optional",
        ),
        (
            vec![sasl::hello(SaslMechanism::ScramSha256, Some(&big))],
            "at most 16384",
        ),
        (vec![Bytes::from(oversized)], "at most 16384"),
        (
            vec![sasl::hello(SaslMechanism::ScramSha256, Some(b"garbage"))],
            "SCRAM-SHA-256",
        ),
        (
            vec![
                sasl::hello(SaslMechanism::ScramSha256, None),
                sasl::data_command(b"RESPONSE", b""),
            ],
            "SCRAM-SHA-256",
        ),
        (
            vec![
                sasl::hello(SaslMechanism::ScramSha256, Some(b"n,,n=alice,r=abc")),
                sasl::data_command(b"CHALLENGE", b"r=abc"),
            ],
            "CHALLENGE out of turn",
        ),
    ] {
        let (s, _) = server_fed(&commands);
        assert!(refusal(&s).contains(why), "{why}: {}", refusal(&s));
    }
    // The ERROR for a command out of turn says it is malformed.
    let (_, answer) = server_fed(&[sasl::data_command(b"RESPONSE", b"")]);
    let reply = String::from_utf8_lossy(&answer);
    assert!(reply.contains(MALFORMED), "{reply}");
}
