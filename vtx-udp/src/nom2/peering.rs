//! One NOM-2 peering's protocol state: data sequence and duplicate suppression (§6.1),
//! reassembly (§5.3), and the reliable subscription channel (§7).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx_emul::pattern::PeerId;

use super::engine::LocalId;

/// `a` comes after `b` in serial-number arithmetic (RFC 1982), so sequences wrap.
pub(crate) fn newer(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// A message being reassembled from fragments.
#[derive(Debug)]
pub(crate) struct Partial {
    pub(crate) dseq: u32,
    pub(crate) rseq: Option<u32>,
    pub(crate) total: usize,
    pub(crate) buf: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    pub(crate) have: Vec<(usize, usize)>,
    pub(crate) deadline: Instant,
}

impl Partial {
    /// Copies a chunk in; true when the message is complete.
    pub(crate) fn add(&mut self, offset: usize, chunk: &[u8]) -> bool {
        let end = offset + chunk.len();
        if end > self.total {
            return false;
        }
        self.buf[offset..end].copy_from_slice(chunk);
        self.have.push((offset, end));
        self.have.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(self.have.len());
        for &(s, e) in &self.have {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.have = merged;
        self.have == [(0, self.total)]
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

    pub(crate) fn reassembly_bytes(&self) -> usize {
        self.partials.iter().map(|p| p.total).sum()
    }
}
