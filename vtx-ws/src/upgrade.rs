//! The HTTP/1.1 upgrade to WebSocket (RFC 6455 §4), sans-IO: the server's side parses
//! a request (httparse, with a size limit) and answers 101 or a plain HTTP refusal;
//! the client's writes the request and checks the answer. The subprotocol names the
//! ZWS version and mechanism (RFC 45): `ZWS2.0/NULL`, `ZWS2.0/PLAIN`, `ZWS2.0/CURVE`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

/// Longest upgrade request or response accepted, headers included.
pub const HEAD_MAX: usize = 8 * 1024;
/// Most headers in one.
const HEADERS_MAX: usize = 32;
/// RFC 6455 §1.3's GUID.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// ZWS 2.0 without a mechanism, the subprotocol browsers can ask for (`/` is not
/// allowed in theirs): identity messages instead of READY, as ZMTP/2.
pub const BARE: &str = "ZWS2.0";

/// The subprotocol of ZWS 2.0 with `mechanism` (`NULL`, `PLAIN`, `CURVE`).
pub fn subprotocol(mechanism: &str) -> String {
    format!("ZWS2.0/{mechanism}")
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(GUID.as_bytes());
    BASE64.encode(h.finalize())
}

/// A refused upgrade: the HTTP status and why (the response says it, the log too).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HTTP {status}: {reason}")]
pub struct Refusal {
    /// 400, 403, 404, 426, 431.
    pub status: u16,
    /// Why.
    pub reason: String,
}

impl Refusal {
    fn new(status: u16, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
        }
    }

    /// The HTTP response that tells the client, and closes.
    pub fn response(&self) -> Vec<u8> {
        let phrase = match self.status {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            426 => "Upgrade Required",
            431 => "Request Header Fields Too Large",
            _ => "Error",
        };
        let upgrade = if self.status == 426 {
            "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
        } else {
            ""
        };
        let body = format!("{}\n", self.reason);
        format!(
            "HTTP/1.1 {} {phrase}\r\n{upgrade}Connection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            self.status,
            body.len()
        )
        .into_bytes()
    }
}

/// An upgrade request a server accepted, and the response to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The request path (`/chat`), query included.
    pub path: String,
    /// The subprotocol chosen.
    pub protocol: String,
    /// The `Origin` header, if any (browsers send one).
    pub origin: Option<String>,
    /// Every header, as sent (names as written; values that are not UTF-8 left out).
    pub headers: Vec<(String, String)>,
    /// The 101 response.
    pub response: Vec<u8>,
    /// Octets of the buffer the request took.
    pub len: usize,
}

fn header<'a>(headers: &'a [httparse::Header<'a>], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .map(str::trim)
}

fn has_token(value: Option<&str>, token: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// Whether a listener for `ours` takes a request for `route` (without its query):
/// the same path, or its last segment, since libzmq's ws client sends only that
/// (`ws://h:1/a/b` asks for `/b`).
pub fn serves_path(ours: &str, route: &str) -> bool {
    let last = ours.rfind('/').map_or(ours, |i| &ours[i..]);
    route == ours || route == last
}

/// The path (without its query) of the request at the front of `buf`, once its head
/// has all arrived and parses.
pub fn request_path(buf: &[u8]) -> Option<String> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {
            let p = req.path?;
            Some(p.split('?').next().unwrap_or(p).to_owned())
        }
        _ => None,
    }
}

