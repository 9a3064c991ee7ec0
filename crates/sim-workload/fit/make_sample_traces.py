#!/usr/bin/env python3
"""Writes the small synthetic sample traces in /traces (python3 standard library only).

The samples are made up: 50 requests each, Poisson arrivals at about 5 req/s and log-normal
lengths roughly shaped like the Azure "conv" trace. They exist to show the three formats and
to give examples and tests something small; they are not measurements.

Usage: python3 make_sample_traces.py  (writes ../../../traces/sample-*.{csv,jsonl})
"""
import datetime
import json
import math
import os
import random

N = 50
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../traces")


def requests(seed):
    rng = random.Random(seed)
    t_us = 0
    for _ in range(N):
        t_us += max(1, round(rng.expovariate(5.0) * 1e6))
        prompt = min(14050, max(2, round(rng.lognormvariate(math.log(1020), 0.6))))
        output = min(1000, max(7, round(rng.lognormvariate(math.log(129), 0.66))))
        yield t_us, prompt, output


def main():
    start = datetime.datetime(2024, 2, 29, 23, 59, 55)  # crosses midnight into March
    rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for t_us, p, o in requests(1):
        ts = start + datetime.timedelta(microseconds=t_us)
        rows.append(f"{ts:%Y-%m-%d %H:%M:%S}.{ts.microsecond:06d}0,{p},{o}")
    with open(os.path.join(OUT, "sample-azure.csv"), "w", newline="") as f:
        f.write("\r\n".join(rows))  # CRLF, no newline after the last row, as published

    with open(os.path.join(OUT, "sample-mooncake.jsonl"), "w", newline="\n") as f:
        for i, (t_us, p, o) in enumerate(requests(2)):
            blocks = list(range(i * 3, i * 3 + (p + 511) // 512))
            row = {"timestamp": 1000 + t_us // 1000, "input_length": p, "output_length": o, "hash_ids": blocks}
            f.write(json.dumps(row) + "\n")

    with open(os.path.join(OUT, "sample-generic.csv"), "w", newline="\n") as f:
        f.write("arrival_s,prompt_tokens,output_tokens\n")
        for t_us, p, o in requests(3):
            f.write(f"{t_us / 1e6 + 10:.6f},{p},{o}\n")


if __name__ == "__main__":
    main()
