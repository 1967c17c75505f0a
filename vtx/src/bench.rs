//! Throughput and latency, vtx against native libzmq, measured in one run.
//!
//! Each side of a measurement gets its own `zmq::Context` and, for vtx, its own
//! [`Vtx`] with its own driver threads, as two processes would: the native baseline
//! then runs one libzmq I/O thread per side and vtx one driver thread per side.
//! Throughput is PUSH/PULL timed at the receiver from the first message to the last
//! (as libzmq's `local_thr`); latency is the mean REQ/REP round trip.
//!
//! Used by `vtx bench` and by the `benches/` suite.

use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result, Vtx};

/// One end of a measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// A native libzmq socket binding this endpoint (`tcp://[::1]:*`, `tcp://127.0.0.1:*`).
    Native(String),
    /// A vtx socket binding this endpoint (`tcp6://[::1]:0`, `udp://127.0.0.1:0`).
    Vtx(String),
}

impl End {
    fn label(&self) -> String {
        match self {
            End::Native(ep) => format!("native {}", ep.split("://").next().unwrap_or("?")),
            End::Vtx(ep) => format!("vtx {}", ep.split("://").next().unwrap_or("?")),
        }
    }
}

/// A sender/receiver pairing to measure.
#[derive(Clone, Debug)]
pub struct Pairing {
    /// Name in the table.
    pub name: String,
    /// The side that sends (connects).
    pub from: End,
    /// The side that receives (binds).
    pub to: End,
}

impl Pairing {
    /// A pairing named after its ends.
    pub fn new(from: End, to: End) -> Pairing {
        let name = if from == to {
            from.label()
        } else {
            format!("{} -> {}", from.label(), to.label())
        };
        Pairing { name, from, to }
    }
}

/// Registers the transports a vtx side needs.
pub type Register = fn(&Vtx) -> Result<()>;

/// One row of results.
#[derive(Clone, Debug)]
pub struct Row {
    /// The pairing.
    pub name: String,
    /// Message size in bytes.
    pub size: usize,
    /// Messages per second (throughput rows).
    pub msgs_per_sec: Option<f64>,
    /// Mean round trip (latency rows).
    pub rtt: Option<Duration>,
    /// Fraction of sent messages delivered (throughput rows).
    pub delivered: Option<f64>,
    /// Ratio to the baseline row of the same size (throughput: higher is better;
    /// latency: lower is better).
    pub ratio: Option<f64>,
}

/// Messages to send for a size so that a run takes a fraction of a second.
pub fn default_count(size: usize, scale: f64) -> usize {
    let bytes = 256.0 * 1024.0 * 1024.0 * scale; // ~256 MB per run
    ((bytes / (size.max(64) as f64)) as usize)
        .clamp(2_000, (2_000_000.0 * scale) as usize)
        .max(200)
}

struct Side {
    ctx: zmq::Context,
    vtx: Option<Vtx>,
}

impl Side {
    fn new(end: &End, register: Register) -> Result<Side> {
        let ctx = zmq::Context::new();
        let vtx = match end {
            End::Vtx(_) => {
                let v = Vtx::new(&ctx);
                register(&v)?;
                Some(v)
            }
            End::Native(_) => None,
        };
        Ok(Side { ctx, vtx })
    }
}

enum Sock {
    Native(zmq::Socket),
    Vtx(Box<crate::VtxSocket>),
}

/// The calls a benchmark makes, on either kind of socket.
impl Sock {
    fn send(&self, data: impl Into<zmq::Message>, flags: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s) => s.send(data.into(), flags),
            Sock::Vtx(s) => s.send(data, flags),
        }
    }

    fn recv(&self, msg: &mut zmq::Message, flags: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s) => s.recv(msg, flags),
            Sock::Vtx(s) => s.recv(msg, flags),
        }
    }

    fn set_sndtimeo(&self, ms: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s) => s.set_sndtimeo(ms),
            Sock::Vtx(s) => s.set_sndtimeo(ms),
        }
    }

    fn set_rcvtimeo(&self, ms: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s) => s.set_rcvtimeo(ms),
            Sock::Vtx(s) => s.set_rcvtimeo(ms),
        }
    }
}

fn open(side: &Side, end: &End, ty: zmq::SocketType) -> Result<Sock> {
    match (end, &side.vtx) {
        (End::Vtx(_), Some(v)) => Ok(Sock::Vtx(Box::new(v.socket(ty)?))),
        _ => {
            let s = side.ctx.socket(ty)?;
            s.set_ipv6(true)?;
            Ok(Sock::Native(s))
        }
    }
}

