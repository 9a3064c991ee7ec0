//! The sweep's files as explicit formats: the journal, the manifest, `results.csv`,
//! `points.csv`, `pareto.csv` and `best.toml`. Writers take `impl Write`.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};
use toml::Value;

use crate::error::SweepError;
use crate::plan::{FORMAT_VERSION, Plan, fnv1a64};
use crate::run::JobResult;
use crate::stats::PointStats;

/// One journal line: `job point seed value...` and ` #checksum`, newline-terminated. Floats
/// use Rust's shortest round-trip form, so a result read back is bit-identical.
pub fn journal_line(r: &JobResult) -> String {
    let mut s = format!("{} {} {}", r.job, r.point, r.seed);
    for v in &r.values {
        s.push(' ');
        s.push_str(&v.to_string());
    }
    let sum = fnv1a64(s.as_bytes());
    format!("{s} #{sum:016x}\n")
}

/// A journal read back.
#[derive(Debug, Default)]
pub struct Journal {
    /// Valid results by job index (the first line of a job wins).
    pub results: BTreeMap<usize, JobResult>,
    /// Lines dropped: torn (no newline), bad checksum, not of this plan, or repeated.
    pub dropped: usize,
}

impl Journal {
    /// The journal text holding exactly the valid results, in job order.
    pub fn text(&self) -> String {
        self.results.values().map(journal_line).collect()
    }
}

/// Reads a journal, keeping only whole lines with a good checksum that fit `plan`.
pub fn read_journal(plan: &Plan, text: &str) -> Journal {
    let mut j = Journal::default();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(end) = rest.find('\n') else {
            // A torn last line: the process died mid-write.
            j.dropped += 1;
            break;
        };
        let line = &rest[..end];
        rest = &rest[end + 1..];
        match parse_line(plan, line) {
            Some(r) if !j.results.contains_key(&r.job) => {
                j.results.insert(r.job, r);
            }
            _ => j.dropped += 1,
        }
    }
    j
}

fn parse_line(plan: &Plan, line: &str) -> Option<JobResult> {
    let (body, sum) = line.rsplit_once(" #")?;
    if u64::from_str_radix(sum, 16).ok()? != fnv1a64(body.as_bytes()) || sum.len() != 16 {
        return None;
    }
    let mut it = body.split(' ');
    let job: usize = it.next()?.parse().ok()?;
    let point: usize = it.next()?.parse().ok()?;
    let seed: u64 = it.next()?.parse().ok()?;
    let values: Vec<f64> = it.map(|t| t.parse().ok()).collect::<Option<_>>()?;
    if job >= plan.jobs() || plan.job(job).0 != point || plan.seeds[plan.job(job).1] != seed {
        return None;
    }
    if values.len() != plan.metrics.len() {
        return None;
    }
    Some(JobResult {
        job,
        point,
        seed,
        values,
    })
}

/// `manifest.json`: which jobs a directory holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version.
    pub format_version: u32,
    /// The plan's hash.
    pub plan_hash: String,
    /// `[I, N]` for shard I of N, absent for a whole sweep.
    pub shard: Option<[usize; 2]>,
    /// Jobs this directory is responsible for.
    pub jobs_selected: usize,
    /// Of those, jobs with results.
    pub jobs_done: usize,
    /// Whether every selected job has a result.
    pub complete: bool,
}

impl Manifest {
    /// The JSON text.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("manifest serialises");
        s.push('\n');
        s
    }

    /// Reads one back.
    ///
    /// # Errors
    /// A malformed file.
    pub fn from_json(text: &str) -> Result<Manifest, SweepError> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| SweepError::Mismatch(format!("manifest.json: {e}")))?;
        if m.format_version != FORMAT_VERSION {
            return Err(SweepError::Mismatch(format!(
                "manifest.json: format_version {} (this sim writes {FORMAT_VERSION})",
                m.format_version
            )));
        }
        Ok(m)
    }
}

/// Jobs of shard `i` of `n`: those with `job % n == i`.
pub fn shard_jobs(plan: &Plan, shard: Option<(usize, usize)>) -> Vec<usize> {
    (0..plan.jobs())
        .filter(|j| shard.is_none_or(|(i, n)| j % n == i))
        .collect()
}

/// An axis value as a CSV cell: strings bare, everything else in TOML form.
pub(crate) fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn csv_err(e: csv::Error) -> io::Error {
    io::Error::other(e)
}

