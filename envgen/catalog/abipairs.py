"""Which tensorflow-metal / TensorFlow pairs ``envgen catalog refresh --abi-check``
checks.

Each catalog line's own pair, the pair ``envgen update`` would propose from that line
(its newest release and the newest plugin in its range), and the inferred pairs refresh
reports for plugin releases the catalog lacks (``pairs_to_check``). The outcomes are
kept as ``catalog.abirecords`` records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from packaging.version import Version

from envgen.catalog import pairs
from envgen.catalog.lines import Catalog, Line


class _Versioned(Protocol):
    @property
    def version(self) -> str: ...


class PluginReleases(Protocol):
    """What ``pairs_to_check`` reads of PyPI's tensorflow-metal releases (a
    ``pypi.models.Releases``)."""

    def usable(self) -> Sequence[_Versioned]: ...


@dataclass(frozen=True)
class PairToCheck:
    metal: str
    tf_package: str
    tf_version: str
    why: str  # "catalog line 2.14", "update's pick on line 2.9", "inferred"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.metal, self.tf_package, self.tf_version)


def pairs_to_check(
    catalog: Catalog,
    releases: Mapping[str, PluginReleases],
    inferred: Sequence[object] = (),
) -> tuple[PairToCheck, ...]:
    """Every pair envgen shows, proposes or refuses: each line's own pair, the pair
    update would pick from the line (newest release, newest non-yanked plugin in the
    range), every release of a pair whose only evidence is this check (an inferred
    plugin, an alternative plugin for another Python), the newest plugin against a line
    that has none (its failure is the refusal's reason), and the inferred pairs."""
    found: dict[tuple[str, str, str], PairToCheck] = {}

    def add(metal: str, line: Line, version: str, why: str) -> None:
        pair = PairToCheck(metal, pairs.tf_package(line, version), version, why)
        found.setdefault(pair.key, pair)

    metal_answer = releases.get("tensorflow-metal")
    usable = (
        [r.version for r in metal_answer.usable()] if metal_answer is not None else []
    )
    for line in catalog.lines:
        if not line.metal:
            if usable:
                add(
                    max(usable, key=Version),
                    line,
                    line.version,
                    f"no plugin for line {line.tf}",
                )
            continue
        add(line.metal, line, line.version, f"catalog line {line.tf}")
        if "metal" in line.inferred:
            for version in line.versions:
                add(line.metal, line, version, f"catalog line {line.tf}")
        for alternative in line.alternatives:
            for version in line.versions:
                add(alternative.metal, line, version, f"alternative on line {line.tf}")
        in_range = [v for v in usable if line.metal_accepts(v)]
        if in_range:
            newest_tf = max(line.versions, key=Version)
            add(
                max(in_range, key=Version),
                line,
                newest_tf,
                f"update's pick on line {line.tf}",
            )
    for pair in inferred:
        # an inferred pair of releases.refresh, or a PairToCheck of releases.draft
        key = PairToCheck(pair.metal, pair.tf_package, pair.tf_version, "inferred")  # type: ignore[attr-defined]
        found.setdefault(key.key, key)
    return tuple(
        sorted(
            found.values(),
            key=lambda p: (Version(p.metal), p.tf_package, Version(p.tf_version)),
        )
    )
