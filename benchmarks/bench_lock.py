"""Benchmark: `envgen lock` on the offline fixtures against a bare `conda-lock lock`, `--check`, and channel size.

Run: python benchmarks/bench_lock.py [--repeat N]
Prints medians of N runs (each a fresh CLI process, as a user runs it):
- `envgen lock --force` on a 2.6 project (fixture channel + pip index on 127.0.0.1) vs a bare
  `conda-lock lock` on the same derived inputs with the same rattler front end (target ratio <= 1.1);
- `envgen lock --check` (target < 0.3 s);
- the rattler solve alone, and `envgen lock --force`, on synthetic channels of 2,000 and 20,000 records.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from lock_fixtures import CHANNEL_URL, PipIndex, make_fixtures, write_index  # noqa: E402

from envgen.catalog.lines import load_catalog  # noqa: E402
from envgen.generate.plan import make_plan  # noqa: E402
from envgen.generate.spec import load_spec  # noqa: E402
from envgen.lock.conda_shim import solve, write_wrapper  # noqa: E402
from envgen.lock.name_mapping import MAPPING_PATH  # noqa: E402
from envgen.lock.run import derived_environment, virtual_packages_yaml  # noqa: E402


def timed(argv: list[str], cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(
            f"{' '.join(argv)} failed ({result.returncode}):\n{result.stderr[-2000:]}"
        )
    return elapsed


def median(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.0f} ms (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="envgen-bench-lock-"))
    env = {
        **os.environ,
        "HOME": str(work / "home"),
        "ENVGEN_CACHE_DIR": str(work / "cache"),
        "XDG_CACHE_HOME": str(work / "xdg"),
    }
    index = PipIndex(write_index(work / "pypi"))
    envgen = [sys.executable, "-m", "envgen"]
    try:
        project = work / "demo"
        subprocess.run(
            [
                *envgen,
                "new",
                "demo",
                "--tf",
                "2.6",
                "--python",
                "3.9",
                "--dir",
                str(project),
                "--no-lock",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        lock = [
            *envgen,
            "lock",
            "--dir",
            str(project),
            "--channel",
            CHANNEL_URL,
            "--pypi-index",
            index.url,
            "--quiet",
        ]
        timed(
            lock, work, env
        )  # warm the pip solver's HTTP cache, as a second lock on a machine would be

        # a bare conda-lock on exactly what envgen hands it
        bare = work / "bare"
        bare.mkdir()
        plan = make_plan(load_spec(project), load_catalog())
        (bare / "environment.yml").write_text(
            derived_environment(
                (project / "environment.yml").read_text(), pypi_index=index.url, pins={}
            )
        )
        (bare / "virtual-packages.yml").write_text(
            virtual_packages_yaml(plan, plan.platforms)
        )
        conda = write_wrapper(bare / "bin")
        conda_lock = [
            sys.executable,
            "-m",
            "conda_lock",
            "lock",
            "--conda",
            str(conda),
            "-f",
            "environment.yml",
            "-p",
            "osx-arm64",
            "--channel",
            CHANNEL_URL,
            "--virtual-package-spec",
            "virtual-packages.yml",
            "--pypi_to_conda_lookup_file",
            str(MAPPING_PATH),
            "--kind",
            "lock",
        ]

        envgen_runs, bare_runs, check_runs = [], [], []
        for _ in range(args.repeat):
            envgen_runs.append(timed([*lock, "--force"], work, env))
            (bare / "conda-lock.yml").unlink(missing_ok=True)
            bare_runs.append(timed(conda_lock, bare, env))
            check_runs.append(
                timed(
                    [*envgen, "lock", "--dir", str(project), "--check", "--quiet"],
                    work,
                    env,
                )
            )
        print(
            f"runs per figure: {args.repeat} (fresh processes; pip index on 127.0.0.1, channel {CHANNEL_URL})"
        )
        print(f"envgen lock --force (2.6, osx-arm64)   {median(envgen_runs)}")
        print(f"bare conda-lock lock, same inputs      {median(bare_runs)}")
        print(
            f"ratio envgen / bare (target <= 1.1)    {statistics.median(envgen_runs) / statistics.median(bare_runs):8.2f}"
        )
        print(f"envgen lock --check (target < 0.3 s)   {median(check_runs)}")

        specs = list(plan.conda_specs)
        vdir = work / "virtual"
        for subdir in ("osx-arm64", "noarch"):
            (vdir / subdir).mkdir(parents=True)
            packages = (
                {
                    "__osx-12.0-0.tar.bz2": {
                        "name": "__osx",
                        "version": "12.0",
                        "build": "0",
                    }
                }
                if subdir == "osx-arm64"
                else {}
            )
            (vdir / subdir / "repodata.json").write_text(
                __import__("json").dumps(
                    {"info": {"subdir": subdir}, "packages": packages}
                )
            )
        for size in (2_000, 20_000):
            channel = make_fixtures.synthetic_channel(work / f"channel-{size}", size)
            solves = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                solve([f"file://{channel}", f"file://{vdir}"], specs, "osx-arm64")
                solves.append(time.perf_counter() - start)
            locks = [
                timed(
                    [
                        *envgen,
                        "lock",
                        "--dir",
                        str(project),
                        "--channel",
                        f"file://{channel}",
                        "--pypi-index",
                        index.url,
                        "--quiet",
                        "--force",
                    ],
                    work,
                    env,
                )
                for _ in range(max(3, args.repeat // 2))
            ]
            print(
                f"channel of {size:>6} records: rattler solve {median(solves)}; envgen lock {median(locks)}"
            )
    finally:
        index.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
