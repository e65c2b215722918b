"""Would dyld bind every symbol a TensorFlow plugin imports from TensorFlow? Decided
from files alone.

The model follows dyld4 (macOS 12 and later; Loader::resolveSymbol / hasExportedSymbol):

- A two-level import (library ordinal N) is looked up in the N-th dependent dylib: in
  its export table, following a per-symbol re-export entry to the dylib it names, then
  in the dylibs it re-exports whole (LC_REEXPORT_DYLIB), recursively.
- A flat-lookup import (ordinal -2, ``-undefined dynamic_lookup``) is looked up in every
  image already loaded and not hidden (TensorFlow's libraries, loaded by
  ``import tensorflow``), then in the plugin itself; per-symbol re-export entries are
  followed, whole re-exported dylibs not.
- A weak import may be missing (dyld binds NULL). Weak-definition coalescing entries
  never fail.
- A missing symbol fails the ``dlopen`` with "Symbol not found", lazy or not: TensorFlow
  opens plugins with ``RTLD_NOW | RTLD_LOCAL`` and dyld4 then binds lazy pointers at
  load too (``allowLazyBinds = (mode & RTLD_NOW) == 0``). Only when a library is opened
  without RTLD_NOW would a missing lazy symbol load and abort at its first call
  (``__dyld_missing_symbol_abort``); ``resolve(..., rtld_now=False)`` models that.
- ``@rpath/X`` is matched first against the install names of images already loaded (that
  is how the plugin finds ``@rpath/_pywrap_tensorflow_internal.so``: its own LC_RPATH
  points into a Bazel tree that does not exist once installed), then searched along the
  LC_RPATHs of the loading chain, ``@loader_path`` being the image's directory inside
  site-packages.

Imports bound to system libraries (libSystem, libc++, Metal, Foundation...) or to the
main executable (Python) are counted, never checked: their providers are not in the
wheels.
"""

from __future__ import annotations

import posixpath
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from envgen.abi import macho
from envgen.abi.machoformat import (
    ORDINAL_FLAT_LOOKUP,
    ORDINAL_MAIN_EXECUTABLE,
    ORDINAL_SELF,
    ORDINAL_WEAK_LOOKUP,
    Import,
)

SYSTEM_PREFIXES = ("/usr/lib/", "/System/Library/", "/Library/Apple/")
# A flat-lookup import that no TensorFlow image exports is only called missing when the
# name is TensorFlow's own (or a library TensorFlow bundles); anything else
# (objc_msgSend, Py_*...) comes from a system library or Python, which a wheel cannot
# show.
_TENSORFLOW_C_PREFIXES = (
    "_TF_",
    "_TFE_",
    "_TFL_",
    "_TSL_",
    "_TF",
    "_Tf",
    "_XLA_",
    "_PJRT_",
    "_SE_",
)
_TENSORFLOW_CXX_NAMESPACES = (
    "10tensorflow",
    "3tsl",
    "6google8protobuf",
    "4absl",
    "5Eigen",
    "3xla",
    "4mlir",
    "16stream_executor",
    "8tensorflow",
)


def tensorflow_owned(symbol: str) -> bool:
    """Whether a symbol name belongs to TensorFlow or a library it bundles (absl,
    protobuf, Eigen...)."""
    if symbol.startswith(_TENSORFLOW_C_PREFIXES):
        return True
    if symbol.startswith("__Z"):
        body = symbol[3:]
        for marker in ("NK", "N", "TV", "TI", "TS", "ZN", ""):
            if body.startswith(marker):
                rest = body[len(marker) :]
                if rest.startswith(_TENSORFLOW_CXX_NAMESPACES):
                    return True
        return any(
            ns in symbol
            for ns in ("tensorflow", "protobuf", "absl", "Eigen", "3tsl", "3xla")
        )
    return False


@dataclass(frozen=True, eq=False)
class Image:
    """One Mach-O as it would sit in site-packages (``path`` relative to site-packages);
    compared by identity."""

    path: str
    macho: macho.MachO


