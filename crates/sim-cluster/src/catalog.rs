//! GPU and model catalog, and the vLLM engine sizing rules that depend only on the catalog.
//!
//! The catalog is a TOML document (`data/catalog.toml` at the repository root is built in) with
//! `[[gpu]]` and `[[model]]` entries. Entries keep their file order; lookups are linear scans over
//! a handful of entries, so there is no map and iteration order is always the file order.
//! Parsing rejects unknown fields and reports the line and column of syntax errors.

use serde::Deserialize;
use std::fmt;

/// The built-in catalog text, embedded at compile time.
const BUILTIN_TOML: &str = include_str!("../../../data/catalog.toml");

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
/// Bytes per activation element (vLLM runs activations in bf16/fp16).
pub const ACTIVATION_BYTES: f64 = 2.0;
/// Non-PyTorch memory (CUDA context, allocator slack, attention workspaces) per GPU; vLLM logs
/// show 0.3–1 GiB.
pub const NON_TORCH_BYTES: f64 = 0.5 * GIB;
/// Extra non-PyTorch memory per GPU for NCCL and custom all-reduce buffers when TP > 1.
pub const NON_TORCH_TP_EXTRA_BYTES: f64 = 0.25 * GIB;
/// CUDA-graph memory per GPU; vLLM logs report 0.32–0.48 GiB for graph capture.
pub const CUDA_GRAPH_BYTES: f64 = 0.4 * GIB;
/// vLLM's default KV block size in tokens.
pub const DEFAULT_BLOCK_SIZE_TOKENS: u32 = 16;

/// vLLM's default scheduling-budget class of a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetClass {
    /// GPUs with at least 70 GiB that are not A100: 8192 batched tokens, 1024 sequences.
    Large,
    /// Everything else (A100, L4, A10G, ...): 2048 batched tokens, 256 sequences.
    Small,
}

/// All-reduce time at one tensor-parallel degree: a measured table or an estimated line.
///
/// A table (`bytes`, `seconds`) is interpolated log-log between its points; below the first
/// point it costs the first time, above the last it grows at the last segment's bandwidth. An
/// entry without measurements gives `latency_s + bytes / bytes_per_s` instead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllReduceFit {
    /// Tensor-parallel degree (number of GPUs in the collective).
    pub tp: u32,
    /// Message sizes of the measured table, increasing.
    #[serde(default)]
    pub bytes: Vec<f64>,
    /// Measured time of one all-reduce at each size of `bytes`.
    #[serde(default)]
    pub seconds: Vec<f64>,
    /// Estimated entries: fixed cost of one all-reduce.
    #[serde(default)]
    pub latency_s: Option<f64>,
    /// Estimated entries: effective bandwidth (message bytes per second).
    #[serde(default)]
    pub bytes_per_s: Option<f64>,
}

impl AllReduceFit {
    /// Time of one all-reduce of `bytes`.
    pub fn time_s(&self, bytes: f64) -> f64 {
        if let (Some(latency_s), Some(bytes_per_s)) = (self.latency_s, self.bytes_per_s) {
            return latency_s + bytes / bytes_per_s;
        }
        let (xs, ys) = (&self.bytes, &self.seconds);
        let last = xs.len() - 1;
        if bytes <= xs[0] {
            return ys[0];
        }
        if bytes >= xs[last] {
            let slope_s_per_byte = (ys[last] - ys[last - 1]) / (xs[last] - xs[last - 1]);
            return ys[last] + (bytes - xs[last]) * slope_s_per_byte.max(0.0);
        }
        let hi = xs.partition_point(|&x| x < bytes);
        let lo = hi - 1;
        let f = (bytes / xs[lo]).ln() / (xs[hi] / xs[lo]).ln();
        (ys[lo].ln() * (1.0 - f) + ys[hi].ln() * f).exp()
    }
}

/// Fitted time of one GEMM (`m` tokens, `k` inputs, `n` outputs) on one GPU for one weight type:
/// `t0 + smax_p(2mnk / (η_c·peak), bytes / (η_bw·BW) · (1 + n_half/n)) + quant·m·k`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GemmFit {
    /// Launch and tail latency of one GEMM.
    pub t0_s: f64,
    /// Compute efficiency against the peak of the weight type.
    pub eta_compute: f64,
    /// Memory efficiency against the bandwidth.
    pub eta_bw: f64,
    /// Exponent of the smooth maximum between the compute and memory times.
    pub smax_p: f64,
    /// Output width below which narrow GEMMs fall short of the memory roofline.
    pub n_half: f64,
    /// Per input element cost of quantising activations (FP8 kernels).
    pub quant_s_per_elem: f64,
}

/// Fitted FlashAttention prefill time, a tile model: the causal query × key tiles of every
/// (sequence, head group) spread over the SMs, bounded below by the longest tile chain.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefillAttentionFit {
    /// The kernel the numbers were measured on, e.g. `fa3` or `fa2`.
    pub kernel: String,
    /// Query rows per tile.
    pub tile_m: u32,
    /// Key columns per tile.
    pub tile_n: u32,
    /// Whether the query heads sharing a KV head share tiles (FA3's PackGQA).
    pub pack_gqa: bool,
    /// Launch latency.
    pub t0_s: f64,
    /// Tensor-core efficiency of a full tile against the BF16 peak.
    pub eta: f64,
    /// Fixed cost of one CTA (prologue, epilogue, KV-cache write of its rows).
    pub cta_s: f64,
    /// Exponent of the smooth maximum between total work and the longest chain.
    pub smax_p: f64,
    /// Per token and head cost (loads, rotary, cache writes).
    pub tok_head_s: f64,
    /// Exponent of the GQA ratio on the tile time.
    pub gqa_alpha: f64,
    /// Exponent of the GQA ratio on the per-token cost.
    pub gqa_beta: f64,
}

