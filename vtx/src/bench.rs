//! Throughput and latency, vtx against native libzmq, measured in one run.
//!
//! Each side of a measurement gets its own `zmq::Context` and, for vtx, its own
//! [`Vtx`] with its own driver threads, as two processes would: the native baseline
//! then runs one libzmq I/O thread per side and vtx one driver thread per side.
//! Throughput is PUSH/PULL timed at the receiver from the first message to the last
//! (as libzmq's `local_thr`); latency is the mean REQ/REP round trip. Both run a
//! warm-up on the same sockets before the clock starts.
//!
//! [`suite`] repeats every cell and interleaves the pairings: each repetition measures
//! every pairing of a size in turn, so a machine that slows down (another job, a
//! thermal limit) slows the baseline and vtx alike. A [`Row`] keeps every sample; the
//! tables report the median and the range.
//!
//! Every throughput sample also carries the process's CPU time per message (user and
//! system, all threads of both sides): on a machine with few cores, where the threads
//! of both sides share them, that is the cost behind the rate.
//!
//! [`End::Relayed`] is the anchor for vtx's architecture: native libzmq tcp with a
//! forwarding thread on an inproc pipe in front of each side. That is the data path of
//! any driver behind an application's inproc pipe, with libzmq's transport work and no
//! driver work of its own, so no such driver can beat it by much.
//!
//! Used by `vtx bench` and by the `benches/` suite. It measures and formats; it never
//! asserts on a timing.

mod plot;
mod report;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Result, Vtx};

pub use plot::plot;
pub use report::{Machine, json, size_label, table, today};

/// One end of a measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// A native libzmq socket binding this endpoint (`tcp://[::1]:*`, `tcp://127.0.0.1:*`).
    Native(String),
    /// A native libzmq socket behind a relay: the application's socket talks over
    /// inproc to a forwarding thread, whose other socket binds or connects this
    /// endpoint. Same wire as [`End::Native`], one inproc hop more per
    /// side: the hop every vtx message takes to and from its driver.
    Relayed(String),
    /// A vtx socket binding this endpoint (`tcp6://[::1]:0`, `udp://127.0.0.1:0`).
    Vtx(String),
}

