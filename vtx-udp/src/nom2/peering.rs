//! One NOM-2 peering's protocol state: data sequence and duplicate suppression (§6.1),
//! reassembly (§5.3), and the reliable subscription channel (§7).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx_emul::pattern::PeerId;

use super::engine::LocalId;

/// Most datagrams kept for a peering the Vocket has not taken yet.
pub(crate) const EARLY_MAX: usize = 16;

/// `a` comes after `b` in serial-number arithmetic (RFC 1982), so sequences wrap.
pub(crate) fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// A legitimate sender cuts a message into pieces of at least this many octets (all
/// but the last; `Config::max_datagram` is at least 576), so a message of `total`
/// octets arrives in at most `total / MIN_PIECE + 1` pieces (§5.3).
pub(crate) const MIN_PIECE: usize = 256;
/// Reassembly budget charged per piece for its bookkeeping, whatever its size.
pub(crate) const PIECE_COST: usize = 64;

/// Why a fragment was refused; the partial message it belonged to is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceError {
    /// It overlaps octets already received without being a duplicate of a piece.
    Overlap,
    /// More pieces than a sender cutting at least 256 octets a piece could send.
    TooMany,
}

/// A message being reassembled from fragments (§5.3), in the way a TCP receiver
/// reassembles a stream: the in-order prefix goes straight into one buffer, pieces
/// after a gap wait in an ordered map until the gap fills. Every piece costs O(log n)
/// in the pieces waiting, and their number is bounded by [`MIN_PIECE`].
#[derive(Debug)]
pub(crate) struct Partial {
    pub(crate) dseq: u32,
    pub(crate) rseq: Option<u32>,
    pub(crate) total: usize,
    pub(crate) deadline: Instant,
    /// The first octets of the message, in order; room for all of it is reserved when
    /// the first in-order piece arrives (or given by [`Partial::give_buffer`]).
    prefix: Vec<u8>,
    /// Pieces after a gap, by offset, with the memory each holds (its own bytes, or
    /// the datagram a shared piece keeps alive): disjoint, none touching the prefix.
    /// A small piece is copied out so it does not hold its whole datagram.
    ahead: BTreeMap<usize, (Bytes, usize)>,
    /// The memory held by the pieces in `ahead`.
    ahead_held: usize,
    pieces: usize,
}

/// What [`Partial::add`] did with a piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    /// Taken.
    Added,
    /// Already had those octets (a duplicated datagram): ignored.
    Duplicate,
}

impl Partial {
    pub(crate) fn new(dseq: u32, rseq: Option<u32>, total: usize, deadline: Instant) -> Partial {
        Partial {
            dseq,
            rseq,
            total,
            deadline,
            prefix: Vec::new(),
            ahead: BTreeMap::new(),
            ahead_held: 0,
            pieces: 0,
        }
    }

    /// Memory this partial holds or has reserved, with its bookkeeping: what it is
    /// charged against the reassembly budget.
    pub(crate) fn charge(&self) -> usize {
        self.prefix.capacity() + self.ahead_held + PIECE_COST * self.pieces
    }

    /// The most `add` can raise [`Partial::charge`] by for a piece of `len` octets at
    /// `offset` arriving in a datagram of `datagram` octets. The first in-order piece
    /// brings room for the whole message, which a pooled buffer may exceed by an
    /// eighth (`pool::BufPool::take`).
    pub(crate) fn charge_bound(&self, offset: usize, len: usize, datagram: usize) -> usize {
        let data = if offset == self.prefix.len() && self.prefix.capacity() == 0 {
            self.total + self.total / 8
        } else {
            len.max(datagram)
        };
        data + PIECE_COST
    }

    /// Takes one piece (non-empty, within the message: the decoder checked). `datagram`
    /// is the length of the datagram `piece` was sliced from.
    pub(crate) fn add(
        &mut self,
        offset: usize,
        piece: Bytes,
        datagram: usize,
    ) -> Result<Piece, PieceError> {
        let end = offset + piece.len();
        let have = self.prefix.len();
        if end <= have {
            return Ok(Piece::Duplicate);
        }
        if offset < have {
            return Err(PieceError::Overlap);
        }
        // The pieces waiting on either side must not overlap it (every key in `ahead`
        // is past the prefix, so for an in-order piece only the next one matters).
        if let Some((&s, (p, _))) = self.ahead.range(..=offset).next_back() {
            if s == offset && p.len() == piece.len() {
                return Ok(Piece::Duplicate);
            }
            if s + p.len() > offset {
                return Err(PieceError::Overlap);
            }
        }
        if let Some((&s, _)) = self.ahead.range(offset + 1..).next()
            && s < end
        {
            return Err(PieceError::Overlap);
        }
        // Already total / MIN_PIECE + 1 pieces: no honest sender sends another.
        if self.pieces > self.total / MIN_PIECE {
            return Err(PieceError::TooMany);
        }
        self.pieces += 1;
        if offset > have {
            let (piece, held) = if piece.len() * 2 < datagram {
                let n = piece.len();
                (Bytes::copy_from_slice(&piece), n)
            } else {
                (piece, datagram)
            };
            self.ahead_held += held;
            self.ahead.insert(offset, (piece, held));
            return Ok(Piece::Added);
        }
        if self.prefix.capacity() == 0 {
            self.prefix.reserve_exact(self.total);
        }
        self.prefix.extend_from_slice(&piece);
        // The gap closed: pieces that now follow the prefix join it.
        while let Some(entry) = self.ahead.first_entry() {
            if *entry.key() != self.prefix.len() {
                break;
            }
            let (p, held) = entry.remove();
            self.ahead_held -= held;
            self.prefix.extend_from_slice(&p);
        }
        Ok(Piece::Added)
    }

