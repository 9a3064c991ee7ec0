//! A dry run of one KEDA poll and the HPA sync that follows it, in KEDA's words.

use sim_des::SimTime;

use super::operator::cooldown_remaining;
use super::{
    KedaConfig, KedaState, TargetState, TickAction, generated_hpa, hpa_metric_values, operator_tick,
};

fn milli(v: i64) -> String {
    if v % 1000 == 0 {
        format!("{}", v / 1000)
    } else {
        format!("{v}m")
    }
}

/// Runs one operator poll on a copy of `state` and describes it: activity per trigger, the
/// executor's decision with its reason, cooldown, the generated HPA's bounds and the values
/// KEDA's metrics API would serve to it, and the ScaledObject's conditions.
pub fn explain_keda(
    cfg: &KedaConfig,
    state: &KedaState,
    now: SimTime,
    readings: &[Result<f64, String>],
    target: TargetState,
) -> Vec<String> {
    let mut st = state.clone();
    let tick = operator_tick(cfg, &mut st, now, readings, target);
    let mut out = Vec::new();
    out.push(format!(
        "ScaledObject {}: current replicas {}, minReplicaCount {}, maxReplicaCount {}, idleReplicaCount {}",
        cfg.name,
        target.spec_replicas,
        cfg.min_replica_count.map_or("unset (0)".into(), |v| v.to_string()),
        cfg.hpa_max_replicas(),
        cfg.idle_replica_count.map_or("unset".into(), |v| v.to_string()),
    ));
    for (i, t) in cfg.triggers.iter().enumerate() {
        let r = readings.get(i);
        let label = if t.name.is_empty() {
            t.metric_name.clone()
        } else {
            format!("{} ({})", t.name, t.metric_name)
        };
        let line = match r {
            Some(Ok(v)) => format!(
                "  trigger {label}: value {v} vs activationThreshold {} -> {}; HPA target {} {:?}",
                t.activation_threshold,
                if *v > t.activation_threshold {
                    "active"
                } else {
                    "not active"
                },
                t.threshold,
                t.metric_type
            ),
            Some(Err(e)) => format!("  trigger {label}: error: {e}"),
            None => format!("  trigger {label}: no reading"),
        };
        out.push(line);
    }
    if let Some(c) = tick.state.composite_milli {
        out.push(format!("  composite-metric (formula) = {}", milli(c)));
    }
    out.push(format!(
        "operator: isActive={} isError={} -> {}",
        tick.state.is_active,
        tick.state.is_error,
        match tick.action {
            TickAction::ScaleTo(n) => format!("scale the target to {n}"),
            TickAction::LeaveToHpa => "leave replicas to the HPA".to_string(),
            TickAction::Nothing => "nothing".to_string(),
        }
    ));
    out.push(format!("reason: {}", tick.reason));
    let left = cooldown_remaining(cfg, &st, now);
    if !tick.state.is_active && left.as_nanos() > 0 {
        out.push(format!(
            "cooldown: {:.0}s left before scale to zero/idle",
            left.as_secs_f64()
        ));
    }
    if let Some((why, ev)) = &tick.executor.event {
        out.push(format!("event: Normal {why} {ev}"));
    }
    let hpa = generated_hpa(cfg);
    out.push(format!(
        "generated HPA keda-hpa-{}: minReplicas {}, maxReplicas {}",
        cfg.name,
        hpa.effective_min_replicas(),
        hpa.max_replicas
    ));
    let served = hpa_metric_values(cfg, &mut st.clone(), now, readings, target);
    for (spec, obs) in hpa.metrics.iter().zip(served.iter()) {
        let text = match obs {
            None => "served by the metrics server".to_string(),
            Some(crate::hpa::MetricObservation::ExternalValues(v)) => {
                v.iter().map(|x| milli(*x)).collect::<Vec<_>>().join(", ")
            }
            Some(crate::hpa::MetricObservation::Error(e)) => format!("error: {e}"),
            Some(other) => format!("{other:?}"),
        };
        out.push(format!("  {}: {text}", spec.display_name()));
    }
    out.push("conditions:".to_string());
    for c in &st.conditions {
        out.push(format!(
            "  {} {} {}: {}",
            c.kind,
            c.status.as_str(),
            c.reason,
            c.message
        ));
    }
    out
}
