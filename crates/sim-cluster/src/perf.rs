//! Time of one vLLM engine step on one replica, from the step's shape.
//!
//! Each kernel family has its own fitted form (the catalog's `[[gpu]]` entries, regenerated from
//! measured vLLM kernel times by `crates/sim-cluster/fit/fit_catalog.py`; `docs/calibration.md`
//! has the forms, the data and the error table). Per step on one TP rank, with `L` layers and
//! `n` new tokens padded to a CUDA-graph size:
//! * GEMMs: `L·(QKV + O + gate-up + down)` at `m = n`, plus the LM head at `m` = sampled
//!   sequences, each `t0 + smax_p(compute, memory) + activation quantisation`. A
//!   mixture-of-experts layer replaces gate-up and down by a router GEMM and the fused-MoE
//!   kernel, whose memory term streams the weights of the experts the tokens hit.
//! * Element-wise kernels (norms, rotary, SiLU-mul, residual add): `L·(floor + n·bytes/BW)`.
//! * Attention: prefill chunks through a FlashAttention tile model (causal tile pairs spread over
//!   the SMs, bounded by the longest chain of tiles), decodes through a form affine in the KV
//!   read; one launch when both share a step.
//! * Tensor parallelism: two all-reduces per layer of `n·hidden·2` bytes from the measured table,
//!   plus a per-step host cost.
//! * Host: per step and per scheduled sequence.
//!
//! For a decode-only step everything but the KV read depends on the batch only, so decode time
//! is exactly affine in the total context, which [`StepTimeModel::decode_affine`] exposes and the
//! engine's closed-form decode runs rely on.

use crate::catalog::{
    ACTIVATION_BYTES, DecodeAttentionFit, GemmFit, GpuSpec, ModelSpec, MoeFit, PrefillAttentionFit,
};

/// Largest token count vLLM captures a CUDA graph for; larger steps run eagerly, unpadded.
pub const DEFAULT_CUDA_GRAPH_MAX_TOKENS: u32 = 512;

/// Aggregate shape of one engine step, built with [`StepTimeModel::add`] per scheduled request
/// (or [`StepShape::decode`] for a decode-only step).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepShape {
    /// New tokens in the step, `N = Σ q_i`.
    pub num_tokens: u32,
    /// Scheduled requests.
    pub num_seqs: u32,
    /// Requests that produce a token this step (decodes and prefills that finish their prompt).
    pub num_sampled: u32,
    /// Requests with one new token (the decode attention path).
    pub decode_seqs: u32,
    /// KV tokens the decodes attend to, `Σ (c_i + 1)`.
    pub decode_kv_tokens: u64,
    /// Requests with more than one new token (the prefill attention path).
    pub prefill_seqs: u32,
    /// New tokens of the prefill chunks.
    pub prefill_tokens: u32,
    /// Thread blocks (query tiles × head groups) of the prefill chunks.
    pub prefill_ctas: f64,
    /// Query × key tile pairs under the causal mask, over all head groups.
    pub prefill_pairs: f64,
    /// Longest chain of key tiles one query tile walks.
    pub prefill_chain: u32,
}

impl StepShape {
    /// An empty step.
    pub fn new() -> StepShape {
        StepShape::default()
    }

    /// A decode-only step: `batch` requests with one new token each and `ctx_tokens = Σ c_i`.
    pub fn decode(batch: u32, ctx_tokens: u64) -> StepShape {
        StepShape {
            num_tokens: batch,
            num_seqs: batch,
            num_sampled: batch,
            decode_seqs: batch,
            decode_kv_tokens: ctx_tokens + u64::from(batch),
            ..StepShape::default()
        }
    }
}

/// The parts of a step time, for inspection and calibration; they sum to
/// [`StepTimeModel::step_time_s`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepTimeParts {
    /// GEMMs of all layers plus the LM head.
    pub linear_s: f64,
    /// Norms, rotary, activation and residual kernels.
    pub elementwise_s: f64,
    /// Attention kernels including the KV-cache write.
    pub attention_s: f64,
    /// Tensor-parallel all-reduces.
    pub comm_s: f64,
    /// Host and sampler overhead.
    pub fixed_s: f64,
}

impl StepTimeParts {
    /// Sum of the parts.
    pub fn total_s(&self) -> f64 {
        self.linear_s + self.elementwise_s + self.attention_s + self.comm_s + self.fixed_s
    }
}

/// Smooth maximum `(a^p + b^p)^(1/p)` of two non-negative times.
#[inline]
pub fn smax_p(a: f64, b: f64, p: f64) -> f64 {
    let m = a.max(b);
    if m <= 0.0 {
        return 0.0;
    }
    m * ((a / m).powf(p) + (b / m).powf(p)).powf(1.0 / p)
}

/// Token count after CUDA-graph padding: 1, 2, 4, then multiples of 8 up to `max`; larger
/// steps are not padded.
#[inline]
pub fn cuda_graph_padded_tokens(num_tokens: u32, max: u32) -> u32 {
    if num_tokens > max || num_tokens <= 2 {
        num_tokens
    } else if num_tokens <= 4 {
        4
    } else {
        num_tokens.div_ceil(8) * 8
    }
}

/// Precision of the GEMM weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightDtype {
    /// BF16 (or FP16) weights and activations.
    Bf16,
    /// FP8 weights; activations quantised to FP8 where the GPU has FP8 tensor cores.
    Fp8,
}

/// Precision of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvDtype {
    /// BF16 (or FP16) KV cache.
    Bf16,
    /// FP8 KV cache.
    Fp8,
}

