//! The ZMTP 3.1 state machine of one link: greeting, the security handshake of the
//! socket's mechanism (NULL: READY both ways; PLAIN: HELLO, WELCOME, INITIATE,
//! READY), traffic.

use bytes::{Buf, Bytes, BytesMut};

use super::command::{self, Command};
use super::frame::{self, FrameError};
use super::greeting::{GREETING_LEN, Greeting};
#[cfg(feature = "sasl")]
use super::sasl;
use super::{curve, plain};
use crate::msg::FRAME_COST;
use crate::pattern::pubsub::subscription_message;
use crate::pattern::{Input, Transmit};
use crate::security::{AuthOutcome, AuthRequest, Credentials, Security};
use crate::session::{
    ChannelFacts, Local, OutBuf, ProtocolError, Role, Session, SessionEvent, zap_status,
};
use crate::{Msg, SocketType};

/// Largest command accepted before READY completes: a peer cannot make us buffer much
/// before it has even said what it is.
const HANDSHAKE_COMMAND_MAX: u64 = 64 * 1024;
/// The limit when the application disabled MAXMSGSIZE: still no size that would
/// overflow an allocation.
const NO_LIMIT: u64 = 1 << 48;
/// Longest identity (libzmq's limit).
const MAX_IDENTITY: usize = 255;

#[derive(Debug)]
enum Phase {
    Greeting,
    /// NULL, or a PLAIN client after INITIATE: the peer's READY completes it.
    AwaitReady,
    /// PLAIN client: HELLO sent.
    AwaitWelcome,
    /// PLAIN server: the client's HELLO comes first.
    AwaitHello,
    /// PLAIN server: WELCOME sent. The credentials wait for INITIATE, which names the
    /// client (its socket type and identity) for the authenticator.
    AwaitInitiate(plain::Hello),
    /// CURVE client: HELLO sent, WELCOME next.
    CurveWelcome(Box<curve::Client>),
    /// CURVE client: INITIATE sent, READY next.
    CurveReady(Box<curve::Client>),
    /// CURVE server: HELLO first.
    CurveHello(Box<curve::Server>),
    /// CURVE server: WELCOME sent, INITIATE next.
    CurveInitiate(Box<curve::Server>),
    #[cfg(feature = "sasl")]
    /// SASL client: HELLO or RESPONSE sent; CHALLENGE or WELCOME next.
    SaslChallenge(Box<sasl::ClientExchange>),
    #[cfg(feature = "sasl")]
    /// SASL server: HELLO first.
    SaslHello,
    #[cfg(feature = "sasl")]
    /// SASL server: CHALLENGE sent, RESPONSE next.
    SaslResponse(Box<sasl::ServerExchange>),
    #[cfg(feature = "sasl")]
    /// SASL server: WELCOME sent; INITIATE next, whose socket type and identity go
    /// to the authoriser with who the exchange authenticated.
    SaslInitiate(sasl::Principal),
    Traffic,
    /// The handshake failed or was refused: nothing more is decoded.
    Ended,
}

/// The property only authentication sets.
const USER_ID: &str = "User-Id";

/// One link's ZMTP 3.1 session (RFC 23/37), with the socket's security mechanism.
#[derive(Debug)]
pub struct ZmtpSession {
    local: Local,
    phase: Phase,
    /// CURVE's traffic keys once its handshake is done: every frame then travels in a
    /// MESSAGE box.
    curve: Option<curve::Traffic>,
    /// What the link knows of its channel, for SASL (taken while the greeting is
    /// awaited, so it is the TLS session's once that handshake completed).
    channel: ChannelFacts,
    peer_minor: u8,
    msg: Msg,
    msg_cost: u64,
}

impl From<FrameError> for ProtocolError {
    fn from(e: FrameError) -> ProtocolError {
        ProtocolError(e.to_string())
    }
}

impl From<command::CommandError> for ProtocolError {
    fn from(e: command::CommandError) -> ProtocolError {
        ProtocolError(format!("malformed command: {e}"))
    }
}

