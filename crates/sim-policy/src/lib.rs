//! Kubernetes HPA v2 and KEDA decision logic as pure state machines.
//!
//! What it is for: the simulator asks this crate, at every HPA sync and every KEDA poll,
//! what the real controllers would decide. [`hpa::reconcile`] is one sync of the in-tree
//! HorizontalPodAutoscaler controller (kube-controller-manager); [`keda::operator_tick`] is
//! one poll of the KEDA operator's scale loop; [`keda::generated_hpa`] and
//! [`keda::hpa_metric_values`] build the HPA KEDA creates and the values its metrics API
//! serves to it. [`hpa::explain_hpa`] and [`keda::explain_keda`] render one decision in the
//! controllers' own words for a dry run.
//!
//! Key types: [`hpa::HpaConfig`] (the HPA object plus controller flags, gates and version),
//! [`hpa::HpaState`] (recommendation history, scale events, conditions), [`hpa::HpaInput`]
//! (what one sync reads: spec/status replicas, pods, metric observations) and
//! [`hpa::HpaDecision`] (desired replicas, rescale, reason, conditions, per-metric status).
//! For KEDA: [`keda::KedaConfig`], [`keda::KedaState`], [`keda::TargetState`] and
//! [`keda::KedaTick`].
//!
//! What it models (HPA): the replica calculator for Resource (Utilization, AverageValue),
//! ContainerResource, Pods, Object and External (Value, AverageValue) metrics with upstream's
//! order of integer and `f64` operations; the tolerance band; pod grouping (ignored,
//! unready, missing; CPU initialisation period and initial readiness delay for cpu only);
//! the missing/unready rebalancing with both direction-flip guards; several metrics (the
//! maximum, and the rule that a failing metric blocks scale-down); zero replicas; the legacy
//! path (rolling maximum, 2x/+4 per sync) and the behavior path (two stabilisation windows,
//! Pods/Percent policies over periods, selectPolicy, API defaults, scale-event bookkeeping);
//! the conditions AbleToScale, ScalingActive, ScalingLimited and ScaledToZero with upstream's
//! reasons and messages. (KEDA): activation strictly above `activationThreshold`, scale from
//! zero to max(min, 1), cooldown from the last active poll, `idleReplicaCount`, enforcing the
//! minimum, the pause and force-activation annotations, fallback with failure counting and
//! its behaviours, scaling-modifier formulas (a small expression evaluator), and the
//! quantity rounding of the version modelled.
//!
//! Versions followed by default: Kubernetes master as of 2026 with alpha gates off
//! ([`hpa::K8sVersion::Master`]; `V1_20`, `V1_26` and `V1_33` switch the behaviours that
//! changed) and KEDA v2.20 ([`keda::KedaVersion::V2_20`]; back to v2.16).
//!
//! Main design decision: every function is pure. Inputs are plain values (numbers in
//! milli-units as Kubernetes' `MilliValue()`, times as [`sim_des::SimTime`]); the controllers'
//! memory lives in explicit state structs the caller owns, so a run is reproducible and a
//! controller restart is just [`hpa::HpaState::controller_restart`]. Conformance vectors
//! transcribed from upstream tests run against these functions in `sim-conformance`.
//!
//! What it deliberately leaves out: PromQL and the metrics pipeline (callers pass values),
//! scale-subresource failures and API conflicts, selector validation (InvalidSelector,
//! AmbiguousSelector), restartable init containers and pod-level requests, the HPA's
//! per-sync wall-clock drift, KEDA's ScaledJobs, scaler-specific parsing, the HPA-health
//! condition KEDA mirrors, and the post-v2.20 Loop-A reuse of HPA observations (PR #8031).
//!
//! Knative's Pod Autoscaler ([`kpa::kpa_tick`], followed at `knative/serving` @ `98e5ef90`)
//! runs one 2 s tick of the decider (per-second buckets averaged over the stable and panic
//! windows, panic mode held for a stable window, rate limits, scale-down delay, activation
//! scale) and then the PodAutoscaler reconciler (min/max, initial scale, scale to zero
//! after a stable window of activity and the grace period, activator mode). Its memory is
//! [`kpa::KpaState`]; the engine feeds per-second samples in [`kpa::KpaObservation`]. It
//! leaves out the pod sampling of large revisions, the weighted-exponential averaging and
//! config changes at run time.

mod conditions;
pub mod hpa;
pub mod keda;
pub mod kpa;

pub use conditions::{Condition, ConditionStatus};
