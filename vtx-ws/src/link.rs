//! A WebSocket connection as a stream [`Link`] carrying the shared ZMTP session
//! unchanged: after the upgrade, the link gives the session the 64-octet greeting ZWS
//! leaves out (RFC 45: the subprotocol already said version and mechanism) and turns
//! each binary message (`flags` octet, then the frame) into a ZMTP frame; the other
//! way it drops the session's greeting and sends each ZMTP frame as one message.
//! Fragmented messages are reassembled (bounded by the socket's MAXMSGSIZE), pings
//! answered, the close handshake honoured.

use std::io::{self, IoSlice};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use vtx_emul::SocketType;
use vtx_emul::stream::{ChannelFacts, Link};
use vtx_emul::zmtp::command::{self, Command};
use vtx_emul::zmtp::greeting::Greeting;

use crate::frame::{self, Frame, Opcode, Side};
use std::sync::Arc;

use crate::Group;
use crate::upgrade::{self, UpgradePolicy, UpgradeRequest};

/// Stop taking the session's bytes while this much waits for the socket.
const OUT_HIGH: usize = 256 * 1024;
/// One read from the stream, at most.
const READ: usize = 64 * 1024;

thread_local! {
    /// Where the driver thread's links read into: what arrived is then appended to
    /// the link's own buffer, so a link holds what its peer sent, not a read's worth
    /// (10,000 half-open upgrades cost their bytes, not 10,000 read buffers).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; READ]);
}
/// ZWS flags (RFC 45 §2.2).
const ZWS_MORE: u8 = 0x01;
const ZWS_COMMAND: u8 = 0x02;
/// ZMTP flags (RFC 23 §2.3).
const ZMTP_MORE: u8 = 0x01;
const ZMTP_LONG: u8 = 0x02;
const ZMTP_COMMAND: u8 = 0x04;

/// What a server link accepts with: its listener's socket's settings.
pub(crate) struct Accepting {
    /// The path it serves.
    pub(crate) path: String,
    /// Its subprotocols, preferred first.
    pub(crate) protocols: Vec<String>,
    /// Its upgrade policy.
    pub(crate) policy: UpgradePolicy,
    /// The client's address.
    pub(crate) peer: String,
    /// The paths served on this address by other sockets too.
    pub(crate) group: Arc<Group>,
}

enum State {
    /// Server: waiting for the upgrade request.
    Accepting(Accepting),
    /// Client: the request goes out once TCP connects; then its answer.
    Requesting {
        request: Option<Vec<u8>>,
        key: String,
        protocols: Vec<String>,
    },
    /// Upgraded.
    Open,
    /// A close frame went out or came in: nothing more is decoded.
    Closed,
}

/// One WebSocket connection over the byte stream `L` (TCP, or TLS for `wss://`).
pub struct WsLink<L> {
    inner: L,
    side: Side,
    state: State,
    /// Mask keys for a client's frames (RFC 6455 §5.3: unpredictable).
    rng: rand::rngs::StdRng,
    /// The greeting the session expects from its peer.
    greeting: [u8; 64],
    /// Received, not parsed yet.
    raw_in: BytesMut,
    /// ZMTP bytes for the session.
    zmtp_in: BytesMut,
    /// The session's bytes not yet a whole ZMTP frame.
    zmtp_out: BytesMut,
    /// WebSocket bytes for TCP.
    ws_out: BytesMut,
    /// Octets of the session's own greeting still to drop.
    skip: usize,
    /// A fragmented message being put together.
    message: Option<BytesMut>,
    /// Largest ZWS message (a ZMTP frame and its flags octet).
    max: u64,

    eof: bool,
    /// The subprotocol agreed, once open.
    protocol: Option<String>,
    /// A server link whose request is for another socket's path on this address.
    parked: Option<String>,
    /// Moved to another socket: its request is read again.
    reprocess: bool,
    /// The name the upgrade policy accepted the client as.
    user: Option<String>,
    /// Bare `ZWS2.0` (browsers): identity messages instead of READY.
    bare: bool,
    /// Bare: our socket type, read from our READY.
    our_type: Option<SocketType>,
    /// Bare: the peer's identity message, until the session can have it as READY.
    peer_identity: Option<Bytes>,
    peer_identified: bool,
    /// Bare: the session has the peer's READY; until then its frames wait in `held`.
    peer_ready: bool,
    held: BytesMut,
}

impl<L> std::fmt::Debug for WsLink<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsLink")
            .field("side", &self.side)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl std::fmt::Display) -> io::Error {
    // InvalidData: the stream transport counts and logs it as a refused peer.
    io::Error::new(io::ErrorKind::InvalidData, format!("WebSocket: {reason}"))
}

