#!/usr/bin/env python3
"""Independent cross-check of the azure-conv-like constants (python3 standard library only).

Reads the Azure LLM inference trace 2023 "conv" file (CC-BY-4.0, Patel et al., "Splitwise",
ISCA 2024) and prints the numbers committed in src/azure_conv_like.rs: the per-minute counts,
the detrended gap CV and the 1001-point prompt and output quantile tables (quantiles
0, 0.001, ..., 1, linear interpolation between ranks as numpy's default). The Rust test
`azure_conv_like::tests::constants_match_the_trace` derives the same numbers with
`sim_workload::fit_trace`; this script exists so the derivation can be checked without Rust.

Usage: python3 fit_azure_conv.py [path/to/AzureLLMInferenceTrace_conv.csv]
"""
import datetime
import math
import os
import sys

STEP_NS = 60 * 10**9


def parse_ns(ts):
    date, frac = (ts.split(".") + ["0"])[:2]
    dt = datetime.datetime.strptime(date, "%Y-%m-%d %H:%M:%S")
    epoch = datetime.datetime(1970, 1, 1)
    whole = (dt - epoch) // datetime.timedelta(seconds=1)
    return whole * 10**9 + int(frac.ljust(9, "0"))


def percentile(sorted_values, q):
    h = (len(sorted_values) - 1) * q
    lo = math.floor(h)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def cv(values):
    n = len(values)
    mean = sum(values) / n
    var = sum((x - mean) ** 2 for x in values) / n
    return math.sqrt(var) / mean


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "../../../../shared/traces/AzureLLMInferenceTrace_conv.csv")
    path = sys.argv[1] if len(sys.argv) > 1 else default
    with open(path, newline="") as f:
        lines = f.read().splitlines()
    assert lines[0] == "TIMESTAMP,ContextTokens,GeneratedTokens", lines[0]
    arrivals, prompts, outputs = [], [], []
    for line in lines[1:]:
        ts, p, o = line.split(",")
        arrivals.append(parse_ns(ts))
        prompts.append(int(p))
        outputs.append(int(o))
    first = arrivals[0]
    full = (arrivals[-1] - first) // STEP_NS
    counts = [0] * full
    for a in arrivals:
        k = (a - first) // STEP_NS
        if k < full:
            counts[k] += 1
    before = [sum(counts[:k]) for k in range(full)]
    operational = []
    for a in arrivals:
        rel = a - first
        k = rel // STEP_NS
        if k >= full:
            break
        operational.append(before[k] + counts[k] * ((rel % STEP_NS) / STEP_NS))
    detrended = [b - a for a, b in zip(operational, operational[1:])]
    raw = [(b - a) / 1e9 for a, b in zip(arrivals, arrivals[1:])]
    prompts.sort()
    outputs.sort()
    print(f"requests {len(arrivals)}, span {(arrivals[-1] - first) / 1e9:.1f} s, full minutes {full}")
    print("counts per minute:", " ".join(map(str, counts)))
    print(f"detrended gap CV {cv(detrended):.6f} (raw gap CV {cv(raw):.6f})")
    for name, v in (("prompt", prompts), ("output", outputs)):
        print(
            f"{name}: mean {sum(v) / len(v):.1f} p50 {percentile(v, 0.5)} p90 {percentile(v, 0.9)} "
            f"p99 {percentile(v, 0.99)} min {v[0]} max {v[-1]}"
        )
    # The 1001-point quantile tables (quantiles 0, 0.001, ..., 1), as the Rust constants.
    for name, v in (("PROMPT", prompts), ("OUTPUT", outputs)):
        table = [float(percentile(v, i / 1000)) for i in range(1001)]
        table_mean = sum((a + b) / 2 for a, b in zip(table, table[1:])) / 1000
        print(f"// Mean of the piecewise-linear table: {table_mean:.1f}")
        print(f"pub(crate) const CONV_{name}_QUANTILES_TOKENS: [f64; 1001] = [")
        print("    " + ", ".join(repr(x) for x in table) + ",")
        print("];")


if __name__ == "__main__":
    main()
