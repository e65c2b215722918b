"""``envgen.toml``: load and validate the project spec into a frozen model.

The spec never knows about files other than its own, nor about the catalog: checks that
need the catalog (is this TF line known, does it support this Python) live in ``plan``.
Every error names the key and the fix.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import tomli
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from envgen.atomic import recover_project
from envgen.errors import SpecError
from envgen.generate.escape import unsafe_character
from envgen.names import METAL_PLATFORM, PLATFORMS, SPEC_FILE
from envgen.reading import read_regular

NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")  # always fullmatch
LOCATIONS = ("named", "prefix")
ALLOWED_CHANNELS = ("conda-forge",)
# What envgen itself pins: users may not list these, or they would fight the catalog.
MANAGED_PIP = frozenset(
    {
        "tensorflow",
        "tensorflow-macos",
        "tensorflow-metal",
        "tensorflow-cpu",
        "tensorflow-gpu",
        "tf-nightly",
    }
)
CONDA_ONLY = frozenset({"numpy", "h5py", "grpcio", "python", "pip"})
_SCHEMA: dict[str, set[str]] = {
    "project": {"name"},
    "tensorflow": {"version", "metal"},
    "environment": {"python", "platforms", "channels", "jupyter", "location"},
    "packages": {"conda", "pip"},
}
# A conda MatchSpec without channel, brackets or quotes: "pandas", "pandas >=2,<3",
# "numpy 1.21.* py39*".
_CONDA_SPEC = re.compile(
    r"(?P<name>[A-Za-z0-9_][A-Za-z0-9._-]*)"
    r"(?P<rest>(?: ?[<>=!~*0-9][A-Za-z0-9.*,|<>=!~_+]*)(?: [A-Za-z0-9.*_+]+)?)?"
)
_TF_VERSION = re.compile(r"[0-9]+\.[0-9]+(?:\.[0-9]+)?")
_RELEASE = re.compile(r"[0-9]+(?:\.[0-9]+){0,3}(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?")
_PYTHON = re.compile(r"3\.[0-9]{1,2}")


@dataclass(frozen=True)
class ProjectSpec:
    """A validated envgen.toml."""

    name: str
    tensorflow: str
    metal: bool | str = True
    python: str | None = None
    conda_packages: tuple[str, ...] = ()
    pip_packages: tuple[str, ...] = ()
    jupyter: bool = False
    platforms: tuple[str, ...] = (METAL_PLATFORM,)
    channels: tuple[str, ...] = ("conda-forge",)
    location: str = "named"


def _expect(
    value: object, kind: type | tuple[type, ...], key: str, example: str
) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
        raise SpecError(
            f"{key} has the wrong type ({type(value).__name__})",
            f"write it like {example}",
        )


def _string_list(value: object, key: str, example: str) -> tuple[str, ...]:
    _expect(value, list, key, example)
    items = cast("list[str]", value)  # _expect raised for anything else
    for item in items:
        _expect(item, str, key, example)
    return tuple(items)


# conda, mamba and micromamba reserve these for the root environment
RESERVED_ENV_NAMES = frozenset({"base", "root"})


def validate_name(name: str, key: str = "project.name") -> str:
    """A project name usable as a directory, a conda env name and a Python
    identifier-ish label."""
    _refuse_unsafe(name, key)
    if not NAME_PATTERN.fullmatch(name):
        raise SpecError(
            f"{key} {name!r} is not a valid project name",
            "use a letter then letters, digits, '-' or '_' (at most 63 characters),"
            " e.g. 'mnist-metal'",
        )
    if name.lower() in RESERVED_ENV_NAMES:
        raise SpecError(
            f"{key} {name!r} is the name of conda's own environment (the environment"
            " is named after the project, and bootstrap.sh would install into it)",
            "choose another name, e.g. 'mnist-metal'",
        )
    return name


def _refuse_unsafe(value: str, key: str) -> None:
    bad = unsafe_character(value)
    if bad is not None:
        raise SpecError(
            f"{key} {value!r} contains U+{ord(bad):04X}"
            f" ({unicodedata.name(bad, 'a control character')})",
            "values are single lines of printable text: remove the control character or"
            " line break",
        )


def _refuse_unsafe_anywhere(value: object, key: str) -> None:
    """Every string of the parsed TOML (keys included), each named by its key path."""
    if isinstance(value, str):
        _refuse_unsafe(value, key)
    elif isinstance(value, dict):
        for name, item in value.items():
            _refuse_unsafe(name, f"the key name {name!r} in {key or SPEC_FILE}")
            _refuse_unsafe_anywhere(item, f"{key}.{name}" if key else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_unsafe_anywhere(item, f"{key}[{index}]")


def _spelled(key: str, example: str) -> str:
    """An example setting in the form the user wrote it: a flag or an envgen.toml key."""
    if key.startswith("--"):
        return f"{key} {example}"
    return f'{key.rpartition(".")[2]} = "{example}"'


def _validate_tensorflow(value: str, key: str = "tensorflow.version") -> str:
    _refuse_unsafe(value, key)
    if not _TF_VERSION.fullmatch(value):
        if _RELEASE.fullmatch(value) and re.search(r"(a|b|rc)[0-9]+$", value):
            line = ".".join(value.split(".")[:2])
            raise SpecError(
                f"{key} {value!r} is a pre-release; envgen's catalog holds final"
                " releases only",
                f"use a final release or the line, e.g. {_spelled(key, line)}"
                " (see `envgen matrix`)",
            )
        raise SpecError(
            f"{key} {value!r} is not a TensorFlow line or release",
            f"write it like {_spelled(key, '2.6')} or {_spelled(key, '2.6.0')}"
            " (see `envgen matrix`)",
        )
    return value


def _validate_metal(value: bool | str) -> bool | str:
    if isinstance(value, bool):
        return value
    _refuse_unsafe(value, "tensorflow.metal")
    if not _RELEASE.fullmatch(value):
        raise SpecError(
            f"tensorflow.metal {value!r} is not a version",
            'write metal = true, false, or an exact release like "0.2.0"',
        )
    return value


def _validate_python(value: str, key: str = "environment.python") -> str:
    _refuse_unsafe(value, key)
    if not _PYTHON.fullmatch(value):
        raise SpecError(
            f"{key} {value!r} is not a Python minor version",
            f"write it like {_spelled(key, '3.9')}",
        )
    return value


def _validate_conda(specs: tuple[str, ...]) -> tuple[str, ...]:
    for index, spec in enumerate(specs):
        _refuse_unsafe(spec, f"packages.conda[{index}]")
        if "::" in spec or "/" in spec:
            raise SpecError(
                f"packages.conda entry {spec!r} names a channel",
                "envgen environments come from conda-forge only: list the bare package"
                " name",
            )
        match = _CONDA_SPEC.fullmatch(spec)
        if not match:
            raise SpecError(
                f"packages.conda entry {spec!r} is not a conda package spec",
                'write it like "pandas" or "pandas >=2,<3" (no quotes, brackets,'
                " comments or leading spaces)",
            )
        name = match.group("name").lower()
        if name in ("python", "pip") or name.startswith("tensorflow"):
            raise SpecError(
                f"packages.conda must not list {name!r}: envgen pins it from the"
                " catalog",
                "remove it; set the Python with environment.python and TensorFlow with"
                " tensorflow.version",
            )
    return specs


_OPTION_AFTER_SPACE = re.compile(r"\s-")


def _misread_in_requirements_file(spec: str) -> str:
    """What in a pip spec the lock's requirements file would read as something else
    ("" when nothing): the pip side is resolved from a requirements file, where `` #``
    starts a comment, `` -`` an option (``--index-url``), ``\\`` continues the line and
    ``${NAME}`` is an environment variable, even inside a marker's quotes."""
    if "#" in spec:
        return "'#', which a requirements file reads as the start of a comment"
    if _OPTION_AFTER_SPACE.search(spec):
        return (
            "a space followed by '-', which a requirements file reads as an option"
            " (--index-url …)"
        )
    if "\\" in spec:
        return "a backslash, which a requirements file reads as a line continuation"
    if "$" in spec:
        return "'$', which a requirements file expands as an environment variable"
    return ""


