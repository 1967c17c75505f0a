//! NOM-2 wire format (docs/nom-2.md §3-5): the datagram header, commands, and message
//! records. Pure codec: `&[u8]` in, typed value or [`WireError`] out, every length
//! checked against the datagram before it is used and no allocation sized by a field.

use std::fmt;

use bytes::{BufMut, Bytes};

use vtx_emul::{Msg, SocketType};

/// First octet of every NOM-2 datagram: 0xA signature nibble, version 2 (§3).
pub const SIGNATURE: u8 = 0xA2;
/// Header length.
pub const HEADER_LEN: usize = 8;
/// Record header length without / with the request sequence.
pub const RECORD_HEADER: usize = 8;
/// Longest identity carried in OHAI/OHAI-OK.
pub const MAX_IDENTITY: usize = 255;
/// Length of the address-validation cookie of OHAI and COOKIE (§4.1).
pub const COOKIE_LEN: usize = 16;
/// The smallest OHAI: header, fixed fields and cookie, no identity. A COOKIE answer
/// (header and cookie) is smaller, so a server never answers an unvalidated address
/// with more than it received.
pub const MIN_OHAI: usize = HEADER_LEN + 6 + COOKIE_LEN;
/// A COOKIE datagram's length.
pub const COOKIE_DATAGRAM: usize = HEADER_LEN + COOKIE_LEN;
/// A ROTFL without text: what answers a datagram for an unknown peering (§4.3).
pub const SHORT_ROTFL: usize = HEADER_LEN + 6;
/// HUGZ is padded to this length (§4.4), so that the short ROTFL answering one sent to
/// a peering the receiver forgot is no larger than the HUGZ.
pub const HUGZ_LEN: usize = SHORT_ROTFL;

// §9: the answers to unvalidated sources are no larger than what triggers them.
const _: () = assert!(COOKIE_DATAGRAM <= MIN_OHAI && SHORT_ROTFL <= HUGZ_LEN);

/// NOM-2 commands (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Cmd {
    /// Open a peering.
    Ohai = 0x01,
    /// Peering accepted.
    OhaiOk = 0x02,
    /// Refusal or error.
    Rotfl = 0x03,
    /// Heartbeat request.
    Hugz = 0x04,
    /// Heartbeat answer.
    HugzOk = 0x05,
    /// Message records.
    Nom = 0x06,
    /// Subscribe (reliable control).
    Sub = 0x07,
    /// Cancel a subscription (reliable control).
    Unsub = 0x08,
    /// Acknowledges SUB/UNSUB.
    SubOk = 0x09,
    /// Goodbye.
    Kthxbai = 0x0A,
    /// Flow control: the highest data sequence delivered (§6.4).
    Window = 0x0B,
    /// Address validation: echo this cookie in OHAI (§4.1).
    Cookie = 0x0C,
}

impl Cmd {
    fn from_u8(b: u8) -> Option<Cmd> {
        Some(match b {
            0x01 => Cmd::Ohai,
            0x02 => Cmd::OhaiOk,
            0x03 => Cmd::Rotfl,
            0x04 => Cmd::Hugz,
            0x05 => Cmd::HugzOk,
            0x06 => Cmd::Nom,
            0x07 => Cmd::Sub,
            0x08 => Cmd::Unsub,
            0x09 => Cmd::SubOk,
            0x0A => Cmd::Kthxbai,
            0x0B => Cmd::Window,
            0x0C => Cmd::Cookie,
            _ => return None,
        })
    }
}

/// ROTFL reason codes (§4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Reason {
    /// The socket types cannot talk.
    Incompatible = 1,
    /// The socket has its maximum number of peerings.
    TooManyPeers = 2,
    /// PAIR already has its peer.
    PairTaken = 3,
    /// ROUTER: identity in use.
    DuplicateIdentity = 4,
    /// The socket is closing.
    Closing = 5,
    /// The datagram broke the protocol.
    Protocol = 6,
    /// The peering id is not known here (the peer restarted).
    UnknownPeering = 7,
}

impl Reason {
    fn from_u8(b: u8) -> Reason {
        match b {
            1 => Reason::Incompatible,
            2 => Reason::TooManyPeers,
            3 => Reason::PairTaken,
            4 => Reason::DuplicateIdentity,
            5 => Reason::Closing,
            7 => Reason::UnknownPeering,
            _ => Reason::Protocol,
        }
    }
}

