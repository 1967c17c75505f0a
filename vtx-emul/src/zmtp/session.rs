//! The ZMTP 3.1 state machine of one link, NULL mechanism: greeting, READY, traffic.

use bytes::{Buf, Bytes, BytesMut};

use super::command::{self, Command};
use super::frame::{self, FrameError};
use super::greeting::{GREETING_LEN, Greeting};
use crate::msg::FRAME_COST;
use crate::pattern::pubsub::subscription_message;
use crate::pattern::{Input, Transmit};
use crate::session::{Local, OutBuf, ProtocolError, Role, Session, SessionEvent};
use crate::{Msg, SocketType};

/// Largest command accepted before READY completes: a peer cannot make us buffer much
/// before it has even said what it is.
const HANDSHAKE_COMMAND_MAX: u64 = 64 * 1024;
/// The limit when the application disabled MAXMSGSIZE: still no size that would
/// overflow an allocation.
const NO_LIMIT: u64 = 1 << 48;
/// Longest identity (libzmq's limit).
const MAX_IDENTITY: usize = 255;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Greeting,
    AwaitReady,
    Traffic,
}

/// One link's ZMTP 3.1 session (RFC 23/37), NULL security mechanism.
#[derive(Debug)]
pub struct ZmtpSession {
    local: Local,
    phase: Phase,
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

    fn ready_command(&self) -> Bytes {
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
        Command::Ready(props).encode()
    }

    fn send_command(out: &mut OutBuf, cmd: &Command) {
        frame::encode(out, &cmd.encode(), false, true);
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
        let properties = props
            .iter()
            .map(|(k, v)| (Bytes::copy_from_slice(k), Bytes::copy_from_slice(v)))
            .collect();
        Ok(SessionEvent::Ready {
            socket_type,
            identity,
            properties,
        })
    }

    fn decode_greeting(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
    ) -> Result<bool, ProtocolError> {
        let have = buf.len().min(GREETING_LEN);
        Greeting::check_prefix(&buf[..have]).map_err(|e| ProtocolError(e.to_string()))?;
        let Some(raw) = buf.get(..GREETING_LEN) else {
            return Ok(false);
        };
        let mut g = [0u8; GREETING_LEN];
        g.copy_from_slice(raw);
        let greeting = Greeting::decode(&g).map_err(|e| ProtocolError(e.to_string()))?;
        if greeting.mechanism != b"NULL" {
            return Err(ProtocolError(format!(
                "unsupported security mechanism {}",
                String::from_utf8_lossy(&greeting.mechanism)
            )));
        }
        buf.advance(GREETING_LEN);
        self.peer_minor = greeting.minor;
        let ready = self.ready_command();
        frame::encode(out, &ready, false, true);
        self.phase = Phase::AwaitReady;
        Ok(true)
    }
}

impl Session for ZmtpSession {
    fn new(local: &Local, _role: Role) -> ZmtpSession {
        ZmtpSession {
            local: local.clone(),
            phase: Phase::Greeting,
            peer_minor: 1,
            msg: Msg::new(),
            msg_cost: 0,
        }
    }

    fn start(&mut self, out: &mut OutBuf) {
        // NULL mechanism: as-server is zero on both sides (RFC 23 §2.3).
        out.put_slice(&Greeting::new(b"NULL", false).encode());
    }

    fn decode(
        &mut self,
        buf: &mut BytesMut,
        out: &mut OutBuf,
    ) -> Result<Option<SessionEvent>, ProtocolError> {
        loop {
            match self.phase {
                Phase::Greeting => {
                    if !self.decode_greeting(buf, out)? {
                        return Ok(None);
                    }
                }
                Phase::AwaitReady => {
                    let Some(f) = frame::decode(buf, HANDSHAKE_COMMAND_MAX)? else {
                        return Ok(None);
                    };
                    if !f.command {
                        return Err(ProtocolError("message before READY".into()));
                    }
                    return match Command::decode(f.body)? {
                        Command::Ready(props) => {
                            let ev = Self::on_ready(&props)?;
                            self.phase = Phase::Traffic;
                            Ok(Some(ev))
                        }
                        Command::Error(reason) => Ok(Some(SessionEvent::PeerError(
                            String::from_utf8_lossy(&reason).into_owned(),
                        ))),
                        _ => Err(ProtocolError("command before READY".into())),
                    };
                }
                Phase::Traffic => {
                    let remaining = self.limit().saturating_sub(self.msg_cost);
                    let Some(f) = frame::decode(buf, remaining)? else {
                        return Ok(None);
                    };
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
                    frame::encode(out, f, i + 1 < n, false);
                }
            }
            Transmit::Subscribe(topic) if v31 => {
                Self::send_command(out, &Command::Subscribe(topic))
            }
            Transmit::Cancel(topic) if v31 => Self::send_command(out, &Command::Cancel(topic)),
            Transmit::Subscribe(topic) => {
                frame::encode(out, &subscription_message(true, &topic), false, false)
            }
            Transmit::Cancel(topic) => {
                frame::encode(out, &subscription_message(false, &topic), false, false)
            }
            Transmit::Ping { ttl, context } if v31 => Self::send_command(
                out,
                &Command::Ping {
                    ttl_deci: command::ttl_to_deci(ttl),
                    context,
                },
            ),
            Transmit::Pong { context } if v31 => Self::send_command(out, &Command::Pong(context)),
            Transmit::Ping { .. } | Transmit::Pong { .. } => {}
        }
    }

    fn refuse(&mut self, reason: &str, out: &mut OutBuf) {
        Self::send_command(
            out,
            &Command::Error(Bytes::copy_from_slice(reason.as_bytes())),
        );
    }
}
