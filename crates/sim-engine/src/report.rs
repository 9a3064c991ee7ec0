//! What a run produces: a summary, a timeline and (optionally) one record per request.
//!
//! These are plain data. Writing them to files is `sim-report`'s job.

use hdrhistogram::Histogram;

use crate::spec::LatencyMetric;

/// Mean and percentiles of one latency, in seconds. All zero when nothing was recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Percentiles {
    /// Arithmetic mean (exact).
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Number of samples.
    pub count: u64,
}

/// Why a request failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailureReason {
    /// No Ready replica and the Service fails fast.
    NoEndpoint,
    /// Waited at the gateway longer than its timeout.
    GatewayTimeout,
    /// The client gave up.
    ClientTimeout,
    /// Prompt plus output exceed the model's context (HTTP 400 from vLLM).
    ContextLength,
    /// Routed to a pod whose server was not up yet (readiness probe passed too early).
    NotServing,
    /// The pod terminated before the request finished.
    PodTerminated,
}

impl FailureReason {
    /// All reasons, in report order.
    pub const ALL: [FailureReason; 6] = [
        FailureReason::NoEndpoint,
        FailureReason::GatewayTimeout,
        FailureReason::ClientTimeout,
        FailureReason::ContextLength,
        FailureReason::NotServing,
        FailureReason::PodTerminated,
    ];

    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            FailureReason::NoEndpoint => "no_endpoint",
            FailureReason::GatewayTimeout => "gateway_timeout",
            FailureReason::ClientTimeout => "client_timeout",
            FailureReason::ContextLength => "context_length",
            FailureReason::NotServing => "not_serving",
            FailureReason::PodTerminated => "pod_terminated",
        }
    }
}

/// What became of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It finished.
    Completed,
    /// It failed.
    Failed(FailureReason),
    /// It was still in flight when the run stopped (drain limit).
    Unfinished,
}

impl Outcome {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed(f) => f.name(),
            Outcome::Unfinished => "unfinished",
        }
    }
}

/// One status condition of an autoscaler object at the end of the run, as
/// `kubectl describe` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionSnapshot {
    /// The object, e.g. `horizontalpodautoscaler/mistral-vllm-hpa`.
    pub object: String,
    /// The condition type, e.g. `ScalingActive`.
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The reason, e.g. `FailedGetPodsMetric`.
    pub reason: String,
    /// The message.
    pub message: String,
}

/// Outcome of one percentile check of the SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct SloCheckResult {
    /// E.g. `ttft_s_p99`.
    pub name: String,
    /// The threshold, seconds (or a share for attainment).
    pub threshold: f64,
    /// What the run measured.
    pub actual: f64,
    /// Whether it held.
    pub ok: bool,
}

/// Minimum, maximum and time-weighted mean of a count over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CountStats {
    /// Smallest value held at any time.
    pub min: u32,
    /// Largest value held at any time.
    pub max: u32,
    /// Time-weighted mean.
    pub mean: f64,
}

/// The headline numbers of one run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// The seed the run used.
    pub seed: u64,
    /// Requests that arrived.
    pub requests_total: u64,
    /// Requests that finished.
    pub requests_completed: u64,
    /// Requests that failed, for any reason.
    pub requests_failed: u64,
    /// Requests still unresolved when the run stopped (drain limit reached).
    pub requests_in_flight_at_end: u64,
    /// Failed requests by reason, in [`FailureReason::ALL`] order.
    pub failures: Vec<(FailureReason, u64)>,
    /// Time to first token of completed requests.
    pub ttft_s: Percentiles,
    /// Time per output token of completed requests with more than one output token.
    pub tpot_s: Percentiles,
    /// End-to-end latency of completed requests.
    pub e2e_s: Percentiles,
    /// Time from arrival to first scheduled in an engine, of completed requests.
    pub queue_s: Percentiles,
    /// Share of all requests (failed ones included) that completed and met every
    /// per-request SLO threshold.
    pub slo_attainment: f64,
    /// Percentile and attainment checks from the SLO.
    pub slo_checks: Vec<SloCheckResult>,
    /// GPU-hours: GPUs held by pods, from binding to a node until the pod is gone.
    pub gpu_hours: f64,
    /// `gpu_hours` times the price.
    pub cost_usd: f64,
    /// Ready replicas over the run.
    pub replicas: CountStats,
    /// The Deployment's `spec.replicas` over the run.
    pub desired_replicas: CountStats,
    /// Times the Deployment's `spec.replicas` changed.
    pub scale_events: u64,
    /// `scale_events` per simulated hour (flapping shows here).
    pub scale_events_per_hour: f64,
    /// Time with `spec.replicas` at the autoscaler's maximum.
    pub time_at_max_s: f64,
    /// Time with `spec.replicas` at zero.
    pub time_at_zero_s: f64,
    /// The autoscaler objects' status conditions at the end of the run.
    pub autoscaler_conditions: Vec<ConditionSnapshot>,
    /// Simulated time from zero to the end of the run.
    pub sim_duration_s: f64,
    /// Prompt tokens processed by engines (recomputation after preemption included).
    pub prompt_tokens_total: u64,
    /// Output tokens generated by engines.
    pub generation_tokens_total: u64,
    /// Preemptions across all engines.
    pub preemptions_total: u64,
    /// Engine steps across all engines.
    pub engine_steps_total: u64,
    /// Events the simulator processed (a measure of its own work).
    pub events_total: u64,
}

