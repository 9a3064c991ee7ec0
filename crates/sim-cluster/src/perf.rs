//! Time of one vLLM engine step on one replica, from the step's shape.
//!
//! `T = T_lin + T_elem + T_att + T_comm + T_fixed`, all per step on one TP rank:
//! * `T_lin = L·floor_lin + smoothmax(n·F_tok + S·F_head, W)` where `n` is the token count padded
//!   to a CUDA-graph size, `F_tok` the time of one token's body GEMM FLOPs at `η_c·peak`, `F_head`
//!   that of one LM-head row, and `W` the time to stream the body and head weights at `η_m·BW`.
//! * `T_elem = L·floor_elem + n·E_tok` for norms, rotary, SiLU-mul and residual adds.
//! * `T_att = L·floor_att + L·c_seq·seqs + smoothmax(A·F_att, K·R_kv) + N·W_kv` with `A` the
//!   causal attention FLOP-tokens, `K` the KV tokens read and `N` the new tokens written.
//! * `T_comm = 2·L·(latency + n·d·2 / bw)` for TP > 1.
//! * `T_fixed = step_overhead + seq_overhead·seqs`.
//!
//! `smoothmax(a, b) = sqrt(a² + b²)`: the Vidur GEMM data fit better with exponent 2 than 3
//! (mean absolute log error 4.3 % vs 5.0 % on A100, 7.2 % vs 8.2 % on H100), and it costs one
//! square root. For a decode-only step both attention inputs equal `ctx + batch`, so
//! `smoothmax(X·F_att, X·R_kv) = X·smoothmax(F_att, R_kv)`: decode time is exactly affine in
//! the total context, which [`StepTimeModel::decode_affine`] exposes.

use crate::catalog::{ACTIVATION_BYTES, GpuSpec, ModelSpec};

/// Largest token count vLLM captures a CUDA graph for; larger steps run eagerly, unpadded.
pub const DEFAULT_CUDA_GRAPH_MAX_TOKENS: u32 = 512;

