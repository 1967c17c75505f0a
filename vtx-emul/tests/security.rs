//! ZMTP security handshakes between two sessions, sans-IO: PLAIN and CURVE accepted
//! and denied, mechanisms that do not match, a `User-Id` only authentication sets,
//! CURVE traffic, key rotation, and hostile handshake commands and frames.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use proptest::prelude::*;
use vtx_emul::pattern::{Input, Transmit};
use vtx_emul::security::{
    AllowedKeys, AuthOutcome, AuthRequest, Credentials, PlainPasswords, Security, z85_encode,
};
use vtx_emul::stream::{OutBuf, Role, Session, SessionEvent};
use vtx_emul::testing::handshake::{Side, drain, handshake, local, prop, ready_props};
use vtx_emul::zmtp::command::Command;
use vtx_emul::zmtp::frame;
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::{Msg, SocketType};

fn plain_server() -> Security {
    Security::PlainServer {
        authenticator: Arc::new(PlainPasswords::new().with_user(b"admin", b"secret")),
    }
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
        matches!(s.events.as_slice(), [SessionEvent::Denied { status: 400, reason }] if reason.contains("400")),
        "{:?}",
        s.events
    );
    assert_eq!(c.events, [SessionEvent::PeerError("400".into())]);
}

/// After a refusal the session decodes nothing more: a message the refused client
/// sends after its INITIATE is an error, not traffic.
#[test]
fn a_refused_session_takes_no_traffic() {
    let client = local(
        SocketType::Push,
        b"",
        Security::plain_client(b"admin", b"guess").unwrap(),
    );
    let server = local(SocketType::Pull, b"", plain_server());
    let (_, mut s) = handshake(&client, &server, 64);
    assert!(matches!(s.events.as_slice(), [SessionEvent::Denied { .. }]));
    let mut out = OutBuf::new();
    frame::encode(&mut out, &Bytes::from_static(b"sneaked in"), false, false);
    s.take(&drain(&mut out), 64);
    assert!(s.error.is_some_and(|e| e.0.contains("ended")));
    assert_eq!(s.events.len(), 1, "no message");
}

/// The authenticator sees who asks: the mechanism, the client's socket type and
/// identity (from INITIATE), and its credentials; its status code reaches the client.
#[test]
fn the_authenticator_sees_the_client_and_its_status_reaches_it() {
    let asked = Arc::new(AtomicUsize::new(0));
    let seen = asked.clone();
    let auth = move |r: &AuthRequest<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        let Credentials::Plain { username, password } = r.credentials else {
            panic!("PLAIN credentials expected")
        };
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

/// A key pair, different for every call, the same in every run.
fn curve_keypair() -> (String, String) {
    static NEXT: AtomicUsize = AtomicUsize::new(100);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) as u8;
    let (public, secret) = vtx_emul::zmtp::curve::keypair_from([n; 32]);
    (z85_encode(&public), z85_encode(&secret))
}

fn curve_pair(allowed: &str, extra_server_keys: &[&str]) -> (Security, Security, String, String) {
    let (server_pub, server_sec) = curve_keypair();
    let (client_pub, client_sec) = curve_keypair();
    let mut keys = vec![server_sec.as_str()];
    keys.extend_from_slice(extra_server_keys);
    let allow = if allowed.is_empty() {
        client_pub.as_str()
    } else {
        allowed
    };
    let server =
        Security::curve_server(&keys, Arc::new(AllowedKeys::new().with_key(allow).unwrap()))
            .unwrap();
    let client = Security::curve_client(&server_pub, &client_sec).unwrap();
    (client, server, client_pub, server_pub)
}

/// Encodes `t` on one side, decodes it on the other: what arrives.
fn carry(from: &mut Side, to: &mut Side, t: Transmit) -> Vec<SessionEvent> {
    let mut out = OutBuf::new();
    from.s.encode(t, &mut out);
    let bytes = drain(&mut out);
    let before = to.events.len();
    to.take(&bytes, 64);
    assert!(to.error.is_none(), "{:?}", to.error);
    to.events.split_off(before)
}

proptest! {
    // Each case makes keys and runs X25519 five times: a few dozen chunkings do.
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// CURVE over any chunking: both sides come up, the server's side of the peering
    /// has the client's key in Z85 as `User-Id`, and messages and commands (a
    /// subscription, inside the box with the COMMAND flag) cross both ways encrypted.
    #[test]
    fn curve_completes_and_carries_traffic(chunk in 1usize..300) {
        let (client, server, client_pub, _) = curve_pair("", &[]);
        let (mut c, mut s) = handshake(
            &local(SocketType::Sub, b"", client),
            &local(SocketType::Pub, b"", server),
            chunk,
        );
        prop_assert_eq!(prop(ready_props(&s), "User-Id"), Some(client_pub.as_bytes()));
        prop_assert_eq!(prop(ready_props(&c), "X-Colour"), Some(&b"teal"[..]));
        let sub = carry(&mut c, &mut s, Transmit::Subscribe(Bytes::from_static(b"t")));
        prop_assert_eq!(&sub[..], &[SessionEvent::Input(Input::Subscribe(Bytes::from_static(b"t")))]);
        let msg = Msg::from_frames([Bytes::from_static(b"t1"), Bytes::from(vec![9u8; 3000])]);
        let got = carry(&mut s, &mut c, Transmit::Message { msg: msg.clone(), seq: None });
        prop_assert_eq!(&got[..], &[SessionEvent::Input(Input::Message { msg, seq: None })]);
    }
}

