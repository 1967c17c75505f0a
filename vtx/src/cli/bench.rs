//! `vtx bench`: throughput (PUSH/PULL) and latency (REQ/REP) of vtx transports against
//! native libzmq tcp, measured in the same run, as a table of ratios or JSON.

use clap::Args;

use vtx::bench::{End, Pairing};

use super::{CliError, CliResult, available};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Transports to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = ["tcp6".to_string(), "udp".to_string()])]
    transports: Vec<String>,
    /// Message sizes in bytes (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1024, 65536])]
    sizes: Vec<usize>,
    /// Scale the number of messages (0.1 for a quick look).
    #[arg(long, default_value_t = 0.5)]
    scale: f64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

fn register(v: &vtx::Vtx) -> vtx::Result<()> {
    v.register_defaults()?;
    #[cfg(feature = "tls")]
    v.register("tls", vtx::tls::transport(vtx::bench::ephemeral_tls()?))?;
    Ok(())
}

pub(crate) fn run(a: BenchArgs) -> CliResult {
    if !(a.scale > 0.0 && a.scale <= 100.0) {
        return Err(CliError("--scale must be in (0, 100]".into()));
    }
    if a.sizes.is_empty() || a.sizes.iter().any(|&s| s == 0 || s > 16 << 20) {
        return Err(CliError("--sizes must be between 1 byte and 16 MiB".into()));
    }
    let mut pairings = vec![Pairing::new(
        End::Native("tcp://127.0.0.1:*".into()),
        End::Native("tcp://127.0.0.1:*".into()),
    )];
    for t in &a.transports {
        let ep = match t.as_str() {
            "tcp6" => "tcp6://[::1]:0",
            "udp" => "udp://127.0.0.1:0",
            "tls" => "tls://127.0.0.1:0",
            "sctp" => "sctp://127.0.0.1:0",
            other => {
                return Err(CliError(format!(
                    "unknown transport `{other}` (available: {})",
                    available().join(", ")
                )));
            }
        };
        if !available().contains(&t.as_str()) {
            return Err(CliError(format!("transport `{t}` is not in this build")));
        }
        pairings.push(Pairing::new(End::Vtx(ep.into()), End::Vtx(ep.into())));
    }
    let rows = vtx::bench::suite(&pairings, &a.sizes, a.scale, register, |r| {
        log::info!(
            "{} {}: {:?} {:?}",
            r.name,
            vtx::bench::size_label(r.size),
            r.msgs_per_sec,
            r.rtt
        )
    })?;
    if a.json {
        print!("{}", vtx::bench::json(&rows));
    } else {
        println!(
            "libzmq {:?}; ratios are against the first row of each size (native tcp)",
            zmq::version()
        );
        print!("{}", vtx::bench::table(&rows));
    }
    Ok(())
}
