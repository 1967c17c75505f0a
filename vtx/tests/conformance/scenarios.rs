//! The scenarios: each is one libzmq rule exercised the same way in every world, with
//! what the application observes written to the trace. A scenario never expects: it
//! observes, and the suite compares.

use std::time::Duration;

use crate::trace::{Trace, errname, publish_until, recv, recv_all, send};
use crate::world::World;

pub(crate) type Scenario = (&'static str, &'static str, fn(&World, &mut Trace));

/// Every scenario: (name, what it shows, code).
pub(crate) fn all() -> Vec<Scenario> {
    vec![
        ("req-rep", "REQ/REP round trips", req_rep),
        (
            "req-efsm",
            "REQ sending twice, REP sending first: EFSM",
            req_efsm,
        ),
        (
            "req-router-envelope",
            "a REQ's envelope at a ROUTER, and the reply routed back",
            req_router_envelope,
        ),
        (
            "router-identity",
            "a DEALER's ROUTING_ID names it at the ROUTER",
            router_identity,
        ),
        (
            "router-unknown",
            "a ROUTER message to an unknown identity is dropped silently",
            router_unknown,
        ),
        (
            "router-mandatory",
            "ROUTER_MANDATORY: EHOSTUNREACH for an unknown identity",
            router_mandatory,
        ),
        ("router-type", "a ROUTER says it is a ROUTER", router_type),
        (
            "push-round-robin",
            "PUSH spreads over its peers, in order each",
            push_round_robin,
        ),
        (
            "pull-fair-queue",
            "PULL fair-queues two busy senders when the application is slow",
            pull_fair_queue,
        ),
        (
            "pub-sub-filter",
            "PUB sends a SUB only what matches its subscriptions",
            pub_sub_filter,
        ),
        (
            "unsubscribe",
            "a cancelled subscription stops delivery",
            unsubscribe,
        ),
        (
            "xpub-subscriptions",
            "XPUB sees subscribe and cancel messages",
            xpub_subscriptions,
        ),
        (
            "xpub-verbose",
            "XPUB_VERBOSE passes every subscription, not only new ones",
            xpub_verbose,
        ),
        (
            "xpub-not-verbose",
            "XPUB passes a topic's first subscription only",
            xpub_not_verbose,
        ),
        (
            "xsub-subscribes",
            "XSUB subscribes with a message",
            xsub_subscribes,
        ),
        (
            "pair-exclusive",
            "a bound PAIR talks to its first peer only",
            pair_exclusive,
        ),
        (
            "multipart",
            "frames, empty ones included, arrive as sent",
            multipart,
        ),
        ("large-message", "a 4 MiB message", large_message),
        (
            "dealer-router-both-ways",
            "DEALER and ROUTER exchange both ways",
            dealer_router_both_ways,
        ),
        (
            "push-bound-no-peer",
            "a bound PUSH without peers: EAGAIN",
            push_bound_no_peer,
        ),
        (
            "immediate",
            "IMMEDIATE: a PUSH that connected to nobody does not queue",
            immediate,
        ),
        (
            "reconnect",
            "a REQ reaches its REP again after the REP restarts",
            reconnect,
        ),
        (
            "linger",
            "messages sent before close are delivered (LINGER)",
            linger,
        ),
        (
            "req-relaxed-correlate",
            "REQ_RELAXED with REQ_CORRELATE: a new request, the old reply ignored",
            req_relaxed_correlate,
        ),
        (
            "req-at-most-once",
            "a REQ whose REP died with its request does not send it elsewhere",
            req_at_most_once,
        ),
        (
            "rep-no-delimiter",
            "REP and a request without an empty delimiter",
            rep_no_delimiter,
        ),
        (
            "pair-queued-on-death",
            "what a PAIR queued for a peer that died",
            pair_queued_on_death,
        ),
        ("conflate", "CONFLATE keeps the last message only", conflate),
        (
            "probe-router",
            "PROBE_ROUTER: the DEALER announces itself on connect",
            probe_router,
        ),
        (
            "xpub-welcome",
            "XPUB_WELCOME_MSG: a new subscriber gets a welcome",
            xpub_welcome,
        ),
        (
            "peer-metadata",
            "a received message's properties: Socket-Type, an X- property, Identity",
            peer_metadata,
        ),
        (
            "per-message-properties",
            "each message's properties are those of its own sender",
            per_message_properties,
        ),
        (
            "pub-hwm-drops",
            "a PUB drops for a subscriber that does not keep up, in order",
            pub_hwm_drops,
        ),
        (
            "push-hwm-blocks",
            "a PUSH whose peer does not read says EAGAIN once the HWMs are full",
            push_hwm_blocks,
        ),
        (
            "send-blocks-without-peer",
            "a bound PUSH without peers blocks until SNDTIMEO",
            send_blocks_without_peer,
        ),
        (
            "probe-each-router",
            "PROBE_ROUTER: each ROUTER a DEALER connects to hears it",
            probe_each_router,
        ),
        (
            "router-mandatory-after-leave",
            "ROUTER_MANDATORY: EHOSTUNREACH once the peer is gone",
            router_mandatory_after_leave,
        ),
    ]
}