def _validate_pip(specs: tuple[str, ...]) -> tuple[str, ...]:
    for index, spec in enumerate(specs):
        _refuse_unsafe(spec, f"packages.pip[{index}]")
        if spec != spec.strip():
            raise SpecError(
                f"packages.pip entry {spec!r} has leading or trailing spaces",
                'write it like "tqdm" or "tqdm>=4.60"',
            )
        misread = _misread_in_requirements_file(spec)
        if misread:
            raise SpecError(
                f"packages.pip entry {spec!r} holds {misread}",
                "a requirement needs none of these (PEP 508: name, extras, versions, a"
                " marker): write it like \"tqdm>=4.60; python_version >= '3.9'\"",
            )
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            raise SpecError(
                f"packages.pip entry {spec!r} is not a valid requirement",
                'write it like "tqdm" or "tqdm>=4.60"',
            ) from None
        name = canonicalize_name(requirement.name)
        if name in MANAGED_PIP:
            raise SpecError(
                f"packages.pip must not list {name!r}: envgen pins TensorFlow and"
                " tensorflow-metal from the catalog",
                "remove it and set tensorflow.version / tensorflow.metal instead",
            )
        if name in CONDA_ONLY:
            raise SpecError(
                f"packages.pip must not list {name!r}: it is compiled and must come"
                " from conda-forge",
                f'move it to packages.conda (e.g. "{name}") or drop it; envgen already'
                " pins it per TensorFlow line",
            )
        if requirement.url:
            raise SpecError(
                f"packages.pip entry {spec!r} is a direct URL, which cannot be"
                " hash-locked here",
                "use a name and version from PyPI",
            )
    return specs


