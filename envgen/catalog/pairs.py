"""The one place that decides a project's TensorFlow / tensorflow-metal pair.

Everything that needs to know which plugin release goes with a TensorFlow release, which
Pythons that pair serves, which TensorFlow package a platform installs, or what a user
must be told about the pair (its caveats) asks this module: ``generate.plan``,
``releases`` (update proposals and inferred pairs), ``catalog.abirecords``, ``doctor`` and the ``check-pair`` wheel
lookup.

The rules, in one place:

- A line's ``pythons`` are TensorFlow's own (its macOS arm64 wheels). With the plugin,
  the Pythons are the ones the paired plugin release also has wheels for
  (``metal_pythons``). Where a newer plugin release passed envgen's symbol check and
  serves a Python the paired one does not (``[[lines.alternatives]]``), that Python gets
  the newer plugin, marked inferred.
- On osx-arm64 a release installs the line's package (``tensorflow-macos`` up to 2.16)
  unless ``release_packages`` names another (plain ``tensorflow`` 2.15.1); every other
  platform installs plain ``tensorflow``.
- A line without a working plugin release (``metal = ""``) refuses Metal, naming the
  recorded symbol check that failed and the way out.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from envgen.catalog.abirecords import AbiRecord, AbiRecords
from envgen.catalog.lines import METAL, Catalog, Caveat, Line
from envgen.errors import SpecError
from envgen.names import METAL_PLATFORM

# For TensorFlow releases the catalog does not know (inferred pairs, `check-pair`):
# which PyPI names may hold a release for macOS arm64. tensorflow-macos carries every
# release up to 2.12; 2.13-2.16 exist under both names (one is an alias of the other);
# from 2.17 only `tensorflow`.
FIRST_PLAIN_ARM64 = Version("2.13")
LAST_MACOS_LINE = (2, 16)
# Every PyPI name TensorFlow for macOS arm64 has been published under, in the order
# they are read: for a version both hold, tensorflow-macos's comes first.
ARM64_TF_PACKAGES = ("tensorflow-macos", "tensorflow")


def tf_packages_for(version: str) -> tuple[str, ...]:
    """PyPI names that may hold TensorFlow ``version`` for macOS arm64, most likely
    first."""
    parsed = Version(version)
    if parsed < FIRST_PLAIN_ARM64:
        return ("tensorflow-macos",)
    if parsed.release[:2] <= LAST_MACOS_LINE:
        return ("tensorflow", "tensorflow-macos")
    return ("tensorflow",)


def preferred_package(minor: tuple[int, ...]) -> str:
    """The package an unknown release of this TF minor is best installed from on a
    Mac."""
    return "tensorflow-macos" if tuple(minor[:2]) <= LAST_MACOS_LINE else "tensorflow"


def tf_package(line: Line, version: str, platform: str = METAL_PLATFORM) -> str:
    """The PyPI package that installs TensorFlow ``version`` of ``line`` on
    ``platform``."""
    if platform != METAL_PLATFORM:
        return "tensorflow"
    return dict(line.release_packages).get(version, line.package)


@dataclass(frozen=True)
class MetalOption:
    """A plugin choice of a line: its release (or range) and the Pythons it serves."""

    metal: str  # the release envgen installs
    accepts: str  # the releases accepted (a specifier)
    pythons: tuple[str, ...]
    # "catalog" (the line's own pair) | "inferred" (an ABI-checked alternative)
    status: str
    source: str = ""

    def takes(self, version: str) -> bool:
        return Version(version) in SpecifierSet(self.accepts)


def metal_options(line: Line) -> tuple[MetalOption, ...]:
    """The line's own plugin pair first, then its inferred alternatives."""
    if not line.metal:
        return ()
    own = MetalOption(line.metal, line.metal_range, line.metal_pythons, "catalog")
    alternatives = tuple(
        MetalOption(alt.metal, f"=={alt.metal}", alt.pythons, "inferred", alt.source)
        for alt in line.alternatives
    )
    return (own, *alternatives)


def pythons(line: Line, metal: bool | str = True) -> tuple[str, ...]:
    """The Pythons a project of this line can use: TensorFlow's own without the plugin;
    with it, those some plugin option serves (or the given release serves)."""
    if metal is False or not line.metal:
        return line.pythons
    served: set[str] = set()
    for option in metal_options(line):
        if metal is True or option.takes(metal):
            served.update(option.pythons)
    return tuple(p for p in line.pythons if p in served)


