//! `cargo bench -p vtx-benches --bench transports`: every transport against native
//! libzmq, in one run, each cell repeated with the pairings interleaved, printed as a
//! table of medians, ranges and ratios.
//!
//! `VTX_BENCH_SCALE=0.1` for a quick pass; `-- --repeat N` (or `VTX_BENCH_REPEAT=N`,
//! default 5) for the repetitions, `-- --plot FILE.svg` for a chart, `-- --json FILE`
//! for every sample.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

/// What the command line and the environment ask for.
struct Options {
    scale: f64,
    repeat: usize,
    plot: Option<PathBuf>,
    json: Option<PathBuf>,
}

fn options() -> Options {
    let env = |k: &str| std::env::var(k).ok();
    let mut o = Options {
        scale: env("VTX_BENCH_SCALE")
            .and_then(|s| s.parse().ok())
            .unwrap_or(1.0),
        repeat: env("VTX_BENCH_REPEAT")
            .and_then(|s| s.parse().ok())
            .unwrap_or(5),
        plot: None,
        json: None,
    };
    // Arguments cargo passes to every bench (`--bench`) and those of other harnesses
    // are ignored.
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeat" => {
                o.repeat = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .expect("--repeat N")
            }
            "--scale" => o.scale = args.next().and_then(|s| s.parse().ok()).expect("--scale X"),
            "--plot" => o.plot = Some(args.next().expect("--plot FILE.svg").into()),
            "--json" => o.json = Some(args.next().expect("--json FILE").into()),
            _ => {}
        }
    }
    o.repeat = o.repeat.max(1);
    o
}

fn main() {
    let o = options();
    let sizes = [64, 1024, 64 * 1024];
    let machine = vtx::bench::Machine::detect();
    println!(
        "vtx benches: scale {}, runs per cell: {}, interleaved; {machine}",
        o.scale, o.repeat
    );
    let rows = vtx::bench::suite(
        &vtx_benches::pairings(),
        &sizes,
        o.scale,
        o.repeat,
        vtx_benches::register,
        |s| eprintln!("  {s}"),
    );
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::exit(1);
        }
    };
    print!("{}", vtx::bench::table(&rows));
    if let Some(path) = &o.plot
        && let Err(e) = vtx::bench::plot(&rows, path)
    {
        eprintln!("{e}");
    }
    if let Some(path) = &o.json {
        std::fs::write(path, vtx::bench::json(&rows, &machine, o.scale)).unwrap();
    }
    // The sctp transport against sctp-proto over UDP without vtx (one SCTP message per
    // application message), same sizes, same run, as many runs.
    println!(
        "\n| sctp (userspace) | size | vtx msgs/s | raw sctp-proto msgs/s median [min-max] | vtx / raw |"
    );
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
                .and_then(|r| r.msgs_per_sec());
            let count = vtx::bench::default_count(size, o.scale);
            let raw: Result<Vec<f64>, _> = (0..o.repeat)
                .map(|_| vtx_benches::raw_sctp::throughput(&cfg, size, count))
                .collect();
            let label = vtx::bench::size_label(size);
            match (vtx, raw) {
                (Some(v), Ok(raw)) => {
                    let r = vtx::bench::median(&raw);
                    let lo = raw.iter().copied().fold(f64::NAN, f64::min);
                    let hi = raw.iter().copied().fold(f64::NAN, f64::max);
                    println!(
                        "| {name} | {label} | {v:.0} | {r:.0} [{lo:.0}-{hi:.0}] | {:.2}x |",
                        v / r
                    )
                }
                (v, r) => println!("| {name} | {label} | {v:?} | {r:?} | |"),
            }
        }
    }
}
