//! What a Vocket asks of its driver: peerings with something to send and what to send
//! them, messages for the application pipe, actions on peerings, events, routing
//! changes and the next deadline.
//!
//! Nothing here does I/O: each method takes from a queue the inputs filled.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Action, ConnId, Event, Kind, PeerId, Transmit, Vocket, fq};
use crate::Msg;

impl Vocket {
    /// A peering with something to send, once per time it becomes non-empty.
    /// The caller then drains it with [`Vocket::poll_transmit`] as far as its buffers allow;
    /// whatever is left is the caller's to resume when the peering is writable again.
    pub fn poll_ready(&mut self) -> Option<(PeerId, ConnId)> {
        while let Some(id) = self.ready.pop_front() {
            if let Some(p) = self.peers.get_mut(id) {
                p.in_ready = false;
                if !p.queue.is_empty() || !p.control.is_empty() {
                    return Some((id, p.info.conn));
                }
            }
        }
        None
    }

    /// The next thing the transport must do to a peering.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next lifecycle event.
    pub fn poll_event(&mut self) -> Option<Event> {
        let mut e = self.events.pop_front()?;
        if let Event::Dropped { reason, count } = &mut e {
            let slot = &mut self.drops_unreported[reason.slot()];
            *count = std::mem::take(&mut slot.0);
            slot.1 = false;
        }
        Some(e)
    }

    /// The next thing to send to `peer`: control first, then data.
    pub fn poll_transmit(&mut self, peer: PeerId) -> Option<Transmit> {
        let p = self.peers.get_mut(peer)?;
        if let Some(t) = p.control.pop_front() {
            return Some(t);
        }
        let t = p.queue.pop_front()?;
        let len = p.queue.len();
        if len == 0 && p.queue.capacity() > 64 {
            // A burst is over: an idle peering keeps no large queue.
            p.queue = VecDeque::new();
        }
        let lwm = self.opts.sndhwm / 2;
        let reactivate = p.lb_slot.is_none() && len <= lwm && self.uses_lb();
        self.stats.msgs_out += 1;
        if reactivate {
            self.lb.activate(&mut self.peers, peer);
            self.drain_unsent();
        } else if matches!(self.kind, Kind::Router(_) | Kind::Pub(_)) && !self.unsent.is_empty() {
            self.retry_held();
        }
        Some(t)
    }

    /// The next message for the application pipe, without removing it: one from each
    /// peering with messages in turn (fair queuing).
    pub fn peek_to_app(&mut self) -> Option<&Msg> {
        self.fq.peek(&self.peers)
    }

    /// Removes the next message for the application pipe (after the pipe took it); its
    /// peering is resumed once the application has read half of its inbox.
    pub fn pop_to_app(&mut self) -> Option<Msg> {
        let (from, msg) = self.fq.pop(&mut self.peers)?;
        // The application's SUB/XSUB end takes only what matches its subscriptions:
        // a message it drops is none the application will ask about.
        let seen = match &self.kind {
            Kind::Sub(state) => state.matches(&msg),
            _ => true,
        };
        let keep = self.opts.rcvhwm.saturating_add(1024);
        let id = match from {
            fq::From::Peer(id) => id,
            fq::From::Gone(props) => {
                if seen {
                    self.delivered.push(props.clone(), keep);
                }
                if props.is_some() {
                    self.last_sender = None;
                    self.last_sender_gone = props;
                }
                return Some(msg);
            }
        };
        if seen {
            let props = self.peers.get(id).map(|p| p.props.clone());
            self.delivered.push(props, keep);
        }
        self.last_sender = Some(id);
        if let Some(p) = self.peers.get_mut(id)
            && p.paused
            && p.inbox.len() <= self.opts.rcvhwm / 2
        {
            p.paused = false;
            self.actions.push_back(Action::Resume { conn: p.info.conn });
        }
        Some(msg)
    }

    /// ROUTER: the next identity that came up (`true`) or went down, for a copy of the
    /// routing table outside the Vocket (the application's `EHOSTUNREACH` check).
    pub fn poll_route(&mut self) -> Option<(Bytes, bool)> {
        match &mut self.kind {
            Kind::Router(r) => r.poll_change(),
            _ => None,
        }
    }

    /// When [`Vocket::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }
}