fn req_rep(w: &World, t: &mut Trace) {
    let rep = w.socket(zmq::REP);
    let ep = w.bind(&rep);
    let req = w.socket(zmq::REQ);
    w.connect(&req, &ep);
    for i in 0..3 {
        t.say(format!("REQ send: {}", send(&req, &[&format!("q{i}")], 0)));
        t.say(format!("REP got: {}", recv(&rep, 5000)));
        t.say(format!(
            "REP send: {}",
            send(&rep, &[&format!("a{i}"), "x"], 0)
        ));
        t.say(format!("REQ got: {}", recv(&req, 5000)));
    }
}

fn req_efsm(w: &World, t: &mut Trace) {
    let rep = w.socket(zmq::REP);
    let ep = w.bind(&rep);
    t.say(format!("REP send first: {}", send(&rep, &["x"], 0)));
    let req = w.socket(zmq::REQ);
    w.connect(&req, &ep);
    t.say(format!("REQ send: {}", send(&req, &["one"], 0)));
    t.say(format!("REQ send again: {}", send(&req, &["two"], 0)));
    t.say(format!("REQ recv: {}", recv(&rep, 5000)));
}

fn req_router_envelope(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    let ep = w.bind(&router);
    let req = w.socket(zmq::REQ);
    req.set_identity(b"asker").unwrap();
    w.connect(&req, &ep);
    req.send("what?", 0).unwrap();
    let m = router.recv_multipart(0).unwrap();
    t.say(format!(
        "ROUTER got {} frames: {}",
        m.len(),
        crate::trace::show(&m)
    ));
    router
        .send_multipart([m[0].clone(), Vec::new(), b"this".to_vec()], 0)
        .unwrap();
    t.say(format!("REQ got: {}", recv(&req, 5000)));
}

fn router_identity(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"alice").unwrap();
    w.connect(&dealer, &ep);
    dealer.send("hi", 0).unwrap();
    t.say(format!("ROUTER got: {}", recv(&router, 5000)));
    t.say(format!(
        "ROUTER send: {}",
        send(&router, &["alice", "hello alice"], 0)
    ));
    t.say(format!("DEALER got: {}", recv(&dealer, 5000)));
}

fn router_unknown(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"bob").unwrap();
    w.connect(&dealer, &ep);
    dealer.send("hi", 0).unwrap();
    recv(&router, 5000);
    t.say(format!(
        "to nobody: {}",
        send(&router, &["nobody", "lost"], 0)
    ));
    t.say(format!("to bob: {}", send(&router, &["bob", "found"], 0)));
    t.say(format!("DEALER got: {}", recv(&dealer, 5000)));
}

