//! ZMTP 3.1 codec and session: round trips, handshakes over arbitrary chunking, and
//! hostile input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use vtx_emul::pattern::{Input, Transmit};
use vtx_emul::stream::{Local, OutBuf, ProtocolError, Role, Session, SessionEvent};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::zmtp::command::{self, Command};
use vtx_emul::zmtp::frame;
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::{Msg, SocketType};

fn bytes_of(out: &mut OutBuf) -> Vec<u8> {
    let mut v = Vec::new();
    while !out.is_empty() {
        out.write_to(&mut v).unwrap();
    }
    v
}

fn local(ty: SocketType, identity: Option<&'static [u8]>, max: Option<u64>) -> Local {
    Local {
        socket_type: ty,
        identity: identity.map(Bytes::from_static),
        metadata: Vec::new(),
        max_msg_size: max,
        security: Default::default(),
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    }
}

/// Feeds `data` to a session in chunks; collects events until an error.
fn feed(
    s: &mut ZmtpSession,
    data: &[u8],
    chunk: usize,
) -> (Vec<SessionEvent>, Option<ProtocolError>, OutBuf) {
    let mut buf = BytesMut::new();
    let mut out = OutBuf::new();
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match s.decode(&mut buf, &mut out) {
                Ok(Some(e)) => events.push(e),
                Ok(None) => break,
                Err(e) => return (events, Some(e), out),
            }
        }
    }
    (events, None, out)
}

/// A greeting and READY as a peer of type `ty` sends them.
fn peer_handshake(ty: SocketType) -> Vec<u8> {
    let mut out = OutBuf::new();
    let mut s = ZmtpSession::new(&local(ty, None, None), Role::Client);
    s.start(&mut out);
    // Make it emit READY by feeding it our greeting.
    let mut buf = BytesMut::from(&Greeting::new(b"NULL", false).encode()[..]);
    assert!(s.decode(&mut buf, &mut out).unwrap().is_none());
    bytes_of(&mut out)
}

#[test]
fn handshake_between_two_sessions() {
    let mut a = ZmtpSession::new(
        &local(SocketType::Dealer, Some(b"alice"), None),
        Role::Client,
    );
    let mut b = ZmtpSession::new(&local(SocketType::Router, None, None), Role::Server);
    let (mut ao, mut bo) = (OutBuf::new(), OutBuf::new());
    a.start(&mut ao);
    b.start(&mut bo);
    let (mut ab, mut ba) = (bytes_of(&mut ao), bytes_of(&mut bo));
    // Each side's greeting makes it send READY.
    let (ev_b, err, mut out) = feed(&mut b, &ab[..64], 7);
    assert!(ev_b.is_empty() && err.is_none());
    ba.extend(bytes_of(&mut out));
    let (ev_a, err, mut out) = feed(&mut a, &ba, 5);
    assert!(err.is_none());
    assert_eq!(
        ev_a,
        vec![SessionEvent::Ready {
            socket_type: SocketType::Router,
            identity: Some(Bytes::new()),
            properties: vec![
                (
                    Bytes::from_static(b"Socket-Type"),
                    Bytes::from_static(b"ROUTER")
                ),
                (Bytes::from_static(b"Identity"), Bytes::new()),
            ],
        }]
    );
    ab.extend(bytes_of(&mut out));
    let (ev_b, err, _) = feed(&mut b, &ab[64..], 3);
    assert!(err.is_none());
    assert_eq!(
        ev_b,
        vec![SessionEvent::Ready {
            socket_type: SocketType::Dealer,
            identity: Some(Bytes::from_static(b"alice")),
            properties: vec![
                (
                    Bytes::from_static(b"Socket-Type"),
                    Bytes::from_static(b"DEALER")
                ),
                (
                    Bytes::from_static(b"Identity"),
                    Bytes::from_static(b"alice")
                ),
            ],
        }]
    );
}

#[test]
fn refuses_bad_signature_at_first_byte() {
    let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
    // A TLS ClientHello starts with 0x16.
    let (_, err, _) = feed(&mut s, &[0x16, 0x03, 0x01], 1);
    assert!(err.unwrap().0.contains("signature"));
}

