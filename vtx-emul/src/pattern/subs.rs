//! Subscription index of a publisher: topic -> subscribed peerings.
//!
//! Matching walks only the topic lengths that exist (a 0MQ subscription is a byte
//! prefix), so a publish costs O(distinct lengths + matching peers), not O(peers).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;

use super::peers::PeerId;

#[derive(Debug, Default)]
pub(crate) struct SubIndex {
    topics: HashMap<Bytes, BTreeSet<PeerId>>,
    /// topic length -> number of distinct topics of that length.
    lengths: BTreeMap<usize, usize>,
}

impl SubIndex {
    pub(crate) fn add(&mut self, topic: Bytes, peer: PeerId) {
        let len = topic.len();
        let set = self.topics.entry(topic).or_insert_with(|| {
            *self.lengths.entry(len).or_default() += 1;
            BTreeSet::new()
        });
        set.insert(peer);
    }

    pub(crate) fn remove(&mut self, topic: &[u8], peer: PeerId) {
        let Some(set) = self.topics.get_mut(topic) else {
            return;
        };
        set.remove(&peer);
        if set.is_empty() {
            self.topics.remove(topic);
            if let Some(n) = self.lengths.get_mut(&topic.len()) {
                *n -= 1;
                if *n == 0 {
                    self.lengths.remove(&topic.len());
                }
            }
        }
    }

    /// Appends every peer with a subscription that prefixes `data` (possibly twice: the
    /// caller dedupes).
    pub(crate) fn matches(&self, data: &[u8], out: &mut Vec<PeerId>) {
        for &len in self.lengths.keys() {
            if len > data.len() {
                break;
            }
            if let Some(set) = self.topics.get(&data[..len]) {
                out.extend(set.iter().copied());
            }
        }
    }
}
