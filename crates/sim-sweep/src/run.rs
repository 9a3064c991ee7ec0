//! Running a plan's jobs: traces held in memory once, runs in a rayon pool, results in job
//! order whatever the thread count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use sim_engine::Summary;
use sim_scenario::{ScenarioError, WorkloadPlan};
use sim_workload::{Request, RequestStream, TraceFormat};

use crate::error::SweepError;
use crate::plan::Plan;

/// What one run (one point, one seed) produced: the plan's metric columns.
#[derive(Clone, Debug, PartialEq)]
pub struct JobResult {
    /// Job index (`point * seeds + replication`).
    pub job: usize,
    /// Point index.
    pub point: usize,
    /// The seed the run used.
    pub seed: u64,
    /// One value per [`Plan::metrics`] column, rounded to 9 decimals.
    pub values: Vec<f64>,
}

/// Runs jobs of one plan. Holds every trace the plan's points read, parsed once.
pub struct Runner {
    traces: Vec<(String, TraceFormat, Arc<[Request]>)>,
}

impl Runner {
    /// Parses the traces of every point. `read` returns a file's bytes (the caller does IO).
    ///
    /// # Errors
    /// A trace that cannot be read or parsed, naming file:line:col.
    pub fn new(
        plan: &Plan,
        read: &dyn Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<Runner, SweepError> {
        let mut traces: Vec<(String, TraceFormat, Arc<[Request]>)> = Vec::new();
        for p in 0..plan.points.len() {
            let Some(sc) = plan.scenario(p) else {
                return Err(SweepError::Run(
                    "this plan was read back from plan.json and cannot run".into(),
                ));
            };
            if let WorkloadPlan::Trace { path, format, .. } = &sc.workload {
                if traces.iter().any(|(p, f, _)| p == path && f == format) {
                    continue;
                }
                let bytes = read(path).map_err(|e| {
                    ScenarioError::whole_file(path, format!("cannot open trace: {e}"))
                })?;
                let requests: Vec<Request> =
                    sim_workload::read_trace(*format, std::io::Cursor::new(bytes))
                        .collect::<Result<_, _>>()
                        .map_err(|e| sim_scenario::trace_error(path, &e))?;
                traces.push((path.clone(), *format, requests.into()));
            }
        }
        Ok(Runner { traces })
    }

    /// Runs one job.
    ///
    /// # Errors
    /// When the engine rejects the workload (a trace error surfacing mid-run).
    pub fn run_job(&self, plan: &Plan, job: usize) -> Result<JobResult, SweepError> {
        let (point, rep) = plan.job(job);
        let seed = plan.seeds[rep];
        let sc = plan
            .scenario(point)
            .ok_or_else(|| SweepError::Run("the plan has no scenarios to run".into()))?;
        let (stream, source): (RequestStream<'_>, Option<&str>) = match &sc.workload {
            WorkloadPlan::Synthetic { .. } => (sc.workload.stream(seed, None), None),
            WorkloadPlan::Trace {
                path,
                format,
                transform,
            } => {
                let requests = self
                    .traces
                    .iter()
                    .find(|(p, f, _)| p == path && f == format)
                    .map(|(_, _, r)| r)
                    .ok_or_else(|| SweepError::Run(format!("{path}: trace not loaded")))?;
                let raw: RequestStream<'_> = Box::new(requests.iter().copied().map(Ok));
                (sim_workload::transform(raw, transform), Some(path.as_str()))
            }
        };
        let report = sim_engine::run(&sc.spec, seed, stream, &mut ()).map_err(|e| match e {
            sim_engine::RunError::Workload(e) => SweepError::Input(sc.run_error(source, &e)),
            // The sweep's observer never stops a run.
            sim_engine::RunError::Stopped => SweepError::Run(e.to_string()),
        })?;
        Ok(JobResult {
            job,
            point,
            seed,
            values: metric_values(plan, &report.summary),
        })
    }

    /// Runs `jobs` on `threads` threads (each run single-threaded) and returns the results
    /// in the order of `jobs`. `on_done` sees each result as it completes (from any thread;
    /// the CLI journals it and moves the progress bar). Once `stop` is set no new job starts;
    /// the results then hold only the jobs that ran.
    ///
    /// # Errors
    /// The first failed job in `jobs` order; other jobs stop starting after a failure.
    pub fn run_jobs(
        &self,
        plan: &Plan,
        jobs: &[usize],
        threads: usize,
        on_done: &(dyn Fn(&JobResult) + Sync),
        stop: &AtomicBool,
    ) -> Result<Vec<JobResult>, SweepError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build()
            .map_err(|e| SweepError::Run(format!("cannot start threads: {e}")))?;
        let outcomes: Vec<Option<Result<JobResult, SweepError>>> = pool.install(|| {
            jobs.par_iter()
                .with_max_len(1)
                .map(|&job| {
                    if stop.load(Ordering::SeqCst) {
                        return None;
                    }
                    let r = self.run_job(plan, job);
                    match &r {
                        Ok(res) => on_done(res),
                        Err(_) => stop.store(true, Ordering::SeqCst),
                    }
                    Some(r)
                })
                .collect()
        });
        outcomes.into_iter().flatten().collect()
    }
}

/// Rounds to 9 decimals (nanoseconds for times), as `summary.json` does.
pub(crate) fn round9(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn metric_values(plan: &Plan, s: &Summary) -> Vec<f64> {
    let named = s.metrics();
    let checks = plan.checks();
    plan.metrics
        .iter()
        .map(|m| {
            let v = if m == "slo_ok" {
                f64::from(u8::from(s.slo_ok()))
            } else if let Some((_, v)) = named.iter().find(|(n, _)| n == m) {
                *v
            } else {
                // An SLO percentile key outside the summary (`ttft_s_p95`): the engine's
                // check at the same position (both follow the [slo] table's key order).
                checks
                    .iter()
                    .zip(&s.slo_checks)
                    .find(|(c, _)| &c.metric == m)
                    .map_or(f64::NAN, |(_, r)| r.actual)
            };
            round9(v)
        })
        .collect()
}