impl End {
    fn label(&self) -> String {
        match self {
            End::Native(ep) => format!("native {}", ep.split("://").next().unwrap_or("?")),
            End::Relayed(ep) => format!(
                "native {} via inproc relays",
                ep.split("://").next().unwrap_or("?")
            ),
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

/// Messages to send for a size so that a run takes a fraction of a second.
pub fn default_count(size: usize, scale: f64) -> usize {
    let bytes = 256.0 * 1024.0 * 1024.0 * scale; // ~256 MB per run
    // At least 2,000 whatever the scale (a clamp whose bounds cross would panic).
    let most = ((2_000_000.0 * scale) as usize).max(2_000);
    ((bytes / (size.max(64) as f64)) as usize).clamp(2_000, most)
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
            End::Native(_) | End::Relayed(_) => None,
        };
        Ok(Side { ctx, vtx })
    }
}

enum Sock {
    /// A native socket, and for [`End::Relayed`] the relay it talks through (dropped
    /// after the socket, field order).
    Native(zmq::Socket, Option<Relay>),
    Vtx(Box<crate::VtxSocket>),
}

/// A forwarder between an inproc pipe and the wire, on a thread of its own, as lean as
/// a driver could be: it waits in `zmq_poll`, then moves every message that is ready
/// with non-blocking receives. (libzmq's own `zmq_proxy` polls per message and costs
/// several times more.) Stopped and joined when dropped.
struct Relay {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Relay {
    /// A relay for an application socket of type `app`: the relay's outer socket binds
    /// (`bind`) or connects `ep`, and the application socket connects to its inner one.
    /// Returns the relay and the endpoint the outer socket bound.
    fn new(ctx: &zmq::Context, app: &zmq::Socket, ep: &str, bind: bool) -> Result<(Relay, String)> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let inner_ep = format!(
            "inproc://vtx-bench-relay-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // The relay's sockets for the application's; whether replies come back.
        let (outer_ty, inner_ty, both_ways) = match app.get_socket_type()? {
            zmq::PULL => (zmq::PULL, zmq::PUSH, false),
            zmq::PUSH => (zmq::PUSH, zmq::PULL, false),
            zmq::REP => (zmq::ROUTER, zmq::DEALER, true),
            zmq::REQ => (zmq::DEALER, zmq::ROUTER, true),
            _ => {
                return Err(Error::InvalidConfig {
                    reason: "a relay serves PUSH, PULL, REQ and REP only".into(),
                });
            }
        };
        let (outer, inner) = (ctx.socket(outer_ty)?, ctx.socket(inner_ty)?);
        for s in [&outer, &inner] {
            s.set_linger(0)?;
        }
        outer.set_ipv6(true)?;
        let bound = if bind {
            outer.bind(ep)?;
            outer
                .get_last_endpoint()?
                .map_err(|_| Error::InvalidConfig {
                    reason: "endpoint".into(),
                })?
        } else {
            outer.connect(ep)?;
            ep.to_owned()
        };
        inner.bind(&inner_ep)?;
        app.connect(&inner_ep)?;
        // The side that reads first: a receiver's relay reads the wire.
        let (first, second) = if bind { (outer, inner) } else { (inner, outer) };
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = thread::Builder::new()
            .name("vtx-bench-relay".into())
            .spawn(move || {
                if let Err(e) = relay(&first, &second, both_ways, &stopped) {
                    log::warn!("benchmark relay: {e}");
                }
            })
            .map_err(|e| Error::InvalidConfig {
                reason: format!("relay thread: {e}"),
            })?;
        Ok((
            Relay {
                stop,
                thread: Some(thread),
            },
            bound,
        ))
    }
}

/// Moves messages from `a` to `b` (and back, `both_ways`) until `stop`.
fn relay(
    a: &zmq::Socket,
    b: &zmq::Socket,
    both_ways: bool,
    stop: &std::sync::atomic::AtomicBool,
) -> zmq::Result<()> {
    let mut msg = zmq::Message::new();
    while !stop.load(Ordering::Relaxed) {
        let mut items = [a.as_poll_item(zmq::POLLIN), b.as_poll_item(zmq::POLLIN)];
        let n = if both_ways { 2 } else { 1 };
        zmq::poll(&mut items[..n], 100)?;
        for (from, to) in [(a, b), (b, a)].into_iter().take(n) {
            loop {
                match from.recv(&mut msg, zmq::DONTWAIT) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e),
                }
                let flags = if msg.get_more() { zmq::SNDMORE } else { 0 };
                to.send(std::mem::replace(&mut msg, zmq::Message::new()), flags)?;
            }
        }
    }
    Ok(())
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The calls a benchmark makes, on either kind of socket.
impl Sock {
    fn send(&self, data: impl Into<zmq::Message>, flags: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s, _) => s.send(data.into(), flags),
            Sock::Vtx(s) => s.send(data, flags),
        }
    }

    fn recv(&self, msg: &mut zmq::Message, flags: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s, _) => s.recv(msg, flags),
            Sock::Vtx(s) => s.recv(msg, flags),
        }
    }

    fn set_sndtimeo(&self, ms: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s, _) => s.set_sndtimeo(ms),
            Sock::Vtx(s) => s.set_sndtimeo(ms),
        }
    }

    fn set_rcvtimeo(&self, ms: i32) -> zmq::Result<()> {
        match self {
            Sock::Native(s, _) => s.set_rcvtimeo(ms),
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
            Ok(Sock::Native(s, None))
        }
    }
}

/// Binds the receiving end; returns the endpoint the other end connects to.
fn bind(side: &Side, s: &mut Sock, end: &End, peer: &End) -> Result<String> {
    let bound = match (&mut *s, end) {
        (Sock::Vtx(v), End::Vtx(ep)) => v.bind(ep)?,
        (Sock::Native(n, _), End::Native(ep)) => {
            n.bind(ep)?;
            n.get_last_endpoint()?.map_err(|_| Error::InvalidConfig {
                reason: "endpoint".into(),
            })?
        }
        (Sock::Native(n, relay), End::Relayed(ep)) => {
            let (r, bound) = Relay::new(&side.ctx, n, ep, true)?;
            *relay = Some(r);
            bound
        }
        _ => {
            return Err(Error::InvalidConfig {
                reason: "mismatched end".into(),
            });
        }
    };
    // Native and vtx name the same TCP endpoint with different schemes.
    Ok(match (end, peer) {
        (End::Vtx(_), End::Native(_) | End::Relayed(_)) => bound.replacen("tcp6://", "tcp://", 1),
        (End::Native(_) | End::Relayed(_), End::Vtx(_)) => bound.replacen("tcp://", "tcp6://", 1),
        _ => bound,
    })
}

