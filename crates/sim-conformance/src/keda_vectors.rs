//! Wire structs and runners for the KEDA vector kinds (`keda.md` §0).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sim_des::{SimDuration, SimTime};
use sim_policy::hpa::TargetType;
use sim_policy::keda::{
    self, Fallback, FallbackBehavior, Health, KedaConfig, KedaState, KedaVersion, ScalingModifiers,
    TargetState, Trigger, TriggerSource,
};

use crate::{Checker, decode};

/// "Now" for every vector; a creation time of Go's zero value is `SimTime::ZERO`.
const NOW_S: u64 = 2_000_000_000;

fn now() -> SimTime {
    SimTime::from_secs(NOW_S)
}

pub(crate) fn run(kind: &str, input: Value, expected: &Value) -> Result<Vec<String>, String> {
    let mut c = Checker::new();
    match kind {
        "executor_request_scale" => executor(decode(input, "input")?, expected, &mut c)?,
        "fallback_get_metrics" => fallback(decode(input, "input")?, expected, &mut c)?,
        "hpa_bounds" | "replica_bounds_validation" => {
            bounds(decode(input, "input")?, expected, &mut c)
        }
        "metric_target_quantity" => {
            let threshold = input
                .get("threshold")
                .and_then(Value::as_f64)
                .ok_or("threshold missing")?;
            let tt = keda::parse_metric_type(
                input
                    .get("metric_type")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            )?;
            let t = Trigger {
                metric_type: tt,
                ..Trigger::external(0, "t", threshold, 0.0)
            };
            let target = keda::trigger_target(&t, KedaVersion::default());
            let milli = target
                .average_value_milli
                .or(target.value_milli)
                .unwrap_or(-1);
            c.check(
                "target_is_zero",
                expected.get("target_is_zero").and_then(Value::as_bool),
                milli == 0,
            );
        }
        "metric_value_quantity" => {
            let v = input
                .get("value")
                .and_then(Value::as_f64)
                .ok_or("value missing")?;
            let milli = keda::quantity_milli(v, KedaVersion::default());
            c.check(
                "value_is_zero",
                expected.get("value_is_zero").and_then(Value::as_bool),
                milli == 0,
            );
        }
        "metric_target_type" => {
            let text = input
                .get("trigger_metric_type")
                .and_then(Value::as_str)
                .unwrap_or("");
            let got = keda::parse_metric_type(text);
            let name = got.as_ref().map(|t| format!("{t:?}")).unwrap_or_default();
            if let Some(want) = expected.get("metric_type").and_then(Value::as_str) {
                c.check("metric_type", Some(want.to_string()), name);
            }
            let want_err = expected.get("error").is_some_and(|e| !e.is_null());
            c.check("error", Some(want_err), got.is_err());
        }
        "scale_handler_metrics" => handler_metrics(decode(input, "input")?, expected, &mut c)?,
        "scale_handler_state" => handler_state(decode(input, "input")?, expected, &mut c)?,
        "scaling_modifiers_formula" => {
            modifiers_formula(decode(input, "input")?, expected, &mut c)?
        }
        "scaling_modifiers_trigger_value" => {
            trigger_value(decode(input, "input")?, expected, &mut c)?
        }
        other => return Err(format!("unknown kind {other:?}")),
    }
    Ok(c.mismatches)
}

#[derive(Deserialize, Clone, Copy)]
struct WireFallback {
    failure_threshold: i32,
    replicas: i32,
    #[serde(default)]
    behavior: Option<WireBehavior>,
}

#[derive(Deserialize, Clone, Copy)]
enum WireBehavior {
    #[serde(rename = "static")]
    Static,
    #[serde(rename = "currentReplicas")]
    Current,
    #[serde(rename = "currentReplicasIfHigher")]
    IfHigher,
    #[serde(rename = "currentReplicasIfLower")]
    IfLower,
    #[serde(rename = "scalingModifiers")]
    Modifiers,
}

impl WireFallback {
    fn to_fallback(self) -> Fallback {
        let behavior = match self.behavior {
            None | Some(WireBehavior::Static) => FallbackBehavior::Static,
            Some(WireBehavior::Current) => FallbackBehavior::CurrentReplicas,
            Some(WireBehavior::IfHigher) => FallbackBehavior::CurrentReplicasIfHigher,
            Some(WireBehavior::IfLower) => FallbackBehavior::CurrentReplicasIfLower,
            Some(WireBehavior::Modifiers) => FallbackBehavior::ScalingModifiers,
        };
        Fallback {
            failure_threshold: self.failure_threshold,
            replicas: self.replicas,
            behavior,
        }
    }
}

