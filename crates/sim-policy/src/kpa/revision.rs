//! The PodAutoscaler reconciler: bounds, initial scale, scale to zero, activator mode and
//! the `Active` condition (Knative's `kpa.ReconcileKind`, `scaler.scale` and
//! `computeActiveCondition`).

use sim_des::{SimDuration, SimTime};

use super::{Activity, KpaConfig, KpaState, fmt_s, whole_second};

/// What one reconcile did, for the decision's report.
pub(crate) struct Reconciled {
    pub(crate) scale_to_zero_pending: bool,
    pub(crate) note: String,
}

/// The scale the reconciler wants, and whether it writes it to the Deployment.
struct Want {
    /// `-1` = unknown (nothing to apply).
    pods: i64,
    apply: bool,
    pending: bool,
    note: String,
}

fn since(now: SimTime, then: SimTime) -> SimDuration {
    now.saturating_since(then)
}

/// Clamps into `[min, max]`, `max == 0` meaning unbounded; an unknown `-1` becomes `min`.
fn apply_bounds(min: u32, max: u32, x: i64) -> i64 {
    if x < i64::from(min) {
        i64::from(min)
    } else if max != 0 && x > i64::from(max) {
        i64::from(max)
    } else {
        x
    }
}

fn handle_scale_to_zero(cfg: &KpaConfig, state: &KpaState, now: SimTime, desired: i64) -> Want {
    let want = |pods: i64, apply: bool, pending: bool, note: String| Want {
        pods,
        apply,
        pending,
        note,
    };
    if desired != 0 {
        return want(desired, true, false, format!("scale to {desired}"));
    }
    if !cfg.enable_scale_to_zero {
        return want(1, true, false, "scale to zero disabled: 1".into());
    }
    let in_status = since(now, state.activity_since);
    match state.activity {
        Activity::Activating => {
            let timeout = cfg.progress_deadline + SimDuration::from_secs(30);
            if in_status > timeout {
                want(
                    0,
                    true,
                    false,
                    format!("activation timed out after {}", fmt_s(timeout)),
                )
            } else {
                want(-1, false, false, "activating: waiting".into())
            }
        }
        Activity::Active => {
            if in_status >= cfg.stable_window {
                want(
                    0,
                    false,
                    true,
                    format!("active for {}: going inactive", fmt_s(in_status)),
                )
            } else {
                want(
                    1,
                    true,
                    true,
                    format!(
                        "active for only {} < stable window {}: hold 1",
                        fmt_s(in_status),
                        fmt_s(cfg.stable_window)
                    ),
                )
            }
        }
        Activity::Inactive => {
            // The activator probe succeeds once the activator is in the data path.
            let backed = cfg.target_burst_capacity == -1.0 || state.proxy_since.is_some();
            if !backed {
                return want(0, false, true, "activator not yet in the path".into());
            }
            let retention = cfg.scale_to_zero_pod_retention_period;
            let grace = cfg.scale_to_zero_grace_period;
            if in_status >= grace.max(retention) {
                return want(
                    0,
                    true,
                    false,
                    format!("inactive for {}: scale to 0", fmt_s(in_status)),
                );
            }
            if retention > SimDuration::ZERO && in_status < retention {
                return want(
                    0,
                    false,
                    true,
                    format!(
                        "inactive for {} < pod retention {}",
                        fmt_s(in_status),
                        fmt_s(retention)
                    ),
                );
            }
            let proxy_for = state
                .proxy_since
                .map_or(SimDuration::ZERO, |t| since(now, t));
            if proxy_for >= grace {
                want(
                    0,
                    true,
                    false,
                    format!("activator in the path for {}: scale to 0", fmt_s(proxy_for)),
                )
            } else {
                want(
                    0,
                    false,
                    true,
                    format!(
                        "inactive for {}, grace period {}",
                        fmt_s(in_status),
                        fmt_s(grace)
                    ),
                )
            }
        }
    }
}

fn set_activity(state: &mut KpaState, now: SimTime, to: Activity) {
    if state.activity != to {
        state.activity = to;
        state.activity_since = whole_second(now);
    }
}

/// Reconciles the PodAutoscaler at `now` against the decider's latest recommendation.
pub(crate) fn reconcile(
    cfg: &KpaConfig,
    state: &mut KpaState,
    now: SimTime,
    ready: u32,
) -> Reconciled {
    let desired = state.decider_pods.map_or(-1, i64::from);
    let w = if desired < 0 && state.activity != Activity::Activating {
        Want {
            pods: desired,
            apply: false,
            pending: false,
            note: "no recommendation yet".into(),
        }
    } else {
        let mut min = cfg.min_scale;
        if cfg.initial_scale > 1 && !state.scale_target_initialized {
            min = min.max(cfg.initial_scale);
        }
        let bounded = apply_bounds(min, cfg.max_scale, desired);
        handle_scale_to_zero(cfg, state, now, bounded)
    };
    if w.apply {
        state.applied_pods = u32::try_from(w.pods).unwrap_or(0);
    }

    // Serve mode (activator out of the path) needs a positive scale and spare burst
    // capacity.
    let serve = w.pods > 0 && state.excess_burst_capacity >= 0;
    if serve {
        state.proxy_since = None;
    } else if state.proxy_since.is_none() {
        state.proxy_since = Some(now);
    }

    let min_ready = if state.scale_target_initialized {
        cfg.min_scale.max(1)
    } else {
        cfg.min_scale.max(cfg.initial_scale)
    };
    if ready >= min_ready {
        state.scale_target_initialized = true;
    }
    let keep_going = w.pods > 0 || state.activity != Activity::Inactive;
    if w.pods == 0 || min_ready == 0 {
        set_activity(state, now, Activity::Inactive);
    } else if ready < min_ready {
        let to = if keep_going {
            Activity::Activating
        } else {
            Activity::Inactive
        };
        set_activity(state, now, to);
    } else if keep_going {
        set_activity(state, now, Activity::Active);
    }

    Reconciled {
        scale_to_zero_pending: w.pending && state.applied_pods > 0,
        note: format!(
            "{} -> {} pods, {:?}, {}",
            w.note,
            state.applied_pods,
            state.activity,
            if serve { "serve mode" } else { "proxy mode" }
        ),
    }
}
