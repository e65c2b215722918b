"""Benchmark: how long generating a project takes (no lock), in-process and as a fresh
CLI process.

Run: python benchmarks/bench_generate.py [--repeat N] Prints the median and worst of N
runs for each TF line asked for, plus the CLI's start-up cost. Target (issue 2):
generation alone well under a second.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from envgen.catalog.lines import load_catalog
from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envgen-bench-"))
    try:
        lines = [line.tf for line in load_catalog().lines]
        print(f"{'case':<28}{'median ms':>12}{'max ms':>10}")
        for tf in dict.fromkeys(
            (lines[0], "2.6" if "2.6" in lines else lines[0], lines[-1])
        ):
            runs = []
            for i in range(args.repeat):
                target = work / f"inproc-{tf}-{i}"
                runs.append(
                    timed(
                        lambda: create_project(
                            ProjectSpec(name="demo", tensorflow=tf), target
                        )
                    )
                )
            print(
                f"{'in-process new --tf ' + tf:<28}{statistics.median(runs) * 1e3:>12.1f}{max(runs) * 1e3:>10.1f}"
            )
        cli_runs, startup_runs = [], []
        for i in range(max(3, args.repeat // 4)):
            target = work / f"cli-{i}"
            cli_runs.append(
                timed(
                    lambda: subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "envgen",
                            "new",
                            "demo",
                            "--tf",
                            "2.6",
                            "--no-lock",
                            "--dir",
                            str(target),
                        ],
                        check=True,
                        capture_output=True,
                    )
                )
            )
            startup_runs.append(
                timed(
                    lambda: subprocess.run(
                        [sys.executable, "-m", "envgen", "--version"],
                        check=True,
                        capture_output=True,
                    )
                )
            )
        print(
            f"{'CLI new --tf 2.6 --no-lock':<28}{statistics.median(cli_runs) * 1e3:>12.1f}{max(cli_runs) * 1e3:>10.1f}"
        )
        print(
            f"{'CLI --version (start-up)':<28}{statistics.median(startup_runs) * 1e3:>12.1f}{max(startup_runs) * 1e3:>10.1f}"
        )
        print(
            "generation alone (CLI minus start-up):"
            f" {(statistics.median(cli_runs) - statistics.median(startup_runs)) * 1e3:.1f} ms"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
