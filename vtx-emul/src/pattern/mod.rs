//! Socket patterns, sans-IO: one [`Vocket`] per vtx socket, whatever its type.
//!
//! A Vocket owns the peerings of one socket and everything 0MQ promises about them:
//! load balancing, fair queuing, REQ retry and failover, REP reply routing and
//! duplicate suppression, ROUTER identities, PUB filtering and the subscription
//! union, heartbeat deadlines, per-peering high-water marks and the ZMTP
//! compatibility matrix.
//!
//! It never does I/O, reads a clock or spawns anything. The caller says what happened
//! and when (`handle_*`, with `now`), then drains what to do, quinn-proto style: one
//! [`Vocket::poll_output`] whose [`Output`] says what comes first, and the outputs
//! pulled by whoever can take them (`poll_transmit`, `pop_to_app`, `poll_timeout`):
//!
//! ```
//! # use std::time::Instant;
//! # use vtx_emul::pattern::{Event, Output, PeerInfo, Transmit, Vocket};
//! # use vtx_emul::{Msg, SocketOptions, SocketType};
//! let now = Instant::now();
//! let mut push = Vocket::new(SocketType::Push, SocketOptions::default());
//! let peer = push.handle_peer_up(PeerInfo::new(SocketType::Pull, "test://a", 1), now).unwrap();
//! push.handle_app(Msg::single("hello"), now);
//! // What to send comes before the report that the peering is up.
//! assert_eq!(push.poll_output(), Some(Output::Ready { peer, conn: 1 }));
//! assert!(matches!(push.poll_transmit(peer), Some(Transmit::Message { .. })));
//! assert!(matches!(push.poll_output(), Some(Output::Event(Event::PeerUp { .. }))));
//! assert_eq!(push.poll_output(), None);
//! ```
//!
//! Must never import mio, zmq or `std::net` (checked by a test).

#![forbid(unsafe_code)]

mod exchange;
mod fq;
mod heartbeat;
mod lb;
mod output;
mod peers;
mod props;
pub mod pubsub;
mod report;
mod reqrep;
mod subs;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

pub use self::exchange::{Action, ConnId, Flow, Input, PeerInfo, Transmit};
use self::fq::FairQueue;
use self::lb::LoadBalancer;
pub use self::output::Output;
pub use self::peers::PeerId;
use self::peers::{Peer, Peers};
pub use self::props::PeerProperties;
use self::report::DROP_REASONS;
pub use self::report::{DownReason, DropReason, Event, Refusal, Stats};
use crate::timer::TimerHeap;
use crate::{Msg, SocketOptions, SocketType};

/// What a Vocket's timer entries stand for; each owner keeps the deadline it armed and
/// ignores an entry that no longer matches it ([`TimerHeap`]'s lazy cancellation). At
/// most one live entry per peering and one for the REQ resend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKey {
    /// The peering's heartbeat timer (`Peer::timer_at`): PING due, PING timeout, TTL.
    Heartbeat(PeerId),
    /// REQ: resend the pending request on a datagram peering (`resend_at`).
    ReqResend,
}

/// Pattern-specific state.
#[derive(Debug)]
enum Kind {
    Req(reqrep::ReqState),
    Rep,
    Dealer,
    Router(reqrep::RouterState),
    Pub(pubsub::PubState),
    Sub(pubsub::SubState),
    Push,
    Pull,
    Pair,
}