#[test]
fn refuses_old_versions_and_other_mechanisms() {
    let mut g = Greeting::new(b"NULL", false).encode();
    g[10] = 2;
    let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
    assert!(feed(&mut s, &g, 64).1.unwrap().0.contains("version"));
    // Another mechanism is refused with an ERROR to the peer, not met halfway.
    let g = Greeting::new(b"CURVE", false).encode();
    let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
    let (ev, _, mut out) = feed(&mut s, &g, 64);
    assert!(
        matches!(ev.as_slice(), [SessionEvent::Refused(r)] if r.contains("CURVE")),
        "{ev:?}"
    );
    assert!(bytes_of(&mut out).ends_with(b"\x05ERROR\x1bsecurity mechanism mismatch"));
}

#[test]
fn truncated_greeting_waits() {
    let g = Greeting::new(b"NULL", false).encode();
    let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
    let (ev, err, _) = feed(&mut s, &g[..40], 1);
    assert!(ev.is_empty() && err.is_none());
}

#[test]
fn message_before_ready_is_refused() {
    let mut data = Greeting::new(b"NULL", false).encode().to_vec();
    data.extend_from_slice(&[0x00, 0x01, b'x']);
    let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
    assert!(
        feed(&mut s, &data, 64)
            .1
            .unwrap()
            .0
            .contains("before the handshake completed")
    );
}

#[test]
fn ready_without_socket_type_or_unknown_type_is_refused() {
    for props in [
        vec![],
        vec![(
            Bytes::from_static(b"Socket-Type"),
            Bytes::from_static(b"STREAM"),
        )],
    ] {
        let mut data = Greeting::new(b"NULL", false).encode().to_vec();
        let mut out = OutBuf::new();
        frame::encode(&mut out, &Command::Ready(props).encode(), false, true);
        data.extend(bytes_of(&mut out));
        let mut s = ZmtpSession::new(&local(SocketType::Rep, None, None), Role::Server);
        assert!(feed(&mut s, &data, 64).1.is_some());
    }
}

#[test]
fn oversize_frame_is_refused_before_its_body_arrives() {
    let mut data = peer_handshake(SocketType::Push);
    let mut s = ZmtpSession::new(&local(SocketType::Pull, None, Some(1024)), Role::Server);
    let (ev, err, _) = feed(&mut s, &data, 4096);
    assert!(err.is_none() && ev.len() == 1);
    // A long frame announcing 2^40 bytes: refused from its 9-byte header alone.
    data.clear();
    data.push(frame::FLAG_LONG);
    data.extend_from_slice(&(1u64 << 40).to_be_bytes());
    let (_, err, _) = feed(&mut s, &data, 9);
    assert!(err.unwrap().0.contains("exceeds limit"));
}

#[test]
fn many_empty_frames_count_against_the_limit() {
    let mut s = ZmtpSession::new(
        &local(SocketType::Pull, None, Some(64 * 1024)),
        Role::Server,
    );
    let (_, err, _) = feed(&mut s, &peer_handshake(SocketType::Push), 4096);
    assert!(err.is_none());
    let mut flood = Vec::new();
    for _ in 0..100_000 {
        flood.extend_from_slice(&[frame::FLAG_MORE, 0]);
    }
    let (_, err, _) = feed(&mut s, &flood, 65536);
    assert!(
        err.is_some(),
        "a message of 100k empty frames is over a 64 KiB limit"
    );
}

#[test]
fn reserved_flags_and_multipart_commands_are_refused() {
    let mut s = ZmtpSession::new(&local(SocketType::Pull, None, None), Role::Server);
    assert!(
        feed(&mut s, &peer_handshake(SocketType::Push), 4096)
            .1
            .is_none()
    );
    assert!(feed(&mut s, &[0x80, 0x00], 2).1.is_some());
    let mut s = ZmtpSession::new(&local(SocketType::Pull, None, None), Role::Server);
    assert!(
        feed(&mut s, &peer_handshake(SocketType::Push), 4096)
            .1
            .is_none()
    );
    assert!(
        feed(&mut s, &[frame::FLAG_COMMAND | frame::FLAG_MORE, 0x00], 2)
            .1
            .is_some()
    );
}