/// Fitted decode (one query token) attention time, affine in the KV read for a fixed batch:
/// `smax_p(t0, c·B·hkv) + KV_bytes / (η·BW) · max(1, n_sat / (B·hkv))^γ`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeAttentionFit {
    /// Launch latency.
    pub t0_s: f64,
    /// KV read efficiency against the bandwidth, with enough work items.
    pub eta_kv: f64,
    /// Cost of one (sequence, KV head) work item.
    pub seq_kvhead_s: f64,
    /// Exponent of the smooth maximum between launch latency and work-item cost.
    pub smax_p: f64,
    /// Work items (sequences × KV heads) needed to saturate the bandwidth.
    pub n_sat: f64,
    /// How fast the bandwidth falls below `n_sat` work items.
    pub gamma: f64,
}

/// Fitted fused-MoE kernel time of one layer on one TP rank (every rank holds every expert,
/// each expert's intermediate size split by TP), for `T` tokens routed to `k` of `E` experts:
/// `t0 + smax_p(flops / (η_c·peak), bytes / (η_bw·BW)) + tok·T·k`, where the bytes are the weights
/// of the `min(E, T·k)` experts hit (balanced routing, as measured) plus the activations.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeFit {
    /// Launch latency of the fused kernels (routing, permutation, grouped GEMMs).
    pub t0_s: f64,
    /// Compute efficiency against the peak of the weight type.
    pub eta_compute: f64,
    /// Memory efficiency against the bandwidth.
    pub eta_bw: f64,
    /// Exponent of the smooth maximum between the compute and memory times.
    pub smax_p: f64,
    /// Per routed token cost (permutation, gather, scatter).
    pub tok_s: f64,
}

/// One GPU type: datasheet rates, price, and the fitted kernel times of the step-time model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuSpec {
    /// Catalog key, e.g. `H100-SXM`.
    pub name: String,
    /// Free text: where the numbers come from (measured, derived from another GPU, estimated).
    #[serde(default)]
    pub calibration: String,
    /// True when the kernel fits come from measurements on this GPU; false when derived.
    #[serde(default)]
    pub measured: bool,
    /// Dense BF16 tensor-core rate.
    pub peak_bf16_flops_per_s: f64,
    /// Dense FP8 tensor-core rate; absent on GPUs without FP8 tensor cores.
    #[serde(default)]
    pub peak_fp8_flops_per_s: Option<f64>,
    /// Device memory bandwidth.
    pub mem_bw_bytes_per_s: f64,
    /// Usable device memory as reported by the driver.
    pub mem_bytes: u64,
    /// Streaming multiprocessors (the attention tile model spreads tiles over them).
    pub sm_count: u32,
    /// Default on-demand price per GPU-hour; an overridable estimate.
    pub usd_per_hour: f64,
    /// vLLM default budget class; derived from memory and name when absent.
    #[serde(default)]
    pub budget_class: Option<BudgetClass>,
    /// Element-wise kernels (norms, rotary, SiLU-mul, residual add) efficiency vs bandwidth.
    pub eta_elementwise_bw: f64,
    /// Per-layer latency of the element-wise kernels.
    pub elementwise_floor_s_per_layer: f64,
    /// Per-step host and sampler time not hidden behind GPU work.
    pub step_overhead_s: f64,
    /// Per-scheduled-sequence host time per step.
    pub seq_overhead_s: f64,
    /// Extra per-step host time with tensor parallelism (broadcast of the schedule, gather of
    /// sampled tokens between worker processes).
    #[serde(default)]
    pub tp_step_overhead_s: f64,
    /// BF16 GEMMs.
    pub gemm_bf16: GemmFit,
    /// FP8 GEMMs (weights and activations in FP8); absent without FP8 tensor cores.
    #[serde(default)]
    pub gemm_fp8: Option<GemmFit>,
    /// Prefill attention with a BF16 KV cache.
    pub prefill_attention_bf16: PrefillAttentionFit,
    /// Prefill attention with an FP8 KV cache; the BF16 fit is used when absent.
    #[serde(default)]
    pub prefill_attention_fp8: Option<PrefillAttentionFit>,
    /// Decode attention with a BF16 KV cache.
    pub decode_attention_bf16: DecodeAttentionFit,
    /// Decode attention with an FP8 KV cache; the BF16 fit at one byte per element when absent.
    #[serde(default)]
    pub decode_attention_fp8: Option<DecodeAttentionFit>,
    /// Fused MoE with BF16 experts; absent: expert GEMMs from `gemm_bf16`.
    #[serde(default)]
    pub moe_bf16: Option<MoeFit>,
    /// Fused MoE with FP8 experts; absent: the BF16 MoE fit with one-byte weights.
    #[serde(default)]
    pub moe_fp8: Option<MoeFit>,
    /// All-reduce times by TP degree; TP degrees not listed are unsupported on this GPU.
    #[serde(default)]
    pub all_reduce: Vec<AllReduceFit>,
}

