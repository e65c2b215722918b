"""Benchmark: `envgen lock` on real data beside a bare `conda-lock lock` on the same
inputs.

Run: python benchmarks/bench_lock.py [--lines 2.13,2.16,2.18] [--repeat 3] [--bound 180]
      [--channel file:///…/conda-forge-records/channel]

For each TensorFlow line, a plain project (`envgen new --no-lock`, its default Python)
is locked against the full real-record channel
(``../shared/conda-forge-records/channel``: 27,447 conda-forge records) and real PyPI,
with warm caches (one unmeasured lock first, as a second lock on a machine would be).
Printed: the median of ``--repeat`` runs of `envgen lock --force` (a fresh CLI process
each, target < 15 s), the time of each phase as envgen reports it, `envgen lock
--check`, and a bare `conda-lock lock` on the same environment.yml (pip section
included, the simple index only, the same rattler front end and virtual packages),
bounded to ``--bound`` seconds: it is killed there and reported as not finished
(conda-lock 4.0.3's pip-side category walk does not end on these graphs). Needs PyPI;
nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RECORDS = ROOT.parent / "shared" / "conda-forge-records" / "channel"
TARGET = 15.0


def run_bounded(
    argv: list[str], cwd: Path, env: dict, bound: float
) -> tuple[float, int | None, str]:
    """(seconds, exit code or None when killed at the bound, stderr)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=bound)
        return time.perf_counter() - start, process.returncode, err
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        return time.perf_counter() - start, None, err


def phases(stderr: str) -> list[tuple[str, float]]:
    """(phase, seconds) from envgen's progress lines."""
    found, current = [], None
    for line in stderr.splitlines():
        if line.startswith("envgen lock:   took "):
            if current:
                found.append((current, float(line.split()[-1].rstrip("s"))))
            current = None
        elif line.startswith("envgen lock: ") and not line.startswith(
            "envgen lock:   "
        ):
            current = line.removeprefix("envgen lock: ")
    return found


def bare_environment(env_file: Path) -> str:
    """environment.yml as conda-lock's own pip solver would take it (simple index
    only)."""
    document = yaml.safe_load(env_file.read_text())
    document["pip-repositories"] = ["https://pypi.org/simple"]
    document["allow-pypi-requests"] = False  # PyPI's per-version JSON answers 404 here
    return yaml.safe_dump(document, sort_keys=False)


def bench_line(
    tf: str, channel: str, work: Path, env: dict, repeat: int, bound: float
) -> dict:
    from envgen.lock.conda_shim import write_wrapper
    from envgen.lock.name_mapping import MAPPING_PATH

    envgen = [sys.executable, "-m", "envgen"]
    project = work / f"tf{tf.replace('.', '-')}"
    subprocess.run(
        [*envgen, "new", project.name, "--tf", tf, "--dir", str(project), "--no-lock"],
        env=env,
        check=True,
        capture_output=True,
    )
    lock = [*envgen, "lock", "--dir", str(project), "--channel", channel, "--force"]
    seconds, code, err = run_bounded(
        lock, work, env, bound
    )  # warms uv's and rattler's caches
    if code != 0:
        raise SystemExit(f"envgen lock failed for {tf} ({code}):\n{err[-2000:]}")
    runs, last = [], ""
    for _ in range(repeat):
        seconds, code, last = run_bounded(lock, work, env, bound)
        if code != 0:
            raise SystemExit(f"envgen lock failed for {tf} ({code}):\n{last[-2000:]}")
        runs.append(seconds)
    check, _, _ = run_bounded(
        [*envgen, "lock", "--dir", str(project), "--check", "-q"], work, env, bound
    )
    document = yaml.safe_load((project / "conda-lock.yml").read_text())
    counts = (
        sum(p["manager"] == "conda" for p in document["package"]),
        sum(p["manager"] == "pip" for p in document["package"]),
    )

    bare = work / f"bare{tf}"
    bare.mkdir()
    (bare / "environment.yml").write_text(bare_environment(project / "environment.yml"))
    from envgen.catalog.lines import load_catalog
    from envgen.generate.plan import make_plan
    from envgen.generate.spec import load_spec
    from envgen.lock.condalock import virtual_packages_yaml

    plan = make_plan(load_spec(project), load_catalog())
    (bare / "virtual-packages.yml").write_text(
        virtual_packages_yaml(plan, ("osx-arm64",))
    )
    conda_lock = [
        sys.executable, "-m", "conda_lock", "lock", "--conda", str(write_wrapper(bare / "bin")),
        "-f", "environment.yml", "-p", "osx-arm64", "--channel", channel,
        "--virtual-package-spec", "virtual-packages.yml", "--pypi_to_conda_lookup_file", str(MAPPING_PATH),
        "--kind", "lock",
    ]  # fmt: skip
    bare_seconds, bare_code, bare_err = run_bounded(conda_lock, bare, env, bound)
    return {
        "tf": tf,
        "median": statistics.median(runs),
        "runs": runs,
        "phases": phases(last),
        "check": check,
        "counts": counts,
        "bare": bare_seconds,
        "bare_code": bare_code,
        "bare_tail": " ".join(bare_err.strip().splitlines()[-1:])[:160],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="2.13,2.16,2.18")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--bound", type=float, default=180.0, help="seconds before a run is killed"
    )
    parser.add_argument("--channel", default=RECORDS.as_uri())
    args = parser.parse_args()
    if (
        args.channel.startswith("file://")
        and not Path(args.channel.removeprefix("file://")).is_dir()
    ):
        raise SystemExit(
            f"no channel at {args.channel}: pass --channel (a copy of"
            " ../shared/conda-forge-records/channel)"
        )
    work = Path(tempfile.mkdtemp(prefix="envgen-bench-lock-"))
    env = {**os.environ, "ENVGEN_CACHE_DIR": str(work / "cache")}
    print(
        f"channel {args.channel}; pip side https://pypi.org/simple; {args.repeat} runs"
        f" each, bound {args.bound:.0f} s"
    )
    for tf in args.lines.split(","):
        result = bench_line(tf, args.channel, work, env, args.repeat, args.bound)
        verdict = "under" if result["median"] < TARGET else "OVER"
        print(
            f"\nTF {tf}: {result['counts'][0]} conda + {result['counts'][1]} pip"
            " packages"
        )
        print(
            f"  envgen lock --force   median {result['median']:6.1f} s  (runs"
            f" {', '.join(f'{s:.1f}' for s in result['runs'])}; {verdict} the"
            f" {TARGET:.0f} s target)"
        )
        for phase, seconds in result["phases"]:
            print(f"      {seconds:5.1f} s  {re.sub(r' [(].*', '', phase)}")
        print(f"  envgen lock --check   {result['check'] * 1000:6.0f} ms")
        if result["bare_code"] is None:
            print(
                f"  bare conda-lock lock  did not finish in {result['bare']:.0f} s"
                " (killed at the bound)"
            )
        else:
            print(
                f"  bare conda-lock lock  {result['bare']:6.1f} s, exit"
                f" {result['bare_code']}: {result['bare_tail']}"
            )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
