"""Create and re-generate project directories from a spec: the file-writing edge of
rendering."""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from envgen.atomic import PendingFile, commit_files, directory_lock, recover
from envgen.catalog.lines import load_catalog
from envgen.errors import GenerateError
from envgen.generate.plan import TOML_TERMS, Plan, Terms, make_plan
from envgen.generate.render import RenderedFile, is_unedited, render_files
from envgen.generate.spec import ProjectSpec, load_spec, parse_spec, validate_spec
from envgen.names import SPEC_FILE, is_project_file
from envgen.reading import read_regular


@dataclass(frozen=True)
class GenerateResult:
    written: tuple[str, ...]
    unchanged: tuple[str, ...]


def _mode(item: RenderedFile) -> int:
    return 0o755 if item.executable else 0o644


_STAGING = ".envgen-staging-"


def _staging_prefix(target: Path) -> str:
    return f".{target.name}{_STAGING}"


def _remove_dead_staging(parent: Path, target: Path) -> None:
    """Remove staging directories that killed runs of `envgen new` for this target left
    behind."""
    prefix = _staging_prefix(target)
    try:
        names = [name for name in os.listdir(parent) if name.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid_text = name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue  # another envgen new, still running
        shutil.rmtree(parent / name, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _resolve_target(target: Path) -> Path:
    """The directory a new project goes into; a symlink is followed, a dangling one
    refused."""
    if target.is_symlink():
        if not target.exists():
            raise GenerateError(
                f"{target} is a symbolic link to {os.readlink(target)}, which does not"
                " exist",
                "create that directory first, or pass another --dir",
            )
        return target.resolve()
    return target


def create_project(spec: ProjectSpec, target: Path, terms: Terms = TOML_TERMS) -> Plan:
    """Write a new project into ``target``, which must not exist or be empty.

    The files are rendered into a staging directory beside the target first and moved
    into place with one rename at the end, so a failure leaves no half-made project
    behind. A staging directory that a killed run left is removed by the next run.
    """
    validate_spec(
        spec,
        tensorflow=terms.tensorflow,
        python=terms.python,
        platforms=terms.platforms,
    )
    plan = make_plan(spec, load_catalog(), terms)
    if (
        spec.python is None
    ):  # write the resolved Python into envgen.toml, so it never drifts
        plan = make_plan(replace(spec, python=plan.python), load_catalog())
    target = _resolve_target(Path(target))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise GenerateError(
            f"{target} already exists and is not empty",
            "choose another --dir or name, or run `envgen generate` inside an existing"
            " envgen project",
        )
    files = render_files(plan)
    parent = target.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(parent, target)
    staging = Path(
        tempfile.mkdtemp(prefix=f"{_staging_prefix(target)}{os.getpid()}-", dir=parent)
    )
    try:
        for item in files:
            path = staging / item.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(item.content, encoding="utf-8")
            os.chmod(path, _mode(item))
        os.chmod(staging, 0o755)
        try:
            os.replace(staging, target)  # an empty target directory is replaced whole
        except OSError as error:
            if error.errno in (
                errno.ENOTEMPTY,
                errno.EEXIST,
                errno.ENOTDIR,
                errno.EISDIR,
            ):
                raise GenerateError(
                    f"{target} already exists and is not empty (another run created it"
                    " meanwhile)",
                    "choose another --dir or name, or run `envgen generate` inside it",
                ) from None
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return plan


def _read_text(path: Path) -> str | None:
    """A managed file's text as envgen compares it, None when it does not exist."""
    try:
        return read_regular(path).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise GenerateError(
            f"{path} is a directory where envgen writes a file",
            "move it away, then run envgen generate again",
        ) from None


def spec_target(project_dir: Path) -> Path:
    """Where envgen.toml's content lives: the file a symbolic link envgen.toml points at
    (an edit writes through the link, in the target's directory), else envgen.toml."""
    path = Path(project_dir) / SPEC_FILE
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def generate_project(
    project_dir: Path, *, force: bool = False, spec_text: str | None = None
) -> tuple[Plan, GenerateResult]:
    """Re-render the managed files of a project from its envgen.toml.

    A managed file edited by hand is refused (listing every such file, writing none)
    unless ``force``. Files whose content would not change are not touched, so a re-run
    is a no-op. The files that change are committed together: on a failure or interrupt
    none of them is.

    ``spec_text`` (``envgen add``/``remove``): a new envgen.toml, rendered from and
    committed together with the files it changes, so that a failure anywhere (a bad
    spec, an unreadable managed file, a full disk, Ctrl-C) leaves envgen.toml as it was.
    """
    project_dir = Path(project_dir)
    spec = load_spec(project_dir) if spec_text is None else parse_spec(spec_text)
    plan = make_plan(spec, load_catalog())
    managed = [item for item in render_files(plan) if item.kind == "managed"]
    with directory_lock(project_dir):
        # a commit a killed run left half done is rolled back first
        recover(project_dir, is_project_file)
        current = {item.path: _read_text(project_dir / item.path) for item in managed}
        edited = [
            item.path
            for item in managed
            if current[item.path] is not None
            and not force
            and not is_unedited(current[item.path] or "")
        ]
        if edited:
            raise GenerateError(
                f"refusing to overwrite {', '.join(edited)}: edited by hand since"
                " envgen wrote it",
                f"move your change into {SPEC_FILE} (or a file envgen does not manage)"
                " and rerun, or pass --force to overwrite",
            )
        changed = [
            item
            for item in managed
            if current[item.path] != item.content
            or ((project_dir / item.path).stat().st_mode & 0o777) != _mode(item)
        ]
        files = [
            PendingFile(project_dir / item.path, item.content, _mode(item))
            for item in changed
        ]
        if spec_text is not None:
            link = project_dir / SPEC_FILE
            target = spec_target(project_dir)
            files.append(
                PendingFile(target, spec_text, through=link if target != link else None)
            )
        commit_files(project_dir, files, is_project_file)
    written = tuple(item.path for item in changed)
    unchanged = tuple(item.path for item in managed if item not in changed)
    return plan, GenerateResult(written, unchanged)
