//! Per-point statistics over seeds, the Pareto front and the best point. Every reduction is
//! serial, in seed order, so the numbers do not depend on how the runs were scheduled.

use crate::error::SweepError;
use crate::plan::{Check, Plan};
use crate::run::{JobResult, round9};

/// One point's metrics over its seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct PointStats {
    /// Point index.
    pub point: usize,
    /// Runs aggregated (the plan's seed count).
    pub runs: usize,
    /// Mean of each metric column.
    pub mean: Vec<f64>,
    /// Half-width of the 95 % confidence interval of the mean (Student t), when runs > 1.
    pub ci95: Vec<Option<f64>>,
    /// Each SLO check with the point's mean value; the point meets the SLO when all hold.
    pub checks: Vec<(Check, f64)>,
}

impl PointStats {
    /// Whether every SLO check holds on the mean over seeds.
    pub fn slo_ok(&self) -> bool {
        self.checks.iter().all(|(c, v)| c.holds(*v))
    }

    /// The largest relative miss over the checks (0 when all hold): how far from passing.
    pub fn worst_miss(&self) -> f64 {
        self.checks
            .iter()
            .map(|(c, v)| relative_miss(c, *v))
            .fold(0.0, f64::max)
    }
}

/// How far `value` misses `check`, relative to the threshold (0 when it holds).
pub fn relative_miss(check: &Check, value: f64) -> f64 {
    if check.holds(value) {
        return 0.0;
    }
    let scale = check.threshold.abs().max(1e-12);
    (value - check.threshold).abs() / scale
}

/// Aggregates complete results (every job of the plan, in job order) into per-point stats.
///
/// # Errors
/// When a job is missing or duplicated.
pub fn summarize(plan: &Plan, results: &[JobResult]) -> Result<Vec<PointStats>, SweepError> {
    if results.len() != plan.jobs() || results.iter().enumerate().any(|(i, r)| r.job != i) {
        return Err(SweepError::Mismatch(format!(
            "results hold {} of {} jobs, or are out of order",
            results.len(),
            plan.jobs()
        )));
    }
    let n = plan.seeds.len();
    let checks = plan.checks();
    let mut out = Vec::with_capacity(plan.points.len());
    for (point, runs) in results.chunks(n).enumerate() {
        let cols = plan.metrics.len();
        let mut mean = Vec::with_capacity(cols);
        let mut ci95 = Vec::with_capacity(cols);
        for c in 0..cols {
            let mut sum = 0.0;
            for r in runs {
                sum += r.values[c];
            }
            let m = sum / n as f64;
            mean.push(round9(m));
            // No interval around an infinite mean (some seed left a percentile unserved).
            ci95.push(if n > 1 && m.is_finite() {
                let mut ss = 0.0;
                for r in runs {
                    ss += (r.values[c] - m) * (r.values[c] - m);
                }
                let sd = (ss / (n - 1) as f64).sqrt();
                Some(round9(student_t_975(n - 1) * sd / (n as f64).sqrt()))
            } else {
                None
            });
        }
        let point_checks = checks
            .iter()
            .map(|c| {
                let v = plan.metric_index(&c.metric).map_or(f64::NAN, |i| mean[i]);
                (c.clone(), v)
            })
            .collect();
        out.push(PointStats {
            point,
            runs: n,
            mean,
            ci95,
            checks: point_checks,
        });
    }
    Ok(out)
}

/// The 97.5th percentile of Student's t with `df` degrees of freedom (two-sided 95 %).
/// Tabulated to df = 30, then the Cornish-Fisher expansion around the normal quantile.
pub fn student_t_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004,
        2.262_157, 2.228_139, 2.200_985, 2.178_813, 2.160_369, 2.144_787, 2.131_450, 2.119_905,
        2.109_816, 2.100_922, 2.093_024, 2.085_963, 2.079_614, 2.073_873, 2.068_658, 2.063_899,
        2.059_539, 2.055_529, 2.051_831, 2.048_407, 2.045_230, 2.042_272,
    ];
    if df == 0 {
        return f64::NAN;
    }
    if df <= TABLE.len() {
        return TABLE[df - 1];
    }
    let z: f64 = 1.959_963_984_540_054;
    let v = df as f64;
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * v)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
}

/// Points on the Pareto front of (objective, latency), both minimised, sorted by objective.
/// Of identical points only the first is kept.
pub fn pareto(plan: &Plan, stats: &[PointStats]) -> Vec<usize> {
    let (oi, li) = (
        plan.metric_index(&plan.objective).expect("checked in plan"),
        plan.metric_index(&plan.latency).expect("checked in plan"),
    );
    let mut order: Vec<&PointStats> = stats.iter().collect();
    order.sort_by(|a, b| {
        a.mean[oi]
            .total_cmp(&b.mean[oi])
            .then(a.mean[li].total_cmp(&b.mean[li]))
            .then(a.point.cmp(&b.point))
    });
    let mut front = Vec::new();
    let mut best_latency = f64::INFINITY;
    for s in order {
        if s.mean[li] < best_latency {
            best_latency = s.mean[li];
            front.push(s.point);
        }
    }
    front
}

/// The point that meets the SLO with the lowest objective (ties: lower latency, then lower
/// index), if any point meets it.
pub fn best(plan: &Plan, stats: &[PointStats]) -> Option<usize> {
    let (oi, li) = (
        plan.metric_index(&plan.objective).expect("checked in plan"),
        plan.metric_index(&plan.latency).expect("checked in plan"),
    );
    stats
        .iter()
        .filter(|s| s.slo_ok())
        .min_by(|a, b| {
            a.mean[oi]
                .total_cmp(&b.mean[oi])
                .then(a.mean[li].total_cmp(&b.mean[li]))
                .then(a.point.cmp(&b.point))
        })
        .map(|s| s.point)
}

/// The point closest to meeting the SLO (smallest worst relative miss), for messages.
pub fn nearest_miss(stats: &[PointStats]) -> Option<usize> {
    stats
        .iter()
        .min_by(|a, b| {
            a.worst_miss()
                .total_cmp(&b.worst_miss())
                .then(a.point.cmp(&b.point))
        })
        .map(|s| s.point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_the_table_and_tend_to_the_normal() {
        assert_eq!(student_t_975(1), 12.706_205);
        assert_eq!(student_t_975(2), 4.302_653);
        // Published values: t(0.975, 40) = 2.021075, t(0.975, 120) = 1.979930.
        assert!((student_t_975(40) - 2.021_075).abs() < 1e-4);
        assert!((student_t_975(120) - 1.979_930).abs() < 1e-5);
        assert!(student_t_975(31) < student_t_975(30));
        assert!(student_t_975(0).is_nan());
    }
}
