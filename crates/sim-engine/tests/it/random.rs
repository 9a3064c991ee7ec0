//! Random small scenarios: whatever the settings, a run must finish without tripping the
//! engine's invariant checkers (conservation, monotone time, KV capacity, Ready-only routing,
//! replicas within the autoscaler's bounds), and fused decode runs must make exactly the same
//! scheduling decisions as step-by-step simulation.

use proptest::prelude::*;

use super::{Disk, run};

#[derive(Debug, Clone)]
struct Case {
    gpu: &'static str,
    replicas: u32,
    rate_rps: f64,
    prompt_max: u32,
    output_max: u32,
    kv_blocks: Option<u32>,
    max_num_seqs: u32,
    routing: &'static str,
    queue: bool,
    client_timeout_s: Option<u32>,
    cold: bool,
    autoscaler: u8,
    threshold: u32,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        (
            prop::sample::select(vec!["H100-SXM", "A100-80GB", "L4", "A10G"]),
            1u32..=3,
            0.2f64..12.0,
        ),
        (
            16u32..3000,
            2u32..600,
            prop::option::of(300u32..2000),
            1u32..64,
        ),
        (
            prop::sample::select(vec!["random", "round-robin", "least-outstanding"]),
            any::<bool>(),
        ),
        (
            prop::option::of(5u32..60),
            any::<bool>(),
            0u8..3,
            1u32..20,
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (gpu, replicas, rate_rps),
                (prompt_max, output_max, kv_blocks, max_num_seqs),
                (routing, queue),
                (client_timeout_s, cold, autoscaler, threshold, seed),
            )| Case {
                gpu,
                replicas,
                rate_rps,
                prompt_max,
                output_max,
                kv_blocks,
                max_num_seqs,
                routing,
                queue,
                client_timeout_s,
                cold,
                autoscaler,
                threshold,
                seed,
            },
        )
}

fn scenario_text(c: &Case) -> String {
    let mut t = format!(
        "seed = {seed}\n[run]\nduration_s = 90\ndrain_limit_s = 60\ntimeline_interval_s = 7\n\
         [workload]\nkind = \"synthetic\"\n[workload.arrivals]\npattern = \"constant\"\nrate_rps = {rate}\ncv = 2.0\n\
         [workload.prompt_tokens]\ndist = \"uniform\"\nmin_tokens = 1\nmax_tokens = {pmax}\n\
         [workload.output_tokens]\ndist = \"uniform\"\nmin_tokens = 1\nmax_tokens = {omax}\n\
         [deployment]\nmodel = \"Llama-3-8B\"\ngpu = \"{gpu}\"\nreplicas = {replicas}\ninitial_state = \"{state}\"\n\
         [startup]\ntotal_s = {{ dist = \"uniform\", min_s = 5, max_s = 20 }}\n[readiness]\nperiod_s = 2\n\
         [engine]\nmax_model_len = 4096\nmax_num_seqs = {seqs}\n",
        seed = c.seed,
        rate = c.rate_rps,
        pmax = c.prompt_max,
        omax = c.output_max,
        gpu = c.gpu,
        replicas = c.replicas,
        state = if c.cold { "cold" } else { "ready" },
        seqs = c.max_num_seqs,
    );
    if let Some(b) = c.kv_blocks {
        t += &format!("num_gpu_blocks_override = {b}\n");
    }
    t += &format!("[routing]\npolicy = \"{}\"\n", c.routing);
    if c.queue {
        t += "no_endpoint = \"queue\"\ngateway_timeout_s = 30\n";
    }
    if let Some(s) = c.client_timeout_s {
        t += &format!("client_timeout_s = {s}\n");
    }
    match c.autoscaler {
        1 => {
            t += &format!(
                "[prometheus]\nscrape_interval_s = 5\n[hpa]\nmin_replicas = 1\nmax_replicas = 4\n\
                 [hpa.controller]\nsync_period_s = 5\n[[hpa.metrics]]\ntype = \"pods\"\n\
                 metric = \"vllm_num_requests_waiting\"\ntarget_average_value = {}\n\
                 [hpa.behavior.scale_down]\nstabilization_window_s = 0\n",
                c.threshold
            );
        }
        2 => {
            t += &format!(
                "[prometheus]\nscrape_interval_s = 5\n[keda]\nmin_replica_count = 0\nmax_replica_count = 4\n\
                 polling_interval_s = 5\ncooldown_period_s = 20\n[[keda.triggers]]\ntype = \"prometheus\"\n\
                 query = \"sum(vllm:num_requests_running) + sum(gateway_queue_requests)\"\nthreshold = {}\n",
                c.threshold
            );
        }
        _ => {}
    }
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_203), .. ProptestConfig::default() })]

    #[test]
    fn random_scenarios_keep_every_invariant(c in case()) {
        let text = scenario_text(&c);
        let scenario = match sim_scenario::load("random.toml", &text, &Disk) {
            Ok(s) => s,
            // Some draws are invalid on purpose (a KV override smaller than max_model_len):
            // they must be rejected cleanly, never panic.
            Err(e) => {
                prop_assert!(e.line.is_some(), "{e}");
                return Ok(());
            }
        };
        let fused = run(&scenario, c.seed);
        let mut stepwise = scenario.clone();
        stepwise.spec.engine.fuse_decode_steps = false;
        let step = run(&stepwise, c.seed);
        super::check_records(&fused, &text);
        super::check_records(&step, &text);
        let (a, b) = (&fused.report.summary, &step.report.summary);
        prop_assert_eq!(a.requests_total, a.requests_completed + a.requests_failed + a.requests_in_flight_at_end);
        prop_assert_eq!(a.engine_steps_total, b.engine_steps_total, "{}", text);
        prop_assert_eq!(a.preemptions_total, b.preemptions_total);
        prop_assert_eq!(a.requests_completed, b.requests_completed);
        prop_assert_eq!(&a.failures, &b.failures);
        // Decode steps take the same integer time on both paths: every record is identical.
        prop_assert_eq!(fused.requests.len(), step.requests.len());
        for (x, y) in fused.requests.iter().zip(&step.requests) {
            prop_assert_eq!(format!("{x:?}"), format!("{y:?}"));
        }
    }
}

