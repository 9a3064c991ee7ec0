//! The Kubernetes HorizontalPodAutoscaler (autoscaling/v2) controller, one sync at a time.
//!
//! The engine builds an [`HpaInput`] at each sync, calls [`reconcile`] with the HPA's
//! [`HpaConfig`] and its [`HpaState`] (the controller's in-memory history), and applies
//! [`HpaDecision::desired_replicas`] when [`HpaDecision::rescale`] is true.
//!
//! Submodules: `grouping` (ready/unready/missing/ignored pods), `calculator` (one metric to a
//! replica proposal), `behavior` (stabilisation, rate limits, scale events) and `conditions`
//! (the status conditions with upstream's reasons and messages).

pub(crate) mod behavior;
pub(crate) mod calculator;
pub(crate) mod conditions;
mod explain;
pub(crate) mod grouping;
mod reconcile;

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};

pub use crate::conditions::{Condition, ConditionStatus};
pub use behavior::{
    Direction, ScaleEvent, TimedRecommendation, legacy_rate_limit, policy_limit, rate_limit,
    record_scale_event, replicas_changed_in_period, stabilize_legacy, stabilize_with_behavior,
};
pub use calculator::{CalcContext, MetricError, MetricProposal, compute_metric};
pub use explain::explain_hpa;
pub use grouping::{PodGroups, group_pods};
pub use reconcile::reconcile;

/// Which upstream release's semantics to follow. See [`HpaSemantics`] for what each changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum K8sVersion {
    /// About v1.19–v1.20: a failing metric may still let the HPA scale down; one stabilisation
    /// window chosen by direction; rate-limit periods count same-direction events only;
    /// missing pods are filled at 100 % of request; tolerance is `|1 - ratio| <= tol`.
    V1_20,
    /// About v1.26–v1.31: the v1.21 metric-error rule, two-window stabilisation, up and down
    /// events in the period start, missing pods filled at max(100 %, target).
    V1_26,
    /// v1.33–v1.35: a pod whose sample lacks the ContainerResource container counts as
    /// missing; per-direction tolerance (`HPAConfigurableTolerance` gate) and the
    /// inclusive band `1 - down <= ratio <= 1 + up`.
    V1_33,
    /// Upstream master (2026): the `ScaledToZero` condition gates scale-from-zero, Succeeded
    /// pods are ignored, overflow guards. The default.
    #[default]
    Master,
}

/// The individual behaviour switches behind a [`K8sVersion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HpaSemantics {
    /// v1.21+ (#99514): any failing metric blocks a scale-down.
    pub metric_error_blocks_scale_down: bool,
    /// Master-era stabilisation: clamp current into [min over up-window, max over down-window].
    pub two_window_stabilization: bool,
    /// The period start counts scale-up and scale-down events (`C - added + removed`).
    pub period_start_counts_both_directions: bool,
    /// #112178: missing pods on a Utilization scale-down count as max(100 %, target).
    pub missing_fill_uses_target_above_100: bool,
    /// #127193: a pod sample without the named container makes the pod "missing" instead
    /// of failing the metric.
    pub missing_container_is_missing_pod: bool,
    /// KEP-4951 shape of the tolerance test (inclusive band per direction) instead of
    /// `|1 - ratio| <= tolerance`.
    pub tolerance_band: bool,
    /// KEP-2021 (#135118): at zero replicas, compute metrics only with `ScaledToZero=True`.
    pub scaled_to_zero_condition: bool,
    /// Terminal pods (Failed and Succeeded) are ignored; otherwise only Failed.
    pub ignore_succeeded_pods: bool,
    /// MaxInt32/MaxInt64 saturation in the calculator.
    pub overflow_guards: bool,
}

