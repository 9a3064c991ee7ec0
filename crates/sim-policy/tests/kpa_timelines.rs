//! KPA timeline fixtures (`test_data/kpa/*.txt`), driven by one `check`.
//!
//! A fixture starts with `kpa key=value ...` (settings over Knative's defaults), then
//! steps `at T ready=N c=V [rps=V] -> desired N [key=value ...]`. `T` may be a range
//! `A..B`, meaning a tick every `tick_interval` from A to B, each with the same
//! expectation. Before each tick one sample per whole second `s` with `prev < s <= T` is
//! recorded (`c=-` records none). `restart T ready=N` restarts the autoscaler.
//! `bad_configs.txt` instead lists settings and the validation message they must produce.

use std::collections::BTreeMap;

use sim_des::{SimDuration, SimTime};
use sim_policy::kpa::{self, Activity, KpaConfig, KpaMetric, KpaObservation, KpaSample, KpaState};

fn fields(words: &[&str], at: &str) -> BTreeMap<String, String> {
    words
        .iter()
        .map(|w| {
            let (k, v) = w
                .split_once('=')
                .unwrap_or_else(|| panic!("{at}: `{w}` is not key=value"));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn parse<T: std::str::FromStr>(raw: &str, key: &str, at: &str) -> T {
    raw.parse()
        .unwrap_or_else(|_| panic!("{at}: bad value {key}={raw}"))
}

fn secs(raw: &str, key: &str, at: &str) -> SimDuration {
    SimDuration::from_secs_f64(parse(raw, key, at))
}

fn config(f: &BTreeMap<String, String>, at: &str) -> KpaConfig {
    let mut c = KpaConfig::default();
    for (k, v) in f {
        match k.as_str() {
            "metric" => {
                c.metric = match v.as_str() {
                    "concurrency" => KpaMetric::Concurrency,
                    "rps" => KpaMetric::Rps,
                    other => panic!("{at}: unknown metric {other}"),
                }
            }
            "target" => c.target = Some(parse(v, k, at)),
            "cc" => c.container_concurrency = parse(v, k, at),
            "util" => c.target_utilization_percentage = parse(v, k, at),
            "stable" => c.stable_window = secs(v, k, at),
            "panic_pct" => c.panic_window_percentage = parse(v, k, at),
            "threshold" => c.panic_threshold_percentage = parse(v, k, at),
            "up" => c.max_scale_up_rate = parse(v, k, at),
            "down" => c.max_scale_down_rate = parse(v, k, at),
            "grace" => c.scale_to_zero_grace_period = secs(v, k, at),
            "retention" => c.scale_to_zero_pod_retention_period = secs(v, k, at),
            "delay" => c.scale_down_delay = secs(v, k, at),
            "min" => c.min_scale = parse(v, k, at),
            "max" => c.max_scale = parse(v, k, at),
            "initial" => c.initial_scale = parse(v, k, at),
            "activation" => c.activation_scale = parse(v, k, at),
            "tick" => c.tick_interval = secs(v, k, at),
            "scale_to_zero" => c.enable_scale_to_zero = parse(v, k, at),
            "tbc" => c.target_burst_capacity = parse(v, k, at),
            "progress" => c.progress_deadline = secs(v, k, at),
            other => panic!("{at}: unknown setting {other}"),
        }
    }
    c
}

/// The tick times of `at T` or `at A..B`.
fn tick_times(spec: &str, tick_s: f64, at: &str) -> Vec<f64> {
    match spec.split_once("..") {
        None => vec![parse(spec, "time", at)],
        Some((a, b)) => {
            let (a, b): (f64, f64) = (parse(a, "time", at), parse(b, "time", at));
            assert!(a <= b, "{at}: empty range {spec}");
            let n = ((b - a) / tick_s).round() as usize;
            assert!(
                (a + n as f64 * tick_s - b).abs() < 1e-9,
                "{at}: {spec} is not a whole number of ticks"
            );
            (0..=n).map(|i| a + i as f64 * tick_s).collect()
        }
    }
}

fn activity(raw: &str, at: &str) -> Activity {
    match raw {
        "active" => Activity::Active,
        "inactive" => Activity::Inactive,
        "activating" => Activity::Activating,
        other => panic!("{at}: unknown activity {other}"),
    }
}

/// Runs one tick and checks every expectation given after `->`.
#[allow(clippy::too_many_arguments)]
fn step(
    cfg: &KpaConfig,
    state: &mut KpaState,
    prev_s: &mut f64,
    t: f64,
    load: &BTreeMap<String, String>,
    expect: &[&str],
    at: &str,
) {
    let ready: u32 = parse(
        load.get("ready")
            .unwrap_or_else(|| panic!("{at}: missing ready=")),
        "ready",
        at,
    );
    let c = load
        .get("c")
        .unwrap_or_else(|| panic!("{at}: missing c= (use c=- for no samples)"));
    let mut samples = Vec::new();
    if c != "-" {
        let concurrency: f64 = parse(c, "c", at);
        let requests: f64 = load.get("rps").map_or(0.0, |r| parse(r, "rps", at));
        let first = prev_s.floor() as u64 + 1;
        let last = t.floor() as u64;
        samples.extend((first..=last).map(|s| KpaSample {
            at: SimTime::from_secs(s),
            concurrency,
            requests,
        }));
    }
    *prev_s = t;
    let poke = samples
        .first()
        .is_some_and(|s| kpa::kpa_poke_wanted(state, s.concurrency));
    let d = kpa::kpa_tick(
        cfg,
        state,
        SimTime::from_secs_f64(t),
        KpaObservation {
            samples: &samples,
            ready_pods: ready,
        },
    );
    let ctx = format!("{at} (t={t}): {}", d.reason);
    assert_eq!(
        expect.first(),
        Some(&"desired"),
        "{at}: expected `-> desired N`"
    );
    let desired: u32 = parse(expect.get(1).copied().unwrap_or(""), "desired", at);
    assert_eq!(d.desired_pods, desired, "{ctx}: desired pods");
    for (k, v) in fields(&expect[2..], at) {
        match k.as_str() {
            "panic" => assert_eq!(d.panic, parse::<bool>(&v, &k, at), "{ctx}: panic"),
            "decider" => {
                let want = (v != "none").then(|| parse::<u32>(&v, &k, at));
                assert_eq!(d.decider_pods, want, "{ctx}: decider pods");
            }
            "pending" => assert_eq!(
                d.scale_to_zero_pending,
                parse::<bool>(&v, &k, at),
                "{ctx}: scale-to-zero pending"
            ),
            "ebc" => assert_eq!(
                d.excess_burst_capacity,
                parse::<i32>(&v, &k, at),
                "{ctx}: excess burst capacity"
            ),
            "proxy" => assert_eq!(
                d.activator_in_path,
                parse::<bool>(&v, &k, at),
                "{ctx}: activator in path"
            ),
            "activity" => assert_eq!(state.activity, activity(&v, at), "{ctx}: activity"),
            "poke" => assert_eq!(poke, parse::<bool>(&v, &k, at), "{ctx}: poke"),
            "why" => {
                let text = v.replace('_', " ");
                assert!(d.reason.contains(&text), "{ctx}: reason lacks `{text}`");
            }
            other => panic!("{at}: unknown expectation {other}"),
        }
    }
}

/// Runs one timeline fixture; returns the number of ticks checked.
fn check(file: &str) -> usize {
    let path = format!("{}/test_data/kpa/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(n, l)| (format!("{file}:{}", n + 1), l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let (at0, header) = lines
        .next()
        .unwrap_or_else(|| panic!("{file}: empty fixture"));
    let head: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        head.first(),
        Some(&"kpa"),
        "{at0}: header must start with `kpa`"
    );
    let cfg = config(&fields(&head[1..], &at0), &at0);
    cfg.validate()
        .unwrap_or_else(|e| panic!("{at0}: invalid config: {e}"));
    let tick_s = cfg.tick_interval.as_secs_f64();
    let mut state = KpaState::new(&cfg, SimTime::ZERO);
    let mut prev_s = 0.0;
    let mut ticks = 0;
    for (at, line) in lines {
        let (lhs, rhs) = line.split_once("->").unwrap_or((line, ""));
        let words: Vec<&str> = lhs.split_whitespace().collect();
        match words.as_slice() {
            ["restart", t, rest @ ..] => {
                let f = fields(rest, &at);
                let ready: u32 = parse(
                    f.get("ready")
                        .unwrap_or_else(|| panic!("{at}: missing ready=")),
                    "ready",
                    &at,
                );
                let now = SimTime::from_secs_f64(parse(t, "time", &at));
                state.autoscaler_restart(&cfg, now, ready);
            }
            ["at", t, rest @ ..] => {
                let load = fields(rest, &at);
                let expect: Vec<&str> = rhs.split_whitespace().collect();
                for t in tick_times(t, tick_s, &at) {
                    assert!(t > prev_s || ticks == 0, "{at}: time goes backwards");
                    step(&cfg, &mut state, &mut prev_s, t, &load, &expect, &at);
                    ticks += 1;
                }
            }
            _ => panic!("{at}: a step is `at T ...` or `restart T ready=N`"),
        }
    }
    assert!(ticks > 0, "{file}: no steps");
    ticks
}

#[test]
fn steady_state() {
    check("steady_state.txt");
}

#[test]
fn rps_metric() {
    check("rps.txt");
}

#[test]
fn burst_panic_and_rate_limited_scale_down() {
    check("panic.txt");
}

#[test]
fn scale_down_delay() {
    check("scale_down_delay.txt");
}

#[test]
fn scale_to_zero_after_grace() {
    check("scale_to_zero.txt");
}

#[test]
fn scale_to_zero_with_activator_already_in_path() {
    check("scale_to_zero_proxy.txt");
}

#[test]
fn scale_to_zero_pod_retention() {
    check("pod_retention.txt");
}

#[test]
fn idle_new_revision_is_held_for_a_stable_window() {
    check("idle_new_revision.txt");
}

#[test]
fn scale_to_zero_disabled() {
    check("no_scale_to_zero.txt");
}

#[test]
fn scale_from_zero_with_activation_scale() {
    check("scale_from_zero.txt");
}

#[test]
fn min_max_clamps() {
    check("bounds.txt");
}

#[test]
fn activation_timeout() {
    check("activation_timeout.txt");
}

#[test]
fn autoscaler_restart_starts_in_panic() {
    check("restart.txt");
}

/// Every fixture in the directory is run by one of the tests above.
#[test]
fn every_fixture_is_listed() {
    let src = include_str!("kpa_timelines.rs");
    let dir = format!("{}/test_data/kpa", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        assert!(
            src.contains(&format!("\"{name}\"")),
            "{name} is not run by any test"
        );
    }
}

/// `bad_configs.txt`: `settings -> message` (or `-> ok`); the message must start the
/// validation error.
#[test]
fn bad_configs() {
    let file = "bad_configs.txt";
    let path = format!("{}/test_data/kpa/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut cases = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{file}:{}", n + 1);
        let (lhs, rhs) = line
            .split_once("->")
            .unwrap_or_else(|| panic!("{at}: no `->`"));
        let words: Vec<&str> = lhs.split_whitespace().collect();
        let cfg = config(&fields(&words, &at), &at);
        let want = rhs.trim();
        match (cfg.validate(), want) {
            (Ok(()), "ok") => {}
            (Ok(()), _) => panic!("{at}: accepted, expected `{want}`"),
            (Err(e), "ok") => panic!("{at}: rejected: {e}"),
            (Err(e), _) => assert!(e.starts_with(want), "{at}: got `{e}`, expected `{want}`"),
        }
        cases += 1;
    }
    assert!(cases > 0, "{file}: no cases");
}