#[derive(Deserialize)]
struct WireHealth {
    #[serde(rename = "numberOfFailures")]
    number_of_failures: i32,
    status: String,
}

impl WireHealth {
    fn health(&self) -> Health {
        Health {
            failures: self.number_of_failures,
            failing: self.status == "Failing",
        }
    }
}

fn secs(v: Option<f64>) -> Option<SimDuration> {
    v.map(SimDuration::from_secs_f64)
}

// ---------------------------------------------------------------- executor

#[derive(Deserialize)]
struct ExecutorInput {
    min_replica_count: Option<i32>,
    idle_replica_count: Option<i32>,
    max_replica_count: Option<i32>,
    current_replicas: i32,
    is_active: bool,
    is_error: bool,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    fallback: Option<WireFallback>,
    #[serde(default)]
    last_active_age_s: Option<f64>,
    #[serde(default)]
    creation_age_s: Option<f64>,
    initial_cooldown_period_s: Option<f64>,
    cooldown_period_s: Option<f64>,
    #[serde(default)]
    active_triggers: Vec<String>,
    #[serde(default)]
    version: Option<String>,
}

fn executor(i: ExecutorInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut cfg = KedaConfig::new("name", Vec::new());
    cfg.min_replica_count = i.min_replica_count;
    cfg.idle_replica_count = i.idle_replica_count;
    cfg.max_replica_count = i.max_replica_count;
    cfg.annotations = i.annotations;
    cfg.fallback = i.fallback.map(WireFallback::to_fallback);
    if let Some(d) = secs(i.cooldown_period_s) {
        cfg.cooldown_period = d;
    }
    if let Some(d) = secs(i.initial_cooldown_period_s) {
        cfg.initial_cooldown_period = d;
    }
    if let Some(v) = &i.version {
        cfg.version = KedaVersion::parse(v).ok_or(format!("unknown KEDA version {v:?}"))?;
    }
    // Upstream's fixture leaves the target kind empty and names it namespace/name.
    cfg.target_description = " namespace/name".to_string();
    let created = i
        .creation_age_s
        .map_or(SimTime::ZERO, |a| SimTime::from_secs_f64(NOW_S as f64 - a));
    let mut state = KedaState::new(created);
    state.last_active_time = i
        .last_active_age_s
        .map(|a| SimTime::from_secs_f64(NOW_S as f64 - a));
    let r = keda::request_scale(
        &cfg,
        &mut state,
        now(),
        i.is_active,
        i.is_error,
        i.current_replicas,
        &i.active_triggers,
    );
    let get_i = |k: &str| exp.get(k).and_then(Value::as_i64);
    let get_b = |k: &str| exp.get(k).and_then(Value::as_bool);
    let get_s = |k: &str| exp.get(k).and_then(Value::as_str).map(str::to_string);
    c.check(
        "replicas_after",
        get_i("replicas_after"),
        i64::from(r.write.unwrap_or(i.current_replicas)),
    );
    c.check(
        "scale_update_called",
        get_b("scale_update_called"),
        r.write.is_some(),
    );
    c.check(
        "last_active_time_set",
        get_b("last_active_time_set"),
        r.last_active_set,
    );
    let cond = |kind: &str| state.conditions.iter().find(|x| x.kind == kind).cloned();
    let active = cond("Active");
    c.check(
        "active_condition",
        get_s("active_condition"),
        active
            .as_ref()
            .map_or(String::new(), |a| a.status.as_str().into()),
    );
    c.check(
        "active_reason",
        get_s("active_reason"),
        active.as_ref().map_or(String::new(), |a| a.reason.clone()),
    );
    c.check(
        "active_message",
        get_s("active_message"),
        active.as_ref().map_or(String::new(), |a| a.message.clone()),
    );
    let ready = cond("Ready");
    c.check(
        "ready_condition",
        get_s("ready_condition"),
        ready
            .as_ref()
            .map_or(String::new(), |a| a.status.as_str().into()),
    );
    c.check(
        "ready_reason",
        get_s("ready_reason"),
        ready.as_ref().map_or(String::new(), |a| a.reason.clone()),
    );
    let paused = cond("Paused");
    c.check(
        "paused_condition",
        get_s("paused_condition"),
        paused
            .as_ref()
            .map_or(String::new(), |a| a.status.as_str().into()),
    );
    let event = r
        .event
        .map(|(why, msg)| format!("Normal {why} {msg}"))
        .unwrap_or_default();
    c.check("event", get_s("event"), event);
    Ok(())
}