/// Parses an upgrade request from the front of `buf`: `Ok(None)` until its head has
/// all arrived. `path` is the one this listener serves; `protocols` are the
/// subprotocols it speaks, in its order of preference.
pub fn accept(buf: &[u8], path: &str, protocols: &[String]) -> Result<Option<Accepted>, Refusal> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_MAX => {
            return Err(Refusal::new(431, "request head too large"));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(Refusal::new(431, "too many headers"));
        }
        Err(e) => return Err(Refusal::new(400, format!("not an HTTP request: {e}"))),
    };
    if len > HEAD_MAX {
        return Err(Refusal::new(431, "request head too large"));
    }
    let h = &*req.headers;
    if req.method != Some("GET") {
        return Err(Refusal::new(400, "a WebSocket upgrade is a GET"));
    }
    if !has_token(header(h, "Upgrade"), "websocket")
        || !has_token(header(h, "Connection"), "upgrade")
    {
        return Err(Refusal::new(426, "this is a WebSocket endpoint (ZWS 2.0)"));
    }
    if header(h, "Sec-WebSocket-Version") != Some("13") {
        return Err(Refusal::new(426, "WebSocket version 13 only"));
    }
    let key = header(h, "Sec-WebSocket-Key").unwrap_or_default();
    if BASE64.decode(key).map(|k| k.len()) != Ok(16) {
        return Err(Refusal::new(400, "a bad Sec-WebSocket-Key"));
    }
    let asked = req.path.unwrap_or("/");
    let route = asked.split('?').next().unwrap_or(asked);
    if !serves_path(path, route) {
        return Err(Refusal::new(404, format!("no socket at {route}")));
    }
    let offered: Vec<&str> = h
        .iter()
        .filter(|x| x.name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .filter_map(|x| std::str::from_utf8(x.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let Some(protocol) = protocols.iter().find(|p| offered.contains(&p.as_str())) else {
        return Err(Refusal::new(
            400,
            format!("no subprotocol in common: offered {offered:?}, we speak {protocols:?}"),
        ));
    };
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: {protocol}\r\n\r\n",
        accept_key(key)
    )
    .into_bytes();
    Ok(Some(Accepted {
        path: asked.to_owned(),
        protocol: protocol.clone(),
        origin: header(h, "Origin").map(str::to_owned),
        headers: h
            .iter()
            .filter_map(|x| {
                Some((
                    x.name.to_owned(),
                    std::str::from_utf8(x.value).ok()?.to_owned(),
                ))
            })
            .collect(),
        response,
        len,
    }))
}

/// What a server's upgrade policy sees of a request, before it is accepted.
#[derive(Clone, Copy, Debug)]
pub struct UpgradeRequest<'a> {
    /// The request path, query included.
    pub path: &'a str,
    /// The `Origin` header (browsers send one).
    pub origin: Option<&'a str>,
    /// Every header.
    pub headers: &'a [(String, String)],
    /// The client's address (`127.0.0.1:40123`).
    pub peer: &'a str,
}

impl UpgradeRequest<'_> {
    /// A header's value (the first one of that name, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A cookie's value, from the `Cookie` headers.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("Cookie"))
            .flat_map(|(_, v)| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// A bearer token from `Authorization: Bearer ...`, or the `access_token` query
    /// parameter (browsers cannot set headers on a WebSocket).
    pub fn bearer(&self) -> Option<&str> {
        self.header("Authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .or_else(|| {
                let query = self.path.split_once('?')?.1;
                query
                    .split('&')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == "access_token")
                    .map(|(_, v)| v)
            })
    }
}

/// Decides on an upgrade request before it is accepted: `Ok(Some(name))` accepts it
/// as `name` (the link's `ws-user` metadata), `Ok(None)` accepts it anonymously,
/// `Err(status)` refuses it with that HTTP status (401, 403). Called on the driver
/// thread: it must answer quickly.
pub type Authenticate = dyn Fn(&UpgradeRequest<'_>) -> Result<Option<String>, u16> + Send + Sync;

/// A server's rules for upgrades: the origins browsers may connect from, and an
/// authentication hook.
#[derive(Clone, Default)]
pub struct UpgradePolicy {
    /// `Some`: only requests whose `Origin` is one of these (`https://app.example`)
    /// are accepted (403 otherwise); a request without `Origin` (not a browser) is
    /// accepted. `None`: any origin.
    pub origins: Option<Vec<String>>,
    /// Asked about every request that passed the origin check.
    pub authenticate: Option<std::sync::Arc<Authenticate>>,
}

impl std::fmt::Debug for UpgradePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradePolicy")
            .field("origins", &self.origins)
            .field("authenticate", &self.authenticate.is_some())
            .finish()
    }
}

