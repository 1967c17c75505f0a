//! ZMTP commands (RFC 23 §2.5, RFC 37 §3): READY with its metadata, ERROR, SUBSCRIBE,
//! CANCEL, PING and PONG; and the security handshake's HELLO, WELCOME and INITIATE,
//! whose bodies the mechanism parses (`zmtp::plain` for PLAIN).

use std::fmt;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Longest PING context (RFC 37 §3.4).
pub const MAX_PING_CONTEXT: usize = 16;

/// A decoded command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// The handshake's last step: metadata properties.
    Ready(Vec<(Bytes, Bytes)>),
    /// A client's first handshake command; the body after the name.
    Hello(Bytes),
    /// A server's acceptance of a HELLO; the body after the name.
    Welcome(Bytes),
    /// A client's metadata after WELCOME; the body after the name.
    Initiate(Bytes),
    /// The peer refuses and will close.
    Error(Bytes),
    /// Subscribe to a prefix.
    Subscribe(Bytes),
    /// Cancel a subscription.
    Cancel(Bytes),
    /// Heartbeat request.
    Ping {
        /// TTL in tenths of a second (0: none).
        ttl_deci: u16,
        /// Context to echo.
        context: Bytes,
    },
    /// Heartbeat answer.
    Pong(Bytes),
    /// Any other command (ignored after the handshake).
    Unknown(Bytes),
}

/// Why a command body was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandError(pub &'static str);

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn take(b: &mut Bytes, n: usize, what: &'static str) -> Result<Bytes, CommandError> {
    if b.len() < n {
        return Err(CommandError(what));
    }
    Ok(b.split_to(n))
}

/// A command frame body split into its name and what follows the name.
pub fn split(mut body: Bytes) -> Result<(Bytes, Bytes), CommandError> {
    let n = *body.first().ok_or(CommandError("empty command"))? as usize;
    body.advance(1);
    let name = take(&mut body, n, "command name past end of frame")?;
    Ok((name, body))
}

impl Command {
    /// Parses a command frame body.
    pub fn decode(body: Bytes) -> Result<Command, CommandError> {
        let (name, mut body) = split(body)?;
        Ok(match &name[..] {
            b"READY" => Command::Ready(parse_properties(body)?),
            b"HELLO" => Command::Hello(body),
            b"WELCOME" => Command::Welcome(body),
            b"INITIATE" => Command::Initiate(body),
            b"ERROR" => {
                let n = *body.first().ok_or(CommandError("ERROR without reason"))? as usize;
                body.advance(1);
                Command::Error(take(&mut body, n, "ERROR reason past end of frame")?)
            }
            b"SUBSCRIBE" => Command::Subscribe(body),
            b"CANCEL" => Command::Cancel(body),
            b"PING" => {
                let ttl = take(&mut body, 2, "PING without TTL")?;
                let ttl_deci = u16::from_be_bytes([ttl[0], ttl[1]]);
                body.truncate(MAX_PING_CONTEXT);
                Command::Ping {
                    ttl_deci,
                    context: body,
                }
            }
            b"PONG" => {
                body.truncate(MAX_PING_CONTEXT);
                Command::Pong(body)
            }
            _ => Command::Unknown(name),
        })
    }

    /// Encodes a command frame body.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        let name = |b: &mut BytesMut, n: &[u8]| {
            b.put_u8(n.len() as u8);
            b.put_slice(n);
        };
        match self {
            Command::Ready(props) => {
                name(&mut b, b"READY");
                put_properties(&mut b, props);
            }
            Command::Hello(body) => {
                name(&mut b, b"HELLO");
                b.put_slice(body);
            }
            Command::Welcome(body) => {
                name(&mut b, b"WELCOME");
                b.put_slice(body);
            }
            Command::Initiate(body) => {
                name(&mut b, b"INITIATE");
                b.put_slice(body);
            }
            Command::Error(reason) => {
                name(&mut b, b"ERROR");
                let r = &reason[..reason.len().min(255)];
                b.put_u8(r.len() as u8);
                b.put_slice(r);
            }
            Command::Subscribe(t) => {
                name(&mut b, b"SUBSCRIBE");
                b.put_slice(t);
            }
            Command::Cancel(t) => {
                name(&mut b, b"CANCEL");
                b.put_slice(t);
            }
            Command::Ping { ttl_deci, context } => {
                name(&mut b, b"PING");
                b.put_u16(*ttl_deci);
                b.put_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Pong(context) => {
                name(&mut b, b"PONG");
                b.put_slice(&context[..context.len().min(MAX_PING_CONTEXT)]);
            }
            Command::Unknown(n) => name(&mut b, &n[..n.len().min(255)]),
        }
        b.freeze()
    }
}

/// Writes metadata as READY and INITIATE carry it: name-size (1), name, value-size (4,
/// network order), value.
pub fn put_properties(b: &mut BytesMut, props: &[(Bytes, Bytes)]) {
    for (k, v) in props {
        b.put_u8(k.len().min(255) as u8);
        b.put_slice(&k[..k.len().min(255)]);
        b.put_u32(v.len() as u32);
        b.put_slice(v);
    }
}

/// Parses READY metadata: name-size (1), name, value-size (4, network order), value.
pub fn parse_properties(mut b: Bytes) -> Result<Vec<(Bytes, Bytes)>, CommandError> {
    let mut props = Vec::new();
    while !b.is_empty() {
        let n = b[0] as usize;
        b.advance(1);
        if n == 0 {
            return Err(CommandError("empty property name"));
        }
        let name = take(&mut b, n, "property name past end of frame")?;
        let len = take(&mut b, 4, "property value size past end of frame")?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let value = take(&mut b, len, "property value past end of frame")?;
        props.push((name, value));
    }
    Ok(props)
}

/// Looks a property up by name, case-insensitively (RFC 23 §2.5.1).
pub fn property<'a>(props: &'a [(Bytes, Bytes)], name: &str) -> Option<&'a Bytes> {
    props
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| v)
}

/// A TTL as ZMTP carries it: tenths of a second, saturating.
pub fn ttl_to_deci(ttl: Option<Duration>) -> u16 {
    ttl.map_or(0, |t| {
        u16::try_from(t.as_millis() / 100).unwrap_or(u16::MAX)
    })
}

/// The TTL a PING announced (`None` for 0).
pub fn deci_to_ttl(deci: u16) -> Option<Duration> {
    (deci != 0).then(|| Duration::from_millis(u64::from(deci) * 100))
}
