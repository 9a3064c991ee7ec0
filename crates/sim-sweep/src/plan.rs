//! From a sweep file to a validated plan: the points, the seeds, the metrics and the hash.

use std::collections::BTreeMap;
use std::path::Path;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use sim_scenario::{Files, Locator, Scenario, ScenarioError, ScenarioFile};
use toml::{Table, Value};

use crate::doc;
use crate::error::SweepError;
use crate::wire::{AxisTable, RangeTable, SweepFile};

/// Version of `plan.json`, the journal and the result files.
pub const FORMAT_VERSION: u32 = 2;

/// Summary metrics every run reports, in column order (see `sim_engine::Summary::metrics`).
/// SLO percentile keys that are not among them (`ttft_s_p95`) follow, and `slo_ok` (1 when
/// every SLO check of the run held) comes last.
pub fn metric_names() -> Vec<String> {
    sim_engine::Summary::default()
        .metrics()
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// The most points a plan holds: each point's scenario is loaded, checked and kept in memory
/// (tens of KB each) before any run, and planning 10,000 takes seconds. Ten times the
/// documented 1,000-point sweeps.
pub const MAX_POINTS: usize = 10_000;

/// The most runs (points × seeds) a plan holds: a few hundred bytes of results each, and at
/// tens of milliseconds per run about a day of CPU, which shards spread. Allows a
/// 100,000-job sweep with room to spare.
pub const MAX_JOBS: usize = 1_000_000;

/// The most segments of an axis path (the deepest scenario key has five:
/// `hpa.metrics.0.target_average_value` has four).
pub(crate) const MAX_AXIS_SEGMENTS: usize = 16;

/// SLO keys that set per-request thresholds rather than checks.
const PER_REQUEST_SLO_KEYS: &[&str] = &[
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "min_attainment",
    "max_failed_ratio",
];

/// Scenario keys that hold file paths (resolved against the base scenario's folder).
pub const PATH_KEYS: &[&[&str]] = &[
    &["workload", "path"],
    &["catalog", "path"],
    &["workload", "prompt_tokens", "trace_path"],
    &["workload", "output_tokens", "trace_path"],
];

/// One SLO check as a sweep judges it: the mean over seeds of `metric` against `threshold`.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The metric column (`ttft_s_p99`, `slo_attainment`).
    pub metric: String,
    /// The threshold.
    pub threshold: f64,
    /// True when the metric must be at least the threshold (attainment), false when at most.
    pub at_least: bool,
}

impl Check {
    /// Whether `value` meets the check.
    pub fn holds(&self, value: f64) -> bool {
        if self.at_least {
            value >= self.threshold
        } else {
            value <= self.threshold
        }
    }
}

/// A validated sweep: every point is a scenario that loaded without error.
#[derive(Clone, Debug)]
pub struct Plan {
    /// A name for reports.
    pub name: String,
    /// The simulator version that made the plan (part of the hash).
    pub sim_version: String,
    /// The base scenario's file name; relative paths inside it resolve against its folder.
    pub base_file: String,
    /// The base scenario document, with the sweep's `[slo]` applied, as TOML.
    pub base_text: String,
    /// Axis names, in order: the dotted key path an axis sets, or the name of an axis that
    /// sets several keys.
    pub axes: Vec<String>,
    /// Per axis, whether its values are tables of keys (`{ "a.b" = 1, unset = ["c"] }`)
    /// rather than the value of one key.
    pub axis_sets_keys: Vec<bool>,
    /// One value per axis for every point, in point order.
    pub points: Vec<Vec<Value>>,
    /// Replication seeds; seed `r` is the same at every point (common random numbers).
    pub seeds: Vec<u64>,
    /// The SLO every point is judged by.
    pub slo: BTreeMap<String, f64>,
    /// The metric the best point minimises.
    pub objective: String,
    /// The latency metric of the Pareto front.
    pub latency: String,
    /// Metric columns of every result row.
    pub metrics: Vec<String>,
    /// Hex hash of everything above: a resumed or merged sweep must have the same.
    pub hash: String,
    scenarios: Vec<Scenario>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanWire {
    format_version: u32,
    name: String,
    sim_version: String,
    plan_hash: String,
    base_file: String,
    base: String,
    axes: Vec<String>,
    #[serde(default)]
    axis_sets_keys: Vec<bool>,
    seeds: Vec<u64>,
    objective: String,
    latency: String,
    metrics: Vec<String>,
    jobs: usize,
    /// Per point, each axis value as an inline TOML value (exact, unlike JSON floats).
    points: Vec<Vec<String>>,
}

impl Plan {
    /// Jobs: one per point and seed, point-major.
    pub fn jobs(&self) -> usize {
        self.points.len() * self.seeds.len()
    }