impl Summary {
    /// The percentiles of one latency.
    pub fn latency(&self, metric: LatencyMetric) -> &Percentiles {
        match metric {
            LatencyMetric::Ttft => &self.ttft_s,
            LatencyMetric::Tpot => &self.tpot_s,
            LatencyMetric::E2e => &self.e2e_s,
            LatencyMetric::Queue => &self.queue_s,
        }
    }
}

/// One row of the timeline: the state at `t_s` and the activity in the interval ending there.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TimelineRow {
    /// End of the interval.
    pub t_s: f64,
    /// Requests that arrived in the interval.
    pub arrivals: u64,
    /// Requests that completed in the interval.
    pub completed: u64,
    /// Requests that failed in the interval.
    pub failed: u64,
    /// Requests running in engines (sum over replicas).
    pub running: u32,
    /// Requests waiting inside engines (sum over replicas).
    pub waiting: u32,
    /// Requests waiting at the gateway for a Ready replica.
    pub gateway_queue: u32,
    /// Mean KV-cache usage (0–1) over Ready replicas.
    pub kv_usage_mean: f64,
    /// Mean GPU busy share (0–1) over Ready replicas in the interval.
    pub gpu_busy_mean: f64,
    /// Ready replicas.
    pub ready_replicas: u32,
    /// Pods bound to a node but not Ready yet.
    pub starting_replicas: u32,
    /// Pods waiting for a GPU.
    pub pending_replicas: u32,
    /// Pods draining after deletion.
    pub terminating_replicas: u32,
    /// Output tokens per second generated in the interval.
    pub tokens_per_s: f64,
    /// The Deployment's `spec.replicas`.
    pub desired_replicas: u32,
    /// What the autoscaler last saw, one value per [`RunReport::input_names`] (NaN when the
    /// controller saw `<unknown>`).
    pub inputs: Vec<f64>,
}

/// What became of one request.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// Request id.
    pub id: u64,
    /// Arrival, seconds.
    pub arrival_s: f64,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Output tokens.
    pub output_tokens: u32,
    /// The pod that served it, if any.
    pub pod: Option<u32>,
    /// What became of it.
    pub outcome: Outcome,
    /// Time to first token.
    pub ttft_s: Option<f64>,
    /// Time per output token after the first.
    pub tpot_s: Option<f64>,
    /// Arrival to last token.
    pub e2e_s: Option<f64>,
    /// Arrival to first scheduled.
    pub queue_s: Option<f64>,
    /// Times it was preempted.
    pub preemptions: u32,
    /// Whether it met every per-request SLO threshold.
    pub slo_met: bool,
}

/// Everything a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// Headline numbers.
    pub summary: Summary,
    /// One row per timeline interval.
    pub timeline: Vec<TimelineRow>,
    /// One record per request, when asked for.
    pub requests: Vec<RequestRecord>,
    /// Names of the autoscaler inputs in each timeline row.
    pub input_names: Vec<String>,
    /// Kubernetes events in kubectl's words, in time order.
    pub events: Vec<String>,
}

/// Latency recorder: exact integer sum for the mean, an HDR histogram for percentiles.
#[derive(Clone, Debug)]
pub(crate) struct LatencyRecorder {
    hist: Histogram<u64>,
    sum_us: u128,
}

impl LatencyRecorder {
    pub(crate) fn new() -> LatencyRecorder {
        // 1 µs to ~28 h with 3 significant digits.
        let hist = Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("valid bounds");
        LatencyRecorder { hist, sum_us: 0 }
    }

    pub(crate) fn record_ns(&mut self, ns: u64) {
        let us = ns.div_ceil(1_000).max(1);
        self.hist.saturating_record(us);
        self.sum_us += u128::from(us);
    }

    pub(crate) fn percentiles(&self) -> Percentiles {
        let count = self.hist.len();
        if count == 0 {
            return Percentiles::default();
        }
        let q = |p: f64| self.hist.value_at_quantile(p) as f64 / 1e6;
        Percentiles {
            mean: self.sum_us as f64 / count as f64 / 1e6,
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            count,
        }
    }

    pub(crate) fn quantile_s(&self, q: f64) -> f64 {
        if self.hist.is_empty() {
            0.0
        } else {
            self.hist.value_at_quantile(q) as f64 / 1e6
        }
    }
}