/// The greeting ZWS leaves out, as the session must see it from the peer: ZMTP 3.1
/// with the subprotocol's mechanism (the link turns 3.1's commands into what ZWS
/// peers take). The as-server bit is not checked by the session.
fn peer_greeting(mechanism: &[u8], side: Side) -> [u8; 64] {
    Greeting::new(mechanism, side == Side::Client).encode()
}

/// The socket type a bare `ZWS2.0` peer is taken for (ZMTP/2 peers do not say
/// theirs): the one that constrains our socket least, so a ROUTER's browser peer is
/// a DEALER, whose messages need no delimiter.
fn bare_peer(ours: SocketType) -> SocketType {
    use SocketType::*;
    match ours {
        Req => Rep,
        Rep | Dealer | Router => Dealer,
        Pub | XPub => Sub,
        Sub | XSub => Pub,
        Push => Pull,
        Pull => Push,
        Pair => Pair,
    }
}

impl<L: Link> WsLink<L> {
    fn new(inner: L, side: Side, state: State, mechanism: &[u8], max: u64) -> WsLink<L> {
        use rand::SeedableRng;
        WsLink {
            inner,
            side,
            state,
            rng: rand::rngs::StdRng::from_os_rng(),
            greeting: peer_greeting(mechanism, side),
            raw_in: BytesMut::new(),
            zmtp_in: BytesMut::new(),
            zmtp_out: BytesMut::new(),
            ws_out: BytesMut::new(),
            skip: 64,
            message: None,
            max: max.saturating_add(1),

            eof: false,
            protocol: None,
            parked: None,
            reprocess: false,
            user: None,
            bare: false,
            our_type: None,
            peer_identity: None,
            peer_identified: false,
            peer_ready: false,
            held: BytesMut::new(),
        }
    }

    /// A server's link, accepted on a listener for `path` speaking `protocols`.
    pub(crate) fn server(inner: L, accepting: Accepting, mechanism: &[u8], max: u64) -> WsLink<L> {
        WsLink::new(
            inner,
            Side::Server,
            State::Accepting(accepting),
            mechanism,
            max,
        )
    }

    /// The client's address (a server link's).
    pub(crate) fn peer(&self) -> &str {
        match &self.state {
            State::Accepting(a) => &a.peer,
            _ => "",
        }
    }

    /// A parked server link takes the settings of the socket it moves to, and reads
    /// its request again.
    pub(crate) fn rehome(&mut self, accepting: Accepting, mechanism: &[u8], max: u64) {
        self.state = State::Accepting(accepting);
        self.parked = None;
        self.reprocess = true;
        self.greeting = peer_greeting(mechanism, self.side);
        self.max = max.saturating_add(1);
        // The old session's greeting: the new one writes its own.
        self.zmtp_out.clear();
        self.skip = 64;
    }

    /// A client's link to `host` (`host:port`) and `path`, offering `protocols`.
    pub(crate) fn client(
        inner: L,
        host: &str,
        path: &str,
        protocols: Vec<String>,
        mechanism: &[u8],
        max: u64,
    ) -> WsLink<L> {
        use base64::Engine;
        let mut link = WsLink::new(inner, Side::Client, State::Closed, mechanism, max);
        let nonce: [u8; 16] = rand::Rng::random(&mut link.rng);
        let key = base64::engine::general_purpose::STANDARD.encode(nonce);
        link.state = State::Requesting {
            request: Some(upgrade::request(host, path, &key, &protocols)),
            key,
            protocols,
        };
        link
    }

    fn mask(&mut self) -> Option<[u8; 4]> {
        (self.side == Side::Client).then(|| rand::Rng::random(&mut self.rng))
    }

