//! The cumulative rate Λ(t) of a rate profile and its inverse, for time rescaling.

use crate::RateProfile;

/// Λ(t) = ∫₀ᵗ rate, in a form that inverts quickly.
#[derive(Clone, Debug)]
pub(crate) enum Cumulative {
    /// Piecewise-constant rate. Piece `i` starts at `starts[i]` with rate `rates[i]`, and
    /// `cum[i]` is Λ at its start. Without a period the last piece never ends; with one,
    /// the pieces repeat every `period.0` seconds, each repetition adding `period.1`.
    Pieces {
        starts: Vec<f64>,
        rates: Vec<f64>,
        cum: Vec<f64>,
        period: Option<(f64, f64)>,
    },
    /// `base + amplitude * cos(2π (t − phase) / period)`.
    Diurnal {
        base: f64,
        amplitude: f64,
        period: f64,
        phase: f64,
    },
}

impl Cumulative {
    /// Builds Λ for a profile that has passed validation.
    pub(crate) fn new(profile: &RateProfile) -> Cumulative {
        let pieces = |parts: &[(f64, f64)], period: Option<f64>| {
            let starts: Vec<f64> = parts.iter().map(|p| p.0).collect();
            let rates: Vec<f64> = parts.iter().map(|p| p.1).collect();
            let mut cum = Vec::with_capacity(parts.len());
            let mut acc = 0.0;
            for (i, (start, rate)) in parts.iter().enumerate() {
                cum.push(acc);
                let end = parts.get(i + 1).map(|p| p.0).or(period).unwrap_or(*start);
                acc += rate * (end - start);
            }
            let period = period.map(|p| (p, acc));
            Cumulative::Pieces {
                starts,
                rates,
                cum,
                period,
            }
        };
        match profile {
            RateProfile::Constant { rate_rps } => pieces(&[(0.0, *rate_rps)], None),
            RateProfile::Step {
                before_rps,
                after_rps,
                at_s,
            } => pieces(&[(0.0, *before_rps), (*at_s, *after_rps)], None),
            RateProfile::Spike {
                base_rps,
                spike_rps,
                start_s,
                duration_s,
            } => pieces(
                &[
                    (0.0, *base_rps),
                    (*start_s, *spike_rps),
                    (start_s + duration_s, *base_rps),
                ],
                None,
            ),
            RateProfile::Piecewise { step_s, rates_rps } => {
                let parts: Vec<(f64, f64)> = rates_rps
                    .iter()
                    .enumerate()
                    .map(|(i, r)| (i as f64 * step_s, *r))
                    .collect();
                pieces(&parts, Some(step_s * rates_rps.len() as f64))
            }
            RateProfile::Diurnal {
                base_rps,
                amplitude_rps,
                period_s,
                phase_s,
            } => Cumulative::Diurnal {
                base: *base_rps,
                amplitude: *amplitude_rps,
                period: *period_s,
                phase: *phase_s,
            },
        }
    }

    /// The rate at `t` seconds, in requests per second.
    pub(crate) fn rate(&self, t: f64) -> f64 {
        match self {
            Cumulative::Pieces {
                starts,
                rates,
                period,
                ..
            } => {
                let local = match period {
                    Some((p, _)) => t.rem_euclid(*p),
                    None => t,
                };
                let i = starts.partition_point(|s| *s <= local).saturating_sub(1);
                rates[i]
            }
            Cumulative::Diurnal {
                base,
                amplitude,
                period,
                phase,
            } => base + amplitude * (std::f64::consts::TAU * (t - phase) / period).cos(),
        }
    }

    /// Λ(t): the expected number of arrivals in `[0, t)`.
    pub(crate) fn at(&self, t: f64) -> f64 {
        match self {
            Cumulative::Pieces {
                starts,
                rates,
                cum,
                period,
            } => {
                let (whole, local) = match period {
                    Some((p, per)) => {
                        let k = (t / p).floor();
                        (k * per, (t - k * p).clamp(0.0, *p))
                    }
                    None => (0.0, t),
                };
                let i = starts.partition_point(|s| *s <= local).saturating_sub(1);
                whole + cum[i] + rates[i] * (local - starts[i])
            }
            Cumulative::Diurnal {
                base,
                amplitude,
                period,
                phase,
            } => {
                let w = std::f64::consts::TAU / period;
                base * t + amplitude / w * ((w * (t - phase)).sin() - (w * -phase).sin())
            }
        }
    }

    /// The earliest `t >= 0` with Λ(t) >= `s`, or infinity when the rate never gets there.
    pub(crate) fn inverse(&self, s: f64) -> f64 {
        if s <= 0.0 {
            return 0.0;
        }
        match self {
            Cumulative::Pieces {
                starts,
                rates,
                cum,
                period,
            } => {
                let (k, rem) = match period {
                    Some((p, per)) => {
                        let k = (s / per).floor();
                        (k * p, (s - k * per).clamp(0.0, *per))
                    }
                    None => (0.0, s),
                };
                let n = starts.len();
                // The first piece whose end reaches `rem`; the last piece absorbs the rest.
                let ends = |i: usize| match (i + 1 < n, period) {
                    (true, _) => cum[i + 1],
                    (false, Some((_, per))) => *per,
                    (false, None) => f64::INFINITY,
                };
                let mut lo = 0usize;
                let mut hi = n - 1;
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if ends(mid) < rem {
                        lo = mid + 1
                    } else {
                        hi = mid
                    }
                }
                let i = lo;
                let local = if rates[i] > 0.0 {
                    starts[i] + (rem - cum[i]) / rates[i]
                } else if period.is_none() && i == n - 1 && rem > cum[i] {
                    f64::INFINITY
                } else {
                    starts[i]
                };
                let piece_end = match (i + 1 < n, period) {
                    (true, _) => starts[i + 1],
                    (false, Some((p, _))) => *p,
                    (false, None) => f64::INFINITY,
                };
                k + local.clamp(starts[i], piece_end)
            }
            Cumulative::Diurnal {
                base,
                amplitude,
                period,
                ..
            } => {
                // |Λ(t) − base·t| <= amplitude·period/π, which brackets the root.
                let spread = amplitude * period / std::f64::consts::PI;
                let mut lo = ((s - spread) / base).max(0.0);
                let mut hi = (s + spread) / base;
                let mut t = s / base;
                let tolerance = 1e-12 * s.max(1.0);
                for _ in 0..200 {
                    let f = self.at(t) - s;
                    if f.abs() <= tolerance || hi - lo <= 1e-10 {
                        break;
                    }
                    if f < 0.0 {
                        lo = t
                    } else {
                        hi = t
                    }
                    let rate = self.rate(t);
                    let newton = t - f / rate;
                    t = if rate > 0.0 && newton > lo && newton < hi {
                        newton
                    } else {
                        0.5 * (lo + hi)
                    };
                }
                t
            }
        }
    }
}
