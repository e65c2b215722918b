"""Read what dyld needs from a Mach-O file: its dylibs, its imports and a way to look up
its exports.

Only the parts dyld binds with are read: the mach header (and a fat/universal header,
choosing the arm64 slice), LC_LOAD_DYLIB and its weak/re-export/upward/lazy variants,
LC_ID_DYLIB, LC_RPATH, LC_DYLD_INFO(_ONLY) (bind, lazy-bind and weak-bind opcodes,
export trie), LC_DYLD_EXPORTS_TRIE, LC_DYLD_CHAINED_FIXUPS (the imports table) and
LC_SYMTAB (exports and imports of images that have neither). Code, sections and
relocations are never read. The format's constants and records are in ``machoformat``;
the export tables in ``machoexports``; the import decoders in ``machoimports``.

Everything reads through a ``read(offset, size) -> bytes`` function, so a caller can
hand in a whole file, an mmap, or just the few ranges of a huge library it kept while
streaming it out of a wheel (``needed_ranges`` says which ones).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from envgen.abi.machoexports import ExportTable, ExportTrie, SymtabExports
from envgen.abi.machoformat import (
    CPU_TYPE_ARM64,
    DYLIB_KINDS,
    FAT_MAGIC,
    FAT_MAGIC_64,
    LC_BUILD_VERSION,
    LC_DYLD_CHAINED_FIXUPS,
    LC_DYLD_EXPORTS_TRIE,
    LC_DYLD_INFO,
    LC_DYLD_INFO_ONLY,
    LC_ID_DYLIB,
    LC_RPATH,
    LC_SYMTAB,
    LC_VERSION_MIN_MACOSX,
    MH_MAGIC_64,
    MH_TWOLEVEL,
    ORDINAL_FLAT_LOOKUP,
    DylibRef,
    Import,
    MachOError,
    Reader,
    read_cstring,
)
from envgen.abi.machoimports import bind_imports, chained_imports, symtab_symbols


@dataclass(frozen=True)
class MachO:
    """The dyld-relevant facts of one arm64 Mach-O slice."""

    filetype: int
    flags: int
    install_name: str | None
    dylibs: tuple[DylibRef, ...]
    rpaths: tuple[str, ...]
    imports: tuple[Import, ...]
    # weak-def coalescing entries: never required to resolve
    weak_binds: tuple[str, ...]
    exports: ExportTable
    min_macos: str | None
    fixups: str  # "chained" | "opcodes" | "symtab" | "not read"

    @property
    def two_level(self) -> bool:
        return bool(self.flags & MH_TWOLEVEL)


# ------------------------------------------------------------------------------ headers


def slice_offset(
    read: Reader, size: int, cputype: int = CPU_TYPE_ARM64
) -> tuple[int, int]:
    """(offset, size) of the thin Mach-O for ``cputype``: the whole file, or one slice
    of a fat one."""
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
            "universal file without an arm64 slice (cpu types"
            f" {', '.join(hex(c) for c in found)})"
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
    """How many bytes from the start of a thin slice hold the header and load
    commands."""
    if len(first_bytes) < 32:
        raise MachOError("truncated mach header")
    return 32 + struct.unpack_from("<I", first_bytes, 20)[0]


def needed_ranges(header: bytes, *, with_imports: bool) -> tuple[tuple[int, int], ...]:
    """The (offset, size) ranges inside a thin slice that ``parse`` reads after the load
    commands.

    Without imports only the export table is needed (the symbol table only when there is
    no trie).
    """
    _filetype, _flags, commands = _load_commands(header)
    ranges: list[tuple[int, int]] = []
    trie = False
    symtab: tuple[tuple[int, int], tuple[int, int]] | None = None
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
            symtab = (symoff, nsyms * 16), (stroff, strsize)
    if symtab is not None and (with_imports or not trie):
        ranges.extend(r for r in symtab if r[1])
    return tuple(ranges)


# ------------------------------------------------------------------------------ parsing


def parse(read: Reader, size: int, *, with_imports: bool = True) -> MachO:
    """The dyld facts of the arm64 slice of a Mach-O file (thin or universal).

    ``with_imports=False`` reads only the load commands and the export table (a provider
    library).
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
            name, _ = read_cstring(body, name_offset)
            if cmd == LC_ID_DYLIB:
                install_name = name
            else:
                dylibs.append(DylibRef(name, DYLIB_KINDS[cmd]))
        elif cmd == LC_RPATH:
            rpaths.append(read_cstring(body, struct.unpack_from("<I", body, 8)[0])[0])
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
        imports = chained_imports(at(*chained))
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
            imports.extend(bind_imports(at(bind_off, bind_size), lazy=False))
        if lazy_size:
            imports.extend(bind_imports(at(lazy_off, lazy_size), lazy=True))
        if weak_size:
            weak_binds = sorted(
                {
                    i.name
                    for i in bind_imports(
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
        symbols = symtab_symbols(at(symoff, nsyms * 16), at(stroff, strsize))
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
    # the same symbol bound at many places is one import; non-lazy wins over lazy,
    # strong over weak
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