/// A case the random test drew on 2026-12-03: fused decode runs ran 9,049 engine steps where
/// step-by-step simulation ran 9,047. A run's step ends were the rounded sum of its continuous
/// step times while single steps rounded each step, so the two drifted apart by nanoseconds a
/// step until a client timeout fell between them. Decode steps now take the same integer time
/// on both paths (`replica::DecodeFx`), so every record must match exactly.
#[test]
fn fused_and_stepwise_agree_on_a_case_with_client_timeouts() {
    let c = Case {
        gpu: "A100-80GB",
        replicas: 1,
        rate_rps: 6.550042959514472,
        prompt_max: 1350,
        output_max: 79,
        kv_blocks: None,
        max_num_seqs: 1,
        routing: "random",
        queue: false,
        client_timeout_s: Some(33),
        cold: false,
        autoscaler: 2,
        threshold: 1,
        seed: 6_183_136_677_200_814_421,
    };
    let text = scenario_text(&c);
    let scenario = sim_scenario::load("random.toml", &text, &Disk).unwrap();
    let fused = run(&scenario, c.seed);
    let mut stepwise = scenario.clone();
    stepwise.spec.engine.fuse_decode_steps = false;
    let step = run(&stepwise, c.seed);
    assert_eq!(
        fused.report.summary.engine_steps_total,
        step.report.summary.engine_steps_total
    );
    assert_eq!(fused.requests.len(), step.requests.len());
    for (a, b) in fused.requests.iter().zip(&step.requests) {
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}

/// The random case's open-loop workload replaced by a closed loop of `users`.
fn closed_loop_text(c: &Case, users: u32, think_s: f64, cv: f64, ramp_s: f64) -> String {
    let text = scenario_text(c);
    let (head, rest) = text.split_once("[workload]\n").expect("a workload table");
    let (_, tail) = rest
        .split_once("[deployment]\n")
        .expect("a deployment table");
    format!(
        "{head}[workload]\nkind = \"closed_loop\"\nusers = {users}\nthink_time_s = {think_s}\n\
         think_time_cv = {cv}\nramp_up_s = {ramp_s}\nretry_delay_s = 0.5\n\
         prompt_tokens = {{ dist = \"uniform\", min_tokens = 1, max_tokens = {pmax} }}\n\
         output_tokens = {{ dist = \"uniform\", min_tokens = 1, max_tokens = {omax} }}\n\
         [deployment]\n{tail}",
        pmax = c.prompt_max,
        omax = c.output_max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_204), .. ProptestConfig::default() })]

    /// Closed loops under cold starts, timeouts, failures and autoscalers: the invariants
    /// hold (a user never has two requests in flight is checked inside the run), the engines
    /// never hold more than the users, and fused and step-by-step runs agree.
    #[test]
    fn random_closed_loops_keep_every_invariant(
        c in case(),
        users in 1u32..48,
        think_s in prop::sample::select(vec![0.0, 0.3, 4.0]),
        cv in prop::sample::select(vec![0.0, 1.0, 3.0]),
        ramp_s in prop::sample::select(vec![0.0, 20.0]),
    ) {
        let text = closed_loop_text(&c, users, think_s, cv, ramp_s);
        let scenario = match sim_scenario::load("random.toml", &text, &Disk) {
            Ok(s) => s,
            Err(e) => {
                prop_assert!(e.line.is_some(), "{e}");
                return Ok(());
            }
        };
        let fused = run(&scenario, c.seed);
        let mut stepwise = scenario.clone();
        stepwise.spec.engine.fuse_decode_steps = false;
        let step = run(&stepwise, c.seed);
        super::check_records(&fused, &text);
        super::check_records(&step, &text);
        for row in &fused.report.timeline {
            prop_assert!(row.running + row.waiting + row.gateway_queue <= users, "{}", text);
        }
        let (a, b) = (&fused.report.summary, &step.report.summary);
        prop_assert_eq!(a.requests_total, b.requests_total, "{}", text);
        prop_assert_eq!(a.engine_steps_total, b.engine_steps_total, "{}", text);
        prop_assert_eq!(a.requests_completed, b.requests_completed);
        prop_assert_eq!(&a.failures, &b.failures);
        prop_assert_eq!(a.itl_s.count, b.itl_s.count);
        prop_assert!((a.itl_s.mean - b.itl_s.mean).abs() <= 1e-6 * b.itl_s.mean.max(1e-3), "{}", text);
    }
}
