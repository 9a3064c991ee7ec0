//! Mutated scenarios never panic: every value of a rich scenario (HPA, KEDA-free) is replaced
//! in turn by random numbers, strings, booleans and arrays; `load` must answer with a
//! scenario or one positioned error, nothing else.

use proptest::prelude::*;
use sim_scenario::Files;

struct NoFiles;

impl Files for NoFiles {
    fn read_to_string(&self, path: &str) -> Result<String, String> {
        Err(format!("{path}: not available in this test"))
    }
}

const BASE: &str = r#"name = "m"
seed = 3
[run]
duration_s = 60
timeline_interval_s = 5
drain_limit_s = 10
[workload]
kind = "synthetic"
rate_scale = 1.5
offset_s = 2
[workload.arrivals]
pattern = "spike"
base_rps = 2
spike_rps = 9
start_s = 10
duration_s = 5
cv = 1.5
[workload.prompt_tokens]
dist = "lognormal"
p50_tokens = 500
p99_tokens = 3000
max_tokens = 6000
[workload.output_tokens]
dist = "uniform"
min_tokens = 10
max_tokens = 300
[deployment]
model = "Llama-3-8B"
gpu = "A100-80GB"
tensor_parallel = 1
replicas = 2
termination_grace_s = 20
[engine]
max_num_seqs = 128
max_num_batched_tokens = 4096
gpu_memory_utilization = 0.85
max_model_len = 8192
[startup]
total_s = { dist = "uniform", min_s = 30, max_s = 90 }
[readiness]
initial_delay_s = 5
period_s = 5
[cluster]
gpus_per_node = 8
max_nodes = 4
[routing]
policy = "least-outstanding"
no_endpoint = "queue"
gateway_timeout_s = 60
client_timeout_s = 120
[slo]
ttft_s = 2
ttft_s_p99 = 4
[prometheus]
scrape_interval_s = 15
[hpa]
min_replicas = 1
max_replicas = 6
[[hpa.metrics]]
type = "pods"
metric = "vllm_num_requests_waiting"
target_average_value = 5
[hpa.behavior.scale_up]
stabilization_window_s = 30
policies = [{ type = "Pods", value = 2, period_s = 60 }]
"#;

/// Byte ranges of every value (right of `=`) in BASE.
fn value_spans() -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut offset = 0;
    for line in BASE.split_inclusive('\n') {
        if let Some(eq) = line.find(" = ") {
            let start = offset + eq + 3;
            let end = offset + line.trim_end_matches('\n').len();
            out.push((start, end));
        }
        offset += line.len();
    }
    out
}

fn replacement() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|v| v.to_string()),
        any::<f64>().prop_map(|v| if v.is_finite() {
            format!("{v:?}")
        } else {
            "nan".to_string()
        }),
        prop::sample::select(vec![
            "0", "-1", "0.0", "1e308", "-inf", "inf", "true", "\"\"", "\"x\"", "[]", "[1, 2]", "{}"
        ])
        .prop_map(str::to_string),
        "[a-z_]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(20_261_203), .. ProptestConfig::default() })]

    #[test]
    fn any_single_value_change_loads_or_errors_with_a_position(idx in 0usize..1000, value in replacement()) {
        let spans = value_spans();
        let (start, end) = spans[idx % spans.len()];
        let text = format!("{}{}{}", &BASE[..start], value, &BASE[end..]);
        match sim_scenario::load("m.toml", &text, &NoFiles) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.line.is_some(), "no position for {value:?} at {start}: {e}"),
        }
    }
}

#[test]
fn the_base_scenario_loads() {
    sim_scenario::load("m.toml", BASE, &NoFiles).unwrap();
}
