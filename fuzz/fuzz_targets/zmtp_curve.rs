//! CURVE driven by hostile bytes: the server's HELLO and INITIATE decoders, MESSAGE
//! boxes after a real handshake, and a whole CURVE server session fed a greeting, a
//! real HELLO or none, then arbitrary bytes in arbitrary chunks. No panic, bounded
//! buffering, no peer without a handshake the fuzzer cannot forge.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;

#[path = "session_feed.rs"]
mod session_feed;
use vtx_emul::SocketType;
use vtx_emul::security::{AllowAny, Security};
use vtx_emul::session::{Local, OutBuf, Role, Session, SessionEvent};
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::zmtp::{ZmtpSession, curve, frame};

const LIMIT: u64 = 64 * 1024;
const SERVER_SECRET: [u8; 32] = [7; 32];
const CLIENT_SECRET: [u8; 32] = [9; 32];

fuzz_target!(|input: (u8, u8, &[u8])| {
    let (mode, chunk, data) = input;
    match mode % 3 {
        0 => {
            // The decoders alone: before and after a real HELLO.
            let mut server = curve::Server::new(&[&SERVER_SECRET], [1; 32]);
            let _ = server.on_hello(data);
            let _ = server.on_initiate(data);
            let mut client =
                curve::Client::new(&curve::public_of(&SERVER_SECRET), &CLIENT_SECRET, [2; 32]);
            let hello = client.hello();
            let mut server = curve::Server::new(&[&SERVER_SECRET], [1; 32]);
            if server.on_hello(&hello[6..]).is_ok() {
                assert!(
                    server.on_initiate(data).is_err(),
                    "an INITIATE the fuzzer made opened"
                );
            }
            let _ = client.on_welcome(data, b"");
        }
        1 => {
            // MESSAGE boxes after a real handshake.
            let mut client =
                curve::Client::new(&curve::public_of(&SERVER_SECRET), &CLIENT_SECRET, [2; 32]);
            let mut server = curve::Server::new(&[&SERVER_SECRET], [1; 32]);
            let welcome = server.on_hello(&client.hello()[6..]).unwrap();
            let initiate = client.on_welcome(&welcome[8..], b"").unwrap();
            server.on_initiate(&initiate[9..]).unwrap();
            let (ready, mut st) = server.ready(b"").unwrap();
            let (_, mut ct) = client.on_ready(&ready[6..]).unwrap();
            assert!(st.open(data).is_err(), "a MESSAGE the fuzzer made opened");
            assert!(ct.open(data).is_err(), "a MESSAGE the fuzzer made opened");
            let real = ct.seal(0, data);
            assert_eq!(&st.open(&real).unwrap().1[..], data);
        }
        _ => {
            // A whole server session.
            let local = Local {
                socket_type: SocketType::Router,
                identity: None,
                metadata: Vec::new(),
                max_msg_size: Some(LIMIT),
                seed: Some([3; 32]),
                peer_address: String::new(),
                identity_from_user: false,
                security: Security::curve_server(
                    &[&vtx_emul::security::z85_encode(&SERVER_SECRET)],
                    Arc::new(AllowAny),
                )
                .unwrap(),
            };
            let mut s = ZmtpSession::new(&local, Role::Server);
            let mut out = OutBuf::new();
            s.start(&mut out);
            let mut stream = Greeting::new(b"CURVE", false).encode().to_vec();
            if chunk % 2 == 0 {
                let mut client =
                    curve::Client::new(&curve::public_of(&SERVER_SECRET), &CLIENT_SECRET, [2; 32]);
                let mut o = OutBuf::new();
                frame::encode(&mut o, &client.hello(), false, true);
                while !o.is_empty() {
                    o.write_to(&mut stream).unwrap();
                }
            }
            stream.extend_from_slice(data);
            session_feed::feed(
                &mut s,
                &mut out,
                &stream,
                usize::from(chunk / 2),
                LIMIT,
                |ev| {
                    assert!(
                        !matches!(ev, SessionEvent::Ready { .. }),
                        "a peer up without a real INITIATE"
                    );
                    false
                },
            );
        }
    }
});
