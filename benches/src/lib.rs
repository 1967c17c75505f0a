//! Shared setup for the VTX benches: the pairings to measure and how to register the
//! transports on each side.

use vtx::bench::{End, Pairing};

/// Registers every transport the suite measures.
pub fn register(v: &vtx::Vtx) -> vtx::Result<()> {
    v.register("tcp6", vtx::ipv6::Tcp6Transport::default())
}

/// The tcp6 pairings of issue #4: native baseline first.
pub fn tcp6_pairings() -> Vec<Pairing> {
    let native = End::Native("tcp://[::1]:*".into());
    let vtx = End::Vtx("tcp6://[::1]:0".into());
    vec![
        Pairing::new(native.clone(), native.clone()),
        Pairing::new(vtx.clone(), vtx.clone()),
        Pairing::new(native, vtx),
    ]
}
