//! KEDA ScaledObjects: the operator's polling loop, fallback, scaling modifiers, and the
//! HPA KEDA generates.
//!
//! Two loops act on one target. Loop A ([`operator_tick`]) runs every `pollingInterval` and
//! only moves the target between 0 (or idle) and min. Loop B is a Kubernetes HPA built by
//! [`generated_hpa`]; at each HPA sync the engine asks [`hpa_metric_values`] for what KEDA's
//! metrics API serves and passes that to [`crate::hpa::reconcile`].

mod explain;
pub(crate) mod formula;
mod operator;

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};

pub use crate::conditions::{Condition, ConditionStatus};
use crate::hpa::{
    HpaBehavior, HpaConfig, MetricSpec, MetricTarget, ScalingRules, SelectPolicy, TargetType,
};
pub use explain::explain_keda;
pub use formula::{Formula, FormulaError, FormulaValue};

pub use operator::{
    ExecutorResult, FallbackResult, KedaTick, LoopAState, TickAction, apply_fallback,
    composite_value, cooldown_remaining, hpa_metric_values, loop_a_state, operator_tick,
    request_scale, trigger_formula_value,
};

/// Which KEDA release's behaviour to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum KedaVersion {
    /// v2.16 and older (from v2.14): on error while inactive the executor scales straight
    /// to `fallback.replicas`.
    V2_16,
    /// v2.17: fallback only through metrics; fallback `behavior` options.
    V2_17,
    /// v2.18: fallback for `Value` metrics; the `force-activation` annotation.
    V2_18,
    /// v2.19: an active fallback counts as activity (scale from zero under fallback).
    V2_19,
    /// v2.20+: 3-decimal quantities with negatives clamped to 0; `scalingModifiers` fallback
    /// behavior. The default.
    #[default]
    V2_20,
}

impl KedaVersion {
    /// Parses `2.16` … `2.20` (also `v2.x`, and later 2.x as 2.20).
    pub fn parse(text: &str) -> Option<KedaVersion> {
        let t = text.trim().trim_start_matches(['v', 'V']);
        let minor: u32 = t.strip_prefix("2.")?.split('.').next()?.parse().ok()?;
        Some(match minor {
            14..=16 => KedaVersion::V2_16,
            17 => KedaVersion::V2_17,
            18 => KedaVersion::V2_18,
            19 => KedaVersion::V2_19,
            m if m >= 20 => KedaVersion::V2_20,
            _ => return None,
        })
    }

    /// Quantities are formatted with 3 decimals (rounded), negatives/NaN/Inf become 0.
    pub fn rounds_quantities(self) -> bool {
        self >= KedaVersion::V2_20
    }
}

/// Where a trigger's value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerSource {
    /// An external scaler (Prometheus, ...): becomes an HPA External metric.
    External,
    /// A cpu/memory trigger: becomes an HPA Resource metric and never drives activation.
    Resource {
        /// `cpu` or `memory`.
        resource: String,
    },
}

/// One entry of `spec.triggers`.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    /// `name` (needed for scaling-modifier formulas).
    pub name: String,
    /// The HPA metric name KEDA generates, e.g. `s0-prometheus`.
    pub metric_name: String,
    /// External or cpu/memory.
    pub source: TriggerSource,
    /// `metricType` (default AverageValue; Utilization only for cpu/memory).
    pub metric_type: TargetType,
    /// `threshold` (the HPA target).
    pub threshold: f64,
    /// `activationThreshold` (activity is `value > activationThreshold`).
    pub activation_threshold: f64,
    /// `useCachedMetrics`: the HPA reads the value of the last poll.
    pub use_cached_metrics: bool,
}

impl Trigger {
    /// A Prometheus-style external trigger with AverageValue target.
    pub fn external(
        index: usize,
        name: &str,
        threshold: f64,
        activation_threshold: f64,
    ) -> Trigger {
        Trigger {
            name: name.to_string(),
            metric_name: format!("s{index}-prometheus"),
            source: TriggerSource::External,
            metric_type: TargetType::AverageValue,
            threshold,
            activation_threshold,
            use_cached_metrics: false,
        }
    }
}

