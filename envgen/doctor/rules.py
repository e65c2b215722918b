"""``envgen doctor``'s rules in the order they run, and ``diagnose``: a probe result in,
a report out.

The probe (``envgen/doctor/probe.py``) runs inside the target interpreter and answers
with JSON; ``envgen/doctor/target.py`` finds that interpreter and runs it. Each rule
reads the probe's answer (and, inside an envgen project, the spec and the lock) and says
what it saw, how bad it is and the command that fixes it. The rules implement the rows
of ``FAILURES.md`` beside this module; each rule's docstring names its rows. They are
grouped by what they look at: ``rules_machine`` (the Mac, its conda and Python),
``rules_packages`` (what is installed), ``rules_runtime`` (what TensorFlow does when
run) and ``rules_project`` (the project's lock).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from envgen.catalog.lines import Catalog
from envgen.doctor.context import Probe, ProjectFacts, RuleContext, make_context
from envgen.doctor.findings import SEVERITIES, Finding, Report
from envgen.doctor.rules_machine import (
    check_conda_platform,
    check_hardware,
    check_os,
    check_python,
    check_rosetta,
)
from envgen.doctor.rules_packages import (
    check_channels,
    check_compiled_deps,
    check_tf_conflict,
    check_tf_installed,
    check_tf_line,
)
from envgen.doctor.rules_project import check_project
from envgen.doctor.rules_runtime import check_gpu, check_metal, check_tf_runs

RULES: tuple[Callable[[RuleContext], list[Finding]], ...] = (
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
    """Every rule over one probe result; findings sorted errors, warnings, ok (rule
    order within)."""
    context = make_context(Probe(probe), catalog, project)
    findings = [finding for rule in RULES for finding in rule(context)]
    ordered = sorted(findings, key=lambda f: SEVERITIES.index(f.severity))
    return Report(
        target=target or str(Probe(probe).prefix),
        target_reason=target_reason,
        findings=tuple(ordered),
        probe=probe,
    )
