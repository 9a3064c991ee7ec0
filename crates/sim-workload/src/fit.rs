//! Fitting a synthetic workload to a recorded trace.

use std::sync::Arc;

use sim_des::SimTime;

use crate::{LengthDist, RateProfile, Request, SyntheticSpec, TraceError};

/// The statistics of a trace that a synthetic look-alike needs.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceFit {
    /// Number of requests.
    pub requests: u64,
    /// Last arrival minus first arrival.
    pub span_s: f64,
    /// Width of the rate windows.
    pub step_s: f64,
    /// Requests in each full window `[first + k·step_s, first + (k+1)·step_s)`; the partial
    /// last window is left out.
    pub counts_per_step: Vec<u64>,
    /// CV of the gaps between consecutive arrivals inside the full windows, after mapping
    /// each arrival through the cumulative per-window rate (that is, with the rate trend
    /// removed). This is the `arrival_cv` that makes the generator's renewal process match.
    pub detrended_gap_cv: f64,
    /// CV of the raw gaps in seconds, trend included, for comparison.
    pub raw_gap_cv: f64,
    /// Median prompt length (linear interpolation between ranks).
    pub prompt_p50_tokens: f64,
    /// 99th-percentile prompt length.
    pub prompt_p99_tokens: f64,
    /// Shortest prompt.
    pub prompt_min_tokens: u32,
    /// Longest prompt.
    pub prompt_max_tokens: u32,
    /// Median output length.
    pub output_p50_tokens: f64,
    /// 99th-percentile output length.
    pub output_p99_tokens: f64,
    /// Shortest output.
    pub output_min_tokens: u32,
    /// Longest output.
    pub output_max_tokens: u32,
    /// Prompt length quantiles 0, 0.001, ..., 1 (1001 points), the table of a
    /// [`LengthDist::Quantiles`].
    pub prompt_quantiles_tokens: Vec<f64>,
    /// Output length quantiles 0, 0.001, ..., 1.
    pub output_quantiles_tokens: Vec<f64>,
}

impl TraceFit {
    /// The per-window rates, in requests per second.
    pub fn rates_rps(&self) -> Vec<f64> {
        self.counts_per_step
            .iter()
            .map(|c| *c as f64 / self.step_s)
            .collect()
    }

    /// A synthetic spec with this trace's rate profile (repeating), detrended gap CV and
    /// prompt and output lengths drawn from its 1001-point quantile tables.
    pub fn to_spec(&self, duration_s: f64) -> SyntheticSpec {
        SyntheticSpec {
            duration_s,
            rate: RateProfile::Piecewise {
                step_s: self.step_s,
                rates_rps: self.rates_rps(),
            },
            arrival_cv: self.detrended_gap_cv,
            prompt_tokens: LengthDist::Quantiles {
                points: Arc::from(self.prompt_quantiles_tokens.as_slice()),
            },
            output_tokens: LengthDist::Quantiles {
                points: Arc::from(self.output_quantiles_tokens.as_slice()),
            },
        }
    }
}

/// Fits a trace. This collects every length (percentiles need them all), so unlike the
/// readers it holds the trace's lengths in memory. Needs at least one full window.
pub fn fit_trace<I>(stream: I, step_s: f64) -> Result<TraceFit, TraceError>
where
    I: IntoIterator<Item = Result<Request, TraceError>>,
{
    if !(step_s.is_finite() && step_s > 0.0) {
        return Err(TraceError::Invalid(format!(
            "step_s must be a positive number, got {step_s}"
        )));
    }
    let mut arrivals_ns = Vec::new();
    let mut prompts = Vec::new();
    let mut outputs = Vec::new();
    for r in stream {
        let r = r?;
        arrivals_ns.push(r.arrival.as_nanos());
        prompts.push(f64::from(r.prompt_tokens));
        outputs.push(f64::from(r.output_tokens));
    }
    let (Some(&first), Some(&last)) = (arrivals_ns.first(), arrivals_ns.last()) else {
        return Err(TraceError::Empty);
    };
    let step_ns = SimTime::from_secs_f64(step_s).as_nanos().max(1);
    let full = ((last - first) / step_ns) as usize;
    if full == 0 {
        return Err(TraceError::Invalid(format!(
            "the trace spans less than one {step_s} s window"
        )));
    }
    let mut counts = vec![0u64; full];
    for a in &arrivals_ns {
        if let Some(c) = counts.get_mut(((a - first) / step_ns) as usize) {
            *c += 1;
        }
    }
    // Operational time: the expected count before each arrival under the per-window rates.
    let mut before = Vec::with_capacity(full);
    let mut acc = 0u64;
    for c in &counts {
        before.push(acc as f64);
        acc += c;
    }
    let operational: Vec<f64> = arrivals_ns
        .iter()
        .map(|a| a - first)
        .take_while(|rel| ((rel / step_ns) as usize) < full)
        .map(|rel| {
            let k = (rel / step_ns) as usize;
            let within = (rel % step_ns) as f64 / step_ns as f64;
            before[k] + counts[k] as f64 * within
        })
        .collect();
    let raw: Vec<f64> = arrivals_ns
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e9)
        .collect();
    let detrended: Vec<f64> = operational.windows(2).map(|w| w[1] - w[0]).collect();
    let sort = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
    sort(&mut prompts);
    sort(&mut outputs);
    Ok(TraceFit {
        requests: arrivals_ns.len() as u64,
        span_s: (last - first) as f64 / 1e9,
        step_s,
        counts_per_step: counts,
        detrended_gap_cv: cv(&detrended),
        raw_gap_cv: cv(&raw),
        prompt_p50_tokens: percentile(&prompts, 0.50),
        prompt_p99_tokens: percentile(&prompts, 0.99),
        prompt_min_tokens: prompts[0] as u32,
        prompt_max_tokens: prompts[prompts.len() - 1] as u32,
        output_p50_tokens: percentile(&outputs, 0.50),
        output_p99_tokens: percentile(&outputs, 0.99),
        output_min_tokens: outputs[0] as u32,
        output_max_tokens: outputs[outputs.len() - 1] as u32,
        prompt_quantiles_tokens: quantile_table(&prompts, FIT_QUANTILE_POINTS),
        output_quantiles_tokens: quantile_table(&outputs, FIT_QUANTILE_POINTS),
    })
}

/// Points in the quantile tables [`fit_trace`] derives: every per-mille from 0 to 1. Per-cent
/// points are too coarse in a long tail: one step spanning the top 1 % makes the mean and the
/// sampled p99 wrong.
const FIT_QUANTILE_POINTS: usize = 1001;

/// Population coefficient of variation (0 for fewer than two values).
fn cv(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    if mean > 0.0 { var.sqrt() / mean } else { 0.0 }
}

/// The `q`-quantile of sorted values, interpolating linearly between ranks (the numpy
/// default). Empty input gives NaN.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

/// `points` evenly spaced quantiles of sorted values, from the smallest (quantile 0) to the
/// largest (quantile 1), each by [`percentile`]: the table of a [`LengthDist::Quantiles`].
/// Fewer than 2 points or empty input give an empty table.
pub fn quantile_table(sorted: &[f64], points: usize) -> Vec<f64> {
    if points < 2 || sorted.is_empty() {
        return Vec::new();
    }
    let last = (points - 1) as f64;
    (0..points)
        .map(|i| percentile(sorted, i as f64 / last))
        .collect()
}
