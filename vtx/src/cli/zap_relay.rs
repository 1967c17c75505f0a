//! `--zap-endpoint`: a ZAP handler must live in the process whose sockets it guards
//! (RFC 27's `inproc://zeromq.zap.01`), and the `vtx` command has none of its own. The
//! relay binds that endpoint in the command's context and passes every request on to
//! a ZAP handler elsewhere (a REP or ROUTER on any libzmq endpoint), and its reply back.

use std::time::{Duration, Instant};

use vtx::emul::runtime::zap::{DEFAULT_ZAP_TIMEOUT, ZAP_ENDPOINT};

use super::{CliError, CliResult};

/// The relay's own wait for the remote handler: inside the vtx server's ZAP timeout,
/// so the server hears our 500 rather than its own timeout.
const RELAY_WAIT: Duration = Duration::from_millis(DEFAULT_ZAP_TIMEOUT.as_millis() as u64 * 4 / 5);

/// Starts the relay to `remote` on a thread of its own, for the life of the process.
pub(crate) fn start(ctx: &zmq::Context, remote: &str) -> CliResult {
    let local = ctx.socket(zmq::REP)?;
    local
        .bind(ZAP_ENDPOINT)
        .map_err(|e| CliError(format!("ZAP relay: {ZAP_ENDPOINT}: {e}")))?;
    // A DEALER, not a REQ: a handler that never answers must not wedge the relay.
    let upstream = ctx.socket(zmq::DEALER)?;
    upstream.set_linger(0)?;
    upstream
        .connect(remote)
        .map_err(|e| CliError(format!("--zap-endpoint {remote}: {e}")))?;
    std::thread::Builder::new()
        .name("vtx-zap-relay".into())
        .spawn(move || relay(&local, &upstream))?;
    Ok(())
}

fn relay(local: &zmq::Socket, upstream: &zmq::Socket) {
    while let Ok(request) = local.recv_multipart(0) {
        let reply = forward(upstream, &request).unwrap_or_else(|why| {
            log::warn!("ZAP relay: {why}");
            failure(&request, &why)
        });
        if local.send_multipart(reply, 0).is_err() {
            return;
        }
    }
}

/// The remote handler's reply to `request`, skipping late replies to earlier ones.
fn forward(upstream: &zmq::Socket, request: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let id = request.get(1).ok_or("a ZAP request without a request id")?;
    let mut frames: Vec<&[u8]> = vec![b""];
    frames.extend(request.iter().map(Vec::as_slice));
    upstream
        .send_multipart(frames, zmq::DONTWAIT)
        .map_err(|e| format!("not sent to the handler: {e}"))?;
    let deadline = Instant::now() + RELAY_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = i64::try_from(left.as_millis()).unwrap_or(i64::MAX);
        let mut items = [upstream.as_poll_item(zmq::POLLIN)];
        if ms == 0 || zmq::poll(&mut items, ms).map_err(|e| e.to_string())? == 0 {
            return Err(format!("no answer from the handler in {RELAY_WAIT:?}"));
        }
        let mut reply = upstream.recv_multipart(0).map_err(|e| e.to_string())?;
        if reply.first().is_some_and(Vec::is_empty) && reply.get(2) == Some(id) {
            reply.remove(0);
            return Ok(reply);
        }
    }
}

/// RFC 27's reply with status 500: the server refuses, and says the handler failed.
fn failure(request: &[Vec<u8>], why: &str) -> Vec<Vec<u8>> {
    vec![
        b"1.0".to_vec(),
        request.get(1).cloned().unwrap_or_default(),
        b"500".to_vec(),
        format!("ZAP relay: {why}").into_bytes(),
        Vec::new(),
        Vec::new(),
    ]
}