    /// Whether every octet has arrived.
    pub(crate) fn is_complete(&self) -> bool {
        self.prefix.len() == self.total
    }

    /// Whether a piece at `offset` would start the prefix, reserving room for the whole
    /// message: the caller may give that room with [`Partial::give_buffer`] first.
    pub(crate) fn wants_buffer(&self, offset: usize) -> bool {
        offset == 0 && self.prefix.capacity() == 0
    }

    /// Room for the whole message: an empty buffer of at least `total` octets'
    /// capacity (charged as it is).
    pub(crate) fn give_buffer(&mut self, buf: Vec<u8>) {
        debug_assert!(buf.is_empty() && buf.capacity() >= self.total);
        self.prefix = buf;
    }

    /// The whole message, once complete.
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.prefix
    }
}

/// Where a peering came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A peer's OHAI reached one of our bound sockets.
    Accepted,
    /// Our connecter (slab key) got an OHAI-OK.
    Connected(usize),
}

/// A GSO batch being built: datagrams of `seg` bytes, the last possibly shorter.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) local: LocalId,
    pub(crate) dst: SocketAddr,
    pub(crate) buf: Vec<u8>,
    pub(crate) seg: usize,
    pub(crate) count: usize,
    /// A shorter datagram ended it: nothing more may be appended.
    pub(crate) closed: bool,
}

/// Bytes of one GSO batch at most: a UDP send takes at most 64 KiB.
pub(crate) const BATCH_BYTES: usize = 65_000;

impl Batch {
    /// A batch of one datagram, the bytes of `buf`.
    pub(crate) fn new(local: LocalId, dst: SocketAddr, buf: Vec<u8>) -> Batch {
        Batch {
            local,
            dst,
            seg: buf.len(),
            buf,
            count: 1,
            closed: false,
        }
    }

    /// Whether a datagram of `len` bytes may follow, in batches of `max_seg` at most.
    pub(crate) fn takes(&self, len: usize, max_seg: usize) -> bool {
        !self.closed
            && self.count < max_seg
            && len <= self.seg
            && self.buf.len() + len <= BATCH_BYTES
    }

    /// Counts a datagram of `len` bytes appended to `buf`.
    pub(crate) fn appended(&mut self, len: usize) {
        self.count += 1;
        self.closed = len < self.seg;
    }
}

#[derive(Debug)]
pub(crate) struct Peering {
    pub(crate) generation: u32,
    pub(crate) local: LocalId,
    pub(crate) remote: SocketAddr,
    /// The id the peer puts in its headers to reach us.
    pub(crate) local_id: u32,
    /// The id we put in our headers to reach the peer.
    pub(crate) remote_id: u32,
    pub(crate) origin: Origin,
    /// The owner's Vocket accepted it.
    pub(crate) peer: Option<PeerId>,
    pub(crate) tx_dseq: u32,
    pub(crate) rx_dseq: Option<u32>,
    pub(crate) partials: Vec<Partial>,
    /// The reassembly expiry timer armed for this peering (one at a time).
    pub(crate) reassembly_at: Option<Instant>,
    /// Control commands waiting for their SUB-OK, the head in flight.
    pub(crate) ctl_out: VecDeque<(bool, Bytes)>,
    pub(crate) ctl_seq: u32,
    pub(crate) ctl_rto: Duration,
    pub(crate) ctl_deadline: Option<Instant>,
    pub(crate) ctl_in_next: u32,
    /// Highest data sequence of ours the peer acknowledged (§6.4).
    pub(crate) acked: u32,
    /// Messages sent and not yet acknowledged: (data sequence, bytes).
    pub(crate) inflight: VecDeque<(u32, usize)>,
    pub(crate) inflight_bytes: usize,
    /// Highest data sequence we acknowledged to the peer.
    pub(crate) rx_acked: u32,
    /// Bytes delivered since our last WINDOW.
    pub(crate) rx_unacked_bytes: usize,
    /// The application pipe is full: acknowledgements withheld.
    pub(crate) paused: bool,
    /// Datagrams that came before the Vocket took the peering (a server's first
    /// messages may follow its OHAI-OK in the same read): replayed when it does, at most
    /// [`EARLY_MAX`] of them.
    pub(crate) early: Vec<(super::wire::Datagram, usize)>,
    pub(crate) ack_deadline: Option<Instant>,
    pub(crate) probe_deadline: Option<Instant>,
    /// The datagram being packed.
    pub(crate) cur: Vec<u8>,
    pub(crate) batch: Option<Batch>,
}

