#!/usr/bin/env python3
"""Regenerate the [[gpu]] entries of data/catalog.toml and the error table of docs/calibration.md.

Usage: python crates/sim-cluster/fit/fit_catalog.py [--shared PATH] [--check]

  --shared PATH  folder holding calibration/aiconfigurator/ and calibration/vidur/
                 (default: ../shared next to the repository root)
  --check        write nothing; exit 1 with a diff summary if either file would change

Requirements: crates/sim-cluster/fit/requirements.txt (numpy, scipy, pandas).

Data:
  * aiconfigurator (NVIDIA, Apache-2.0, aiconfigurator-core 0.12.0): vLLM 0.24 kernel times for
    H100, H200, B200 and L40S (GEMM, prefill and decode attention, fused MoE, CUDA-graph custom
    all-reduce), vLLM 0.14 attention and all-reduce for A100.
  * Vidur (Microsoft, MIT): per-operator medians of eager 2024 kernels; the GEMM source for A100
    and A40 and the only element-wise source.

The forms are those of crates/sim-cluster/src/perf.rs and are described in docs/calibration.md;
every function below that evaluates a form must stay identical to the Rust code. All times are
per layer call on one TP rank. Fits minimise a soft-L1 loss on log(model / measured) from fixed
starts inside fixed bounds, so the output is deterministic; stored numbers have 4 significant
digits and the error table is computed from the stored (rounded) numbers.
"""
import argparse
import difflib
import math
import os
import sys
import tomllib
import warnings

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize

DH = 128  # head_dim of every catalog model and of every row used here
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
CATALOG = os.path.join(REPO, "data", "catalog.toml")
DOC = os.path.join(REPO, "docs", "calibration.md")
CAT_BEGIN, CAT_END = "# BEGIN fitted gpus", "# END fitted gpus"
DOC_BEGIN, DOC_END = "<!-- BEGIN fitted error table -->", "<!-- END fitted error table -->"

# Datasheet rates (dense, no 2:4 sparsity), memory as reported by the driver (nvidia-smi
# memory.total, truncated to 4 digits), on-demand prices per GPU-hour (AWS list prices, 2025;
# defaults for cost reports, not measurements). `aic` = aiconfigurator folder, `vidur` = Vidur
# compute folder, `l2` = L2 bytes (decode rows below 2x L2 are L2-resident benchmark artefacts).
GPUS = {
    "A100-80GB": dict(
        src="NVIDIA A100 datasheet (SXM 80GB): 312 TF bf16, 2.039 TB/s, 108 SMs; AWS p4de.24xlarge / 8",
        peak_bf16=312e12, peak_fp8=None, bw=2.039e12, mem=85_100_000_000, usd=4.10, budget="small",
        sms=108, l2=40e6, aic="a100_sxm", vidur="a100"),
    "A100-40GB": dict(
        src="NVIDIA A100 datasheet (SXM 40GB): 312 TF bf16, 1.555 TB/s, 108 SMs; AWS p4d.24xlarge / 8",
        peak_bf16=312e12, peak_fp8=None, bw=1.555e12, mem=42_400_000_000, usd=3.00, budget=None,
        sms=108),
    "H100-SXM": dict(
        src="NVIDIA H100 datasheet (SXM): 989 TF bf16, 1979 TF fp8, 3.35 TB/s, 132 SMs; AWS p5.48xlarge / 8",
        peak_bf16=989e12, peak_fp8=1979e12, bw=3.35e12, mem=85_520_000_000, usd=6.90, budget="large",
        sms=132, l2=50e6, aic="h100_sxm", vidur="h100"),
    "H200": dict(
        src="NVIDIA H200 datasheet (SXM): 989 TF bf16, 1979 TF fp8, 4.8 TB/s, 141 GB, 132 SMs; AWS p5en.48xlarge / 8",
        peak_bf16=989e12, peak_fp8=1979e12, bw=4.8e12, mem=150_700_000_000, usd=7.90, budget="large",
        sms=132, l2=50e6, aic="h200_sxm"),
    # B200: DGX B200 datasheet 2.25 PF bf16 / 4.5 PF fp8 dense per GPU, 64 TB/s per 8 GPUs (HGX
    # lists 62 TB/s; the fitted eta_bw absorbs the difference). "180 GB" class: the driver reports
    # 183359 MiB = 192.27e9 bytes. Price: estimate, AWS p6-b200.48xlarge on-demand ($113.93/h) / 8.
    "B200": dict(
        src="NVIDIA DGX/HGX B200 datasheet: 2.25 PF bf16, 4.5 PF fp8 dense, 8 TB/s, 148 SMs; nvidia-smi 183359 MiB; price estimate (AWS p6-b200.48xlarge / 8)",
        peak_bf16=2250e12, peak_fp8=4500e12, bw=8.0e12, mem=192_200_000_000, usd=14.24, budget="large",
        sms=148, l2=126e6, aic="b200_sxm"),
    "L40S": dict(
        src="NVIDIA L40S datasheet: 362 TF bf16, 733 TF fp8 dense, 48 GB GDDR6 at 864 GB/s, 142 SMs; nvidia-smi 46068 MiB; price estimate (AWS g6e.xlarge)",
        peak_bf16=362e12, peak_fp8=733e12, bw=864e9, mem=48_300_000_000, usd=1.86, budget="small",
        sms=142, l2=96e6, aic="l40s"),
    "A40": dict(
        src="NVIDIA A40 datasheet: 149.7 TF bf16, 696 GB/s, 84 SMs",
        peak_bf16=149.7e12, peak_fp8=None, bw=696e9, mem=48_300_000_000, usd=1.30, budget="small",
        sms=84, vidur="a40"),
    "L4": dict(
        src="NVIDIA L4 datasheet: 121 TF bf16, 242.5 TF fp8 dense, 300 GB/s, 24 GB, 58 SMs; AWS g6.xlarge",
        peak_bf16=121e12, peak_fp8=242.5e12, bw=300e9, mem=24_150_000_000, usd=0.80, budget="small",
        sms=58),
    "A10G": dict(
        src="A10G: 70 TF bf16 is a secondary-source figure (AWS publishes none), 600 GB/s, 24 GB, 80 SMs; AWS g5.xlarge",
        peak_bf16=70e12, peak_fp8=None, bw=600e9, mem=24_150_000_000, usd=1.01, budget="small",
        sms=80),
}

