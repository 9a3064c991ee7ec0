//! Loop A (the operator's poll and executor), fallback, and what the metrics API serves.

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};

use super::formula::{Formula, FormulaValue};
use super::{
    COMPOSITE_METRIC, CachedSample, FallbackBehavior, Health, KedaConfig, KedaState, KedaVersion,
    PAUSED_REPLICAS, PAUSED_SCALE_IN, PAUSED_SCALE_OUT, TargetState, Trigger, TriggerSource,
    quantity_milli, trigger_target,
};
use crate::conditions::{ConditionStatus, set_condition};
use crate::hpa::{MetricObservation, TargetType};

/// The outcome of the fallback filter for one metric query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackResult {
    /// The value in milli-units, `Ok(None)` for the nil placeholder of the `scalingModifiers`
    /// behavior, or the error passed through.
    pub value: Result<Option<i64>, String>,
    /// True when the value is a fallback value.
    pub fallback_active: bool,
}

fn truncate_to_second(t: SimTime) -> SimTime {
    SimTime(t.0 - t.0 % 1_000_000_000)
}

fn update_fallback_condition(cfg: &KedaConfig, state: &mut KedaState, now: SimTime) {
    let Some(f) = cfg.fallback else { return };
    if !cfg.has_valid_fallback() {
        return;
    }
    let exceeded = state
        .health
        .values()
        .any(|h| h.failing && h.failures > f.failure_threshold);
    if exceeded {
        set_condition(
            &mut state.conditions,
            "Fallback",
            ConditionStatus::True,
            "FallbackExists",
            "At least one trigger is falling back on this scaled object".into(),
            now,
        );
    } else {
        set_condition(
            &mut state.conditions,
            "Fallback",
            ConditionStatus::False,
            "NoFallbackFound",
            "No fallbacks are active on this scaled object".into(),
            now,
        );
    }
}

/// The fallback filter (`GetMetricsWithFallback`) for one query of one metric: counts
/// failures, and past `failureThreshold` replaces the error by `target × replicas`.
/// `target_value` is the metric's HPA target as a float; `reading` is the scaler's value in
/// milli-units or its error.
#[allow(clippy::too_many_arguments)]
pub fn apply_fallback(
    cfg: &KedaConfig,
    state: &mut KedaState,
    now: SimTime,
    metric_name: &str,
    metric_type: TargetType,
    target_value: f64,
    reading: Result<i64, String>,
    target: TargetState,
) -> FallbackResult {
    let configured = cfg.fallback.is_some() && cfg.has_valid_fallback();
    let err = match reading {
        Ok(v) => {
            if configured {
                state.health.insert(
                    metric_name.to_string(),
                    Health {
                        failures: 0,
                        failing: false,
                    },
                );
                update_fallback_condition(cfg, state, now);
            }
            return FallbackResult {
                value: Ok(Some(v)),
                fallback_active: false,
            };
        }
        Err(e) => e,
    };
    let (Some(f), true) = (cfg.fallback, configured) else {
        return FallbackResult {
            value: Err(err),
            fallback_active: false,
        };
    };
    let h = state
        .health
        .entry(metric_name.to_string())
        .or_insert(Health {
            failures: 0,
            failing: false,
        });
    h.failures += 1;
    h.failing = true;
    let failures = h.failures;
    update_fallback_condition(cfg, state, now);
    if failures <= f.failure_threshold {
        return FallbackResult {
            value: Err(err),
            fallback_active: false,
        };
    }
    if f.behavior == FallbackBehavior::ScalingModifiers && cfg.version >= KedaVersion::V2_20 {
        return FallbackResult {
            value: Ok(None),
            fallback_active: false,
        };
    }
    let current = target.spec_replicas;
    let mut replicas = match f.behavior {
        FallbackBehavior::CurrentReplicas => f64::from(current),
        FallbackBehavior::CurrentReplicasIfHigher => f64::from(current.max(f.replicas)),
        FallbackBehavior::CurrentReplicasIfLower => f64::from(current.min(f.replicas)),
        _ => f64::from(f.replicas),
    };
    let value_type = match &cfg.scaling_modifiers {
        Some(m) => m.metric_type == TargetType::Value,
        None => metric_type == TargetType::Value,
    };
    if value_type {
        if cfg.version < KedaVersion::V2_18 {
            return FallbackResult {
                value: Err(err),
                fallback_active: false,
            };
        }
        if target.ready_replicas == 0 {
            return FallbackResult {
                value: Err("error performing fallback".into()),
                fallback_active: false,
            };
        }
        replicas /= f64::from(target.ready_replicas);
    }
    let norm = if cfg.scaling_modifiers.is_some() {
        cfg.modifiers_target()
    } else {
        target_value
    };
    FallbackResult {
        value: Ok(Some((norm * 1000.0 * replicas) as i64)),
        fallback_active: true,
    }
}

