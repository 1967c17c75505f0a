//! Deadlines, sans-IO: a min-heap of `(Instant, key)` with lazy cancellation, the one
//! timer mechanism of the Vockets, the driver runtime and the NOM-2 engine.
//!
//! It reads no clock: whoever owns it passes `now` in, as every sans-IO state machine
//! here is told the time (docs/architecture.md §3).
//!
//! # Lazy cancellation
//!
//! Nothing is ever removed or searched for. An owner that wants a deadline keeps it in
//! its own state (a peering's `ack_deadline`, a socket's `timer_at`) and
//! [arms](TimerHeap::arm) an entry for it; to move or cancel the deadline it changes
//! its own copy and, if there is a new one, arms again. When an entry
//! [fires](TimerHeap::pop_expired), the owner compares its `at` (and whatever
//! generation it put in the key) with what it holds now and ignores an entry that no
//! longer matches: a stale fire costs one pop, never a wrong action.
//!
//! The heap therefore holds every entry armed and not yet due, stale ones included: it
//! is bounded by what its owners arm, not by the number of live deadlines. An owner
//! keeps that bounded by arming only when it has no earlier deadline armed (a later
//! one is armed when the earlier fires), or by re-arming at most once per event it
//! already pays for (a datagram, a message).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// The one deadline an owner keeps armed in a heap it cannot cancel in, when the
/// firing tells it only its key, not the entry's `at` (a transport's
/// `Driver::set_timer`): a sooner deadline is armed beside the current one, and the
/// entry it superseded still fires later. Only a firing once the armed deadline is
/// due clears it; an earlier one is stale. (Clearing on every firing re-armed one
/// more entry per stale one, and they never died out.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// Records `at` and returns true, to arm it, when nothing is armed or `at` is
    /// sooner; a later deadline is armed when this one fires.
    pub fn arm_if_sooner(&mut self, at: Instant) -> bool {
        let sooner = self.0.is_none_or(|t| at < t);
        if sooner {
            self.0 = Some(at);
        }
        sooner
    }

    /// An entry fired at `now`: false if the armed deadline is still to come (the
    /// entry was superseded; ignore it), else the deadline is cleared and true.
    pub fn fired(&mut self, now: Instant) -> bool {
        if self.0.is_some_and(|t| t > now) {
            return false;
        }
        self.0 = None;
        true
    }
}

/// A min-heap of deadlines, each with its owner's key, cancelled lazily (see the
/// [module](self) docs).
///
/// Entries due at the same instant come out in the order of their keys.
#[derive(Clone, Debug)]
pub struct TimerHeap<K> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
}

impl<K: Ord> Default for TimerHeap<K> {
    fn default() -> TimerHeap<K> {
        TimerHeap::new()
    }
}

impl<K: Ord> TimerHeap<K> {
    /// An empty heap.
    pub fn new() -> TimerHeap<K> {
        TimerHeap {
            heap: BinaryHeap::new(),
        }
    }

    /// Adds an entry that fires at `at`. Earlier entries with the same key stay: their
    /// owner ignores them when they fire.
    pub fn arm(&mut self, at: Instant, key: K) {
        self.heap.push(Reverse((at, key)));
    }

    /// The earliest deadline armed, stale or not: when to call
    /// [`TimerHeap::pop_expired`] next.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the earliest entry if it is due at `now` (`at <= now`), with
    /// the instant it was armed for. An entry armed meanwhile for `now` or before is
    /// returned too, so a loop over this also fires what the entries it fired armed.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(Instant, K)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Every entry due at `now`, earliest first, removed as the iterator is advanced
    /// (what [`TimerHeap::pop_expired`] returns, until it returns `None`).
    pub fn expired(&mut self, now: Instant) -> impl Iterator<Item = (Instant, K)> + '_ {
        std::iter::from_fn(move || self.pop_expired(now))
    }

    /// Entries armed and not yet popped, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no entry is armed.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_deadline_ignores_the_entries_it_superseded() {
        let t0 = Instant::now();
        let mut d = Deadline::default();
        assert!(d.arm_if_sooner(ms(t0, 20)));
        assert!(d.arm_if_sooner(ms(t0, 10)), "sooner: armed beside");
        assert!(!d.arm_if_sooner(ms(t0, 15)), "later: waits");
        assert!(d.fired(ms(t0, 10)), "the armed one");
        assert!(d.arm_if_sooner(ms(t0, 30)));
        assert!(!d.fired(ms(t0, 20)), "the superseded entry: stale");
        assert!(!d.arm_if_sooner(ms(t0, 40)), "still armed at 30");
        assert!(d.fired(ms(t0, 30)));
        assert!(d.fired(ms(t0, 31)), "nothing armed: a firing is not stale");
    }

    fn ms(t0: Instant, n: u64) -> Instant {
        t0 + Duration::from_millis(n)
    }

    #[test]
    fn fires_in_deadline_order_then_key_order() {
        let t0 = Instant::now();
        let mut h = TimerHeap::new();
        h.arm(ms(t0, 30), 'c');
        h.arm(ms(t0, 10), 'b');
        h.arm(ms(t0, 10), 'a');
        h.arm(ms(t0, 20), 'd');
        assert_eq!(h.len(), 4);
        assert_eq!(h.next_deadline(), Some(ms(t0, 10)));
        let due: Vec<_> = h.expired(ms(t0, 20)).collect();
        assert_eq!(
            due,
            [(ms(t0, 10), 'a'), (ms(t0, 10), 'b'), (ms(t0, 20), 'd')]
        );
        assert_eq!(h.next_deadline(), Some(ms(t0, 30)));
        assert_eq!(h.len(), 1);
    }

    #[test]
    fn nothing_fires_before_its_deadline() {
        let t0 = Instant::now();
        let mut h = TimerHeap::new();
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.pop_expired(t0), None);
        h.arm(ms(t0, 5), 1u8);
        assert_eq!(h.pop_expired(ms(t0, 4)), None);
        assert_eq!(h.expired(ms(t0, 4)).count(), 0);
        assert_eq!(h.pop_expired(ms(t0, 5)), Some((ms(t0, 5), 1)));
        assert!(h.is_empty());
    }

    /// The owner's side of the contract: it keeps the deadline it armed last and
    /// ignores an entry that does not match it.
    #[test]
    fn a_rearmed_owner_ignores_its_stale_entry() {
        let t0 = Instant::now();
        let mut h = TimerHeap::new();
        // Armed for 10 ms, moved to 20 ms, then brought forward to 15 ms: three
        // entries, of which the owner holds one.
        for at in [10, 20, 15] {
            h.arm(ms(t0, at), ());
        }
        let mut deadline = Some(ms(t0, 15));
        assert_eq!(h.len(), 3);
        let mut fired = Vec::new();
        for (at, ()) in h.expired(ms(t0, 100)) {
            if deadline == Some(at) {
                deadline = None;
                fired.push(at);
            }
        }
        assert_eq!(fired, [ms(t0, 15)]);
        assert!(h.is_empty());
    }

    #[test]
    fn pop_expired_sees_what_was_armed_meanwhile() {
        let t0 = Instant::now();
        let mut h = TimerHeap::new();
        h.arm(ms(t0, 1), 0u32);
        let mut fired = 0;
        while let Some((at, n)) = h.pop_expired(ms(t0, 3)) {
            fired += 1;
            h.arm(at + Duration::from_millis(1), n + 1);
        }
        // Fired at 1, 2 and 3 ms; the one armed for 4 ms waits.
        assert_eq!(fired, 3);
        assert_eq!(h.next_deadline(), Some(ms(t0, 4)));
    }
}
