//! The raw sctp-proto baseline alone: `cargo run --release -p vtx-benches --example
//! raw_sctp -- SIZE COUNT [MAX_PAYLOAD]`.

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (size, count) = (
        args.first().copied().unwrap_or(65536),
        args.get(1).copied().unwrap_or(5000),
    );
    let mut cfg = vtx_sctp::SctpConfig::default();
    if let Some(&p) = args.get(2) {
        cfg.max_payload = p as u32;
    }
    match vtx_benches::raw_sctp::throughput(&cfg, size, count) {
        Ok(r) => println!("{size} B: {r:.0} msgs/s, {:.1} MB/s", r * size as f64 / 1e6),
        Err(e) => eprintln!("failed: {e}"),
    }
}