fn router_mandatory(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    t.say(format!(
        "set ROUTER_MANDATORY: {}",
        router
            .set_router_mandatory(true)
            .map_or_else(errname, |()| "ok".into())
    ));
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"carol").unwrap();
    w.connect(&dealer, &ep);
    dealer.send("hi", 0).unwrap();
    recv(&router, 5000);
    t.say(format!(
        "to nobody: {}",
        send(&router, &["nobody", "lost"], zmq::DONTWAIT)
    ));
    t.say(format!(
        "to carol: {}",
        send(&router, &["carol", "found"], 0)
    ));
    t.say(format!("DEALER got: {}", recv(&dealer, 5000)));
}

fn router_type(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    w.bind(&router);
    t.say(format!("type: {:?}", router.get_socket_type().unwrap()));
}

fn push_round_robin(w: &World, t: &mut Trace) {
    let push = w.socket(zmq::PUSH);
    let ep = w.bind(&push);
    let pulls = [w.socket(zmq::PULL), w.socket(zmq::PULL)];
    for p in &pulls {
        w.connect(p, &ep);
    }
    w.wait_peers(&push, 2);
    for i in 0..10 {
        push.send(format!("{i}").as_bytes(), 0).unwrap();
    }
    let mut got: Vec<Vec<String>> = pulls.iter().map(|p| recv_all(p, 300)).collect();
    got.sort();
    for g in got {
        t.say(format!("a PULL got {}: {}", g.len(), g.join(" ")));
    }
}

