//! REQ, REP and ROUTER: request sequencing, retry and failover, reply routing, identities.
//!
//! Datagram transports carry a per-request sequence number (NOM-2 §6): REQ tags each
//! request, resends it on a timer to the same peering, and accepts only the reply with
//! that tag; REP caches its last reply per peering and answers a duplicate request with
//! it, never delivering the request to the application twice. Stream transports carry
//! no sequence: they neither lose nor duplicate. A request whose peering goes down is
//! lost with it, as in libzmq (at most once), unless `req_failover` asks for another
//! peering to get it (at least once).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use bytes::Bytes;

use super::{DropReason, Flow, Kind, PeerId, PeerInfo, Refusal, TimerKey, Vocket};
use crate::Msg;

#[derive(Debug, Default)]
pub(super) struct ReqState {
    next_seq: u32,
    /// The latest request, until the application sends the next (REQ_RELAXED may send
    /// before a reply) or closes.
    pending: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    msg: Msg,
    seq: u32,
    /// The peering the request was sent to: replies are taken from it alone, as
    /// libzmq's REQ reads only the pipe it sent on.
    peer: Option<PeerId>,
    resend_at: Option<Instant>,
    /// A reply came: no more resends or failover.
    answered: bool,
}

impl ReqState {
    pub(super) fn abandon(&mut self) {
        self.pending = None;
    }
}

#[derive(Debug, Default)]
pub(super) struct RouterState {
    /// Live identities, and whether the peer announced it (else it is the peer's
    /// schemed address, which only that address may hold).
    by_id: HashMap<Bytes, (PeerId, bool)>,
    next_anon: u64,
    /// Identities that came (`true`) and went, for the runtime's copy of the routing
    /// table that the application's send checks (ROUTER_MANDATORY).
    changes: VecDeque<(Bytes, bool)>,
}

impl RouterState {
    /// Picks the identity for a new peering: the announced one, else its schemed address.
    /// Returns the peering it replaces under handover, which only takes over an
    /// identity another peer announced: one derived from a peer's address is that
    /// peer's, whatever a stranger announces.
    pub(super) fn claim(
        &mut self,
        info: &PeerInfo,
        handover: bool,
    ) -> Result<(Bytes, Option<PeerId>), Refusal> {
        match &info.identity {
            Some(id) => match self.by_id.get(id) {
                Some(&(old, true)) if handover => Ok((id.clone(), Some(old))),
                Some(_) => Err(Refusal::DuplicateIdentity),
                None => Ok((id.clone(), None)),
            },
            None => {
                let mut id = Bytes::from(info.address.clone().into_bytes());
                while self.by_id.contains_key(&id) {
                    self.next_anon += 1;
                    id = Bytes::from(format!("{}#{}", info.address, self.next_anon).into_bytes());
                }
                Ok((id, None))
            }
        }
    }

    pub(super) fn bind(&mut self, id: Bytes, peer: PeerId, announced: bool) {
        self.changes.push_back((id.clone(), true));
        self.by_id.insert(id, (peer, announced));
    }

    pub(super) fn release(&mut self, id: &Bytes, peer: PeerId) {
        if self.by_id.get(id).is_some_and(|&(p, _)| p == peer) {
            self.by_id.remove(id);
            self.changes.push_back((id.clone(), false));
        }
    }

    pub(super) fn poll_change(&mut self) -> Option<(Bytes, bool)> {
        self.changes.pop_front()
    }

    fn lookup(&self, id: &[u8]) -> Option<PeerId> {
        self.by_id.get(id).map(|&(p, _)| p)
    }
}

/// The routing frame a REP's pipe carries for a request: the peering, and the request's
/// sequence where the transport has one, so the reply goes back tagged as its request.
fn route_frame(peer: PeerId, seq: Option<u32>) -> Bytes {
    let mut b = Vec::with_capacity(12);
    b.extend_from_slice(&peer.to_bytes());
    if let Some(s) = seq {
        b.extend_from_slice(&s.to_be_bytes());
    }
    Bytes::from(b)
}