def _validate_platforms(
    platforms: tuple[str, ...], key: str = "environment.platforms"
) -> tuple[str, ...]:
    if not platforms:
        raise SpecError(f"{key} is empty", 'list at least "osx-arm64"')
    for index, platform in enumerate(platforms):
        _refuse_unsafe(
            platform, f"{key}[{index}]" if key.startswith("environment") else key
        )
        if platform not in PLATFORMS:
            raise SpecError(
                f"{key}: unknown platform {platform!r}",
                f"use any of {', '.join(PLATFORMS)}",
            )
    if len(set(platforms)) != len(platforms):
        raise SpecError(
            "environment.platforms lists a platform twice", "list each platform once"
        )
    return platforms


def validate_spec(
    spec: ProjectSpec,
    *,
    tensorflow: str = "tensorflow.version",
    python: str = "environment.python",
    platforms: str = "environment.platforms",
) -> ProjectSpec:
    """Every check :func:`parse_spec` makes, on a spec built in code (``envgen new``'s
    options).

    The keyword arguments name the settings as the user wrote them (``--python`` for
    envgen new).
    """
    validate_name(spec.name)
    _validate_tensorflow(spec.tensorflow, tensorflow)
    _validate_metal(spec.metal)
    if spec.python is not None:
        _validate_python(spec.python, python)
    _validate_platforms(spec.platforms, platforms)
    _validate_conda(spec.conda_packages)
    _validate_pip(spec.pip_packages)
    if tuple(spec.channels) != ALLOWED_CHANNELS or spec.location not in LOCATIONS:
        raise SpecError(
            "environment.channels or environment.location is not allowed",
            'use channels = ["conda-forge"] and location = "named" or "prefix"',
        )
    return spec


def _check_keys(raw: dict) -> None:
    for section, value in raw.items():
        home = [table for table, keys in _SCHEMA.items() if section in keys]
        if not isinstance(value, dict) and section not in _SCHEMA:
            where = f"[{home[0]}]" if home else "the table it belongs to"
            raise SpecError(
                f"key {section!r} in {SPEC_FILE} is outside any table (above the first"
                " [section] header)",
                f"move it below {where}"
                + (
                    ""
                    if home
                    else (
                        f"; allowed tables: {', '.join('[' + s + ']' for s in _SCHEMA)}"
                    )
                ),
            )
        if section not in _SCHEMA:
            raise SpecError(
                f"unknown section [{section}] in {SPEC_FILE}",
                f"allowed sections: {', '.join('[' + s + ']' for s in _SCHEMA)}",
            )
        if not isinstance(value, dict):
            raise SpecError(
                f"{section} must be a table",
                f"write it as [{section}] followed by its keys",
            )
        for key in value:
            if key not in _SCHEMA[section]:
                allowed = ", ".join(sorted(_SCHEMA[section]))
                raise SpecError(
                    f"unknown key {section}.{key} in {SPEC_FILE}",
                    f"allowed keys in [{section}]: {allowed}",
                )


def nested_too_deeply() -> SpecError:
    """The error for an envgen.toml nested past what a TOML reader parses (tomli here,
    tomlkit in envgen add/remove)."""
    return SpecError(
        f"{SPEC_FILE} is nested too deeply (arrays or tables inside one another"
        " hundreds of levels down)",
        "write packages and settings as flat lists of strings, as `envgen new` does",
    )


