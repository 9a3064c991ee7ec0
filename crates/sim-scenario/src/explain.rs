//! `sim explain`: a dry run of one HPA sync or one KEDA poll, from a file that holds the
//! autoscaler (the scenario's `[hpa]` or `[keda]` table, unchanged) and what it observes now
//! (`[observe]`): metric values, pod states and, optionally, the controller's recent history.

use serde::{Deserialize, Serialize};
use sim_des::{SimDuration, SimTime};
use sim_engine::{AutoscalerSpec, Names};
use sim_policy::ConditionStatus;
use sim_policy::hpa::{
    self, HpaInput, HpaState, MetricObservation, MetricSpec, PodInfo, PodPhase, PodReady, PodSample,
};
use sim_policy::keda::{self, KedaState, TargetState};

use crate::error::ScenarioError;
use crate::locate::Locator;
use crate::lower::toml_error;
use crate::wire::{AdapterTable, HpaTable, KedaTable, ScenarioFile};

/// An explain file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainFile {
    /// The Deployment's name and namespace (for messages).
    pub deployment: Option<ExplainDeployment>,
    /// Prometheus Adapter rules (only checked: values come from `[observe]`).
    #[serde(default)]
    pub adapter: AdapterTable,
    /// The HPA, as in a scenario.
    pub hpa: Option<HpaTable>,
    /// The ScaledObject, as in a scenario.
    pub keda: Option<KedaTable>,
    /// What the controller sees now.
    pub observe: ObserveTable,
}

/// `[deployment]` in an explain file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExplainDeployment {
    /// `metadata.name` (default `vllm`).
    pub name: Option<String>,
    /// `metadata.namespace` (default `default`).
    pub namespace: Option<String>,
}

/// `[observe]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveTable {
    /// The time of this sync or poll, seconds since the object was created (default 3600).
    pub now_s: Option<f64>,
    /// The Deployment's `spec.replicas` now.
    pub replicas: i32,
    /// Pods. Default: `replicas` pods, Running and Ready for an hour.
    #[serde(default)]
    pub pods: Vec<ObservedPod>,
    /// HPA: one entry per `[[hpa.metrics]]`, in order.
    #[serde(default)]
    pub metrics: Vec<ObservedMetric>,
    /// KEDA: one reading per `[[keda.triggers]]`, in order.
    #[serde(default)]
    pub triggers: Vec<ObservedReading>,
    /// HPA: recommendations of earlier syncs (for the stabilisation windows).
    #[serde(default)]
    pub recommendations: Vec<PastRecommendation>,
    /// HPA: scale-ups in the policy periods.
    #[serde(default)]
    pub scale_up_events: Vec<PastScaleEvent>,
    /// HPA: scale-downs in the policy periods.
    #[serde(default)]
    pub scale_down_events: Vec<PastScaleEvent>,
    /// KEDA: seconds since a trigger was last active (absent: never).
    pub last_active_age_s: Option<f64>,
}

/// `[[observe.pods]]`
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedPod {
    /// Pod name (metric values are matched to pods by position otherwise).
    pub name: Option<String>,
    /// `Running` (true) or `Pending`.
    pub running: Option<bool>,
    /// The Ready condition.
    pub ready: Option<bool>,
    /// Seconds since the Ready condition last changed (default 3600).
    pub ready_age_s: Option<f64>,
    /// Seconds since the pod started (default 3600).
    pub start_age_s: Option<f64>,
    /// Being deleted.
    pub deleted: Option<bool>,
}

/// `[[observe.metrics]]`: exactly one of the fields.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedMetric {
    /// A Pods metric: one value per pod, in pod order.
    pub pod_values: Option<Vec<f64>>,
    /// An Object or External metric.
    pub value: Option<f64>,
    /// The metrics API failed with this text.
    pub error: Option<String>,
}

/// `[[observe.triggers]]`: a value or an error.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedReading {
    /// The number the scaler returned.
    pub value: Option<f64>,
    /// The scaler's error.
    pub error: Option<String>,
}

/// An earlier sync's recommendation.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PastRecommendation {
    /// Seconds before `now_s`.
    pub age_s: f64,
    /// The replicas it recommended.
    pub replicas: i32,
}

