"""One lock, solved: the conda side, then the pip side per platform, checked, fixed
where mechanical.

Rounds: conda-lock solves environment.yml's conda packages; uv resolves the pip section
for each platform with conda's packages held at conda's versions (see
:mod:`envgen.lock.pipside`). When a pip package needs another version of a package conda
provides, the conda side is pinned to what pip needs and solved again; the assembled
lock then passes :mod:`envgen.lock.checks` (whose mechanical fixes also lead to another
round) or the lock fails naming the packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from envgen.errors import CheckFailed, EnvgenError, EnvironmentProblem, SpecError
from envgen.lock import canonical
from envgen.lock.canonical import Sources
from envgen.lock.checks import (
    CONDA_FORGE,
    check_lock,
    conda_version_spec,
    join_version_specs,
    load_name_map,
)
from envgen.lock.condalock import (
    OFFLINE_HINT,
    conda_environment,
    spec_name,
    split_environment,
    virtual_packages_yaml,
)
from envgen.lock.engines import CondaJob, conda_engine, pip_resolver
from envgen.lock.freshness import sha256_of
from envgen.lock.integrity import read_lock
from envgen.lock.name_mapping import MAPPING_PATH
from envgen.lock.pipside import (
    CompiledSdist,
    PipIndexUnreachable,
    PipPackage,
    PipPackageMissing,
    PipRequest,
    PipTarget,
    PipUnsolvable,
)
from envgen.lock.progress import Step
from envgen.lock.write import PipEntry, assemble, lock_bytes, lockfile_model
from envgen.names import ENV_FILE, LOCK_FILE, SPEC_FILE
from envgen.reading import read_regular

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SOLVE_HINT = (
    "relax the conflicting pins in envgen.toml [packages] (or pick another TensorFlow"
    " line), then envgen generate && envgen lock"
)


@dataclass(frozen=True)
class Solved:
    lockfile_bytes: bytes
    platforms: tuple[str, ...]
    solver: str
    fixes: tuple[str, ...]
    counts: tuple[tuple[str, int, int], ...]
    from_source: tuple[str, ...]


class LockSolver:
    """The state of one lock across its rounds (pins asked for, fixes made)."""

    def __init__(
        self,
        project_dir: Path,
        plan,
        platforms,
        sources: Sources,
        solver: str,
        workdir: Path,
        progress,
    ) -> None:
        self.plan = plan
        self.platforms = tuple(platforms)
        self.sources = sources
        self.solver = solver
        self.workdir = workdir
        self.progress = progress
        self.names = load_name_map(MAPPING_PATH)
        text = read_regular(project_dir / ENV_FILE).decode("utf-8")
        self.conda_document, self.pip_requirements = split_environment(text)
        self.inputs = {
            "envgen_toml_sha256": sha256_of(project_dir / SPEC_FILE),
            "environment_yml_sha256": sha256_of(project_dir / ENV_FILE),
        }
        self.kept = self._kept_packages(project_dir / LOCK_FILE)
        self.pins: dict[str, dict[str, str]] = {"conda": {}, "pip": {}}
        self.fixes: list[str] = []

    def _kept_packages(self, lock_path: Path) -> list:
        """The existing lock's packages of the platforms not locked now (kept as they
        are)."""
        others = set(self.plan.platforms) - set(self.platforms)
        # an unreadable old lock is not a starting point: `lock --force` replaces it
        if not others or not lock_path.is_file() or read_lock(lock_path).problem:
            return []
        document = yaml.load(
            read_regular(lock_path).decode("utf-8"), Loader=_YAML_LOADER
        )
        return [p for p in lockfile_model(document).package if p.platform in others]

    # ---- rounds ----------------------------------------------------------------------

    def run(self, max_rounds: int) -> Solved:
        for round_ in range(max_rounds + 1):
            solver, conda_side = self._conda_side(again=round_ > 0)
            try:
                pip = {p: self._pip_side(conda_side, p) for p in self.platforms}
            except PipUnsolvable as error:
                if round_ < max_rounds and self._pin_conda_to_pip(error, conda_side):
                    continue
                raise self._after_fixes(
                    SpecError(
                        f"the pip packages cannot be solved: {error.explanation}",
                        SOLVE_HINT,
                    )
                ) from None
            data, document = self._assemble(conda_side, pip)
            self.progress(Step("checking the lock"))
            findings = check_lock(
                document,
                self.names,
                self._allowed_channels(),
                self._root_requirements(),
                min_macos=self.plan.min_macos,
            )
            if not findings:
                return self._solved(data, document, solver, pip)
            if round_ == max_rounds or not self._apply_fixes(findings):
                detail = "; ".join(f.message for f in findings)
                raise CheckFailed(
                    f"the lock failed envgen's checks: {detail}", _check_hint(findings)
                )
        raise AssertionError("unreachable: the last round returns or raises")

    def _after_fixes(self, problem: EnvgenError) -> EnvgenError:
        if self.fixes and isinstance(problem, SpecError):
            return SpecError(
                f"{problem.message}; this came after: {'; '.join(self.fixes)}",
                problem.hint,
            )
        return problem

    # ---- the conda side --------------------------------------------------------------

    def _conda_side(self, again: bool):
        where = self.sources.channel or "conda-forge"
        self.progress(
            Step(
                f"solving the conda side for {', '.join(self.platforms)} ({where},"
                " conda-lock)" + (" again" if again else ""),
                f"conda-lock's conda solver reading {where} and solving",
            )
        )
        job = CondaJob(
            workdir=self.workdir,
            environment=conda_environment(self.conda_document, self.pins["conda"]),
            virtual_packages=virtual_packages_yaml(self.plan, self.platforms),
            platforms=self.platforms,
            channel=self.sources.channel,
            solver=self.solver,
            mapping=MAPPING_PATH,
            # environment.python is the user's to change; the catalog's pins are not
            user_names=frozenset(
                [*(spec_name(s) for s in self.plan.spec.conda_packages), "python"]
            ),
        )
        try:
            return conda_engine().solve(job)
        except SpecError as error:
            raise self._after_fixes(error) from None

    # ---- the pip side ----------------------------------------------------------------

    def _pip_side(self, conda_side, platform: str) -> tuple[PipPackage, ...]:
        requirements = (
            *self.pip_requirements,
            *(f"{n}{v}" for n, v in sorted(self.pins["pip"].items())),
        )
        if not self.pip_requirements:
            return ()
        conda = [
            p
            for p in conda_side.package
            if p.platform == platform and p.manager == "conda"
        ]
        python = next((p.version for p in conda if p.name == "python"), None)
        if python is None:
            raise SpecError(
                "environment.yml has pip packages but no python among its conda"
                f" packages for {platform}",
                "add python to the conda dependencies",
            )
        held = tuple(
            (self.names.pypi_name(p.name), p.version)
            for p in conda
            if "python" in (p.dependencies or {}) and not p.name.startswith("__")
        )
        index = self.sources.index
        self.progress(
            Step(
                f"resolving the pip side for {platform} with uv (Python {python},"
                f" {len(requirements)} requirements, {index})",
                f"uv fetching package metadata from {index} (and building the metadata"
                " of sdist-only packages)",
            )
        )
        target = PipTarget(platform, python, self.plan.min_macos)
        try:
            packages = pip_resolver().resolve(
                PipRequest(requirements, held, target, index)
            )
        except PipIndexUnreachable as error:
            raise EnvironmentProblem(
                f"could not reach the pip index {index} ({error})", OFFLINE_HINT
            ) from None
        except PipPackageMissing as error:
            raise EnvironmentProblem(
                f"the pip index {index} lacks a package the lock needs: {error}",
                "use an index that mirrors PyPI completely (--pypi-index URL), or the"
                " default https://pypi.org/simple",
            ) from None
        except CompiledSdist as error:
            raise SpecError(
                f"{', '.join(error.names)}: no wheel for {platform}, and the sdist"
                " compiles code (pip would need a compiler on the Mac)",
                "take it from conda-forge: add it to [packages] conda in envgen.toml,"
                " then envgen generate && envgen lock",
            ) from None
        return self._canonical_pip(packages.packages, platform)

    def _canonical_pip(
        self, packages: tuple[PipPackage, ...], platform: str
    ) -> tuple[PipPackage, ...]:
        from dataclasses import replace

        from envgen.lock.simple_index import IndexUnreachable

        if self.sources.keep_mirror_urls or canonical.is_pypi(self.sources.index):
            return packages
        self.progress(
            Step(
                f"finding the PyPI URL of each pip file for {platform}"
                f" ({self.sources.index} mirrors PyPI)",
                "pypi.org's simple index",
            )
        )
        files = [
            canonical.PipFileLocation(p.name, p.filename, p.url, p.sha256)
            for p in packages
        ]
        try:
            located = canonical.pypi_urls(files)
        except canonical.NotOnPyPI as error:
            raise SpecError(
                f"--pypi-index {self.sources.index} does not mirror PyPI: {error}",
                "lock with --keep-mirror-urls to keep the index's URLs in the lock, or"
                " use an index that mirrors PyPI",
            ) from None
        except IndexUnreachable as error:
            raise EnvironmentProblem(
                f"could not reach PyPI to find the pip files' canonical URLs ({error})",
                "retry where pypi.org answers, or lock with --keep-mirror-urls to keep"
                " the index's URLs",
            ) from None
        return tuple(
            replace(p, url=f.url) for p, f in zip(packages, located, strict=True)
        )

    def _pin_conda_to_pip(self, error: PipUnsolvable, conda_side) -> bool:
        """Pin the conda packages pip needs another version of; False when nothing new
        to pin."""
        changed = False
        for name, spec, requirer in error.held_conflicts:
            conda_name = self.names.conda_name(name)
            provided = next(
                (
                    p.version
                    for p in conda_side.package
                    if p.name == conda_name and p.manager == "conda"
                ),
                "?",
            )
            wanted = conda_version_spec(spec.replace(".dev0", ""))
            merged = join_version_specs(
                [self.pins["conda"].get(conda_name, ""), wanted]
            )
            if merged == self.pins["conda"].get(conda_name):
                continue
            self.pins["conda"][conda_name] = merged
            changed = True
            who = requirer or "a pip package"
            self.fixes.append(
                f"{who} needs {name}{spec.replace('.dev0', '')}, but conda provides"
                f" {conda_name} {provided}: pinned conda {conda_name} {merged} and"
                " solved again"
            )
            self.progress(Step(self.fixes[-1]))
        return changed

    # ---- the whole lock --------------------------------------------------------------

    def _assemble(
        self, conda_side, pip: dict[str, tuple[PipPackage, ...]]
    ) -> tuple[bytes, dict]:
        if self.sources.channel and not self.sources.keep_mirror_urls:
            from conda_lock.models.channel import Channel

            for package in conda_side.package:
                package.url = canonical.conda_url(package.url, self.sources.channel)
            conda_side.metadata.channels = [Channel.from_string("conda-forge")]
        entries = [
            PipEntry(platform, p.name, p.version, p.url, p.sha256, p.dependencies)
            for platform, packages in pip.items()
            for p in packages
        ]
        from_source = sorted(
            {
                f"{p.name} {p.version}"
                for packages in pip.values()
                for p in packages
                if p.sdist
            }
        )
        metadata = {
            **self.inputs,
            **self.sources.metadata(),
            "envgen_conda_pins": "; ".join(
                f"{n} {v}" for n, v in sorted(self.pins["conda"].items())
            ),
            "envgen_pip_pins": "; ".join(
                f"{n}{v}" for n, v in sorted(self.pins["pip"].items())
            ),
            "envgen_pip_from_source": "; ".join(from_source),
        }
        data = lock_bytes(assemble(conda_side, entries, metadata, self.kept))
        return data, yaml.load(data.decode("utf-8"), Loader=_YAML_LOADER)

    def _allowed_channels(self) -> tuple[str, ...]:
        if self.sources.channel and self.sources.keep_mirror_urls:
            return (CONDA_FORGE, self.sources.channel)
        return (CONDA_FORGE,)

    def _root_requirements(self) -> tuple[str, ...]:
        return (
            *self.pip_requirements,
            *(f"{n}{v}" for n, v in sorted(self.pins["pip"].items())),
        )

    def _apply_fixes(self, findings) -> bool:
        fixable = [f for f in findings if f.fix is not None]
        changed = False
        for finding in fixable:
            fix = finding.fix
            merged = join_version_specs(
                [self.pins[fix.manager].get(fix.name, ""), fix.version]
            )
            if merged != self.pins[fix.manager].get(fix.name):
                self.pins[fix.manager][fix.name] = merged
                changed = True
        if changed:
            for finding in fixable:
                fix = finding.fix
                why = "" if fix.reason in finding.message else f" ({fix.reason})"
                self.fixes.append(
                    f"{finding.message}{why}: pinned {fix.manager} {fix.spec()} and"
                    " solved again"
                )
                self.progress(Step(self.fixes[-1]))
        return changed

    def _solved(self, data: bytes, document: dict, solver: str, pip) -> Solved:
        platforms = tuple(
            document.get("metadata", {}).get("platforms") or self.platforms
        )
        counts = tuple(
            (
                p,
                sum(
                    1
                    for x in document["package"]
                    if x["platform"] == p and x["manager"] == "conda"
                ),
                sum(
                    1
                    for x in document["package"]
                    if x["platform"] == p and x["manager"] == "pip"
                ),
            )
            for p in platforms
        )
        from_source = tuple(
            sorted(
                {
                    f"{p.name} {p.version}"
                    for packages in pip.values()
                    for p in packages
                    if p.sdist
                }
            )
        )
        return Solved(data, platforms, solver, tuple(self.fixes), counts, from_source)


def _check_hint(findings) -> str:
    """What to do about the checks a lock failed: a channel problem is not a spec
    problem."""
    if all(f.rule == "channel" for f in findings):
        return (
            "the channel served its files from another URL than --channel names: pass"
            " the URL its repodata lists files under, or --keep-mirror-urls to lock its"
            " URLs as they are"
        )
    return (
        "fix envgen.toml ([packages], or the catalog line) so conda and pip agree, "
        "then envgen generate && envgen lock"
    )
