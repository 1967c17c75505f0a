//! Where a scenario's sockets live: native libzmq over `tcp://` (the reference), or a
//! vtx transport. The scenario code is the same for both; only binding, connecting
//! and waiting for peerings differ.

use std::cell::Cell;
use std::time::{Duration, Instant};

use vtx::{Vtx, VtxSocket};

/// A socket of either world, with the calls scenarios make.
pub(crate) enum Sock {
    Native {
        socket: zmq::Socket,
        /// Its monitor, and the peerings up as the monitor has told so far.
        monitor: zmq::Socket,
        up: Cell<i64>,
    },
    Vtx(Box<VtxSocket>),
}

/// libzmq's ZMQ_METADATA (zmq.h of 4.3; zmq-sys 0.12 predates it).
const ZMQ_METADATA: i32 = 95;

/// A vtx error as the libzmq error a scenario compares (vtx's own errors do not occur
/// in scenarios: they are bugs).
fn zmq_error(e: vtx::Error) -> zmq::Error {
    match e {
        vtx::Error::Zmq(e) => e,
        other => panic!("vtx error: {other}"),
    }
}

/// Each call as libzmq has it, forwarded to whichever socket this is.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Sock {
            $(
                #[allow(dead_code)]
                pub(crate) fn $name(&self, $($arg: $ty),*) -> zmq::Result<$ret> {
                    match self {
                        Sock::Native { socket, .. } => socket.$name($($arg),*),
                        #[allow(clippy::useless_conversion)]
                        Sock::Vtx(v) => v.$name($($arg),*).map_err(Into::into).map_err(|e: VtxOrZmq| e.0),
                    }
                }
            )*
        }
    };
}

/// Either error type, as a libzmq error.
pub(crate) struct VtxOrZmq(zmq::Error);

impl From<zmq::Error> for VtxOrZmq {
    fn from(e: zmq::Error) -> VtxOrZmq {
        VtxOrZmq(e)
    }
}

impl From<vtx::Error> for VtxOrZmq {
    fn from(e: vtx::Error) -> VtxOrZmq {
        VtxOrZmq(zmq_error(e))
    }
}

forward! {
    recv(msg: &mut zmq::Message, flags: i32) -> ();
    recv_bytes(flags: i32) -> Vec<u8>;
    recv_multipart(flags: i32) -> Vec<Vec<u8>>;
    get_socket_type() -> zmq::SocketType;
    set_linger(ms: i32) -> ();
    set_rcvtimeo(ms: i32) -> ();
    set_sndtimeo(ms: i32) -> ();
    set_sndhwm(n: i32) -> ();
    set_rcvhwm(n: i32) -> ();
    set_identity(id: &[u8]) -> ();
    set_subscribe(topic: &[u8]) -> ();
    set_unsubscribe(topic: &[u8]) -> ();
    set_router_mandatory(on: bool) -> ();
    set_router_handover(on: bool) -> ();
    set_immediate(on: bool) -> ();
    set_conflate(on: bool) -> ();
    set_probe_router(on: bool) -> ();
    set_req_relaxed(on: bool) -> ();
    set_req_correlate(on: bool) -> ();
    set_xpub_verbose(on: bool) -> ();
    set_xpub_welcome_msg(msg: Option<&str>) -> ();
    set_reconnect_ivl(ms: i32) -> ();
    set_heartbeat_ivl(ms: i32) -> ();
    set_heartbeat_timeout(ms: i32) -> ();
}

impl Sock {
    /// Sends one frame.
    pub(crate) fn send(&self, data: impl AsRef<[u8]>, flags: i32) -> zmq::Result<()> {
        match self {
            Sock::Native { socket, .. } => socket.send(data.as_ref(), flags),
            Sock::Vtx(v) => v.send(data.as_ref(), flags),
        }
    }

    /// ZMQ_METADATA: announces an application property to peers.
    pub(crate) fn set_metadata(&mut self, name: &str, value: &str) {
        match self {
            Sock::Vtx(v) => v.set_metadata(name, value.as_bytes()).unwrap(),
            Sock::Native { socket, .. } => {
                let prop = format!("{name}:{value}");
                // SAFETY: a live socket, and a pointer/length pair to the property's bytes.
                let rc = unsafe {
                    zmq_sys::zmq_setsockopt(
                        socket.as_mut_ptr(),
                        ZMQ_METADATA,
                        prop.as_ptr().cast(),
                        prop.len(),
                    )
                };
                assert_eq!(rc, 0, "ZMQ_METADATA");
            }
        }
    }

    /// Receives one frame and reads properties of the peer it came from, as
    /// `zmq_msg_gets` (native) or `VtxSocket::msg_gets`.
    pub(crate) fn recv_gets(&self, properties: &[&str]) -> Vec<Option<String>> {
        self.recv_with(properties).1
    }

    /// Receives one frame: its text, and properties of the peer it came from.
    pub(crate) fn recv_with(&self, properties: &[&str]) -> (String, Vec<Option<String>>) {
        match self {
            Sock::Native { socket, .. } => {
                let mut m = zmq::Message::new();
                socket.recv(&mut m, 0).unwrap();
                let props = properties
                    .iter()
                    .map(|p| m.gets(p).map(str::to_owned))
                    .collect();
                (String::from_utf8_lossy(&m).into_owned(), props)
            }
            Sock::Vtx(v) => {
                let m = v.recv_msg(0).unwrap();
                let props = properties.iter().map(|p| v.msg_gets(p).unwrap()).collect();
                (String::from_utf8_lossy(&m).into_owned(), props)
            }
        }
    }