@dataclass(frozen=True)
class SymbolBinding:
    """One import of the plugin and what happened to it."""

    symbol: str
    binding: str  # "two-level" | "flat" | "self" | "weak-def" | "main-executable"
    expected_in: str  # the library it is bound to, or "flat namespace"
    lazy: bool
    weak: bool
    status: str  # "resolved" | "missing" | "weak-missing" | "not-checked"
    provider: str = ""  # which image exported it (resolved)
    # missing, and the dlopen itself fails (else: abort at first call)
    fails_at_load: bool = False


@dataclass(frozen=True)
class LibraryProblem:
    """A dependent dylib of the plugin that dyld could not find."""

    load_path: str
    kind: str
    detail: str


@dataclass(frozen=True)
class Resolution:
    """Every plugin import, and the libraries dyld would have loaded."""

    findings: tuple[SymbolBinding, ...]
    loaded: tuple[str, ...]  # TensorFlow images in load order (site-packages paths)
    library_problems: tuple[LibraryProblem, ...] = ()
    # (library, number of imports) outside TensorFlow
    not_checked: tuple[tuple[str, int], ...] = ()

    @property
    def missing(self) -> tuple[SymbolBinding, ...]:
        return tuple(f for f in self.findings if f.status == "missing")

    @property
    def checked(self) -> tuple[SymbolBinding, ...]:
        return tuple(f for f in self.findings if f.status != "not-checked")

    @property
    def compatible(self) -> bool:
        return not self.missing and not any(
            p.kind != "weak" for p in self.library_problems
        )


@dataclass
class _Process:
    """The images of one process as dyld would have them, and how dylib load paths
    resolve."""

    # site-packages path -> image, for every Mach-O we may load
    images: Mapping[str, Image]
    # fetch an image by site-packages path (None: not there)
    load_image: Callable[[str], Image | None]
    loaded: list[Image] = field(default_factory=list)

    def image_at(self, path: str) -> Image | None:
        if path in self.images:
            return self.images[path]
        return self.load_image(path)

    def locate(
        self, load_path: str, loader: Image, rpath_chain: Sequence[Image]
    ) -> tuple[Image | None, str]:
        """The image a load command names, or None with the reason dyld would give."""
        if load_path.startswith(SYSTEM_PREFIXES):
            return None, "system"
        # dyld reuses an already loaded image with that install name
        for image in self.loaded:
            if image.macho.install_name == load_path:
                return image, ""
        loader_dir = posixpath.dirname(loader.path)
        # None: a path that climbs out of site-packages (no wheel file can be there)
        candidates: list[str | None] = []
        if load_path.startswith("@loader_path/"):
            candidates.append(_join(loader_dir, load_path[len("@loader_path/") :]))
        elif load_path.startswith("@rpath/"):
            leaf = load_path[len("@rpath/") :]
            for owner in (*rpath_chain, loader):
                for rpath in owner.macho.rpaths:
                    if rpath.startswith("@loader_path"):
                        base = _join(
                            posixpath.dirname(owner.path),
                            rpath[len("@loader_path") :].lstrip("/"),
                        )
                        if base is not None:
                            candidates.append(_join(base, leaf))
        elif load_path.startswith("@executable_path/"):
            return None, "relative to the Python executable, outside the wheels"
        for candidate in candidates:
            if candidate is None:
                continue
            found = self.image_at(candidate)
            if found is not None:
                return found, ""
        return (
            None,
            (
                "not found (tried"
                f" {', '.join(c for c in candidates if c) or 'no search path'})"
            ),
        )


def _join(base: str, relative: str) -> str | None:
    joined = (
        posixpath.normpath(posixpath.join(base, relative))
        if relative
        else posixpath.normpath(base)
    )
    return None if joined.startswith("..") else joined


