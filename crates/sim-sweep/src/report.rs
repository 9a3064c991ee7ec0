//! `report.html` for a sweep: every point on cost against latency (SLO met or not, the Pareto
//! front, the best point), then a table of the points, cheapest first. Self-contained and
//! deterministic, like the run report.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::output::cell;
use crate::plan::Plan;
use crate::stats::PointStats;

const W: f64 = 860.0;
const H: f64 = 380.0;
const L: f64 = 70.0;
const R: f64 = 16.0;
const T: f64 = 16.0;
const B: f64 = 40.0;
/// Width kept at the right of the plot for points whose latency is infinite (some request
/// went unserved at the percentile).
const INF_BAND: f64 = 64.0;
/// The most points drawn; past it the chart keeps the front, the best point and an even
/// subsample, and says so (points.csv has them all).
const MAX_DRAWN: usize = 5_000;
/// The most table rows, cheapest first; the rest are in points.csv.
const MAX_ROWS: usize = 500;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Axis range with a little margin; a flat range is widened so points stay inside.
fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0));
    }
    let pad = 0.05 * (hi - lo);
    (
        (lo - pad).max(if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY }),
        hi + pad,
    )
}

fn label(v: f64) -> String {
    if v.is_infinite() {
        "∞".to_string()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// Writes `report.html`.
///
/// # Errors
/// When the writer fails.
pub fn write_report_html(
    mut w: impl Write,
    plan: &Plan,
    stats: &[PointStats],
    front: &[usize],
    best: Option<usize>,
) -> io::Result<()> {
    let oi = plan.metric_index(&plan.objective).expect("checked in plan");
    let li = plan.metric_index(&plan.latency).expect("checked in plan");
    // Latency spans decades when some points are overloaded: then its axis is logarithmic.
    let lat_min = stats
        .iter()
        .map(|s| s.mean[li])
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let lat_max = stats
        .iter()
        .map(|s| s.mean[li])
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let log_x = lat_min.is_finite() && lat_max / lat_min > 100.0;
    let any_inf = stats.iter().any(|s| s.mean[li].is_infinite());
    let right = if any_inf { R + INF_BAND } else { R };
    let fx = |v: f64| if log_x { v.max(lat_min).log10() } else { v };
    let (x0, x1) = range(stats.iter().map(|s| fx(s.mean[li])));
    let (y0, y1) = range(stats.iter().map(|s| s.mean[oi]));
    let px = |v: f64| {
        if v.is_infinite() {
            W - R - INF_BAND / 2.0
        } else {
            L + (W - L - right) * (fx(v) - x0) / (x1 - x0)
        }
    };
    let py = |v: f64| T + (H - T - B) * (1.0 - (v - y0) / (y1 - y0));
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sweep: {name}</title>\n<style>\
         body{{font-family:sans-serif;max-width:900px;margin:24px auto;color:#222}}\
         table{{border-collapse:collapse;font-size:12px}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}\
         th{{background:#f4f4f4}}tr.best td{{font-weight:bold;background:#eef7ee}}</style></head><body>\n\
         <h1>Sweep {name}</h1>\n<p>{points} points × {seeds} seeds; axes: {axes}. Objective <b>{obj}</b>, latency <b>{lat}</b>; \
         SLO: {slo}. Plan {hash}.</p>\n",
        name = esc(&plan.name),
        points = plan.points.len(),
        seeds = plan.seeds.len(),
        axes = esc(&plan.axes.join(", ")),
        obj = esc(&plan.objective),
        lat = esc(&plan.latency),
        slo = if plan.slo.is_empty() {
            "none set (every run still checks failed_ratio, requests_completed and requests_held_peak)"
                .to_string()
        } else {
            esc(&plan
                .slo
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "))
        },
        hash = esc(&plan.hash),
    );
    match best {
        Some(b) => {
            let _ = writeln!(
                h,
                "<p>Best point meeting the SLO: <b>#{b}</b> ({}) at {} = {} (written to best.toml).</p>",
                esc(&plan.describe_point(b)),
                esc(&plan.objective),
                label(stats[b].mean[oi])
            );
        }
        None => h.push_str("<p><b>No point meets the SLO.</b></p>\n"),
    }
    let _ = write!(
        h,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">"#
    );
    for i in 0..=4 {
        let f = f64::from(i) / 4.0;
        let x = x0 + f * (x1 - x0);
        let (xv, yv) = (if log_x { 10f64.powf(x) } else { x }, y0 + f * (y1 - y0));
        let _ = write!(
            h,
            r##"<line x1="{L}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#e4e4e4"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            W - right,
            py(yv),
            py(yv),
            L - 4.0,
            py(yv) + 4.0,
            label(yv),
            px(xv),
            H - B + 16.0,
            label(xv)
        );
    }
    let _ = write!(
        h,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{} (mean over seeds{})</text><text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 6.0,
        esc(&plan.latency),
        if log_x { ", log scale" } else { "" },
        (T + H - B) / 2.0,
        (T + H - B) / 2.0,
        esc(&plan.objective)
    );
    if any_inf {
        let xb = W - R - INF_BAND;
        let _ = write!(
            h,
            r##"<line x1="{xb:.1}" x2="{xb:.1}" y1="{T}" y2="{:.1}" stroke="#bbb" stroke-dasharray="2 2"/><text x="{:.1}" y="{:.1}" text-anchor="middle">∞</text>"##,
            H - B,
            W - R - INF_BAND / 2.0,
            H - B + 16.0
        );
    }
    let mut line = String::new();
    let mut on_front: Vec<usize> = front.to_vec();
    on_front.sort_by(|a, b| stats[*a].mean[li].total_cmp(&stats[*b].mean[li]));
    for (k, &p) in on_front.iter().enumerate() {
        let _ = write!(
            line,
            "{}{:.1},{:.1}",
            if k == 0 { "M" } else { "L" },
            px(stats[p].mean[li]),
            py(stats[p].mean[oi])
        );
    }
    let _ = write!(
        h,
        r##"<path d="{line}" fill="none" stroke="#888" stroke-dasharray="4 3"/>"##
    );
    // Past MAX_DRAWN points: the front, the best point and every k-th other point.
    let stride = stats.len().div_ceil(MAX_DRAWN).max(1);
    let drawn =
        |p: usize| stride == 1 || p.is_multiple_of(stride) || front.contains(&p) || Some(p) == best;
    for s in stats.iter().filter(|s| drawn(s.point)) {
        let color = if s.slo_ok() { "#2ca02c" } else { "#d62728" };
        let r = if Some(s.point) == best { 6.0 } else { 3.5 };
        let _ = write!(
            h,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{r}" fill="{color}" fill-opacity="0.8"{}><title>#{} {}</title></circle>"##,
            px(s.mean[li]),
            py(s.mean[oi]),
            if Some(s.point) == best {
                r##" stroke="#000" stroke-width="1.5""##
            } else {
                ""
            },
            s.point,
            esc(&plan.describe_point(s.point))
        );
    }
    h.push_str("</svg>\n<p>Green: meets the SLO; red: misses it; dashed: the Pareto front; outlined: the best point");
    if any_inf {
        h.push_str("; at ∞: some seed left the latency percentile on requests that failed or did not finish");
    }
    h.push_str(".</p>\n");
    if stride > 1 {
        let _ = writeln!(
            h,
            "<p>The chart draws {} of {} points (the Pareto front, the best point and every {stride}th other); points.csv has them all.</p>",
            stats.iter().filter(|s| drawn(s.point)).count(),
            stats.len()
        );
    }
    h.push_str("<table><tr><th>point</th>");
    for a in &plan.axes {
        let _ = write!(h, "<th>{}</th>", esc(a));
    }
    let fi = plan
        .metric_index("failed_ratio")
        .expect("every plan has failed_ratio");
    let _ = write!(
        h,
        "<th>{} ± ci95</th><th>{} ± ci95</th><th>failed %</th><th>SLO</th></tr>",
        esc(&plan.objective),
        esc(&plan.latency)
    );
    let mut order: Vec<usize> = (0..stats.len()).collect();
    order.sort_by(|a, b| {
        stats[*a].mean[oi]
            .total_cmp(&stats[*b].mean[oi])
            .then(a.cmp(b))
    });
    let pm = |m: f64, c: Option<f64>| match c {
        Some(c) => format!("{} ± {}", label(m), label(c)),
        None => label(m),
    };
    for &p in order.iter().take(MAX_ROWS) {
        let s = &stats[p];
        let _ = write!(
            h,
            "<tr{}><td>{p}</td>",
            if Some(p) == best {
                " class=\"best\""
            } else {
                ""
            }
        );
        for v in &plan.points[p] {
            let _ = write!(h, "<td>{}</td>", esc(&cell(v)));
        }
        let misses: Vec<&str> = s
            .checks
            .iter()
            .filter(|(c, v)| !c.holds(*v))
            .map(|(c, _)| c.metric.as_str())
            .collect();
        let _ = writeln!(
            h,
            "<td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>",
            pm(s.mean[oi], s.ci95[oi]),
            pm(s.mean[li], s.ci95[li]),
            s.mean[fi] * 100.0,
            if misses.is_empty() {
                "ok".to_string()
            } else {
                format!("miss: {}", esc(&misses.join(", ")))
            }
        );
    }
    h.push_str("</table>\n");
    if order.len() > MAX_ROWS {
        let _ = writeln!(
            h,
            "<p>The {MAX_ROWS} cheapest of {} points; points.csv has them all.</p>",
            order.len()
        );
    }
    h.push_str("</body></html>\n");
    w.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_pad_and_widen() {
        let (lo, hi) = range([1.0, 3.0].into_iter());
        assert!(lo < 1.0 && hi > 3.0 && lo >= 0.0);
        let (lo, hi) = range([2.0, 2.0].into_iter());
        assert!(lo < 2.0 && hi > 2.0);
        assert_eq!(range(std::iter::empty()), (0.0, 1.0));
    }
}
