//! Synthetic workloads: a rate profile, a renewal process for arrivals and length distributions.

use std::sync::Arc;

use rand::RngExt;
use rand_distr::{Distribution, Exp1, Gamma, LogNormal};
use sim_des::{RngStreams, SimRng, SimTime};

use crate::rate::Cumulative;
use crate::{Request, RequestStream, TraceError};

/// The standard normal quantile at 0.99, which links a log-normal's p50 and p99.
const Z_P99: f64 = 2.326_347_874_0;

/// A synthetic workload.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Arrivals are generated in `[0, duration_s)`.
    pub duration_s: f64,
    /// The arrival rate over time.
    pub rate: RateProfile,
    /// Coefficient of variation of the gaps in rescaled time: 1 gives a (non-homogeneous)
    /// Poisson process, other values a Gamma renewal process (below 1 is more regular,
    /// above 1 burstier).
    pub arrival_cv: f64,
    /// Prompt lengths.
    pub prompt_tokens: LengthDist,
    /// Output lengths.
    pub output_tokens: LengthDist,
}

/// Arrival rate as a function of time since the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub enum RateProfile {
    /// The same rate throughout.
    Constant {
        /// Requests per second.
        rate_rps: f64,
    },
    /// `base_rps + amplitude_rps * cos(2π (t − phase_s) / period_s)`: a smooth daily (or any
    /// period) cycle whose first peak is at `phase_s`.
    Diurnal {
        /// The mean rate.
        base_rps: f64,
        /// Half the peak-to-trough swing; at most `base_rps`.
        amplitude_rps: f64,
        /// Length of one cycle.
        period_s: f64,
        /// Time of the peak within the cycle.
        phase_s: f64,
    },
    /// `before_rps` until `at_s`, then `after_rps` for ever.
    Step {
        /// The rate before the step.
        before_rps: f64,
        /// The rate from the step on.
        after_rps: f64,
        /// When the step happens.
        at_s: f64,
    },
    /// `base_rps`, except `spike_rps` (the rate itself, not an increment) during
    /// `[start_s, start_s + duration_s)`.
    Spike {
        /// The rate outside the spike.
        base_rps: f64,
        /// The rate during the spike.
        spike_rps: f64,
        /// When the spike starts.
        start_s: f64,
        /// How long it lasts.
        duration_s: f64,
    },
    /// `rates_rps[i]` during `[i * step_s, (i + 1) * step_s)`. After the last step the
    /// sequence starts again from the first, so a recorded profile repeats.
    Piecewise {
        /// Length of each step.
        step_s: f64,
        /// The rate of each step.
        rates_rps: Vec<f64>,
    },
}

/// A distribution of token counts. Every draw is at least 1.
#[derive(Clone, Debug, PartialEq)]
pub enum LengthDist {
    /// Always the same length.
    Fixed {
        /// The length.
        tokens: u32,
    },
    /// Uniform over `min_tokens..=max_tokens`.
    Uniform {
        /// The smallest length.
        min_tokens: u32,
        /// The largest length.
        max_tokens: u32,
    },
    /// Log-normal with the given median and 99th percentile, rounded to the nearest integer
    /// and clamped to `[min_tokens, max_tokens]`.
    LogNormal {
        /// The median before rounding and clamping.
        p50_tokens: f64,
        /// The 99th percentile before rounding and clamping.
        p99_tokens: f64,
        /// The clamp's lower end, at least 1.
        min_tokens: u32,
        /// The clamp's upper end.
        max_tokens: u32,
    },
    /// A uniformly chosen element of `samples`, for example the lengths of a trace
    /// (see [`crate::empirical_lengths`]).
    Empirical {
        /// The lengths to draw from; all at least 1.
        samples: Arc<[u32]>,
    },
    /// An inverse-CDF table: `points[i]` is the `i/(n−1)` quantile of `n` points. A draw takes
    /// `u` uniform in `[0, 1)`, interpolates linearly between the two points around position
    /// `u·(n−1)` and rounds to the nearest integer. This reproduces a distribution's whole
    /// shape (and so its mean) without holding every sample.
    Quantiles {
        /// At least 2 finite, non-decreasing points in `[1, u32::MAX]`.
        points: Arc<[f64]>,
    },
}

fn positive(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a positive number, got {v}"))
    }
}