def load_closure(process: _Process, root: Image) -> list[LibraryProblem]:
    """Load ``root`` and its dependents breadth first, as dyld does; record what could
    not be found."""
    problems: list[LibraryProblem] = []
    queue: list[tuple[Image, tuple[Image, ...]]] = [(root, ())]
    if root not in process.loaded:
        process.loaded.append(root)
    while queue:
        image, chain = queue.pop(0)
        for dylib in image.macho.dylibs:
            if dylib.kind == "upward":
                continue
            found, reason = process.locate(dylib.path, image, chain)
            if found is None:
                if reason != "system":
                    problems.append(
                        LibraryProblem(
                            dylib.path, dylib.kind, f"{image.path}: {reason}"
                        )
                    )
                continue
            if found not in process.loaded:
                process.loaded.append(found)
                queue.append((found, (*chain, image)))
    return problems


def _dependent(process: _Process, image: Image, ordinal: int) -> Image | None:
    if not 1 <= ordinal <= len(image.macho.dylibs):
        return None
    found, _ = process.locate(image.macho.dylibs[ordinal - 1].path, image, ())
    return found


def lookup(
    process: _Process,
    image: Image,
    name: str,
    *,
    static_link: bool,
    seen: frozenset[str] = frozenset(),
) -> Image | None:
    """The image that really provides ``name`` when looked up in ``image`` (dyld's
    hasExportedSymbol)."""
    key = f"{image.path}\0{name}"
    if key in seen:
        return None
    seen = seen | {key}
    export = image.macho.exports.lookup(name)
    if export is not None:
        if not export.reexport_ordinal:
            return image
        target = _dependent(process, image, export.reexport_ordinal)
        if target is None:
            return None
        return lookup(
            process,
            target,
            export.reexport_name or name,
            static_link=static_link,
            seen=seen,
        )
    if static_link:
        for ordinal, dylib in enumerate(image.macho.dylibs, start=1):
            if dylib.kind == "reexport":
                target = _dependent(process, image, ordinal)
                if target is not None:
                    found = lookup(process, target, name, static_link=True, seen=seen)
                    if found is not None:
                        return found
    return None


def resolve(
    plugin: Image,
    roots: Sequence[Image],
    load_image: Callable[[str], Image | None],
    *,
    rtld_now: bool = True,
) -> Resolution:
    """Load TensorFlow's ``roots`` (what ``import tensorflow`` loads), then bind every
    plugin import.

    ``rtld_now``: the plugin is opened with RTLD_NOW (TensorFlow's loader does), so lazy
    binds too must resolve during the dlopen.
    """
    process = _Process(images={}, load_image=load_image)
    problems: list[LibraryProblem] = []
    for root in roots:
        problems.extend(load_closure(process, root))
    tensorflow_images = list(process.loaded)
    plugin_deps: dict[int, tuple[Image | None, str]] = {}
    for ordinal, dylib in enumerate(plugin.macho.dylibs, start=1):
        found, reason = process.locate(dylib.path, plugin, ())
        plugin_deps[ordinal] = (found, reason)
        if found is None and reason != "system":
            problems.append(
                LibraryProblem(dylib.path, dylib.kind, f"{plugin.path}: {reason}")
            )
        elif found is not None and found not in process.loaded:
            problems.extend(load_closure(process, found))
    findings: list[SymbolBinding] = []
    not_checked: dict[str, int] = {}
    for item in sorted(plugin.macho.imports, key=lambda i: (i.name, i.ordinal)):
        finding = _bind(process, plugin, tensorflow_images, plugin_deps, item)
        if finding.status == "missing":
            finding = replace(finding, fails_at_load=rtld_now or not finding.lazy)
        if finding.status == "not-checked":
            not_checked[finding.expected_in] = (
                not_checked.get(finding.expected_in, 0) + 1
            )
        findings.append(finding)
    return Resolution(
        findings=tuple(findings),
        loaded=tuple(image.path for image in process.loaded),
        library_problems=tuple(problems),
        not_checked=tuple(sorted(not_checked.items())),
    )


