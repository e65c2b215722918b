"""Create and re-generate project directories from a spec: the file-writing edge of rendering."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from envgen.atomic import atomic_write
from envgen.catalog.lines import load_catalog
from envgen.errors import GenerateError
from envgen.generate.plan import TOML_TERMS, Plan, Terms, make_plan
from envgen.generate.render import RenderedFile, is_unedited, render_files
from envgen.generate.spec import SPEC_FILE, ProjectSpec, load_spec


@dataclass(frozen=True)
class GenerateResult:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]


def _mode(item: RenderedFile) -> int:
    return 0o755 if item.executable else 0o644


def create_project(spec: ProjectSpec, target: Path, terms: Terms = TOML_TERMS) -> Plan:
    """Write a new project into ``target``, which must not exist or be empty.

    The files are rendered into a temporary sibling directory first and moved into place at
    the end, so a failure leaves no half-made project behind.
    """
    plan = make_plan(spec, load_catalog(), terms)
    if (
        spec.python is None
    ):  # write the resolved Python into envgen.toml, so the project never drifts
        plan = make_plan(replace(spec, python=plan.python), load_catalog())
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise GenerateError(
            f"{target} already exists and is not empty",
            "choose another --dir or name, or run `envgen generate` inside an existing envgen project",
        )
    files = render_files(plan)
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=parent))
    try:
        for item in files:
            path = staging / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.content, encoding="utf-8")
            os.chmod(path, _mode(item))
        os.chmod(staging, 0o755)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return plan


def generate_project(
    project_dir: Path, *, force: bool = False
) -> tuple[Plan, GenerateResult]:
    """Re-render the managed files of a project from its envgen.toml.

    A managed file edited by hand is refused (listing every such file, writing none) unless
    ``force``. Files whose content would not change are not touched, so a re-run is a no-op.
    """
    project_dir = Path(project_dir)
    plan = make_plan(load_spec(project_dir), load_catalog())
    managed = [item for item in render_files(plan) if item.kind == "managed"]
    edited = []
    for item in managed:
        path = project_dir / item.path
        if (
            path.exists()
            and not force
            and not is_unedited(path.read_text(encoding="utf-8", errors="replace"))
        ):
            edited.append(item.path)
    if edited:
        raise GenerateError(
            f"refusing to overwrite {', '.join(edited)}: edited by hand since envgen wrote it",
            f"move your change into {SPEC_FILE} (or a file envgen does not manage) and rerun, or pass --force to overwrite",
        )
    written, unchanged = [], []
    for item in managed:
        path = project_dir / item.path
        if (
            path.exists()
            and path.read_text(encoding="utf-8", errors="replace") == item.content
            and (path.stat().st_mode & 0o777) == _mode(item)
        ):
            unchanged.append(item.path)
            continue
        atomic_write(path, item.content, mode=_mode(item))
        written.append(item.path)
    return plan, GenerateResult(tuple(written), tuple(unchanged))