def parse_spec(text: str) -> ProjectSpec:
    """Parse and validate envgen.toml text (no catalog checks)."""
    try:
        raw = tomli.loads(text.removeprefix("\ufeff"))  # a BOM some editors write first
        _refuse_unsafe_anywhere(raw, "")
    except tomli.TOMLDecodeError as error:
        raise SpecError(
            f"{SPEC_FILE} is not valid TOML: {error}",
            "fix the syntax at that line and column",
        ) from None
    except RecursionError:  # tomli's nesting limit, or Python's (dotted keys)
        raise nested_too_deeply() from None
    _check_keys(raw)
    project = raw.get("project", {})
    tensorflow = raw.get("tensorflow", {})
    environment = raw.get("environment", {})
    packages = raw.get("packages", {})
    if "name" not in project:
        raise SpecError(
            f"{SPEC_FILE} lacks project.name", 'add [project] name = "myproject"'
        )
    if "version" not in tensorflow:
        raise SpecError(
            f"{SPEC_FILE} lacks tensorflow.version",
            'add [tensorflow] version = "2.6" (see `envgen matrix`)',
        )
    _expect(project["name"], str, "project.name", 'name = "myproject"')
    _expect(tensorflow["version"], str, "tensorflow.version", 'version = "2.6"')
    metal = tensorflow.get("metal", True)
    _expect(
        metal,
        (bool, str),
        "tensorflow.metal",
        'metal = true, or an exact release like metal = "0.2.0"',
    )
    _validate_metal(metal)
    python = environment.get("python")
    if python is not None:
        _expect(python, str, "environment.python", 'python = "3.9"')
        _validate_python(python)
    platforms = _validate_platforms(
        _string_list(
            environment.get("platforms", [METAL_PLATFORM]),
            "environment.platforms",
            'platforms = ["osx-arm64"]',
        )
    )
    channels = _string_list(
        environment.get("channels", ["conda-forge"]),
        "environment.channels",
        'channels = ["conda-forge"]',
    )
    for channel in channels:
        if channel not in ALLOWED_CHANNELS:
            raise SpecError(
                f"environment.channels: {channel!r} is not allowed; envgen environments"
                " are conda-forge only",
                'set channels = ["conda-forge"]; to lock against a mirror of'
                " conda-forge use `envgen lock --channel URL`",
            )
    if not channels:
        raise SpecError(
            "environment.channels is empty", 'set channels = ["conda-forge"]'
        )
    jupyter = environment.get("jupyter", False)
    _expect(jupyter, bool, "environment.jupyter", "jupyter = true")
    location = environment.get("location", "named")
    _expect(location, str, "environment.location", 'location = "named"')
    if location not in LOCATIONS:
        raise SpecError(
            f"environment.location {location!r} is not one of {', '.join(LOCATIONS)}",
            '"named" makes a conda env called after the project; "prefix" makes'
            " ./.conda-env in the project",
        )
    return ProjectSpec(
        name=validate_name(project["name"]),
        tensorflow=_validate_tensorflow(tensorflow["version"]),
        metal=metal,
        python=python,
        conda_packages=_validate_conda(
            _string_list(
                packages.get("conda", []), "packages.conda", 'conda = ["pandas"]'
            )
        ),
        pip_packages=_validate_pip(
            _string_list(packages.get("pip", []), "packages.pip", 'pip = ["tqdm"]')
        ),
        jupyter=jupyter,
        platforms=platforms,
        channels=channels,
        location=location,
    )


def load_spec(project_dir: Path) -> ProjectSpec:
    """Read and validate ``<project_dir>/envgen.toml``.

    Every command that reads a project starts here, so a commit a killed run left half
    done in the directory is finished or rolled back first (:func:`recover_project`).
    """
    recover_project(Path(project_dir))
    path = Path(project_dir) / SPEC_FILE
    try:
        # utf-8-sig: a byte-order mark some Windows editors put first is not part of the
        # TOML
        text = read_regular(path).decode("utf-8-sig")
    except (FileNotFoundError, NotADirectoryError):
        raise SpecError(
            f"no {SPEC_FILE} in {Path(project_dir).resolve()}",
            "run this inside an envgen project, pass --dir, or create one with `envgen"
            " new NAME --tf 2.6`",
        ) from None
    except IsADirectoryError:
        raise SpecError(
            f"{path} is a directory, not a file",
            f"make {SPEC_FILE} the project's spec file",
        ) from None
    except UnicodeDecodeError as error:
        raise SpecError(
            f"{path} is not UTF-8 text (byte {error.start} is not valid UTF-8)",
            "save it as UTF-8",
        ) from None
    return parse_spec(text)
