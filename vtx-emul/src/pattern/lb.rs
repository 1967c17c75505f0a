//! Round-robin over the peerings that can take a message now (libzmq's `lb_t`).
//!
//! Activation and deactivation are O(1): the active list is unordered and a leaving
//! peer is swapped with the last one, its slot index kept in the peer.

use super::peers::{PeerId, Peers};

#[derive(Debug, Default)]
pub(crate) struct LoadBalancer {
    active: Vec<PeerId>,
    current: usize,
}

impl LoadBalancer {
    pub(crate) fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    pub(crate) fn activate(&mut self, peers: &mut Peers, id: PeerId) {
        let Some(peer) = peers.get_mut(id) else {
            return;
        };
        if peer.lb_slot.is_none() {
            peer.lb_slot = Some(self.active.len());
            self.active.push(id);
        }
    }

    pub(crate) fn deactivate(&mut self, peers: &mut Peers, id: PeerId) {
        let Some(slot) = peers.get_mut(id).and_then(|p| p.lb_slot.take()) else {
            return;
        };
        let last = self.active.len() - 1;
        self.active.swap_remove(slot);
        if slot < last {
            let moved = self.active[slot];
            if let Some(p) = peers.get_mut(moved) {
                p.lb_slot = Some(slot);
            }
        }
        if self.current >= self.active.len() {
            self.current = 0;
        }
    }

    /// The next peering in turn, if any is active.
    pub(crate) fn next(&mut self) -> Option<PeerId> {
        let id = *self.active.get(self.current)?;
        self.current = (self.current + 1) % self.active.len();
        Some(id)
    }
}
