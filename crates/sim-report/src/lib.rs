//! Run outputs: `summary.json`, `timeline.csv`, `events.log`, `requests.csv`, `report.html`
//! (a self-contained page with SVG charts for design reviews), and the text summary the CLI
//! prints.
//!
//! These files are public formats. Their columns and keys are defined here, in explicit wire
//! structs, so that an internal rename never changes a file by accident. Writers take any
//! `impl Write`; the CLI decides where the bytes go.
//!
//! Determinism: floats are written by serde_json / `Display` (shortest round-trip form), rows
//! in simulation order, keys in struct order. The same report always gives the same bytes.
//!
//! What it deliberately does not do: open files, or compute anything the engine did not.

mod html;

pub use html::write_report_html;

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::Serialize;
use sim_engine::{Percentiles, Quantiles, RequestRecord, RunReport, Summary};
use sim_scenario::Scenario;

/// The version of the output formats; bumped when a column or key changes meaning.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Serialize)]
struct LatencyWire {
    mean: f64,
    p50: f64,
    p90: f64,
    p99: f64,
    count: u64,
}

impl From<&Percentiles> for LatencyWire {
    fn from(p: &Percentiles) -> LatencyWire {
        LatencyWire {
            mean: round9(p.mean),
            p50: round9(p.p50),
            p90: round9(p.p90),
            p99: round9(p.p99),
            count: p.count,
        }
    }
}

/// Percentiles over every request; `null` stands for infinite (the percentile falls on a
/// request that failed or did not finish), which JSON numbers cannot hold.
#[derive(Serialize)]
struct QuantilesWire {
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    count: u64,
    unserved: u64,
}

impl From<&Quantiles> for QuantilesWire {
    fn from(q: &Quantiles) -> QuantilesWire {
        QuantilesWire {
            p50: finite9(q.p50),
            p90: finite9(q.p90),
            p99: finite9(q.p99),
            count: q.count,
            unserved: q.unserved,
        }
    }
}

/// Rounded to 9 decimals, or `None` (JSON `null`) when infinite.
fn finite9(x: f64) -> Option<f64> {
    x.is_finite().then(|| round9(x))
}

#[derive(Serialize)]
struct CountWire {
    min: u32,
    max: u32,
    mean: f64,
}

#[derive(Serialize)]
struct SloCheckWire<'a> {
    name: &'a str,
    /// `"<="` or `">="`.
    op: &'static str,
    threshold: f64,
    /// `null` when infinite.
    actual: Option<f64>,
    ok: bool,
    /// The check in words: what failed and by how much.
    detail: String,
}

#[derive(Serialize)]
struct ConditionWire<'a> {
    object: &'a str,
    condition: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct WarningWire {
    /// What is wrong, in one line.
    what: String,
    /// First seen, simulated seconds; `null` for a warning about the scenario itself.
    first_s: Option<f64>,
    /// Last seen, simulated seconds; `null` likewise.
    last_s: Option<f64>,
    /// How often it was seen.
    count: u64,
}

/// Every warning of a run: the scenario's (found at load) first, then the run's, in the order
/// first seen. Each is one line: `what` (file:line:col for the scenario's), first seen, count.
pub fn warnings(scenario: &Scenario, report: &RunReport) -> Vec<Warning> {
    let mut out: Vec<Warning> = scenario
        .warnings
        .iter()
        .map(|w| Warning {
            what: w.to_string(),
            first_s: None,
            last_s: None,
            count: 1,
        })
        .collect();
    out.extend(report.warnings.iter().map(|w| Warning {
        what: format!("{} {}: {}", w.reason, w.object, w.message),
        first_s: Some(w.first_s),
        last_s: Some(w.last_s),
        count: w.count,
    }));
    out
}

/// One warning as the user sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    /// What is wrong, in one line.
    pub what: String,
    /// First seen, simulated seconds (none for the scenario's own).
    pub first_s: Option<f64>,
    /// Last seen, simulated seconds (none for the scenario's own).
    pub last_s: Option<f64>,
    /// How often it was seen.
    pub count: u64,
}

