//! Calibration of the step-time model against measured data.
//!
//! `vidur_operator_errors` evaluates the model on every row of Vidur's measured profiling CSVs
//! (microsoft/vidur, MIT) in the sibling `shared/` folder and asserts per-group error bounds;
//! it is ignored (with the reason) when that folder is absent, and fails under CI. Run with `--nocapture` to see
//! the table that docs/calibration.md publishes. `published_points` checks the single-request
//! measurements in `test_data/perf/published.toml`.

#![allow(clippy::print_stdout)]

use serde::Deserialize;
use sim_cluster::catalog::{Catalog, GpuSpec, ModelSpec};
use sim_cluster::perf::{StepShape, StepTimeModel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Error bounds per operator group: (median %, p90 %). Justification in docs/calibration.md:
/// the linear part is smooth except for GEMM tile/wave steps near the ridge; decode attention
/// has kernel-variant jumps at small batch; the old prefill kernel does not skip masked blocks,
/// which the causal FLOP count cannot follow; small all-reduce messages are noise-dominated.
const BOUNDS: [(&str, f64, f64); 4] = [
    ("linear", 10.0, 25.0),
    ("attn_decode", 15.0, 30.0),
    ("attn_prefill", 25.0, 45.0),
    ("all_reduce", 15.0, 55.0),
];

fn shared_profiling_dir() -> PathBuf {
    sim_testkit::shared_path(
        env!("CARGO_MANIFEST_DIR"),
        "calibration/vidur/data/profiling",
    )
}

struct Table {
    headers: csv::StringRecord,
    rows: Vec<csv::StringRecord>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let mut reader = csv::Reader::from_path(path)
            .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
        let headers = reader.headers().expect("csv header").clone();
        let rows = reader
            .records()
            .map(|r| r.unwrap_or_else(|err| panic!("{}: {err}", path.display())))
            .collect();
        Table { headers, rows }
    }

    fn col(&self, name: &str) -> usize {
        self.headers
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("missing column {name}"))
    }
}

fn num(row: &csv::StringRecord, col: usize) -> f64 {
    let text = &row[col];
    if text.is_empty() {
        return 0.0;
    }
    text.parse()
        .unwrap_or_else(|err| panic!("bad number {text:?}: {err}"))
}

/// Median and p90 of absolute percentage errors.
fn summary(errors: &mut [f64]) -> (f64, f64) {
    errors.sort_by(f64::total_cmp);
    let n = errors.len();
    let median = if n % 2 == 1 {
        errors[n / 2]
    } else {
        0.5 * (errors[n / 2 - 1] + errors[n / 2])
    };
    let p90 = errors[(0.9 * n as f64).ceil() as usize - 1];
    (median, p90)
}

fn pct(model: f64, measured: f64) -> f64 {
    (model / measured - 1.0).abs() * 100.0
}

const MLP_GEMMS: [&str; 4] = [
    "attn_pre_proj",
    "attn_post_proj",
    "mlp_up_proj",
    "mlp_down_proj",
];
const MLP_ELEMENTWISE: [&str; 5] = [
    "input_layernorm",
    "post_attention_layernorm",
    "attn_rope",
    "mlp_act",
    "add",
];

fn check_geometry(model: &ModelSpec, table: &Table, row: &csv::StringRecord, head_col: &str) {
    let hidden = num(row, table.col("n_embd")) as u32;
    let heads = num(row, table.col(head_col)) as u32;
    assert_eq!(hidden, model.hidden, "{}: hidden", model.name);
    assert_eq!(heads, model.q_heads, "{}: q heads", model.name);
    assert_eq!(
        num(row, table.col("n_kv_head")) as u32,
        model.kv_heads,
        "{}: kv heads",
        model.name
    );
}

