//! `--plot FILE.svg`: the latency percentile curve and histogram, drawn.
//!
//! For people who would rather look than read: the left panel plots, for
//! every report of the run, latency (ms) against percentile (0 to 100), so
//! the tail is the curve's right end; the right panel is a histogram of
//! latencies in 40 equal buckets, the reports overlaid in translucent
//! colours. Drawn with `plotters`' SVG backend only (no fonts or image
//! libraries are needed, text is left to the SVG viewer).

use std::path::Path;

use plotters::prelude::*;

use crate::report::Stats;

/// Histogram buckets of the drawing (finer than the text report's 10).
const PLOT_BUCKETS: usize = 40;
/// Most points drawn per percentile curve.
const CURVE_POINTS: usize = 1000;

/// Draws the reports that have successful requests into `path` (SVG).
pub fn write_plot(path: &Path, reports: &[&Stats]) -> Result<(), String> {
    let reports: Vec<&Stats> = reports
        .iter()
        .copied()
        .filter(|r| !r.lats.is_empty())
        .collect();
    let fail = |e: &dyn std::fmt::Display| format!("drawing {}: {e}", path.display());
    let root = SVGBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    if reports.is_empty() {
        root.titled("no successful requests", ("sans-serif", 20))
            .map_err(|e| fail(&e))?;
        return root.present().map_err(|e| fail(&e));
    }
    let (left, right) = root.split_horizontally(600);
    draw_percentiles(&left, &reports).map_err(|e| fail(&e))?;
    draw_histogram(&right, &reports).map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))
}

type Area<'a> = DrawingArea<SVGBackend<'a>, plotters::coord::Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error>>;

/// `(percentile, latency ms)` points of one report, at most [`CURVE_POINTS`].
pub fn percentile_curve(lats: &[f64]) -> Vec<(f64, f64)> {
    let n = lats.len();
    let step = n.div_ceil(CURVE_POINTS).max(1);
    let mut points: Vec<(f64, f64)> = (0..n)
        .step_by(step)
        .map(|i| (100.0 * (i + 1) as f64 / n as f64, lats[i] * 1000.0))
        .collect();
    if let Some(&last) = lats.last() {
        if points.last().map(|p| p.0) != Some(100.0) {
            points.push((100.0, last * 1000.0));
        }
    }
    points
}

fn draw_percentiles(area: &Area<'_>, reports: &[&Stats]) -> DrawResult {
    let y_max = reports.iter().map(|r| r.slowest).fold(0.0, f64::max) * 1000.0 * 1.05;
    let mut chart = ChartBuilder::on(area)
        .caption("latency by percentile", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..100f64, 0f64..y_max.max(1e-3))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .draw()?;
    for (i, r) in reports.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                percentile_curve(&r.lats),
                color.stroke_width(2),
            ))?
            .label(r.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// `(bucket start ms, bucket end ms, count)` of one report over `[lo, hi]` ms.
pub fn histogram_bars(lats: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64, u64)> {
    let width = ((hi - lo) / PLOT_BUCKETS as f64).max(1e-9);
    let mut counts = vec![0u64; PLOT_BUCKETS];
    for l in lats {
        let k = (((l * 1000.0) - lo) / width) as usize;
        counts[k.min(PLOT_BUCKETS - 1)] += 1;
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(k, c)| (lo + width * k as f64, lo + width * (k + 1) as f64, c))
        .collect()
}

fn draw_histogram(area: &Area<'_>, reports: &[&Stats]) -> DrawResult {
    let lo = reports.iter().map(|r| r.fastest).fold(f64::MAX, f64::min) * 1000.0;
    let hi = reports.iter().map(|r| r.slowest).fold(0.0, f64::max) * 1000.0;
    let hi = if hi > lo { hi } else { lo + 1e-3 };
    let bars: Vec<Vec<(f64, f64, u64)>> = reports
        .iter()
        .map(|r| histogram_bars(&r.lats, lo, hi))
        .collect();
    let top = bars.iter().flatten().map(|b| b.2).max().unwrap_or(1).max(1);
    let mut chart = ChartBuilder::on(area)
        .caption("latency histogram", ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(lo..hi, 0u64..top + top / 10 + 1)?;
    chart
        .configure_mesh()
        .x_desc("latency (ms)")
        .y_desc("requests")
        .draw()?;
    for (i, (r, bars)) in reports.iter().zip(bars).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(
                bars.into_iter()
                    .map(|(x0, x1, c)| Rectangle::new([(x0, 0), (x1, c)], color.mix(0.5).filled())),
            )?
            .label(r.name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
