//! `vtx cat`: like `nc`, for any vtx endpoint. Sending types (push, pub, req, dealer,
//! pair, xpub) send each stdin line as it arrives (or files, or `-m` messages);
//! receiving types (pull, sub, rep, router, dealer, pair, xsub, xpub, and req for its
//! replies) print what arrives, so `tail -f log | vtx cat -t pub ...` publishes a log
//! as it grows.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Args;

use super::{CliError, CliResult, SockType, manager};

#[derive(Debug, Args)]
pub(crate) struct CatArgs {
    /// Socket type.
    #[arg(long = "type", short = 't', value_enum)]
    ty: SockType,
    /// Bind to this endpoint (repeatable), e.g. udp://*:5555.
    #[arg(long, short = 'b')]
    bind: Vec<String>,
    /// Connect to this endpoint (repeatable), e.g. tcp6://[::1]:5555.
    #[arg(long, short = 'c')]
    connect: Vec<String>,
    /// Frame separator: splits lines into frames when sending, joins frames when
    /// printing (default: one frame per line; frames printed tab-separated).
    #[arg(long, short = 's')]
    separator: Option<String>,
    /// SUB/XSUB: subscribe to this prefix (repeatable; default everything).
    #[arg(long)]
    subscribe: Vec<String>,
    /// Send these files, one message each, instead of stdin lines.
    #[arg(long, short = 'f')]
    file: Vec<PathBuf>,
    /// Send this message instead of reading stdin (repeatable).
    #[arg(long, short = 'm')]
    message: Vec<String>,
    /// Receive: exit after this many messages.
    #[arg(long, short = 'n')]
    count: Option<u64>,
    /// Give up after this many milliseconds: without a message (receiving types; a
    /// DEALER, PAIR or XPUB whose input ended waits this long for more, 1000 by
    /// default), or waiting for peers or a reply (sending types, 10000 by default).
    #[arg(long)]
    timeout: Option<u64>,
    /// Sending: wait for this many peerings before sending (PUB needs its subscribers
    /// to have subscribed, or messages are dropped as in libzmq).
    #[arg(long, default_value_t = 1)]
    wait_peers: usize,
    /// REP, ROUTER: answer each message with this (REP default: echo the request; a
    /// ROUTER answers only with --reply, behind the message's identity and envelope).
    #[arg(long)]
    reply: Option<String>,
    #[command(flatten)]
    tls: super::TlsArgs,
    #[command(flatten)]
    security: super::SecurityArgs,
}

fn sends(t: SockType) -> bool {
    matches!(
        t,
        SockType::Push
            | SockType::Pub
            | SockType::Req
            | SockType::Dealer
            | SockType::Pair
            | SockType::Xpub
    )
}

/// Sending types that also print what comes back while they send.
fn talks_back(t: SockType) -> bool {
    matches!(t, SockType::Dealer | SockType::Pair | SockType::Xpub)
}

fn frames(line: &str, sep: Option<&str>) -> Vec<Vec<u8>> {
    match sep {
        Some(s) if !s.is_empty() => line.split(s).map(|f| f.as_bytes().to_vec()).collect(),
        _ => vec![line.as_bytes().to_vec()],
    }
}