/// `fallback.behavior`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FallbackBehavior {
    /// `static` (default): `fallback.replicas`.
    Static,
    /// `currentReplicas`.
    CurrentReplicas,
    /// `currentReplicasIfHigher`: max(current, replicas).
    CurrentReplicasIfHigher,
    /// `currentReplicasIfLower`: min(current, replicas).
    CurrentReplicasIfLower,
    /// `scalingModifiers`: the failing trigger is nil in the formula.
    ScalingModifiers,
}

/// `spec.fallback`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fallback {
    /// `failureThreshold`: fallback starts at failure `threshold + 1`.
    pub failure_threshold: i32,
    /// `replicas`.
    pub replicas: i32,
    /// `behavior`.
    pub behavior: FallbackBehavior,
}

/// `advanced.scalingModifiers`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScalingModifiers {
    /// `formula` over trigger names.
    pub formula: String,
    /// `target` as written (a string in the CRD; fallback needs a positive integer).
    pub target: String,
    /// `activationTarget` (default 0).
    pub activation_target: f64,
    /// `metricType` (AverageValue default, or Value).
    pub metric_type: TargetType,
}

/// The ScaledObject fields that shape decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct KedaConfig {
    /// Object name (the HPA is `keda-hpa-<name>`).
    pub name: String,
    /// `pollingInterval` (30 s).
    pub polling_interval: SimDuration,
    /// `cooldownPeriod` (300 s).
    pub cooldown_period: SimDuration,
    /// `initialCooldownPeriod` (0 s).
    pub initial_cooldown_period: SimDuration,
    /// `minReplicaCount` (unset = 0 for the operator, 1 for the HPA).
    pub min_replica_count: Option<i32>,
    /// `maxReplicaCount` (unset = 100).
    pub max_replica_count: Option<i32>,
    /// `idleReplicaCount`.
    pub idle_replica_count: Option<i32>,
    /// `triggers`.
    pub triggers: Vec<Trigger>,
    /// `fallback`.
    pub fallback: Option<Fallback>,
    /// `advanced.scalingModifiers`.
    pub scaling_modifiers: Option<ScalingModifiers>,
    /// `advanced.horizontalPodAutoscalerConfig.behavior`.
    pub hpa_behavior: Option<HpaBehavior>,
    /// `metadata.annotations` (pause, paused-replicas, paused-scale-in/out, force-activation).
    pub annotations: BTreeMap<String, String>,
    /// The KEDA release modelled.
    pub version: KedaVersion,
    /// Settings copied into the generated HPA (controller flags, gates, Kubernetes version).
    pub hpa_template: HpaConfig,
    /// The target as events name it, `<Kind> <namespace>/<name>`.
    pub target_description: String,
}

/// Annotation keys.
pub const PAUSED: &str = "autoscaling.keda.sh/paused";
/// `paused-replicas`.
pub const PAUSED_REPLICAS: &str = "autoscaling.keda.sh/paused-replicas";
/// `paused-scale-in`.
pub const PAUSED_SCALE_IN: &str = "autoscaling.keda.sh/paused-scale-in";
/// `paused-scale-out`.
pub const PAUSED_SCALE_OUT: &str = "autoscaling.keda.sh/paused-scale-out";
/// `force-activation`.
pub const FORCE_ACTIVATION: &str = "autoscaling.keda.sh/force-activation";
/// The composite metric's name.
pub const COMPOSITE_METRIC: &str = "composite-metric";

impl KedaConfig {
    /// A ScaledObject with KEDA's defaults and the given triggers.
    pub fn new(name: &str, triggers: Vec<Trigger>) -> KedaConfig {
        KedaConfig {
            name: name.to_string(),
            polling_interval: SimDuration::from_secs(30),
            cooldown_period: SimDuration::from_secs(300),
            initial_cooldown_period: SimDuration::ZERO,
            min_replica_count: None,
            max_replica_count: None,
            idle_replica_count: None,
            triggers,
            fallback: None,
            scaling_modifiers: None,
            hpa_behavior: None,
            annotations: BTreeMap::new(),
            version: KedaVersion::default(),
            hpa_template: HpaConfig::new(Some(1), 100, Vec::new()),
            target_description: format!("Deployment default/{name}"),
        }
    }

    /// An annotation read as Go's `strconv.ParseBool`; a value that does not parse counts
    /// as true; absent is false.
    pub fn bool_annotation(&self, key: &str) -> bool {
        match self.annotations.get(key).map(String::as_str) {
            None => false,
            Some("1" | "t" | "T" | "TRUE" | "true" | "True") => true,
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => false,
            Some(_) => true,
        }
    }