/// The sans-IO state machine of one vtx socket.
#[derive(Debug)]
pub struct Vocket {
    ty: SocketType,
    opts: SocketOptions,
    kind: Kind,
    peers: Peers,
    lb: LoadBalancer,
    /// Messages the application sent that no peering could take when they were read
    /// (the runtime reads only when [`Vocket::can_send`]; kept rather than lost).
    unsent: VecDeque<Msg>,
    // The output queues. Three are drained through `poll_output`, in this order (its
    // doc says why): `ready`, `actions`, `events`. The others stay pull-based: each
    // peering's `control` and `queue` (`Peer`), pulled with `poll_transmit` by the
    // transport as far as its link takes them; `fq`, peeked and popped by the pipe,
    // which may refuse a message; ROUTER route changes (`Kind::Router`), a snapshot
    // for the application's thread; `timers`, a deadline.
    /// Messages for the application pipe, fair-queued by peering.
    fq: FairQueue,
    /// Peerings whose `control` or `queue` became non-empty, each listed once
    /// (`Peer::in_ready`).
    ready: VecDeque<PeerId>,
    /// What the transport must do to a peering.
    actions: VecDeque<Action>,
    /// Lifecycle events, at most `MAX_EVENTS`.
    events: VecDeque<Event>,
    /// Heartbeat and REQ resend deadlines.
    timers: TimerHeap<TimerKey>,
    stats: Stats,
    /// The peering whose message went to the application pipe last.
    last_sender: Option<PeerId>,
    /// Who it was, once it is down (looked up while it is up: no copy per message).
    last_sender_gone: Option<std::sync::Arc<PeerProperties>>,
    /// Which peer each message handed to the application pipe came from.
    delivered: props::Delivered,
    closing: bool,
    /// Drops not yet reported, per reason; `true` while a `Dropped` event of that
    /// reason waits in `events` (it takes the count when polled).
    drops_unreported: [(u64, bool); DROP_REASONS],
}

/// Most events kept when nobody drains them.
const MAX_EVENTS: usize = 1024;

impl Vocket {
    /// A Vocket for `ty` with the given options.
    pub fn new(ty: SocketType, opts: SocketOptions) -> Vocket {
        let kind = match ty {
            SocketType::Req => Kind::Req(reqrep::ReqState::default()),
            SocketType::Rep => Kind::Rep,
            SocketType::Dealer => Kind::Dealer,
            SocketType::Router => Kind::Router(reqrep::RouterState::default()),
            SocketType::Pub | SocketType::XPub => Kind::Pub(pubsub::PubState::default()),
            SocketType::Sub | SocketType::XSub => Kind::Sub(pubsub::SubState::default()),
            SocketType::Push => Kind::Push,
            SocketType::Pull => Kind::Pull,
            SocketType::Pair => Kind::Pair,
        };
        Vocket {
            ty,
            opts,
            kind,
            peers: Peers::default(),
            lb: LoadBalancer::default(),
            unsent: VecDeque::new(),
            fq: FairQueue::default(),
            ready: VecDeque::new(),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            timers: TimerHeap::new(),
            stats: Stats::default(),
            last_sender: None,
            last_sender_gone: None,
            delivered: props::Delivered::default(),
            closing: false,
            drops_unreported: [(0, false); DROP_REASONS],
        }
    }

    /// The socket type.
    pub fn socket_type(&self) -> SocketType {
        self.ty
    }

    /// The options in force.
    pub fn options(&self) -> &SocketOptions {
        &self.opts
    }

    /// Replaces the options; they apply to peerings that come up later, and the HWMs at once.
    pub fn set_options(&mut self, opts: SocketOptions) {
        self.opts = opts;
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Number of live peerings.
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }

    /// What the transport said about a live peering.
    pub fn peer_info(&self, peer: PeerId) -> Option<&PeerInfo> {
        self.peers.get(peer).map(|p| &p.info)
    }

    /// PUB/XPUB: subscriptions held, over all peerings (a topic two peerings hold
    /// counts twice). O(peerings): for metadata, not the data path.
    pub fn subscription_count(&self) -> usize {
        self.peers.iter().map(|(_, p)| p.subs.len()).sum()
    }

