//! A real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`) loads a page served on loopback by this test; its script speaks
//! ZWS 2.0 with the subprotocol browsers can send (`ZWS2.0`) to a vtx ROUTER (a round
//! trip) and a vtx PUB (a subscription), and reports back by fetching `/done`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

vtx_emul::vtx_harness! {
    bind: "ws://127.0.0.1:0/zmq",
    limit: Duration::from_secs(20),
}

const PAGE: &str = include_str!("browser/page.html");

/// Serves the page, and hands over the query of the first `/done` request.
fn serve() -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut line = String::new();
            if BufReader::new(&conn).read_line(&mut line).is_err() {
                continue;
            }
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let (status, body) = if target.starts_with("/done?") {
                let _ = tx.send(target.trim_start_matches("/done?").to_owned());
                ("200 OK", String::new())
            } else if target.starts_with("/page") {
                ("200 OK", PAGE.to_owned())
            } else {
                ("404 Not Found", String::new())
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, rx)
}

struct Browser(Child, std::path::PathBuf);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn chromium(url: &str, extra: &[String]) -> Browser {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let profile = std::env::temp_dir().join(format!("vtx-chromium-{}-{n}", std::process::id()));
    let child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("chromium does not start ({e}): scripts/test installs Debian's chromium")
        });
    Browser(child, profile)
}

/// `%20` and `+` decoded (what URLSearchParams writes).
fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex: String = bytes.by_ref().take(2).map(char::from).collect();
                out.push(u8::from_str_radix(&hex, 16).unwrap_or(b'?'));
            }
            b => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs the page against a ROUTER and a PUB of `vtx` bound on `bind`.
fn browser_round(vtx: &vtx::Vtx, bind_at: &str, extra: &[String]) {
    let router = sock(vtx, zmq::ROUTER);
    let router_ep = router.bind(bind_at).unwrap();
    let publisher = sock(vtx, zmq::PUB);
    let pub_ep = publisher.bind(bind_at).unwrap();
    let (port, done) = serve();
    let url = format!("http://127.0.0.1:{port}/page?router={router_ep}&pub={pub_ep}");
    let _browser = chromium(&url, extra);
    // The browser's message, and the reply to it by its identity.
    let m = router.recv_multipart(0).unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    assert_eq!(m[1], b"hello from the browser");
    router
        .send_multipart([m[0].clone(), b"hello browser".to_vec()], 0)
        .unwrap();
    // Publish until the page reports what its subscription brought.
    let deadline = std::time::Instant::now() + LIMIT;
    let report = loop {
        publisher.send("x-not-for-you", 0).unwrap();
        publisher.send("t-for-you", 0).unwrap();
        if let Ok(r) = done.recv_timeout(Duration::from_millis(50)) {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page reported nothing"
        );
    };
    let fields: std::collections::HashMap<String, String> = report
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect();
    assert_eq!(
        fields.get("router").map(String::as_str),
        Some("hello browser"),
        "{report}"
    );
    assert_eq!(
        fields.get("sub").map(String::as_str),
        Some("t-for-you"),
        "{report}"
    );
}

#[test]
fn a_browser_talks_to_a_vtx_router_and_subscribes_to_a_vtx_pub() {
    let _ = env_logger::builder().is_test(true).try_init();
    let (_ctx, vtx) = manager("ws", vtx_ws::WsTransport::default());
    browser_round(&vtx, "ws://127.0.0.1:0/zmq", &[]);
}

/// The same over wss://: Chromium trusts the test server's key by its SPKI hash
/// (`--ignore-certificate-errors-spki-list`), as a test may make it.
#[test]
fn a_browser_over_wss() {
    use base64::Engine;
    use sha2::Digest;
    let _ = env_logger::builder().is_test(true).try_init();
    let pki = vtx_tls::testing::Pki::new("browser");
    let (cert, key) = pki.server();
    let cfg = vtx_tls::TlsConfig::builder()
        .server_cert_pem(&cert, &key)
        .unwrap()
        .build()
        .unwrap();
    let pem = std::fs::read(&cert).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let x509 = pem.parse_x509().unwrap();
    let spki = sha2::Sha256::digest(x509.tbs_certificate.subject_pki.raw);
    let pin = base64::engine::general_purpose::STANDARD.encode(spki);
    let (_ctx, vtx) = manager("wss", vtx_ws::wss_transport(cfg));
    browser_round(
        &vtx,
        "wss://127.0.0.1:0/zmq",
        &[format!("--ignore-certificate-errors-spki-list={pin}")],
    );
}
