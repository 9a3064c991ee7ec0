//! What a vLLM pod exposes on `/metrics`, with vLLM's names, types and bucket bounds
//! (`research/vllm_model.md` §4), and the DCGM exporter's GPU utilisation.
//!
//! Gauges and counters come from the engine ([`crate::replica::ReplicaGauges`]); request
//! histograms are observed by whoever knows the request's arrival (the simulator's event
//! loop) into a [`RequestHistograms`]; the inter-token histogram is kept by the engine itself,
//! because only it knows step durations (see [`crate::replica::Replica::itl_histogram_at`]).

use sim_metrics::{Exposition, StoreError};

use crate::replica::ReplicaGauges;

/// `vllm:time_to_first_token_seconds` bucket bounds.
pub const TTFT_BUCKETS_S: &[f64] = &[
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
    20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
];

/// `vllm:inter_token_latency_seconds` and `vllm:request_time_per_output_token_seconds` bounds.
pub const ITL_BUCKETS_S: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
    40.0, 80.0,
];

/// Request-latency bounds (`e2e_request_latency`, `request_queue_time`, ...).
pub const REQUEST_LATENCY_BUCKETS_S: &[f64] = &[
    0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
    480.0, 960.0, 1920.0, 7680.0,
];

/// Gauges (current value).
pub const NUM_REQUESTS_RUNNING: &str = "vllm:num_requests_running";
/// Requests waiting in the engine (new and preempted).
pub const NUM_REQUESTS_WAITING: &str = "vllm:num_requests_waiting";
/// KV-cache usage as a 0–1 fraction.
pub const KV_CACHE_USAGE_PERC: &str = "vllm:kv_cache_usage_perc";
/// The pre-0.12 name of the same gauge.
pub const GPU_CACHE_USAGE_PERC: &str = "vllm:gpu_cache_usage_perc";
/// Counters.
pub const NUM_PREEMPTIONS_TOTAL: &str = "vllm:num_preemptions_total";
/// Prompt tokens processed.
pub const PROMPT_TOKENS_TOTAL: &str = "vllm:prompt_tokens_total";
/// Generated tokens.
pub const GENERATION_TOKENS_TOTAL: &str = "vllm:generation_tokens_total";
/// Finished requests by reason.
pub const REQUEST_SUCCESS_TOTAL: &str = "vllm:request_success_total";
/// Histograms (families; series add `_bucket`, `_sum`, `_count`).
pub const TTFT_SECONDS: &str = "vllm:time_to_first_token_seconds";
/// Inter-token latency.
pub const ITL_SECONDS: &str = "vllm:inter_token_latency_seconds";
/// Per-request mean time per output token.
pub const TPOT_SECONDS: &str = "vllm:request_time_per_output_token_seconds";
/// Arrival to last token.
pub const E2E_SECONDS: &str = "vllm:e2e_request_latency_seconds";
/// Queued to first scheduled.
pub const QUEUE_SECONDS: &str = "vllm:request_queue_time_seconds";
/// DCGM exporter: percent of the sample period the GPU was busy.
pub const DCGM_GPU_UTIL: &str = "DCGM_FI_DEV_GPU_UTIL";
/// The gateway in front of the Service: requests waiting for a Ready replica. Unlike the
/// pods' own metrics it exists while the Deployment is at zero, so it can wake it up.
pub const GATEWAY_QUEUE: &str = "gateway_queue_requests";
/// The gateway: requests sent to a replica and not yet answered.
pub const GATEWAY_INFLIGHT: &str = "gateway_inflight_requests";

/// Every metric family a vLLM pod exposes, in exposition order.
pub const VLLM_FAMILIES: &[&str] = &[
    NUM_REQUESTS_RUNNING,
    NUM_REQUESTS_WAITING,
    KV_CACHE_USAGE_PERC,
    GPU_CACHE_USAGE_PERC,
    NUM_PREEMPTIONS_TOTAL,
    PROMPT_TOKENS_TOTAL,
    GENERATION_TOKENS_TOTAL,
    REQUEST_SUCCESS_TOTAL,
    TTFT_SECONDS,
    ITL_SECONDS,
    TPOT_SECONDS,
    E2E_SECONDS,
    QUEUE_SECONDS,
];

/// Every series name a family produces (histograms give three).
pub fn series_names(family: &str) -> Vec<String> {
    if [
        TTFT_SECONDS,
        ITL_SECONDS,
        TPOT_SECONDS,
        E2E_SECONDS,
        QUEUE_SECONDS,
    ]
    .contains(&family)
    {
        vec![
            format!("{family}_bucket"),
            format!("{family}_sum"),
            format!("{family}_count"),
        ]
    } else {
        vec![family.to_string()]
    }
}

