//! The `sctp` transport: ZMTP 3.1 over SCTP, so 0MQ sockets get SCTP's reliable,
//! message-oriented, congestion-controlled associations.
//!
//! Two backends speak the same mapping (docs/sctp.md):
//!
//! - **userspace** (default, scheme `sctp`): [`SctpTransport`], the sans-IO
//!   [`sctp_proto`] stack over UDP (RFC 6951 encapsulation). Works on any kernel,
//!   including the many without SCTP. One UDP socket per bound endpoint carries all the
//!   associations accepted on it; outgoing associations share one client socket per
//!   address family. `sctp://host:port` names the UDP port (the SCTP port inside equals
//!   it for listeners).
//! - **kernel** (feature `kernel`, scheme `sctp+kernel`): [`kernel::KernelSctpTransport`],
//!   the operating system's SCTP through one-to-one (`SOCK_STREAM`) sockets, for hosts
//!   that load `sctp.ko`. It interoperates with any kernel SCTP peer speaking the mapping.
//!
//! Each association carries one ZMTP session on stream 0, ordered: the greeting, READY
//! with `Socket-Type` and `Identity`, then frames, cut into SCTP user messages of at most
//! 64 KiB. All eleven socket types work, with reconnect (RECONNECT_IVL), graceful close
//! (SCTP SHUTDOWN after queued data is acknowledged) and ZMTP heartbeats on by default
//! (sctp-proto sends no SCTP HEARTBEATs).
//!
//! The userspace backend sends runs of equal-sized packets in one GSO send and reads
//! GRO batches (quinn-udp), so a 64 KiB message costs a few syscalls, not 55 of each.
//!
//! The crate is a little over the other transports' 1,500 lines because the userspace
//! backend's glue is SCTP's own: UDP sockets with GSO and GRO, routing datagrams to
//! associations by verification tag, the handshake table, sctp-proto's timers and the
//! graceful SHUTDOWN (`user.rs`). The peering lifecycle around each association is the
//! shared one (`vtx_emul::peering`).
//!
//! ```no_run
//! # fn main() -> Result<(), vtx_emul::Error> {
//! # let ctx = zmq::Context::new();
//! # let vtx = vtx::Vtx::new(&ctx);
//! vtx.register("sctp", vtx_sctp::SctpTransport::default())?;
//! let rep = vtx.socket(zmq::REP)?;
//! rep.bind("sctp://127.0.0.1:9899")?;
//! # Ok(()) }
//! ```

use std::time::Duration;

// The userspace backend contains a panic of the SCTP stack (on a packet a peer shaped)
// to the association that caused it, with `catch_unwind`. A build that aborts on panic
// would keep compiling and quietly turn that into the loss of the whole process.
#[cfg(panic = "abort")]
compile_error!(
    "vtx-sctp needs panic = \"unwind\": it catches panics of sctp-proto per association, \
     which panic = \"abort\" would turn into aborting the whole process on a hostile packet"
);

mod user;

#[cfg(feature = "kernel")]
pub mod kernel;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

/// The SCTP stack of the userspace backend (patched, see patches/README.md).
pub use sctp_proto;
pub use user::SctpTransport;

/// SCTP's checksum (RFC 9260 appendix B).
const CRC32C: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

/// Whether an SCTP packet's checksum is right (RFC 9260 §6.8): before the transport
/// acts on a packet itself (evicts a pending association for an INIT, answers an
/// out-of-the-blue packet), so random bytes can make it do neither.
pub fn checksum_ok(packet: &[u8]) -> bool {
    let Some(field) = packet.get(8..12) else {
        return false;
    };
    let mut digest = CRC32C.digest();
    digest.update(&packet[..8]);
    digest.update(&[0; 4]);
    digest.update(&packet[12..]);
    digest.finalize().to_le_bytes() == field
}