fn connect(side: &Side, s: &mut Sock, end: &End, ep: &str) -> Result<()> {
    match (s, end) {
        (Sock::Vtx(v), _) => v.connect(ep),
        (Sock::Native(n, relay), End::Relayed(_)) => {
            *relay = Some(Relay::new(&side.ctx, n, ep, false)?.0);
            Ok(())
        }
        (Sock::Native(n, _), _) => Ok(n.connect(ep)?),
    }
}

/// The CPU time this process has used, every thread, user and system.
fn process_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given, which is plain data.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return Duration::ZERO;
    }
    let t = |tv: libc::timeval| {
        Duration::new(tv.tv_sec as u64, 0) + Duration::from_micros(tv.tv_usec as u64)
    };
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Messages of warm-up before a timed throughput run of `count` messages: enough to
/// fill the pipes and the kernel buffers, grow the allocator's pools and wake every
/// thread, so the clock starts on a path in its steady state.
pub fn warmup_count(count: usize) -> usize {
    (count / 10).clamp(count.min(500), 50_000)
}

/// One PUSH/PULL throughput run.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// Messages per second delivered.
    pub msgs_per_sec: f64,
    /// The fraction of the sent messages that arrived (below 1 only on datagram
    /// transports, which may drop).
    pub delivered: f64,
    /// CPU time of the whole process (both sides, every thread, user and system) per
    /// delivered message, over the timed part.
    pub cpu_per_msg: Duration,
}

