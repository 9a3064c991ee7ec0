//! Whole simulator runs: the Azure conv trace at four replicas, the same trace rate-scaled ×10
//! at sixteen replicas, the synthetic quickstart, the conv trace step by step (fused decode
//! runs off) for the speedup the fused path buys, an overload in which a million requests
//! pile up in front of two replicas (a run must stay linear in what waits), and a fleet of
//! ten thousand replicas behind a least-outstanding router (a pick must not scan them all).
//! Throughput is in requests.

mod common;

use std::hint::black_box;
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sim_engine::RunReport;
use sim_scenario::{Scenario, WorkloadPlan};

/// One run of `scenario`; `trace` holds the trace file's bytes for a trace workload.
fn run(scenario: &Scenario, trace: Option<&[u8]>) -> RunReport {
    let reader: Option<Box<dyn std::io::BufRead + '_>> =
        trace.map(|bytes| Box::new(Cursor::new(bytes)) as Box<dyn std::io::BufRead + '_>);
    let seed = scenario.seed;
    sim_engine::run(
        &scenario.spec,
        seed,
        scenario.workload.stream(seed, reader),
        &mut (),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", scenario.name))
}

/// The trace bytes of a trace scenario, or `None` (with a note) when the file is absent.
fn trace_bytes(scenario: &Scenario) -> Option<Vec<u8>> {
    let WorkloadPlan::Trace { path, .. } = &scenario.workload else {
        panic!("{} is not a trace scenario", scenario.name);
    };
    if !Path::new(path).exists() {
        skip_note(&scenario.name, path);
        return None;
    }
    Some(std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}")))
}

#[expect(
    clippy::print_stderr,
    reason = "a bench that cannot run says why instead of failing"
)]
fn skip_note(name: &str, path: &str) {
    eprintln!("skipping {name}: trace {path} not found (../shared is absent)");
}

/// Benchmarks one case under `id`, with throughput in requests per run.
fn case(c: &mut Criterion, id: &str, scenario: &Scenario, trace: Option<&[u8]>) {
    let requests = run(scenario, trace).summary.requests_total;
    let mut group = c.benchmark_group("engine");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(requests));
    group.bench_function(id, |b| b.iter(|| black_box(run(scenario, trace))));
    group.finish();
}

/// Replaces exactly one occurrence of `from` in `text`.
///
/// # Panics
/// When `from` does not occur exactly once (the scenario file changed under the bench).
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected exactly one {from:?} in the scenario"
    );
    text.replacen(from, to, 1)
}

fn engine(c: &mut Criterion) {
    let conv = common::load("azure-conv-static", |t| t);
    if let Some(bytes) = trace_bytes(&conv) {
        case(c, "conv_trace_4_replicas", &conv, Some(&bytes));

        let mut stepwise = conv.clone();
        stepwise.spec.engine.fuse_decode_steps = false;
        case(
            c,
            "conv_trace_4_replicas_step_by_step",
            &stepwise,
            Some(&bytes),
        );

        let scaled = common::load("azure-conv-static", |t| {
            let t = replace_once(
                &t,
                "format = \"azure\"\n",
                "format = \"azure\"\nrate_scale = 10\n",
            );
            replace_once(&t, "replicas = 4\n", "replicas = 16\n")
        });
        case(c, "conv_trace_x10_16_replicas", &scaled, Some(&bytes));

        // A mixture of experts with FP8 weights: the fused-MoE fit in every step.
        let moe = common::load("azure-conv-static", |t| {
            let t = replace_once(
                &t,
                "model = \"Mistral-7B\"\n",
                "model = \"Qwen3-30B-A3B\"\n",
            );
            t + "\n[engine]\nquantization = \"fp8\"\n"
        });
        case(c, "conv_trace_4_replicas_moe_fp8", &moe, Some(&bytes));
    }

    let quickstart = common::load("quickstart", |t| t);
    case(c, "quickstart_synthetic_1h", &quickstart, None);

    let overload = common::load_text("overload.toml", &overload());
    case(c, "overload_1m_requests_2_replicas", &overload, None);

    let fleet = common::load_text("fleet.toml", &fleet());
    case(c, "fleet_10000_replicas_least_outstanding", &fleet, None);
}

/// A constant synthetic load of chat-like lengths on warm Mistral-7B/A100 replicas.
fn constant_load(name: &str, run: &str, rate_rps: u32, replicas: u32, routing: &str) -> String {
    format!(
        r#"
name = "{name}"
[run]
{run}
[workload]
kind = "synthetic"
[workload.arrivals]
pattern = "constant"
rate_rps = {rate_rps}
[workload.prompt_tokens]
dist = "uniform"
min_tokens = 100
max_tokens = 1000
[workload.output_tokens]
dist = "uniform"
min_tokens = 20
max_tokens = 200
[deployment]
model = "Mistral-7B"
gpu = "A100-80GB"
replicas = {replicas}
{routing}
"#
    )
}

/// 50,000 requests a second for 20 s on two replicas that serve about 130: nearly all of the
/// million requests wait to the end. Checking every waiting request at each step, and
/// counting the gateway queue at each scrape, once made such runs quadratic (149 s for the
/// fuzzer's 5-million-request case).
fn overload() -> String {
    constant_load(
        "overload",
        "duration_s = 20\ndrain_limit_s = 60",
        50_000,
        2,
        "",
    )
}

/// 5,000 requests a second for 10 s over ten thousand warm replicas. Routing scanned every
/// endpoint per request until the load index; the run took ten times as long.
fn fleet() -> String {
    constant_load(
        "fleet",
        "duration_s = 10",
        5_000,
        10_000,
        "[routing]\npolicy = \"least-outstanding\"",
    )
}

criterion_group!(benches, engine);
criterion_main!(benches);
