//! A real browser for tests (feature `test-util`): a page served on loopback whose
//! script speaks ZWS 2.0 with the subprotocol browsers can send (`ZWS2.0`) to a
//! ROUTER-like endpoint (a round trip) and a PUB (a subscription to `t`), run by
//! headless Chromium, reporting back by fetching `/done`.
//!
//! The page takes `router=`, `pub=` (endpoints) and `envelope=1` (send REQ's empty
//! delimiter first, for a REP behind a ROUTER). Debian's `chromium` must be
//! installed (`scripts/test` does); without it [`Page::open`] fails and says so.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const PAGE: &str = include_str!("testing/page.html");

/// The page, served on loopback; what it reports arrives here.
#[derive(Debug)]
pub struct Page {
    port: u16,
    done: mpsc::Receiver<String>,
}

/// A headless Chromium, killed (and its profile removed) when dropped.
#[derive(Debug)]
pub struct Browser {
    child: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Page {
    /// Serves the page on a port of its own, until the process ends.
    pub fn serve() -> Page {
        let listener = TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|e| panic!("a loopback port for the page: {e}"));
        let port = listener.local_addr().map_or(0, |a| a.port());
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut line = String::new();
                if BufReader::new(&conn).read_line(&mut line).is_err() {
                    continue;
                }
                let target = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) = if let Some(q) = target.strip_prefix("/done?") {
                    let _ = tx.send(q.to_owned());
                    ("200 OK", "")
                } else if target.starts_with("/page") {
                    ("200 OK", PAGE)
                } else {
                    ("404 Not Found", "")
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Page { port, done }
    }

    /// Chromium, headless, loading the page with `query`; `extra` flags (a pinned
    /// certificate key for wss://).
    pub fn open(&self, query: &str, extra: &[String]) -> Browser {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let profile = std::env::temp_dir().join(format!("vtx-chromium-{}-{n}", std::process::id()));
        // As the machine's notes say: without the background-networking flags it
        // tries Google's hosts, refused here.
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
            .arg(format!("http://127.0.0.1:{}/page?{query}", self.port))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("chromium does not start ({e}): scripts/test installs Debian's chromium")
            });
        Browser { child, profile }
    }

    /// What the page reported (`router`: the reply it got, `sub`: the first message
    /// its subscription brought), calling `meanwhile` until it does or `limit` passes.
    pub fn report(&self, limit: Duration, mut meanwhile: impl FnMut()) -> HashMap<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            meanwhile();
            if let Ok(r) = self.done.recv_timeout(Duration::from_millis(50)) {
                return r
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (unescape(k), unescape(v)))
                    .collect();
            }
            assert!(
                Instant::now() < deadline,
                "the page reported nothing in {limit:?}"
            );
        }
    }
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