/// A client the server's list does not have hears ERROR "400"; a client that has the
/// wrong server key never gets a WELCOME it can open; a server keeping its old key
/// beside its new one still lets in a client that knows only the old one.
#[test]
fn curve_refuses_strangers_and_wrong_keys_and_rotates() {
    let (stranger_pub, _) = curve_keypair();
    let (client, server, _, _) = curve_pair(&stranger_pub, &[]);
    let (c, s) = handshake(
        &local(SocketType::Req, b"", client),
        &local(SocketType::Rep, b"", server),
        64,
    );
    assert!(matches!(
        s.events.as_slice(),
        [SessionEvent::Denied { status: 400, .. }]
    ));
    assert_eq!(c.events, [SessionEvent::PeerError("400".into())]);

    let (client, _, _, _) = curve_pair("", &[]);
    let (_, other_server, _, _) = curve_pair("", &[]);
    let (c, s) = handshake(
        &local(SocketType::Req, b"", client),
        &local(SocketType::Rep, b"", other_server),
        64,
    );
    assert!(
        s.error.is_some(),
        "a HELLO for another server's key does not open"
    );
    assert!(c.events.is_empty() && s.events.is_empty());

    // Rotation: the client still knows the old key.
    let (old_pub, old_sec) = curve_keypair();
    let (client_pub, client_sec) = curve_keypair();
    let (_, new_sec) = curve_keypair();
    let server = Security::curve_server(
        &[new_sec.as_str(), old_sec.as_str()],
        Arc::new(AllowedKeys::new().with_key(&client_pub).unwrap()),
    )
    .unwrap();
    let client = Security::curve_client(&old_pub, &client_sec).unwrap();
    let (c, s) = handshake(
        &local(SocketType::Req, b"", client),
        &local(SocketType::Rep, b"", server),
        64,
    );
    assert_eq!(
        prop(ready_props(&s), "User-Id"),
        Some(client_pub.as_bytes())
    );
    ready_props(&c);
}

/// After a CURVE handshake, a frame that is not a MESSAGE box, a replayed one, or one
/// with a flipped bit is a protocol error.
#[test]
fn curve_traffic_refuses_plaintext_replays_and_tampering() {
    let (client, server, _, _) = curve_pair("", &[]);
    let cl = local(SocketType::Push, b"", client);
    let sl = local(SocketType::Pull, b"", server);
    let mut out = OutBuf::new();
    let frame_of = |data: &'static [u8]| {
        let mut o = OutBuf::new();
        frame::encode(&mut o, &Bytes::from_static(data), false, false);
        drain(&mut o)
    };
    type Mangle = Box<dyn Fn(Vec<u8>) -> Vec<u8>>;
    let cases: Vec<(&str, Mangle)> = vec![
        ("plaintext", Box::new(move |_| frame_of(b"hello"))),
        ("replay", Box::new(|m: Vec<u8>| [m.clone(), m].concat())),
        (
            "tampered",
            Box::new(|mut m: Vec<u8>| {
                *m.last_mut().unwrap() ^= 0x80;
                m
            }),
        ),
    ];
    for (what, mangle) in cases {
        let (mut c, mut s) = handshake(&cl, &sl, 64);
        ready_props(&s);
        c.s.encode(
            Transmit::Message {
                msg: Msg::single("m"),
                seq: None,
            },
            &mut out,
        );
        let sent = drain(&mut out);
        s.take(&mangle(sent), 64);
        assert!(s.error.is_some(), "{what}: {:?}", s.events);
    }
}

/// A CURVE session given no seed fails its handshake instead of running on guessable
/// keys.
#[test]
fn curve_without_a_seed_does_not_start() {
    let (client, server, _, _) = curve_pair("", &[]);
    for (security, role) in [(client, Role::Client), (server, Role::Server)] {
        let mut l = local(SocketType::Pair, b"", security);
        l.seed = None;
        let (mut side, _) = Side::new(&l, role);
        side.take(&Greeting::new(b"CURVE", role == Role::Client).encode(), 64);
        assert!(side.error.is_some_and(|e| e.0.contains("seed")));
    }
}