impl K8sVersion {
    /// The switches of this version.
    pub fn semantics(self) -> HpaSemantics {
        let v = self;
        HpaSemantics {
            metric_error_blocks_scale_down: v >= K8sVersion::V1_26,
            two_window_stabilization: v >= K8sVersion::V1_26,
            period_start_counts_both_directions: v >= K8sVersion::V1_26,
            missing_fill_uses_target_above_100: v >= K8sVersion::V1_26,
            missing_container_is_missing_pod: v >= K8sVersion::V1_33,
            tolerance_band: v >= K8sVersion::V1_33,
            scaled_to_zero_condition: v >= K8sVersion::Master,
            ignore_succeeded_pods: v >= K8sVersion::Master,
            overflow_guards: v >= K8sVersion::Master,
        }
    }

    /// Parses `1.20`, `v1.26`, `1.33`, `master` (case-insensitive).
    pub fn parse(text: &str) -> Option<K8sVersion> {
        match text
            .trim()
            .trim_start_matches(['v', 'V'])
            .to_ascii_lowercase()
            .as_str()
        {
            "1.20" | "1.19" => Some(K8sVersion::V1_20),
            "1.26" | "1.27" | "1.28" | "1.29" | "1.30" | "1.31" => Some(K8sVersion::V1_26),
            "1.32" | "1.33" | "1.34" | "1.35" => Some(K8sVersion::V1_33),
            "master" | "latest" => Some(K8sVersion::Master),
            _ => None,
        }
    }
}

/// kube-controller-manager flags and package constants that shape every HPA.
#[derive(Clone, Debug, PartialEq)]
pub struct ControllerFlags {
    /// `--horizontal-pod-autoscaler-sync-period` (15 s). The engine uses it to schedule syncs.
    pub sync_period: SimDuration,
    /// `--horizontal-pod-autoscaler-tolerance` (0.1).
    pub tolerance: f64,
    /// `--horizontal-pod-autoscaler-downscale-stabilization` (300 s).
    pub downscale_stabilization: SimDuration,
    /// `--horizontal-pod-autoscaler-cpu-initialization-period` (300 s).
    pub cpu_initialization_period: SimDuration,
    /// `--horizontal-pod-autoscaler-initial-readiness-delay` (30 s).
    pub initial_readiness_delay: SimDuration,
    /// Legacy-path scale-up factor (2.0; upstream's tests raise it to 8).
    pub scale_up_limit_factor: f64,
    /// Legacy-path scale-up minimum (4.0).
    pub scale_up_limit_minimum: f64,
}

impl Default for ControllerFlags {
    fn default() -> Self {
        ControllerFlags {
            sync_period: SimDuration::from_secs(15),
            tolerance: 0.1,
            downscale_stabilization: SimDuration::from_secs(300),
            cpu_initialization_period: SimDuration::from_secs(300),
            initial_readiness_delay: SimDuration::from_secs(30),
            scale_up_limit_factor: 2.0,
            scale_up_limit_minimum: 4.0,
        }
    }
}

/// Alpha/beta feature gates that change HPA decisions. All off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeatureGates {
    /// `HPAScaleToZero`: minReplicas 0 with an Object/External metric.
    pub hpa_scale_to_zero: bool,
    /// `HPAConfigurableTolerance`: `behavior.scaleUp/scaleDown.tolerance`.
    pub hpa_configurable_tolerance: bool,
}

/// How a metric target is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetType {
    /// Percent of the pods' resource request (Resource, ContainerResource).
    Utilization,
    /// A total value (Object, External).
    Value,
    /// A per-pod average.
    AverageValue,
}

/// `spec.metrics[].*.target`. Quantities are milli-units (`MilliValue()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricTarget {
    /// The declared `type`.
    pub target_type: TargetType,
    /// `value` in milli-units.
    pub value_milli: Option<i64>,
    /// `averageValue` in milli-units.
    pub average_value_milli: Option<i64>,
    /// `averageUtilization` in percent.
    pub average_utilization: Option<i32>,
}

