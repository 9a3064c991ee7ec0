#!/usr/bin/env python3
"""Fit the step-time model's efficiency factors to Vidur's measured operator times.

Usage: python3 crates/sim-cluster/fit/fit_vidur.py [path/to/shared]   (default: ../shared next to
the checkout, i.e. the `shared/` folder that holds `calibration/vidur/`). Python 3 stdlib only.

Data: Vidur (microsoft/vidur, MIT licence) profiling CSVs, see shared/calibration/vidur/README.md.
The script prints TOML fragments with the fitted numbers; they are pasted into data/catalog.toml
by hand (the catalog is the source of truth, this script is how its numbers were obtained). The
functional forms here must stay identical to crates/sim-cluster/src/perf.rs.

Fitted per GPU SKU (a100, h100, a40):
  * linear (GEMM) part of one layer:
    floor + smoothmax2(n*flop/(eta_c*peak), weight_bytes/(eta_m*bw));
  * element-wise part of one layer (norms, rope, SiLU-mul, residual add): floor + n*bytes/(eta_e*bw);
  * attention (A100 only, Llama-2-70B shape at TP2):
    floor + per_seq*batch + smoothmax2(flop/(eta_a*peak), kv_bytes/(eta_kv*bw));
  * all-reduce per (topology, TP): latency + bytes/bw (relative least squares).
Objective: mean absolute log error (robust to the noisy small-size rows).
"""
import csv
import math
import os
import statistics
import sys

SMOOTHMAX_K = 2.0

GPUS = {
    # name: (peak bf16 dense FLOP/s, memory bandwidth bytes/s), datasheet values.
    "a100": (312e12, 2.039e12),
    "h100": (989e12, 3.35e12),
    "a40": (149.7e12, 696e9),
}
MLP_FILES = {
    "a100": ["Llama-2-7b-hf", "Llama-2-70b-hf", "Meta-Llama-3-8B", "Meta-Llama-3-70B"],
    "h100": ["Llama-2-7b-hf", "Llama-2-70b-hf"],
    "a40": ["Llama-2-7b-hf", "Llama-2-70b-hf"],
}
GEMMS = ["attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj"]
ELEMENTWISE = ["input_layernorm", "post_attention_layernorm", "attn_rope", "mlp_act", "add"]
BYTES = 2.0  # bf16 weights and activations


def smoothmax(a, b):
    return (a ** SMOOTHMAX_K + b ** SMOOTHMAX_K) ** (1.0 / SMOOTHMAX_K)


def med(row, op):
    return float(row["time_stats.%s.median" % op]) * 1e-3


def layer_geometry(row):
    """Per-GPU FLOPs per token, weight bytes and element-wise bytes per token of one layer."""
    d = int(row["n_embd"])
    hq = int(row["n_head"])
    hkv = int(row["n_kv_head"])
    ffn = int(row["n_expanded_embd"])
    t = int(row["num_tensor_parallel_workers"])
    dh = d // hq
    hq_t = hq / t
    hkv_t = math.ceil(hkv / t)
    params = d * hq_t * dh + 2 * d * hkv_t * dh + hq_t * dh * d + 3 * d * ffn / t
    elems = 4 * d + 3 * d + 2 * (hq_t + hkv_t) * dh + 3 * ffn / t
    return 2.0 * params, BYTES * params, BYTES * elems


