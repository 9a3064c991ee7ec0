//! Knative Serving's Pod Autoscaler (KPA), one decision tick at a time.
//!
//! Knative splits the work in two. The autoscaler's *decider* runs every 2 s: it averages
//! the revision-wide total concurrency (or requests per second) over a 60 s stable window
//! and a 6 s panic window, divides by the per-pod target, enters panic mode when the
//! short window wants at least twice the ready pods, never scales down while panicking,
//! limits each step to x1000 up and /2 down, and keeps the largest decision of the
//! scale-down delay. The *PodAutoscaler reconciler* then applies min/max, the initial
//! scale, and the scale-to-zero rules (hold 1 pod until the revision has been active for
//! a stable window, then wait for the grace period with the activator in the data path).
//! [`kpa_tick`] runs both, in that order, and returns the replica count the Deployment
//! ends up with.
//!
//! The engine feeds [`KpaObservation`]: the per-second samples Knative's collector would
//! have recorded since the previous tick (see [`KpaSample`] for what one sample is) and
//! the number of Ready pods. Times are [`SimTime`]; the revision's memory is [`KpaState`].
//!
//! Followed: `knative/serving` @ `98e5ef90` (2026-08), files
//! `pkg/autoscaler/scaling/autoscaler.go`, `pkg/autoscaler/aggregation/bucketing.go`,
//! `pkg/autoscaler/aggregation/max/`, `pkg/reconciler/autoscaling/kpa/{kpa,scaler}.go`,
//! `pkg/reconciler/autoscaling/resources/{target,metric}.go`, `pkg/autoscaler/config`.

mod decider;
mod revision;
mod windows;

use sim_des::{SimDuration, SimTime};

pub use windows::{MaxWindow, WindowBuckets};

const NS_PER_S: u64 = 1_000_000_000;

/// The metric the KPA scales on (`autoscaling.knative.dev/metric`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KpaMetric {
    /// In-flight requests (time-averaged per second), the default.
    #[default]
    Concurrency,
    /// Requests started per second.
    Rps,
}

/// A revision's autoscaling settings: `config-autoscaler` defaults overridden by the
/// revision's annotations. [`KpaConfig::default`] holds Knative's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct KpaConfig {
    /// `metric`: concurrency or rps.
    pub metric: KpaMetric,
    /// `autoscaling.knative.dev/target`: the per-pod soft limit before utilisation.
    /// Unset: `container_concurrency` if > 0, else 100 (concurrency) or 200 (rps).
    pub target: Option<f64>,
    /// `spec.containerConcurrency` (hard limit per pod; 0 = none). Caps a concurrency target.
    pub container_concurrency: u32,
    /// `target-utilization-percentage` / `container-concurrency-target-percentage` (70).
    pub target_utilization_percentage: f64,
    /// `stable-window` (60 s; 6 s ... 1 h, whole seconds).
    pub stable_window: SimDuration,
    /// `panic-window-percentage` (10 % of the stable window; 1 ... 100).
    pub panic_window_percentage: f64,
    /// `panic-threshold-percentage` (200 %; 110 ... 1000).
    pub panic_threshold_percentage: f64,
    /// `max-scale-up-rate` (1000; > 1).
    pub max_scale_up_rate: f64,
    /// `max-scale-down-rate` (2; > 1).
    pub max_scale_down_rate: f64,
    /// `scale-to-zero-grace-period` (30 s; > 0).
    pub scale_to_zero_grace_period: SimDuration,
    /// `scale-to-zero-pod-retention-period` (0 s): how long the last pod stays after the
    /// revision went inactive.
    pub scale_to_zero_pod_retention_period: SimDuration,
    /// `scale-down-delay` (0 s, whole seconds).
    pub scale_down_delay: SimDuration,
    /// `min-scale` (0).
    pub min_scale: u32,
    /// `max-scale` (0 = unbounded).
    pub max_scale: u32,
    /// `initial-scale` (1; 0 stands for `allow-zero-initial-scale: true` with 0).
    pub initial_scale: u32,
    /// `activation-scale` (1 = unset): the smallest non-zero size while there is traffic.
    pub activation_scale: u32,
    /// The decider's tick (2 s, hard-coded upstream; whole seconds). Also the slot width
    /// of the scale-down-delay window.
    pub tick_interval: SimDuration,
    /// `enable-scale-to-zero` (true).
    pub enable_scale_to_zero: bool,
    /// `target-burst-capacity` (211; 0 = activator only at zero; -1 = always in the path).
    pub target_burst_capacity: f64,
    /// `activator-capacity` (100 requests per activator task).
    pub activator_capacity: f64,
    /// The Deployment's `progressDeadlineSeconds` (600 s): a revision still activating
    /// 30 s after it goes back to zero.
    pub progress_deadline: SimDuration,
}

