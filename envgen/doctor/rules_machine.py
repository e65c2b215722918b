"""Doctor rules about the machine: the OS, the chip, Rosetta, the conda platform, the
Python."""

from __future__ import annotations

from packaging.version import InvalidVersion, Version

from envgen.catalog import pairs
from envgen.doctor.context import FIX_MINIFORGE, Probe, RuleContext, shorten
from envgen.doctor.findings import Finding
from envgen.names import INTEL_MAC_PLATFORM


def check_os(c: RuleContext) -> list[Finding]:
    """Is this macOS, at least the line's minimum? (FAILURES.md F16)"""
    p = c.probe
    if not p.is_mac:
        return [
            Finding(
                "macos",
                "fact",
                "not macOS: TensorFlow's Metal GPU support exists only on macOS",
                f"OS: {p.system or 'unknown'}"
                f" {c.probe.value('machine', 'release', default='')}"
                f" ({p.machine or '?'})".strip(),
                "run the environment on an Apple Silicon Mac; on this machine use CPU"
                " TensorFlow (`envgen new NAME --tf X --no-metal --platform linux-64`)",
            )
        ]
    line = c.line
    # 10.16: an old-SDK Python's view of macOS 11 or later
    if line and p.mac_ver and p.mac_ver != "10.16":
        try:
            too_old = Version(p.mac_ver) < Version(line.min_macos)
        except InvalidVersion:
            too_old = False
        if too_old:
            return [
                Finding(
                    "macos",
                    "error",
                    f"macOS {p.mac_ver} is older than TensorFlow {line.tf} needs",
                    f"macOS {p.mac_ver}; the line needs macOS ≥ {line.min_macos}",
                    f"upgrade macOS to {line.min_macos} or later, or choose an older"
                    " TensorFlow line (`envgen matrix`)",
                )
            ]
    return [
        Finding("macos", "ok", "macOS", f"macOS {p.mac_ver or '(version unknown)'}")
    ]


def check_hardware(c: RuleContext) -> list[Finding]:
    """Is this Apple Silicon, the only hardware with a Metal GPU for TensorFlow?
    (FAILURES.md F16)"""
    p = c.probe
    if p.apple_silicon:
        return [
            Finding(
                "apple-silicon",
                "ok",
                "Apple Silicon hardware",
                f"hw.optional.arm64 = {p.value('machine', 'hw_arm64', default='?')}",
            )
        ]
    if not p.is_mac:
        return [
            Finding(
                "apple-silicon",
                "fact",
                "not Apple Silicon: no Metal GPU for TensorFlow on this machine",
                f"{p.system or 'unknown OS'} on {p.machine or 'unknown hardware'}",
                "tensorflow-metal needs a Mac with an M-series chip; here TensorFlow"
                " can only use the CPU (or CUDA)",
            )
        ]
    return [
        Finding(
            "apple-silicon",
            "fact",
            "Intel Mac: envgen's environments target Apple Silicon",
            f"platform.machine() = {p.machine}, hw.optional.arm64 ="
            f" {p.value('machine', 'hw_arm64', default='?')}",
            "tensorflow-metal shipped x86_64 wheels (AMD GPUs) only up to 1.0.0; expect"
            " CPU-only TensorFlow here",
        )
    ]


def check_rosetta(c: RuleContext) -> list[Finding]:
    """Is the Python a native arm64 binary, not x86_64 under Rosetta? (FAILURES.md
    F1)"""
    p = c.probe
    if not p.is_mac or not p.apple_silicon:
        return []
    if p.machine == "arm64" and not p.translated:
        return [
            Finding(
                "python-arch",
                "ok",
                "native arm64 Python",
                "platform.machine() = arm64, sysctl.proc_translated ="
                f" {p.value('machine', 'proc_translated', default='?')}",
            )
        ]
    return [
        Finding(
            "python-arch",
            "error",
            "Python is an x86_64 binary running under Rosetta: slow, and no Metal GPU",
            f"platform.machine() = {p.machine}, sysctl.proc_translated ="
            f" {p.value('machine', 'proc_translated', default='?')}",
            FIX_MINIFORGE,
        )
    ]