    /// The point and replication of a job.
    pub fn job(&self, job: usize) -> (usize, usize) {
        (job / self.seeds.len(), job % self.seeds.len())
    }

    /// The validated scenario of a point (absent in a plan read back from `plan.json`).
    pub fn scenario(&self, point: usize) -> Option<&Scenario> {
        self.scenarios.get(point)
    }

    /// The checks points are judged by, in the engine's order: percentile objectives,
    /// attainment, then the failure budget (default 0) and at least one completed request,
    /// which every run carries.
    pub fn checks(&self) -> Vec<Check> {
        let mut out: Vec<Check> = self
            .slo
            .iter()
            .filter(|(k, _)| !PER_REQUEST_SLO_KEYS.contains(&k.as_str()))
            .map(|(k, &v)| Check {
                metric: k.clone(),
                threshold: v,
                at_least: false,
            })
            .collect();
        if let Some(&v) = self.slo.get("min_attainment") {
            out.push(Check {
                metric: "slo_attainment".into(),
                threshold: v,
                at_least: true,
            });
        }
        out.push(Check {
            metric: "failed_ratio".into(),
            threshold: self.slo.get("max_failed_ratio").copied().unwrap_or(0.0),
            at_least: false,
        });
        out.push(Check {
            metric: "requests_completed".into(),
            threshold: 1.0,
            at_least: true,
        });
        out.push(Check {
            metric: sim_engine::HELD_CHECK.into(),
            threshold: sim_engine::MAX_REQUESTS_HELD as f64,
            at_least: false,
        });
        out
    }

    /// The column index of a metric.
    pub fn metric_index(&self, name: &str) -> Option<usize> {
        self.metrics.iter().position(|m| m == name)
    }