impl MetricTarget {
    /// `type: Utilization, averageUtilization: percent`.
    pub fn utilization(percent: i32) -> MetricTarget {
        MetricTarget {
            target_type: TargetType::Utilization,
            value_milli: None,
            average_value_milli: None,
            average_utilization: Some(percent),
        }
    }
    /// `type: AverageValue, averageValue: milli/1000`.
    pub fn average_value_milli(milli: i64) -> MetricTarget {
        MetricTarget {
            target_type: TargetType::AverageValue,
            value_milli: None,
            average_value_milli: Some(milli),
            average_utilization: None,
        }
    }
    /// `type: Value, value: milli/1000`.
    pub fn value_milli(milli: i64) -> MetricTarget {
        MetricTarget {
            target_type: TargetType::Value,
            value_milli: Some(milli),
            average_value_milli: None,
            average_utilization: None,
        }
    }
}

/// One entry of `spec.metrics`.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricSpec {
    /// A resource of the pods (`cpu`, `memory`, ...), summed over containers.
    Resource {
        /// Resource name.
        name: String,
        /// Target.
        target: MetricTarget,
    },
    /// A resource of one named container.
    ContainerResource {
        /// Resource name.
        name: String,
        /// Container name.
        container: String,
        /// Target.
        target: MetricTarget,
    },
    /// A per-pod custom metric; only `averageValue` is read.
    Pods {
        /// Metric name.
        metric: String,
        /// Target.
        target: MetricTarget,
    },
    /// A metric describing one Kubernetes object.
    Object {
        /// The described object's kind (used in the metric's name in messages).
        described_kind: String,
        /// Metric name.
        metric: String,
        /// Target.
        target: MetricTarget,
    },
    /// A metric from outside the cluster (what KEDA serves).
    External {
        /// Metric name.
        metric: String,
        /// Target.
        target: MetricTarget,
    },
    /// A source type the controller does not know (gives `InvalidMetricSourceType`).
    Unknown {
        /// The type as written.
        source_type: String,
    },
}

impl MetricSpec {
    /// The proposal name upstream uses in conditions and events, e.g. `pods metric qps`.
    pub fn display_name(&self) -> String {
        match self {
            MetricSpec::Resource { name, target } => {
                if target.average_value_milli.is_some() {
                    format!("{name} resource")
                } else {
                    format!("{name} resource utilization (percentage of request)")
                }
            }
            MetricSpec::ContainerResource { name, target, .. } => {
                if target.average_value_milli.is_some() {
                    format!("{name} container resource")
                } else {
                    format!("{name} container resource utilization (percentage of request)")
                }
            }
            MetricSpec::Pods { metric, .. } => format!("pods metric {metric}"),
            MetricSpec::Object {
                described_kind,
                metric,
                ..
            } => format!("{described_kind} metric {metric}"),
            MetricSpec::External { metric, .. } => format!("external metric {metric}"),
            MetricSpec::Unknown { source_type } => format!("unknown metric source {source_type}"),
        }
    }

    pub(crate) fn is_object_or_external(&self) -> bool {
        matches!(
            self,
            MetricSpec::Object { .. } | MetricSpec::External { .. }
        )
    }
}

/// The policy kind of one scaling policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// An absolute number of pods per period.
    Pods,
    /// A percentage of the replicas at the start of the period.
    Percent,
}

/// `behavior.scaleUp/scaleDown.policies[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScalingPolicy {
    /// Pods or Percent.
    pub kind: PolicyKind,
    /// Pods or percent per period (> 0).
    pub value: i32,
    /// The period length in seconds (1..=1800).
    pub period_s: i32,
}

/// `behavior.*.selectPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectPolicy {
    /// The policy allowing the largest change.
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

/// One direction of `behavior`, as the user wrote it (`None` = field unset).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScalingRules {
    /// `stabilizationWindowSeconds`.
    pub stabilization_window_s: Option<i32>,
    /// `selectPolicy`.
    pub select_policy: Option<SelectPolicy>,
    /// `policies` (replaced as a whole list, never merged with the defaults).
    pub policies: Option<Vec<ScalingPolicy>>,
    /// `tolerance` (only read with the `HPAConfigurableTolerance` gate).
    pub tolerance: Option<f64>,
}

