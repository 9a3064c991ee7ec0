//! What a run produces: a summary, a timeline and (optionally) one record per request.
//!
//! These are plain data. Writing them to files is `sim-report`'s job.

use hdrhistogram::Histogram;

use crate::spec::LatencyMetric;

/// Mean and percentiles of one latency over the requests that completed, in seconds. All zero
/// when nothing was recorded.
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

/// Percentiles of one latency over every request the run judged: those that failed or did not
/// finish count as an infinite latency, so a percentile that falls on them is
/// `f64::INFINITY`. This is what SLO objectives are checked against.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantiles {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Requests in the population: the measured ones plus the unserved ones.
    pub count: u64,
    /// Requests that failed or did not finish (counted as infinite).
    pub unserved: u64,
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

/// Outcome of one check of the SLO.
#[derive(Clone, Debug, PartialEq)]
pub struct SloCheckResult {
    /// The metric checked, e.g. `ttft_s_p99`, `slo_attainment`, `failed_ratio`.
    pub name: String,
    /// The threshold, seconds (or a share, or a count).
    pub threshold: f64,
    /// True when the metric must be at least the threshold, false when at most.
    pub at_least: bool,
    /// What the run measured (`f64::INFINITY` when a percentile falls on an unserved request).
    pub actual: f64,
    /// Whether it held.
    pub ok: bool,
}

impl SloCheckResult {
    /// Builds a check and judges it.
    pub fn new(name: impl Into<String>, threshold: f64, at_least: bool, actual: f64) -> Self {
        let ok = if at_least {
            actual >= threshold
        } else {
            actual <= threshold
        };
        SloCheckResult {
            name: name.into(),
            threshold,
            at_least,
            actual,
            ok,
        }
    }

    /// One line for people: `ok ttft_s_p99 = 1.2 (<= 2)` or why and by how much it failed.
    pub fn describe(&self) -> String {
        let op = if self.at_least { ">=" } else { "<=" };
        let name = &self.name;
        // Nine decimals, as in the output files, without float noise.
        let round9 = |x: f64| (x * 1e9).round() / 1e9;
        let (threshold, actual) = (self.threshold, round9(self.actual));
        if self.ok {
            return format!("ok    {name} = {actual} ({op} {threshold})");
        }
        if actual.is_infinite() {
            return format!(
                "FAIL  {name} = infinite, must be {op} {threshold}: the percentile falls on \
                 requests that failed or did not finish"
            );
        }
        if name == HELD_CHECK {
            return format!(
                "FAIL  {name} = {actual}, must be {op} {threshold}: the run stopped there, as \
                 the deployment cannot keep up (add replicas, lower the rate or set \
                 routing.client_timeout_s)"
            );
        }
        let by = round9((actual - threshold).abs());
        let pct = if threshold != 0.0 {
            format!(" ({:.1} %)", by / threshold.abs() * 100.0)
        } else {
            String::new()
        };
        format!("FAIL  {name} = {actual}, must be {op} {threshold}: off by {by}{pct}")
    }
}

/// The check every run makes on the requests it held at once (see
/// [`Summary::requests_held_peak`]).
pub const HELD_CHECK: &str = "requests_held_peak";

