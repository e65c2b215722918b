"""The Mach-O vocabulary the readers share: magic numbers, load commands, dyld's
ordinals and flags, the records an image's imports and exports are read into, and the
byte-level decoders (uleb128, sleb128, C strings).

``macho`` reads a file with these, ``machoexports`` looks names up in export tables and
``machoimports`` decodes what an image asks dyld to bind.
"""

from __future__ import annotations

from collections.abc import Callable
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


# ------------------------------------------------------------------------------ records


@dataclass(frozen=True)
class DylibRef:
    """One dependent dylib, in load-command order (its 1-based position is its library
    ordinal)."""

    path: str
    kind: str  # load | weak | reexport | upward | lazy


@dataclass(frozen=True)
class Import:
    """A symbol the image asks dyld to bind, and from where."""

    name: str
    # 1..N: that dylib; 0 self; -1 main executable; -2 flat lookup; -3 weak-def lookup
    ordinal: int
    weak: bool  # a weak import: dyld binds NULL when it is missing
    # from the lazy-bind opcodes (bound when first called on old dyld, at load on dyld4)
    lazy: bool


@dataclass(frozen=True)
class Export:
    """What an image's export table says about one name."""

    name: str
    weak_definition: bool = False
    reexport_ordinal: int = 0  # > 0: re-exported from this dylib ordinal ...
    reexport_name: str = ""  # ... under this name ("" = the same name)


# ----------------------------------------------------------------------------- decoders


def read_uleb(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 number at ``pos``, and the position after it."""
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


def read_sleb(data: bytes, pos: int) -> tuple[int, int]:
    """A signed LEB128 number at ``pos``, and the position after it."""
    value, end = read_uleb(data, pos)
    bits = 7 * (end - pos)
    if value & (1 << (bits - 1)):  # the sign is the top bit of the last group
        value -= 1 << bits
    return value, end


def read_cstring(data: bytes, pos: int) -> tuple[str, int]:
    """The NUL-terminated string at ``pos``, and the position after its NUL."""
    end = data.find(b"\0", pos)
    if end < 0:
        raise MachOError("unterminated string")
    return data[pos:end].decode("utf-8", "replace"), end + 1