impl ZmtpSession {
    fn limit(&self) -> u64 {
        self.local.max_msg_size.unwrap_or(NO_LIMIT).min(NO_LIMIT)
    }

    /// Our metadata, as READY and INITIATE carry it.
    fn metadata(&self) -> Vec<(Bytes, Bytes)> {
        let mut props = vec![(
            Bytes::from_static(b"Socket-Type"),
            Bytes::from_static(self.local.socket_type.name().as_bytes()),
        )];
        let routed = matches!(
            self.local.socket_type,
            SocketType::Req | SocketType::Dealer | SocketType::Router
        );
        if routed || self.local.identity.is_some() {
            props.push((
                Bytes::from_static(b"Identity"),
                self.local.identity.clone().unwrap_or_default(),
            ));
        }
        props.extend(self.local.metadata.iter().cloned());
        props
    }

    fn ready_command(&self) -> Bytes {
        Command::Ready(self.metadata()).encode()
    }

    fn send_command(&mut self, out: &mut OutBuf, cmd: &Command) {
        self.put_frame(out, &cmd.encode(), false, true);
    }

    /// One frame out: as it is, or in a CURVE MESSAGE box (the flags inside it, the
    /// outer frame's flags zero, as libzmq does).
    fn put_frame(&mut self, out: &mut OutBuf, data: &Bytes, more: bool, command: bool) {
        match &mut self.curve {
            Some(t) => {
                let flags = if more { curve::FLAG_MORE } else { 0 }
                    | if command { curve::FLAG_COMMAND } else { 0 };
                frame::encode(out, &t.seal(flags, data), false, false);
            }
            None => frame::encode(out, data, more, command),
        }
    }