fn pull_fair_queue(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    pull.set_rcvhwm(10).unwrap();
    let ep = w.bind(&pull);
    let pushes = [w.socket(zmq::PUSH), w.socket(zmq::PUSH)];
    for (k, p) in pushes.iter().enumerate() {
        w.connect(p, &ep);
        w.wait_peers(&pull, k + 1);
    }
    // Both senders queue far more than the receiver holds, then it reads.
    let n = 2000;
    for i in 0..n {
        for (k, p) in pushes.iter().enumerate() {
            p.send(format!("{k}").as_bytes(), 0).unwrap();
        }
        if i == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let (mut run, mut longest, mut last) = (0, 0, String::new());
    let mut got = [0, 0];
    for i in 0..2 * n {
        if i % 20 == 0 {
            // A slow application: the senders outrun it throughout.
            std::thread::sleep(Duration::from_millis(1));
        }
        let m = recv(&pull, 2000);
        if m == "EAGAIN" {
            break;
        }
        got[usize::from(m == "1")] += 1;
        run = if m == last { run + 1 } else { 1 };
        longest = longest.max(run);
        last = m;
    }
    t.say(format!(
        "both senders served: {}",
        got[0] == n && got[1] == n
    ));
    t.say(format!(
        "longest run from one sender under 200: {}",
        longest < 200
    ));
}

fn pub_sub_filter(w: &World, t: &mut Trace) {
    let publisher = w.socket(zmq::PUB);
    let ep = w.bind(&publisher);
    let sub = w.socket(zmq::SUB);
    sub.set_subscribe(b"a").unwrap();
    w.connect(&sub, &ep);
    t.say(format!("first: {}", publish_until(&publisher, &sub, "a0")));
    recv_all(&sub, 100);
    for m in ["b1", "a1", "c1", "ab"] {
        publisher.send(m, 0).unwrap();
    }
    t.say(format!("then: {}", recv_all(&sub, 300).join(" ")));
}

fn unsubscribe(w: &World, t: &mut Trace) {
    let publisher = w.socket(zmq::PUB);
    let ep = w.bind(&publisher);
    let sub = w.socket(zmq::SUB);
    sub.set_subscribe(b"a").unwrap();
    sub.set_subscribe(b"b").unwrap();
    w.connect(&sub, &ep);
    publish_until(&publisher, &sub, "a0");
    publish_until(&publisher, &sub, "b0");
    sub.set_unsubscribe(b"a").unwrap();
    // The cancel travels before the next subscription: once "c" arrives, it is done.
    sub.set_subscribe(b"c").unwrap();
    publish_until(&publisher, &sub, "c0");
    recv_all(&sub, 100);
    for m in ["a1", "b1"] {
        publisher.send(m, 0).unwrap();
    }
    t.say(format!(
        "after cancelling a: {}",
        recv_all(&sub, 300).join(" ")
    ));
}

fn xpub_subscriptions(w: &World, t: &mut Trace) {
    let xpub = w.socket(zmq::XPUB);
    let ep = w.bind(&xpub);
    let sub = w.socket(zmq::SUB);
    w.connect(&sub, &ep);
    sub.set_subscribe(b"topic").unwrap();
    t.say(format!("XPUB got: {}", recv(&xpub, 5000)));
    sub.set_unsubscribe(b"topic").unwrap();
    t.say(format!("XPUB got: {}", recv(&xpub, 5000)));
}

fn xpub_verbose(w: &World, t: &mut Trace) {
    xpub_two_subscribers(w, t, true);
}

fn xpub_not_verbose(w: &World, t: &mut Trace) {
    xpub_two_subscribers(w, t, false);
}

/// Two subscribers subscribe to the same topic, one after the other.
fn xpub_two_subscribers(w: &World, t: &mut Trace, verbose: bool) {
    let xpub = w.socket(zmq::XPUB);
    xpub.set_xpub_verbose(verbose).unwrap();
    let ep = w.bind(&xpub);
    let subs = [w.socket(zmq::SUB), w.socket(zmq::SUB)];
    for (k, s) in subs.iter().enumerate() {
        w.connect(s, &ep);
        w.wait_peers(&xpub, k + 1);
        s.set_subscribe(b"t").unwrap();
    }
    t.say(format!("XPUB got: {}", recv_all(&xpub, 300).join(" ")));
}

fn xsub_subscribes(w: &World, t: &mut Trace) {
    let publisher = w.socket(zmq::PUB);
    let ep = w.bind(&publisher);
    let xsub = w.socket(zmq::XSUB);
    w.connect(&xsub, &ep);
    xsub.send(b"\x01n".as_slice(), 0).unwrap();
    t.say(format!(
        "XSUB got: {}",
        publish_until(&publisher, &xsub, "news")
    ));
}

fn pair_exclusive(w: &World, t: &mut Trace) {
    let bound = w.socket(zmq::PAIR);
    let ep = w.bind(&bound);
    let first = w.socket(zmq::PAIR);
    w.connect(&first, &ep);
    first.send("from the first", 0).unwrap();
    t.say(format!("bound got: {}", recv(&bound, 5000)));
    let second = w.socket(zmq::PAIR);
    w.connect(&second, &ep);
    second.send("from the second", zmq::DONTWAIT).unwrap();
    first.send("first again", 0).unwrap();
    t.say(format!("bound got: {}", recv_all(&bound, 300).join(" ")));
    bound.send("reply", 0).unwrap();
    t.say(format!("first got: {}", recv(&first, 5000)));
}

fn multipart(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    let ep = w.bind(&pull);
    let push = w.socket(zmq::PUSH);
    w.connect(&push, &ep);
    push.send_multipart(["a", "", "ccc", ""], 0).unwrap();
    push.send("", 0).unwrap();
    let m = pull.recv_multipart(0).unwrap();
    t.say(format!("{} frames: {:?}", m.len(), m));
    let m = pull.recv_multipart(0).unwrap();
    t.say(format!("{} frames: {:?}", m.len(), m));
}

fn large_message(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    let ep = w.bind(&pull);
    let push = w.socket(zmq::PUSH);
    w.connect(&push, &ep);
    let big: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
    push.send(&big, 0).unwrap();
    match pull.recv_bytes(0) {
        Ok(m) => t.say(format!("got {} bytes, intact: {}", m.len(), m == big)),
        Err(e) => t.say(errname(e)),
    }
}

fn dealer_router_both_ways(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"d").unwrap();
    w.connect(&dealer, &ep);
    for i in 0..3 {
        dealer
            .send_multipart([format!("up{i}").as_str(), "x"], 0)
            .unwrap();
    }
    t.say(format!("ROUTER: {}", recv_all(&router, 300).join(" ")));
    for i in 0..3 {
        router
            .send_multipart(["d", &format!("down{i}")], 0)
            .unwrap();
    }
    t.say(format!("DEALER: {}", recv_all(&dealer, 300).join(" ")));
}