impl GpuSpec {
    /// The vLLM budget class: the explicit value, else large when ≥ 70 GiB and not an A100.
    pub fn budget_class(&self) -> BudgetClass {
        match self.budget_class {
            Some(class) => class,
            None if self.mem_bytes as f64 >= 70.0 * GIB && !self.name.contains("A100") => {
                BudgetClass::Large
            }
            None => BudgetClass::Small,
        }
    }

    /// Time of one all-reduce of `bytes` over `tp` GPUs, or None when TP is not in the table.
    /// TP 1 costs nothing.
    pub fn all_reduce_s(&self, tp: u32, bytes: f64) -> Option<f64> {
        if tp == 1 {
            return Some(0.0);
        }
        self.all_reduce
            .iter()
            .find(|fit| fit.tp == tp)
            .map(|fit| fit.time_s(bytes))
    }
}

/// One dense decoder-only model with a gated MLP and grouped-query attention.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Catalog key, e.g. `Llama-3-8B`.
    pub name: String,
    /// Transformer layers.
    pub layers: u32,
    /// Hidden size d.
    pub hidden: u32,
    /// Query heads.
    pub q_heads: u32,
    /// Key/value heads.
    pub kv_heads: u32,
    /// Head dimension.
    pub head_dim: u32,
    /// MLP intermediate size (gate and up projections each map hidden -> ffn).
    pub ffn: u32,
    /// Vocabulary size.
    pub vocab: u32,
    /// Bytes per weight (2 for bf16).
    pub weight_bytes_per_param: f64,
    /// Bytes per KV-cache element (2 for bf16, 1 for fp8).
    pub kv_bytes_per_elem: f64,
    /// Default (and maximum) context length.
    pub max_model_len: u32,
    /// Whether the LM head shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Experts of a mixture-of-experts MLP (each with intermediate size `ffn`); 0 for a dense MLP.
    #[serde(default)]
    pub experts: u32,
    /// Experts each token is routed to.
    #[serde(default)]
    pub experts_per_token: u32,
}

impl ModelSpec {
    /// Parameters of one layer on one GPU at tensor-parallel degree `tp` (KV heads replicate
    /// when `tp` exceeds their count; norms are replicated).
    pub fn layer_params_per_gpu(&self, tp: u32) -> f64 {
        let d = f64::from(self.hidden);
        let dh = f64::from(self.head_dim);
        let t = f64::from(tp);
        let hq = f64::from(self.q_heads) / t;
        let hkv = f64::from(self.kv_heads_per_gpu(tp));
        let ffn = f64::from(self.ffn) / t;
        // A mixture of experts holds every expert's shard and a replicated router.
        let mlp = if self.experts > 0 {
            let experts = f64::from(self.experts);
            experts * 3.0 * d * ffn + d * experts
        } else {
            3.0 * d * ffn
        };
        2.0 * d * hq * dh + 2.0 * d * hkv * dh + mlp + 2.0 * d
    }

    /// Whether the MLP is a mixture of experts.
    pub fn is_moe(&self) -> bool {
        self.experts > 0
    }

    /// KV heads held by one GPU: `ceil(kv_heads / tp)`.
    pub fn kv_heads_per_gpu(&self, tp: u32) -> u32 {
        self.kv_heads.div_ceil(tp.max(1))
    }

    /// Non-embedding parameters (all layers plus the final norm).
    pub fn body_params(&self) -> f64 {
        f64::from(self.layers) * self.layer_params_per_gpu(1) + f64::from(self.hidden)
    }

    /// Parameters of the token embedding (vocab × hidden).
    pub fn embedding_params(&self) -> f64 {
        f64::from(self.vocab) * f64::from(self.hidden)
    }

    /// Parameters of the LM head that are not shared with the embedding.
    pub fn lm_head_params(&self) -> f64 {
        if self.tie_word_embeddings {
            0.0
        } else {
            self.embedding_params()
        }
    }

    /// Total parameter count.
    pub fn total_params(&self) -> f64 {
        self.body_params() + self.embedding_params() + self.lm_head_params()
    }

    /// Weight memory on one GPU at tensor-parallel degree `tp` (embedding and head vocab-sharded).
    pub fn weight_bytes_per_gpu(&self, tp: u32) -> f64 {
        let vocab_part = (self.embedding_params() + self.lm_head_params()) / f64::from(tp);
        let body = f64::from(self.layers) * self.layer_params_per_gpu(tp) + f64::from(self.hidden);
        (body + vocab_part) * self.weight_bytes_per_param
    }

    /// KV-cache bytes per token on one GPU, all layers, K and V.
    pub fn kv_bytes_per_token_per_gpu(&self, tp: u32) -> f64 {
        2.0 * f64::from(self.layers)
            * f64::from(self.kv_heads_per_gpu(tp))
            * f64::from(self.head_dim)
            * self.kv_bytes_per_elem
    }

    /// Checks that the model can be split over `tp` GPUs.
    pub fn check_tp(&self, tp: u32) -> Result<(), String> {
        if tp == 0 {
            return Err("tensor-parallel degree must be at least 1".to_string());
        }
        if !self.q_heads.is_multiple_of(tp) || !self.ffn.is_multiple_of(tp) {
            return Err(format!(
                "{}: tensor-parallel degree {tp} must divide q_heads ({}) and ffn ({})",
                self.name, self.q_heads, self.ffn
            ));
        }
        Ok(())
    }
}