    fn on_ready(props: &[(Bytes, Bytes)]) -> Result<SessionEvent, ProtocolError> {
        let ty = command::property(props, "Socket-Type")
            .ok_or_else(|| ProtocolError("READY without Socket-Type".into()))?;
        let socket_type = SocketType::from_name(ty).ok_or_else(|| {
            ProtocolError(format!(
                "unknown socket type {:?}",
                String::from_utf8_lossy(ty)
            ))
        })?;
        // Kept for the life of the peering: a copy, not a slice of the read buffer.
        let identity = command::property(props, "Identity").map(|i| Bytes::copy_from_slice(i));
        if identity.as_ref().is_some_and(|i| i.len() > MAX_IDENTITY) {
            return Err(ProtocolError("identity longer than 255 bytes".into()));
        }
        // A peer's own User-Id would pass for an authenticated one: dropped.
        let properties = props
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case(USER_ID.as_bytes()))
            .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
            .collect();
        Ok(SessionEvent::Ready {
            socket_type,
            identity,
            properties,
        })
    }

    /// The peer's greeting: `Ok(None)` when it has not all arrived or the handshake
    /// goes on (`self.phase` tells), an event when it ends the handshake.
    fn decode_greeting(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let have = buf.len().min(GREETING_LEN);
        Greeting::check_prefix(&buf[..have]).map_err(|e| ProtocolError(e.to_string()))?;
        let Some(raw) = buf.get(..GREETING_LEN) else {
            return Ok(None);
        };
        let mut g = [0u8; GREETING_LEN];
        g.copy_from_slice(raw);
        let greeting = Greeting::decode(&g).map_err(|e| ProtocolError(e.to_string()))?;
        buf.advance(GREETING_LEN);
        self.peer_minor = greeting.minor;
        let ours = self.local.security.name();
        if greeting.mechanism != ours {
            // One mechanism per socket: never met halfway (RFC 23 §2.4).
            return Ok(Some(self.refuse_with(
                out,
                "security mechanism mismatch",
                format!(
                    "the peer's security mechanism is {}, ours {}",
                    String::from_utf8_lossy(&greeting.mechanism),
                    String::from_utf8_lossy(ours)
                ),
            )));
        }
        // The peer's as-server bit is not checked: libzmq sends 0 whatever its role.
        // Two servers then wait for a HELLO until HANDSHAKE_IVL; two clients each get
        // a HELLO out of turn.
        let security = self.local.security.clone();
        self.phase = match &security {
            Security::Null => {
                let ready = self.ready_command();
                frame::encode(out, &ready, false, true);
                Phase::AwaitReady
            }
            Security::PlainClient { username, password } => {
                self.send_command(out, &plain::hello(username, password));
                Phase::AwaitWelcome
            }
            Security::PlainServer { .. } => Phase::AwaitHello,
            Security::CurveClient {
                server_key,
                secret_key,
            } => {
                let seed = self.seed()?;
                let mut c = Box::new(curve::Client::new(server_key, secret_key, seed));
                frame::encode(out, &c.hello(), false, true);
                Phase::CurveWelcome(c)
            }
            Security::CurveServer { secret_keys, .. } => {
                let seed = self.seed()?;
                let keys: Vec<&[u8; 32]> = secret_keys.iter().map(|k| &**k).collect();
                Phase::CurveHello(Box::new(curve::Server::new(&keys, seed)))
            }
            #[cfg(feature = "sasl")]
            Security::SaslClient(cfg) => match sasl::ClientExchange::start(cfg, &self.channel) {
                Ok((exchange, initial)) => {
                    let hello = sasl::hello(exchange.mechanism, initial.as_deref());
                    frame::encode(out, &hello, false, true);
                    Phase::SaslChallenge(Box::new(exchange))
                }
                Err(r) => return Ok(Some(self.refuse_with(out, r.reply, r.reason))),
            },
            #[cfg(feature = "sasl")]
            Security::SaslServer(_) => Phase::SaslHello,
            #[cfg(not(feature = "sasl"))]
            Security::SaslClient(_) | Security::SaslServer(_) => {
                return Ok(Some(self.refuse_with(
                    out,
                    "500",
                    "SASL: this build of vtx-emul has no SASL (its `sasl` feature)".into(),
                )));
            }
        };
        Ok(None)
    }

    fn seed(&self) -> Result<[u8; 32], ProtocolError> {
        self.local
            .seed
            .ok_or_else(|| ProtocolError("CURVE without a random seed (Local::seed)".into()))
    }

    /// Our metadata as INITIATE and READY carry it.
    fn metadata_bytes(&self) -> Bytes {
        let mut b = BytesMut::new();
        command::put_properties(&mut b, &self.metadata());
        b.freeze()
    }

    /// One CURVE handshake command (its name and what follows); `None` when the
    /// handshake goes on.
    fn on_curve(
        &mut self,
        name: Bytes,
        rest: Bytes,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Ended);
        match (phase, &name[..]) {
            (Phase::CurveWelcome(mut c), b"WELCOME") => {
                let initiate = c.on_welcome(&rest, &self.metadata_bytes())?;
                frame::encode(out, &initiate, false, true);
                self.phase = Phase::CurveReady(c);
                Ok(None)
            }
            (Phase::CurveReady(c), b"READY") => {
                let (metadata, traffic) = c.on_ready(&rest)?;
                let props = command::parse_properties(Bytes::copy_from_slice(&metadata))?;
                let ready = Self::on_ready(&props)?;
                self.curve = Some(traffic);
                self.phase = Phase::Traffic;
                Ok(Some(ready))
            }
            (Phase::CurveHello(mut srv), b"HELLO") => {
                let welcome = srv.on_hello(&rest)?;
                frame::encode(out, &welcome, false, true);
                self.phase = Phase::CurveInitiate(srv);
                Ok(None)
            }
            (Phase::CurveInitiate(mut srv), b"INITIATE") => {
                let initiate = srv.on_initiate(&rest)?;
                let props = command::parse_properties(Bytes::copy_from_slice(&initiate.metadata))?;
                let credentials = Credentials::Curve {
                    public_key: &initiate.client_key,
                };
                let mut ready = Self::on_ready(&props)?;
                match self.decide("CURVE", credentials, &mut ready)? {
                    None => {
                        let (ready_cmd, traffic) = srv.ready(&self.metadata_bytes())?;
                        frame::encode(out, &ready_cmd, false, true);
                        self.curve = Some(traffic);
                        self.phase = Phase::Traffic;
                        Ok(Some(ready))
                    }
                    Some((status, reason)) => {
                        Ok(Some(self.refuse_with(out, &status.to_string(), reason)))
                    }
                }
            }
            _ => Err(ProtocolError(format!(
                "CURVE: {} out of turn",
                String::from_utf8_lossy(&name)
            ))),
        }
    }

    #[cfg(feature = "sasl")]
    /// One SASL handshake command (its name and what follows); `None` when the
    /// handshake goes on. A refusal tells the peer why (ERROR) and ends the handshake.
    fn on_sasl(
        &mut self,
        name: Bytes,
        rest: Bytes,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Ended);
        let outcome = match (phase, &name[..]) {
            (Phase::SaslChallenge(mut c), b"CHALLENGE") => sasl::parse_data(&rest)
                .and_then(|d| c.on_challenge(d))
                .map(|response| {
                    let cmd = sasl::data_command(b"RESPONSE", &response);
                    frame::encode(out, &cmd, false, true);
                    self.phase = Phase::SaslChallenge(c);
                }),
            (Phase::SaslChallenge(mut c), b"WELCOME") => sasl::parse_optional(&rest)
                .and_then(|additional| c.on_welcome(additional))
                .map(|()| {
                    self.send_command(out, &Command::Initiate(self.metadata_bytes()));
                    self.phase = Phase::AwaitReady;
                }),
            (Phase::SaslHello, b"HELLO") => {
                let Security::SaslServer(cfg) = &self.local.security else {
                    unreachable!("only a SASL server awaits a SASL HELLO")
                };
                sasl::parse_hello(&rest)
                    .and_then(|hello| sasl::ServerExchange::start(cfg, &self.channel, &hello))
                    .map(|(exchange, step)| self.sasl_step(Box::new(exchange), step, out))
            }
            (Phase::SaslResponse(mut exchange), b"RESPONSE") => sasl::parse_data(&rest)
                .and_then(|d| exchange.on_response(d))
                .map(|step| self.sasl_step(exchange, step, out)),
            (Phase::SaslInitiate(principal), b"INITIATE") => {
                let props = command::parse_properties(rest)?;
                let Some(mechanism) = self.local.security.sasl_mechanism() else {
                    unreachable!("only a SASL server awaits a SASL INITIATE")
                };
                let credentials = Credentials::Sasl {
                    mechanism,
                    authcid: &principal.authcid,
                    authzid: principal.authzid.as_deref(),
                };
                return self.admit("SASL", credentials, &props, out).map(Some);
            }
            (_, name) => Err(sasl::Refusal {
                reply: sasl::MALFORMED,
                reason: format!("SASL: {} out of turn", String::from_utf8_lossy(name)),
            }),
        };
        match outcome {
            Ok(()) => Ok(None),
            Err(r) => Ok(Some(self.refuse_with(out, r.reply, r.reason))),
        }
    }

    /// A SASL server's next command: CHALLENGE while the mechanism goes on, WELCOME
    /// when it authenticated the client.
    #[cfg(feature = "sasl")]
    fn sasl_step(
        &mut self,
        exchange: Box<sasl::ServerExchange>,
        step: sasl::ServerStep,
        out: &mut OutBuf,
    ) {
        match step {
            sasl::ServerStep::Challenge(data) => {
                frame::encode(out, &sasl::data_command(b"CHALLENGE", &data), false, true);
                self.phase = Phase::SaslResponse(exchange);
            }
            sasl::ServerStep::Success {
                additional,
                principal,
            } => {
                frame::encode(out, &sasl::welcome(additional.as_deref()), false, true);
                self.phase = Phase::SaslInitiate(principal);
            }
        }
    }

    /// A server's decision on a client: `None` when it is let in (its `User-Id` then
    /// added to `ready`), else the ZAP status and the reason to log.
    fn decide(
        &self,
        mechanism: &str,
        credentials: Credentials<'_>,
        ready: &mut SessionEvent,
    ) -> Result<Option<(u16, String)>, ProtocolError> {
        let Some(authenticator) = self.local.security.authenticator() else {
            return Err(ProtocolError(format!("{mechanism} INITIATE to a client")));
        };
        let SessionEvent::Ready {
            socket_type,
            identity,
            properties,
        } = ready
        else {
            unreachable!("on_ready makes Ready")
        };
        let request = AuthRequest {
            mechanism,
            identity: identity.as_deref().unwrap_or_default(),
            socket_type: socket_type.name(),
            address: &self.local.peer_address,
            credentials,
        };
        Ok(match authenticator.authenticate(&request) {
            AuthOutcome::Allow { user_id } => {
                if self.local.identity_from_user {
                    if user_id.len() > MAX_IDENTITY {
                        return Ok(Some((
                            500,
                            format!(
                                "{mechanism}: a user id of {} bytes cannot name a peer",
                                user_id.len()
                            ),
                        )));
                    }
                    *identity = Some(user_id.clone());
                }
                properties.push((Bytes::from_static(USER_ID.as_bytes()), user_id));
                None
            }
            AuthOutcome::Deny { status, text } => {
                Some((status, format!("{mechanism}: denied ({status}): {text}")))
            }
        })
    }

    /// Tells the peer `reply` (ZMTP ERROR) and ends the handshake with `reason` logged.
    fn refuse_with(&mut self, out: &mut OutBuf, reply: &str, reason: String) -> SessionEvent {
        self.refuse(reply, out);
        self.phase = Phase::Ended;
        match zap_status(reply) {
            Some(status) => SessionEvent::Denied { status, reason },
            None => SessionEvent::Refused(reason),
        }
    }

    /// One handshake command after the greeting; `None` when the handshake goes on.
    fn on_handshake(
        &mut self,
        cmd: Command,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        let phase = std::mem::replace(&mut self.phase, Phase::Ended);
        let unexpected = |what: &str| Err(ProtocolError(format!("{what} during the handshake")));
        let (next, event) = match (phase, cmd) {
            (_, Command::Error(reason)) => {
                let reason = String::from_utf8_lossy(&reason).into_owned();
                return Ok(Some(SessionEvent::PeerError(reason)));
            }
            (Phase::AwaitReady, Command::Ready(props)) => {
                (Phase::Traffic, Some(Self::on_ready(&props)?))
            }
            (Phase::AwaitWelcome, Command::Welcome(_)) => {
                self.send_command(out, &Command::Initiate(self.metadata_bytes()));
                (Phase::AwaitReady, None)
            }
            (Phase::AwaitHello, Command::Hello(body)) => {
                let hello = plain::parse_hello(&body)?;
                self.send_command(out, &Command::Welcome(Bytes::new()));
                (Phase::AwaitInitiate(hello), None)
            }
            (Phase::AwaitInitiate(hello), Command::Initiate(body)) => {
                let props = command::parse_properties(body)?;
                let credentials = Credentials::Plain {
                    username: &hello.username,
                    password: &hello.password,
                };
                return self.admit("PLAIN", credentials, &props, out).map(Some);
            }
            (_, Command::Ready(_)) => return unexpected("READY out of turn"),
            (_, Command::Hello(_) | Command::Welcome(_) | Command::Initiate(_)) => {
                return unexpected("a security command out of turn");
            }
            _ => return unexpected("a command before the handshake completed"),
        };
        self.phase = next;
        Ok(event)
    }

    /// A PLAIN or SASL server's decision on a client whose INITIATE carried `props`:
    /// READY and the peering (with its `User-Id`), or ERROR with the status code.
    fn admit(
        &mut self,
        mechanism: &str,
        credentials: Credentials<'_>,
        props: &[(Bytes, Bytes)],
        out: &mut OutBuf,
    ) -> Result<SessionEvent, ProtocolError> {
        let mut ready = Self::on_ready(props)?;
        match self.decide(mechanism, credentials, &mut ready)? {
            None => {
                let ready_cmd = self.ready_command();
                frame::encode(out, &ready_cmd, false, true);
                self.phase = Phase::Traffic;
                Ok(ready)
            }
            Some((status, reason)) => Ok(self.refuse_with(out, &status.to_string(), reason)),
        }
    }
}