impl Default for KpaConfig {
    fn default() -> KpaConfig {
        KpaConfig {
            metric: KpaMetric::Concurrency,
            target: None,
            container_concurrency: 0,
            target_utilization_percentage: 70.0,
            stable_window: SimDuration::from_secs(60),
            panic_window_percentage: 10.0,
            panic_threshold_percentage: 200.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            scale_to_zero_grace_period: SimDuration::from_secs(30),
            scale_to_zero_pod_retention_period: SimDuration::ZERO,
            scale_down_delay: SimDuration::ZERO,
            min_scale: 0,
            max_scale: 0,
            initial_scale: 1,
            activation_scale: 1,
            tick_interval: SimDuration::from_secs(2),
            enable_scale_to_zero: true,
            target_burst_capacity: 211.0,
            activator_capacity: 100.0,
            progress_deadline: SimDuration::from_secs(600),
        }
    }
}

/// The smallest target Knative accepts.
const TARGET_MIN: f64 = 0.01;

/// A duration as `12s` or `0.5s`, for messages.
pub(crate) fn fmt_s(d: SimDuration) -> String {
    format!("{}s", d.as_secs_f64())
}

fn whole_seconds(d: SimDuration) -> bool {
    d.as_nanos().is_multiple_of(NS_PER_S)
}

impl KpaConfig {
    /// Checks the ranges Knative's config and annotation validation enforce. The message
    /// names the setting as Knative spells it.
    pub fn validate(&self) -> Result<(), String> {
        let pct = self.target_utilization_percentage;
        if !(pct > 0.0 && pct <= 100.0) {
            return Err(format!(
                "target-utilization-percentage = {pct} is outside of valid range of (0, 100]"
            ));
        }
        if let Some(t) = self.target
            && !(t >= TARGET_MIN && t.is_finite())
        {
            return Err(format!("target = {t}, must be at least {TARGET_MIN}"));
        }
        let raw_target = self.total_value() * pct / 100.0;
        if raw_target.is_nan() || raw_target < TARGET_MIN {
            return Err(format!(
                "target x target-utilization-percentage = {raw_target}, can't be less than {TARGET_MIN}"
            ));
        }
        let sw = self.stable_window;
        if sw < SimDuration::from_secs(6) || sw > SimDuration::from_secs(3600) {
            return Err(format!(
                "stable-window = {}, must be in [6s; 1h] range",
                fmt_s(sw)
            ));
        }
        if !whole_seconds(sw) {
            return Err(format!(
                "stable-window = {}, must be specified with at most second precision",
                fmt_s(sw)
            ));
        }
        let pw = self.panic_window_percentage;
        if !(1.0..=100.0).contains(&pw) {
            return Err(format!(
                "panic-window-percentage = {pw}, must be in [1, 100] interval"
            ));
        }
        let pt = self.panic_threshold_percentage;
        if !(110.0..=1000.0).contains(&pt) {
            return Err(format!(
                "panic-threshold-percentage = {pt}, must be in [110, 1000] interval"
            ));
        }
        if !(self.max_scale_up_rate > 1.0 && self.max_scale_up_rate.is_finite()) {
            return Err(format!(
                "max-scale-up-rate = {}, must be greater than 1.0",
                self.max_scale_up_rate
            ));
        }
        if !(self.max_scale_down_rate > 1.0 && self.max_scale_down_rate.is_finite()) {
            return Err(format!(
                "max-scale-down-rate = {}, must be greater than 1.0",
                self.max_scale_down_rate
            ));
        }
        if self.scale_to_zero_grace_period == SimDuration::ZERO {
            return Err("scale-to-zero-grace-period must be positive, was: 0s".into());
        }
        if !whole_seconds(self.scale_down_delay) {
            return Err(format!(
                "scale-down-delay = {}, must be specified with at most second precision",
                fmt_s(self.scale_down_delay)
            ));
        }
        if self.tick_interval < SimDuration::from_secs(1) || !whole_seconds(self.tick_interval) {
            return Err(format!(
                "tick-interval = {}, must be a whole number of seconds, at least 1",
                fmt_s(self.tick_interval)
            ));
        }
        let tbc = self.target_burst_capacity;
        if !(tbc >= 0.0 && tbc.is_finite()) && tbc != -1.0 {
            return Err(format!(
                "target-burst-capacity must be either non-negative or -1 (for unlimited), was: {tbc}"
            ));
        }
        if !(self.activator_capacity >= 1.0 && self.activator_capacity.is_finite()) {
            return Err(format!(
                "activator-capacity = {}, must be at least 1",
                self.activator_capacity
            ));
        }
        if self.max_scale > 0 && self.min_scale > self.max_scale {
            return Err(format!(
                "min-scale ({}) must be less than max-scale ({})",
                self.min_scale, self.max_scale
            ));
        }
        if self.activation_scale == 0 {
            return Err("activation-scale = 0, must be at least 1".into());
        }
        if self.activation_scale > 1 {
            let a = self.activation_scale;
            if a < self.min_scale || (self.max_scale > 0 && a > self.max_scale) {
                return Err(format!(
                    "activation-scale = {a}, must be within [min-scale, max-scale]"
                ));
            }
        }
        Ok(())
    }