/// A parse or validation error in a catalog document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError {
    /// 1-based line of the problem, when known.
    pub line: Option<u64>,
    /// 1-based column of the problem, when known.
    pub column: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for CatalogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, "catalog:{line}:{column}: {}", self.message),
            (Some(line), None) => write!(f, "catalog:{line}: {}", self.message),
            _ => write!(f, "catalog: {}", self.message),
        }
    }
}

impl std::error::Error for CatalogError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    #[serde(default)]
    gpu: Vec<GpuSpec>,
    #[serde(default)]
    model: Vec<ModelSpec>,
}

/// An ordered set of GPU and model entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    gpus: Vec<GpuSpec>,
    models: Vec<ModelSpec>,
}

/// 1-based (line, column) of a byte offset in `text`.
fn line_column(text: &str, offset: usize) -> (u64, u64) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u64 + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() as u64 + 1;
    (line, column)
}

/// Error located at the entry whose `name = "<name>"` line appears first in `text`.
fn entry_error(text: &str, name: &str, message: String) -> CatalogError {
    let needle = format!("\"{name}\"");
    let line = text
        .lines()
        .position(|l| l.trim_start().starts_with("name") && l.contains(&needle))
        .map(|i| i as u64 + 1);
    CatalogError {
        line,
        column: None,
        message,
    }
}

fn check_positive(what: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{what} must be a positive finite number, got {value}"
        ))
    }
}

fn check_non_negative(what: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(format!(
            "{what} must be a non-negative finite number, got {value}"
        ))
    }
}

fn check_efficiency(what: &str, eta: f64) -> Result<(), String> {
    check_positive(what, eta)?;
    // Fitted efficiencies may pass 1 a little where a datasheet rate is conservative; more
    // than that is a typo.
    if eta > 1.5 {
        return Err(format!(
            "{what} is an efficiency and must be at most 1.5, got {eta}"
        ));
    }
    Ok(())
}

fn check_exponent(what: &str, p: f64) -> Result<(), String> {
    if p.is_finite() && (1.0..=64.0).contains(&p) {
        Ok(())
    } else {
        Err(format!("{what} must be between 1 and 64, got {p}"))
    }
}

fn validate_gemm(what: &str, fit: &GemmFit) -> Result<(), String> {
    check_non_negative(&format!("{what}.t0_s"), fit.t0_s)?;
    check_efficiency(&format!("{what}.eta_compute"), fit.eta_compute)?;
    check_efficiency(&format!("{what}.eta_bw"), fit.eta_bw)?;
    check_exponent(&format!("{what}.smax_p"), fit.smax_p)?;
    check_non_negative(&format!("{what}.n_half"), fit.n_half)?;
    check_non_negative(&format!("{what}.quant_s_per_elem"), fit.quant_s_per_elem)
}

fn validate_prefill(what: &str, fit: &PrefillAttentionFit) -> Result<(), String> {
    if fit.tile_m == 0 || fit.tile_n == 0 {
        return Err(format!("{what}: tile_m and tile_n must be at least 1"));
    }
    check_non_negative(&format!("{what}.t0_s"), fit.t0_s)?;
    check_efficiency(&format!("{what}.eta"), fit.eta)?;
    check_non_negative(&format!("{what}.cta_s"), fit.cta_s)?;
    check_exponent(&format!("{what}.smax_p"), fit.smax_p)?;
    check_non_negative(&format!("{what}.tok_head_s"), fit.tok_head_s)?;
    for (name, value) in [("gqa_alpha", fit.gqa_alpha), ("gqa_beta", fit.gqa_beta)] {
        if !(value.is_finite() && value.abs() <= 2.0) {
            return Err(format!(
                "{what}.{name} must be between -2 and 2, got {value}"
            ));
        }
    }
    Ok(())
}

fn validate_decode(what: &str, fit: &DecodeAttentionFit) -> Result<(), String> {
    check_non_negative(&format!("{what}.t0_s"), fit.t0_s)?;
    check_efficiency(&format!("{what}.eta_kv"), fit.eta_kv)?;
    check_non_negative(&format!("{what}.seq_kvhead_s"), fit.seq_kvhead_s)?;
    check_exponent(&format!("{what}.smax_p"), fit.smax_p)?;
    check_non_negative(&format!("{what}.n_sat"), fit.n_sat)?;
    if !(fit.gamma.is_finite() && (0.0..=4.0).contains(&fit.gamma)) {
        return Err(format!(
            "{what}.gamma must be between 0 and 4, got {}",
            fit.gamma
        ));
    }
    Ok(())
}

fn validate_all_reduce(i: usize, fit: &AllReduceFit) -> Result<(), String> {
    if fit.tp < 2 {
        return Err(format!(
            "all_reduce[{i}]: tp must be at least 2, got {}",
            fit.tp
        ));
    }
    match (fit.latency_s, fit.bytes_per_s, fit.bytes.is_empty()) {
        (Some(latency_s), Some(bytes_per_s), true) if fit.seconds.is_empty() => {
            check_non_negative("all_reduce latency_s", latency_s)?;
            check_positive("all_reduce bytes_per_s", bytes_per_s)
        }
        (None, None, false) => {
            if fit.bytes.len() != fit.seconds.len() || fit.bytes.len() < 2 {
                return Err(format!(
                    "all_reduce[{i}]: bytes and seconds must have the same length, at least 2"
                ));
            }
            for (&b, &t) in fit.bytes.iter().zip(&fit.seconds) {
                check_positive("all_reduce bytes", b)?;
                check_positive("all_reduce seconds", t)?;
            }
            if fit.bytes.windows(2).any(|w| w[0] >= w[1]) {
                return Err(format!("all_reduce[{i}]: bytes must increase"));
            }
            Ok(())
        }
        _ => Err(format!(
            "all_reduce[{i}]: give either a measured table (bytes, seconds) or an estimate \
             (latency_s, bytes_per_s)"
        )),
    }
}

