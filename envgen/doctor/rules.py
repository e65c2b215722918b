"""``envgen doctor``'s rules: pure functions from a probe result to findings.

The probe (``envgen/doctor/probe.py``) runs inside the target interpreter and answers with JSON;
``envgen/doctor/target.py`` finds that interpreter and runs it. Here, each rule reads the probe's
answer (and, inside an envgen project, the spec and the lock) and says what it saw, how bad it is
and the command that fixes it. One rule per row of the failure table in field-notes §1, plus a few
the table implies (Intel conda on Apple Silicon, tensorflow-metal missing, not a Mac at all).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envgen.catalog import pairs
from envgen.catalog.lines import Catalog, Line
from envgen.errors import CatalogError, SpecError

# "fact": true of this machine and fixable by nobody here (not a Mac, no Apple GPU); never an error.
SEVERITIES = ("error", "warning", "fact", "ok")
# Distributions that each provide the `tensorflow` module: two of them in one env overwrite each other.
TF_DISTRIBUTIONS = (
    "tensorflow-macos",
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tf-nightly",
    "tf-nightly-macos",
    "tensorflow-intel",
)
DEFAULTS_CHANNELS = frozenset(
    {"defaults", "pkgs/main", "pkgs/r", "pkgs/free", "pkgs/msys2", "anaconda"}
)
FORGE = "conda-forge"
FIX_BOOTSTRAP = "./bootstrap.sh (recreates the environment from conda-lock.yml)"
FIX_MINIFORGE = (
    "install an arm64 conda (Miniforge3-MacOSX-arm64.sh from github.com/conda-forge/miniforge) and recreate the "
    "environment with it; `python -c 'import platform; print(platform.machine())'` must print arm64"
)


@dataclass(frozen=True)
class Finding:
    """One thing the doctor checked: how bad, what it saw, and what to do."""

    check: str
    severity: str
    title: str
    evidence: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "severity": self.severity,
            "title": self.title,
            "evidence": self.evidence,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class LockedPackage:
    """One ``package:`` entry of conda-lock.yml."""

    name: str
    version: str
    manager: str
    platform: str


@dataclass(frozen=True)
class ProjectFacts:
    """What an envgen project says the environment should be (None fields: not known)."""

    directory: Path
    line: Line | None = None
    python: str | None = None
    metal: bool = True
    env_location: str | None = None  # where the project's environment was looked for
    env_found: bool = False
    lock: tuple[LockedPackage, ...] | None = (
        None  # None: the project has no conda-lock.yml
    )


@dataclass(frozen=True)
class Report:
    """Findings sorted errors first; ``target`` names the interpreter probed."""

    target: str
    target_reason: str
    findings: tuple[Finding, ...]
    probe: Mapping = field(default_factory=dict, compare=False)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def machine_facts(self) -> tuple[Finding, ...]:
        """What is true of this machine and cannot be fixed here (not a Mac, no Apple GPU)."""
        return tuple(f for f in self.findings if f.severity == "fact")

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def facts(self) -> dict[str, str | None]:
        """The few probe facts a reader wants first: machine, Python, environment kind, TensorFlow."""
        p = Probe(self.probe)
        tf = p.tf.get("version") if p.tf.get("import_ok") else None
        installed = [
            f"{d['name']} {_version_of(d)}"
            for name in (*TF_DISTRIBUTIONS, "tensorflow-metal")
            for d in p.installed(name)
        ]
        return {
            "os": (f"macOS {p.mac_ver}".strip() if p.is_mac else p.system) or None,
            "machine": p.machine or None,
            "python": p.python_version or None,
            "environment": (f"conda ({p.platform})" if p.is_conda_env else "not conda")
            if p.raw.get("conda")
            else None,
            "tensorflow_imported": tf,
            "tensorflow_distributions": ", ".join(installed) or None,
        }

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "target_reason": self.target_reason,
            "facts": self.facts(),
            "summary": {
                s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES
            },
            "exit_code": self.exit_code,
            "findings": [f.as_dict() for f in self.findings],
        }


# ---------------------------------------------------------------- reading a probe result


@dataclass(frozen=True)
class Probe:
    """Typed, defensive access to the probe's JSON (missing keys read as 'unknown', never crash)."""

    raw: Mapping

    def value(self, *path: str, default=None):
        value = self.raw
        for key in path:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
        return value

    @property
    def system(self) -> str:
        return self.value("machine", "system", default="") or ""

    @property
    def machine(self) -> str:
        return self.value("machine", "machine", default="") or ""

    @property
    def mac_ver(self) -> str:
        """The macOS version, from the kernel when the probe could ask (mac_ver() may say 10.16 on macOS 11+)."""
        return (
            self.value("machine", "os_product_version", default="")
            or self.value("machine", "mac_ver", default="")
            or ""
        )

    @property
    def is_mac(self) -> bool:
        return self.system == "Darwin"

    @property
    def translated(self) -> bool:
        return str(self.value("machine", "proc_translated", default="")).strip() == "1"

    @property
    def apple_silicon(self) -> bool:
        """Apple Silicon hardware, also when this Python is an x86_64 binary under Rosetta."""
        return self.is_mac and (
            str(self.value("machine", "hw_arm64", default="")).strip() == "1"
            or self.machine == "arm64"
            or self.translated
        )

    @property
    def python_version(self) -> str:
        return self.value("python", "version", default="") or ""

    @property
    def python_minor(self) -> str:
        return ".".join(self.python_version.split(".")[:2])

    @property
    def prefix(self) -> str:
        return self.value("python", "prefix", default="") or ""

    @property
    def is_conda_env(self) -> bool:
        return bool(self.value("conda", "is_conda_env", default=False))

    @property
    def conda_records(self) -> tuple[Mapping, ...]:
        return tuple(
            r
            for r in self.value("conda", "records", default=[]) or []
            if isinstance(r, Mapping)
        )

    def conda_record(self, name: str) -> Mapping | None:
        for record in self.conda_records:
            if record.get("name") == name:
                return record
        return None

    @property
    def distributions(self) -> tuple[Mapping, ...]:
        return tuple(
            d
            for d in self.value("distributions", default=[]) or []
            if isinstance(d, Mapping) and d.get("name")
        )

    def distribution(self, name: str) -> Mapping | None:
        wanted = canonicalize_name(name)
        for dist in self.distributions:
            if canonicalize_name(dist["name"]) == wanted:
                return dist
        return None

    def installed(self, name: str) -> list[Mapping]:
        wanted = canonicalize_name(name)
        return [d for d in self.distributions if canonicalize_name(d["name"]) == wanted]

    @property
    def tf_stage(self) -> Mapping:
        return self.value("tensorflow", default={}) or {}

    @property
    def tf(self) -> Mapping:
        """The TensorFlow stage's own answer (empty when it crashed, hung or never ran)."""
        return self.tf_stage.get("result") or {}

    @property
    def platform(self) -> str:
        """The conda platform of this environment (its python's subdir if conda says, else from the machine)."""
        subdir = self.value("conda", "python_subdir")
        if subdir:
            return subdir
        arm = self.machine in ("arm64", "aarch64")
        if self.is_mac:
            return "osx-arm64" if arm else "osx-64"
        if self.system == "Linux":
            return "linux-aarch64" if arm else "linux-64"
        return self.system.lower() or "unknown"