/// `spec.behavior`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HpaBehavior {
    /// `scaleUp`.
    pub scale_up: Option<ScalingRules>,
    /// `scaleDown`.
    pub scale_down: Option<ScalingRules>,
}

/// One direction of `behavior` after API defaulting and the controller's window fill-in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedRules {
    /// Stabilisation window in seconds.
    pub stabilization_window_s: i32,
    /// Policy selection.
    pub select_policy: SelectPolicy,
    /// Policies.
    pub policies: Vec<ScalingPolicy>,
    /// Tolerance override (used only with the gate).
    pub tolerance: Option<f64>,
}

/// An HPA object plus the cluster settings that shape its decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaConfig {
    /// `spec.minReplicas` (unset = 1).
    pub min_replicas: Option<i32>,
    /// `spec.maxReplicas`.
    pub max_replicas: i32,
    /// `spec.metrics` (empty = cpu Utilization 80 %, the API default).
    pub metrics: Vec<MetricSpec>,
    /// `spec.behavior` (`None` selects the legacy path).
    pub behavior: Option<HpaBehavior>,
    /// Controller flags.
    pub controller: ControllerFlags,
    /// Feature gates.
    pub gates: FeatureGates,
    /// The release whose semantics are followed.
    pub version: K8sVersion,
}

impl HpaConfig {
    /// An HPA with default flags, gates off, master semantics and no behavior.
    pub fn new(
        min_replicas: Option<i32>,
        max_replicas: i32,
        metrics: Vec<MetricSpec>,
    ) -> HpaConfig {
        HpaConfig {
            min_replicas,
            max_replicas,
            metrics,
            behavior: None,
            controller: ControllerFlags::default(),
            gates: FeatureGates::default(),
            version: K8sVersion::default(),
        }
    }

    /// `spec.minReplicas` or its default of 1.
    pub fn effective_min_replicas(&self) -> i32 {
        self.min_replicas.unwrap_or(1)
    }

    /// `spec.metrics` after API defaulting (cpu at 80 % when empty).
    pub fn effective_metrics(&self) -> Vec<MetricSpec> {
        if self.metrics.is_empty() {
            vec![MetricSpec::Resource {
                name: "cpu".to_string(),
                target: MetricTarget::utilization(80),
            }]
        } else {
            self.metrics.clone()
        }
    }

    /// The (scale-down, scale-up) tolerances this HPA uses.
    pub fn tolerances(&self) -> Tolerances {
        let mut t = Tolerances {
            scale_down: self.controller.tolerance,
            scale_up: self.controller.tolerance,
        };
        if let (Some(b), true) = (&self.behavior, self.gates.hpa_configurable_tolerance) {
            if let Some(v) = b.scale_down.as_ref().and_then(|r| r.tolerance) {
                t.scale_down = v;
            }
            if let Some(v) = b.scale_up.as_ref().and_then(|r| r.tolerance) {
                t.scale_up = v;
            }
        }
        t
    }

    /// Both directions of `behavior` after defaulting, or `None` on the legacy path.
    pub fn resolved_behavior(&self) -> Option<(ResolvedRules, ResolvedRules)> {
        let b = self.behavior.as_ref()?;
        let window_s = (self.controller.downscale_stabilization.as_nanos() / 1_000_000_000) as i32;
        Some((
            behavior::default_scale_up(b.scale_up.as_ref()),
            behavior::default_scale_down(b.scale_down.as_ref(), window_s),
        ))
    }
}

/// The dead band around ratio 1.0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Fraction below 1.0 that still counts as "no change".
    pub scale_down: f64,
    /// Fraction above 1.0 that still counts as "no change".
    pub scale_up: f64,
}