/// A frame as text when it is printable, else in hex (identities often are binary).
fn printable(frame: &[u8]) -> String {
    match std::str::from_utf8(frame) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_owned(),
        _ => frame.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn print(msg: &[Vec<u8>], sep: Option<&str>, out: &mut impl Write) -> CliResult {
    let sep = sep.unwrap_or("\t");
    let text: Vec<String> = msg
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    writeln!(out, "{}", text.join(sep))?;
    out.flush()?;
    Ok(())
}

fn wait_peers(s: &vtx::VtxSocket, n: usize, timeout: Option<u64>) -> CliResult {
    let end = Instant::now() + Duration::from_millis(timeout.unwrap_or(10_000));
    while s.peer_count() < n {
        if Instant::now() >= end {
            return Err(CliError(format!(
                "no peer came up ({} of {n}) within the timeout",
                s.peer_count()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// What there is to send, delivered as it comes by a thread that reads stdin (or the
/// files and messages given): each message on a channel, and a byte on a socket pair
/// that `zmq::poll` watches beside the socket. The channel closing means the input
/// ended. (Not an inproc socket: a thread blocked on stdin would hold up the context's
/// termination.)
struct Input {
    messages: std::sync::mpsc::Receiver<Vec<Vec<u8>>>,
    signal: std::os::unix::net::UnixStream,
}

fn spawn_input(a: &CatArgs) -> CliResult<Input> {
    let (signal, mut notify) = std::os::unix::net::UnixStream::pair()?;
    signal.set_nonblocking(true)?;
    let (tx, messages) = std::sync::mpsc::channel();
    let sep = a.separator.clone();
    let files = a.file.clone();
    let text = a.message.clone();
    std::thread::spawn(move || {
        let mut send = |m: Vec<Vec<u8>>| tx.send(m).is_ok() && notify.write_all(&[1]).is_ok();
        if !files.is_empty() {
            for p in files {
                match std::fs::read(&p) {
                    Ok(b) => {
                        if !send(vec![b]) {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("vtx: cannot read {}: {e}", p.display());
                        break;
                    }
                }
            }
        } else if !text.is_empty() {
            for m in text {
                if !send(frames(&m, sep.as_deref())) {
                    return;
                }
            }
        } else {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if !send(frames(&line, sep.as_deref())) {
                    return;
                }
            }
        }
        drop(tx);
        let _ = notify.write_all(&[0]); // wake the loop to see the end
    });
    Ok(Input { messages, signal })
}

/// The envelope a reply goes back behind: the identity, then (a REQ's) frames up to
/// and including the empty delimiter.
fn envelope(msg: &[Vec<u8>]) -> Vec<Vec<u8>> {
    match msg.iter().skip(1).position(Vec::is_empty) {
        Some(i) => msg[..i + 2].to_vec(),
        None => msg[..1.min(msg.len())].to_vec(),
    }
}

pub(crate) fn run(a: CatArgs) -> CliResult {
    if a.bind.is_empty() && a.connect.is_empty() {
        return Err(CliError(
            "give at least one --bind or --connect endpoint".into(),
        ));
    }
    let ctx = zmq::Context::new();
    let vtx = manager(&ctx, &a.tls)?;
    let s = vtx.socket(a.ty.zmq())?;
    a.security.apply(&vtx, &ctx, &s)?;
    if matches!(a.ty, SockType::Sub) {
        if a.subscribe.is_empty() {
            s.set_subscribe(b"")?;
        }
        for t in &a.subscribe {
            s.set_subscribe(t.as_bytes())?;
        }
    }
    for ep in &a.bind {
        let bound = s.bind(ep)?;
        eprintln!("bound {bound}");
    }
    for ep in &a.connect {
        s.connect(ep)?;
    }
    if a.ty == SockType::Xsub {
        let topics = if a.subscribe.is_empty() {
            vec![String::new()]
        } else {
            a.subscribe.clone()
        };
        for t in topics {
            let mut f = vec![1u8];
            f.extend_from_slice(t.as_bytes());
            s.send(f, 0)?;
        }
    }
    let mut out = std::io::stdout().lock();
    if sends(a.ty) {
        send_loop(&s, &a, &mut out)
    } else {
        receive_loop(&s, &a, &mut out)
    }
}

/// Sends what comes in as it comes; REQ prints each reply, DEALER, PAIR and XPUB
/// print whatever arrives meanwhile and, once the input ended, until `--timeout` of
/// silence (or `--count` messages).
fn send_loop(s: &vtx::VtxSocket, a: &CatArgs, out: &mut impl Write) -> CliResult {
    use std::io::Read;
    use std::os::unix::io::AsRawFd;
    use std::sync::mpsc::TryRecvError;

    let sep = a.separator.as_deref();
    let mut input = spawn_input(a)?;
    wait_peers(s, a.wait_peers, a.timeout)?;
    if a.ty == SockType::Pub || a.ty == SockType::Xpub {
        // Subscriptions travel after the peering: give them a moment.
        std::thread::sleep(Duration::from_millis(200));
    }
    let wait_ms = a.timeout.map_or(10_000, |t| t as i32);
    s.set_rcvtimeo(wait_ms)?;
    s.set_sndtimeo(wait_ms)?;
    let linger = Duration::from_millis(a.timeout.unwrap_or(1000));
    let mut received = 0u64;
    let mut input_open = true;
    let mut quiet_since = Instant::now();
    loop {
        if a.count.is_some_and(|c| received >= c)
            || (!input_open && (!talks_back(a.ty) || quiet_since.elapsed() >= linger))
        {
            return Ok(());
        }
        let mut items = [
            s.as_poll_item(if talks_back(a.ty) {
                zmq::POLLIN
            } else {
                zmq::PollEvents::empty()
            }),
            zmq::PollItem::from_fd(
                input.signal.as_raw_fd(),
                if input_open {
                    zmq::POLLIN
                } else {
                    zmq::PollEvents::empty()
                },
            ),
        ];
        zmq::poll(&mut items, 100)?;
        if items[0].is_readable() {
            while let Ok(msg) = s.recv_multipart(zmq::DONTWAIT) {
                print(&msg, sep, out)?;
                received += 1;
                quiet_since = Instant::now();
            }
        }
        if !items[1].is_readable() {
            continue;
        }
        let _ = input.signal.read(&mut [0; 256]);
        loop {
            let msg = match input.messages.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    input_open = false;
                    quiet_since = Instant::now();
                    break;
                }
            };
            s.send_multipart(&msg, 0)
                .map_err(|e| CliError(format!("cannot send: {e}")))?;
            if a.ty == SockType::Req {
                let reply = s
                    .recv_multipart(0)
                    .map_err(|e| CliError(format!("no reply: {e}")))?;
                print(&reply, sep, out)?;
                received += 1;
            }
        }
    }
}

fn receive_loop(s: &vtx::VtxSocket, a: &CatArgs, out: &mut impl Write) -> CliResult {
    let sep = a.separator.as_deref();
    if let Some(t) = a.timeout {
        s.set_rcvtimeo(t as i32)?;
    }
    let mut n = 0;
    while a.count.is_none_or(|c| n < c) {
        let msg = match s.recv_multipart(0) {
            Ok(m) => m,
            Err(zmq::Error::EAGAIN) => {
                return Err(CliError("timed out waiting for a message".into()));
            }
            Err(e) => return Err(e.into()),
        };
        match a.ty {
            SockType::Rep => {
                print(&msg, sep, out)?;
                let reply = a.reply.as_ref().map_or(msg.clone(), |r| frames(r, sep));
                s.send_multipart(&reply, 0)?;
            }
            SockType::Router => {
                // Identity first, as text when printable, hex otherwise.
                let mut shown = msg.clone();
                if let Some(id) = shown.first_mut() {
                    *id = printable(id).into_bytes();
                }
                print(&shown, sep, out)?;
                if let Some(r) = &a.reply {
                    let mut reply = envelope(&msg);
                    reply.extend(frames(r, sep));
                    s.send_multipart(&reply, 0)?;
                }
            }
            _ => print(&msg, sep, out)?,
        }
        n += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_keep_the_identity_and_a_reqs_delimiter() {
        let f = |v: &[&str]| v.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
        assert_eq!(envelope(&f(&["id", "", "q"])), f(&["id", ""]));
        assert_eq!(envelope(&f(&["id", "q"])), f(&["id"]));
        assert_eq!(envelope(&f(&["id", "a", "", "q"])), f(&["id", "a", ""]));
    }

    #[test]
    fn binary_identities_print_in_hex() {
        assert_eq!(printable(b"alice"), "alice");
        assert_eq!(printable(&[0, 1, 0xff]), "0001ff");
    }
}
