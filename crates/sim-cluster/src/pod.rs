//! Pod start-up: what happens between "scheduled on a GPU" and "Ready".
//!
//! A pod that lands on a node pulls its image, loads the model and warms the engine, then
//! its readiness probe starts passing. The kubelet probes at `initialDelaySeconds` after the
//! container starts and then every `periodSeconds`, so Ready is the first probe tick at or
//! after the server is up. A probe that only checks the process (not the model) passes at the
//! first tick even while the model is still loading; that misconfiguration is modelled by
//! `ProbeSpec::checks_model = false`.

use rand_distr::{Distribution, LogNormal};
use sim_des::{SimDuration, SimRng};

use rand::RngExt;

/// A random duration, in seconds.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationDist {
    /// Always the same.
    Fixed { secs: f64 },
    /// Uniform between the bounds.
    Uniform { min_s: f64, max_s: f64 },
    /// Log-normal with the given median and 99th percentile.
    LogNormal { p50_s: f64, p99_s: f64 },
}

/// The z-score of the 99th percentile of a standard normal.
const Z_P99: f64 = 2.326_347_874_040_841;

impl DurationDist {
    /// Draws one duration.
    pub fn sample(&self, rng: &mut SimRng) -> SimDuration {
        let secs = match *self {
            DurationDist::Fixed { secs } => secs,
            DurationDist::Uniform { min_s, max_s } => {
                if max_s > min_s {
                    rng.random_range(min_s..max_s)
                } else {
                    min_s
                }
            }
            DurationDist::LogNormal { p50_s, p99_s } => {
                let sigma = ((p99_s / p50_s).ln() / Z_P99).max(0.0);
                match LogNormal::new(p50_s.ln(), sigma) {
                    Ok(d) => d.sample(rng),
                    Err(_) => p50_s,
                }
            }
        };
        SimDuration::from_secs_f64(secs)
    }

    /// Checks the parameters; the message names what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let ok = match *self {
            DurationDist::Fixed { secs } => secs.is_finite() && secs >= 0.0,
            DurationDist::Uniform { min_s, max_s } => {
                min_s.is_finite() && max_s.is_finite() && 0.0 <= min_s && min_s <= max_s
            }
            DurationDist::LogNormal { p50_s, p99_s } => {
                p50_s.is_finite() && p99_s.is_finite() && 0.0 < p50_s && p50_s <= p99_s
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "invalid duration distribution {self:?}: need 0 <= min <= max, or 0 < p50 <= p99"
            ))
        }
    }

    /// The mean, in seconds (for documentation and sanity checks).
    pub fn mean_s(&self) -> f64 {
        match *self {
            DurationDist::Fixed { secs } => secs,
            DurationDist::Uniform { min_s, max_s } => (min_s + max_s) / 2.0,
            DurationDist::LogNormal { p50_s, p99_s } => {
                let sigma = (p99_s / p50_s).ln() / Z_P99;
                p50_s * (sigma * sigma / 2.0).exp()
            }
        }
    }
}

/// How long a pod takes from scheduling until its server can answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StartupModel {
    /// One draw for the whole start-up (the container starts right away).
    Total { total: DurationDist },
    /// A sum of phases: image pull (before the container starts), then model load and engine
    /// warm-up (inside the container).
    Phases {
        image_pull: DurationDist,
        model_load: DurationDist,
        engine_init: DurationDist,
    },
}

/// The readiness probe.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    /// `initialDelaySeconds`.
    pub initial_delay_s: f64,
    /// `periodSeconds`.
    pub period_s: f64,
    /// True when the probe hits an endpoint that answers only once the model is loaded (vLLM's
    /// `/health`); false for a probe that passes as soon as the process listens.
    pub checks_model: bool,
}

/// Times of one pod's start-up, relative to the moment it was bound to a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartupTimes {
    /// The container started (image pulled).
    pub container_start: SimDuration,
    /// The server can serve requests (model loaded, engine warmed up).
    pub server_up: SimDuration,
    /// The readiness probe first passed; the pod joins the Service endpoints.
    pub ready: SimDuration,
}

impl StartupModel {
    /// Draws one pod's start-up and applies the readiness probe.
    pub fn sample(&self, probe: &ProbeSpec, rng: &mut SimRng) -> StartupTimes {
        let (container_start, server_up) = match self {
            StartupModel::Total { total } => (SimDuration::ZERO, total.sample(rng)),
            StartupModel::Phases {
                image_pull,
                model_load,
                engine_init,
            } => {
                let pull = image_pull.sample(rng);
                let load = model_load.sample(rng);
                let init = engine_init.sample(rng);
                (pull, pull + load + init)
            }
        };
        let first_probe = container_start + SimDuration::from_secs_f64(probe.initial_delay_s);
        let ready = if !probe.checks_model || first_probe >= server_up {
            first_probe
        } else {
            let period_ns = SimDuration::from_secs_f64(probe.period_s).as_nanos().max(1);
            let behind = server_up.as_nanos() - first_probe.as_nanos();
            // Saturating like all time arithmetic: a start-up of 1e15 s (accepted at load,
            // found by `sim-fuzz`) overflowed here; it means "never Ready within the run".
            SimDuration(
                first_probe
                    .as_nanos()
                    .saturating_add(behind.div_ceil(period_ns).saturating_mul(period_ns)),
            )
        };
        StartupTimes {
            container_start,
            server_up,
            ready,
        }
    }

