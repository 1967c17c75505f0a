//! What a benchmark run prints: the Markdown table, the JSON with every sample, and the
//! machine it ran on. Formatting only: nothing here measures.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{Measure, Row, median};

/// Human-readable size.
pub fn size_label(size: usize) -> String {
    if size >= 1024 && size % 1024 == 0 {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Three significant digits with a k or M suffix: `4.16M`, `23.9k`, `812`.
fn si(x: f64) -> String {
    let (v, unit) = match x.abs() {
        a if a >= 1e6 => (x / 1e6, "M"),
        a if a >= 1e3 => (x / 1e3, "k"),
        _ => (x, ""),
    };
    let decimals = match v.abs() {
        a if a < 10.0 => 2,
        a if a < 100.0 => 1,
        _ => 0,
    };
    format!("{v:.decimals$}{unit}")
}

/// `median [min-max]`, or the one value when there is no spread to show.
fn spread(values: &[f64], f: impl Fn(f64) -> String) -> String {
    let lo = values.iter().copied().fold(f64::NAN, f64::min);
    let hi = values.iter().copied().fold(f64::NAN, f64::max);
    if values.len() > 1 {
        format!("{} [{}-{}]", f(median(values)), f(lo), f(hi))
    } else {
        f(median(values))
    }
}

/// CPU seconds as microseconds, three significant digits (blank when not measured).
fn cpu_micros(secs: f64) -> String {
    let us = secs * 1e6;
    match us {
        x if !x.is_finite() => String::new(),
        x if x < 10.0 => format!("{x:.3}"),
        x if x < 100.0 => format!("{x:.2}"),
        x => format!("{x:.1}"),
    }
}

/// Formats rows as a Markdown table: per cell the median over the repetitions and, in
/// brackets, the smallest and largest sample; the ratio is the median over the
/// baseline's median, in brackets the range of the per-repetition ratios.
pub fn table(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| pairing | size | msgs/s median [min-max] | MB/s | delivered (worst) | CPU µs/msg | RTT median [min-max] | ratio to baseline [per run] |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let (mps, mbs, delivered, cpu, rtt) = match r.measure {
            Measure::Throughput => (
                spread(&r.samples, si),
                format!("{:.1}", r.median() * r.size as f64 / 1e6),
                format!(
                    "{:.1}%",
                    r.delivered.iter().copied().fold(f64::NAN, f64::min) * 100.0
                ),
                cpu_micros(median(&r.cpu)),
                String::new(),
            ),
            Measure::Latency => (
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                format!("{} µs", spread(&r.samples, |x| format!("{:.1}", x * 1e6))),
            ),
        };
        let lo = r.ratios.iter().copied().fold(f64::NAN, f64::min);
        let hi = r.ratios.iter().copied().fold(f64::NAN, f64::max);
        // The baseline's own ratios are all 1: no range to show.
        let ratio = if r.ratios.len() > 1 && hi - lo > 1e-9 {
            format!("{:.2}x [{lo:.2}-{hi:.2}]", r.ratio)
        } else {
            format!("{:.2}x", r.ratio)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {mps} | {mbs} | {delivered} | {cpu} | {rtt} | {ratio} |",
            r.name,
            size_label(r.size)
        );
    }
    s
}

/// A JSON number, or `null` for what JSON cannot say (NaN, infinities).
fn num(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "null".into()
    }
}

fn nums(xs: &[f64], scale: f64, decimals: usize) -> String {
    let v: Vec<String> = xs.iter().map(|&x| num(x * scale, decimals)).collect();
    format!("[{}]", v.join(", "))
}

/// A JSON string literal.
fn string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Formats a run as JSON: the machine, the settings, and per cell every sample (in run
/// order) with its median, min and max, and the ratios to the baseline. Throughput is
/// in messages per second, latency in microseconds.
pub fn json(rows: &[Row], machine: &Machine, scale: f64) -> String {
    let repeat = rows.iter().map(|r| r.samples.len()).max().unwrap_or(0);
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"machine\": {},", machine.json());
    let _ = writeln!(s, "  \"date\": {},", string(&today()));
    let _ = writeln!(s, "  \"scale\": {},", num(scale, 4));
    let _ = writeln!(s, "  \"repeat\": {repeat},");
    let _ = writeln!(
        s,
        "  \"baseline\": {},",
        rows.first().map_or("null".into(), |r| string(&r.name))
    );
    s.push_str("  \"cells\": [");
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let (measure, unit, k, d) = match r.measure {
            Measure::Throughput => ("throughput", "msgs/s", 1.0, 1),
            Measure::Latency => ("latency", "us", 1e6, 2),
        };
        let _ = write!(
            s,
            "\n    {{\"pairing\": {}, \"size\": {}, \"measure\": \"{measure}\", \"unit\": \"{unit}\", \
             \"samples\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"delivered\": {}, \
             \"cpu_us_per_msg\": {}, \"ratio\": {}, \"ratios\": {}}}",
            string(&r.name),
            r.size,
            nums(&r.samples, k, d),
            num(r.median() * k, d),
            num(r.min() * k, d),
            num(r.max() * k, d),
            nums(&r.delivered, 1.0, 4),
            nums(&r.cpu, 1e6, 4),
            num(r.ratio, 4),
            nums(&r.ratios, 1.0, 4),
        );
    }
    s.push_str("\n  ]\n}\n");
    s
}

