//! Host names are resolved on the thread that connects, never on the driver thread: a
//! resolver that takes its time stalls that one `connect` call, not every socket of the
//! driver.
//!
//! The test runs in network and mount namespaces of its own, with `/etc/resolv.conf`
//! bind-mounted to point at a name server on loopback that this test controls: it holds
//! the query until the test has seen the driver keep working, then answers NXDOMAIN.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::UdpSocket;
use std::sync::mpsc;
use std::time::Duration;

use common::Setup;
use vtx_emul::round_trip;
use vtx_emul::testing::process::{Isolation, isolate, sh};
use vtx_emul::testing::wait_until;

#[test]
fn a_slow_resolver_does_not_stall_the_driver() {
    if !isolate(
        "a_slow_resolver_does_not_stall_the_driver",
        Isolation::NetMountNamespace,
    ) {
        return;
    }
    let conf = std::env::temp_dir().join(format!("vtx-resolv-{}.conf", std::process::id()));
    std::fs::write(
        &conf,
        "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n",
    )
    .unwrap();
    sh(&format!("mount --bind {} /etc/resolv.conf", conf.display()));
    let dns = UdpSocket::bind("127.0.0.1:53").unwrap();

    let Setup { ctx: _ctx, vtx } = Setup::new();
    let rep = vtx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    let ep = rep.bind("tcp6://[::1]:0").unwrap();
    let req = vtx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.connect(&ep).unwrap();

    // Another socket of the same driver connects to a name: its connect waits for the
    // resolver, which waits for us.
    let (done_tx, done_rx) = mpsc::channel();
    let slow = vtx.socket(zmq::DEALER).unwrap();
    let resolving = std::thread::spawn(move || {
        let r = slow.connect("tcp6://slow.vtx-test.example:5555");
        done_tx.send(()).unwrap();
        r
    });
    let mut buf = [0u8; 512];
    let (n, asker) = dns.recv_from(&mut buf).unwrap();
    let query = buf[..n].to_vec();
    // While the name server holds the query, the driver serves the REQ and the REP.
    for i in 0..20 {
        round_trip!(req, rep, i);
    }
    assert!(
        done_rx.try_recv().is_err(),
        "the name was resolved without the name server"
    );
    // Now the answers: NXDOMAIN to this query and to any other (A and AAAA).
    let nxdomain = |q: &[u8]| {
        let mut a = q.to_vec();
        a[2] |= 0x80; // QR: a response
        a[3] = (a[3] & 0xF0) | 3; // RCODE 3: no such name
        a
    };
    dns.send_to(&nxdomain(&query), asker).unwrap();
    dns.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    wait_until("the connect gives up", Duration::from_secs(20), || {
        while let Ok((n, from)) = dns.recv_from(&mut buf) {
            dns.send_to(&nxdomain(&buf[..n]), from).unwrap();
        }
        done_rx.try_recv().is_ok()
    });
    let err = resolving.join().unwrap().unwrap_err();
    assert!(
        matches!(err, vtx_emul::Error::AddressNotAvailable { .. }),
        "{err}"
    );
    let _ = std::fs::remove_file(&conf);
}