/// What one trigger contributes to a formula: its value, or nil when the `scalingModifiers`
/// fallback behavior is set and its failures exceed the threshold.
pub fn trigger_formula_value(
    cfg: &KedaConfig,
    state: &KedaState,
    metric_name: &str,
    value: f64,
) -> Option<f64> {
    let Some(f) = cfg.fallback else {
        return Some(value);
    };
    if f.behavior != FallbackBehavior::ScalingModifiers {
        return Some(value);
    }
    match state.health.get(metric_name) {
        Some(h) if h.failures > f.failure_threshold => None,
        _ => Some(value),
    }
}

/// Evaluates the scaling-modifier formula over trigger values (metric name → milli or nil
/// placeholder) and returns the composite metric in milli-units (`int64(x × 1000)`).
pub fn composite_value(
    cfg: &KedaConfig,
    state: &KedaState,
    values: &BTreeMap<String, Option<i64>>,
) -> Result<i64, String> {
    let m = cfg
        .scaling_modifiers
        .as_ref()
        .ok_or("no scaling modifiers configured")?;
    let formula = Formula::parse(&m.formula).map_err(|e| format!("invalid formula: {e}"))?;
    let mut vars = BTreeMap::new();
    for t in &cfg.triggers {
        if let Some(v) = values.get(&t.metric_name) {
            let as_float = v.map_or(-1.0, |milli| milli as f64 / 1000.0);
            vars.insert(
                t.name.clone(),
                trigger_formula_value(cfg, state, &t.metric_name, as_float),
            );
        }
    }
    let out = match formula
        .eval(&vars)
        .map_err(|e| format!("error trying to run custom formula: {e}"))?
    {
        FormulaValue::Num(x) => x,
        FormulaValue::Nil => {
            let f = cfg
                .fallback
                .ok_or("scalingModifiers formula evaluated to nil but no fallback is configured")?;
            f64::from(f.replicas) * cfg.modifiers_target()
        }
        FormulaValue::Bool(b) => {
            return Err(format!("formula returned non-float result bool ({b})"));
        }
    };
    Ok((out * 1000.0) as i64)
}

/// The result of Loop A's metric pass (`getScaledObjectState`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoopAState {
    /// Any trigger (or the composite) active.
    pub is_active: bool,
    /// Any trigger failed (after fallback).
    pub is_error: bool,
    /// Metric names of the active triggers.
    pub active_triggers: Vec<String>,
    /// The composite value in milli-units, with scaling modifiers.
    pub composite_milli: Option<i64>,
}

fn reading_milli(reading: &Result<f64, String>, version: KedaVersion) -> Result<i64, String> {
    reading
        .as_ref()
        .map(|v| quantity_milli(*v, version))
        .map_err(Clone::clone)
}

fn target_float(t: &Trigger, version: KedaVersion) -> f64 {
    let tgt = trigger_target(t, version);
    let milli = tgt.average_value_milli.or(tgt.value_milli).unwrap_or(0);
    milli as f64 / 1000.0
}