impl Warning {
    /// `what (first at 12 s, last at 3600 s, 120 times)`.
    pub fn line(&self) -> String {
        match (self.first_s, self.last_s) {
            (Some(first), Some(last)) if self.count > 1 => format!(
                "{} (first at {} s, last at {} s, {} times)",
                self.what,
                round9(first),
                round9(last),
                self.count
            ),
            (Some(first), _) => format!("{} (at {} s)", self.what, round9(first)),
            _ => self.what.clone(),
        }
    }
}

/// The warnings section for the terminal, or nothing when there are none.
pub fn render_warnings(warnings: &[Warning]) -> String {
    if warnings.is_empty() {
        return String::new();
    }
    let mut out = format!("warnings ({}):\n", warnings.len());
    for w in warnings {
        let _ = writeln!(out, "  warning: {}", w.line());
    }
    out
}

#[derive(Serialize)]
struct ResolvedWire<'a> {
    max_num_seqs: u32,
    max_num_batched_tokens: u32,
    max_model_len: u32,
    num_gpu_blocks: u32,
    kv_cache_tokens: u64,
    usd_per_gpu_hour: f64,
    nodes: u32,
    max_nodes: u32,
    /// Whether the GPU's kernel times were measured on it (false: derived from another GPU).
    gpu_measured: bool,
    /// Where the GPU's step-time numbers come from (the catalog's `calibration` text).
    gpu_calibration: &'a str,
}

#[derive(Serialize)]
struct SummaryWire<'a> {
    format_version: u32,
    scenario_name: &'a str,
    seed: u64,
    requests_total: u64,
    requests_completed: u64,
    requests_failed: u64,
    requests_in_flight_at_end: u64,
    requests_held_peak: u64,
    stopped_at_s: Option<f64>,
    failures: std::collections::BTreeMap<&'static str, u64>,
    failed_ratio: f64,
    ttft_s: QuantilesWire,
    tpot_s: QuantilesWire,
    e2e_s: QuantilesWire,
    queue_s: QuantilesWire,
    completed_ttft_s: LatencyWire,
    completed_tpot_s: LatencyWire,
    completed_e2e_s: LatencyWire,
    completed_queue_s: LatencyWire,
    itl_s: LatencyWire,
    slo_attainment: f64,
    slo_checks: Vec<SloCheckWire<'a>>,
    slo_ok: bool,
    warnings: Vec<WarningWire>,
    gpu_hours: f64,
    cost_usd: f64,
    replicas: CountWire,
    desired_replicas: CountWire,
    scale_events: u64,
    scale_events_per_hour: f64,
    time_at_max_s: f64,
    time_at_zero_s: f64,
    autoscaler_conditions: Vec<ConditionWire<'a>>,
    sim_duration_s: f64,
    prompt_tokens_total: u64,
    generation_tokens_total: u64,
    preemptions_total: u64,
    recomputed_tokens_total: u64,
    engine_steps_total: u64,
    events_total: u64,
    resolved: ResolvedWire<'a>,
    scenario: &'a toml::Table,
}