/// Inverse of [`route_frame`]; `None` for anything else (the application forged it).
fn parse_route_frame(b: &[u8]) -> Option<(PeerId, Option<u32>)> {
    let (peer, seq) = b.split_at_checked(8)?;
    let peer = PeerId::from_bytes(peer)?;
    match seq.len() {
        0 => Some((peer, None)),
        4 => Some((peer, Some(u32::from_be_bytes(seq.try_into().ok()?)))),
        _ => None,
    }
}

impl Vocket {
    fn req(&mut self) -> Option<&mut ReqState> {
        match &mut self.kind {
            Kind::Req(r) => Some(r),
            _ => None,
        }
    }

    /// A request from the application (`["", body...]` as the app's REQ framed it,
    /// behind its request id with REQ_CORRELATE): carried as it is.
    pub(super) fn req_send(&mut self, msg: Msg, now: Instant) {
        let Some(req) = self.req() else { return };
        let seq = req.next_seq;
        req.next_seq = req.next_seq.wrapping_add(1);
        // A REQ_RELAXED application may send before the last reply: the old request is
        // abandoned; its reply, should one come, is the application's REQ to discard.
        req.pending = Some(Pending {
            msg,
            seq,
            peer: None,
            resend_at: None,
            answered: false,
        });
        self.req_dispatch(now);
    }

    /// Sends the pending request to the next live peering, if it has none yet.
    fn req_dispatch(&mut self, now: Instant) {
        let Some(Pending {
            msg,
            seq,
            peer: None,
            ..
        }) = self.req().and_then(|r| r.pending.as_ref())
        else {
            return;
        };
        let (msg, seq) = (msg.clone(), *seq);
        let Some(id) = self.lb.next() else { return };
        if self.enqueue(id, msg, Some(seq)).is_err() {
            return;
        }
        let lossy = self.peers.get(id).is_some_and(|p| p.info.lossy);
        let resend_at = self
            .opts
            .req_resend_ivl
            .filter(|_| lossy)
            .map(|ivl| now + ivl);
        if let Some(p) = self.req().and_then(|r| r.pending.as_mut()) {
            p.peer = Some(id);
            p.resend_at = resend_at;
        }
        if let Some(at) = resend_at {
            self.timers.arm(at, TimerKey::ReqResend);
        }
    }

    pub(super) fn req_on_peer_up(&mut self, now: Instant) {
        self.req_dispatch(now);
    }

    /// The peering holding the request may be gone. libzmq's REQ sends a request once:
    /// it is lost with the peering, and the application's REQ waits (or, REQ_RELAXED,
    /// sends another). With `req_failover` it goes to another peering instead.
    pub(super) fn req_on_peer_lost(&mut self, now: Instant) {
        let failover = self.opts.req_failover;
        let Some(req) = self.req() else { return };
        let Some(pending) = req.pending.as_mut() else {
            return;
        };
        let Some(peer) = pending.peer else { return };
        if pending.answered || self.peers.get(peer).is_some() {
            return;
        }
        let Some(req) = self.req() else { return };
        if !failover {
            req.pending = None;
            return;
        }
        if let Some(pending) = req.pending.as_mut() {
            pending.peer = None;
            pending.resend_at = None;
        }
        self.req_dispatch(now);
    }

    /// A message from a peer: a reply if it comes from the peering that holds the latest
    /// request (and, on datagram peerings, carries its sequence and is the first).
    pub(super) fn req_on_reply(&mut self, from: PeerId, msg: Msg, seq: Option<u32>) -> Flow {
        let verdict = match self.req().and_then(|r| r.pending.as_ref()) {
            None => Err(DropReason::Invalid),
            Some(p) if p.peer != Some(from) => Err(DropReason::Invalid),
            Some(p) if seq.is_some_and(|s| s != p.seq) => Err(DropReason::Duplicate),
            Some(p) if seq.is_some() && p.answered => Err(DropReason::Duplicate),
            Some(_) => Ok(()),
        };
        match verdict {
            // Answered once queued: a reply dropped at RCVHWM (a datagram peering cannot
            // be paused) leaves the request to be resent, and the REP's cached reply
            // comes again; else the application's REQ would wait for ever.
            Ok(()) => match self.queue_for_app(from, msg, false) {
                Some(flow) => {
                    if let Some(p) = self.req().and_then(|r| r.pending.as_mut()) {
                        p.answered = true;
                    }
                    flow
                }
                None => Flow::Continue,
            },
            Err(reason) => {
                self.drop_msg(reason);
                Flow::Continue
            }
        }
    }