# Prefill kernel each measured GPU runs in vLLM and its FlashAttention tiles (BM, BN, PackGQA):
# FA3 on Hopper packs the r = hq/hkv query heads of a KV head into one M tile; FA2 does not.
PREFILL_TILES = {"A100-80GB": ("fa2", 128, 64, False), "H100-SXM": ("fa3", 128, 176, True),
                 "H200": ("fa3", 128, 176, True), "L40S": ("fa2", 128, 64, False)}
VIDUR_MODELS = {"a100": ["Llama-2-7b-hf", "Llama-2-70b-hf", "Meta-Llama-3-8B", "Meta-Llama-3-70B"],
                "h100": ["Llama-2-7b-hf", "Llama-2-70b-hf"], "a40": ["Llama-2-7b-hf", "Llama-2-70b-hf"]}
# Vidur operator -> (n, k) of one rank's GEMM; g = (hq, hkv, d, ffn) per rank.
VIDUR_GEMMS = {
    "attn_pre_proj": lambda hq, hkv, d, ffn: ((hq + 2 * hkv) * DH, d),   # QKV
    "attn_post_proj": lambda hq, hkv, d, ffn: (d, hq * DH),              # O
    "mlp_up_proj": lambda hq, hkv, d, ffn: (2 * ffn, d),                 # gate-up (gated MLP)
    "mlp_down_proj": lambda hq, hkv, d, ffn: (d, ffn),                   # down
}
MOE_TP = (1, 2, 4, 8)  # fused-MoE fit grid: the TP degrees the simulator runs (the data go to 32)
ELEMENTWISE_OPS = ["input_layernorm", "post_attention_layernorm", "attn_rope", "mlp_act", "add"]

# Per-step host cost: published batch-1 ITL minus the kernel sum built from the measured grid
# (Llama-3.1-8B TP1: GEMMs 156.9 us/layer + LM head 389 us + decode attention 13.2 us/layer +
# element-wise ~8 us/layer under CUDA graphs, an estimate). H100: 6.44 ms published (vLLM FP8-KV
# blog fit intercept, test_data/perf/published.toml) - 6.09 ms = 0.35 ms. B200: 3.93 ms (same
# blog) - 3.42 ms = 0.51 ms. GPUs without a published point take the H100 value.
STEP_OVERHEAD_S = {"B200": 5e-4}
STEP_OVERHEAD_DEFAULT_S = 3.5e-4
SEQ_OVERHEAD_S = 2e-6
TP_STEP_OVERHEAD_S = 0.0  # estimated: no TP > 1 batch-1 measurement exists yet
# PCIe all-reduce estimates (no measurement) for GPUs sold without NVLink.
PCIE_ALL_REDUCE = [(2, 3.0e-05, 1.5e10), (4, 4.0e-05, 9.0e9), (8, 5.0e-05, 7.0e9)]


# ------------------------------------------------------------------ numbers and statistics
def sig4(v):
    return float("%.4g" % v)


def rounded(params):
    return {k: (sig4(v) if isinstance(v, float) else v) for k, v in params.items()}


