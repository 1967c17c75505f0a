//! What a peer or a slow application can make a Vocket hold, sans-IO: subscriptions
//! per peering are bounded, subscription notices wait under RCVHWM like messages, and a
//! flood of drops costs counters, not events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use bytes::Bytes;
use vtx_emul::pattern::{Action, DownReason, DropReason, Event, Flow, Input, PeerInfo, Vocket};
use vtx_emul::{Msg, SocketOptions, SocketType as T};

fn topic(i: usize) -> Bytes {
    Bytes::from(format!("topic-{i:06}"))
}

/// A peering that subscribes past `max_subscriptions` is dropped and counted; the
/// publisher keeps serving the others.
#[test]
fn a_peering_past_its_subscription_limit_is_dropped() {
    let now = Instant::now();
    let mut v = Vocket::new(
        T::Pub,
        SocketOptions::default()
            .with_max_subscriptions(10)
            .with_rcvhwm(0),
    );
    let greedy = v
        .handle_peer_up(PeerInfo::new(T::Sub, "test://greedy", 1), now)
        .unwrap();
    let modest = v
        .handle_peer_up(PeerInfo::new(T::Sub, "test://modest", 2), now)
        .unwrap();
    v.handle_input(modest, Input::Subscribe(topic(0)), now);
    for i in 0..10 {
        v.handle_input(greedy, Input::Subscribe(topic(i)), now);
    }
    // Subscribing again to a topic it holds is no new subscription.
    v.handle_input(greedy, Input::Subscribe(topic(3)), now);
    assert_eq!(v.peer_count(), 2);
    assert_eq!(v.subscription_count(), 11);
    v.handle_input(greedy, Input::Subscribe(topic(10)), now);
    assert_eq!(v.peer_count(), 1, "the greedy peering is gone");
    assert_eq!(v.stats().over_limit, 1);
    let mut closed = Vec::new();
    while let Some(a) = v.poll_action() {
        if let Action::Close { conn, reason } = a {
            closed.push((conn, reason));
        }
    }
    assert_eq!(closed, [(1, DownReason::OverLimit)]);
    assert_eq!(v.subscription_count(), 1, "its subscriptions went with it");
}

/// The byte limit: many long topics are refused like many topics.
#[test]
fn a_peering_past_its_topic_bytes_is_dropped() {
    let now = Instant::now();
    let mut v = Vocket::new(
        T::XPub,
        SocketOptions::default()
            .with_max_subscription_bytes(4096)
            .with_rcvhwm(0),
    );
    let p = v
        .handle_peer_up(PeerInfo::new(T::XSub, "test://long", 1), now)
        .unwrap();
    v.handle_input(p, Input::Subscribe(Bytes::from(vec![b'a'; 4000])), now);
    assert_eq!(v.peer_count(), 1);
    v.handle_input(p, Input::Subscribe(Bytes::from(vec![b'b'; 100])), now);
    assert_eq!(v.peer_count(), 0);
    assert_eq!(v.stats().over_limit, 1);
}

/// Subscription notices go to the application under RCVHWM: a peer churning
/// subscriptions while the application does not read is paused like a sender of
/// messages, and resumed when the application catches up.
#[test]
fn subscription_notices_wait_under_rcvhwm() {
    let now = Instant::now();
    let mut v = Vocket::new(T::XPub, SocketOptions::default().with_rcvhwm(5));
    let p = v
        .handle_peer_up(PeerInfo::new(T::XSub, "test://churn", 1), now)
        .unwrap();
    let mut paused_at = None;
    for i in 0..100 {
        let input = if i % 2 == 0 {
            Input::Subscribe(topic(i))
        } else {
            Input::Cancel(topic(i - 1))
        };
        if v.handle_input(p, input, now) == Flow::Pause {
            paused_at = Some(i);
            break;
        }
    }
    assert_eq!(paused_at, Some(4), "paused once RCVHWM notices wait");
    assert_eq!(v.to_app_len(), 5);
    while v.pop_to_app().is_some() {}
    assert!(
        matches!(v.poll_action(), Some(Action::Resume { conn: 1 })),
        "resumed when the application read"
    );
}

/// Dropping at SNDHWM costs counters: ten thousand drops make one `Dropped` event that
/// carries the count, and the next drop after it was polled makes the next one.
#[test]
fn a_flood_of_drops_makes_one_event_with_the_count() {
    let now = Instant::now();
    let mut v = Vocket::new(T::Pub, SocketOptions::default().with_sndhwm(1));
    let p = v
        .handle_peer_up(PeerInfo::new(T::Sub, "test://slow", 1), now)
        .unwrap();
    v.handle_input(p, Input::Subscribe(Bytes::new()), now);
    while v.poll_event().is_some() {}
    for _ in 0..10_001 {
        v.handle_app(Msg::single("x"), now);
    }
    assert_eq!(v.stats().dropped_hwm, 10_000);
    let drops: Vec<Event> = std::iter::from_fn(|| v.poll_event()).collect();
    assert_eq!(
        drops,
        [Event::Dropped {
            reason: DropReason::Hwm,
            count: 10_000
        }]
    );
    v.handle_app(Msg::single("x"), now);
    assert_eq!(
        v.poll_event(),
        Some(Event::Dropped {
            reason: DropReason::Hwm,
            count: 1
        })
    );
}
