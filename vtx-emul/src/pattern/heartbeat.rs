//! Heartbeats, RFC 37 §3.4 as libzmq does them: when each peering is pinged, when it
//! is declared dead, and its one timer in the Vocket's heap.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{DownReason, PeerId, TimerKey, Transmit, Vocket};

impl Vocket {
    pub(super) fn arm_heartbeat(&mut self, id: PeerId, now: Instant) {
        if let Some(ivl) = self.opts.heartbeat_ivl
            && let Some(p) = self.peers.get_mut(id)
        {
            p.next_ping = Some(now + ivl);
            self.arm_peer_timer(id, now + ivl);
        }
    }

    pub(super) fn arm_peer_timer(&mut self, id: PeerId, at: Instant) {
        if let Some(p) = self.peers.get_mut(id) {
            p.timer_at = Some(at);
            self.timers.arm(at, TimerKey::Heartbeat(id));
        }
    }

    /// Arms the peer's timer earlier when a new TTL deadline comes before it.
    pub(super) fn rearm_if_sooner(&mut self, id: PeerId) {
        let Some(p) = self.peers.get(id) else { return };
        if let Some(ttl) = p.ttl_deadline
            && p.timer_at.is_none_or(|at| ttl < at)
        {
            self.arm_peer_timer(id, ttl);
        }
    }

    /// RFC 37 §3.4 heartbeats, libzmq's way: a PING every `ivl` whatever the traffic;
    /// dead when nothing at all is heard within `timeout` of a PING, or past the TTL
    /// the peer announced in its last PING (any input cancels both).
    pub(super) fn heartbeat_tick(&mut self, id: PeerId, at: Instant, now: Instant) {
        let ivl = self.opts.heartbeat_ivl;
        let timeout = self.opts.effective_heartbeat_timeout();
        let ttl = self.opts.heartbeat_ttl;
        let Some(p) = self.peers.get_mut(id) else {
            return;
        };
        if p.timer_at != Some(at) {
            return; // superseded
        }
        p.timer_at = None;
        let ping_expired = p
            .ping_sent_at
            .zip(timeout)
            .is_some_and(|(sent, t)| now >= sent + t);
        let ttl_expired = p.ttl_deadline.is_some_and(|d| now >= d);
        if ping_expired || ttl_expired {
            log::debug!("{}: heartbeat timeout", p.info.address);
            self.drop_peer(id, DownReason::HeartbeatTimeout, true);
            self.after_peer_loss(now);
            return;
        }
        if let Some(ivl) = ivl
            && p.next_ping.is_some_and(|due| now >= due)
        {
            // The timeout runs from the oldest unanswered PING.
            p.ping_sent_at.get_or_insert(now);
            p.next_ping = Some(now + ivl);
            self.push_control(
                id,
                Transmit::Ping {
                    ttl,
                    context: Bytes::new(),
                },
            );
        }
        let Some(p) = self.peers.get(id) else { return };
        let next = [
            p.ping_sent_at.zip(timeout).map(|(sent, t)| sent + t),
            p.next_ping,
            p.ttl_deadline,
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(next) = next {
            // Never re-arm at `now`: a zero timeout must not spin handle_timeout.
            self.arm_peer_timer(id, next.max(now + Duration::from_millis(1)));
        }
    }
}
