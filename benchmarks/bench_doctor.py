"""Benchmark: how long `envgen doctor` takes, split into the probe and the rules.

Run: python benchmarks/bench_doctor.py [--repeat N] [--tf-python PATH] Prints the median
and worst of N runs for: the probe in a bare venv (no TensorFlow: machine, conda and
distribution facts plus a failed import), the probe in a TensorFlow CPU venv (import,
devices, one matmul and a conv gradient), and the rules over every recorded probe
result.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envgen.catalog.lines import load_catalog
from envgen.doctor.rules import diagnose
from envgen.doctor.target import run_probe

FIXTURES = Path(__file__).parent.parent / "tests" / "fixtures" / "doctor"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(label: str, times: list[float]) -> None:
    print(
        f"{label:<56} median {statistics.median(times) * 1000:8.1f} ms   worst"
        f" {max(times) * 1000:8.1f} ms   (n={len(times)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tf-python", default="/tmp/envgen-test-tf-venv/bin/python")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch) / "venv"
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True
        )
        report(
            "probe, bare venv (no TensorFlow)",
            [
                timed(lambda: run_probe(bare / "bin" / "python"))
                for _ in range(args.repeat)
            ],
        )
    tf_python = Path(args.tf_python)
    if tf_python.exists():
        report(
            "probe, TensorFlow CPU venv (import, devices, 2 ops)",
            [timed(lambda: run_probe(tf_python)) for _ in range(args.repeat)],
        )
    else:
        print(f"skipped the TensorFlow probe: no {tf_python} (pass --tf-python)")
    catalog = load_catalog()
    probes = [
        json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(FIXTURES.glob("*.json"))
    ]
    report(
        f"rules over {len(probes)} recorded probe results",
        [
            timed(lambda: [diagnose(p, catalog) for p in probes])
            for _ in range(args.repeat * 20)
        ],
    )


if __name__ == "__main__":
    main()