/// Settings of the userspace backend, fixed at `register`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SctpConfig {
    /// First retransmission timeout (RFC 9260 RTO.Initial; default 1 s).
    pub rto_initial: Duration,
    /// Smallest retransmission timeout (default 300 ms; RFC 9260 suggests 1 s). It
    /// must stay above sctp-proto's 200 ms delayed SACK, or the tail of every burst
    /// times out spuriously and the congestion window collapses (at 200 ms, 64-byte
    /// throughput was 5x lower); much higher, and recovering from a lost packet that
    /// fast retransmit cannot repair waits longer (10,000 simultaneous connects took
    /// 26 s at 500 ms, 2 s at 300 ms).
    pub rto_min: Duration,
    /// Largest retransmission timeout, also the longest wait for a SHUTDOWN to be
    /// confirmed (default 10 s).
    pub rto_max: Duration,
    /// INIT retransmissions before a connect attempt fails and RECONNECT_IVL applies
    /// (default 4).
    pub max_init_retransmits: usize,
    /// DATA retransmissions before the association is declared lost (RFC 9260
    /// Association.Max.Retrans; default 10).
    pub max_data_retransmits: usize,
    /// Receive buffer per association, the advertised window (default 1 MiB).
    pub receive_window: u32,
    /// Largest DATA payload in one SCTP packet (default 1200 bytes, so packets fit any
    /// IPv6 path; raise it on a known network for throughput, e.g. 8192 on loopback).
    pub max_payload: u32,
    /// ZMTP heartbeat interval when the socket sets none (default 5 s).
    pub heartbeat_ivl: Duration,
}

impl Default for SctpConfig {
    fn default() -> Self {
        SctpConfig {
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(300),
            rto_max: Duration::from_secs(10),
            max_init_retransmits: 4,
            max_data_retransmits: 10,
            receive_window: 1024 * 1024,
            max_payload: 1200,
            heartbeat_ivl: Duration::from_secs(5),
        }
    }
}

impl SctpConfig {
    /// The sctp-proto transport settings the userspace backend uses for an
    /// association (the raw baseline of the benches uses the same).
    pub fn transport_config(&self, ports: Option<(u16, u16)>) -> sctp_proto::TransportConfig {
        user::transport_config(self, ports)
    }
}

/// The userspace backend with default settings, for `vtx.register("sctp", ...)`.
pub fn transport() -> SctpTransport {
    SctpTransport::default()
}

/// Answers to "out of the blue" packets, those for no known association (RFC 9260
/// section 8.4), which sctp-proto drops silently.
pub mod ootb {
    use bytes::{BufMut, Bytes, BytesMut};

    use crate::CRC32C;
    const SHUTDOWN_ACK: u8 = 8;
    const SHUTDOWN_COMPLETE: u8 = 14;
    /// The T bit: the verification tag is the one the receiver itself expects.
    const T_BIT: u8 = 1;

    /// The reply to an out-of-the-blue SHUTDOWN-ACK: a SHUTDOWN-COMPLETE with the T
    /// bit (rule 5). A peer whose SHUTDOWN-COMPLETE was lost gets its answer from an
    /// endpoint that has already forgotten the association, and closes at once
    /// instead of retransmitting SHUTDOWN-ACK until it gives up.
    pub fn reply(packet: &[u8]) -> Option<Bytes> {
        if !crate::checksum_ok(packet) {
            return None;
        }
        reply_to_checked(packet)
    }

    /// [`reply`] for a packet whose checksum the caller has verified.
    pub(crate) fn reply_to_checked(packet: &[u8]) -> Option<Bytes> {
        if packet.len() < 16 || packet[12] != SHUTDOWN_ACK {
            return None;
        }
        let mut out = BytesMut::with_capacity(16);
        out.put_slice(&packet[2..4]); // source port: theirs was the destination
        out.put_slice(&packet[0..2]);
        out.put_slice(&packet[4..8]); // their tag, reflected (T bit)
        out.put_u32(0);
        out.put_u8(SHUTDOWN_COMPLETE);
        out.put_u8(T_BIT);
        out.put_u16(4);
        let sum = CRC32C.checksum(&out);
        out[8..12].copy_from_slice(&sum.to_le_bytes());
        Some(out.freeze())
    }
}