    /// Sends a message frame by frame.
    pub(crate) fn send_multipart<I, T>(&self, frames: I, flags: i32) -> zmq::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let frames: Vec<T> = frames.into_iter().collect();
        let n = frames.len();
        for (i, f) in frames.iter().enumerate() {
            let more = if i + 1 < n { zmq::SNDMORE } else { 0 };
            self.send(f.as_ref(), flags | more)?;
        }
        Ok(())
    }
}

/// One world: a native libzmq context, or a vtx manager with one transport.
pub(crate) struct World {
    pub name: &'static str,
    ctx: zmq::Context,
    vtx: Option<Vtx>,
    monitors: Cell<u32>,
    _pki: Option<vtx_tls::testing::Pki>,
}

impl World {
    /// The reference: native libzmq over tcp on loopback.
    pub(crate) fn native() -> World {
        World {
            name: "native tcp",
            ctx: zmq::Context::new(),
            vtx: None,
            monitors: Cell::new(0),
            _pki: None,
        }
    }

    /// A vtx transport (`tcp6`, `tls`, `udp`, `sctp`).
    pub(crate) fn vtx(scheme: &'static str) -> World {
        let ctx = zmq::Context::new();
        let vtx = Vtx::new(&ctx);
        let pki = match scheme {
            "udp" => {
                vtx.register("udp", vtx::udp::UdpTransport::default())
                    .unwrap();
                None
            }
            "tcp6" => {
                vtx.register("tcp6", vtx::ipv6::Tcp6Transport::default())
                    .unwrap();
                None
            }
            "sctp" => {
                vtx.register("sctp", vtx::sctp::SctpTransport::default())
                    .unwrap();
                None
            }
            "tls" => {
                let pki = vtx_tls::testing::Pki::new("conformance");
                vtx.register("tls", vtx::tls::transport(vtx_tls::testing::config(&pki)))
                    .unwrap();
                Some(pki)
            }
            other => panic!("no transport {other}"),
        };
        World {
            name: scheme,
            ctx,
            vtx: Some(vtx),
            monitors: Cell::new(0),
            _pki: pki,
        }
    }

    #[allow(dead_code)]
    pub(crate) fn is_native(&self) -> bool {
        self.vtx.is_none()
    }

    pub(crate) fn socket(&self, ty: zmq::SocketType) -> Sock {
        let s = match &self.vtx {
            Some(v) => Sock::Vtx(Box::new(v.socket(ty).unwrap())),
            None => {
                let socket = self.ctx.socket(ty).unwrap();
                let n = self.monitors.get();
                self.monitors.set(n + 1);
                let ep = format!("inproc://conformance-monitor-{n}");
                socket
                    .monitor(
                        &ep,
                        zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32
                            | zmq::SocketEvent::DISCONNECTED as i32,
                    )
                    .unwrap();
                let monitor = self.ctx.socket(zmq::PAIR).unwrap();
                monitor.connect(&ep).unwrap();
                Sock::Native {
                    socket,
                    monitor,
                    up: Cell::new(0),
                }
            }
        };
        s.set_linger(0).unwrap();
        s.set_rcvtimeo(5000).unwrap();
        s.set_sndtimeo(5000).unwrap();
        s
    }

    fn local(&self) -> String {
        match self.name {
            "native tcp" => "tcp://127.0.0.1:*".into(),
            scheme => format!("{scheme}://127.0.0.1:0"),
        }
    }

    /// Binds on a fresh local address; returns the endpoint peers connect to.
    pub(crate) fn bind(&self, s: &Sock) -> String {
        let local = self.local();
        match s {
            Sock::Vtx(v) => v.bind(&local).unwrap(),
            Sock::Native { socket, .. } => {
                socket.bind(&local).unwrap();
                socket.get_last_endpoint().unwrap().unwrap()
            }
        }
    }

    /// Binds at an endpoint `bind` returned before (a restarted server).
    pub(crate) fn bind_again(&self, s: &Sock, ep: &str) {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            let r = match s {
                Sock::Vtx(v) => v.bind(ep).map(|_| ()).map_err(|e| e.to_string()),
                Sock::Native { socket, .. } => socket.bind(ep).map_err(|e| e.to_string()),
            };
            match r {
                Ok(()) => return,
                Err(e) if Instant::now() > end => panic!("rebind {ep}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    }

    pub(crate) fn connect(&self, s: &Sock, ep: &str) {
        match s {
            Sock::Vtx(v) => v.connect(ep).unwrap(),
            Sock::Native { socket, .. } => socket.connect(ep).unwrap(),
        }
    }

    /// Waits until `s` has `n` live peerings, as far as it can tell.
    pub(crate) fn wait_peers(&self, s: &Sock, n: usize) {
        let end = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            let have = match s {
                Sock::Vtx(v) => v.peer_count() as i64,
                Sock::Native { monitor, up, .. } => {
                    while let Ok(ev) = monitor.recv_multipart(zmq::DONTWAIT) {
                        let id = u16::from_le_bytes([ev[0][0], ev[0][1]]);
                        seen.push(id);
                        if id == zmq::SocketEvent::HANDSHAKE_SUCCEEDED as u16 {
                            up.set(up.get() + 1);
                        } else if id == zmq::SocketEvent::DISCONNECTED as u16 {
                            up.set(up.get() - 1);
                        }
                    }
                    up.get()
                }
            };
            if have == n as i64 {
                return;
            }
            assert!(
                Instant::now() < end,
                "{}: {have} peerings, not {n} (events {seen:?})",
                self.name
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