def channel_name(record: Mapping) -> str:
    """'conda-forge', 'pkgs/main', ... from a conda-meta record's channel or url."""
    raw = (record.get("channel") or record.get("url") or "").strip()
    if not raw:
        return "unknown"
    raw = raw.split("::")[0] if "::" in raw and "://" not in raw else raw
    match = re.search(r"repo\.anaconda\.com/(pkgs/[^/]+)", raw)
    if match:
        return match.group(1)
    match = re.search(r"conda\.anaconda\.org/([^/]+)", raw) or re.search(
        r"anaconda\.org/([^/]+)", raw
    )
    if match:
        return match.group(1)
    if "://" in raw:
        return re.sub(
            r"/(noarch|osx-arm64|osx-64|linux-64|linux-aarch64|win-64)(/[^/]*)?$",
            "",
            raw,
        )
    return raw


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version_of(dist: Mapping | None) -> str:
    return str(dist.get("version") or "?") if dist else "?"


def _installed_by(dist: Mapping) -> str:
    if dist.get("conda_package"):
        return "conda"
    return (dist.get("installer") or "unknown installer").strip()


# ---------------------------------------------------------------- context shared by the rules


@dataclass(frozen=True)
class _Context:
    probe: Probe
    catalog: Catalog
    project: ProjectFacts | None
    tf_dists: tuple[Mapping, ...]
    tf_version: (
        str | None
    )  # what `import tensorflow` reports, else the installed distribution's version
    line: (
        Line | None
    )  # the catalog line of the installed TensorFlow, else the project's line
    line_known: (
        bool  # False when TensorFlow is installed but the catalog has no line for it
    )

    @property
    def metal_wanted(self) -> bool:
        return self.project.metal if self.project else True

    def install_tf_command(self) -> str:
        line = self.line
        if line is None:
            return "pick a TensorFlow line with `envgen matrix` and install its pair (envgen new NAME --tf X sets it all up)"
        metal = (
            f" tensorflow-metal=={line.metal}"
            if line.metal and self.metal_wanted
            else ""
        )
        return (
            f"pip install {pairs.tf_package(line, line.version)}=={line.version}{metal}"
        )


def _tf_line(catalog: Catalog, version: str | None) -> Line | None:
    if not version:
        return None
    try:
        parsed = Version(version)
    except InvalidVersion:
        return None
    minor = f"{parsed.major}.{parsed.minor}"
    for candidate in (parsed.base_version, minor):
        try:
            return catalog.line(candidate)
        except CatalogError:
            continue
    return None


