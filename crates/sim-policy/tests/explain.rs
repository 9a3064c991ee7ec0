//! The dry-run renderers on the seed's policies (`shared/seed/manifests`), in plain form.

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};
use sim_policy::hpa::{
    self, HpaBehavior, HpaConfig, HpaInput, HpaState, MetricObservation, MetricSpec, MetricTarget,
    PodInfo, PodSample, PolicyKind, ScalingPolicy, ScalingRules,
};
use sim_policy::keda::{self, KedaConfig, KedaState, TargetState, Trigger};

fn vllm_hpa() -> HpaConfig {
    // vllm-hpa.yaml: Pods metric vllm_num_requests_waiting, averageValue 5, 1..4, behavior.
    let rule = |window, period| ScalingRules {
        stabilization_window_s: Some(window),
        policies: Some(vec![ScalingPolicy {
            kind: PolicyKind::Pods,
            value: 1,
            period_s: period,
        }]),
        ..ScalingRules::default()
    };
    let mut cfg = HpaConfig::new(
        Some(1),
        4,
        vec![MetricSpec::Pods {
            metric: "vllm_num_requests_waiting".into(),
            target: MetricTarget::average_value_milli(5000),
        }],
    );
    cfg.behavior = Some(HpaBehavior {
        scale_up: Some(rule(60, 120)),
        scale_down: Some(rule(300, 300)),
    });
    cfg
}

#[test]
fn explain_hpa_names_metric_conditions_and_rule() {
    let cfg = vllm_hpa();
    let now = SimTime::from_secs(1000);
    let pods: Vec<PodInfo> = (0..2)
        .map(|i| PodInfo::running_ready(&format!("vllm-{i}"), SimTime::ZERO, SimTime::ZERO))
        .collect();
    let samples = pods
        .iter()
        .map(|p| PodSample {
            pod: p.name.clone(),
            value_milli: Some(12_000),
            timestamp: now,
            window: SimDuration::from_secs(30),
        })
        .collect();
    let input = HpaInput {
        now,
        spec_replicas: 2,
        status_replicas: 2,
        pods,
        metrics: vec![MetricObservation::PodSamples(samples)],
    };
    // The state is new: the seeded history (2 at now) keeps the 60 s scale-up window at 2.
    let lines = hpa::explain_hpa(&cfg, &HpaState::new(), &input);
    let text = lines.join("\n");
    assert!(
        text.contains("pods metric vllm_num_requests_waiting: 12 / 5 (avg), proposes 5"),
        "{text}"
    );
    assert!(
        text.contains("AbleToScale True ScaleUpStabilized"),
        "{text}"
    );
    assert!(
        text.contains("stabilization windows up 60s / down 300s"),
        "{text}"
    );
    assert!(text.contains("desired replicas 2"), "{text}");
}

#[test]
fn explain_keda_scale_to_zero_policy() {
    // vllm-keda-scale-to-zero.yaml: min 0, idle 0, max 3, cooldown 600, threshold 10.
    let mut cfg = KedaConfig::new(
        "mistral-vllm-keda",
        vec![Trigger::external(0, "vllm_waiting_requests", 10.0, 0.0)],
    );
    cfg.min_replica_count = Some(0);
    cfg.idle_replica_count = Some(0);
    cfg.max_replica_count = Some(3);
    cfg.cooldown_period = SimDuration::from_secs(600);
    cfg.annotations = BTreeMap::new();
    assert_eq!(cfg.validate_replica_bounds(), Ok(()));
    let state = KedaState::new(SimTime::ZERO);
    let target = TargetState {
        spec_replicas: 0,
        ready_replicas: 0,
    };
    let lines = keda::explain_keda(&cfg, &state, SimTime::from_secs(30), &[Ok(25.0)], target);
    let text = lines.join("\n");
    assert!(text.contains("isActive=true"), "{text}");
    assert!(text.contains("scale the target to 1"), "{text}");
    assert!(text.contains("minReplicas 1, maxReplicas 3"), "{text}");
    assert!(text.contains("external metric s0-prometheus: 25"), "{text}");
    assert!(text.contains("Active True ScalerActive"), "{text}");
}