    /// Writes what is queued for TCP; `Ok(true)` when nothing is left.
    fn flush(&mut self) -> io::Result<bool> {
        while !self.ws_out.is_empty() {
            match self.inner.write_vectored(&[IoSlice::new(&self.ws_out)]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.ws_out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        // And what the stream itself still holds (TLS records).
        self.inner.flush_link()
    }

    /// Sends a close frame with `status` (once), then gives up on the link.
    fn fail(&mut self, status: u16, reason: impl std::fmt::Display) -> io::Error {
        let reason = reason.to_string();
        if matches!(self.state, State::Open) {
            let mask = self.mask();
            let payload = frame::close_payload(status, &reason);
            frame::encode(&mut self.ws_out, true, Opcode::Close, &payload, mask);
            let _ = self.flush();
        }
        self.state = State::Closed;
        invalid(reason)
    }

    fn opened(&mut self, protocol: String) {
        self.state = State::Open;
        self.bare = protocol == upgrade::BARE;
        self.protocol = Some(protocol);
        self.zmtp_in.put_slice(&self.greeting);
        self.frame_out();
    }

    /// Parses what TCP gave: the upgrade, then frames.
    fn process(&mut self) -> io::Result<()> {
        match &self.state {
            State::Accepting(_) if self.parked.is_some() => return Ok(()),
            State::Accepting(Accepting {
                path,
                protocols,
                policy,
                peer,
                group,
            }) => {
                // A request for a path another socket serves on this address: parked
                // for the transport to move (Link::route).
                if let Some(route) = upgrade::request_path(&self.raw_in)
                    && !upgrade::serves_path(path, &route)
                    && group.serves(&route)
                {
                    self.parked = Some(route);
                    return Ok(());
                }
                let decided = upgrade::accept(&self.raw_in, path, protocols).and_then(|a| {
                    let Some(a) = a else { return Ok(None) };
                    let user = policy.check(&UpgradeRequest {
                        path: &a.path,
                        origin: a.origin.as_deref(),
                        headers: &a.headers,
                        peer,
                    })?;
                    Ok(Some((a, user)))
                });
                match decided {
                    Ok(None) => return Ok(()),
                    Ok(Some((a, user))) => {
                        self.raw_in.advance(a.len);
                        self.ws_out.put_slice(&a.response);
                        self.user = user;
                        self.opened(a.protocol);
                    }
                    Err(r) => {
                        self.ws_out.put_slice(&r.response());
                        let _ = self.flush();
                        self.state = State::Closed;
                        return Err(invalid(r));
                    }
                }
            }
            State::Requesting {
                request: None,
                key,
                protocols,
            } => match upgrade::check_response(&self.raw_in, key, protocols) {
                Ok(None) => return Ok(()),
                Ok(Some((protocol, len))) => {
                    self.raw_in.advance(len);
                    self.opened(protocol);
                }
                Err(e) => {
                    self.state = State::Closed;
                    return Err(invalid(e));
                }
            },
            State::Requesting { .. } => return Err(invalid("bytes before our upgrade request")),
            State::Open => {}
            State::Closed => {
                self.raw_in.clear();
                return Ok(());
            }
        }
        while matches!(self.state, State::Open) {
            let f = match frame::decode(&mut self.raw_in, self.side, self.max) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => return Err(self.fail(e.status, e)),
            };
            self.on_frame(f)?;
        }
        Ok(())
    }

    fn on_frame(&mut self, f: Frame) -> io::Result<()> {
        match f.opcode {
            Opcode::Binary if self.message.is_some() => {
                Err(self.fail(1002, "a new message inside a fragmented one"))
            }
            Opcode::Binary if f.fin => self.deliver(&f.payload),
            Opcode::Binary => {
                self.message = Some(BytesMut::from(&f.payload[..]));
                Ok(())
            }
            Opcode::Continuation => {
                let Some(mut m) = self.message.take() else {
                    return Err(self.fail(1002, "a continuation without a message"));
                };
                if (m.len() + f.payload.len()) as u64 > self.max {
                    return Err(self.fail(1009, "a fragmented message larger than the limit"));
                }
                m.put_slice(&f.payload);
                if f.fin {
                    self.deliver(&m)
                } else {
                    self.message = Some(m);
                    Ok(())
                }
            }
            Opcode::Text => Err(self.fail(1003, "a text message (ZWS is binary)")),
            Opcode::Ping => {
                let mask = self.mask();
                frame::encode(&mut self.ws_out, true, Opcode::Pong, &f.payload, mask);
                Ok(())
            }
            // Our heartbeat's answer: the PONG the session waits for.
            Opcode::Pong => {
                let pong = Command::Pong(f.payload.slice(..f.payload.len().min(16))).encode();
                self.session_frame(ZMTP_COMMAND, &pong);
                Ok(())
            }
            Opcode::Close => {
                // Answer with the status it sent (RFC 6455 §5.5.1), then end.
                let status = f
                    .payload
                    .get(..2)
                    .map_or(1000, |s| u16::from_be_bytes([s[0], s[1]]));
                let mask = self.mask();
                let payload = frame::close_payload(status, "");
                frame::encode(&mut self.ws_out, true, Opcode::Close, &payload, mask);
                self.state = State::Closed;
                self.eof = true;
                Ok(())
            }
        }
    }

    /// One ZWS message to the session as a ZMTP frame.
    fn deliver(&mut self, payload: &[u8]) -> io::Result<()> {
        let Some((&flags, body)) = payload.split_first() else {
            return Err(self.fail(1002, "an empty ZWS message (no flags octet)"));
        };
        if flags & !(ZWS_MORE | ZWS_COMMAND) != 0 {
            return Err(self.fail(1002, "unknown ZWS flags"));
        }
        if self.bare && !self.peer_identified {
            // Bare ZWS2.0: the first message is the peer's identity.
            if flags != 0 || body.len() > 255 {
                return Err(self.fail(1002, "ZWS2.0 begins with one identity message"));
            }
            self.peer_identified = true;
            self.peer_identity = Some(Bytes::copy_from_slice(body));
            self.bare_ready();
            return Ok(());
        }
        if self.bare && !self.peer_ready && (self.held.len() + body.len()) as u64 > self.max {
            return Err(self.fail(1008, "ZWS2.0: too much before the handshake completed"));
        }
        let mut zf = if flags & ZWS_MORE != 0 { ZMTP_MORE } else { 0 };
        if flags & ZWS_COMMAND != 0 {
            zf |= ZMTP_COMMAND;
        }
        self.session_frame(zf, body);
        Ok(())
    }

    /// Turns the session's whole ZMTP frames into WebSocket messages.
    fn frame_out(&mut self) {
        let skip = self.skip.min(self.zmtp_out.len());
        self.zmtp_out.advance(skip);
        self.skip -= skip;
        if self.skip > 0 {
            return;
        }
        loop {
            let Some(&zf) = self.zmtp_out.first() else {
                return;
            };
            let (len, head) = if zf & ZMTP_LONG != 0 {
                let Some(b) = self.zmtp_out.get(1..9) else {
                    return;
                };
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a) as usize, 9)
            } else {
                let Some(&n) = self.zmtp_out.get(1) else {
                    return;
                };
                (usize::from(n), 2)
            };
            if self.zmtp_out.len() < head + len {
                return;
            }
            self.zmtp_out.advance(head);
            let body = self.zmtp_out.split_to(len).freeze();
            if zf & ZMTP_COMMAND != 0 {
                self.command_out(body);
            } else {
                let flags = if zf & ZMTP_MORE != 0 { ZWS_MORE } else { 0 };
                self.message_out(flags, &[&body]);
            }
        }
    }

    /// One ZWS message: the flags octet, then `parts`.
    fn message_out(&mut self, flags: u8, parts: &[&[u8]]) {
        let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
        let mask = self.mask();
        frame::put_header(&mut self.ws_out, true, Opcode::Binary, len, mask);
        let start = self.ws_out.len();
        self.ws_out.put_u8(flags);
        for p in parts {
            self.ws_out.put_slice(p);
        }
        if let Some(k) = mask {
            frame::apply_mask(&mut self.ws_out[start..], k);
        }
    }

    /// A command of the session, as the ZWS peers here take it: subscriptions as
    /// messages (`0x01`/`0x00` and the topic: libzmq's ws ignores SUBSCRIBE), the
    /// heartbeat's PING as a WebSocket ping (libzmq's ws answers those, not PING
    /// commands); under bare `ZWS2.0` our READY becomes the identity message. The
    /// rest go as command messages.
    fn command_out(&mut self, body: Bytes) {
        match Command::decode(body.clone()) {
            Ok(Command::Subscribe(topic)) => self.message_out(0, &[&[1], &topic]),
            Ok(Command::Cancel(topic)) => self.message_out(0, &[&[0], &topic]),
            Ok(Command::Ping { context, .. }) => {
                let mask = self.mask();
                frame::encode(&mut self.ws_out, true, Opcode::Ping, &context, mask);
            }
            Ok(Command::Ready(props)) if self.bare => {
                let ours =
                    command::property(&props, "Socket-Type").and_then(|t| SocketType::from_name(t));
                let identity = command::property(&props, "Identity")
                    .cloned()
                    .unwrap_or_default();
                self.message_out(0, &[&identity]);
                self.our_type = ours;
                self.bare_ready();
            }
            _ => self.message_out(ZWS_COMMAND, &[&body]),
        }
    }

    /// Bare `ZWS2.0`: once our type and the peer's identity message are both known,
    /// the session gets the READY the peer does not send, naming the type that
    /// matches ours (ZMTP/2's peers do not say theirs).
    fn bare_ready(&mut self) {
        let Some(ours) = self.our_type else {
            return;
        };
        let Some(identity) = self.peer_identity.take() else {
            return;
        };
        let theirs = bare_peer(ours);
        log::trace!("ZWS2.0: the peer's READY as {theirs:?}");
        let mut props = vec![(
            Bytes::from_static(b"Socket-Type"),
            Bytes::from_static(theirs.name().as_bytes()),
        )];
        if !identity.is_empty() {
            props.push((Bytes::from_static(b"Identity"), identity));
        }
        let ready = Command::Ready(props).encode();
        self.peer_ready = true;
        self.session_frame(ZMTP_COMMAND, &ready);
        let held = std::mem::take(&mut self.held);
        self.zmtp_in.put_slice(&held);
    }

    /// One ZMTP frame for the session (held back, under bare ZWS2.0, until the
    /// session has the peer's READY).
    fn session_frame(&mut self, flags: u8, body: &[u8]) {
        let to = if self.bare && !self.peer_ready {
            &mut self.held
        } else {
            &mut self.zmtp_in
        };
        if body.len() > 255 {
            to.put_u8(flags | ZMTP_LONG);
            to.put_u64(body.len() as u64);
        } else {
            to.put_u8(flags);
            to.put_u8(body.len() as u8);
        }
        to.put_slice(body);
    }

    /// The subprotocol agreed, once the upgrade is done.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }
}