fn push_bound_no_peer(w: &World, t: &mut Trace) {
    let push = w.socket(zmq::PUSH);
    w.bind(&push);
    t.say(format!("send: {}", send(&push, &["x"], zmq::DONTWAIT)));
}

fn immediate(w: &World, t: &mut Trace) {
    // Somewhere nobody listens: a bound socket's endpoint, after it closed.
    let gone = w.socket(zmq::PULL);
    let ep = w.bind(&gone);
    drop(gone);
    let push = w.socket(zmq::PUSH);
    push.set_immediate(true).unwrap();
    w.connect(&push, &ep);
    t.say(format!("send: {}", send(&push, &["x"], zmq::DONTWAIT)));
}

fn reconnect(w: &World, t: &mut Trace) {
    let rep = w.socket(zmq::REP);
    let ep = w.bind(&rep);
    let req = w.socket(zmq::REQ);
    req.set_reconnect_ivl(50).unwrap();
    w.connect(&req, &ep);
    req.send("one", 0).unwrap();
    t.say(format!("REP got: {}", recv(&rep, 5000)));
    rep.send("1", 0).unwrap();
    t.say(format!("REQ got: {}", recv(&req, 5000)));
    drop(rep);
    // Sent once the REQ knows its peer is gone, so it cannot go to the old one.
    w.wait_peers(&req, 0);
    t.say(format!("REQ send while alone: {}", send(&req, &["two"], 0)));
    let rep = w.socket(zmq::REP);
    w.bind_again(&rep, &ep);
    t.say(format!("new REP got: {}", recv(&rep, 10_000)));
    rep.send("2", 0).unwrap();
    t.say(format!("REQ got: {}", recv(&req, 5000)));
}

fn linger(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    let ep = w.bind(&pull);
    let push = w.socket(zmq::PUSH);
    push.set_linger(2000).unwrap();
    w.connect(&push, &ep);
    w.wait_peers(&push, 1);
    for i in 0..100 {
        push.send(format!("{i}").as_bytes(), 0).unwrap();
    }
    drop(push);
    let got = recv_all(&pull, 1000);
    t.say(format!(
        "after close: {} messages, in order: {}",
        got.len(),
        got.iter().enumerate().all(|(i, m)| *m == i.to_string())
    ));
}

fn req_relaxed_correlate(w: &World, t: &mut Trace) {
    let rep = w.socket(zmq::REP);
    let ep = w.bind(&rep);
    let req = w.socket(zmq::REQ);
    req.set_req_relaxed(true).unwrap();
    req.set_req_correlate(true).unwrap();
    w.connect(&req, &ep);
    t.say(format!("send 1: {}", send(&req, &["one"], 0)));
    t.say(format!("REP got: {}", recv(&rep, 5000)));
    t.say(format!(
        "send 2 before the reply: {}",
        send(&req, &["two"], 0)
    ));
    rep.send("reply to one", 0).unwrap();
    t.say(format!("REP got: {}", recv(&rep, 5000)));
    rep.send("reply to two", 0).unwrap();
    t.say(format!("REQ got: {}", recv_all(&req, 500).join(" ")));
}

fn req_at_most_once(w: &World, t: &mut Trace) {
    let first = w.socket(zmq::REP);
    let ep1 = w.bind(&first);
    let req = w.socket(zmq::REQ);
    w.connect(&req, &ep1);
    req.send("only once", 0).unwrap();
    t.say(format!("first REP got: {}", recv(&first, 5000)));
    let second = w.socket(zmq::REP);
    let ep2 = w.bind(&second);
    w.connect(&req, &ep2);
    w.wait_peers(&second, 1);
    drop(first);
    t.say(format!("second REP got: {}", recv(&second, 1000)));
}

fn rep_no_delimiter(w: &World, t: &mut Trace) {
    let rep = w.socket(zmq::REP);
    let ep = w.bind(&rep);
    let dealer = w.socket(zmq::DEALER);
    w.connect(&dealer, &ep);
    dealer.send_multipart(["no delimiter"], 0).unwrap();
    dealer.send_multipart(["body", ""], 0).unwrap();
    dealer.send_multipart(["", "proper"], 0).unwrap();
    t.say(format!("REP got: {}", recv(&rep, 5000)));
}