fn linear_errors(
    dir: &Path,
    catalog: &Catalog,
    groups: &mut BTreeMap<(String, String, u32, &'static str), Vec<f64>>,
) {
    let gpus = [("a100", "A100-80GB"), ("h100", "H100-SXM"), ("a40", "A40")];
    let models = [
        ("Llama-2-7b-hf", "Llama-2-7B"),
        ("Llama-2-70b-hf", "Llama-2-70B"),
        ("Meta-Llama-3-8B", "Llama-3-8B"),
        ("Meta-Llama-3-70B", "Llama-3-70B"),
    ];
    for (gpu_dir, gpu_name) in gpus {
        let gpu = catalog.gpu(gpu_name).expect("gpu in catalog");
        for (model_dir, model_name) in models {
            let path = dir
                .join("compute")
                .join(gpu_dir)
                .join("meta-llama")
                .join(model_dir)
                .join("mlp.csv");
            if !path.is_file() {
                continue;
            }
            let model = catalog.model(model_name).expect("model in catalog");
            let table = Table::read(&path);
            let ops: Vec<usize> = MLP_GEMMS
                .iter()
                .chain(MLP_ELEMENTWISE.iter())
                .map(|op| table.col(&format!("time_stats.{op}.median")))
                .collect();
            let (tp_col, tokens_col) = (
                table.col("num_tensor_parallel_workers"),
                table.col("num_tokens"),
            );
            // Vocabulary is not compared: Vidur pads Llama-2's 32000 to 32768, and per-layer
            // times do not depend on it.
            let ffn_col = table.col("n_expanded_embd");
            let mut models_by_tp: BTreeMap<u32, StepTimeModel> = BTreeMap::new();
            for row in &table.rows {
                check_geometry(model, &table, row, "n_head");
                assert_eq!(num(row, ffn_col) as u32, model.ffn);
                let tp = num(row, tp_col) as u32;
                let perf = models_by_tp
                    .entry(tp)
                    .or_insert_with(|| StepTimeModel::new(gpu, model, tp).expect("model builds"));
                let measured_s: f64 = ops.iter().map(|&c| num(row, c)).sum::<f64>() * 1e-3;
                let predicted_s = perf.layer_linear_s(num(row, tokens_col) as u32);
                groups
                    .entry((gpu_name.to_string(), model_name.to_string(), tp, "linear"))
                    .or_default()
                    .push(pct(predicted_s, measured_s));
            }
        }
    }
}

fn attention_errors(
    dir: &Path,
    catalog: &Catalog,
    groups: &mut BTreeMap<(String, String, u32, &'static str), Vec<f64>>,
) {
    let path = dir.join("a100").join("attention.csv");
    let gpu = catalog.gpu("A100-80GB").expect("A100 in catalog");
    let model = catalog
        .model("Llama-2-70B")
        .expect("Llama-2-70B in catalog");
    let table = Table::read(&path);
    let c = |name: &str| table.col(name);
    let (prefill_col, tp_col, ctx_col) = (
        c("is_prefill"),
        c("num_tensor_parallel_workers"),
        c("kv_cache_size"),
    );
    let (batch_col, chunk_col) = (c("batch_size"), c("prefill_chunk_size"));
    let (decode_t, prefill_t) = (
        c("time_stats.attn_decode.median"),
        c("time_stats.attn_prefill.median"),
    );
    let reshape = [
        c("time_stats.attn_input_reshape.median"),
        c("time_stats.attn_output_reshape.median"),
    ];
    let mut perf_by_tp: BTreeMap<u32, StepTimeModel> = BTreeMap::new();
    for row in &table.rows {
        check_geometry(model, &table, row, "n_q_head");
        let tp = num(row, tp_col) as u32;
        let perf = perf_by_tp
            .entry(tp)
            .or_insert_with(|| StepTimeModel::new(gpu, model, tp).expect("model builds"));
        let ctx = num(row, ctx_col) as u32;
        let prefill = &row[prefill_col] == "True";
        let mut shape = StepShape::new();
        let (group, kernel_ms) = if prefill {
            shape.add(num(row, chunk_col) as u32, ctx, true);
            ("attn_prefill", num(row, prefill_t))
        } else {
            for _ in 0..num(row, batch_col) as u32 {
                shape.add(1, ctx, true);
            }
            ("attn_decode", num(row, decode_t))
        };
        let measured_s = (kernel_ms + reshape.iter().map(|&r| num(row, r)).sum::<f64>()) * 1e-3;
        groups
            .entry((gpu.name.clone(), model.name.clone(), tp, group))
            .or_default()
            .push(pct(perf.layer_attention_s(&shape), measured_s));
    }
}

fn all_reduce_errors(
    dir: &Path,
    catalog: &Catalog,
    groups: &mut BTreeMap<(String, String, u32, &'static str), Vec<f64>>,
) {
    for (topology, gpu_name) in [("a100_dgx", "A100-80GB"), ("h100_dgx", "H100-SXM")] {
        let gpu: &GpuSpec = catalog.gpu(gpu_name).expect("gpu in catalog");
        let table = Table::read(&dir.join("network").join(topology).join("all_reduce.csv"));
        let (workers, per_node, rank) = (
            table.col("num_workers"),
            table.col("devices_per_node"),
            table.col("rank"),
        );
        let (size, time) = (table.col("size"), table.col("time_stats.all_reduce.median"));
        for row in &table.rows {
            // Tensor parallelism runs inside one node; rank 0 is the reported rank.
            if row[workers] != row[per_node] || &row[rank] != "0" {
                continue;
            }
            let tp = num(row, workers) as u32;
            let Some(predicted_s) = gpu.all_reduce_s(tp, num(row, size)) else {
                continue;
            };
            groups
                .entry((
                    gpu_name.to_string(),
                    format!("({topology})"),
                    tp,
                    "all_reduce",
                ))
                .or_default()
                .push(pct(predicted_s, num(row, time) * 1e-3));
        }
    }
}

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/calibration/vidur")]
fn vidur_operator_errors() {
    let dir = shared_profiling_dir();
    let catalog = Catalog::builtin();
    let mut groups = BTreeMap::new();
    linear_errors(&dir, &catalog, &mut groups);
    attention_errors(&dir, &catalog, &mut groups);
    all_reduce_errors(&dir, &catalog, &mut groups);
    assert!(
        groups.len() >= 30,
        "expected every Vidur file to be evaluated, got {} groups",
        groups.len()
    );

    println!("| GPU | model | TP | group | rows | median abs % err | p90 abs % err |");
    println!("|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for ((gpu, model, tp, group), errors) in &mut groups {
        let rows = errors.len();
        let (median, p90) = summary(errors);
        println!("| {gpu} | {model} | {tp} | {group} | {rows} | {median:.1} | {p90:.1} |");
        let (_, max_median, max_p90) = BOUNDS
            .iter()
            .find(|(name, _, _)| name == group)
            .expect("bound for every group");
        if median >= *max_median || p90 >= *max_p90 {
            failures.push(format!(
                "{gpu} {model} TP{tp} {group}: median {median:.1} % (bound {max_median}), p90 {p90:.1} % (bound {max_p90})"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "calibration bounds exceeded:\n{}",
        failures.join("\n")
    );
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedFile {
    case: Vec<PublishedCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PublishedCase {
    name: String,
    gpu: String,
    model: String,
    tp: u32,
    batch: u32,
    ctx_tokens: u64,
    quantity: String,
    measured: f64,
    tolerance_pct: f64,
}

/// Evaluates one published case; returns (model value, error %) or a description of the problem.
fn check(catalog: &Catalog, case: &PublishedCase) -> Result<(f64, f64), String> {
    let gpu = catalog
        .gpu(&case.gpu)
        .ok_or(format!("unknown gpu {}", case.gpu))?;
    let model = catalog
        .model(&case.model)
        .ok_or(format!("unknown model {}", case.model))?;
    let perf = StepTimeModel::new(gpu, model, case.tp)?;
    let step_s = perf.step_time_s(&StepShape::decode(case.batch, case.ctx_tokens));
    let value = match case.quantity.as_str() {
        "itl_s" => step_s,
        "tokens_per_s" => f64::from(case.batch) / step_s,
        "itl_slope_s_per_ctx_token" => perf.decode_affine(case.batch).1,
        other => return Err(format!("unknown quantity {other}")),
    };
    let error = (value / case.measured - 1.0) * 100.0;
    if error.abs() > case.tolerance_pct {
        return Err(format!(
            "model {value:.4e} vs measured {:.4e}: {error:+.1} % (tolerance {} %)",
            case.measured, case.tolerance_pct
        ));
    }
    Ok((value, error))
}

#[test]
fn published_points() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/perf/published.toml");
    let text = std::fs::read_to_string(&path).expect("published.toml");
    let file: PublishedFile = toml::from_str(&text).expect("published.toml parses");
    let catalog = Catalog::builtin();
    let mut failures = Vec::new();
    println!("| case | quantity | model | measured | error |");
    println!("|---|---|---|---|---|");
    for case in &file.case {
        match check(&catalog, case) {
            Ok((value, error)) => println!(
                "| {} | {} | {value:.4e} | {:.4e} | {error:+.1} % |",
                case.name, case.quantity, case.measured
            ),
            Err(msg) => failures.push(format!("{}: {msg}", case.name)),
        }
    }
    assert!(!file.case.is_empty());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
