//! One link of the stream transport: its buffers and handshake state.

use std::io;

use bytes::BytesMut;

use super::{Link, OutBuf, Session};
use crate::pattern::PeerId;
use crate::runtime::SocketId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Non-blocking connect in progress.
    Connecting,
    /// Session handshake in progress.
    Handshaking,
    /// The peering is up in the Vocket.
    Up,
    /// Refused: flushing the reject, then closing.
    Closing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin {
    Accepted,
    /// Made by this connecter (slab key), which reconnects when it closes.
    Connected(usize),
}

pub(super) struct Conn<L, S> {
    pub(super) generation: u32,
    pub(super) sock: SocketId,
    pub(super) link: L,
    pub(super) session: S,
    pub(super) rbuf: BytesMut,
    pub(super) out: OutBuf,
    pub(super) peer: Option<PeerId>,
    pub(super) address: String,
    pub(super) origin: Origin,
    pub(super) state: State,
    pub(super) paused: bool,
    read_size: usize,
}

impl<L: Link, S: Session> Conn<L, S> {
    pub(super) fn new(
        generation: u32,
        sock: SocketId,
        link: L,
        session: S,
        address: String,
        origin: Origin,
        connecting: bool,
    ) -> Self {
        Conn {
            generation,
            sock,
            link,
            session,
            rbuf: BytesMut::new(),
            out: OutBuf::new(),
            peer: None,
            address,
            origin,
            state: if connecting {
                State::Connecting
            } else {
                State::Handshaking
            },
            paused: false,
            read_size: super::INITIAL_READ,
        }
    }

    /// One read into the receive buffer; returns the bytes read.
    pub(super) fn read(&mut self) -> io::Result<usize> {
        let start = self.rbuf.len();
        self.rbuf.resize(start + self.read_size, 0);
        let r = self.link.read(&mut self.rbuf[start..]);
        let n = *r.as_ref().unwrap_or(&0);
        self.rbuf.truncate(start + n);
        self.read_size = super::read_size(n, self.read_size);
        compact(&mut self.rbuf);
        r
    }

    /// Frees the receive buffer when nothing is left in it: an idle link holds no
    /// read buffer (10,000 idle peerings would otherwise keep 16 KiB each).
    pub(super) fn release_idle_buffer(&mut self) {
        if self.rbuf.is_empty() && self.rbuf.capacity() > 0 {
            self.rbuf = BytesMut::new();
            self.read_size = super::INITIAL_READ;
        }
    }

    /// Writes what is queued. `Ok(true)` when everything went out.
    pub(super) fn write(&mut self) -> io::Result<bool> {
        if !self.out.is_empty() {
            match self.out.write_to(&mut LinkWriter(&mut self.link)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let flushed = self.link.flush_link()?;
        Ok(flushed && self.out.is_empty())
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
