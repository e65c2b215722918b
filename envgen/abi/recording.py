"""Running the recorded symbol checks: ``envgen catalog refresh --abi-check``.

Checks each pair ``catalog.abipairs.pairs_to_check`` names with
:func:`envgen.abi.checkpair.check_pair` over one wheel store, then rewrites the records
file through ``catalog.abirecords.write_abi_records``. It lives in ``abi/`` because it
runs the check; the catalog only reads and writes the records.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envgen.abi.checkpair import check_pair
from envgen.abi.wheels import WheelStore
from envgen.catalog import abirecords
from envgen.catalog.abipairs import PairToCheck, pairs_to_check
from envgen.catalog.abirecords import AbiRecord, record_from_report, write_abi_records
from envgen.catalog.lines import Catalog
from envgen.pypi.models import Releases

Checker = Callable[[str, str], object]  # (metal, tf) -> checkpair.PairReport


def pair_checker(
    repository,
    releases: Mapping[str, Releases],
    *,
    store=None,
    progress: Callable[[str], None] | None = None,
) -> Checker:
    """``checkpair.check_pair`` over one wheel store, answering from release facts
    already fetched."""
    store = store or WheelStore(progress=progress)
    known = _Known(releases, repository)
    return lambda metal, tf: check_pair(metal, tf, repository=known, store=store)


def run_checks(
    pairs: Sequence[PairToCheck],
    check: Checker,
    *,
    today: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[AbiRecord, ...]:
    """Run ``check`` (``checkpair.check_pair`` bound to a repository and store) on each
    pair."""
    date = today or datetime.date.today().isoformat()
    records = []
    for number, pair in enumerate(pairs, 1):
        if progress:
            progress(
                f"[{number}/{len(pairs)}] tensorflow-metal {pair.metal} +"
                f" {pair.tf_package} {pair.tf_version} ({pair.why})"
            )
        records.append(
            record_from_report(
                check(pair.metal, pair.tf_version), pair.tf_package, date
            )
        )
    return tuple(records)


@dataclass(frozen=True)
class AbiRefresh:
    """What ``envgen catalog refresh --abi-check`` did."""

    pairs: tuple[PairToCheck, ...]
    # this run's outcome, one per pair, in the same order
    records: tuple[AbiRecord, ...]
    changed: bool
    path: str

    def failing_catalog_pairs(self) -> tuple[tuple[PairToCheck, AbiRecord], ...]:
        return tuple(
            (p, r)
            for p, r in zip(self.pairs, self.records, strict=False)
            if not r.compatible
            and p.why != "inferred"
            and not p.why.startswith("no plugin")
        )


def refresh_abi_records(
    catalog: Catalog,
    releases: Mapping[str, Releases],
    inferred: Sequence[object],
    *,
    repository,
    store=None,
    path: Path | None = None,
    today: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AbiRefresh:
    """Check every pair ``pairs_to_check`` names against PyPI's wheels, then rewrite the
    records file.

    Every pair is checked before anything is written: a failure (network, a missing
    wheel) leaves the file as it was.
    """
    pairs = pairs_to_check(catalog, releases, inferred)
    fresh = run_checks(
        pairs,
        pair_checker(repository, releases, store=store, progress=progress),
        today=today,
        progress=progress,
    )
    records, changed = write_abi_records(fresh, path)
    return AbiRefresh(
        pairs,
        tuple(records.get(*r.key) or r for r in fresh),
        changed,
        str(path or abirecords.ABI_CHECKS_PATH),
    )


class _Known:
    """A repository that answers from release facts already fetched, asking the real one
    for others."""

    def __init__(self, releases: Mapping[str, Releases], repository) -> None:
        self._releases, self._repository = releases, repository
        url_for = getattr(repository, "url_for", None)
        if url_for is not None:
            self.url_for = url_for

    def releases(self, name: str):
        known = self._releases.get(name)
        return known if known is not None else self._repository.releases(name)