fn validate_gpu(gpu: &GpuSpec) -> Result<(), String> {
    check_positive("peak_bf16_flops_per_s", gpu.peak_bf16_flops_per_s)?;
    if let Some(peak) = gpu.peak_fp8_flops_per_s {
        check_positive("peak_fp8_flops_per_s", peak)?;
    }
    check_positive("mem_bw_bytes_per_s", gpu.mem_bw_bytes_per_s)?;
    check_positive("mem_bytes", gpu.mem_bytes as f64)?;
    check_positive("sm_count", f64::from(gpu.sm_count))?;
    check_non_negative("usd_per_hour", gpu.usd_per_hour)?;
    check_efficiency("eta_elementwise_bw", gpu.eta_elementwise_bw)?;
    check_non_negative(
        "elementwise_floor_s_per_layer",
        gpu.elementwise_floor_s_per_layer,
    )?;
    check_non_negative("step_overhead_s", gpu.step_overhead_s)?;
    check_non_negative("seq_overhead_s", gpu.seq_overhead_s)?;
    check_non_negative("tp_step_overhead_s", gpu.tp_step_overhead_s)?;
    validate_gemm("gemm_bf16", &gpu.gemm_bf16)?;
    if let Some(fit) = &gpu.gemm_fp8 {
        if gpu.peak_fp8_flops_per_s.is_none() {
            return Err("gemm_fp8 needs peak_fp8_flops_per_s".into());
        }
        validate_gemm("gemm_fp8", fit)?;
    }
    validate_prefill("prefill_attention_bf16", &gpu.prefill_attention_bf16)?;
    if let Some(fit) = &gpu.prefill_attention_fp8 {
        validate_prefill("prefill_attention_fp8", fit)?;
    }
    validate_decode("decode_attention_bf16", &gpu.decode_attention_bf16)?;
    if let Some(fit) = &gpu.decode_attention_fp8 {
        validate_decode("decode_attention_fp8", fit)?;
    }
    for (what, fit) in [("moe_bf16", &gpu.moe_bf16), ("moe_fp8", &gpu.moe_fp8)] {
        if let Some(fit) = fit {
            check_non_negative(&format!("{what}.t0_s"), fit.t0_s)?;
            check_efficiency(&format!("{what}.eta_compute"), fit.eta_compute)?;
            check_efficiency(&format!("{what}.eta_bw"), fit.eta_bw)?;
            check_exponent(&format!("{what}.smax_p"), fit.smax_p)?;
            check_non_negative(&format!("{what}.tok_s"), fit.tok_s)?;
        }
    }
    if gpu.moe_fp8.is_some() && gpu.peak_fp8_flops_per_s.is_none() {
        return Err("moe_fp8 needs peak_fp8_flops_per_s".into());
    }
    for (i, fit) in gpu.all_reduce.iter().enumerate() {
        validate_all_reduce(i, fit)?;
        if gpu.all_reduce[..i].iter().any(|other| other.tp == fit.tp) {
            return Err(format!("all_reduce: tp {} listed twice", fit.tp));
        }
    }
    Ok(())
}

fn validate_model(model: &ModelSpec) -> Result<(), String> {
    for (what, value) in [
        ("layers", model.layers),
        ("hidden", model.hidden),
        ("q_heads", model.q_heads),
        ("kv_heads", model.kv_heads),
        ("head_dim", model.head_dim),
        ("ffn", model.ffn),
        ("vocab", model.vocab),
        ("max_model_len", model.max_model_len),
    ] {
        if value == 0 {
            return Err(format!("{what} must be at least 1"));
        }
    }
    if !model.q_heads.is_multiple_of(model.kv_heads) {
        return Err(format!(
            "q_heads ({}) must be a multiple of kv_heads ({})",
            model.q_heads, model.kv_heads
        ));
    }
    if model.experts > 0
        && (model.experts_per_token == 0 || model.experts_per_token > model.experts)
    {
        return Err(format!(
            "experts_per_token must be between 1 and experts ({}), got {}",
            model.experts, model.experts_per_token
        ));
    }
    if model.experts == 0 && model.experts_per_token > 0 {
        return Err("experts_per_token needs experts".into());
    }
    check_positive("weight_bytes_per_param", model.weight_bytes_per_param)?;
    check_positive("kv_bytes_per_elem", model.kv_bytes_per_elem)?;
    Ok(())
}

impl Catalog {
    /// The catalog shipped with the simulator (`data/catalog.toml`), parsed once per process:
    /// a sweep loads every point's scenario, and parsing it for each of 10,000 points was a
    /// third of planning.
    pub fn builtin() -> Catalog {
        static BUILTIN: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        BUILTIN
            .get_or_init(|| match Catalog::parse(BUILTIN_TOML) {
                Ok(catalog) => catalog,
                // The built-in file is covered by tests; failing here is a build defect.
                Err(err) => panic!("built-in catalog is invalid: {err}"),
            })
            .clone()
    }