#[test]
fn subscriptions_go_as_commands_to_31_and_messages_to_30() {
    let mut s = ZmtpSession::new(&local(SocketType::Sub, None, None), Role::Client);
    let mut g = Greeting::new(b"NULL", false).encode();
    g[11] = 0; // a ZMTP 3.0 peer
    let (_, err, _) = feed(&mut s, &g, 64);
    assert!(err.is_none());
    let mut out = OutBuf::new();
    s.encode(Transmit::Subscribe(Bytes::from_static(b"ab")), &mut out);
    s.encode(
        Transmit::Ping {
            ttl: None,
            context: Bytes::new(),
        },
        &mut out,
    );
    assert_eq!(
        bytes_of(&mut out),
        vec![0x00, 0x03, 0x01, b'a', b'b'],
        "3.0: message form, no PING"
    );
    let mut s = ZmtpSession::new(&local(SocketType::Sub, None, None), Role::Client);
    let (_, err, _) = feed(&mut s, &Greeting::new(b"NULL", false).encode(), 64);
    assert!(err.is_none());
    s.encode(Transmit::Subscribe(Bytes::from_static(b"ab")), &mut out);
    let b = bytes_of(&mut out);
    assert_eq!(b[0], frame::FLAG_COMMAND);
    assert_eq!(
        Command::decode(Bytes::copy_from_slice(&b[2..])).unwrap(),
        Command::Subscribe(Bytes::from_static(b"ab"))
    );
}

#[test]
fn ping_ttl_and_context_round_trip() {
    let c = Command::Ping {
        ttl_deci: 35,
        context: Bytes::from_static(b"ctx"),
    };
    assert_eq!(Command::decode(c.encode()).unwrap(), c);
    assert_eq!(
        command::deci_to_ttl(35),
        Some(std::time::Duration::from_millis(3500))
    );
    assert_eq!(
        command::ttl_to_deci(Some(std::time::Duration::from_secs(100_000))),
        u16::MAX
    );
    // Over-long contexts are cut to 16 bytes, never echoed whole.
    let long = Command::decode(Bytes::from_static(
        b"\x04PING\x00\x01aaaaaaaaaaaaaaaaaaaaaaaa",
    ))
    .unwrap();
    assert!(matches!(long, Command::Ping { context, .. } if context.len() == 16));
}

fn frames_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, bool)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..300),
                proptest::collection::vec(any::<u8>(), 9000..9100)
            ],
            any::<bool>(),
        ),
        0..8,
    )
}

proptest! {
    /// decode(encode(frames)) == frames, whatever the chunking.
    #[test]
    fn frames_round_trip(frames in frames_strategy(), cmd in any::<bool>()) {
        let mut out = OutBuf::new();
        for (body, more) in &frames {
            frame::encode(&mut out, &Bytes::copy_from_slice(body), *more && !cmd, cmd);
        }
        let mut buf = BytesMut::from(&bytes_of(&mut out)[..]);
        for (body, more) in &frames {
            let f = frame::decode(&mut buf, u64::MAX).unwrap().unwrap();
            prop_assert_eq!(&f.body[..], &body[..]);
            prop_assert_eq!(f.more, *more && !cmd);
            prop_assert_eq!(f.command, cmd);
        }
        prop_assert!(buf.is_empty());
    }

    /// Commands round-trip.
    #[test]
    fn commands_round_trip(
        props in proptest::collection::vec(("[A-Za-z-]{1,20}", proptest::collection::vec(any::<u8>(), 0..40)), 0..5),
        topic in proptest::collection::vec(any::<u8>(), 0..50),
        ttl in any::<u16>(),
        ctx in proptest::collection::vec(any::<u8>(), 0..16),
        reason in "[ -~]{0,100}",
    ) {
        let props: Vec<(Bytes, Bytes)> = props.into_iter().map(|(k, v)| (Bytes::from(k), Bytes::from(v))).collect();
        for c in [
            Command::Ready(props),
            Command::Subscribe(Bytes::from(topic.clone())),
            Command::Cancel(Bytes::from(topic)),
            Command::Ping { ttl_deci: ttl, context: Bytes::from(ctx.clone()) },
            Command::Pong(Bytes::from(ctx)),
            Command::Error(Bytes::from(reason)),
        ] {
            prop_assert_eq!(Command::decode(c.encode()).unwrap(), c);
        }
    }

    /// Messages and commands sent by one session arrive intact at another, however the
    /// stream is chunked.
    #[test]
    fn session_traffic_round_trips(
        msgs in proptest::collection::vec(proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 1..4), 0..10),
        chunk in 1usize..200,
    ) {
        let mut tx = ZmtpSession::new(&local(SocketType::Push, None, None), Role::Client);
        let mut rx = ZmtpSession::new(&local(SocketType::Pull, None, None), Role::Server);
        let mut out = OutBuf::new();
        tx.start(&mut out);
        let mut wire = bytes_of(&mut out);
        // tx needs rx's greeting to send READY.
        let (_, err, mut o) = feed(&mut tx, &Greeting::new(b"NULL", false).encode(), 64);
        prop_assert!(err.is_none());
        wire.extend(bytes_of(&mut o));
        for m in &msgs {
            tx.encode(Transmit::Message { msg: Msg::from_frames(m.iter().cloned().map(Bytes::from)), seq: None }, &mut out);
        }
        wire.extend(bytes_of(&mut out));
        let (events, err, _) = feed(&mut rx, &wire, chunk);
        prop_assert!(err.is_none(), "{err:?}");
        prop_assert_eq!(events.len(), msgs.len() + 1);
        for (e, m) in events[1..].iter().zip(&msgs) {
            let SessionEvent::Input(Input::Message { msg, .. }) = e else { panic!("{e:?}") };
            let got: Vec<Vec<u8>> = msg.iter().map(|b| b.to_vec()).collect();
            prop_assert_eq!(&got, m);
        }
    }

    /// Random bytes after (or instead of) a valid handshake: never a panic, and the
    /// receive buffer never holds more than the limit plus one read.
    #[test]
    fn random_bytes_never_panic(
        prefix in any::<bool>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..512,
    ) {
        let mut s = ZmtpSession::new(&local(SocketType::Router, None, Some(4096)), Role::Server);
        let mut data = if prefix { peer_handshake(SocketType::Dealer) } else { Vec::new() };
        data.extend(garbage);
        let mut buf = BytesMut::new();
        let mut out = OutBuf::new();
        'outer: for piece in data.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match s.decode(&mut buf, &mut out) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(_) => break 'outer,
                }
            }
            prop_assert!(buf.len() <= 4096 + 64 * 1024 + 9 + 512);
        }
    }
}