/// One GEMM kernel family on one GPU, with the byte widths it streams.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Gemm {
    fit: GemmFit,
    peak_flops_per_s: f64,
    mem_bw_bytes_per_s: f64,
    weight_bytes: f64,
    input_bytes: f64,
}

impl Gemm {
    /// The GEMM kernels a GPU runs for `dtype` weights: FP8 tensor cores when it has them,
    /// otherwise BF16 kernels that read one-byte weights (weight-only FP8, as vLLM's Marlin path).
    fn new(gpu: &GpuSpec, dtype: WeightDtype) -> Gemm {
        let bf16 = Gemm {
            fit: gpu.gemm_bf16,
            peak_flops_per_s: gpu.peak_bf16_flops_per_s,
            mem_bw_bytes_per_s: gpu.mem_bw_bytes_per_s,
            weight_bytes: 2.0,
            input_bytes: ACTIVATION_BYTES,
        };
        match (dtype, gpu.gemm_fp8, gpu.peak_fp8_flops_per_s) {
            (WeightDtype::Bf16, _, _) => bf16,
            (WeightDtype::Fp8, Some(fit), Some(peak)) => Gemm {
                fit,
                peak_flops_per_s: peak,
                weight_bytes: 1.0,
                input_bytes: 1.0,
                ..bf16
            },
            (WeightDtype::Fp8, _, _) => Gemm {
                weight_bytes: 1.0,
                ..bf16
            },
        }
    }

    #[inline]
    fn time_s(&self, m: f64, n: f64, k: f64) -> f64 {
        let f = &self.fit;
        let compute = 2.0 * m * n * k / (f.eta_compute * self.peak_flops_per_s);
        let bytes = n * k * self.weight_bytes + m * k * self.input_bytes + m * n * ACTIVATION_BYTES;
        let memory = bytes / (f.eta_bw * self.mem_bw_bytes_per_s) * (1.0 + f.n_half / n);
        f.t0_s + smax_p(compute, memory, f.smax_p) + f.quant_s_per_elem * m * k
    }
}

/// The MLP of a mixture-of-experts layer on one TP rank.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Moe {
    /// The fused kernel's fit and the rates it is measured against; None: expert GEMMs.
    fused: Option<(MoeFit, f64, f64)>,
    experts: f64,
    per_token: f64,
    hidden: f64,
    /// Expert intermediate size on this rank.
    ffn: f64,
    weight_bytes: f64,
    /// True for the calibration evaluator (the measured rows route tokens evenly, hitting
    /// `min(E, T·k)` experts); false in engine steps, where routing is data-dependent and the
    /// expected number of distinct experts under uniform routing, `E·(1 − (1 − 1/E)^(T·k))`, is
    /// used: at 8 tokens × 8 of 128 experts that is 50 experts, not 64.
    balanced: bool,
}

impl Moe {
    fn new(gpu: &GpuSpec, dtype: WeightDtype, model: &ModelSpec, tp: u32) -> Moe {
        Moe {
            balanced: false,
            ..Moe::with_shape(
                gpu,
                dtype,
                f64::from(model.hidden),
                f64::from(model.ffn) / f64::from(tp),
                f64::from(model.experts_per_token),
                f64::from(model.experts),
            )
        }
    }

    fn with_shape(
        gpu: &GpuSpec,
        dtype: WeightDtype,
        hidden: f64,
        ffn: f64,
        per_token: f64,
        experts: f64,
    ) -> Moe {
        let bf16 = gpu
            .moe_bf16
            .map(|f| (f, gpu.peak_bf16_flops_per_s, gpu.mem_bw_bytes_per_s));
        let (fused, weight_bytes) = match (dtype, gpu.moe_fp8, gpu.peak_fp8_flops_per_s) {
            (WeightDtype::Fp8, Some(fit), Some(peak)) => {
                (Some((fit, peak, gpu.mem_bw_bytes_per_s)), 1.0)
            }
            (WeightDtype::Fp8, _, _) => (bf16, 1.0),
            (WeightDtype::Bf16, _, _) => (bf16, 2.0),
        };
        Moe {
            fused,
            experts,
            per_token,
            hidden,
            ffn,
            weight_bytes,
            balanced: true,
        }
    }

    /// One layer's experts for `tokens` tokens; `gemm` prices the fallback expert GEMMs.
    fn time_s(&self, tokens: f64, gemm: &Gemm) -> f64 {
        self.time_padded_s(tokens, tokens, gemm)
    }

    /// As [`Self::time_s`] for `tokens` real tokens padded to `padded` rows (a CUDA graph): the
    /// kernel computes every row, but the padding rows are identical, so together they route to
    /// the same `k` experts.
    fn time_padded_s(&self, tokens: f64, padded: f64, gemm: &Gemm) -> f64 {
        let routed = padded * self.per_token;
        let active = if self.balanced {
            self.experts.min(routed)
        } else {
            let real =
                self.experts * (1.0 - (1.0 - 1.0 / self.experts).powf(tokens * self.per_token));
            if padded > tokens {
                real + self.per_token * (1.0 - real / self.experts)
            } else {
                real
            }
        };
        let (h, i) = (self.hidden, self.ffn);
        match self.fused {
            Some((fit, peak, bw)) => {
                let flops = 2.0 * routed * 3.0 * h * i;
                let bytes = active * 3.0 * h * i * self.weight_bytes + routed * h * 4.0;
                fit.t0_s
                    + smax_p(
                        flops / (fit.eta_compute * peak),
                        bytes / (fit.eta_bw * bw),
                        fit.smax_p,
                    )
                    + fit.tok_s * routed
            }
            None => {
                // Without a measured fused kernel: each expert hit runs its own gate-up and down
                // GEMMs over an equal share of the routed tokens.
                let m = (routed / active).ceil();
                active * (gemm.time_s(m, 2.0 * i, h) + gemm.time_s(m, h, i))
            }
        }
    }
}

