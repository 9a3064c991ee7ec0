//! Property tests of the HPA model: bounds, policy rates, and the plain ratio formula.

use proptest::prelude::*;
use sim_des::SimTime;
use sim_policy::hpa::{
    self, HpaBehavior, HpaConfig, HpaInput, HpaState, MetricObservation, MetricSpec, MetricTarget,
    PodInfo, PolicyKind, ScalingPolicy, ScalingRules, SelectPolicy,
};

fn pods(n: i32) -> Vec<PodInfo> {
    (0..n)
        .map(|i| PodInfo::running_ready(&format!("pod-{i}"), SimTime::ZERO, SimTime::ZERO))
        .collect()
}

fn input(now_s: u64, replicas: i32, value_milli: i64) -> HpaInput {
    HpaInput {
        now: SimTime::from_secs(now_s),
        spec_replicas: replicas,
        status_replicas: replicas,
        pods: pods(replicas),
        metrics: vec![MetricObservation::ExternalValues(vec![value_milli])],
    }
}

fn value_metric(target_milli: i64) -> Vec<MetricSpec> {
    vec![MetricSpec::External {
        metric: "q".into(),
        target: MetricTarget::value_milli(target_milli),
    }]
}

fn rules(kind: PolicyKind, value: i32, period_s: i32, window_s: i32) -> ScalingRules {
    ScalingRules {
        stabilization_window_s: Some(window_s),
        select_policy: Some(SelectPolicy::Max),
        policies: Some(vec![ScalingPolicy {
            kind,
            value,
            period_s,
        }]),
        tolerance: None,
    }
}

fn arb_behavior() -> impl Strategy<Value = Option<HpaBehavior>> {
    let policy = (
        prop_oneof![Just(PolicyKind::Pods), Just(PolicyKind::Percent)],
        1..200i32,
        1..300i32,
        0..400i32,
    );
    prop_oneof![
        Just(None),
        (policy.clone(), policy).prop_map(|((k1, v1, p1, w1), (k2, v2, p2, w2))| Some(
            HpaBehavior {
                scale_up: Some(rules(k1, v1, p1, w1)),
                scale_down: Some(rules(k2, v2, p2, w2)),
            }
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_203), .. ProptestConfig::default() })]

    /// Starting inside [min, max], every decision stays inside [min, max].
    #[test]
    fn replicas_stay_within_bounds(
        min in 1..6i32,
        extra in 0..40i32,
        behavior in arb_behavior(),
        start in 0..40i32,
        steps in prop::collection::vec((1..60u64, 0..100_000i64), 1..30),
    ) {
        let max = min + extra;
        let mut cfg = HpaConfig::new(Some(min), max, value_metric(10_000));
        cfg.behavior = behavior;
        let mut state = HpaState::new();
        let mut replicas = (min + start).min(max);
        let mut now = 0;
        for (dt, value) in steps {
            now += dt;
            let d = hpa::reconcile(&cfg, &mut state, &input(now, replicas, value));
            prop_assert!(d.desired_replicas >= min && d.desired_replicas <= max, "{} not in [{min}, {max}]", d.desired_replicas);
            replicas = d.desired_replicas;
        }
    }

    /// With one Pods policy per direction, no rescale ever moves the size further than the
    /// policy allows from the size at the start of its period (windows 0, so only the
    /// policies limit): counting this change, the net change of the last period is at most
    /// the policy value in the direction taken.
    #[test]
    fn pods_policy_rate_is_never_exceeded(
        up in 1..10i32,
        down in 1..10i32,
        period in 1..120i32,
        steps in prop::collection::vec((1..40u64, 0..3_000i64), 1..40),
    ) {
        let mut cfg = HpaConfig::new(Some(1), 200, value_metric(1_000));
        cfg.behavior = Some(HpaBehavior {
            scale_up: Some(rules(PolicyKind::Pods, up, period, 0)),
            scale_down: Some(rules(PolicyKind::Pods, down, period, 0)),
        });
        let mut state = HpaState::new();
        let mut replicas = 20;
        let mut now = 0u64;
        let mut history: Vec<(u64, i32)> = Vec::new();
        for (dt, value) in steps {
            now += dt;
            let d = hpa::reconcile(&cfg, &mut state, &input(now, replicas, value));
            let change = d.desired_replicas - replicas;
            if d.rescale {
                history.push((now, change));
                let p = u64::try_from(period).unwrap_or(0);
                let net: i32 = history.iter().filter(|(t, _)| now - t < p).map(|(_, c)| c).sum();
                if change > 0 {
                    prop_assert!(net <= up, "net +{net} in {period}s exceeds {up}");
                } else {
                    prop_assert!(-net <= down, "net -{} in {period}s exceeds {down}", -net);
                }
            }
            replicas = d.desired_replicas;
        }
    }

    /// With zero windows and policies that never bind, every decision is the plain formula:
    /// the current size inside the tolerance band, else ceil(ratio x ready pods), within bounds.
    #[test]
    fn zero_windows_give_the_plain_ratio_formula(
        target in 100..50_000i64,
        steps in prop::collection::vec((1..60u64, 0..200_000i64), 1..30),
        start in 1..50i32,
    ) {
        let (min, max) = (1, 2_000);
        let mut cfg = HpaConfig::new(Some(min), max, value_metric(target));
        let never = |kind| rules(kind, 100_000, 1, 0);
        cfg.behavior = Some(HpaBehavior { scale_up: Some(never(PolicyKind::Pods)), scale_down: Some(never(PolicyKind::Percent)) });
        let mut state = HpaState::new();
        let mut replicas = start;
        let mut now = 0;
        for (dt, value) in steps {
            now += dt;
            let d = hpa::reconcile(&cfg, &mut state, &input(now, replicas, value));
            let ratio = value as f64 / target as f64;
            let plain = if (0.9..=1.1).contains(&ratio) { replicas } else { (ratio * f64::from(replicas)).ceil() as i32 };
            prop_assert_eq!(d.desired_replicas, plain.clamp(min, max));
            replicas = d.desired_replicas;
        }
    }
}