/// Something went wrong during the run that the user should see: the same condition a
/// Kubernetes `Warning` event reports (a metric the autoscaler could not read, a scaler that
/// failed), counted over the whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunWarning {
    /// The event reason, e.g. `FailedGetPodsMetric`.
    pub reason: String,
    /// The object, e.g. `scaledobject/mistral-vllm-scaler`.
    pub object: String,
    /// The message.
    pub message: String,
    /// When it was first seen, simulated seconds.
    pub first_s: f64,
    /// When it was last seen, simulated seconds.
    pub last_s: f64,
    /// How many times it was seen (once per controller sync or poll that hit it).
    pub count: u64,
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
    /// Requests still unresolved when the run stopped (drain limit reached, or the run
    /// stopped early: see `stopped_at_s`).
    pub requests_in_flight_at_end: u64,
    /// The most requests held at once (unresolved ones, and resolved ones behind the oldest
    /// unresolved): what the run's memory grew with.
    pub requests_held_peak: u64,
    /// When the run stopped early because it held more requests than a run may
    /// ([`crate::MAX_REQUESTS_HELD`]): the deployment could not keep up. Requests after
    /// that time were not simulated; the ones held count as unfinished.
    pub stopped_at_s: Option<f64>,
    /// Failed requests by reason, in [`FailureReason::ALL`] order.
    pub failures: Vec<(FailureReason, u64)>,
    /// Share of requests that failed or did not finish (0 when none arrived).
    pub failed_ratio: f64,
    /// Time to first token over every request, unserved ones as infinite.
    pub ttft_s: Quantiles,
    /// Time per output token over requests with more than one output token, unserved ones
    /// (whatever their length) as infinite.
    pub tpot_s: Quantiles,
    /// End-to-end latency over every request, unserved ones as infinite.
    pub e2e_s: Quantiles,
    /// Arrival to first scheduled in an engine over every request, unserved ones as infinite.
    pub queue_s: Quantiles,
    /// Time to first token of completed requests.
    pub completed_ttft_s: Percentiles,
    /// Time per output token of completed requests with more than one output token.
    pub completed_tpot_s: Percentiles,
    /// End-to-end latency of completed requests.
    pub completed_e2e_s: Percentiles,
    /// Time from arrival to first scheduled in an engine, of completed requests.
    pub completed_queue_s: Percentiles,
    /// Inter-token latency as `vllm bench serve` reports it: every output token's gap to the
    /// previous token of its request, pooled over all tokens (`count` is the number of gaps),
    /// preemption stalls included. Unlike `tpot_s` (one value per request) long requests
    /// weigh more. Percentiles are within 0.4 %; requests unfinished at the end contribute
    /// the gaps they had.
    pub itl_s: Percentiles,
    /// Share of all requests (failed ones included) that completed and met every
    /// per-request SLO threshold (0 when none arrived).
    pub slo_attainment: f64,
    /// The SLO's checks: percentile objectives, attainment, then the failure budget, at
    /// least one completed request and the held-request bound (these three in every run).
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
    /// Tokens (prompt and output so far) whose KV cache preemption discarded, to be
    /// computed again when the request is rescheduled (vLLM preempts by recompute).
    pub recomputed_tokens_total: u64,
    /// Engine steps across all engines.
    pub engine_steps_total: u64,
    /// Events the simulator processed (a measure of its own work).
    pub events_total: u64,
    /// Distinct warnings the run raised (see [`RunReport::warnings`]).
    pub warnings: u64,
}

impl Summary {
    /// The percentiles of one latency over every request, unserved ones as infinite.
    pub fn latency(&self, metric: LatencyMetric) -> &Quantiles {
        match metric {
            LatencyMetric::Ttft => &self.ttft_s,
            LatencyMetric::Tpot => &self.tpot_s,
            LatencyMetric::E2e => &self.e2e_s,
            LatencyMetric::Queue => &self.queue_s,
        }
    }

    /// The percentiles of one latency over completed requests.
    pub fn completed_latency(&self, metric: LatencyMetric) -> &Percentiles {
        match metric {
            LatencyMetric::Ttft => &self.completed_ttft_s,
            LatencyMetric::Tpot => &self.completed_tpot_s,
            LatencyMetric::E2e => &self.completed_e2e_s,
            LatencyMetric::Queue => &self.completed_queue_s,
        }
    }

    /// Whether every SLO check held (true when there are none).
    pub fn slo_ok(&self) -> bool {
        self.slo_checks.iter().all(|c| c.ok)
    }

    /// Every scalar metric of the run by its name in sweep results, in column order:
    /// counts, latencies over every request (`ttft_s_p99`), over completed requests
    /// (`completed_ttft_s_p99`), per-token ITL (`itl_s_p99`), then attainment, cost, replicas
    /// and work.
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut out: Vec<(String, f64)> = vec![
            ("requests_total".into(), self.requests_total as f64),
            ("requests_completed".into(), self.requests_completed as f64),
            ("requests_failed".into(), self.requests_failed as f64),
            (
                "requests_in_flight_at_end".into(),
                self.requests_in_flight_at_end as f64,
            ),
            ("requests_held_peak".into(), self.requests_held_peak as f64),
            ("failed_ratio".into(), self.failed_ratio),
        ];
        for m in LatencyMetric::ALL {
            let q = self.latency(m);
            for (p, v) in [("p50", q.p50), ("p90", q.p90), ("p99", q.p99)] {
                out.push((format!("{}_{p}", m.name()), v));
            }
        }
        for m in LatencyMetric::ALL {
            let c = self.completed_latency(m);
            for (p, v) in [
                ("mean", c.mean),
                ("p50", c.p50),
                ("p90", c.p90),
                ("p99", c.p99),
            ] {
                out.push((format!("completed_{}_{p}", m.name()), v));
            }
        }
        for (p, v) in [
            ("mean", self.itl_s.mean),
            ("p50", self.itl_s.p50),
            ("p90", self.itl_s.p90),
            ("p99", self.itl_s.p99),
        ] {
            out.push((format!("itl_s_{p}"), v));
        }
        out.extend([
            ("slo_attainment".into(), self.slo_attainment),
            ("gpu_hours".into(), self.gpu_hours),
            ("cost_usd".into(), self.cost_usd),
            ("replicas_mean".into(), self.replicas.mean),
            ("replicas_min".into(), f64::from(self.replicas.min)),
            ("replicas_max".into(), f64::from(self.replicas.max)),
            ("desired_replicas_mean".into(), self.desired_replicas.mean),
            (
                "desired_replicas_max".into(),
                f64::from(self.desired_replicas.max),
            ),
            ("scale_events".into(), self.scale_events as f64),
            ("scale_events_per_hour".into(), self.scale_events_per_hour),
            ("time_at_max_s".into(), self.time_at_max_s),
            ("time_at_zero_s".into(), self.time_at_zero_s),
            ("sim_duration_s".into(), self.sim_duration_s),
            ("preemptions_total".into(), self.preemptions_total as f64),
            (
                "recomputed_tokens_total".into(),
                self.recomputed_tokens_total as f64,
            ),
            ("events_total".into(), self.events_total as f64),
            ("warnings".into(), self.warnings as f64),
        ]);
        out
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

/// Everything a run produced, apart from the per-request records (those go to the
/// [`Observer`](crate::Observer) as requests resolve).
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// Headline numbers.
    pub summary: Summary,
    /// One row per timeline interval.
    pub timeline: Vec<TimelineRow>,
    /// Names of the autoscaler inputs in each timeline row.
    pub input_names: Vec<String>,
    /// Kubernetes events in kubectl's words, in time order.
    pub events: Vec<String>,
    /// Warnings, in the order first seen.
    pub warnings: Vec<RunWarning>,
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