/// Binds the receiving end; returns the endpoint the other end connects to.
fn bind(s: &Sock, end: &End, peer: &End) -> Result<String> {
    let bound = match (s, end) {
        (Sock::Vtx(v), End::Vtx(ep)) => v.bind(ep)?,
        (Sock::Native(n), End::Native(ep)) => {
            n.bind(ep)?;
            n.get_last_endpoint()?.map_err(|_| Error::InvalidConfig {
                reason: "endpoint".into(),
            })?
        }
        _ => {
            return Err(Error::InvalidConfig {
                reason: "mismatched end".into(),
            });
        }
    };
    // Native and vtx name the same TCP endpoint with different schemes.
    Ok(match (end, peer) {
        (End::Vtx(_), End::Native(_)) => bound.replacen("tcp6://", "tcp://", 1),
        (End::Native(_), End::Vtx(_)) => bound.replacen("tcp://", "tcp6://", 1),
        _ => bound,
    })
}

fn connect(s: &Sock, ep: &str) -> Result<()> {
    match s {
        Sock::Vtx(v) => v.connect(ep),
        Sock::Native(n) => Ok(n.connect(ep)?),
    }
}

/// PUSH/PULL throughput: messages per second delivered, and the fraction of the sent
/// messages that arrived (below 1 only on datagram transports, which may drop).
///
/// One message first proves the peering is up; then the clock runs from the sender's
/// first send to the receiver's last receive, so neither connection setup nor a queue
/// that filled before the receiver looked is counted.
pub fn throughput(
    p: &Pairing,
    size: usize,
    count: usize,
    register: Register,
) -> Result<(f64, f64)> {
    let (rx_side, tx_side) = (Side::new(&p.to, register)?, Side::new(&p.from, register)?);
    let pull = open(&rx_side, &p.to, zmq::PULL)?;
    let ep = bind(&pull, &p.to, &p.from)?;
    let push = open(&tx_side, &p.from, zmq::PUSH)?;
    connect(&push, &ep)?;
    let payload = vec![0x5Au8; size];
    push.set_sndtimeo(30_000)?;
    pull.set_rcvtimeo(30_000)?;
    let mut msg = zmq::Message::new();
    push.send(&payload[..], 0)?;
    pull.recv(&mut msg, 0)?;
    let (tx, rx) = std::sync::mpsc::channel::<Instant>();
    let (received, elapsed) = thread::scope(|scope| -> Result<(usize, Duration)> {
        let receiver = scope.spawn(move || -> Result<(usize, Duration)> {
            let mut msg = zmq::Message::new();
            // A datagram transport may lose messages: stop after a second of silence.
            pull.set_rcvtimeo(1000)?;
            let mut n = 0;
            let mut last = None;
            while n < count {
                match pull.recv(&mut msg, 0) {
                    Ok(()) => {
                        n += 1;
                        last = Some(Instant::now());
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            let t0 = rx.recv().map_err(|_| Error::InvalidConfig {
                reason: "sender vanished".into(),
            })?;
            Ok((
                n,
                last.map_or(Duration::ZERO, |l| l.saturating_duration_since(t0)),
            ))
        });
        let _ = tx.send(Instant::now());
        for _ in 0..count {
            push.send(&payload[..], 0)?;
        }
        let r = receiver.join().map_err(|_| Error::InvalidConfig {
            reason: "receiver panicked".into(),
        })?;
        drop(push);
        r
    })?;
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok((received as f64 / secs, received as f64 / count as f64))
}

/// REQ/REP mean round-trip time.
pub fn latency(
    p: &Pairing,
    size: usize,
    round_trips: usize,
    register: Register,
) -> Result<Duration> {
    let (rx_side, tx_side) = (Side::new(&p.to, register)?, Side::new(&p.from, register)?);
    let rep = open(&rx_side, &p.to, zmq::REP)?;
    let ep = bind(&rep, &p.to, &p.from)?;
    let req = open(&tx_side, &p.from, zmq::REQ)?;
    connect(&req, &ep)?;
    thread::scope(|scope| -> Result<Duration> {
        let server = scope.spawn(move || -> Result<()> {
            rep.set_rcvtimeo(30_000)?;
            let mut msg = zmq::Message::new();
            for _ in 0..=round_trips {
                rep.recv(&mut msg, 0)?;
                rep.send(msg, 0)?;
                msg = zmq::Message::new();
            }
            Ok(())
        });
        let payload = vec![0x5Au8; size];
        req.set_rcvtimeo(30_000)?;
        let mut msg = zmq::Message::new();
        // One warm-up round trip also waits for the connection.
        req.send(&payload[..], 0)?;
        req.recv(&mut msg, 0)?;
        let t0 = Instant::now();
        for _ in 0..round_trips {
            req.send(&payload[..], 0)?;
            req.recv(&mut msg, 0)?;
        }
        let rtt = t0.elapsed() / round_trips as u32;
        server.join().map_err(|_| Error::InvalidConfig {
            reason: "server panicked".into(),
        })??;
        Ok(rtt)
    })
}

/// Runs throughput for every size and pairing, then latency; the first pairing is the
/// baseline every ratio refers to.
pub fn suite(
    pairings: &[Pairing],
    sizes: &[usize],
    scale: f64,
    register: Register,
    mut progress: impl FnMut(&Row),
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &size in sizes {
        let count = default_count(size, scale);
        let mut base = None;
        for p in pairings {
            let (mps, delivered) = throughput(p, size, count, register)?;
            let base = *base.get_or_insert(mps);
            let row = Row {
                name: p.name.clone(),
                size,
                msgs_per_sec: Some(mps),
                rtt: None,
                delivered: Some(delivered),
                ratio: Some(mps / base),
            };
            progress(&row);
            rows.push(row);
        }
    }
    let trips = ((20_000.0 * scale) as usize).max(200);
    let size = sizes.first().copied().unwrap_or(64);
    let mut base = None;
    for p in pairings {
        let rtt = latency(p, size, trips, register)?;
        let base = *base.get_or_insert(rtt);
        let ratio = rtt.as_secs_f64() / base.as_secs_f64();
        let row = Row {
            name: p.name.clone(),
            size,
            msgs_per_sec: None,
            rtt: Some(rtt),
            delivered: None,
            ratio: Some(ratio),
        };
        progress(&row);
        rows.push(row);
    }
    Ok(rows)
}

/// Human-readable size.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Formats rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| pairing | size | msgs/s | MB/s | delivered | RTT | ratio to baseline |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (mps, mbs) = match r.msgs_per_sec {
            Some(m) => (format!("{m:.0}"), format!("{:.1}", m * r.size as f64 / 1e6)),
            None => (String::new(), String::new()),
        };
        let rtt = r
            .rtt
            .map(|d| format!("{:.1} µs", d.as_secs_f64() * 1e6))
            .unwrap_or_default();
        let delivered = r
            .delivered
            .map(|d| format!("{:.1}%", d * 100.0))
            .unwrap_or_default();
        let ratio = r.ratio.map(|x| format!("{x:.2}x")).unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {mps} | {mbs} | {delivered} | {rtt} | {ratio} |",
            r.name,
            size_label(r.size)
        );
    }
    s
}