impl Tolerances {
    /// Both directions equal.
    pub fn symmetric(t: f64) -> Tolerances {
        Tolerances {
            scale_down: t,
            scale_up: t,
        }
    }

    /// Whether a usage ratio is close enough to 1.0 to leave the replicas alone.
    /// `band` selects the KEP-4951 inclusive band; otherwise `|1 - ratio| <= tol` with the
    /// scale-up tolerance (older releases had only one value).
    pub fn is_within(&self, ratio: f64, band: bool) -> bool {
        if band {
            (1.0 - self.scale_down) <= ratio && ratio <= (1.0 + self.scale_up)
        } else {
            (1.0 - ratio).abs() <= self.scale_up
        }
    }
}

/// Pod phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodPhase {
    /// Not yet running (scheduling, image pull).
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Finished with an error.
    Failed,
    /// Unknown.
    Unknown,
}

/// The pod's `Ready` condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodReady {
    /// Status of the condition.
    pub status: ConditionStatus,
    /// Its `lastTransitionTime`.
    pub last_transition: SimTime,
}

/// One container of a pod with its resource requests (milli-units per resource name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Container name.
    pub name: String,
    /// Requests, e.g. `cpu -> 500`.
    pub requests_milli: BTreeMap<String, i64>,
}

/// A pod matched by the scale target's selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodInfo {
    /// Pod name (keys metric samples).
    pub name: String,
    /// Phase.
    pub phase: PodPhase,
    /// Has a deletion timestamp.
    pub deleted: bool,
    /// `status.startTime`.
    pub start_time: Option<SimTime>,
    /// The `Ready` condition, if present.
    pub ready: Option<PodReady>,
    /// Containers with requests (only Resource/ContainerResource Utilization reads them).
    pub containers: Vec<ContainerInfo>,
}

impl PodInfo {
    /// A Running pod that became Ready at `ready_since` after starting at `started`.
    pub fn running_ready(name: &str, started: SimTime, ready_since: SimTime) -> PodInfo {
        PodInfo {
            name: name.to_string(),
            phase: PodPhase::Running,
            deleted: false,
            start_time: Some(started),
            ready: Some(PodReady {
                status: ConditionStatus::True,
                last_transition: ready_since,
            }),
            containers: Vec::new(),
        }
    }

    /// Phase Running and Ready=True (what Object/External Value metrics multiply by).
    pub fn is_running_and_ready(&self) -> bool {
        self.phase == PodPhase::Running
            && self
                .ready
                .is_some_and(|r| r.status == ConditionStatus::True)
    }
}

/// One per-pod sample from the resource or custom metrics API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSample {
    /// The pod the sample belongs to (may be a pod that is not listed).
    pub pod: String,
    /// Value in milli-units. `None` means the pod's sample lacks the ContainerResource's
    /// container.
    pub value_milli: Option<i64>,
    /// The sample's timestamp.
    pub timestamp: SimTime,
    /// The sample's window.
    pub window: SimDuration,
}

/// What the metrics APIs returned for one `spec.metrics` entry at this sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricObservation {
    /// Per-pod samples (Resource, ContainerResource, Pods).
    PodSamples(Vec<PodSample>),
    /// The Object metric's value in milli-units.
    ObjectValue(i64),
    /// The External metric's series values in milli-units (summed by the HPA).
    ExternalValues(Vec<i64>),
    /// The metrics API call failed.
    Error(String),
}

/// Everything the controller reads at one sync.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HpaInput {
    /// The sync time.
    pub now: SimTime,
    /// `scale.spec.replicas` of the target (the controller's "current replicas").
    pub spec_replicas: i32,
    /// `scale.status.replicas` (Object/External AverageValue divide by it).
    pub status_replicas: i32,
    /// Pods matching the target's selector.
    pub pods: Vec<PodInfo>,
    /// One observation per entry of [`HpaConfig::effective_metrics`], same order.
    pub metrics: Vec<MetricObservation>,
}

