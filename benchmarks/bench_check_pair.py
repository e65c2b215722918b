"""Time and peak memory of `envgen catalog check-pair`, cold (empty cache: downloads and
streams the wheels) and warm (cached export tables only). Needs PyPI.

    python benchmarks/bench_check_pair.py [METAL TF ...]  # default: 1.1.0 2.16.2

The default pair's TensorFlow wheel is 227 MB. Each run is a fresh Python process so
its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, time
from envgen.abi.checkpair import check_pair
from envgen.pypi.client import PyPIClient
started = time.perf_counter()
report = check_pair(sys.argv[1], sys.argv[2], repository=PyPIClient())
seconds = time.perf_counter() - started
print(json.dumps({
    "seconds": seconds,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "compatible": report.compatible,
    "missing": [f.symbol for f in report.resolution.missing],
    "downloaded_mb": sum(b for _, b, _ in report.stats.downloads) / 1e6,
    "download_s": sum(s for _, _, s in report.stats.downloads),
    "extract_s": sum(s for _, s in report.stats.extracted),
    "checked": len(report.resolution.checked),
}))
"""


def measure(metal: str, tf: str, cache: str) -> dict:
    env = {**os.environ, "ENVGEN_CACHE_DIR": cache}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, metal, tf],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def main(argv: list[str]) -> int:
    pairs = list(zip(argv[0::2], argv[1::2], strict=False)) or [("1.1.0", "2.16.2")]
    for metal, tf in pairs:
        with tempfile.TemporaryDirectory(prefix="envgen-bench-") as cache:
            for label in ("cold", "warm"):
                r = measure(metal, tf, cache)
                cache_mb = (
                    sum(
                        os.path.getsize(os.path.join(d, f))
                        for d, _, fs in os.walk(cache)
                        for f in fs
                    )
                    / 1e6
                )
                verdict = (
                    "compatible"
                    if r["compatible"]
                    else f"incompatible ({len(r['missing'])} missing)"
                )
                print(
                    f"metal {metal} + tf {tf} {label}: {r['seconds']:.2f} s, peak RSS"
                    f" {r['peak_rss_mb']:.0f} MB, downloaded {r['downloaded_mb']:.0f}"
                    f" MB in {r['download_s']:.1f} s, extraction {r['extract_s']:.2f}"
                    f" s, {r['checked']} symbols checked, {verdict}; cache now"
                    f" {cache_mb:.0f} MB"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