def default_python(line: Line, metal: bool | str = True) -> str:
    """The newest Python of the line's own pair (with Metal), or TensorFlow's newest
    (without)."""
    if metal is not False and line.metal:
        own = [o for o in metal_options(line) if metal is True or o.takes(metal)]
        if own:
            return max(own[0].pythons, key=Version)
    return max(line.pythons, key=Version)


def metal_status(line: Line, metal_version: str, python: str) -> str:
    """How the catalog knows this plugin release on this Python: "catalog", "inferred",
    or ""."""
    for option in metal_options(line):
        if option.takes(metal_version) and python in option.pythons:
            return option.status
    return ""


def metal_for_python(line: Line, python: str) -> MetalOption | None:
    """The plugin option envgen installs for this Python (the line's own first)."""
    for option in metal_options(line):
        if python in option.pythons:
            return option
    return None


@dataclass(frozen=True)
class Words:
    """How a refusal names the user's settings: envgen.toml's keys (the default) or the
    flags of the command that set them (``generate.plan.Terms`` fills this in)."""

    tensorflow: str = "tensorflow.version"
    python: str = "environment.python"
    omit_python: str = "remove environment.python"
    metal_on: str = "tensorflow.metal is on"
    metal_off: str = "set tensorflow.metal = false"


TOML_WORDS = Words()


@dataclass(frozen=True)
class Choice:
    """A resolved pair: the TF release and package, the plugin release ("" for none),
    the Python."""

    line: Line
    tf_version: str
    python: str
    metal: str
    metal_status: str  # "" (no plugin) | "catalog" | "inferred"
    notes: tuple[str, ...] = ()
    caveats: tuple[Caveat, ...] = ()

    def package_for(self, platform: str) -> str:
        return tf_package(self.line, self.tf_version, platform)

    @property
    def tf_package(self) -> str:
        return self.package_for(METAL_PLATFORM)

    @property
    def status(self) -> str:
        """The pair's standing: the line's status, or inferred when the plugin is an
        alternative."""
        return "inferred" if self.metal_status == "inferred" else self.line.status


def _span(pythons: tuple[str, ...]) -> str:
    return ", ".join(pythons) if pythons else "none"


def newest_metal_line(catalog: Catalog) -> Line | None:
    with_metal = [line for line in catalog.lines if line.metal]
    return max(with_metal, key=lambda line: Version(line.tf)) if with_metal else None


def no_metal_reason(line: Line, abi: AbiRecords) -> str:
    """Why a line has no plugin: the recorded symbol check of the newest plugin against
    it."""
    record = newest_failed_check(line, abi)
    if record is None:
        return f"no {METAL} release is known to load into TensorFlow {line.tf}"
    first = record.missing[0].symbol if record.missing else ""
    found = f"{len(record.missing)} of {record.symbols_checked} symbols missing" + (
        f" (Symbol not found: {first})" if first else ""
    )
    if record.library_problems:
        found += f", {len(record.library_problems)} library not loaded"
    return (
        f"no {METAL} release loads into TensorFlow {line.tf}: `envgen catalog"
        f" check-pair --metal {record.metal} --tf {record.tf_version}` finds {found}"
    )


def newest_failed_check(line: Line, abi: AbiRecords) -> AbiRecord | None:
    failed = [
        r for r in abi.records if not r.compatible and r.tf_version in line.versions
    ]
    return (
        max(failed, key=lambda r: (Version(r.metal), Version(r.tf_version)))
        if failed
        else None
    )