fn non_negative(name: &str, v: f64) -> Result<(), String> {
    if v.is_finite() && v >= 0.0 {
        Ok(())
    } else {
        Err(format!("{name} must be a non-negative number, got {v}"))
    }
}

impl SyntheticSpec {
    /// Checks that the spec describes a real workload; the message names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        positive("duration_s", self.duration_s)?;
        positive("arrival_cv", self.arrival_cv)?;
        self.rate.validate().map_err(|e| format!("rate: {e}"))?;
        self.prompt_tokens
            .validate()
            .map_err(|e| format!("prompt_tokens: {e}"))?;
        self.output_tokens
            .validate()
            .map_err(|e| format!("output_tokens: {e}"))?;
        Ok(())
    }
}

impl RateProfile {
    /// Checks that the rate is finite, never negative, and not zero everywhere.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            RateProfile::Constant { rate_rps } => positive("rate_rps", *rate_rps),
            RateProfile::Diurnal {
                base_rps,
                amplitude_rps,
                period_s,
                phase_s,
            } => {
                positive("base_rps", *base_rps)?;
                non_negative("amplitude_rps", *amplitude_rps)?;
                positive("period_s", *period_s)?;
                if !phase_s.is_finite() {
                    return Err(format!("phase_s must be finite, got {phase_s}"));
                }
                if amplitude_rps > base_rps {
                    return Err(format!(
                        "amplitude_rps ({amplitude_rps}) must not exceed base_rps ({base_rps}), \
                         or the rate would go negative"
                    ));
                }
                Ok(())
            }
            RateProfile::Step {
                before_rps,
                after_rps,
                at_s,
            } => {
                non_negative("before_rps", *before_rps)?;
                non_negative("after_rps", *after_rps)?;
                non_negative("at_s", *at_s)?;
                if *before_rps == 0.0 && *after_rps == 0.0 {
                    return Err("before_rps and after_rps are both zero".to_string());
                }
                Ok(())
            }
            RateProfile::Spike {
                base_rps,
                spike_rps,
                start_s,
                duration_s,
            } => {
                non_negative("base_rps", *base_rps)?;
                non_negative("spike_rps", *spike_rps)?;
                non_negative("start_s", *start_s)?;
                positive("duration_s", *duration_s)?;
                if *base_rps == 0.0 && *spike_rps == 0.0 {
                    return Err("base_rps and spike_rps are both zero".to_string());
                }
                Ok(())
            }
            RateProfile::Piecewise { step_s, rates_rps } => {
                positive("step_s", *step_s)?;
                if rates_rps.is_empty() {
                    return Err("rates_rps is empty".to_string());
                }
                for (i, r) in rates_rps.iter().enumerate() {
                    non_negative(&format!("rates_rps[{i}]"), *r)?;
                }
                if rates_rps.iter().all(|r| *r == 0.0) {
                    return Err("every entry of rates_rps is zero".to_string());
                }
                Ok(())
            }
        }
    }

    /// The rate at `t_s` seconds, in requests per second.
    pub fn rate_rps(&self, t_s: f64) -> f64 {
        Cumulative::new(self).rate(t_s)
    }

    /// The expected number of arrivals in `[from_s, to_s)`.
    pub fn expected_requests(&self, from_s: f64, to_s: f64) -> f64 {
        let c = Cumulative::new(self);
        c.at(to_s) - c.at(from_s)
    }
}

impl LengthDist {
    /// A log-normal given its mean and median instead of its p99 (the mean must not be
    /// below the median, as for every log-normal).
    pub fn lognormal_from_mean_p50(
        mean_tokens: f64,
        p50_tokens: f64,
        min_tokens: u32,
        max_tokens: u32,
    ) -> Result<LengthDist, String> {
        positive("mean_tokens", mean_tokens)?;
        positive("p50_tokens", p50_tokens)?;
        if mean_tokens < p50_tokens {
            return Err(format!(
                "mean_tokens ({mean_tokens}) is below p50_tokens ({p50_tokens}); \
                 a log-normal's mean is never below its median"
            ));
        }
        // mean = p50 * exp(sigma² / 2).
        let sigma = (2.0 * (mean_tokens / p50_tokens).ln()).sqrt();
        let dist = LengthDist::LogNormal {
            p50_tokens,
            p99_tokens: p50_tokens * (Z_P99 * sigma).exp(),
            min_tokens,
            max_tokens,
        };
        dist.validate()?;
        Ok(dist)
    }

