//! Engine runs driven by scenario fixtures in `test_data/`: each `NAME.toml` is a scenario and
//! `NAME.expect` lists checks on the summary (`key op value`, one per line). Every fixture is
//! run twice (the bytes of both reports must match) and once more step by step (fused decode
//! runs off), whose latencies must agree with the fused run. The engine's own invariant
//! checkers (conservation, monotone time, KV capacity, Ready-only routing) run inside every run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sim_engine::{LatencyMetric, Progress, RequestRecord, RunReport, Summary};
use sim_scenario::{Files, Scenario};

mod random;

struct Disk;

impl Files for Disk {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        std::fs::read_to_string(path).map_err(|e| e.to_string())
    }
}

fn test_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data")
}

fn load(path: &Path) -> Scenario {
    let text = std::fs::read_to_string(path).unwrap();
    sim_scenario::load(&path.display().to_string(), &text, &Disk).unwrap_or_else(|e| panic!("{e}"))
}

/// A run with its per-request records (as the observer saw them) and progress reports.
struct Run {
    report: RunReport,
    requests: Vec<RequestRecord>,
    progress: Vec<Progress>,
}

#[derive(Default)]
struct Recorder {
    requests: Vec<RequestRecord>,
    progress: Vec<Progress>,
}

impl sim_engine::Observer for Recorder {
    fn request(&mut self, record: &RequestRecord) {
        self.requests.push(record.clone());
    }

    fn progress(&mut self, progress: &Progress) {
        self.progress.push(*progress);
    }
}

fn run(scenario: &Scenario, seed: u64) -> Run {
    let reader: Option<Box<dyn std::io::BufRead>> = scenario.workload.file().map(|path| {
        Box::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
            as Box<dyn std::io::BufRead>
    });
    let mut seen = Recorder::default();
    let report = sim_engine::run(
        &scenario.spec,
        seed,
        scenario.workload.stream(seed, reader),
        &mut seen,
    )
    .unwrap();
    Run {
        report,
        requests: seen.requests,
        progress: seen.progress,
    }
}

/// The summary as `key → number`, with dotted keys for nested values.
fn flatten(s: &Summary) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_string(), v);
    };
    put("requests_total", s.requests_total as f64);
    put("requests_completed", s.requests_completed as f64);
    put("requests_failed", s.requests_failed as f64);
    put(
        "requests_in_flight_at_end",
        s.requests_in_flight_at_end as f64,
    );
    for (f, n) in &s.failures {
        put(&format!("failures.{}", f.name()), *n as f64);
    }
    put("failed_ratio", s.failed_ratio);
    for m in LatencyMetric::ALL {
        let (name, q, p) = (m.name(), s.latency(m), s.completed_latency(m));
        put(&format!("{name}.p50"), q.p50);
        put(&format!("{name}.p90"), q.p90);
        put(&format!("{name}.p99"), q.p99);
        put(&format!("{name}.count"), q.count as f64);
        put(&format!("{name}.unserved"), q.unserved as f64);
        put(&format!("completed_{name}.mean"), p.mean);
        put(&format!("completed_{name}.p50"), p.p50);
        put(&format!("completed_{name}.p90"), p.p90);
        put(&format!("completed_{name}.p99"), p.p99);
        put(&format!("completed_{name}.count"), p.count as f64);
    }
    put("slo_attainment", s.slo_attainment);
    put(
        "slo_checks_failed",
        s.slo_checks.iter().filter(|c| !c.ok).count() as f64,
    );
    put("slo_ok", f64::from(u8::from(s.slo_ok())));
    for c in &s.slo_checks {
        put(&format!("slo_check.{}", c.name), c.actual);
    }
    put("warnings", s.warnings as f64);
    put("gpu_hours", s.gpu_hours);
    put("cost_usd", s.cost_usd);
    put("replicas.min", f64::from(s.replicas.min));
    put("replicas.max", f64::from(s.replicas.max));
    put("replicas.mean", s.replicas.mean);
    put("desired_replicas.min", f64::from(s.desired_replicas.min));
    put("desired_replicas.max", f64::from(s.desired_replicas.max));
    put("desired_replicas.mean", s.desired_replicas.mean);
    put("scale_events", s.scale_events as f64);
    put("scale_events_per_hour", s.scale_events_per_hour);
    put("time_at_max_s", s.time_at_max_s);
    put("time_at_zero_s", s.time_at_zero_s);
    put("sim_duration_s", s.sim_duration_s);
    put("preemptions_total", s.preemptions_total as f64);
    put("recomputed_tokens_total", s.recomputed_tokens_total as f64);
    put("itl_s.mean", s.itl_s.mean);
    put("itl_s.p50", s.itl_s.p50);
    put("itl_s.p90", s.itl_s.p90);
    put("itl_s.p99", s.itl_s.p99);
    put("itl_s.count", s.itl_s.count as f64);
    put("generation_tokens_total", s.generation_tokens_total as f64);
    put("engine_steps_total", s.engine_steps_total as f64);
    m
}

