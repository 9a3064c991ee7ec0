//! Wire structs and runners for the HPA vector kinds (`hpa.md` §1).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use sim_des::{SimDuration, SimTime};
use sim_policy::hpa::{
    self, Condition, ConditionStatus, ContainerInfo, ControllerFlags, FeatureGates, HpaBehavior,
    HpaConfig, HpaInput, HpaState, K8sVersion, MetricObservation, MetricSpec, MetricTarget,
    PodInfo, PodPhase, PodReady, PodSample, PolicyKind, ResolvedRules, ScaleEvent, ScalingPolicy,
    ScalingRules, SelectPolicy, TargetType, TimedRecommendation, Tolerances,
};

use crate::{Checker, decode};

/// "Now" for every vector, in seconds. Ages are subtracted from it.
const NOW_S: f64 = 2.0e9;
/// Ages beyond this (Go's zero time is 6.3e10 s) mean "long before any window".
const MAX_AGE_S: f64 = 1.0e9;

fn now() -> SimTime {
    SimTime::from_secs_f64(NOW_S)
}

fn ago(age_s: f64) -> SimTime {
    SimTime::from_secs_f64(NOW_S - age_s.clamp(0.0, MAX_AGE_S))
}

fn dur(s: f64) -> SimDuration {
    SimDuration::from_secs_f64(s)
}

pub(crate) fn run(kind: &str, input: Value, expected: &Value) -> Result<Vec<String>, String> {
    let mut c = Checker::new();
    match kind {
        "replica_calc" => replica_calc(decode(input, "input")?, expected, &mut c)?,
        "group_pods" => group(decode(input, "input")?, expected, &mut c)?,
        "reconcile" => reconcile(decode(input, "input")?, expected, &mut c)?,
        "behavior_rate" => behavior_rate(decode(input, "input")?, expected, &mut c)?,
        "policy_limit" => policy_limit(decode(input, "input")?, expected, &mut c)?,
        "stabilization_behavior" => {
            stabilization_behavior(decode(input, "input")?, expected, &mut c)?
        }
        "stabilization_legacy" => stabilization_legacy(decode(input, "input")?, expected, &mut c)?,
        "legacy_rate" => legacy_rate(decode(input, "input")?, expected, &mut c)?,
        "scale_events" => scale_events(decode(input, "input")?, expected, &mut c)?,
        other => return Err(format!("unknown kind {other:?}")),
    }
    Ok(c.mismatches)
}

fn get_i64(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}

fn get_str<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

// ---------------------------------------------------------------- wire structs

#[derive(Deserialize)]
struct WireTolerance {
    scale_down: f64,
    scale_up: f64,
}

#[derive(Deserialize, Clone)]
struct WireContainer {
    name: String,
    #[serde(default)]
    request_milli: Option<i64>,
    #[serde(default)]
    usage_milli: Option<i64>,
    #[serde(default)]
    cpu_request_milli: Option<i64>,
    #[serde(default)]
    cpu_usage_milli: Option<i64>,
}

#[derive(Deserialize, Clone)]
struct WirePod {
    name: String,
    phase: String,
    #[serde(default)]
    deleted: bool,
    #[serde(default)]
    ready_condition: Option<String>,
    #[serde(default)]
    start_age_s: Option<f64>,
    #[serde(default)]
    ready_transition_age_s: Option<f64>,
    #[serde(default)]
    request_milli: Option<i64>,
    #[serde(default)]
    metric_milli: Option<i64>,
    #[serde(default)]
    metric_age_s: Option<f64>,
    #[serde(default)]
    metric_window_s: Option<f64>,
    #[serde(default)]
    containers: Option<Vec<WireContainer>>,
    #[serde(default)]
    cpu_request_milli: Option<i64>,
    #[serde(default)]
    cpu_usage_milli: Option<i64>,
    #[serde(default)]
    pods_metric_milli: Option<i64>,
}