/// Loop A's pass over the triggers at one poll. `readings` holds one scaler result per
/// trigger (raw float after the scaler's own null handling, or an error); entries for
/// cpu/memory triggers are ignored. Updates health, the fallback condition and the cache.
pub fn loop_a_state(
    cfg: &KedaConfig,
    state: &mut KedaState,
    now: SimTime,
    readings: &[Result<f64, String>],
    target: TargetState,
) -> LoopAState {
    let mut out = LoopAState {
        is_active: false,
        is_error: false,
        active_triggers: Vec::new(),
        composite_milli: None,
    };
    let mut values = BTreeMap::new();
    let mut any_fallback = false;
    let mut fallback_milli = None;
    let missing: Result<f64, String> = Err("no reading supplied for this trigger".into());
    for (i, t) in cfg.triggers.iter().enumerate() {
        if t.source != TriggerSource::External {
            continue;
        }
        let reading = readings.get(i).unwrap_or(&missing);
        let raw_active = matches!(reading, Ok(v) if *v > t.activation_threshold);
        let res = apply_fallback(
            cfg,
            state,
            now,
            &t.metric_name,
            t.metric_type,
            target_float(t, cfg.version),
            reading_milli(reading, cfg.version),
            target,
        );
        if t.use_cached_metrics {
            state.cache.insert(
                t.metric_name.clone(),
                CachedSample {
                    value: reading_milli(reading, cfg.version),
                    active: raw_active || res.fallback_active,
                },
            );
        }
        match res.value {
            Err(_) => out.is_error = true,
            Ok(v) => {
                values.insert(t.metric_name.clone(), v);
                let fb_counts = res.fallback_active && cfg.version >= KedaVersion::V2_19;
                if res.fallback_active {
                    any_fallback = true;
                    fallback_milli = fallback_milli.or(v);
                }
                if raw_active || fb_counts {
                    out.is_active = true;
                    out.active_triggers.push(t.metric_name.clone());
                }
            }
        }
    }
    if let Some(m) = &cfg.scaling_modifiers {
        let composite = if any_fallback
            && cfg
                .fallback
                .is_some_and(|f| f.behavior != FallbackBehavior::ScalingModifiers)
        {
            fallback_milli.ok_or(String::new())
        } else {
            composite_value(cfg, state, &values)
        };
        out.composite_milli = composite.as_ref().ok().copied();
        out.is_active = match composite {
            Ok(v) => !out.is_error && (v as f64 / 1000.0) > m.activation_target,
            Err(_) => false,
        };
    }
    let all_resource = !cfg.triggers.is_empty()
        && cfg
            .triggers
            .iter()
            .all(|t| t.source != TriggerSource::External);
    if all_resource && !out.is_error {
        out.is_active = true;
    }
    out
}

/// The executor's decision (`RequestScale`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutorResult {
    /// The replica count written to the target, if any.
    pub write: Option<i32>,
    /// Whether `lastActiveTime` was refreshed.
    pub last_active_set: bool,
    /// The Kubernetes event reason and message, if one is emitted.
    pub event: Option<(&'static str, String)>,
    /// Why, in words.
    pub reason: String,
}

fn min_replicas(cfg: &KedaConfig) -> i32 {
    cfg.min_replica_count.unwrap_or(0)
}

