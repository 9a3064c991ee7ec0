//! Running a plan's jobs: traces held in memory once, runs in a rayon pool, results in job
//! order whatever the thread count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use sim_engine::{RunOptions, Summary};
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
        let (stream, source): (RequestStream<'_>, &str) = match &sc.workload {
            WorkloadPlan::Synthetic { .. } => (sc.workload.stream(seed, None), "workload"),
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
                (sim_workload::transform(raw, transform), path.as_str())
            }
        };
        let report = sim_engine::run(&sc.spec, seed, stream, &RunOptions::default())
            .map_err(|e| SweepError::Input(sim_scenario::trace_error(source, &e)))?;
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
    let checks = plan.checks();
    plan.metrics
        .iter()
        .map(|m| {
            let v = match m.as_str() {
                "requests_total" => s.requests_total as f64,
                "requests_completed" => s.requests_completed as f64,
                "requests_failed" => s.requests_failed as f64,
                "requests_in_flight_at_end" => s.requests_in_flight_at_end as f64,
                "ttft_s_mean" => s.ttft_s.mean,
                "ttft_s_p50" => s.ttft_s.p50,
                "ttft_s_p90" => s.ttft_s.p90,
                "ttft_s_p99" => s.ttft_s.p99,
                "tpot_s_mean" => s.tpot_s.mean,
                "tpot_s_p50" => s.tpot_s.p50,
                "tpot_s_p90" => s.tpot_s.p90,
                "tpot_s_p99" => s.tpot_s.p99,
                "e2e_s_mean" => s.e2e_s.mean,
                "e2e_s_p50" => s.e2e_s.p50,
                "e2e_s_p90" => s.e2e_s.p90,
                "e2e_s_p99" => s.e2e_s.p99,
                "queue_s_mean" => s.queue_s.mean,
                "queue_s_p50" => s.queue_s.p50,
                "queue_s_p90" => s.queue_s.p90,
                "queue_s_p99" => s.queue_s.p99,
                "slo_attainment" => s.slo_attainment,
                "gpu_hours" => s.gpu_hours,
                "cost_usd" => s.cost_usd,
                "replicas_mean" => s.replicas.mean,
                "replicas_min" => f64::from(s.replicas.min),
                "replicas_max" => f64::from(s.replicas.max),
                "desired_replicas_mean" => s.desired_replicas.mean,
                "desired_replicas_max" => f64::from(s.desired_replicas.max),
                "scale_events" => s.scale_events as f64,
                "scale_events_per_hour" => s.scale_events_per_hour,
                "time_at_max_s" => s.time_at_max_s,
                "time_at_zero_s" => s.time_at_zero_s,
                "sim_duration_s" => s.sim_duration_s,
                "preemptions_total" => s.preemptions_total as f64,
                "events_total" => s.events_total as f64,
                "slo_ok" => f64::from(u8::from(s.slo_checks.iter().all(|c| c.ok))),
                // An SLO percentile key: the engine's check of the same name, by position.
                other => checks
                    .iter()
                    .zip(&s.slo_checks)
                    .find(|(c, _)| c.metric == other)
                    .map_or(f64::NAN, |(_, r)| r.actual),
            };
            round9(v)
        })
        .collect()
}
