"""Read what dyld needs from a Mach-O file: its dylibs, its imports and a way to look up its exports.

Only the parts dyld binds with are read: the mach header (and a fat/universal header, choosing
the arm64 slice), LC_LOAD_DYLIB and its weak/re-export/upward/lazy variants, LC_ID_DYLIB,
LC_RPATH, LC_DYLD_INFO(_ONLY) (bind, lazy-bind and weak-bind opcodes, export trie),
LC_DYLD_EXPORTS_TRIE, LC_DYLD_CHAINED_FIXUPS (the imports table) and LC_SYMTAB (exports and
imports of images that have neither). Code, sections and relocations are never read.

Everything reads through a ``read(offset, size) -> bytes`` function, so a caller can hand in a
whole file, an mmap, or just the few ranges of a huge library it kept while streaming it out
of a wheel (``needed_ranges`` says which ones).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass

Reader = Callable[[int, int], bytes]

MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
FAT_MAGIC_64 = 0xCAFEBABF
CPU_TYPE_ARM64 = 0x0100000C
CPU_TYPE_X86_64 = 0x01000007
MH_EXECUTE, MH_DYLIB, MH_BUNDLE = 0x2, 0x6, 0x8
MH_TWOLEVEL = 0x80

LC_REQ_DYLD = 0x80000000
LC_SYMTAB = 0x2
LC_LOAD_DYLIB = 0xC
LC_ID_DYLIB = 0xD
LC_LOAD_WEAK_DYLIB = 0x18 | LC_REQ_DYLD
LC_SEGMENT_64 = 0x19
LC_RPATH = 0x1C | LC_REQ_DYLD
LC_REEXPORT_DYLIB = 0x1F | LC_REQ_DYLD
LC_LAZY_LOAD_DYLIB = 0x20
LC_DYLD_INFO = 0x22
LC_DYLD_INFO_ONLY = 0x22 | LC_REQ_DYLD
LC_LOAD_UPWARD_DYLIB = 0x23 | LC_REQ_DYLD
LC_VERSION_MIN_MACOSX = 0x24
LC_BUILD_VERSION = 0x32
LC_DYLD_EXPORTS_TRIE = 0x33 | LC_REQ_DYLD
LC_DYLD_CHAINED_FIXUPS = 0x34 | LC_REQ_DYLD

DYLIB_KINDS = {
    LC_LOAD_DYLIB: "load",
    LC_LOAD_WEAK_DYLIB: "weak",
    LC_REEXPORT_DYLIB: "reexport",
    LC_LOAD_UPWARD_DYLIB: "upward",
    LC_LAZY_LOAD_DYLIB: "lazy",
}

# Special library ordinals, as dyld's bind opcodes and chained imports spell them.
ORDINAL_SELF = 0
ORDINAL_MAIN_EXECUTABLE = -1
ORDINAL_FLAT_LOOKUP = -2
ORDINAL_WEAK_LOOKUP = -3

BIND_OPCODE_MASK, BIND_IMMEDIATE_MASK = 0xF0, 0x0F
BIND_SYMBOL_FLAGS_WEAK_IMPORT = 0x1

EXPORT_SYMBOL_FLAGS_KIND_MASK = 0x03
EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION = 0x04
EXPORT_SYMBOL_FLAGS_REEXPORT = 0x08
EXPORT_SYMBOL_FLAGS_STUB_AND_RESOLVER = 0x10

N_STAB, N_TYPE, N_EXT = 0xE0, 0x0E, 0x01
N_UNDF, N_SECT, N_INDR = 0x0, 0xE, 0xA
N_WEAK_REF = 0x40
SELF_LIBRARY_ORDINAL, DYNAMIC_LOOKUP_ORDINAL, EXECUTABLE_ORDINAL = 0x0, 0xFE, 0xFF


class MachOError(ValueError):
    """The bytes are not a Mach-O file envgen can read (or are cut short)."""


# ------------------------------------------------------------------------------------- models


@dataclass(frozen=True)
class DylibRef:
    """One dependent dylib, in load-command order (its 1-based position is its library ordinal)."""

    path: str
    kind: str  # load | weak | reexport | upward | lazy


@dataclass(frozen=True)
class Import:
    """A symbol the image asks dyld to bind, and from where."""

    name: str
    ordinal: int  # 1..N: that dylib; 0 self; -1 main executable; -2 flat lookup; -3 weak-def lookup
    weak: bool  # a weak import: dyld binds NULL when it is missing
    lazy: bool  # from the lazy-bind opcodes (bound when first called on old dyld, at load on dyld4)


@dataclass(frozen=True)
class Export:
    """What an image's export table says about one name."""

    name: str
    weak_definition: bool = False
    reexport_ordinal: int = 0  # > 0: re-exported from this dylib ordinal ...
    reexport_name: str = ""  # ... under this name ("" = the same name)