    /// Every live peering.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.peers.ids()
    }

    /// The peering whose message went to the application pipe last, if still up.
    pub fn last_sender_id(&self) -> Option<PeerId> {
        self.last_sender.filter(|id| self.peers.get(*id).is_some())
    }

    /// The schemed address of the peering whose message went to the application pipe
    /// last (also once it is down).
    pub fn last_sender(&self) -> Option<&str> {
        match self.last_sender.and_then(|id| self.peers.get(id)) {
            Some(p) => Some(&p.info.address),
            None => self
                .last_sender_gone
                .as_deref()
                .map(PeerProperties::address),
        }
    }

    /// The peer that message `n` handed to the application pipe came from (numbered from
    /// 0; a SUB counts only what matches its subscriptions, as its pipe does), if still
    /// known: the last RCVHWM + 1024 are.
    pub fn message_properties(&self, n: u64) -> Option<&std::sync::Arc<PeerProperties>> {
        self.delivered.get(n)
    }

    /// The peer the last message handed to the application pipe came from.
    pub fn last_message_properties(&self) -> Option<&std::sync::Arc<PeerProperties>> {
        self.delivered.last()
    }

    /// Messages waiting for the application pipe, from every peering.
    pub fn to_app_len(&self) -> usize {
        self.fq.len()
    }

    /// Messages from one peering waiting for the application pipe.
    pub fn inbox_len(&self, peer: PeerId) -> usize {
        self.peers.get(peer).map_or(0, |p| p.inbox.len())
    }

    // ----- inputs -------------------------------------------------------------------

    /// A peering completed its handshake. Refused peerings must be closed by the
    /// transport with its reject (ZMTP ERROR, NOM-2 ROTFL).
    pub fn handle_peer_up(&mut self, info: PeerInfo, now: Instant) -> Result<PeerId, Refusal> {
        let refusal = if self.closing {
            Some(Refusal::Closing)
        } else if !self.ty.compatible_with(info.socket_type) {
            Some(Refusal::Incompatible {
                ours: self.ty,
                theirs: info.socket_type,
            })
        } else if self.peers.len() >= self.opts.max_peers {
            Some(Refusal::TooManyPeers)
        } else if matches!(self.kind, Kind::Pair) && self.peers.len() > 0 {
            Some(Refusal::PairTaken)
        } else {
            None
        };
        if let Some(reason) = refusal {
            return Err(self.refuse(info.address, reason));
        }
        let route_id = match &mut self.kind {
            Kind::Router(router) => match router.claim(&info, self.opts.router_handover) {
                Ok((id, replaced)) => {
                    if let Some(old) = replaced {
                        self.drop_peer(old, DownReason::Replaced, true);
                    }
                    id
                }
                Err(reason) => return Err(self.refuse(info.address, reason)),
            },
            _ => Bytes::new(),
        };
        let address = info.address.clone();
        let announced = info.identity.is_some();
        let id = self.peers.insert(Peer::new(info, route_id.clone()));
        if let Kind::Router(router) = &mut self.kind {
            router.bind(route_id.clone(), id, announced);
            if self.opts.router_notify & crate::options::NOTIFY_CONNECT != 0 {
                let _ = self.queue_for_app(id, Msg::from_frames([route_id, Bytes::new()]), true);
            }
        }
        self.stats.peers_up += 1;
        self.event(Event::PeerUp { address });
        self.arm_heartbeat(id, now);
        // libzmq writes a welcome and a probe into the new peering's pipe before anything
        // else: they go as control, ahead of data, outside SNDHWM and any REQ state.
        let first = match &self.opts.xpub_welcome {
            Some(welcome) if self.ty == SocketType::XPub => Some(welcome.clone()),
            _ if self.opts.probe_router
                && matches!(self.kind, Kind::Req(_) | Kind::Dealer | Kind::Router(_)) =>
            {
                Some(Bytes::new())
            }
            _ => None,
        };
        if let Some(frame) = first {
            let msg = Msg::single(frame);
            self.push_control(id, Transmit::Message { msg, seq: None });
        }
        match &self.kind {
            Kind::Req(_) | Kind::Dealer | Kind::Push | Kind::Pair => {
                self.lb.activate(&mut self.peers, id);
                self.drain_unsent();
                if matches!(self.kind, Kind::Req(_)) {
                    self.req_on_peer_up(now);
                }
            }
            Kind::Sub(_) => self.sub_on_peer_up(id),
            _ => {}
        }
        Ok(id)
    }

    /// The transport lost a peering. Unknown or stale ids are ignored.
    pub fn handle_peer_down(&mut self, peer: PeerId, now: Instant) {
        if self.peers.get(peer).is_some() {
            self.drop_peer(peer, DownReason::Closed, false);
            self.after_peer_loss(now);
        }
    }

    /// A peer sent something. Returns whether the transport may keep reading it.
    pub fn handle_input(&mut self, peer: PeerId, input: Input, now: Instant) -> Flow {
        let Some(p) = self.peers.get_mut(peer) else {
            // A message for a peering that is down: nothing to do with it.
            self.stats.dropped_invalid += 1;
            return Flow::Continue;
        };
        // Any input proves the peer alive: its TTL runs again from its next PING, and an
        // outstanding PING is answered (libzmq cancels both timers on input).
        p.ttl_deadline = None;
        if p.ping_sent_at.take().is_some()
            && let Some(due) = p.next_ping
            && p.timer_at.is_none_or(|at| due < at)
        {
            // The armed timer was the PING's timeout; the next PING is due sooner.
            self.arm_peer_timer(peer, due);
        }
        match input {
            Input::Ping { ttl, context } => {
                let Some(p) = self.peers.get_mut(peer) else {
                    return Flow::Continue;
                };
                p.ttl_deadline = ttl.filter(|t| !t.is_zero()).map(|t| now + t);
                self.push_control(peer, Transmit::Pong { context });
                self.rearm_if_sooner(peer);
                Flow::Continue
            }
            Input::Pong { .. } => Flow::Continue,
            Input::Subscribe(topic) => self.pub_subscribe(peer, topic, true),
            Input::Cancel(topic) => self.pub_subscribe(peer, topic, false),
            Input::Message { msg, seq } => match &self.kind {
                Kind::Req(_) => self.req_on_reply(peer, msg, seq),
                Kind::Rep => self.rep_on_request(peer, msg, seq),
                Kind::Router(_) => {
                    if let Some(p) = self.peers.get_mut(peer) {
                        p.last_seq = seq.or(p.last_seq);
                        let mut msg = msg;
                        msg.push_front(p.route_id.clone());
                        return self.queue_message_for_app(peer, msg);
                    }
                    Flow::Continue
                }
                Kind::Pub(_) => self.pub_on_message(peer, msg),
                Kind::Dealer | Kind::Pull | Kind::Pair | Kind::Sub(_) => {
                    self.queue_message_for_app(peer, msg)
                }
                Kind::Push => {
                    self.drop_msg(DropReason::Invalid);
                    Flow::Continue
                }
            },
        }
    }

    /// Asks before reading a peering: [`Flow::Pause`] when its inbox is at RCVHWM; it
    /// is resumed ([`Action::Resume`]) once the application has read half of it.
    pub fn admit(&mut self, peer: PeerId) -> Flow {
        let limit = self.opts.rcvhwm;
        let Some(p) = self.peers.get_mut(peer) else {
            return Flow::Continue;
        };
        if limit == 0 || p.inbox.len() < limit || !p.info.pausable {
            return Flow::Continue;
        }
        p.paused = true;
        Flow::Pause
    }

    /// Whether the runtime may read the next message from the application pipe.
    ///
    /// False while no peering can take one (DEALER, PUSH, PAIR without room), so the
    /// message waits in the pipe under the application's SNDHWM, as libzmq blocks.
    pub fn can_send(&self) -> bool {
        match self.kind {
            Kind::Dealer | Kind::Push | Kind::Pair => self.unsent.is_empty() && !self.lb.is_empty(),
            // A message held for a full peering (ROUTER_MANDATORY, XPUB_NODROP) waits.
            Kind::Router(_) | Kind::Pub(_) => self.unsent.is_empty(),
            Kind::Pull => false,
            _ => true,
        }
    }

    /// A message from the application pipe, framed as the pipe carries it (docs/architecture.md §2).
    pub fn handle_app(&mut self, msg: Msg, now: Instant) {
        match &self.kind {
            Kind::Req(_) => self.req_send(msg, now),
            Kind::Rep => self.rep_send(msg),
            Kind::Router(_) => self.router_send(msg),
            Kind::Pub(_) => self.pub_send(msg),
            Kind::Sub(_) => self.sub_from_app(msg),
            Kind::Dealer | Kind::Push | Kind::Pair => {
                if let Err(msg) = self.lb_send(msg) {
                    // The runtime reads only when can_send(); keep it rather than lose it.
                    self.unsent.push_back(msg);
                }
            }
            Kind::Pull => self.drop_msg(DropReason::Invalid),
        }
    }

    /// Time passed: heartbeats, deadlines and REQ resends.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, key)) = self.timers.pop_expired(now) {
            match key {
                TimerKey::Heartbeat(peer) => self.heartbeat_tick(peer, at, now),
                TimerKey::ReqResend => self.req_on_resend_timer(at, now),
            }
        }
    }

    /// Stops taking peerings; queued messages may still be flushed (linger).
    pub fn close(&mut self) {
        self.closing = true;
        if let Kind::Req(req) = &mut self.kind {
            req.abandon();
        }
    }

    /// A link of this socket failed before its peering came up (a bad greeting, a
    /// handshake timeout, an error the peer reported before READY, a link lost
    /// mid-handshake): counted in `handshake_failures` and reported as
    /// [`Event::HandshakeFailed`]. After the handshake, a peer's bad input is
    /// [`Vocket::note_protocol_error`]'s.
    pub fn note_handshake_failure(&mut self, address: &str, reason: &str) {
        self.stats.handshake_failures += 1;
        self.event(Event::HandshakeFailed {
            address: address.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// Authentication refused a peer (ZAP `status`): a failed handshake, also counted
    /// in `auth_failures` and reported as [`Event::AuthFailed`].
    pub fn note_auth_failure(&mut self, address: &str, status: u16, reason: &str) {
        self.stats.handshake_failures += 1;
        self.stats.auth_failures += 1;
        self.event(Event::AuthFailed {
            address: address.to_owned(),
            status,
            reason: reason.to_owned(),
        });
    }

    /// A peer broke the protocol after its handshake (or a stranger sent bad input):
    /// counted and reported.
    pub fn note_protocol_error(&mut self, address: &str, reason: &str) {
        self.count_protocol_error();
        self.event(Event::ProtocolError {
            address: address.to_owned(),
            reason: reason.to_owned(),
        });
    }

    /// Counts a protocol error without reporting it (a flood past the log rate).
    pub fn count_protocol_error(&mut self) {
        self.stats.protocol_errors += 1;
    }

    /// True when nothing is queued for any peering.
    pub fn is_flushed(&self) -> bool {
        self.unsent.is_empty()
            && self
                .peers
                .iter()
                .all(|(_, p)| p.queue.is_empty() && p.control.is_empty())
    }

    // ----- shared machinery ---------------------------------------------------------

    fn uses_lb(&self) -> bool {
        matches!(
            self.kind,
            Kind::Req(_) | Kind::Dealer | Kind::Push | Kind::Pair
        )
    }

    fn refuse(&mut self, address: String, reason: Refusal) -> Refusal {
        self.stats.refused += 1;
        self.event(Event::Refused {
            address,
            reason: reason.clone(),
        });
        reason
    }

    fn event(&mut self, e: Event) {
        if self.events.len() < MAX_EVENTS {
            self.events.push_back(e);
        }
    }

    /// Counts a dropped message. Dropping is cheaper than sending: counters and, when
    /// none is waiting already, one `Dropped` event that will carry the count.
    fn drop_msg(&mut self, reason: DropReason) {
        self.drop_msgs(reason, 1);
    }

    /// `n` messages dropped for `reason`: counted, and reported by one event.
    fn drop_msgs(&mut self, reason: DropReason, n: u64) {
        if n == 0 {
            return;
        }
        let counter = match reason {
            DropReason::Hwm => &mut self.stats.dropped_hwm,
            DropReason::AppFull => &mut self.stats.dropped_app_full,
            DropReason::Unroutable => &mut self.stats.dropped_unroutable,
            DropReason::Invalid => &mut self.stats.dropped_invalid,
            DropReason::Duplicate => &mut self.stats.dropped_duplicate,
            DropReason::PeerGone => &mut self.stats.dropped_peer_gone,
        };
        *counter += n;
        let slot = &mut self.drops_unreported[reason.slot()];
        slot.0 += n;
        if !slot.1 && self.events.len() < MAX_EVENTS {
            slot.1 = true;
            self.events.push_back(Event::Dropped { reason, count: 0 });
        }
    }

    fn mark_ready(&mut self, id: PeerId) {
        if let Some(p) = self.peers.get_mut(id)
            && !p.in_ready
        {
            p.in_ready = true;
            self.ready.push_back(id);
        }
    }

    /// Queues a data message for a peering, honouring SNDHWM. Returns false (and leaves
    /// the message with the caller) when the peering is full.
    fn enqueue(&mut self, id: PeerId, msg: Msg, seq: Option<u32>) -> Result<(), Msg> {
        let hwm = self.opts.sndhwm;
        let Some(p) = self.peers.get_mut(id) else {
            return Err(msg);
        };
        if hwm != 0 && p.queue.len() >= hwm {
            return Err(msg);
        }
        p.queue.push_back(Transmit::Message { msg, seq });
        let full = hwm != 0 && p.queue.len() >= hwm;
        self.mark_ready(id);
        if full {
            self.lb.deactivate(&mut self.peers, id);
        }
        Ok(())
    }

    fn push_control(&mut self, id: PeerId, t: Transmit) {
        if let Some(p) = self.peers.get_mut(id) {
            p.control.push_back(t);
            self.mark_ready(id);
        }
    }

    /// Round-robin to the next peering with room; gives the message back if none has.
    fn lb_send(&mut self, msg: Msg) -> Result<(), Msg> {
        match self.lb.next() {
            Some(id) => self.enqueue(id, msg, None),
            None => Err(msg),
        }
    }

    /// ROUTER: tries the message held for a full peering again.
    fn retry_held(&mut self) {
        if let Some(msg) = self.unsent.pop_front() {
            match self.kind {
                Kind::Router(_) => self.router_send(msg),
                Kind::Pub(_) => self.pub_send(msg),
                _ => self.unsent.push_front(msg),
            }
        }
    }

    /// Places what the application sent while no peering had room.
    fn drain_unsent(&mut self) {
        while let Some(msg) = self.unsent.pop_front() {
            if let Err(msg) = self.lb_send(msg) {
                self.unsent.push_front(msg);
                break;
            }
        }
    }

    /// Queues a peer's message for the application pipe, in its peering's inbox under
    /// RCVHWM (see `queue_for_app`); counted in `msgs_in` when queued.
    fn queue_message_for_app(&mut self, from: PeerId, msg: Msg) -> Flow {
        self.queue_for_app(from, msg, false)
            .unwrap_or(Flow::Continue)
    }

    /// Most messages of peerings that went down waiting for the application: as many
    /// as one live peering may hold (0: no limit, as RCVHWM 0).
    fn orphan_cap(&self) -> usize {
        let limit = self.opts.rcvhwm;
        pausable_cap(limit) * usize::from(limit != 0)
    }

    /// Queues a message (or, `notice`, a PUB's subscription notice) in its peering's
    /// inbox under RCVHWM, as libzmq's per-pipe limit: a pausable peering is paused at
    /// the limit; one that cannot be paused loses what comes past it (notices: past
    /// twice the limit, since losing one loses a subscription), counted. `None` when
    /// the message was not queued.
    fn queue_for_app(&mut self, from: PeerId, msg: Msg, notice: bool) -> Option<Flow> {
        let limit = self.opts.rcvhwm;
        if self.closing {
            return None; // no application left to read it
        }
        let p = self.peers.get_mut(from)?;
        let pausable = p.info.pausable;
        // Streams pause at the limit and may overshoot by what one read decoded; this hard
        // cap only guards against a transport that ignores Flow::Pause.
        let cap = match (pausable, notice) {
            (true, _) => pausable_cap(limit),
            (false, true) => limit.saturating_mul(2),
            (false, false) => limit,
        };
        let queued = p.inbox.len();
        if limit != 0 && queued >= cap {
            self.drop_msg(DropReason::AppFull);
            return None;
        }
        let pause = limit != 0 && pausable && queued + 1 >= limit;
        if pause {
            p.paused = true;
        }
        if !notice {
            self.stats.msgs_in += 1;
        }
        self.fq.push(&mut self.peers, from, msg);
        Some(if pause { Flow::Pause } else { Flow::Continue })
    }

    /// Forgets a peering; `tell_transport` when the transport does not know yet.
    fn drop_peer(&mut self, id: PeerId, reason: DownReason, tell_transport: bool) {
        self.lb.deactivate(&mut self.peers, id);
        let Some(peer) = self.peers.remove(id) else {
            return;
        };
        if tell_transport {
            self.actions.push_back(Action::Close {
                conn: peer.info.conn,
                reason: reason.clone(),
            });
        }
        self.stats.peers_down += 1;
        if reason == DownReason::HeartbeatTimeout {
            self.stats.heartbeat_timeouts += 1;
        }
        let mut peer = *peer;
        if self.last_sender == Some(id) {
            self.last_sender = None;
            self.last_sender_gone = Some(peer.props.clone());
        }
        // What it sent is still the application's to read; what it was sent is lost with
        // it, as with a libzmq pipe (no other peer gets it).
        let cap = self.orphan_cap();
        let lost = self
            .fq
            .orphan(&peer.props, std::mem::take(&mut peer.inbox), cap);
        self.drop_msgs(DropReason::AppFull, lost as u64);
        // Its data queue holds only messages (control goes apart).
        self.drop_msgs(DropReason::PeerGone, peer.queue.len() as u64);
        match &mut self.kind {
            Kind::Router(router) => {
                router.release(&peer.route_id, id);
                if self.opts.router_notify & crate::options::NOTIFY_DISCONNECT != 0 {
                    let notice = Msg::from_frames([peer.route_id.clone(), Bytes::new()]);
                    let cap = self.orphan_cap();
                    if !self.fq.push_orphan(notice, cap) {
                        self.drop_msg(DropReason::AppFull);
                    }
                }
                self.retry_held();
            }
            Kind::Pub(_) => {
                self.pub_on_peer_down(id, &peer.subs);
                self.retry_held();
            }
            _ => {}
        }
        self.event(Event::PeerDown {
            address: peer.info.address,
            reason,
        });
    }

    fn after_peer_loss(&mut self, now: Instant) {
        if matches!(self.kind, Kind::Req(_)) {
            self.req_on_peer_lost(now);
        }
    }
}

/// What a pausable peering's inbox holds at most: it is paused at RCVHWM and may
/// overshoot by what one read decoded.
fn pausable_cap(limit: usize) -> usize {
    limit.saturating_mul(2).max(limit.saturating_add(1024))
}
