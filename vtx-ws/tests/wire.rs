//! The WebSocket layer on the wire, against a vtx socket, from a raw TCP client: HTTP
//! answers for what is not an upgrade (never a hang), pings answered, fragmented
//! messages reassembled, the close handshake, and frames RFC 6455 forbids refused with
//! the right close status. The driver goes on serving after each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::BytesMut;
use vtx_ws::frame::{self, Opcode, Side};
use vtx_ws::upgrade;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(5),
}

fn setup() -> (zmq::Context, vtx::Vtx) {
    let _ = env_logger::builder().is_test(true).try_init();
    manager("ws", vtx_ws::WsTransport::default())
}

fn addr(ep: &str) -> String {
    let rest = ep.strip_prefix("ws://").unwrap();
    rest[..rest.find('/').unwrap_or(rest.len())].to_owned()
}

fn connect(ep: &str) -> TcpStream {
    let s = TcpStream::connect(addr(ep)).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

/// Everything until the server closes.
fn read_all(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = s.read_to_end(&mut v);
    v
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A client upgraded on `ep` with `request` (offering `protocols`): the stream, what
/// came after the 101, and the subprotocol chosen.
fn upgraded_with(ep: &str, request: &[u8], protocols: &[String]) -> (TcpStream, BytesMut, String) {
    let mut s = connect(ep);
    s.write_all(request).unwrap();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed during the upgrade");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((p, len)) = upgrade::check_response(&buf, KEY, protocols).unwrap() {
            let _ = buf.split_to(len);
            return (s, buf, p);
        }
    }
}

/// A client upgraded on `ep` with `ZWS2.0/NULL`.
fn upgraded(ep: &str) -> (TcpStream, BytesMut) {
    let ours = [upgrade::subprotocol("NULL")];
    let request = upgrade::request(&addr(ep), "/zmq", KEY, &ours);
    let (s, buf, p) = upgraded_with(ep, &request, &ours);
    assert_eq!(p, "ZWS2.0/NULL");
    (s, buf)
}

/// The next frame from the server.
fn next_frame(s: &mut TcpStream, buf: &mut BytesMut) -> Option<frame::Frame> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(f) = frame::decode(buf, Side::Client, 1 << 20).unwrap() {
            return Some(f);
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn send(s: &mut TcpStream, fin: bool, op: Opcode, payload: &[u8]) {
    let mut out = BytesMut::new();
    frame::encode(&mut out, fin, op, payload, Some([9, 8, 7, 6]));
    s.write_all(&out).unwrap();
}

/// READY as a REQ, in a ZWS command message.
fn ready_req() -> Vec<u8> {
    let mut b = vec![0x02, 5];
    b.extend_from_slice(b"READY");
    b.extend_from_slice(&[11]);
    b.extend_from_slice(b"Socket-Type");
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(b"REQ");
    b
}

#[test]
fn what_is_not_an_upgrade_gets_an_http_answer() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let h = addr(&ep);
    let good = String::from_utf8(upgrade::request(
        &h,
        "/zmq",
        KEY,
        &[upgrade::subprotocol("NULL")],
    ))
    .unwrap();
    for (req, status) in [
        (format!("GET /zmq HTTP/1.1\r\nHost: {h}\r\n\r\n"), 426),
        (good.replace("/zmq", "/nope"), 404),
        (good.replace("ZWS2.0/NULL", "ZWS2.0/CURVE"), 400),
        ("\x16\x03\x01\x02\x00 not http\r\n\r\n".to_string(), 400),
        (
            format!("GET /zmq HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000)),
            431,
        ),
    ] {
        let mut s = connect(&ep);
        s.write_all(req.as_bytes()).unwrap();
        let answer = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{req:?}: {answer}"
        );
    }
    vtx_emul::testing::wait_for_count("refusals counted", LIMIT, 5, || {
        rep.stats().map_or(0, |s| s.handshake_failures)
    });
    // The driver goes on: a good client still gets its answer.
    let (mut s, mut buf) = upgraded(&ep);
    send(&mut s, true, Opcode::Binary, &ready_req());
    send(&mut s, false, Opcode::Binary, &[0x01]); // REQ's delimiter, empty: in two fragments
    send(&mut s, true, Opcode::Continuation, &[]);
    send(&mut s, false, Opcode::Binary, &[0x00, b'h', b'e']);
    send(&mut s, false, Opcode::Continuation, b"ll");
    send(&mut s, true, Opcode::Ping, b"are you there");
    send(&mut s, true, Opcode::Continuation, b"o");
    let mut pong = None;
    let mut ready = None;
    while pong.is_none() || ready.is_none() {
        let f = next_frame(&mut s, &mut buf).expect("a frame");
        match f.opcode {
            Opcode::Pong => pong = Some(f.payload),
            Opcode::Binary if f.payload.first() == Some(&0x02) => ready = Some(f.payload),
            other => panic!("{other:?} {:?}", f.payload),
        }
    }
    assert_eq!(&pong.unwrap()[..], b"are you there");
    assert_eq!(rep.recv_bytes(0).unwrap(), b"hello", "reassembled");
    rep.send("world", 0).unwrap();
    let delimiter = next_frame(&mut s, &mut buf).unwrap();
    assert_eq!(&delimiter.payload[..], &[0x01]);
    let body = next_frame(&mut s, &mut buf).unwrap();
    assert_eq!(&body.payload[..], b"\x00world");
    // The close handshake: our close is answered with one, then the end.
    send(
        &mut s,
        true,
        Opcode::Close,
        &frame::close_payload(1000, "bye"),
    );
    let close = next_frame(&mut s, &mut buf).unwrap();
    assert_eq!(
        (close.opcode, &close.payload[..2]),
        (Opcode::Close, &1000u16.to_be_bytes()[..])
    );
    assert!(
        next_frame(&mut s, &mut buf).is_none(),
        "closed after the close"
    );
}

