//! Timeline fixtures: a header line describing an HPA or a ScaledObject, then syncs
//! `at T ... -> expected`. One `check` helper drives every file in `test_data/`.

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};
use sim_policy::hpa::{
    self, HpaBehavior, HpaConfig, HpaInput, HpaState, MetricObservation, MetricSpec, MetricTarget,
    PodInfo, PolicyKind, ScalingPolicy, ScalingRules,
};
use sim_policy::keda::{self, KedaConfig, KedaState, TargetState, TickAction, Trigger};

fn fields(words: &[&str]) -> BTreeMap<String, String> {
    words
        .iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn num<T: std::str::FromStr>(f: &BTreeMap<String, String>, key: &str, at: &str) -> T {
    let raw = f.get(key).unwrap_or_else(|| panic!("{at}: missing {key}="));
    raw.parse()
        .unwrap_or_else(|_| panic!("{at}: bad number {key}={raw}"))
}

fn policies(text: &str, at: &str) -> Vec<ScalingPolicy> {
    text.split(',')
        .map(|p| {
            let parts: Vec<&str> = p.split(':').collect();
            let [kind, value, period] = parts.as_slice() else {
                panic!("{at}: policy {p} is not kind:value:period")
            };
            let kind = match *kind {
                "pods" => PolicyKind::Pods,
                "percent" => PolicyKind::Percent,
                other => panic!("{at}: unknown policy kind {other}"),
            };
            ScalingPolicy {
                kind,
                value: value.parse().unwrap_or_else(|_| panic!("{at}: bad value")),
                period_s: period
                    .parse()
                    .unwrap_or_else(|_| panic!("{at}: bad period")),
            }
        })
        .collect()
}

fn pods(n: i32) -> Vec<PodInfo> {
    (0..n)
        .map(|i| PodInfo::running_ready(&format!("pod-{i}"), SimTime::ZERO, SimTime::ZERO))
        .collect()
}

fn hpa_config(f: &BTreeMap<String, String>, at: &str) -> HpaConfig {
    let target: f64 = num(f, "target", at);
    let mut cfg = HpaConfig::new(
        Some(num(f, "min", at)),
        num(f, "max", at),
        vec![MetricSpec::External {
            metric: "queue".into(),
            target: MetricTarget::average_value_milli((target * 1000.0) as i64),
        }],
    );
    if f.contains_key("down") || f.contains_key("up") {
        cfg.behavior = Some(HpaBehavior {
            scale_up: f.get("up").map(|p| ScalingRules {
                policies: Some(policies(p, at)),
                ..ScalingRules::default()
            }),
            scale_down: Some(ScalingRules {
                policies: f.get("down").map(|p| policies(p, at)),
                stabilization_window_s: f
                    .get("down_window")
                    .map(|w| w.parse().unwrap_or_else(|_| panic!("{at}: bad window"))),
                ..ScalingRules::default()
            }),
        });
    }
    cfg
}

/// Runs one sync of an HPA and compares desired replicas and optional reasons.
fn hpa_step(
    cfg: &HpaConfig,
    state: &mut HpaState,
    t: f64,
    f: &BTreeMap<String, String>,
    expect: &[&str],
    at: &str,
) {
    let replicas: i32 = num(f, "replicas", at);
    let value: f64 = num(f, "value", at);
    let input = HpaInput {
        now: SimTime::from_secs_f64(t),
        spec_replicas: replicas,
        status_replicas: replicas,
        pods: pods(replicas),
        metrics: vec![MetricObservation::ExternalValues(vec![
            (value * 1000.0) as i64,
        ])],
    };
    let d = hpa::reconcile(cfg, state, &input);
    let want = fields(&expect[1..]);
    assert_eq!(expect[0], "desired", "{at}: expected `-> desired N`");
    let desired: i32 = expect
        .get(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{at}: bad desired"));
    assert_eq!(
        d.desired_replicas, desired,
        "{at}: desired replicas ({:?})",
        d.trace
    );
    if let Some(r) = want.get("limit") {
        assert_eq!(
            d.trace.limit_reason.as_deref(),
            Some(r.as_str()),
            "{at}: limit reason"
        );
    }
    if let Some(r) = want.get("stabilization") {
        assert_eq!(
            d.trace.stabilization_reason.as_deref(),
            Some(r.as_str()),
            "{at}: stabilization reason"
        );
    }
}

fn check(file: &str) {
    let path = format!("{}/test_data/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    let (n, header) = lines
        .next()
        .unwrap_or_else(|| panic!("{file}: empty fixture"));
    let head: Vec<&str> = header.split_whitespace().collect();
    let hf = fields(&head[1..]);
    let at0 = format!("{file}:{}", n + 1);
    let mut steps = 0;
    match head[0] {
        "hpa" => {
            let cfg = hpa_config(&hf, &at0);
            let mut state = HpaState::new();
            for (n, line) in lines {
                let at = format!("{file}:{}", n + 1);
                let (lhs, rhs) = line
                    .split_once("->")
                    .unwrap_or_else(|| panic!("{at}: no `->`"));
                let words: Vec<&str> = lhs.split_whitespace().collect();
                assert_eq!(words[0], "at", "{at}: a step starts with `at T`");
                let t: f64 = words[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{at}: bad time"));
                let expect: Vec<&str> = rhs.split_whitespace().collect();
                hpa_step(&cfg, &mut state, t, &fields(&words[2..]), &expect, &at);
                steps += 1;
            }
        }
        "keda" => {
            let mut cfg = KedaConfig::new(
                "so",
                vec![Trigger::external(
                    0,
                    "queue",
                    num(&hf, "threshold", &at0),
                    num(&hf, "activation", &at0),
                )],
            );
            cfg.min_replica_count = Some(num(&hf, "min", &at0));
            cfg.max_replica_count = Some(num(&hf, "max", &at0));
            cfg.polling_interval = SimDuration::from_secs(num(&hf, "poll", &at0));
            cfg.cooldown_period = SimDuration::from_secs(num(&hf, "cooldown", &at0));
            let hpa_cfg = keda::generated_hpa(&cfg);
            let mut kstate = KedaState::new(SimTime::ZERO);
            let mut hstate = HpaState::new();
            for (n, line) in lines {
                let at = format!("{file}:{}", n + 1);
                let (lhs, rhs) = line
                    .split_once("->")
                    .unwrap_or_else(|| panic!("{at}: no `->`"));
                let words: Vec<&str> = lhs.split_whitespace().collect();
                let t: f64 = words[1]
                    .parse()
                    .unwrap_or_else(|_| panic!("{at}: bad time"));
                let f = fields(&words[3..]);
                let replicas: i32 = num(&f, "replicas", &at);
                let value: f64 = num(&f, "value", &at);
                let now = SimTime::from_secs_f64(t);
                let target = TargetState {
                    spec_replicas: replicas,
                    ready_replicas: replicas,
                };
                let expect: Vec<&str> = rhs.split_whitespace().collect();
                match words[2] {
                    "poll" => {
                        let tick =
                            keda::operator_tick(&cfg, &mut kstate, now, &[Ok(value)], target);
                        let got = match tick.action {
                            TickAction::ScaleTo(k) => format!("scale {k}"),
                            TickAction::LeaveToHpa => "hpa".to_string(),
                            TickAction::Nothing => "nothing".to_string(),
                        };
                        assert_eq!(
                            got,
                            expect.join(" "),
                            "{at}: operator action ({})",
                            tick.reason
                        );
                    }
                    "hpa" => {
                        let served =
                            keda::hpa_metric_values(&cfg, &mut kstate, now, &[Ok(value)], target);
                        let input = HpaInput {
                            now,
                            spec_replicas: replicas,
                            status_replicas: replicas,
                            pods: pods(replicas),
                            metrics: served
                                .into_iter()
                                .map(|o| o.expect("external metric"))
                                .collect(),
                        };
                        let d = hpa::reconcile(&hpa_cfg, &mut hstate, &input);
                        let desired: i32 = expect
                            .get(1)
                            .and_then(|w| w.parse().ok())
                            .unwrap_or_else(|| panic!("{at}: bad desired"));
                        assert_eq!(
                            d.desired_replicas, desired,
                            "{at}: HPA desired ({})",
                            d.reason
                        );
                    }
                    other => panic!("{at}: unknown step {other}"),
                }
                steps += 1;
            }
        }
        other => panic!("{at0}: unknown fixture kind {other}"),
    }
    assert!(steps > 0, "{file}: no steps");
}

#[test]
fn hpa_docs_scale_down_example() {
    check("hpa_docs_scale_down_example.txt");
}

#[test]
fn hpa_legacy_rolling_max() {
    check("hpa_legacy_rolling_max.txt");
}

#[test]
fn keda_worked_timeline() {
    check("keda_worked_timeline.txt");
}
