#!/usr/bin/env python3
"""Regenerates the results tables of scenarios/README.md from real runs.

Runs `sim run` (for the numbers) and `sim check` (for the verdict) on every scenario with
the release binary and rewrites the text between the `<!-- results:start -->` and
`<!-- results:end -->` markers (and likewise `troubleshooting`). Needs ../shared/traces.

    cargo build --release -p sim-cli && python3 scenarios/table.py
"""

import json
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIM = ROOT / "target" / "release" / "sim"

# (file, label) in table order.
MAIN = [
    ("quickstart.toml", "`quickstart` (synthetic, 4 × H100)"),
    ("azure-conv-static.toml", "`azure-conv-static` (4 × H100)"),
    ("seed-hpa-queue.toml", "`seed-hpa-queue`"),
    ("seed-keda.toml", "`seed-keda`"),
    ("seed-keda-scale-to-zero.toml", "`seed-keda-scale-to-zero` (code)"),
    ("seed-hpa-gpu-util.toml", "`seed-hpa-gpu-util`"),
    ("seed-runai.toml", "`seed-runai`"),
    ("recommended-production.toml", "`recommended-production`"),
    ("recommended-staging.toml", "`recommended-staging` (conv × 0.33)"),
    ("recommended-development.toml", "`recommended-development` (code × 0.1)"),
    (
        "llama70b-tp4-node-autoscaling.toml",
        "`llama70b-tp4-node-autoscaling` (conv × 3, TP 4 on H100)",
    ),
]
TROUBLE = [
    "troubleshooting/metric-not-scraped-hpa.toml",
    "troubleshooting/metric-not-scraped-keda.toml",
    "troubleshooting/threshold-too-high.toml",
    "troubleshooting/no-stabilization.toml",
    "troubleshooting/early-readiness.toml",
]


def num(x, fmt):
    return "∞" if x is None else format(x, fmt)


def verdict(path):
    """`sim check`'s answer in a few words: holds, or the first failed checks."""
    out = subprocess.run(
        [SIM, "check", path], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if out.returncode == 0:
        return "holds"
    if out.returncode != 3:
        sys.exit(f"sim check {path}: exit {out.returncode}\n{out.stderr}")
    failed = [
        line.split()[1] for line in out.stdout.splitlines() if line.strip().startswith("FAIL")
    ]
    warned = "warning:" in out.stderr
    words = []
    if failed:
        words.append("fails " + ", ".join(failed))
    if warned:
        words.append("warnings")
    return "; ".join(words)


def run(path):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "out"
        subprocess.run(
            [SIM, "run", path, "--out", out],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        return json.loads((out / "summary.json").read_text())


def row(path, label):
    s = run(path)
    return (
        f"| {label} | {s['requests_total']} | {100 * s['failed_ratio']:.2f} % | "
        f"{num(s['ttft_s']['p50'], '.2f')} / {num(s['ttft_s']['p99'], '.2f')} | "
        f"{100 * s['slo_attainment']:.1f} % | {verdict(path)} | "
        f"{s['replicas']['mean']:.2f} ({s['replicas']['max']}) | {s['scale_events']} | "
        f"{s['gpu_hours']:.2f} | {s['cost_usd']:.2f} |"
    )


def replace(text, name, body):
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    a, b = text.index(start) + len(start), text.index(end)
    return text[:a] + "\n" + body + "\n" + text[b:]


def main():
    if not SIM.exists():
        sys.exit(f"{SIM} is missing: cargo build --release -p sim-cli")
    header = (
        "| scenario | requests | failed | TTFT p50 / p99 | SLO attainment | `sim check` "
        "| replicas mean (max) | scale events | GPU-hours | cost $ |\n"
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    )
    main_rows = [row(f"scenarios/{f}", label) for f, label in MAIN]
    trouble_rows = [row(f"scenarios/{f}", f"`{f}`") for f in TROUBLE]
    readme = ROOT / "scenarios" / "README.md"
    text = readme.read_text()
    text = replace(text, "results", "\n".join([header, *main_rows]))
    text = replace(text, "troubleshooting", "\n".join([header, *trouble_rows]))
    readme.write_text(text)


if __name__ == "__main__":
    main()