fn phase(p: &str) -> Result<PodPhase, String> {
    Ok(match p {
        "Pending" => PodPhase::Pending,
        "Running" => PodPhase::Running,
        "Succeeded" => PodPhase::Succeeded,
        "Failed" => PodPhase::Failed,
        "Unknown" => PodPhase::Unknown,
        other => return Err(format!("unknown pod phase {other:?}")),
    })
}

fn status(s: &str) -> Result<ConditionStatus, String> {
    Ok(match s {
        "True" => ConditionStatus::True,
        "False" => ConditionStatus::False,
        "Unknown" => ConditionStatus::Unknown,
        other => return Err(format!("unknown condition status {other:?}")),
    })
}

impl WirePod {
    /// The pod without containers.
    fn info(&self) -> Result<PodInfo, String> {
        let ready = match &self.ready_condition {
            None => None,
            Some(s) => Some(PodReady {
                status: status(s)?,
                last_transition: ago(self.ready_transition_age_s.unwrap_or(MAX_AGE_S)),
            }),
        };
        Ok(PodInfo {
            name: self.name.clone(),
            phase: phase(&self.phase)?,
            deleted: self.deleted,
            start_time: self.start_age_s.map(ago),
            ready,
            containers: Vec::new(),
        })
    }

    fn sample(&self, value: Option<i64>) -> PodSample {
        PodSample {
            pod: self.name.clone(),
            value_milli: value,
            timestamp: ago(self.metric_age_s.unwrap_or(0.0)),
            window: dur(self.metric_window_s.unwrap_or(0.0)),
        }
    }
}

fn container(name: &str, resource: &str, request: Option<i64>) -> ContainerInfo {
    let mut requests_milli = BTreeMap::new();
    if let Some(r) = request {
        requests_milli.insert(resource.to_string(), r);
    }
    ContainerInfo {
        name: name.to_string(),
        requests_milli,
    }
}

// ---------------------------------------------------------------- replica_calc