impl<L: Link> Link for WsLink<L> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if std::mem::take(&mut self.reprocess) {
            let processed = self.process();
            self.flush()?;
            processed?;
        }
        loop {
            if self.parked.is_some() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if !self.zmtp_in.is_empty() {
                let n = buf.len().min(self.zmtp_in.len());
                buf[..n].copy_from_slice(&self.zmtp_in[..n]);
                self.zmtp_in.advance(n);
                return Ok(n);
            }
            if self.eof {
                let _ = self.flush();
                return Ok(0);
            }
            let r = SCRATCH.with_borrow_mut(|scratch| {
                let r = self.inner.read(scratch);
                if let Ok(n) = r {
                    self.raw_in.extend_from_slice(&scratch[..n]);
                }
                r
            });
            match r {
                Ok(0) => self.eof = true,
                Ok(_) => {
                    let processed = self.process();
                    if self.raw_in.is_empty() && self.raw_in.capacity() > READ {
                        // A large message went through: an idle link keeps no buffer
                        // of its size.
                        self.raw_in = BytesMut::new();
                    }
                    // Pongs, close replies and the 101 go out now.
                    self.flush()?;
                    processed?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.ws_out.len() >= OUT_HIGH && !self.flush()? && self.ws_out.len() >= OUT_HIGH {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut total = 0;
        for b in bufs {
            self.zmtp_out.put_slice(b);
            total += b.len();
        }
        if matches!(self.state, State::Open) {
            self.frame_out();
            self.flush()?;
        }
        Ok(total)
    }

    fn connected(&mut self) -> io::Result<bool> {
        if !self.inner.connected()? {
            return Ok(false);
        }
        if let State::Requesting { request, .. } = &mut self.state
            && let Some(r) = request.take()
        {
            self.ws_out.put_slice(&r);
            self.flush()?;
        }
        Ok(true)
    }

    fn flush_link(&mut self) -> io::Result<bool> {
        self.flush()
    }

    fn route(&self) -> Option<&str> {
        self.parked.as_deref()
    }

    fn buffered_input(&self) -> bool {
        // Bare ZWS2.0: the peer's READY, made when our own went out.
        !self.zmtp_in.is_empty()
    }

    fn shutdown_write(&mut self) -> io::Result<()> {
        if matches!(self.state, State::Open) {
            let mask = self.mask();
            let payload = frame::close_payload(1000, "");
            frame::encode(&mut self.ws_out, true, Opcode::Close, &payload, mask);
            self.state = State::Closed;
        }
        if !self.flush()? {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.inner.shutdown_write()
    }

    fn meta(&self, key: &str) -> Option<String> {
        match key {
            "ws-protocol" => self.protocol.clone(),
            "ws-user" => self.user.clone(),
            _ => self.inner.meta(key),
        }
    }

    fn peer_identity(&self) -> Option<Bytes> {
        self.inner.peer_identity()
    }

    fn channel(&self) -> ChannelFacts {
        self.inner.channel()
    }
}

impl<L: Link> mio::event::Source for WsLink<L> {
    fn register(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner.register(r, t, i)
    }
    fn reregister(&mut self, r: &mio::Registry, t: mio::Token, i: mio::Interest) -> io::Result<()> {
        self.inner.reregister(r, t, i)
    }
    fn deregister(&mut self, r: &mio::Registry) -> io::Result<()> {
        self.inner.deregister(r)
    }
}
