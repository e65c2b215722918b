"""What `envgen update` compares and answers: the pins a project uses now (``Current``),
a pair it could move to (``Pair``) and the report (``UpdateReport``).

A pair is *catalog* (the catalog's line says it works: verified, or marked inferred by
the catalog) or *inferred* (a tensorflow-metal release the catalog does not know, paired
by upload date with the TF line released just before it: evidence, never proof; see
``releases.inference``). Only catalog pairs are applied. A pair with a recorded passing
Mach-O symbol check (``envgen.catalog.abirecords``) is labelled ABI-checked; one with a
failing record is never proposed: the plugin would not load.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.abirecords import AbiRecords
from envgen.catalog.lines import METAL, Catalog, Caveat
from envgen.errors import CatalogError, SpecError


class SpecLike(Protocol):
    """What an update reads of a project's spec (a ``generate.spec.ProjectSpec``)."""

    @property
    def tensorflow(self) -> str: ...

    @property
    def metal(self) -> bool | str: ...

    @property
    def python(self) -> str | None: ...

    @property
    def platforms(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Current:
    """What the project uses now."""

    line: str
    tf_package: str
    tf_version: str
    metal: str  # "" when the project runs without Metal
    python: str
    platforms: tuple[str, ...]

    @property
    def key(self) -> tuple[Version, Version]:
        return (Version(self.metal or "0"), Version(self.tf_version))


@dataclass(frozen=True)
class Pair:
    """A TensorFlow release and the tensorflow-metal release to run with it, on one
    Python."""

    tf_package: str
    tf_version: str
    metal: str
    python: str
    # The catalog line ("2.18"), or the TF major.minor for an inferred pair.
    line: str
    # "verified", "catalog-inferred" (the catalog's own inferred entry) or "inferred"
    # (paired by upload date, releases.inference).
    status: str
    evidence: tuple[str, ...] = ()
    # The wheel files the pair installs on osx-arm64 at this Python.
    wheels: tuple[str, ...] = ()
    # "checked": envgen's recorded symbol check passed for this plugin and TF release.
    abi: str = ""
    # What a user of this pair must know (catalog.pairs.caveats).
    caveats: tuple[Caveat, ...] = ()
    # What moving from the project's line to this pair changes under it.
    breaks: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[Version, Version]:
        return (Version(self.metal or "0"), Version(self.tf_version))

    @property
    def label(self) -> str:
        metal = f" + {METAL} {self.metal}" if self.metal else ""
        return f"{self.tf_package} {self.tf_version}{metal} (Python {self.python})"


@dataclass(frozen=True)
class UpdateReport:
    """What `envgen update` found: the proposal, the alternatives, and why releases were
    passed over."""

    current: Current
    proposal: Pair | None  # the move `--apply` makes (a catalog pair)
    python_change: (
        Pair | None
    )  # a newer catalog pair that needs another Python (not the proposal)
    inferred: tuple[
        Pair, ...
    ]  # newer Metal releases the catalog does not know yet (never applied)
    skipped: tuple[str, ...]
    warnings: tuple[str, ...]
    changes: tuple[
        tuple[str, object], ...
    ]  # envgen.toml keys the proposal changes (set_spec_values)
    latest: bool = (
        False  # the mode: False stays in the project's line, True crosses lines
    )
    newer_lines: tuple[
        str, ...
    ] = ()  # catalog lines newer than the project's (in-line mode names them)

    @property
    def update_available(self) -> bool:
        return self.proposal is not None


def current_state(
    spec: SpecLike, catalog: Catalog, abi: AbiRecords = AbiRecords()
) -> Current:
    """The TF release, Metal release and Python a spec resolves to today
    (``catalog.pairs`` decides)."""
    try:
        line = catalog.line(spec.tensorflow)
    except CatalogError as error:
        raise SpecError(f"tensorflow.version: {error.message}", error.hint) from None
    tf_version = spec.tensorflow if spec.tensorflow in line.versions else line.version
    choice = pairs.choose(
        line,
        tf_version,
        metal=spec.metal,
        python=spec.python,
        abi=abi,
        catalog=catalog,
    )
    return Current(
        line.tf,
        choice.tf_package,
        tf_version,
        choice.metal,
        choice.python,
        tuple(spec.platforms),
    )


def abi_failure(abi: AbiRecords, metal: str, package: str, version: str) -> str:
    """Why a pair is never proposed ('' unless its recorded symbol check failed)."""
    record = abi.get(metal, package, version)
    if record is None or record.compatible:
        return ""
    return (
        f"{METAL} {metal} + {package} {version}: never proposed, the plugin fails to"
        f" load: {record.why_incompatible()}"
    )


def with_abi_label(abi: AbiRecords, pair: Pair) -> Pair:
    record = (
        abi.get(pair.metal, pair.tf_package, pair.tf_version) if pair.metal else None
    )
    return (
        replace(pair, abi="checked")
        if record is not None and record.compatible
        else pair
    )