/// Checks an event line: `event <time_s> <Reason> <message substring>` means an event with
/// that reason at that time (to the millisecond) whose line contains the substring.
fn has_event(events: &[String], line: &str) -> Result<(), String> {
    let mut parts = line.splitn(4, ' ');
    let (_, t, reason, text) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next().unwrap_or(""),
    );
    let t: f64 = t
        .ok_or("event needs a time")?
        .parse()
        .map_err(|e| format!("{line}: {e}"))?;
    let reason = reason.ok_or("event needs a reason")?;
    let stamp = format!("{t:.3}s");
    let found = events.iter().any(|e| {
        let mut f = e.split_whitespace();
        f.next() == Some(stamp.as_str()) && f.nth(1) == Some(reason) && e.contains(text)
    });
    if found {
        Ok(())
    } else {
        Err(format!("{line}: no such event in\n{}", events.join("\n")))
    }
}

/// Evaluates one expectation line: `key op value` or `key ~ value tolerance`.
fn holds(values: &BTreeMap<String, f64>, line: &str) -> Result<(), String> {
    let parts: Vec<&str> = line.split_whitespace().collect();
    let (key, op, rhs) = match parts.as_slice() {
        [k, op, v] | [k, op, v, _] => (
            *k,
            *op,
            v.parse::<f64>().map_err(|e| format!("{line}: {e}"))?,
        ),
        _ => return Err(format!("malformed expectation {line:?}")),
    };
    let lhs = *values
        .get(key)
        .ok_or_else(|| format!("unknown key {key}"))?;
    let ok = match op {
        "==" => lhs == rhs,
        "!=" => lhs != rhs,
        "<" => lhs < rhs,
        "<=" => lhs <= rhs,
        ">" => lhs > rhs,
        ">=" => lhs >= rhs,
        "~" => {
            let tol: f64 = parts
                .get(3)
                .ok_or("~ needs a tolerance")?
                .parse()
                .map_err(|e| format!("{e}"))?;
            (lhs - rhs).abs() <= tol
        }
        _ => return Err(format!("unknown operator {op}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{line}: got {lhs}"))
    }
}

fn report_bytes(r: &Run) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}",
        r.report.summary, r.report.timeline, r.requests, r.progress
    )
}