/// Why a datagram was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than its header or a declared field.
    Truncated(&'static str),
    /// Not NOM-2 (signature/version).
    BadSignature(u8),
    /// Unknown command.
    UnknownCommand(u8),
    /// Reserved bits set.
    Reserved,
    /// Unknown socket type number.
    BadSocketType(u8),
    /// A record of unknown kind.
    BadRecord(u8),
    /// A frame length past the end of the message.
    BadFrame,
    /// A fragment outside its message, or with an empty piece.
    BadFragment,
    /// A message over the size limit, counting [`vtx_emul::msg::FRAME_COST`] per frame.
    TooLarge,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Truncated(what) => write!(f, "truncated {what}"),
            WireError::BadSignature(b) => write!(f, "not NOM-2 (first octet {b:#04x})"),
            WireError::UnknownCommand(c) => write!(f, "unknown command {c:#04x}"),
            WireError::Reserved => f.write_str("reserved bits set"),
            WireError::BadSocketType(t) => write!(f, "unknown socket type {t}"),
            WireError::BadRecord(k) => write!(f, "unknown record kind {k:#04x}"),
            WireError::BadFrame => f.write_str("frame length past end of message"),
            WireError::BadFragment => f.write_str("fragment outside its message or empty"),
            WireError::TooLarge => f.write_str("message over the size limit"),
        }
    }
}

impl std::error::Error for WireError {}

/// The fixed header (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Command.
    pub cmd: Cmd,
    /// The receiver's peering id (0 in OHAI and in ROTFL for unknown peerings).
    pub peering: u32,
}

/// OHAI / OHAI-OK body (§4.1, §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's peering id: the value the receiver puts in its headers.
    pub sender: u32,
    /// The sender's socket type.
    pub socket_type: SocketType,
    /// The sender's identity (may be empty).
    pub identity: Bytes,
}

/// An address-validation cookie (§4.1); all zero in a first OHAI.
pub type Cookie = [u8; COOKIE_LEN];

/// A decoded datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Datagram {
    /// OHAI, with the cookie it echoes (zero when it has none yet).
    Ohai(Header, Hello, Cookie),
    /// OHAI-OK.
    OhaiOk(Header, Hello),
    /// ROTFL: reason, the peering id it is about (for UnknownPeering), text.
    Rotfl(Header, Reason, u32, Bytes),
    /// HUGZ with the sender's TTL in tenths of a second.
    Hugz(Header, u16),
    /// HUGZ-OK.
    HugzOk(Header),
    /// NOM: the records, still encoded (see [`Records`]).
    Nom(Header, Bytes),
    /// SUB / UNSUB: control sequence and topic.
    Sub(Header, bool, u32, Bytes),
    /// SUB-OK: the control sequence acknowledged.
    SubOk(Header, u32),
    /// KTHXBAI.
    Kthxbai(Header),
    /// WINDOW: the highest data sequence the receiver delivered.
    Window(Header, u32),
    /// COOKIE: the cookie to echo in the next OHAI (header id: the OHAI's nonce).
    Cookie(Header, Cookie),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes one datagram. `data` is shared so message frames can be sliced out of it.
