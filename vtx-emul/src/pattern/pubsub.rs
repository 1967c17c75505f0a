//! PUB/XPUB and SUB/XSUB: per-peering filtering at the publisher, the union of remote
//! subscriptions forwarded to the application pipe, and the application's subscriptions
//! forwarded to every publisher peering (including ones that come up later).
//!
//! Subscriptions are sets per peering, as in libzmq's per-pipe trie: subscribing twice
//! and cancelling once removes the topic. The application pipe (an XSUB in the driver)
//! refcounts across peerings, so the application sees the union.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::subs::SubIndex;
use super::{DropReason, Flow, Kind, PeerId, Transmit, Vocket};
use crate::Msg;

#[derive(Debug, Default)]
pub(super) struct PubState {
    index: SubIndex,
    round: u64,
    scratch: Vec<PeerId>,
}

#[derive(Debug, Default)]
pub(super) struct SubState {
    topics: BTreeSet<Bytes>,
    /// The longest topic in `topics`: how many prefixes of a message to look up.
    longest: usize,
}

impl SubState {
    /// Whether the application's subscriptions take `msg` (prefix match on its first
    /// frame, as libzmq's), in O(longest topic × log topics).
    pub(super) fn matches(&self, msg: &Msg) -> bool {
        let first = msg.first().map(|b| &b[..]).unwrap_or_default();
        (0..=first.len().min(self.longest)).any(|n| self.topics.contains(&first[..n]))
    }
}

/// The subscription message form (`\x01topic`, `\x00topic`) used on libzmq pipes and by
/// ZMTP 3.0 peers.
pub fn subscription_message(subscribe: bool, topic: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(topic.len() + 1);
    b.put_u8(u8::from(subscribe));
    b.put_slice(topic);
    b.freeze()
}

/// Reads the subscription message form; `None` for anything else.
pub fn parse_subscription(frame: &Bytes) -> Option<(bool, Bytes)> {
    match frame.first() {
        Some(1) => Some((true, frame.slice(1..))),
        Some(0) => Some((false, frame.slice(1..))),
        _ => None,
    }
}

impl Vocket {
    /// A peer (un)subscribes. Only publishers take subscriptions. A peering that asks
    /// for more subscriptions than its limits allow is dropped; the notice to the
    /// application counts against RCVHWM like a message, so a peer churning
    /// subscriptions is paused when the application does not keep up.
    pub(super) fn pub_subscribe(&mut self, peer: PeerId, topic: Bytes, on: bool) -> Flow {
        let (max_subs, max_bytes) = (
            self.opts.max_subscriptions,
            self.opts.max_subscription_bytes,
        );
        let Kind::Pub(state) = &mut self.kind else {
            self.drop_msg(DropReason::Invalid);
            return Flow::Continue;
        };
        let Some(p) = self.peers.get_mut(peer) else {
            return Flow::Continue;
        };
        let changed = if on {
            if p.subs.contains(&topic) {
                false
            } else if p.subs.len() >= max_subs || p.subs_bytes + topic.len() > max_bytes {
                log::warn!(
                    "{}: more than {max_subs} subscriptions or {max_bytes} bytes of topics; dropped",
                    p.info.address
                );
                self.stats.over_limit += 1;
                self.drop_peer(peer, super::DownReason::OverLimit, true);
                return Flow::Continue;
            } else {
                // Kept for as long as the subscription lasts: a copy of its own, never
                // a slice of whatever buffer it arrived in.
                let topic = Bytes::copy_from_slice(&topic);
                p.subs_bytes += topic.len();
                p.subs.insert(topic.clone());
                state.index.add(topic, peer);
                true
            }
        } else {
            let had = p.subs.remove(&topic);
            if had {
                p.subs_bytes -= topic.len();
                state.index.remove(&topic, peer);
            }
            had
        };
        if !changed {
            return Flow::Continue;
        }
        self.queue_for_app(peer, Msg::single(subscription_message(on, &topic)), true)
            .unwrap_or(Flow::Continue)
    }