fn pair_queued_on_death(w: &World, t: &mut Trace) {
    let bound = w.socket(zmq::PAIR);
    bound.set_sndhwm(100_000).unwrap();
    let ep = w.bind(&bound);
    let first = w.socket(zmq::PAIR);
    first.set_rcvhwm(1).unwrap();
    w.connect(&first, &ep);
    bound.send("hello", 0).unwrap();
    recv(&first, 5000);
    // The first peer stops reading; much is queued for it; it goes away.
    for i in 0..20_000 {
        bound.send(format!("{i}").as_bytes(), zmq::DONTWAIT).ok();
    }
    drop(first);
    w.wait_peers(&bound, 0);
    let second = w.socket(zmq::PAIR);
    w.connect(&second, &ep);
    w.wait_peers(&second, 1);
    t.say(format!(
        "send to the second: {}",
        send(&bound, &["for the second"], 0)
    ));
    let got = recv_all(&second, 500);
    t.say(format!(
        "second got the first's queue: {}",
        got.iter().any(|m| m != "for the second")
    ));
    t.say(format!(
        "second got its own: {}",
        got.last().map(String::as_str) == Some("for the second")
    ));
}

fn conflate(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    pull.set_conflate(true).unwrap();
    let ep = w.bind(&pull);
    let push = w.socket(zmq::PUSH);
    w.connect(&push, &ep);
    w.wait_peers(&push, 1);
    for i in 0..10 {
        push.send(format!("{i}").as_bytes(), 0).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    t.say(format!("PULL got: {}", recv_all(&pull, 300).join(" ")));
}

fn probe_router(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"prober").unwrap();
    dealer.set_probe_router(true).unwrap();
    w.connect(&dealer, &ep);
    t.say(format!("ROUTER got: {}", recv(&router, 2000)));
}

fn xpub_welcome(w: &World, t: &mut Trace) {
    let xpub = w.socket(zmq::XPUB);
    xpub.set_xpub_welcome_msg(Some("welcome")).unwrap();
    let ep = w.bind(&xpub);
    let sub = w.socket(zmq::SUB);
    sub.set_subscribe(b"").unwrap();
    w.connect(&sub, &ep);
    // libzmq's XPUB welcomes a subscriber when it takes its pipe: on its next call.
    t.say(format!("XPUB got: {}", recv(&xpub, 2000)));
    t.say(format!("SUB got: {}", recv(&sub, 2000)));
}

fn peer_metadata(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    let ep = w.bind(&pull);
    let mut push = w.socket(zmq::PUSH);
    push.set_metadata("X-Color", "blue");
    w.connect(&push, &ep);
    push.send("x", 0).unwrap();
    let got = pull.recv_gets(&["Socket-Type", "X-Color", "Identity"]);
    t.say(format!("Socket-Type, X-Color, Identity: {got:?}"));
}

fn per_message_properties(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    let ep = w.bind(&pull);
    let mut pushes = [w.socket(zmq::PUSH), w.socket(zmq::PUSH)];
    for (p, color) in pushes.iter_mut().zip(["red", "blue"]) {
        p.set_metadata("X-Color", color);
        w.connect(p, &ep);
    }
    for p in &pushes {
        w.wait_peers(p, 1);
    }
    w.wait_peers(&pull, 2);
    for _ in 0..3 {
        for (p, color) in pushes.iter().zip(["red", "blue"]) {
            p.send(color, 0).unwrap();
        }
    }
    let mut right = 0;
    for _ in 0..6 {
        let (body, color) = pull.recv_with(&["X-Color"]);
        right += usize::from(color[0].as_deref() == Some(body.as_str()));
    }
    t.say(format!(
        "messages with their sender's X-Color: {right} of 6"
    ));
}

