"""A conda-compatible front end over py-rattler, just enough for conda-lock's conda
solve.

conda-lock drives a conda executable with ``create --prefix P --dry-run --json
--override-channels --channel C... SPECS``, the target platform in ``CONDA_SUBDIR``, and
the target's virtual packages as one extra local channel whose repodata holds only
``__*`` records. This module answers that call (and ``--version`` / ``info --json``) by
solving with rattler and printing conda's dry-run JSON, so envgen can lock where no
conda, mamba or micromamba is installed. It is run as ``python -m
envgen.lock.conda_shim`` through a wrapper script made by :func:`write_wrapper`; it
never installs anything.

Failures print conda's error JSON (``{"message": ..., "exception_name": ...}``) on
stdout and exit 1, which conda-lock reports; envgen reads the same JSON back to word its
own one-line error.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from envgen.names import cache_dir

VERSION = "envgen-rattler-shim 1"
UNSATISFIABLE = "UnsatisfiableError"
UNREACHABLE = "ChannelUnreachable"


class ShimUsage(Exception):
    """A command line this front end does not answer."""


def write_wrapper(directory: Path, python: str | None = None) -> Path:
    """Write an executable ``conda`` wrapper that runs this module with ``python``;
    returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "conda"
    interpreter = shlex.quote(python or sys.executable)
    path.write_text(f'#!/bin/sh\nexec {interpreter} -m envgen.lock.conda_shim "$@"\n')
    path.chmod(0o755)
    return path


def _parse_create(args: list[str]) -> tuple[list[str], list[str]]:
    """The channels and specs of a ``create`` command line (other flags are accepted and
    ignored)."""
    channels: list[str] = []
    specs: list[str] = []
    flags_with_value = {"--prefix", "-p", "--name", "-n", "--file"}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in ("--channel", "-c"):
            channels.append(args[index + 1])
            index += 2
            continue
        if arg.startswith("--channel="):
            channels.append(arg.split("=", 1)[1])
        elif arg in flags_with_value:
            index += 1
        elif arg.startswith("-"):
            pass
        else:
            specs.append(arg)
        index += 1
    if "--dry-run" not in args:
        raise ShimUsage(
            "envgen's rattler front end only answers dry runs (create --dry-run --json)"
        )
    return channels, specs


def local_path(channel: str) -> Path | None:
    if channel.startswith("file://"):
        return Path(unquote(urlparse(channel).path))
    if channel.startswith("/"):
        return Path(channel)
    return None


def _virtual_records(channel: str, platform: str) -> list[dict] | None:
    """The records of conda-lock's virtual-package channel, or None when ``channel`` is
    a real one."""
    root = local_path(channel)
    if root is None:
        return None
    records: list[dict] = []
    found = False
    for subdir in (platform, "noarch"):
        path = root / subdir / "repodata.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        entries = list(data.get("packages", {}).values()) + list(
            data.get("packages.conda", {}).values()
        )
        if entries and all(str(r.get("name", "")).startswith("__") for r in entries):
            found = True
            records.extend(entries)
        elif entries:
            return None
    return records if found else None


def _fetch_action(record) -> dict:
    """conda's dry-run FETCH entry for one solved record (its repodata fields plus fn,
    url, channel)."""
    entry = json.loads(record.to_json())
    entry.setdefault("depends", [])
    entry.setdefault("constrains", [])
    entry.setdefault("md5", "")
    entry["channel"] = entry.get("channel", "").rstrip("/")
    return entry


def solve(channels: list[str], specs: list[str], platform: str) -> dict:
    """Solve ``specs`` for ``platform``; conda's dry-run answer as a dict."""
    import rattler
    from rattler import BuildString, Channel, GenericVirtualPackage, Subdir, Version
    from rattler.package import PackageName

    real: list[str] = []
    virtual: list = []
    for channel in channels:
        records = _virtual_records(channel, platform)
        if records is None:
            real.append(channel)
            continue
        best: dict[str, dict] = {}
        for r in records:
            current = best.get(r["name"])
            if current is None or Version(r["version"]) > Version(current["version"]):
                best[r["name"]] = r
        for r in best.values():
            virtual.append(
                GenericVirtualPackage(
                    PackageName(r["name"]),
                    Version(r["version"]),
                    BuildString(r.get("build") or r.get("build_string") or "0"),
                )
            )
    gateway = rattler.Gateway(cache_dir=cache_dir() / "rattler")
    solved = asyncio.run(
        rattler.solve(
            sources=[Channel(c) for c in real],
            specs=specs,
            gateway=gateway,
            platforms=[Subdir(platform), Subdir("noarch")],
            virtual_packages=virtual,
        )
    )
    prefix = ""
    return {
        "actions": {
            "FETCH": [_fetch_action(r) for r in solved],
            "LINK": [],
            "PREFIX": prefix,
        },
        "dry_run": True,
        "success": True,
    }


def _error(message: str, name: str) -> dict:
    return {
        "message": message,
        "exception_name": name,
        "error": f"{name}: {message}",
        "success": False,
    }


def _classify(error: BaseException) -> str:
    kind = type(error).__name__
    if kind == "SolverError":
        return UNSATISFIABLE
    if kind in ("GatewayError", "FetchRepoDataError", "IoError", "InvalidChannelError"):
        return UNREACHABLE
    return kind


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("--version", "-V"):
        print(VERSION)
        return 0
    command = args[0]
    platform = os.environ.get("CONDA_SUBDIR", "")
    if command == "info" and "--json" in args:
        print(
            json.dumps(
                {
                    "platform": platform,
                    "pkgs_dirs": [os.environ.get("CONDA_PKGS_DIRS", "")],
                    "conda_version": VERSION,
                    "virtual_pkgs": [],
                }
            )
        )
        return 0
    if command != "create":
        print(
            json.dumps(
                _error(
                    f"'{command}' is not supported by envgen's rattler front end (it"
                    " only answers conda-lock's dry-run solve)",
                    "CommandNotSupported",
                )
            )
        )
        return 2
    try:
        channels, specs = _parse_create(args[1:])
        if not platform:
            raise ShimUsage(
                "CONDA_SUBDIR must name the target platform (conda-lock sets it)"
            )
        answer = solve(channels, specs, platform)
    except ShimUsage as error:
        print(json.dumps(_error(str(error), "CommandNotSupported")))
        return 2
    except (
        Exception
    ) as error:  # rattler's errors carry the solver's or the gateway's explanation
        print(json.dumps(_error(str(error), _classify(error))))
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: rattler's background runtime occasionally aborted the
    # process while Python finalised (about 1 run in 40 here), after the answer was
    # already printed.
    os._exit(code)
