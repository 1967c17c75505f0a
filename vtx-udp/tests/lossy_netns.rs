//! A real lossy network: inside a fresh network namespace, nftables drops 30% of the
//! test port's UDP datagrams in each direction; 10,000 REQ/REP round trips must all be
//! answered, none delivered twice to the REP application, and the rule counters must
//! show that the loss really happened.
//!
//! The test re-runs itself in a network namespace of its own (`unshare -n`): it needs
//! root or passwordless sudo, and fails saying so where neither is available.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod setup;

use std::time::{Duration, Instant};

use setup::{meta, setup};
use vtx_emul::testing::process::{Isolation, isolate, nft_counters, require_command, sh};

const PORT: u16 = 47_123;
const ROUND_TRIPS: usize = 10_000;

/// The packet counts of the `vtxloss` rules: (seen, dropped).
fn counters() -> (u64, u64) {
    let (dropped, seen): (Vec<_>, Vec<_>) = nft_counters("inet vtxloss input")
        .into_iter()
        .partition(|(rule, _)| rule.contains("drop"));
    let sum = |rules: Vec<(String, u64)>| rules.iter().map(|r| r.1).sum();
    (sum(seen), sum(dropped))
}

#[test]
fn ten_thousand_round_trips_at_30_percent_loss_each_way() {
    if !isolate(
        "ten_thousand_round_trips_at_30_percent_loss_each_way",
        Isolation::NetNamespace,
    ) {
        return;
    }
    inner();
}

fn inner() {
    require_command("nft", "nftables");
    // Every datagram of the port is counted, then 30% of each direction dropped (and
    // counted): the second rule sees only what the first let through.
    sh(&format!(
        "nft -f - <<'EOF'
table inet vtxloss {{
  chain input {{
    type filter hook input priority 0; policy accept;
    udp dport {PORT} counter
    udp sport {PORT} counter
    udp dport {PORT} numgen random mod 100 < 30 counter drop
    udp sport {PORT} numgen random mod 100 < 30 counter drop
  }}
}}
EOF"
    ));
    let (_ctx, vtx) = setup();
    let rep = vtx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    rep.bind(&format!("udp://127.0.0.1:{PORT}")).unwrap();
    let req = vtx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    // Loopback answers in well under a millisecond: resend quickly.
    req.set_req_resend_ivl(Some(Duration::from_millis(1)))
        .unwrap();
    req.connect(&format!("udp://127.0.0.1:{PORT}")).unwrap();
    let t0 = Instant::now();
    let server = std::thread::spawn(move || {
        let mut last: Option<u64> = None;
        for _ in 0..ROUND_TRIPS {
            let q = rep.recv_bytes(0).expect("request");
            let n: u64 = std::str::from_utf8(&q).unwrap().parse().unwrap();
            assert!(
                last.is_none_or(|l| n == l + 1),
                "request {n} after {last:?}: duplicate or gap"
            );
            last = Some(n);
            rep.send(&q[..], 0).unwrap();
        }
        rep
    });
    for i in 0..ROUND_TRIPS {
        req.send(i.to_string().as_bytes(), 0).unwrap();
        let a = req
            .recv_bytes(0)
            .unwrap_or_else(|e| panic!("round trip {i}: {e}"));
        assert_eq!(a, i.to_string().as_bytes());
    }
    let rep = server.join().unwrap();
    let dup = meta(&rep, "dropped-duplicate");
    let (seen, dropped) = counters();
    let share = dropped as f64 / seen as f64;
    eprintln!(
        "lossy netns: {ROUND_TRIPS} REQ/REP round trips in {:.1} s; nftables dropped {dropped} of {seen} datagrams ({:.1}%); {dup} duplicate requests suppressed at REP",
        t0.elapsed().as_secs_f64(),
        share * 100.0
    );
    // The loss was real: about 30% of at least one datagram per round trip each way.
    assert!(seen >= 2 * ROUND_TRIPS as u64, "only {seen} datagrams seen");
    assert!(
        (0.25..0.35).contains(&share),
        "{dropped} of {seen} datagrams dropped ({:.1}%)",
        share * 100.0
    );
    assert!(
        dup > 0,
        "no duplicate request reached the REP: were requests ever resent?"
    );
}