fn pub_hwm_drops(w: &World, t: &mut Trace) {
    let publisher = w.socket(zmq::PUB);
    publisher.set_sndhwm(10).unwrap();
    let ep = w.bind(&publisher);
    let sub = w.socket(zmq::SUB);
    sub.set_rcvhwm(10).unwrap();
    sub.set_subscribe(b"").unwrap();
    w.connect(&sub, &ep);
    publish_until(&publisher, &sub, "ready");
    recv_all(&sub, 100);
    // 20 MiB, more than any socket buffer holds, while the subscriber reads nothing.
    let big = vec![b'x'; 1024];
    for i in 0..20_000u32 {
        let mut m = i.to_be_bytes().to_vec();
        m.extend_from_slice(&big);
        publisher.send(&m, 0).unwrap();
    }
    let mut got = Vec::new();
    sub.set_rcvtimeo(1000).unwrap();
    while let Ok(m) = sub.recv_bytes(0) {
        got.push(u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    }
    t.say(format!("some dropped: {}", got.len() < 20_000));
    t.say(format!(
        "the rest in order: {}",
        got.windows(2).all(|w| w[0] < w[1])
    ));
}

fn push_hwm_blocks(w: &World, t: &mut Trace) {
    let pull = w.socket(zmq::PULL);
    pull.set_rcvhwm(10).unwrap();
    let ep = w.bind(&pull);
    let push = w.socket(zmq::PUSH);
    push.set_sndhwm(10).unwrap();
    w.connect(&push, &ep);
    w.wait_peers(&push, 1);
    let big = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    let end = std::time::Instant::now() + Duration::from_secs(20);
    let r = loop {
        match push.send(&big, zmq::DONTWAIT) {
            Ok(()) => sent += 1,
            Err(e) => break errname(e),
        }
        if sent >= 100_000 || std::time::Instant::now() > end {
            break "never".to_string();
        }
    };
    t.say(format!("send at last: {r}"));
    let mut got = 0;
    pull.set_rcvtimeo(1000).unwrap();
    while pull.recv_bytes(0).is_ok() {
        got += 1;
    }
    t.say(format!("everything sent arrived: {}", got == sent));
}

fn send_blocks_without_peer(w: &World, t: &mut Trace) {
    let push = w.socket(zmq::PUSH);
    w.bind(&push);
    push.set_sndtimeo(200).unwrap();
    let start = std::time::Instant::now();
    let r = send(&push, &["x"], 0);
    t.say(format!(
        "send: {r}, after the timeout: {}",
        start.elapsed() >= Duration::from_millis(150)
    ));
}

fn probe_each_router(w: &World, t: &mut Trace) {
    let routers = [w.socket(zmq::ROUTER), w.socket(zmq::ROUTER)];
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"prober").unwrap();
    dealer.set_probe_router(true).unwrap();
    for r in &routers {
        let ep = w.bind(r);
        w.connect(&dealer, &ep);
    }
    for (i, r) in routers.iter().enumerate() {
        t.say(format!("ROUTER {i} got: {}", recv(r, 2000)));
    }
}

fn router_mandatory_after_leave(w: &World, t: &mut Trace) {
    let router = w.socket(zmq::ROUTER);
    router.set_router_mandatory(true).unwrap();
    let ep = w.bind(&router);
    let dealer = w.socket(zmq::DEALER);
    dealer.set_identity(b"leaver").unwrap();
    w.connect(&dealer, &ep);
    dealer.send("hi", 0).unwrap();
    recv(&router, 5000);
    t.say(format!(
        "while up: {}",
        send(&router, &["leaver", "x"], zmq::DONTWAIT)
    ));
    drop(dealer);
    w.wait_peers(&router, 0);
    // libzmq's ROUTER forgets the pipe a moment after its monitor reports the
    // disconnection: the first send may still go (and be lost).
    let end = std::time::Instant::now() + Duration::from_secs(5);
    let gone = loop {
        let r = send(&router, &["leaver", "x"], zmq::DONTWAIT);
        if r != "ok" || std::time::Instant::now() > end {
            break r;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    t.say(format!("once gone, soon: {gone}"));
}
