"""Benchmark: `envgen update --check` on a generated project, with a cold and a warm
PyPI cache.

Run: python benchmarks/bench_update.py [--repeat N] [--live] Each run is a fresh CLI
process (what a scheduled CI job pays). "cold" starts from an empty cache; "warm" reuses
the cache a previous run filled (answers younger than their max-age are not asked for
again). The PyPI is a local server replaying the recorded answers of
tests/fixtures/pypi_client/ (real documents, about 260 KB); with --live, real pypi.org
too. CLI start-up (`envgen --version`) is printed beside them, measured in the same run.
Targets (issue 5): warm < 0.5 s, cold < 3 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pypi_fixtures import FakePyPI

from envgen.generate.project import create_project
from envgen.generate.spec import ProjectSpec


def timed_cli(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "envgen", *argv], env=env, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(
            f"envgen {' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return elapsed


def measure(label: str, base_url: str, project: Path, work: Path, repeat: int) -> None:
    cold, warm = [], []
    for i in range(repeat):
        cache = work / f"cache-{label}-{i}"
        env = {
            **os.environ,
            "ENVGEN_PYPI_URL": base_url,
            "ENVGEN_CACHE_DIR": str(cache),
        }
        argv = ["update", "--check", "--dir", str(project)]
        cold.append(timed_cli(argv, env))
        warm.append(timed_cli(argv, env))
        shutil.rmtree(cache, ignore_errors=True)
    for name, runs, target in (("cold", cold, 3.0), ("warm", warm, 0.5)):
        median = statistics.median(runs)
        verdict = "ok" if median < target else "OVER TARGET"
        print(
            f"{label + ' ' + name:<22}{median * 1e3:>10.0f}{max(runs) * 1e3:>10.0f}{target * 1e3:>10.0f}"
            f"  {verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--live", action="store_true", help="also measure against https://pypi.org"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envgen-bench-update-"))
    try:
        project = work / "demo"
        create_project(
            ProjectSpec(name="demo", tensorflow="2.6", python="3.9"), project
        )
        print(f"{'case':<22}{'median ms':>10}{'max ms':>10}{'target':>10}")
        startup = [
            timed_cli(["--version"], dict(os.environ)) for _ in range(args.repeat)
        ]
        print(
            f"{'CLI start-up':<22}{statistics.median(startup) * 1e3:>10.0f}{max(startup) * 1e3:>10.0f}{'':>10}"
        )
        with FakePyPI() as fake:
            fake.serve_recorded()
            measure("local replay", fake.url, project, work, args.repeat)
        if args.live:
            measure("pypi.org", "https://pypi.org", project, work, args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
