//! Calibration of the step-time model against measured kernel times.
//!
//! The tests marked with `no_shared` read the sibling `shared/` folder (ignored with the reason
//! when it is absent, failing under CI):
//! * `aiconfigurator_operator_errors` evaluates each fitted kernel form of the catalog on the
//!   measured vLLM kernel rows (NVIDIA aiconfigurator, Apache-2.0) of its GPU and checks the
//!   per-(GPU, operator) bounds of `test_data/perf/operator_bounds.toml`.
//! * `step_level_errors` builds whole decode and prefill steps of catalog models from the
//!   measured rows (interpolated where a shape falls between grid points) and checks the
//!   model's kernel time against them: median at most 5 % and p90 at most 10 % per GPU and kind.
//! * `vidur_operator_errors` checks the GEMM and element-wise fits of the GPUs measured by
//!   Vidur (microsoft/vidur, MIT).
//!
//! `published_points` checks the published single-request measurements in
//! `test_data/perf/published.toml`. Run with `--nocapture` to see the tables
//! `docs/calibration.md` publishes.

#![allow(clippy::print_stdout)]

use serde::Deserialize;
use sim_cluster::catalog::{Catalog, GpuSpec, ModelSpec, default_max_num_batched_tokens};
use sim_cluster::perf::{
    KvDtype, StepShape, StepTimeModel, WeightDtype, decode_attention_time_s, gemm_time_s,
    moe_time_s, prefill_attention_time_s,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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

/// Bound on the median absolute error over the held-out published current-vLLM cases: the
/// issue's target is 5 %; today's 8.5 % (long prompts prefill 7-25 % fast, docs/calibration.md)
/// is held here so that it cannot get worse unnoticed.
const MAX_HELD_OUT_MEDIAN_PCT: f64 = 9.0;

fn pct(model: f64, measured: f64) -> f64 {
    (model / measured - 1.0).abs() * 100.0
}

/// aiconfigurator folders, the catalog GPU each measures, and its L2 size in bytes (datasheet).
/// The decode benchmark re-reads one KV cache, so working sets under about twice the L2 are
/// served from L2; a serving step streams weights in between, so those rows are left out.
const AIC_GPUS: [(&str, &str, f64); 5] = [
    ("a100_sxm", "A100-80GB", 40e6),
    ("h100_sxm", "H100-SXM", 50e6),
    ("h200_sxm", "H200", 50e6),
    ("b200_sxm", "B200", 126e6),
    ("l40s", "L40S", 96e6),
];

fn aic_dir() -> PathBuf {
    sim_testkit::shared_path(env!("CARGO_MANIFEST_DIR"), "calibration/aiconfigurator")
}

/// Reads `<gpu folder>/<file>.csv` when the GPU has it.
fn aic_table(gpu_dir: &str, file: &str) -> Option<Table> {
    let path = aic_dir().join(gpu_dir).join(format!("{file}.csv"));
    path.is_file().then(|| Table::read(&path))
}

/// (query heads, KV heads) per GPU that catalog models reach at TP 1, 2, 4 and 8: the head
/// geometries the step-time model is ever asked about.
fn catalog_heads(catalog: &Catalog) -> BTreeSet<(u32, u32)> {
    let mut heads = BTreeSet::new();
    for model in catalog.models() {
        for tp in [1, 2, 4, 8] {
            if model.check_tp(tp).is_ok() {
                heads.insert((model.q_heads / tp, model.kv_heads_per_gpu(tp)));
            }
        }
    }
    heads
}

fn kv_dtype(text: &str) -> (KvDtype, &'static str, f64) {
    if text == "fp8" {
        (KvDtype::Fp8, "fp8", 1.0)
    } else {
        (KvDtype::Bf16, "bf16", 2.0)
    }
}

/// Absolute % errors per (GPU, operator).
type Groups = BTreeMap<(String, String), Vec<f64>>;

fn gemm_errors(gpu_dir: &str, gpu: &GpuSpec, groups: &mut Groups) {
    let Some(table) = aic_table(gpu_dir, "gemm") else {
        return;
    };
    let c = |name: &str| table.col(name);
    let (dtype_col, m, n, k, t) = (c("gemm_dtype"), c("m"), c("n"), c("k"), c("latency_ms"));
    for row in &table.rows {
        let (n, k) = (num(row, n), num(row, k));
        // Shapes narrower than 1024 are not in any catalog model's layers.
        if n < 1024.0 || k < 1024.0 {
            continue;
        }
        let (dtype, name) = match &row[dtype_col] {
            "fp8" => (WeightDtype::Fp8, "gemm_fp8"),
            _ => (WeightDtype::Bf16, "gemm_bf16"),
        };
        let model_s = gemm_time_s(gpu, dtype, num(row, m), n, k);
        groups
            .entry((gpu.name.clone(), name.to_string()))
            .or_default()
            .push(pct(model_s, num(row, t) * 1e-3));
    }
}

fn prefill_errors(gpu_dir: &str, gpu: &GpuSpec, heads: &BTreeSet<(u32, u32)>, groups: &mut Groups) {
    let Some(table) = aic_table(gpu_dir, "context_attention") else {
        return;
    };
    let c = |name: &str| table.col(name);
    let (b, isl, hq, hkv) = (
        c("batch_size"),
        c("isl"),
        c("num_heads"),
        c("num_key_value_heads"),
    );
    let (dh, kv, t) = (c("head_dim"), c("kv_cache_dtype"), c("latency_ms"));
    for row in &table.rows {
        let geometry = (num(row, hq) as u32, num(row, hkv) as u32);
        // One-token rows (all of B200's) run the decode kernel, not a prefill.
        if num(row, isl) < 16.0 || !heads.contains(&geometry) {
            continue;
        }
        let (dtype, suffix, _) = kv_dtype(&row[kv]);
        let model_s = prefill_attention_time_s(
            gpu,
            dtype,
            num(row, b) as u32,
            num(row, isl) as u32,
            geometry.0,
            geometry.1,
            num(row, dh) as u32,
        );
        groups
            .entry((gpu.name.clone(), format!("prefill_attention_{suffix}")))
            .or_default()
            .push(pct(model_s, num(row, t) * 1e-3));
    }
}

fn decode_errors(
    gpu_dir: &str,
    gpu: &GpuSpec,
    l2_bytes: f64,
    heads: &BTreeSet<(u32, u32)>,
    groups: &mut Groups,
) {
    let Some(table) = aic_table(gpu_dir, "generation_attention") else {
        return;
    };
    let c = |name: &str| table.col(name);
    let (b, step, hq, hkv) = (
        c("batch_size"),
        c("step"),
        c("num_heads"),
        c("num_key_value_heads"),
    );
    let (dh, kv, t) = (c("head_dim"), c("kv_cache_dtype"), c("latency_ms"));
    for row in &table.rows {
        let geometry = (num(row, hq) as u32, num(row, hkv) as u32);
        if !heads.contains(&geometry) {
            continue;
        }
        let (dtype, suffix, kv_bytes) = kv_dtype(&row[kv]);
        let (batch, kv_len, head_dim) = (num(row, b), num(row, step), num(row, dh));
        let bytes = batch * kv_len * 2.0 * f64::from(geometry.1) * head_dim * kv_bytes;
        // L2-served rows are left out; rows whose read is negligible stay (they measure
        // launch and per-sequence costs).
        if bytes <= 2.0 * l2_bytes && bytes >= gpu.mem_bw_bytes_per_s * 3e-6 {
            continue;
        }
        let model_s = decode_attention_time_s(
            gpu,
            dtype,
            batch as u32,
            kv_len as u64,
            geometry.1,
            head_dim as u32,
        );
        groups
            .entry((gpu.name.clone(), format!("decode_attention_{suffix}")))
            .or_default()
            .push(pct(model_s, num(row, t) * 1e-3));
    }
}

fn all_reduce_errors(gpu_dir: &str, gpu: &GpuSpec, groups: &mut Groups) {
    let Some(table) = aic_table(gpu_dir, "custom_allreduce") else {
        return;
    };
    let (tp, size, t) = (
        table.col("num_gpus"),
        table.col("message_size"),
        table.col("latency_ms"),
    );
    for row in &table.rows {
        let tp = num(row, tp) as u32;
        let model_s = gpu
            .all_reduce_s(tp, num(row, size))
            .unwrap_or_else(|| panic!("{}: no all-reduce entry for TP {tp}", gpu.name));
        groups
            .entry((gpu.name.clone(), format!("all_reduce_tp{tp}")))
            .or_default()
            .push(pct(model_s, num(row, t) * 1e-3));
    }
}

fn moe_errors(gpu_dir: &str, gpu: &GpuSpec, l2_bytes: f64, groups: &mut Groups) {
    let Some(table) = aic_table(gpu_dir, "moe") else {
        return;
    };
    let c = |name: &str| table.col(name);
    let (dtype_col, tokens, hidden, inter) = (
        c("moe_dtype"),
        c("num_tokens"),
        c("hidden_size"),
        c("inter_size"),
    );
    let (topk, experts, tp, ep, t) = (
        c("topk"),
        c("num_experts"),
        c("moe_tp_size"),
        c("moe_ep_size"),
        c("latency_ms"),
    );
    for row in &table.rows {
        let (h, k, e) = (num(row, hidden), num(row, topk), num(row, experts));
        let tp = num(row, tp);
        // The simulator runs TP 1-8 without expert parallelism; Nemotron-3's two-matrix relu²
        // experts (hidden 2688 / inter 1856, or top-22 of 512) are not the gated form.
        let two_matrix = (h == 2688.0 && num(row, inter) == 1856.0) || (k == 22.0 && e == 512.0);
        if num(row, ep) != 1.0 || tp > 8.0 || two_matrix {
            continue;
        }
        let (dtype, name, weight_bytes) = match &row[dtype_col] {
            "fp8" => (WeightDtype::Fp8, "moe_fp8", 1.0),
            _ => (WeightDtype::Bf16, "moe_bf16", 2.0),
        };
        let ffn = num(row, inter) / tp;
        let tokens = num(row, tokens);
        // As for decode attention: expert weights under twice the L2 are served from L2.
        let weights = e.min(tokens * k) * 3.0 * h * ffn * weight_bytes;
        if weights <= 2.0 * l2_bytes && weights >= gpu.mem_bw_bytes_per_s * 3e-6 {
            continue;
        }
        let model_s = moe_time_s(gpu, dtype, tokens, h, ffn, k, e);
        groups
            .entry((gpu.name.clone(), name.to_string()))
            .or_default()
            .push(pct(model_s, num(row, t) * 1e-3));
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BoundsFile {
    bound: Vec<Bound>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bound {
    gpu: String,
    operator: String,
    median_pct: f64,
    p90_pct: f64,
}

/// Prints the error table and checks every group against its bound in
/// `test_data/perf/operator_bounds.toml`; every bound must be used.
fn check_bounds(groups: &mut Groups, kinds: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/perf/operator_bounds.toml");
    let text = std::fs::read_to_string(&path).expect("operator_bounds.toml");
    let file: BoundsFile = toml::from_str(&text).expect("operator_bounds.toml parses");
    let bounds: Vec<&Bound> = file
        .bound
        .iter()
        .filter(|b| kinds.iter().any(|k| b.operator.starts_with(k)))
        .collect();
    println!("| GPU | operator | rows | median abs % | p90 abs % | bound median / p90 |");
    println!("|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for ((gpu, operator), errors) in groups.iter_mut() {
        let rows = errors.len();
        let (median, p90) = summary(errors);
        let bound = bounds
            .iter()
            .find(|b| &b.gpu == gpu && &b.operator == operator);
        let Some(bound) = bound else {
            println!("| {gpu} | {operator} | {rows} | {median:.1} | {p90:.1} | none |");
            failures.push(format!(
                "{gpu} {operator}: no bound in operator_bounds.toml"
            ));
            continue;
        };
        println!(
            "| {gpu} | {operator} | {rows} | {median:.1} | {p90:.1} | {} / {} |",
            bound.median_pct, bound.p90_pct
        );
        if median > bound.median_pct || p90 > bound.p90_pct {
            failures.push(format!(
                "{gpu} {operator}: median {median:.1} % (bound {}), p90 {p90:.1} % (bound {})",
                bound.median_pct, bound.p90_pct
            ));
        }
    }
    for bound in &bounds {
        if !groups.contains_key(&(bound.gpu.clone(), bound.operator.clone())) {
            failures.push(format!(
                "{} {}: bound without measurements",
                bound.gpu, bound.operator
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "calibration bounds exceeded:\n{}",
        failures.join("\n")
    );
}

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/calibration/aiconfigurator")]
fn aiconfigurator_operator_errors() {
    let catalog = Catalog::builtin();
    let heads = catalog_heads(&catalog);
    let mut groups = Groups::new();
    for (gpu_dir, gpu_name, l2_bytes) in AIC_GPUS {
        let gpu = catalog.gpu(gpu_name).expect("measured GPU in the catalog");
        assert!(
            gpu.measured,
            "{gpu_name} has measurements but is not marked measured"
        );
        gemm_errors(gpu_dir, gpu, &mut groups);
        prefill_errors(gpu_dir, gpu, &heads, &mut groups);
        decode_errors(gpu_dir, gpu, l2_bytes, &heads, &mut groups);
        all_reduce_errors(gpu_dir, gpu, &mut groups);
        moe_errors(gpu_dir, gpu, l2_bytes, &mut groups);
    }
    assert!(groups.len() >= 43, "only {} groups evaluated", groups.len());
    check_bounds(
        &mut groups,
        &[
            "gemm",
            "prefill_attention",
            "decode_attention",
            "all_reduce",
            "moe",
        ],
    );
}

/// Measured kernel times of one GPU, for building whole steps.
struct Measured {
    /// BF16 GEMM times by (m, n, k).
    gemm: BTreeMap<(u64, u64, u64), f64>,
    gemm_n: Vec<f64>,
    gemm_k: Vec<f64>,
    /// BF16-KV prefill times by (batch, isl, q heads, KV heads).
    prefill: BTreeMap<(u64, u64, u32, u32), f64>,
    /// BF16-KV decode times by (batch, q heads, KV heads): (KV length, time), sorted.
    decode: BTreeMap<(u64, u32, u32), Vec<(f64, f64)>>,
    /// All-reduce times by TP: (bytes, time), sorted.
    all_reduce: BTreeMap<u32, Vec<(f64, f64)>>,
}

/// Linear interpolation of `ln y` in `ln x` between the points around `x`.
fn log_interp(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let hi = points.iter().position(|&(px, _)| px >= x)?;
    if points[hi].0 == x {
        return Some(points[hi].1);
    }
    let lo = hi.checked_sub(1)?;
    let (x0, y0) = points[lo];
    let (x1, y1) = points[hi];
    let f = (x / x0).ln() / (x1 / x0).ln();
    Some((y0.ln() * (1.0 - f) + y1.ln() * f).exp())
}

/// The grid values around `v`: (low, high, weight of high in log space).
fn bracket(values: &[f64], v: f64) -> Option<(f64, f64, f64)> {
    let hi = *values.iter().find(|&&x| x >= v)?;
    if hi == v {
        return Some((v, v, 0.0));
    }
    let lo = *values.iter().rev().find(|&&x| x < v)?;
    Some((lo, hi, (v / lo).ln() / (hi / lo).ln()))
}

impl Measured {
    fn read(gpu_dir: &str) -> Option<Measured> {
        let gemm_table = aic_table(gpu_dir, "gemm")?;
        let mut m = Measured {
            gemm: BTreeMap::new(),
            gemm_n: Vec::new(),
            gemm_k: Vec::new(),
            prefill: BTreeMap::new(),
            decode: BTreeMap::new(),
            all_reduce: BTreeMap::new(),
        };
        let c = |name: &str| gemm_table.col(name);
        let (dtype, gm, gn, gk, t) = (c("gemm_dtype"), c("m"), c("n"), c("k"), c("latency_ms"));
        let (mut ns, mut ks) = (BTreeSet::new(), BTreeSet::new());
        for row in gemm_table.rows.iter().filter(|r| &r[dtype] == "bfloat16") {
            let key = (
                num(row, gm) as u64,
                num(row, gn) as u64,
                num(row, gk) as u64,
            );
            ns.insert(key.1);
            ks.insert(key.2);
            m.gemm.insert(key, num(row, t) * 1e-3);
        }
        m.gemm_n = ns.into_iter().map(|v| v as f64).collect();
        m.gemm_k = ks.into_iter().map(|v| v as f64).collect();
        if let Some(table) = aic_table(gpu_dir, "context_attention") {
            let c = |name: &str| table.col(name);
            let (b, isl, hq, hkv, kv, t) = (
                c("batch_size"),
                c("isl"),
                c("num_heads"),
                c("num_key_value_heads"),
                c("kv_cache_dtype"),
                c("latency_ms"),
            );
            for row in table.rows.iter().filter(|r| &r[kv] == "bfloat16") {
                let key = (
                    num(row, b) as u64,
                    num(row, isl) as u64,
                    num(row, hq) as u32,
                    num(row, hkv) as u32,
                );
                m.prefill.insert(key, num(row, t) * 1e-3);
            }
        }
        let table = aic_table(gpu_dir, "generation_attention")?;
        let c = |name: &str| table.col(name);
        let (b, step, hq, hkv, kv, t) = (
            c("batch_size"),
            c("step"),
            c("num_heads"),
            c("num_key_value_heads"),
            c("kv_cache_dtype"),
            c("latency_ms"),
        );
        for row in table.rows.iter().filter(|r| &r[kv] == "bfloat16") {
            let key = (
                num(row, b) as u64,
                num(row, hq) as u32,
                num(row, hkv) as u32,
            );
            m.decode
                .entry(key)
                .or_default()
                .push((num(row, step), num(row, t) * 1e-3));
        }
        for points in m.decode.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        let table = aic_table(gpu_dir, "custom_allreduce")?;
        let (tp, size, t) = (
            table.col("num_gpus"),
            table.col("message_size"),
            table.col("latency_ms"),
        );
        for row in &table.rows {
            m.all_reduce
                .entry(num(row, tp) as u32)
                .or_default()
                .push((num(row, size), num(row, t) * 1e-3));
        }
        for points in m.all_reduce.values_mut() {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        Some(m)
    }

    /// A GEMM at a grid `m`, interpolated log-log in (n, k); beyond the widest measured `n`
    /// (the LM head) scaled in proportion to `n` from the two widest.
    fn gemm_s(&self, m: u64, n: f64, k: f64) -> Option<f64> {
        let widest = *self.gemm_n.last()?;
        if n > widest {
            let two = &self.gemm_n[self.gemm_n.len() - 2..];
            let mut sum = 0.0;
            for &nn in two {
                sum += self.gemm_s(m, nn, k)? * n / nn;
            }
            return Some(sum / 2.0);
        }
        let (n0, n1, fn_) = bracket(&self.gemm_n, n)?;
        let (k0, k1, fk) = bracket(&self.gemm_k, k)?;
        let at = |a: f64, b: f64| self.gemm.get(&(m, a as u64, b as u64)).map(|t| t.ln());
        let v = (1.0 - fn_) * (1.0 - fk) * at(n0, k0)?
            + fn_ * (1.0 - fk) * at(n1, k0)?
            + (1.0 - fn_) * fk * at(n0, k1)?
            + fn_ * fk * at(n1, k1)?;
        Some(v.exp())
    }

    /// GEMMs of all layers at `m` tokens plus the LM head at `sampled` rows.
    fn linear_s(&self, model: &ModelSpec, tp: u32, m: u64, sampled: u64) -> Option<f64> {
        let t = f64::from(tp);
        let d = f64::from(model.hidden);
        let dh = f64::from(model.head_dim);
        let hq = f64::from(model.q_heads) / t;
        let hkv = f64::from(model.kv_heads_per_gpu(tp));
        let ffn = f64::from(model.ffn) / t;
        let mut layer = 0.0;
        for (n, k) in [
            ((hq + 2.0 * hkv) * dh, d),
            (d, hq * dh),
            (2.0 * ffn, d),
            (d, ffn),
        ] {
            layer += self.gemm_s(m, n, k)?;
        }
        let head = self.gemm_s(sampled, f64::from(model.vocab) / t, d)?;
        Some(f64::from(model.layers) * layer + head)
    }

    fn comm_s(&self, model: &ModelSpec, tp: u32, tokens: u64) -> Option<f64> {
        if tp == 1 {
            return Some(0.0);
        }
        let bytes = tokens as f64 * f64::from(model.hidden) * 2.0;
        Some(2.0 * f64::from(model.layers) * log_interp(self.all_reduce.get(&tp)?, bytes)?)
    }
}

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/calibration/aiconfigurator")]
fn step_level_errors() {
    let catalog = Catalog::builtin();
    let cases = [
        ("Llama-3-8B", [1, 2, 4, 8].as_slice()),
        ("Llama-3-70B", [2, 4, 8].as_slice()),
    ];
    println!("| GPU | kind | steps | median abs % | p90 abs % | worst |");
    println!("|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    let mut kinds_checked = 0;
    for (gpu_dir, gpu_name, _) in AIC_GPUS {
        let Some(measured) = Measured::read(gpu_dir) else {
            continue;
        };
        let gpu = catalog.gpu(gpu_name).expect("gpu");
        let mut errors: BTreeMap<&str, Vec<(f64, String)>> = BTreeMap::new();
        for (model_name, tps) in cases {
            let model = catalog.model(model_name).expect("model");
            for &tp in tps {
                let perf = StepTimeModel::new(gpu, model, tp).expect("model builds");
                let hq = model.q_heads / tp;
                let hkv = model.kv_heads_per_gpu(tp);
                let layers = f64::from(model.layers);
                for batch in [1_u32, 8, 32, 128] {
                    for ctx in [1024_u64, 4096] {
                        let b = u64::from(batch);
                        let Some(points) = measured.decode.get(&(b, hq, hkv)) else {
                            continue;
                        };
                        let (Some(linear), Some(att), Some(comm)) = (
                            measured.linear_s(model, tp, b, b),
                            log_interp(points, (ctx + 1) as f64),
                            measured.comm_s(model, tp, b),
                        ) else {
                            continue;
                        };
                        let parts = perf.parts(&StepShape::decode(batch, b * ctx));
                        let model_s = parts.linear_s + parts.attention_s + parts.comm_s;
                        let measured_s = linear + layers * att + comm;
                        errors.entry("decode").or_default().push((
                            (model_s / measured_s - 1.0) * 100.0,
                            format!("{model_name} TP{tp} batch {batch} ctx {ctx}"),
                        ));
                    }
                }
                for tokens in [512_u32, 2048, 8192] {
                    let t = u64::from(tokens);
                    let Some(&att) = measured.prefill.get(&(1, t, hq, hkv)) else {
                        continue;
                    };
                    let (Some(linear), Some(comm)) = (
                        measured.linear_s(model, tp, t, 1),
                        measured.comm_s(model, tp, t),
                    ) else {
                        continue;
                    };
                    let mut shape = StepShape::new();
                    perf.add(&mut shape, tokens, 0, true);
                    let parts = perf.parts(&shape);
                    let model_s = parts.linear_s + parts.attention_s + parts.comm_s;
                    let measured_s = linear + layers * att + comm;
                    errors.entry("prefill").or_default().push((
                        (model_s / measured_s - 1.0) * 100.0,
                        format!("{model_name} TP{tp} prefill {tokens}"),
                    ));
                }
            }
        }
        for (kind, cases) in &errors {
            let mut abs: Vec<f64> = cases.iter().map(|(e, _)| e.abs()).collect();
            let (median, p90) = summary(&mut abs);
            let (worst, what) = cases
                .iter()
                .max_by(|a, b| a.0.abs().total_cmp(&b.0.abs()))
                .expect("cases");
            println!(
                "| {gpu_name} | {kind} | {} | {median:.1} | {p90:.1} | {worst:+.1} % ({what}) |",
                cases.len()
            );
            kinds_checked += 1;
            // The bound: median at most 5 %, p90 at most 10 % per GPU and kind.
            if median > 5.0 || p90 > 10.0 {
                failures.push(format!(
                    "{gpu_name} {kind}: median {median:.1} %, p90 {p90:.1} %"
                ));
            }
        }
    }
    // H100, H200, L40S decode and prefill; B200 decode (it has no prefill rows).
    assert!(
        kinds_checked >= 7,
        "only {kinds_checked} (GPU, kind) pairs checked"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
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

#[test]
#[cfg_attr(no_shared, ignore = "needs ../shared/calibration/vidur")]
fn vidur_operator_errors() {
    let dir = shared_profiling_dir();
    let catalog = Catalog::builtin();
    let mut groups = Groups::new();
    // GEMMs come from Vidur only where aiconfigurator has none; element-wise kernels from Vidur
    // on every GPU it measured.
    let gpus = [
        ("a100", "A100-80GB", true),
        ("h100", "H100-SXM", false),
        ("a40", "A40", true),
    ];
    let models = [
        ("Llama-2-7b-hf", "Llama-2-7B"),
        ("Llama-2-70b-hf", "Llama-2-70B"),
        ("Meta-Llama-3-8B", "Llama-3-8B"),
        ("Meta-Llama-3-70B", "Llama-3-70B"),
    ];
    for (gpu_dir, gpu_name, gemms) in gpus {
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
            let median = |op: &str| table.col(&format!("time_stats.{op}.median"));
            let gemm_cols: Vec<usize> = MLP_GEMMS.iter().map(|op| median(op)).collect();
            let elem_cols: Vec<usize> = MLP_ELEMENTWISE.iter().map(|op| median(op)).collect();
            let (tp_col, tokens_col) = (
                table.col("num_tensor_parallel_workers"),
                table.col("num_tokens"),
            );
            for row in &table.rows {
                let tp = num(row, tp_col) as u32;
                let tokens = num(row, tokens_col);
                let perf = StepTimeModel::new(gpu, model, tp).expect("model builds");
                let elem_s: f64 = elem_cols.iter().map(|&c| num(row, c)).sum::<f64>() * 1e-3;
                groups
                    .entry((gpu_name.to_string(), "vidur_elementwise".to_string()))
                    .or_default()
                    .push(pct(perf.layer_elementwise_s(tokens), elem_s));
                if !gemms {
                    continue;
                }
                let t = f64::from(tp);
                let d = f64::from(model.hidden);
                let dh = f64::from(model.head_dim);
                let hq = f64::from(model.q_heads) / t;
                let hkv = f64::from(model.kv_heads_per_gpu(tp));
                let ffn = f64::from(model.ffn) / t;
                let shapes = [
                    ((hq + 2.0 * hkv) * dh, d),
                    (d, hq * dh),
                    (2.0 * ffn, d),
                    (d, ffn),
                ];
                for (&col, (n, k)) in gemm_cols.iter().zip(shapes) {
                    let model_s = gemm_time_s(gpu, WeightDtype::Bf16, tokens, n, k);
                    groups
                        .entry((gpu_name.to_string(), "vidur_gemm".to_string()))
                        .or_default()
                        .push(pct(model_s, num(row, col) * 1e-3));
                }
            }
        }
    }
    check_bounds(&mut groups, &["vidur"]);
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
    source: String,
    /// `fit`: used to set a constant of the catalog; `held_out`: not used by any fit.
    role: String,
    /// `current` (vLLM V1, 0.10 or later) or `old` (an older engine with more host overhead).
    engine: String,
    gpu: String,
    model: String,
    tp: u32,
    #[serde(default)]
    kv_cache_dtype: Option<String>,
    /// Decode cases: sequences in the step and their total cached context.
    #[serde(default)]
    batch: u32,
    #[serde(default)]
    ctx_tokens: u64,
    /// `ttft_s` cases: the prompt, prefilled alone in chunks of vLLM's default token budget.
    #[serde(default)]
    prompt_tokens: u32,
    quantity: String,
    measured: f64,
    tolerance_pct: f64,
}

/// Evaluates one published case; returns (model value, signed error %) or the problem.
fn check(catalog: &Catalog, case: &PublishedCase) -> Result<(f64, f64), String> {
    let gpu = catalog
        .gpu(&case.gpu)
        .ok_or(format!("unknown gpu {}", case.gpu))?;
    let mut model = catalog
        .model(&case.model)
        .ok_or(format!("unknown model {}", case.model))?
        .clone();
    match case.kv_cache_dtype.as_deref() {
        None | Some("auto") => {}
        Some("fp8") => model.kv_bytes_per_elem = 1.0,
        Some(other) => return Err(format!("unknown kv_cache_dtype {other}")),
    }
    let perf = StepTimeModel::new(gpu, &model, case.tp)?;
    let value = match case.quantity.as_str() {
        "itl_s" => perf.step_time_s(&StepShape::decode(case.batch, case.ctx_tokens)),
        "tokens_per_s" => {
            f64::from(case.batch)
                / perf.step_time_s(&StepShape::decode(case.batch, case.ctx_tokens))
        }
        "itl_slope_s_per_ctx_token" => perf.decode_affine(case.batch).1,
        "ttft_s" => {
            // vLLM V1 chunks a long prompt by the step's token budget; the first token comes
            // with the last chunk.
            let budget = default_max_num_batched_tokens(gpu);
            let mut done = 0;
            let mut total_s = 0.0;
            while done < case.prompt_tokens {
                let chunk = (case.prompt_tokens - done).min(budget);
                let mut shape = StepShape::new();
                perf.add(&mut shape, chunk, done, done + chunk == case.prompt_tokens);
                total_s += perf.step_time_s(&shape);
                done += chunk;
            }
            total_s
        }
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
    let mut held_out_current = Vec::new();
    println!("| case | role | quantity | measured | model | error |");
    println!("|---|---|---|---|---|---|");
    for case in &file.case {
        assert!(
            ["fit", "held_out"].contains(&case.role.as_str())
                && ["current", "old"].contains(&case.engine.as_str())
                && !case.source.is_empty(),
            "{}: role, engine and source",
            case.name
        );
        match check(&catalog, case) {
            Ok((value, error)) => {
                println!(
                    "| {} | {} | {} | {:.4e} | {value:.4e} | {error:+.1} % |",
                    case.name, case.role, case.quantity, case.measured
                );
                if case.role == "held_out" && case.engine == "current" {
                    held_out_current.push(error.abs());
                }
            }
            Err(msg) => failures.push(format!("{}: {msg}", case.name)),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let n = held_out_current.len();
    let (median, p90) = summary(&mut held_out_current);
    println!("held-out current-vLLM cases: {n}, median abs error {median:.1} %, p90 {p90:.1} %");
    assert!(n >= 10, "only {n} held-out current-vLLM cases");
    assert!(
        median <= MAX_HELD_OUT_MEDIAN_PCT,
        "median abs error {median:.1} % on held-out current-vLLM cases (bound {MAX_HELD_OUT_MEDIAN_PCT} %)"
    );
}
