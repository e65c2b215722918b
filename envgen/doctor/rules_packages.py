"""Doctor rules about what is installed: channels, compiled dependencies, TensorFlow
packages."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envgen.catalog import pairs
from envgen.doctor.context import (
    DEFAULTS_CHANNELS,
    FIX_BOOTSTRAP,
    FORGE,
    TF_DISTRIBUTIONS,
    RuleContext,
    channel_name,
    installed_by,
    same_version,
    version_of,
)
from envgen.doctor.findings import Finding


def check_channels(c: RuleContext) -> list[Finding]:
    """Are all conda packages from conda-forge, none from defaults? (FAILURES.md F4)"""
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
        f"{ch}: {len(names)}"
        f" ({', '.join(sorted(names)[:4])}{'…' if len(names) > 4 else ''})"
        for ch, names in sorted(by_channel.items())
    )
    fix = (
        "recreate the environment from conda-forge only (channels: [conda-forge,"
        " nodefaults], as envgen's environment.yml; ./bootstrap.sh), and `conda config"
        " --remove channels defaults`"
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


def check_compiled_deps(c: RuleContext) -> list[Finding]:
    """numpy (error: the C-extension failures), h5py and grpcio (warnings) must be
    conda-forge's builds. (FAILURES.md F3)"""
    p = c.probe
    if not p.is_conda_env:
        return []
    findings = []
    for name in ("numpy", "h5py", "grpcio"):
        dist = p.distribution(name)
        record = p.conda_record(name)
        severity = "error" if name == "numpy" else "warning"
        install = (
            f"conda install --override-channels -c conda-forge {c.conda_pin(name)}"
        )
        if dist is not None and not dist.get("conda_package"):
            shadow = (
                f"; conda's {record.get('version')} from {channel_name(record)} is"
                " shadowed"
                if record
                else ""
            )
            findings.append(
                Finding(
                    f"{name}-source",
                    severity,
                    f"{name} installed by pip into a conda environment",
                    f"{name} {version_of(dist)} (INSTALLER:"
                    f" {installed_by(dist)}){shadow}",
                    f"pip uninstall -y {name} && {install}"
                    + (
                        " (TensorFlow's pip dependencies then install with"
                        " --no-dependencies)"
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


def check_tf_installed(c: RuleContext) -> list[Finding]:
    """Is TensorFlow installed, and would pip build grpcio to install it? (FAILURES.md
    F6)"""
    p = c.probe
    if c.tf_dists:
        names = ", ".join(f"{d['name']} {version_of(d)}" for d in c.tf_dists)
        return [Finding("tensorflow", "ok", "TensorFlow installed", names)]
    if p.tf.get("import_ok"):
        # importable without a distribution record (a source build, PYTHONPATH)
        return [
            Finding(
                "tensorflow",
                "warning",
                "TensorFlow imports but no installed distribution provides it",
                f"tensorflow {p.tf.get('version')} from {p.tf.get('file')}",
                "install it with pip or conda so it can be checked and locked:"
                f" {c.install_tf_command()}",
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
                "TensorFlow is not installed (no TensorFlow line supports this Python:"
                " see python-version)",
                f"Python {p.python_version or '?'}; no tensorflow distribution",
                "recreate the environment with a supported Python first, then install"
                " TensorFlow",
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
            else (
                f"grpcio {version_of(grpcio)} ({installed_by(grpcio)}, not conda-forge)"
            )
        )
        return [
            Finding(
                "grpcio",
                "error",
                "TensorFlow is not installed, and grpcio is not from conda-forge: `pip"
                " install tensorflow-macos` builds grpcio from source (and fails)",
                f"no tensorflow distribution; {seen}",
                f"conda install -c conda-forge {c.conda_pin('grpcio')}"
                f" {c.conda_pin('h5py')} {c.conda_pin('numpy')}, then pip install"
                f" {package} --no-dependencies (or {FIX_BOOTSTRAP})",
            )
        ]
    return [
        Finding(
            "tensorflow",
            "error",
            "TensorFlow is not installed",
            f"none of {', '.join(TF_DISTRIBUTIONS[:3])} in"
            f" {p.prefix or 'this environment'}",
            c.install_tf_command(),
        )
    ]


def check_tf_conflict(c: RuleContext) -> list[Finding]:
    """Is exactly one TensorFlow distribution installed? (FAILURES.md F7)"""
    dists = c.tf_dists
    if len(dists) < 2:
        return []
    evidence = ", ".join(
        f"{d['name']} {version_of(d)} ({d.get('location', '?')})" for d in dists
    )
    names = {canonicalize_name(d["name"]) for d in dists}
    if names == {"tensorflow", "tensorflow-macos"} and len(dists) == 2:
        macos, plain = (
            version_of(c.probe.distribution("tensorflow-macos")),
            version_of(c.probe.distribution("tensorflow")),
        )
        try:
            alias = Version(macos) >= pairs.FIRST_PLAIN_ARM64 and same_version(
                macos, plain
            )
        except InvalidVersion:
            alias = False
        if alias:
            # From 2.13 (FIRST_PLAIN_ARM64) tensorflow-macos is an empty package
            # that depends on the same tensorflow.
            return [
                Finding(
                    "tf-conflict",
                    "ok",
                    "tensorflow-macos is the thin alias of the same tensorflow"
                    f" ({pairs.FIRST_PLAIN_ARM64}+)",
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
            "more than one TensorFlow distribution installed: they overwrite each"
            " other's files",
            evidence,
            f"pip uninstall -y {uninstall} && pip install {package}{version}",
        )
    ]


def check_tf_line(c: RuleContext) -> list[Finding]:
    """Is the installed TensorFlow a release of a catalog line? (FAILURES.md F8)"""
    if c.line_known:
        return []
    known = ", ".join(line.tf for line in c.catalog.lines)
    return [
        Finding(
            "tf-line",
            "warning",
            f"TensorFlow {c.tf_version} is not a line envgen's catalog knows: its pairs"
            " cannot be checked",
            f"tensorflow {c.tf_version}; catalog lines: {known}",
            "use a catalog line (`envgen matrix`, `envgen new NAME --tf X`)",
        )
    ]