impl Peering {
    pub(crate) fn new(
        generation: u32,
        local: LocalId,
        remote: SocketAddr,
        local_id: u32,
        remote_id: u32,
        origin: Origin,
    ) -> Peering {
        Peering {
            generation,
            local,
            remote,
            local_id,
            remote_id,
            origin,
            peer: None,
            tx_dseq: 0,
            rx_dseq: None,
            partials: Vec::new(),
            reassembly_at: None,
            ctl_out: VecDeque::new(),
            ctl_seq: 1,
            ctl_rto: Duration::ZERO,
            ctl_deadline: None,
            ctl_in_next: 1,
            acked: 0,
            inflight: VecDeque::new(),
            inflight_bytes: 0,
            rx_acked: 0,
            rx_unacked_bytes: 0,
            paused: false,
            early: Vec::new(),
            ack_deadline: None,
            probe_deadline: None,
            cur: Vec::new(),
            batch: None,
        }
    }

    /// Whether a data sequence is new (not a duplicate or late), per §6.1.
    pub(crate) fn fresh(&self, dseq: u32) -> bool {
        self.rx_dseq.is_none_or(|h| newer(dseq, h))
    }

    /// What this peering's partial messages are charged against the budget.
    pub(crate) fn reassembly_charge(&self) -> usize {
        self.partials.iter().map(Partial::charge).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(total: usize) -> Partial {
        Partial::new(1, None, total, Instant::now())
    }

    fn piece(n: usize) -> Bytes {
        Bytes::from(vec![7u8; n])
    }

    #[test]
    fn pieces_in_any_order_complete_the_message() {
        let mut p = partial(1000);
        assert_eq!(p.add(600, piece(400), 1400), Ok(Piece::Added));
        assert_eq!(p.add(300, piece(300), 1400), Ok(Piece::Added));
        assert!(!p.is_complete());
        assert_eq!(p.add(0, piece(300), 1400), Ok(Piece::Added));
        assert!(p.is_complete());
        assert_eq!(p.charge(), 1000 + 3 * PIECE_COST, "waiting pieces released");
        assert_eq!(p.into_vec().len(), 1000);
    }

    #[test]
    fn duplicates_are_ignored_and_overlaps_refused() {
        let mut p = partial(1000);
        assert_eq!(p.add(0, piece(300), 1400), Ok(Piece::Added));
        assert_eq!(p.add(0, piece(300), 1400), Ok(Piece::Duplicate));
        assert_eq!(
            p.add(100, piece(100), 1400),
            Ok(Piece::Duplicate),
            "inside the prefix"
        );
        assert_eq!(
            p.add(200, piece(200), 1400),
            Err(PieceError::Overlap),
            "across its end"
        );
        assert_eq!(p.add(600, piece(300), 1400), Ok(Piece::Added));
        assert_eq!(p.add(600, piece(300), 1400), Ok(Piece::Duplicate));
        assert_eq!(
            p.add(500, piece(200), 1400),
            Err(PieceError::Overlap),
            "into a waiting piece"
        );
        assert_eq!(
            p.add(700, piece(100), 1400),
            Err(PieceError::Overlap),
            "inside a waiting piece"
        );
        assert_eq!(
            p.add(850, piece(100), 1400),
            Err(PieceError::Overlap),
            "from inside one"
        );
        // In order, but running into a piece that waits after the gap.
        assert_eq!(p.add(300, piece(400), 1400), Err(PieceError::Overlap));
        assert_eq!(p.add(300, piece(300), 1400), Ok(Piece::Added));
        assert_eq!(p.add(900, piece(100), 1400), Ok(Piece::Added));
        assert!(p.is_complete());
    }

    #[test]
    fn more_pieces_than_a_sender_cuts_are_refused() {
        let total = 4 * MIN_PIECE;
        let mut p = partial(total);
        for i in 0..=total / MIN_PIECE {
            assert_eq!(p.add(2 * i, piece(1), 1400), Ok(Piece::Added), "piece {i}");
        }
        assert_eq!(p.add(100, piece(1), 1400), Err(PieceError::TooMany));
    }

    #[test]
    fn small_pieces_are_charged_their_size_large_ones_their_datagram() {
        let mut p = partial(10_000);
        p.add(5000, piece(10), 1400).unwrap();
        assert_eq!(p.charge(), 10 + PIECE_COST, "copied out of its datagram");
        p.add(7000, piece(1000), 1400).unwrap();
        assert_eq!(p.charge(), 10 + 1400 + 2 * PIECE_COST, "holds its datagram");
        assert!(
            p.charge_bound(0, 100, 1400) >= 10_000,
            "the first in-order piece reserves all"
        );
    }
}