    /// Paused by `paused` or `paused-replicas`.
    pub fn is_paused(&self) -> bool {
        self.annotations.contains_key(PAUSED_REPLICAS) || self.bool_annotation(PAUSED)
    }

    /// `force-activation` (v2.18+).
    pub fn force_activation(&self) -> bool {
        self.version >= KedaVersion::V2_18 && self.bool_annotation(FORCE_ACTIVATION)
    }

    /// `minReplicas` of the generated HPA: `minReplicaCount` if > 0, else 1.
    pub fn hpa_min_replicas(&self) -> i32 {
        match self.min_replica_count {
            Some(m) if m > 0 => m,
            _ => 1,
        }
    }

    /// `maxReplicas` of the generated HPA: `maxReplicaCount` or 100.
    pub fn hpa_max_replicas(&self) -> i32 {
        self.max_replica_count.unwrap_or(100)
    }

    /// Whether a valid fallback is configured (non-negative fields; with modifiers the target
    /// must be a positive integer).
    pub fn has_valid_fallback(&self) -> bool {
        let Some(f) = self.fallback else { return false };
        let modifiers_ok = match &self.scaling_modifiers {
            None => true,
            Some(m) => m.target.trim().parse::<i64>().is_ok_and(|v| v > 0),
        };
        f.failure_threshold >= 0 && f.replicas >= 0 && modifiers_ok
    }

    /// The modifiers' target as a float (0 when it does not parse).
    pub fn modifiers_target(&self) -> f64 {
        self.scaling_modifiers
            .as_ref()
            .and_then(|m| m.target.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// Validates min/max/idle like `CheckReplicaCountBoundsAreValid`.
    pub fn validate_replica_bounds(&self) -> Result<(), String> {
        let min = if self.min_replica_count.is_some() {
            self.hpa_min_replicas()
        } else {
            0
        };
        let max = self.hpa_max_replicas();
        if min > max {
            return Err(format!(
                "MinReplicaCount={min} must be less than MaxReplicaCount={max}"
            ));
        }
        if let Some(idle) = self.idle_replica_count
            && idle >= min
        {
            return Err(format!(
                "IdleReplicaCount={idle} must be less than MinReplicaCount={min}"
            ));
        }
        Ok(())
    }
}

/// A float turned into the milli-units of the Quantity KEDA builds. v2.20+: formatted with
/// 3 decimals (rounded half to even on the exact binary value, as Go's `%.3f`), NaN/Inf/
/// negative give 0. Older: `int64(value * 1000)` (truncation).
pub fn quantity_milli(value: f64, version: KedaVersion) -> i64 {
    if version.rounds_quantities() {
        if value.is_nan() || value.is_infinite() || value < 0.0 {
            return 0;
        }
        let text = format!("{value:.3}");
        let (int_part, frac) = text.split_once('.').unwrap_or((text.as_str(), "000"));
        let whole: i64 = int_part.parse().unwrap_or(i64::MAX / 1000);
        let frac: i64 = frac.parse().unwrap_or(0);
        whole.saturating_mul(1000).saturating_add(frac)
    } else {
        (value * 1000.0) as i64
    }
}

/// A trigger's `metricType` as KEDA reads it: empty means AverageValue; Utilization is
/// rejected for external scalers.
pub fn parse_metric_type(text: &str) -> Result<TargetType, String> {
    match text {
        "" | "AverageValue" => Ok(TargetType::AverageValue),
        "Value" => Ok(TargetType::Value),
        "Utilization" => Err("'Utilization' metric type is unsupported for external metrics, allowed values are 'Value' or 'AverageValue'".into()),
        other => Err(format!("unknown metric type {other:?}")),
    }
}

/// The HPA target a trigger produces.
pub fn trigger_target(trigger: &Trigger, version: KedaVersion) -> MetricTarget {
    let milli = quantity_milli(trigger.threshold, version);
    match trigger.metric_type {
        TargetType::Value => MetricTarget::value_milli(milli),
        TargetType::Utilization => MetricTarget::utilization(trigger.threshold as i32),
        TargetType::AverageValue => MetricTarget::average_value_milli(milli),
    }
}

fn source_type_rank(spec: &MetricSpec) -> &'static str {
    match spec {
        MetricSpec::External { .. } => "External",
        MetricSpec::Resource { .. } => "Resource",
        MetricSpec::ContainerResource { .. } => "ContainerResource",
        MetricSpec::Pods { .. } => "Pods",
        MetricSpec::Object { .. } => "Object",
        MetricSpec::Unknown { .. } => "Unknown",
    }
}

/// The HPA that KEDA creates for a ScaledObject: bounds, one External metric per external
/// trigger (or one `composite-metric` with scaling modifiers), Resource metrics for cpu/memory
/// triggers, the user's behavior with the paused-scale-in/out overrides. Controller flags,
/// gates and version come from `hpa_template`.
pub fn generated_hpa(cfg: &KedaConfig) -> HpaConfig {
    let mut metrics = Vec::new();
    let mut added_composite = false;
    for t in &cfg.triggers {
        match &t.source {
            TriggerSource::Resource { resource } => {
                metrics.push(MetricSpec::Resource {
                    name: resource.clone(),
                    target: trigger_target(t, cfg.version),
                });
            }
            TriggerSource::External => {
                if let Some(m) = &cfg.scaling_modifiers {
                    if !added_composite {
                        added_composite = true;
                        let milli = quantity_milli(cfg.modifiers_target(), cfg.version);
                        let target = match m.metric_type {
                            TargetType::Value => MetricTarget::value_milli(milli),
                            _ => MetricTarget::average_value_milli(milli),
                        };
                        metrics.push(MetricSpec::External {
                            metric: COMPOSITE_METRIC.to_string(),
                            target,
                        });
                    }
                } else {
                    metrics.push(MetricSpec::External {
                        metric: t.metric_name.clone(),
                        target: trigger_target(t, cfg.version),
                    });
                }
            }
        }
    }
    metrics.sort_by_key(source_type_rank);
    let mut behavior = cfg.hpa_behavior.clone();
    let scale_in = cfg.bool_annotation(PAUSED_SCALE_IN);
    let scale_out = cfg.bool_annotation(PAUSED_SCALE_OUT);
    if scale_in || scale_out {
        let b = behavior.get_or_insert_with(HpaBehavior::default);
        if scale_in {
            b.scale_down
                .get_or_insert_with(ScalingRules::default)
                .select_policy = Some(SelectPolicy::Disabled);
        }
        if scale_out {
            b.scale_up
                .get_or_insert_with(ScalingRules::default)
                .select_policy = Some(SelectPolicy::Disabled);
        }
    }
    HpaConfig {
        min_replicas: Some(cfg.hpa_min_replicas()),
        max_replicas: cfg.hpa_max_replicas(),
        metrics,
        behavior,
        controller: cfg.hpa_template.controller.clone(),
        gates: cfg.hpa_template.gates,
        version: cfg.hpa_template.version,
    }
}

/// Per-metric health (`status.health`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Consecutive failed queries.
    pub failures: i32,
    /// `Happy` (false) or `Failing` (true).
    pub failing: bool,
}

