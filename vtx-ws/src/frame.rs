//! RFC 6455 §5 framing, sans-IO: frame headers decoded from the front of a buffer
//! with every length checked before anything is allocated, payloads unmasked in place,
//! frames encoded (masked by clients, with a key the caller draws).
//!
//! ```text
//!  0               1               2               3
//!  FIN RSV1-3 opcode  MASK len7   [len16 | len64]   [masking key]   payload
//! ```

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Largest payload of a control frame (RFC 6455 §5.5).
pub const CONTROL_MAX: usize = 125;

/// A frame's opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// The rest of a fragmented message.
    Continuation,
    /// UTF-8 text (ZWS uses none).
    Text,
    /// Binary data: ZWS's frames.
    Binary,
    /// The close handshake.
    Close,
    /// A ping, to be answered by a pong with its payload.
    Ping,
    /// A pong.
    Pong,
}

impl Opcode {
    fn from_bits(b: u8) -> Option<Opcode> {
        Some(match b {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A frame taken from the buffer, its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The last frame of its message.
    pub fin: bool,
    /// What it is.
    pub opcode: Opcode,
    /// Unmasked.
    pub payload: Bytes,
}

/// Why a frame was refused: the close status to answer with (RFC 6455 §7.4.1), and a
/// reason for the log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WebSocket: {reason} (close {status})")]
pub struct FrameError {
    /// 1002 (protocol error), 1003 (unacceptable data), 1009 (too big).
    pub status: u16,
    /// What was wrong.
    pub reason: &'static str,
}

fn protocol(reason: &'static str) -> FrameError {
    FrameError {
        status: 1002,
        reason,
    }
}

/// Which side decodes: a server requires masked frames, a client unmasked ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// We accepted the connection.
    Server,
    /// We opened it.
    Client,
}

/// Takes one frame from the front of `buf`: `Ok(None)` until it has all arrived. A
/// payload longer than `max` is refused from its header alone (1009), as are reserved
/// bits, unknown opcodes, fragmented or long control frames, and masking the wrong way.
pub fn decode(buf: &mut BytesMut, side: Side, max: u64) -> Result<Option<Frame>, FrameError> {
    let Some(&[b0, b1]) = buf.first_chunk::<2>() else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(protocol("reserved bits set (no extension was agreed)"));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(protocol("an unknown opcode"))?;
    let masked = b1 & 0x80 != 0;
    match (side, masked) {
        (Side::Server, false) => return Err(protocol("an unmasked frame from a client")),
        (Side::Client, true) => return Err(protocol("a masked frame from a server")),
        _ => {}
    }
    let (len, mut at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                (u64::from_be_bytes(a), 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > CONTROL_MAX as u64) {
        return Err(protocol("a fragmented or long control frame"));
    }
    if len > max {
        return Err(FrameError {
            status: 1009,
            reason: "a frame larger than the limit",
        });
    }
    let key = if masked {
        let Some(k) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        let key = [k[0], k[1], k[2], k[3]];
        at += 4;
        Some(key)
    } else {
        None
    };
    let len = len as usize; // at most `max`, which fits in memory
    // Nothing is reserved for a frame still coming: the buffer grows with what
    // arrives, so a peer's cost to us is what it sends, not what a header claims.
    if buf.len() < at + len {
        return Ok(None);
    }
    buf.advance(at);
    let mut payload = buf.split_to(len);
    if let Some(key) = key {
        apply_mask(&mut payload, key);
    }
    Ok(Some(Frame {
        fin,
        opcode,
        payload: payload.freeze(),
    }))
}

/// XORs `data` with the masking key (RFC 6455 §5.3); the same call unmasks.
pub fn apply_mask(data: &mut [u8], key: [u8; 4]) {
    let word = u32::from_ne_bytes(key);
    let (head, rest) = data.split_at_mut(data.len() - data.len() % 4);
    for chunk in head.chunks_exact_mut(4) {
        let v = u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in rest.iter_mut().enumerate() {
        *b ^= key[i];
    }
}

/// Appends a frame's header for a payload of `len` octets; `mask` (clients) is the
/// key the payload that follows must be masked with.
pub fn put_header(
    out: &mut BytesMut,
    fin: bool,
    opcode: Opcode,
    len: usize,
    mask: Option<[u8; 4]>,
) {
    out.put_u8(if fin { 0x80 } else { 0 } | opcode.bits());
    let m = if mask.is_some() { 0x80 } else { 0 };
    match len {
        0..=125 => out.put_u8(m | len as u8),
        126..=0xFFFF => {
            out.put_u8(m | 126);
            out.put_u16(len as u16);
        }
        _ => {
            out.put_u8(m | 127);
            out.put_u64(len as u64);
        }
    }
    if let Some(k) = mask {
        out.put_slice(&k);
    }
}

/// A whole frame: header, then `payload`, masked with `mask` if given.
pub fn encode(
    out: &mut BytesMut,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    put_header(out, fin, opcode, payload.len(), mask);
    let start = out.len();
    out.put_slice(payload);
    if let Some(k) = mask {
        apply_mask(&mut out[start..], k);
    }
}

/// A close frame's payload: the status, then a reason (cut to fit 125 octets).
pub fn close_payload(status: u16, reason: &str) -> Vec<u8> {
    let mut p = status.to_be_bytes().to_vec();
    let mut end = reason.len().min(CONTROL_MAX - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(payload: &[u8], mask: Option<[u8; 4]>, side: Side) -> Frame {
        let mut out = BytesMut::new();
        encode(&mut out, true, Opcode::Binary, payload, mask);
        let mut buf = BytesMut::new();
        // Byte by byte: every prefix is incomplete, never an error.
        for (i, b) in out.iter().enumerate() {
            buf.put_u8(*b);
            let got = decode(&mut buf, side, 1 << 20).unwrap();
            if i + 1 < out.len() {
                assert!(got.is_none(), "complete after {i} of {}", out.len());
            } else {
                return got.unwrap();
            }
        }
        unreachable!()
    }

    #[test]
    fn frames_of_every_length_form_round_trip_masked_and_not() {
        for len in [0, 1, 125, 126, 127, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let f = round_trip(&payload, Some([1, 2, 3, 4]), Side::Server);
            assert_eq!(
                (f.fin, f.opcode, &f.payload[..]),
                (true, Opcode::Binary, &payload[..])
            );
            let f = round_trip(&payload, None, Side::Client);
            assert_eq!(&f.payload[..], &payload[..]);
        }
    }

    #[test]
    fn rfc_6455_examples_decode() {
        // §5.7: a single-frame unmasked text message, and a masked one.
        let mut b = BytesMut::from(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f][..]);
        let f = decode(&mut b, Side::Client, 100).unwrap().unwrap();
        assert_eq!((f.opcode, &f.payload[..]), (Opcode::Text, &b"Hello"[..]));
        let mut b = BytesMut::from(
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ][..],
        );
        let f = decode(&mut b, Side::Server, 100).unwrap().unwrap();
        assert_eq!(&f.payload[..], b"Hello");
    }

    #[test]
    fn bad_frames_are_refused_with_their_status() {
        let cases: [(&[u8], Side, u16); 6] = [
            (&[0x82, 0x05], Side::Server, 1002), // unmasked from a client
            (&[0x82, 0x85, 0, 0, 0, 0], Side::Client, 1002), // masked from a server
            (&[0xC2, 0x00], Side::Client, 1002), // RSV1
            (&[0x83, 0x00], Side::Client, 1002), // opcode 3
            (&[0x09, 0x00], Side::Client, 1002), // fragmented ping
            (&[0x82, 0x7F, 0, 0, 0, 1, 0, 0, 0, 0], Side::Client, 1009), // 4 GiB
        ];
        for (bytes, side, status) in cases {
            let mut b = BytesMut::from(bytes);
            assert_eq!(
                decode(&mut b, side, 1 << 20).unwrap_err().status,
                status,
                "{bytes:?}"
            );
        }
        let mut long_ping = BytesMut::from(&[0x89, 126, 0, 126][..]);
        assert_eq!(
            decode(&mut long_ping, Side::Client, 1 << 20)
                .unwrap_err()
                .status,
            1002
        );
    }

    #[test]
    fn a_close_reason_is_cut_at_a_character_boundary() {
        let p = close_payload(1000, &"é".repeat(100));
        assert!(p.len() <= CONTROL_MAX);
        assert!(std::str::from_utf8(&p[2..]).is_ok());
    }
}
