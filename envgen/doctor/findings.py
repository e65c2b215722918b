"""What ``envgen doctor`` reports: findings with their severity, evidence and fix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from envgen.doctor.context import TF_DISTRIBUTIONS, Probe, version_of

# "fact": true of this machine and fixable by nobody here (not a Mac, no Apple GPU);
# never an error.
SEVERITIES = ("error", "warning", "fact", "ok")


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
        """What is true of this machine and cannot be fixed here (not a Mac, no Apple
        GPU)."""
        return tuple(f for f in self.findings if f.severity == "fact")

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0

    def facts(self) -> dict[str, str | None]:
        """The few probe facts a reader wants first: machine, Python, environment kind,
        TensorFlow."""
        p = Probe(self.probe)
        tf = p.tf.get("version") if p.tf.get("import_ok") else None
        installed = [
            f"{d['name']} {version_of(d)}"
            for name in (*TF_DISTRIBUTIONS, "tensorflow-metal")
            for d in p.installed(name)
        ]
        return {
            "os": (f"macOS {p.mac_ver}".strip() if p.is_mac else p.system) or None,
            "machine": p.machine or None,
            "python": p.python_version or None,
            "environment": (
                (f"conda ({p.platform})" if p.is_conda_env else "not conda")
                if p.raw.get("conda")
                else None
            ),
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