impl Session for ZmtpSession {
    fn new(local: &Local, _role: Role) -> ZmtpSession {
        ZmtpSession {
            local: local.clone(),
            phase: Phase::Greeting,
            curve: None,
            channel: ChannelFacts::default(),
            peer_minor: 1,
            msg: Msg::new(),
            msg_cost: 0,
        }
    }

    fn start(&mut self, out: &mut OutBuf) {
        // NULL: as-server is zero on both sides (RFC 23 §2.3); PLAIN: set on its server.
        let s = &self.local.security;
        out.put_slice(&Greeting::new(s.name(), s.is_server()).encode());
    }

    fn decode(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        loop {
            match self.phase {
                Phase::Greeting => {
                    let ev = self.decode_greeting(buf, out)?;
                    if ev.is_some() || matches!(self.phase, Phase::Greeting) {
                        return Ok(ev);
                    }
                }
                Phase::AwaitReady
                | Phase::AwaitWelcome
                | Phase::AwaitHello
                | Phase::AwaitInitiate(_) => {
                    let Some(f) = frame::decode(buf, HANDSHAKE_COMMAND_MAX)? else {
                        return Ok(None);
                    };
                    if !f.command {
                        return Err(ProtocolError(
                            "message before the handshake completed".into(),
                        ));
                    }
                    let libzmq_error = match self.local.security {
                        Security::PlainClient { .. } => plain::libzmq_error(&f.body),
                        _ => None,
                    };
                    let cmd = match libzmq_error {
                        Some(cmd) => cmd,
                        None => Command::decode(f.body)?,
                    };
                    if let Some(ev) = self.on_handshake(cmd, out)? {
                        return Ok(Some(ev));
                    }
                }
                Phase::Ended => {
                    return Err(ProtocolError("the handshake has ended".into()));
                }
                Phase::Traffic => {
                    let remaining = self.limit().saturating_sub(self.msg_cost);
                    let boxed = if self.curve.is_some() {
                        curve::OVERHEAD
                    } else {
                        0
                    };
                    let Some(mut f) = frame::decode(buf, remaining.saturating_add(boxed))? else {
                        return Ok(None);
                    };
                    if let Some(t) = &mut self.curve {
                        // The frame is a MESSAGE box; its flags are inside.
                        let (flags, data) = t.open(&f.body)?;
                        f.more = flags & curve::FLAG_MORE != 0;
                        f.command = flags & curve::FLAG_COMMAND != 0;
                        f.body = data;
                        if f.body.len() as u64 > remaining {
                            return Err(ProtocolError(format!(
                                "frame of {} bytes exceeds limit {remaining}",
                                f.body.len()
                            )));
                        }
                    }
                    if f.command {
                        if !self.msg.is_empty() {
                            return Err(ProtocolError("command inside a multipart message".into()));
                        }
                        let input = match Command::decode(f.body)? {
                            Command::Subscribe(t) => Input::Subscribe(t),
                            Command::Cancel(t) => Input::Cancel(t),
                            Command::Ping { ttl_deci, context } => Input::Ping {
                                ttl: command::deci_to_ttl(ttl_deci),
                                context,
                            },
                            Command::Pong(context) => Input::Pong { context },
                            Command::Error(reason) => {
                                return Ok(Some(SessionEvent::PeerError(
                                    String::from_utf8_lossy(&reason).into_owned(),
                                )));
                            }
                            Command::Ready(_) => return Err(ProtocolError("second READY".into())),
                            Command::Hello(_) | Command::Welcome(_) | Command::Initiate(_) => {
                                return Err(ProtocolError(
                                    "a security command after the handshake".into(),
                                ));
                            }
                            Command::Unknown(name) => {
                                log::debug!(
                                    "ignoring unknown ZMTP command {:?}",
                                    String::from_utf8_lossy(&name)
                                );
                                continue;
                            }
                        };
                        return Ok(Some(SessionEvent::Input(input)));
                    }
                    // Msg::cost: bytes, and FRAME_COST for every frame after the first.
                    let extra = if self.msg.is_empty() { 0 } else { FRAME_COST };
                    self.msg_cost += f.body.len() as u64 + extra;
                    if self.msg_cost > self.limit() {
                        return Err(ProtocolError(format!(
                            "message of {} frames exceeds limit {}",
                            self.msg.len() + 1,
                            self.limit()
                        )));
                    }
                    self.msg.push(f.body);
                    if !f.more {
                        self.msg_cost = 0;
                        let msg = std::mem::take(&mut self.msg);
                        return Ok(Some(SessionEvent::Input(Input::Message { msg, seq: None })));
                    }
                }
                // CURVE's and SASL's handshakes.
                _ => {
                    let Some(f) = frame::decode(buf, HANDSHAKE_COMMAND_MAX)? else {
                        return Ok(None);
                    };
                    if !f.command {
                        return Err(ProtocolError(
                            "message before the handshake completed".into(),
                        ));
                    }
                    let (name, rest) = command::split(f.body.clone())?;
                    if &name[..] == b"ERROR" {
                        let Command::Error(reason) = Command::decode(f.body)? else {
                            unreachable!("an ERROR decodes as one")
                        };
                        return Ok(Some(SessionEvent::PeerError(
                            String::from_utf8_lossy(&reason).into_owned(),
                        )));
                    }
                    #[cfg(feature = "sasl")]
                    let ev = if self.local.security.sasl_mechanism().is_some() {
                        self.on_sasl(name, rest, out)?
                    } else {
                        self.on_curve(name, rest, out)?
                    };
                    #[cfg(not(feature = "sasl"))]
                    let ev = self.on_curve(name, rest, out)?;
                    if ev.is_some() {
                        return Ok(ev);
                    }
                }
            }
        }
    }

