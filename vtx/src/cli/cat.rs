//! `vtx cat`: like the zmq cat tools, for any vtx endpoint. Sending types (push, pub,
//! dealer, pair, req, xpub, xsub) send stdin lines or files; receiving types (pull, sub,
//! rep, router, dealer, pair, xsub, xpub) print what arrives.

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
    /// Give up after this many milliseconds without progress (receiving), or waiting
    /// for peers (sending).
    #[arg(long)]
    timeout: Option<u64>,
    /// Sending: wait for this many peerings before sending (PUB needs its subscribers
    /// to have subscribed, or messages are dropped as in libzmq).
    #[arg(long, default_value_t = 1)]
    wait_peers: usize,
    /// REP: the reply (default: echo the request).
    #[arg(long)]
    reply: Option<String>,
    #[command(flatten)]
    tls: super::TlsArgs,
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

fn frames(line: &str, sep: Option<&str>) -> Vec<Vec<u8>> {
    match sep {
        Some(s) if !s.is_empty() => line.split(s).map(|f| f.as_bytes().to_vec()).collect(),
        _ => vec![line.as_bytes().to_vec()],
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
    while s.peer_count()? < n {
        if Instant::now() >= end {
            return Err(CliError(format!(
                "no peer came up ({} of {n}) within the timeout",
                s.peer_count()?
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn outgoing(a: &CatArgs) -> CliResult<Vec<Vec<Vec<u8>>>> {
    let sep = a.separator.as_deref();
    if !a.file.is_empty() {
        return a
            .file
            .iter()
            .map(|p| {
                std::fs::read(p)
                    .map(|b| vec![b])
                    .map_err(|e| CliError(format!("cannot read {}: {e}", p.display())))
            })
            .collect();
    }
    if !a.message.is_empty() {
        return Ok(a.message.iter().map(|m| frames(m, sep)).collect());
    }
    let mut v = Vec::new();
    for line in std::io::stdin().lock().lines() {
        v.push(frames(&line?, sep));
    }
    Ok(v)
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
    let sep = a.separator.as_deref();
    let mut out = std::io::stdout().lock();
    if sends(a.ty) {
        let msgs = outgoing(&a)?;
        wait_peers(&s, a.wait_peers, a.timeout)?;
        if a.ty == SockType::Pub || a.ty == SockType::Xpub {
            // Subscriptions travel after the peering: give them a moment.
            std::thread::sleep(Duration::from_millis(200));
        }
        s.set_rcvtimeo(a.timeout.map_or(10_000, |t| t as i32))?;
        for m in msgs {
            s.send_multipart(&m, 0)?;
            if a.ty == SockType::Req {
                let reply = s
                    .recv_multipart(0)
                    .map_err(|e| CliError(format!("no reply: {e}")))?;
                print(&reply, sep, &mut out)?;
            }
        }
        return Ok(());
    }
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
                print(&msg, sep, &mut out)?;
                let reply = a.reply.as_ref().map_or(msg.clone(), |r| frames(r, sep));
                s.send_multipart(&reply, 0)?;
            }
            SockType::Router => {
                // Identity first, printed as text when it is, hex otherwise.
                let mut shown = msg.clone();
                if let Some(id) = shown.first_mut()
                    && std::str::from_utf8(id).is_err()
                {
                    *id = id
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>()
                        .into_bytes();
                }
                print(&shown, sep, &mut out)?;
            }
            _ => print(&msg, sep, &mut out)?,
        }
        n += 1;
    }
    Ok(())
}