    /// Checks bounds and parameters; the message names the bad field.
    pub fn validate(&self) -> Result<(), String> {
        let bounds = |min: u32, max: u32| {
            if min == 0 {
                Err("min_tokens must be at least 1".to_string())
            } else if min > max {
                Err(format!("min_tokens ({min}) exceeds max_tokens ({max})"))
            } else {
                Ok(())
            }
        };
        match self {
            LengthDist::Fixed { tokens } if *tokens == 0 => {
                Err("tokens must be at least 1".to_string())
            }
            LengthDist::Fixed { .. } => Ok(()),
            LengthDist::Uniform {
                min_tokens,
                max_tokens,
            } => bounds(*min_tokens, *max_tokens),
            LengthDist::LogNormal {
                p50_tokens,
                p99_tokens,
                min_tokens,
                max_tokens,
            } => {
                positive("p50_tokens", *p50_tokens)?;
                positive("p99_tokens", *p99_tokens)?;
                if p99_tokens < p50_tokens {
                    return Err(format!(
                        "p99_tokens ({p99_tokens}) is below p50_tokens ({p50_tokens})"
                    ));
                }
                bounds(*min_tokens, *max_tokens)
            }
            LengthDist::Empirical { samples } => {
                if samples.is_empty() {
                    Err("samples is empty".to_string())
                } else if let Some(i) = samples.iter().position(|s| *s == 0) {
                    Err(format!(
                        "samples[{i}] is 0; every length must be at least 1"
                    ))
                } else {
                    Ok(())
                }
            }
            LengthDist::Quantiles { points } => validate_quantiles(points),
        }
    }

    /// The log-normal's `(mu, sigma)` of the natural log, if this is one.
    pub fn lognormal_params(&self) -> Option<(f64, f64)> {
        match self {
            LengthDist::LogNormal {
                p50_tokens,
                p99_tokens,
                ..
            } => {
                let mu = p50_tokens.ln();
                Some((mu, (p99_tokens.ln() - mu) / Z_P99))
            }
            _ => None,
        }
    }
}

fn validate_quantiles(points: &[f64]) -> Result<(), String> {
    if points.len() < 2 {
        return Err(format!(
            "points needs at least 2 entries (the 0 and 1 quantiles), got {}",
            points.len()
        ));
    }
    let max = f64::from(u32::MAX);
    for (i, p) in points.iter().enumerate() {
        if !p.is_finite() {
            return Err(format!("points[{i}] is {p}; every point must be finite"));
        }
        if *p < 1.0 || *p > max {
            return Err(format!(
                "points[{i}] is {p}; every point must be between 1 and {max}"
            ));
        }
        if i > 0 && *p < points[i - 1] {
            return Err(format!(
                "points[{i}] ({p}) is below points[{}] ({}); the table must be non-decreasing",
                i - 1,
                points[i - 1]
            ));
        }
    }
    Ok(())
}

/// A ready-to-draw form of a [`LengthDist`].
pub(crate) enum LengthSampler {
    Fixed(u32),
    Uniform(u32, u32),
    LogNormal(LogNormal<f64>, f64, f64),
    Empirical(Arc<[u32]>),
    Quantiles(Arc<[f64]>),
}

impl LengthSampler {
    pub(crate) fn new(dist: &LengthDist) -> Result<LengthSampler, String> {
        dist.validate()?;
        Ok(match dist {
            LengthDist::Fixed { tokens } => LengthSampler::Fixed(*tokens),
            LengthDist::Uniform {
                min_tokens,
                max_tokens,
            } => LengthSampler::Uniform(*min_tokens, *max_tokens),
            LengthDist::LogNormal {
                min_tokens,
                max_tokens,
                ..
            } => {
                let (mu, sigma) = dist.lognormal_params().unwrap_or((0.0, 0.0));
                let ln = LogNormal::new(mu, sigma).map_err(|e| format!("log-normal: {e}"))?;
                LengthSampler::LogNormal(ln, f64::from(*min_tokens), f64::from(*max_tokens))
            }
            LengthDist::Empirical { samples } => LengthSampler::Empirical(samples.clone()),
            LengthDist::Quantiles { points } => LengthSampler::Quantiles(points.clone()),
        })
    }

