//! The `tls` driver on loopback: handshakes, every socket pair, mutual TLS, certificate
//! metadata, configuration errors, and refusals that never fall back to plaintext.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use vtx_emul::{every_pair, publish_until};
use vtx_tls::TlsConfig;

#[test]
fn req_rep_with_the_right_ca_over_v4_v6_and_names() {
    let pki = Pki::new("ok");
    let (_ctx, vtx) = tls(config(&pki));
    for (bind, connect) in [
        ("tls://127.0.0.1:0", "127.0.0.1"),
        ("tls://[::1]:0", "[::1]"),
        ("tls://127.0.0.1:0", "localhost"),
    ] {
        let rep = sock(&vtx, zmq::REP);
        let ep = rep.bind(bind).unwrap();
        let req = sock(&vtx, zmq::REQ);
        req.connect(&format!("tls://{connect}:{}", port_of(&ep)))
            .unwrap();
        let big = vec![0x42u8; 1 << 20];
        req.send_multipart([&b"head"[..], &big, b""], 0).unwrap();
        assert_eq!(
            rep.recv_multipart(0).unwrap(),
            vec![b"head".to_vec(), big.clone(), vec![]]
        );
        rep.send(&big[..], 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), big);
        assert_eq!(
            rep.meta("last-peer.tls-version").unwrap().as_deref(),
            Some("TLSv1_3")
        );
    }
}

/// PLAIN inside TLS: the password travels encrypted, and the same handshake as on
/// tcp6 lets the right client in and keeps the wrong one out.
#[test]
fn plain_inside_tls() {
    let pki = Pki::new("plain");
    let (_ctx, vtx) = tls(config(&pki));
    let intruder = vtx_emul::plain_handshakes!(|ty| sock(&vtx, ty), "tls://127.0.0.1:0", LIMIT);
    // The refused client heard ERROR "400".
    vtx_emul::testing::wait_for_count("handshake failures", LIMIT, 1, || {
        intruder.stats().map_or(0, |s| s.handshake_failures)
    });
}

/// CURVE here as on every ZMTP transport: the allowed key in, a stranger out.
#[test]
fn curve_inside_tls() {
    let pki = Pki::new("curve");
    let (_ctx, vtx) = tls(config(&pki));
    let _stranger = vtx_emul::curve_handshakes!(|ty| sock(&vtx, ty), "tls://127.0.0.1:0", LIMIT);
}

#[test]
fn every_socket_pair() {
    let pki = Pki::new("pairs");
    let (_ctx, vtx) = tls(config(&pki));
    every_pair!(|a, b| pair(&vtx, a, b), LIMIT);
    // PUB/SUB with a subscription.
    let (publisher, ep) = bind(&vtx, zmq::PUB);
    let sub = subscriber(&vtx, b"t", &publisher, &ep);
    let m = publish_until!(publisher, sub, &[b"x-no", b"t-yes"], LIMIT);
    assert_eq!(m, b"t-yes");
}

/// Certificate identities need verified client certificates: a server that names peers
/// by certificate but does not require one is refused when it is built, since a client
/// without a certificate would otherwise claim any ROUTER identity through ZMTP.
#[test]
fn identity_from_cert_without_client_certificates_is_refused() {
    let pki = Pki::new("idspoof");
    let (sc, sk) = pki.server();
    let err = TlsConfig::builder()
        .server_cert_pem(&sc, &sk)
        .unwrap()
        .identity_from_cert(true)
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, vtx_emul::Error::InvalidConfig { reason } if reason.contains("require_client_cert")),
        "{err}"
    );
    // A client configuration may name its server by certificate: servers always have one.
    TlsConfig::builder()
        .trust_pem(&pki.ca)
        .unwrap()
        .identity_from_cert(true)
        .build()
        .unwrap();
}

