//! Structure-aware: frames and commands encoded by one ZMTP session decode to the same
//! at another, whatever the chunking.
#![no_main]

use arbitrary::Arbitrary;
use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use vtx_emul::pattern::{Input, Transmit};
use vtx_emul::session::{Local, OutBuf, Role, Session, SessionEvent};
use vtx_emul::zmtp::ZmtpSession;
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::{Msg, SocketType};

#[derive(Debug, Arbitrary)]
enum Item {
    Message(Vec<Vec<u8>>),
    Subscribe(Vec<u8>),
    Cancel(Vec<u8>),
    Ping(u16, Vec<u8>),
    Pong(Vec<u8>),
}

fn drain(out: &mut OutBuf) -> Vec<u8> {
    let mut v = Vec::new();
    while !out.is_empty() {
        out.write_to(&mut v).unwrap();
    }
    v
}

fuzz_target!(|input: (u8, Vec<Item>)| {
    let (chunk, items) = input;
    let local = |t| Local {
        socket_type: t,
        identity: None,
        metadata: Vec::new(),
        max_msg_size: None,
        security: Default::default(),
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    };
    let mut tx = ZmtpSession::new(&local(SocketType::XPub), Role::Client);
    let mut rx = ZmtpSession::new(&local(SocketType::XSub), Role::Server);
    let mut out = OutBuf::new();
    tx.start(&mut out);
    let mut buf = BytesMut::from(&Greeting::new(b"NULL", false).encode()[..]);
    let _ = tx.decode(&mut buf, &mut out);
    let mut want = Vec::new();
    for item in items {
        let (t, i) = match item {
            Item::Message(frames) if !frames.is_empty() => {
                let msg = Msg::from_frames(frames.into_iter().map(Bytes::from));
                (
                    Transmit::Message {
                        msg: msg.clone(),
                        seq: None,
                    },
                    Input::Message { msg, seq: None },
                )
            }
            Item::Message(_) => continue,
            Item::Subscribe(t) => (
                Transmit::Subscribe(t.clone().into()),
                Input::Subscribe(t.into()),
            ),
            Item::Cancel(t) => (Transmit::Cancel(t.clone().into()), Input::Cancel(t.into())),
            Item::Ping(deci, mut ctx) => {
                ctx.truncate(16);
                let ttl =
                    (deci != 0).then(|| std::time::Duration::from_millis(u64::from(deci) * 100));
                (
                    Transmit::Ping {
                        ttl,
                        context: ctx.clone().into(),
                    },
                    Input::Ping {
                        ttl,
                        context: ctx.into(),
                    },
                )
            }
            Item::Pong(mut ctx) => {
                ctx.truncate(16);
                (
                    Transmit::Pong {
                        context: ctx.clone().into(),
                    },
                    Input::Pong {
                        context: ctx.into(),
                    },
                )
            }
        };
        tx.encode(t, &mut out);
        want.push(i);
    }
    let wire = drain(&mut out);
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    let mut o = OutBuf::new();
    for piece in wire.chunks(usize::from(chunk).max(1)) {
        buf.extend_from_slice(piece);
        while let Some(ev) = rx
            .decode(&mut buf, &mut o)
            .expect("what a session encodes decodes")
        {
            match ev {
                SessionEvent::Input(i) => got.push(i),
                SessionEvent::Ready { socket_type, .. } => {
                    assert_eq!(socket_type, SocketType::XPub)
                }
                SessionEvent::PeerError(e)
                | SessionEvent::Refused(e)
                | SessionEvent::Denied { reason: e, .. } => panic!("{e}"),
            }
        }
    }
    assert_eq!(got, want);
});