def _context(probe: Probe, catalog: Catalog, project: ProjectFacts | None) -> _Context:
    tf_dists = tuple(d for name in TF_DISTRIBUTIONS for d in probe.installed(name))
    version = probe.tf.get("version") if probe.tf.get("import_ok") else None
    if not version and tf_dists:
        version = _version_of(tf_dists[0])
    line = _tf_line(catalog, version)
    line_known = line is not None or not version
    if line is None and version is None and project is not None:
        line = project.line
    return _Context(probe, catalog, project, tf_dists, version, line, line_known)


# ---------------------------------------------------------------- the rules


def check_os(c: _Context) -> list[Finding]:
    p = c.probe
    if not p.is_mac:
        return [
            Finding(
                "macos",
                "fact",
                "not macOS: TensorFlow's Metal GPU support exists only on macOS",
                f"OS: {p.system or 'unknown'} {c.probe.value('machine', 'release', default='')} ({p.machine or '?'})".strip(),
                "run the environment on an Apple Silicon Mac; on this machine use CPU TensorFlow (`envgen new NAME --tf X --no-metal --platform linux-64`)",
            )
        ]
    line = c.line
    if (
        line and p.mac_ver and p.mac_ver != "10.16"
    ):  # 10.16: an old-SDK Python's view of macOS 11 or later
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
                    f"upgrade macOS to {line.min_macos} or later, or choose an older TensorFlow line (`envgen matrix`)",
                )
            ]
    return [
        Finding("macos", "ok", "macOS", f"macOS {p.mac_ver or '(version unknown)'}")
    ]


def check_hardware(c: _Context) -> list[Finding]:
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
                "tensorflow-metal needs a Mac with an M-series chip; here TensorFlow can only use the CPU (or CUDA)",
            )
        ]
    return [
        Finding(
            "apple-silicon",
            "fact",
            "Intel Mac: envgen's environments target Apple Silicon",
            f"platform.machine() = {p.machine}, hw.optional.arm64 = {p.value('machine', 'hw_arm64', default='?')}",
            "tensorflow-metal shipped x86_64 wheels (AMD GPUs) only up to 1.0.0; expect CPU-only TensorFlow here",
        )
    ]


def check_rosetta(c: _Context) -> list[Finding]:
    p = c.probe
    if not p.is_mac or not p.apple_silicon:
        return []
    if p.machine == "arm64" and not p.translated:
        return [
            Finding(
                "python-arch",
                "ok",
                "native arm64 Python",
                f"platform.machine() = arm64, sysctl.proc_translated = {p.value('machine', 'proc_translated', default='?')}",
            )
        ]
    return [
        Finding(
            "python-arch",
            "error",
            "Python is an x86_64 binary running under Rosetta: slow, and no Metal GPU",
            f"platform.machine() = {p.machine}, sysctl.proc_translated = {p.value('machine', 'proc_translated', default='?')}",
            FIX_MINIFORGE,
        )
    ]


def check_conda_platform(c: _Context) -> list[Finding]:
    p = c.probe
    if not p.is_conda_env:
        return [
            Finding(
                "conda-env",
                "warning",
                "not a conda environment: numpy, h5py and grpcio come from pip wheels, not conda-forge",
                f"no conda-meta/ in {p.prefix or '?'} (a venv or a system Python)",
                "create the environment with conda from conda-forge: `envgen new NAME --tf X`, then ./bootstrap.sh",
            )
        ]
    subdir = p.value("conda", "python_subdir") or "unknown"
    base_subdir = p.value("conda", "base_python_subdir")
    base = p.value("conda", "base")
    if p.apple_silicon and "osx-64" in (subdir, base_subdir):
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


def check_channels(c: _Context) -> list[Finding]:
    p = c.probe
    if not p.is_conda_env or not p.conda_records:
        return []
    by_channel: dict[str, list[str]] = {}
    for record in p.conda_records:
        by_channel.setdefault(channel_name(record), []).append(str(record.get("name")))
    others = {
        ch: names for ch, names in by_channel.items() if ch != FORGE and ch != "pypi"
    }
    if not others:
        return [
            Finding(
                "channels",
                "ok",
                "conda packages all from conda-forge",
                f"{len(by_channel.get(FORGE, []))} packages from conda-forge",
            )
        ]
    evidence = "; ".join(
        f"{ch}: {len(names)} ({', '.join(sorted(names)[:4])}{'…' if len(names) > 4 else ''})"
        for ch, names in sorted(by_channel.items())
    )
    fix = (
        "recreate the environment from conda-forge only (channels: [conda-forge, nodefaults], as envgen's environment.yml; "
        "./bootstrap.sh), and `conda config --remove channels defaults`"
    )
    mixed = FORGE in by_channel and any(ch in DEFAULTS_CHANNELS for ch in others)
    if mixed:
        return [
            Finding(
                "channels",
                "error",
                "defaults and conda-forge packages mixed in one environment",
                evidence,
                fix,
            )
        ]
    return [
        Finding(
            "channels",
            "warning",
            "conda packages from channels other than conda-forge",
            evidence,
            fix,
        )
    ]


