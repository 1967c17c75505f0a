//! Entry points for cargo-fuzz (feature `fuzzing`): hostile SCTP packets into the
//! userspace backend's stack, configured as the driver configures it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sctp_proto::{Association, AssociationHandle, DatagramEvent, Endpoint, Event, StreamEvent};

use crate::{CRC32C, SctpConfig};

/// Feeds datagrams to a listening endpoint and drives every association they create:
/// events, stream reads, timers and transmits. `data` is a sequence of datagrams, each
/// a big-endian `u16` length and that many bytes; checksums are fixed up so input
/// reaches the parsers behind them.
pub fn feed_server(data: &[u8]) {
    let (endpoint_cfg, server) = crate::user::stack_config(&SctpConfig::default());
    let mut endpoint = Endpoint::new(Arc::new(endpoint_cfg), Some(Arc::new(server)));
    let mut assocs: Vec<(AssociationHandle, Association)> = Vec::new();
    let remote: SocketAddr = ([192, 0, 2, 1], 9899).into();
    let start = Instant::now();
    let mut rest = data;
    let mut step = 0u64;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let mut datagram = rest[2..2 + len].to_vec();
        rest = &rest[2 + len..];
        if datagram.len() >= 12 {
            datagram[8..12].fill(0);
            let sum = CRC32C.checksum(&datagram);
            datagram[8..12].copy_from_slice(&sum.to_le_bytes());
        }
        step += 1;
        let now = start + Duration::from_millis(step * 50);
        match endpoint.handle(now, remote, None, None, Bytes::from(datagram)) {
            Some((h, DatagramEvent::NewAssociation(a))) => assocs.push((h, a)),
            Some((h, DatagramEvent::AssociationEvent(ev))) => {
                if let Some((_, a)) = assocs.iter_mut().find(|(k, _)| *k == h) {
                    a.handle_event(ev);
                }
            }
            None => {}
        }
        for (_, a) in &mut assocs {
            a.handle_timeout(now);
            while let Some(ev) = a.poll() {
                if let Event::Stream(StreamEvent::Readable { id } | StreamEvent::Opened { id }) = ev
                {
                    let _ = a.accept_stream();
                    if let Ok(mut s) = a.stream(id) {
                        while let Ok(Some(chunks)) = s.read_sctp() {
                            let mut buf = vec![0; chunks.len()];
                            let _ = chunks.read(&mut buf);
                        }
                    }
                }
            }
            while a.poll_transmit(now).is_some() {}
        }
        assocs.retain(|(_, a)| !a.is_closed() || a.is_handshaking());
    }
}
