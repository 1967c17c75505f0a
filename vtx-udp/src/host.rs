//! How engine events reach Vockets: shared by the driver (through the runtime's `Driver`)
//! and by the sans-IO test harness (Vockets in memory), so both run the same glue.

use std::net::SocketAddr;
use std::time::Instant;

use vtx_emul::endpoint::format_addr;
use vtx_emul::pattern::{Flow, Input, PeerId, PeerInfo, Refusal};

use crate::nom2::{Engine, Event, Failure};

/// Where the Vockets of the engine's owners live.
pub trait Host {
    /// A peering came up for socket `sock`.
    fn peer_up(&mut self, sock: u64, info: PeerInfo) -> Result<PeerId, Refusal>;
    /// Traffic for a peer; [`Flow::Pause`] when the application pipe is full.
    fn input(&mut self, sock: u64, peer: PeerId, input: Input) -> Flow;
    /// A peering's window opened: pull its transmits again.
    fn writable(&mut self, peering: crate::nom2::PeeringId);
    /// A peer went away.
    fn peer_down(&mut self, sock: u64, peer: PeerId);
    /// A datagram was dropped, or a peer refused us: count, and log within a rate.
    fn failure(&mut self, sock: u64, addr: SocketAddr, what: Failure);
}

/// The schemed address of a UDP peer.
pub fn address(scheme: &str, addr: SocketAddr) -> String {
    format!("{scheme}://{}", format_addr(addr))
}

/// Delivers every pending engine event to the host; answers handshakes as the Vockets
/// decide.
pub fn dispatch(engine: &mut Engine, host: &mut impl Host, scheme: &str, now: Instant) {
    while let Some(ev) = engine.poll_event() {
        match ev {
            Event::Up {
                peering,
                sock,
                hello,
                addr,
            } => {
                let info = PeerInfo::new(hello.socket_type, address(scheme, addr), peering)
                    .with_identity(Some(hello.identity))
                    .lossy(true)
                    .pausable(true);
                match host.peer_up(sock, info) {
                    Ok(peer) => engine.accept(peering, peer, now),
                    Err(refusal) => engine.refuse(peering, &refusal, now),
                }
            }
            Event::Input {
                peering,
                sock,
                peer,
                input,
            } => {
                if host.input(sock, peer, input) == Flow::Pause {
                    engine.pause(peering);
                }
            }
            Event::Writable { peering } => host.writable(peering),
            Event::Down { sock, peer, why } => {
                log::debug!("udp peering down: {why}");
                host.peer_down(sock, peer);
            }
            Event::Failure { sock, addr, what } => host.failure(sock, addr, what),
        }
    }
}
