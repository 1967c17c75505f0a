//! Many ZMTP clients on plain blocking TCP sockets, each a sans-IO [`ZmtpSession`], for
//! scale tests and benchmarks: 10,000 peerings cost 10,000 sockets and little else.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::pattern::{Input, Transmit};
use crate::stream::{Local, OutBuf, Role, Session, SessionEvent};
use crate::zmtp::ZmtpSession;
use crate::{Msg, SocketType};

/// Connections a swarm opens before waiting for the server to answer them, well
/// under libzmq's default listen backlog of 100.
const CONNECT_BATCH: usize = 50;

struct Client {
    stream: TcpStream,
    session: ZmtpSession,
    rbuf: BytesMut,
    out: OutBuf,
}

/// A swarm of ZMTP clients connected to one server.
pub struct ZmtpSwarm {
    clients: Vec<Client>,
}

impl std::fmt::Debug for ZmtpSwarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZmtpSwarm")
            .field("clients", &self.clients.len())
            .finish()
    }
}

fn flush(c: &mut Client) -> io::Result<()> {
    let mut w = Vec::new();
    while !c.out.is_empty() {
        c.out.write_to(&mut w)?;
    }
    c.stream.write_all(&w)
}

impl ZmtpSwarm {
    /// Connects `n` clients of type `ty` (identity `id(i)`) and completes every handshake.
    pub fn connect(
        addr: SocketAddr,
        n: usize,
        ty: SocketType,
        id: impl Fn(usize) -> Option<Bytes>,
    ) -> io::Result<ZmtpSwarm> {
        let mut swarm = ZmtpSwarm {
            clients: Vec::with_capacity(n),
        };
        let mut awaited = 0;
        for i in 0..n {
            // Wait for the server's READY on each batch before connecting more: the
            // kernel completes connects faster than a busy (or debug-built) server
            // accepts them, and a full accept queue drops SYNs, each costing the
            // client a one-second retransmission.
            if i - awaited == CONNECT_BATCH {
                swarm.await_ready(awaited..i)?;
                awaited = i;
            }
            let stream = TcpStream::connect(addr)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let local = Local {
                socket_type: ty,
                identity: id(i),
                metadata: Vec::new(),
                max_msg_size: None,
                security: Default::default(),
                seed: None,
                peer_address: String::new(),
                identity_from_user: false,
            };
            let mut c = Client {
                stream,
                session: ZmtpSession::new(&local, Role::Client),
                rbuf: BytesMut::new(),
                out: OutBuf::new(),
            };
            c.session.start(&mut c.out);
            flush(&mut c)?;
            swarm.clients.push(c);
        }
        swarm.await_ready(awaited..n)?;
        Ok(swarm)
    }

    fn await_ready(&mut self, range: std::ops::Range<usize>) -> io::Result<()> {
        for i in range {
            match self.next_event(i)? {
                SessionEvent::Ready { .. } => {}
                other => {
                    return Err(io::Error::other(format!(
                        "client {i}: {other:?} before READY"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    fn next_event(&mut self, i: usize) -> io::Result<SessionEvent> {
        let c = &mut self.clients[i];
        loop {
            match c.session.decode(&mut c.rbuf, &mut c.out) {
                Ok(Some(ev)) => {
                    flush(c)?;
                    return Ok(ev);
                }
                Ok(None) => {}
                Err(e) => return Err(io::Error::other(e.0)),
            }
            flush(c)?;
            let mut buf = [0u8; 4096];
            let n = c.stream.read(&mut buf)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            c.rbuf.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends something from client `i`.
    pub fn send(&mut self, i: usize, t: Transmit) -> io::Result<()> {
        let c = &mut self.clients[i];
        c.session.encode(t, &mut c.out);
        flush(c)
    }

    /// Sends a message from client `i`.
    pub fn send_msg(&mut self, i: usize, msg: Msg) -> io::Result<()> {
        self.send(i, Transmit::Message { msg, seq: None })
    }

    /// The next message client `i` receives (answering heartbeats on the way).
    pub fn recv(&mut self, i: usize) -> io::Result<Msg> {
        loop {
            match self.next_event(i)? {
                SessionEvent::Input(Input::Message { msg, .. }) => return Ok(msg),
                SessionEvent::Input(Input::Ping { context, .. }) => {
                    self.send(i, Transmit::Pong { context })?
                }
                SessionEvent::PeerError(e) => return Err(io::Error::other(e)),
                _ => {}
            }
        }
    }

    /// Whether client `i` receives a message within `wait` (for "must not arrive").
    pub fn recv_within(&mut self, i: usize, wait: Duration) -> io::Result<Option<Msg>> {
        let t = self.clients[i].stream.read_timeout()?;
        self.clients[i].stream.set_read_timeout(Some(wait))?;
        let r = match self.recv(i) {
            Ok(m) => Ok(Some(m)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        };
        self.clients[i].stream.set_read_timeout(t)?;
        r
    }
}