/// Time of one fused-MoE layer call on one GPU: `tokens` tokens of width `hidden`, each routed
/// to `per_token` of `experts` experts whose intermediate size on this GPU is `ffn_per_gpu`,
/// spread evenly over the experts as in the measured rows.
pub fn moe_time_s(
    gpu: &GpuSpec,
    dtype: WeightDtype,
    tokens: f64,
    hidden: f64,
    ffn_per_gpu: f64,
    per_token: f64,
    experts: f64,
) -> f64 {
    Moe::with_shape(gpu, dtype, hidden, ffn_per_gpu, per_token, experts)
        .time_s(tokens, &Gemm::new(gpu, dtype))
}

/// Time of one GEMM of `m` tokens, `k` inputs and `n` outputs on `gpu` (one kernel call).
pub fn gemm_time_s(gpu: &GpuSpec, dtype: WeightDtype, m: f64, n: f64, k: f64) -> f64 {
    Gemm::new(gpu, dtype).time_s(m, n, k)
}

/// The prefill tile model for one head geometry.
#[derive(Debug, Clone, PartialEq)]
struct Prefill {
    fit: PrefillAttentionFit,
    /// Head groups that get their own query tiles: KV heads with PackGQA, query heads without.
    groups: f64,
    /// Query rows one query tile covers in token positions (`tile_m / r` with PackGQA).
    tokens_per_q_tile: f64,
    /// Query rows per token in a tile (`r` with PackGQA, else 1).
    rows_per_token: f64,
    /// `rows_per_token` when it is a whole number.
    rows_per_token_int: Option<u64>,
    tile_n: f64,
    sm_count: f64,
    /// Time of one full tile pair on one SM.
    tile_pair_s: f64,
    /// Per-token cost of all heads.
    token_s: f64,
}

impl Prefill {
    fn new(fit: &PrefillAttentionFit, gpu: &GpuSpec, hq: f64, hkv: f64, head_dim: f64) -> Prefill {
        let r = hq / hkv;
        let (groups, rows_per_token) = if fit.pack_gqa { (hkv, r) } else { (hq, 1.0) };
        let tile_m = f64::from(fit.tile_m);
        let tile_n = f64::from(fit.tile_n);
        let sm_count = f64::from(gpu.sm_count);
        let tile_pair_s = tile_m * tile_n * 4.0 * head_dim
            / (fit.eta * gpu.peak_bf16_flops_per_s / sm_count)
            * r.powf(fit.gqa_alpha);
        Prefill {
            fit: fit.clone(),
            groups,
            tokens_per_q_tile: tile_m / rows_per_token,
            rows_per_token,
            rows_per_token_int: (rows_per_token.fract() == 0.0).then_some(rows_per_token as u64),
            tile_n,
            sm_count,
            tile_pair_s,
            token_s: fit.tok_head_s * (hq + hkv) * r.powf(fit.gqa_beta),
        }
    }

    /// Adds one chunk of `q` new tokens on top of `c` cached ones to `shape`'s tile counts.
    fn add(&self, shape: &mut StepShape, q: u32, c: u32) {
        let tile_m = u64::from(self.fit.tile_m);
        let tile_n = u64::from(self.fit.tile_n);
        let (q, c) = (u64::from(q), u64::from(c));
        let pairs: u64 = match self.rows_per_token_int {
            // Integer arithmetic where the GQA ratio is whole (every catalog model): the same
            // floors and ceilings, without the float rounding calls in a loop per query tile.
            Some(r) => {
                let q_tiles = (q * r).div_ceil(tile_m);
                (0..q_tiles)
                    .map(|i| (c + ((i + 1) * tile_m / r).clamp(1, q)).div_ceil(tile_n))
                    .sum()
            }
            None => {
                let q_tiles = (q as f64 * self.rows_per_token / tile_m as f64).ceil() as u64;
                (0..q_tiles)
                    .map(|i| {
                        let last = ((i + 1) as f64 * self.tokens_per_q_tile).floor() as u64;
                        (c + last.clamp(1, q)).div_ceil(tile_n)
                    })
                    .sum()
            }
        };
        let q_tiles = match self.rows_per_token_int {
            Some(r) => (q * r).div_ceil(tile_m),
            None => (q as f64 * self.rows_per_token / tile_m as f64).ceil() as u64,
        };
        shape.prefill_ctas += self.groups * q_tiles as f64;
        shape.prefill_pairs += self.groups * pairs as f64;
        let chain = (c + q).div_ceil(tile_n);
        shape.prefill_chain = shape
            .prefill_chain
            .max(u32::try_from(chain).unwrap_or(u32::MAX));
    }

    /// One layer's prefill attention for the chunks accumulated in `shape`.
    #[inline]
    fn time_s(&self, shape: &StepShape) -> f64 {
        let f = &self.fit;
        let spread =
            (shape.prefill_ctas * f.cta_s + shape.prefill_pairs * self.tile_pair_s) / self.sm_count;
        let chain = f.cta_s + f64::from(shape.prefill_chain) * self.tile_pair_s;
        f.t0_s + smax_p(spread, chain, f.smax_p) + self.token_s * f64::from(shape.prefill_tokens)
    }
}

