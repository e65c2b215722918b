"""An image's exports, looked up the way dyld does: in its export trie
(LC_DYLD_EXPORTS_TRIE or the export part of LC_DYLD_INFO), or in its external defined
nlist symbols when it has no trie."""

from __future__ import annotations

from collections.abc import Iterator

from envgen.abi.machoformat import (
    EXPORT_SYMBOL_FLAGS_REEXPORT,
    EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION,
    Export,
    MachOError,
    read_cstring,
    read_uleb,
)


def _trie_node(trie: bytes, node: int) -> tuple[int, int, list[tuple[bytes, int]]]:
    """One export-trie node: its terminal size, where its terminal info starts, and its
    (label, child) edges."""
    terminal_size, terminal = read_uleb(trie, node)
    pos = terminal + terminal_size
    count = trie[pos]
    pos += 1
    edges = []
    for _ in range(count):
        end = trie.index(b"\0", pos)
        label = trie[pos:end]
        child, pos = read_uleb(trie, end + 1)
        edges.append((label, child))
    return terminal_size, terminal, edges


class ExportTable:
    """Answers ``lookup(name)`` without building a set of every exported name."""

    def lookup(self, name: str) -> Export | None:  # pragma: no cover - interface
        raise NotImplementedError

    def names(self) -> Iterator[str]:  # pragma: no cover - interface
        raise NotImplementedError


class ExportTrie(ExportTable):
    """dyld's export trie (LC_DYLD_EXPORTS_TRIE or the export part of LC_DYLD_INFO)."""

    def __init__(self, trie: bytes) -> None:
        self.trie = bytes(trie)

    def lookup(self, name: str) -> Export | None:
        trie, wanted = self.trie, name.encode("utf-8")
        if not trie:
            return None
        node, matched, visited = 0, 0, 0
        while True:
            visited += 1
            if visited > 100_000 or node >= len(trie):
                raise MachOError("export trie loops or points outside itself")
            terminal_size, terminal, edges = _trie_node(trie, node)
            if matched == len(wanted) and terminal_size:
                return self._terminal(name, trie, terminal)
            # not there yet, or a node that is not terminal itself: the newer linker
            # (ld-prime) hangs a name that is a prefix of another off an empty edge
            # label, which dyld's trieWalk follows like any other edge
            for label, child in edges:
                if wanted.startswith(label, matched):
                    node, matched = child, matched + len(label)
                    break
            else:
                return None

    @staticmethod
    def _terminal(name: str, trie: bytes, pos: int) -> Export:
        flags, pos = read_uleb(trie, pos)
        if flags & EXPORT_SYMBOL_FLAGS_REEXPORT:
            ordinal, pos = read_uleb(trie, pos)
            imported, _ = read_cstring(trie, pos)
            return Export(
                name,
                bool(flags & EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION),
                ordinal,
                imported,
            )
        return Export(name, bool(flags & EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION))

    def names(self) -> Iterator[str]:
        """Every exported name (a depth-first walk; for tests and reports, not for
        lookups)."""
        trie = self.trie
        if not trie:
            return
        stack = [(0, b"")]
        visited = 0
        while stack:
            node, prefix = stack.pop()
            visited += 1
            if visited > 50_000_000 or node >= len(trie):
                raise MachOError("export trie loops or points outside itself")
            terminal_size, _, edges = _trie_node(trie, node)
            if terminal_size:
                yield prefix.decode("utf-8", "replace")
            stack.extend((child, prefix + label) for label, child in edges)


class SymtabExports(ExportTable):
    """Exports of an image without a trie: its external defined nlist symbols."""

    def __init__(self, exported: dict[str, bool]) -> None:
        self.exported = exported  # name -> weak definition

    def lookup(self, name: str) -> Export | None:
        if name not in self.exported:
            return None
        return Export(name, self.exported[name])

    def names(self) -> Iterator[str]:
        return iter(sorted(self.exported))