    /// Parses and validates a catalog document.
    pub fn parse(text: &str) -> Result<Catalog, CatalogError> {
        let file: CatalogFile = toml::from_str(text).map_err(|err| {
            let (line, column) = match err.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    (Some(line), Some(column))
                }
                None => (None, None),
            };
            CatalogError {
                line,
                column,
                message: err.message().trim().to_string(),
            }
        })?;
        for (i, gpu) in file.gpu.iter().enumerate() {
            if gpu.name.is_empty() {
                return Err(entry_error(text, "", "gpu name must not be empty".into()));
            }
            if file.gpu[..i].iter().any(|other| other.name == gpu.name) {
                let msg = format!("gpu {:?} is defined twice", gpu.name);
                return Err(entry_error(text, &gpu.name, msg));
            }
            validate_gpu(gpu).map_err(|msg| {
                entry_error(text, &gpu.name, format!("gpu {:?}: {msg}", gpu.name))
            })?;
        }
        for (i, model) in file.model.iter().enumerate() {
            if model.name.is_empty() {
                return Err(entry_error(text, "", "model name must not be empty".into()));
            }
            if file.model[..i].iter().any(|other| other.name == model.name) {
                let msg = format!("model {:?} is defined twice", model.name);
                return Err(entry_error(text, &model.name, msg));
            }
            validate_model(model).map_err(|msg| {
                entry_error(text, &model.name, format!("model {:?}: {msg}", model.name))
            })?;
        }
        Ok(Catalog {
            gpus: file.gpu,
            models: file.model,
        })
    }

    /// Adds the entries of `other`; an entry with an existing name replaces it in place.
    pub fn extend(&mut self, other: Catalog) {
        for gpu in other.gpus {
            match self.gpus.iter_mut().find(|g| g.name == gpu.name) {
                Some(slot) => *slot = gpu,
                None => self.gpus.push(gpu),
            }
        }
        for model in other.models {
            match self.models.iter_mut().find(|m| m.name == model.name) {
                Some(slot) => *slot = model,
                None => self.models.push(model),
            }
        }
    }

    /// The GPU called `name`.
    pub fn gpu(&self, name: &str) -> Option<&GpuSpec> {
        self.gpus.iter().find(|g| g.name == name)
    }

    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// GPU names in catalog order.
    pub fn gpu_names(&self) -> impl Iterator<Item = &str> {
        self.gpus.iter().map(|g| g.name.as_str())
    }

    /// Model names in catalog order.
    pub fn model_names(&self) -> impl Iterator<Item = &str> {
        self.models.iter().map(|m| m.name.as_str())
    }

    /// All GPUs in catalog order.
    pub fn gpus(&self) -> &[GpuSpec] {
        &self.gpus
    }

    /// All models in catalog order.
    pub fn models(&self) -> &[ModelSpec] {
        &self.models
    }
}

/// vLLM's default `max_num_batched_tokens` for `vllm serve` on this GPU.
pub fn default_max_num_batched_tokens(gpu: &GpuSpec) -> u32 {
    match gpu.budget_class() {
        BudgetClass::Large => 8192,
        BudgetClass::Small => 2048,
    }
}

/// vLLM's default `max_num_seqs` for `vllm serve` on this GPU (never above the token budget).
pub fn default_max_num_seqs(gpu: &GpuSpec) -> u32 {
    let seqs = match gpu.budget_class() {
        BudgetClass::Large => 1024,
        BudgetClass::Small => 256,
    };
    seqs.min(default_max_num_batched_tokens(gpu))
}

/// Peak PyTorch activation memory of vLLM's profiling run on one GPU, in bytes.
///
/// Estimate: the larger of the dummy forward pass over `max_num_batched_tokens` tokens (hidden
/// state, residual, normed input and attention output at `hidden` each, the QKV output, and the
/// gate/up output plus the activated half of the MLP) and the dummy sampler pass over `num_seqs`
/// rows of fp32 logits (logits plus one working copy).
pub fn activation_peak_bytes(
    model: &ModelSpec,
    tp: u32,
    max_num_batched_tokens: u32,
    num_seqs: u32,
) -> f64 {
    let t = f64::from(tp.max(1));
    let d = f64::from(model.hidden);
    let qkv = (f64::from(model.q_heads) / t + 2.0 * f64::from(model.kv_heads_per_gpu(tp)))
        * f64::from(model.head_dim);
    let mlp = 3.0 * f64::from(model.ffn) / t;
    let forward = f64::from(max_num_batched_tokens) * (4.0 * d + qkv + mlp) * ACTIVATION_BYTES;
    let sampler = f64::from(num_seqs) * f64::from(model.vocab) / t * 4.0 * 2.0;
    forward.max(sampler)
}

