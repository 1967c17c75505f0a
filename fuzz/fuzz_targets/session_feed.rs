//! What the ZMTP session targets share (included with `#[path]`: not a target).

use bytes::BytesMut;
use vtx_emul::session::{OutBuf, Session, SessionEvent};

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
