//! A dry run: one sync rendered as lines in kubectl and controller words.

use super::{
    DecisionPath, HpaConfig, HpaInput, HpaState, MetricCurrent, MetricSpec, TargetType, reconcile,
};

fn milli(v: i64) -> String {
    if v % 1000 == 0 {
        format!("{}", v / 1000)
    } else {
        format!("{v}m")
    }
}

fn current_text(c: &Option<MetricCurrent>) -> String {
    match c {
        None => "<unknown>".to_string(),
        Some(c) => match (c.average_utilization, c.average_value_milli, c.value_milli) {
            (Some(u), Some(a), _) => format!("{u}% ({})", milli(a)),
            (Some(u), None, _) => format!("{u}%"),
            (None, Some(a), _) => milli(a),
            (None, None, Some(v)) => milli(v),
            _ => "<unknown>".to_string(),
        },
    }
}

fn target_text(spec: &MetricSpec) -> String {
    let t = match spec {
        MetricSpec::Resource { target, .. }
        | MetricSpec::ContainerResource { target, .. }
        | MetricSpec::Pods { target, .. }
        | MetricSpec::Object { target, .. }
        | MetricSpec::External { target, .. } => *target,
        MetricSpec::Unknown { .. } => return "<invalid>".to_string(),
    };
    if let Some(a) = t.average_value_milli {
        return format!("{} (avg)", milli(a));
    }
    match t.target_type {
        TargetType::Utilization => t
            .average_utilization
            .map_or("<unset>".into(), |u| format!("{u}%")),
        _ => t.value_milli.map_or("<unset>".into(), milli),
    }
}

/// Runs one sync on a copy of `state` and describes it: the decision, each metric's
/// current value against its target, every condition with reason and message, and the
/// rule that decided (tolerance, stabilisation window, the limiting policy).
pub fn explain_hpa(config: &HpaConfig, state: &HpaState, input: &HpaInput) -> Vec<String> {
    let mut scratch = state.clone();
    let d = reconcile(config, &mut scratch, input);
    let mut out = Vec::new();
    let min_r = config.effective_min_replicas();
    out.push(format!(
        "current replicas {} (min {}, max {}), desired replicas {}{}",
        d.current_replicas,
        min_r,
        config.max_replicas,
        d.desired_replicas,
        if d.rescale {
            " — the controller rescales"
        } else {
            " — no rescale"
        }
    ));
    if !d.reason.is_empty() {
        out.push(format!("reason: {}", d.reason));
    }
    out.push("metrics (current / target):".to_string());
    for (spec, st) in config
        .effective_metrics()
        .iter()
        .zip(d.metric_statuses.iter())
    {
        let proposal = st
            .proposal
            .map_or(String::new(), |p| format!(", proposes {p}"));
        out.push(format!(
            "  {}: {} / {}{}",
            st.name,
            current_text(&st.current),
            target_text(spec),
            proposal
        ));
        if let Some(e) = &st.error {
            out.push(format!("    error: {e}"));
        }
    }
    if d.metric_statuses.is_empty()
        && d.trace.path != DecisionPath::Legacy
        && d.trace.path != DecisionPath::Behavior
    {
        out.push("  (metrics were not read in this branch)".to_string());
    }
    out.push("conditions:".to_string());
    for c in &d.conditions {
        out.push(format!(
            "  {} {} {}: {}",
            c.kind,
            c.status.as_str(),
            c.reason,
            c.message
        ));
    }
    let t = &d.trace;
    out.push(format!(
        "rule: tolerance {:.3} down / {:.3} up around ratio 1.0",
        t.tolerances.scale_down, t.tolerances.scale_up
    ));
    match t.path {
        DecisionPath::ScalingDisabled => {
            out.push("rule: target at 0 replicas, the HPA is disabled".into())
        }
        DecisionPath::AboveMax => {
            out.push("rule: current above maxReplicas, set to max without reading metrics".into())
        }
        DecisionPath::BelowMin => {
            out.push("rule: current below minReplicas, set to min without reading metrics".into())
        }
        DecisionPath::MetricsFailed => out.push(
            "rule: metrics failed (all, or some while the rest would scale down): no change".into(),
        ),
        DecisionPath::Legacy => {
            out.push(format!(
                "rule: no behavior — max of recommendations in the last {}s, at most max({}x, {}) per sync",
                config.controller.downscale_stabilization.as_nanos() / 1_000_000_000,
                config.controller.scale_up_limit_factor,
                config.controller.scale_up_limit_minimum
            ));
        }
        DecisionPath::Behavior => {
            if let Some((up, down)) = config.resolved_behavior() {
                out.push(format!(
                    "rule: behavior — stabilization windows up {}s / down {}s, select {:?}/{:?}",
                    up.stabilization_window_s,
                    down.stabilization_window_s,
                    up.select_policy,
                    down.select_policy
                ));
            }
        }
    }
    if let (Some(p), Some(s)) = (t.metric_proposal, t.stabilized) {
        out.push(format!(
            "steps: metric proposal {p} ({}) -> stabilized {s} ({}) -> limited {} ({}: {})",
            t.metric_name.as_deref().unwrap_or(""),
            t.stabilization_reason.as_deref().unwrap_or(""),
            d.desired_replicas,
            t.limit_reason.as_deref().unwrap_or(""),
            t.limit_message.as_deref().unwrap_or("")
        ));
    }
    if let Some(e) = &d.error {
        out.push(format!("error: {e}"));
    }
    out
}