/// `results.csv`: one row per job in job order: point, seed, axis values, every metric.
///
/// # Errors
/// When the writer fails.
pub fn write_results_csv(w: impl Write, plan: &Plan, results: &[JobResult]) -> io::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    let mut header = vec!["point".to_string(), "seed".to_string()];
    header.extend(plan.axes.iter().cloned());
    header.extend(plan.metrics.iter().cloned());
    c.write_record(&header).map_err(csv_err)?;
    for r in results {
        let mut row = vec![r.point.to_string(), r.seed.to_string()];
        row.extend(plan.points[r.point].iter().map(cell));
        row.extend(r.values.iter().map(f64::to_string));
        c.write_record(&row).map_err(csv_err)?;
    }
    c.flush()
}

/// `points.csv`: one row per point: axis values, runs, `slo_ok` (on the means), then
/// `mean_<metric>` and `ci95_<metric>` (half-width; empty with one seed) for every metric.
///
/// # Errors
/// When the writer fails.
pub fn write_points_csv(w: impl Write, plan: &Plan, stats: &[PointStats]) -> io::Result<()> {
    let mut c = csv::Writer::from_writer(w);
    let mut header = vec!["point".to_string()];
    header.extend(plan.axes.iter().cloned());
    header.push("runs".into());
    header.push("slo_ok".into());
    for m in &plan.metrics {
        header.push(format!("mean_{m}"));
        header.push(format!("ci95_{m}"));
    }
    c.write_record(&header).map_err(csv_err)?;
    for s in stats {
        let mut row = vec![s.point.to_string()];
        row.extend(plan.points[s.point].iter().map(cell));
        row.push(s.runs.to_string());
        row.push(u8::from(s.slo_ok()).to_string());
        for (m, ci) in s.mean.iter().zip(&s.ci95) {
            row.push(m.to_string());
            row.push(ci.map_or_else(String::new, |x| x.to_string()));
        }
        c.write_record(&row).map_err(csv_err)?;
    }
    c.flush()
}

/// `pareto.csv`: the non-dominated points on (objective, latency), cheapest first, with both
/// means, their confidence half-widths and `slo_ok`.
///
/// # Errors
/// When the writer fails.
pub fn write_pareto_csv(
    w: impl Write,
    plan: &Plan,
    stats: &[PointStats],
    front: &[usize],
) -> io::Result<()> {
    let oi = plan.metric_index(&plan.objective).expect("checked in plan");
    let li = plan.metric_index(&plan.latency).expect("checked in plan");
    let mut c = csv::Writer::from_writer(w);
    let mut header = vec!["point".to_string()];
    header.extend(plan.axes.iter().cloned());
    header.extend([
        format!("mean_{}", plan.objective),
        format!("ci95_{}", plan.objective),
        format!("mean_{}", plan.latency),
        format!("ci95_{}", plan.latency),
        "slo_ok".to_string(),
    ]);
    c.write_record(&header).map_err(csv_err)?;
    let ci = |x: Option<f64>| x.map_or_else(String::new, |x| x.to_string());
    for &p in front {
        let s = &stats[p];
        let mut row = vec![p.to_string()];
        row.extend(plan.points[p].iter().map(cell));
        row.extend([
            s.mean[oi].to_string(),
            ci(s.ci95[oi]),
            s.mean[li].to_string(),
            ci(s.ci95[li]),
            u8::from(s.slo_ok()).to_string(),
        ]);
        c.write_record(&row).map_err(csv_err)?;
    }
    c.flush()
}

/// `best.toml`: the best point as a complete scenario, with a header saying where it came
/// from. `rebase` rewrites file paths (see [`Plan::point_text`]).
pub fn best_toml(
    plan: &Plan,
    stats: &[PointStats],
    point: usize,
    rebase: Option<&dyn Fn(&str) -> String>,
) -> String {
    let s = &stats[point];
    let oi = plan.metric_index(&plan.objective).expect("checked in plan");
    let li = plan.metric_index(&plan.latency).expect("checked in plan");
    let mut out = format!(
        "# The best point of sweep {:?} (plan {}): point {point} of {}, {}.\n\
         # Mean over {} seed(s): {} = {}, {} = {}. It meets the sweep's SLO.\n\
         # Run it with: sim run best.toml\n",
        plan.name,
        plan.hash,
        plan.points.len(),
        plan.describe_point(point),
        s.runs,
        plan.objective,
        s.mean[oi],
        plan.latency,
        s.mean[li],
    );
    out.push_str(&plan.point_text(point, rebase));
    out
}