    /// The per-pod soft limit before utilisation (Knative's `TotalValue`).
    pub fn total_value(&self) -> f64 {
        let cc = f64::from(self.container_concurrency);
        let default = match self.metric {
            KpaMetric::Concurrency if cc > 0.0 => cc,
            KpaMetric::Concurrency => 100.0,
            KpaMetric::Rps => 200.0,
        };
        match self.target {
            None => default,
            Some(t) if self.metric == KpaMetric::Concurrency && cc > 0.0 => t.min(cc),
            Some(t) => t,
        }
    }

    /// The per-pod target the decider divides by: `max(0.01, total x utilisation)`.
    pub fn target_value(&self) -> f64 {
        (self.total_value() * self.target_utilization_percentage / 100.0).max(TARGET_MIN)
    }

    /// The panic window: the stable window times the percentage, rounded to whole seconds
    /// (halves away from zero), at least 1 s.
    pub fn panic_window(&self) -> SimDuration {
        let ns =
            (self.stable_window.as_nanos() as f64 * self.panic_window_percentage / 100.0) as u64;
        let rounded_s = (ns + NS_PER_S / 2) / NS_PER_S;
        SimDuration::from_secs(rounded_s.max(1))
    }

    /// The panic threshold as a factor (2.0 by default).
    pub fn panic_threshold(&self) -> f64 {
        self.panic_threshold_percentage / 100.0
    }

    fn stable_window_s(&self) -> u64 {
        self.stable_window.as_nanos().div_ceil(NS_PER_S)
    }

    fn tick_s(&self) -> u64 {
        (self.tick_interval.as_nanos() / NS_PER_S).max(1)
    }

    fn delay_slots(&self) -> u64 {
        self.scale_down_delay
            .as_nanos()
            .div_ceil(self.tick_s() * NS_PER_S)
    }

    /// The excess burst capacity a fresh decider reports before its first valid tick.
    fn initial_excess_burst_capacity(&self) -> i32 {
        let tbc = self.target_burst_capacity;
        if tbc == -1.0 || tbc == 0.0 {
            tbc as i32
        } else {
            (f64::from(self.initial_scale) * self.total_value() - tbc) as i32
        }
    }
}

/// What one collector record holds: the revision-wide metric for one second.
///
/// Knative records a sample every second while at least one pod is Ready (zeros included),
/// and whenever the activator reports (every second while it holds or proxies requests for
/// the revision, one last zero report, and an immediate `1` on the first request after
/// idling). With no Ready pod and an idle activator nothing is recorded. Samples in the
/// same whole second add up, so pod and activator samples may be passed separately.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KpaSample {
    /// When the collector recorded it (its whole second picks the bucket).
    pub at: SimTime,
    /// Time-averaged in-flight requests over that second, summed over Ready pods and the
    /// activator (requests it buffers or proxies), without double counting.
    pub concurrency: f64,
    /// Requests that arrived in that second (the rate per second).
    pub requests: f64,
}