pub fn decode(data: &Bytes) -> Result<Datagram, WireError> {
    let b = &data[..];
    if b.len() < HEADER_LEN {
        return Err(WireError::Truncated("header"));
    }
    if b[0] != SIGNATURE {
        return Err(WireError::BadSignature(b[0]));
    }
    let cmd = Cmd::from_u8(b[1]).ok_or(WireError::UnknownCommand(b[1]))?;
    if b[2] != 0 || b[3] != 0 {
        return Err(WireError::Reserved);
    }
    let h = Header {
        cmd,
        peering: be32(&b[4..8]),
    };
    let body = &b[HEADER_LEN..];
    Ok(match cmd {
        Cmd::Ohai | Cmd::OhaiOk => {
            if body.len() < 6 {
                return Err(WireError::Truncated("hello"));
            }
            let socket_type =
                SocketType::from_raw(body[4]).ok_or(WireError::BadSocketType(body[4]))?;
            let n = usize::from(body[5]);
            let identity = body.get(6..6 + n).ok_or(WireError::Truncated("identity"))?;
            let hello = Hello {
                sender: be32(body),
                socket_type,
                identity: data.slice_ref(identity),
            };
            if cmd == Cmd::Ohai {
                let c = body
                    .get(6 + n..6 + n + COOKIE_LEN)
                    .ok_or(WireError::Truncated("OHAI cookie"))?;
                let mut cookie = [0; COOKIE_LEN];
                cookie.copy_from_slice(c);
                Datagram::Ohai(h, hello, cookie)
            } else {
                Datagram::OhaiOk(h, hello)
            }
        }
        Cmd::Rotfl => {
            if body.len() < 6 {
                return Err(WireError::Truncated("ROTFL"));
            }
            let n = usize::from(body[5]);
            let text = body
                .get(6..6 + n)
                .ok_or(WireError::Truncated("ROTFL text"))?;
            Datagram::Rotfl(
                h,
                Reason::from_u8(body[0]),
                be32(&body[1..5]),
                data.slice_ref(text),
            )
        }
        Cmd::Hugz => {
            let ttl = body.get(..2).ok_or(WireError::Truncated("HUGZ"))?;
            Datagram::Hugz(h, u16::from_be_bytes([ttl[0], ttl[1]]))
        }
        Cmd::HugzOk => Datagram::HugzOk(h),
        Cmd::Nom => Datagram::Nom(h, data.slice(HEADER_LEN..)),
        Cmd::Sub | Cmd::Unsub => {
            if body.len() < 4 {
                return Err(WireError::Truncated("SUB"));
            }
            Datagram::Sub(h, cmd == Cmd::Sub, be32(body), data.slice(HEADER_LEN + 4..))
        }
        Cmd::SubOk => {
            let s = body.get(..4).ok_or(WireError::Truncated("SUB-OK"))?;
            Datagram::SubOk(h, be32(s))
        }
        Cmd::Kthxbai => Datagram::Kthxbai(h),
        Cmd::Window => {
            let s = body.get(..4).ok_or(WireError::Truncated("WINDOW"))?;
            Datagram::Window(h, be32(s))
        }
        Cmd::Cookie => {
            let c = body
                .get(..COOKIE_LEN)
                .ok_or(WireError::Truncated("COOKIE"))?;
            let mut cookie = [0; COOKIE_LEN];
            cookie.copy_from_slice(c);
            Datagram::Cookie(h, cookie)
        }
    })
}

/// Writes a header.
pub fn put_header(out: &mut Vec<u8>, cmd: Cmd, peering: u32) {
    out.extend_from_slice(&[SIGNATURE, cmd as u8, 0, 0]);
    out.put_u32(peering);
}

fn put_hello(out: &mut Vec<u8>, cmd: Cmd, peering: u32, hello: &Hello) {
    put_header(out, cmd, peering);
    out.put_u32(hello.sender);
    out.put_u8(hello.socket_type.to_raw());
    let id = &hello.identity[..hello.identity.len().min(MAX_IDENTITY)];
    out.put_u8(id.len() as u8);
    out.extend_from_slice(id);
}

/// Encodes OHAI (header id 0) echoing `cookie` (zero when the client has none yet).
pub fn encode_ohai(out: &mut Vec<u8>, hello: &Hello, cookie: &Cookie) {
    put_hello(out, Cmd::Ohai, 0, hello);
    out.extend_from_slice(cookie);
}

/// Encodes OHAI-OK to the client's nonce `peering`.
pub fn encode_ohai_ok(out: &mut Vec<u8>, peering: u32, hello: &Hello) {
    put_hello(out, Cmd::OhaiOk, peering, hello);
}

/// Encodes COOKIE to the client's nonce `peering`.
pub fn encode_cookie(out: &mut Vec<u8>, peering: u32, cookie: &Cookie) {
    put_header(out, Cmd::Cookie, peering);
    out.extend_from_slice(cookie);
}

/// Encodes ROTFL.
pub fn encode_rotfl(out: &mut Vec<u8>, peering: u32, reason: Reason, about: u32, text: &str) {
    put_header(out, Cmd::Rotfl, peering);
    out.put_u8(reason as u8);
    out.put_u32(about);
    let t = &text.as_bytes()[..text.len().min(255)];
    out.put_u8(t.len() as u8);
    out.extend_from_slice(t);
}

/// Encodes HUGZ, padded to [`HUGZ_LEN`] (§4.4).
pub fn encode_hugz(out: &mut Vec<u8>, peering: u32, ttl_deci: u16) {
    put_header(out, Cmd::Hugz, peering);
    out.put_u16(ttl_deci);
    out.put_u32(0);
}