def med_p90(err_pct):
    """Median and p90 of |errors| exactly as crates/sim-cluster/tests/calibration.rs computes them."""
    e = np.sort(np.abs(np.asarray(err_pct, dtype=float)))
    n = len(e)
    med = e[n // 2] if n % 2 else 0.5 * (e[n // 2 - 1] + e[n // 2])
    return float(med), float(e[math.ceil(0.9 * n) - 1])


def pct(pred, meas):
    return (np.asarray(pred) / np.asarray(meas) - 1.0) * 100.0


def smax_p(a, b, p):
    """m ((a/m)^p + (b/m)^p)^(1/p), m = max(a, b); 0 when both are 0."""
    a, b = np.broadcast_arrays(np.asarray(a, float), np.asarray(b, float))
    m = np.maximum(a, b)
    safe = np.where(m > 0, m, 1.0)
    return np.where(m > 0, safe * ((a / safe) ** p + (b / safe) ** p) ** (1.0 / p), 0.0)


def robust_fit(f, x0, lo, hi, y):
    """Soft-L1 on the log ratio: a few kernel-selection outliers must not drag the median."""
    r = least_squares(lambda x: np.log(f(x) / y), x0, bounds=(lo, hi), loss="soft_l1",
                      f_scale=0.05, max_nfev=4000, x_scale="jac")
    # Parameters are in O(1) units (us, ps, ...): a value within 1e-6 of its bound is the bound,
    # so the catalog gets 0 rather than 1e-27.
    lo = np.asarray(lo, float)
    return np.where(np.abs(r.x - lo) < 1e-6, lo, r.x)


# ------------------------------------------------------------------ forms (as in perf.rs)
def gemm_s(p, m, n, k, peak, bw, w_bytes):
    comp = 2 * m * n * k / (p["eta_compute"] * peak)
    mem = (n * k * w_bytes + m * k * w_bytes + m * n * 2.0) / (p["eta_bw"] * bw) * (1 + p["n_half"] / n)
    return p["t0_s"] + smax_p(comp, mem, p["smax_p"]) + p["quant_s_per_elem"] * m * k


def prefill_geometry(b, s, hq, hkv, BM, BN, pack):
    """Tile counts of b equal prefills of s tokens with no cached prefix (c = 0)."""
    r = hq / hkv
    groups, rows, step = (hkv, s * r, BM / r) if pack else (hq, s, float(BM))
    nm = np.ceil(rows / BM)
    pairs = np.zeros_like(s)
    for i in range(int(nm.max())):
        q_end = np.maximum(1, np.minimum(s, np.floor((i + 1) * step)))
        pairs += np.where(i < nm, np.ceil(q_end / BN), 0.0)
    return dict(ctas=b * groups * nm, pairs=b * groups * pairs, chain=np.ceil(s / BN),
                tok=b * s * (hq + hkv), r=r)


def prefill_s(p, g, peak, sms):
    tau = p["tile_m"] * p["tile_n"] * 4 * DH / (p["eta"] * peak / sms) * g["r"] ** p["gqa_alpha"]
    spread = (g["ctas"] * p["cta_s"] + g["pairs"] * tau) / sms
    chain = p["cta_s"] + g["chain"] * tau
    return p["t0_s"] + smax_p(spread, chain, p["smax_p"]) + p["tok_head_s"] * g["tok"] * g["r"] ** p["gqa_beta"]


def decode_s(p, b, L, hkv, kv_bytes, bw):
    """b requests each attending L KV positions (incl. the new token); affine in L for fixed b."""
    x = b * hkv
    kv = b * L * 2 * hkv * DH * kv_bytes / (p["eta_kv"] * bw)
    return smax_p(p["t0_s"], p["seq_kvhead_s"] * x, p["smax_p"]) + kv * np.maximum(1.0, p["n_sat"] / x) ** p["gamma"]


def moe_s(p, T, h, I_t, k, E, peak, bw, w_bytes):
    """One fused-MoE layer call on one TP rank (no expert parallelism), balanced routing."""
    active = np.minimum(E, T * k)
    flops = 2 * T * k * 3 * h * I_t
    nbytes = active * 3 * h * I_t * w_bytes + T * k * h * 4
    return p["t0_s"] + smax_p(flops / (p["eta_compute"] * peak), nbytes / (p["eta_bw"] * bw), p["smax_p"]) + p["tok_s"] * T * k


def all_reduce_s(table, size):
    """Log-log interpolation; first time below the first point, last segment's slope above the last."""
    b, t, size = np.asarray(table["bytes"], float), np.asarray(table["seconds"], float), np.asarray(size, float)
    inside = np.exp(np.interp(np.log(np.maximum(size, b[0])), np.log(b), np.log(t)))
    slope = max((t[-1] - t[-2]) / (b[-1] - b[-2]), 0.0)
    return np.where(size > b[-1], t[-1] + (size - b[-1]) * slope, inside)


# ------------------------------------------------------------------ fits
GEMM_X0 = [3.0, 0.7, 0.8, 2.0, 0.5, 1.0]          # t0 us, eta_c, eta_bw, p, n_half/1000, quant ps
GEMM_LO = [1.0, 0.05, 0.05, 1.0, 0.0, 0.0]
GEMM_HI = [np.inf, 1.2, 1.2, 16.0, np.inf, np.inf]


def gemm_from_x(x):
    return dict(t0_s=x[0] * 1e-6, eta_compute=x[1], eta_bw=x[2], smax_p=x[3], n_half=x[4] * 1e3,
                quant_s_per_elem=x[5] * 1e-12)


def fit_gemm(m, n, k, t, peak, bw, w_bytes):
    x = robust_fit(lambda x: gemm_s(gemm_from_x(x), m, n, k, peak, bw, w_bytes), GEMM_X0, GEMM_LO, GEMM_HI, t)
    return rounded(gemm_from_x(x))


def fit_prefill(g, t, peak, sms, tiles):
    kernel, BM, BN, pack = tiles

    def params(x):
        return dict(kernel=kernel, tile_m=BM, tile_n=BN, pack_gqa=pack, t0_s=x[0] * 1e-6, eta=x[1], cta_s=x[2] * 1e-6,
                    smax_p=x[3], tok_head_s=x[4] * 1e-12, gqa_alpha=x[5], gqa_beta=x[6])
    x = robust_fit(lambda x: prefill_s(params(x), g, peak, sms), [8.0, 0.6, 0.3, 2.0, 5.0, 0.0, 0.0],
                   [1.0, 0.05, 0.0, 1.0, 0.0, -1.0, -1.0], [np.inf, 1.2, np.inf, 16.0, np.inf, 1.0, 1.0], t)
    return rounded(params(x))


def fit_decode(b, L, hkv, kvb, t, bw, sms):
    def params(x):
        return dict(t0_s=x[0] * 1e-6, eta_kv=x[1], seq_kvhead_s=x[2] * 1e-9, smax_p=x[3], n_sat=x[4], gamma=x[5])
    # Without eta_kv <= 1 and n_sat <= 4 work items per SM, A100/H100 bf16 drift to eta_kv > 1 with
    # n_sat -> infinity (a pure power law in x); the bounds cost < 0.5 points of p90.
    x = robust_fit(lambda x: decode_s(params(x), b, L, hkv, kvb, bw), [12.0, 0.9, 25.0, 2.0, 32.0, 0.2],
                   [1.0, 0.05, 0.0, 1.0, 1.0, 0.0], [np.inf, 1.0, np.inf, 16.0, 4.0 * sms, 2.0], t)
    return rounded(params(x))


def fit_moe(T, h, I_t, k, E, t, peak, bw, w_bytes):
    def params(x):
        return dict(t0_s=x[0] * 1e-6, eta_compute=x[1], eta_bw=x[2], smax_p=x[3], tok_s=x[4] * 1e-9)
    x = robust_fit(lambda x: moe_s(params(x), T, h, I_t, k, E, peak, bw, w_bytes), [5.0, 0.5, 0.7, 2.0, 0.1],
                   [1.0, 0.05, 0.05, 1.0, 0.0], [np.inf, 1.2, 1.0, 16.0, np.inf], t)
    return rounded(params(x))


# ------------------------------------------------------------------ data
def catalog_heads(catalog_text):
    """(hq, hkv) per GPU that the catalog's models reach at TP 1, 2, 4 and 8."""
    heads = set()
    for mdl in tomllib.loads(catalog_text).get("model", []):
        for tp in (1, 2, 4, 8):
            if mdl["q_heads"] % tp == 0:
                heads.add((mdl["q_heads"] // tp, -(-mdl["kv_heads"] // tp)))
    return heads


def non_gated_moe(d):
    """aiconfigurator's Nemotron-3 expert shapes: relu^2 experts with two matrices, not the three of
    the gated form (Nano: hidden 2688, inter 1856, top-6 of 128; Super/Ultra: top-22 of 512)."""
    return (((d.hidden_size == 2688) & (d.inter_size == 1856)) | ((d.topk == 22) & (d.num_experts == 512))).to_numpy()


def load_aic(root, folder, op):
    path = os.path.join(root, "aiconfigurator", folder, op + ".csv")
    if not os.path.exists(path):
        return None
    d = pd.read_csv(path)
    d["t"] = d["latency_ms"] * 1e-3
    return d


def is_catalog_head(d, heads):
    return np.array([(a, b) in heads for a, b in zip(d.num_heads, d.num_key_value_heads)])


def load_vidur(root, gpu):
    """Per-row GEMM shapes and times, and per-row element-wise bytes and times."""
    gemm, elem = [], []
    for model in VIDUR_MODELS[gpu]:
        path = os.path.join(root, "vidur", "data", "profiling", "compute", gpu, "meta-llama", model, "mlp.csv")
        for r in pd.read_csv(path).to_dict("records"):
            tp, d = int(r["num_tensor_parallel_workers"]), int(r["n_embd"])
            hq, hkv = int(r["n_head"]) / tp, math.ceil(int(r["n_kv_head"]) / tp)
            ffn, m = int(r["n_expanded_embd"]) / tp, int(r["num_tokens"])
            for op, shape in VIDUR_GEMMS.items():
                n, k = shape(hq, hkv, d, ffn)
                gemm.append((m, n, k, r["time_stats.%s.median" % op] * 1e-3))
            elem_bytes = (7 * d + 2 * (hq + hkv) * DH + 3 * ffn) * 2.0
            elem.append((m, elem_bytes, sum(r["time_stats.%s.median" % op] for op in ELEMENTWISE_OPS) * 1e-3))
    return np.array(gemm, float).T, np.array(elem, float).T


def fit_elementwise(m, nbytes, t, bw):
    """floor + tokens*bytes/(eta*bw), mean absolute log error (as the Vidur fit always did)."""
    f = lambda x: np.mean(np.abs(np.log((math.exp(x[0]) + m * nbytes / (math.exp(x[1]) * bw)) / t)))
    x = minimize(f, [math.log(20e-6), math.log(0.5)], method="Nelder-Mead",
                 options=dict(xatol=1e-6, fatol=1e-9, maxiter=4000)).x
    return sig4(math.exp(x[1])), sig4(math.exp(x[0]))


# ------------------------------------------------------------------ fitting everything
class Table:
    def __init__(self):
        self.rows = []

    def add(self, gpu, op, source, err_all, grid):
        err_all, grid = np.asarray(err_all), np.asarray(grid, bool)
        self.rows.append((gpu, op, source, int(grid.sum()), *med_p90(err_all[grid]), len(err_all), *med_p90(err_all)))

    def markdown(self):
        out = ["| GPU | operator | data | rows (fit grid) | median % | p90 % | rows (all) | median % | p90 % |",
               "|---|---|---|---|---|---|---|---|---|"]
        for g, op, src, n1, m1, p1, n2, m2, p2 in self.rows:
            out.append("| %s | %s | %s | %d | %.1f | %.1f | %d | %.1f | %.1f |" % (g, op, src, n1, m1, p1, n2, m2, p2))
        return "\n".join(out)


def fit_all(shared, heads):
    cal = os.path.join(shared, "calibration")
    fits, table = {name: {} for name in GPUS}, Table()
    for name, spec in GPUS.items():
        F, bw = fits[name], spec["bw"]
        if "vidur" in spec:
            (m, n, k, t), (em, eb, et) = load_vidur(cal, spec["vidur"])
            F["elementwise"] = fit_elementwise(em, eb, et, bw)
            eta_e, floor_e = F["elementwise"]
            table.add(name, "element-wise (norms, rotary, SiLU-mul, add)", "Vidur", pct(floor_e + em * eb / (eta_e * bw), et), np.ones(len(et)))
            if "aic" not in spec or load_aic(cal, spec["aic"], "gemm") is None:
                # Vidur's shapes are the catalog models' own, so every row is on the fit grid.
                F["gemm_bf16"] = p = fit_gemm(m, n, k, t, spec["peak_bf16"], bw, 2.0)
                table.add(name, "GEMM bf16", "Vidur", pct(gemm_s(p, m, n, k, spec["peak_bf16"], bw, 2.0), t), np.ones(len(t)))
        if "aic" not in spec:
            continue
        g = load_aic(cal, spec["aic"], "gemm")
        if g is not None:
            for dt, key, peak, wb in (("bfloat16", "gemm_bf16", spec["peak_bf16"], 2.0), ("fp8", "gemm_fp8", spec["peak_fp8"], 1.0)):
                d = g[g.gemm_dtype == dt]
                m, n, k, t = (d[c].to_numpy(float) for c in ("m", "n", "k", "t"))
                grid = (n >= 1024) & (k >= 1024)
                F[key] = p = fit_gemm(m[grid], n[grid], k[grid], t[grid], peak, bw, wb)
                table.add(name, "GEMM " + key[5:], "aiconfigurator", pct(gemm_s(p, m, n, k, peak, bw, wb), t), grid)
        c = load_aic(cal, spec["aic"], "context_attention")
        for kv, key in (("bfloat16", "bf16"), ("fp8", "fp8")) if name in PREFILL_TILES else ():
            d = c[(c.kv_cache_dtype == kv) & (c.isl >= 16)]
            if len(d) == 0:
                continue
            geo = prefill_geometry(*(d[col].to_numpy(float) for col in ("batch_size", "isl", "num_heads", "num_key_value_heads")), *PREFILL_TILES[name][1:])
            grid, t = is_catalog_head(d, heads), d.t.to_numpy()
            F["prefill_attention_" + key] = p = fit_prefill({k_: v[grid] if np.ndim(v) else v for k_, v in geo.items()}, t[grid], spec["peak_bf16"], spec["sms"], PREFILL_TILES[name])
            table.add(name, "prefill attention, KV " + key, "aiconfigurator", pct(prefill_s(p, geo, spec["peak_bf16"], spec["sms"]), t), grid)
        a = load_aic(cal, spec["aic"], "generation_attention")
        for kv, key, kvb in (("bfloat16", "bf16", 2.0), ("fp8", "fp8", 1.0)):
            d = a[a.kv_cache_dtype == kv]
            if len(d) == 0:
                continue
            b, L, hkv, t = (d[col].to_numpy(float) for col in ("batch_size", "step", "num_key_value_heads", "t"))
            kv_total = b * L * 2 * hkv * DH * kvb
            # HBM-valid rows: the benchmark re-reads one KV cache, so mid-size working sets sit in L2.
            grid = is_catalog_head(d, heads) & ((kv_total > 2 * spec["l2"]) | (kv_total < bw * 3e-6))
            F["decode_attention_" + key] = p = fit_decode(b[grid], L[grid], hkv[grid], kvb, t[grid], bw, spec["sms"])
            table.add(name, "decode attention, KV " + key, "aiconfigurator", pct(decode_s(p, b, L, hkv, kvb, bw), t), grid)
            if name not in PREFILL_TILES:  # B200: its context file holds only 1-token queries (decode kernel)
                dc = c[c.kv_cache_dtype == kv]
                bc, hc, tc = (dc[col].to_numpy(float) for col in ("batch_size", "num_key_value_heads", "t"))
                table.add(name, "decode attention, KV %s (context file, isl = 1)" % key, "aiconfigurator",
                          pct(decode_s(p, bc, 1.0, hc, kvb, bw), tc), is_catalog_head(dc, heads))
        mo = load_aic(cal, spec["aic"], "moe")
        for dt, key, peak, wb in (("bfloat16", "moe_bf16", spec["peak_bf16"], 2.0), ("fp8", "moe_fp8", spec["peak_fp8"], 1.0)):
            if mo is None:
                break
            # No expert parallelism (every rank holds all experts). Every kernel_source of the dtype is
            # used: each shape was measured on the kernel vLLM picks for it (B200: TRT-LLM, CUTLASS for
            # a few shapes).
            d = mo[(mo.moe_dtype == dt) & (mo.moe_ep_size == 1)]
            T, h, k, E, t = (d[col].to_numpy(float) for col in ("num_tokens", "hidden_size", "topk", "num_experts", "t"))
            I_t = d.inter_size.to_numpy(float) / d.moe_tp_size.to_numpy(float)
            # Fit grid: gated experts, TP 1-8, and HBM-valid rows (as for decode: the benchmark re-reads
            # one layer's experts, so weight sets under 2x L2 are served from L2, up to 3x fast on L40S).
            w_total = np.minimum(E, T * k) * 3 * h * I_t * wb
            grid = (d.moe_tp_size.isin(MOE_TP).to_numpy() & ~non_gated_moe(d)
                    & ((w_total > 2 * spec["l2"]) | (w_total < bw * 3e-6)))
            F[key] = p = fit_moe(T[grid], h[grid], I_t[grid], k[grid], E[grid], t[grid], peak, bw, wb)
            table.add(name, "fused MoE " + key[4:], "aiconfigurator", pct(moe_s(p, T, h, I_t, k, E, peak, bw, wb), t), grid)
        r = load_aic(cal, spec["aic"], "custom_allreduce")
        F["all_reduce"] = []
        for tp, grp in sorted(r.groupby("num_gpus"), key=lambda kv_: kv_[0]):
            grp = grp.sort_values("message_size")
            ar = dict(tp=int(tp), bytes=[int(v) for v in grp.message_size], seconds=[sig4(v) for v in grp.t])
            F["all_reduce"].append(ar)
            table.add(name, "all-reduce TP%d (measured table)" % tp, "aiconfigurator",
                      pct(all_reduce_s(ar, grp.message_size.to_numpy(float)), grp.t.to_numpy()), np.ones(len(grp)))
    return fits, table


# ------------------------------------------------------------------ catalog entries
def entry(name, calibration, measured, parts, all_reduce, elementwise):
    spec = GPUS[name]
    e = dict(name=name, calibration=calibration, measured=measured, peak_bf16_flops_per_s=spec["peak_bf16"])
    if spec["peak_fp8"]:
        e["peak_fp8_flops_per_s"] = spec["peak_fp8"]
    e.update(mem_bw_bytes_per_s=spec["bw"], mem_bytes=spec["mem"], usd_per_hour=spec["usd"])
    if spec["budget"]:
        e["budget_class"] = spec["budget"]
    e.update(sm_count=spec["sms"], eta_elementwise_bw=elementwise[0], elementwise_floor_s_per_layer=elementwise[1],
             step_overhead_s=STEP_OVERHEAD_S.get(name, STEP_OVERHEAD_DEFAULT_S), seq_overhead_s=SEQ_OVERHEAD_S,
             tp_step_overhead_s=TP_STEP_OVERHEAD_S)
    for key in ("gemm_bf16", "gemm_fp8", "prefill_attention_bf16", "prefill_attention_fp8",
                "decode_attention_bf16", "decode_attention_fp8", "moe_bf16", "moe_fp8"):
        if parts.get(key) is not None:
            e[key] = parts[key]
    e["all_reduce"] = all_reduce
    return e


def pcie_all_reduce():
    return [dict(tp=tp, latency_s=lat, bytes_per_s=bps) for tp, lat, bps in PCIE_ALL_REDUCE]


def build_entries(F):
    keys = ("gemm_bf16", "gemm_fp8", "prefill_attention_bf16", "prefill_attention_fp8",
            "decode_attention_bf16", "decode_attention_fp8", "moe_bf16", "moe_fp8")
    own = lambda name: {k: F[name].get(k) for k in keys}
    tp_note = "; tp_step_overhead_s estimated (0: no measurement)"
    h100_prefill = {k: F["H100-SXM"][k] for k in ("prefill_attention_bf16", "prefill_attention_fp8")}
    a100_attn = {k: F["A100-80GB"][k] for k in ("prefill_attention_bf16", "decode_attention_bf16")}
    l40s = own("L40S")
    return [
        entry("A100-80GB", "measured: aiconfigurator vLLM 0.14 FA2 prefill/decode attention (KV bf16) and custom all-reduce TP2/4/8; "
              "Vidur a100 GEMM bf16 (eager 2024 kernels, likely pessimistic) and element-wise" + tp_note,
              True, own("A100-80GB"), F["A100-80GB"]["all_reduce"], F["A100-80GB"]["elementwise"]),
        entry("A100-40GB", "derived: every kernel fit and the all-reduce table from A100-80GB (same GA100 die) at datasheet bandwidth" + tp_note,
              False, own("A100-80GB"), F["A100-80GB"]["all_reduce"], F["A100-80GB"]["elementwise"]),
        entry("H100-SXM", "measured: aiconfigurator vLLM 0.24 GEMM bf16/fp8, FA3 prefill/decode attention (KV bf16/fp8), "
              "fused MoE bf16 (Triton) and fp8 (FlashInfer CUTLASS), custom all-reduce TP2/4/8; "
              "Vidur h100 element-wise" + tp_note,
              True, own("H100-SXM"), F["H100-SXM"]["all_reduce"], F["H100-SXM"]["elementwise"]),
        entry("H200", "measured: aiconfigurator vLLM 0.24 GEMM bf16/fp8, FA3 prefill/decode attention (KV bf16/fp8), "
              "fused MoE bf16 (Triton) and fp8 (FlashInfer CUTLASS), custom all-reduce TP2/4/8; "
              "derived: element-wise from Vidur h100 (same GH100 die)" + tp_note,
              True, own("H200"), F["H200"]["all_reduce"], F["H100-SXM"]["elementwise"]),
        entry("B200", "measured: aiconfigurator vLLM 0.24 GEMM bf16/fp8, FlashInfer trtllm decode attention (KV bf16/fp8), "
              "fused MoE bf16/fp8 (FlashInfer TRT-LLM, CUTLASS for the shapes vLLM routes there), custom all-reduce TP2/4/8; "
              "derived: prefill attention from the H100 FA3 fit at B200 peak and SM count (no B200 prefill measurement), "
              "element-wise from Vidur h100" + tp_note,
              True, {**own("B200"), **h100_prefill}, F["B200"]["all_reduce"], F["H100-SXM"]["elementwise"]),
        entry("L40S", "measured: aiconfigurator vLLM 0.24 GEMM bf16/fp8, FA2 prefill/decode attention (KV bf16 only), fused MoE bf16/fp8 (Triton), "
              "custom all-reduce TP2/4/8 (from an older vLLM on a PCIe-only box: 0.6-9.5 GB/s); "
              "derived: element-wise from Vidur a40 (GDDR6 card)" + tp_note,
              True, l40s, F["L40S"]["all_reduce"], F["A40"]["elementwise"]),
        entry("A40", "measured: Vidur a40 GEMM bf16 and element-wise; derived: attention from the A100 FA2 fit at A40 rates; "
              "all-reduce estimated (PCIe, no measurement)" + tp_note,
              True, {**own("A40"), **a100_attn}, pcie_all_reduce(), F["A40"]["elementwise"]),
        entry("L4", "derived: GEMM bf16/fp8, attention (KV bf16) and fused MoE bf16/fp8 from the L40S fits (same Ada architecture) at L4 datasheet rates, "
              "element-wise from Vidur a40; all-reduce estimated (PCIe, no measurement)" + tp_note,
              False, {k: l40s[k] for k in ("gemm_bf16", "gemm_fp8", "prefill_attention_bf16", "decode_attention_bf16", "moe_bf16", "moe_fp8")},
              pcie_all_reduce(), F["A40"]["elementwise"]),
        entry("A10G", "derived: GEMM bf16 and element-wise from Vidur a40 (same GA102 family), attention from the A100 FA2 fit, "
              "at A10G rates; all-reduce estimated (PCIe, no measurement)" + tp_note,
              False, {"gemm_bf16": F["A40"]["gemm_bf16"], **a100_attn}, pcie_all_reduce(), F["A40"]["elementwise"]),
    ]


# ------------------------------------------------------------------ TOML writer
def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return "{:_}".format(v) if v >= 10**9 else str(v)
    if isinstance(v, str):
        return '"%s"' % v.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (k, fmt(x)) for k, x in v.items()) + " }"
    if v != 0 and not 1e-2 <= abs(v) < 1e6:
        mant, exp = ("%.3e" % v).split("e")
        return "%se%d" % (mant.rstrip("0").rstrip(".") if "." in mant else mant, int(exp))
    s = "%.4g" % v
    return s if "." in s or "e" in s else s + ".0"


def toml_blocks(entries):
    out = []
    for e in entries:
        out += ["[[gpu]]", "# sources: " + GPUS[e["name"]]["src"]]
        for k, v in e.items():
            if k == "all_reduce":
                out.append("all_reduce = [")
                out += ["  %s," % fmt(x) for x in v]
                out.append("]")
            else:
                out.append("%s = %s" % (k, fmt(v)))
        out.append("")
    return "\n".join(out)


def replace_between(text, begin, end, body, path):
    lines = text.split("\n")
    starts = [i for i, l in enumerate(lines) if l.startswith(begin)]
    ends = [i for i, l in enumerate(lines) if l.startswith(end)]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        sys.exit("%s: need exactly one '%s' line followed by one '%s' line" % (path, begin, end))
    return "\n".join(lines[:starts[0] + 1] + body.rstrip("\n").split("\n") + lines[ends[0]:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"))
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if not os.path.isdir(os.path.join(args.shared, "calibration", "aiconfigurator")):
        sys.exit("not found: %s/calibration/aiconfigurator" % args.shared)
    warnings.filterwarnings("ignore", category=RuntimeWarning)  # overflow while the optimiser probes bounds

    catalog_text = open(CATALOG).read()
    doc_text = open(DOC).read()
    fits, table = fit_all(args.shared, catalog_heads(catalog_text))
    new_catalog = replace_between(catalog_text, CAT_BEGIN, CAT_END, toml_blocks(build_entries(fits)), CATALOG)
    tomllib.loads(new_catalog)  # the written file must parse
    new_doc = replace_between(doc_text, DOC_BEGIN, DOC_END, table.markdown(), DOC)
    print(table.markdown())

    changed = [(p, old, new) for p, old, new in ((CATALOG, catalog_text, new_catalog), (DOC, doc_text, new_doc)) if old != new]
    if args.check:
        for p, old, new in changed:
            diff = list(difflib.unified_diff(old.splitlines(), new.splitlines(), os.path.relpath(p, REPO), "regenerated", n=0, lineterm=""))
            print("\n%s would change (%d diff lines):" % (os.path.relpath(p, REPO), len(diff)), file=sys.stderr)
            print("\n".join(diff[:40]), file=sys.stderr)
        sys.exit(1 if changed else 0)
    for p, _, new in changed:
        with open(p, "w") as fh:
            fh.write(new)
        print("wrote %s" % os.path.relpath(p, REPO), file=sys.stderr)


if __name__ == "__main__":
    main()
