"""The doctor rule about an envgen project: is the environment what the project's lock
says?"""

from __future__ import annotations

from packaging.utils import canonicalize_name

from envgen.doctor.context import (
    FIX_BOOTSTRAP,
    RuleContext,
    listed,
    same_version,
    version_of,
)
from envgen.doctor.findings import Finding


def check_project(c: RuleContext) -> list[Finding]:
    """Inside an envgen project: is this the project's environment, and does it match
    conda-lock.yml? (FAILURES.md F18)"""
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
                "conda-lock.yml has nothing for this environment's platform"
                f" {platform}",
                f"locked platforms: {', '.join(platforms) or 'none'}",
                "run the environment on a locked platform, or add it to"
                " environment.platforms and lock again",
            )
        )
        return findings
    conda_have = {str(r.get("name")): str(r.get("version")) for r in p.conda_records}
    pip_have: dict[str, str] = {
        canonicalize_name(d["name"]): version_of(d)
        for d in p.distributions
        if not d.get("conda_package")
    }
    missing, other = [], []
    for pkg in locked:
        have = conda_have if pkg.manager == "conda" else pip_have
        key = pkg.name if pkg.manager == "conda" else canonicalize_name(pkg.name)
        if key not in have:
            missing.append(f"{pkg.name} {pkg.version}")
        elif not same_version(have[key], pkg.version):
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
        parts.append(f"missing {len(missing)}: {listed(missing)}")
    if other:
        parts.append(f"other version {len(other)}: {listed(other)}")
    if extra:
        parts.append(f"extra {len(extra)}: {listed(extra)}")
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