/// Runs one fixture and checks everything said in the module docs.
fn check(name: &str) {
    let dir = test_data();
    let scenario = load(&dir.join(format!("{name}.toml")));
    let seed = scenario.seed;
    let a = run(&scenario, seed);
    let b = run(&scenario, seed);
    assert_eq!(
        report_bytes(&a),
        report_bytes(&b),
        "{name}: two runs differ"
    );

    let mut stepwise = scenario.clone();
    stepwise.spec.engine.fuse_decode_steps = false;
    let c = run(&stepwise, seed);
    let (fa, fc) = (flatten(&a.report.summary), flatten(&c.report.summary));
    for key in [
        "requests_completed",
        "requests_failed",
        "engine_steps_total",
        "preemptions_total",
        "recomputed_tokens_total",
        "itl_s.count",
    ] {
        assert_eq!(
            fa[key], fc[key],
            "{name}: {key} differs between fused and step-by-step"
        );
    }
    for key in [
        "completed_ttft_s.mean",
        "completed_tpot_s.mean",
        "completed_e2e_s.mean",
        "completed_e2e_s.p99",
        "itl_s.mean",
    ] {
        assert!(
            (fa[key] - fc[key]).abs() <= 1e-3 * fc[key].max(1e-3),
            "{name}: {key} {} vs {}",
            fa[key],
            fc[key]
        );
    }

    let expect = std::fs::read_to_string(dir.join(format!("{name}.expect"))).unwrap();
    let failures: Vec<String> = expect
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            if let Some(rest) = l.strip_prefix("condition ") {
                // `condition <Type> <Status> <Reason>` at the end of the run.
                let want: Vec<&str> = rest.split_whitespace().collect();
                let found = a.report.summary.autoscaler_conditions.iter().any(|c| {
                    [c.kind.as_str(), c.status.as_str(), c.reason.as_str()] == want.as_slice()
                });
                (!found)
                    .then(|| format!("{l}: not in {:?}", a.report.summary.autoscaler_conditions))
            } else if l.starts_with("event ") {
                has_event(&a.report.events, l).err()
            } else if let Some(rest) = l.strip_prefix("count ") {
                let (reason, cond) = rest.split_once(' ').unwrap_or((rest, ""));
                let n = a
                    .report
                    .events
                    .iter()
                    .filter(|e| e.split_whitespace().nth(2) == Some(reason))
                    .count();
                let mut v = fa.clone();
                v.insert("count".into(), n as f64);
                holds(&v, &format!("count {cond}"))
                    .err()
                    .map(|e| format!("{reason}: {e}"))
            } else {
                holds(&fa, l).err()
            }
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{name}: failed expectations:\n{}\nsummary: {fa:#?}",
        failures.join("\n")
    );

    // Per-request records (streamed to the observer) agree with the summary, fused or not.
    for (run, how) in [(&a, "fused"), (&c, "step by step")] {
        check_records(run, &format!("{name} ({how})"));
        check_progress(run, &format!("{name} ({how})"));
    }
}

/// Every request reported once, in id order, with outcomes that add up to the summary.
fn check_records(run: &Run, what: &str) {
    let s = &run.report.summary;
    let ids: Vec<u64> = run.requests.iter().map(|r| r.id).collect();
    assert!(
        ids.iter().copied().eq(0..s.requests_total),
        "{what}: records are not ids 0..{} in order",
        s.requests_total
    );
    let count = |f: fn(&sim_engine::Outcome) -> bool| {
        run.requests.iter().filter(|r| f(&r.outcome)).count() as u64
    };
    use sim_engine::Outcome;
    assert_eq!(
        count(|o| *o == Outcome::Completed),
        s.requests_completed,
        "{what}"
    );
    assert_eq!(
        count(|o| matches!(o, Outcome::Failed(_))),
        s.requests_failed,
        "{what}"
    );
    assert_eq!(
        count(|o| *o == Outcome::Unfinished),
        s.requests_in_flight_at_end,
        "{what}"
    );
}

/// Progress is monotone, at most every `PROGRESS_EVERY_EVENTS` events, and ends at the end.
fn check_progress(run: &Run, what: &str) {
    let s = &run.report.summary;
    let p = &run.progress;
    let last = p
        .last()
        .unwrap_or_else(|| panic!("{what}: no progress at the end"));
    assert_eq!(last.sim_time_s, s.sim_duration_s, "{what}");
    assert_eq!(last.requests_arrived, s.requests_total, "{what}");
    assert_eq!(
        last.requests_resolved,
        s.requests_completed + s.requests_failed,
        "{what}"
    );
    assert_eq!(last.events, s.events_total, "{what}");
    for w in p.windows(2) {
        let (x, y) = (&w[0], &w[1]);
        assert!(
            x.sim_time_s <= y.sim_time_s
                && x.requests_arrived <= y.requests_arrived
                && x.requests_resolved <= y.requests_resolved
                && x.events <= y.events,
            "{what}: progress went back: {x:?} then {y:?}"
        );
    }
    let mid = &p[..p.len() - 1];
    assert_eq!(
        mid.len() as u64,
        s.events_total / sim_engine::PROGRESS_EVERY_EVENTS,
        "{what}"
    );
    for (k, x) in mid.iter().enumerate() {
        assert_eq!(
            x.events,
            (k as u64 + 1) * sim_engine::PROGRESS_EVERY_EVENTS,
            "{what}"
        );
    }
}

