"""What an image asks dyld to bind, decoded from the three places it can be written: the
bind opcode streams of LC_DYLD_INFO, the imports table of LC_DYLD_CHAINED_FIXUPS, and
the undefined nlist symbols of LC_SYMTAB (for an image with neither)."""

from __future__ import annotations

import struct

from envgen.abi.machoformat import (
    BIND_IMMEDIATE_MASK,
    BIND_OPCODE_MASK,
    BIND_SYMBOL_FLAGS_WEAK_IMPORT,
    DYNAMIC_LOOKUP_ORDINAL,
    EXECUTABLE_ORDINAL,
    N_EXT,
    N_INDR,
    N_SECT,
    N_STAB,
    N_TYPE,
    N_UNDF,
    N_WEAK_REF,
    ORDINAL_FLAT_LOOKUP,
    ORDINAL_MAIN_EXECUTABLE,
    ORDINAL_SELF,
    ORDINAL_WEAK_LOOKUP,
    SELF_LIBRARY_ORDINAL,
    Import,
    MachOError,
    read_cstring,
    read_sleb,
    read_uleb,
)


def _special_ordinal(immediate: int) -> int:
    return 0 if immediate == 0 else (immediate | 0xF0) - 0x100


def bind_imports(
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
        if opcode == 0x00:
            # DONE: ends the stream, except that lazy info is a run of entries
            if lazy:
                continue
            break
        if opcode == 0x10:  # SET_DYLIB_ORDINAL_IMM
            ordinal = immediate
        elif opcode == 0x20:  # SET_DYLIB_ORDINAL_ULEB
            ordinal, pos = read_uleb(stream, pos)
        elif opcode == 0x30:  # SET_DYLIB_SPECIAL_IMM
            ordinal = _special_ordinal(immediate)
        elif opcode == 0x40:  # SET_SYMBOL_TRAILING_FLAGS_IMM
            weak = bool(immediate & BIND_SYMBOL_FLAGS_WEAK_IMPORT)
            name, pos = read_cstring(stream, pos)
        elif opcode == 0x50:  # SET_TYPE_IMM
            pass
        elif opcode == 0x60:  # SET_ADDEND_SLEB
            _, pos = read_sleb(stream, pos)
        elif opcode in (0x70, 0x80):  # SET_SEGMENT_AND_OFFSET_ULEB, ADD_ADDR_ULEB
            _, pos = read_uleb(stream, pos)
        elif opcode in (0x90, 0xA0, 0xB0, 0xC0):
            # DO_BIND, DO_BIND_ADD_ADDR_ULEB, DO_BIND_ADD_ADDR_IMM_SCALED,
            # DO_BIND_ULEB_TIMES_SKIPPING_ULEB: the last two take one and two ulebs
            for _ in range({0xA0: 1, 0xC0: 2}.get(opcode, 0)):
                _, pos = read_uleb(stream, pos)
            found.append(
                Import(
                    name, ORDINAL_WEAK_LOOKUP if weak_stream else ordinal, weak, lazy
                )
            )
        elif opcode == 0xD0:  # THREADED
            if immediate == 0x00:  # SET_BIND_ORDINAL_TABLE_SIZE_ULEB
                _, pos = read_uleb(stream, pos)
            elif immediate == 0x01:
                pass  # APPLY: the binds made so far are the table; nothing new here
            else:
                raise MachOError(f"unknown threaded bind sub-opcode {immediate}")
        else:
            raise MachOError(f"unknown bind opcode {hex(opcode)}")
    return [i for i in found if i.name]


def chained_imports(blob: bytes) -> list[Import]:
    """The imports table of LC_DYLD_CHAINED_FIXUPS (every entry is bound when the image
    loads)."""
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
        name, _ = read_cstring(blob, symbols_offset + name_offset)
        found.append(Import(name, ordinal, bool(weak), False))
    return found


def symtab_symbols(
    nlists: bytes, strings: bytes
) -> tuple[dict[str, bool], list[Import]]:
    """Defined external symbols (name -> weak definition) and undefined ones with their
    ordinals."""
    exported: dict[str, bool] = {}
    imports: list[Import] = []
    for index in range(len(nlists) // 16):
        strx, n_type, _sect, n_desc, n_value = struct.unpack_from(
            "<IBBHQ", nlists, index * 16
        )
        if n_type & N_STAB or not n_type & N_EXT:
            continue
        name, _ = read_cstring(strings, strx) if strx < len(strings) else ("", 0)
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
