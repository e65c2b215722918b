"""Snapshot a directory tree (paths, bytes, modes) to prove a failed command changed
nothing."""

from __future__ import annotations

from pathlib import Path


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    root = Path(root)
    if not root.exists():
        return {}
    return {
        str(path.relative_to(root)): (
            path.read_bytes() if path.is_file() else b"<dir>",
            path.stat().st_mode,
        )
        for path in sorted(root.rglob("*"))
    }
