//! `cargo bench -p vtx-benches`: every transport against native libzmq, in one run,
//! printed as a table of ratios. `VTX_BENCH_SCALE=0.1` for a quick pass.

#![allow(clippy::unwrap_used, clippy::expect_used)]

fn main() {
    let scale: f64 = std::env::var("VTX_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1.0);
    let sizes = [64, 1024, 64 * 1024];
    println!("vtx benches: scale {scale}, libzmq {:?}", zmq::version());
    let rows = vtx::bench::suite(
        &vtx_benches::pairings(),
        &sizes,
        scale,
        vtx_benches::register,
        |r| {
            eprintln!(
                "  {} {}: {:?} {:?}",
                r.name,
                vtx::bench::size_label(r.size),
                r.msgs_per_sec,
                r.rtt
            )
        },
    );
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    };
    print!("{}", vtx::bench::table(&rows));
    // The sctp transport against sctp-proto over UDP without vtx (one SCTP message per
    // application message), same sizes, same run.
    println!("\n| sctp (userspace) | size | vtx msgs/s | raw sctp-proto msgs/s | vtx / raw |");
    println!("|---|---|---:|---:|---:|");
    let mut jumbo = vtx::sctp::SctpConfig::default();
    jumbo.max_payload = 8192;
    for (name, cfg) in [
        ("sctp", vtx::sctp::SctpConfig::default()),
        ("sctp8k", jumbo),
    ] {
        for size in [64, 64 * 1024] {
            let vtx = rows
                .iter()
                .find(|r| r.name == format!("vtx {name}") && r.size == size)
                .and_then(|r| r.msgs_per_sec);
            let count = vtx::bench::default_count(size, scale);
            let raw = vtx_benches::raw_sctp::throughput(&cfg, size, count);
            let label = vtx::bench::size_label(size);
            match (vtx, raw) {
                (Some(v), Ok(r)) => {
                    println!("| {name} | {label} | {v:.0} | {r:.0} | {:.2}x |", v / r)
                }
                (v, r) => println!("| {name} | {label} | {v:?} | {r:?} | |"),
            }
        }
    }
}