/// Encodes SUB/UNSUB.
pub fn encode_sub(out: &mut Vec<u8>, peering: u32, subscribe: bool, cseq: u32, topic: &[u8]) {
    put_header(out, if subscribe { Cmd::Sub } else { Cmd::Unsub }, peering);
    out.put_u32(cseq);
    out.extend_from_slice(topic);
}

/// Encodes WINDOW.
pub fn encode_window(out: &mut Vec<u8>, peering: u32, delivered: u32) {
    put_header(out, Cmd::Window, peering);
    out.put_u32(delivered);
}

/// Encodes SUB-OK.
pub fn encode_sub_ok(out: &mut Vec<u8>, peering: u32, cseq: u32) {
    put_header(out, Cmd::SubOk, peering);
    out.put_u32(cseq);
}

/// Record kinds (§5).
pub const RECORD_MSG: u8 = 0x01;
/// A fragment of a message too large for one datagram.
pub const RECORD_FRAG: u8 = 0x02;
/// Record flag: a request sequence follows the data sequence.
pub const FLAG_RSEQ: u8 = 0x01;

/// One decoded record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A whole message.
    Msg {
        /// Data sequence.
        dseq: u32,
        /// Request sequence.
        rseq: Option<u32>,
        /// The serialized frames (see [`decode_frames`]).
        body: Bytes,
    },
    /// A fragment.
    Frag {
        /// Data sequence of the whole message.
        dseq: u32,
        /// Request sequence.
        rseq: Option<u32>,
        /// Length of the whole serialized message.
        total: u32,
        /// Where this piece goes.
        offset: u32,
        /// The piece.
        chunk: Bytes,
    },
}

/// Iterates the records of a NOM body.
#[derive(Debug)]
pub struct Records {
    body: Bytes,
    pos: usize,
}

impl Records {
    /// Records of a NOM body.
    pub fn new(body: Bytes) -> Records {
        Records { body, pos: 0 }
    }
}

impl Iterator for Records {
    type Item = Result<Record, WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = &self.body[..];
        if self.pos >= b.len() {
            return None;
        }
        let r = (|| {
            let h = b
                .get(self.pos..self.pos + RECORD_HEADER)
                .ok_or(WireError::Truncated("record header"))?;
            let (kind, flags) = (h[0], h[1]);
            if flags & !FLAG_RSEQ != 0 {
                return Err(WireError::Reserved);
            }
            let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
            let dseq = be32(&h[4..8]);
            let mut at = self.pos + RECORD_HEADER;
            let rseq = if flags & FLAG_RSEQ != 0 {
                let s = b
                    .get(at..at + 4)
                    .ok_or(WireError::Truncated("request sequence"))?;
                at += 4;
                Some(be32(s))
            } else {
                None
            };
            let payload = b
                .get(at..at + len)
                .ok_or(WireError::Truncated("record payload"))?;
            self.pos = at + len;
            match kind {
                RECORD_MSG => Ok(Record::Msg {
                    dseq,
                    rseq,
                    body: self.body.slice_ref(payload),
                }),
                RECORD_FRAG => {
                    if payload.len() < 8 {
                        return Err(WireError::Truncated("fragment header"));
                    }
                    let (total, offset) = (be32(payload), be32(&payload[4..]));
                    let chunk = &payload[8..];
                    // §5.3: an empty piece carries nothing and only costs bookkeeping.
                    if chunk.is_empty() || u64::from(offset) + chunk.len() as u64 > u64::from(total)
                    {
                        return Err(WireError::BadFragment);
                    }
                    Ok(Record::Frag {
                        dseq,
                        rseq,
                        total,
                        offset,
                        chunk: self.body.slice_ref(chunk),
                    })
                }
                k => Err(WireError::BadRecord(k)),
            }
        })();
        if r.is_err() {
            self.pos = b.len(); // stop after the first error
        }
        Some(r)
    }
}

/// Length of a record header with or without a request sequence.
pub fn record_header_len(rseq: Option<u32>) -> usize {
    RECORD_HEADER + if rseq.is_some() { 4 } else { 0 }
}

