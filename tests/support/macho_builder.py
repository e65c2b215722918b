"""Write minimal arm64 Mach-O files for tests: exactly the load commands
envgen.abi.macho reads.

A file holds a mach header, LC_ID_DYLIB, dylib load commands, LC_RPATH, and either
LC_DYLD_INFO_ONLY (bind / lazy-bind / weak-bind opcodes and an export trie) or
LC_DYLD_CHAINED_FIXUPS + LC_DYLD_EXPORTS_TRIE, or only LC_SYMTAB; no code, no segments.
The export trie is a real radix trie (optionally with the empty-edge terminals of
Apple's newer linker); child offsets are written as 4-byte padded uleb128, which dyld
accepts.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from envgen.abi import machoformat


def uleb(value: int, width: int | None = None) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value or (width is not None and len(out) + 1 < width):
            out.append(byte | 0x80)
        else:
            out.append(byte)
            break
    return bytes(out)


@dataclass
class Sym:
    """An export: plain (address), or re-exported from dylib ordinal ``reexport`` under
    ``as_name``."""

    name: str
    reexport: int = 0
    as_name: str = ""
    weak_def: bool = False


def export_trie(symbols: list[Sym], *, empty_edges: bool = False) -> bytes:
    """A radix export trie. ``empty_edges``: a name that prefixes another hangs off an
    empty edge."""
    root: dict = {}
    for sym in symbols:
        node = root
        for ch in sym.name:
            node = node.setdefault(ch, {})
        node[None] = sym

    def compress(node: dict) -> tuple[Sym | None, list[tuple[str, dict]]]:
        terminal = node.get(None)
        edges = []
        for ch, child in sorted((k, v) for k, v in node.items() if k is not None):
            label = ch
            while None not in child and len(child) == 1:
                ((nxt, grand),) = child.items()
                label += nxt
                child = grand
            edges.append((label, child))
        return terminal, edges

    def terminal_bytes(sym: Sym) -> bytes:
        flags = machoformat.EXPORT_SYMBOL_FLAGS_WEAK_DEFINITION if sym.weak_def else 0
        if sym.reexport:
            return (
                uleb(flags | machoformat.EXPORT_SYMBOL_FLAGS_REEXPORT)
                + uleb(sym.reexport)
                + sym.as_name.encode()
                + b"\0"
            )
        return uleb(flags) + uleb(0x4000)

    # flatten into nodes: (terminal bytes or b"", [(label, child index)])
    nodes: list[list] = []

    def add(node: dict) -> int:
        index = len(nodes)
        nodes.append([b"", []])
        terminal, edges = compress(node)
        children = [(label, add(child)) for label, child in edges]
        if terminal is not None and empty_edges and children:
            leaf = len(nodes)
            nodes.append([terminal_bytes(terminal), []])
            children.append(("", leaf))
        elif terminal is not None:
            nodes[index][0] = terminal_bytes(terminal)
        nodes[index][1] = children
        return index

    add(root)
    sizes = []
    for terminal, children in nodes:
        size = (
            len(uleb(len(terminal)))
            + len(terminal)
            + 1
            + sum(len(label.encode()) + 1 + 4 for label, _ in children)
        )
        sizes.append(size)
    offsets = [sum(sizes[:i]) for i in range(len(nodes))]
    out = bytearray()
    for terminal, children in nodes:
        out += uleb(len(terminal)) + terminal + bytes([len(children)])
        for label, child in children:
            out += label.encode() + b"\0" + uleb(offsets[child], 4)
    return bytes(out)


@dataclass
class Imp:
    name: str
    ordinal: int  # 1..N, 0 self, -1 main, -2 flat
    weak: bool = False
    lazy: bool = False


def _ordinal_op(ordinal: int) -> bytes:
    if ordinal <= 0:
        return bytes([0x30 | (ordinal & 0x0F)])
    if ordinal < 16:
        return bytes([0x10 | ordinal])
    return bytes([0x20]) + uleb(ordinal)


def bind_opcodes(imports: list[Imp]) -> bytes:
    out = bytearray()
    for offset, imp in enumerate(imports):
        out += _ordinal_op(imp.ordinal)
        out += bytes([0x40 | (1 if imp.weak else 0)]) + imp.name.encode() + b"\0"
        out += bytes([0x51]) + bytes([0x72]) + uleb(offset * 8) + bytes([0x90])
    return bytes(out + b"\0")


def lazy_bind_opcodes(imports: list[Imp]) -> bytes:
    out = bytearray()
    for offset, imp in enumerate(imports):
        out += bytes([0x72]) + uleb(offset * 8) + _ordinal_op(imp.ordinal)
        out += (
            bytes([0x40 | (1 if imp.weak else 0)])
            + imp.name.encode()
            + b"\0"
            + bytes([0x90, 0x00])
        )
    return bytes(out)


def chained_fixups(imports: list[Imp]) -> bytes:
    names = bytearray(b"\0")
    entries = bytearray()
    for imp in imports:
        offset = len(names)
        names += imp.name.encode() + b"\0"
        entries += struct.pack(
            "<I", (imp.ordinal & 0xFF) | ((1 if imp.weak else 0) << 8) | (offset << 9)
        )
    starts = struct.pack("<I", 0)
    imports_offset = 28 + len(starts)
    symbols_offset = imports_offset + len(entries)
    header = struct.pack(
        "<7I", 0, 28, imports_offset, symbols_offset, len(imports), 1, 0
    )
    return header + starts + bytes(entries) + bytes(names)


@dataclass
class Dylib:
    """A test image; ``build()`` returns the bytes of a thin arm64 Mach-O."""

    install_name: str | None = None
    deps: list[tuple[str, str]] = field(default_factory=list)  # (path, kind)
    rpaths: list[str] = field(default_factory=list)
    exports: list[Sym] = field(default_factory=list)
    imports: list[Imp] = field(default_factory=list)
    weak_binds: list[str] = field(default_factory=list)
    style: str = "opcodes"  # opcodes | chained | symtab
    empty_edges: bool = False
    filetype: int = machoformat.MH_DYLIB
    two_level: bool = True
    cputype: int = machoformat.CPU_TYPE_ARM64

    def build(self) -> bytes:
        kinds = {v: k for k, v in machoformat.DYLIB_KINDS.items()}
        commands: list[
            tuple[int, bytes]
        ] = []  # (cmd, body after cmd/cmdsize); linkedit refs patched below

        def string_command(cmd: int, fixed: bytes, text: str) -> None:
            raw = text.encode() + b"\0"
            body = fixed + raw
            body += b"\0" * (-(len(body) + 8) % 8)
            commands.append((cmd, body))

        if self.install_name:
            string_command(
                machoformat.LC_ID_DYLIB,
                struct.pack("<4I", 24, 1, 0x10000, 0x10000),
                self.install_name,
            )
        for path, kind in self.deps:
            string_command(
                kinds[kind], struct.pack("<4I", 24, 2, 0x10000, 0x10000), path
            )
        for rpath in self.rpaths:
            string_command(machoformat.LC_RPATH, struct.pack("<I", 12), rpath)

        blobs: dict[str, bytes] = {}
        if self.style == "opcodes":
            regular = [i for i in self.imports if not i.lazy]
            lazy = [i for i in self.imports if i.lazy]
            blobs["bind"] = bind_opcodes(regular) if regular else b""
            blobs["lazy"] = lazy_bind_opcodes(lazy) if lazy else b""
            blobs["weak"] = _weak_stream(self.weak_binds)
            blobs["trie"] = export_trie(self.exports, empty_edges=self.empty_edges)
            commands.append((machoformat.LC_DYLD_INFO_ONLY, b"\0" * 40))
        elif self.style == "chained":
            blobs["chained"] = chained_fixups(self.imports)
            blobs["trie"] = export_trie(self.exports, empty_edges=self.empty_edges)
            commands.append((machoformat.LC_DYLD_CHAINED_FIXUPS, b"\0" * 8))
            commands.append((machoformat.LC_DYLD_EXPORTS_TRIE, b"\0" * 8))
        elif self.style == "symtab":
            strings = bytearray(b" \0")
            nlists = bytearray()
            for sym in self.exports:
                strx = len(strings)
                strings += sym.name.encode() + b"\0"
                nlists += struct.pack(
                    "<IBBHQ",
                    strx,
                    machoformat.N_SECT | machoformat.N_EXT,
                    1,
                    0x80 if sym.weak_def else 0,
                    0x4000,
                )
            for imp in self.imports:
                strx = len(strings)
                strings += imp.name.encode() + b"\0"
                library = {0: 0, -1: 0xFF, -2: 0xFE}.get(imp.ordinal, imp.ordinal)
                desc = (library << 8) | (machoformat.N_WEAK_REF if imp.weak else 0)
                nlists += struct.pack(
                    "<IBBHQ", strx, machoformat.N_UNDF | machoformat.N_EXT, 0, desc, 0
                )
            blobs["symoff"] = bytes(nlists)
            blobs["stroff"] = bytes(strings)
            commands.append((machoformat.LC_SYMTAB, b"\0" * 16))

        sizeofcmds = sum(8 + len(body) for _, body in commands)
        position = 32 + sizeofcmds
        placed: dict[str, tuple[int, int]] = {}
        linkedit = bytearray()
        for key, blob in blobs.items():
            placed[key] = (position + len(linkedit), len(blob))
            linkedit += blob
            linkedit += b"\0" * (-len(linkedit) % 8)

        def at(key: str) -> tuple[int, int]:
            offset, size = placed.get(key, (0, 0))
            return (offset if size else 0), size

        out = bytearray()
        for cmd, body in commands:
            if cmd == machoformat.LC_DYLD_INFO_ONLY:
                body = struct.pack(
                    "<10I", 0, 0, *at("bind"), *at("weak"), *at("lazy"), *at("trie")
                )
            elif cmd == machoformat.LC_DYLD_CHAINED_FIXUPS:
                body = struct.pack("<2I", *at("chained"))
            elif cmd == machoformat.LC_DYLD_EXPORTS_TRIE:
                body = struct.pack("<2I", *at("trie"))
            elif cmd == machoformat.LC_SYMTAB:
                symoff, symsize = at("symoff")
                stroff, strsize = at("stroff")
                body = struct.pack("<4I", symoff, symsize // 16, stroff, strsize)
            out += struct.pack("<II", cmd, 8 + len(body)) + body
        flags = machoformat.MH_TWOLEVEL if self.two_level else 0
        header = struct.pack(
            "<IiiIIIII",
            machoformat.MH_MAGIC_64,
            self.cputype,
            0,
            self.filetype,
            len(commands),
            sizeofcmds,
            flags,
            0,
        )
        return header + bytes(out) + bytes(linkedit)


def _weak_stream(names: list[str]) -> bytes:
    if not names:
        return b""
    out = bytearray()
    for offset, name in enumerate(names):
        out += (
            bytes([0x40])
            + name.encode()
            + b"\0"
            + bytes([0x51, 0x72])
            + uleb(offset * 8)
            + bytes([0x90])
        )
    return bytes(out + b"\0")


def fat(*slices: tuple[int, bytes]) -> bytes:
    """A universal file holding the given (cputype, thin Mach-O) slices, 16 KB
    aligned."""
    header = struct.pack(">II", machoformat.FAT_MAGIC, len(slices))
    offset = 0x4000
    table, body = bytearray(), bytearray()
    for cputype, data in slices:
        table += struct.pack(">iiIII", cputype, 0, offset + len(body), len(data), 14)
        body += data + b"\0" * (-len(data) % 0x4000)
    prefix = header + bytes(table)
    return prefix + b"\0" * (offset - len(prefix)) + bytes(body)
