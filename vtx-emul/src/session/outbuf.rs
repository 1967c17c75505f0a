//! An output queue for byte streams: small writes coalesce into one buffer, large
//! payloads are queued by reference, and the whole queue goes out in one `writev`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};
use smallvec::SmallVec;

/// Payloads at least this large are queued by reference instead of copied.
const SHARE_MIN: usize = 8 * 1024;
/// Most slices handed to one `writev`.
const MAX_IOV: usize = 64;

/// Bytes waiting to be written to a link.
#[derive(Debug, Default)]
pub struct OutBuf {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl OutBuf {
    /// An empty queue.
    pub fn new() -> OutBuf {
        OutBuf::default()
    }

    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends bytes by copy (headers, small frames).
    pub fn put_slice(&mut self, b: &[u8]) {
        self.tail.extend_from_slice(b);
        self.len += b.len();
    }

    /// Appends a payload, sharing it when it is large.
    pub fn put_bytes(&mut self, b: Bytes) {
        if b.len() < SHARE_MIN {
            self.put_slice(&b);
            return;
        }
        self.seal();
        self.len += b.len();
        self.chunks.push_back(b);
    }

    /// Appends a payload held elsewhere: copied when small (no reference taken, so
    /// no reference count is made for it), shared when large.
    pub fn put_shared(&mut self, b: &Bytes) {
        if b.len() < SHARE_MIN {
            self.put_slice(b);
        } else {
            self.put_bytes(b.clone());
        }
    }

    fn seal(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    /// Writes as much as the writer takes; returns the bytes written (0 only when empty).
    pub fn write_to<W: VectoredWrite + ?Sized>(&mut self, w: &mut W) -> io::Result<usize> {
        self.seal();
        let mut written = 0;
        while !self.chunks.is_empty() {
            let (result, total) = {
                let iov: SmallVec<[IoSlice<'_>; MAX_IOV]> = self
                    .chunks
                    .iter()
                    .take(MAX_IOV)
                    .map(|c| IoSlice::new(c))
                    .collect();
                let total: usize = iov.iter().map(|s| s.len()).sum();
                (w.write_vectored(&iov), total)
            };
            let n = match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && written > 0 => {
                    return Ok(written);
                }
                Err(e) => return Err(e),
            };
            self.consume(n);
            written += n;
            if n < total {
                // Short write: the socket buffer is full; do not spin on EAGAIN.
                return Ok(written);
            }
        }
        Ok(written)
    }

    /// Takes up to `max` bytes off the front as shared chunks, without copying: for
    /// message-oriented links that send the queue in pieces of a bounded size.
    pub fn take_front(&mut self, max: usize) -> Vec<Bytes> {
        self.seal();
        let mut taken = Vec::new();
        let mut room = max;
        while room > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            if front.len() <= room {
                room -= front.len();
                if let Some(c) = self.chunks.pop_front() {
                    taken.push(c);
                }
            } else {
                taken.push(front.split_to(room));
                room = 0;
            }
        }
        self.len -= max - room;
        taken
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

/// Something `writev` can go to.
pub trait VectoredWrite {
    /// Writes from several buffers at once.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl<W: io::Write> VectoredWrite for W {
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        io::Write::write_vectored(self, bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most `cap` bytes per call.
    struct Trickle {
        out: Vec<u8>,
        cap: usize,
    }

    impl io::Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(self.cap);
            self.out.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn keeps_order_across_short_writes() {
        let mut q = OutBuf::new();
        let big = Bytes::from(vec![7u8; 20_000]);
        q.put_slice(b"head");
        q.put_bytes(big.clone());
        q.put_slice(b"tail");
        let mut w = Trickle {
            out: Vec::new(),
            cap: 1000,
        };
        while !q.is_empty() {
            q.write_to(&mut w).unwrap();
        }
        let mut want = b"head".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"tail");
        assert_eq!(w.out, want);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn take_front_splits_at_the_limit() {
        let mut q = OutBuf::new();
        q.put_slice(b"head");
        q.put_bytes(Bytes::from(vec![7u8; 20_000]));
        q.put_slice(b"tail");
        let mut got = Vec::new();
        while !q.is_empty() {
            let piece = q.take_front(1000);
            let n: usize = piece.iter().map(|b| b.len()).sum();
            assert!(n <= 1000 && n > 0);
            got.extend(piece.iter().flat_map(|b| b.iter().copied()));
        }
        assert_eq!(got.len(), 20_008);
        assert_eq!(&got[..4], b"head");
        assert_eq!(&got[got.len() - 4..], b"tail");
        assert_eq!(q.len(), 0);
    }
}