/// Rounds to 9 decimals (nanoseconds for times) so outputs do not carry float noise.
fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// Writes `summary.json`.
///
/// # Errors
/// When the writer fails.
pub fn write_summary_json(
    out: impl Write,
    scenario: &Scenario,
    report: &RunReport,
) -> io::Result<()> {
    let s = &report.summary;
    let r = &scenario.resolved;
    let wire = SummaryWire {
        format_version: FORMAT_VERSION,
        scenario_name: &scenario.name,
        seed: s.seed,
        requests_total: s.requests_total,
        requests_completed: s.requests_completed,
        requests_failed: s.requests_failed,
        requests_in_flight_at_end: s.requests_in_flight_at_end,
        requests_held_peak: s.requests_held_peak,
        stopped_at_s: s.stopped_at_s.map(round9),
        failures: s.failures.iter().map(|(f, n)| (f.name(), *n)).collect(),
        failed_ratio: round9(s.failed_ratio),
        ttft_s: (&s.ttft_s).into(),
        tpot_s: (&s.tpot_s).into(),
        e2e_s: (&s.e2e_s).into(),
        queue_s: (&s.queue_s).into(),
        completed_ttft_s: (&s.completed_ttft_s).into(),
        completed_tpot_s: (&s.completed_tpot_s).into(),
        completed_e2e_s: (&s.completed_e2e_s).into(),
        completed_queue_s: (&s.completed_queue_s).into(),
        itl_s: (&s.itl_s).into(),
        slo_attainment: round9(s.slo_attainment),
        slo_checks: s
            .slo_checks
            .iter()
            .map(|c| SloCheckWire {
                name: &c.name,
                op: if c.at_least { ">=" } else { "<=" },
                threshold: c.threshold,
                actual: finite9(c.actual),
                ok: c.ok,
                detail: c.describe(),
            })
            .collect(),
        slo_ok: s.slo_ok(),
        warnings: warnings(scenario, report)
            .into_iter()
            .map(|w| WarningWire {
                what: w.what,
                first_s: w.first_s.map(round9),
                last_s: w.last_s.map(round9),
                count: w.count,
            })
            .collect(),
        gpu_hours: round9(s.gpu_hours),
        cost_usd: round9(s.cost_usd),
        replicas: CountWire {
            min: s.replicas.min,
            max: s.replicas.max,
            mean: round9(s.replicas.mean),
        },
        desired_replicas: CountWire {
            min: s.desired_replicas.min,
            max: s.desired_replicas.max,
            mean: round9(s.desired_replicas.mean),
        },
        scale_events: s.scale_events,
        scale_events_per_hour: round9(s.scale_events_per_hour),
        time_at_max_s: round9(s.time_at_max_s),
        time_at_zero_s: round9(s.time_at_zero_s),
        autoscaler_conditions: s
            .autoscaler_conditions
            .iter()
            .map(|c| ConditionWire {
                object: &c.object,
                condition: &c.kind,
                status: &c.status,
                reason: &c.reason,
                message: &c.message,
            })
            .collect(),
        sim_duration_s: round9(s.sim_duration_s),
        prompt_tokens_total: s.prompt_tokens_total,
        generation_tokens_total: s.generation_tokens_total,
        preemptions_total: s.preemptions_total,
        recomputed_tokens_total: s.recomputed_tokens_total,
        engine_steps_total: s.engine_steps_total,
        events_total: s.events_total,
        resolved: ResolvedWire {
            max_num_seqs: r.max_num_seqs,
            max_num_batched_tokens: r.max_num_batched_tokens,
            max_model_len: r.max_model_len,
            num_gpu_blocks: r.num_gpu_blocks,
            kv_cache_tokens: r.kv_cache_tokens,
            usd_per_gpu_hour: r.usd_per_gpu_hour,
            nodes: r.nodes,
            max_nodes: r.max_nodes,
            gpu_measured: scenario.spec.gpu.measured,
            gpu_calibration: &scenario.spec.gpu.calibration,
        },
        scenario: &scenario.source,
    };
    let mut out = out;
    serde_json::to_writer_pretty(&mut out, &wire).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

/// The fixed columns of `timeline.csv`, in order; `desired_replicas` and one `in_<name>`
/// column per autoscaler input follow.
pub const TIMELINE_COLUMNS: [&str; 15] = [
    "t_s",
    "arrivals",
    "completed",
    "failed",
    "running",
    "waiting",
    "gateway_queue",
    "kv_usage_mean",
    "gpu_busy_mean",
    "ready_replicas",
    "starting_replicas",
    "pending_replicas",
    "terminating_replicas",
    "tokens_per_s",
    "arrival_rps",
];

/// Writes `timeline.csv`.
///
/// # Errors
/// When the writer fails.
pub fn write_timeline_csv(out: impl Write, report: &RunReport) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let mut header: Vec<String> = TIMELINE_COLUMNS.iter().map(|c| c.to_string()).collect();
    header.push("desired_replicas".into());
    header.extend(report.input_names.iter().map(|n| format!("in_{n}")));
    w.write_record(&header)?;
    let mut last_t = 0.0;
    for r in &report.timeline {
        let dt = r.t_s - last_t;
        let rate = if dt > 0.0 {
            r.arrivals as f64 / dt
        } else {
            0.0
        };
        last_t = r.t_s;
        let mut row = vec![
            fmt6(r.t_s),
            r.arrivals.to_string(),
            r.completed.to_string(),
            r.failed.to_string(),
            r.running.to_string(),
            r.waiting.to_string(),
            r.gateway_queue.to_string(),
            fmt6(r.kv_usage_mean),
            fmt6(r.gpu_busy_mean),
            r.ready_replicas.to_string(),
            r.starting_replicas.to_string(),
            r.pending_replicas.to_string(),
            r.terminating_replicas.to_string(),
            fmt6(r.tokens_per_s),
            fmt6(rate),
            r.desired_replicas.to_string(),
        ];
        row.extend(
            r.inputs
                .iter()
                .map(|v| if v.is_nan() { String::new() } else { fmt6(*v) }),
        );
        w.write_record(&row)?;
    }
    w.flush()
}

