//! A real lossy network: inside a fresh network namespace, nftables drops 30% of the
//! test port's UDP datagrams in each direction; 10,000 REQ/REP round trips must all be
//! answered, none delivered twice to the REP application.
//!
//! The test re-runs itself under `unshare -n` (root). Where the machine cannot create a
//! namespace it says so and skips; CI here can.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

const PORT: u16 = 47_123;
const ROUND_TRIPS: usize = 10_000;
const INNER: &str = "VTX_LOSSY_NETNS_INNER";

fn sh(cmd: &str) {
    let out = Command::new("sh").args(["-c", cmd]).output().unwrap();
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ten_thousand_round_trips_at_30_percent_loss_each_way() {
    if std::env::var(INNER).is_ok() {
        return inner();
    }
    let can = Command::new("unshare")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !can {
        eprintln!("SKIPPED: this machine cannot create a network namespace (unshare -n as root)");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .arg("-n")
        .arg("--")
        .arg(exe)
        .args([
            "--exact",
            "ten_thousand_round_trips_at_30_percent_loss_each_way",
            "--nocapture",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "inner run failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

fn inner() {
    sh("ip link set lo up");
    let which = Command::new("sh")
        .args(["-c", "command -v nft"])
        .status()
        .unwrap();
    assert!(
        which.success(),
        "nft is missing: apt-get install nftables (scripts/test does it)"
    );
    sh(&format!(
        "nft -f - <<'EOF'
table inet vtxloss {{
  chain input {{
    type filter hook input priority 0; policy accept;
    udp dport {PORT} numgen random mod 100 < 30 drop
    udp sport {PORT} numgen random mod 100 < 30 drop
  }}
}}
EOF"
    ));
    let ctx = zmq::Context::new();
    let vtx = vtx::Vtx::new(&ctx);
    vtx.register("udp", vtx_udp::UdpTransport::default())
        .unwrap();
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
    let dup: u64 = rep
        .meta("dropped-duplicate")
        .unwrap()
        .unwrap()
        .parse()
        .unwrap();
    eprintln!(
        "lossy netns: {ROUND_TRIPS} REQ/REP round trips at 30% loss each way in {:.1} s; {dup} duplicate requests suppressed at REP",
        t0.elapsed().as_secs_f64()
    );
}
