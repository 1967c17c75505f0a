//! What a Vocket asks of its driver, and in which order: [`Vocket::poll_output`] and
//! the queues behind it, and the outputs a driver pulls when it is ready for them
//! (transmits per peering, messages for the application pipe, routing changes, the
//! next deadline).
//!
//! Nothing here does I/O: each method takes from a queue the inputs filled.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Action, ConnId, Event, Kind, PeerId, Transmit, Vocket, fq};
use crate::Msg;

/// Something the Vocket needs its driver to do, from [`Vocket::poll_output`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A peering has something to send: pull it with [`Vocket::poll_transmit`] as far
    /// as the link's buffers allow, and the rest when it is writable again (what
    /// [`Vocket::poll_ready`] returns).
    Ready {
        /// The peering.
        peer: PeerId,
        /// The transport's key for it.
        conn: ConnId,
    },
    /// Something to do to a peering: close it, or read it again (what
    /// [`Vocket::poll_action`] returns).
    Action(Action),
    /// Something to report: logs, counters, the socket monitor (what
    /// [`Vocket::poll_event`] returns).
    Event(Event),
}

impl Vocket {
    /// The next thing the driver must do, in this order: [`Output::Ready`] while any
    /// peering has something to send, then [`Output::Action`]s, then
    /// [`Output::Event`]s. Call it until it returns `None`, acting on each output
    /// before the next call: what the driver does may queue more, and the next call
    /// returns it in its place in the order.
    ///
    /// Why this order: transmits are the data path, and pulling them makes room, which
    /// places messages that were waiting for it (more transmits, or drops counted).
    /// Actions come next, because they change which links the transport keeps and
    /// reads: a closed link's peering is already gone from the Vocket, and reading a
    /// resumed one may queue transmits, which the next call returns first. Events come
    /// last, since they change nothing the Vocket or the transport hold: by the time a
    /// monitor hears of something (`peer-down`), the transport has acted on it (the
    /// link is closed).
    ///
    /// Four outputs stay pulled, each by the one who can take it:
    /// - what to send to a peering, with [`Vocket::poll_transmit`], by the transport
    ///   after [`Output::Ready`]: a slow link leaves its queue here, under SNDHWM, and
    ///   no copy waits in the transport;
    /// - messages for the application pipe, with [`Vocket::peek_to_app`] and
    ///   [`Vocket::pop_to_app`], by the pipe pass: the pipe may refuse one (`EAGAIN`),
    ///   and a peek leaves it in place without a copy;
    /// - ROUTER identities that came up or went down, with [`Vocket::poll_route`]:
    ///   the runtime publishes them with the peer count, as one snapshot for the
    ///   application's thread, before its pipe pass and after the outputs;
    /// - the next deadline, [`Vocket::poll_timeout`]: a value, not a queue.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some((peer, conn)) = self.poll_ready() {
            return Some(Output::Ready { peer, conn });
        }
        if let Some(action) = self.poll_action() {
            return Some(Output::Action(action));
        }
        self.poll_event().map(Output::Event)
    }

    /// [`Vocket::poll_output`]'s first queue alone: a peering with something to send,
    /// once per time it becomes non-empty. The caller then drains it with
    /// [`Vocket::poll_transmit`] as far as its buffers allow; whatever is left is the
    /// caller's to resume when the peering is writable again.
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

    /// [`Vocket::poll_output`]'s second queue alone: the next thing the transport must
    /// do to a peering.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// [`Vocket::poll_output`]'s last queue alone: the next lifecycle event.
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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use bytes::Bytes;

    use super::*;
    use crate::pattern::{DownReason, PeerInfo};
    use crate::{SocketOptions, SocketType};

    /// A ROUTER handover queues all three kinds at once: they come out transmits first,
    /// then the close of the replaced peering, then the events in the order they were
    /// queued.
    #[test]
    fn poll_output_drains_transmits_then_actions_then_events() {
        let now = Instant::now();
        let info = |c| {
            PeerInfo::new(SocketType::Dealer, format!("t://{c}"), c)
                .with_identity(Some(Bytes::from_static(b"id")))
        };
        let opts = SocketOptions {
            router_handover: true,
            ..SocketOptions::default()
        };
        let mut v = Vocket::new(SocketType::Router, opts);
        v.handle_peer_up(info(1), now).unwrap();
        let second = v.handle_peer_up(info(2), now).unwrap();
        v.handle_app(
            Msg::from_frames([Bytes::from_static(b"id"), Bytes::from_static(b"x")]),
            now,
        );
        assert_eq!(
            v.poll_output(),
            Some(Output::Ready {
                peer: second,
                conn: 2
            })
        );
        assert!(v.poll_transmit(second).is_some());
        assert_eq!(
            v.poll_output(),
            Some(Output::Action(Action::Close {
                conn: 1,
                reason: DownReason::Replaced
            }))
        );
        let events: Vec<_> = std::iter::from_fn(|| v.poll_output()).collect();
        assert!(
            matches!(
                events.as_slice(),
                [
                    Output::Event(Event::PeerUp { .. }),
                    Output::Event(Event::PeerDown {
                        reason: DownReason::Replaced,
                        ..
                    }),
                    Output::Event(Event::PeerUp { .. }),
                ]
            ),
            "{events:?}"
        );
    }
}