def _conda_pin(c: _Context, name: str) -> str:
    pins = dict(c.line.conda) if c.line else {}
    return f"'{name} {pins[name]}'" if name in pins else name


def check_compiled_deps(c: _Context) -> list[Finding]:
    """numpy (error: the C-extension failures), h5py and grpcio (warnings) must be conda-forge's builds."""
    p = c.probe
    if not p.is_conda_env:
        return []
    findings = []
    for name in ("numpy", "h5py", "grpcio"):
        dist = p.distribution(name)
        record = p.conda_record(name)
        severity = "error" if name == "numpy" else "warning"
        install = (
            f"conda install --override-channels -c conda-forge {_conda_pin(c, name)}"
        )
        if dist is not None and not dist.get("conda_package"):
            shadow = (
                f"; conda's {record.get('version')} from {channel_name(record)} is shadowed"
                if record
                else ""
            )
            findings.append(
                Finding(
                    f"{name}-source",
                    severity,
                    f"{name} installed by pip into a conda environment",
                    f"{name} {_version_of(dist)} (INSTALLER: {_installed_by(dist)}){shadow}",
                    f"pip uninstall -y {name} && {install}"
                    + (
                        " (TensorFlow's pip dependencies then install with --no-dependencies)"
                        if name == "grpcio"
                        else ""
                    ),
                )
            )
        elif record is not None and channel_name(record) != FORGE:
            findings.append(
                Finding(
                    f"{name}-source",
                    severity,
                    f"{name} comes from {channel_name(record)}, not conda-forge",
                    f"{name} {record.get('version')} from {channel_name(record)}",
                    install,
                )
            )
        elif record is not None:
            findings.append(
                Finding(
                    f"{name}-source",
                    "ok",
                    f"{name} from conda-forge",
                    f"{name} {record.get('version')} from conda-forge",
                )
            )
    return findings


def check_tf_installed(c: _Context) -> list[Finding]:
    p = c.probe
    if c.tf_dists:
        names = ", ".join(f"{d['name']} {_version_of(d)}" for d in c.tf_dists)
        return [Finding("tensorflow", "ok", "TensorFlow installed", names)]
    if p.tf.get(
        "import_ok"
    ):  # importable without a distribution record (a source build, PYTHONPATH)
        return [
            Finding(
                "tensorflow",
                "warning",
                "TensorFlow imports but no installed distribution provides it",
                f"tensorflow {p.tf.get('version')} from {p.tf.get('file')}",
                f"install it with pip or conda so it can be checked and locked: {c.install_tf_command()}",
            )
        ]
    grpcio = p.distribution("grpcio")
    record = p.conda_record("grpcio")
    python_ok = bool(p.python_minor) and any(
        p.python_minor in line.pythons
        for line in ([c.line] if c.line else c.catalog.lines)
    )
    if not python_ok:
        return [
            Finding(
                "tensorflow",
                "error",
                "TensorFlow is not installed (no TensorFlow line supports this Python: see python-version)",
                f"Python {p.python_version or '?'}; no tensorflow distribution",
                "recreate the environment with a supported Python first, then install TensorFlow",
            )
        ]
    if p.is_conda_env and (record is None or channel_name(record) != FORGE):
        line = c.line
        package = (
            f"{pairs.tf_package(line, line.version)}=={line.version}"
            if line
            else "tensorflow-macos"
        )
        seen = (
            "grpcio not installed"
            if grpcio is None
            else f"grpcio {_version_of(grpcio)} ({_installed_by(grpcio)}, not conda-forge)"
        )
        return [
            Finding(
                "grpcio",
                "error",
                "TensorFlow is not installed, and grpcio is not from conda-forge: `pip install tensorflow-macos` builds grpcio from source (and fails)",
                f"no tensorflow distribution; {seen}",
                f"conda install -c conda-forge {_conda_pin(c, 'grpcio')} {_conda_pin(c, 'h5py')} {_conda_pin(c, 'numpy')}, then pip install {package} --no-dependencies (or {FIX_BOOTSTRAP})",
            )
        ]
    return [
        Finding(
            "tensorflow",
            "error",
            "TensorFlow is not installed",
            f"none of {', '.join(TF_DISTRIBUTIONS[:3])} in {p.prefix or 'this environment'}",
            c.install_tf_command(),
        )
    ]


