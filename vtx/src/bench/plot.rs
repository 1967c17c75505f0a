//! `vtx bench --plot`: throughput by message size, one line per pairing, as an SVG
//! chart (plotters' SVG backend: no fonts to load, no bitmaps). Drawing only.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{Measure, Row, size_label};
use crate::{Error, Result};

/// Colours of the vtx lines; the baseline is black.
const COLOURS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
];

/// One line: a pairing's throughput rows, by size.
struct Line<'a> {
    name: &'a str,
    rows: Vec<&'a Row>,
    colour: RGBColor,
}

type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws the throughput rows into an SVG file: above, messages per second by message
/// size (median, with a bar from the smallest to the largest sample), log-log; below,
/// each pairing's ratio to the baseline (the first pairing), with the range of the
/// per-repetition ratios.
pub fn plot(rows: &[Row], path: &Path) -> Result<()> {
    let mut lines: Vec<Line<'_>> = Vec::new();
    for r in rows.iter().filter(|r| r.measure == Measure::Throughput) {
        match lines.iter_mut().find(|l| l.name == r.name) {
            Some(l) => l.rows.push(r),
            None => {
                let colour = match lines.len() {
                    0 => BLACK,
                    n => COLOURS[(n - 1) % COLOURS.len()],
                };
                lines.push(Line {
                    name: &r.name,
                    rows: vec![r],
                    colour,
                });
            }
        }
    }
    let fail = |reason: String| Error::Config {
        what: "plot",
        path: path.to_owned(),
        reason,
    };
    if lines.is_empty() {
        return Err(fail("no throughput rows to draw".into()));
    }
    let repeat = rows.iter().map(|r| r.samples.len()).max().unwrap_or(0);
    let root = SVGBackend::new(path, (960, 900)).into_drawing_area();
    draw(&root, &lines, repeat).map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

fn draw(root: &DrawingArea<SVGBackend<'_>, Shift>, lines: &[Line<'_>], repeat: usize) -> Drawn {
    root.fill(&WHITE)?;
    let (top, bottom) = root.split_vertically(560);
    let mut sizes: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.rows.iter().map(|r| r.size as f64))
        .collect();
    sizes.sort_by(f64::total_cmp);
    sizes.dedup();
    let (x0, x1) = (sizes[0] / 1.5, sizes[sizes.len() - 1] * 1.5);
    let samples = lines
        .iter()
        .flat_map(|l| l.rows.iter().flat_map(|r| r.samples.iter().copied()))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = samples.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (y0, y1) = if lo.is_finite() {
        (lo / 2.0, hi * 2.0)
    } else {
        (1.0, 10.0)
    };
    let label = |x: &f64| size_label(x.round() as usize);

    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("PUSH/PULL throughput: median and min-max of {repeat} runs"),
            ("sans-serif", 22),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(sizes.clone()),
            (y0..y1).log_scale(),
        )?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("message size")
        .y_desc("messages per second")
        .x_label_formatter(&label)
        .y_label_formatter(&|y| si_label(*y))
        .draw()?;
    for line in lines {
        let style = line.colour.stroke_width(2);
        let points: Vec<(f64, f64)> = line
            .rows
            .iter()
            .map(|r| (r.size as f64, r.median()))
            .filter(|&(_, y)| y > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), style))?
            .label(line.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 4, line.colour.filled())),
        )?;
        chart.draw_series(line.rows.iter().filter(|r| r.min() > 0.0).map(|r| {
            let x = r.size as f64;
            PathElement::new(
                vec![(x, r.min()), (x, r.max())],
                line.colour.stroke_width(1),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;

    let ratios = lines
        .iter()
        .flat_map(|l| l.rows.iter().flat_map(|r| r.ratios.iter().copied()))
        .filter(|v| v.is_finite());
    let top_ratio = ratios.fold(1.0f64, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&bottom)
        .caption(
            format!(
                "ratio to {}: median over median, bars the range of single runs",
                lines[0].name
            ),
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x0..x1).log_scale().with_key_points(sizes.clone()),
            0.0..top_ratio,
        )?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("message size")
        .y_desc("ratio")
        .x_label_formatter(&label)
        .y_label_formatter(&|y| format!("{y:.1}x"))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(x0, 1.0), (x1, 1.0)],
        BLACK.stroke_width(1),
    )))?;
    for line in &lines[1..] {
        let style = line.colour.stroke_width(2);
        let points: Vec<(f64, f64)> = line
            .rows
            .iter()
            .map(|r| (r.size as f64, r.ratio))
            .filter(|&(_, y)| y.is_finite())
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), style))?;
        chart.draw_series(
            points
                .iter()
                .map(|&p| Circle::new(p, 4, line.colour.filled())),
        )?;
        chart.draw_series(line.rows.iter().filter(|r| r.ratios.len() > 1).map(|r| {
            let x = r.size as f64;
            let lo = r.ratios.iter().copied().fold(f64::NAN, f64::min);
            let hi = r.ratios.iter().copied().fold(f64::NAN, f64::max);
            PathElement::new(vec![(x, lo), (x, hi)], line.colour.stroke_width(1))
        }))?;
    }
    Ok(())
}

/// `1M`, `300k`, `20`: axis labels for messages per second.
fn si_label(y: f64) -> String {
    match y {
        y if y >= 1e6 => format!("{}M", trim(y / 1e6)),
        y if y >= 1e3 => format!("{}k", trim(y / 1e3)),
        y => trim(y),
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_owned)
}
