//! Fair queuing toward the application, libzmq's `fq_t`: every peering's messages
//! wait in an inbox of its own, bounded by RCVHWM as a libzmq pipe is, and the
//! application pipe gets one message from each peering with messages in turn. A fast
//! peering cannot starve a slow one: it fills its own inbox and is paused there.
//!
//! The inboxes live in the peerings ([`super::peers::Peer::inbox`]); this is the turn
//! order over them, plus what peerings that went down left unread (libzmq, too,
//! delivers what a closed pipe holds before it ends).

use std::collections::VecDeque;
use std::sync::Arc;

use super::peers::{PeerId, Peers};
use super::props::PeerProperties;
use crate::Msg;

#[derive(Debug, Default)]
pub(crate) struct FairQueue {
    /// Peerings with a non-empty inbox, in turn order. A peering that went down may
    /// linger here until its turn comes; it is skipped then.
    turn: VecDeque<PeerId>,
    /// Left by peerings that went down, with whom they came from (and a publisher's
    /// cancels for their subscriptions): served before the live inboxes, being older.
    orphans: VecDeque<(Option<Arc<PeerProperties>>, Msg)>,
    /// Messages in every inbox and in `orphans`.
    len: usize,
}

impl FairQueue {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Queues a message in a live peering's inbox (the caller checked it is live).
    pub(crate) fn push(&mut self, peers: &mut Peers, from: PeerId, msg: Msg) {
        let Some(p) = peers.get_mut(from) else {
            return;
        };
        p.inbox.push_back(msg);
        self.len += 1;
        if !p.in_turn {
            p.in_turn = true;
            self.turn.push_back(from);
        }
    }

    /// Queues a message that belongs to no live peering, unless `cap` orphans wait
    /// already (0: no cap); false when it was dropped.
    pub(crate) fn push_orphan(&mut self, msg: Msg, cap: usize) -> bool {
        if cap != 0 && self.orphans.len() >= cap {
            return false;
        }
        self.orphans.push_back((None, msg));
        self.len += 1;
        true
    }

    /// A peering went down: what it left becomes the orphans', still known by the
    /// address it came from, as far as `cap` orphans allow (0: no cap; peerings that
    /// come and go cannot pile up messages without end). Returns how many were dropped.
    pub(crate) fn orphan(
        &mut self,
        from: &Arc<PeerProperties>,
        inbox: VecDeque<Msg>,
        cap: usize,
    ) -> usize {
        let total = inbox.len();
        self.len -= total;
        if total == 0 {
            return 0;
        }
        let room = if cap == 0 {
            total
        } else {
            cap.saturating_sub(self.orphans.len()).min(total)
        };
        self.orphans.extend(
            inbox
                .into_iter()
                .take(room)
                .map(|m| (Some(from.clone()), m)),
        );
        self.len += room;
        total - room
    }

    /// The next message, without removing it; forgets dead peerings on the way.
    pub(crate) fn peek<'a>(&'a mut self, peers: &'a Peers) -> Option<&'a Msg> {
        if let Some((_, m)) = self.orphans.front() {
            return Some(m);
        }
        while let Some(&id) = self.turn.front() {
            match peers.get(id) {
                Some(p) if !p.inbox.is_empty() => break,
                _ => {
                    self.turn.pop_front();
                }
            }
        }
        let id = *self.turn.front()?;
        peers.get(id)?.inbox.front()
    }

    /// Removes the message [`FairQueue::peek`] returned, and passes the turn: the
    /// peering it came from goes to the back of the line.
    pub(crate) fn pop(&mut self, peers: &mut Peers) -> Option<(From, Msg)> {
        if let Some((from, m)) = self.orphans.pop_front() {
            self.len -= 1;
            return Some((From::Gone(from), m));
        }
        self.peek(peers)?;
        let id = self.turn.pop_front()?;
        let p = peers.get_mut(id)?;
        let msg = p.inbox.pop_front()?;
        self.len -= 1;
        if p.inbox.is_empty() {
            p.in_turn = false;
            if p.inbox.capacity() > 64 {
                // A burst is over: an idle peering keeps no large inbox.
                p.inbox = VecDeque::new();
            }
        } else {
            self.turn.push_back(id);
        }
        Some((From::Peer(id), msg))
    }
}

/// Where a message [`FairQueue::pop`] returned came from.
pub(crate) enum From {
    /// A live peering.
    Peer(PeerId),
    /// A peering that went down (unless the message was ours: a cancel).
    Gone(Option<Arc<PeerProperties>>),
}