// ---------------------------------------------------------------- fallback

#[derive(Deserialize)]
struct WireMetricSpec {
    target_type: String,
    #[serde(default)]
    target_average_value: Option<f64>,
    #[serde(default)]
    target_value: Option<f64>,
}

#[derive(Deserialize)]
struct OtherHealth {
    name: String,
    #[serde(rename = "numberOfFailures")]
    number_of_failures: i32,
    status: String,
}

#[derive(Deserialize)]
struct FallbackInput {
    fallback: Option<WireFallback>,
    metric_name: String,
    metric_spec: WireMetricSpec,
    initial_health: Option<WireHealth>,
    #[serde(default)]
    other_metrics_health: Vec<OtherHealth>,
    scaler_result: Value,
    target_current_replicas: Option<i32>,
    #[serde(default)]
    ready_replicas: Option<i32>,
}

fn fallback(i: FallbackInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut cfg = KedaConfig::new("name", Vec::new());
    cfg.fallback = i.fallback.map(WireFallback::to_fallback);
    let mut state = KedaState::new(SimTime::ZERO);
    if let Some(h) = &i.initial_health {
        state.health.insert(i.metric_name.clone(), h.health());
    }
    for o in &i.other_metrics_health {
        state.health.insert(
            o.name.clone(),
            Health {
                failures: o.number_of_failures,
                failing: o.status == "Failing",
            },
        );
    }
    let tt = keda::parse_metric_type(&i.metric_spec.target_type)?;
    let target_value = i
        .metric_spec
        .target_average_value
        .or(i.metric_spec.target_value)
        .unwrap_or(0.0);
    let reading = match (
        i.scaler_result.get("value").and_then(Value::as_f64),
        i.scaler_result.get("error"),
    ) {
        (Some(v), _) => Ok(keda::quantity_milli(v, cfg.version)),
        (None, Some(e)) => Err(e.as_str().unwrap_or("error").to_string()),
        _ => return Err("scaler_result needs value or error".into()),
    };
    let target = TargetState {
        spec_replicas: i.target_current_replicas.unwrap_or(0),
        ready_replicas: i
            .ready_replicas
            .unwrap_or(i.target_current_replicas.unwrap_or(0)),
    };
    let r = keda::apply_fallback(
        &cfg,
        &mut state,
        now(),
        &i.metric_name,
        tt,
        target_value,
        reading,
        target,
    );
    if let Some(want) = exp.get("metric_value").and_then(Value::as_f64) {
        let got = match &r.value {
            Ok(Some(m)) => *m as f64 / 1000.0,
            _ => f64::NAN,
        };
        if (got - want).abs() > 1e-9 || got.is_nan() {
            c.mismatches
                .push(format!("metric_value: expected {want} got {got}"));
        }
    }
    if let Some(e) = exp.get("error") {
        c.check("error", Some(!e.is_null()), r.value.is_err());
    }
    if let Some(want) = exp.get("fallback_condition").and_then(Value::as_str) {
        let got = state
            .conditions
            .iter()
            .find(|x| x.kind == "Fallback")
            .map_or(String::new(), |x| x.status.as_str().into());
        c.check("fallback_condition", Some(want.to_string()), got);
    }
    if let Some(h) = exp.get("health") {
        let want = if h.is_null() {
            None
        } else {
            let wh: WireHealth = decode(h.clone(), "expected.health")?;
            Some((wh.number_of_failures, wh.status == "Failing"))
        };
        let got = state
            .health
            .get(&i.metric_name)
            .map(|h| (h.failures, h.failing));
        c.check("health", Some(want), got);
    }
    Ok(())
}

// ---------------------------------------------------------------- bounds

#[derive(Deserialize)]
struct BoundsInput {
    #[serde(default)]
    min_replica_count: Option<i32>,
    #[serde(default)]
    max_replica_count: Option<i32>,
    #[serde(default)]
    idle_replica_count: Option<i32>,
}

