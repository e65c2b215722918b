"""The edges of `envgen update` that touch a project: preview what a proposal would
write (``preview_changes``: diffs, nothing written) and write it (``apply_update``:
envgen.toml, the managed files, then the lock).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from envgen.errors import CheckFailed, EnvgenError
from envgen.releases.model import UpdateReport


@dataclass(frozen=True)
class Preview:
    """The proposed file contents and their diffs (envgen.toml, environment.yml)."""

    spec_text: str
    new_spec_text: str
    diffs: tuple[tuple[str, str], ...]  # (file name, unified diff)


def _pin_diff(name: str, old: str, new: str) -> str:
    def pins(text: str) -> list[str]:
        return [
            line
            for line in text.splitlines(keepends=True)
            if not line.startswith("# envgen-hash:")
        ]

    return "".join(
        difflib.unified_diff(
            pins(old), pins(new), f"{name} (now)", f"{name} (proposed)", n=0
        )
    )


def preview_changes(project_dir: Path, report: UpdateReport) -> Preview:
    """Render what the proposal would write, without writing anything."""
    from envgen.catalog.lines import load_catalog
    from envgen.generate.edit import read_spec_text, set_spec_values
    from envgen.generate.plan import make_plan
    from envgen.generate.render import render_files
    from envgen.generate.spec import parse_spec
    from envgen.names import SPEC_FILE
    from envgen.reading import read_regular

    project_dir = Path(project_dir)
    text = read_spec_text(project_dir)
    if not report.changes:
        return Preview(text, text, ())
    new_text = set_spec_values(text, **dict(report.changes))
    diffs = [(SPEC_FILE, _pin_diff(SPEC_FILE, text, new_text))]
    plan = make_plan(parse_spec(new_text), load_catalog())
    rendered = {item.path: item.content for item in render_files(plan)}
    env_path = project_dir / "environment.yml"
    if "environment.yml" in rendered:
        try:
            old_env = read_regular(env_path).decode("utf-8", errors="replace")
        except FileNotFoundError:
            old_env = ""
        diffs.append(
            (
                "environment.yml",
                _pin_diff("environment.yml", old_env, rendered["environment.yml"]),
            )
        )
    return Preview(text, new_text, tuple((name, diff) for name, diff in diffs if diff))


@dataclass(frozen=True)
class ApplyResult:
    written: tuple[str, ...]
    locked: bool
    lock_note: str


def apply_update(
    project_dir: Path,
    report: UpdateReport,
    *,
    lock: bool = True,
    channel: str | None = None,
    pypi_index: str | None = None,
) -> ApplyResult:
    """Write the proposal into envgen.toml, re-render the managed files and re-lock.

    If re-rendering refuses (a managed file edited by hand), envgen.toml is left as it
    was.
    """
    from envgen.generate.project import generate_project
    from envgen.names import SPEC_FILE

    if report.proposal is None:
        raise CheckFailed(
            "no update to apply: the project is on the newest pair it can use",
            "nothing to do",
        )
    preview = preview_changes(project_dir, report)
    # envgen.toml is committed with the files it re-renders (through a symbolic link):
    # any failure, Ctrl-C included, leaves both as they were
    _, result = generate_project(Path(project_dir), spec_text=preview.new_spec_text)
    written = (SPEC_FILE, *result.written)
    if not lock:
        return ApplyResult(
            written, False, "not re-locked (--no-lock): run `envgen lock`"
        )
    from envgen.lock.run import LockRequest, lock_project

    try:
        lock_project(
            LockRequest(Path(project_dir), channel=channel, pypi_index=pypi_index)
        )
    except (
        EnvgenError
    ) as error:  # the update itself is written: say so, and how to finish
        raise EnvgenError(
            f"wrote {', '.join(written)} but could not re-lock: {error.message}",
            error.hint or "fix the cause, then run `envgen lock`",
            exit_code=error.exit_code,
        ) from None
    return ApplyResult(written, True, "conda-lock.yml re-locked")