    /// Checks every distribution.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            StartupModel::Total { total } => total.validate(),
            StartupModel::Phases {
                image_pull,
                model_load,
                engine_init,
            } => {
                image_pull.validate()?;
                model_load.validate()?;
                engine_init.validate()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_des::RngStreams;

    fn probe(initial_delay_s: f64, period_s: f64, checks_model: bool) -> ProbeSpec {
        ProbeSpec {
            initial_delay_s,
            period_s,
            checks_model,
        }
    }

    #[test]
    fn ready_is_the_first_probe_tick_after_the_server_is_up() {
        let model = StartupModel::Total {
            total: DurationDist::Fixed { secs: 47.0 },
        };
        let mut rng = RngStreams::new(1).stream("t");
        let t = model.sample(&probe(10.0, 10.0, true), &mut rng);
        assert_eq!(t.server_up, SimDuration::from_secs(47));
        assert_eq!(t.ready, SimDuration::from_secs(50));
        // A probe that starts late gates readiness by itself.
        let t = model.sample(&probe(90.0, 10.0, true), &mut rng);
        assert_eq!(t.ready, SimDuration::from_secs(90));
        // A probe that does not check the model passes before the model is loaded.
        let t = model.sample(&probe(5.0, 10.0, false), &mut rng);
        assert_eq!(t.ready, SimDuration::from_secs(5));
        assert!(t.ready < t.server_up);
    }

    #[test]
    fn an_endless_start_up_saturates_instead_of_overflowing() {
        let model = StartupModel::Total {
            total: DurationDist::Fixed { secs: 1e15 },
        };
        let mut rng = RngStreams::new(1).stream("t");
        let t = model.sample(&probe(10.0, 5.0, true), &mut rng);
        assert!(t.ready >= t.server_up);
    }

    #[test]
    fn phases_add_up_and_the_probe_counts_from_container_start() {
        let model = StartupModel::Phases {
            image_pull: DurationDist::Fixed { secs: 20.0 },
            model_load: DurationDist::Fixed { secs: 30.0 },
            engine_init: DurationDist::Fixed { secs: 12.0 },
        };
        let mut rng = RngStreams::new(1).stream("t");
        let t = model.sample(&probe(30.0, 15.0, true), &mut rng);
        assert_eq!(t.container_start, SimDuration::from_secs(20));
        assert_eq!(t.server_up, SimDuration::from_secs(62));
        // Probes at 50, 65, ... → 65.
        assert_eq!(t.ready, SimDuration::from_secs(65));
    }

    #[test]
    fn uniform_default_stays_in_range_and_has_the_right_mean() {
        let d = DurationDist::Uniform {
            min_s: 30.0,
            max_s: 120.0,
        };
        let mut rng = RngStreams::new(9).stream("cold_start");
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let s = d.sample(&mut rng).as_secs_f64();
            assert!((30.0..120.0).contains(&s));
            sum += s;
        }
        assert!((sum / f64::from(n) - 75.0).abs() < 1.0);
    }

    #[test]
    fn lognormal_matches_its_quantiles() {
        let d = DurationDist::LogNormal {
            p50_s: 60.0,
            p99_s: 180.0,
        };
        let mut rng = RngStreams::new(3).stream("cold_start");
        let mut v: Vec<f64> = (0..20_000)
            .map(|_| d.sample(&mut rng).as_secs_f64())
            .collect();
        v.sort_by(f64::total_cmp);
        let p50 = v[10_000];
        let p99 = v[19_800];
        assert!((p50 / 60.0 - 1.0).abs() < 0.03, "p50 {p50}");
        assert!((p99 / 180.0 - 1.0).abs() < 0.08, "p99 {p99}");
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(
            DurationDist::Uniform {
                min_s: 5.0,
                max_s: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(
            DurationDist::LogNormal {
                p50_s: 0.0,
                p99_s: 1.0
            }
            .validate()
            .is_err()
        );
        assert!(DurationDist::Fixed { secs: f64::NAN }.validate().is_err());
        assert!(DurationDist::Fixed { secs: 0.0 }.validate().is_ok());
    }
}
