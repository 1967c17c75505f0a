//! The peering table of one Vocket: a generational slab, so a stale [`PeerId`] held by a
//! transport after the peering died can never reach a newer peering in the same slot.

use std::collections::{BTreeSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::{PeerInfo, Transmit};
use crate::Msg;

/// Names one peering of one Vocket. Cheap to copy; stale ids are harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId {
    index: u32,
    generation: u32,
}

impl PeerId {
    /// The 8-byte routing frame a REP pipe carries for this peering.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&self.index.to_be_bytes());
        b[4..].copy_from_slice(&self.generation.to_be_bytes());
        b
    }

    /// Inverse of [`PeerId::to_bytes`]; `None` unless exactly 8 bytes.
    pub fn from_bytes(b: &[u8]) -> Option<PeerId> {
        let b: &[u8; 8] = b.try_into().ok()?;
        let [i0, i1, i2, i3, g0, g1, g2, g3] = *b;
        Some(PeerId {
            index: u32::from_be_bytes([i0, i1, i2, i3]),
            generation: u32::from_be_bytes([g0, g1, g2, g3]),
        })
    }
}

/// State of one live peering.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) info: PeerInfo,
    /// What the application may ask about it, shared with the messages it sent.
    pub(crate) props: std::sync::Arc<super::PeerProperties>,
    /// ROUTER: the identity this peering is addressed by.
    pub(crate) route_id: Bytes,
    /// Data messages waiting for the transport; bounded by SNDHWM.
    pub(crate) queue: VecDeque<Transmit>,
    /// Subscriptions and heartbeats: never dropped, sent before data.
    pub(crate) control: VecDeque<Transmit>,
    /// Messages from this peering waiting for the application pipe; bounded by RCVHWM
    /// as a libzmq pipe is ([`super::fq`]).
    pub(crate) inbox: VecDeque<Msg>,
    /// Listed in the fair queue's turn order.
    pub(crate) in_turn: bool,
    /// When the next PING is due (every HEARTBEAT_IVL, as libzmq).
    pub(crate) next_ping: Option<Instant>,
    /// Listed in the Vocket's ready queue.
    pub(crate) in_ready: bool,
    /// Position in the load balancer's active list, when active.
    pub(crate) lb_slot: Option<usize>,
    /// The transport was told to stop reading this peering.
    pub(crate) paused: bool,
    pub(crate) ping_sent_at: Option<Instant>,
    pub(crate) ttl_deadline: Option<Instant>,
    /// The heartbeat timer currently armed for this peering.
    pub(crate) timer_at: Option<Instant>,
    /// PUB/XPUB: this peer's subscriptions (a set, as libzmq's per-pipe trie).
    pub(crate) subs: BTreeSet<Bytes>,
    /// PUB/XPUB: the bytes of the topics in `subs`.
    pub(crate) subs_bytes: usize,
    /// PUB/XPUB: the publish round that last matched this peer (dedupes prefixes).
    pub(crate) pub_round: u64,
    /// REP/ROUTER: the sequence of the last request seen from this peer.
    pub(crate) last_seq: Option<u32>,
    /// REP: the reply to `last_seq`, kept for resending to a lossy peer.
    pub(crate) cached_reply: Option<Msg>,
}

impl Peer {
    pub(crate) fn new(mut info: PeerInfo, route_id: Bytes) -> Peer {
        Peer {
            props: std::sync::Arc::new(super::PeerProperties::new(&mut info)),
            info,
            route_id,
            queue: VecDeque::new(),
            control: VecDeque::new(),
            inbox: VecDeque::new(),
            in_turn: false,
            next_ping: None,
            in_ready: false,
            lb_slot: None,
            paused: false,
            ping_sent_at: None,
            ttl_deadline: None,
            timer_at: None,
            subs: BTreeSet::new(),
            subs_bytes: 0,
            pub_round: 0,
            last_seq: None,
            cached_reply: None,
        }
    }
}

#[derive(Debug)]
enum Slot {
    Vacant {
        generation: u32,
        next_free: Option<u32>,
    },
    Occupied {
        generation: u32,
        peer: Box<Peer>,
    },
}

/// Generational slab of peerings.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    slots: Vec<Slot>,
    free: Option<u32>,
    len: usize,
}

impl Peers {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn insert(&mut self, peer: Peer) -> PeerId {
        self.len += 1;
        let peer = Box::new(peer);
        if let Some(index) = self.free {
            let slot = &mut self.slots[index as usize];
            let (generation, next_free) = match *slot {
                Slot::Vacant {
                    generation,
                    next_free,
                } => (generation, next_free),
                Slot::Occupied { .. } => unreachable!("free list points at an occupied slot"),
            };
            self.free = next_free;
            *slot = Slot::Occupied { generation, peer };
            PeerId { index, generation }
        } else {
            let index = u32::try_from(self.slots.len()).unwrap_or(u32::MAX);
            self.slots.push(Slot::Occupied {
                generation: 0,
                peer,
            });
            PeerId {
                index,
                generation: 0,
            }
        }
    }

    pub(crate) fn get(&self, id: PeerId) -> Option<&Peer> {
        match self.slots.get(id.index as usize)? {
            Slot::Occupied { generation, peer } if *generation == id.generation => Some(peer),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, id: PeerId) -> Option<&mut Peer> {
        match self.slots.get_mut(id.index as usize)? {
            Slot::Occupied { generation, peer } if *generation == id.generation => Some(peer),
            _ => None,
        }
    }

    pub(crate) fn remove(&mut self, id: PeerId) -> Option<Box<Peer>> {
        let slot = self.slots.get_mut(id.index as usize)?;
        match slot {
            Slot::Occupied { generation, .. } if *generation == id.generation => {
                let next = Slot::Vacant {
                    generation: generation.wrapping_add(1),
                    next_free: self.free,
                };
                let Slot::Occupied { peer, .. } = std::mem::replace(slot, next) else {
                    return None;
                };
                self.free = Some(id.index);
                self.len -= 1;
                Some(peer)
            }
            _ => None,
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (PeerId, &Peer)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { generation, peer } => Some((
                PeerId {
                    index: i as u32,
                    generation: *generation,
                },
                &**peer,
            )),
            Slot::Vacant { .. } => None,
        })
    }

    pub(crate) fn ids(&self) -> Vec<PeerId> {
        self.iter().map(|(id, _)| id).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SocketType;

    fn info() -> PeerInfo {
        PeerInfo::new(SocketType::Dealer, "test://x", 1)
    }

    #[test]
    fn stale_ids_miss_reused_slots() {
        let mut peers = Peers::default();
        let a = peers.insert(Peer::new(info(), Bytes::new()));
        assert!(peers.remove(a).is_some());
        let b = peers.insert(Peer::new(info(), Bytes::new()));
        assert_ne!(a, b);
        assert!(peers.get(a).is_none());
        assert!(peers.get(b).is_some());
        assert!(peers.remove(a).is_none());
        assert_eq!(peers.len(), 1);
    }

    #[test]
    fn routing_frame_round_trips() {
        let id = PeerId {
            index: 7,
            generation: 3,
        };
        assert_eq!(PeerId::from_bytes(&id.to_bytes()), Some(id));
        assert_eq!(PeerId::from_bytes(b"short"), None);
    }
}