/// Writes `events.log`: one Kubernetes event per line, in kubectl's words.
///
/// # Errors
/// When the writer fails.
pub fn write_events_log(mut out: impl Write, report: &RunReport) -> io::Result<()> {
    writeln!(
        out,
        "{:>12}  {:<7} {:<28} {:<48} MESSAGE",
        "TIME", "TYPE", "REASON", "OBJECT"
    )?;
    for line in &report.events {
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// The columns of `requests.csv`, in order.
pub const REQUEST_COLUMNS: [&str; 12] = [
    "id",
    "arrival_s",
    "prompt_tokens",
    "output_tokens",
    "pod",
    "status",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "queue_s",
    "preemptions",
    "slo_met",
];

/// Writes `requests.csv` a row at a time, as the run hands records over (see
/// `sim_engine::Observer::request`): rows come in id order, so the file is the same whatever
/// the buffering, and nothing is held but the writer's buffer.
pub struct RequestsCsv<W: Write> {
    w: csv::Writer<W>,
}

impl<W: Write> RequestsCsv<W> {
    /// Starts the file with its header.
    ///
    /// # Errors
    /// When the writer fails.
    pub fn new(out: W) -> io::Result<RequestsCsv<W>> {
        let mut w = csv::Writer::from_writer(out);
        w.write_record(REQUEST_COLUMNS)?;
        Ok(RequestsCsv { w })
    }

    /// Writes one request's row.
    ///
    /// # Errors
    /// When the writer fails.
    pub fn write(&mut self, r: &RequestRecord) -> io::Result<()> {
        let opt = |v: Option<f64>| v.map(fmt9).unwrap_or_default();
        self.w.write_record([
            r.id.to_string(),
            fmt9(r.arrival_s),
            r.prompt_tokens.to_string(),
            r.output_tokens.to_string(),
            r.pod.map(|p| p.to_string()).unwrap_or_default(),
            r.outcome.name().to_string(),
            opt(r.ttft_s),
            opt(r.tpot_s),
            opt(r.e2e_s),
            opt(r.queue_s),
            r.preemptions.to_string(),
            r.slo_met.to_string(),
        ])?;
        Ok(())
    }

    /// Flushes every row and returns the writer.
    ///
    /// # Errors
    /// When the writer fails.
    pub fn finish(self) -> io::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error())
    }
}

