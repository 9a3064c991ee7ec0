//! `report.html`: one self-contained page for a design review — the headline numbers, the
//! timeline as inline SVG charts, and the Kubernetes events. No scripts, no external files,
//! and the same bytes for the same run.

use std::fmt::Write as _;
use std::io::{self, Write};

use sim_engine::{AutoscalerSpec, LatencyMetric, RunReport, TimelineRow};
use sim_scenario::Scenario;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 200.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
];

/// The most events listed on the page (the full list is in `events.log`).
const MAX_EVENTS: usize = 400;

/// The most timeline points a chart draws. A longer run is coarsened to at most this many
/// (each point then covers several intervals), which keeps a one-week report small enough
/// for a browser; timeline.csv keeps every row.
const MAX_CHART_ROWS: usize = 2_000;

/// Merges runs of `k` timeline rows into one so that a chart stays legible and small:
/// counts over the interval are summed, gauges (requests, replicas) keep their maximum so that
/// no peak is hidden, shares and rates are averaged, and the autoscaler's inputs keep their
/// last known value.
fn coarsen(rows: &[TimelineRow], k: usize) -> Vec<TimelineRow> {
    rows.chunks(k.max(1))
        .map(|c| {
            let last = c.last().expect("chunks are not empty");
            let n = c.len() as f64;
            let mean = |f: fn(&TimelineRow) -> f64| c.iter().map(f).sum::<f64>() / n;
            let max = |f: fn(&TimelineRow) -> u32| c.iter().map(f).max().unwrap_or(0);
            let inputs = (0..last.inputs.len())
                .map(|i| {
                    c.iter()
                        .rev()
                        .map(|r| r.inputs.get(i).copied().unwrap_or(f64::NAN))
                        .find(|v| v.is_finite())
                        .unwrap_or(f64::NAN)
                })
                .collect();
            TimelineRow {
                t_s: last.t_s,
                arrivals: c.iter().map(|r| r.arrivals).sum(),
                completed: c.iter().map(|r| r.completed).sum(),
                failed: c.iter().map(|r| r.failed).sum(),
                running: max(|r| r.running),
                waiting: max(|r| r.waiting),
                gateway_queue: max(|r| r.gateway_queue),
                kv_usage_mean: mean(|r| r.kv_usage_mean),
                gpu_busy_mean: mean(|r| r.gpu_busy_mean),
                ready_replicas: max(|r| r.ready_replicas),
                starting_replicas: max(|r| r.starting_replicas),
                pending_replicas: max(|r| r.pending_replicas),
                terminating_replicas: max(|r| r.terminating_replicas),
                tokens_per_s: mean(|r| r.tokens_per_s),
                desired_replicas: max(|r| r.desired_replicas),
                inputs,
            }
        })
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
fn nice_max(v: f64) -> f64 {
    if !(v.is_finite() && v > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|&c| c >= v)
        .unwrap_or(10.0 * p)
}

/// Seconds to four decimals, or "&infin;" for a percentile that falls on unserved requests.
fn seconds(v: f64) -> String {
    if v.is_infinite() {
        "&infin;".to_string()
    } else {
        format!("{v:.4}")
    }
}

/// A check's value: counts as whole numbers, shares and seconds to four decimals.
fn check_value(v: f64) -> String {
    if v.is_finite() && v == v.trunc() && v.abs() >= 1.0 {
        format!("{v:.0}")
    } else {
        seconds(v)
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 100.0 || v == v.trunc() {
        return format!("{v:.0}");
    }
    let s = if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    };
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One chart: named series over the timeline's time axis. `step` draws a staircase (counts
/// that change at events), otherwise a polyline. NaN values break the line.
fn chart(title: &str, rows: &[TimelineRow], series: &[(&str, Vec<f64>, bool)]) -> String {
    let t_max = rows.last().map_or(1.0, |r| r.t_s).max(1.0);
    let y_max = nice_max(
        series
            .iter()
            .flat_map(|(_, v, _)| v.iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0, f64::max),
    );
    let (w, h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |t: f64| LEFT + w * t / t_max;
    let y = |v: f64| TOP + h * (1.0 - v / y_max);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<figure><figcaption>{}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">"#,
        esc(title)
    );
    for i in 0..=4 {
        let v = y_max * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            fmt_num(v)
        );
    }
    for i in 0..=6 {
        let t = t_max * f64::from(i) / 6.0;
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="{}">{:.0} s</text>"#,
            x(t),
            HEIGHT - 8.0,
            if i == 6 { "end" } else { "middle" },
            t
        );
    }
    for (k, (name, values, step)) in series.iter().enumerate() {
        let color = COLORS[k % COLORS.len()];
        let mut d = String::new();
        let mut pen_down = false;
        let mut prev_t = 0.0;
        for (r, v) in rows.iter().zip(values) {
            if !v.is_finite() {
                pen_down = false;
                continue;
            }
            let (px, py) = (x(r.t_s), y(*v));
            if !pen_down {
                let _ = write!(d, "M{:.1},{py:.1}", if *step { x(prev_t) } else { px });
                pen_down = true;
            } else if *step {
                let _ = write!(d, "V{py:.1}");
            }
            let _ = write!(d, "L{px:.1},{py:.1}");
            prev_t = r.t_s;
        }
        let _ = write!(
            svg,
            r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5"/>"#
        );
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="10" height="3" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 8.0 + 150.0 * k as f64,
            TOP + 2.0,
            LEFT + 22.0 + 150.0 * k as f64,
            TOP + 6.0,
            esc(name)
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

fn col(rows: &[TimelineRow], f: impl Fn(&TimelineRow) -> f64) -> Vec<f64> {
    rows.iter().map(f).collect()
}

/// Writes `report.html`.
///
/// # Errors
/// When the writer fails.
pub fn write_report_html(
    mut out: impl Write,
    scenario: &Scenario,
    report: &RunReport,
) -> io::Result<()> {
    let s = &report.summary;
    let spec = &scenario.spec;
    let k = report.timeline.len().div_ceil(MAX_CHART_ROWS).max(1);
    let coarse;
    let rows: &[TimelineRow] = if k > 1 {
        coarse = coarsen(&report.timeline, k);
        &coarse
    } else {
        &report.timeline
    };
    let autoscaler = match &spec.control.autoscaler {
        AutoscalerSpec::None => format!("fixed at {} replicas", spec.pods.replicas),
        AutoscalerSpec::Hpa(h) => format!(
            "HPA {} ({}–{} replicas)",
            h.name,
            h.config.effective_min_replicas(),
            h.config.max_replicas
        ),
        AutoscalerSpec::Keda(k) => format!(
            "KEDA ScaledObject {} ({}–{} replicas, cooldown {:.0} s)",
            k.config.name,
            k.config.min_replica_count.unwrap_or(0),
            k.config.hpa_max_replicas(),
            k.config.cooldown_period.as_secs_f64()
        ),
        AutoscalerSpec::Kpa(k) => format!(
            "Knative KPA {} ({}–{} pods)",
            k.name, k.config.min_scale, k.config.max_scale
        ),
    };
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>sim: {name}</title>\n<style>\
         body{{font-family:sans-serif;max-width:900px;margin:24px auto;color:#222}}\
         table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}\
         th{{background:#f4f4f4}}td.l,th.l{{text-align:left}}figure{{margin:16px 0}}figcaption{{font-weight:bold}}\
         pre{{font-size:11px;overflow-x:auto;background:#fafafa;padding:8px}}\
         p.ok{{color:#1a7f37;font-weight:bold}}td.nw{{white-space:nowrap}}p.bad{{color:#b00020;font-weight:bold}}</style></head><body>\n\
         <h1>{name}</h1>\n<p>{model} on {gpu} (TP {tp}), {autoscaler}; seed {seed}; {dur:.0} simulated seconds.</p>\n",
        name = esc(&scenario.name),
        model = esc(&spec.model.name),
        gpu = esc(&spec.gpu.name),
        tp = spec.tp,
        autoscaler = esc(&autoscaler),
        seed = s.seed,
        dur = s.sim_duration_s,
    );
    if let Some(t) = s.stopped_at_s {
        let _ = writeln!(
            h,
            "<p class=\"bad\">The run stopped at {t:.0} s: it held more than {} requests, as the \
             deployment cannot keep up. Later arrivals were not simulated; the requests held count \
             as unfinished.</p>",
            sim_engine::MAX_REQUESTS_HELD
        );
    }
    let failed: Vec<String> = s
        .failures
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{} {n}", f.name()))
        .collect();
    let _ = writeln!(
        h,
        "<table><tr><th class=\"l\">requests</th><th>total</th><th>completed</th><th>failed</th><th>in flight at end</th></tr>\
         <tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        if failed.is_empty() {
            "no failures".to_string()
        } else {
            esc(&failed.join(", "))
        },
        s.requests_total,
        s.requests_completed,
        s.requests_failed,
        s.requests_in_flight_at_end
    );
    h.push_str(
        "<table><tr><th class=\"l\">latency (s)</th><th colspan=3>every request (failed = &infin;)</th>\
         <th colspan=4>completed requests only</th></tr>\
         <tr><th></th><th>p50</th><th>p90</th><th>p99</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th></tr>",
    );
    for (name, m) in [
        ("TTFT", LatencyMetric::Ttft),
        ("TPOT", LatencyMetric::Tpot),
        ("end to end", LatencyMetric::E2e),
        ("queue", LatencyMetric::Queue),
    ] {
        let (q, c) = (s.latency(m), s.completed_latency(m));
        let _ = write!(
            h,
            "<tr><td class=\"l\">{name}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td></tr>",
            seconds(q.p50),
            seconds(q.p90),
            seconds(q.p99),
            c.mean,
            c.p50,
            c.p90,
            c.p99
        );
    }
    h.push_str("</table>\n");
    let _ = writeln!(
        h,
        "<table><tr><th class=\"l\">SLO attainment</th><th>GPU-hours</th><th>cost (USD)</th><th>replicas mean / max</th>\
         <th>scale events</th><th>time at max (s)</th><th>time at zero (s)</th></tr>\
         <tr><td class=\"l\">{:.2} %</td><td>{:.3}</td><td>{:.2}</td><td>{:.2} / {}</td><td>{}</td><td>{:.0}</td><td>{:.0}</td></tr></table>",
        s.slo_attainment * 100.0,
        s.gpu_hours,
        s.cost_usd,
        s.replicas.mean,
        s.replicas.max,
        s.scale_events,
        s.time_at_max_s,
        s.time_at_zero_s
    );
    if !s.slo_checks.is_empty() {
        let _ = write!(
            h,
            "<p class=\"{}\">SLO {}</p>",
            if s.slo_ok() { "ok" } else { "bad" },
            if s.slo_ok() { "holds" } else { "VIOLATED" }
        );
        h.push_str("<table><tr><th class=\"l\">SLO check</th><th>actual</th><th>threshold</th><th class=\"l\">result</th></tr>");
        for c in &s.slo_checks {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"nw\">{} {}</td><td class=\"l\">{}</td></tr>",
                esc(&c.name),
                check_value(c.actual),
                if c.at_least { "&ge;" } else { "&le;" },
                check_value(c.threshold),
                esc(&c.describe())
            );
        }
        h.push_str("</table>\n");
    }
    let warnings = crate::warnings(scenario, report);
    if !warnings.is_empty() {
        let _ = write!(h, "<p class=\"bad\">{} warning(s)</p><ul>", warnings.len());
        for w in &warnings {
            let _ = write!(h, "<li>{}</li>", esc(&w.line()));
        }
        h.push_str("</ul>\n");
    }
    if k > 1 {
        let _ = writeln!(
            h,
            "<p>The charts draw {} of the {} timeline rows: each point covers {k} intervals \
             (requests and replicas at their maximum, shares and rates averaged). \
             timeline.csv holds every row.</p>",
            rows.len(),
            report.timeline.len()
        );
    }
    h.push_str(&chart(
        "Replicas",
        rows,
        &[
            (
                "desired",
                col(rows, |r| f64::from(r.desired_replicas)),
                true,
            ),
            ("ready", col(rows, |r| f64::from(r.ready_replicas)), true),
            (
                "starting",
                col(rows, |r| {
                    f64::from(r.starting_replicas + r.pending_replicas)
                }),
                true,
            ),
        ],
    ));
    let mut last_t = 0.0;
    let rate: Vec<f64> = rows
        .iter()
        .map(|r| {
            let dt = r.t_s - last_t;
            last_t = r.t_s;
            if dt > 0.0 {
                r.arrivals as f64 / dt
            } else {
                0.0
            }
        })
        .collect();
    h.push_str(&chart(
        "Requests",
        rows,
        &[
            ("arrivals per s", rate, false),
            ("running", col(rows, |r| f64::from(r.running)), false),
            (
                "waiting (engines + gateway)",
                col(rows, |r| f64::from(r.waiting + r.gateway_queue)),
                false,
            ),
        ],
    ));
    h.push_str(&chart(
        "Engines (mean over Ready replicas, %)",
        rows,
        &[
            (
                "KV cache used",
                col(rows, |r| 100.0 * r.kv_usage_mean),
                false,
            ),
            ("GPU busy", col(rows, |r| 100.0 * r.gpu_busy_mean), false),
        ],
    ));
    if !report.input_names.is_empty() {
        let series: Vec<(&str, Vec<f64>, bool)> = report
            .input_names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    n.as_str(),
                    col(rows, |r| r.inputs.get(i).copied().unwrap_or(f64::NAN)),
                    true,
                )
            })
            .collect();
        h.push_str(&chart("What the autoscaler saw", rows, &series));
    }
    if !s.autoscaler_conditions.is_empty() {
        h.push_str("<h2>Conditions at the end</h2><table><tr><th class=\"l\">object</th><th class=\"l\">type</th><th class=\"l\">status</th><th class=\"l\">reason</th><th class=\"l\">message</th></tr>");
        for c in &s.autoscaler_conditions {
            let _ = write!(
                h,
                "<tr><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                esc(&c.object),
                esc(&c.kind),
                esc(&c.status),
                esc(&c.reason),
                esc(&c.message)
            );
        }
        h.push_str("</table>\n");
    }
    if !report.events.is_empty() {
        let _ = write!(
            h,
            "<h2>Events ({} in events.log)</h2><pre>",
            report.events.len()
        );
        for e in report.events.iter().take(MAX_EVENTS) {
            h.push_str(&esc(e));
            h.push('\n');
        }
        if report.events.len() > MAX_EVENTS {
            let _ = writeln!(
                h,
                "… {} more in events.log",
                report.events.len() - MAX_EVENTS
            );
        }
        h.push_str("</pre>\n");
    }
    h.push_str("</body></html>\n");
    out.write_all(h.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_bounds_are_round_numbers() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(10.0), 10.0);
        assert_eq!(nice_max(11.0), 20.0);
        assert_eq!(nice_max(0.042), 0.05);
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(2.5), "2.5");
        assert_eq!(fmt_num(0.025), "0.025");
        assert_eq!(fmt_num(150.0), "150");
    }

    #[test]
    fn charts_escape_names_and_break_lines_at_unknown_values() {
        let rows: Vec<TimelineRow> = (1..=3)
            .map(|i| TimelineRow {
                t_s: f64::from(i) * 10.0,
                ..TimelineRow::default()
            })
            .collect();
        let svg = chart("a<b", &rows, &[("x&y", vec![1.0, f64::NAN, 3.0], false)]);
        assert!(svg.contains("a&lt;b") && svg.contains("x&amp;y"));
        assert_eq!(
            svg.matches('M').count(),
            2,
            "a NaN starts a new segment: {svg}"
        );
    }

    #[test]
    fn coarsening_keeps_totals_peaks_and_the_last_input() {
        let rows: Vec<TimelineRow> = (1..=10_000u32)
            .map(|i| TimelineRow {
                t_s: f64::from(i) * 10.0,
                arrivals: 3,
                waiting: if i == 4_321 { 99 } else { 1 },
                kv_usage_mean: 0.5,
                inputs: vec![if i % 5 == 0 { f64::NAN } else { f64::from(i) }],
                ..TimelineRow::default()
            })
            .collect();
        let k = rows.len().div_ceil(MAX_CHART_ROWS);
        let c = coarsen(&rows, k);
        assert_eq!(c.len(), 2_000);
        assert_eq!(c.iter().map(|r| r.arrivals).sum::<u64>(), 30_000);
        assert_eq!(c.iter().map(|r| r.waiting).max(), Some(99));
        assert!(c.iter().all(|r| r.kv_usage_mean == 0.5));
        assert_eq!(c[0].t_s, 50.0);
        assert_eq!(c[0].inputs, vec![4.0], "the last known input of the bucket");
    }
}
