//! ZMTP security handshakes between two sessions, sans-IO: PLAIN accepted and denied,
//! mechanisms that do not match, a `User-Id` only authentication sets, and hostile
//! handshake commands.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use vtx_emul::SocketType;
use vtx_emul::security::{AuthOutcome, AuthRequest, Credentials, PlainPasswords, Security};
use vtx_emul::stream::{Local, OutBuf, ProtocolError, Role, Session, SessionEvent};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::zmtp::command::{self, Command};
use vtx_emul::zmtp::frame;
use vtx_emul::zmtp::greeting::Greeting;

fn local(ty: SocketType, identity: &'static [u8], security: Security) -> Local {
    Local {
        socket_type: ty,
        identity: (!identity.is_empty()).then(|| Bytes::from_static(identity)),
        metadata: vec![(Bytes::from_static(b"X-Colour"), Bytes::from_static(b"teal"))],
        max_msg_size: None,
        security,
    }
}

fn plain_server() -> Security {
    Security::PlainServer {
        authenticator: Arc::new(PlainPasswords::new().with_user(b"admin", b"secret")),
    }
}

fn drain(out: &mut OutBuf) -> Vec<u8> {
    let mut v = Vec::new();
    while !out.is_empty() {
        out.write_to(&mut v).unwrap();
    }
    v
}

/// One side of a handshake: its session, the bytes it has not decoded yet, and what it
/// decoded.
struct Side {
    s: ZmtpSession,
    inbox: BytesMut,
    events: Vec<SessionEvent>,
    error: Option<ProtocolError>,
}

impl Side {
    fn new(l: &Local, role: Role) -> (Side, Vec<u8>) {
        let mut s = ZmtpSession::new(l, role);
        let mut out = OutBuf::new();
        s.start(&mut out);
        let side = Side {
            s,
            inbox: BytesMut::new(),
            events: Vec::new(),
            error: None,
        };
        (side, drain(&mut out))
    }

    /// Takes `bytes` in pieces of `chunk`; returns what it sends back.
    fn take(&mut self, bytes: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = OutBuf::new();
        for piece in bytes.chunks(chunk.max(1)) {
            self.inbox.extend_from_slice(piece);
            while self.error.is_none() {
                match self.s.decode(&mut self.inbox, &mut out) {
                    Ok(Some(e)) => self.events.push(e),
                    Ok(None) => break,
                    Err(e) => self.error = Some(e),
                }
            }
        }
        drain(&mut out)
    }
}

/// Runs a handshake between a client and a server to its end; bytes cross in pieces
/// of `chunk`.
fn handshake(client: &Local, server: &Local, chunk: usize) -> (Side, Side) {
    let (mut c, mut to_s) = Side::new(client, Role::Client);
    let (mut s, mut to_c) = Side::new(server, Role::Server);
    for _ in 0..10 {
        if to_s.is_empty() && to_c.is_empty() {
            break;
        }
        let back = s.take(&to_s, chunk);
        to_s = c.take(&to_c, chunk);
        to_c = back;
    }
    (c, s)
}

fn ready_props(side: &Side) -> &[(Bytes, Bytes)] {
    match side.events.as_slice() {
        [SessionEvent::Ready { properties, .. }] => properties,
        other => panic!("expected one Ready, got {other:?} ({:?})", side.error),
    }
}

fn prop<'a>(props: &'a [(Bytes, Bytes)], name: &str) -> Option<&'a [u8]> {
    command::property(props, name).map(|v| &v[..])
}

proptest! {
    /// Whatever the chunking, PLAIN with good credentials completes on both sides, and
    /// only the server's side of the peering has a `User-Id`: the one the
    /// authenticator gave.
    #[test]
    fn plain_completes_over_any_chunking(chunk in 1usize..80) {
        let client = local(
            SocketType::Dealer,
            b"d1",
            Security::plain_client(b"admin", b"secret").unwrap(),
        );
        let server = local(SocketType::Router, b"", plain_server());
        let (c, s) = handshake(&client, &server, chunk);
        let at_server = ready_props(&s);
        prop_assert_eq!(prop(at_server, "User-Id"), Some(&b"admin"[..]));
        prop_assert_eq!(prop(at_server, "Identity"), Some(&b"d1"[..]));
        prop_assert_eq!(prop(at_server, "X-Colour"), Some(&b"teal"[..]));
        let at_client = ready_props(&c);
        prop_assert_eq!(prop(at_client, "Socket-Type"), Some(&b"ROUTER"[..]));
        prop_assert_eq!(prop(at_client, "User-Id"), None);
        prop_assert!(c.error.is_none() && s.error.is_none());
    }
}

#[test]
fn a_wrong_password_is_refused_with_error_400() {
    let client = local(
        SocketType::Req,
        b"",
        Security::plain_client(b"admin", b"guess").unwrap(),
    );
    let server = local(SocketType::Rep, b"", plain_server());
    let (c, s) = handshake(&client, &server, 64);
    assert!(
        matches!(s.events.as_slice(), [SessionEvent::Refused(r)] if r.contains("400")),
        "{:?}",
        s.events
    );
    assert_eq!(c.events, [SessionEvent::PeerError("400".into())]);
}