/// Number of KV-cache blocks vLLM would allocate per GPU (the same on every TP rank):
/// `floor((mem·u − weights/TP − activation_peak − non_torch − cuda_graph) / (kv bytes per token · block))`.
///
/// The activation peak uses `min(max_num_batched_tokens, default_max_num_seqs(gpu))` dummy
/// sequences for the sampler; non-torch and CUDA-graph memory are the documented constants
/// [`NON_TORCH_BYTES`], [`NON_TORCH_TP_EXTRA_BYTES`] and [`CUDA_GRAPH_BYTES`].
pub fn kv_cache_blocks(
    gpu: &GpuSpec,
    model: &ModelSpec,
    tp: u32,
    gpu_memory_utilization: f64,
    max_num_batched_tokens: u32,
    block_size_tokens: u32,
) -> Result<u32, String> {
    model.check_tp(tp)?;
    if !(gpu_memory_utilization > 0.0 && gpu_memory_utilization <= 1.0) {
        return Err(format!(
            "gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}"
        ));
    }
    if block_size_tokens == 0 || max_num_batched_tokens == 0 {
        return Err("block_size_tokens and max_num_batched_tokens must be at least 1".into());
    }
    let requested = (gpu.mem_bytes as f64 * gpu_memory_utilization).ceil();
    let weights = model.weight_bytes_per_gpu(tp);
    let num_seqs = max_num_batched_tokens.min(default_max_num_seqs(gpu));
    let activation = activation_peak_bytes(model, tp, max_num_batched_tokens, num_seqs);
    let non_torch = NON_TORCH_BYTES
        + if tp > 1 {
            NON_TORCH_TP_EXTRA_BYTES
        } else {
            0.0
        };
    let used = weights + activation + non_torch + CUDA_GRAPH_BYTES;
    let available = requested - used;
    let block_bytes = model.kv_bytes_per_token_per_gpu(tp) * f64::from(block_size_tokens);
    let blocks = (available / block_bytes).floor();
    if blocks < 1.0 {
        return Err(format!(
            "{} does not fit on {} at TP {tp}: weights {:.2} GiB + activations {:.2} GiB + \
             runtime {:.2} GiB per GPU exceed the {:.2} GiB allowed by \
             gpu_memory_utilization {gpu_memory_utilization}",
            model.name,
            gpu.name,
            weights / GIB,
            activation / GIB,
            (non_torch + CUDA_GRAPH_BYTES) / GIB,
            requested / GIB,
        ));
    }
    Ok(blocks.min(f64::from(u32::MAX)) as u32)
}

/// Checks a requested `max_model_len` against the model's limit and the KV capacity, as vLLM
/// does at start-up (one full-length sequence must fit in the cache).
pub fn check_max_model_len(
    model: &ModelSpec,
    max_model_len: u32,
    kv_blocks: u32,
    block_size_tokens: u32,
) -> Result<(), String> {
    if max_model_len == 0 {
        return Err("max_model_len must be at least 1".into());
    }
    if max_model_len > model.max_model_len {
        return Err(format!(
            "max_model_len {max_model_len} exceeds {}'s maximum of {}",
            model.name, model.max_model_len
        ));
    }
    let kv_tokens = u64::from(kv_blocks) * u64::from(block_size_tokens);
    if u64::from(max_model_len) > kv_tokens {
        return Err(format!(
            "max_model_len {max_model_len} is larger than the KV cache can hold ({kv_tokens} \
             tokens); lower max_model_len or raise gpu_memory_utilization"
        ));
    }
    Ok(())
}

