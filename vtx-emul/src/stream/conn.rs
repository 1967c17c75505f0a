//! One link of the stream transport: the link, its peering and its read size.

use std::io;

use bytes::BytesMut;

use super::{Link, Session};
use crate::peering::Peering;

/// A link and the peering on it.
pub(super) struct Conn<L, S> {
    pub(super) link: L,
    pub(super) peering: Peering<S>,
    read_size: usize,
    /// The link itself still holds bytes (TLS records) it could not write yet.
    link_pending: bool,
    /// A refused link whose side of the stream we ended: it only waits for the peer
    /// to close.
    pub(super) shut: bool,
    /// The listener it was accepted on (server links), for [`super::Link::route`].
    pub(super) listener: Option<usize>,
}

impl<L: Link, S: Session> Conn<L, S> {
    pub(super) fn new(link: L, peering: Peering<S>) -> Self {
        Conn {
            link,
            peering,
            read_size: super::transport::INITIAL_READ,
            link_pending: false,
            shut: false,
            listener: None,
        }
    }

    /// One read into the receive buffer; returns the bytes read.
    pub(super) fn read(&mut self) -> io::Result<usize> {
        let rbuf = &mut self.peering.rbuf;
        let start = rbuf.len();
        rbuf.resize(start + self.read_size, 0);
        let r = self.link.read(&mut rbuf[start..]);
        let n = *r.as_ref().unwrap_or(&0);
        rbuf.truncate(start + n);
        self.read_size = super::transport::read_size(n, self.read_size);
        compact(rbuf);
        r
    }

    /// Frees the receive buffer when nothing is left in it.
    pub(super) fn release_idle_buffer(&mut self) {
        if self.peering.release_idle_buffer() {
            self.read_size = super::transport::INITIAL_READ;
        }
    }

    /// Writes what is queued. `Ok(true)` when everything went out.
    pub(super) fn write(&mut self) -> io::Result<bool> {
        let out = &mut self.peering.out;
        if !out.is_empty() {
            match out.write_to(&mut LinkWriter(&mut self.link)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let flushed = self.link.flush_link()?;
        self.link_pending = !flushed;
        Ok(flushed && self.peering.out.is_empty())
    }

    /// Bytes queued for the link, in the output buffer or in the link itself.
    pub(super) fn has_pending(&self) -> bool {
        !self.peering.out.is_empty() || self.link_pending
    }
}

/// Frames decoded from the receive buffer share its allocation (zero-copy), so each
/// holds all of it while the application has not taken it. A buffer that reads filled
/// well holds about what its frames are; one that a trickle of small reads left mostly
/// empty moves its bytes to an allocation of their size, so that a peer sending a frame
/// per read cannot make each hold 16 KiB or more. Reads at speed never copy.
fn compact(rbuf: &mut BytesMut) {
    if rbuf.capacity() > COMPACT_MIN && rbuf.len() * 4 < rbuf.capacity() {
        *rbuf = BytesMut::from(&rbuf[..]);
    }
}

/// Buffers up to this size are left as they are.
const COMPACT_MIN: usize = 4 * 1024;

struct LinkWriter<'a, L>(&'a mut L);

impl<L: Link> super::VectoredWrite for LinkWriter<'_, L> {
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparse_buffer_moves_to_one_of_its_size_a_full_one_stays() {
        let mut sparse = BytesMut::with_capacity(16 * 1024);
        sparse.extend_from_slice(&[1; 20]);
        compact(&mut sparse);
        assert_eq!(&sparse[..], &[1; 20]);
        assert!(sparse.capacity() < 1024, "{}", sparse.capacity());
        let mut full = BytesMut::with_capacity(16 * 1024);
        full.extend_from_slice(&[2; 8 * 1024]);
        let at = full.as_ptr();
        compact(&mut full);
        assert_eq!(full.as_ptr(), at, "a well-filled buffer is not copied");
    }
}