/// One executor call: activation, scale from zero/idle, cooldown, scale to zero/idle,
/// enforcing the minimum, and the pause annotations. Updates conditions and
/// `lastActiveTime` in `state`.
pub fn request_scale(
    cfg: &KedaConfig,
    state: &mut KedaState,
    now: SimTime,
    is_active: bool,
    is_error: bool,
    current: i32,
    active_triggers: &[String],
) -> ExecutorResult {
    let conds = &mut state.conditions;
    set_condition(
        conds,
        "Ready",
        ConditionStatus::True,
        "ScaledObjectReady",
        "ScaledObject is defined correctly and is ready for scaling".into(),
        now,
    );
    let mut res = ExecutorResult {
        write: None,
        last_active_set: false,
        event: None,
        reason: String::new(),
    };
    if cfg.is_paused() {
        set_condition(
            conds,
            "Paused",
            ConditionStatus::True,
            "ScaledObjectPaused",
            "ScaledObject is paused".into(),
            now,
        );
        res.reason = "paused by annotation".into();
        return res;
    }
    let min = min_replicas(cfg);
    let forced = cfg.force_activation();
    let target_name = &cfg.target_description;
    if is_active || forced {
        let msg = if forced {
            "Scaling is performed because activation is being forced by annotation"
        } else {
            "Scaling is performed because triggers are active"
        };
        set_condition(
            conds,
            "Active",
            ConditionStatus::True,
            "ScalerActive",
            msg.into(),
            now,
        );
        if (cfg.idle_replica_count.is_some() && current < min) || current == 0 {
            if cfg.bool_annotation(PAUSED_SCALE_OUT) {
                res.reason = "active, but paused-scale-out blocks scaling from zero/idle".into();
                return res;
            }
            let n = if min > 0 { min } else { 1 };
            res.write = Some(n);
            let msg = if forced {
                format!(
                    "Scaled {target_name} from {current} to {n}, caused by forced activation annotation"
                )
            } else {
                format!(
                    "Scaled {target_name} from {current} to {n}, triggered by {}",
                    active_triggers.join(";")
                )
            };
            res.event = Some(("KEDAScaleTargetActivated", msg));
            res.reason = format!("triggers active: scale from {current} to {n}");
            state.last_active_time = Some(truncate_to_second(now));
            res.last_active_set = true;
        } else if is_error {
            set_condition(
                conds,
                "Ready",
                ConditionStatus::Unknown,
                "PartialTriggerError",
                "Some triggers defined in ScaledObject are not working correctly".into(),
                now,
            );
            res.reason = "active with a failing trigger: lastActiveTime not refreshed, the HPA owns replicas".into();
        } else {
            state.last_active_time = Some(truncate_to_second(now));
            res.last_active_set = true;
            res.reason = "active: lastActiveTime refreshed, the HPA owns replicas".into();
        }
        return res;
    }
    set_condition(
        conds,
        "Active",
        ConditionStatus::False,
        "ScalerNotActive",
        "Scaling is not performed because triggers are not active".into(),
        now,
    );
    let idle = cfg.idle_replica_count;
    match cfg.fallback {
        Some(f) if is_error && f.replicas != 0 => {
            if cfg.version <= KedaVersion::V2_16 && current != f.replicas {
                res.write = Some(f.replicas);
                res.reason = format!(
                    "inactive with a failing trigger: scale to fallback.replicas {}",
                    f.replicas
                );
            } else {
                res.reason =
                    "inactive with a failing trigger: waiting for the HPA to use fallback metrics"
                        .into();
            }
            return res;
        }
        None if is_error => {
            set_condition(
                conds,
                "Ready",
                ConditionStatus::False,
                "TriggerError",
                "Triggers defined in ScaledObject are not working correctly".into(),
                now,
            );
            res.reason = "inactive with a failing trigger and no fallback: no change".into();
            return res;
        }
        _ => {}
    }
    if idle.is_some_and(|i| current > i) || (current > 0 && min == 0) {
        if cfg.bool_annotation(PAUSED_SCALE_IN) {
            res.reason = "inactive, but paused-scale-in blocks scaling to zero/idle".into();
            return res;
        }
        let elapsed = match state.last_active_time {
            None => state.created + cfg.initial_cooldown_period < now,
            Some(la) => la + cfg.cooldown_period < now,
        };
        if elapsed {
            let n = idle.unwrap_or(min);
            res.write = Some(n);
            res.event = Some((
                "KEDAScaleTargetDeactivated",
                format!("Deactivated {target_name} from {current} to {n}"),
            ));
            res.reason = format!("inactive and cooldown elapsed: scale from {current} to {n}");
        } else {
            set_condition(
                conds,
                "Active",
                ConditionStatus::False,
                "ScalerCooldown",
                "Scaler cooling down because triggers are not active".into(),
                now,
            );
            let since = state.last_active_time.unwrap_or(state.created);
            let waited = now.saturating_since(since);
            res.reason = format!(
                "inactive, cooling down ({:.0}s of {:.0}s)",
                waited.as_secs_f64(),
                if state.last_active_time.is_some() {
                    cfg.cooldown_period
                } else {
                    cfg.initial_cooldown_period
                }
                .as_secs_f64()
            );
        }
    } else if idle.is_none() && current < min {
        res.write = Some(min);
        res.reason = format!("inactive below minReplicaCount: set to {min}");
    } else {
        res.reason = "inactive: no change".into();
    }
    res
}

/// What Loop A decided at one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TickAction {
    /// Write `spec.replicas`.
    ScaleTo(i32),
    /// Replicas are between min and max: the HPA owns them.
    LeaveToHpa,
    /// Nothing to do.
    Nothing,
}

/// One operator poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KedaTick {
    /// The action.
    pub action: TickAction,
    /// Why, in words.
    pub reason: String,
    /// The metric pass.
    pub state: LoopAState,
    /// The executor's result.
    pub executor: ExecutorResult,
}

