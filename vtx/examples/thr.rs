//! Quick throughput probe for profiling: `cargo run --release --example thr -- 64 1000000`
//! (vtx tcp6; `UDP=1`, `SCTP=1` or `TLS=1` for those; a third argument `native` or
//! `mixed` for native libzmq on both sides or on the sending side).
fn main() {
    let mut args = std::env::args().skip(1);
    let size: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(64);
    let count: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mode = args.next().unwrap_or_else(|| "vtx".into());
    let vtx = if std::env::var("UDP").is_ok() {
        vtx::bench::End::Vtx("udp://127.0.0.1:0".into())
    } else if std::env::var("SCTP").is_ok() {
        vtx::bench::End::Vtx("sctp://127.0.0.1:0".into())
    } else if std::env::var("TLS").is_ok() {
        vtx::bench::End::Vtx("tls://127.0.0.1:0".into())
    } else {
        vtx::bench::End::Vtx("tcp6://[::1]:0".into())
    };
    let native = vtx::bench::End::Native("tcp://[::1]:*".into());
    let p = match mode.as_str() {
        "native" => vtx::bench::Pairing::new(native.clone(), native),
        "mixed" => vtx::bench::Pairing::new(native, vtx),
        _ => vtx::bench::Pairing::new(vtx.clone(), vtx),
    };
    let r = vtx::bench::throughput(&p, size, count, |v| {
        v.register_defaults()?;
        v.register("tls", vtx::tls::transport(vtx::bench::ephemeral_tls()?))
    });
    println!("{}: {:?} msg/s", p.name, r);
}
