//! One controller sync (`reconcileAutoscaler`).

use super::behavior::{
    legacy_rate_limit, rate_limit, record_scale_event, stabilize_legacy, stabilize_with_behavior,
};
use super::calculator::{CalcContext, MetricError, compute_metric};
use super::conditions::*;
use super::{
    DecisionPath, DecisionTrace, HpaConfig, HpaDecision, HpaInput, HpaState, MetricObservation,
    MetricStatus, TimedRecommendation,
};
use crate::conditions::{ConditionStatus, remove_condition, set_condition};

/// Runs one HPA sync: reads metrics, proposes, normalises, and (if the size changes) records
/// the rescale in `state`. Pure: the same config, state and input give the same decision.
pub fn reconcile(config: &HpaConfig, state: &mut HpaState, input: &HpaInput) -> HpaDecision {
    let sem = config.version.semantics();
    let now = input.now;
    let current = input.spec_replicas;
    let metrics = config.effective_metrics();
    let tolerances = config.tolerances();
    let mut conds = std::mem::take(&mut state.conditions);
    set_condition(
        &mut conds,
        ABLE_TO_SCALE,
        ConditionStatus::True,
        "SucceededGetScale",
        MSG_GOT_SCALE.into(),
        now,
    );
    if state.recommendations.is_none() {
        state.recommendations = Some(vec![TimedRecommendation {
            value: current,
            time: now,
        }]);
    }
    let min_r = config.effective_min_replicas();
    let max_r = config.max_replicas;
    let gate = config.gates.hpa_scale_to_zero && sem.scaled_to_zero_condition;
    let has_obj_ext = metrics.iter().any(|m| m.is_object_or_external());
    let scaled_to_zero = gate
        && conds
            .iter()
            .any(|c| c.kind == SCALED_TO_ZERO && c.status == ConditionStatus::True);

    let mut trace = DecisionTrace {
        path: DecisionPath::Legacy,
        tolerances,
        metric_proposal: None,
        metric_name: None,
        stabilized: None,
        stabilization_reason: None,
        limit_reason: None,
        limit_message: None,
    };
    let mut desired = 0i32;
    let mut reason = String::new();
    let mut rescale = true;
    let mut needs_metrics = true;
    let mut statuses = Vec::new();
    let mut error = None;

    if current == 0 {
        let compute = if sem.scaled_to_zero_condition {
            scaled_to_zero && (min_r != 0 || has_obj_ext)
        } else {
            min_r == 0
        };
        if !compute {
            rescale = false;
            needs_metrics = false;
            trace.path = DecisionPath::ScalingDisabled;
            reason = MSG_DISABLED.to_string();
            set_condition(
                &mut conds,
                SCALING_ACTIVE,
                ConditionStatus::False,
                "ScalingDisabled",
                MSG_DISABLED.into(),
                now,
            );
            if !gate {
                remove_condition(&mut conds, SCALED_TO_ZERO);
            }
        }
    } else if current > max_r {
        reason = "Current number of replicas above Spec.MaxReplicas".to_string();
        desired = max_r;
        needs_metrics = false;
        trace.path = DecisionPath::AboveMax;
    } else if current < min_r {
        reason = "Current number of replicas below Spec.MinReplicas".to_string();
        desired = min_r;
        needs_metrics = false;
        trace.path = DecisionPath::BelowMin;
    }

    if needs_metrics {
        let ctx = CalcContext {
            pods: &input.pods,
            spec_replicas: input.spec_replicas,
            status_replicas: input.status_replicas,
            tolerances,
            flags: &config.controller,
            semantics: &sem,
            now,
        };
        let mut proposal = 0i32;
        let mut metric_name = String::new();
        let mut invalid = 0usize;
        let mut first_error: Option<MetricError> = None;
        let missing =
            MetricObservation::Error("no observation supplied for this metric".to_string());
        for (i, spec) in metrics.iter().enumerate() {
            let obs = input.metrics.get(i).unwrap_or(&missing);
            let name = spec.display_name();
            match compute_metric(spec, obs, &ctx) {
                Err(e) => {
                    statuses.push(MetricStatus {
                        name,
                        current: None,
                        proposal: None,
                        error: Some(e.message.clone()),
                    });
                    if invalid == 0 {
                        first_error = Some(e);
                    }
                    invalid += 1;
                }
                Ok(p) => {
                    statuses.push(MetricStatus {
                        name: name.clone(),
                        current: Some(p.current),
                        proposal: Some(p.replicas),
                        error: None,
                    });
                    if proposal == 0 || p.replicas > proposal {
                        proposal = p.replicas;
                        metric_name = name;
                    }
                }
            }
        }
        let summary = first_error.as_ref().map(|e| {
            format!(
                "invalid metrics ({invalid} invalid out of {}), first error is: {}",
                metrics.len(),
                e.message
            )
        });
        let blocked = invalid >= metrics.len()
            || (invalid > 0
                && sem.metric_error_blocks_scale_down
                && proposal < input.spec_replicas);
        if blocked {
            let e = first_error.unwrap_or(MetricError {
                reason: "FailedGetResourceMetric",
                message: String::new(),
            });
            set_condition(
                &mut conds,
                SCALING_ACTIVE,
                ConditionStatus::False,
                e.reason,
                format!(
                    "the HPA was unable to compute the replica count: {}",
                    e.message
                ),
                now,
            );
            state.conditions = conds.clone();
            trace.path = DecisionPath::MetricsFailed;
            let err = summary.unwrap_or_default();
            return HpaDecision {
                current_replicas: current,
                desired_replicas: current,
                rescale: false,
                reason: format!(
                    "failed to compute desired number of replicas based on listed metrics: {err}"
                ),
                conditions: conds,
                metric_statuses: statuses,
                error: Some(err),
                trace,
            };
        }
        error = summary;
        set_condition(
            &mut conds,
            SCALING_ACTIVE,
            ConditionStatus::True,
            "ValidMetricFound",
            format!(
                "the HPA was able to successfully calculate a replica count from {metric_name}"
            ),
            now,
        );
        trace.metric_proposal = Some(proposal);
        trace.metric_name = Some(metric_name.clone());
        let mut rescale_metric = String::new();
        if proposal > desired {
            desired = proposal;
            rescale_metric = metric_name;
        }
        if desired > current {
            reason = format!("{rescale_metric} above target");
        }
        if desired < current {
            reason = "All metrics below target".to_string();
        }
        let recs = state.recommendations.get_or_insert_with(Vec::new);
        let (stabilized, stab_reason, limited) = match config.resolved_behavior() {
            None => {
                trace.path = DecisionPath::Legacy;
                let s = stabilize_legacy(
                    recs,
                    desired,
                    config.controller.downscale_stabilization,
                    now,
                );
                let r = if s != desired {
                    "ScaleDownStabilized"
                } else {
                    "ReadyForNewScale"
                };
                let f = &config.controller;
                (
                    s,
                    r,
                    legacy_rate_limit(
                        current,
                        s,
                        min_r,
                        max_r,
                        f.scale_up_limit_factor,
                        f.scale_up_limit_minimum,
                    ),
                )
            }
            Some((up, down)) => {
                trace.path = DecisionPath::Behavior;
                let (s, why) = stabilize_with_behavior(
                    recs,
                    current,
                    desired,
                    up.stabilization_window_s,
                    down.stabilization_window_s,
                    sem.two_window_stabilization,
                    now,
                );
                let r = if s != desired {
                    why
                } else {
                    "ReadyForNewScale"
                };
                let lim = rate_limit(
                    current,
                    s,
                    min_r,
                    max_r,
                    &up,
                    &down,
                    &state.scale_up_events,
                    &state.scale_down_events,
                    sem.period_start_counts_both_directions,
                    now,
                );
                (s, r, lim)
            }
        };
        set_condition(
            &mut conds,
            ABLE_TO_SCALE,
            ConditionStatus::True,
            stab_reason,
            stabilization_message(stab_reason).into(),
            now,
        );
        let (d, lim_reason, lim_message) = limited;
        let status = if d == stabilized {
            ConditionStatus::False
        } else {
            ConditionStatus::True
        };
        set_condition(
            &mut conds,
            SCALING_LIMITED,
            status,
            lim_reason,
            lim_message.into(),
            now,
        );
        trace.stabilized = Some(stabilized);
        trace.stabilization_reason = Some(stab_reason.to_string());
        trace.limit_reason = Some(lim_reason.to_string());
        trace.limit_message = Some(lim_message.to_string());
        desired = d;
        if sem.scaled_to_zero_condition
            && current == 0
            && min_r != 0
            && scaled_to_zero
            && desired < min_r
        {
            desired = min_r;
            if reason.is_empty() {
                reason = "Current number of replicas below Spec.MinReplicas".to_string();
            }
        }
        rescale = desired != current;
    }

    if rescale {
        set_condition(
            &mut conds,
            ABLE_TO_SCALE,
            ConditionStatus::True,
            "SucceededRescale",
            format!("the HPA controller was able to update the target scale to {desired}"),
            now,
        );
        let behavior = config.resolved_behavior();
        if desired > current {
            let up = behavior.as_ref().map(|(up, _)| up);
            record_scale_event(&mut state.scale_up_events, up, desired - current, now);
        } else {
            let down = behavior.as_ref().map(|(_, down)| down);
            record_scale_event(&mut state.scale_down_events, down, current - desired, now);
        }
        state.last_scale_time = Some(now);
        if gate {
            if current > 0 && desired == 0 && min_r == 0 && has_obj_ext {
                set_condition(
                    &mut conds,
                    SCALED_TO_ZERO,
                    ConditionStatus::True,
                    "ScaledToZero",
                    "the HPA controller scaled the workload to zero".into(),
                    now,
                );
            } else {
                set_condition(
                    &mut conds,
                    SCALED_TO_ZERO,
                    ConditionStatus::False,
                    "NotScaledToZero",
                    "the HPA controller did not scale the workload to zero".into(),
                    now,
                );
            }
        } else {
            remove_condition(&mut conds, SCALED_TO_ZERO);
        }
    } else {
        if trace.path == DecisionPath::Legacy || trace.path == DecisionPath::Behavior {
            reason = match trace.stabilization_reason.as_deref() {
                Some(r) if r != "ReadyForNewScale" => stabilization_message(r).to_string(),
                _ => "desired replica count matches current replica count".to_string(),
            };
        }
        desired = current;
    }
    state.conditions = conds.clone();
    HpaDecision {
        current_replicas: current,
        desired_replicas: desired,
        rescale,
        reason,
        conditions: conds,
        metric_statuses: statuses,
        error,
        trace,
    }
}