#[test]
fn closed_loop_bench_fixture() {
    check("closed_loop_bench");
}

#[test]
fn closed_loop_with_think_time_and_ramp() {
    check("closed_loop_think");
}

/// The done-when of closed-loop clients: N users with no think time at fixed lengths behave
/// as `vllm bench serve --max-concurrency N`. Concurrency in the engine stays N, throughput
/// is N over the mean end-to-end latency (Little's law), and TPOT and ITL are the engine's
/// decode step time at batch N.
#[test]
fn closed_loop_matches_a_max_concurrency_benchmark() {
    let scenario = load(&test_data().join("closed_loop_bench.toml"));
    let users = 8u32;
    let prompt = 512.0;
    let r = run(&scenario, scenario.seed);
    let s = &r.report.summary;
    assert_eq!(s.requests_completed, 160);

    // Every timeline row but the last (after the final round) sees exactly N in the engine.
    let rows = &r.report.timeline;
    assert!(rows.len() > 3, "{} rows", rows.len());
    for row in &rows[..rows.len() - 1] {
        assert_eq!(
            row.running + row.waiting + row.gateway_queue,
            users,
            "at {} s",
            row.t_s
        );
    }
    assert_eq!(rows.last().map(|r| r.running + r.waiting), Some(0));

    // Little's law over the benchmark: from the first send to the last completion.
    let end_s = r
        .requests
        .iter()
        .map(|q| q.arrival_s + q.e2e_s.expect("completed"))
        .fold(0.0, f64::max);
    let throughput_rps = s.requests_completed as f64 / end_s;
    let mean_e2e_s = s.completed_e2e_s.mean;
    let concurrency = throughput_rps * mean_e2e_s;
    assert!(
        (concurrency / f64::from(users) - 1.0).abs() < 0.01,
        "throughput {throughput_rps} × mean e2e {mean_e2e_s} = {concurrency}, not {users}"
    );

    // Gaps come from decode steps of the whole batch, except the one or two a round where
    // the next requests' prefill joins the step (as with vLLM's chunked prefill). Decode
    // step j of a batch of N lasts a + b·N·(prompt + j − 1): contexts grow by one a step.
    let (a, b) = scenario.spec.perf.decode_affine(users);
    let step_s = |j: f64| a + b * f64::from(users) * (prompt + j - 1.0);
    let itl = &s.itl_s;
    assert_eq!(itl.count, 160 * 127);
    let tolerance = 1.0 / 256.0;
    assert!(
        itl.p50 >= step_s(1.0) * (1.0 - tolerance) && itl.p50 <= step_s(127.0) * (1.0 + tolerance),
        "ITL p50 {} outside the decode steps [{}, {}]",
        itl.p50,
        step_s(1.0),
        step_s(127.0)
    );
    let mid_step_s = step_s(64.0);
    assert!(
        (itl.p50 / mid_step_s - 1.0).abs() < 0.02,
        "ITL p50 {} vs the middle decode step {mid_step_s}",
        itl.p50
    );
    // One gap in 127 holds a prefill stall: too few to move p99, enough to lift the mean.
    assert!(itl.p99 >= itl.p50 && itl.mean > itl.p50 * 1.001, "{itl:?}");
    // A request's gaps add up to its decode time, so with equal output lengths the pooled
    // ITL mean is the TPOT mean.
    let tpot = &s.completed_tpot_s;
    assert!(
        (tpot.mean / itl.mean - 1.0).abs() < 1e-4,
        "TPOT {} vs ITL {}",
        tpot.mean,
        itl.mean
    );
    // A user's next request starts at once, so TTFT is a prefill step or two.
    assert!(
        s.completed_ttft_s.p99 < 0.2 * s.completed_e2e_s.p50,
        "{s:?}"
    );
}