impl UpgradePolicy {
    /// The name an accepted request goes by, or the refusal.
    pub fn check(&self, request: &UpgradeRequest<'_>) -> Result<Option<String>, Refusal> {
        if let (Some(allowed), Some(origin)) = (&self.origins, request.origin)
            && !allowed.iter().any(|o| o == origin)
        {
            return Err(Refusal::new(403, format!("origin {origin} is not allowed")));
        }
        match &self.authenticate {
            None => Ok(None),
            Some(f) => f(request).map_err(|status| {
                Refusal::new(status, "the upgrade was not authorised".to_string())
            }),
        }
    }
}

/// A client's upgrade request for `path` on `host` (`host:port`), with the key (16
/// random octets in base64) and the subprotocols it offers.
pub fn request(host: &str, path: &str, key: &str, protocols: &[String]) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        protocols.join(", ")
    )
    .into_bytes()
}

/// The server's answer to [`request`]: `Ok(None)` until its head has arrived, then
/// the subprotocol it chose and the octets the head took.
pub fn check_response(
    buf: &[u8],
    key: &str,
    protocols: &[String],
) -> Result<Option<(String, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_MAX => {
            return Err("upgrade response head too large".into());
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("not an HTTP response: {e}")),
    };
    let h = &*resp.headers;
    if resp.code != Some(101) {
        return Err(format!(
            "the server answered {} {}",
            resp.code.unwrap_or(0),
            resp.reason.unwrap_or("")
        ));
    }
    if header(h, "Sec-WebSocket-Accept") != Some(accept_key(key).as_str()) {
        return Err("a wrong Sec-WebSocket-Accept".into());
    }
    let chosen = header(h, "Sec-WebSocket-Protocol").unwrap_or_default();
    if !protocols.iter().any(|p| p == chosen) {
        return Err(format!(
            "the server chose subprotocol {chosen:?}, not one we offered"
        ));
    }
    Ok(Some((chosen.to_owned(), len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours() -> Vec<String> {
        vec![subprotocol("NULL")]
    }

    #[test]
    fn rfc_6455_accept_key() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn a_request_is_accepted_and_its_response_satisfies_the_client() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let req = request("h:1", "/zmq", key, &[subprotocol("NULL"), "ZWS2.0".into()]);
        for cut in 0..req.len() {
            assert_eq!(accept(&req[..cut], "/zmq", &ours()), Ok(None), "{cut}");
        }
        let a = accept(&req, "/zmq", &ours()).unwrap().unwrap();
        assert_eq!((a.protocol.as_str(), a.len), ("ZWS2.0/NULL", req.len()));
        let (p, n) = check_response(&a.response, key, &ours()).unwrap().unwrap();
        assert_eq!((p.as_str(), n), ("ZWS2.0/NULL", a.response.len()));
        assert!(check_response(&a.response, "AAAAAAAAAAAAAAAAAAAAAA==", &ours()).is_err());
    }

    #[test]
    fn bad_requests_get_their_http_status() {
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let good = String::from_utf8(request("h", "/zmq", key, &ours())).unwrap();
        let cases = [
            ("GET / HTTP/1.1\r\nHost: h\r\n\r\n".to_string(), 426),
            (good.replace("GET", "POST"), 400),
            (good.replace("/zmq", "/other"), 404),
            (good.replace(key, "short"), 400),
            (good.replace("Version: 13", "Version: 8"), 426),
            (good.replace("ZWS2.0/NULL", "chat"), 400),
            ("\x16\x03\x01 garbage\r\n\r\n".to_string(), 400),
        ];
        for (req, status) in cases {
            let e = accept(req.as_bytes(), "/zmq", &ours()).unwrap_err();
            assert_eq!(e.status, status, "{req:?}: {e}");
            assert!(
                String::from_utf8(e.response())
                    .unwrap()
                    .starts_with(&format!("HTTP/1.1 {status}"))
            );
        }
        let huge = format!("GET /zmq HTTP/1.1\r\nX: {}", "a".repeat(HEAD_MAX));
        assert_eq!(
            accept(huge.as_bytes(), "/zmq", &ours()).unwrap_err().status,
            431
        );
    }
}
