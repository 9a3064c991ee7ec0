//! Scenario files as test data, driven by one `check` helper.
//!
//! Every `test_data/bad/*.toml` starts with `# error: <file>:<line>:<col>: <message part>`
//! (or `# error: <file>: <message part>` when there is no position): loading it must fail
//! with exactly that place and a message containing that part. Every
//! `test_data/good/*.toml` must load; its `# expect: <key> = <value>` lines name values the
//! lowering resolved (see `resolved`). Files a scenario names (catalogs, traces) are read
//! from disk relative to `test_data`, as the CLI reads them relative to its working folder.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use sim_scenario::{Files, Scenario, WorkloadPlan};
use sim_workload::LengthDist;

fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

/// Reads files below `test_data`, as the CLI reads them below its working folder.
struct Disk {
    root: PathBuf,
}

impl Files for Disk {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(self.root.join(path)).map_err(|e| e.to_string())
    }

    fn open(&self, path: &str) -> Result<Box<dyn std::io::BufRead + '_>, String> {
        let file = std::fs::File::open(self.root.join(path)).map_err(|e| e.to_string())?;
        Ok(Box::new(std::io::BufReader::new(file)))
    }
}

/// A value the lowering resolved, by the name a good file's `# expect:` line uses.
fn resolved(s: &Scenario, key: &str) -> Option<String> {
    let r = &s.resolved;
    let spec = &s.spec;
    let length = |d: &LengthDist| match d {
        LengthDist::Empirical { samples } => format!("Empirical({} samples)", samples.len()),
        LengthDist::Quantiles { points } => format!("Quantiles({} points)", points.len()),
        other => format!("{other:?}"),
    };
    Some(match key {
        "name" => s.name.clone(),
        "seed" => s.seed.to_string(),
        "gpu" => spec.gpu.name.clone(),
        "model" => spec.model.name.clone(),
        "weight_bytes_per_param" => spec.model.weight_bytes_per_param.to_string(),
        "kv_bytes_per_elem" => spec.model.kv_bytes_per_elem.to_string(),
        "tp" => spec.tp.to_string(),
        "max_num_seqs" => r.max_num_seqs.to_string(),
        "max_num_batched_tokens" => r.max_num_batched_tokens.to_string(),
        "max_model_len" => r.max_model_len.to_string(),
        "num_gpu_blocks" => r.num_gpu_blocks.to_string(),
        "kv_cache_tokens" => r.kv_cache_tokens.to_string(),
        "block_size_tokens" => spec.engine.block_size_tokens.to_string(),
        "fuse_decode_steps" => spec.engine.fuse_decode_steps.to_string(),
        "usd_per_gpu_hour" => r.usd_per_gpu_hour.to_string(),
        "replicas" => spec.pods.replicas.to_string(),
        "initial_ready" => spec.pods.initial_ready.to_string(),
        "termination_grace_s" => spec.pods.termination_grace_s.to_string(),
        "startup" => format!("{:?}", spec.pods.startup),
        "readiness" => format!("{:?}", spec.pods.readiness),
        "gpus_per_node" => spec.cluster.gpus_per_node.to_string(),
        "nodes" => r.nodes.to_string(),
        "max_nodes" => r.max_nodes.to_string(),
        "node_provision" => format!("{:?}", spec.cluster.node_provision),
        "policy" => format!("{:?}", spec.routing.policy),
        "no_endpoint" => format!("{:?}", spec.routing.no_endpoint),
        "client_timeout_s" => format!("{:?}", spec.routing.client_timeout_s),
        "slo" => format!("{:?}", spec.slo),
        "duration_s" => format!("{:?}", spec.duration_s),
        "drain_limit_s" => spec.drain_limit_s.to_string(),
        "timeline_interval_s" => spec.timeline_interval_s.to_string(),
        "workload" => match &s.workload {
            WorkloadPlan::Synthetic { .. } => "synthetic".to_string(),
            WorkloadPlan::Trace { path, format, .. } => format!("trace {format:?} {path}"),
            WorkloadPlan::ClosedLoop { replay: None, .. } => "closed_loop".to_string(),
            WorkloadPlan::ClosedLoop {
                replay: Some((path, format)),
                ..
            } => format!("closed_loop replaying {format:?} {path}"),
        },
        "transform" => match &s.workload {
            WorkloadPlan::Synthetic { transform, .. } | WorkloadPlan::Trace { transform, .. } => {
                format!("{transform:?}")
            }
            WorkloadPlan::ClosedLoop { .. } => "none".to_string(),
        },
        "clients" => match &s.workload {
            WorkloadPlan::ClosedLoop { spec, .. } => format!(
                "users {} think {} s cv {} ramp {} s max {:?} retry {} s",
                spec.users,
                spec.think_time_s,
                spec.think_time_cv,
                spec.ramp_up_s,
                spec.max_requests,
                spec.retry_delay_s
            ),
            _ => "open loop".to_string(),
        },
        "client_lengths" => match &s.workload {
            WorkloadPlan::ClosedLoop { spec, .. } => match &spec.lengths {
                sim_workload::ClientLengths::Synthetic {
                    prompt_tokens,
                    output_tokens,
                } => format!("{} / {}", length(prompt_tokens), length(output_tokens)),
                sim_workload::ClientLengths::Replay => "replay".to_string(),
            },
            _ => "open loop".to_string(),
        },
        "warnings" if s.warnings.is_empty() => "none".to_string(),
        "warnings" => s
            .warnings
            .iter()
            .map(|w| w.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
        "arrivals" | "arrival_cv" | "prompt_tokens" | "output_tokens" => match &s.workload {
            WorkloadPlan::Synthetic { spec, .. } => match key {
                "arrivals" => match &spec.rate {
                    sim_workload::RateProfile::Piecewise { step_s, rates_rps } => {
                        format!("Piecewise({} steps of {step_s} s)", rates_rps.len())
                    }
                    other => format!("{other:?}"),
                },
                "arrival_cv" => spec.arrival_cv.to_string(),
                "prompt_tokens" => length(&spec.prompt_tokens),
                _ => length(&spec.output_tokens),
            },
            WorkloadPlan::Trace { .. } => "trace".to_string(),
            WorkloadPlan::ClosedLoop { .. } => "closed_loop".to_string(),
        },
        _ => return None,
    })
}

/// Loads one file below `test_data` and compares the outcome with its directives. Returns a
/// description of every mismatch.
fn check(rel: &str) -> Result<(), String> {
    let root = test_data();
    let text = std::fs::read_to_string(root.join(rel)).map_err(|e| format!("{rel}: {e}"))?;
    let files = Disk { root };
    let outcome = catch_unwind(AssertUnwindSafe(|| sim_scenario::load(rel, &text, &files)))
        .map_err(|_| format!("{rel}: load panicked"))?;
    let error_line = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("# error: "));
    let expects: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .collect();
    match (error_line, outcome) {
        (Some(expected), Err(e)) => {
            let (place, part) = expected
                .split_once(": ")
                .ok_or_else(|| format!("{rel}: the error line needs `<place>: <message part>`"))?;
            let got = e.to_string();
            if got.starts_with(&format!("{place}: ")) && e.message.contains(part) {
                Ok(())
            } else {
                Err(format!("{rel}:\n  expected {expected}\n  got      {got}"))
            }
        }
        (Some(expected), Ok(_)) => Err(format!("{rel}: loaded, expected {expected}")),
        (None, Err(e)) => Err(format!("{rel}: expected to load, got {e}")),
        (None, Ok(s)) => {
            if expects.is_empty() {
                return Err(format!("{rel}: a good file needs `# expect:` lines"));
            }
            let mut wrong = Vec::new();
            for line in expects {
                let Some((key, want)) = line.split_once(" = ") else {
                    wrong.push(format!("  malformed `# expect: {line}`"));
                    continue;
                };
                match resolved(&s, key) {
                    Some(got) if got == want => {}
                    Some(got) => wrong.push(format!("  {key}: expected {want}, got {got}")),
                    None => wrong.push(format!("  unknown expect key {key}")),
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(format!("{rel}:\n{}", wrong.join("\n")))
            }
        }
    }
}

/// Checks every `*.toml` directly inside `test_data/<dir>`, reporting all failures at once.
fn check_dir(dir: &str, at_least: usize) {
    let mut names: Vec<String> = std::fs::read_dir(test_data().join(dir))
        .expect("the test_data folder")
        .map(|e| e.expect("a folder entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .map(|p| file_name(&p))
        .collect();
    names.sort();
    assert!(
        names.len() >= at_least,
        "only {} files in test_data/{dir}",
        names.len()
    );
    let failures: Vec<String> = names
        .iter()
        .filter_map(|n| check(&format!("{dir}/{n}")).err())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} files failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn bad_scenarios_fail_with_the_error_they_name() {
    check_dir("bad", 30);
}

#[test]
fn good_scenarios_load_with_the_values_they_name() {
    check_dir("good", 3);
}

/// An error the run finds in the traffic as a whole (more requests than a run simulates)
/// points at the scenario's `[workload]` table; one with a line stays in the trace.
#[test]
fn run_errors_name_the_workload_or_the_trace_line() {
    let rel = "good/trace_window.toml";
    let text = std::fs::read_to_string(test_data().join(rel)).unwrap();
    let s = sim_scenario::load(rel, &text, &Disk { root: test_data() }).unwrap();
    let line = text
        .lines()
        .position(|l| l.trim() == "[workload]")
        .expect("the fixture has a [workload] table")
        + 1;
    let whole = sim_workload::TraceError::Invalid("too many requests".into());
    assert_eq!(
        s.run_error(Some("files/t.csv"), &whole).to_string(),
        format!("{rel}:{line}:2: invalid workload: too many requests")
    );
    let at_line = sim_workload::TraceError::Parse {
        line: 7,
        column: 3,
        message: "arrival goes backwards".into(),
    };
    assert_eq!(
        s.run_error(Some("files/t.csv"), &at_line).to_string(),
        "files/t.csv:7:3: arrival goes backwards"
    );
}