/// What the autoscaler sees at one tick.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KpaObservation<'a> {
    /// Samples recorded since the previous tick, in time order.
    pub samples: &'a [KpaSample],
    /// Ready endpoints of the revision.
    pub ready_pods: u32,
}

/// The PodAutoscaler's `Active` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    /// `Unknown` (Queued): pods are being brought up.
    Activating,
    /// `True`: serving.
    Active,
    /// `False` (NoTraffic or TimedOut).
    Inactive,
}

/// A revision's autoscaling memory: the decider's windows and panic bookkeeping, and the
/// PodAutoscaler status the scale-to-zero rules read.
#[derive(Clone, Debug, PartialEq)]
pub struct KpaState {
    /// The stable-window buckets of the scaling metric.
    pub stable: WindowBuckets,
    /// The panic-window buckets of the scaling metric.
    pub panic: WindowBuckets,
    /// When panic mode was entered or last extended (`None` = stable mode).
    pub panic_start: Option<SimTime>,
    /// The largest decision made in the current panic episode.
    pub max_panic_pods: u32,
    /// Decisions of the last `scale-down-delay`.
    pub delay_window: MaxWindow,
    /// The decider's last valid recommendation (`None` until it has data).
    pub decider_pods: Option<u32>,
    /// The decider's last excess burst capacity.
    pub excess_burst_capacity: i32,
    /// The Deployment's `spec.replicas` as the reconciler last wrote it.
    pub applied_pods: u32,
    /// The `Active` condition.
    pub activity: Activity,
    /// Its last transition, truncated to whole seconds as the API stores it. With
    /// [`Activity::Active`] this is when the revision last became active.
    pub activity_since: SimTime,
    /// Whether the revision ever reached its initial scale.
    pub scale_target_initialized: bool,
    /// Since when the activator has been in the data path (SKS proxy mode); `None` in
    /// serve mode.
    pub proxy_since: Option<SimTime>,
}

impl KpaState {
    /// A revision created at `created`: the Deployment at `initial_scale`, activating,
    /// the activator in the path, no metric history.
    pub fn new(cfg: &KpaConfig, created: SimTime) -> KpaState {
        KpaState {
            stable: WindowBuckets::new(cfg.stable_window_s()),
            panic: WindowBuckets::new(cfg.panic_window().as_nanos() / NS_PER_S),
            panic_start: None,
            max_panic_pods: 0,
            delay_window: MaxWindow::new(cfg.delay_slots()),
            decider_pods: None,
            excess_burst_capacity: cfg.initial_excess_burst_capacity(),
            applied_pods: cfg.initial_scale,
            activity: Activity::Activating,
            activity_since: whole_second(created),
            scale_target_initialized: false,
            proxy_since: Some(created),
        }
    }

    /// The autoscaler process restarts at `now`: metric history and the delay window are
    /// lost, and with more than one Ready pod the new decider starts in panic mode holding
    /// that many pods, so the restart cannot cause a scale-down. The PodAutoscaler status
    /// (kept by the API server) survives.
    pub fn autoscaler_restart(&mut self, cfg: &KpaConfig, now: SimTime, ready_pods: u32) {
        self.stable = WindowBuckets::new(cfg.stable_window_s());
        self.panic = WindowBuckets::new(cfg.panic_window().as_nanos() / NS_PER_S);
        self.delay_window.clear();
        self.panic_start = (ready_pods > 1).then_some(now);
        self.max_panic_pods = ready_pods;
        self.decider_pods = None;
        self.excess_burst_capacity = cfg.initial_excess_burst_capacity();
    }
}

/// One tick's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct KpaDecision {
    /// The Deployment's `spec.replicas` after this tick.
    pub desired_pods: u32,
    /// The decider's recommendation before min/max and the scale-to-zero rules (`None`
    /// until it has data).
    pub decider_pods: Option<u32>,
    /// Panic mode.
    pub panic: bool,
    /// Spare capacity beyond the target burst capacity; negative keeps the activator in
    /// the path.
    pub excess_burst_capacity: i32,
    /// Requests go through the activator (proxy mode, or no Ready pod).
    pub activator_in_path: bool,
    /// Activator tasks assigned to the revision (at least 2).
    pub activators: u32,
    /// The stable-window average of the scaling metric (0 without data).
    pub stable_value: f64,
    /// The panic-window average of the scaling metric (0 without data).
    pub panic_value: f64,
    /// The decider wants 0 but the reconciler still keeps pods (waiting for a stable
    /// window of activity, the grace period or the pod retention period).
    pub scale_to_zero_pending: bool,
    /// Why, in a sentence.
    pub reason: String,
}