/// The family a series name belongs to (`..._bucket` → its histogram), if it is one of ours.
pub fn family_of(series: &str) -> Option<&'static str> {
    let all = VLLM_FAMILIES
        .iter()
        .chain(&[DCGM_GPU_UTIL, GATEWAY_QUEUE, GATEWAY_INFLIGHT]);
    for &f in all {
        if series == f {
            return Some(f);
        }
        if let Some(rest) = series.strip_prefix(f)
            && ["_bucket", "_sum", "_count"].contains(&rest)
            && series_names(f).len() == 3
        {
            return Some(f);
        }
    }
    None
}

/// A classic histogram with fixed bounds: per-bucket counts (the last one is the overflow
/// above the highest bound) and the sum of observations.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// An empty histogram over `bounds` (strictly increasing, finite).
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Records `n` observations of `value`.
    pub fn observe_n(&mut self, value: f64, n: u64) {
        let i = self.bounds.partition_point(|&b| b < value);
        self.counts[i] += n;
        self.sum += value * n as f64;
    }

    /// Records one observation.
    pub fn observe(&mut self, value: f64) {
        self.observe_n(value, 1);
    }

    /// Records `n_each` observations of each of the values `first + step * j` for
    /// `j = 0..steps` (an arithmetic sequence, `step >= 0`), in O(buckets).
    pub fn observe_arithmetic(&mut self, first: f64, step: f64, steps: u64, n_each: u64) {
        if steps == 0 || n_each == 0 {
            return;
        }
        debug_assert!(step >= 0.0);
        let mut below = 0u64;
        for (i, &b) in self.bounds.iter().enumerate() {
            // How many of the values are <= b.
            let le = if first > b {
                0
            } else if step <= 0.0 {
                steps
            } else {
                (((b - first) / step).floor() as u64 + 1).min(steps)
            };
            self.counts[i] += (le - below) * n_each;
            below = le;
        }
        self.counts[self.bounds.len()] += (steps - below) * n_each;
        let s = steps as f64;
        self.sum += n_each as f64 * (s * first + step * s * (s - 1.0) / 2.0);
    }

    /// Adds another histogram with the same bounds.
    pub fn merge(&mut self, other: &Histogram) {
        debug_assert!(std::ptr::eq(self.bounds, other.bounds) || self.bounds == other.bounds);
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.sum += other.sum;
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Per-bucket counts, overflow last.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// The bucket bounds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// The sum of observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    fn expose(
        &self,
        exp: &mut Exposition,
        name: &str,
        labels: &[(&str, &str)],
    ) -> Result<(), StoreError> {
        exp.histogram(name, labels, self.bounds, &self.counts, self.sum)
            .map(|_| ())
    }
}

/// Request histograms of one pod, observed at first token and at completion.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestHistograms {
    /// `vllm:time_to_first_token_seconds`.
    pub ttft: Histogram,
    /// `vllm:request_time_per_output_token_seconds`.
    pub tpot: Histogram,
    /// `vllm:e2e_request_latency_seconds`.
    pub e2e: Histogram,
    /// `vllm:request_queue_time_seconds`.
    pub queue: Histogram,
    /// `vllm:request_success_total{finished_reason="length"}`.
    pub finished: u64,
}

impl Default for RequestHistograms {
    fn default() -> Self {
        RequestHistograms {
            ttft: Histogram::new(TTFT_BUCKETS_S),
            tpot: Histogram::new(ITL_BUCKETS_S),
            e2e: Histogram::new(REQUEST_LATENCY_BUCKETS_S),
            queue: Histogram::new(REQUEST_LATENCY_BUCKETS_S),
            finished: 0,
        }
    }
}

/// Which families to expose (scraping only what queries read keeps long sweeps cheap;
/// the exposition of the families kept is exact).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyFilter {
    keep: Vec<&'static str>,
}

impl FamilyFilter {
    /// Every family.
    pub fn all() -> FamilyFilter {
        FamilyFilter {
            keep: VLLM_FAMILIES
                .iter()
                .copied()
                .chain([DCGM_GPU_UTIL, GATEWAY_QUEUE, GATEWAY_INFLIGHT])
                .collect(),
        }
    }

    /// Only these families (unknown names are ignored).
    pub fn only<'a>(families: impl IntoIterator<Item = &'a str>) -> FamilyFilter {
        let mut keep: Vec<&'static str> = families.into_iter().filter_map(family_of).collect();
        keep.sort_unstable();
        keep.dedup();
        FamilyFilter { keep }
    }

    /// Whether `family` is exposed.
    pub fn has(&self, family: &str) -> bool {
        self.keep.contains(&family)
    }

    /// Whether any vLLM family is exposed.
    pub fn any_vllm(&self) -> bool {
        VLLM_FAMILIES.iter().any(|f| self.has(f))
    }
}