def check_tf_conflict(c: _Context) -> list[Finding]:
    dists = c.tf_dists
    if len(dists) < 2:
        return []
    evidence = ", ".join(
        f"{d['name']} {_version_of(d)} ({d.get('location', '?')})" for d in dists
    )
    names = {canonicalize_name(d["name"]) for d in dists}
    if names == {"tensorflow", "tensorflow-macos"} and len(dists) == 2:
        macos, plain = (
            _version_of(c.probe.distribution("tensorflow-macos")),
            _version_of(c.probe.distribution("tensorflow")),
        )
        try:
            alias = Version(macos) >= pairs.FIRST_PLAIN_ARM64 and _same_version(
                macos, plain
            )
        except InvalidVersion:
            alias = False
        if alias:  # from 2.13 tensorflow-macos is an empty package that depends on the same tensorflow
            return [
                Finding(
                    "tf-conflict",
                    "ok",
                    "tensorflow-macos is the thin alias of the same tensorflow (2.13+)",
                    evidence,
                )
            ]
    package = pairs.tf_package(c.line, c.line.version) if c.line else "tensorflow-macos"
    version = f"=={c.line.version}" if c.line else ""
    uninstall = " ".join(sorted({canonicalize_name(d["name"]) for d in dists}))
    return [
        Finding(
            "tf-conflict",
            "error",
            "more than one TensorFlow distribution installed: they overwrite each other's files",
            evidence,
            f"pip uninstall -y {uninstall} && pip install {package}{version}",
        )
    ]


_NUMPY_ABI = (
    "numpy c-extensions",
    "multiarray failed to import",
    "compiled using numpy 1.x",
    "numpy.core._multiarray_umath",
    "module compiled against api version",
    "numpy.dtype size changed",
)
_METAL_CRASH = (
    "NSInvalidArgumentException",
    "libmetal_plugin",
    "metal_plugin",
    "MPSGraph",
    "MTLCompiler",
)
_PLUGIN = ("symbol not found", "libmetal_plugin", "tensorflow-plugins", "pluggable")


def check_tf_runs(c: _Context) -> list[Finding]:
    """import tensorflow (with the Metal plugin TensorFlow ≥ 2.5 loads on import) in the probe's child process."""
    stage, tf = c.probe.tf_stage, c.probe.tf
    if not c.tf_dists and not tf.get("import_ok"):
        return []  # check_tf_installed already says so
    tail = _short(
        (stage.get("stderr_tail") or "").strip().splitlines()[-1]
        if (stage.get("stderr_tail") or "").strip()
        else "",
        240,
    )
    if stage.get("timed_out"):
        return [
            Finding(
                "tf-import",
                "error",
                "TensorFlow hung: import or a first op did not finish",
                f"no answer after {stage.get('timeout_seconds', '?')} s; last stderr: {tail or '(none)'}",
                f"rerun with a longer --timeout; if it still hangs, reinstall the catalog pair ({c.install_tf_command()})",
            )
        ]
    if stage.get("signal") or (stage.get("ran") and not tf):
        whole = stage.get("stderr_tail") or ""
        evidence = f"the interpreter died ({stage.get('signal') or 'exit ' + str(stage.get('returncode'))}); last stderr: {tail or '(none)'}"
        if any(marker in whole for marker in _METAL_CRASH):
            return [
                Finding(
                    "metal-crash",
                    "error",
                    "TensorFlow crashed in the Metal plugin (the kernel-dies-during-fit failure)",
                    evidence,
                    f"install the pair the catalog lists together: {c.install_tf_command()}",
                )
            ]
        if stage.get("signal") == "SIGILL" and c.probe.machine == "x86_64":
            return [
                Finding(
                    "tf-import",
                    "error",
                    "TensorFlow crashed with an illegal instruction (x86_64 build needs AVX)",
                    evidence,
                    FIX_MINIFORGE,
                )
            ]
        fix = f"reinstall from the lock: {FIX_BOOTSTRAP}"
        if c.probe.distribution("tensorflow-metal") is not None:
            fix += f"; a crash on import is often the Metal plugin: {c.install_tf_command()}"
        return [
            Finding(
                "tf-import",
                "error",
                "TensorFlow crashed the interpreter",
                evidence,
                fix,
            )
        ]
    if stage.get("error"):
        return [
            Finding(
                "tf-import",
                "error",
                "could not run the TensorFlow check",
                _short(stage["error"]),
                "check that the interpreter can start itself (sys.executable)",
            )
        ]
    if tf.get("import_ok"):
        return [
            Finding(
                "tf-import",
                "ok",
                "TensorFlow imports",
                f"tensorflow {tf.get('version')} in {tf.get('import_seconds', '?')} s",
            )
        ]
    error = tf.get("import_error") or "unknown error"
    lowered = error.lower()
    if any(marker in lowered for marker in _PLUGIN):
        symbol = re.search(r"Symbol not found: \(?([^\s)]+)", error)
        library = re.search(r"dlopen\(([^,)]+)", error)
        evidence = (
            f"{library.group(1).rsplit('/', 1)[-1] if library else 'plugin'}: Symbol not found: {symbol.group(1)}"
            if symbol
            else _short(error, 200)
        )
        return [
            Finding(
                "metal-plugin",
                "error",
                "the Metal plugin failed to load: tensorflow-metal was built against another TensorFlow",
                evidence,
                f"install the pair the catalog lists together: {c.install_tf_command()}",
            )
        ]
    if any(marker in lowered for marker in _NUMPY_ABI):
        return [
            Finding(
                "numpy-abi",
                "error",
                "numpy does not match TensorFlow's build (a non-conda-forge or too-new numpy)",
                _short(error),
                f"pip uninstall -y numpy; conda install --override-channels -c conda-forge {_conda_pin(c, 'numpy')}",
            )
        ]
    if "descriptors cannot be created directly" in lowered:
        cap = dict(c.line.pip_caps).get("protobuf", "<3.20") if c.line else "<3.20"
        return [
            Finding(
                "tf-import",
                "error",
                "protobuf too new for this TensorFlow",
                _short(error),
                f"pip install 'protobuf{cap}'",
            )
        ]
    return [
        Finding(
            "tf-import",
            "error",
            "import tensorflow fails",
            _short(error),
            f"reinstall the environment: {FIX_BOOTSTRAP}, or {c.install_tf_command()} --force-reinstall",
        )
    ]