    /// `axis=value` pairs of a point, for messages.
    pub fn describe_point(&self, point: usize) -> String {
        self.axes
            .iter()
            .zip(&self.points[point])
            .map(|(a, v)| format!("{a}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The scenario document of a point as TOML. `rebase` maps each file path in the
    /// scenario (resolved against the base's folder, as `sim run` would) to the text to write,
    /// so that the file still runs from wherever it is saved; pass `None` to keep paths as
    /// written.
    pub fn point_text(&self, point: usize, rebase: Option<&dyn Fn(&str) -> String>) -> String {
        let mut d: Table = toml::from_str(&self.base_text).expect("the plan's base parses");
        for ((axis, value), sets_keys) in self
            .axes
            .iter()
            .zip(&self.points[point])
            .zip(&self.axis_sets_keys)
        {
            if *sets_keys {
                apply_key_table(&mut d, value)
                    .expect("key tables were checked when the plan was made");
            } else {
                doc::set(&mut d, &doc::segments(axis), value.clone())
                    .expect("axis paths were checked when the plan was made");
            }
        }
        if let Some(rebase) = rebase {
            let dir = Path::new(&self.base_file).parent();
            for key in PATH_KEYS {
                if let Some(Value::String(rel)) = doc::get(&d, key) {
                    let resolved = match dir {
                        Some(dir)
                            if !Path::new(rel).is_absolute() && !dir.as_os_str().is_empty() =>
                        {
                            dir.join(rel).to_string_lossy().into_owned()
                        }
                        _ => rel.clone(),
                    };
                    let _ = doc::set(&mut d, key, Value::String(rebase(&resolved)));
                }
            }
        }
        toml::to_string(&d).expect("a TOML table serialises")
    }

    /// `plan.json`: the plan in a form [`Plan::from_json`] reads back (for resume and merge).
    pub fn to_json(&self) -> String {
        let mut s =
            serde_json::to_string_pretty(&self.wire(self.hash.clone())).expect("plan serialises");
        s.push('\n');
        s
    }

    /// Reads `plan.json` back. The result has no scenarios: it can aggregate and write
    /// results, not run.
    ///
    /// # Errors
    /// A malformed file, or one whose hash does not match its contents.
    pub fn from_json(text: &str) -> Result<Plan, SweepError> {
        let bad = |m: String| SweepError::Mismatch(format!("plan.json: {m}"));
        let w: PlanWire = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
        if w.format_version != FORMAT_VERSION {
            return Err(bad(format!(
                "format_version {} (this sim writes {FORMAT_VERSION})",
                w.format_version
            )));
        }
        let base: Table = toml::from_str(&w.base).map_err(|e| bad(e.to_string()))?;
        let slo = match base.get("slo") {
            Some(Value::Table(t)) => t
                .iter()
                .map(|(k, v)| {
                    let x = v
                        .as_float()
                        .or_else(|| v.as_integer().map(|i| i as f64))
                        .ok_or_else(|| bad(format!("slo.{k} is not a number")))?;
                    Ok((k.clone(), x))
                })
                .collect::<Result<_, SweepError>>()?,
            _ => BTreeMap::new(),
        };
        let points = w
            .points
            .iter()
            .map(|p| {
                if p.len() != w.axes.len() {
                    return Err(bad("a point has the wrong number of values".into()));
                }
                p.iter().map(|s| parse_inline(s).map_err(&bad)).collect()
            })
            .collect::<Result<Vec<Vec<Value>>, SweepError>>()?;
        let plan = Plan {
            name: w.name,
            sim_version: w.sim_version,
            base_file: w.base_file,
            base_text: w.base,
            axis_sets_keys: if w.axis_sets_keys.is_empty() {
                vec![false; w.axes.len()]
            } else {
                w.axis_sets_keys
            },
            axes: w.axes,
            points,
            seeds: w.seeds,
            slo,
            objective: w.objective,
            latency: w.latency,
            metrics: w.metrics,
            hash: String::new(),
            scenarios: Vec::new(),
        };
        if plan.seeds.is_empty() || plan.jobs() != w.jobs {
            return Err(bad("the job count does not match points × seeds".into()));
        }
        let hash = plan.compute_hash();
        if hash != w.plan_hash {
            return Err(bad(format!(
                "plan_hash {} does not match its contents ({hash}); the file was edited",
                w.plan_hash
            )));
        }
        Ok(Plan { hash, ..plan })
    }

    fn wire(&self, plan_hash: String) -> PlanWire {
        PlanWire {
            format_version: FORMAT_VERSION,
            name: self.name.clone(),
            sim_version: self.sim_version.clone(),
            plan_hash,
            base_file: self.base_file.clone(),
            base: self.base_text.clone(),
            axes: self.axes.clone(),
            axis_sets_keys: self.axis_sets_keys.clone(),
            seeds: self.seeds.clone(),
            objective: self.objective.clone(),
            latency: self.latency.clone(),
            metrics: self.metrics.clone(),
            jobs: self.jobs(),
            points: self
                .points
                .iter()
                .map(|p| p.iter().map(Value::to_string).collect())
                .collect(),
        }
    }

    fn compute_hash(&self) -> String {
        let text = serde_json::to_string(&self.wire(String::new())).expect("plan serialises");
        format!("{:016x}", fnv1a64(text.as_bytes()))
    }
}

/// FNV-1a, 64 bits: a stable, dependency-free checksum (not a cryptographic hash).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn parse_inline(s: &str) -> Result<Value, String> {
    let t: Table = toml::from_str(&format!("v = {s}")).map_err(|e| e.to_string())?;
    t.get("v").cloned().ok_or_else(|| "empty value".to_string())
}

/// How one axis produces values.
enum Source {
    Values(Vec<Value>),
    Range {
        range: RangeTable,
        log: bool,
        integer: bool,
    },
}

struct Axis {
    /// The key path, or the name of an axis that sets several keys.
    name: String,
    sets_keys: bool,
    source: Source,
}

/// The reserved key of a key table that lists keys to remove.
const UNSET: &str = "unset";

/// Applies one value of a several-keys axis: sets each dotted key, then removes the `unset`
/// ones.
fn apply_key_table(d: &mut Table, value: &Value) -> Result<(), String> {
    let Value::Table(t) = value else {
        return Err("the value must be a table of dotted keys, such as \
                    { \"routing.no_endpoint\" = \"queue\" }"
            .into());
    };
    for (k, v) in t {
        if k == UNSET {
            continue;
        }
        check_axis_key(k)?;
        doc::set(d, &doc::segments(k), v.clone()).map_err(|m| format!("{k}: {m}"))?;
    }
    if let Some(unset) = t.get(UNSET) {
        let Value::Array(keys) = unset else {
            return Err("unset must be a list of dotted keys".into());
        };
        for k in keys {
            let Value::String(k) = k else {
                return Err("unset must be a list of dotted keys".into());
            };
            check_axis_key(k)?;
            doc::remove(d, &doc::segments(k));
        }
    }
    Ok(())
}

/// A key an axis may set: a dotted path that is not the seed nor the SLO.
fn check_axis_key(path: &str) -> Result<(), String> {
    let segs = doc::segments(path);
    if segs.iter().any(|s| s.is_empty()) {
        return Err(format!("{path:?} is not a dotted key path"));
    }
    // Setting a deep path builds as many nested tables, which are then serialised and dropped
    // recursively: 275,000 segments overflowed the stack (found by `sim-fuzz`).
    if segs.len() > MAX_AXIS_SEGMENTS {
        return Err(format!(
            "an axis path has at most {MAX_AXIS_SEGMENTS} segments; this one has {}",
            segs.len()
        ));
    }
    match segs[0] {
        "seed" => Err("the seed is not an axis: use seeds = [...] or replications = N".into()),
        "slo" => {
            Err("the SLO judges points and is not an axis: put it in the sweep's [slo]".into())
        }
        _ => Ok(()),
    }
}

/// Reads, checks and enumerates a sweep file. `file` is the sweep file's path as the user
/// gave it (for messages and to resolve `base`); `files` reads the base scenario and the files
/// scenarios name; `sim_version` goes into the plan hash.
///
/// # Errors
/// The first problem, naming file:line:col: in the sweep file, in its base scenario, or at
/// the axis whose value a scenario check rejected.
pub fn plan(
    file: &str,
    text: &str,
    files: &dyn Files,
    sim_version: &str,
) -> Result<Plan, SweepError> {
    let w: SweepFile =
        toml::from_str(text).map_err(|e| sim_scenario::toml_error(file, text, &e))?;
    let loc = Locator::new(file, text);

    // The base scenario, validated on its own first so its errors point into it.
    let (base_file, mut base_doc) = match &w.base {
        Some(Value::String(rel)) => {
            let path = resolve(file, rel);
            let src = files
                .read_to_string(&path)
                .map_err(|e| loc.error(&["base"], format!("cannot read {path}: {e}")))?;
            sim_scenario::load(&path, &src, files)?;
            let d: Table =
                toml::from_str(&src).map_err(|e| sim_scenario::toml_error(&path, &src, &e))?;
            (path, d)
        }
        Some(Value::Table(t)) => {
            let src = toml::to_string(t).expect("a TOML table serialises");
            sim_scenario::load(file, &src, files).map_err(|e| {
                match e.line.and_then(|l| doc::path_at_line(&src, l)) {
                    Some(p) if e.file == file => {
                        let mut at: Vec<&str> = vec!["base"];
                        at.extend(p.iter().map(String::as_str));
                        loc.error(&at, e.message)
                    }
                    _ => e,
                }
            })?;
            (file.to_string(), t.clone())
        }
        Some(_) => {
            return Err(loc
                .error(&["base"], "base must be a scenario path or a [base] table")
                .into());
        }
        None => {
            return Err(ScenarioError::at_offset(
                file,
                text,
                0,
                "a sweep needs base = \"scenario.toml\" or a [base] table",
            )
            .into());
        }
    };

    // The sweep's SLO replaces the base's.
    if let Some(slo) = &w.slo {
        let t: Table = slo
            .iter()
            .map(|(k, &v)| (k.clone(), Value::Float(v)))
            .collect();
        base_doc.insert("slo".into(), Value::Table(t));
        let src = toml::to_string(&base_doc).expect("a TOML table serialises");
        sim_scenario::load(&base_file, &src, files).map_err(|e| {
            match e.line.and_then(|l| doc::path_at_line(&src, l)) {
                Some(p) if e.file == base_file && p.first().is_some_and(|s| s == "slo") => {
                    let at: Vec<&str> = p.iter().map(String::as_str).collect();
                    loc.error(&at, e.message)
                }
                _ => e,
            }
        })?;
    }
    let base_text = toml::to_string(&base_doc).expect("a TOML table serialises");
    let base_scenario: ScenarioFile =
        toml::from_str(&base_text).expect("the base was validated above");
    let slo = base_scenario.slo.clone();

    // Seeds.
    let seeds = match (&w.seeds, w.replications) {
        (Some(_), Some(_)) => {
            return Err(loc
                .error(&["replications"], "give seeds or replications, not both")
                .into());
        }
        (Some(s), None) => {
            if s.is_empty() {
                return Err(loc.error(&["seeds"], "seeds must not be empty").into());
            }
            let mut sorted = s.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != s.len() {
                return Err(loc.error(&["seeds"], "seeds must not repeat").into());
            }
            s.clone()
        }
        (None, Some(n)) => {
            if n == 0 || n > 1_000_000 {
                return Err(loc
                    .error(
                        &["replications"],
                        "replications must be between 1 and 1000000",
                    )
                    .into());
            }
            (1..=n).collect()
        }
        (None, None) => vec![base_scenario.seed.unwrap_or(1)],
    };

    // Metrics, objective, latency.
    let mut metrics = metric_names();
    for key in slo.keys() {
        if !PER_REQUEST_SLO_KEYS.contains(&key.as_str()) && !metrics.contains(key) {
            metrics.push(key.clone());
        }
    }
    metrics.push("slo_ok".into());
    let objective = w.objective.clone().unwrap_or_else(|| "cost_usd".into());
    let latency = w.latency.clone().unwrap_or_else(|| "ttft_s_p99".into());
    for (key, value) in [("objective", &objective), ("latency", &latency)] {
        if !metrics.contains(value) || value == "slo_ok" {
            return Err(loc
                .error(
                    &[key],
                    format!(
                        "unknown metric {value:?}; known: {}",
                        metrics[..metrics.len() - 1].join(", ")
                    ),
                )
                .into());
        }
    }

    // Axes.
    let mut axes: Vec<Axis> = Vec::new();
    for (i, a) in w.axes.iter().enumerate() {
        let idx = i.to_string();
        let err = |key: &str, m: String| loc.error(&["axis", &idx, key], m);
        axes.push(axis(a, &base_doc, &|key, m| err(key, m))?);
        let this = &axes[i].name;
        if axes[..i].iter().any(|b| &b.name == this) {
            return Err(err("path", format!("axis {this} appears twice")).into());
        }
    }

    // Points.
    let sampling_mode = w.sampling.as_ref().map_or("grid", |s| s.mode.as_str());
    let points = match sampling_mode {
        "grid" => {
            if w.sampling.as_ref().is_some_and(|s| s.points.is_some()) {
                return Err(loc
                    .error(
                        &["sampling", "points"],
                        "points applies to mode = \"random\" and \"lhs\"; a grid has every combination",
                    )
                    .into());
            }
            let mut lists = Vec::new();
            let mut size = 1usize;
            for (i, a) in axes.iter().enumerate() {
                let list = grid_values(a)
                    .map_err(|(key, m)| loc.error(&["axis", &i.to_string(), key], m))?;
                // Checked before the product is built, so a huge grid fails at once.
                size = size.saturating_mul(list.len());
                if size > MAX_POINTS {
                    return Err(loc
                        .error(
                            &["axis", &i.to_string()],
                            format!("the grid up to this axis has {size} points; a plan holds at most {MAX_POINTS}"),
                        )
                        .into());
                }
                lists.push(list);
            }
            cartesian(&lists)
        }
        "random" | "lhs" => {
            let s = w.sampling.as_ref().expect("mode came from [sampling]");
            let n = s.points.ok_or_else(|| {
                loc.error(
                    &["sampling"],
                    format!("mode = {sampling_mode:?} needs points"),
                )
            })?;
            if n == 0 || n as usize > MAX_POINTS {
                return Err(loc
                    .error(
                        &["sampling", "points"],
                        format!("points must be between 1 and {MAX_POINTS}, got {n}"),
                    )
                    .into());
            }
            let mut lists = Vec::new();
            for (i, a) in axes.iter().enumerate() {
                lists.push(match &a.source {
                    Source::Range {
                        range: RangeTable { steps: None, .. },
                        ..
                    } => None,
                    _ => Some(
                        grid_values(a)
                            .map_err(|(key, m)| loc.error(&["axis", &i.to_string(), key], m))?,
                    ),
                });
            }
            let rng_streams = sim_des::RngStreams::new(s.seed.unwrap_or(1));
            let mut rng = rng_streams.stream("sweep_sampling");
            sample(&axes, &lists, n as usize, sampling_mode == "lhs", &mut rng)
        }
        other => {
            return Err(loc
                .error(
                    &["sampling", "mode"],
                    format!("mode must be \"grid\", \"random\" or \"lhs\", got {other:?}"),
                )
                .into());
        }
    };
    let jobs = points.len().saturating_mul(seeds.len());
    if jobs > MAX_JOBS {
        let key = match (&w.seeds, w.replications) {
            (Some(_), _) => "seeds",
            (None, Some(_)) => "replications",
            (None, None) => "axis",
        };
        return Err(loc
            .error(
                &[key],
                format!(
                    "{} points × {} seeds is {jobs} runs; a plan holds at most {MAX_JOBS}",
                    points.len(),
                    seeds.len()
                ),
            )
            .into());
    }

    let name = w.name.clone().unwrap_or_else(|| {
        Path::new(file)
            .file_stem()
            .map_or_else(|| "sweep".into(), |s| s.to_string_lossy().into_owned())
    });
    let mut plan = Plan {
        name,
        sim_version: sim_version.to_string(),
        base_file,
        base_text,
        axes: axes.iter().map(|a| a.name.clone()).collect(),
        axis_sets_keys: axes.iter().map(|a| a.sets_keys).collect(),
        points,
        seeds,
        slo,
        objective,
        latency,
        metrics,
        hash: String::new(),
        scenarios: Vec::new(),
    };
    plan.hash = plan.compute_hash();

    // Every point must load like a scenario file.
    let mut scenarios = Vec::with_capacity(plan.points.len());
    for p in 0..plan.points.len() {
        let src = plan.point_text(p, None);
        let sc = sim_scenario::load(&plan.base_file, &src, files)
            .map_err(|e| blame(&plan, &w.axes, &loc, p, &src, e))?;
        scenarios.push(sc);
    }
    plan.scenarios = scenarios;
    Ok(plan)
}

/// Turns an error in a point's scenario into an error at the axis that set the bad key.
fn blame(
    plan: &Plan,
    wire_axes: &[AxisTable],
    loc: &Locator<'_>,
    point: usize,
    src: &str,
    e: ScenarioError,
) -> ScenarioError {
    if e.file != plan.base_file {
        return e;
    }
    let key = e.line.and_then(|l| doc::path_at_line(src, l));
    if let Some(key) = &key {
        for (i, axis) in plan.axes.iter().enumerate() {
            let value = &plan.points[point][i];
            // The keys this axis set at this point.
            let set: Vec<Vec<&str>> = match (plan.axis_sets_keys[i], value) {
                (true, Value::Table(t)) => {
                    let mut keys: Vec<Vec<&str>> = t
                        .keys()
                        .filter(|k| *k != UNSET)
                        .map(|k| doc::segments(k))
                        .collect();
                    if let Some(Value::Array(u)) = t.get(UNSET) {
                        keys.extend(u.iter().filter_map(Value::as_str).map(doc::segments));
                    }
                    keys
                }
                _ => vec![doc::segments(axis)],
            };
            let hit = set.iter().any(|segs| {
                let n = segs.len().min(key.len());
                segs[..n] == key[..n]
            });
            if hit {
                let idx = i.to_string();
                let j = wire_axes[i]
                    .values
                    .as_ref()
                    .and_then(|vs| vs.iter().position(|v| v == value))
                    .map(|j| j.to_string());
                let at: Vec<&str> = match (&j, &wire_axes[i]) {
                    (Some(j), _) => vec!["axis", &idx, "values", j],
                    (None, a) if a.log.is_some() => vec!["axis", &idx, "log"],
                    (None, a) if a.linear.is_some() => vec!["axis", &idx, "linear"],
                    _ => vec!["axis", &idx, "path"],
                };
                return loc.error(&at, format!("{axis} = {value}: {}", e.message));
            }
        }
    }
    let key = key.map_or_else(String::new, |k| format!(" at {}", k.join(".")));
    loc.error(
        &["axis"],
        format!(
            "point {point} ({}){key}: {}",
            plan.describe_point(point),
            e.message
        ),
    )
}

fn resolve(file: &str, rel: &str) -> String {
    let p = Path::new(rel);
    if p.is_absolute() {
        return rel.to_string();
    }
    match Path::new(file).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join(p).to_string_lossy().into_owned(),
        _ => rel.to_string(),
    }
}

/// Checks one axis against the schema and works out whether its field is an integer.
fn axis(
    a: &AxisTable,
    base: &Table,
    err: &dyn Fn(&str, String) -> ScenarioError,
) -> Result<Axis, ScenarioError> {
    let path = match (&a.path, &a.name) {
        (Some(p), None) => p.clone(),
        (None, Some(name)) => return key_table_axis(a, name, base, err),
        _ => {
            return Err(err(
                "path",
                "an axis needs path = \"dotted.key\", or name = \"...\" with values that are \
                 tables of keys to set together"
                    .into(),
            ));
        }
    };
    let segs = doc::segments(&path);
    check_axis_key(&path).map_err(|m| err("path", m))?;
    let given = [a.values.is_some(), a.linear.is_some(), a.log.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(err(
            "path",
            format!("axis {} needs exactly one of values, linear or log", path),
        ));
    }
    // Probe the schema: does the path take a float, an integer, or neither?
    let probe = |v: Value| -> Result<(), String> {
        let mut d = base.clone();
        doc::set(&mut d, &segs, v)?;
        let text = toml::to_string(&d).map_err(|e| e.to_string())?;
        toml::from_str::<ScenarioFile>(&text)
            .map(|_| ())
            .map_err(|e| e.message().trim().to_string())
    };
    if let Some(values) = &a.values {
        if values.is_empty() {
            return Err(err("values", "values must not be empty".into()));
        }
        let mut d = base.clone();
        doc::set(&mut d, &segs, values[0].clone())
            .map_err(|m| err("path", format!("axis {}: {m}", path)))?;
        return Ok(Axis {
            name: path.clone(),
            sets_keys: false,
            source: Source::Values(values.clone()),
        });
    }
    let (key, range, log) = match (a.linear, a.log) {
        (Some(r), None) => ("linear", r, false),
        (None, Some(r)) => ("log", r, true),
        _ => unreachable!("exactly one range was checked above"),
    };
    if !(range.from.is_finite() && range.to.is_finite()) {
        return Err(err(key, "from and to must be finite numbers".into()));
    }
    if log && !(range.from > 0.0 && range.to > 0.0) {
        return Err(err(key, "a log range needs from > 0 and to > 0".into()));
    }
    if range.steps == Some(0) {
        return Err(err(key, "steps must be at least 1".into()));
    }
    let integer = match probe(Value::Float(0.5)) {
        Ok(()) => false,
        Err(float_err) => match probe(Value::Integer(1)) {
            Ok(()) => true,
            Err(_) => {
                return Err(err(
                    "path",
                    format!("axis {path} is not a numeric scenario key: {float_err}"),
                ));
            }
        },
    };
    Ok(Axis {
        name: path,
        sets_keys: false,
        source: Source::Range {
            range,
            log,
            integer,
        },
    })
}

/// An axis whose values are tables of keys set (and `unset`) together.
fn key_table_axis(
    a: &AxisTable,
    name: &str,
    base: &Table,
    err: &dyn Fn(&str, String) -> ScenarioError,
) -> Result<Axis, ScenarioError> {
    if a.linear.is_some() || a.log.is_some() {
        return Err(err(
            "name",
            format!("axis {name} sets several keys, so it takes values = [...], not a range"),
        ));
    }
    let values = a.values.as_ref().ok_or_else(|| {
        err(
            "name",
            format!("axis {name} needs values = [{{ \"dotted.key\" = value, ... }}, ...]"),
        )
    })?;
    if values.is_empty() {
        return Err(err("values", "values must not be empty".into()));
    }
    for (j, v) in values.iter().enumerate() {
        let mut d = base.clone();
        apply_key_table(&mut d, v)
            .map_err(|m| err("values", format!("value {j} of axis {name}: {m}")))?;
    }
    Ok(Axis {
        name: name.to_string(),
        sets_keys: true,
        source: Source::Values(values.clone()),
    })
}

/// A range value at `u` in [0, 1], rounded for its field.
fn range_value(range: &RangeTable, log: bool, integer: bool, u: f64) -> Value {
    let x = if log {
        (range.from.ln() + (range.to.ln() - range.from.ln()) * u).exp()
    } else {
        range.from + (range.to - range.from) * u
    };
    if integer {
        Value::Integer(x.round() as i64)
    } else {
        Value::Float(round_sig(x))
    }
}

/// Rounds to 12 significant digits, so that `0.1 * 3` is written as `0.3`.
fn round_sig(x: f64) -> f64 {
    format!("{x:.11e}").parse().unwrap_or(x)
}

/// The finite list of an axis' values (ranges need steps), deduplicated after rounding.
fn grid_values(a: &Axis) -> Result<Vec<Value>, (&'static str, String)> {
    match &a.source {
        Source::Values(v) => Ok(v.clone()),
        Source::Range {
            range,
            log,
            integer,
        } => {
            let key = if *log { "log" } else { "linear" };
            let steps = range.steps.ok_or((
                key,
                "a grid needs steps (or use [sampling] mode = \"random\" or \"lhs\")".to_string(),
            ))?;
            if steps as usize > MAX_POINTS {
                return Err((
                    key,
                    format!("steps must be at most {MAX_POINTS}, got {steps}"),
                ));
            }
            let mut out: Vec<Value> = Vec::new();
            for i in 0..steps {
                let u = if steps == 1 {
                    0.0
                } else {
                    f64::from(i) / f64::from(steps - 1)
                };
                let v = range_value(range, *log, *integer, u);
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(out)
        }
    }
}

/// Every combination, the first axis varying slowest.
fn cartesian(lists: &[Vec<Value>]) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = vec![Vec::new()];
    for list in lists {
        let mut next = Vec::with_capacity(out.len() * list.len());
        for prefix in &out {
            for v in list {
                let mut p = prefix.clone();
                p.push(v.clone());
                next.push(p);
            }
        }
        out = next;
    }
    out
}

/// Random or Latin-hypercube points; repeated points (after rounding) are dropped.
fn sample(
    axes: &[Axis],
    lists: &[Option<Vec<Value>>],
    n: usize,
    lhs: bool,
    rng: &mut sim_des::SimRng,
) -> Vec<Vec<Value>> {
    // u[axis][point] in [0, 1).
    let mut u: Vec<Vec<f64>> = Vec::with_capacity(axes.len());
    for _ in axes {
        if lhs {
            let mut perm: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                let j = rng.random_range(0..=i);
                perm.swap(i, j);
            }
            u.push(
                perm.iter()
                    .map(|&k| (k as f64 + rng.random::<f64>()) / n as f64)
                    .collect(),
            );
        } else {
            u.push((0..n).map(|_| rng.random::<f64>()).collect());
        }
    }
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(n);
    for p in 0..n {
        let point: Vec<Value> = axes
            .iter()
            .zip(lists)
            .zip(&u)
            .map(|((a, list), ua)| {
                let ui = ua[p];
                match (list, &a.source) {
                    (Some(list), _) => {
                        list[((ui * list.len() as f64) as usize).min(list.len() - 1)].clone()
                    }
                    (
                        None,
                        Source::Range {
                            range,
                            log,
                            integer,
                        },
                    ) => range_value(range, *log, *integer, ui),
                    (None, Source::Values(list)) => {
                        list[((ui * list.len() as f64) as usize).min(list.len() - 1)].clone()
                    }
                }
            })
            .collect();
        if !out.contains(&point) {
            out.push(point);
        }
    }
    out
}

/// Whether a TOML text is a sweep file (it has `base` or `[[axis]]`) rather than a scenario.
pub fn is_sweep(text: &str) -> bool {
    toml::from_str::<Table>(text).is_ok_and(|t| t.contains_key("axis") || t.contains_key("base"))
}