/// vLLM's reported "maximum concurrency": KV tokens divided by `max_model_len`.
pub fn max_concurrency(kv_blocks: u32, block_size_tokens: u32, max_model_len: u32) -> f64 {
    f64::from(kv_blocks) * f64::from(block_size_tokens) / f64::from(max_model_len.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs one bad-catalog fixture: its first line is `# expect: line[:column]: message`.
    fn check_error_fixture(path: &std::path::Path) {
        let text = std::fs::read_to_string(path).expect("fixture readable");
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .expect("fixture starts with # expect:");
        let (position, message) = expect.split_once(": ").expect("position: message");
        let mut numbers = position
            .split(':')
            .map(|n| n.parse::<u64>().expect("number"));
        let line = numbers.next();
        let column = numbers.next();
        let err = Catalog::parse(&text).expect_err("fixture must be rejected");
        let name = path.display();
        assert_eq!(err.line, line, "{name}: {err}");
        if column.is_some() {
            assert_eq!(err.column, column, "{name}: {err}");
        }
        assert!(err.message.contains(message), "{name}: {err}");
        assert!(
            err.to_string().starts_with(&format!("catalog:{position}")),
            "{name}: {err}"
        );
    }

    #[test]
    fn bad_catalogs_report_positions() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/perf/catalog_errors");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("fixture dir")
            .map(|e| e.expect("dir entry").path())
            .collect();
        paths.sort();
        assert!(paths.len() >= 5);
        for path in &paths {
            check_error_fixture(path);
        }
    }

    #[test]
    fn builtin_has_required_entries_in_file_order() {
        let catalog = Catalog::builtin();
        let gpus: Vec<&str> = catalog.gpu_names().collect();
        for required in ["A100-80GB", "H100-SXM", "H200", "L4", "A10G"] {
            assert!(gpus.contains(&required), "missing {required}");
        }
        assert_eq!(gpus[0], "A100-80GB");
        for required in [
            "Llama-3-8B",
            "Mistral-7B",
            "Llama-3-70B",
            "Llama-2-7B",
            "Llama-2-70B",
        ] {
            assert!(catalog.model(required).is_some(), "missing {required}");
        }
        assert!(catalog.gpu("B300").is_none());
    }

    #[test]
    fn derived_parameter_counts_match_published_sizes() {
        let catalog = Catalog::builtin();
        // Published parameter counts (model cards), in billions.
        for (name, billions) in [
            ("Llama-3-8B", 8.03),
            ("Llama-3-70B", 70.55),
            ("Mistral-7B", 7.25),
            ("Llama-2-7B", 6.74),
            ("Llama-2-70B", 68.98),
            ("Llama-3.1-70B", 70.55),
            ("Qwen3-8B", 8.19),
            ("Qwen3-32B", 32.76),
            ("Mixtral-8x7B", 46.70),
            ("Qwen3-30B-A3B", 30.53),
            ("Qwen3-235B-A22B", 235.09),
        ] {
            let params = catalog.model(name).expect("model").total_params() / 1e9;
            assert!(
                (params / billions - 1.0).abs() < 0.005,
                "{name}: {params} B"
            );
        }
        let llama3 = catalog.model("Llama-3-8B").expect("model");
        assert_eq!(llama3.kv_bytes_per_token_per_gpu(1), 131_072.0);
        let llama70 = catalog.model("Llama-3-70B").expect("model");
        assert_eq!(llama70.kv_bytes_per_token_per_gpu(1), 327_680.0);
        assert_eq!(llama70.kv_bytes_per_token_per_gpu(8), 40_960.0);
    }

    #[test]
    fn budget_classes_follow_the_vllm_rule() {
        let catalog = Catalog::builtin();
        for (gpu, tokens, seqs) in [
            ("H100-SXM", 8192, 1024),
            ("H200", 8192, 1024),
            ("A100-80GB", 2048, 256),
            ("L4", 2048, 256),
            ("A10G", 2048, 256),
        ] {
            let spec = catalog.gpu(gpu).expect("gpu");
            assert_eq!(default_max_num_batched_tokens(spec), tokens, "{gpu}");
            assert_eq!(default_max_num_seqs(spec), seqs, "{gpu}");
        }
        // Without an explicit class the rule is derived from memory and name.
        let mut big = catalog.gpu("H200").expect("gpu").clone();
        big.budget_class = None;
        assert_eq!(big.budget_class(), BudgetClass::Large);
        big.name = "A100-160GB".into();
        assert_eq!(big.budget_class(), BudgetClass::Small);
        let mut small = catalog.gpu("L4").expect("gpu").clone();
        small.budget_class = None;
        assert_eq!(small.budget_class(), BudgetClass::Small);
    }

    #[test]
    fn extend_replaces_by_name_and_appends_new_entries() {
        let mut catalog = Catalog::builtin();
        let before: Vec<String> = catalog.model_names().map(String::from).collect();
        let mut extra = Catalog::builtin();
        extra.gpus.retain(|g| g.name == "L4");
        extra.gpus[0].usd_per_hour = 0.5;
        extra.models.retain(|m| m.name == "Llama-2-7B");
        extra.models[0].name = "My-7B".into();
        catalog.extend(extra);
        assert_eq!(catalog.gpu("L4").expect("gpu").usd_per_hour, 0.5);
        assert_eq!(catalog.gpus().len(), Catalog::builtin().gpus().len());
        let after: Vec<String> = catalog.model_names().map(String::from).collect();
        assert_eq!(&after[..before.len()], &before[..]);
        assert_eq!(after.last().map(String::as_str), Some("My-7B"));
    }

    #[test]
    fn kv_cache_sizing() {
        let catalog = Catalog::builtin();
        let h100 = catalog.gpu("H100-SXM").expect("gpu");
        let l4 = catalog.gpu("L4").expect("gpu");
        let llama8 = catalog.model("Llama-3-8B").expect("model");
        let llama70 = catalog.model("Llama-3-70B").expect("model");
        // vLLM logs for Llama-3-8B on one 80 GB H100 at 0.9 report roughly 28k blocks (~450k tokens).
        let blocks = kv_cache_blocks(h100, llama8, 1, 0.9, 8192, 16).expect("fits");
        assert!((25_000..31_000).contains(&blocks), "{blocks}");
        // More memory utilisation gives more blocks; TP 4 gives more blocks per rank.
        assert!(kv_cache_blocks(h100, llama8, 1, 0.95, 8192, 16).expect("fits") > blocks);
        let tp4 = kv_cache_blocks(h100, llama70, 4, 0.9, 8192, 16).expect("fits");
        let tp8 = kv_cache_blocks(h100, llama70, 8, 0.9, 8192, 16).expect("fits");
        assert!(tp8 > tp4, "{tp4} {tp8}");
        let err = kv_cache_blocks(l4, llama70, 1, 0.9, 2048, 16).expect_err("70B on one L4");
        assert!(err.contains("does not fit") && err.contains("L4"), "{err}");
        assert!(kv_cache_blocks(h100, llama70, 3, 0.9, 8192, 16).is_err());
        assert!(kv_cache_blocks(h100, llama8, 1, 1.5, 8192, 16).is_err());

        let llama31 = catalog.model("Llama-3.1-8B").expect("model");
        let l4_blocks = kv_cache_blocks(l4, llama31, 1, 0.9, 2048, 16).expect("8B fits on L4");
        let err = check_max_model_len(llama31, 131_072, l4_blocks, 16).expect_err("too long");
        assert!(err.contains("KV cache"), "{err}");
        assert!(check_max_model_len(llama31, 8192, l4_blocks, 16).is_ok());
        assert!(check_max_model_len(llama8, 16_384, blocks, 16).is_err());
        assert_eq!(max_concurrency(100, 16, 800), 2.0);
    }
}