/// The identity a peer announces is kept for the life of the peering: it must not be
/// a slice of the read buffer it arrived in.
#[test]
fn the_identity_is_not_a_slice_of_the_read_buffer() {
    let mut s = ZmtpSession::new(&local(SocketType::Router, None, None), Role::Server);
    let mut out = OutBuf::new();
    s.start(&mut out);
    let mut peer = ZmtpSession::new(
        &local(SocketType::Dealer, Some(b"alice"), None),
        Role::Client,
    );
    let mut pout = OutBuf::new();
    peer.start(&mut pout);
    let mut g = BytesMut::from(&Greeting::new(b"NULL", false).encode()[..]);
    assert!(peer.decode(&mut g, &mut pout).unwrap().is_none());
    let wire = bytes_of(&mut pout);
    let mut buf = BytesMut::with_capacity(64 * 1024);
    buf.extend_from_slice(&wire);
    let base = buf.as_ptr() as usize;
    let ev = s.decode(&mut buf, &mut out).unwrap();
    let Some(SessionEvent::Ready {
        identity: Some(id), ..
    }) = ev
    else {
        panic!("{ev:?}");
    };
    assert_eq!(&id[..], b"alice");
    assert!(!(base..base + 64 * 1024).contains(&(id.as_ptr() as usize)));
}

#[test]
fn ready_carries_the_applications_properties() {
    let mut opts = vtx_emul::SocketOptions::default()
        .add_metadata("X-Service", b"quotes")
        .unwrap();
    assert!(opts.clone().add_metadata("Service", b"no X-").is_none());
    assert!(opts.clone().add_metadata("X-a:b", b"no colon").is_none());
    opts = opts.add_metadata("x-service", b"replaced").unwrap();
    let a_local = vtx_emul::session::Local::new(SocketType::Dealer, &opts);
    let mut a = ZmtpSession::new(&a_local, Role::Client);
    let mut b = ZmtpSession::new(&local(SocketType::Router, None, None), Role::Server);
    let (mut ao, mut bo) = (OutBuf::new(), OutBuf::new());
    a.start(&mut ao);
    b.start(&mut bo);
    let ab = bytes_of(&mut ao);
    let (_, err, mut out) = feed(&mut a, &bytes_of(&mut bo), 5);
    assert!(err.is_none());
    let mut to_b = ab;
    to_b.extend(bytes_of(&mut out));
    let (ev, err, _) = feed(&mut b, &to_b, 7);
    assert!(err.is_none());
    let Some(SessionEvent::Ready { properties, .. }) = ev.first() else {
        panic!("no READY: {ev:?}");
    };
    let x: Vec<_> = properties
        .iter()
        .filter(|(k, _)| k.starts_with(b"x-") || k.starts_with(b"X-"))
        .collect();
    assert_eq!(
        x,
        [&(
            Bytes::from_static(b"x-service"),
            Bytes::from_static(b"replaced")
        )]
    );
}