def _bind(
    process: _Process,
    plugin: Image,
    tensorflow_images: Sequence[Image],
    plugin_deps: Mapping[int, tuple[Image | None, str]],
    item: Import,
) -> SymbolBinding:
    def outcome(binding: str, expected: str, provider: Image | None) -> SymbolBinding:
        if provider is not None:
            status = "resolved"
        else:
            status = "weak-missing" if item.weak else "missing"
        return SymbolBinding(
            item.name,
            binding,
            expected,
            item.lazy,
            item.weak,
            status,
            provider.path if provider else "",
        )

    if item.ordinal > 0:
        dylib = (
            plugin.macho.dylibs[item.ordinal - 1]
            if item.ordinal <= len(plugin.macho.dylibs)
            else None
        )
        if dylib is None:
            return SymbolBinding(
                item.name,
                "two-level",
                f"ordinal {item.ordinal}",
                item.lazy,
                item.weak,
                "missing",
            )
        target, reason = plugin_deps[item.ordinal]
        if target is None:
            if reason == "system":
                return SymbolBinding(
                    item.name,
                    "two-level",
                    dylib.path,
                    item.lazy,
                    item.weak,
                    "not-checked",
                )
            return outcome("two-level", dylib.path, None)
        return outcome(
            "two-level",
            target.path,
            lookup(process, target, item.name, static_link=True),
        )
    if item.ordinal == ORDINAL_SELF:
        return outcome(
            "self", plugin.path, lookup(process, plugin, item.name, static_link=True)
        )
    if item.ordinal == ORDINAL_MAIN_EXECUTABLE:
        return SymbolBinding(
            item.name,
            "main-executable",
            "the Python executable",
            item.lazy,
            item.weak,
            "not-checked",
        )
    if item.ordinal == ORDINAL_FLAT_LOOKUP:
        for image in (*tensorflow_images, plugin):
            provider = lookup(process, image, item.name, static_link=False)
            if provider is not None:
                return outcome("flat", "flat namespace", provider)
        if not tensorflow_owned(item.name):
            return SymbolBinding(
                item.name,
                "flat",
                "flat namespace, outside TensorFlow",
                item.lazy,
                item.weak,
                "not-checked",
            )
        return outcome("flat", "flat namespace", None)
    if item.ordinal == ORDINAL_WEAK_LOOKUP:
        for image in (*tensorflow_images, plugin):
            provider = lookup(process, image, item.name, static_link=False)
            if provider is not None:
                return outcome("weak-def", "weak-definition lookup", provider)
        return SymbolBinding(
            item.name,
            "weak-def",
            "weak-definition lookup",
            item.lazy,
            item.weak,
            "not-checked",
        )
    return SymbolBinding(
        item.name, "unknown", f"ordinal {item.ordinal}", item.lazy, item.weak, "missing"
    )


# --------------------------------------------------------------------------- demangling


def demangle(names: Sequence[str], *, tool: str | None = None) -> dict[str, str]:
    """Readable C++ names for Mach-O symbols (one leading '_' dropped), via c++filt when
    installed.

    Names that are not C++ or cannot be demangled map to themselves; without a c++filt
    (llvm-cxxfilt) on PATH every name maps to itself.
    """
    wanted = [n for n in dict.fromkeys(names) if n.startswith("__Z")]
    result = {n: n for n in names}
    program = tool or shutil.which("c++filt") or shutil.which("llvm-cxxfilt")
    if not wanted or program is None:
        return result
    try:
        done = subprocess.run(
            [program],
            input="\n".join(n[1:] for n in wanted) + "\n",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return result
    lines = done.stdout.splitlines()
    if done.returncode != 0 or len(lines) != len(wanted):
        return result
    for name, pretty in zip(wanted, lines, strict=False):
        if pretty and pretty != name[1:]:
            result[name] = pretty
    return result