/// Time of one prefill attention call over `batch` sequences of `isl` tokens each with no cached
/// prefix (the shape of the measured rows), per layer on one GPU holding `hq` query and `hkv` KV
/// heads.
pub fn prefill_attention_time_s(
    gpu: &GpuSpec,
    kv: KvDtype,
    batch: u32,
    isl: u32,
    hq: u32,
    hkv: u32,
    head_dim: u32,
) -> f64 {
    let fit = prefill_fit(gpu, kv);
    let prefill = Prefill::new(fit, gpu, f64::from(hq), f64::from(hkv), f64::from(head_dim));
    let mut shape = StepShape::new();
    for _ in 0..batch {
        prefill.add(&mut shape, isl, 0);
        shape.prefill_tokens += isl;
    }
    prefill.time_s(&shape)
}

fn prefill_fit(gpu: &GpuSpec, kv: KvDtype) -> &PrefillAttentionFit {
    match (kv, &gpu.prefill_attention_fp8) {
        (KvDtype::Fp8, Some(fit)) => fit,
        _ => &gpu.prefill_attention_bf16,
    }
}

/// The decode attention form for one head geometry.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decode {
    fit: DecodeAttentionFit,
    hkv: f64,
    /// KV read time of one token at full efficiency.
    kv_token_s: f64,
}

impl Decode {
    fn new(gpu: &GpuSpec, kv: KvDtype, hkv: f64, head_dim: f64) -> Decode {
        let (fit, kv_bytes) = match (kv, gpu.decode_attention_fp8) {
            (KvDtype::Fp8, Some(fit)) => (fit, 1.0),
            (KvDtype::Fp8, None) => (gpu.decode_attention_bf16, 1.0),
            (KvDtype::Bf16, _) => (gpu.decode_attention_bf16, 2.0),
        };
        Decode {
            fit,
            hkv,
            kv_token_s: 2.0 * hkv * head_dim * kv_bytes / (fit.eta_kv * gpu.mem_bw_bytes_per_s),
        }
    }

    /// One layer's decode attention for `batch` sequences: (time independent of the KV read,
    /// time per KV token read).
    #[inline]
    fn terms(&self, batch: u32) -> (f64, f64) {
        let f = &self.fit;
        let items = f64::from(batch) * self.hkv;
        let fixed = smax_p(f.t0_s, f.seq_kvhead_s * items, f.smax_p);
        let per_token = self.kv_token_s * (f.n_sat / items).max(1.0).powf(f.gamma);
        (fixed, per_token)
    }
}

/// Time of one decode attention call over `batch` sequences each attending `kv_len` tokens
/// (the new one included), per layer on one GPU holding `hkv` KV heads.
pub fn decode_attention_time_s(
    gpu: &GpuSpec,
    kv: KvDtype,
    batch: u32,
    kv_len: u64,
    hkv: u32,
    head_dim: u32,
) -> f64 {
    let decode = Decode::new(gpu, kv, f64::from(hkv), f64::from(head_dim));
    let (fixed, per_token) = decode.terms(batch);
    fixed + per_token * (f64::from(batch) * kv_len as f64)
}

/// Padded token counts whose body time is precomputed: 1, 2, 4, 8, 16, ..., 512.
const BODY_CACHE_LEN: usize = 3 + (DEFAULT_CUDA_GRAPH_MAX_TOKENS / 8) as usize;

fn body_cache_index(padded: u32) -> Option<usize> {
    match padded {
        1 => Some(0),
        2 => Some(1),
        4 => Some(2),
        n if n.is_multiple_of(8) && n <= DEFAULT_CUDA_GRAPH_MAX_TOKENS => {
            Some(2 + (n / 8) as usize)
        }
        _ => None,
    }
}

/// Precomputed step-time terms for one (GPU, model, TP) combination.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTimeModel {
    layers: f64,
    cuda_graph_max_tokens: u32,
    gemm: Gemm,
    head_gemm: Gemm,
    /// (n, k) of the dense GEMMs of a layer on one rank: QKV, O, then gate-up and down for a
    /// dense MLP or the router for a mixture of experts.
    layer_gemms: Vec<(f64, f64)>,
    /// The experts of a mixture-of-experts MLP.
    moe: Option<Moe>,
    /// (n, k) of the LM head on one rank.
    head_shape: (f64, f64),
    elem_floor_s: f64,
    elem_s_per_token: f64,
    prefill: Prefill,
    decode: Decode,
    /// Two all-reduces per layer; none at TP 1.
    all_reduce: Option<crate::catalog::AllReduceFit>,
    all_reduce_bytes_per_token: f64,
    step_overhead_s: f64,
    seq_overhead_s: f64,
    /// Linear + element-wise + all-reduce time of all layers per padded token count.
    body_cache: [(f64, f64, f64); BODY_CACHE_LEN],
    /// Per batch size up to [`BATCH_CACHE_LEN`]: (LM head, decode attention fixed part, decode
    /// attention per KV token); each costs several `powf`, and steps repeat batch sizes.
    batch_cache: Vec<(f64, f64, f64)>,
    /// MoE time of all layers per real token count up to [`BATCH_CACHE_LEN`] (empty for dense
    /// models): the experts hit depend on the real tokens, not the padded rows.
    moe_cache: Vec<f64>,
}

/// Batch sizes whose head and decode-attention terms are precomputed (1 to 256; larger batches
/// are evaluated directly).
const BATCH_CACHE_LEN: usize = 256;