/// PUSH/PULL throughput.
///
/// One message first proves the peering is up, then a burst of [`warmup_count`]
/// messages runs untimed; then the clock runs from the sender's first timed send to the
/// receiver's last receive, so neither connection setup nor a cold path nor a queue
/// that filled before the receiver looked is counted.
pub fn throughput(
    p: &Pairing,
    size: usize,
    count: usize,
    register: Register,
) -> Result<Throughput> {
    let (rx_side, tx_side) = (Side::new(&p.to, register)?, Side::new(&p.from, register)?);
    let mut pull = open(&rx_side, &p.to, zmq::PULL)?;
    let ep = bind(&rx_side, &mut pull, &p.to, &p.from)?;
    let mut push = open(&tx_side, &p.from, zmq::PUSH)?;
    connect(&tx_side, &mut push, &p.from, &ep)?;
    let payload = vec![0x5Au8; size];
    push.set_sndtimeo(30_000)?;
    pull.set_rcvtimeo(30_000)?;
    let mut msg = zmq::Message::new();
    push.send(&payload[..], 0)?;
    pull.recv(&mut msg, 0)?;
    let warmup = warmup_count(count);
    let vanished = || Error::InvalidConfig {
        reason: "benchmark receiver vanished".into(),
    };
    // Received in all, received by the last clock reading, the time until then, and the
    // CPU time until the receiver stopped.
    type Run = (usize, usize, Duration, Duration);
    let (received, timed, elapsed, cpu) = thread::scope(|scope| -> Result<Run> {
        // Made in the scope, so an early return drops the senders and the receiver
        // thread cannot wait forever on them.
        let (start_tx, start_rx) = mpsc::channel::<(Instant, Duration)>();
        let (warm_tx, warm_rx) = mpsc::channel::<()>();
        let receiver = scope.spawn(move || -> Result<Run> {
            let mut msg = zmq::Message::new();
            // A datagram transport may lose messages: stop after a second of silence.
            pull.set_rcvtimeo(1000)?;
            for _ in 0..warmup {
                match pull.recv(&mut msg, 0) {
                    Ok(()) => {}
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            let _ = warm_tx.send(());
            // The clock is read every CLOCK_EVERY messages, not per message (a clock
            // read costs about as much as a small message): a run that ends in
            // silence counts up to its last reading; a complete one reads it at the end.
            const CLOCK_EVERY: usize = 256;
            let (mut n, mut last) = (0, None);
            while n < count {
                match pull.recv(&mut msg, 0) {
                    Ok(()) => {
                        n += 1;
                        if n % CLOCK_EVERY == 0 || n == count {
                            last = Some((n, Instant::now()));
                        }
                    }
                    Err(zmq::Error::EAGAIN) => break,
                    Err(e) => return Err(e.into()),
                }
            }
            let cpu = process_cpu();
            // No start time: the sender failed, and its error is the one to report.
            let Ok((t0, cpu0)) = start_rx.recv() else {
                return Ok((n, 0, Duration::ZERO, Duration::ZERO));
            };
            let (timed, elapsed) = last.map_or((0, Duration::ZERO), |(k, l)| {
                (k, l.saturating_duration_since(t0))
            });
            Ok((n, timed, elapsed, cpu.saturating_sub(cpu0)))
        });
        let sent = send_n(&push, &payload, warmup)
            // The receiver has drained the burst: the pipes are empty again.
            .and_then(|()| warm_rx.recv().map_err(|_| vanished()))
            .and_then(|()| {
                let _ = start_tx.send((Instant::now(), process_cpu()));
                send_n(&push, &payload, count)
            });
        drop(start_tx);
        let r = receiver.join().map_err(|_| Error::InvalidConfig {
            reason: "benchmark receiver panicked".into(),
        })?;
        drop(push);
        // The receiver's error says more than the sender's (which is then often only
        // that the receiver went away).
        let r = r?;
        sent?;
        Ok(r)
    })?;
    let secs = elapsed.as_secs_f64().max(1e-9);
    Ok(Throughput {
        msgs_per_sec: timed as f64 / secs,
        delivered: received as f64 / count as f64,
        cpu_per_msg: cpu / u32::try_from(received.max(1)).unwrap_or(u32::MAX),
    })
}

fn send_n(push: &Sock, payload: &[u8], n: usize) -> Result<()> {
    for _ in 0..n {
        push.send(payload, 0)?;
    }
    Ok(())
}

/// Round trips of warm-up before `round_trips` timed ones.
pub fn warmup_round_trips(round_trips: usize) -> usize {
    (round_trips / 10).max(100)
}

/// REQ/REP mean round-trip time, after [`warmup_round_trips`] untimed round trips.
pub fn latency(
    p: &Pairing,
    size: usize,
    round_trips: usize,
    register: Register,
) -> Result<Duration> {
    let (rx_side, tx_side) = (Side::new(&p.to, register)?, Side::new(&p.from, register)?);
    let mut rep = open(&rx_side, &p.to, zmq::REP)?;
    let ep = bind(&rx_side, &mut rep, &p.to, &p.from)?;
    let mut req = open(&tx_side, &p.from, zmq::REQ)?;
    connect(&tx_side, &mut req, &p.from, &ep)?;
    let warmup = warmup_round_trips(round_trips);
    thread::scope(|scope| -> Result<Duration> {
        let server = scope.spawn(move || -> Result<()> {
            rep.set_rcvtimeo(30_000)?;
            let mut msg = zmq::Message::new();
            for _ in 0..warmup + round_trips {
                rep.recv(&mut msg, 0)?;
                rep.send(msg, 0)?;
                msg = zmq::Message::new();
            }
            Ok(())
        });
        let payload = vec![0x5Au8; size];
        req.set_rcvtimeo(30_000)?;
        let mut msg = zmq::Message::new();
        // The first warm-up round trip also waits for the connection.
        for _ in 0..warmup {
            req.send(&payload[..], 0)?;
            req.recv(&mut msg, 0)?;
        }
        let t0 = Instant::now();
        for _ in 0..round_trips {
            req.send(&payload[..], 0)?;
            req.recv(&mut msg, 0)?;
        }
        let rtt = t0.elapsed() / round_trips as u32;
        server.join().map_err(|_| Error::InvalidConfig {
            reason: "benchmark server panicked".into(),
        })??;
        Ok(rtt)
    })
}

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Measure {
    /// PUSH/PULL messages per second (higher is better).
    Throughput,
    /// REQ/REP mean round trip in seconds (lower is better).
    Latency,
}

/// One cell of results: a pairing at a size, with one sample per repetition.
#[derive(Clone, Debug)]
pub struct Row {
    /// The pairing.
    pub name: String,
    /// Message size in bytes.
    pub size: usize,
    /// What the samples are.
    pub measure: Measure,
    /// One value per repetition, in run order: messages per second, or seconds of
    /// round trip.
    pub samples: Vec<f64>,
    /// Per repetition, the fraction of sent messages delivered (throughput rows).
    pub delivered: Vec<f64>,
    /// Per repetition, the process's CPU seconds per delivered message (throughput
    /// rows; see [`Throughput::cpu_per_msg`]).
    pub cpu: Vec<f64>,
    /// Per repetition, this row's sample over the baseline's in the same repetition.
    pub ratios: Vec<f64>,
    /// This row's median over the baseline's median, of the same size and measure
    /// (throughput: higher is better; latency: lower is better).
    pub ratio: f64,
}

impl Row {
    fn new(name: &str, size: usize, measure: Measure) -> Row {
        Row {
            name: name.to_owned(),
            size,
            measure,
            samples: Vec::new(),
            delivered: Vec::new(),
            cpu: Vec::new(),
            ratios: Vec::new(),
            ratio: f64::NAN,
        }
    }

    /// The median sample (NaN without samples).
    pub fn median(&self) -> f64 {
        median(&self.samples)
    }

    /// The smallest sample.
    pub fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::NAN, f64::min)
    }

    /// The largest sample.
    pub fn max(&self) -> f64 {
        self.samples.iter().copied().fold(f64::NAN, f64::max)
    }

    /// The median messages per second of a throughput row.
    pub fn msgs_per_sec(&self) -> Option<f64> {
        (self.measure == Measure::Throughput && !self.samples.is_empty()).then(|| self.median())
    }

    /// The median round trip of a latency row.
    pub fn rtt(&self) -> Option<Duration> {
        (self.measure == Measure::Latency && !self.samples.is_empty())
            .then(|| Duration::from_secs_f64(self.median().max(0.0)))
    }
}