/// Loop A at one poll: reads every trigger, decides active/error and runs the executor.
pub fn operator_tick(
    cfg: &KedaConfig,
    state: &mut KedaState,
    now: SimTime,
    readings: &[Result<f64, String>],
    target: TargetState,
) -> KedaTick {
    let a = if cfg.is_paused() {
        LoopAState {
            is_active: false,
            is_error: false,
            active_triggers: Vec::new(),
            composite_milli: None,
        }
    } else {
        loop_a_state(cfg, state, now, readings, target)
    };
    let mut ex = request_scale(
        cfg,
        state,
        now,
        a.is_active,
        a.is_error,
        target.spec_replicas,
        &a.active_triggers,
    );
    // The controller (not the executor) moves a paused target to `paused-replicas`.
    if let Some(n) = cfg
        .annotations
        .get(PAUSED_REPLICAS)
        .and_then(|v| v.trim().parse::<i32>().ok())
        && n != target.spec_replicas
    {
        ex.write = Some(n);
        ex.reason = format!("paused at {n} replicas by annotation");
    }
    let action = match ex.write {
        Some(n) if n != target.spec_replicas => TickAction::ScaleTo(n),
        _ if target.spec_replicas > 0 && !cfg.is_paused() => TickAction::LeaveToHpa,
        _ => TickAction::Nothing,
    };
    KedaTick {
        action,
        reason: ex.reason.clone(),
        state: a,
        executor: ex,
    }
}

/// What KEDA's metrics API serves to the generated HPA at one HPA sync, one entry per
/// metric of [`super::generated_hpa`] in the same order. `None` marks cpu/memory metrics, which
/// the metrics server (not KEDA) serves. Triggers with `useCachedMetrics` use the value
/// recorded by the last poll; every query passes through the fallback filter again.
pub fn hpa_metric_values(
    cfg: &KedaConfig,
    state: &mut KedaState,
    now: SimTime,
    readings: &[Result<f64, String>],
    target: TargetState,
) -> Vec<Option<MetricObservation>> {
    let hpa = super::generated_hpa(cfg);
    let missing: Result<f64, String> = Err("no reading supplied for this trigger".into());
    let mut out = Vec::new();
    for spec in &hpa.metrics {
        let crate::hpa::MetricSpec::External { metric, .. } = spec else {
            out.push(None);
            continue;
        };
        let backing: Vec<(usize, &Trigger)> = cfg
            .triggers
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                t.source == TriggerSource::External
                    && (metric == COMPOSITE_METRIC || &t.metric_name == metric)
            })
            .collect();
        let mut values = BTreeMap::new();
        let mut first_err = None;
        let mut fallback_value = None;
        for (i, t) in backing {
            let reading = match (t.use_cached_metrics, state.cache.get(&t.metric_name)) {
                (true, Some(c)) => c.value.clone(),
                _ => reading_milli(readings.get(i).unwrap_or(&missing), cfg.version),
            };
            let r = apply_fallback(
                cfg,
                state,
                now,
                &t.metric_name,
                t.metric_type,
                target_float(t, cfg.version),
                reading,
                target,
            );
            if r.fallback_active && fallback_value.is_none() {
                fallback_value = r.value.clone().ok().flatten();
            }
            match r.value {
                Ok(v) => {
                    values.insert(t.metric_name.clone(), v);
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        let obs = if let (Some(e), None) = (&first_err, fallback_value) {
            MetricObservation::Error(e.clone())
        } else if cfg.scaling_modifiers.is_some() {
            let fb_behavior_modifiers = cfg
                .fallback
                .is_some_and(|f| f.behavior == FallbackBehavior::ScalingModifiers);
            match (fallback_value, fb_behavior_modifiers) {
                (Some(v), false) => MetricObservation::ExternalValues(vec![v]),
                _ => match composite_value(cfg, state, &values) {
                    Ok(v) => MetricObservation::ExternalValues(vec![v]),
                    Err(e) => MetricObservation::Error(e),
                },
            }
        } else {
            match values.values().next() {
                Some(Some(v)) => MetricObservation::ExternalValues(vec![*v]),
                _ => MetricObservation::Error("no value".into()),
            }
        };
        out.push(Some(obs));
    }
    out
}

/// Seconds left before the cooldown allows a scale to zero/idle (0 when it already does).
pub fn cooldown_remaining(cfg: &KedaConfig, state: &KedaState, now: SimTime) -> SimDuration {
    let end = match state.last_active_time {
        None => state.created + cfg.initial_cooldown_period,
        Some(la) => la + cfg.cooldown_period,
    };
    end.saturating_since(now)
}
