//! Where a vtx transport differs from libzmq, and why. The suite fails on a difference
//! with no entry here, and on an entry whose difference has gone (a stale excuse), but
//! for those marked timing-dependent, whose outcome varies from run to run.

use std::collections::BTreeMap;

/// Every transport vtx has.
const ALL: &[&str] = &["tcp6", "tls", "udp", "sctp"];

/// Whether the difference shows in every run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shows {
    Always,
    /// Sometimes the same, sometimes not: the table says so, and either passes.
    Sometimes,
}

/// (scenario, transport) -> (when, why).
pub(crate) fn all() -> BTreeMap<(&'static str, &'static str), (Shows, &'static str)> {
    let list: Vec<(&str, &[&str], Shows, &str)> = vec![
        (
            "large-message",
            &["udp"],
            Shows::Always,
            "NOM-2 carries messages up to `UdpTransport::max_msg_size`, 64 KiB unless raised \
             (fragments are reassembled in bounded memory, docs/limits.md); a larger one is \
             dropped at the sender, logged and counted",
        ),
        (
            "pair-queued-on-death",
            ALL,
            Shows::Always,
            "a bound vtx PAIR takes a new peering once its peer is gone; libzmq 4.3's keeps \
             refusing it, so its sends fail with EAGAIN for good. What was queued for the dead \
             peer is dropped in both",
        ),
        (
            "peer-metadata",
            &["udp"],
            Shows::Always,
            "NOM-2's handshake (OHAI) carries a socket type and an identity, no application \
             properties: ZMQ_METADATA does not travel over udp",
        ),
        (
            "per-message-properties",
            &["udp"],
            Shows::Always,
            "as `peer-metadata`: no application properties over udp",
        ),
        (
            "pull-fair-queue",
            &["udp"],
            Shows::Sometimes,
            "fair per message while every sender has messages waiting; a NOM-2 sender paused \
             by a full inbox restarts only when the receiver's acknowledgement reaches it, \
             and meanwhile the other sender's window in flight (up to 1,024 datagrams) is \
             delivered back to back: runs of about 720 of 4,000 in some runs, none starved",
        ),
    ];
    let mut out = BTreeMap::new();
    for (scenario, transports, shows, why) in list {
        for &t in transports {
            out.insert((scenario, t), (shows, why));
        }
    }
    out
}
