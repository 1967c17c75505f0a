//! What the ZMTP session targets share (included with `#[path]`: not a target).

#![allow(dead_code)] // each target uses part of it

use bytes::BytesMut;
use vtx_emul::SocketType;
use vtx_emul::security::Security;
use vtx_emul::session::{Local, OutBuf, Role, Session, SessionEvent};
use vtx_emul::zmtp::{ZmtpSession, command};

/// A ROUTER's session (a mechanism's server) or a DEALER's (its client) with
/// `security` and a MAXMSGSIZE of `limit`, started: the session and its greeting.
pub fn started(server: bool, security: Security, limit: u64) -> (ZmtpSession, OutBuf) {
    let local = Local {
        socket_type: if server {
            SocketType::Router
        } else {
            SocketType::Dealer
        },
        identity: None,
        metadata: Vec::new(),
        max_msg_size: Some(limit),
        security,
        seed: None,
        peer_address: String::new(),
        identity_from_user: false,
    };
    let role = if server { Role::Server } else { Role::Client };
    let mut s = ZmtpSession::new(&local, role);
    let mut out = OutBuf::new();
    s.start(&mut out);
    (s, out)
}

/// [`feed`] until a refusal, checking that a server lets a peer up only with a
/// `User-Id` that `user_ok` accepts.
pub fn feed_checking_user(
    s: &mut impl Session,
    out: &mut OutBuf,
    stream: &[u8],
    chunk: usize,
    limit: u64,
    server: bool,
    user_ok: impl Fn(Option<&[u8]>) -> bool,
) {
    feed(s, out, stream, chunk, limit, |ev| match ev {
        SessionEvent::Ready { properties, .. } => {
            let user = command::property(&properties, "User-Id").map(|v| &v[..]);
            assert!(!server || user_ok(user), "let up as {user:?}");
            true
        }
        SessionEvent::Refused(_) | SessionEvent::Denied { .. } | SessionEvent::PeerError(_) => {
            false
        }
        _ => true,
    });
}

/// Feeds `stream` to `s` in pieces of `chunk` octets, handing each event to `on_event`
/// (`false`: stop); stops at the first protocol error. After each piece, what `s`
/// left buffered must be within a frame of `limit` plus the handshake's 64 KiB.
pub fn feed(
    s: &mut impl Session,
    out: &mut OutBuf,
    stream: &[u8],
    chunk: usize,
    limit: u64,
    mut on_event: impl FnMut(SessionEvent) -> bool,
) {
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk.max(1)) {
        buf.extend_from_slice(piece);
        loop {
            match s.decode(&mut buf, out) {
                Ok(Some(ev)) => {
                    if !on_event(ev) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(
            buf.len() as u64 <= limit + 64 * 1024 + 255,
            "buffered {} bytes",
            buf.len()
        );
    }
}