    fn encode(&mut self, t: Transmit, out: &mut OutBuf) {
        // ZMTP 3.0 peers know no SUBSCRIBE/CANCEL/PING/PONG commands (RFC 37 §3 is 3.1).
        let v31 = self.peer_minor >= 1;
        match t {
            Transmit::Message { msg, .. } => {
                let n = msg.len();
                for (i, f) in msg.iter().enumerate() {
                    self.put_frame(out, f, i + 1 < n, false);
                }
            }
            Transmit::Subscribe(topic) if v31 => self.send_command(out, &Command::Subscribe(topic)),
            Transmit::Cancel(topic) if v31 => self.send_command(out, &Command::Cancel(topic)),
            Transmit::Subscribe(topic) => {
                self.put_frame(out, &subscription_message(true, &topic), false, false)
            }
            Transmit::Cancel(topic) => {
                self.put_frame(out, &subscription_message(false, &topic), false, false)
            }
            Transmit::Ping { ttl, context } if v31 => self.send_command(
                out,
                &Command::Ping {
                    ttl_deci: command::ttl_to_deci(ttl),
                    context,
                },
            ),
            Transmit::Pong { context } if v31 => self.send_command(out, &Command::Pong(context)),
            Transmit::Ping { .. } | Transmit::Pong { .. } => {}
        }
    }

    fn secures() -> bool {
        true
    }

    fn wants_channel(&self) -> bool {
        matches!(self.phase, Phase::Greeting) && self.local.security.sasl_mechanism().is_some()
    }

    fn set_channel(&mut self, channel: ChannelFacts) {
        self.channel = channel;
    }

    fn refuse(&mut self, reason: &str, out: &mut OutBuf) {
        self.send_command(
            out,
            &Command::Error(Bytes::copy_from_slice(reason.as_bytes())),
        );
    }
}
