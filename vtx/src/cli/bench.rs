//! `vtx bench`: throughput (PUSH/PULL) and latency (REQ/REP) of vtx transports against
//! native libzmq tcp, measured in the same run and repeated, as a table of ratios or
//! JSON; optionally an SVG chart, and the generated section of a README.

use std::path::{Path, PathBuf};

use clap::Args;

use vtx::bench::{End, Machine, Pairing, Row};

use super::{CliError, CliResult, available};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Transports to measure (comma-separated). `relay` is native libzmq tcp with an
    /// inproc relay in front of each side: the ceiling of a driver behind an inproc pipe.
    /// `native-ws` is libzmq's own ws://, the baseline for `ws` and `wss`.
    #[arg(long, value_delimiter = ',', default_values_t = ["tcp6".to_string(), "udp".to_string()])]
    transports: Vec<String>,
    /// Message sizes in bytes (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [64usize, 1024, 65536])]
    sizes: Vec<usize>,
    /// Scale the number of messages (0.1 for a quick look).
    #[arg(long, default_value_t = 0.5)]
    scale: f64,
    /// Measure every cell N times, native and vtx interleaved; report median and range.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    repeat: u32,
    /// Print JSON (every sample of every cell) instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw msgs/s by message size, per pairing, into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
    /// Also write the machine, the table (and the --plot chart) into this Markdown
    /// file, between its `<!-- vtx bench --readme: begin -->` and `end -->` lines.
    #[arg(long, value_name = "FILE.md")]
    readme: Option<PathBuf>,
}

/// The lines that delimit the part of a README that `--readme` rewrites.
const BEGIN: &str = "<!-- vtx bench --readme: begin -->";
const END: &str = "<!-- vtx bench --readme: end -->";

fn register(v: &vtx::Vtx) -> vtx::Result<()> {
    v.register_defaults()?;
    #[cfg(feature = "tls")]
    v.register("tls", vtx::tls::transport(vtx::bench::ephemeral_tls()?))?;
    #[cfg(all(feature = "tls", feature = "ws"))]
    v.register("wss", vtx::ws::wss_transport(vtx::bench::ephemeral_tls()?))?;
    Ok(())
}

pub(crate) fn run(a: BenchArgs) -> CliResult {
    if !(a.scale > 0.0 && a.scale <= 100.0) {
        return Err(CliError("--scale must be in (0, 100]".into()));
    }
    if a.sizes.is_empty() || a.sizes.iter().any(|&s| s == 0 || s > 16 << 20) {
        return Err(CliError("--sizes must be between 1 byte and 16 MiB".into()));
    }
    // Refuse a README without the markers before measuring for minutes.
    let readme = match &a.readme {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError(format!("cannot read {}: {e}", path.display())))?;
            splice(&text, "").map_err(|e| CliError(format!("{}: {e}", path.display())))?;
            Some((path, text))
        }
        None => None,
    };
    let mut pairings = vec![Pairing::new(
        End::Native("tcp://127.0.0.1:*".into()),
        End::Native("tcp://127.0.0.1:*".into()),
    )];
    for t in &a.transports {
        if t == "relay" {
            let ep = End::Relayed("tcp://127.0.0.1:*".into());
            pairings.push(Pairing::new(ep.clone(), ep));
            continue;
        }
        if t == "native-ws" {
            let ep = End::Native("ws://127.0.0.1:*/bench".into());
            pairings.push(Pairing::new(ep.clone(), ep));
            continue;
        }
        let ep = match t.as_str() {
            "tcp6" => "tcp6://[::1]:0",
            "udp" => "udp://127.0.0.1:0",
            "tls" => "tls://127.0.0.1:0",
            "sctp" => "sctp://127.0.0.1:0",
            "ws" => "ws://127.0.0.1:0/bench",
            "wss" => "wss://127.0.0.1:0/bench",
            other => {
                return Err(CliError(format!(
                    "unknown transport `{other}` (available: {}, relay, native-ws)",
                    available().join(", ")
                )));
            }
        };
        if !available().contains(&t.as_str()) {
            return Err(CliError(format!("transport `{t}` is not in this build")));
        }
        pairings.push(Pairing::new(End::Vtx(ep.into()), End::Vtx(ep.into())));
    }
    let repeat = a.repeat as usize;
    let rows = vtx::bench::suite(&pairings, &a.sizes, a.scale, repeat, register, |s| {
        log::info!("{s}")
    })?;
    let machine = Machine::detect();
    if let Some(path) = &a.plot {
        vtx::bench::plot(&rows, path)?;
    }
    if let Some((path, text)) = readme {
        let section = section(&rows, &machine, &a, path);
        let text = splice(&text, &section).map_err(CliError)?;
        std::fs::write(path, text)
            .map_err(|e| CliError(format!("cannot write {}: {e}", path.display())))?;
    }
    if a.json {
        print!("{}", vtx::bench::json(&rows, &machine, a.scale));
    } else {
        println!("{machine}; runs per cell: {repeat}, interleaved");
        println!("ratios are against the first row of each size (native tcp)");
        print!("{}", vtx::bench::table(&rows));
    }
    Ok(())
}