/// The controller's memory for one HPA: recommendation history, scale events and the
/// status conditions. Lost (except conditions) when kube-controller-manager restarts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HpaState {
    /// Raw proposals with their times; `None` until the first sync sees this HPA.
    pub recommendations: Option<Vec<TimedRecommendation>>,
    /// Scale-up events (behavior path only).
    pub scale_up_events: Vec<ScaleEvent>,
    /// Scale-down events (behavior path only).
    pub scale_down_events: Vec<ScaleEvent>,
    /// `status.conditions`.
    pub conditions: Vec<Condition>,
    /// `status.lastScaleTime`.
    pub last_scale_time: Option<SimTime>,
}

impl HpaState {
    /// A state the controller has never seen.
    pub fn new() -> HpaState {
        HpaState::default()
    }

    /// A kube-controller-manager restart: in-memory history is lost, the status (conditions,
    /// last scale time) survives in the API object.
    pub fn controller_restart(&mut self) {
        self.recommendations = None;
        self.scale_up_events.clear();
        self.scale_down_events.clear();
    }
}

/// The current value of one metric as the controller saw it (`kubectl describe` shows it
/// as current/target).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricStatus {
    /// The metric's display name.
    pub name: String,
    /// The current value, or `None` for `<unknown>`.
    pub current: Option<MetricCurrent>,
    /// The proposal from this metric, if it could be computed.
    pub proposal: Option<i32>,
    /// The error, if it could not be computed.
    pub error: Option<String>,
}

/// A current metric value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricCurrent {
    /// `averageUtilization` (percent).
    pub average_utilization: Option<i32>,
    /// `averageValue` (milli).
    pub average_value_milli: Option<i64>,
    /// `value` (milli).
    pub value_milli: Option<i64>,
}

/// Which branch of the controller decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecisionPath {
    /// Current replicas 0 and scaling disabled.
    ScalingDisabled,
    /// Current replicas above max: set to max without reading metrics.
    AboveMax,
    /// Current replicas below min: set to min without reading metrics.
    BelowMin,
    /// Metrics could not be used; nothing changed.
    MetricsFailed,
    /// No `behavior`: rolling-max stabilisation and the 2x/+4 clamp.
    Legacy,
    /// `behavior` set: two windows and policies.
    Behavior,
}

/// The intermediate numbers of one decision, for `explain`.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionTrace {
    /// The branch taken.
    pub path: DecisionPath,
    /// The tolerances used.
    pub tolerances: Tolerances,
    /// The combined metric proposal (max over metrics).
    pub metric_proposal: Option<i32>,
    /// Which metric gave it.
    pub metric_name: Option<String>,
    /// After stabilisation.
    pub stabilized: Option<i32>,
    /// The stabilisation reason (`ReadyForNewScale`, `ScaleDownStabilized`, ...).
    pub stabilization_reason: Option<String>,
    /// The limit reason (`DesiredWithinRange`, `ScaleUpLimit`, ...).
    pub limit_reason: Option<String>,
    /// The limit message.
    pub limit_message: Option<String>,
}

/// The outcome of one sync.
#[derive(Clone, Debug, PartialEq)]
pub struct HpaDecision {
    /// `status.currentReplicas` (the scale's spec replicas at the start).
    pub current_replicas: i32,
    /// `status.desiredReplicas`: the new size if `rescale`, else the current size.
    pub desired_replicas: i32,
    /// Whether the controller writes a new scale.
    pub rescale: bool,
    /// The rescale reason in the controller's words (event text), or why nothing happened.
    pub reason: String,
    /// `status.conditions` after the sync.
    pub conditions: Vec<Condition>,
    /// Per-metric current values.
    pub metric_statuses: Vec<MetricStatus>,
    /// The error the sync returns (it may still have scaled, e.g. a partial metric failure).
    pub error: Option<String>,
    /// Intermediate numbers.
    pub trace: DecisionTrace,
}