/// Aggregate shape of one engine step, built by calling [`StepShape::add`] per scheduled request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepShape {
    /// New tokens in the step, `N = Σ q_i`.
    pub num_tokens: u32,
    /// Scheduled requests.
    pub num_seqs: u32,
    /// Requests that produce a token this step (decodes and prefills that finish their prompt).
    pub num_sampled: u32,
    /// Causal attention work in token units, `Σ q_i·(c_i + (q_i+1)/2)`.
    pub attn_flop_tokens: f64,
    /// KV tokens read, `Σ (c_i + q_i)`.
    pub kv_read_tokens: u64,
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
            attn_flop_tokens: ctx_tokens as f64 + f64::from(batch),
            kv_read_tokens: ctx_tokens + u64::from(batch),
        }
    }

    /// Adds one request with `new_tokens` scheduled on top of `cached_tokens` already in the KV
    /// cache; `samples` is true when the request emits a token this step.
    pub fn add(&mut self, new_tokens: u32, cached_tokens: u32, samples: bool) {
        let q = f64::from(new_tokens);
        self.num_tokens += new_tokens;
        self.num_seqs += 1;
        self.num_sampled += u32::from(samples);
        self.attn_flop_tokens += q * (f64::from(cached_tokens) + (q + 1.0) * 0.5);
        self.kv_read_tokens += u64::from(cached_tokens) + u64::from(new_tokens);
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

/// Precomputed step-time coefficients for one (GPU, model, TP) combination.
#[derive(Debug, Clone, PartialEq)]
pub struct StepTimeModel {
    layers: f64,
    cuda_graph_max_tokens: u32,
    lin_floor_s: f64,
    lin_s_per_token: f64,
    head_s_per_sample: f64,
    weight_body_s: f64,
    weight_s: f64,
    elem_floor_s: f64,
    elem_s_per_token: f64,
    att_floor_s: f64,
    att_s_per_seq: f64,
    att_s_per_flop_token: f64,
    kv_s_per_read_token: f64,
    att_decode_s_per_token: f64,
    kv_s_per_write_token: f64,
    comm_floor_s: f64,
    comm_s_per_token: f64,
    step_overhead_s: f64,
    seq_overhead_s: f64,
}

#[inline]
fn smoothmax(a: f64, b: f64) -> f64 {
    (a * a + b * b).sqrt()
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

impl StepTimeModel {
    /// Builds the model for `model` on `tp` GPUs of type `gpu`. Fails when the TP degree does
    /// not divide the model or the GPU has no all-reduce entry for it.
    pub fn new(gpu: &GpuSpec, model: &ModelSpec, tp: u32) -> Result<StepTimeModel, String> {
        model.check_tp(tp)?;
        let t = f64::from(tp);
        let layers = f64::from(model.layers);
        let d = f64::from(model.hidden);
        let dh = f64::from(model.head_dim);
        let hq = f64::from(model.q_heads) / t;
        let hkv = f64::from(model.kv_heads_per_gpu(tp));
        let ffn = f64::from(model.ffn) / t;
        let compute = gpu.eta_compute * gpu.peak_bf16_flops_per_s;
        let weight_bw = gpu.eta_weight_bw * gpu.mem_bw_bytes_per_s;
        let layer_params = model.layer_params_per_gpu(tp);
        let head_params = f64::from(model.vocab) * d / t;
        let weight_body_s = layers * layer_params * model.weight_bytes_per_param / weight_bw;
        let weight_head_s = head_params * model.weight_bytes_per_param / weight_bw;
        let elem_bytes_per_token = (7.0 * d + 2.0 * (hq + hkv) * dh + 3.0 * ffn) * ACTIVATION_BYTES;
        let att_flop_per_token = 4.0 * hq * dh;
        let kv_bytes_per_token = 2.0 * hkv * dh * model.kv_bytes_per_elem;
        let att_s_per_flop_token =
            layers * att_flop_per_token / (gpu.eta_attention * gpu.peak_bf16_flops_per_s);
        let kv_s_per_read_token =
            layers * kv_bytes_per_token / (gpu.eta_kv_bw * gpu.mem_bw_bytes_per_s);
        let (comm_floor_s, comm_s_per_token) = if tp > 1 {
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
            (
                2.0 * layers * fit.latency_s,
                2.0 * layers * d * ACTIVATION_BYTES / fit.bytes_per_s,
            )
        } else {
            (0.0, 0.0)
        };
        Ok(StepTimeModel {
            layers,
            cuda_graph_max_tokens: DEFAULT_CUDA_GRAPH_MAX_TOKENS,
            lin_floor_s: layers * gpu.linear_floor_s_per_layer,
            lin_s_per_token: layers * 2.0 * layer_params / compute,
            head_s_per_sample: 2.0 * head_params / compute,
            weight_body_s,
            weight_s: weight_body_s + weight_head_s,
            elem_floor_s: layers * gpu.elementwise_floor_s_per_layer,
            elem_s_per_token: layers * elem_bytes_per_token
                / (gpu.eta_elementwise_bw * gpu.mem_bw_bytes_per_s),
            att_floor_s: layers * gpu.attention_floor_s_per_layer,
            att_s_per_seq: layers * gpu.attention_s_per_seq_per_layer,
            att_s_per_flop_token,
            kv_s_per_read_token,
            att_decode_s_per_token: smoothmax(att_s_per_flop_token, kv_s_per_read_token),
            kv_s_per_write_token: kv_s_per_read_token,
            comm_floor_s,
            comm_s_per_token,
            step_overhead_s: gpu.step_overhead_s,
            seq_overhead_s: gpu.seq_overhead_s,
        })
    }

    /// Sets the largest CUDA-graph capture size (0 disables padding).
    pub fn set_cuda_graph_max_tokens(&mut self, max_tokens: u32) {
        self.cuda_graph_max_tokens = max_tokens;
    }

    /// Time of one engine step in seconds; 0 for an empty step.
    #[inline]
    pub fn step_time_s(&self, shape: &StepShape) -> f64 {
        if shape.num_tokens == 0 {
            return 0.0;
        }
        let n = f64::from(cuda_graph_padded_tokens(
            shape.num_tokens,
            self.cuda_graph_max_tokens,
        ));
        let seqs = f64::from(shape.num_seqs);
        let flop_s =
            n * self.lin_s_per_token + f64::from(shape.num_sampled) * self.head_s_per_sample;
        let linear = self.lin_floor_s + smoothmax(flop_s, self.weight_s);
        let elementwise = self.elem_floor_s + n * self.elem_s_per_token;
        let attention = self.att_floor_s
            + seqs * self.att_s_per_seq
            + smoothmax(
                shape.attn_flop_tokens * self.att_s_per_flop_token,
                shape.kv_read_tokens as f64 * self.kv_s_per_read_token,
            )
            + f64::from(shape.num_tokens) * self.kv_s_per_write_token;
        let comm = self.comm_floor_s + n * self.comm_s_per_token;
        let fixed = self.step_overhead_s + seqs * self.seq_overhead_s;
        linear + elementwise + attention + comm + fixed
    }

    /// The parts of [`Self::step_time_s`] (same arithmetic, split out).
    pub fn parts(&self, shape: &StepShape) -> StepTimeParts {
        if shape.num_tokens == 0 {
            return StepTimeParts::default();
        }
        let n = f64::from(cuda_graph_padded_tokens(
            shape.num_tokens,
            self.cuda_graph_max_tokens,
        ));
        let seqs = f64::from(shape.num_seqs);
        let flop_s =
            n * self.lin_s_per_token + f64::from(shape.num_sampled) * self.head_s_per_sample;
        StepTimeParts {
            linear_s: self.lin_floor_s + smoothmax(flop_s, self.weight_s),
            elementwise_s: self.elem_floor_s + n * self.elem_s_per_token,
            attention_s: self.att_floor_s
                + seqs * self.att_s_per_seq
                + smoothmax(
                    shape.attn_flop_tokens * self.att_s_per_flop_token,
                    shape.kv_read_tokens as f64 * self.kv_s_per_read_token,
                )
                + f64::from(shape.num_tokens) * self.kv_s_per_write_token,
            comm_s: self.comm_floor_s + n * self.comm_s_per_token,
            fixed_s: self.step_overhead_s + seqs * self.seq_overhead_s,
        }
    }

    /// A decode-only step over `batch` sequences with total cached context `ctx` takes
    /// `a + b·ctx` seconds, equal to [`Self::step_time_s`] of [`StepShape::decode`].
    pub fn decode_affine(&self, batch: u32) -> (f64, f64) {
        if batch == 0 {
            return (0.0, 0.0);
        }
        let n = f64::from(cuda_graph_padded_tokens(batch, self.cuda_graph_max_tokens));
        let b = f64::from(batch);
        let linear = self.lin_floor_s
            + smoothmax(
                n * self.lin_s_per_token + b * self.head_s_per_sample,
                self.weight_s,
            );
        let elementwise = self.elem_floor_s + n * self.elem_s_per_token;
        let attention = self.att_floor_s
            + b * self.att_s_per_seq
            + b * self.att_decode_s_per_token
            + b * self.kv_s_per_write_token;
        let comm = self.comm_floor_s + n * self.comm_s_per_token;
        let fixed = self.step_overhead_s + b * self.seq_overhead_s;
        (
            linear + elementwise + attention + comm + fixed,
            self.att_decode_s_per_token,
        )
    }

    /// One transformer layer's GEMMs and element-wise kernels for `num_tokens` tokens, without
    /// the LM head and without CUDA-graph padding (the quantity Vidur's `mlp.csv` measures).
    pub fn layer_linear_s(&self, num_tokens: u32) -> f64 {
        let n = f64::from(num_tokens);
        let body = self.lin_floor_s
            + smoothmax(n * self.lin_s_per_token, self.weight_body_s)
            + self.elem_floor_s
            + n * self.elem_s_per_token;
        body / self.layers
    }

    /// One layer's attention kernels for `shape`, without the KV-cache write (the quantity
    /// Vidur's old `attention.csv` measures).
    pub fn layer_attention_s(&self, shape: &StepShape) -> f64 {
        let att = self.att_floor_s
            + f64::from(shape.num_seqs) * self.att_s_per_seq
            + smoothmax(
                shape.attn_flop_tokens * self.att_s_per_flop_token,
                shape.kv_read_tokens as f64 * self.kv_s_per_read_token,
            );
        att / self.layers
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
        let mut shape = StepShape::new();
        for ctx in [10_u32, 200, 3000] {
            shape.add(1, ctx, true);
        }
        assert_eq!(shape, StepShape::decode(3, 3210));
        let mut prefill = StepShape::new();
        prefill.add(4, 6, false);
        assert_eq!(prefill.attn_flop_tokens, 4.0 * (6.0 + 2.5));
        assert_eq!((prefill.kv_read_tokens, prefill.num_sampled), (10, 0));
    }

    #[test]
    fn parts_sum_to_step_time_and_time_grows_with_work() {
        for (name, perf) in models() {
            let mut shape = StepShape::new();
            let mut last = perf.step_time_s(&shape);
            assert_eq!(last, 0.0);
            for i in 0..40_u32 {
                shape.add(if i % 5 == 0 { 700 } else { 1 }, 100 * i, i % 5 != 0);
                let t = perf.step_time_s(&shape);
                let parts = perf.parts(&shape);
                assert!((parts.total_s() - t).abs() <= 1e-15 * t, "{name}");
                assert!(t > last, "{name}: step {i} {t} <= {last}");
                last = t;
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
        let mut shape = StepShape::new();
        shape.add(8192, 0, true);
        let tp4 = StepTimeModel::new(h100, llama70, 4)
            .expect("tp4")
            .step_time_s(&shape);
        let tp8 = StepTimeModel::new(h100, llama70, 8)
            .expect("tp8")
            .step_time_s(&shape);
        assert!(tp8 < tp4 && tp8 > 0.4 * tp4, "{tp4} {tp8}");
    }
}