/// `text` with the lines between the markers replaced by `section`.
fn splice(text: &str, section: &str) -> Result<String, String> {
    let missing = || format!("needs the lines `{BEGIN}` and `{END}`");
    let begin = text.find(BEGIN).ok_or_else(missing)? + BEGIN.len();
    let end = begin + text[begin..].find(END).ok_or_else(missing)?;
    Ok(format!("{}\n{section}{}", &text[..begin], &text[end..]))
}

/// The generated part of a README: when, on what, how, the chart and the table.
fn section(rows: &[Row], machine: &Machine, a: &BenchArgs, readme: &Path) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut s = format!(
        "Generated on {} by `vtx {}` (regenerate with `scripts/bench-readme`).\n\n",
        vtx::bench::today(),
        args.join(" ")
    );
    if a.scale < 0.5 || a.repeat < 5 {
        s.push_str(&format!(
            "**Placeholder numbers:** a quick run (`--scale {} --repeat {}`) that only shows \
             the command works; `scripts/bench-readme` with its defaults measures for real.\n\n",
            a.scale, a.repeat
        ));
    }
    s.push_str(&format!("Machine: {machine}.\n\n"));
    s.push_str(&format!(
        "Each cell ran {} times; every repetition measured each pairing of a size in turn \
         (native first), after a warm-up burst. A cell shows the median and, in brackets, \
         the smallest and largest run; the ratio is the median over native's median, in \
         brackets the range of the ratios of single repetitions. Latency is at {}.\n\n",
        a.repeat,
        vtx::bench::size_label(a.sizes[0])
    ));
    if let Some(plot) = &a.plot {
        s.push_str(&format!(
            "![msgs/s by message size, native libzmq and vtx]({})\n\n",
            relative(plot, readme)
        ));
    }
    s.push_str(&vtx::bench::table(rows));
    s
}

/// `file` as a link from `readme`'s directory.
fn relative(file: &Path, readme: &Path) -> String {
    let dir = readme.parent().and_then(|d| d.canonicalize().ok());
    let file_abs = file.canonicalize().ok();
    match (dir, file_abs) {
        (Some(d), Some(f)) => match f.strip_prefix(&d) {
            Ok(rel) => rel.display().to_string(),
            Err(_) => f.display().to_string(),
        },
        _ => file.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_replaces_between_the_markers_only() {
        let text = format!("head\n{BEGIN}\nold\n{END}\ntail\n");
        assert_eq!(
            splice(&text, "new\n").unwrap(),
            format!("head\n{BEGIN}\nnew\n{END}\ntail\n")
        );
        assert!(splice("no markers", "x").is_err());
        assert!(splice(&format!("{END}\n{BEGIN}\n"), "x").is_err());
    }
}
