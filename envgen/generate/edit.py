"""Edit envgen.toml (``envgen add`` / ``envgen remove``: the extra packages; ``envgen
update``: the TensorFlow, plugin and Python settings), keeping its comments and layout.

Pure text in, text out: tomlkit edits the document in place, so comments, key order and
array style survive; the result goes back through the spec loader before anyone writes
it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomlkit
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from tomlkit.exceptions import TOMLKitError

from envgen.catalog.lines import load_catalog
from envgen.errors import EnvgenError, SpecError
from envgen.generate.plan import make_plan
from envgen.generate.spec import load_spec, nested_too_deeply, parse_spec
from envgen.names import SPEC_FILE
from envgen.reading import read_regular

MANAGERS = ("conda", "pip")
_CONDA_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class PackageEdit:
    """The new envgen.toml text and what changed, one line per package."""

    text: str
    changes: tuple[str, ...]


def read_spec_text(project_dir: Path) -> str:
    """envgen.toml's text, once the spec loader has accepted it (its errors name the
    problem)."""
    load_spec(project_dir)
    # utf-8-sig: a byte-order mark the spec loader accepts is not part of the TOML
    # either
    return read_regular(Path(project_dir) / SPEC_FILE).decode("utf-8-sig")


def package_name(spec: str, manager: str) -> str:
    """The normalised package name of a conda MatchSpec or a PEP 508 requirement (""
    when unreadable)."""
    if manager == "pip":
        try:
            return canonicalize_name(Requirement(spec).name)
        except InvalidRequirement:
            return ""
    match = _CONDA_NAME.match(spec)
    return canonicalize_name(match.group(1)) if match else ""


def _load(text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as error:
        raise SpecError(
            f"{SPEC_FILE} is not valid TOML: {error}",
            "fix the syntax at that line and column",
        ) from None
    except RecursionError:
        raise nested_too_deeply() from None


# envgen update's changes: the setting → its table and key in envgen.toml
_SETTINGS = {
    "tensorflow": ("tensorflow", "version"),
    "metal": ("tensorflow", "metal"),
    "python": ("environment", "python"),
}


def set_spec_values(text: str, **changes: object) -> str:
    """Change ``tensorflow``, ``metal`` or ``python`` in envgen.toml text: a value's
    comment, the key style (a table, dotted keys, an inline table) and every other line
    stay as they were; a missing key or table is added."""
    document = _load(text)
    for change, value in changes.items():
        section, key = _SETTINGS[change]
        if section not in document:
            document.add(tomlkit.nl())
            document.add(section, tomlkit.table())
        document[section][key] = value
    result = tomlkit.dumps(document)
    parse_spec(result)  # never hand back a spec we would refuse to read
    return result


def _lists(document: tomlkit.TOMLDocument) -> dict[str, list]:
    """The [packages] conda and pip arrays (created empty when missing)."""
    if "packages" not in document:
        document.add(tomlkit.nl())
        document.add("packages", tomlkit.table())
    packages = document["packages"]
    if not isinstance(packages, dict):
        raise SpecError(
            "packages must be a table", "write it as [packages] followed by its keys"
        )
    found = {}
    for manager in MANAGERS:
        if manager not in packages:
            packages[manager] = tomlkit.array()
        value = packages[manager]
        if not isinstance(value, list):
            raise SpecError(
                f"packages.{manager} has the wrong type ({type(value).__name__})",
                f'write it like {manager} = ["name"]',
            )
        found[manager] = value
    return found


def _checked(document: tomlkit.TOMLDocument, changes: list[str]) -> PackageEdit:
    """The edit, once the spec loader and the catalog accept it (never hand back a spec
    they refuse)."""
    text = tomlkit.dumps(document)
    try:
        make_plan(parse_spec(text), load_catalog())
    except EnvgenError as error:
        raise type(error)(
            f"{SPEC_FILE} left unchanged: {error.message}",
            error.hint,
            exit_code=error.exit_code,
        ) from None
    return PackageEdit(text, tuple(changes))


def add_packages(text: str, specs: tuple[str, ...], manager: str) -> PackageEdit:
    """Add (or re-pin) each spec in packages.<manager>; a package listed under the other
    manager is refused."""
    document = _load(text)
    lists = _lists(document)
    other = "pip" if manager == "conda" else "conda"
    changes = []
    for spec in specs:
        spec = spec.strip()
        name = package_name(spec, manager)
        if not name:
            example = (
                '"pandas" or "pandas >=2,<3"'
                if manager == "conda"
                else '"tqdm" or "tqdm>=4.60"'
            )
            raise SpecError(
                f"{spec!r} is not a {manager} package spec", f"write it like {example}"
            )
        if any(package_name(str(item), other) == name for item in lists[other]):
            raise SpecError(
                f"{name} is already in packages.{other}: one package comes from one"
                " manager",
                f"run `envgen remove {name}` first, or add it with --{other}",
            )
        entries = lists[manager]
        index = next(
            (
                i
                for i, item in enumerate(entries)
                if package_name(str(item), manager) == name
            ),
            None,
        )
        if index is None:
            entries.append(spec)
            changes.append(f"added {spec} to packages.{manager}")
        elif str(entries[index]) != spec:
            changes.append(f"packages.{manager}: {entries[index]} → {spec}")
            entries[index] = spec
        else:
            changes.append(f"{spec} is already in packages.{manager}")
    return _checked(document, changes)


def remove_packages(text: str, names: tuple[str, ...]) -> PackageEdit:
    """Remove each named package from packages.conda and packages.pip; a name listed in
    neither is refused."""
    document = _load(text)
    lists = _lists(document)
    changes = []
    for raw in names:
        name = canonicalize_name(raw.strip())
        removed = False
        for manager in MANAGERS:
            entries = lists[manager]
            for index in reversed(range(len(entries))):
                if package_name(str(entries[index]), manager) == name:
                    changes.append(f"removed {entries[index]} from packages.{manager}")
                    del entries[index]
                    removed = True
        if not removed:
            listed = [str(item) for manager in MANAGERS for item in lists[manager]]
            raise SpecError(
                f"{raw} is not among envgen.toml's extra packages",
                (
                    f"listed: {', '.join(listed)}"
                    if listed
                    else (
                        "packages.conda and packages.pip are empty; envgen's own pins"
                        " come from the catalog"
                    )
                ),
            )
    return _checked(document, changes)