/// A value recorded by Loop A for triggers with `useCachedMetrics`.
#[derive(Clone, Debug, PartialEq)]
pub struct CachedSample {
    /// The reading (after fallback) in milli-units, or the error.
    pub value: Result<i64, String>,
    /// Whether it counted as active.
    pub active: bool,
}

/// The ScaledObject's status and the operator's memory.
#[derive(Clone, Debug, PartialEq)]
pub struct KedaState {
    /// `metadata.creationTimestamp`.
    pub created: SimTime,
    /// `status.lastActiveTime` (stored truncated to whole seconds, as the API serialises it).
    pub last_active_time: Option<SimTime>,
    /// `status.health` per metric name.
    pub health: BTreeMap<String, Health>,
    /// The metrics cache for `useCachedMetrics` triggers.
    pub cache: BTreeMap<String, CachedSample>,
    /// `status.conditions` (Ready, Active, Fallback, Paused).
    pub conditions: Vec<Condition>,
}

impl KedaState {
    /// A ScaledObject created at `created`.
    pub fn new(created: SimTime) -> KedaState {
        KedaState {
            created,
            last_active_time: None,
            health: BTreeMap::new(),
            cache: BTreeMap::new(),
            conditions: Vec::new(),
        }
    }
}

/// The target workload as both loops see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TargetState {
    /// `spec.replicas`.
    pub spec_replicas: i32,
    /// Running and Ready pods (fallback for Value metrics divides by it).
    pub ready_replicas: i32,
}