/// The median of some values (the mean of the middle two for an even count; NaN for
/// none).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// One measurement as it completes, for progress output.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Which repetition, from 0.
    pub repetition: usize,
    /// The pairing.
    pub pairing: &'a str,
    /// Message size in bytes.
    pub size: usize,
    /// What `value` is.
    pub measure: Measure,
    /// Messages per second, or seconds of round trip.
    pub value: f64,
}

/// `run 2: vtx tcp6 64 B: 2192339 msgs/s`, or `... 105.8 µs RTT`.
impl std::fmt::Display for Sample<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "run {}: {} {}: ",
            self.repetition + 1,
            self.pairing,
            size_label(self.size)
        )?;
        match self.measure {
            Measure::Throughput => write!(f, "{:.0} msgs/s", self.value),
            Measure::Latency => write!(f, "{:.1} µs RTT", self.value * 1e6),
        }
    }
}

/// Runs every cell `repeat` times (at least once): in each repetition, throughput for
/// every size and, within a size, every pairing in turn; then latency (at the first
/// size) for every pairing. The first pairing is the baseline every ratio refers to.
pub fn suite(
    pairings: &[Pairing],
    sizes: &[usize],
    scale: f64,
    repeat: usize,
    register: Register,
    mut progress: impl FnMut(&Sample<'_>),
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for &size in sizes {
        rows.extend(
            pairings
                .iter()
                .map(|p| Row::new(&p.name, size, Measure::Throughput)),
        );
    }
    let latency_size = sizes.first().copied().unwrap_or(64);
    rows.extend(
        pairings
            .iter()
            .map(|p| Row::new(&p.name, latency_size, Measure::Latency)),
    );
    let trips = ((20_000.0 * scale) as usize).max(200);
    for repetition in 0..repeat.max(1) {
        for (row, p) in rows.iter_mut().zip(pairings.iter().cycle()) {
            let value = match row.measure {
                Measure::Throughput => {
                    let count = default_count(row.size, scale);
                    let t = throughput(p, row.size, count, register)?;
                    row.delivered.push(t.delivered);
                    row.cpu.push(t.cpu_per_msg.as_secs_f64());
                    t.msgs_per_sec
                }
                Measure::Latency => latency(p, row.size, trips, register)?.as_secs_f64(),
            };
            row.samples.push(value);
            progress(&Sample {
                repetition,
                pairing: &row.name,
                size: row.size,
                measure: row.measure,
                value,
            });
        }
    }
    if !pairings.is_empty() {
        for group in rows.chunks_mut(pairings.len()) {
            let (base, base_median) = (group[0].samples.clone(), group[0].median());
            for row in group {
                row.ratios = row.samples.iter().zip(&base).map(|(x, b)| x / b).collect();
                row.ratio = row.median() / base_median;
            }
        }
    }
    Ok(rows)
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