/// Appends a vLLM pod's metrics to `exp`.
///
/// # Errors
/// Never for the built-in bucket bounds; the error type is the exposition builder's.
pub fn expose_vllm(
    exp: &mut Exposition,
    filter: &FamilyFilter,
    labels: &[(&str, &str)],
    g: &ReplicaGauges,
    req: &RequestHistograms,
    itl: &Histogram,
) -> Result<(), StoreError> {
    let f = |name| filter.has(name);
    if f(NUM_REQUESTS_RUNNING) {
        exp.gauge(NUM_REQUESTS_RUNNING, labels, f64::from(g.running));
    }
    if f(NUM_REQUESTS_WAITING) {
        exp.gauge(NUM_REQUESTS_WAITING, labels, f64::from(g.waiting));
    }
    if f(KV_CACHE_USAGE_PERC) {
        exp.gauge(KV_CACHE_USAGE_PERC, labels, g.kv_usage);
    }
    if f(GPU_CACHE_USAGE_PERC) {
        exp.gauge(GPU_CACHE_USAGE_PERC, labels, g.kv_usage);
    }
    if f(NUM_PREEMPTIONS_TOTAL) {
        exp.counter(NUM_PREEMPTIONS_TOTAL, labels, g.preemptions_total as f64);
    }
    if f(PROMPT_TOKENS_TOTAL) {
        exp.counter(PROMPT_TOKENS_TOTAL, labels, g.prompt_tokens_total as f64);
    }
    if f(GENERATION_TOKENS_TOTAL) {
        exp.counter(
            GENERATION_TOKENS_TOTAL,
            labels,
            g.generation_tokens_total as f64,
        );
    }
    if f(REQUEST_SUCCESS_TOTAL) {
        let mut l: Vec<(&str, &str)> = labels.to_vec();
        l.push(("finished_reason", "length"));
        exp.counter(REQUEST_SUCCESS_TOTAL, &l, req.finished as f64);
    }
    if f(TTFT_SECONDS) {
        req.ttft.expose(exp, TTFT_SECONDS, labels)?;
    }
    if f(ITL_SECONDS) {
        itl.expose(exp, ITL_SECONDS, labels)?;
    }
    if f(TPOT_SECONDS) {
        req.tpot.expose(exp, TPOT_SECONDS, labels)?;
    }
    if f(E2E_SECONDS) {
        req.e2e.expose(exp, E2E_SECONDS, labels)?;
    }
    if f(QUEUE_SECONDS) {
        req.queue.expose(exp, QUEUE_SECONDS, labels)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_observations_match_one_by_one() {
        for (first, step, steps, n) in [
            (0.008, 0.0003, 500, 3),
            (0.2, 0.0, 10, 2),
            (0.009, 0.01, 40, 1),
            (90.0, 1.0, 5, 4),
        ] {
            let mut fast = Histogram::new(ITL_BUCKETS_S);
            fast.observe_arithmetic(first, step, steps, n);
            let mut slow = Histogram::new(ITL_BUCKETS_S);
            for j in 0..steps {
                slow.observe_n(first + step * j as f64, n);
            }
            assert_eq!(fast.counts(), slow.counts(), "{first} {step} {steps}");
            assert!((fast.sum() - slow.sum()).abs() < 1e-9 * slow.sum().max(1.0));
        }
    }

    #[test]
    fn bucket_edges_are_inclusive_like_le() {
        let mut h = Histogram::new(ITL_BUCKETS_S);
        h.observe(0.01);
        h.observe(0.0100001);
        assert_eq!(h.counts()[0], 1);
        assert_eq!(h.counts()[1], 1);
    }

    #[test]
    fn families_and_series_names_round_trip() {
        assert_eq!(
            family_of("vllm:time_to_first_token_seconds_bucket"),
            Some(TTFT_SECONDS)
        );
        assert_eq!(
            family_of("vllm:num_requests_waiting"),
            Some(NUM_REQUESTS_WAITING)
        );
        assert_eq!(family_of("vllm:num_requests_waiting_sum"), None);
        assert_eq!(family_of("DCGM_FI_DEV_GPU_UTIL"), Some(DCGM_GPU_UTIL));
        let f = FamilyFilter::only(["vllm:num_requests_waiting", "nonsense"]);
        assert!(f.has(NUM_REQUESTS_WAITING) && !f.has(KV_CACHE_USAGE_PERC) && f.any_vllm());
    }
}
