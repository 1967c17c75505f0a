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
    match rows {
        Ok(rows) => print!("{}", vtx::bench::table(&rows)),
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    }
}