/// Frames RFC 6455 forbids end the link with a close frame saying why.
#[test]
fn forbidden_frames_are_refused_with_their_close_status() {
    let (_ctx, vtx) = setup();
    let (rep, ep) = bind(&vtx, zmq::REP);
    let cases: [(&[u8], u16); 4] = [
        (&[0x82, 0x01, 0x00], 1002),             // unmasked from a client
        (&[0x81, 0x81, 1, 2, 3, 4, 0x61], 1003), // a text message
        (&[0xC2, 0x80, 1, 2, 3, 4], 1002),       // RSV1 without an extension
        (&[0x02, 0x80, 1, 2, 3, 4, 0x82, 0x80, 1, 2, 3, 4], 1002), // a message inside a fragmented one
    ];
    for (i, (bytes, status)) in cases.iter().enumerate() {
        let (mut s, mut buf) = upgraded(&ep);
        s.write_all(bytes).unwrap();
        let mut got = None;
        while let Some(f) = next_frame(&mut s, &mut buf) {
            if f.opcode == Opcode::Close {
                got = Some(u16::from_be_bytes([f.payload[0], f.payload[1]]));
                break;
            }
        }
        assert_eq!(got, Some(*status), "case {i}");
        vtx_emul::testing::wait_for_count("counted", LIMIT, i as u64 + 1, || {
            rep.stats()
                .map_or(0, |s| s.handshake_failures + s.protocol_errors)
        });
    }
}

/// The bare `ZWS2.0` subprotocol browsers ask for: no READY, each side's first
/// message is its identity, and a vtx ROUTER names the client by it.
#[test]
fn bare_zws_as_browsers_speak_it() {
    let (_ctx, vtx) = setup();
    let (router, ep) = bind(&vtx, zmq::ROUTER);
    let bare = [upgrade::BARE.to_owned()];
    let request = upgrade::request(&addr(&ep), "/zmq", KEY, &bare);
    let (mut s, mut buf, p) = upgraded_with(&ep, &request, &bare);
    assert_eq!(p, "ZWS2.0");
    send(&mut s, true, Opcode::Binary, b"\x00browser-1");
    send(&mut s, true, Opcode::Binary, b"\x00hi from the page");
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(
        got,
        vec![b"browser-1".to_vec(), b"hi from the page".to_vec()]
    );
    router
        .send_multipart(["browser-1", "hello page"], 0)
        .unwrap();
    let identity = next_frame(&mut s, &mut buf).unwrap();
    assert_eq!(
        &identity.payload[..],
        b"\x00",
        "the ROUTER's own (empty) identity first"
    );
    let reply = next_frame(&mut s, &mut buf).unwrap();
    assert_eq!(&reply.payload[..], b"\x00hello page");
}

/// The upgrade policy: an Origin allowlist and a bearer-token hook decide before the
/// upgrade (403, 401), and the name the hook gives is the peer's `ws-user`.
#[test]
fn the_upgrade_policy_checks_origin_and_token() {
    use std::sync::Arc;
    use vtx_ws::upgrade::UpgradePolicy;
    let (_ctx, vtx) = setup();
    let rep = sock(&vtx, zmq::REP);
    let policy = UpgradePolicy {
        origins: Some(vec!["http://app.example".into()]),
        authenticate: Some(Arc::new(|r: &upgrade::UpgradeRequest<'_>| {
            match r.bearer() {
                Some("s3cret") => Ok(Some("alice".into())),
                _ => Err(401),
            }
        })),
    };
    rep.set_transport_config(policy).unwrap();
    let ep = rep.bind("ws://127.0.0.1:0/zmq").unwrap();
    let h = addr(&ep);
    let base = String::from_utf8(upgrade::request(
        &h,
        "/zmq",
        KEY,
        &[upgrade::subprotocol("NULL")],
    ))
    .unwrap();
    let with = |origin: &str, path: &str| {
        base.replace("GET /zmq", &format!("GET {path}"))
            .replace("\r\n\r\n", &format!("\r\nOrigin: {origin}\r\n\r\n"))
    };
    for (req, status) in [
        (with("http://evil.example", "/zmq?access_token=s3cret"), 403),
        (with("http://app.example", "/zmq"), 401),
        (with("http://app.example", "/zmq?access_token=wrong"), 401),
    ] {
        let mut s = connect(&ep);
        s.write_all(req.as_bytes()).unwrap();
        let answer = String::from_utf8_lossy(&read_all(&mut s)).into_owned();
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status} ")),
            "{answer}"
        );
    }
    // A good token and origin: upgraded, a REQ exchange, the peer named by the hook.
    let good = with("http://app.example", "/zmq?access_token=s3cret");
    let (mut s, _, _) = upgraded_with(&ep, good.as_bytes(), &[upgrade::subprotocol("NULL")]);
    send(&mut s, true, Opcode::Binary, &ready_req());
    send(&mut s, true, Opcode::Binary, &[0x01]);
    send(&mut s, true, Opcode::Binary, b"\x00token holder");
    assert_eq!(rep.recv_bytes(0).unwrap(), b"token holder");
    assert_eq!(
        rep.meta("last-peer.ws-user").unwrap().as_deref(),
        Some("alice")
    );
}