/// Writes a record header; the payload follows.
pub fn put_record_header(out: &mut Vec<u8>, kind: u8, len: usize, dseq: u32, rseq: Option<u32>) {
    out.put_u8(kind);
    out.put_u8(if rseq.is_some() { FLAG_RSEQ } else { 0 });
    out.put_u16(len as u16);
    out.put_u32(dseq);
    if let Some(r) = rseq {
        out.put_u32(r);
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, v: usize) {
    let mut b = [0; 10];
    let n = varint(v, &mut b);
    out.extend_from_slice(&b[..n]);
}

/// Writes `v` as LEB128 into `b`; returns its length.
fn varint(mut v: usize, b: &mut [u8; 10]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        b[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    b[n] = v as u8;
    n + 1
}

/// The longest serialization (§5.1) of a message whose [`Msg::cost`] is within `limit`:
/// a fragmented message that declares more is refused before anything is reserved.
pub fn max_serialized(limit: u64) -> u64 {
    // At most limit / FRAME_COST + 1 frames, each with a length of at most 5 octets.
    limit.saturating_add(5 * (limit / vtx_emul::msg::FRAME_COST + 1))
}

/// Size of a message serialized as frames (§5.1).
pub fn frames_len(msg: &Msg) -> usize {
    msg.iter().map(|f| varint_len(f.len()) + f.len()).sum()
}

/// Serializes a message: each frame as a LEB128 length then its bytes.
pub fn encode_frames(out: &mut Vec<u8>, msg: &Msg) {
    for f in msg {
        put_varint(out, f.len());
        out.extend_from_slice(f);
    }
}

/// A message's serialization ([`encode_frames`]) read out in pieces, so a message
/// that is cut into fragments is copied once, into its datagrams, not serialized whole
/// first.
#[derive(Debug)]
pub struct FramesReader<'a> {
    frames: std::slice::Iter<'a, Bytes>,
    /// The current frame's length prefix, `head[head_at..head_len]` still to copy.
    head: [u8; 10],
    head_at: usize,
    head_len: usize,
    /// The current frame's bytes still to copy, after its prefix.
    body: &'a [u8],
}

impl<'a> FramesReader<'a> {
    /// Reads `msg`'s serialization from the start.
    pub fn new(msg: &'a Msg) -> FramesReader<'a> {
        FramesReader {
            frames: msg.frames().iter(),
            head: [0; 10],
            head_at: 0,
            head_len: 0,
            body: &[],
        }
    }

    /// Appends the next `n` bytes of the serialization to `out` (fewer at its end);
    /// returns how many.
    pub fn read_into(&mut self, out: &mut Vec<u8>, n: usize) -> usize {
        let mut left = n;
        while left > 0 {
            if self.head_at < self.head_len {
                let k = left.min(self.head_len - self.head_at);
                out.extend_from_slice(&self.head[self.head_at..self.head_at + k]);
                self.head_at += k;
                left -= k;
            } else if !self.body.is_empty() {
                let k = left.min(self.body.len());
                out.extend_from_slice(&self.body[..k]);
                self.body = &self.body[k..];
                left -= k;
            } else if let Some(f) = self.frames.next() {
                self.head_len = varint(f.len(), &mut self.head);
                (self.head_at, self.body) = (0, &f[..]);
            } else {
                break;
            }
        }
        n - left
    }
}

/// Parses serialized frames; frames share `body`. At least one frame, and at most
/// `limit` of cost ([`Msg::cost`]: bytes plus [`vtx_emul::msg::FRAME_COST`] per frame
/// after the first), checked as it goes, so a message of countless empty frames stops
/// early.
pub fn decode_frames(body: &Bytes, limit: u64) -> Result<Msg, WireError> {
    let b = &body[..];
    let mut msg = Msg::new();
    let mut pos = 0;
    let mut cost = 0u64;
    while pos < b.len() {
        let mut len: u64 = 0;
        let mut shift = 0;
        loop {
            let byte = *b.get(pos).ok_or(WireError::BadFrame)?;
            pos += 1;
            len |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 28 {
                return Err(WireError::BadFrame);
            }
        }
        let end = pos
            .checked_add(len as usize)
            .filter(|&e| e <= b.len())
            .ok_or(WireError::BadFrame)?;
        cost += len
            + if msg.is_empty() {
                0
            } else {
                vtx_emul::msg::FRAME_COST
            };
        if cost > limit {
            return Err(WireError::TooLarge);
        }
        msg.push(body.slice(pos..end));
        pos = end;
    }
    if msg.is_empty() {
        return Err(WireError::BadFrame);
    }
    Ok(msg)
}
