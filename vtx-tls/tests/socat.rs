//! Interop with a TLS stack no one here wrote: socat (OpenSSL) terminates TLS in front of
//! a native libzmq socket over plain tcp, in both directions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use vtx_emul::testing::process::socat_listening as socat;

fn exchange(req: &impl vtx::Socket, rep: &impl vtx::Socket) {
    let big = vec![0x7Eu8; 1 << 20];
    for i in 0..5 {
        let parts = vec![format!("part {i}").into_bytes(), Vec::new(), big.clone()];
        req.send_multipart(&parts, 0).unwrap();
        assert_eq!(rep.recv_multipart(0).unwrap(), parts);
        rep.send_multipart([b"ok".to_vec(), big.clone()], 0)
            .unwrap();
        assert_eq!(
            req.recv_multipart(0).unwrap(),
            vec![b"ok".to_vec(), big.clone()]
        );
    }
}

/// vtx `tls` REQ -> socat OPENSSL-LISTEN -> native libzmq REP (plain tcp).
#[test]
fn vtx_tls_client_through_socat_to_native_rep() {
    let pki = Pki::new("socat-server");
    let (sc, sk) = pki.server();
    let (ctx, vtx) = tls(config(&pki));
    let rep = ctx.socket(zmq::REP).unwrap();
    rep.set_rcvtimeo(10_000).unwrap();
    rep.set_linger(0).unwrap();
    rep.bind("tcp://127.0.0.1:*").unwrap();
    let native_port = port_of(&rep.get_last_endpoint().unwrap().unwrap());
    let (_socat, tls_port) = socat(&[
        format!(
            "OPENSSL-LISTEN:0,bind=127.0.0.1,reuseaddr,fork,cert={},key={},verify=0",
            sc.display(),
            sk.display()
        ),
        format!("TCP:127.0.0.1:{native_port}"),
    ]);
    let req = sock(&vtx, zmq::REQ);
    req.set_rcvtimeo(10_000).unwrap();
    req.connect(&format!("tls://127.0.0.1:{tls_port}")).unwrap();
    exchange(&req, &rep);
}

/// native libzmq REQ (plain tcp) -> socat TCP-LISTEN -> OPENSSL client -> vtx `tls` REP.
#[test]
fn native_req_through_socat_to_vtx_tls_rep() {
    let pki = Pki::new("socat-client");
    let (ctx, vtx) = tls(config(&pki));
    let rep = sock(&vtx, zmq::REP);
    rep.set_rcvtimeo(10_000).unwrap();
    let ep = rep.bind("tls://127.0.0.1:0").unwrap();
    let (_socat, plain_port) = socat(&[
        "TCP-LISTEN:0,bind=127.0.0.1,reuseaddr,fork".to_string(),
        format!(
            "OPENSSL:127.0.0.1:{},cafile={},verify=1,commonname=localhost",
            port_of(&ep),
            pki.ca.display()
        ),
    ]);
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(10_000).unwrap();
    req.set_linger(0).unwrap();
    req.connect(&format!("tcp://127.0.0.1:{plain_port}"))
        .unwrap();
    exchange(&req, &rep);
    assert_eq!(
        rep.meta("last-peer.tls-version").unwrap().as_deref(),
        Some("TLSv1_3")
    );
}
