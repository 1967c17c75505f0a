//! The baseline for the `sctp` transport: sctp-proto over UDP on loopback with no vtx
//! at all, one SCTP message per application message, sender and receiver on their own
//! threads, configured as the userspace backend configures its associations.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use vtx_sctp::SctpConfig;
use vtx_sctp::sctp_proto::{
    Association, ClientConfig, DatagramEvent, Endpoint, EndpointConfig, Event, Payload,
    PayloadProtocolIdentifier, ServerConfig, StreamEvent,
};

/// Unacknowledged bytes the sender allows, as the driver does.
const SEND_HIGH: usize = 1024 * 1024;

struct Peer {
    socket: UdpSocket,
    endpoint: Endpoint,
    assoc: Option<Association>,
    buf: Vec<u8>,
}

impl Peer {
    fn new(cfg: &SctpConfig, server: bool) -> io::Result<Peer> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        socket.set_read_timeout(Some(Duration::from_millis(1)))?;
        let mut sc = ServerConfig::new();
        sc.transport = Arc::new(cfg.transport_config(None));
        let mut ec = EndpointConfig::new();
        ec.max_payload_size(cfg.max_payload);
        let mut endpoint = Endpoint::new(Arc::new(ec), Some(Arc::new(sc)));
        if !server {
            endpoint.reject_new_associations();
        }
        Ok(Peer {
            socket,
            endpoint,
            assoc: None,
            buf: vec![0; 65_536],
        })
    }

    /// Sends what the association has queued and runs its timers.
    fn transmit(&mut self) {
        let now = Instant::now();
        let Some(a) = self.assoc.as_mut() else { return };
        if a.poll_timeout().is_some_and(|t| t <= now) {
            a.handle_timeout(now);
        }
        while let Some(t) = a.poll_transmit(now) {
            if let Payload::RawEncode(ds) = t.payload {
                for d in ds {
                    let _ = self.socket.send_to(&d, t.remote);
                }
            }
        }
    }

    /// Receives datagrams (waiting up to 1 ms for the first) and feeds them in.
    fn receive(&mut self, wait: bool) {
        let mut blocking = wait;
        let _ = self.socket.set_nonblocking(!blocking);
        while let Ok((n, from)) = self.socket.recv_from(&mut self.buf) {
            let data = Bytes::copy_from_slice(&self.buf[..n]);
            match self.endpoint.handle(Instant::now(), from, None, None, data) {
                Some((_, DatagramEvent::NewAssociation(a))) => self.assoc = Some(a),
                Some((_, DatagramEvent::AssociationEvent(ev))) => {
                    if let Some(a) = self.assoc.as_mut() {
                        a.handle_event(ev);
                    }
                }
                None => {}
            }
            if blocking {
                // The rest of the burst without waiting.
                let _ = self.socket.set_nonblocking(true);
                blocking = false;
            }
        }
    }
}

/// Messages per second from the first send to the last receive, for `count`
/// messages of `size` bytes.
pub fn throughput(cfg: &SctpConfig, size: usize, count: usize) -> io::Result<f64> {
    let mut server = Peer::new(cfg, true)?;
    let mut client = Peer::new(cfg, false)?;
    let server_addr: SocketAddr = server.socket.local_addr()?;
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || -> Instant {
            let mut received = 0;
            let mut last = Instant::now();
            while received < count {
                server.receive(true);
                if let Some(a) = server.assoc.as_mut() {
                    while let Some(ev) = a.poll() {
                        if let Event::Stream(StreamEvent::Opened { .. }) = ev {
                            let _ = a.accept_stream();
                        }
                    }
                    if let Ok(mut s) = a.stream(0) {
                        while let Ok(Some(_)) = s.read_sctp() {
                            received += 1;
                            last = Instant::now();
                        }
                    }
                }
                server.transmit();
            }
            done.store(true, Ordering::Release);
            // Keep acknowledging until the sender has seen everything.
            let end = Instant::now() + Duration::from_millis(200);
            while Instant::now() < end {
                server.receive(true);
                server.transmit();
            }
            last
        })
    };
    let mut cc = ClientConfig::new();
    let port = client.socket.local_addr()?.port();
    cc.transport = Arc::new(cfg.transport_config(Some((port, server_addr.port()))));
    let (_, a) = client
        .endpoint
        .connect(cc, server_addr)
        .map_err(io::Error::other)?;
    client.assoc = Some(a);
    // Up first: the clock runs from the first message.
    loop {
        client.transmit();
        client.receive(true);
        if let Some(a) = client.assoc.as_mut()
            && matches!(a.poll(), Some(Event::Connected))
        {
            break;
        }
    }
    let a = client
        .assoc
        .as_mut()
        .ok_or_else(|| io::Error::other("no association"))?;
    a.open_stream(0, PayloadProtocolIdentifier::Binary)
        .map_err(io::Error::other)?;
    let payload = Bytes::from(vec![0x5a; size]);
    let start = Instant::now();
    let mut sent = 0;
    while !done.load(Ordering::Acquire) {
        let mut wrote = false;
        if let Some(a) = client.assoc.as_mut()
            && let Ok(mut s) = a.stream(0)
        {
            while sent < count && s.buffered_amount().unwrap_or(0) < SEND_HIGH {
                s.write_sctp(&payload, PayloadProtocolIdentifier::Binary)
                    .map_err(io::Error::other)?;
                sent += 1;
                wrote = true;
            }
        }
        client.transmit();
        // With nothing new to send, wait for acknowledgements rather than spin:
        // `poll_transmit` walks the in-flight queue on every call.
        client.receive(!wrote);
    }
    let last = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))?;
    Ok(count as f64 / last.duration_since(start).as_secs_f64().max(1e-9))
}