def caveats(
    line: Line, metal: str, tf_version: str, abi: AbiRecords
) -> tuple[Caveat, ...]:
    """What a user of this pair must be told: the line's caveats that apply, and
    binaries that declare a newer macOS (LC_BUILD_VERSION minos) than the line's
    minimum."""
    found = [c for c in line.caveats if c.applies(metal)]
    record = abi.get(metal, tf_package(line, tf_version), tf_version) if metal else None
    if record is None:
        record = next(
            (
                r
                for r in abi.records
                if r.tf_version == tf_version
                and r.tf_package == tf_package(line, tf_version)
            ),
            None,
        )
    if record is not None:
        floor = Version(line.min_macos)
        for what, minos in (
            (
                f"the {METAL} {record.metal} plugin is",
                record.plugin_min_macos if metal else "",
            ),
            (
                f"the {record.libraries_from} {record.tf_version} libraries are",
                record.tf_min_macos,
            ),
        ):
            if minos and Version(minos) > floor:
                found.append(
                    Caveat(
                        f"{what} built for macOS {minos}+ (LC_BUILD_VERSION minos),"
                        f" above this line's minimum {line.min_macos}: unproven whether"
                        f" they load on macOS {line.min_macos}-{minos} (the minimum is"
                        " not raised without evidence)",
                        "envgen catalog check-pair (envgen/data/abi_checks.toml,"
                        f" {record.date})",
                    )
                )
    return tuple(found)


def choose(
    line: Line,
    tf_version: str,
    *,
    metal: bool | str,
    python: str | None,
    abi: AbiRecords = AbiRecords(),
    catalog: Catalog | None = None,
    words: Words = TOML_WORDS,
) -> Choice:
    """Resolve the pair for a project; every refusal names the package that limits it
    and the way out.

    ``metal``: False (CPU only), True (the catalog's plugin for this Python) or an exact
    release.
    ``words``: how the refusals name the user's settings (envgen.toml keys, or a
    command's flags).
    """
    package = tf_package(line, tf_version)
    if python is not None and python not in line.pythons:
        raise SpecError(
            f"{words.python} {python}: {package} {tf_version} has no macOS arm64 wheel"
            f" for it (TensorFlow {line.tf} has wheels for Python"
            f" {_span(line.pythons)})",
            f"use one of {_span(pythons(line, metal))} (or {words.omit_python} to get"
            f" {default_python(line, metal)})",
        )
    if metal is False:
        chosen = python or default_python(line, False)
        return Choice(
            line, tf_version, chosen, "", "", (), caveats(line, "", tf_version, abi)
        )
    if not line.metal:
        newest = newest_metal_line(catalog) if catalog is not None else None
        way = (
            f", or {words.tensorflow} {newest.tf}, the newest line with a {METAL} pair"
            if newest is not None
            else ""
        )
        value = "true" if metal is True else repr(metal)
        raise SpecError(
            f"{words.metal_on if metal is True else f'tensorflow.metal = {value}'}, but"
            f" {no_metal_reason(line, abi)}",
            f"{words.metal_off} to run on the CPU{way}",
        )
    if metal is True:
        chosen_python = python or default_python(line, True)
        option = metal_for_python(line, chosen_python)
        if option is None:
            own = metal_options(line)[0]
            raise SpecError(
                f"{words.python} {chosen_python}: {METAL} {own.metal} (the plugin"
                f" paired with TensorFlow {line.tf}) has no wheel for it (it serves"
                f" Python {_span(own.pythons)})",
                f"use Python {_span(pythons(line, True))} with the plugin, or"
                f" {words.metal_off} to run Python {chosen_python} on the CPU",
            )
        release = option.metal
    else:
        options = [o for o in metal_options(line) if o.takes(metal)]
        if not options:
            accepted = ", ".join(o.accepts for o in metal_options(line))
            raise SpecError(
                f"tensorflow.metal {metal} is not known to work with TensorFlow"
                f" {line.tf} (known: {accepted})",
                f"use metal = true for the catalog's pair ({line.metal}), or see"
                " `envgen matrix`",
            )
        chosen_python = python or max(options[0].pythons, key=Version)
        option = next((o for o in options if chosen_python in o.pythons), None)
        if option is None:
            raise SpecError(
                f"{words.python} {chosen_python}: {METAL} {metal} has no wheel for it"
                f" (it serves Python {_span(options[0].pythons)})",
                f"use Python {_span(options[0].pythons)}, or metal = true to get the"
                f" plugin envgen pairs with Python {chosen_python}",
            )
        release = metal
    notes: tuple[str, ...] = ()
    if option.status == "inferred":
        own = metal_options(line)[0]
        notes = (
            (
                f"{METAL} {release} on Python {chosen_python} is an inferred"
                f" alternative: the paired {own.metal} has no Python {chosen_python}"
                f" wheel; {option.source}"
            ),
        )
    return Choice(
        line,
        tf_version,
        chosen_python,
        release,
        option.status,
        notes,
        caveats(line, release, tf_version, abi),
    )