def nelder_mead(f, x0, steps=400):
    n = len(x0)
    pts = [list(x0)]
    for i in range(n):
        p = list(x0)
        p[i] += 0.1
        pts.append(p)
    vals = [f(p) for p in pts]
    for _ in range(steps):
        order = sorted(range(n + 1), key=lambda i: vals[i])
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        cen = [sum(p[j] for p in pts[:-1]) / n for j in range(n)]
        ref = [cen[j] + (cen[j] - pts[-1][j]) for j in range(n)]
        fr = f(ref)
        if fr < vals[0]:
            exp = [cen[j] + 2 * (cen[j] - pts[-1][j]) for j in range(n)]
            fe = f(exp)
            pts[-1], vals[-1] = (exp, fe) if fe < fr else (ref, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = ref, fr
        else:
            con = [cen[j] + 0.5 * (pts[-1][j] - cen[j]) for j in range(n)]
            fc = f(con)
            if fc < vals[-1]:
                pts[-1], vals[-1] = con, fc
            else:
                for i in range(1, n + 1):
                    pts[i] = [pts[0][j] + 0.5 * (pts[i][j] - pts[0][j]) for j in range(n)]
                    vals[i] = f(pts[i])
    best = min(range(n + 1), key=lambda i: vals[i])
    return pts[best], vals[best]


def abs_log_err(pred, meas):
    return abs(math.log(pred / meas))


def pct_errors(pairs):
    errs = sorted(abs(p / m - 1.0) * 100.0 for p, m in pairs)
    return statistics.median(errs), errs[min(len(errs) - 1, int(math.ceil(0.9 * len(errs))) - 1)]


def fit_linear(root, gpu):
    peak, bw = GPUS[gpu]
    rows = []
    for model in MLP_FILES[gpu]:
        path = os.path.join(root, "compute", gpu, "meta-llama", model, "mlp.csv")
        with open(path, newline="") as fh:
            for r in csv.DictReader(fh):
                flop, wbytes, ebytes = layer_geometry(r)
                n = int(r["num_tokens"])
                gemm = sum(med(r, op) for op in GEMMS)
                elem = sum(med(r, op) for op in ELEMENTWISE)
                rows.append((model, int(r["num_tensor_parallel_workers"]), n, flop, wbytes, ebytes, gemm, elem))

    def gemm_model(x, row):
        eta_c, eta_m, floor_s = (math.exp(v) for v in x)
        _, _, n, flop, wbytes, _, _, _ = row
        return floor_s + smoothmax(n * flop / (eta_c * peak), wbytes / (eta_m * bw))

    def elem_model(x, row):
        floor_s, eta_e = math.exp(x[0]), math.exp(x[1])
        _, _, n, _, _, ebytes, _, _ = row
        return floor_s + n * ebytes / (eta_e * bw)

    xg, _ = nelder_mead(lambda x: sum(abs_log_err(gemm_model(x, r), r[6]) for r in rows), [math.log(0.7), math.log(0.75), math.log(5e-6)], steps=300)
    xe, _ = nelder_mead(lambda x: sum(abs_log_err(elem_model(x, r), r[7]) for r in rows), [math.log(20e-6), math.log(0.5)])
    eta_c, eta_m, lin_floor_s = (math.exp(v) for v in xg)
    floor_s, eta_e = math.exp(xe[0]), math.exp(xe[1])
    print("# %s: linear fit over %d rows" % (gpu, len(rows)))
    print("eta_compute = %.4f\neta_weight_bw = %.4f" % (eta_c, eta_m))
    print("linear_floor_s_per_layer = %.3e" % lin_floor_s)
    print("elementwise_floor_s_per_layer = %.3e\neta_elementwise_bw = %.4f" % (floor_s, eta_e))
    groups = {}
    for r in rows:
        groups.setdefault((r[0], r[1]), []).append((gemm_model(xg, r) + elem_model(xe, r), r[6] + r[7]))
    for (model, tp), pairs in sorted(groups.items()):
        m, p90 = pct_errors(pairs)
        print("#   %-18s TP%d  n=%4d  linear+elementwise median %5.1f %%  p90 %5.1f %%" % (model, tp, len(pairs), m, p90))


def fit_attention(root):
    peak, bw = GPUS["a100"]
    rows = []
    with open(os.path.join(root, "a100", "attention.csv"), newline="") as fh:
        for r in csv.DictReader(fh):
            t = int(r["num_tensor_parallel_workers"])
            d = int(r["n_embd"])
            hq = int(r["n_q_head"])
            dh = d // hq
            hq_t = hq / t
            hkv_t = math.ceil(int(r["n_kv_head"]) / t)
            prefill = r["is_prefill"] == "True"
            c = int(r["kv_cache_size"])
            if prefill:
                b, q = 1, int(r["prefill_chunk_size"])
                meas = med(r, "attn_prefill")
            else:
                b, q = int(r["batch_size"]), 1
                meas = med(r, "attn_decode")
            meas += med(r, "attn_input_reshape") + med(r, "attn_output_reshape")
            flop_tokens = b * q * (c + (q + 1) / 2.0)
            kv_tokens = b * (c + q)
            rows.append((prefill, b, 4.0 * hq_t * dh * flop_tokens, 2.0 * hkv_t * dh * BYTES * kv_tokens, meas))

    def att_model(x, row):
        eta_a, eta_kv, floor_s, per_seq_s = (math.exp(v) for v in x)
        _, b, flop, kvb, _ = row
        return floor_s + per_seq_s * b + smoothmax(flop / (eta_a * peak), kvb / (eta_kv * bw))

    x, _ = nelder_mead(lambda x: sum(abs_log_err(att_model(x, r), r[4]) for r in rows),
                       [math.log(0.5), math.log(0.7), math.log(10e-6), math.log(0.1e-6)], steps=800)
    eta_a, eta_kv, floor_s, per_seq_s = (math.exp(v) for v in x)
    print("# a100 attention fit over %d rows" % len(rows))
    print("eta_attention = %.4f\neta_kv_bw = %.4f" % (eta_a, eta_kv))
    print("attention_floor_s_per_layer = %.3e\nattention_s_per_seq_per_layer = %.3e" % (floor_s, per_seq_s))
    for prefill in (False, True):
        pairs = [(att_model(x, r), r[4]) for r in rows if r[0] == prefill]
        m, p90 = pct_errors(pairs)
        print("#   %s n=%d median %.1f %% p90 %.1f %%" % ("prefill" if prefill else "decode", len(pairs), m, p90))


def fit_all_reduce(root, topo):
    rows = {}
    with open(os.path.join(root, "network", topo, "all_reduce.csv"), newline="") as fh:
        for r in csv.DictReader(fh):
            t = int(r["num_workers"])
            if r["devices_per_node"] != r["num_workers"] or r["rank"] != "0":
                continue
            rows.setdefault(t, []).append((float(r["size"]), float(r["time_stats.all_reduce.median"]) * 1e-3))
    print("# %s all-reduce: latency_s + bytes / bytes_per_s" % topo)
    for t, pts in sorted(rows.items()):
        # Weighted least squares on relative error: minimise sum(((a + s*g) / y - 1)^2).
        s11 = sum(1 / y ** 2 for s, y in pts)
        s12 = sum(s / y ** 2 for s, y in pts)
        s22 = sum(s * s / y ** 2 for s, y in pts)
        b1 = sum(1 / y for s, y in pts)
        b2 = sum(s / y for s, y in pts)
        det = s11 * s22 - s12 * s12
        a = (b1 * s22 - b2 * s12) / det
        g = (s11 * b2 - s12 * b1) / det
        m, p90 = pct_errors([(a + s * g, y) for s, y in pts])
        print("{ tp = %d, latency_s = %.3e, bytes_per_s = %.4e },  # n=%d median %.1f %% p90 %.1f %%" % (t, a, 1 / g, len(pts), m, p90))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "..", "shared")
    root = os.path.join(shared, "calibration", "vidur", "data", "profiling")
    if not os.path.isdir(root):
        sys.exit("not found: %s" % root)
    for gpu in ("a100", "h100", "a40"):
        fit_linear(root, gpu)
    fit_attention(root)
    for topo in ("a100_dgx", "h100_dgx"):
        fit_all_reduce(root, topo)


if __name__ == "__main__":
    main()