    /// The `q` quantile over the recorded values plus `unserved` infinite ones, seconds.
    ///
    /// The rank is `ceil(q * n)` (at least 1), as `value_at_quantile` takes it, so with no
    /// unserved requests the answer is the same; a rank past the recorded values is infinite.
    /// An empty population gives 0.
    pub(crate) fn quantile_with_unserved_s(&self, q: f64, unserved: u64) -> f64 {
        let recorded = self.hist.len();
        let n = recorded + unserved;
        if n == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        if rank > recorded {
            return f64::INFINITY;
        }
        let mut seen = 0u64;
        for v in self.hist.iter_recorded() {
            seen += v.count_at_value();
            if seen >= rank {
                return self.hist.highest_equivalent(v.value_iterated_to()) as f64 / 1e6;
            }
        }
        unreachable!("rank {rank} within {recorded} recorded values")
    }

    pub(crate) fn quantiles(&self, unserved: u64) -> Quantiles {
        Quantiles {
            p50: self.quantile_with_unserved_s(0.50, unserved),
            p90: self.quantile_with_unserved_s(0.90, unserved),
            p99: self.quantile_with_unserved_s(0.99, unserved),
            count: self.hist.len() + unserved,
            unserved,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unserved_requests_push_percentiles_to_infinity_at_the_right_rank() {
        let mut r = LatencyRecorder::new();
        for ms in 1..=98u64 {
            r.record_ns(ms * 1_000_000);
        }
        // With none unserved the rank rule is value_at_quantile's, value for value.
        let p = r.percentiles();
        let q = r.quantiles(0);
        assert_eq!((q.p50, q.p90, q.p99), (p.p50, p.p90, p.p99));
        // 98 served and 2 unserved: rank 99 of 100 is unserved, rank 90 is not.
        let q = r.quantiles(2);
        assert_eq!(q.count, 100);
        assert!(q.p99.is_infinite());
        assert!((q.p90 - 0.090).abs() < 1e-3, "{}", q.p90);
        assert!((q.p50 - 0.050).abs() < 1e-3, "{}", q.p50);
        // Nobody served: every percentile is infinite; nobody at all: zero.
        let empty = LatencyRecorder::new();
        assert!(empty.quantiles(5).p50.is_infinite());
        assert_eq!(empty.quantiles(0).p50, 0.0);
    }

    #[test]
    fn checks_describe_what_failed_and_by_how_much() {
        let c = SloCheckResult::new("ttft_s_p99", 2.0, false, 3.0);
        assert!(!c.ok);
        assert_eq!(
            c.describe(),
            "FAIL  ttft_s_p99 = 3, must be <= 2: off by 1 (50.0 %)"
        );
        let c = SloCheckResult::new("ttft_s_p99", 2.0, false, f64::INFINITY);
        assert!(!c.ok);
        assert!(c.describe().contains("failed or did not finish"));
        let c = SloCheckResult::new("requests_completed", 1.0, true, 5.0);
        assert!(c.ok);
        assert_eq!(c.describe(), "ok    requests_completed = 5 (>= 1)");
    }
}