@dataclass(frozen=True)
class Ranges:
    """File ranges (offset, size) inside one slice that ``parse`` will read, beyond the header."""

    slice_offset: int
    header_size: int
    linkedit: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class MachO:
    """The dyld-relevant facts of one arm64 Mach-O slice."""

    filetype: int
    flags: int
    install_name: str | None
    dylibs: tuple[DylibRef, ...]
    rpaths: tuple[str, ...]
    imports: tuple[Import, ...]
    weak_binds: tuple[
        str, ...
    ]  # weak-def coalescing entries: never required to resolve
    exports: ExportTable
    min_macos: str | None
    fixups: str  # "chained" | "opcodes" | "symtab" | "not read"

    @property
    def two_level(self) -> bool:
        return bool(self.flags & MH_TWOLEVEL)


# ----------------------------------------------------------------------------------- leb128


def _uleb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise MachOError("truncated uleb128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _sleb(data: bytes, pos: int) -> tuple[int, int]:
    value, end = _uleb(data, pos)
    bits = 7 * (end - pos)
    if value & (1 << (bits - 1)):  # the sign is the top bit of the last group
        value -= 1 << bits
    return value, end


def _trie_node(trie: bytes, node: int) -> tuple[int, int, list[tuple[bytes, int]]]:
    """One export-trie node: its terminal size, where its terminal info starts, and its (label, child) edges."""
    terminal_size, terminal = _uleb(trie, node)
    pos = terminal + terminal_size
    count = trie[pos]
    pos += 1
    edges = []
    for _ in range(count):
        end = trie.index(b"\0", pos)
        label = trie[pos:end]
        child, pos = _uleb(trie, end + 1)
        edges.append((label, child))
    return terminal_size, terminal, edges


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise MachOError("unterminated string")
    return data[pos:end].decode("utf-8", "replace"), end + 1


# ------------------------------------------------------------------------------ export tables


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
            # not there yet, or a node that is not terminal itself: the newer linker (ld-prime)
            # hangs a name that is a prefix of another off an empty edge label, which dyld's
            # trieWalk follows like any other edge
            for label, child in edges:
                if wanted.startswith(label, matched):
                    node, matched = child, matched + len(label)
                    break
            else:
                return None

    @staticmethod
    def _terminal(name: str, trie: bytes, pos: int) -> Export:
        flags, pos = _uleb(trie, pos)
        if flags & EXPORT_SYMBOL_FLAGS_REEXPORT:
            ordinal, pos = _uleb(trie, pos)
            imported, _ = _cstring(trie, pos)
            return Export(
                name,
                bool(flags & EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION),
                ordinal,
                imported,
            )
        return Export(name, bool(flags & EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION))

    def names(self) -> Iterator[str]:
        """Every exported name (a depth-first walk; for tests and reports, not for lookups)."""
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


# ------------------------------------------------------------------------------------ headers


def slice_offset(
    read: Reader, size: int, cputype: int = CPU_TYPE_ARM64
) -> tuple[int, int]:
    """(offset, size) of the thin Mach-O for ``cputype``: the whole file, or one slice of a fat one."""
    head = read(0, 8)
    if len(head) < 8:
        raise MachOError("file too short for a Mach-O header")
    magic_be = struct.unpack(">I", head[:4])[0]
    if magic_be in (FAT_MAGIC, FAT_MAGIC_64):
        count = struct.unpack(">I", head[4:8])[0]
        if count > 64:
            raise MachOError(f"fat header claims {count} slices")
        entry = 20 if magic_be == FAT_MAGIC else 32
        table = read(8, entry * count)
        found = []
        for index in range(count):
            raw = table[index * entry : (index + 1) * entry]
            if magic_be == FAT_MAGIC:
                cpu, _sub, offset, length, _align = struct.unpack(">iiIII", raw)
            else:
                cpu, _sub, offset, length, _align, _reserved = struct.unpack(
                    ">iiQQII", raw
                )
            found.append(cpu & 0xFFFFFFFF)
            if cpu & 0xFFFFFFFF == cputype:
                return offset, length
        raise MachOError(
            f"universal file without an arm64 slice (cpu types {', '.join(hex(c) for c in found)})"
        )
    magic = struct.unpack("<I", head[:4])[0]
    if magic != MH_MAGIC_64:
        raise MachOError(f"not a 64-bit little-endian Mach-O (magic {head[:4].hex()})")
    cpu = struct.unpack("<I", head[4:8])[0]
    if cpu != cputype:
        raise MachOError(f"Mach-O for cpu type {hex(cpu)}, not arm64")
    return 0, size


def _load_commands(header: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    if len(header) < 32:
        raise MachOError("truncated mach header")
    magic, _cpu, _sub, filetype, ncmds, sizeofcmds, flags, _reserved = struct.unpack(
        "<IiiIIIII", header[:32]
    )
    if magic != MH_MAGIC_64:
        raise MachOError("not a 64-bit Mach-O")
    if 32 + sizeofcmds > len(header):
        raise MachOError("truncated load commands")
    commands, pos = [], 32
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", header, pos)
        if cmdsize < 8 or pos + cmdsize > 32 + sizeofcmds:
            raise MachOError(f"load command {hex(cmd)} has a bad size {cmdsize}")
        commands.append((cmd, header[pos : pos + cmdsize]))
        pos += cmdsize
    return filetype, flags, commands


def header_size(first_bytes: bytes) -> int:
    """How many bytes from the start of a thin slice hold the header and load commands."""
    if len(first_bytes) < 32:
        raise MachOError("truncated mach header")
    return 32 + struct.unpack_from("<I", first_bytes, 20)[0]


def needed_ranges(header: bytes, *, with_imports: bool) -> tuple[tuple[int, int], ...]:
    """The (offset, size) ranges inside a thin slice that ``parse`` reads after the load commands.

    Without imports only the export table is needed (the symbol table only when there is no trie).
    """
    _filetype, _flags, commands = _load_commands(header)
    ranges: list[tuple[int, int]] = []
    trie = False
    symtab: tuple[int, int] | None = None
    for cmd, body in commands:
        if cmd in (LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
            fields = struct.unpack_from("<10I", body, 8)
            bind, lazy, weak, export = (
                fields[2:4],
                fields[6:8],
                fields[4:6],
                fields[8:10],
            )
            if export[1]:
                ranges.append(export)
                trie = True
            if with_imports:
                ranges.extend(r for r in (bind, lazy, weak) if r[1])
        elif cmd == LC_DYLD_EXPORTS_TRIE:
            off, size = struct.unpack_from("<II", body, 8)
            if size:
                ranges.append((off, size))
                trie = True
        elif cmd == LC_DYLD_CHAINED_FIXUPS and with_imports:
            off, size = struct.unpack_from("<II", body, 8)
            if size:
                ranges.append((off, size))
        elif cmd == LC_SYMTAB:
            symoff, nsyms, stroff, strsize = struct.unpack_from("<4I", body, 8)
            symtab = (symoff, nsyms * 16), (stroff, strsize)  # type: ignore[assignment]
    if symtab is not None and (with_imports or not trie):
        ranges.extend(r for r in symtab if r[1])  # type: ignore[union-attr]
    return tuple(ranges)


# ------------------------------------------------------------------------------------- parsing


def parse(read: Reader, size: int, *, with_imports: bool = True) -> MachO:
    """The dyld facts of the arm64 slice of a Mach-O file (thin or universal).

    ``with_imports=False`` reads only the load commands and the export table (a provider library).
    """
    base, _length = slice_offset(read, size)
    first = read(base, 32)
    header = read(base, header_size(first))
    filetype, flags, commands = _load_commands(header)

    def at(offset: int, length: int) -> bytes:
        data = read(base + offset, length)
        if len(data) != length:
            raise MachOError(
                f"truncated file: wanted {length} bytes at {offset}, got {len(data)}"
            )
        return data

    install_name = None
    dylibs: list[DylibRef] = []
    rpaths: list[str] = []
    min_macos = None
    dyld_info = exports_trie = chained = symtab = None
    for cmd, body in commands:
        if cmd in DYLIB_KINDS or cmd == LC_ID_DYLIB:
            name_offset = struct.unpack_from("<I", body, 8)[0]
            name, _ = _cstring(body, name_offset)
            if cmd == LC_ID_DYLIB:
                install_name = name
            else:
                dylibs.append(DylibRef(name, DYLIB_KINDS[cmd]))
        elif cmd == LC_RPATH:
            rpaths.append(_cstring(body, struct.unpack_from("<I", body, 8)[0])[0])
        elif cmd in (LC_DYLD_INFO, LC_DYLD_INFO_ONLY):
            dyld_info = struct.unpack_from("<10I", body, 8)
        elif cmd == LC_DYLD_EXPORTS_TRIE:
            exports_trie = struct.unpack_from("<II", body, 8)
        elif cmd == LC_DYLD_CHAINED_FIXUPS:
            chained = struct.unpack_from("<II", body, 8)
        elif cmd == LC_SYMTAB:
            symtab = struct.unpack_from("<4I", body, 8)
        elif cmd == LC_BUILD_VERSION:
            platform, minos = struct.unpack_from("<II", body, 8)
            if platform == 1:  # macOS
                min_macos = _version(minos)
        elif cmd == LC_VERSION_MIN_MACOSX:
            min_macos = _version(struct.unpack_from("<I", body, 8)[0])

    imports: list[Import] = []
    weak_binds: list[str] = []
    fixups = "symtab"
    if not with_imports:
        fixups = "not read"
    elif chained is not None and chained[1]:
        imports = _chained_imports(at(*chained))
        fixups = "chained"
    elif dyld_info is not None:
        (
            _rebase_off,
            _rebase_size,
            bind_off,
            bind_size,
            weak_off,
            weak_size,
            lazy_off,
            lazy_size,
        ) = dyld_info[:8]
        if bind_size:
            imports.extend(_bind_imports(at(bind_off, bind_size), lazy=False))
        if lazy_size:
            imports.extend(_bind_imports(at(lazy_off, lazy_size), lazy=True))
        if weak_size:
            weak_binds = sorted(
                {
                    i.name
                    for i in _bind_imports(
                        at(weak_off, weak_size), lazy=False, weak_stream=True
                    )
                }
            )
        fixups = "opcodes"

    symbols: tuple[dict[str, bool], list[Import]] | None = None
    need_symtab_imports = with_imports and fixups == "symtab"
    trie_range = exports_trie or (
        (dyld_info[8], dyld_info[9]) if dyld_info is not None else None
    )
    if symtab is not None and (
        need_symtab_imports or not (trie_range and trie_range[1])
    ):
        symoff, nsyms, stroff, strsize = symtab
        symbols = _symtab(at(symoff, nsyms * 16), at(stroff, strsize))
        if need_symtab_imports:
            imports = symbols[1]

    if trie_range and trie_range[1]:
        exports: ExportTable = ExportTrie(at(*trie_range))
    else:
        exports = SymtabExports(symbols[0] if symbols else {})

    if not flags & MH_TWOLEVEL:
        # a flat-namespace image: every symbol is looked up in all loaded images
        imports = [
            i if i.ordinal <= 0 else Import(i.name, ORDINAL_FLAT_LOOKUP, i.weak, i.lazy)
            for i in imports
        ]
    return MachO(
        filetype=filetype,
        flags=flags,
        install_name=install_name,
        dylibs=tuple(dylibs),
        rpaths=tuple(rpaths),
        imports=tuple(_dedupe(imports)),
        weak_binds=tuple(weak_binds),
        exports=exports,
        min_macos=min_macos,
        fixups=fixups,
    )


def parse_bytes(data: bytes, *, with_imports: bool = True) -> MachO:
    """``parse`` over bytes (or an mmap) held whole."""
    view = memoryview(data)
    return parse(
        lambda offset, length: bytes(view[offset : offset + length]),
        len(data),
        with_imports=with_imports,
    )


def _version(packed: int) -> str:
    major, minor, patch = packed >> 16, (packed >> 8) & 0xFF, packed & 0xFF
    return f"{major}.{minor}" + (f".{patch}" if patch else "")


def _dedupe(imports: list[Import]) -> list[Import]:
    # the same symbol bound at many places is one import; non-lazy wins over lazy, strong over weak
    merged: dict[tuple[str, int], Import] = {}
    for item in imports:
        key = (item.name, item.ordinal)
        seen = merged.get(key)
        if seen is None:
            merged[key] = item
        else:
            merged[key] = Import(
                item.name,
                item.ordinal,
                seen.weak and item.weak,
                seen.lazy and item.lazy,
            )
    return list(merged.values())


def _special_ordinal(immediate: int) -> int:
    return 0 if immediate == 0 else (immediate | 0xF0) - 0x100


def _bind_imports(
    stream: bytes, *, lazy: bool, weak_stream: bool = False
) -> list[Import]:
    """The (ordinal, symbol, weak) of every DO_BIND in a bind-opcode stream."""
    found: list[Import] = []
    ordinal, name, weak = 0, "", False
    pos, end = 0, len(stream)
    while pos < end:
        byte = stream[pos]
        pos += 1
        opcode, immediate = byte & BIND_OPCODE_MASK, byte & BIND_IMMEDIATE_MASK
        if (
            opcode == 0x00
        ):  # DONE: ends the stream, except that lazy info is a run of entries
            if lazy:
                continue
            break
        if opcode == 0x10:  # SET_DYLIB_ORDINAL_IMM
            ordinal = immediate
        elif opcode == 0x20:  # SET_DYLIB_ORDINAL_ULEB
            ordinal, pos = _uleb(stream, pos)
        elif opcode == 0x30:  # SET_DYLIB_SPECIAL_IMM
            ordinal = _special_ordinal(immediate)
        elif opcode == 0x40:  # SET_SYMBOL_TRAILING_FLAGS_IMM
            weak = bool(immediate & BIND_SYMBOL_FLAGS_WEAK_IMPORT)
            name, pos = _cstring(stream, pos)
        elif opcode == 0x50:  # SET_TYPE_IMM
            pass
        elif opcode == 0x60:  # SET_ADDEND_SLEB
            _, pos = _sleb(stream, pos)
        elif opcode in (0x70, 0x80):  # SET_SEGMENT_AND_OFFSET_ULEB, ADD_ADDR_ULEB
            _, pos = _uleb(stream, pos)
        elif opcode in (0x90, 0xB0):  # DO_BIND, DO_BIND_ADD_ADDR_IMM_SCALED
            found.append(
                Import(
                    name, ORDINAL_WEAK_LOOKUP if weak_stream else ordinal, weak, lazy
                )
            )
        elif opcode == 0xA0:  # DO_BIND_ADD_ADDR_ULEB
            _, pos = _uleb(stream, pos)
            found.append(
                Import(
                    name, ORDINAL_WEAK_LOOKUP if weak_stream else ordinal, weak, lazy
                )
            )
        elif opcode == 0xC0:  # DO_BIND_ULEB_TIMES_SKIPPING_ULEB
            _, pos = _uleb(stream, pos)
            _, pos = _uleb(stream, pos)
            found.append(
                Import(
                    name, ORDINAL_WEAK_LOOKUP if weak_stream else ordinal, weak, lazy
                )
            )
        elif opcode == 0xD0:  # THREADED
            if immediate == 0x00:  # SET_BIND_ORDINAL_TABLE_SIZE_ULEB
                _, pos = _uleb(stream, pos)
            elif (
                immediate == 0x01
            ):  # APPLY: the binds made so far are the table; nothing new here
                pass
            else:
                raise MachOError(f"unknown threaded bind sub-opcode {immediate}")
        else:
            raise MachOError(f"unknown bind opcode {hex(opcode)}")
    return [i for i in found if i.name]


def _chained_imports(blob: bytes) -> list[Import]:
    """The imports table of LC_DYLD_CHAINED_FIXUPS (every entry is bound when the image loads)."""
    if len(blob) < 28:
        raise MachOError("truncated chained fixups header")
    (
        _version,
        _starts,
        imports_offset,
        symbols_offset,
        count,
        imports_format,
        symbols_format,
    ) = struct.unpack_from("<7I", blob, 0)
    if symbols_format != 0:
        raise MachOError("compressed chained-fixup symbol names are not supported")
    found = []
    for index in range(count):
        if imports_format == 1:  # DYLD_CHAINED_IMPORT
            raw = struct.unpack_from("<I", blob, imports_offset + 4 * index)[0]
            ordinal, weak, name_offset = raw & 0xFF, (raw >> 8) & 1, raw >> 9
            special = ordinal >= 0xF0
            ordinal = ordinal - 0x100 if special else ordinal
        elif imports_format == 2:  # DYLD_CHAINED_IMPORT_ADDEND
            raw = struct.unpack_from("<I", blob, imports_offset + 8 * index)[0]
            ordinal, weak, name_offset = raw & 0xFF, (raw >> 8) & 1, raw >> 9
            ordinal = ordinal - 0x100 if ordinal >= 0xF0 else ordinal
        elif imports_format == 3:  # DYLD_CHAINED_IMPORT_ADDEND64
            raw = struct.unpack_from("<Q", blob, imports_offset + 16 * index)[0]
            ordinal, weak, name_offset = raw & 0xFFFF, (raw >> 16) & 1, raw >> 32
            ordinal = ordinal - 0x10000 if ordinal >= 0xFFF0 else ordinal
        else:
            raise MachOError(f"unknown chained imports format {imports_format}")
        name, _ = _cstring(blob, symbols_offset + name_offset)
        found.append(Import(name, ordinal, bool(weak), False))
    return found


def _symtab(nlists: bytes, strings: bytes) -> tuple[dict[str, bool], list[Import]]:
    """Defined external symbols (name -> weak definition) and undefined ones with their ordinals."""
    exported: dict[str, bool] = {}
    imports: list[Import] = []
    for index in range(len(nlists) // 16):
        strx, n_type, _sect, n_desc, n_value = struct.unpack_from(
            "<IBBHQ", nlists, index * 16
        )
        if n_type & N_STAB or not n_type & N_EXT:
            continue
        name, _ = _cstring(strings, strx) if strx < len(strings) else ("", 0)
        if not name:
            continue
        kind = n_type & N_TYPE
        if kind in (N_SECT, N_INDR):
            exported[name] = bool(n_desc & 0x80)  # N_WEAK_DEF
        elif kind == N_UNDF and n_value == 0:
            library = (n_desc >> 8) & 0xFF
            ordinal = {
                SELF_LIBRARY_ORDINAL: ORDINAL_SELF,
                DYNAMIC_LOOKUP_ORDINAL: ORDINAL_FLAT_LOOKUP,
                EXECUTABLE_ORDINAL: ORDINAL_MAIN_EXECUTABLE,
            }.get(library, library)
            imports.append(Import(name, ordinal, bool(n_desc & N_WEAK_REF), False))
    return exported, imports