    /// A message from a subscriber: a ZMTP 3.0 style subscription, or (XPUB) upstream data.
    pub(super) fn pub_on_message(&mut self, peer: PeerId, msg: Msg) -> Flow {
        if let Some((on, topic)) = msg.first().and_then(parse_subscription) {
            return self.pub_subscribe(peer, topic, on);
        }
        if self.ty == crate::SocketType::XPub {
            return self.queue_message_for_app(peer, msg);
        }
        self.drop_msg(DropReason::Invalid);
        Flow::Continue
    }

    /// Publishes to every peering with a matching subscription; drops for full ones.
    pub(super) fn pub_send(&mut self, msg: Msg) {
        let Kind::Pub(state) = &mut self.kind else {
            return;
        };
        let mut matched = std::mem::take(&mut state.scratch);
        matched.clear();
        let topic = msg.first().map(|b| &b[..]).unwrap_or_default();
        state.index.matches(topic, &mut matched);
        let hwm = self.opts.sndhwm;
        if self.opts.xpub_nodrop
            && hwm != 0
            && matched
                .iter()
                .any(|&id| self.peers.get(id).is_some_and(|p| p.queue.len() >= hwm))
        {
            // XPUB_NODROP: no subscriber loses it; it waits, and so does the application,
            // whose pipe fills until its send says EAGAIN, as libzmq's does.
            if let Kind::Pub(state) = &mut self.kind {
                state.scratch = matched;
            }
            self.unsent.push_back(msg);
            return;
        }
        // A new round: a peering that matches several topics gets the message once.
        let Kind::Pub(state) = &mut self.kind else {
            return;
        };
        state.round += 1;
        let round = state.round;
        for &id in &matched {
            let Some(p) = self.peers.get_mut(id) else {
                continue;
            };
            if p.pub_round == round {
                continue; // matched by two prefixes
            }
            p.pub_round = round;
            if self.enqueue(id, msg.clone(), None).is_err() {
                self.drop_msg(DropReason::Hwm);
            }
        }
        if let Kind::Pub(state) = &mut self.kind {
            state.scratch = matched;
        }
    }

    /// A subscriber left: its topics leave the index, and the pipe hears the cancels.
    pub(super) fn pub_on_peer_down(&mut self, id: PeerId, subs: &BTreeSet<Bytes>) {
        let Kind::Pub(state) = &mut self.kind else {
            return;
        };
        for topic in subs {
            state.index.remove(topic, id);
        }
        let cap = self.orphan_cap();
        for topic in subs {
            let cancel = Msg::single(subscription_message(false, topic));
            if !self.fq.push_orphan(cancel, cap) {
                self.drop_msg(DropReason::AppFull);
            }
        }
    }

    /// From the application's SUB/XSUB: subscriptions, or (XSUB) upstream messages.
    pub(super) fn sub_from_app(&mut self, msg: Msg) {
        let parsed = msg.first().and_then(parse_subscription);
        let Kind::Sub(state) = &mut self.kind else {
            return;
        };
        match parsed {
            Some((on, topic)) => {
                let changed = if on {
                    state.longest = state.longest.max(topic.len());
                    // Kept as long as the subscription: its own bytes, not the
                    // buffer the application's message was read into.
                    state.topics.insert(Bytes::copy_from_slice(&topic))
                } else {
                    state.topics.remove(&topic)
                };
                if changed {
                    let t = if on {
                        Transmit::Subscribe(topic)
                    } else {
                        Transmit::Cancel(topic)
                    };
                    for id in self.peers.ids() {
                        self.push_control(id, t.clone());
                    }
                }
            }
            None if self.ty == crate::SocketType::XSub => {
                for id in self.peers.ids() {
                    if self.enqueue(id, msg.clone(), None).is_err() {
                        self.drop_msg(DropReason::Hwm);
                    }
                }
            }
            None => self.drop_msg(DropReason::Invalid),
        }
    }

    /// A new publisher peering hears every current subscription.
    pub(super) fn sub_on_peer_up(&mut self, id: PeerId) {
        let Kind::Sub(state) = &self.kind else { return };
        let topics: Vec<Bytes> = state.topics.iter().cloned().collect();
        for topic in topics {
            self.push_control(id, Transmit::Subscribe(topic));
        }
    }
}
