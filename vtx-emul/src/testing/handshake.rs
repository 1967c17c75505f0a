//! Two ZMTP sessions talking through memory, sans-IO: a handshake run to its end with
//! the bytes cut into pieces of any size, and what each side decoded. The security
//! tests of every mechanism use it.

use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};

use crate::SocketType;
use crate::security::Security;
use crate::session::{ChannelFacts, Local, OutBuf, ProtocolError, Role, Session, SessionEvent};
use crate::zmtp::ZmtpSession;
use crate::zmtp::command;

/// Each session's own seed, different for every one made, the same in every run.
pub fn seed() -> Option<[u8; 32]> {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    Some([NEXT.fetch_add(1, Ordering::Relaxed) as u8; 32])
}

/// A `ty` socket with this identity (empty: none) and mechanism, announcing
/// `X-Colour: teal`.
pub fn local(ty: SocketType, identity: &'static [u8], security: Security) -> Local {
    Local {
        seed: seed(),
        peer_address: String::new(),
        identity_from_user: false,
        socket_type: ty,
        identity: (!identity.is_empty()).then(|| Bytes::from_static(identity)),
        metadata: vec![(Bytes::from_static(b"X-Colour"), Bytes::from_static(b"teal"))],
        max_msg_size: None,
        security,
    }
}

/// Everything `out` holds.
pub fn drain(out: &mut OutBuf) -> Vec<u8> {
    let mut v = Vec::new();
    while !out.is_empty() {
        if out.write_to(&mut v).is_err() {
            break;
        }
    }
    v
}

/// One side of a handshake: its session, the bytes it has not decoded yet, and what it
/// decoded.
#[derive(Debug)]
pub struct Side {
    /// The session.
    pub s: ZmtpSession,
    /// Received, not decoded yet.
    pub inbox: BytesMut,
    /// What it decoded.
    pub events: Vec<SessionEvent>,
    /// The protocol error that stopped it, if one did.
    pub error: Option<ProtocolError>,
    /// What its link would know of the channel (a TLS exporter, a certificate).
    pub channel: ChannelFacts,
}

impl Side {
    /// A started session, and its greeting.
    pub fn new(l: &Local, role: Role) -> (Side, Vec<u8>) {
        Side::with_channel(l, role, ChannelFacts::default())
    }

    /// A started session on a link that knows `channel`, and its greeting.
    pub fn with_channel(l: &Local, role: Role, channel: ChannelFacts) -> (Side, Vec<u8>) {
        let mut s = ZmtpSession::new(l, role);
        let mut out = OutBuf::new();
        s.start(&mut out);
        let side = Side {
            s,
            inbox: BytesMut::new(),
            events: Vec::new(),
            error: None,
            channel,
        };
        (side, drain(&mut out))
    }

    /// Takes `bytes` in pieces of `chunk`; returns what it sends back.
    pub fn take(&mut self, bytes: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = OutBuf::new();
        for piece in bytes.chunks(chunk.max(1)) {
            self.inbox.extend_from_slice(piece);
            if self.s.wants_channel() {
                self.s.set_channel(self.channel.clone());
            }
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
pub fn handshake(client: &Local, server: &Local, chunk: usize) -> (Side, Side) {
    handshake_over(
        Side::new(client, Role::Client),
        Side::new(server, Role::Server),
        chunk,
        |b| b,
    )
}

/// Runs a handshake between two started sides; what the server sends passes through
/// `tamper` (a man in the middle) on its way.
pub fn handshake_over(
    (mut c, mut to_s): (Side, Vec<u8>),
    (mut s, mut to_c): (Side, Vec<u8>),
    chunk: usize,
    mut tamper: impl FnMut(Vec<u8>) -> Vec<u8>,
) -> (Side, Side) {
    to_c = tamper(to_c);
    for _ in 0..20 {
        if to_s.is_empty() && to_c.is_empty() {
            break;
        }
        let back = tamper(s.take(&to_s, chunk));
        to_s = c.take(&to_c, chunk);
        to_c = back;
    }
    (c, s)
}

/// The properties of the one `Ready` a side decoded (panics otherwise).
pub fn ready_props(side: &Side) -> &[(Bytes, Bytes)] {
    match side.events.as_slice() {
        [SessionEvent::Ready { properties, .. }] => properties,
        other => panic!("expected one Ready, got {other:?} ({:?})", side.error),
    }
}

/// A property's value.
pub fn prop<'a>(props: &'a [(Bytes, Bytes)], name: &str) -> Option<&'a [u8]> {
    command::property(props, name).map(|v| &v[..])
}