fn fmt6(x: f64) -> String {
    format!("{x:.6}")
}

fn fmt9(x: f64) -> String {
    format!("{x:.9}")
}

/// The human-readable summary the CLI prints.
pub fn render_text(scenario: &Scenario, summary: &Summary) -> String {
    let s = summary;
    let mut out = String::new();
    let spec = &scenario.spec;
    let _ = writeln!(
        out,
        "scenario {}  seed {}  {} × {} on {} (TP {})",
        scenario.name, s.seed, spec.pods.replicas, spec.model.name, spec.gpu.name, spec.tp
    );
    if !spec.gpu.measured {
        let _ = writeln!(
            out,
            "note      {} has no kernel measurements of its own; its step times are derived \
             (see docs/calibration.md): {}",
            spec.gpu.name, spec.gpu.calibration
        );
    }
    let _ = writeln!(
        out,
        "requests  {} total, {} completed, {} failed{}",
        s.requests_total,
        s.requests_completed,
        s.requests_failed,
        match s.stopped_at_s {
            Some(t) => format!(
                ", {} unfinished when the run stopped at {t:.0} s: it held more than {} \
                 requests (the deployment cannot keep up; later arrivals were not simulated)",
                s.requests_in_flight_at_end,
                sim_engine::MAX_REQUESTS_HELD
            ),
            None if s.requests_in_flight_at_end > 0 => format!(
                ", {} still in flight at the drain limit",
                s.requests_in_flight_at_end
            ),
            None => String::new(),
        }
    );
    let failed: Vec<String> = s
        .failures
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| format!("{} {n}", f.name()))
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(out, "failures  {}", failed.join(", "));
    }
    let _ = writeln!(
        out,
        "latency (s)  every request (failed = inf) | completed requests only"
    );
    let _ = writeln!(
        out,
        "                p50       p90       p99 |      mean       p50       p90       p99"
    );
    for m in sim_engine::LatencyMetric::ALL {
        let (q, c) = (s.latency(m), s.completed_latency(m));
        let _ = writeln!(
            out,
            "  {:<9}{:>9.4} {:>9.4} {:>9.4} | {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            m.name(),
            q.p50,
            q.p90,
            q.p99,
            c.mean,
            c.p50,
            c.p90,
            c.p99
        );
    }
    let i = &s.itl_s;
    let _ = writeln!(
        out,
        "  {:<9}{:>9} {:>9} {:>9} | {:>9.4} {:>9.4} {:>9.4} {:>9.4}  (per token)",
        "itl_s", "", "", "", i.mean, i.p50, i.p90, i.p99
    );
    let _ = writeln!(
        out,
        "SLO {}  attainment {:.2} %, failed or unfinished {:.2} %",
        if s.slo_ok() { "holds" } else { "VIOLATED" },
        s.slo_attainment * 100.0,
        s.failed_ratio * 100.0
    );
    for c in &s.slo_checks {
        let _ = writeln!(out, "  {}", c.describe());
    }
    let _ = writeln!(
        out,
        "replicas  min {} max {} mean {:.2}   GPU-hours {:.3}   cost ${:.2}",
        s.replicas.min, s.replicas.max, s.replicas.mean, s.gpu_hours, s.cost_usd
    );
    if s.scale_events > 0
        || !matches!(
            scenario.spec.control.autoscaler,
            sim_engine::AutoscalerSpec::None
        )
    {
        let _ = writeln!(
            out,
            "scaling   {} scale events ({:.1}/h), {:.0} s at max, {:.0} s at zero",
            s.scale_events, s.scale_events_per_hour, s.time_at_max_s, s.time_at_zero_s
        );
    }
    let _ = writeln!(
        out,
        "simulated {:.1} s, {} engine steps, {} preemptions ({} tokens recomputed), {} events",
        s.sim_duration_s,
        s.engine_steps_total,
        s.preemptions_total,
        s.recomputed_tokens_total,
        s.events_total
    );
    out
}
