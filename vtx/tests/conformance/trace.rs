//! What a scenario observes, written down as lines to compare between worlds.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use crate::world::Sock;

/// The lines a scenario observes, sent as they are said: a scenario that hangs
/// still shows how far it got.
pub(crate) struct Trace(pub Sender<String>);

impl Trace {
    pub(crate) fn say(&mut self, line: impl Into<String>) {
        // The collector gave up on this scenario (it timed out): nobody listens.
        let _ = self.0.send(line.into());
    }
}

/// An error as libzmq names it.
pub(crate) fn errname(e: zmq::Error) -> String {
    use zmq::Error::*;
    let name = match e {
        EAGAIN => "EAGAIN",
        EFSM => "EFSM",
        EHOSTUNREACH => "EHOSTUNREACH",
        EINVAL => "EINVAL",
        ENOTSUP => "ENOTSUP",
        ETERM => "ETERM",
        EMSGSIZE => "EMSGSIZE",
        other => return format!("{other:?} ({})", other.to_raw()),
    };
    name.into()
}

/// A message as text: frames joined by `|`, non-printable ones in hex.
pub(crate) fn show(frames: &[Vec<u8>]) -> String {
    frames
        .iter()
        .map(|f| match std::str::from_utf8(f) {
            Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_owned(),
            _ => format!(
                "0x{}",
                f.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// Receives one message within `ms`: its frames as text, or the error.
pub(crate) fn recv(s: &Sock, ms: i32) -> String {
    s.set_rcvtimeo(ms).unwrap();
    match s.recv_multipart(0) {
        Ok(m) => show(&m),
        Err(e) => errname(e),
    }
}

/// The most `recv_all` takes: a scenario that floods shows as a long list, not a hang.
const RECV_ALL_MAX: usize = 100_000;

/// Receives everything that arrives until `ms` of silence (or an error other
/// than `EAGAIN`, which ends the list).
pub(crate) fn recv_all(s: &Sock, ms: i32) -> Vec<String> {
    let mut out = Vec::new();
    s.set_rcvtimeo(ms).unwrap();
    while out.len() < RECV_ALL_MAX {
        match s.recv_multipart(0) {
            Ok(m) => out.push(show(&m)),
            Err(zmq::Error::EAGAIN) => return out,
            Err(e) => {
                out.push(errname(e));
                return out;
            }
        }
    }
    out.push("(and more)".into());
    out
}

/// Sends a message of `frames` with `flags`: `ok` or the error.
pub(crate) fn send(s: &Sock, frames: &[&str], flags: i32) -> String {
    let n = frames.len();
    for (i, f) in frames.iter().enumerate() {
        let more = if i + 1 < n { zmq::SNDMORE } else { 0 };
        if let Err(e) = s.send(f.as_bytes(), flags | more) {
            return errname(e);
        }
    }
    "ok".into()
}

/// Sends until the receiver has a message, for subscriptions that travel
/// asynchronously: returns the first message received.
pub(crate) fn publish_until(publisher: &Sock, sub: &Sock, msg: &str) -> String {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        publisher.send(msg, 0).unwrap();
        let m = recv(sub, 20);
        if m != "EAGAIN" {
            return m;
        }
        assert!(Instant::now() < end, "nothing reached the subscriber");
    }
}