def check_conda_platform(c: RuleContext) -> list[Finding]:
    """Is this a conda environment, and an arm64 one on Apple Silicon? (FAILURES.md F2,
    F17)"""
    p = c.probe
    if not p.is_conda_env:
        return [
            Finding(
                "conda-env",
                "warning",
                "not a conda environment: numpy, h5py and grpcio come from pip wheels,"
                " not conda-forge",
                f"no conda-meta/ in {p.prefix or '?'} (a venv or a system Python)",
                "create the environment with conda from conda-forge: `envgen new NAME"
                " --tf X`, then ./bootstrap.sh",
            )
        ]
    subdir = p.value("conda", "python_subdir") or "unknown"
    base_subdir = p.value("conda", "base_python_subdir")
    base = p.value("conda", "base")
    if p.apple_silicon and INTEL_MAC_PLATFORM in (subdir, base_subdir):
        where = [f"env python from {subdir}"]
        if base:
            where.append(f"conda installation {base} is {base_subdir or 'unknown'}")
        return [
            Finding(
                "conda-platform",
                "error",
                "x86_64 conda (osx-64) on an Apple Silicon Mac",
                "; ".join(where),
                FIX_MINIFORGE,
            )
        ]
    return [
        Finding(
            "conda-platform",
            "ok",
            "conda platform",
            f"env python from {subdir}"
            + (f"; installation {base} is {base_subdir}" if base else ""),
        )
    ]


def unpinned_create(p: Probe) -> str:
    """'; created by: conda create -n tf python' when conda's history shows Python asked
    for without a version."""
    for command in p.value("conda", "history_cmds", default=[]) or []:
        words = str(command).split()
        if "create" in words and any(w == "python" for w in words):
            return f"; created by: {shorten(command, 120)}"
    return ""


def check_python(c: RuleContext) -> list[Finding]:
    """Is the Python one the installed (or some) TensorFlow line serves? (FAILURES.md
    F5)"""
    p = c.probe
    minor = p.python_minor
    if not minor:
        return []
    line = c.line
    if line is not None:
        supported = pairs.pythons(line, c.metal_wanted)
        default = pairs.default_python(line, c.metal_wanted)
        if minor in supported:
            return [
                Finding(
                    "python-version",
                    "ok",
                    "Python supported by the TensorFlow line",
                    f"Python {p.python_version}; TensorFlow {line.tf} supports"
                    f" {', '.join(supported)}",
                )
            ]
        return [
            Finding(
                "python-version",
                "error",
                f"Python {minor} is not supported by TensorFlow {line.tf} (the"
                " ResolvePackageNotFound: tensorflow-deps failure)",
                f"Python {p.python_version}; TensorFlow {line.tf} supports"
                f" {', '.join(supported)}{unpinned_create(p)}",
                "recreate the environment with a pinned Python: conda create -n NAME"
                f" -c conda-forge python={default} (envgen.toml: environment.python ="
                f' "{default}")',
            )
        ]
    if not c.line_known:
        return []
    lines = [line.tf for line in c.catalog.lines if minor in line.pythons]
    if lines:
        return [
            Finding(
                "python-version",
                "ok",
                "Python supported by some TensorFlow lines",
                f"Python {p.python_version}: TensorFlow {', '.join(lines)}",
            )
        ]
    every = sorted({py for line in c.catalog.lines for py in line.pythons}, key=Version)
    return [
        Finding(
            "python-version",
            "error",
            f"Python {minor} is supported by no TensorFlow line envgen knows (an"
            " unpinned Python: ResolvePackageNotFound)",
            f"Python {p.python_version}; catalog Pythons:"
            f" {', '.join(every)}{unpinned_create(p)}",
            "create the environment with a pinned Python, e.g. conda create -n NAME -c"
            f" conda-forge python={every[-1] if every else '3.9'}",
        )
    ]
