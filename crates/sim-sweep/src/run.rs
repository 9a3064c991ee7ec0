//! Running a plan's jobs: traces held in memory once (up to a budget; past it a trace is
//! read again for each run), runs in a rayon pool, results in job order whatever the thread
//! count.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use sim_engine::Summary;
use sim_scenario::{ScenarioError, WorkloadPlan};
use sim_workload::{Request, RequestStream, TraceFormat, Workload};

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

/// The most trace requests a sweep holds in memory, over all its traces: 8 M at 24 bytes
/// is 192 MB. A trace past the budget is read from its file for each run instead, which
/// costs parsing time but no memory.
pub const MAX_HELD_TRACE_REQUESTS: usize = 8_000_000;

/// Opens a trace file for reading (the caller does IO; called from the worker threads).
pub type OpenTrace = dyn Fn(&str) -> Result<Box<dyn BufRead>, String> + Send + Sync;

/// A trace the plan's points read: parsed and held, or read again for each run.
enum Trace {
    Held(Arc<[Request]>),
    Streamed,
}

/// Runs jobs of one plan. Holds the traces its points read, parsed once, up to
/// [`MAX_HELD_TRACE_REQUESTS`].
pub struct Runner<'o> {
    traces: Vec<(String, TraceFormat, Trace)>,
    open: &'o OpenTrace,
}

impl<'o> Runner<'o> {
    /// Parses the traces of every point, holding them while they fit the budget.
    ///
    /// # Errors
    /// A trace that cannot be opened or parsed, naming file:line:col.
    pub fn new(plan: &Plan, open: &'o OpenTrace) -> Result<Runner<'o>, SweepError> {
        Runner::with_budget(plan, open, MAX_HELD_TRACE_REQUESTS)
    }

    /// As [`Runner::new`], holding at most `budget` requests (a test reaches it with a
    /// small trace).
    ///
    /// # Errors
    /// As [`Runner::new`].
    #[doc(hidden)]
    pub fn with_budget(
        plan: &Plan,
        open: &'o OpenTrace,
        budget: usize,
    ) -> Result<Runner<'o>, SweepError> {
        let mut traces: Vec<(String, TraceFormat, Trace)> = Vec::new();
        let mut held = 0usize;
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
                let reader = open(path).map_err(|e| {
                    ScenarioError::whole_file(path, format!("cannot open trace: {e}"))
                })?;
                let mut requests = Vec::new();
                let mut fits = true;
                for r in sim_workload::read_trace(*format, reader) {
                    if held + requests.len() >= budget {
                        fits = false;
                        break;
                    }
                    requests.push(r.map_err(|e| sim_scenario::trace_error(path, &e))?);
                }
                let trace = if fits {
                    held += requests.len();
                    Trace::Held(requests.into())
                } else {
                    Trace::Streamed
                };
                traces.push((path.clone(), *format, trace));
            }
        }
        Ok(Runner { traces, open })
    }

    /// How many of the plan's traces are held in memory, and how many are read per run.
    pub fn traces_held_and_streamed(&self) -> (usize, usize) {
        let held = self
            .traces
            .iter()
            .filter(|(_, _, t)| matches!(t, Trace::Held(_)))
            .count();
        (held, self.traces.len() - held)
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
        let (stream, source): (Workload<'_>, Option<&str>) = match &sc.workload {
            WorkloadPlan::Synthetic { .. } => (sc.workload.stream(seed, None), None),
            WorkloadPlan::ClosedLoop { replay, .. } => match replay {
                // Replayed lengths are read once per run, as they are sent.
                Some((path, _)) => {
                    let reader = (self.open)(path).map_err(|e| {
                        ScenarioError::whole_file(path, format!("cannot open trace: {e}"))
                    })?;
                    (sc.workload.stream(seed, Some(reader)), Some(path.as_str()))
                }
                None => (sc.workload.stream(seed, None), None),
            },
            WorkloadPlan::Trace {
                path,
                format,
                transform,
            } => {
                let trace = self
                    .traces
                    .iter()
                    .find(|(p, f, _)| p == path && f == format)
                    .map(|(_, _, t)| t)
                    .ok_or_else(|| SweepError::Run(format!("{path}: trace not loaded")))?;
                let raw: RequestStream<'_> = match trace {
                    Trace::Held(requests) => Box::new(requests.iter().copied().map(Ok)),
                    Trace::Streamed => {
                        let reader = (self.open)(path).map_err(|e| {
                            ScenarioError::whole_file(path, format!("cannot open trace: {e}"))
                        })?;
                        sim_workload::read_trace(*format, reader)
                    }
                };
                (
                    sim_workload::transform(raw, transform).into(),
                    Some(path.as_str()),
                )
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