/// Formats rows as JSON lines (for machines).
pub fn json(rows: &[Row]) -> String {
    let mut s = String::from("[");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "\n  {{\"pairing\": \"{}\", \"size\": {}, \"msgs_per_sec\": {}, \"delivered\": {}, \"rtt_us\": {}, \"ratio\": {}}}",
            r.name.replace('"', "'"),
            r.size,
            r.msgs_per_sec.map_or("null".into(), |m| format!("{m:.1}")),
            r.delivered.map_or("null".into(), |d| format!("{d:.4}")),
            r.rtt
                .map_or("null".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e6)),
            r.ratio.map_or("null".into(), |x| format!("{x:.4}")),
        );
    }
    s.push_str("\n]\n");
    s
}

/// A throwaway CA and a server certificate for `localhost`, 127.0.0.1 and ::1, as a TLS
/// configuration that both serves and trusts it (for benchmarks and demos only). Made
/// once per process, so every side of a benchmark trusts every other.
#[cfg(feature = "tls")]
pub fn ephemeral_tls() -> Result<vtx_tls::TlsConfig> {
    static CONFIG: std::sync::OnceLock<std::result::Result<vtx_tls::TlsConfig, String>> =
        std::sync::OnceLock::new();
    CONFIG
        .get_or_init(|| make_ephemeral_tls().map_err(|e| e.to_string()))
        .clone()
        .map_err(|reason| Error::InvalidConfig { reason })
}

#[cfg(feature = "tls")]
fn make_ephemeral_tls() -> Result<vtx_tls::TlsConfig> {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let err = |e: rcgen::Error| Error::InvalidConfig {
        reason: format!("certificate generation: {e}"),
    };
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().map_err(err)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;
    let leaf = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into(), "::1".into()])
        .map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let cert = leaf
        .signed_by(&key, &Issuer::from_params(&ca, &ca_key))
        .map_err(err)?;
    let mut roots = rustls_roots();
    roots
        .add(ca_cert.der().clone())
        .map_err(|e| Error::InvalidConfig {
            reason: e.to_string(),
        })?;
    let key = vtx_tls::key_der_from_pkcs8(key.serialize_der());
    vtx_tls::TlsConfig::builder()
        .server_cert(vec![cert.der().clone()], key)
        .trust(roots)
        .build()
}

#[cfg(feature = "tls")]
fn rustls_roots() -> vtx_tls::RootCertStore {
    vtx_tls::RootCertStore::empty()
}
