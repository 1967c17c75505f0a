//! The server side of a ZMTP session fed hostile bytes in arbitrary chunks, with or
//! without a valid greeting and READY first: no panic, bounded buffering.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "session_feed.rs"]
mod session_feed;
use vtx_emul::SocketType;
use vtx_emul::session::{Local, OutBuf, Role, Session};
use vtx_emul::zmtp::ZmtpSession;

const LIMIT: u64 = 64 * 1024;

fn handshake() -> Vec<u8> {
    let mut g = vec![0u8; 64];
    g[0] = 0xFF;
    g[9] = 0x7F;
    g[10] = 3;
    g[11] = 1;
    g[12..16].copy_from_slice(b"NULL");
    let mut body = vec![5u8];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&6u32.to_be_bytes());
    body.extend_from_slice(b"DEALER");
    g.extend_from_slice(&[0x04, body.len() as u8]);
    g.extend(body);
    g
}

fuzz_target!(|input: (bool, u8, &[u8])| {
    let (valid_prefix, chunk, data) = input;
    let local = Local {
        socket_type: SocketType::Router,
        identity: None,
        metadata: Vec::new(),
        max_msg_size: Some(LIMIT),
        security: Default::default(),
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    };
    let mut s = ZmtpSession::new(&local, Role::Server);
    let mut out = OutBuf::new();
    s.start(&mut out);
    let mut stream = if valid_prefix {
        handshake()
    } else {
        Vec::new()
    };
    stream.extend_from_slice(data);
    session_feed::feed(&mut s, &mut out, &stream, usize::from(chunk), LIMIT, |_| {
        true
    });
});