fn bounds(i: BoundsInput, exp: &Value, c: &mut Checker) {
    let mut cfg = KedaConfig::new("name", Vec::new());
    cfg.min_replica_count = i.min_replica_count;
    cfg.max_replica_count = i.max_replica_count;
    cfg.idle_replica_count = i.idle_replica_count;
    let hpa = keda::generated_hpa(&cfg);
    let valid = cfg.validate_replica_bounds();
    c.check(
        "hpa_min_replicas",
        exp.get("hpa_min_replicas").and_then(Value::as_i64),
        i64::from(hpa.effective_min_replicas()),
    );
    c.check(
        "hpa_max_replicas",
        exp.get("hpa_max_replicas").and_then(Value::as_i64),
        i64::from(hpa.max_replicas),
    );
    c.check(
        "error",
        exp.get("error").and_then(Value::as_bool),
        valid.is_err(),
    );
    if let (Some(want), Err(e)) = (exp.get("error_contains").and_then(Value::as_str), &valid)
        && !e.contains(want)
    {
        c.mismatches
            .push(format!("error_contains: expected {want:?} in {e:?}"));
    }
    let ready = if valid.is_ok() { "True" } else { "False" };
    c.check(
        "ready_condition",
        exp.get("ready_condition")
            .and_then(Value::as_str)
            .map(str::to_string),
        ready.to_string(),
    );
}

// ---------------------------------------------------------------- scale handler

#[derive(Deserialize)]
struct WireModifiers {
    formula: String,
    target: String,
    #[serde(default, rename = "activationTarget")]
    activation_target: Option<f64>,
}

#[derive(Deserialize)]
struct HandlerMetricsInput {
    scaling_modifiers: WireModifiers,
    trigger_values: BTreeMap<String, f64>,
    trigger_targets_average_value: BTreeMap<String, f64>,
    requested_metric: String,
}

/// Trigger names are written `<name>` in some transcribed formulas; the formula itself uses
/// the bare names.
fn strip_placeholders(formula: &str) -> String {
    let mut out = String::new();
    let mut chars = formula.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '<' && chars.peek().is_some_and(|n| n.is_alphabetic()) {
            let mut name = String::new();
            while let Some(&n) = chars.peek() {
                if n == '>' {
                    break;
                }
                name.push(n);
                chars.next();
            }
            if chars.next() == Some('>') {
                out.push_str(&name);
            } else {
                out.push('<');
                out.push_str(&name);
            }
        } else {
            out.push(ch);
        }
    }
    out
}

fn handler_metrics(i: HandlerMetricsInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let triggers: Vec<Trigger> = i
        .trigger_values
        .keys()
        .enumerate()
        .map(|(idx, name)| {
            let mut t = Trigger::external(
                idx,
                name,
                *i.trigger_targets_average_value.get(name).unwrap_or(&1.0),
                0.0,
            );
            t.metric_name = format!("s{idx}-{name}");
            t
        })
        .collect();
    let readings: Vec<Result<f64, String>> = i.trigger_values.values().map(|v| Ok(*v)).collect();
    let mut cfg = KedaConfig::new("name", triggers);
    cfg.scaling_modifiers = Some(ScalingModifiers {
        formula: strip_placeholders(&i.scaling_modifiers.formula),
        target: i.scaling_modifiers.target.clone(),
        activation_target: i.scaling_modifiers.activation_target.unwrap_or(0.0),
        metric_type: TargetType::AverageValue,
    });
    let hpa = keda::generated_hpa(&cfg);
    let mut state = KedaState::new(SimTime::ZERO);
    let target = TargetState {
        spec_replicas: 1,
        ready_replicas: 1,
    };
    let served = keda::hpa_metric_values(&cfg, &mut state, now(), &readings, target);
    let idx = hpa.metrics.iter().position(|m| match m {
        sim_policy::hpa::MetricSpec::External { metric, .. } => *metric == i.requested_metric,
        _ => false,
    });
    let got = match idx.and_then(|k| served.get(k).cloned().flatten()) {
        Some(sim_policy::hpa::MetricObservation::ExternalValues(v)) if v.len() == 1 => {
            Ok(v[0] as f64 / 1000.0)
        }
        Some(other) => Err(format!("{other:?}")),
        None => Err(format!("metric {} not served", i.requested_metric)),
    };
    if let Some(want) = exp.get("returned_value").and_then(Value::as_f64) {
        match &got {
            Ok(v) if (v - want).abs() < 1e-9 => {}
            _ => c
                .mismatches
                .push(format!("returned_value: expected {want} got {got:?}")),
        }
    }
    if let Some(e) = exp.get("error") {
        c.check("error", Some(!e.is_null()), got.is_err());
    }
    Ok(())
}

