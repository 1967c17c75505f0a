//! A min-heap of deadlines with lazy cancellation.
//!
//! Owners keep the deadline they armed and ignore a fired entry that no longer matches
//! it, so re-arming is a push and nothing is ever searched for. At most one live entry
//! per owner exists, which bounds the heap by the number of peerings.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::peers::PeerId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Heartbeat(PeerId),
    ReqResend,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl Timers {
    pub(crate) fn arm(&mut self, at: Instant, key: TimerKey) {
        self.heap.push(Reverse((at, key)));
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Pops one entry due at `now`.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }
}