impl StepTimeModel {
    /// Builds the model for `model` on `tp` GPUs of type `gpu`. Fails when the TP degree does
    /// not divide the model or the GPU has no all-reduce entry for it.
    pub fn new(gpu: &GpuSpec, model: &ModelSpec, tp: u32) -> Result<StepTimeModel, String> {
        model.check_tp(tp)?;
        let t = f64::from(tp);
        let d = f64::from(model.hidden);
        let dh = f64::from(model.head_dim);
        let hq = f64::from(model.q_heads) / t;
        let hkv = f64::from(model.kv_heads_per_gpu(tp));
        let ffn = f64::from(model.ffn) / t;
        let weight = if model.weight_bytes_per_param < 2.0 {
            WeightDtype::Fp8
        } else {
            WeightDtype::Bf16
        };
        let kv = if model.kv_bytes_per_elem < 2.0 {
            KvDtype::Fp8
        } else {
            KvDtype::Bf16
        };
        let all_reduce = if tp > 1 {
            let fit = gpu
                .all_reduce
                .iter()
                .find(|fit| fit.tp == tp)
                .ok_or_else(|| {
                    format!(
                        "{} has no all-reduce data for TP {tp} (available: {})",
                        gpu.name,
                        gpu.all_reduce
                            .iter()
                            .map(|fit| fit.tp.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            Some(fit.clone())
        } else {
            None
        };
        let elem_bytes_per_token = (7.0 * d + 2.0 * (hq + hkv) * dh + 3.0 * ffn) * ACTIVATION_BYTES;
        let layers = f64::from(model.layers);
        let mut perf = StepTimeModel {
            layers,
            cuda_graph_max_tokens: DEFAULT_CUDA_GRAPH_MAX_TOKENS,
            gemm: Gemm::new(gpu, weight),
            // vLLM keeps the LM head in BF16 under FP8 quantisation.
            head_gemm: Gemm::new(gpu, WeightDtype::Bf16),
            layer_gemms: if model.is_moe() {
                vec![
                    ((hq + 2.0 * hkv) * dh, d),
                    (d, hq * dh),
                    (f64::from(model.experts), d),
                ]
            } else {
                vec![
                    ((hq + 2.0 * hkv) * dh, d),
                    (d, hq * dh),
                    (2.0 * ffn, d),
                    (d, ffn),
                ]
            },
            moe: model.is_moe().then(|| Moe::new(gpu, weight, model, tp)),
            head_shape: (f64::from(model.vocab) / t, d),
            elem_floor_s: layers * gpu.elementwise_floor_s_per_layer,
            elem_s_per_token: layers * elem_bytes_per_token
                / (gpu.eta_elementwise_bw * gpu.mem_bw_bytes_per_s),
            prefill: Prefill::new(prefill_fit(gpu, kv), gpu, hq, hkv, dh),
            decode: Decode::new(gpu, kv, hkv, dh),
            all_reduce,
            all_reduce_bytes_per_token: d * ACTIVATION_BYTES,
            step_overhead_s: gpu.step_overhead_s
                + if tp > 1 { gpu.tp_step_overhead_s } else { 0.0 },
            seq_overhead_s: gpu.seq_overhead_s,
            body_cache: [(0.0, 0.0, 0.0); BODY_CACHE_LEN],
            batch_cache: Vec::new(),
            moe_cache: Vec::new(),
        };
        let mut cache = [(0.0, 0.0, 0.0); BODY_CACHE_LEN];
        for (i, slot) in cache.iter_mut().enumerate() {
            let padded = match i {
                0 => 1,
                1 => 2,
                2 => 4,
                _ => 8 * (i as u32 - 2),
            };
            *slot = perf.body_direct(f64::from(padded));
        }
        perf.body_cache = cache;
        perf.fill_moe_cache();
        perf.batch_cache = (1..=BATCH_CACHE_LEN as u32)
            .map(|batch| {
                let (fixed, per_token) = perf.decode.terms(batch);
                (perf.head_direct(batch), fixed, per_token)
            })
            .collect();
        Ok(perf)
    }

    /// Sets the largest CUDA-graph capture size (0 disables padding).
    pub fn set_cuda_graph_max_tokens(&mut self, max_tokens: u32) {
        self.cuda_graph_max_tokens = max_tokens;
        self.fill_moe_cache();
    }

    fn fill_moe_cache(&mut self) {
        self.moe_cache = match self.moe {
            Some(_) => (1..=BATCH_CACHE_LEN as u32)
                .map(|tokens| self.moe_direct(tokens))
                .collect(),
            None => Vec::new(),
        };
    }

    /// MoE time of all layers for `tokens` real tokens (0 for a dense model).
    fn moe_direct(&self, tokens: u32) -> f64 {
        let Some(moe) = &self.moe else {
            return 0.0;
        };
        let padded = cuda_graph_padded_tokens(tokens, self.cuda_graph_max_tokens);
        self.layers * moe.time_padded_s(f64::from(tokens), f64::from(padded), &self.gemm)
    }

    #[inline]
    fn moe_s(&self, tokens: u32) -> f64 {
        match self.moe_cache.get((tokens as usize).wrapping_sub(1)) {
            Some(&t) => t,
            None => self.moe_direct(tokens),
        }
    }

    /// Adds one request with `new_tokens` scheduled on top of `cached_tokens` already in the KV
    /// cache; `samples` is true when the request emits a token this step.
    pub fn add(&self, shape: &mut StepShape, new_tokens: u32, cached_tokens: u32, samples: bool) {
        shape.num_tokens += new_tokens;
        shape.num_seqs += 1;
        shape.num_sampled += u32::from(samples);
        if new_tokens == 1 {
            shape.decode_seqs += 1;
            shape.decode_kv_tokens += u64::from(cached_tokens) + 1;
        } else {
            shape.prefill_seqs += 1;
            shape.prefill_tokens += new_tokens;
            self.prefill.add(shape, new_tokens, cached_tokens);
        }
    }

    /// (GEMMs, element-wise, all-reduce) of all layers for `n` tokens, without the LM head.
    fn body_direct(&self, n: f64) -> (f64, f64, f64) {
        let mut layer_gemm_s = 0.0;
        for &(out, inp) in &self.layer_gemms {
            layer_gemm_s += self.gemm.time_s(n, out, inp);
        }
        let comm = match &self.all_reduce {
            Some(fit) => 2.0 * self.layers * fit.time_s(n * self.all_reduce_bytes_per_token),
            None => 0.0,
        };
        (
            self.layers * layer_gemm_s,
            self.elem_floor_s + n * self.elem_s_per_token,
            comm,
        )
    }

    #[inline]
    fn body(&self, num_tokens: u32) -> (f64, f64, f64) {
        let padded = cuda_graph_padded_tokens(num_tokens, self.cuda_graph_max_tokens);
        let (gemm_s, elementwise_s, comm_s) = match body_cache_index(padded) {
            Some(i) => self.body_cache[i],
            None => self.body_direct(f64::from(padded)),
        };
        (gemm_s + self.moe_s(num_tokens), elementwise_s, comm_s)
    }

    #[inline]
    fn head_s(&self, sampled: u32) -> f64 {
        match self.batch_cache.get((sampled as usize).wrapping_sub(1)) {
            Some(&(head, _, _)) => head,
            None => self.head_direct(sampled),
        }
    }

    /// One layer's decode attention terms for `batch` decodes (see [`Decode::terms`]).
    #[inline]
    fn decode_terms(&self, batch: u32) -> (f64, f64) {
        match self.batch_cache.get((batch as usize).wrapping_sub(1)) {
            Some(&(_, fixed, per_token)) => (fixed, per_token),
            None => self.decode.terms(batch),
        }
    }

    fn head_direct(&self, sampled: u32) -> f64 {
        if sampled == 0 {
            return 0.0;
        }
        let (n, k) = self.head_shape;
        self.head_gemm.time_s(f64::from(sampled), n, k)
    }

    /// Time of one engine step in seconds; 0 for an empty step.
    #[inline]
    pub fn step_time_s(&self, shape: &StepShape) -> f64 {
        self.parts(shape).total_s()
    }

    /// The parts of [`Self::step_time_s`].
    pub fn parts(&self, shape: &StepShape) -> StepTimeParts {
        if shape.num_tokens == 0 {
            return StepTimeParts::default();
        }
        let (gemm_s, elementwise_s, comm_s) = self.body(shape.num_tokens);
        let mut layer_attention_s = 0.0;
        if shape.decode_seqs > 0 {
            let (fixed, per_token) = self.decode_terms(shape.decode_seqs);
            layer_attention_s += fixed + per_token * shape.decode_kv_tokens as f64;
        }
        if shape.prefill_seqs > 0 {
            layer_attention_s += self.prefill.time_s(shape);
            if shape.decode_seqs > 0 {
                // Prefills and decodes share one varlen attention launch.
                layer_attention_s -= self.prefill.fit.t0_s.min(self.decode.fit.t0_s);
            }
        }
        StepTimeParts {
            linear_s: gemm_s + self.head_s(shape.num_sampled),
            elementwise_s,
            attention_s: self.layers * layer_attention_s,
            comm_s,
            fixed_s: self.step_overhead_s + f64::from(shape.num_seqs) * self.seq_overhead_s,
        }
    }

    /// One layer's element-wise kernels for `num_tokens` tokens without CUDA-graph padding (the
    /// quantity Vidur's `mlp.csv` measures).
    pub fn layer_elementwise_s(&self, num_tokens: f64) -> f64 {
        (self.elem_floor_s + num_tokens * self.elem_s_per_token) / self.layers
    }

    /// A decode-only step over `batch` sequences with total cached context `ctx` takes
    /// `a + b·ctx` seconds, equal to [`Self::step_time_s`] of [`StepShape::decode`].
    pub fn decode_affine(&self, batch: u32) -> (f64, f64) {
        if batch == 0 {
            return (0.0, 0.0);
        }
        let (gemm_s, elementwise_s, comm_s) = self.body(batch);
        let (fixed, per_token) = self.decode_terms(batch);
        let b = f64::from(batch);
        let a = (gemm_s + self.head_s(batch))
            + elementwise_s
            + self.layers * (fixed + per_token * b)
            + comm_s
            + (self.step_overhead_s + b * self.seq_overhead_s);
        (a, self.layers * per_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn models() -> Vec<(String, StepTimeModel)> {
        let catalog = Catalog::builtin();
        let mut out = Vec::new();
        for (gpu, model, tp) in [
            ("H100-SXM", "Llama-3-8B", 1),
            ("A100-80GB", "Mistral-7B", 1),
            ("L4", "Llama-3-8B", 1),
            ("H100-SXM", "Llama-3-70B", 4),
            ("A100-80GB", "Llama-3-70B", 8),
        ] {
            let perf = StepTimeModel::new(
                catalog.gpu(gpu).expect("gpu"),
                catalog.model(model).expect("model"),
                tp,
            )
            .expect("model builds");
            out.push((format!("{gpu}/{model}/TP{tp}"), perf));
        }
        out
    }

    #[test]
    fn decode_affine_matches_step_time() {
        for (name, perf) in models() {
            for batch in [1, 2, 3, 7, 8, 9, 64, 255, 256, 511, 512, 513, 1024] {
                let (a, b) = perf.decode_affine(batch);
                for ctx in [0_u64, 1, 17, 1000, 123_457, 4_000_000] {
                    let direct = perf.step_time_s(&StepShape::decode(batch, ctx));
                    let affine = a + b * ctx as f64;
                    assert!(
                        (direct - affine).abs() <= 1e-12 * direct,
                        "{name} batch {batch} ctx {ctx}: {direct} vs {affine}"
                    );
                }
            }
        }
    }

    #[test]
    fn add_builds_the_same_shape_as_decode() {
        let (_, perf) = models().remove(0);
        let mut shape = StepShape::new();
        for ctx in [10_u32, 200, 3000] {
            perf.add(&mut shape, 1, ctx, true);
        }
        assert_eq!(shape, StepShape::decode(3, 3210));
        let mut prefill = StepShape::new();
        perf.add(&mut prefill, 4, 6, false);
        assert_eq!((prefill.prefill_seqs, prefill.prefill_tokens), (1, 4));
        assert_eq!((prefill.decode_seqs, prefill.num_sampled), (0, 0));
        // H100 FA3: 128 x 176 tiles with PackGQA (4 query heads per KV head for Llama-3-8B):
        // one query tile per KV head, one key tile each, 8 KV heads.
        assert_eq!((prefill.prefill_ctas, prefill.prefill_pairs), (8.0, 8.0));
        assert_eq!(prefill.prefill_chain, 1);
    }

    #[test]
    fn prefill_tiles_follow_the_causal_mask() {
        let (_, perf) = models().remove(0);
        // 1,000 tokens, 4 query heads per KV head packed: 32 token positions per query tile,
        // 32 query tiles (the last one partly filled); tile i sees ceil(32(i+1)/176) key tiles.
        let mut shape = StepShape::new();
        perf.add(&mut shape, 1000, 0, true);
        let pairs: f64 = (0..32)
            .map(|i| (f64::from((32 * (i + 1)).min(1000)) / 176.0).ceil())
            .sum();
        assert_eq!(shape.prefill_ctas, 8.0 * 32.0);
        assert_eq!(shape.prefill_pairs, 8.0 * pairs);
        assert_eq!(shape.prefill_chain, 6);
        // A cached prefix adds its key tiles to every query tile.
        let mut cached = StepShape::new();
        perf.add(&mut cached, 1000, 1760, true);
        assert_eq!(cached.prefill_pairs, 8.0 * (pairs + 32.0 * 10.0));
        assert_eq!(cached.prefill_chain, 16);
    }

    #[test]
    fn integer_and_float_tile_counts_agree() {
        let (_, perf) = models().remove(0);
        let mut float = perf.prefill.clone();
        float.rows_per_token_int = None;
        for (q, c) in [(2, 0), (31, 5), (1000, 0), (1000, 1760), (8192, 100_000)] {
            let (mut a, mut b) = (StepShape::new(), StepShape::new());
            perf.prefill.add(&mut a, q, c);
            float.add(&mut b, q, c);
            assert_eq!(a, b, "q {q} c {c}");
        }
    }

    #[test]
    fn parts_sum_to_step_time_and_time_grows_with_work() {
        for (name, perf) in models() {
            let mut shape = StepShape::new();
            let mut last = perf.step_time_s(&shape);
            assert_eq!(last, 0.0);
            for i in 0..40_u32 {
                perf.add(
                    &mut shape,
                    if i % 5 == 0 { 700 } else { 1 },
                    100 * i,
                    i % 5 != 0,
                );
                let t = perf.step_time_s(&shape);
                let parts = perf.parts(&shape);
                assert!((parts.total_s() - t).abs() <= 1e-15 * t, "{name}");
                assert!(t > last, "{name}: step {i} {t} <= {last}");
                last = t;
            }
        }
    }

    #[test]
    fn the_body_cache_equals_direct_evaluation() {
        for (name, perf) in models() {
            for n in [1_u32, 2, 3, 4, 5, 8, 9, 200, 511, 512] {
                let padded = cuda_graph_padded_tokens(n, DEFAULT_CUDA_GRAPH_MAX_TOKENS);
                let (g, e, c) = perf.body_direct(f64::from(padded));
                assert_eq!(perf.body(n), (g + perf.moe_direct(n), e, c), "{name} n {n}");
            }
        }
    }

    #[test]
    fn the_batch_cache_equals_direct_evaluation() {
        for (name, perf) in models() {
            for batch in [0_u32, 1, 2, 255, 256, 257, 1024] {
                let direct = if batch == 0 {
                    (0.0, 0.0)
                } else {
                    perf.decode.terms(batch)
                };
                if batch > 0 {
                    assert_eq!(perf.decode_terms(batch), direct, "{name} batch {batch}");
                }
                assert_eq!(
                    perf.head_s(batch),
                    perf.head_direct(batch),
                    "{name} batch {batch}"
                );
            }
        }
    }

    #[test]
    fn cuda_graph_padding_sizes() {
        let padded: Vec<u32> = [1, 2, 3, 4, 5, 8, 9, 511, 512, 513, 8192]
            .iter()
            .map(|&n| cuda_graph_padded_tokens(n, DEFAULT_CUDA_GRAPH_MAX_TOKENS))
            .collect();
        assert_eq!(padded, [1, 2, 4, 4, 8, 8, 16, 512, 512, 513, 8192]);
        assert_eq!(cuda_graph_padded_tokens(3, 0), 3);
    }

    #[test]
    fn smooth_maximum_is_bounded_by_max_and_sum() {
        for (a, b, p) in [
            (1.0, 2.0, 1.0),
            (3.0, 4.0, 2.0),
            (5.0, 0.1, 8.0),
            (0.0, 0.0, 3.0),
        ] {
            let s = smax_p(a, b, p);
            assert!(s >= a.max(b) && s <= a + b + 1e-12, "{a} {b} {p}: {s}");
        }
        assert!((smax_p(3.0, 4.0, 2.0) - 5.0).abs() < 1e-12);
        assert_eq!(smax_p(1.0, 2.0, 1.0), 3.0);
    }

    #[test]
    fn fp8_weights_and_kv_are_faster_where_memory_bound() {
        let catalog = Catalog::builtin();
        let h100 = catalog.gpu("H100-SXM").expect("gpu");
        let bf16 = catalog.model("Llama-3.1-8B").expect("model").clone();
        let mut fp8 = bf16.clone();
        fp8.weight_bytes_per_param = 1.0;
        fp8.kv_bytes_per_elem = 1.0;
        let slow = StepTimeModel::new(h100, &bf16, 1).expect("bf16");
        let fast = StepTimeModel::new(h100, &fp8, 1).expect("fp8");
        let shape = StepShape::decode(32, 32 * 4096);
        let (t_bf16, t_fp8) = (slow.step_time_s(&shape), fast.step_time_s(&shape));
        assert!(t_fp8 < 0.85 * t_bf16, "{t_bf16} {t_fp8}");
        // Ampere has no FP8 tensor cores: weight-only FP8 still halves the weight bytes.
        let a100 = catalog.gpu("A100-80GB").expect("gpu");
        let slow = StepTimeModel::new(a100, &bf16, 1).expect("bf16");
        let fast = StepTimeModel::new(a100, &fp8, 1).expect("fp8");
        assert!(
            fast.step_time_s(&StepShape::decode(1, 512))
                < slow.step_time_s(&StepShape::decode(1, 512))
        );
    }

    #[test]
    fn mixture_of_experts_reads_only_the_experts_it_hits() {
        let catalog = Catalog::builtin();
        let h100 = catalog.gpu("H100-SXM").expect("gpu");
        let mixtral = catalog.model("Mixtral-8x7B").expect("model");
        let mistral = catalog.model("Mistral-7B").expect("model");
        let moe = StepTimeModel::new(h100, mixtral, 2).expect("mixtral");
        let dense = StepTimeModel::new(h100, mistral, 2).expect("mistral");
        let at = |perf: &StepTimeModel, batch: u32| {
            perf.step_time_s(&StepShape::decode(batch, u64::from(batch) * 1000))
        };
        // One token reads 2 of 8 experts: about twice Mistral's MLP, far from all 8.
        let one = at(&moe, 1) / at(&dense, 1);
        assert!((1.3..3.0).contains(&one), "batch 1 ratio {one}");
        // Sixty-four tokens hit every expert.
        let many = at(&moe, 64) / at(&dense, 64);
        assert!(many > one * 1.5, "batch 64 ratio {many} vs batch 1 {one}");
        // Serving steps route tokens at random: 8 tokens x 8 of 128 experts hit about 50
        // distinct experts, fewer than the 64 of the evenly routed measurement.
        let qwen = catalog.model("Qwen3-30B-A3B").expect("model");
        let engine = Moe::new(h100, WeightDtype::Bf16, qwen, 1);
        let gemm = Gemm::new(h100, WeightDtype::Bf16);
        let measured_like = moe_time_s(h100, WeightDtype::Bf16, 8.0, 2048.0, 768.0, 8.0, 128.0);
        assert!(engine.time_s(8.0, &gemm) < measured_like);
        assert_eq!(
            engine.time_s(4096.0, &gemm),
            moe_time_s(h100, WeightDtype::Bf16, 4096.0, 2048.0, 768.0, 8.0, 128.0)
        );
        for (gpu, model, tp) in [
            ("H100-SXM", "Qwen3-235B-A22B", 8),
            ("H200", "Qwen3-30B-A3B", 1),
            ("A100-80GB", "Mixtral-8x7B", 4),
        ] {
            let perf = StepTimeModel::new(
                catalog.gpu(gpu).expect("gpu"),
                catalog.model(model).expect("model"),
                tp,
            )
            .expect("builds");
            let t = perf.step_time_s(&StepShape::decode(8, 8000));
            assert!(t > 1e-3 && t < 0.2, "{gpu} {model}: {t}");
        }
    }

    #[test]
    fn unsupported_configurations_are_errors() {
        let catalog = Catalog::builtin();
        let h100 = catalog.gpu("H100-SXM").expect("gpu");
        let llama70 = catalog.model("Llama-3-70B").expect("model");
        assert!(
            StepTimeModel::new(h100, llama70, 3)
                .unwrap_err()
                .contains("divide")
        );
        assert!(
            StepTimeModel::new(h100, llama70, 16)
                .unwrap_err()
                .contains("all-reduce")
        );
        assert!(StepTimeModel::new(h100, llama70, 0).is_err());
    }

    #[test]
    fn tensor_parallelism_speeds_up_big_prefill() {
        let catalog = Catalog::builtin();
        let h100 = catalog.gpu("H100-SXM").expect("gpu");
        let llama70 = catalog.model("Llama-3-70B").expect("model");
        let tp4 = StepTimeModel::new(h100, llama70, 4).expect("tp4");
        let tp8 = StepTimeModel::new(h100, llama70, 8).expect("tp8");
        let mut shape4 = StepShape::new();
        tp4.add(&mut shape4, 8192, 0, true);
        let mut shape8 = StepShape::new();
        tp8.add(&mut shape8, 8192, 0, true);
        let (t4, t8) = (tp4.step_time_s(&shape4), tp8.step_time_s(&shape8));
        assert!(t8 < t4 && t8 > 0.4 * t4, "{t4} {t8}");
    }
}