fn whole_second(t: SimTime) -> SimTime {
    SimTime(t.as_nanos() / NS_PER_S * NS_PER_S)
}

fn second_of(t: SimTime) -> u64 {
    t.as_nanos() / NS_PER_S
}

/// True when Knative would run the decider at once for this activator report: the last
/// recommendation was 0 and the activator reports non-zero concurrency (the first request
/// after idling). The engine then calls [`kpa_tick`] at that instant, besides the regular
/// ticks every `tick_interval`.
pub fn kpa_poke_wanted(state: &KpaState, activator_concurrency: f64) -> bool {
    state.decider_pods == Some(0) && activator_concurrency != 0.0
}

/// One tick at `now`: records the samples, runs the decider, then the PodAutoscaler
/// reconciler. `cfg` should have passed [`KpaConfig::validate`]; samples with a non-finite
/// value are ignored.
pub fn kpa_tick(
    cfg: &KpaConfig,
    state: &mut KpaState,
    now: SimTime,
    observed: KpaObservation<'_>,
) -> KpaDecision {
    for s in observed.samples {
        let value = match cfg.metric {
            KpaMetric::Concurrency => s.concurrency,
            KpaMetric::Rps => s.requests,
        };
        if value.is_finite() {
            let second = second_of(s.at);
            state.stable.record(second, value);
            state.panic.record(second, value);
        }
    }
    let ready = observed.ready_pods;
    let d = decider::scale(cfg, state, now, ready);
    let r = revision::reconcile(cfg, state, now, ready);
    let activators = decider::activators(cfg, ready);
    let reason = match &d {
        None => format!("no metric data yet; {}", r.note),
        Some(d) => format!("{}; {}", d.note, r.note),
    };
    let (stable_value, panic_value) = d.as_ref().map_or((0.0, 0.0), |d| (d.stable, d.panic));
    KpaDecision {
        desired_pods: state.applied_pods,
        decider_pods: state.decider_pods,
        panic: state.panic_start.is_some(),
        excess_burst_capacity: state.excess_burst_capacity,
        activator_in_path: state.proxy_since.is_some() || ready == 0,
        activators,
        stable_value,
        panic_value,
        scale_to_zero_pending: r.scale_to_zero_pending,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Knative's target resolution: the annotation, else containerConcurrency, else the
    /// soft default (100 concurrent, 200 rps), capped at containerConcurrency for the
    /// concurrency metric, times the utilisation.
    #[test]
    fn target_resolution() {
        let base = KpaConfig::default();
        assert_eq!(base.target_value(), 70.0);
        let cc = KpaConfig {
            container_concurrency: 50,
            ..base.clone()
        };
        assert_eq!(cc.target_value(), 35.0);
        let capped = KpaConfig {
            target: Some(80.0),
            ..cc.clone()
        };
        assert_eq!(capped.total_value(), 50.0);
        let rps = KpaConfig {
            metric: KpaMetric::Rps,
            ..base.clone()
        };
        assert_eq!(rps.target_value(), 140.0);
        let rps_not_capped = KpaConfig {
            metric: KpaMetric::Rps,
            ..capped
        };
        assert_eq!(rps_not_capped.target_value(), 56.0);
    }

    /// The panic window is rounded to whole seconds, halves away from zero, at least 1 s.
    #[test]
    fn panic_window_rounding() {
        let with = |stable_s: u64, pct: f64| {
            KpaConfig {
                stable_window: SimDuration::from_secs(stable_s),
                panic_window_percentage: pct,
                ..KpaConfig::default()
            }
            .panic_window()
        };
        assert_eq!(with(60, 10.0), SimDuration::from_secs(6));
        assert_eq!(with(6, 10.0), SimDuration::from_secs(1));
        assert_eq!(with(25, 10.0), SimDuration::from_secs(3));
        assert_eq!(with(6, 1.0), SimDuration::from_secs(1));
    }
}