def check_tf_line(c: _Context) -> list[Finding]:
    if c.line_known:
        return []
    known = ", ".join(line.tf for line in c.catalog.lines)
    return [
        Finding(
            "tf-line",
            "warning",
            f"TensorFlow {c.tf_version} is not a line envgen's catalog knows: its pairs cannot be checked",
            f"tensorflow {c.tf_version}; catalog lines: {known}",
            "use a catalog line (`envgen matrix`, `envgen new NAME --tf X`)",
        )
    ]


def _unpinned_create(p: Probe) -> str:
    """'; created by: conda create -n tf python' when conda's history shows Python asked for without a version."""
    for command in p.value("conda", "history_cmds", default=[]) or []:
        words = str(command).split()
        if "create" in words and any(w == "python" for w in words):
            return f"; created by: {_short(command, 120)}"
    return ""


def check_python(c: _Context) -> list[Finding]:
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
                    f"Python {p.python_version}; TensorFlow {line.tf} supports {', '.join(supported)}",
                )
            ]
        return [
            Finding(
                "python-version",
                "error",
                f"Python {minor} is not supported by TensorFlow {line.tf} (the ResolvePackageNotFound: tensorflow-deps failure)",
                f"Python {p.python_version}; TensorFlow {line.tf} supports {', '.join(supported)}{_unpinned_create(p)}",
                f'recreate the environment with a pinned Python: conda create -n NAME -c conda-forge python={default} (envgen.toml: environment.python = "{default}")',
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
            f"Python {minor} is supported by no TensorFlow line envgen knows (an unpinned Python: ResolvePackageNotFound)",
            f"Python {p.python_version}; catalog Pythons: {', '.join(every)}{_unpinned_create(p)}",
            f"create the environment with a pinned Python, e.g. conda create -n NAME -c conda-forge python={every[-1] if every else '3.9'}",
        )
    ]


def check_metal(c: _Context) -> list[Finding]:
    p = c.probe
    metal = p.distribution("tensorflow-metal")
    line = c.line
    if metal is None:
        if not c.tf_dists:
            return []  # check_tf_installed already reports the missing TensorFlow; its fix installs the pair
        if not c.metal_wanted:
            return [
                Finding(
                    "tensorflow-metal",
                    "ok",
                    "tensorflow-metal not installed (the project is CPU-only: metal = false)",
                    "tensorflow-metal: absent",
                )
            ]
        wanted = (
            f"pip install tensorflow-metal=={line.metal}"
            if line and line.metal
            else "pip install the tensorflow-metal release paired with your TensorFlow (`envgen matrix`)"
        )
        if p.apple_silicon:
            return [
                Finding(
                    "tensorflow-metal",
                    "error",
                    "tensorflow-metal is not installed: TensorFlow runs on the CPU only",
                    "tensorflow-metal: absent",
                    wanted,
                )
            ]
        return [
            Finding(
                "tensorflow-metal",
                "fact",
                "tensorflow-metal is not installed (it exists only for Apple Silicon Macs)",
                "tensorflow-metal: absent",
                f"nothing to do on this machine; on an Apple Silicon Mac: {wanted}",
            )
        ]
    version = _version_of(metal)
    if not c.tf_dists:
        return [
            Finding(
                "tensorflow-metal",
                "warning",
                "tensorflow-metal without TensorFlow",
                f"tensorflow-metal {version}",
                c.install_tf_command(),
            )
        ]
    if line is None or not c.line_known:
        return [
            Finding(
                "metal-pair",
                "warning",
                "cannot check the tensorflow-metal pair: TensorFlow line unknown to the catalog",
                f"tensorflow-metal {version}, tensorflow {c.tf_version}",
                "use a catalog line (`envgen matrix`)",
            )
        ]
    try:
        status = pairs.metal_status(line, version, p.python_minor or "")
        if not status and not p.python_minor:
            status = "catalog" if line.metal_accepts(version) else ""
        accepted = bool(line.metal_range) and bool(status)
    except InvalidVersion:
        accepted = False
    if accepted:
        return [
            Finding(
                "metal-pair",
                "ok",
                "tensorflow-metal pairs with TensorFlow",
                f"tensorflow-metal {version} with TensorFlow {c.tf_version} (catalog: {line.metal_range})"
                if status != "inferred"
                else f"tensorflow-metal {version} with TensorFlow {c.tf_version} on Python {p.python_minor}: "
                "an inferred alternative (ABI-checked, beyond Apple's table)",
            )
        ]
    option = pairs.metal_for_python(line, p.python_minor or "")
    wanted_metal = option.metal if option is not None else line.metal
    fix = (
        f"pip install tensorflow-metal=={wanted_metal}"
        if line.metal
        else f"pip uninstall -y tensorflow-metal (TensorFlow {line.tf} has no known Metal pair)"
    )
    other = c.catalog.pair_of_metal(version)
    if other is not None and other.tf != line.tf:
        fix += f"; or keep it and move TensorFlow to its pair: pip install {other.package}=={other.version}"
    expected = line.metal_range or "no release"
    return [
        Finding(
            "metal-pair",
            "error",
            "tensorflow-metal does not pair with the installed TensorFlow (plugin crashes, kernel dies during fit)",
            f"tensorflow-metal {version} with TensorFlow {c.tf_version}; catalog: {expected}",
            fix,
        )
    ]