#[derive(Deserialize)]
struct WireTrigger {
    metric: String,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    target_average_value: Option<f64>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct HandlerStateInput {
    triggers: Vec<WireTrigger>,
}

fn handler_state(i: HandlerStateInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut triggers = Vec::new();
    let mut readings = Vec::new();
    for (idx, w) in i.triggers.iter().enumerate() {
        // The vector states the scaler's own activity; an activation threshold reproduces it.
        let activation = if w.is_active.unwrap_or(false) {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
        let mut t = Trigger::external(
            idx,
            &format!("trigger{idx}"),
            w.target_average_value.unwrap_or(1.0),
            activation,
        );
        t.metric_name = w.metric.clone();
        t.source = TriggerSource::External;
        triggers.push(t);
        readings.push(match (&w.error, w.value) {
            (Some(e), _) => Err(e.clone()),
            (None, Some(v)) => Ok(v),
            (None, None) => return Err("trigger needs value or error".into()),
        });
    }
    let cfg = KedaConfig::new("name", triggers);
    let mut state = KedaState::new(SimTime::ZERO);
    let a = keda::loop_a_state(
        &cfg,
        &mut state,
        now(),
        &readings,
        TargetState {
            spec_replicas: 1,
            ready_replicas: 1,
        },
    );
    c.check(
        "is_active",
        exp.get("is_active").and_then(Value::as_bool),
        a.is_active,
    );
    c.check(
        "is_error",
        exp.get("is_error").and_then(Value::as_bool),
        a.is_error,
    );
    let want = exp
        .get("active_triggers")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect::<Vec<_>>()
        });
    c.check("active_triggers", want, a.active_triggers);
    Ok(())
}

#[derive(Deserialize)]
struct FormulaInput {
    formula: String,
    /// Upstream's own formula test sets no target; the formula's value does not need one.
    #[serde(default)]
    target: String,
    metrics: BTreeMap<String, f64>,
    metric_to_trigger: BTreeMap<String, String>,
    #[serde(default)]
    health: BTreeMap<String, WireHealth>,
    fallback: Option<WireFallback>,
}

fn modifiers_formula(i: FormulaInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let triggers: Vec<Trigger> = i
        .metric_to_trigger
        .iter()
        .enumerate()
        .map(|(idx, (metric, trig))| {
            let mut t = Trigger::external(idx, trig, 1.0, 0.0);
            t.metric_name = metric.clone();
            t
        })
        .collect();
    let mut cfg = KedaConfig::new("name", triggers);
    cfg.fallback = i.fallback.map(WireFallback::to_fallback);
    cfg.scaling_modifiers = Some(ScalingModifiers {
        formula: strip_placeholders(&i.formula),
        target: i.target.clone(),
        activation_target: 0.0,
        metric_type: TargetType::AverageValue,
    });
    let mut state = KedaState::new(SimTime::ZERO);
    for (k, h) in &i.health {
        state.health.insert(k.clone(), h.health());
    }
    let values: BTreeMap<String, Option<i64>> = i
        .metrics
        .iter()
        .map(|(k, v)| (k.clone(), Some((v * 1000.0) as i64)))
        .collect();
    let got = keda::composite_value(&cfg, &state, &values);
    if let Some(want) = exp.get("value_milli").and_then(Value::as_i64) {
        c.check("value_milli", Some(Ok(want)), got.clone());
    }
    if let Some(want) = exp.get("metric_name").and_then(Value::as_str) {
        c.check(
            "metric_name",
            Some(want.to_string()),
            keda::COMPOSITE_METRIC.to_string(),
        );
    }
    Ok(())
}

#[derive(Deserialize)]
struct TriggerValueInput {
    metric_value: f64,
    fallback: Option<WireFallback>,
    health: Value,
}

fn trigger_value(i: TriggerValueInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut cfg = KedaConfig::new("name", Vec::new());
    cfg.fallback = i.fallback.map(WireFallback::to_fallback);
    let mut state = KedaState::new(SimTime::ZERO);
    if i.health.is_object() {
        let h: WireHealth = decode(i.health.clone(), "health")?;
        state.health.insert("metric".into(), h.health());
    }
    let got = keda::trigger_formula_value(&cfg, &state, "metric", i.metric_value);
    let want = match exp.get("formula_variable") {
        None => return Ok(()),
        Some(Value::Null) => None,
        Some(v) => v.as_f64(),
    };
    c.check("formula_variable", Some(want), got);
    Ok(())
}