/// The machine a run measured on.
#[derive(Clone, Debug)]
pub struct Machine {
    /// CPU model (`model name` of /proc/cpuinfo).
    pub cpu: String,
    /// Cores this process may run on.
    pub cores: usize,
    /// Memory in GiB (`MemTotal` of /proc/meminfo; 0 when unknown).
    pub memory_gib: u64,
    /// Operating system and kernel release (`Linux 6.18.0`).
    pub kernel: String,
    /// The libzmq version, `major.minor.patch`.
    pub libzmq: String,
    /// `release` or `debug`: how this code was compiled.
    pub build: &'static str,
}

impl Machine {
    /// The machine this process runs on.
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH));
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os = match std::env::consts::OS {
            "linux" => "Linux",
            other => other,
        };
        let memory_kib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                let kib = l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?;
                kib.trim().parse::<u64>().ok()
            })
            .unwrap_or(0);
        let (major, minor, patch) = zmq::version();
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // Rounded: a VM reports a little less than it was given.
            memory_gib: (memory_kib + (1 << 19)) >> 20,
            kernel: format!("{os} {}", release.trim()).trim().to_owned(),
            libzmq: format!("{major}.{minor}.{patch}"),
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }

    fn json(&self) -> String {
        format!(
            "{{\"cpu\": {}, \"cores\": {}, \"memory_gib\": {}, \"kernel\": {}, \"libzmq\": {}, \"build\": {}}}",
            string(&self.cpu),
            self.cores,
            self.memory_gib,
            string(&self.kernel),
            string(&self.libzmq),
            string(self.build)
        )
    }
}

impl fmt::Display for Machine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {} cores, {} GiB, {}, libzmq {}, {} build",
            self.cpu, self.cores, self.memory_gib, self.kernel, self.libzmq, self.build
        )
    }
}

/// Today's date in UTC, `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, chrono-compatible algorithms).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(59), (1970, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_789), (2026, 12, 2));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    fn row(name: &str, measure: Measure, samples: &[f64], ratios: &[f64]) -> Row {
        let mut r = Row::new(name, 64, measure);
        r.samples = samples.to_vec();
        r.ratios = ratios.to_vec();
        r.ratio = ratios.first().copied().unwrap_or(f64::NAN);
        if measure == Measure::Throughput {
            r.delivered = vec![1.0; samples.len()];
            r.cpu = vec![0.25e-6; samples.len()];
        }
        r
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn table_and_json_carry_every_sample() {
        let rows = [
            row(
                "native tcp",
                Measure::Throughput,
                &[2e6, 1e6, 3e6],
                &[1.0; 3],
            ),
            row(
                "vtx tcp6",
                Measure::Throughput,
                &[1e6, 2e6, 4e6],
                &[0.5, 2.0, 1.33],
            ),
            row(
                "native tcp",
                Measure::Latency,
                &[40e-6, 50e-6, 45e-6],
                &[1.0; 3],
            ),
        ];
        let t = table(&rows);
        assert!(
            t.contains(
                "| native tcp | 64 B | 2.00M [1.00M-3.00M] | 128.0 | 100.0% | 0.250 |  | 1.00x |"
            ),
            "{t}"
        );
        assert!(t.contains("| 2.00M [1.00M-4.00M] |"), "{t}");
        assert!(t.contains("0.50x [0.50-2.00]"), "{t}");
        assert!(t.contains("| 45.0 [40.0-50.0] µs |"), "{t}");
        let machine = Machine::detect();
        let j = json(&rows, &machine, 0.5);
        assert!(j.contains("\"samples\": [2000000.0, 1000000.0, 3000000.0], \"median\": 2000000.0, \"min\": 1000000.0, \"max\": 3000000.0"), "{j}");
        assert!(j.contains("\"samples\": [40.00, 50.00, 45.00]"), "{j}");
        assert!(j.contains("\"repeat\": 3,"), "{j}");
        assert!(
            j.contains("\"cpu_us_per_msg\": [0.2500, 0.2500, 0.2500]"),
            "{j}"
        );
        assert!(j.contains("\"ratios\": [0.5000, 2.0000, 1.3300]"), "{j}");
    }

    #[test]
    fn numbers() {
        assert_eq!(si(4_161_644.0), "4.16M");
        assert_eq!(si(23_886.0), "23.9k");
        assert_eq!(si(775_810.0), "776k");
        assert_eq!(si(812.0), "812");
        assert_eq!(num(f64::NAN, 1), "null");
        assert_eq!(string("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
        assert_eq!(spread(&[3.0, 1.0, 2.0], |x| format!("{x}")), "2 [1-3]");
        assert_eq!(spread(&[3.0], |x| format!("{x}")), "3");
    }
}