#[test]
fn mutual_tls_with_certificate_metadata_and_identity() {
    let pki = Pki::new("mtls");
    let (sc, sk) = pki.server();
    let (cc, ck) = pki.issue("client", "alice", &["alice.example"], false);
    let server_cfg = TlsConfig::builder()
        .server_cert_pem(&sc, &sk)
        .unwrap()
        .require_client_cert_pem(&pki.ca)
        .unwrap()
        .identity_from_cert(true)
        .build()
        .unwrap();
    let client_cfg = TlsConfig::builder()
        .trust_pem(&pki.ca)
        .unwrap()
        .client_cert_pem(&cc, &ck)
        .unwrap()
        .build()
        .unwrap();
    let (_ctx, vtx) = tls(server_cfg);
    let (router, ep) = bind(&vtx, zmq::ROUTER);
    let dealer = sock(&vtx, zmq::DEALER);
    dealer.set_transport_config(client_cfg).unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("who am i?", 0).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(
        got[0], b"alice.example",
        "ROUTER identity from the verified certificate"
    );
    assert_eq!(
        router.meta("last-peer.cert-subject").unwrap().as_deref(),
        Some("CN=alice")
    );
    assert_eq!(
        router.meta("last-peer.cert-san").unwrap().as_deref(),
        Some("DNS:alice.example")
    );
    router
        .send_multipart([&b"alice.example"[..], b"you are alice"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"you are alice");
}

#[derive(Clone, Copy, Debug)]
enum Side {
    Server,
    Client,
}

/// Each case: a client that must be refused. The server counts it, neither application
/// sees a message, and a good client works afterwards.
#[test]
fn refusals_never_fall_back_to_plaintext() {
    let pki = Pki::new("refuse");
    let other = Pki::new("other");
    let (sc, sk) = pki.server();
    let (xc, xk) = pki.issue("expired", "expired", &["localhost", "127.0.0.1"], true);
    let (nc, nk) = pki.issue("misnamed", "elsewhere", &["elsewhere.example"], false);
    let require_client = TlsConfig::builder()
        .server_cert_pem(&sc, &sk)
        .unwrap()
        .require_client_cert_pem(&pki.ca)
        .unwrap();
    let trust_ok = || TlsConfig::builder().trust_pem(&pki.ca).unwrap();
    let (cc, ck) = pki.issue("client", "client", &["client.example"], false);
    let good_client = trust_ok()
        .client_cert_pem(&cc, &ck)
        .unwrap()
        .build()
        .unwrap();

    // Each case names the side that must refuse (and count) the handshake.
    let servers: Vec<(&str, TlsConfig, TlsConfig, Side)> = vec![
        (
            "wrong CA",
            require_client.clone().build().unwrap(),
            TlsConfig::builder()
                .trust_pem(&other.ca)
                .unwrap()
                .client_cert_pem(&cc, &ck)
                .unwrap()
                .build()
                .unwrap(),
            Side::Client,
        ),
        (
            "expired certificate",
            TlsConfig::builder()
                .server_cert_pem(&xc, &xk)
                .unwrap()
                .build()
                .unwrap(),
            good_client.clone(),
            Side::Client,
        ),
        (
            "wrong server name",
            TlsConfig::builder()
                .server_cert_pem(&nc, &nk)
                .unwrap()
                .build()
                .unwrap(),
            good_client.clone(),
            Side::Client,
        ),
        (
            "no client certificate",
            require_client.clone().build().unwrap(),
            trust_ok().build().unwrap(),
            Side::Server,
        ),
    ];
    for (name, server_cfg, client_cfg, refuses) in servers {
        let (_ctx, vtx) = tls(server_cfg.clone());
        let (rep, ep) = bind(&vtx, zmq::REP);
        let req = sock(&vtx, zmq::REQ);
        req.set_transport_config(client_cfg).unwrap();
        req.set_reconnect_ivl(50).unwrap();
        req.connect(&ep).unwrap();
        req.send("secret", zmq::DONTWAIT).unwrap();
        let refusing = match refuses {
            Side::Server => &rep,
            Side::Client => &req,
        };
        wait_meta(refusing, "handshake-failures", 1);
        rep.set_rcvtimeo(300).unwrap();
        assert!(
            rep.recv_bytes(0).is_err(),
            "{name}: the application saw a message"
        );
        assert_eq!(rep.peer_count(), 0, "{name}");
        assert_eq!(req.peer_count(), 0, "{name}");
        // The driver goes on: a correct client on the same server works.
        if name != "expired certificate" && name != "wrong server name" {
            let ok = sock(&vtx, zmq::REQ);
            ok.set_transport_config(good_client.clone()).unwrap();
            ok.connect(&ep).unwrap();
            ok.send("hello", 0).unwrap();
            rep.set_rcvtimeo(5000).unwrap();
            // The refused REQ's queued "secret" never arrives; only the good one.
            assert_eq!(rep.recv_bytes(0).unwrap(), b"hello", "{name}");
        }
    }
}

#[test]
fn plaintext_zmtp_client_is_refused() {
    let pki = Pki::new("plain");
    let (ctx, vtx) = tls(config(&pki));
    let (rep, ep) = bind(&vtx, zmq::REP);
    let native = ctx.socket(zmq::REQ).unwrap();
    native.set_linger(0).unwrap();
    native
        .connect(&format!("tcp://127.0.0.1:{}", port_of(&ep)))
        .unwrap();
    native.send("plaintext", 0).unwrap();
    wait_meta(&rep, "handshake-failures", 1);
    rep.set_rcvtimeo(300).unwrap();
    assert!(rep.recv_bytes(0).is_err());
    assert_eq!(rep.peer_count(), 0);
}

/// Raw bytes instead of TLS: each dropped and counted, the server goes on.
#[test]
fn hostile_bytes_and_stalls() {
    let pki = Pki::new("hostile");
    let (_ctx, vtx) = tls(config(&pki));
    let rep = sock(&vtx, zmq::REP);
    rep.set_handshake_ivl(300).unwrap();
    let ep = rep.bind("tls://127.0.0.1:0").unwrap();
    let port = port_of(&ep);
    let huge_record = [0x16, 0x03, 0x03, 0xFF, 0xFF, 0x01];
    let truncated = [0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00];
    let cases: [(&str, &[u8]); 4] = [
        ("garbage", b"hello, I am not TLS at all\r\n\r\n"),
        ("huge record length", &huge_record),
        ("truncated record then a stall", &truncated),
        ("silent", b""),
    ];
    for (i, (name, bytes)) in cases.iter().enumerate() {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let _ = s.write_all(bytes);
        let end = Instant::now() + Duration::from_secs(3);
        let mut closed = false;
        let mut buf = [0u8; 1024];
        while Instant::now() < end {
            match s.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        assert!(closed, "{name}: not disconnected");
        wait_meta(&rep, "handshake-failures", i as u64 + 1);
    }
}

#[test]
fn configuration_errors_name_the_file() {
    let pki = Pki::new("config");
    let (c, k) = pki.server();
    let (_, other_key) = pki.issue("other", "other", &["x"], false);
    let e = TlsConfig::builder()
        .server_cert_pem(pki.path("missing.pem"), &k)
        .unwrap_err();
    assert!(
        matches!(e, vtx::Error::Config { .. }) && e.to_string().contains("missing.pem"),
        "{e}"
    );
    let e = TlsConfig::builder()
        .server_cert_pem(&c, pki.path("nokey.pem"))
        .unwrap_err();
    assert!(e.to_string().contains("nokey.pem"), "{e}");
    let e = TlsConfig::builder()
        .server_cert_pem(&c, &other_key)
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        e.to_string().contains("other.key") && e.to_string().contains("match"),
        "{e}"
    );
    std::fs::write(pki.path("empty.pem"), "").unwrap();
    let e = TlsConfig::builder()
        .trust_pem(pki.path("empty.pem"))
        .unwrap_err();
    assert!(e.to_string().contains("empty.pem"), "{e}");
    // Missing pieces are errors at bind/connect, not at the first message.
    let (_ctx, vtx) = tls(TlsConfig::builder().build().unwrap());
    let s = sock(&vtx, zmq::REP);
    let e = s.bind("tls://127.0.0.1:0").unwrap_err();
    assert!(
        matches!(e, vtx::Error::InvalidConfig { .. })
            && e.to_string().contains("server certificate"),
        "{e}"
    );
    let e = s.connect("tls://127.0.0.1:1").unwrap_err();
    assert!(e.to_string().contains("trust roots"), "{e}");
}

#[test]
fn per_socket_configuration_overrides_the_driver() {
    let a = Pki::new("driver");
    let b = Pki::new("socket");
    let (_ctx, vtx) = tls(config(&a));
    let rep = sock(&vtx, zmq::REP);
    rep.set_transport_config(config(&b)).unwrap();
    let ep = rep.bind("tls://127.0.0.1:0").unwrap();
    let req = sock(&vtx, zmq::REQ);
    req.set_transport_config(config(&b)).unwrap();
    req.connect(&ep).unwrap();
    req.send("via b", 0).unwrap();
    assert_eq!(rep.recv_bytes(0).unwrap(), b"via b");
    // A client with the driver's default (CA a) cannot reach the socket using CA b.
    let stranger = sock(&vtx, zmq::REQ);
    stranger.connect(&ep).unwrap();
    wait_meta(&rep, "handshake-failures", 1);
}

/// ZMTP-SASL inside TLS: SCRAM-SHA-256-PLUS bound to the TLS session, SASL PLAIN
/// (allowed here, as the password travels encrypted) and bare SCRAM: the right
/// password in, a wrong one out.
#[test]
fn sasl_scram_plus_plain_and_scram_inside_tls() {
    use vtx_emul::sasl::SaslMechanism;
    let pki = Pki::new("sasl");
    let (_ctx, vtx) = tls(config(&pki));
    for m in [
        SaslMechanism::ScramSha256Plus,
        SaslMechanism::Plain,
        SaslMechanism::ScramSha256,
    ] {
        let intruder =
            vtx_emul::sasl_handshakes!(|ty| sock(&vtx, ty), "tls://127.0.0.1:0", LIMIT, m);
        // The refused client heard ERROR "400".
        vtx_emul::testing::wait_for_count("handshake failures", LIMIT, 1, || {
            intruder.stats().map_or(0, |s| s.handshake_failures)
        });
    }
}

/// SASL EXTERNAL: the verified client certificate is who the client is; a client
/// without one is refused by SASL (not by TLS: the server's TLS asks for none here).
#[test]
fn sasl_external_names_the_client_by_its_certificate() {
    use vtx_emul::sasl::{SaslClient, SaslMechanism, ScramUsers};
    use vtx_emul::security::AllowAny;
    let pki = Pki::new("external");
    let (sc, sk) = pki.server();
    let (cc, ck) = pki.issue("client", "alice", &["alice.example"], false);
    let server_cfg = TlsConfig::builder()
        .server_cert_pem(&sc, &sk)
        .unwrap()
        .require_client_cert_pem(&pki.ca)
        .unwrap()
        .build()
        .unwrap();
    let with_cert = TlsConfig::builder()
        .trust_pem(&pki.ca)
        .unwrap()
        .client_cert_pem(&cc, &ck)
        .unwrap()
        .build()
        .unwrap();
    let (_ctx, vtx) = tls(server_cfg);
    let router = sock(&vtx, zmq::ROUTER);
    router
        .set_sasl_server(SaslMechanism::External, ScramUsers::new(), AllowAny)
        .unwrap();
    router.set_identity_from_user(true).unwrap();
    let ep = router.bind("tls://127.0.0.1:0").unwrap();
    let dealer = sock(&vtx, zmq::DEALER);
    dealer.set_transport_config(with_cert).unwrap();
    dealer.set_sasl_client(SaslClient::external()).unwrap();
    dealer.connect(&ep).unwrap();
    dealer.send("who am i?", 0).unwrap();
    let got = router.recv_multipart(0).unwrap();
    assert_eq!(got[0], b"alice.example", "named by its certificate");
    assert_eq!(
        router.msg_gets("User-Id").unwrap().as_deref(),
        Some("alice.example")
    );
    router
        .send_multipart([&b"alice.example"[..], b"you are alice"], 0)
        .unwrap();
    assert_eq!(dealer.recv_bytes(0).unwrap(), b"you are alice");
}
