//! ZMTP frames (RFC 23 §2.4): a flags octet (MORE, LONG, COMMAND), a 1- or 8-octet
//! size, then the body.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::session::OutBuf;

/// More frames follow in this message.
pub const FLAG_MORE: u8 = 0x01;
/// The size is 8 octets.
pub const FLAG_LONG: u8 = 0x02;
/// The frame is a command.
pub const FLAG_COMMAND: u8 = 0x04;

/// Most buffer space reserved ahead of bytes actually received.
const RESERVE_STEP: usize = 4 * 1024 * 1024;

/// A frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// Body length.
    pub size: u64,
    /// Header length on the wire (2 or 9).
    pub header_len: usize,
}

/// Why a frame header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Reserved flag bits set.
    ReservedFlags(u8),
    /// A command with MORE set (commands are single frames).
    MultipartCommand,
    /// Larger than the limit in force.
    TooLarge {
        /// Declared size.
        size: u64,
        /// Limit.
        limit: u64,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedFlags(fl) => write!(f, "reserved frame flags set ({fl:#04x})"),
            FrameError::MultipartCommand => f.write_str("command frame with MORE flag"),
            FrameError::TooLarge { size, limit } => {
                write!(f, "frame of {size} bytes exceeds limit {limit}")
            }
        }
    }
}

/// Parses a header from the front of `b`; `Ok(None)` when more bytes are needed.
/// `limit` is checked here, before the caller reserves anything for the body.
pub fn parse_header(b: &[u8], limit: u64) -> Result<Option<Header>, FrameError> {
    let Some(&flags) = b.first() else {
        return Ok(None);
    };
    if flags & !(FLAG_MORE | FLAG_LONG | FLAG_COMMAND) != 0 {
        return Err(FrameError::ReservedFlags(flags));
    }
    let (more, long, command) = (
        flags & FLAG_MORE != 0,
        flags & FLAG_LONG != 0,
        flags & FLAG_COMMAND != 0,
    );
    if command && more {
        return Err(FrameError::MultipartCommand);
    }
    let (size, header_len) = if long {
        let Some(raw) = b.get(1..9) else {
            return Ok(None);
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(raw);
        (u64::from_be_bytes(a), 9)
    } else {
        let Some(&s) = b.get(1) else { return Ok(None) };
        (u64::from(s), 2)
    };
    if size > limit {
        return Err(FrameError::TooLarge { size, limit });
    }
    Ok(Some(Header {
        more,
        command,
        size,
        header_len,
    }))
}

/// A decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// MORE flag.
    pub more: bool,
    /// COMMAND flag.
    pub command: bool,
    /// The body, shared with the receive buffer.
    pub body: Bytes,
}

/// Takes one whole frame off the front of `buf` (zero-copy); `Ok(None)` when incomplete.
/// Reserves room for a large body once its header has passed the limit.
pub fn decode(buf: &mut BytesMut, limit: u64) -> Result<Option<Frame>, FrameError> {
    let Some(h) = parse_header(buf, limit)? else {
        return Ok(None);
    };
    // size <= limit, which the caller keeps within memory bounds.
    let total = h.header_len + h.size as usize;
    if buf.len() < total {
        // Grow toward the body in steps: a peer that announces a large frame and stalls
        // holds at most one step more than it actually sent.
        buf.reserve((total - buf.len()).min(RESERVE_STEP));
        return Ok(None);
    }
    buf.advance(h.header_len);
    let body = buf.split_to(h.size as usize).freeze();
    Ok(Some(Frame {
        more: h.more,
        command: h.command,
        body,
    }))
}

/// Writes a frame header.
pub fn encode_header(out: &mut OutBuf, size: usize, more: bool, command: bool) {
    let mut flags = 0;
    if more {
        flags |= FLAG_MORE;
    }
    if command {
        flags |= FLAG_COMMAND;
    }
    if size > 255 {
        let mut h = [0u8; 9];
        h[0] = flags | FLAG_LONG;
        h[1..].copy_from_slice(&(size as u64).to_be_bytes());
        out.put_slice(&h);
    } else {
        out.put_slice(&[flags, size as u8]);
    }
}

/// Writes a whole frame.
pub fn encode(out: &mut OutBuf, body: &Bytes, more: bool, command: bool) {
    encode_header(out, body.len(), more, command);
    out.put_shared(body);
}
