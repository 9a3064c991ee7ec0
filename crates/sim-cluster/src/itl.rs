//! Per-token inter-token latencies, fine enough for run-level percentiles.
//!
//! `vllm bench serve` reports ITL as the gaps between consecutive output tokens of each
//! request, pooled over every token of the run. An engine emits millions of tokens, and a
//! decode run emits them in closed form, so the gaps go into log-linear buckets (128 per
//! power of two of nanoseconds: a bucket is at most 1/128 of its value wide) that a run
//! fills in O(buckets it spans), with the sum kept exactly for the mean. The Prometheus
//! histogram (`vllm:inter_token_latency_seconds`) has 19 buckets and cannot give a p99.

use std::collections::BTreeMap;

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// A histogram of token gaps in nanoseconds. Empty buckets take no memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenGaps {
    counts: BTreeMap<u32, u64>,
    count: u64,
    sum_s: f64,
}

/// Mean and percentiles of the gaps, in seconds (zero when there are none).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct GapStats {
    /// Arithmetic mean (exact up to float rounding).
    pub mean_s: f64,
    /// Median, within half a bucket (0.4 %).
    pub p50_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// Gaps recorded (output tokens after each request's first).
    pub count: u64,
}

/// The bucket of `ns`: exact below 256 ns, then 128 per power of two.
fn bucket(ns: u64) -> u32 {
    if ns < 2 * SUB {
        return ns as u32;
    }
    let shift = 64 - ns.leading_zeros() - (SUB_BITS + 1);
    (u64::from(shift) * SUB + (ns >> shift)) as u32
}

/// `[lower, upper)` of a bucket, in nanoseconds.
fn bounds(idx: u32) -> (u64, u64) {
    let idx = u64::from(idx);
    if idx < 2 * SUB {
        return (idx, idx + 1);
    }
    let shift = idx / SUB - 1;
    let m = idx - shift * SUB;
    (m << shift, (m + 1) << shift)
}

fn to_ns(s: f64) -> f64 {
    (s * 1e9).max(0.0)
}

impl TokenGaps {
    /// An empty histogram.
    pub fn new() -> TokenGaps {
        TokenGaps::default()
    }

    /// Records one gap.
    pub fn observe(&mut self, gap_s: f64) {
        self.observe_n(gap_s, 1);
    }

    /// Records `n` gaps of the same length.
    pub fn observe_n(&mut self, gap_s: f64, n: u64) {
        self.observe_arithmetic(gap_s, 0.0, 1, n);
    }

    /// Records `n_each` gaps of each value `first_s + step_s * j`, `j = 0..steps`
    /// (`step_s >= 0`): the steps of a decode run, each giving every request in the batch a
    /// token. O(buckets spanned).
    pub fn observe_arithmetic(&mut self, first_s: f64, step_s: f64, steps: u64, n_each: u64) {
        if steps == 0 || n_each == 0 {
            return;
        }
        debug_assert!(step_s >= 0.0);
        let (first, step) = (to_ns(first_s), to_ns(step_s));
        let last = first + step * (steps - 1) as f64;
        let (lo, hi) = (bucket(first.round() as u64), bucket(last.round() as u64));
        let mut below = 0u64;
        for idx in lo..=hi {
            // Values that round below the bucket's upper bound.
            let upper = bounds(idx).1 as f64 - 0.5;
            let le = if idx == hi || step <= 0.0 {
                steps
            } else if first >= upper {
                0
            } else {
                (((upper - first) / step).ceil() as u64).min(steps)
            };
            if le > below {
                *self.counts.entry(idx).or_insert(0) += (le - below) * n_each;
                below = le;
            }
        }
        let s = steps as f64;
        self.count += steps * n_each;
        self.sum_s += n_each as f64 * (s * first_s + step_s * s * (s - 1.0) / 2.0);
    }

    /// Adds another histogram.
    pub fn merge(&mut self, other: &TokenGaps) {
        for (&idx, &n) in &other.counts {
            *self.counts.entry(idx).or_insert(0) += n;
        }
        self.count += other.count;
        self.sum_s += other.sum_s;
    }

    /// Gaps recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The `q` quantile (rank `ceil(q * n)`, at least 1), the middle of its bucket, seconds.
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (&idx, &n) in &self.counts {
            seen += n;
            if seen >= rank {
                let (lo, hi) = bounds(idx);
                return (lo + hi - 1) as f64 / 2.0 / 1e9;
            }
        }
        unreachable!("rank {rank} within {} gaps", self.count)
    }

    /// Mean, p50, p90 and p99.
    pub fn stats(&self) -> GapStats {
        if self.count == 0 {
            return GapStats::default();
        }
        GapStats {
            mean_s: self.sum_s / self.count as f64,
            p50_s: self.quantile_s(0.50),
            p90_s: self.quantile_s(0.90),
            p99_s: self.quantile_s(0.99),
            count: self.count,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_tile_the_line_and_stay_narrow() {
        let mut prev_upper = 0;
        for idx in 0..5_000u32 {
            let (lo, hi) = bounds(idx);
            assert_eq!(lo, prev_upper, "bucket {idx} leaves a gap");
            assert_eq!(bucket(lo), idx);
            assert_eq!(bucket(hi - 1), idx);
            assert!((hi - lo) * SUB <= lo.max(SUB), "bucket {idx} is too wide");
            prev_upper = hi;
        }
    }

    #[test]
    fn an_arithmetic_series_lands_where_its_values_do() {
        // 1,000 steps from 20 ms growing by 7 µs, 3 tokens each, against one by one.
        let (first, step, steps) = (0.020, 7e-6, 1_000u64);
        let mut fused = TokenGaps::new();
        fused.observe_arithmetic(first, step, steps, 3);
        let mut one_by_one = TokenGaps::new();
        for j in 0..steps {
            for _ in 0..3 {
                one_by_one.observe(first + step * j as f64);
            }
        }
        assert_eq!(fused.counts, one_by_one.counts);
        assert_eq!(fused.count(), 3_000);
        let s = fused.stats();
        let exact_mean = first + step * (steps - 1) as f64 / 2.0;
        assert!((s.mean_s - exact_mean).abs() < 1e-12, "{}", s.mean_s);
        let exact_p90 = first + step * 899.0;
        assert!((s.p90_s / exact_p90 - 1.0).abs() < 0.004, "{}", s.p90_s);
    }

    #[test]
    fn percentiles_follow_the_rank_rule() {
        let mut h = TokenGaps::new();
        for ms in 1..=100u32 {
            h.observe(f64::from(ms) / 1e3);
        }
        let s = h.stats();
        assert!((s.p50_s / 0.050 - 1.0).abs() < 0.004, "{}", s.p50_s);
        assert!((s.p99_s / 0.099 - 1.0).abs() < 0.004, "{}", s.p99_s);
        let mut merged = TokenGaps::new();
        merged.merge(&h);
        merged.merge(&h);
        assert_eq!(merged.stats().p50_s, s.p50_s);
        assert_eq!(merged.count(), 200);
        assert_eq!(TokenGaps::new().stats(), GapStats::default());
    }
}