/// An earlier scale event.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PastScaleEvent {
    /// Seconds before `now_s`.
    pub age_s: f64,
    /// Pods added or removed.
    pub change: i32,
}

fn milli(v: f64) -> i64 {
    (v * 1000.0) as i64
}

/// Parses an explain file and renders the decision in the controllers' words.
///
/// # Errors
/// A bad file, as one [`ScenarioError`] with its position.
pub fn explain(file: &str, text: &str) -> Result<Vec<String>, ScenarioError> {
    let f: ExplainFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let loc = Locator::new(file, text);
    let d = f.deployment.clone().unwrap_or_default();
    let names = Names {
        namespace: d.namespace.unwrap_or_else(|| "default".into()),
        deployment: d.name.unwrap_or_else(|| "vllm".into()),
        model_label: String::new(),
    };
    let scenario = ScenarioFile {
        adapter: f.adapter.clone(),
        hpa: f.hpa.clone(),
        keda: f.keda.clone(),
        ..ScenarioFile::default()
    };
    let control = crate::control::lower_control(&loc, &scenario, &names)?;
    let o = &f.observe;
    let now = SimTime::from_secs_f64(o.now_s.unwrap_or(3600.0));
    let ago = |age_s: f64| {
        SimTime(
            now.as_nanos()
                .saturating_sub(SimDuration::from_secs_f64(age_s).as_nanos()),
        )
    };
    if o.replicas < 0 {
        return Err(loc.error(&["observe", "replicas"], "replicas must be zero or more"));
    }
    // The same cap as `sim run`: pods are built one by one.
    let max = sim_engine::MAX_REPLICAS;
    if o.replicas as u32 > max {
        return Err(loc.error(
            &["observe", "replicas"],
            format!("at most {max} replicas are simulated, got {}", o.replicas),
        ));
    }
    if o.pods.len() > max as usize {
        return Err(loc.error(
            &["observe", "pods"],
            format!("at most {max} pods are simulated, got {}", o.pods.len()),
        ));
    }
    let pods: Vec<PodInfo> = if o.pods.is_empty() {
        (0..o.replicas)
            .map(|i| {
                PodInfo::running_ready(
                    &format!("{}-{i}", names.deployment),
                    ago(3600.0),
                    ago(3600.0),
                )
            })
            .collect()
    } else {
        o.pods
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let ready = p.ready.unwrap_or(true);
                PodInfo {
                    name: p
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("{}-{i}", names.deployment)),
                    phase: if p.running.unwrap_or(true) {
                        PodPhase::Running
                    } else {
                        PodPhase::Pending
                    },
                    deleted: p.deleted.unwrap_or(false),
                    start_time: Some(ago(p.start_age_s.unwrap_or(3600.0))),
                    ready: Some(PodReady {
                        status: if ready {
                            ConditionStatus::True
                        } else {
                            ConditionStatus::False
                        },
                        last_transition: ago(p.ready_age_s.unwrap_or(3600.0)),
                    }),
                    containers: Vec::new(),
                }
            })
            .collect()
    };
    let ready_pods = pods.iter().filter(|p| p.is_running_and_ready()).count() as i32;
    match control.autoscaler {
        AutoscalerSpec::Hpa(h) => {
            let specs = h.config.effective_metrics();
            if o.metrics.len() != specs.len() {
                return Err(loc.error(
                    &["observe"],
                    format!(
                        "[observe] needs one [[observe.metrics]] per [[hpa.metrics]] ({}), got {}",
                        specs.len(),
                        o.metrics.len()
                    ),
                ));
            }
            let mut metrics = Vec::new();
            for (i, (m, spec)) in o.metrics.iter().zip(&specs).enumerate() {
                let idx = i.to_string();
                let obs = match (&m.pod_values, m.value, &m.error) {
                    (Some(v), None, None) if matches!(spec, MetricSpec::Pods { .. }) => {
                        if v.len() > pods.len() {
                            return Err(loc.error(
                                &["observe", "metrics", &idx, "pod_values"],
                                "more values than pods",
                            ));
                        }
                        MetricObservation::PodSamples(
                            v.iter()
                                .zip(&pods)
                                .map(|(x, p)| PodSample {
                                    pod: p.name.clone(),
                                    value_milli: Some(milli(*x)),
                                    timestamp: now,
                                    window: SimDuration::from_secs(60),
                                })
                                .collect(),
                        )
                    }
                    (None, Some(v), None) if matches!(spec, MetricSpec::Object { .. }) => {
                        MetricObservation::ObjectValue(milli(v))
                    }
                    (None, Some(v), None) if matches!(spec, MetricSpec::External { .. }) => {
                        MetricObservation::ExternalValues(vec![milli(v)])
                    }
                    (None, None, Some(e)) => MetricObservation::Error(e.clone()),
                    _ => {
                        return Err(loc.error(
                            &["observe", "metrics", &idx],
                            "give pod_values for a pods metric, value for an object or external metric, or error",
                        ));
                    }
                };
                metrics.push(obs);
            }
            let mut state = HpaState::new();
            if !o.recommendations.is_empty() {
                state.recommendations = Some(
                    o.recommendations
                        .iter()
                        .map(|r| hpa::TimedRecommendation {
                            value: r.replicas,
                            time: ago(r.age_s),
                        })
                        .collect(),
                );
            }
            let events = |list: &[PastScaleEvent]| -> Vec<hpa::ScaleEvent> {
                list.iter()
                    .map(|e| hpa::ScaleEvent {
                        change: e.change,
                        time: ago(e.age_s),
                        outdated: false,
                    })
                    .collect()
            };
            state.scale_up_events = events(&o.scale_up_events);
            state.scale_down_events = events(&o.scale_down_events);
            let input = HpaInput {
                now,
                spec_replicas: o.replicas,
                status_replicas: pods.len() as i32,
                pods,
                metrics,
            };
            let mut out = vec![format!(
                "HorizontalPodAutoscaler {}/{} on deployment/{}",
                names.namespace, h.name, names.deployment
            )];
            out.extend(hpa::explain_hpa(&h.config, &state, &input));
            Ok(out)
        }
        AutoscalerSpec::Keda(k) => {
            if o.triggers.len() != k.config.triggers.len() {
                return Err(loc.error(
                    &["observe"],
                    format!(
                        "[observe] needs one [[observe.triggers]] per [[keda.triggers]] ({}), got {}",
                        k.config.triggers.len(),
                        o.triggers.len()
                    ),
                ));
            }
            let mut readings = Vec::new();
            for (i, r) in o.triggers.iter().enumerate() {
                readings.push(match (r.value, &r.error) {
                    (Some(v), None) => Ok(v),
                    (None, Some(e)) => Err(e.clone()),
                    _ => {
                        return Err(loc.error(
                            &["observe", "triggers", &i.to_string()],
                            "give value or error",
                        ));
                    }
                });
            }
            let mut state = KedaState::new(SimTime::ZERO);
            state.last_active_time = o.last_active_age_s.map(ago);
            let target = TargetState {
                spec_replicas: o.replicas,
                ready_replicas: ready_pods,
            };
            let mut out = keda::explain_keda(&k.config, &state, now, &readings, target);
            // Then the sync of the HPA KEDA generated, on the values KEDA's metrics API serves.
            if o.replicas > 0 {
                let config = keda::generated_hpa(&k.config);
                let served = keda::hpa_metric_values(&k.config, &mut state, now, &readings, target);
                let metrics = served
                    .into_iter()
                    .map(|m| {
                        m.unwrap_or_else(|| {
                            MetricObservation::Error("resource metrics are not simulated".into())
                        })
                    })
                    .collect();
                let input = HpaInput {
                    now,
                    spec_replicas: o.replicas,
                    status_replicas: pods.len() as i32,
                    pods,
                    metrics,
                };
                out.push(format!("HPA keda-hpa-{} sync:", k.config.name));
                out.extend(
                    hpa::explain_hpa(&config, &HpaState::new(), &input)
                        .into_iter()
                        .map(|l| format!("  {l}")),
                );
            }
            Ok(out)
        }
        AutoscalerSpec::None | AutoscalerSpec::Kpa(_) => {
            Err(loc.error(&[], "an explain file needs an [hpa] or a [keda] table"))
        }
    }
}