#[test]
fn steady_load_on_warm_replicas() {
    check("steady");
}

#[test]
fn cold_start_with_fail_fast_service() {
    check("cold_fail");
}

#[test]
fn cold_start_with_gateway_queue() {
    check("cold_queue");
}

#[test]
fn overload_preempts_and_clients_time_out() {
    check("overload");
}

#[test]
fn prompts_longer_than_the_context_are_rejected() {
    check("context_length");
}

#[test]
fn pending_pods_wait_for_node_provisioning() {
    check("node_provisioning");
}

#[test]
fn early_readiness_sends_requests_to_a_loading_server() {
    check("early_readiness");
}

#[test]
fn round_robin_spreads_a_trace_evenly() {
    check("trace_round_robin");
}

#[test]
fn hpa_scales_up_a_load_step_at_the_hand_derived_syncs() {
    check("hpa_step");
}

#[test]
fn keda_hpa_jumps_to_the_proposal_on_the_first_sync() {
    check("keda_step");
}

#[test]
fn keda_scales_to_zero_after_the_cooldown_and_wakes_on_the_gateway_queue() {
    check("keda_zero");
}

#[test]
fn troubleshooting_metric_not_scraped_leaves_the_hpa_blind() {
    check("ts_metric_not_scraped");
}

#[test]
fn troubleshooting_threshold_too_high_never_scales() {
    check("ts_threshold_too_high");
}

#[test]
fn troubleshooting_keda_falls_back_when_the_metric_is_missing() {
    check("ts_keda_fallback");
}

#[test]
fn troubleshooting_no_stabilization_flaps_and_a_window_stops_it() {
    check("ts_flapping");
    check("ts_stabilized");
}

#[test]
fn keda_at_zero_behind_a_plain_service_fails_requests_and_never_wakes() {
    check("keda_zero_fail");
}

#[test]
fn the_adapter_serves_a_new_metric_only_after_its_next_relist() {
    check("adapter_relist");
}

#[test]
fn a_run_that_serves_nobody_fails_every_objective() {
    check("zero_replicas_slo");
}

#[test]
fn failed_requests_are_infinite_latencies_in_the_slo() {
    check("cold_fail_slo");
}

#[test]
fn a_pileup_stops_at_the_held_bound() {
    let s = load(&test_data().join("pileup.toml"));
    let stream = || s.workload.stream(1, None);
    // Within the bound the run ends at the horizon with the pile-up in flight.
    let report = sim_engine::run_holding(&s.spec, 1, stream(), &mut (), 5_000).unwrap();
    assert!(report.summary.requests_in_flight_at_end > 1_000);
    assert!(report.summary.stopped_at_s.is_none());
    assert!(report.summary.requests_held_peak > 1_000);
    let held = |r: &sim_engine::RunReport| {
        r.summary
            .slo_checks
            .iter()
            .find(|c| c.name == sim_engine::HELD_CHECK)
            .cloned()
            .expect("every run checks what it held")
    };
    assert!(held(&report).ok);
    // Past it the run stops there instead of growing: a verdict, not an error. What it
    // held counts as unfinished, and the held check says why the run failed.
    let stopped = sim_engine::run_holding(&s.spec, 1, stream(), &mut (), 1_000).unwrap();
    let sum = &stopped.summary;
    let at_s = sum.stopped_at_s.expect("stopped early");
    assert!(at_s < report.summary.sim_duration_s, "{at_s}");
    assert_eq!(sum.sim_duration_s, at_s);
    assert_eq!(sum.requests_held_peak, 1_001);
    assert_eq!(
        sum.requests_total,
        sum.requests_completed + sum.requests_failed + sum.requests_in_flight_at_end
    );
    assert!(sum.requests_in_flight_at_end > 900, "{sum:?}");
    assert!(sum.requests_total < report.summary.requests_total);
    let check = held(&stopped);
    assert!(!check.ok);
    assert!(
        check.describe().contains("the run stopped there"),
        "{}",
        check.describe()
    );
    assert!(
        sum.slo_checks
            .iter()
            .any(|c| c.name == "failed_ratio" && !c.ok)
    );
}