    pub(crate) fn draw(&self, rng: &mut SimRng) -> u32 {
        match self {
            LengthSampler::Fixed(n) => *n,
            LengthSampler::Uniform(lo, hi) => rng.random_range(*lo..=*hi),
            LengthSampler::LogNormal(ln, lo, hi) => ln.sample(rng).round().clamp(*lo, *hi) as u32,
            LengthSampler::Empirical(samples) => samples[rng.random_range(0..samples.len())],
            LengthSampler::Quantiles(points) => {
                let u: f64 = rng.random();
                quantile_at(points, u).round().max(1.0) as u32
            }
        }
    }
}

/// The table's value at `u` in `[0, 1)`: linear interpolation at position `u·(n−1)`.
fn quantile_at(points: &[f64], u: f64) -> f64 {
    let last = points.len() - 1;
    let h = u * last as f64;
    let lo = (h.floor() as usize).min(last);
    let hi = (lo + 1).min(last);
    points[lo] + (h - lo as f64) * (points[hi] - points[lo])
}

/// Gaps of a unit-rate renewal process.
enum GapSampler {
    Exponential,
    Gamma(Gamma<f64>),
}

impl GapSampler {
    fn draw(&self, rng: &mut SimRng) -> f64 {
        match self {
            GapSampler::Exponential => Exp1.sample(rng),
            GapSampler::Gamma(g) => g.sample(rng),
        }
    }
}

struct Synthetic {
    cumulative: Cumulative,
    duration_s: f64,
    end: f64,
    operational: f64,
    last_ns: u64,
    next_id: u64,
    gaps: GapSampler,
    prompt: LengthSampler,
    output: LengthSampler,
    arrivals_rng: SimRng,
    prompt_rng: SimRng,
    output_rng: SimRng,
}

impl Iterator for Synthetic {
    type Item = Result<Request, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.operational += self.gaps.draw(&mut self.arrivals_rng);
        if self.operational >= self.end {
            return None;
        }
        let t = self.cumulative.inverse(self.operational);
        if t.is_nan() || t >= self.duration_s {
            self.end = self.operational;
            return None;
        }
        self.last_ns = SimTime::from_secs_f64(t).as_nanos().max(self.last_ns);
        let id = self.next_id;
        self.next_id += 1;
        Some(Ok(Request {
            id,
            arrival: SimTime(self.last_ns),
            prompt_tokens: self.prompt.draw(&mut self.prompt_rng),
            output_tokens: self.output.draw(&mut self.output_rng),
        }))
    }
}

/// Generates a synthetic workload lazily.
///
/// Arrivals come from time rescaling: the points of a unit-rate renewal process (gaps with
/// mean 1 and CV `arrival_cv`) in "operational time" `s` are mapped to `t = Λ⁻¹(s)`, where
/// Λ is the cumulative rate of the profile. The process starts at 0 and its first point
/// comes one gap later. Arrivals draw from the stream `"arrivals"`, prompt lengths from
/// `"prompt_tokens"` and output lengths from `"output_tokens"`, so changing one of them
/// leaves the others' draws alone. An invalid spec yields one [`TraceError::Invalid`].
pub fn synthetic<'a>(spec: &SyntheticSpec, streams: &RngStreams) -> RequestStream<'a> {
    match build(spec, streams) {
        Ok(s) => Box::new(s),
        Err(msg) => Box::new(std::iter::once(Err(TraceError::Invalid(msg)))),
    }
}

fn build(spec: &SyntheticSpec, streams: &RngStreams) -> Result<Synthetic, String> {
    spec.validate()?;
    let gaps = if spec.arrival_cv == 1.0 {
        GapSampler::Exponential
    } else {
        let var = spec.arrival_cv * spec.arrival_cv;
        GapSampler::Gamma(Gamma::new(1.0 / var, var).map_err(|e| format!("arrival_cv: {e}"))?)
    };
    let cumulative = Cumulative::new(&spec.rate);
    Ok(Synthetic {
        end: cumulative.at(spec.duration_s),
        cumulative,
        duration_s: spec.duration_s,
        operational: 0.0,
        last_ns: 0,
        next_id: 0,
        gaps,
        prompt: LengthSampler::new(&spec.prompt_tokens)
            .map_err(|e| format!("prompt_tokens: {e}"))?,
        output: LengthSampler::new(&spec.output_tokens)
            .map_err(|e| format!("output_tokens: {e}"))?,
        arrivals_rng: streams.stream("arrivals"),
        prompt_rng: streams.stream("prompt_tokens"),
        output_rng: streams.stream("output_tokens"),
    })
}
