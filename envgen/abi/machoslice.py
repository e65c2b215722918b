"""Keep only the bytes of a Mach-O that dyld binds with, streamed out of a wheel member.

A TensorFlow library is hundreds of MB inside a deflated zip member; dyld's view of it
is the header, the load commands and a few __LINKEDIT ranges (the export trie; the bind
opcodes or chained-fixup imports for an image whose imports matter). ``extract`` reads
the member once, front to back, in fixed-size chunks, and keeps just those ranges (a few
MB at most), so memory stays flat whatever the library's size. The result is saved as
one small file (``save``/``load``) and parsed with the same ``macho.parse`` as a whole
file.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from envgen.abi import macho
from envgen.abi.machoformat import FAT_MAGIC, FAT_MAGIC_64, MachOError
from envgen.atomic import atomic_write

CHUNK = 1 << 20
_MAGIC = b"envgen-macho-slices\n"
FORMAT = 1


@dataclass(frozen=True)
class SparseImage:
    """Some byte ranges of a file of ``size`` bytes; reading outside them is an
    error."""

    size: int
    pieces: tuple[tuple[int, bytes], ...]  # (offset, bytes), sorted, disjoint
    with_imports: bool = True

    def read(self, offset: int, length: int) -> bytes:
        for start, data in self.pieces:
            if start <= offset and offset + length <= start + len(data):
                return data[offset - start : offset - start + length]
        raise MachOError(
            f"bytes {offset}..{offset + length} were not kept from the library"
        )

    def parse(self) -> macho.MachO:
        return macho.parse(self.read, self.size, with_imports=self.with_imports)

    @property
    def kept(self) -> int:
        return sum(len(data) for _, data in self.pieces)

    def dumps(self, meta: dict) -> bytes:
        header = {
            "format": FORMAT,
            "size": self.size,
            "with_imports": self.with_imports,
            "pieces": [[o, len(d)] for o, d in self.pieces],
            **meta,
        }
        text = json.dumps(header, sort_keys=True).encode("utf-8")
        return (
            _MAGIC
            + struct.pack("<I", len(text))
            + text
            + b"".join(d for _, d in self.pieces)
        )

    @staticmethod
    def loads(blob: bytes) -> tuple[SparseImage, dict]:
        if not blob.startswith(_MAGIC):
            raise ValueError("not an envgen slice file")
        pos = len(_MAGIC)
        (length,) = struct.unpack_from("<I", blob, pos)
        header = json.loads(blob[pos + 4 : pos + 4 + length])
        if header.get("format") != FORMAT:
            raise ValueError("slice file of another format")
        pos += 4 + length
        pieces = []
        for offset, size in header["pieces"]:
            pieces.append((offset, blob[pos : pos + size]))
            pos += size
        if pos != len(blob):
            raise ValueError("slice file has the wrong length")
        return (
            SparseImage(header["size"], tuple(pieces), bool(header["with_imports"])),
            header,
        )

    def save(self, path: Path, meta: dict) -> None:
        atomic_write(path, self.dumps(meta))

    @staticmethod
    def load(path: Path) -> tuple[SparseImage, dict]:
        return SparseImage.loads(Path(path).read_bytes())


class _Forward:
    """A forward-only reader over a stream: skip to an offset, take bytes, never go
    back."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.pos = 0
        # the first bytes read stay available (a small file's ranges may lie inside
        # them)
        self.head = b""

    def take(self, offset: int, length: int) -> bytes:
        if offset < len(self.head):
            inside = self.head[offset : offset + length]
            if len(inside) == length or self.pos > len(self.head):
                return (
                    inside
                    if len(inside) == length
                    else inside + self.take(len(self.head), length - len(inside))
                )
            return inside + self.take(offset + len(inside), length - len(inside))
        if offset < self.pos:
            raise MachOError("Mach-O ranges out of order for a forward read")
        while self.pos < offset:
            skipped = self.stream.read(min(CHUNK, offset - self.pos))
            if not skipped:
                raise MachOError("library ends before its own __LINKEDIT data")
            self.pos += len(skipped)
        parts, wanted = [], length
        while wanted:
            part = self.stream.read(min(CHUNK, wanted))
            if not part:
                break
            parts.append(part)
            wanted -= len(part)
        data = b"".join(parts)
        self.pos += len(data)
        return data


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for start, length in sorted(r for r in ranges if r[1] > 0):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], start + length)
        else:
            merged.append([start, start + length])
    return [(start, end - start) for start, end in merged]


def extract(stream: IO[bytes], size: int, *, with_imports: bool) -> SparseImage:
    """Read a Mach-O stream once and keep its headers and the __LINKEDIT ranges dyld
    binds with."""
    reader = _Forward(stream)
    head = reader.take(0, min(size, 4096))
    reader.head = head
    pieces: list[tuple[int, bytes]] = []
    magic = head[:4]
    if struct.unpack(">I", magic)[0] in (FAT_MAGIC, FAT_MAGIC_64):
        base, _ = macho.slice_offset(SparseImage(size, ((0, head),)).read, size)
        pieces.append((0, head))
        first = reader.take(base, 32)
        header = first + reader.take(base + 32, macho.header_size(first) - 32)
    else:
        base = 0
        needed = macho.header_size(head)
        header = head + (
            reader.take(len(head), needed - len(head)) if needed > len(head) else b""
        )
        header = header[: max(needed, 8)]
    pieces.append((base, header))
    for offset, length in _merge(
        (base + o, n) for o, n in macho.needed_ranges(header, with_imports=with_imports)
    ):
        data = reader.take(offset, length)
        if len(data) != length:
            raise MachOError("library ends inside its own __LINKEDIT data")
        pieces.append((offset, data))
    return SparseImage(size, tuple(_merge_pieces(pieces)), with_imports)


def _merge_pieces(pieces: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    ordered: list[tuple[int, bytes]] = []
    for offset, data in sorted(pieces, key=lambda p: p[0]):
        if ordered and offset < ordered[-1][0] + len(ordered[-1][1]):
            # linkedit never overlaps the header
            raise MachOError("overlapping Mach-O ranges")
        ordered.append((offset, data))
    return ordered