def check_gpu(c: _Context) -> list[Finding]:
    tf = c.probe.tf
    if not tf.get("import_ok"):
        return []
    gpus = tf.get("gpus") or []
    if not gpus:
        if c.probe.apple_silicon and c.metal_wanted:
            fix = (
                "install tensorflow-metal (see above)"
                if c.probe.distribution("tensorflow-metal") is None
                else f"the plugin loaded no device: reinstall the catalog pair ({c.install_tf_command()})"
            )
            return [
                Finding(
                    "gpu",
                    "error",
                    "no GPU listed by TensorFlow",
                    f"devices: {', '.join(d.get('name', '?') for d in tf.get('devices') or []) or tf.get('devices_error', 'none')}",
                    fix,
                )
            ]
        return [
            Finding(
                "gpu",
                "warning" if c.probe.apple_silicon else "fact",
                "no GPU listed by TensorFlow: it will train on the CPU",
                f"devices: {', '.join(d.get('name', '?') for d in tf.get('devices') or []) or 'none'}",
                "expected without Metal; for GPU training use an Apple Silicon Mac with tensorflow-metal",
            )
        ]
    findings = [Finding("gpu", "ok", "GPU listed by TensorFlow", ", ".join(gpus))]
    placed = [tf.get("matmul_device"), tf.get("conv_grad_device")]
    if tf.get("op_error"):
        findings.append(
            Finding(
                "gpu-ops",
                "error",
                "a small op failed",
                _short(tf["op_error"]),
                f"install the pair the catalog lists together: {c.install_tf_command()}",
            )
        )
    elif all(d and "GPU" in d for d in placed):
        findings.append(
            Finding(
                "gpu-ops",
                "ok",
                "ops run on the GPU",
                f"matmul on {placed[0]}, conv gradient on {placed[1]}",
            )
        )
    else:
        findings.append(
            Finding(
                "gpu-ops",
                "error",
                "GPU listed, but ops ran on the CPU: listing a device is not acceleration",
                f"matmul on {placed[0] or '?'}, conv gradient on {placed[1] or '?'}",
                f"see where ops run with tf.debugging.set_log_device_placement(True); reinstall the catalog pair ({c.install_tf_command()})",
            )
        )
    growth = tf.get("memory_growth") or []
    forced = str(tf.get("env_TF_FORCE_GPU_ALLOW_GROWTH") or "").lower() == "true"
    if forced or (growth and all(g is True for g in growth)):
        findings.append(
            Finding(
                "memory-growth",
                "ok",
                "GPU memory growth on",
                "TF_FORCE_GPU_ALLOW_GROWTH=true"
                if forced
                else f"memory growth: {growth}",
            )
        )
    else:
        # Advice, not a fault: the probe cannot see what a training script does.
        findings.append(
            Finding(
                "memory-growth",
                "ok",
                "GPU memory growth is off by default: TensorFlow may take memory up front and stall other apps",
                f"memory growth: {growth or 'unknown'}",
                "in training scripts: for gpu in tf.config.list_physical_devices('GPU'): tf.config.experimental.set_memory_growth(gpu, True) (or export TF_FORCE_GPU_ALLOW_GROWTH=true)",
            )
        )
    return findings