    pub(super) fn req_on_resend_timer(&mut self, at: Instant, now: Instant) {
        let Some(ivl) = self.opts.req_resend_ivl else {
            return;
        };
        let Some(p) = self.req().and_then(|r| r.pending.as_ref()) else {
            return;
        };
        let (Some(peer), true, false) = (p.peer, p.resend_at == Some(at), p.answered) else {
            return;
        };
        let (msg, seq) = (p.msg.clone(), p.seq);
        // Resend to the same peering (its REP dedupes); failover happens on peer loss.
        // Skip while a copy still waits in its queue.
        if self.peers.get(peer).is_some_and(|p| p.queue.is_empty()) {
            let _ = self.enqueue(peer, msg, Some(seq));
        }
        let next = now + ivl;
        if let Some(p) = self.req().and_then(|r| r.pending.as_mut()) {
            p.resend_at = Some(next);
        }
        self.timers.arm(next, TimerKey::ReqResend);
    }

    /// A request from a peer: deliver it behind the peering's routing frame, unless it
    /// duplicates the last one (then resend the cached reply).
    pub(super) fn rep_on_request(&mut self, from: PeerId, mut msg: Msg, seq: Option<u32>) -> Flow {
        if !msg.iter().any(Bytes::is_empty) {
            // No delimiter: libzmq's REP ignores such messages too.
            self.drop_msg(DropReason::Invalid);
            return Flow::Continue;
        }
        let Some(p) = self.peers.get_mut(from) else {
            return Flow::Continue;
        };
        if let Some(s) = seq {
            if p.last_seq == Some(s) {
                if let Some(reply) = p.cached_reply.clone() {
                    let _ = self.enqueue(from, reply, Some(s));
                }
                self.drop_msg(DropReason::Duplicate);
                return Flow::Continue;
            }
            p.last_seq = Some(s);
            p.cached_reply = None;
        }
        msg.push_front(route_frame(from, seq));
        self.queue_message_for_app(from, msg)
    }

    /// A reply from the application: `[routing frame, envelope..., "", body...]`.
    pub(super) fn rep_send(&mut self, mut msg: Msg) {
        let to = msg.pop_front().and_then(|f| parse_route_frame(&f));
        let Some((to, seq, p)) = to.and_then(|(id, seq)| Some((id, seq, self.peers.get_mut(id)?)))
        else {
            self.drop_msg(DropReason::Unroutable);
            return;
        };
        // The reply carries its own request's sequence: a REQ_RELAXED peer may have sent
        // the next request before this one was answered.
        if p.info.lossy && seq.is_some() && seq == p.last_seq {
            // Kept until the next request: its own bytes, not the pipe's buffer.
            p.cached_reply = Some(msg.detached());
        }
        if self.enqueue(to, msg, seq).is_err() {
            self.drop_msg(DropReason::Hwm);
        }
    }

    /// A message from the application: `[identity, frames...]`.
    pub(super) fn router_send(&mut self, mut msg: Msg) {
        let Some(identity) = msg.pop_front().filter(|_| !msg.is_empty()) else {
            self.drop_msg(DropReason::Invalid);
            return;
        };
        let to = match &self.kind {
            Kind::Router(r) => r.lookup(&identity),
            _ => None,
        };
        let Some(to) = to else {
            // With ROUTER_MANDATORY the application's send checked the identity; a
            // peering that went down since loses the message as a libzmq pipe would.
            self.drop_msg(DropReason::Unroutable);
            return;
        };
        let seq = self.peers.get(to).and_then(|p| p.last_seq);
        if let Err(mut msg) = self.enqueue(to, msg, seq) {
            if self.opts.router_mandatory {
                // libzmq blocks a mandatory send to a full peer: hold it, and read no
                // more from the application until that peering takes it.
                msg.push_front(identity);
                self.unsent.push_back(msg);
            } else {
                self.drop_msg(DropReason::Hwm);
            }
        }
    }
}
