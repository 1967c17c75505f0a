//! ZAP (RFC 27): an [`Authenticator`] that asks the ZAP handler of the application's
//! libzmq context, on `inproc://zeromq.zap.01`, so a handler written for libzmq (a
//! REP or ROUTER in any language binding) decides for vtx peers too.
//!
//! The request is RFC 27's: version `1.0`, a request id, the domain, the peer's
//! address, its identity (the routing id it announced: vtx asks at INITIATE, when
//! that is known, where libzmq sends its own, libzmq#4161), the mechanism, and the
//! credentials (PLAIN: user name and password; CURVE: the 32-byte key). The reply's
//! status decides: 200 lets the peer in with the reply's user id (its `User-Id`), 300,
//! 400 and 500 refuse it with that status. A reply for another request (one that timed
//! out earlier) is skipped; no reply within the timeout is a 500.
//!
//! The question is asked on the driver thread and waited for there, up to the timeout:
//! an in-process handler answers in microseconds, but a slow one holds up every socket
//! of that driver meanwhile. Keep the handler quick, or the timeout short.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::security::{AuthOutcome, AuthRequest, Authenticator, Credentials};

/// Where libzmq's ZAP handlers bind.
pub const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
/// How long a handler has to answer, unless set.
pub const DEFAULT_ZAP_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks a ZAP handler.
pub struct ZapAuthenticator {
    socket: Mutex<(zmq::Socket, u64)>,
    domain: Bytes,
    timeout: Duration,
}

impl std::fmt::Debug for ZapAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZapAuthenticator")
            .field("domain", &self.domain)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ZapAuthenticator {
    /// A client of the ZAP handler in `ctx` (the application's context: the one its
    /// handler binds in), for `domain` (ZAP's domain frame; libzmq's ZAP_DOMAIN).
    pub fn new(ctx: &zmq::Context, domain: &str, timeout: Duration) -> zmq::Result<Self> {
        let socket = ctx.socket(zmq::DEALER)?;
        socket.set_linger(0)?;
        // A handler bound later is still reached: inproc connects before a bind.
        socket.connect(ZAP_ENDPOINT)?;
        Ok(ZapAuthenticator {
            socket: Mutex::new((socket, 0)),
            domain: Bytes::copy_from_slice(domain.as_bytes()),
            timeout,
        })
    }

    fn ask(&self, request: &AuthRequest<'_>) -> Result<AuthOutcome, String> {
        let mut guard = self.socket.lock().map_err(|_| "ZAP client poisoned")?;
        let (socket, next_id) = &mut *guard;
        *next_id += 1;
        let id = next_id.to_string();
        let mut frames: Vec<&[u8]> = vec![
            b"",
            b"1.0",
            id.as_bytes(),
            &self.domain,
            request.address.as_bytes(),
            request.identity,
            request.mechanism.as_bytes(),
        ];
        match request.credentials {
            Credentials::Plain { username, password } => frames.extend([username, password]),
            Credentials::Curve { public_key } => frames.push(public_key),
            Credentials::Sasl {
                mechanism,
                authcid,
                authzid,
            } => frames.extend([
                mechanism.name().as_bytes(),
                authcid.as_bytes(),
                authzid.unwrap_or_default().as_bytes(),
            ]),
        }
        socket
            .send_multipart(frames, zmq::DONTWAIT)
            .map_err(|e| format!("ZAP request not sent: {e}"))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("no ZAP handler answered within {:?}", self.timeout));
            }
            let ms = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            match socket.poll(zmq::POLLIN, i64::from(ms)) {
                Ok(0) => continue,
                Ok(_) => {}
                // The context is ending (or worse): no answer will come.
                Err(e) => return Err(format!("ZAP: {e}")),
            }
            let reply = socket
                .recv_multipart(zmq::DONTWAIT)
                .map_err(|e| format!("ZAP reply: {e}"))?;
            // [empty, version, request id, status, text, user id, metadata]
            let [_, version, rid, status, text, user, ..] = reply.as_slice() else {
                return Err(format!("malformed ZAP reply of {} frames", reply.len()));
            };
            if rid != id.as_bytes() {
                continue; // the answer to a request that timed out
            }
            if version != b"1.0" {
                return Err("ZAP reply of another version".into());
            }
            let text = String::from_utf8_lossy(text).into_owned();
            return Ok(match status.as_slice() {
                b"200" => AuthOutcome::Allow {
                    user_id: Bytes::copy_from_slice(user),
                },
                b"300" => AuthOutcome::Deny { status: 300, text },
                b"400" => AuthOutcome::Deny { status: 400, text },
                b"500" => AuthOutcome::Deny { status: 500, text },
                other => {
                    return Err(format!(
                        "ZAP status {:?} is none of 200, 300, 400, 500",
                        String::from_utf8_lossy(other)
                    ));
                }
            });
        }
    }
}

impl Authenticator for ZapAuthenticator {
    fn authenticate(&self, request: &AuthRequest<'_>) -> AuthOutcome {
        self.ask(request).unwrap_or_else(|text| {
            log::warn!("ZAP: {text}");
            AuthOutcome::Deny { status: 500, text }
        })
    }
}