#[derive(Deserialize)]
struct ReplicaCalcInput {
    metric: Value,
    current_replicas: i32,
    tolerance: WireTolerance,
    #[serde(default)]
    cpu_initialization_period_s: Option<f64>,
    #[serde(default)]
    initial_readiness_delay_s: Option<f64>,
    #[serde(default)]
    pods: Vec<WirePod>,
    #[serde(default)]
    object_value_milli: Option<i64>,
    #[serde(default)]
    external_values_milli: Option<Vec<i64>>,
    #[serde(default)]
    orphan_metrics_milli: Vec<Orphan>,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct Orphan {
    pod: String,
    value_milli: i64,
}

fn target_type(t: &str) -> Result<TargetType, String> {
    Ok(match t {
        "Utilization" => TargetType::Utilization,
        "Value" => TargetType::Value,
        "AverageValue" => TargetType::AverageValue,
        other => return Err(format!("unknown target type {other:?}")),
    })
}

fn replica_calc(i: ReplicaCalcInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let m = &i.metric;
    let source = get_str(m, "source").ok_or("metric.source missing")?;
    let tt = target_type(get_str(m, "target_type").ok_or("metric.target_type missing")?)?;
    let resource = get_str(m, "resource").unwrap_or("cpu").to_string();
    let target = match tt {
        TargetType::Utilization => {
            MetricTarget::utilization(get_i64(m, "target").ok_or("metric.target missing")? as i32)
        }
        TargetType::AverageValue => {
            MetricTarget::average_value_milli(get_i64(m, "target_milli").ok_or("target_milli")?)
        }
        TargetType::Value => {
            MetricTarget::value_milli(get_i64(m, "target_milli").ok_or("target_milli")?)
        }
    };
    let container_name = get_str(m, "container").map(str::to_string);
    let spec = match source {
        "Resource" => MetricSpec::Resource {
            name: resource.clone(),
            target,
        },
        "ContainerResource" => MetricSpec::ContainerResource {
            name: resource.clone(),
            container: container_name.clone().ok_or("metric.container missing")?,
            target,
        },
        "Pods" => MetricSpec::Pods {
            metric: "metric".into(),
            target,
        },
        "Object" => MetricSpec::Object {
            described_kind: "Deployment".into(),
            metric: "metric".into(),
            target,
        },
        "External" => MetricSpec::External {
            metric: "metric".into(),
            target,
        },
        other => MetricSpec::Unknown {
            source_type: other.to_string(),
        },
    };
    let mut pods = Vec::new();
    let mut samples = Vec::new();
    for p in &i.pods {
        let mut info = p.info()?;
        match (&p.containers, source) {
            (Some(cs), "ContainerResource") => {
                for wc in cs {
                    info.containers
                        .push(container(&wc.name, &resource, wc.request_milli));
                }
                let wanted = container_name.as_deref().unwrap_or_default();
                match cs.iter().find(|wc| wc.name == wanted) {
                    Some(wc) => {
                        if let Some(u) = wc.usage_milli {
                            samples.push(p.sample(Some(u)));
                        }
                    }
                    None => samples.push(p.sample(None)),
                }
            }
            _ => {
                info.containers
                    .push(container("container", &resource, p.request_milli));
                if let Some(v) = p.metric_milli {
                    samples.push(p.sample(Some(v)));
                }
            }
        }
        pods.push(info);
    }
    for o in &i.orphan_metrics_milli {
        samples.push(PodSample {
            pod: o.pod.clone(),
            value_milli: Some(o.value_milli),
            timestamp: now(),
            window: dur(60.0),
        });
    }
    let obs = match source {
        "Object" => MetricObservation::ObjectValue(
            i.object_value_milli.ok_or("object_value_milli missing")?,
        ),
        "External" => MetricObservation::ExternalValues(
            i.external_values_milli
                .clone()
                .ok_or("external_values_milli")?,
        ),
        _ => MetricObservation::PodSamples(samples),
    };
    let flags = ControllerFlags {
        cpu_initialization_period: dur(i.cpu_initialization_period_s.unwrap_or(120.0)),
        initial_readiness_delay: dur(i.initial_readiness_delay_s.unwrap_or(10.0)),
        ..ControllerFlags::default()
    };
    let version = match &i.version {
        None => K8sVersion::Master,
        Some(v) => K8sVersion::parse(v).ok_or(format!("unknown version {v:?}"))?,
    };
    let sem = version.semantics();
    let ctx = hpa::CalcContext {
        pods: &pods,
        spec_replicas: i.current_replicas,
        status_replicas: i.current_replicas,
        tolerances: Tolerances {
            scale_down: i.tolerance.scale_down,
            scale_up: i.tolerance.scale_up,
        },
        flags: &flags,
        semantics: &sem,
        now: now(),
    };
    let result = hpa::compute_metric(&spec, &obs, &ctx);
    if exp.get("error").and_then(Value::as_bool) == Some(true) {
        match result {
            Ok(p) => c
                .mismatches
                .push(format!("expected an error, got {} replicas", p.replicas)),
            Err(e) => {
                if let Some(want) = get_str(exp, "error_contains")
                    && !e.message.contains(want)
                {
                    c.mismatches
                        .push(format!("error: expected text {want:?} got {:?}", e.message));
                }
            }
        }
        return Ok(());
    }
    match result {
        Err(e) => c
            .mismatches
            .push(format!("expected a proposal, got error {:?}", e.message)),
        Ok(p) => {
            c.check(
                "desiredReplicas",
                get_i64(exp, "desiredReplicas"),
                i64::from(p.replicas),
            );
            let cur = p.current;
            c.check(
                "utilization_percent",
                get_i64(exp, "utilization_percent"),
                cur.average_utilization.map(i64::from).unwrap_or(-1),
            );
            c.check(
                "raw_average_milli",
                get_i64(exp, "raw_average_milli"),
                cur.average_value_milli.unwrap_or(-1),
            );
            c.check(
                "usage_average_milli",
                get_i64(exp, "usage_average_milli"),
                cur.average_value_milli.unwrap_or(-1),
            );
            c.check(
                "usage_milli",
                get_i64(exp, "usage_milli"),
                cur.value_milli.unwrap_or(-1),
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- group_pods

#[derive(Deserialize)]
struct GroupInput {
    resource: String,
    cpu_initialization_period_s: f64,
    initial_readiness_delay_s: f64,
    pods: Vec<WirePod>,
}

fn group(i: GroupInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut pods = Vec::new();
    let mut samples = Vec::new();
    for p in &i.pods {
        pods.push(p.info()?);
        if let Some(v) = p.metric_milli {
            samples.push(p.sample(Some(v)));
        }
    }
    let g = hpa::group_pods(
        &pods,
        &samples,
        i.resource == "cpu",
        dur(i.cpu_initialization_period_s),
        dur(i.initial_readiness_delay_s),
        K8sVersion::Master.semantics().ignore_succeeded_pods,
        now(),
    );
    let names = |k: &str| -> Option<Vec<String>> {
        exp.get(k).and_then(Value::as_array).map(|a| {
            let mut v: Vec<String> = a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect();
            v.sort();
            v
        })
    };
    c.check(
        "ready_count",
        get_i64(exp, "ready_count"),
        g.ready_count as i64,
    );
    c.check(
        "unready",
        names("unready"),
        g.unready.iter().cloned().collect(),
    );
    c.check(
        "missing",
        names("missing"),
        g.missing.iter().cloned().collect(),
    );
    c.check(
        "ignored",
        names("ignored"),
        g.ignored.iter().cloned().collect(),
    );
    Ok(())
}

// ---------------------------------------------------------------- behavior wire

#[derive(Deserialize, Clone)]
struct WirePolicy {
    #[serde(rename = "type")]
    kind: String,
    value: i32,
    #[serde(rename = "periodSeconds")]
    period_seconds: i32,
}

#[derive(Deserialize, Clone, Default)]
struct WireRules {
    #[serde(rename = "stabilizationWindowSeconds", default)]
    stabilization_window_seconds: Option<i32>,
    #[serde(rename = "selectPolicy", default)]
    select_policy: Option<String>,
    #[serde(default)]
    policies: Option<Vec<WirePolicy>>,
    #[serde(default)]
    tolerance: Option<f64>,
}

impl WireRules {
    fn to_rules(&self) -> Result<ScalingRules, String> {
        let select_policy = match self.select_policy.as_deref() {
            None => None,
            Some("Max") => Some(SelectPolicy::Max),
            Some("Min") => Some(SelectPolicy::Min),
            Some("Disabled") => Some(SelectPolicy::Disabled),
            Some(other) => return Err(format!("unknown selectPolicy {other:?}")),
        };
        let policies = match &self.policies {
            None => None,
            Some(ps) => Some(
                ps.iter()
                    .map(|p| {
                        let kind = match p.kind.as_str() {
                            "Pods" => PolicyKind::Pods,
                            "Percent" => PolicyKind::Percent,
                            other => return Err(format!("unknown policy type {other:?}")),
                        };
                        Ok(ScalingPolicy {
                            kind,
                            value: p.value,
                            period_s: p.period_seconds,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?,
            ),
        };
        Ok(ScalingRules {
            stabilization_window_s: self.stabilization_window_seconds,
            select_policy,
            policies,
            tolerance: self.tolerance,
        })
    }

    /// Rules that the vector states are already defaulted.
    fn resolved(&self) -> Result<ResolvedRules, String> {
        let r = self.to_rules()?;
        Ok(ResolvedRules {
            stabilization_window_s: r.stabilization_window_s.unwrap_or(300),
            select_policy: r.select_policy.unwrap_or(SelectPolicy::Max),
            policies: r.policies.unwrap_or_default(),
            tolerance: r.tolerance,
        })
    }
}

#[derive(Deserialize, Clone)]
struct WireEvent {
    change: i32,
    age_s: f64,
}

fn events(ws: &[WireEvent]) -> Vec<ScaleEvent> {
    ws.iter()
        .map(|e| ScaleEvent {
            change: e.change,
            time: ago(e.age_s),
            outdated: false,
        })
        .collect()
}

#[derive(Deserialize, Clone)]
struct WireRecommendation {
    value: i32,
    age_s: f64,
}

fn recommendations(ws: &[WireRecommendation]) -> Vec<TimedRecommendation> {
    ws.iter()
        .map(|r| TimedRecommendation {
            value: r.value,
            time: ago(r.age_s),
        })
        .collect()
}

// ---------------------------------------------------------------- behavior kinds

#[derive(Deserialize)]
struct BehaviorRateInput {
    current_replicas: i32,
    desired_replicas: i32,
    min_replicas: i32,
    max_replicas: i32,
    scale_up_rules: WireRules,
    scale_down_rules: WireRules,
    scale_up_events: Vec<WireEvent>,
    scale_down_events: Vec<WireEvent>,
}

fn behavior_rate(i: BehaviorRateInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let (d, reason, _) = hpa::rate_limit(
        i.current_replicas,
        i.desired_replicas,
        i.min_replicas,
        i.max_replicas,
        &i.scale_up_rules.resolved()?,
        &i.scale_down_rules.resolved()?,
        &events(&i.scale_up_events),
        &events(&i.scale_down_events),
        true,
        now(),
    );
    c.desired_and_reason(exp, d, reason);
    Ok(())
}

#[derive(Deserialize)]
struct PolicyLimitInput {
    direction: String,
    current_replicas: i32,
    scale_up_events: Vec<WireEvent>,
    scale_down_events: Vec<WireEvent>,
    rules: WireRules,
}

fn policy_limit(i: PolicyLimitInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let dir = match i.direction.as_str() {
        "up" => hpa::Direction::Up,
        "down" => hpa::Direction::Down,
        other => return Err(format!("unknown direction {other:?}")),
    };
    let limit = hpa::policy_limit(
        dir,
        i.current_replicas,
        &events(&i.scale_up_events),
        &events(&i.scale_down_events),
        &i.rules.resolved()?,
        true,
        now(),
    );
    c.check("limit", get_i64(exp, "limit"), i64::from(limit));
    Ok(())
}

#[derive(Deserialize)]
struct StabilizationBehaviorInput {
    recommendations: Vec<WireRecommendation>,
    current_replicas: i32,
    desired_replicas: i32,
    scale_up_stabilization_window_s: i32,
    scale_down_stabilization_window_s: i32,
}

fn stored_values(exp: &Value, key: &str) -> Option<Vec<i64>> {
    exp.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
}

fn stabilization_behavior(
    i: StabilizationBehaviorInput,
    exp: &Value,
    c: &mut Checker,
) -> Result<(), String> {
    let mut recs = recommendations(&i.recommendations);
    let (s, _) = hpa::stabilize_with_behavior(
        &mut recs,
        i.current_replicas,
        i.desired_replicas,
        i.scale_up_stabilization_window_s,
        i.scale_down_stabilization_window_s,
        true,
        now(),
    );
    c.check(
        "stabilizedReplicas",
        get_i64(exp, "stabilizedReplicas"),
        i64::from(s),
    );
    c.check(
        "stored_recommendation_values",
        stored_values(exp, "stored_recommendation_values"),
        recs.iter().map(|r| i64::from(r.value)).collect(),
    );
    Ok(())
}

#[derive(Deserialize)]
struct StabilizationLegacyInput {
    recommendations: Vec<WireRecommendation>,
    desired_replicas: i32,
    downscale_stabilization_window_s: f64,
}

fn stabilization_legacy(
    i: StabilizationLegacyInput,
    exp: &Value,
    c: &mut Checker,
) -> Result<(), String> {
    let mut recs = recommendations(&i.recommendations);
    let s = hpa::stabilize_legacy(
        &mut recs,
        i.desired_replicas,
        dur(i.downscale_stabilization_window_s),
        now(),
    );
    c.check(
        "stabilizedReplicas",
        get_i64(exp, "stabilizedReplicas"),
        i64::from(s),
    );
    c.check(
        "stored_recommendation_count",
        get_i64(exp, "stored_recommendation_count"),
        recs.len() as i64,
    );
    Ok(())
}

#[derive(Deserialize)]
struct LegacyRateInput {
    current_replicas: i32,
    desired_replicas: i32,
    min_replicas: i32,
    max_replicas: i32,
    scale_up_limit_factor: f64,
    scale_up_limit_minimum: f64,
}

fn legacy_rate(i: LegacyRateInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let (d, reason, _) = hpa::legacy_rate_limit(
        i.current_replicas,
        i.desired_replicas,
        i.min_replicas,
        i.max_replicas,
        i.scale_up_limit_factor,
        i.scale_up_limit_minimum,
    );
    c.desired_and_reason(exp, d, reason);
    Ok(())
}

#[derive(Deserialize)]
struct ScaleEventsInput {
    previous_events: Vec<WireEvent>,
    rules: Option<WireRules>,
    replica_change: i32,
    query_period_s: i32,
}

fn scale_events(i: ScaleEventsInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let mut evs = events(&i.previous_events);
    let before = hpa::replicas_changed_in_period(&evs, i.query_period_s, now());
    c.check(
        "replicas_changed_in_period_before_store",
        get_i64(exp, "replicas_changed_in_period_before_store"),
        i64::from(before),
    );
    let rules = i.rules.as_ref().map(WireRules::resolved).transpose()?;
    hpa::record_scale_event(&mut evs, rules.as_ref(), i.replica_change, now());
    let want = exp
        .get("events_after_store")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        get_i64(e, "change").unwrap_or(-1),
                        e.get("outdated").and_then(Value::as_bool).unwrap_or(false),
                    )
                })
                .collect::<Vec<_>>()
        });
    c.check(
        "events_after_store",
        want,
        evs.iter()
            .map(|e| (i64::from(e.change), e.outdated))
            .collect(),
    );
    Ok(())
}

// ---------------------------------------------------------------- reconcile

#[derive(Deserialize)]
struct WireController {
    tolerance: f64,
    downscale_stabilization_s: f64,
    cpu_initialization_period_s: f64,
    initial_readiness_delay_s: f64,
    scale_up_limit_factor: f64,
    scale_up_limit_minimum: f64,
}

#[derive(Deserialize)]
struct WireCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    reason: String,
}

#[derive(Deserialize)]
struct WireBehavior {
    #[serde(rename = "scaleUp", default)]
    scale_up: Option<WireRules>,
    #[serde(rename = "scaleDown", default)]
    scale_down: Option<WireRules>,
}

#[derive(Deserialize)]
struct ReconcileInput {
    min_replicas: Option<i32>,
    max_replicas: i32,
    spec_replicas: i32,
    status_replicas: i32,
    metrics: Vec<Value>,
    pods: Vec<WirePod>,
    behavior: Option<WireBehavior>,
    recommendation_history: Option<Vec<WireRecommendation>>,
    #[serde(default)]
    scale_up_events: Vec<WireEvent>,
    #[serde(default)]
    scale_down_events: Vec<WireEvent>,
    #[serde(default)]
    initial_conditions: Vec<WireCondition>,
    #[serde(default)]
    feature_gates: BTreeMap<String, bool>,
    controller: WireController,
    #[serde(default)]
    object_value_milli: Option<i64>,
    #[serde(default)]
    external_values_milli: Option<Vec<i64>>,
    #[serde(default)]
    orphan_cpu_metrics_milli: Vec<Orphan>,
    #[serde(default)]
    metric_fetch_errors: Vec<usize>,
    #[serde(default)]
    version: Option<String>,
}

fn wire_target(t: &Value) -> Result<MetricTarget, String> {
    let tt = target_type(get_str(t, "type").ok_or("target.type missing")?)?;
    Ok(MetricTarget {
        target_type: tt,
        value_milli: get_i64(t, "value_milli"),
        average_value_milli: get_i64(t, "averageValue_milli"),
        average_utilization: get_i64(t, "averageUtilization").map(|v| v as i32),
    })
}

fn wire_metric(m: &Value) -> Result<MetricSpec, String> {
    let ty = get_str(m, "type").ok_or("metric.type missing")?;
    let target = match m.get("target") {
        None | Some(Value::Null) => MetricTarget {
            target_type: TargetType::Utilization,
            value_milli: None,
            average_value_milli: None,
            average_utilization: None,
        },
        Some(t) => wire_target(t)?,
    };
    let metric = get_str(m, "metric").unwrap_or("metric").to_string();
    Ok(match ty {
        "Resource" => MetricSpec::Resource {
            name: get_str(m, "resource").unwrap_or("cpu").to_string(),
            target,
        },
        "ContainerResource" => MetricSpec::ContainerResource {
            name: get_str(m, "resource").unwrap_or("cpu").to_string(),
            container: get_str(m, "container")
                .ok_or("metric.container missing")?
                .to_string(),
            target,
        },
        "Pods" => MetricSpec::Pods { metric, target },
        "Object" => MetricSpec::Object {
            described_kind: "Deployment".into(),
            metric,
            target,
        },
        "External" => MetricSpec::External { metric, target },
        other => MetricSpec::Unknown {
            source_type: other.to_string(),
        },
    })
}

fn reconcile(i: ReconcileInput, exp: &Value, c: &mut Checker) -> Result<(), String> {
    let metrics = i
        .metrics
        .iter()
        .map(wire_metric)
        .collect::<Result<Vec<_>, _>>()?;
    let behavior = match &i.behavior {
        None => None,
        Some(b) => Some(HpaBehavior {
            scale_up: b.scale_up.as_ref().map(WireRules::to_rules).transpose()?,
            scale_down: b.scale_down.as_ref().map(WireRules::to_rules).transpose()?,
        }),
    };
    let version = match &i.version {
        None => K8sVersion::Master,
        Some(v) => K8sVersion::parse(v).ok_or(format!("unknown version {v:?}"))?,
    };
    let config = HpaConfig {
        min_replicas: i.min_replicas,
        max_replicas: i.max_replicas,
        metrics: metrics.clone(),
        behavior,
        controller: ControllerFlags {
            sync_period: dur(15.0),
            tolerance: i.controller.tolerance,
            downscale_stabilization: dur(i.controller.downscale_stabilization_s),
            cpu_initialization_period: dur(i.controller.cpu_initialization_period_s),
            initial_readiness_delay: dur(i.controller.initial_readiness_delay_s),
            scale_up_limit_factor: i.controller.scale_up_limit_factor,
            scale_up_limit_minimum: i.controller.scale_up_limit_minimum,
        },
        gates: FeatureGates {
            hpa_scale_to_zero: i
                .feature_gates
                .get("HPAScaleToZero")
                .copied()
                .unwrap_or(false),
            hpa_configurable_tolerance: i
                .feature_gates
                .get("HPAConfigurableTolerance")
                .copied()
                .unwrap_or(false),
        },
        version,
    };
    let mut pods = Vec::new();
    for p in &i.pods {
        let mut info = p.info()?;
        match &p.containers {
            Some(cs) => {
                for wc in cs {
                    info.containers
                        .push(container(&wc.name, "cpu", wc.cpu_request_milli));
                }
            }
            None => info
                .containers
                .push(container("container", "cpu", p.cpu_request_milli)),
        }
        pods.push(info);
    }
    let mut observations = Vec::new();
    for (idx, spec) in metrics.iter().enumerate() {
        if i.metric_fetch_errors.contains(&idx) {
            observations.push(MetricObservation::Error(
                "the metrics API call failed".into(),
            ));
            continue;
        }
        let obs = match spec {
            MetricSpec::Resource { .. } => {
                let mut s: Vec<PodSample> = i
                    .pods
                    .iter()
                    .filter(|p| p.cpu_usage_milli.is_some())
                    .map(|p| p.sample(p.cpu_usage_milli))
                    .collect();
                for o in &i.orphan_cpu_metrics_milli {
                    s.push(PodSample {
                        pod: o.pod.clone(),
                        value_milli: Some(o.value_milli),
                        timestamp: now(),
                        window: dur(60.0),
                    });
                }
                MetricObservation::PodSamples(s)
            }
            MetricSpec::ContainerResource {
                container: want, ..
            } => {
                let mut s = Vec::new();
                for p in &i.pods {
                    match p
                        .containers
                        .as_ref()
                        .and_then(|cs| cs.iter().find(|wc| &wc.name == want))
                    {
                        Some(wc) => {
                            if let Some(u) = wc.cpu_usage_milli {
                                s.push(p.sample(Some(u)));
                            }
                        }
                        None => {
                            if p.cpu_usage_milli.is_some() {
                                s.push(p.sample(None));
                            }
                        }
                    }
                }
                MetricObservation::PodSamples(s)
            }
            MetricSpec::Pods { .. } => MetricObservation::PodSamples(
                i.pods
                    .iter()
                    .filter(|p| p.pods_metric_milli.is_some())
                    .map(|p| p.sample(p.pods_metric_milli))
                    .collect(),
            ),
            MetricSpec::Object { .. } => {
                MetricObservation::ObjectValue(i.object_value_milli.unwrap_or(0))
            }
            MetricSpec::External { .. } => MetricObservation::ExternalValues(
                i.external_values_milli.clone().unwrap_or_default(),
            ),
            MetricSpec::Unknown { .. } => MetricObservation::Error("unknown source".into()),
        };
        observations.push(obs);
    }
    let mut conditions = Vec::new();
    for wc in &i.initial_conditions {
        conditions.push(Condition {
            kind: wc.kind.clone(),
            status: status(&wc.status)?,
            reason: wc.reason.clone(),
            message: String::new(),
            last_transition: ago(MAX_AGE_S),
        });
    }
    let mut state = HpaState {
        recommendations: i.recommendation_history.as_deref().map(recommendations),
        scale_up_events: events(&i.scale_up_events),
        scale_down_events: events(&i.scale_down_events),
        conditions,
        last_scale_time: None,
    };
    let input = HpaInput {
        now: now(),
        spec_replicas: i.spec_replicas,
        status_replicas: i.status_replicas,
        pods,
        metrics: observations,
    };
    let d = hpa::reconcile(&config, &mut state, &input);
    c.check(
        "desiredReplicas",
        get_i64(exp, "desiredReplicas"),
        i64::from(d.desired_replicas),
    );
    c.check(
        "scaleUpdated",
        exp.get("scaleUpdated").and_then(Value::as_bool),
        d.rescale,
    );
    c.check(
        "reconcile_error",
        exp.get("reconcile_error").and_then(Value::as_bool),
        d.error.is_some(),
    );
    let want = exp.get("conditions").and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|x| {
                format!(
                    "{}/{}/{}",
                    get_str(x, "type").unwrap_or_default(),
                    get_str(x, "status").unwrap_or_default(),
                    get_str(x, "reason").unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
    });
    let got = d
        .conditions
        .iter()
        .map(|x| format!("{}/{}/{}", x.kind, x.status.as_str(), x.reason))
        .collect();
    c.check("conditions", want, got);
    Ok(())
}
