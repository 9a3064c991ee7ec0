//! Sweep plans, runs and reductions on the files in `test_data/`.
//!
//! - `plans/*.toml`: sweep files whose `#> ` comment lines list the expected points in order.
//! - `bad/*.toml`: sweep files whose first line says `# error: L:C: fragment` (the error must
//!   name this file at line L, column C — `0:0` for the whole file — and contain the
//!   fragment), or `# error-in OTHER: L:C: fragment` for an error inside another file.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use sim_scenario::Files;
use sim_sweep::{JobResult, Plan, Runner};

struct Disk;

impl Files for Disk {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn open_trace(path: &str) -> Result<Box<dyn std::io::BufRead>, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

fn files_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(Path::new("test_data").join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

fn load(path: &Path) -> Result<Plan, sim_sweep::SweepError> {
    let text = std::fs::read_to_string(path).unwrap();
    sim_sweep::plan(path.to_str().unwrap(), &text, &Disk, "test")
}

fn load_text(name: &str, text: &str) -> Plan {
    let path = format!("test_data/plans/{name}");
    sim_sweep::plan(&path, text, &Disk, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn points(plan: &Plan) -> Vec<String> {
    (0..plan.points.len())
        .map(|p| plan.describe_point(p))
        .collect()
}

#[test]
fn plans_enumerate_the_expected_points() {
    let cases = files_in("plans");
    assert!(cases.len() >= 6);
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("#> "))
            .map(str::to_string)
            .collect();
        assert!(!expected.is_empty(), "{}: no #> lines", path.display());
        let plan = load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(points(&plan), expected, "{}", path.display());
        // Every point is a loaded scenario carrying its axis values.
        for p in 0..plan.points.len() {
            let sc = plan.scenario(p).unwrap();
            let echoed: toml::Table = toml::from_str(&toml::to_string(&sc.file).unwrap()).unwrap();
            let get = |path: &str| -> Option<toml::Value> {
                let mut v = toml::Value::Table(echoed.clone());
                for seg in path.split('.') {
                    v = match v {
                        toml::Value::Table(t) => t.get(seg)?.clone(),
                        toml::Value::Array(a) => a[seg.parse::<usize>().unwrap()].clone(),
                        other => panic!("{path}: {other:?}"),
                    };
                }
                Some(v)
            };
            let mut wanted: Vec<(String, Option<toml::Value>)> = Vec::new();
            for ((axis, value), keys) in plan
                .axes
                .iter()
                .zip(&plan.points[p])
                .zip(&plan.axis_sets_keys)
            {
                match (keys, value) {
                    (true, toml::Value::Table(t)) => {
                        for (k, v) in t {
                            if k == "unset" {
                                for u in v.as_array().unwrap() {
                                    wanted.push((u.as_str().unwrap().to_string(), None));
                                }
                            } else {
                                wanted.push((k.clone(), Some(v.clone())));
                            }
                        }
                    }
                    _ => wanted.push((axis.clone(), Some(value.clone()))),
                }
            }
            for (axis, value) in wanted {
                let v = get(&axis);
                let same = v == value
                    || v.as_ref()
                        .and_then(toml::Value::as_float)
                        .zip(value.as_ref().and_then(toml::Value::as_integer))
                        .is_some_and(|(a, b)| a == b as f64);
                assert!(
                    same,
                    "{}: point {p}: {axis} = {v:?}, want {value:?}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn bad_sweeps_name_file_line_and_column() {
    let cases = files_in("bad");
    assert!(cases.len() >= 20);
    let mut failures = Vec::new();
    for path in cases {
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        let (file, spec) = if let Some(rest) = first.strip_prefix("# error-in ") {
            let (other, spec) = rest.split_once(": ").unwrap();
            let dir = path.parent().unwrap();
            (dir.join(other).to_str().unwrap().to_string(), spec)
        } else {
            let spec = first
                .strip_prefix("# error: ")
                .expect("first line: # error:");
            (path.to_str().unwrap().to_string(), spec)
        };
        let (pos, fragment) = spec.split_once(": ").unwrap();
        let prefix = if pos == "0:0" {
            format!("{file}: ")
        } else {
            format!("{file}:{pos}: ")
        };
        match load(&path) {
            Ok(_) => failures.push(format!("{}: loaded", path.display())),
            Err(e) => {
                let msg = e.to_string();
                if !(msg.starts_with(&prefix) && msg.contains(fragment)) {
                    failures.push(format!(
                        "{}:\n  got  {msg}\n  want {prefix}...{fragment}...",
                        path.display()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const RANDOM: &str = r#"
base = "../base.toml"
[sampling]
mode = "MODE"
points = 12
seed = SEED
[[axis]]
path = "workload.arrivals.rate_rps"
linear = { from = 1, to = 7 }
[[axis]]
path = "engine.max_num_seqs"
log = { from = 8, to = 512 }
[[axis]]
path = "routing.policy"
values = ["random", "round-robin", "least-outstanding"]
"#;

fn sampled(mode: &str, seed: u64) -> Plan {
    let text = RANDOM
        .replace("MODE", mode)
        .replace("SEED", &seed.to_string());
    load_text("sampled.toml", &text)
}

#[test]
fn random_and_lhs_points_stay_in_range_and_repeat_for_a_seed() {
    for mode in ["random", "lhs"] {
        let a = sampled(mode, 3);
        assert_eq!(points(&a), points(&sampled(mode, 3)), "{mode}");
        assert_ne!(points(&a), points(&sampled(mode, 4)), "{mode}");
        assert!(a.points.len() <= 12 && a.points.len() >= 10, "{mode}");
        for p in &a.points {
            let rate = p[0].as_float().unwrap();
            assert!((1.0..=7.0).contains(&rate), "{mode}: {rate}");
            let seqs = p[1].as_integer().expect("max_num_seqs stays an integer");
            assert!((8..=512).contains(&seqs), "{mode}: {seqs}");
            assert!(p[2].is_str());
        }
    }
}

#[test]
fn lhs_puts_one_point_in_every_stratum_of_every_axis() {
    let plan = sampled("lhs", 11);
    // The float axis is never rounded into a duplicate, so all 12 points are there.
    assert_eq!(plan.points.len(), 12);
    let mut strata: Vec<usize> = plan
        .points
        .iter()
        .map(|p| ((p[0].as_float().unwrap() - 1.0) / 6.0 * 12.0) as usize)
        .collect();
    strata.sort_unstable();
    assert_eq!(strata, (0..12).collect::<Vec<_>>());
    // Log axis: strata in log space (rounding to integers can move a point by 0.5).
    let mut log_strata: Vec<usize> = plan
        .points
        .iter()
        .map(|p| {
            let x = p[1].as_integer().unwrap() as f64;
            ((x / 8.0).ln() / (512.0f64 / 8.0).ln() * 12.0).clamp(0.0, 11.999) as usize
        })
        .collect();
    log_strata.sort_unstable();
    log_strata.dedup();
    assert!(log_strata.len() >= 10, "{log_strata:?}");
}

const RUNS: &str = r#"
base = "../base.toml"
seeds = [1, 2, 3]
[[axis]]
path = "deployment.replicas"
values = [1, 2]
[[axis]]
path = "routing.policy"
values = ["random", "least-outstanding"]
[slo]
ttft_s = 1.0
ttft_s_p99 = 1.0
ttft_s_p95 = 0.8
min_attainment = 0.5
"#;

fn run_all(plan: &Plan, threads: usize) -> Vec<JobResult> {
    let runner = Runner::new(plan, &open_trace).unwrap();
    let jobs: Vec<usize> = (0..plan.jobs()).collect();
    runner
        .run_jobs(plan, &jobs, threads, &|_| {}, &AtomicBool::new(false))
        .unwrap()
}

#[test]
fn runs_use_common_random_numbers_and_do_not_depend_on_threads() {
    let plan = load_text("runs.toml", RUNS);
    assert_eq!(plan.jobs(), 12);
    let one = run_all(&plan, 1);
    let two = run_all(&plan, 2);
    assert_eq!(one, two);
    let total = plan.metric_index("requests_total").unwrap();
    // Replication r has the same arrivals at every point; different seeds differ.
    for r in 0..3 {
        let counts: Vec<f64> = one
            .iter()
            .filter(|j| j.seed == plan.seeds[r])
            .map(|j| j.values[total])
            .collect();
        assert!(counts.windows(2).all(|w| w[0] == w[1]), "{counts:?}");
    }
    assert_ne!(one[0].values[total], one[1].values[total]);
    // The extra SLO percentile gets its own column, and slo_ok is last.
    assert!(plan.metric_index("ttft_s_p95").is_some());
    assert_eq!(plan.metrics.last().map(String::as_str), Some("slo_ok"));
}

#[test]
fn point_statistics_are_means_and_student_t_intervals_over_seeds() {
    let plan = load_text("runs.toml", RUNS);
    let results = run_all(&plan, 2);
    let stats = sim_sweep::summarize(&plan, &results).unwrap();
    assert_eq!(stats.len(), 4);
    let c = plan.metric_index("ttft_s_p99").unwrap();
    for s in &stats {
        let xs: Vec<f64> = results
            .iter()
            .filter(|r| r.point == s.point)
            .map(|r| r.values[c])
            .collect();
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let half = 4.302_653 * var.sqrt() / n.sqrt();
        assert!((s.mean[c] - mean).abs() < 1e-8);
        assert!((s.ci95[c].unwrap() - half).abs() < 1e-8);
        // The checks are judged on the means.
        let ok = s.checks.iter().all(|(chk, v)| chk.holds(*v));
        assert_eq!(s.slo_ok(), ok);
    }
    // Missing jobs are refused.
    assert!(sim_sweep::summarize(&plan, &results[1..]).is_err());
}

#[test]
fn pareto_front_is_non_dominated_and_best_is_the_cheapest_that_meets_the_slo() {
    let plan = load_text("runs.toml", RUNS);
    let stats = sim_sweep::summarize(&plan, &run_all(&plan, 2)).unwrap();
    let (oi, li) = (
        plan.metric_index(&plan.objective).unwrap(),
        plan.metric_index(&plan.latency).unwrap(),
    );
    let front = sim_sweep::pareto(&plan, &stats);
    assert!(!front.is_empty());
    for s in &stats {
        let dominated = stats.iter().any(|t| {
            t.mean[oi] <= s.mean[oi]
                && t.mean[li] <= s.mean[li]
                && (t.mean[oi] < s.mean[oi] || t.mean[li] < s.mean[li])
        });
        if front.contains(&s.point) {
            assert!(!dominated, "point {} on the front is dominated", s.point);
        } else {
            let same_as_front = front
                .iter()
                .any(|&f| stats[f].mean[oi] == s.mean[oi] && stats[f].mean[li] == s.mean[li]);
            assert!(dominated || same_as_front, "point {} left off", s.point);
        }
    }
    match sim_sweep::best(&plan, &stats) {
        Some(b) => {
            assert!(stats[b].slo_ok());
            assert!(
                stats
                    .iter()
                    .filter(|s| s.slo_ok())
                    .all(|s| s.mean[oi] >= stats[b].mean[oi])
            );
            let text = sim_sweep::best_toml(&plan, &stats, b, None);
            let sc = sim_scenario::load("test_data/plans/best.toml", &text, &Disk).unwrap();
            assert_eq!(sc.spec.slo.min_attainment, Some(0.5));
        }
        None => assert!(stats.iter().all(|s| !s.slo_ok())),
    }
}

#[test]
fn the_journal_round_trips_exactly_and_drops_torn_or_corrupt_lines() {
    let plan = load_text("runs.toml", RUNS);
    let results = run_all(&plan, 2);
    let text: String = results.iter().map(sim_sweep::journal_line).collect();
    let j = sim_sweep::read_journal(&plan, &text);
    assert_eq!(j.dropped, 0);
    assert_eq!(j.results.values().cloned().collect::<Vec<_>>(), results);
    // A torn last line, a flipped digit and a repeated line are all dropped.
    let mut lines: Vec<String> = results.iter().map(sim_sweep::journal_line).collect();
    lines[3] = lines[3].replacen('1', "2", 1);
    lines.push(lines[0].clone());
    let mut damaged: String = lines.concat();
    damaged.push_str(&sim_sweep::journal_line(&results[5])[..20]);
    let j = sim_sweep::read_journal(&plan, &damaged);
    assert_eq!(j.dropped, 3);
    assert_eq!(j.results.len(), results.len() - 1);
    assert!(!j.results.contains_key(&3));
}

#[test]
fn plan_json_round_trips_and_detects_edits() {
    let plan = load_text("runs.toml", RUNS);
    let json = plan.to_json();
    let back = Plan::from_json(&json).unwrap();
    assert_eq!(back.hash, plan.hash);
    assert_eq!(back.points, plan.points);
    assert_eq!(back.slo, plan.slo);
    assert_eq!(back.to_json(), json);
    assert_eq!(back.point_text(3, None), plan.point_text(3, None));
    let edited = json.replace("\"least-outstanding\\\"", "\"random\\\"");
    assert_ne!(edited, json);
    assert!(Plan::from_json(&edited).is_err());
    // A different sweep (another seed list) hashes differently.
    let other = load_text(
        "runs.toml",
        &RUNS.replace("seeds = [1, 2, 3]", "seeds = [1, 2]"),
    );
    assert_ne!(other.hash, plan.hash);
}

/// The committed sample trace at two rate scales and two replica counts: with a budget that
/// cannot hold it, each run reads the trace from its file, and the results are the same.
const TRACE_RUNS: &str = r#"
seeds = [1, 2]
[[axis]]
path = "workload.rate_scale"
values = [1.0, 20.0]
[[axis]]
path = "deployment.replicas"
values = [1, 2]
[base]
[base.run]
duration_s = 30
[base.workload]
kind = "trace"
format = "azure"
path = "../../../../traces/sample-azure.csv"
[base.deployment]
model = "Mistral-7B"
gpu = "H100-SXM"
replicas = 1
"#;

#[test]
fn a_trace_past_the_held_budget_is_read_per_run_with_the_same_results() {
    let plan = load_text("trace_runs.toml", TRACE_RUNS);
    let jobs: Vec<usize> = (0..plan.jobs()).collect();
    let stop = AtomicBool::new(false);
    let held = Runner::new(&plan, &open_trace).unwrap();
    assert_eq!(held.traces_held_and_streamed(), (1, 0));
    let streamed = Runner::with_budget(&plan, &open_trace, 10).unwrap();
    assert_eq!(streamed.traces_held_and_streamed(), (0, 1));
    let a = held.run_jobs(&plan, &jobs, 2, &|_| {}, &stop).unwrap();
    let b = streamed.run_jobs(&plan, &jobs, 2, &|_| {}, &stop).unwrap();
    assert_eq!(a.len(), 8);
    assert_eq!(a, b);
    assert!(a.iter().any(|r| r.values != a[0].values));
}

const CLOSED_LOOP: &str = r#"
[[axis]]
path = "workload.users"
values = [2, 8]

[[axis]]
path = "workload.think_time_s"
values = [0.0, 1.0]

[base]
[base.run]
duration_s = 300
[base.workload]
kind = "closed_loop"
users = 1
path = "../../../../traces/sample-azure.csv"
[base.deployment]
model = "Mistral-7B"
gpu = "H100-SXM"
replicas = 1
"#;

/// Closed-loop keys are sweep axes like any other, and replayed lengths are read per run.
#[test]
fn closed_loop_users_and_think_time_are_axes() {
    let plan = load_text("closed_loop.toml", CLOSED_LOOP);
    assert_eq!(
        points(&plan),
        [
            "workload.users=2, workload.think_time_s=0.0",
            "workload.users=2, workload.think_time_s=1.0",
            "workload.users=8, workload.think_time_s=0.0",
            "workload.users=8, workload.think_time_s=1.0",
        ]
    );
    let results = run_all(&plan, 2);
    let total = plan.metric_index("requests_total").unwrap();
    let e2e = plan.metric_index("completed_e2e_s_mean").unwrap();
    let itl = plan.metric_index("itl_s_p50").unwrap();
    let dur = plan.metric_index("sim_duration_s").unwrap();
    for r in &results {
        assert!(r.values[itl] > 0.0, "{r:?}");
    }
    // With no think time, each user keeps one request in the engine the whole time, until
    // the file's 50 lines run out: Little's law over the busy time.
    for j in [0, 2] {
        let users = [2.0, 8.0][j / 2];
        let v = &results[j].values;
        assert_eq!(v[total], 50.0, "the file holds 50 requests");
        let concurrency = v[total] * v[e2e] / v[dur];
        assert!(concurrency <= users * 1.001, "{concurrency} > {users}");
    }
    // More users finish the file sooner.
    assert!(results[2].values[dur] < results[0].values[dur]);
}