/// The authenticator sees who asks: the mechanism, the client's socket type and
/// identity (from INITIATE), and its credentials; its status code reaches the client.
#[test]
fn the_authenticator_sees_the_client_and_its_status_reaches_it() {
    let asked = Arc::new(AtomicUsize::new(0));
    let seen = asked.clone();
    let auth = move |r: &AuthRequest<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        let Credentials::Plain { username, password } = r.credentials;
        assert_eq!(
            (r.mechanism, r.socket_type, r.identity, username, password),
            ("PLAIN", "DEALER", &b"who"[..], &b"u"[..], &b"p"[..])
        );
        AuthOutcome::Deny {
            status: 300,
            text: "busy".into(),
        }
    };
    let server = local(
        SocketType::Router,
        b"",
        Security::PlainServer {
            authenticator: Arc::new(auth),
        },
    );
    let client = local(
        SocketType::Dealer,
        b"who",
        Security::plain_client(b"u", b"p").unwrap(),
    );
    let (c, _) = handshake(&client, &server, 9);
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    assert_eq!(c.events, [SessionEvent::PeerError("300".into())]);
}

#[test]
fn mechanisms_that_differ_are_refused_not_met_halfway() {
    let null = local(SocketType::Dealer, b"", Security::Null);
    let server = local(SocketType::Router, b"", plain_server());
    let client = local(
        SocketType::Dealer,
        b"",
        Security::plain_client(b"admin", b"secret").unwrap(),
    );
    for (a, b) in [(&null, &server), (&client, &null)] {
        let (c, s) = handshake(a, b, 64);
        for side in [&c, &s] {
            assert!(
                matches!(side.events.as_slice(), [SessionEvent::Refused(r)] if r.contains("mechanism")),
                "{:?}",
                side.events
            );
        }
    }
    // Two clients: each gets a HELLO out of turn (libzmq's as-server bit is always 0,
    // so roles are not checked at the greeting).
    let (c, s) = handshake(&client, &client, 64);
    assert!(c.error.is_some() && s.error.is_some());
    assert!(c.events.is_empty() && s.events.is_empty());
}

/// A peer cannot pass for authenticated by announcing a `User-Id` (any case) in its
/// metadata, under NULL or PLAIN.
#[test]
fn a_user_id_the_peer_announces_is_dropped() {
    let mut liar = local(SocketType::Dealer, b"", Security::Null);
    liar.metadata
        .push((Bytes::from_static(b"user-id"), Bytes::from_static(b"root")));
    let null = local(SocketType::Router, b"", Security::Null);
    let (_, s) = handshake(&liar, &null, 64);
    assert_eq!(prop(ready_props(&s), "User-Id"), None);

    liar.security = Security::plain_client(b"admin", b"secret").unwrap();
    let server = local(SocketType::Router, b"", plain_server());
    let (_, s) = handshake(&liar, &server, 64);
    let props = ready_props(&s);
    let ids: Vec<&[u8]> = props
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(b"User-Id"))
        .map(|(_, v)| &v[..])
        .collect();
    assert_eq!(ids, [&b"admin"[..]]);
}

/// What a hostile client sends a PLAIN server after the greeting: each is a protocol
/// error, not a panic and not a peering.
#[test]
fn hostile_handshake_commands_are_protocol_errors() {
    let server = local(SocketType::Rep, b"", plain_server());
    let greeting = Greeting::new(b"PLAIN", false).encode();
    let command = |body: Bytes| {
        let mut out = OutBuf::new();
        frame::encode(&mut out, &body, false, true);
        drain(&mut out)
    };
    let initiate = Command::Initiate(Bytes::from_static(b"\x0bSocket-Type\x00\x00\x00\x03REQ"));
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        (
            "truncated HELLO",
            vec![command(Bytes::from_static(b"\x05HELLO\x05adm"))],
        ),
        (
            "HELLO with bytes after its fields",
            vec![command(Bytes::from_static(b"\x05HELLO\x00\x00junk"))],
        ),
        ("INITIATE before HELLO", vec![command(initiate.encode())]),
        (
            "READY instead of INITIATE",
            vec![
                command(Command::Hello(Bytes::from_static(b"\x05admin\x06secret")).encode()),
                command(Command::Ready(Vec::new()).encode()),
            ],
        ),
        (
            "a message before the handshake",
            vec![{
                let mut out = OutBuf::new();
                frame::encode(&mut out, &Bytes::from_static(b"data"), false, false);
                drain(&mut out)
            }],
        ),
        (
            "a second HELLO",
            vec![
                command(Command::Hello(Bytes::from_static(b"\x05admin\x06secret")).encode()),
                command(Command::Hello(Bytes::from_static(b"\x05admin\x06secret")).encode()),
            ],
        ),
    ];
    for (what, commands) in cases {
        let (mut s, _) = Side::new(&server, Role::Server);
        let mut bytes = greeting.to_vec();
        bytes.extend(commands.concat());
        s.take(&bytes, 64);
        assert!(s.error.is_some(), "{what}: {:?}", s.events);
        assert!(
            !s.events
                .iter()
                .any(|e| matches!(e, SessionEvent::Ready { .. })),
            "{what}"
        );
    }
}