def _same_version(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return False


def _list(items: Sequence[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (
        f" and {len(items) - limit} more" if len(items) > limit else ""
    )


def check_project(c: _Context) -> list[Finding]:
    """Inside an envgen project: is this the project's environment, and does it match conda-lock.yml?"""
    project, p = c.project, c.probe
    if project is None:
        return []
    findings = []
    if not project.env_found:
        findings.append(
            Finding(
                "project-env",
                "warning",
                "the project's environment does not exist yet",
                f"looked for {project.env_location or '?'}",
                FIX_BOOTSTRAP,
            )
        )
    if project.python and p.python_minor and project.python != p.python_minor:
        findings.append(
            Finding(
                "project-python",
                "error",
                "the environment's Python differs from envgen.toml",
                f"Python {p.python_version}; envgen.toml: {project.python}",
                FIX_BOOTSTRAP,
            )
        )
    if project.lock is None:
        findings.append(
            Finding(
                "lock",
                "warning",
                "the project has no conda-lock.yml to compare with",
                f"{project.directory}/conda-lock.yml missing",
                "lock the project (`envgen lock`), then ./bootstrap.sh",
            )
        )
        return findings
    platform = p.platform
    locked = [pkg for pkg in project.lock if pkg.platform == platform]
    if not locked:
        platforms = sorted({pkg.platform for pkg in project.lock})
        findings.append(
            Finding(
                "lock",
                "warning",
                f"conda-lock.yml has nothing for this environment's platform {platform}",
                f"locked platforms: {', '.join(platforms) or 'none'}",
                "run the environment on a locked platform, or add it to environment.platforms and lock again",
            )
        )
        return findings
    conda_have = {str(r.get("name")): str(r.get("version")) for r in p.conda_records}
    pip_have = {
        canonicalize_name(d["name"]): _version_of(d)
        for d in p.distributions
        if not d.get("conda_package")
    }
    missing, other = [], []
    for pkg in locked:
        have = conda_have if pkg.manager == "conda" else pip_have
        key = pkg.name if pkg.manager == "conda" else canonicalize_name(pkg.name)
        if key not in have:
            missing.append(f"{pkg.name} {pkg.version}")
        elif not _same_version(have[key], pkg.version):
            other.append(f"{pkg.name} {have[key]} (lock {pkg.version})")
    locked_conda = {pkg.name for pkg in locked if pkg.manager == "conda"}
    locked_pip = {
        canonicalize_name(pkg.name) for pkg in locked if pkg.manager != "conda"
    }
    extra = sorted(
        [f"{n} {v}" for n, v in conda_have.items() if n not in locked_conda]
        + [
            f"{n} {v} (pip)"
            for n, v in pip_have.items()
            if n not in locked_pip and n not in conda_have
        ]
    )
    parts = []
    if missing:
        parts.append(f"missing {len(missing)}: {_list(missing)}")
    if other:
        parts.append(f"other version {len(other)}: {_list(other)}")
    if extra:
        parts.append(f"extra {len(extra)}: {_list(extra)}")
    if missing or other:
        findings.append(
            Finding(
                "lock",
                "error",
                f"the environment differs from conda-lock.yml ({platform})",
                "; ".join(parts),
                FIX_BOOTSTRAP,
            )
        )
    elif extra:
        findings.append(
            Finding(
                "lock",
                "warning",
                f"the environment has packages conda-lock.yml does not ({platform})",
                "; ".join(parts),
                f"add them to envgen.toml and lock again, or {FIX_BOOTSTRAP}",
            )
        )
    else:
        findings.append(
            Finding(
                "lock",
                "ok",
                "the environment matches conda-lock.yml",
                f"{len(locked)} locked packages for {platform}",
            )
        )
    return findings


RULES: tuple[Callable[[_Context], list[Finding]], ...] = (
    check_os,
    check_hardware,
    check_rosetta,
    check_conda_platform,
    check_channels,
    check_python,
    check_tf_installed,
    check_tf_conflict,
    check_tf_line,
    check_tf_runs,
    check_compiled_deps,
    check_metal,
    check_gpu,
    check_project,
)


def diagnose(
    probe: Mapping,
    catalog: Catalog,
    project: ProjectFacts | None = None,
    *,
    target: str = "",
    target_reason: str = "",
) -> Report:
    """Every rule over one probe result; findings sorted errors, warnings, ok (rule order within)."""
    context = _context(Probe(probe), catalog, project)
    findings = [finding for rule in RULES for finding in rule(context)]
    ordered = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    return Report(
        target=target or str(Probe(probe).prefix),
        target_reason=target_reason,
        findings=tuple(ordered),
        probe=probe,
    )


def parse_lock(text: str, where: str = "conda-lock.yml") -> tuple[LockedPackage, ...]:
    """The ``package:`` entries of a conda-lock.yml (name, version, manager, platform)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SpecError(
            f"{where} is not valid YAML: {_short(error, 160)}",
            "regenerate it with `envgen lock`",
        ) from None
    entries = raw.get("package") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise SpecError(
            f"{where} has no package: list", "regenerate it with `envgen lock`"
        )
    packages = []
    for entry in entries:
        if isinstance(entry, dict) and all(
            k in entry for k in ("name", "version", "platform")
        ):
            packages.append(
                LockedPackage(
                    str(entry["name"]),
                    str(entry["version"]),
                    str(entry.get("manager", "conda")),
                    str(entry["platform"]),
                )
            )
    return tuple(packages)
