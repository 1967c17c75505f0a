//! Shared setup for the VTX benches: the pairings to measure and how to register the
//! transports on each side.

use vtx::bench::{End, Pairing};

pub mod raw_sctp;

/// Registers every transport the suite measures (tls with a throwaway certificate).
pub fn register(v: &vtx::Vtx) -> vtx::Result<()> {
    v.register_defaults()?;
    // sctp with 8 KiB packets: what a known network (here loopback) allows; the
    // default's 1200 bytes fit any IPv6 path.
    let mut jumbo = vtx::sctp::SctpConfig::default();
    jumbo.max_payload = 8192;
    v.register("sctp8k", vtx::sctp::SctpTransport::new(jumbo))?;
    v.register("tls", vtx::tls::transport(vtx::bench::ephemeral_tls()?))
}

/// Every transport against native libzmq tcp over IPv6 loopback, baseline first.
pub fn pairings() -> Vec<Pairing> {
    let native = End::Native("tcp://[::1]:*".into());
    let tcp6 = End::Vtx("tcp6://[::1]:0".into());
    let udp = End::Vtx("udp://[::1]:0".into());
    let tls = End::Vtx("tls://[::1]:0".into());
    let sctp = End::Vtx("sctp://[::1]:0".into());
    vec![
        Pairing::new(native.clone(), native.clone()),
        Pairing::new(tcp6.clone(), tcp6.clone()),
        Pairing::new(native, tcp6),
        Pairing::new(udp.clone(), udp),
        Pairing::new(tls.clone(), tls),
        Pairing::new(sctp.clone(), sctp),
        Pairing::new(
            End::Vtx("sctp8k://[::1]:0".into()),
            End::Vtx("sctp8k://[::1]:0".into()),
        ),
    ]
}