#[test]
fn records_stream_as_requests_resolve_and_the_table_drops_them() {
    // The observer sees records during the run, not at its end.
    #[derive(Default)]
    struct Seen {
        records: u64,
        at_progress: Vec<(u64, Progress)>,
    }
    impl sim_engine::Observer for Seen {
        fn request(&mut self, _r: &RequestRecord) {
            self.records += 1;
        }
        fn progress(&mut self, p: &Progress) {
            self.at_progress.push((self.records, *p));
        }
    }
    let mut s = load(&test_data().join("steady.toml"));
    // Step by step for enough events to get progress reports mid-run.
    s.spec.engine.fuse_decode_steps = false;
    let mut seen = Seen::default();
    // About 2,400 requests of which a few dozen are in flight at once: a bound of 200 holds
    // only because resolved requests leave the table even though every record is observed.
    let report = sim_engine::run_holding(
        &s.spec,
        s.seed,
        s.workload.stream(s.seed, None),
        &mut seen,
        200,
    )
    .unwrap();
    let total = report.summary.requests_total;
    assert!(total > 2_000, "{total}");
    assert_eq!(seen.records, total);
    let (mid_records, mid) = seen.at_progress[0];
    assert!(seen.at_progress.len() > 2, "{}", seen.at_progress.len());
    assert!(mid.requests_arrived < total, "{mid:?}");
    assert!(
        mid_records > 0 && mid_records <= mid.requests_resolved,
        "{mid_records} records by {mid:?}"
    );
}

#[test]
fn an_observer_that_cannot_go_on_stops_the_run_soon_after() {
    // Stands for a requests.csv writer whose disk filled after 100 records.
    #[derive(Default)]
    struct GivesUp {
        records: u64,
    }
    impl sim_engine::Observer for GivesUp {
        fn request(&mut self, _r: &RequestRecord) {
            self.records += 1;
        }
        fn stopped(&self) -> bool {
            self.records >= 100
        }
    }
    let mut s = load(&test_data().join("steady.toml"));
    s.spec.engine.fuse_decode_steps = false;
    let total = sim_engine::run(&s.spec, s.seed, s.workload.stream(s.seed, None), &mut ())
        .unwrap()
        .summary
        .requests_total;
    let mut obs = GivesUp::default();
    let err =
        sim_engine::run(&s.spec, s.seed, s.workload.stream(s.seed, None), &mut obs).unwrap_err();
    assert!(matches!(err, sim_engine::RunError::Stopped), "{err}");
    // Within about a thousand events of the 100th record, far from the end of the run.
    assert!(obs.records < total / 4, "{} of {total}", obs.records);
}

/// A stop at the held bound at the very instant of a timeline tick folds into that row:
/// rows stay strictly increasing in time and their arrivals add up to the requests.
#[test]
fn a_stop_on_a_tick_adds_no_second_row_at_that_instant() {
    let mut s = load(&test_data().join("pileup.toml"));
    s.spec.duration_s = Some(60.0);
    s.spec.timeline_interval_s = 10.0;
    // 3,000 requests all at t = 10 s: the first arrives before the tick at 10 s, the rest
    // after it, and the 1,001st held stops the run.
    let burst: sim_workload::RequestStream<'_> = Box::new((0..3_000u64).map(|id| {
        Ok(sim_workload::Request {
            id,
            arrival: sim_des::SimTime::from_secs(10),
            prompt_tokens: 100,
            output_tokens: 10,
        })
    }));
    let report = sim_engine::run_holding(&s.spec, 1, burst, &mut (), 1_000).unwrap();
    assert_eq!(report.summary.stopped_at_s, Some(10.0));
    let times: Vec<f64> = report.timeline.iter().map(|r| r.t_s).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let arrivals: u64 = report.timeline.iter().map(|r| r.arrivals).sum();
    assert_eq!(arrivals, report.summary.requests_total);
    assert_eq!(report.summary.requests_total, 1_001);
}
