//! PLAIN handshakes driven by hostile bytes, in arbitrary chunks: a PLAIN server (its
//! HELLO and INITIATE decoders, the authenticator's call) and a PLAIN client (WELCOME,
//! READY and libzmq's ERROR), with or without a valid start. No panic, bounded
//! buffering, and a server lets a peer up only as its authenticator says.
#![no_main]

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;

#[path = "session_feed.rs"]
mod session_feed;
use vtx_emul::security::{PlainPasswords, Security};
use vtx_emul::session::OutBuf;
use vtx_emul::zmtp::command::{self, Command};
use vtx_emul::zmtp::greeting::Greeting;
use vtx_emul::zmtp::{frame, plain};

const LIMIT: u64 = 64 * 1024;

fn command_bytes(cmd: &Command) -> Vec<u8> {
    let mut out = OutBuf::new();
    frame::encode(&mut out, &cmd.encode(), false, true);
    let mut v = Vec::new();
    while !out.is_empty() {
        out.write_to(&mut v).unwrap();
    }
    v
}

fn metadata(ty: &'static [u8]) -> Bytes {
    let mut b = BytesMut::new();
    command::put_properties(
        &mut b,
        &[(Bytes::from_static(b"Socket-Type"), Bytes::from_static(ty))],
    );
    b.freeze()
}

fuzz_target!(|input: (bool, u8, u8, &[u8])| {
    let (server, stage, chunk, data) = input;
    // The codecs alone, on the raw bytes.
    let _ = plain::parse_hello(data);
    let _ = plain::libzmq_error(data);
    let security = if server {
        Security::PlainServer {
            authenticator: Arc::new(PlainPasswords::new().with_user(b"admin", b"secret")),
        }
    } else {
        Security::plain_client(b"admin", b"secret").unwrap()
    };
    let (mut s, mut out) = session_feed::started(server, security, LIMIT);
    // A valid start of up to three steps, then the fuzzer's bytes.
    let mut stream = Greeting::new(b"PLAIN", !server).encode().to_vec();
    let steps = if server {
        [
            plain::hello(b"admin", b"secret"),
            Command::Initiate(metadata(b"DEALER")),
        ]
    } else {
        [
            Command::Welcome(Bytes::new()),
            Command::Ready(vec![(
                Bytes::from_static(b"Socket-Type"),
                Bytes::from_static(b"ROUTER"),
            )]),
        ]
    };
    let stage = usize::from(stage % 4);
    if stage == 0 {
        stream.clear();
    }
    for cmd in steps.iter().take(stage.saturating_sub(1)) {
        stream.extend(command_bytes(cmd));
    }
    stream.extend_from_slice(data);
    // In only as the authenticator said: with the good password.
    session_feed::feed_checking_user(
        &mut s,
        &mut out,
        &stream,
        usize::from(chunk),
        LIMIT,
        server,
        |user| user == Some(&b"admin"[..]),
    );
});
